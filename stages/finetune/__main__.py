"""Run the finetune stage for one task: `python -m stages.finetune <task>`."""

from stages.common.stage import run_stage, stage_parser
from stages.finetune.registry import KINDS
from stages.finetune.run import main

parser = stage_parser("finetune", main)
parser.add_argument(
    "task", help=f"the task to fine-tune, an entry of finetune.tasks: one of {', '.join(sorted(KINDS))}"
)
run_stage("finetune", main, parser)
