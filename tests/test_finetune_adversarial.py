"""finetune adversarial: FreeLB / PGD perturbations stay in the eps ball, raise the loss, train
a classifier on the classify budget that saves and reloads."""

from __future__ import annotations

import json
from dataclasses import replace
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

from stages.finetune.adversarial import ascend, freelb_backward, init_delta, pgd_backward, project
from stages.finetune.config import AdversarialParams
from stages.finetune.train import TrainEnv

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny matrices: one thread is faster


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    import torch

    torch.manual_seed(0)
    return save_pretrained_like(tmp_path_factory.mktemp("pretrain"), "llama", word_tokenizer())


def batch_and_model(base: Path):
    """A left-padded batch of 8 toy texts and a fresh classifier over `base`."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from stages.finetune.data import batches, encode

    tok = AutoTokenizer.from_pretrained(base)
    texts, labels = toy_texts(8, 5)
    model = AutoModelForSequenceClassification.from_pretrained(
        base, num_labels=2, pad_token_id=tok.pad_token_id
    )
    torch.manual_seed(1)
    batch = next(batches(encode(tok, texts, labels, 16), 8, tok.pad_token_id, None, pad_left=True))
    return model, batch


ENV = TrainEnv(device="cpu", precision="fp32", seed=0, live=None)


def test_delta_starts_small_on_real_tokens_and_projects_to_the_ball():
    import torch

    torch.manual_seed(0)
    embeds = torch.randn(3, 5, 4)
    mask = torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1], [0, 0, 0, 0, 1]])
    delta = init_delta(embeds, mask, init_mag=0.5)
    assert (delta[mask == 0] == 0).all() and (delta[mask == 1] != 0).all()
    # uniform in [-1, 1] scaled by init_mag / sqrt(tokens * hidden): at most init_mag in L2
    assert (delta.flatten(1).norm(dim=1) <= 0.5).all()
    big = torch.randn(3, 5, 4) * 10
    assert torch.allclose(project(big, 2.0).flatten(1).norm(dim=1), torch.full((3,), 2.0))
    small = big * 1e-3
    assert torch.equal(project(small, 2.0), small)
    grad = torch.randn(3, 5, 4) * mask.unsqueeze(-1)  # gradients vanish on padding
    step = ascend(torch.zeros(3, 5, 4), grad, mask, adv_lr=0.3, eps=2.0)
    assert torch.allclose(step.flatten(1).norm(dim=1), torch.full((3,), 0.3), atol=1e-5)  # a step of adv_lr
    assert (step[mask == 0] == 0).all() and torch.allclose(
        step / 0.3, grad / grad.flatten(1).norm(dim=1).view(-1, 1, 1)
    )
    assert torch.allclose(
        ascend(step, grad, mask, adv_lr=5.0, eps=2.0).flatten(1).norm(dim=1), torch.full((3,), 2.0)
    )


@pytest.mark.parametrize("method", ["freelb", "pgd"])
def test_perturbation_stays_in_eps_and_raises_the_loss(method, base):
    import torch
    import torch.nn.functional as F

    model, batch = batch_and_model(base)
    with torch.no_grad():
        clean = F.cross_entropy(
            model(**{k: batch[k] for k in ("input_ids", "attention_mask")}).logits, batch["labels"]
        )
    adv = AdversarialParams(method=method, adv_steps=3, adv_lr=0.5, adv_eps=0.4, init_mag=0.1)
    fn = freelb_backward if method == "freelb" else pgd_backward
    loss, delta = fn(model, batch, adv, ENV)
    norms = delta.flatten(1).norm(dim=1)
    assert (norms <= 0.4 + 1e-5).all() and (norms > 0.3).all()  # 3 steps of 0.5 reach the bound
    assert (delta[batch["attention_mask"] == 0] == 0).all()
    emb = model.get_input_embeddings()
    with torch.no_grad():
        out = model(inputs_embeds=emb(batch["input_ids"]) + delta, attention_mask=batch["attention_mask"])
        attacked = F.cross_entropy(out.logits, batch["labels"])
    assert attacked > clean  # ascent found a worse point for the model
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    if method == "pgd":
        assert loss == pytest.approx(clean.item() + attacked.item(), rel=1e-4)
    else:  # FreeLB logs the mean loss over its K perturbed passes, all at or above clean
        assert loss > clean.item()


def test_left_padding_gives_the_same_logits_as_input_ids(base):
    """Decoder classifiers pool the last position of inputs_embeds: left padding makes it real."""
    import torch

    model, batch = batch_and_model(base)
    model.eval()
    emb = model.get_input_embeddings()
    with torch.no_grad():
        by_ids = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        by_embeds = model(
            inputs_embeds=emb(batch["input_ids"]), attention_mask=batch["attention_mask"]
        ).logits
    assert torch.allclose(by_ids, by_embeds, atol=1e-5)


@pytest.mark.parametrize("method", ["freelb", "pgd"])
def test_adversarial_trains_on_the_classify_budget(method, base, tmp_path, monkeypatch):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from stages.finetune.adversarial import run

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PIPELINE_NO_PROGRESS", "1")
    write_classify(Path("data/tasks"), "adversarial", attacked=True)
    cfg = params(("adversarial",), classify=train_params(epochs=3))
    cfg = replace(cfg, adversarial=replace(cfg.adversarial, method=method))
    m = run("adversarial", cfg, seed=4, pretrain_dir=base, tasks_dir=Path("data/tasks"))

    assert m["method"] == method and m["valid_metric"] == "accuracy" and m["budget"] == "finetune.classify"
    assert m["best_valid"] >= 0.85, m["history"]
    assert m["train_examples"] == 300 and m["attacked_train_examples"] == 60
    assert m["steps"] == m["epochs_run"] * 19  # 300 / batch 16 of the classify section
    assert m["passes_per_step"] == (2 if method == "freelb" else 4)
    assert 0 < m["mean_delta_norm"] <= cfg.adversarial.adv_eps
    assert json.loads(Path("metrics/finetune/info/adversarial.json").read_text())["method"] == method

    model = AutoModelForSequenceClassification.from_pretrained("models/finetune/adversarial")
    tok = AutoTokenizer.from_pretrained("models/finetune/adversarial")
    assert model.config.id2label == {0: "negative", 1: "positive"}
    texts, labels = toy_texts(60, 3)
    enc = tok(texts, padding=True, return_tensors="pt")  # right padding, as evaluate reads it
    with torch.no_grad():
        logits = model(**enc).logits
    assert logits.shape == (60, 2)
    assert (logits.argmax(-1) == torch.tensor(labels)).float().mean() >= 0.8
