"""Run the finetune stage for one task: `python -m stages.finetune <task>`."""

from stages.common.stage import run_stage
from stages.finetune.run import main

run_stage("finetune", main)
