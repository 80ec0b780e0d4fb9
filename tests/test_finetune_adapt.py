"""finetune classify with task-adaptive pre-training: the backbone's own objective on the train
texts lowers its loss, moves the body and not the head, reads no valid or test text, and the
classifier trained after it still learns, saves and reloads (adversarial adapts the same way)."""

from __future__ import annotations

from pathlib import Path

import pytest
from finetune_fixtures import (
    params,
    save_pretrained_like,
    toy_texts,
    train_params,
    word_tokenizer,
    write_classify,
)

from stages.common.errors import ParamsError
from stages.common.params import parse
from stages.finetune.config import FinetuneParams
from stages.finetune.train import TrainEnv

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny matrices: one thread is faster

ENV = TrainEnv(device="cpu", precision="fp32", seed=0, live=None)


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory) -> dict[str, Path]:
    import torch

    torch.manual_seed(0)
    tok = word_tokenizer()
    return {k: save_pretrained_like(tmp_path_factory.mktemp(k), k, tok) for k in ("llama", "modernbert")}


@pytest.mark.parametrize("kind", ["llama", "modernbert"])
def test_adaptation_lowers_the_lm_loss_and_moves_the_body_not_the_head(kind, pretrained):
    import torch

    from stages.finetune.adapt import adapt, body
    from stages.finetune.model import load_classifier, load_tokenizer

    tok = load_tokenizer(pretrained[kind])
    model = load_classifier("classify", pretrained[kind], ["negative", "positive"], tok.pad_token_id)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    c = train_params(adapt_steps=40, adapt_lr=3e-3, adapt_batch_size=8)
    m = adapt(model, pretrained[kind], tok, toy_texts(240, 1)[0], c, 16, ENV)

    assert m["adapt_steps"] == 40 and m["adapt_tokens"] == 40 * 8 * 16
    assert m["adapt_loss_last"] < m["adapt_loss_first"] - 0.5, m
    after = model.state_dict()
    prefix = model.base_model_prefix + "."
    moved = [k for k in after if k.startswith(prefix) and not torch.equal(after[k], before[k])]
    assert len(moved) > len([k for k in after if k.startswith(prefix)]) // 2
    head = [k for k in after if not k.startswith(prefix)]
    assert head and all(torch.equal(after[k], before[k]) for k in head)
    fresh = load_classifier("classify", pretrained[kind], ["negative", "positive"], tok.pad_token_id)
    assert not torch.equal(body(fresh).state_dict()[moved[0][len(prefix) :]], after[moved[0]])


def test_classify_adapts_on_train_texts_only_then_learns_and_reloads(pretrained, tmp_path, monkeypatch):
    import torch
    from transformers import AutoModelForSequenceClassification

    import stages.finetune.adapt as adapt_module
    from stages.finetune.classify import run

    seen: list[list[str]] = []
    real_stream = adapt_module.stream

    def recording_stream(tok, texts):
        seen.append(list(texts))
        return real_stream(tok, texts)

    monkeypatch.setattr(adapt_module, "stream", recording_stream)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PIPELINE_NO_PROGRESS", "1")
    write_classify(tmp_path / "data" / "tasks")
    cfg = params(("classify",), classify=train_params(adapt_steps=20, adapt_lr=3e-3, adapt_batch_size=8))
    m = run("classify", cfg, seed=7, pretrain_dir=pretrained["llama"], tasks_dir=Path("data/tasks"))

    assert seen == [toy_texts(240, 1)[0]]  # the train split, never valid (seed 2) or test (seed 3)
    assert m["adapt_steps"] == 20 and m["adapt_loss_last"] < m["adapt_loss_first"]
    assert m["best_valid_accuracy"] >= 0.9, m["history"]
    model = AutoModelForSequenceClassification.from_pretrained("models/finetune/classify")
    assert model.config.id2label == {0: "negative", 1: "positive"}
    assert torch.isfinite(model.score.weight).all()


def test_adversarial_adapts_with_the_classify_section(pretrained, tmp_path, monkeypatch):
    from stages.finetune.adversarial import run

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PIPELINE_NO_PROGRESS", "1")
    write_classify(tmp_path / "data" / "tasks", task="adversarial", attacked=True)
    classify = train_params(epochs=1, adapt_steps=5, adapt_batch_size=4)
    m = run(
        "adversarial", params(("adversarial",), classify=classify), 7, pretrained["llama"], Path("data/tasks")
    )
    assert m["adapt_steps"] == 5 and m["adapt_tokens"] == 5 * 4 * 16
    assert m["budget"] == "finetune.classify"


def test_adapt_steps_off_by_default_in_the_metrics(pretrained, tmp_path, monkeypatch):
    from stages.finetune.classify import run

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PIPELINE_NO_PROGRESS", "1")
    write_classify(tmp_path / "data" / "tasks")
    cfg = params(("classify",), classify=train_params(epochs=1, adapt_steps=0))
    m = run("classify", cfg, seed=7, pretrain_dir=pretrained["llama"], tasks_dir=Path("data/tasks"))
    assert m["adapt_steps"] == 0 and "adapt_tokens" not in m


@pytest.mark.parametrize(
    "key, value, match",
    [
        ("adapt_steps", -1, r"finetune\.classify\.adapt_steps: must be >= 0"),
        ("adapt_lr", 0.0, r"finetune\.classify\.adapt_lr: must be in \(0, 1\)"),
        ("adapt_batch_size", 0, r"finetune\.classify\.adapt_batch_size: must be at least 1"),
        ("adapt_mask_prob", 1.0, r"finetune\.classify\.adapt_mask_prob: must be in \(0, 1\)"),
    ],
)
def test_bad_adapt_params_name_the_key(key, value, match):
    from params_fixtures import merged

    with pytest.raises(ParamsError, match=match):
        parse(FinetuneParams, merged("finetune", {"classify": {key: value}}), "finetune")
