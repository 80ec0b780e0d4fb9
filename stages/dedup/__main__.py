"""Run the dedup stage: `python -m stages.dedup` (reads data/clean, writes data/dedup)."""

from stages.common.stage import run_stage
from stages.dedup.run import main

run_stage("dedup", main)
