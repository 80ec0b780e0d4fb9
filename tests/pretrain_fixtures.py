"""The tiny pretrain setup shared by the pretrain tests: a seed and a 2-layer config that trains
in seconds on a CPU. The tokenizer and token files it trains on are conftest.py's `data`."""

from __future__ import annotations

from params_fixtures import merged

from stages.common.params import parse
from stages.pretrain.config import PretrainParams

SEED = 7


def tiny(objective: str = "clm", steps: int = 6, **extra) -> PretrainParams:
    """A 2-layer, 32-wide pretrain section on the CPU in fp32; `model=` and `train=` dicts override keys."""
    model = {
        "objective": objective,
        "n_layers": 2,
        "n_heads": 2,
        "n_kv_heads": 2,
        "hidden_size": 32,
        "ffn_size": 64,
        "context_length": 32,
    }
    model.update(extra.pop("model", {}))
    train = {
        "max_steps": steps,
        "batch_size": 4,
        "warmup_steps": 2,
        "eval_every": 3,
        "eval_batches": 2,
        "log_every": 3,
        "precision": "fp32",
    }
    train.update(extra.pop("train", {}))
    return parse(
        PretrainParams, merged("pretrain", {"device": "cpu", "model": model, "train": train}), "pretrain"
    )
