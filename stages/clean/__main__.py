"""Run the clean stage: `python -m stages.clean`."""

from stages.clean.run import main
from stages.common.stage import run_stage

run_stage("clean", main)
