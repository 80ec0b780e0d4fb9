"""The tiny pretrain setup shared by the pretrain tests: a seed and a 2-layer config that trains
in seconds on a CPU. The tokenizer and token files it trains on are conftest.py's `data`."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml
from params_fixtures import merged, profile_file

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
        "compile": False,  # seconds of compiling for a few steps; the compile test turns it on
    }
    train.update(extra.pop("train", {}))
    return parse(
        PretrainParams, merged("pretrain", {"device": "cpu", "model": model, "train": train}), "pretrain"
    )


CURVE = Path("metrics/curves/pretrain/plots/metrics/train/loss.tsv")


def project(where: Path, data_dir: Path, **pretrain) -> Path:
    """A folder with params.yaml (tiny profile, pretrain keys overridden) and the data pretrain reads."""
    where.mkdir(parents=True)
    params = yaml.safe_load(profile_file("tiny", where).read_text())
    p = params["pretrain"]
    p["device"] = "cpu"
    p["model"].update(n_layers=2, n_heads=2, n_kv_heads=2, hidden_size=32, ffn_size=64, context_length=32)
    p["train"].update(precision="fp32", warmup_steps=2, eval_every=10, eval_batches=2, log_every=10)
    for key, value in pretrain.items():
        (p["train"] if key in p["train"] else p["model"] if key in p["model"] else p)[key] = value
    (where / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for sub in ("tokens", "tokenizer"):
        shutil.copytree(data_dir / sub, where / "data" / sub)
    for sub in ("raw", "clean", "dedup"):  # the model card's funnel: the corpus as every step's output
        shutil.copytree(data_dir / "dedup", where / "data" / sub)
    return where


def curve(root: Path) -> list[tuple[int, float]]:
    rows = (root / CURVE).read_text().splitlines()[1:]
    return [(int(r.split("\t")[0]), float(r.split("\t")[1])) for r in rows]
