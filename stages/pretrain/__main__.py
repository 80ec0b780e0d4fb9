"""Run the pretrain stage: `python -m stages.pretrain`."""

from stages.common.stage import run_stage
from stages.pretrain.run import main

run_stage("pretrain", main)
