"""Run the tokenizer stage: `python -m stages.tokenizer`."""

from stages.common.stage import run_stage
from stages.tokenizer.run import main

run_stage("tokenizer", main)
