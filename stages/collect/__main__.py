"""Run the collect stage: `python -m stages.collect` from the repository root."""

from stages.collect.collect import main
from stages.common.stage import run_stage

run_stage("collect", main)
