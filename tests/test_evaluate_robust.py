"""Tests for stages/evaluate/robust.py: attack counting with a stub predictor, and the family's
perturbed accuracy and n/a paths on a tiny workspace."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from evaluate_fixtures import save_classifier, write_task

from stages.common.errors import ParamsError
from stages.common.params import default_params
from stages.evaluate import robust
from stages.evaluate.classify import fit_tfidf, read_split
from stages.evaluate.context import Context


def stub(calls):
    """Positive exactly when the lower-case word "good" is in the text; records batch sizes."""

    def predict(texts):
        calls.append(len(texts))
        return np.array([int(" good " in f" {t} ") for t in texts])

    return predict


def test_attack_counts_flips_only_among_correct_examples():
    texts = ["good film", "bad film", "good but bad", "plain good"]
    labels = np.array([1, 0, 0, 1])  # "good but bad" is misclassified: never attacked
    calls = []
    out = robust.attack(stub(calls), texts, labels, ["a", "b", "c", "d"], 10, ["case"], chunk=2)
    # Upper-casing "good" flips a positive; a negative without "good" cannot be flipped.
    assert out["n_correct"] == 3 and out["n_flipped"] == 2
    assert out["success_rate"] == pytest.approx(2 / 3) and out["first_flip_kinds"] == {"case": 2}
    # One clean pass, then rounds of at most 5 candidates per pending example of a chunk of 2.
    assert calls[0] == 4 and max(calls[1:]) <= 10 and sum(calls[1:]) == out["candidates_scored"]
    again = robust.attack(stub([]), texts, labels, ["a", "b", "c", "d"], 10, ["case"], chunk=3)
    assert again == out  # candidates are seeded per example, whatever the chunking


def test_attack_in_rounds_finds_the_flips_of_scoring_every_candidate():
    """Stopping a text's candidates at its first flip changes no count, only the work done."""
    rng = np.random.default_rng(0)
    words = ["good", "bad", "fine", "dull", "great", "film", "plot", "cast"]
    texts = [" ".join(rng.choice(words, size=6)) for _ in range(40)]
    labels = np.array([int(" good " in f" {t} ") for t in texts])
    seeds = [str(i) for i in range(len(texts))]
    kinds = ["typo", "swap", "insert", "case"]
    every = robust.attack(stub([]), texts, labels, seeds, 20, kinds, per_round=20)
    rounds = robust.attack(stub([]), texts, labels, seeds, 20, kinds, per_round=3)
    assert every["n_flipped"] > 0 and every["n_flipped"] < every["n_correct"]  # both outcomes occur
    drop = ("candidates_scored",)
    assert {k: v for k, v in rounds.items() if k not in drop} == {
        k: v for k, v in every.items() if k not in drop
    }
    assert rounds["candidates_scored"] < every["candidates_scored"]


def test_attack_with_nothing_correct_has_no_rate():
    out = robust.attack(stub([]), ["bad"], np.array([1]), ["x"], 5, ["typo"])
    assert out["n_correct"] == 0 and out["success_rate"] is None


def write_adversarial(root, distractors=None):
    clean = pq.read_table(root / "data/tasks/classify/test.parquet").to_pylist()
    d = root / "data/tasks/adversarial"
    d.mkdir(parents=True)
    rows = [{"id": f"{i}", "text": r["text"].upper(), "label": r["label"]} for i, r in enumerate(clean)]
    pq.write_table(pa.Table.from_pylist(rows), d / "test.parquet")
    if distractors is not None:
        (d / "distractors.json").write_text(json.dumps(distractors))


def workspace(tmp_path, monkeypatch, tasks, **robust_params):
    monkeypatch.chdir(tmp_path)
    write_task(tmp_path)
    save_classifier(tmp_path / "models/finetune/classify")
    cfg = default_params(
        "evaluate",
        batch_size=8,
        robust=default_params("evaluate.robust", **{"attack_budget": 3, "n_attack": 12, **robust_params}),
    )
    return Context(cfg, seed=2, device="cpu", tasks=tasks)


def test_family_scores_models_and_tfidf_on_perturbed_test(tmp_path, monkeypatch):
    ctx = workspace(tmp_path, monkeypatch, ("classify",))
    write_adversarial(tmp_path, ["w5 w6", "w7"])
    flat, detail, _ = robust.family(ctx)
    assert robust.family(ctx)[0] == flat  # seeded
    # TF-IDF lower-cases, so the upper-cased test scores exactly as the clean one.
    train, (texts, y) = (
        read_split(tmp_path / "data/tasks/classify", "train"),
        read_split(tmp_path / "data/tasks/classify", "test"),
    )
    assert flat["classify.tfidf.perturbed.acc"] == np.mean(fit_tfidf(train, ctx.cfg.classify, 2)(texts) == y)
    assert isinstance(flat["classify.perturbed.acc"], float)
    assert isinstance(flat["classify.tfidf.perturbed.acc"], float)
    # The attack starts from the texts TF-IDF gets right on the clean test (the first n_attack).
    n_attack = ctx.cfg.robust.n_attack or len(texts)
    tfidf_right = int(np.sum(fit_tfidf(train, ctx.cfg.classify, 2)(texts[:n_attack]) == y[:n_attack]))
    assert flat["classify.tfidf.attack.n_correct"] == tfidf_right > 0
    for prefix in ("classify", "classify.tfidf"):
        n, k = flat[f"{prefix}.attack.n_correct"], flat[f"{prefix}.attack.n_flipped"]
        assert 0 <= k <= n <= 12
        assert flat[f"{prefix}.attack.success_rate"] == (pytest.approx(k / n) if n else None)
    assert flat["adversarial.perturbed.acc"] == "n/a"
    assert (
        "finetune.tasks in params.yaml does not list adversarial"
        in detail["na"]["adversarial.attack.success_rate"]
    )
    assert detail["distractors"] == 2 and "distractor" in detail["kinds"]


def test_family_without_adversarial_data_or_budget(tmp_path, monkeypatch):
    ctx = workspace(tmp_path, monkeypatch, ("classify",), attack_budget=0)
    flat, detail, _ = robust.family(ctx)
    assert (
        flat["classify.perturbed.acc"] == "n/a"
        and "does not build adversarial" in detail["na"]["classify.perturbed.acc"]
    )
    assert flat["classify.attack.success_rate"] == "n/a"
    assert "attack_budget is 0" in detail["na"]["classify.attack.n_correct"]
    assert "distractor" not in detail["kinds"]  # no stored distractors: that kind is skipped

    shutil.rmtree(tmp_path / "data/tasks/classify")
    flat, detail, _ = robust.family(ctx)
    assert set(flat.values()) == {"n/a"}


def test_unknown_kind_is_a_params_error(tmp_path, monkeypatch):
    ctx = workspace(tmp_path, monkeypatch, ("classify",), kinds=("typo", "leet"))
    with pytest.raises(ParamsError, match=r"evaluate.robust.kinds: unknown kind\(s\) \['leet'\]"):
        robust.family(ctx)


def test_classifier_forwards_each_text_once_and_predicts_as_a_fresh_pass(tmp_path):
    """load_classifier's predictions are remembered per text: the model sees a text once per
    run, repeats and reloads included, and the labels are those a fresh pass gives."""
    from stages.evaluate import classify

    model_dir = tmp_path / "cls"
    save_classifier(model_dir)
    write_task(tmp_path, n_test=30)
    texts, _ = read_split(tmp_path / "data/tasks/classify", "test")
    classify._PREDICTED.clear()
    predict = classify.load_classifier(model_dir, 16, 4, "cpu")
    model = classify.load_model(model_dir, "seq_cls", "cpu")
    rows: list[int] = []
    hook = model.register_forward_pre_hook(
        lambda _m, _a, kw: rows.append(len(kw["input_ids"])), with_kwargs=True
    )
    try:
        first = predict(texts[:20])
        again = classify.load_classifier(model_dir, 16, 4, "cpu")(texts[10:] + texts[:5] + texts[25:])
    finally:
        hook.remove()
    assert sum(rows) == len(set(texts))  # 20 texts, then only the 10 not seen before
    # The labels of a pass with no memory of earlier calls.
    classify._PREDICTED.clear()
    plain = classify.load_classifier(model_dir, 16, 4, "cpu")(texts)
    assert first.tolist() == plain[:20].tolist()
    assert again.tolist() == [*plain[10:], *plain[:5], *plain[25:]]
