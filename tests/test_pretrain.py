"""Tests of the pretrain stage: params, schedule, few-step CLM/MLM/MoE runs, saving, seeding, resume."""

from __future__ import annotations

import json

import pytest
from params_fixtures import merged
from pretrain_fixtures import SEED, tiny

from stages.common.errors import DataError, ParamsError
from stages.common.optim import cosine_schedule
from stages.common.params import default_params, parse
from stages.pretrain.config import PretrainParams
from stages.pretrain.model import build_config
from stages.pretrain.run import pretrain


@pytest.mark.parametrize(
    "model, key",
    [
        ({"hidden_size": 30, "n_heads": 4}, "pretrain.model.hidden_size"),
        ({"n_heads": 4, "n_kv_heads": 3}, "pretrain.model.n_kv_heads"),
        ({"context_length": 100000}, "pretrain.model.context_length"),
        ({"objective": "mlm", "n_heads": 4, "n_kv_heads": 2}, "pretrain.model.n_kv_heads"),
        ({"moe": {"n_experts": 2, "top_k": 3}}, "pretrain.model.moe.top_k"),
        ({"objective": "gpt"}, "pretrain.model.objective"),
        ({"layers": 2}, "pretrain.model: unknown key"),
    ],
)
def test_model_config_errors_name_the_key(model, key):
    with pytest.raises(ParamsError, match=key):
        parse(PretrainParams, merged("pretrain", {"model": model}), "pretrain")


def test_train_config_errors_name_the_key():
    with pytest.raises(ParamsError, match="pretrain.train.min_lr"):
        parse(PretrainParams, merged("pretrain", {"train": {"lr": 1e-4, "min_lr": 1e-3}}), "pretrain")
    with pytest.raises(ParamsError, match="pretrain.model.moe.impl"):
        parse(
            PretrainParams,
            merged("pretrain", {"device": "cpu", "model": {"moe": {"n_experts": 2, "impl": "megablocks"}}}),
            "pretrain",
        )


def test_mlm_needs_a_mask_token():
    cfg = tiny("mlm")
    with pytest.raises(DataError, match="mask_id"):
        build_config(cfg.model, {"vocab_size": 300, "eos_id": 0, "pad_id": 1})


def test_lr_schedule_warms_up_then_decays_to_min_lr():
    lr_at = cosine_schedule(lr=1e-3, min_lr=1e-4, warmup_steps=10, total=100)
    assert lr_at(0) == pytest.approx(1e-4)
    assert lr_at(9) == pytest.approx(1e-3)
    assert lr_at(99) == pytest.approx(1e-4)
    assert lr_at(50) < lr_at(20)
    t = default_params("pretrain.train", max_steps=100, max_tokens=0)
    assert t.total_steps(1000) == 100
    assert default_params("pretrain.train", max_tokens=2500).total_steps(1000) == 3


def test_clm_trains_saves_and_loads(data, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    m = pretrain(
        tiny("clm", steps=8, train={"lr": 3e-3}),
        SEED,
        data / "tokens",
        data / "tokenizer",
        tmp_path / "model",
    )
    assert m["steps"] == 8 and m["tokens_seen"] == 8 * 4 * 32
    assert m["val_loss"] < 6.0  # below ln(300) = 5.70 + margin: it learned something
    assert 0 < m["mfu"] < 1 and m["tokens_per_s"] > 0
    model = AutoModelForCausalLM.from_pretrained(str(tmp_path / "model"))
    tok = AutoTokenizer.from_pretrained(str(tmp_path / "model"))
    ids = tok("the cat sat", return_tensors="pt")["input_ids"]
    assert model(input_ids=ids).logits.shape == (1, ids.shape[1], 300)
    assert tok.model_max_length == 32 and model.config.eos_token_id == tok.eos_token_id


def test_mlm_trains_saves_and_loads(data, tmp_path):
    from transformers import AutoModelForMaskedLM

    m = pretrain(tiny("mlm", steps=4), SEED, data / "tokens", data / "tokenizer", tmp_path / "model")
    assert m["steps"] == 4 and m["val_loss"] > 0
    model = AutoModelForMaskedLM.from_pretrained(str(tmp_path / "model"))
    meta = json.loads((data / "tokens" / "meta.json").read_text())
    assert model.config.mask_token_id == meta["mask_id"] and model.config.pad_token_id == meta["pad_id"]


def test_moe_trains_and_loads(data, tmp_path):
    from transformers import AutoModelForCausalLM

    cfg = tiny("clm", steps=3, model={"moe": {"n_experts": 4, "top_k": 2}})
    m = pretrain(cfg, SEED, data / "tokens", data / "tokenizer", tmp_path / "model")
    model = AutoModelForCausalLM.from_pretrained(str(tmp_path / "model"))
    assert type(model).__name__ == "Qwen3MoeForCausalLM" and m["params"] > m["params_non_embedding"]


def test_same_params_same_curve(data, tmp_path):
    from safetensors.torch import load_file

    cfg = tiny("clm", steps=5, model={"dropout": 0.1})
    a = pretrain(cfg, SEED, data / "tokens", data / "tokenizer", tmp_path / "a")
    b = pretrain(cfg, SEED, data / "tokens", data / "tokenizer", tmp_path / "b")
    c = pretrain(cfg, SEED + 1, data / "tokens", data / "tokenizer", tmp_path / "c")
    assert (a["train_loss"], a["val_loss"]) == (b["train_loss"], b["val_loss"])
    assert a["train_loss"] != c["train_loss"]
    wa, wb = load_file(tmp_path / "a" / "model.safetensors"), load_file(tmp_path / "b" / "model.safetensors")
    assert all((wa[k] == wb[k]).all() for k in wa)


@pytest.mark.slow
def test_compile_on_cpu_gives_the_eager_curve_and_a_loadable_model(data, tmp_path):
    # torch.compile on a CPU (inductor's C++ kernels): the same math, so the same losses to
    # float tolerance, and save_pretrained still writes the plain module's weights.
    import torch
    from transformers import AutoModelForCausalLM

    eager = pretrain(tiny("clm", steps=4), SEED, data / "tokens", data / "tokenizer", tmp_path / "eager")
    comp = pretrain(
        tiny("clm", steps=4, train={"compile": True}),
        SEED,
        data / "tokens",
        data / "tokenizer",
        tmp_path / "c",
    )
    assert comp["train_loss"] == pytest.approx(eager["train_loss"], rel=1e-4)
    assert comp["val_loss"] == pytest.approx(eager["val_loss"], rel=1e-4)
    from safetensors.torch import load_file

    # The file holds the plain module's names (no torch.compile "_orig_mod." prefix), so it loads whole.
    saved = load_file(tmp_path / "c" / "model.safetensors")
    assert saved.keys() == load_file(tmp_path / "eager" / "model.safetensors").keys()
    model = AutoModelForCausalLM.from_pretrained(str(tmp_path / "c"))
    assert all(torch.equal(model.state_dict()[k], v) for k, v in saved.items())


def crash_train_step_at(monkeypatch, n: int):
    """Make the n-th call of the training step raise, as a run killed mid-way; returns the undo."""
    from stages.pretrain import loop

    real_step, calls = loop.train_step, []

    def crashing(*args):
        calls.append(1)
        if len(calls) == n:
            raise RuntimeError("simulated crash")
        return real_step(*args)

    monkeypatch.setattr(loop, "train_step", crashing)
    return lambda: monkeypatch.setattr(loop, "train_step", real_step)


@pytest.mark.parametrize("objective", ["clm", "mlm"])
def test_prefetch_hands_out_the_same_batches_and_saves_the_state_before_the_one_ahead(objective):
    import numpy as np
    import torch

    from stages.common.lm_train import Batches
    from stages.pretrain.data import objective as objective_of

    obj = objective_of(tiny(objective).model, {"vocab_size": 300, "eos_id": 0, "pad_id": 1, "mask_id": 2})
    tokens = np.random.default_rng(0).integers(3, 300, size=2_000).astype(np.uint16)

    def source(prefetch: bool) -> Batches:
        gens = np.random.default_rng(5), torch.Generator().manual_seed(5)
        return Batches(tokens, *gens, obj, prefetch=prefetch)

    def draw(src: Batches, n: int) -> list:
        return [src.next(4, "cpu") for _ in range(n)]

    plain, ahead = draw(source(False), 6), source(True)
    first = draw(ahead, 3)
    state = ahead.rng_state()
    rest = draw(ahead, 3)
    for (x, y), (x2, y2) in zip(plain, first + rest):
        assert torch.equal(x, x2) and torch.equal(y, y2)
    # A checkpoint taken after 3 batches resumes at the 4th, not past the one drawn ahead.
    resumed = source(True)
    resumed.set_rng_state(state)
    for (x, y), (x2, y2) in zip(rest, draw(resumed, 3)):
        assert torch.equal(x, x2) and torch.equal(y, y2)
    with pytest.raises(RuntimeError, match="drawn ahead"):
        resumed.next(8, "cpu")


@pytest.mark.parametrize("prefetch", [False, True])
def test_resume_continues_the_same_curve(data, tmp_path, monkeypatch, prefetch):
    from stages.pretrain import run

    class Source(run.Batches):  # run.py prefetches on CUDA only; the CPU takes the same path here
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **{**kwargs, "prefetch": prefetch})

    monkeypatch.setattr(run, "Batches", Source)
    straight = pretrain(tiny("clm", steps=6), SEED, data / "tokens", data / "tokenizer", tmp_path / "s")
    cfg = tiny("clm", steps=6, train={"checkpoint_every": 3})
    ckpt = tmp_path / "ckpt"
    restore = crash_train_step_at(monkeypatch, 5)
    with pytest.raises(RuntimeError, match="simulated crash"):
        pretrain(cfg, SEED, data / "tokens", data / "tokenizer", tmp_path / "first", ckpt)
    restore()
    assert json.loads((ckpt / "state.json").read_text())["step"] == 3
    assert not (tmp_path / "first").exists()
    resumed = pretrain(cfg, SEED, data / "tokens", data / "tokenizer", tmp_path / "second", ckpt)
    assert resumed["steps"] == 3 and resumed["tokens_seen"] == straight["tokens_seen"]
    assert resumed["train_loss"] == pytest.approx(straight["train_loss"], abs=1e-6)
    assert resumed["val_loss"] == pytest.approx(straight["val_loss"], abs=1e-6)
    # A finished run's checkpoint is kept (the declared out) but not resumed.
    state = json.loads((ckpt / "state.json").read_text())
    assert state["finished"] and state["step"] == 6
    again = pretrain(cfg, SEED, data / "tokens", data / "tokenizer", tmp_path / "third", ckpt)
    assert again["steps"] == 6


def test_resumed_run_continues_its_dvclive_curves(data, tmp_path, monkeypatch):
    from stages.pretrain.run import open_curves

    def curve(root):
        rows = (root / "metrics/curves/pretrain/plots/metrics/train/loss.tsv").read_text().splitlines()[1:]
        return [(int(r.split("\t")[0]), float(r.split("\t")[1])) for r in rows]

    cfg = tiny("clm", steps=6, train={"checkpoint_every": 3, "log_every": 1})

    def run(name: str):
        out = (tmp_path / f"model-{name}", tmp_path / f"ckpt-{name}")
        return pretrain(cfg, SEED, data / "tokens", data / "tokenizer", *out, open_curves=open_curves)

    (tmp_path / "straight").mkdir()
    monkeypatch.chdir(tmp_path / "straight")
    run("straight")
    straight = curve(tmp_path / "straight")
    assert [s for s, _ in straight] == [1, 2, 3, 4, 5, 6]

    (tmp_path / "killed").mkdir()
    monkeypatch.chdir(tmp_path / "killed")
    restore = crash_train_step_at(monkeypatch, 6)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run("killed")
    restore()
    assert [s for s, _ in curve(tmp_path / "killed")] == [1, 2, 3, 4, 5]  # logged past the checkpoint at 3
    run("killed")
    resumed = curve(tmp_path / "killed")
    assert [s for s, _ in resumed] == [1, 2, 3, 4, 5, 6]  # steps 4-5 once, not twice
    assert [v for _, v in resumed] == pytest.approx([v for _, v in straight], abs=1e-6)


def test_context_longer_than_valid_data_is_an_error(data, tmp_path):
    cfg = tiny("clm", model={"context_length": 4096})
    with pytest.raises(DataError, match="context_length"):
        pretrain(cfg, SEED, data / "tokens", data / "tokenizer", tmp_path / "m")


def small_state(data, seed: int):
    """A TrainState of a tiny clm model on the token files of `data`, as pretrain builds it."""
    import numpy as np
    import torch

    from stages.common.lm_train import Batches
    from stages.common.optim import PRETRAIN_BETAS, TrainState, make_optimizer
    from stages.common.tokens import read_meta
    from stages.pretrain.data import objective, open_tokens
    from stages.pretrain.model import build_model

    cfg = tiny("clm", model={"dropout": 0.1})
    meta = read_meta(data / "tokens")
    torch.manual_seed(seed)
    model = build_model(cfg.model, meta)
    tokens = open_tokens(data / "tokens", "train", meta, cfg.model.context_length)
    gens = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
    return TrainState(
        model,
        make_optimizer(model, 1e-3, 0.1, PRETRAIN_BETAS, fused=True),
        cosine_schedule(1e-3, 1e-4, 2, 10),
        batches=Batches(tokens, *gens, objective(cfg.model, meta)),
    )


def test_a_checkpoint_saves_and_restores_the_whole_train_state(data, tmp_path):
    import torch

    from stages.common.lm_train import StepSettings, train_step
    from stages.pretrain.checkpoint import load_checkpoint, save_checkpoint
    from stages.pretrain.parallel import World

    how = StepSettings(batch_size=4, grad_accum=2, grad_clip=1.0, device="cpu", precision="fp32")
    saved = small_state(data, seed=1)
    for _ in range(3):
        train_step(saved, how)
    save_checkpoint(tmp_path / "ckpt", saved, "fp", World())
    dropout_rng = torch.get_rng_state()  # torch's generator is the process's: both states share it
    resumed = small_state(data, seed=2)  # other weights and generators, until the load
    assert not load_checkpoint(tmp_path / "ckpt", resumed, "other params")  # a stranger's: not used
    assert resumed.step == 0
    assert load_checkpoint(tmp_path / "ckpt", resumed, "fp")
    assert (resumed.step, resumed.tokens_seen) == (3, 3 * 2 * 4 * 32)
    for (name, a), b in zip(saved.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name
    # The next step (batch, mask, dropout, AdamW moments, lr) is the same in both.
    loss = train_step(resumed, how)
    torch.set_rng_state(dropout_rng)
    assert train_step(saved, how) == loss
    assert all(torch.equal(a, b) for a, b in zip(saved.model.parameters(), resumed.model.parameters()))


def test_token_files_that_disagree_with_meta_json_name_the_file_and_the_fix(tmp_path):
    import numpy as np

    from stages.common.tokens import open_split, read_meta

    meta = {"dtype": "uint16", "vocab_size": 9, "eos_id": 0, "pad_id": 1, "n_tokens": {"valid": 5}}
    (tmp_path / "meta.json").write_text(json.dumps({k: v for k, v in meta.items() if k != "pad_id"}))
    with pytest.raises(DataError, match=r"meta.json: key 'pad_id' is missing; rerun the tokenizer"):
        read_meta(tmp_path)
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    np.arange(4, dtype=np.uint16).tofile(tmp_path / "valid.bin")
    with pytest.raises(DataError, match=r"valid.bin: holds 4 tokens but meta.json says 5"):
        open_split(tmp_path, "valid", read_meta(tmp_path))
    with pytest.raises(DataError, match=r"train.bin: not found; run the tokenizer stage"):
        open_split(tmp_path, "train", meta)
