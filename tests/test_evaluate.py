"""Tests for stages/evaluate: LM arithmetic, bootstrap intervals, n/a reporting, broken models,
and the whole stage on a tiny fake workspace."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from evaluate_fixtures import VOCAB, save_clm, write_task, write_tokens
from params_fixtures import PROFILES, as_dict, merged, profile_file

from stages.common.errors import DataError
from stages.common.params import default_params
from stages.evaluate import lm, run
from stages.evaluate.stats import bootstrap_ci, point_scores


class Cfg:
    batch_size = 2

    class lm:
        max_batches = 3
        context_length = 0
        mask_prob = 0.15


def test_clm_loss_ppl_bpb_match_a_manual_computation(tmp_path):
    import torch

    meta = write_tokens(tmp_path)
    model = save_clm(tmp_path / "models" / "pretrain")
    flat, detail = lm.evaluate_lm(Cfg, 1, "cpu", tmp_path / "data/tokens", tmp_path / "models/pretrain")

    # Manual: HF's own shifted loss on each window of context+1 = 9 tokens, spread as lm picks them.
    valid = np.fromfile(tmp_path / "data/tokens/valid.bin", dtype=np.uint16).astype(np.int64)
    available = len(valid) // 9
    starts = np.unique(np.linspace(0, available - 1, min(available, 6)).round().astype(int)) * 9
    nats, n = 0.0, 0
    with torch.no_grad():
        for s in starts:
            x = torch.tensor(valid[s : s + 9])[None]
            nats += model(input_ids=x, labels=x).loss.item() * 8
            n += 8
    assert detail["target_tokens"] == n == 48
    assert flat["pretrain.val_loss"] == pytest.approx(nats / n, rel=1e-5)
    assert flat["pretrain.val_ppl"] == pytest.approx(math.exp(nats / n), rel=1e-5)
    n_bytes = meta["n_bytes"]["valid"] * n / len(valid)
    assert flat["pretrain.val_bpb"] == pytest.approx(nats / math.log(2) / n_bytes, rel=1e-5)
    # An untrained model is near uniform, so the unigram baseline on skewed data beats it.
    assert flat["pretrain.unigram.val_loss"] < flat["pretrain.val_loss"]
    assert flat["pretrain.val_mlm_pseudo_ppl"] == "n/a"
    assert "causal" in detail["na"]["pretrain.val_mlm_pseudo_ppl"]


def test_unigram_baseline_arithmetic():
    train = np.array([0, 0, 0, 1])
    targets = np.array([0, 1])
    # add-one over a vocab of 3: p(0) = 4/7, p(1) = 2/7
    assert lm.unigram_nats(train, 3, targets) == pytest.approx(-math.log(4 / 7) - math.log(2 / 7))


def test_missing_bytes_and_short_valid_are_na_not_zero(tmp_path):
    write_tokens(tmp_path, n_bytes=False)
    save_clm(tmp_path / "models" / "pretrain")
    flat, detail = lm.evaluate_lm(Cfg, 1, "cpu", tmp_path / "data/tokens", tmp_path / "models/pretrain")
    assert flat["pretrain.val_bpb"] == "n/a" and "n_bytes" in detail["na"]["pretrain.val_bpb"]
    assert isinstance(flat["pretrain.val_loss"], float)

    short = tmp_path / "short"
    write_tokens(short, n_valid=5)
    save_clm(short / "models" / "pretrain")
    flat, detail = lm.evaluate_lm(Cfg, 1, "cpu", short / "data/tokens", short / "models/pretrain")
    assert flat["pretrain.val_loss"] == "n/a" and "fewer than one window" in detail["na"]["pretrain.val_loss"]
    assert flat["pretrain.val_target_tokens"] == 0


def test_mlm_model_reports_pseudo_perplexity_only(tmp_path):
    from transformers import ModernBertConfig, ModernBertForMaskedLM

    write_tokens(tmp_path)
    cfg = ModernBertConfig(
        vocab_size=VOCAB, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        max_position_embeddings=8, pad_token_id=1, mask_token_id=2, bos_token_id=0, eos_token_id=0,
        cls_token_id=0, sep_token_id=0, global_attn_every_n_layers=1,
    )  # fmt: skip
    ModernBertForMaskedLM(cfg).save_pretrained(tmp_path / "m")
    runs = [lm.evaluate_lm(Cfg, 7, "cpu", tmp_path / "data/tokens", tmp_path / "m") for _ in range(2)]
    (flat, detail), (again, _) = runs
    assert flat["pretrain.val_loss"] == flat["pretrain.val_bpb"] == "n/a"
    assert "masked LM" in detail["na"]["pretrain.val_loss"]
    assert flat["pretrain.val_mlm_pseudo_ppl"] == pytest.approx(math.exp(flat["pretrain.val_mlm_loss"]))
    assert flat == again  # the mask is seeded
    assert "pseudo-perplexity" in detail["method"]


def test_bootstrap_ci_contains_estimate_and_is_seeded():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 300)
    p = np.where(rng.random(300) < 0.6, y, rng.integers(0, 3, 300))
    labels = np.unique(y)
    point = point_scores(y, p, labels)
    ci = bootstrap_ci(y, p, labels, 500, 0.95, seed=11)
    assert ci["acc_ci_low"] < point["acc"] < ci["acc_ci_high"]
    assert ci["macro_f1_ci_low"] < point["macro_f1"] < ci["macro_f1_ci_high"]
    assert ci == bootstrap_ci(y, p, labels, 500, 0.95, seed=11)
    assert ci != bootstrap_ci(y, p, labels, 500, 0.95, seed=12)


def test_bootstrap_counts_match_sklearn_on_one_resample():
    from sklearn.metrics import f1_score

    from stages.evaluate.stats import _scores_from_counts

    y = np.array([0, 0, 1, 1, 2, 2, 2])
    p = np.array([0, 1, 1, 1, 0, 2, 1])
    k = 3
    tp = np.array([[np.sum((y == c) & (p == c)) for c in range(k)]])
    fp = np.array([[np.sum((y != c) & (p == c)) for c in range(k)]])
    fn = np.array([[np.sum((y == c) & (p != c)) for c in range(k)]])
    acc, f1 = _scores_from_counts(tp, fp, fn, len(y))
    assert acc[0] == pytest.approx(np.mean(y == p))
    assert f1[0] == pytest.approx(f1_score(y, p, average="macro"))


def test_paired_difference_uses_the_same_resamples_as_each_systems_interval():
    from stages.evaluate.stats import paired_diff_ci, resamples

    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 400)
    a = np.where(rng.random(400) < 0.8, y, 1 - y)
    b = np.where(rng.random(400) < 0.7, y, 1 - y)
    d = paired_diff_ci(y, a, b, 500, 0.95, seed=11)
    assert d["diff"] == pytest.approx(np.mean(a == y) - np.mean(b == y))
    assert d["ci_low"] < d["diff"] < d["ci_high"] and d["ci_low"] > 0  # a is clearly better here
    # The same indices as bootstrap_ci's: per resample, the difference of the two accuracies.
    idx = np.concatenate(list(resamples(len(y), 500, 11)))
    per = (a[idx] == y[idx]).mean(1) - (b[idx] == y[idx]).mean(1)
    assert d["ci_low"] == pytest.approx(np.percentile(per, 2.5))
    acc_a = bootstrap_ci(y, a, np.unique(y), 500, 0.95, seed=11)
    assert acc_a["acc_ci_low"] == pytest.approx(np.percentile((a[idx] == y[idx]).mean(1), 2.5))
    # Pairing: two systems that agree everywhere differ by exactly 0 in every resample.
    same = paired_diff_ci(y, a, a.copy(), 500, 0.95, seed=11)
    assert same == {"diff": 0.0, "ci_low": 0.0, "ci_high": 0.0, "p_le_0": 1.0}
    with pytest.raises(ValueError, match="400 labels, 399 and 400 predictions"):
        paired_diff_ci(y, a[1:], b, 500, 0.95, seed=11)


def test_tfidf_is_fitted_once_per_train_split_params_and_seed(monkeypatch):
    from stages.evaluate import classify

    fits = []
    real = classify._fit_tfidf
    monkeypatch.setattr(classify, "_fit_tfidf", lambda *a: fits.append(1) or real(*a))
    monkeypatch.setattr(classify, "_TFIDF", {})
    cfg = default_params("evaluate.classify")
    train = (["good film", "bad film", "great fun", "awful mess"], np.array([1, 0, 1, 0]))
    first = classify.fit_tfidf(train, cfg, 1)
    assert classify.fit_tfidf((list(train[0]), train[1].copy()), cfg, 1) is first and len(fits) == 1
    classify.fit_tfidf(train, cfg, 2)
    classify.fit_tfidf((train[0], np.array([0, 1, 1, 0])), cfg, 1)
    assert len(fits) == 3 and first(["good fun"]).tolist() == [1]


@pytest.mark.parametrize("broken", ["no_dir", "no_config", "no_weights"])
def test_missing_or_half_written_model_is_a_clear_error(tmp_path, broken):
    write_tokens(tmp_path)
    path = tmp_path / "models" / "pretrain"
    if broken != "no_dir":
        save_clm(path)
        (path / ("config.json" if broken == "no_config" else "model.safetensors")).unlink()
    with pytest.raises(DataError, match=r"models/pretrain.*dvc repro"):
        lm.evaluate_lm(Cfg, 1, "cpu", tmp_path / "data/tokens", path)


def test_vocab_mismatch_is_a_clear_error(tmp_path):
    write_tokens(tmp_path)
    save_clm(tmp_path / "m", vocab=VOCAB + 200)  # tokenizer saved beside it has VOCAB tokens
    with pytest.raises(DataError, match=r"vocab_size is 244 but its tokenizer has 44"):
        lm.evaluate_lm(Cfg, 1, "cpu", tmp_path / "data/tokens", tmp_path / "m")


# The whole stage on conftest.py's tiny fake `workspace`: metrics.json, details, confusion plot file.


def test_stage_writes_flat_metrics_beside_baselines(workspace):
    run.main()
    flat = json.loads((workspace / "metrics/metrics.json").read_text())
    for system in ("", "majority.", "tfidf."):
        for key in ("acc", "macro_f1", "acc_ci_low", "acc_ci_high"):
            assert isinstance(flat[f"classify.{system}test.{key}"], float), system + key
    assert flat["classify.test.n"] == 30
    assert flat["classify.test.acc_ci_low"] <= flat["classify.test.acc"] <= flat["classify.test.acc_ci_high"]
    # The words separate the classes, so TF-IDF beats always guessing the majority.
    assert flat["classify.tfidf.test.acc"] > flat["classify.majority.test.acc"]
    diff = flat["classify.test.acc_minus_tfidf"]
    assert diff == pytest.approx(flat["classify.test.acc"] - flat["classify.tfidf.test.acc"])
    assert (
        flat["classify.test.acc_minus_tfidf_ci_low"] <= diff <= flat["classify.test.acc_minus_tfidf_ci_high"]
    )
    assert isinstance(flat["pretrain.val_bpb"], float)
    assert flat["privacy.samples.n"] == 2 and isinstance(flat["privacy.samples.pii_per_1k_chars"], float)
    # collect planted no canaries here: n/a, so left out of metrics.json, its reason in the detail
    assert "privacy.canary.exposure_mean" not in flat
    privacy = json.loads((workspace / "metrics/evaluate/privacy.json").read_text())
    assert privacy["na"]["privacy.canary.exposure_mean"]
    # flat and numbers only
    assert all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in flat.values())

    detail = json.loads((workspace / "metrics/evaluate/classify.json").read_text())
    assert detail["labels"] == ["negative", "positive"]
    assert np.sum(detail["systems"]["model"]["confusion"]) == 30
    rows = json.loads((workspace / "metrics/confusion/classify.json").read_text())
    assert len(rows) == 30 and set(rows[0]) == {"actual", "predicted"}
    assert {r["actual"] for r in rows} <= {"negative", "positive"}

    run.main()  # same params, same seed: the same numbers
    assert json.loads((workspace / "metrics/metrics.json").read_text()) == flat


def test_empty_test_split_is_na_with_reason(workspace):
    import shutil

    shutil.rmtree(workspace / "data/tasks")
    write_task(workspace, n_test=0)
    run.main()
    flat = json.loads((workspace / "metrics/metrics.json").read_text())
    assert "classify.test.acc" not in flat and "classify.tfidf.test.macro_f1" not in flat  # n/a: left out
    detail = json.loads((workspace / "metrics/evaluate/classify.json").read_text())
    assert (
        "no rows" in detail["na"]["classify.test.acc"]
        and "no rows" in detail["na"]["classify.tfidf.test.acc"]
    )


def test_missing_finetuned_model_names_path_and_leaves_old_metrics(workspace):

    (workspace / "metrics").mkdir()
    (workspace / "metrics/metrics.json").write_text('{"old": 1}')
    (workspace / "models/finetune/classify/config.json").unlink()  # a half-written model
    with pytest.raises(DataError, match=r"models/finetune/classify: no config.json, .* run `dvc repro"):
        run.main()
    assert json.loads((workspace / "metrics/metrics.json").read_text()) == {"old": 1}


@pytest.mark.parametrize("profile", PROFILES)
def test_shipped_evaluate_and_report_params_parse(profile, tmp_path):
    from stages.common.params import load_section

    path = profile_file(profile, tmp_path)
    assert load_section("evaluate", path).classify.bootstrap >= 100
    assert load_section("report", path).digits >= 1


def test_finetuned_tasks_are_the_model_folders_finetune_wrote(tmp_path):
    from stages.evaluate.run import finetune_tasks

    assert finetune_tasks(tmp_path / "models") == ()
    for name in ("ner", "classify", ".classify.tmp-x"):  # a temporary folder of an interrupted save
        (tmp_path / "models" / name).mkdir(parents=True)
    assert finetune_tasks(tmp_path / "models") == ("classify", "ner")
    (tmp_path / "models" / "pretrain").mkdir()
    with pytest.raises(DataError, match="'pretrain' is reserved"):
        finetune_tasks(tmp_path / "models")


def test_privacy_reads_the_canaries_collect_planted_not_params(tmp_path):
    from stages.evaluate.privacy import canary_params

    path = tmp_path / "canaries.json"
    with pytest.raises(DataError, match=r"canaries.json not found.*dvc repro collect"):
        canary_params(path)
    path.write_text(json.dumps(as_dict("collect.canaries", count=3)))
    assert canary_params(path).count == 3


def test_bad_evaluate_param_names_the_key():
    from stages.common.errors import ParamsError
    from stages.common.params import parse
    from stages.evaluate.config import EvaluateParams

    with pytest.raises(ParamsError, match=r"evaluate\.lm\.mask_prob: must be in \(0, 1\)"):
        parse(EvaluateParams, merged("evaluate", {"lm": {"mask_prob": 1.5}}), "evaluate")
    with pytest.raises(ParamsError, match=r"unknown key\(s\) \['ppl_max_batches'\]"):
        parse(EvaluateParams, merged("evaluate", {"ppl_max_batches": 5}), "evaluate")


def test_a_family_that_breaks_its_manifest_contract_is_named():
    from stages.common.manifest import COUNT, FRACTION, SECONDS, Metric
    from stages.evaluate.run import check_family

    declared = [
        Metric("x.acc", "x", "accuracy", FRACTION, "higher", measure="acc"),
        Metric("x.n", "x", "rows", COUNT, measure="n"),
    ]
    check_family("x", {"x.acc": "n/a", "x.n": 3}, {"na": {"x.acc": "no model"}}, declared)  # holds
    with pytest.raises(RuntimeError, match=r"family x: writes undeclared key\(s\) \['x.f1'\]"):
        check_family("x", {"x.acc": 0.5, "x.n": 3, "x.f1": 0.4}, {}, declared)
    with pytest.raises(RuntimeError, match=r"does not write declared key\(s\) \['x.n'\]"):
        check_family("x", {"x.acc": 0.5}, {}, declared)
    with pytest.raises(RuntimeError, match=r"n/a key\(s\) \['x.acc'\] with no reason"):
        check_family("x", {"x.acc": "n/a", "x.n": 3}, {"na": {"acc": "filed under a short name"}}, declared)
    with pytest.raises(ValueError, match="a timing .* takes no direction"):
        Metric("x.train_time_s", "x", "training time", SECONDS, "lower", measure="train_time_s")


def test_a_model_folder_is_loaded_once_per_kind_until_it_is_saved_again(tmp_path):
    import os

    from stages.evaluate.models import load_model

    save_clm(tmp_path / "m")
    first = load_model(tmp_path / "m", "clm", "cpu")
    assert load_model(tmp_path / "m", "clm", "cpu") is first and not first.training
    weights = tmp_path / "m/model.safetensors"
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 1))  # saved again
    again = load_model(tmp_path / "m", "clm", "cpu")
    assert again is not first and load_model(tmp_path / "m", "clm", "cpu") is again
