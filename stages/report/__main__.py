"""Run the report stage: `python -m stages.report [--against GIT_REV]`."""

from stages.common.stage import run_stage
from stages.report.run import cli, main

run_stage("report", main, cli())
