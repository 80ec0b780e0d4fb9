"""Run the tasks stage: `python -m stages.tasks`."""

from stages.common.stage import run_stage
from stages.tasks.run import main

run_stage("tasks", main)
