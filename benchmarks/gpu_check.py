"""The GPU check, as one script to run on a lent GPU (it also runs on a CPU, smaller).

    python benchmarks/gpu_check.py [--params profiles/gpu.yaml] [--steps 300] [--moe-steps 50]
                                   [--ddp auto|on|off] [--ddp-steps 100] [--base params.yaml]
                                   [--set pretrain.model.n_layers=2 ...] [--out gpu_check]

1. Trains the profile's pretrain model with the stage's own `pretrain()` (bf16 autocast,
   fused AdamW, SDPA, torch.compile, prefetched batches: whatever the profile and device
   pick) for `--steps` steps on data/tokens, and saves it as the stage does.
2. Prints its tokens/s and MFU against the bf16 (or fp32) matmul peak measured on the
   same device in the same run.
3. Trains the same model with `--moe-experts` experts (top-2) for `--moe-steps` steps, once
   with `moe.impl: hf` and once with `moe.impl: megablocks`, and prints both side by side.
   Where megablocks cannot run (not installed, no CUDA), it prints exactly why. Both saved
   models are loaded back with AutoModelForCausalLM and their weight names and shapes
   compared: the two backends must write the same format.
4. On a machine with 2 or more GPUs (`--ddp auto`), trains the dense model for `--ddp-steps`
   steps as 2 DDP processes under torchrun (NCCL), each with the profile's batch, and prints
   their tokens/s and the scaling against the one-GPU run. With one GPU or none it records
   why it did not run; `--ddp on` runs it anyway (2 gloo processes on a CPU).

Everything goes to `--out` (gpu_check.json, rewritten after each run so a crash or a time
limit keeps what ran, and each model's folder); the last lines are the rows for the table in
benchmarks/README.md. A run that fails is recorded with its error (and traceback) and the check
goes on; the exit status is 1 when the dense model, hf's MoE or the DDP run failed, 0 otherwise
(megablocks may be missing where it cannot be built). `--set` changes any key of the profile the way
`dvc exp run -S` does (the value is read as YAML).
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import sys
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from stages.common.compose import apply  # noqa: E402
from stages.common.errors import PipelineError  # noqa: E402
from stages.common.params import parse, read_yaml  # noqa: E402
from stages.pretrain.config import PretrainParams  # noqa: E402
from stages.pretrain.run import pretrain  # noqa: E402


def apply_sets(data: dict[str, Any], sets: list[str]) -> None:
    """`key.sub=value` overrides, as `dvc exp run -S`; an unknown section is an error."""
    for item in sets:
        key, sep, raw = item.partition("=")
        if not sep:
            raise SystemExit(f"--set {item!r}: expected KEY=VALUE, such as pretrain.model.n_layers=2")
        *parents, leaf = key.split(".")
        node = data
        for p in parents:
            if not isinstance(node.get(p), dict):
                raise SystemExit(f"--set {item!r}: {p!r} is not a section of the params file")
            node = node[p]
        node[leaf] = yaml.safe_load(raw)


def configure(
    section: dict[str, Any], steps: int, experts: int = 0, impl: str = "hf", gpus: int = 1
) -> PretrainParams:
    """The profile's pretrain section with a step budget, no checkpoints, one eval at the end,
    on `gpus` processes of one node."""
    s = copy.deepcopy(section)
    train = s.setdefault("train", {})
    train.update(
        max_steps=steps, max_tokens=0, checkpoint_every=0, eval_every=steps, log_every=max(1, steps // 10)
    )
    s.update(gpus=gpus, nodes=1, node_rank=0, rdzv_endpoint="")
    if experts:
        s.setdefault("model", {})["moe"] = {
            **s["model"].get("moe", {}),
            "n_experts": experts,
            "top_k": 2,
            "impl": impl,
        }
    return parse(PretrainParams, s, "pretrain")


def weight_shapes(folder: Path) -> dict[str, tuple[int, ...]]:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(folder))
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def summary(m: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "tokens_per_s",
        "mfu",
        "mfu_peak",
        "val_loss",
        "train_loss",
        "steps",
        "params",
        "precision",
        "device",
    )
    return {k: m[k] for k in keys if k in m} | {"moe_impl": m.get("moe_impl")}


def environment() -> dict[str, Any]:
    import torch
    import transformers

    env = {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "cuda": torch.cuda.is_available(),
    }
    env["gpus"] = torch.cuda.device_count() if env["cuda"] else 0
    if env["cuda"]:
        env["gpu"] = torch.cuda.get_device_name(0)
        env["capability"] = ".".join(map(str, torch.cuda.get_device_capability(0)))
    return env


def ddp_run(section: dict[str, Any], seed: int, steps: int, tokens: Path, tokenizer: Path, out: Path) -> dict:
    """The dense model as 2 DDP processes under torchrun (this script's --ddp-worker); its summary."""
    import subprocess

    out.mkdir(parents=True, exist_ok=True)
    job = {
        "section": section,
        "seed": seed,
        "steps": steps,
        "tokens": str(tokens),
        "tokenizer": str(tokenizer),
    }
    (out / "job.json").write_text(json.dumps(job), encoding="utf-8")
    from stages.pretrain import parallel

    cmd = parallel.torchrun_command(configure(section, steps, gpus=2), [__file__, "--ddp-worker", str(out)])
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": f"torchrun exited {done.returncode}", "traceback": done.stderr[-4000:]}
    return summary(json.loads((out / "metrics.json").read_text())) | {"processes": 2}


def ddp_worker(folder: Path) -> None:
    """One rank of ddp_run: pretrain() on 2 processes; rank 0 writes the metrics."""
    import os

    from stages.pretrain import parallel

    job = json.loads((folder / "job.json").read_text())
    cfg = configure(job["section"], job["steps"], gpus=2)
    m = pretrain(cfg, job["seed"], Path(job["tokens"]), Path(job["tokenizer"]), folder / "model")
    parallel.close()
    if os.environ.get("RANK") == "0":
        (folder / "metrics.json").write_text(json.dumps(m), encoding="utf-8")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--params", default="profiles/gpu.yaml", help="a profile overlay (or a complete params file)"
    )
    ap.add_argument("--base", default=str(ROOT / "params.yaml"), help="the default profile it overlays")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--moe-steps", type=int, default=50)
    ap.add_argument("--moe-experts", type=int, default=8)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--tokens", default="data/tokens")
    ap.add_argument("--tokenizer", default="data/tokenizer")
    ap.add_argument("--ddp", choices=("auto", "on", "off"), default="auto", help="auto: with 2+ GPUs")
    ap.add_argument("--ddp-steps", type=int, default=100)
    ap.add_argument("--ddp-worker", metavar="FOLDER", help=argparse.SUPPRESS)  # a rank of the DDP run
    ap.add_argument("--out", default="gpu_check")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if args.ddp_worker:
        ddp_worker(Path(args.ddp_worker))
        return {}

    data = read_yaml(args.base)  # a complete file applied over it changes nothing it does not name
    apply(data, read_yaml(args.params))
    apply_sets(data, args.set)
    seed, section = int(data["seed"]), data["pretrain"]
    out = Path(args.out)
    tokens, tokenizer = Path(args.tokens), Path(args.tokenizer)
    report: dict[str, Any] = {"environment": environment(), "params": args.params, "set": args.set}
    print(json.dumps(report["environment"]), flush=True)

    def save() -> None:  # after each part, so a crash or a timeout keeps what ran
        out.mkdir(parents=True, exist_ok=True)
        (out / "gpu_check.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")

    def part(name: str, cfg_args: tuple) -> dict[str, Any]:
        """One training run; any failure is recorded with its reason, and the check goes on."""
        t = time.perf_counter()
        try:  # the params check refuses megablocks on a CPU; pretrain() when it is not installed
            m = pretrain(configure(section, *cfg_args), seed, tokens, tokenizer, out / name)
        except PipelineError as e:
            r = {"error": str(e)}
        except Exception as e:  # noqa: BLE001  (a kernel or compiler failure on new hardware: say which)
            r = {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc(limit=-8)}
        else:
            r = summary(m) | {"seconds": round(time.perf_counter() - t, 1)}
        print(f"{name}:", json.dumps({k: v for k, v in r.items() if k != "traceback"}), flush=True)
        return r

    report["dense"] = part("dense", (args.steps,))
    save()
    report["moe"] = {}
    for impl in ("hf", "megablocks"):
        report["moe"][impl] = part(f"moe_{impl}", (args.moe_steps, args.moe_experts, impl))
        save()
    if all("error" not in r for r in report["moe"].values()):
        same = weight_shapes(out / "moe_hf") == weight_shapes(out / "moe_megablocks")
        report["moe"]["same_saved_format"] = same
        print("moe: both backends save the same weight names and shapes:", same, flush=True)
        save()

    gpus = report["environment"].get("gpus", 0)
    if args.ddp == "on" or (args.ddp == "auto" and gpus >= 2):
        report["ddp"] = ddp_run(section, seed, args.ddp_steps, tokens, tokenizer, out / "ddp")
        one = report["dense"].get("tokens_per_s")
        if "error" not in report["ddp"] and one:
            # 1.0 = two processes do twice the work of one in the same time
            report["ddp"]["scaling"] = round(report["ddp"]["tokens_per_s"] / (2 * one), 3)
        print("ddp:", json.dumps({k: v for k, v in report["ddp"].items() if k != "traceback"}), flush=True)
    else:
        report["ddp"] = {"skipped": f"{gpus} CUDA device(s): the 2-process DDP run needs 2 (or --ddp on)"}
    save()

    print(f"\n| {report['environment'].get('gpu', 'cpu')} | model | tokens/s | MFU |\n|---|---|---|---|")
    rows = [("dense", report["dense"])] + [
        (f"MoE {k}", v) for k, v in report["moe"].items() if isinstance(v, dict)
    ]
    if "skipped" not in report["ddp"]:
        rows.append(("dense, 2 DDP processes", report["ddp"]))
    for name, r in rows:
        if "error" in r:
            print(f"| | {name} | cannot run: {r['error']} | |")
        else:
            print(f"| | {name} ({r['precision']}) | {r['tokens_per_s']:,.0f} | {100 * r['mfu']:.1f}% |")
    return report


if __name__ == "__main__":
    result = main()
    if result:  # a DDP worker returns nothing: torchrun's exit status is its own
        # megablocks may be missing where it cannot be built; the dense model, hf's MoE and DDP must train.
        failed = "error" in result["dense"] or "error" in result["moe"]["hf"] or "error" in result["ddp"]
        sys.exit(1 if failed else 0)
