"""benchmarks/gpu_check.py, the script for a lent GPU, run here on the CPU at a small size."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import gpu_check  # noqa: E402

SMALL = [
    "pretrain.device=cpu",
    "pretrain.model.n_layers=2",
    "pretrain.model.n_heads=2",
    "pretrain.model.n_kv_heads=2",
    "pretrain.model.hidden_size=32",
    "pretrain.model.ffn_size=64",
    "pretrain.model.context_length=32",
    "pretrain.train.batch_size=4",
    "pretrain.train.grad_accum=2",
    "pretrain.train.warmup_steps=1",
    "pretrain.train.eval_batches=2",
    "pretrain.train.compile=false",
]


def small_argv(folder: Path, out: Path, steps: int) -> list[str]:
    argv = ["--params", str(ROOT / "profiles/gpu.yaml"), "--steps", str(steps), "--moe-steps", "2"]
    argv += [
        "--moe-experts",
        "4",
        "--tokens",
        str(folder / "tokens"),
        "--tokenizer",
        str(folder / "tokenizer"),
    ]
    argv += ["--out", str(out)]
    for s in SMALL:
        argv += ["--set", s]
    return argv


def test_gpu_check_trains_dense_and_moe_and_says_why_megablocks_cannot_run(data, tmp_path, capsys):
    report = gpu_check.main(small_argv(data, tmp_path, steps=4))
    assert report == json.loads((tmp_path / "gpu_check.json").read_text())
    dense = report["dense"]
    assert (
        dense["steps"] == 4
        and dense["device"] == "cpu"
        and dense["tokens_per_s"] > 0
        and 0 < dense["mfu"] < 1
    )
    hf = report["moe"]["hf"]
    assert hf["moe_impl"] == "hf" and hf["steps"] == 2
    assert "megablocks needs CUDA" in report["moe"]["megablocks"]["error"]
    from transformers import AutoModelForCausalLM

    assert type(AutoModelForCausalLM.from_pretrained(str(tmp_path / "dense"))).__name__ == "LlamaForCausalLM"
    out = capsys.readouterr().out
    # precision auto: bf16 on a CPU with bf16 units, else fp32
    assert dense["precision"] in ("fp32", "bf16")
    assert f"| | dense ({dense['precision']}) |" in out and "| | MoE megablocks | cannot run:" in out


def test_a_failing_part_is_recorded_with_its_reason_and_the_check_goes_on(data, tmp_path, monkeypatch):
    real = gpu_check.pretrain

    def pretrain(cfg, seed, tokens, tokenizer, out):
        if out.name == "moe_hf":
            raise RuntimeError("grouped GEMM kernel failed")
        return real(cfg, seed, tokens, tokenizer, out)

    monkeypatch.setattr(gpu_check, "pretrain", pretrain)
    report = gpu_check.main(small_argv(data, tmp_path, steps=2))
    assert report["dense"]["steps"] == 2
    assert report["moe"]["hf"]["error"] == "RuntimeError: grouped GEMM kernel failed"
    assert 'raise RuntimeError("grouped GEMM kernel failed")' in report["moe"]["hf"]["traceback"]
    assert "megablocks needs CUDA" in report["moe"]["megablocks"]["error"]
    assert json.loads((tmp_path / "gpu_check.json").read_text())["moe"]["hf"]["error"].startswith(
        "RuntimeError"
    )


def test_gpu_check_set_names_a_bad_key():
    with pytest.raises(SystemExit, match="not a section"):
        gpu_check.apply_sets({"pretrain": {"model": {}}}, ["pretrain.modle.n_layers=2"])
    with pytest.raises(SystemExit, match="KEY=VALUE"):
        gpu_check.apply_sets({}, ["pretrain.model.n_layers"])


@pytest.mark.slow
def test_gpu_check_runs_two_ddp_processes_when_asked_and_says_why_not_otherwise(data, tmp_path):
    """On 2+ GPUs `--ddp auto` runs it; here `--ddp on` runs the same path as 2 gloo processes."""
    argv = small_argv(data, tmp_path, steps=2) + ["--ddp", "on", "--ddp-steps", "3"]
    ddp = gpu_check.main(argv)["ddp"]
    assert "error" not in ddp, ddp.get("traceback")
    assert ddp["processes"] == 2 and ddp["steps"] == 3 and ddp["tokens_per_s"] > 0 and ddp["scaling"] > 0
    off = gpu_check.main(small_argv(data, tmp_path / "off", steps=2) + ["--ddp", "off"])["ddp"]
    assert off["skipped"].endswith("the 2-process DDP run needs 2 (or --ddp on)")
