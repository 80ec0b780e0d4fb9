"""Run the evaluate stage: `python -m stages.evaluate`."""

from stages.common.stage import run_stage
from stages.evaluate.run import main

run_stage("evaluate", main)
