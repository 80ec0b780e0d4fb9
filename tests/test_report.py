"""Tests for stages/report: report.md from fake metrics, funnel tolerance, diff markdown."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from report_fixtures import PARAMS, manifest_json, measured, write

from stages.common.io import write_metrics
from stages.common.manifest import read as read_manifest
from stages.report import run
from stages.report.diff import diff_markdown, direction, na_verdict, verdict
from stages.report.sources import find_count, load_summary, with_na

FLAT = {
    "pretrain.val_loss": 3.5, "pretrain.val_ppl": 33.115, "pretrain.val_bpb": 1.25,
    "pretrain.unigram.val_loss": 5.0, "pretrain.unigram.val_ppl": 148.4, "pretrain.unigram.val_bpb": 1.8,
    "pretrain.val_mlm_loss": "n/a", "pretrain.val_mlm_pseudo_ppl": "n/a",
    "pretrain.val_target_tokens": 4096,
    "classify.test.n": 200, "classify.test.acc": 0.81, "classify.test.macro_f1": 0.8,
    "classify.test.acc_ci_low": 0.75, "classify.test.acc_ci_high": 0.86,
    "classify.test.macro_f1_ci_low": 0.74, "classify.test.macro_f1_ci_high": 0.85,
    "classify.majority.test.acc": 0.55, "classify.majority.test.macro_f1": 0.35,
    "classify.tfidf.test.acc": "n/a", "classify.tfidf.test.macro_f1": "n/a",
    "classify.tfidf.test.acc_ci_low": "n/a", "classify.tfidf.test.acc_ci_high": "n/a",
    "classify.tfidf.test.macro_f1_ci_low": "n/a", "classify.tfidf.test.macro_f1_ci_high": "n/a",
}  # fmt: skip


@pytest.fixture
def fake_metrics(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "params.yaml", PARAMS)
    m = tmp_path / "metrics"
    write(m / "metrics.json", measured(FLAT))
    write(m / "manifest.json", manifest_json())
    write(m / "evaluate/pretrain.json", {
        "objective": "clm", "uniform_loss": 9.01, "target_tokens": 4096, "bytes_estimated": 16384, "windows": 16, "context_length": 256,
        "method": "causal LM", "na": {"pretrain.val_mlm_loss": "the pretrained model is causal; masked-LM metrics do not apply to it"},
    })  # fmt: skip
    write(m / "evaluate/classify.json", {
        "labels": ["negative", "positive"], "test_class_counts": [110, 90], "method": "bootstrap",
        "systems": {"model": {"confusion": [[90, 20], [18, 72]]}},
        "na": {f"classify.tfidf.test.{k}": "data/tasks/classify/train.parquet has a single class"
               for k in ("acc", "macro_f1", "acc_ci_low", "acc_ci_high", "macro_f1_ci_low", "macro_f1_ci_high")},
    })  # fmt: skip
    write(m / "collect.json", {"sources": {"wiki": {"docs": 200}}, "docs": 1000, "chars": 5_000_000})
    write(m / "clean.json", {"totals": {"docs_in": 1000, "docs_out": 800, "chars_out": 4_000_000}})
    # dedup.json deliberately missing: the report must say so, not fail.
    write(m / "tokenizer.json", {"n_tokens": {"train": 900_000, "valid": 50_000}, "vocab_size": 8192})
    write(m / "pretrain.json", {"final": {"train_loss": 3.4}})
    write(m / "info/pretrain.json", {"device": "cpu", "final": {"stopped_early": False}})
    write(m / "curves/pretrain/plots/metrics/train/loss.tsv", "step\tloss\n0\t9.0\n10\t6.5\n20\t5.1\n")
    write(
        m / "curves/pretrain/plots/metrics/val/loss.tsv",
        "timestamp\tstep\tloss\n1\t0\t9.1\n2\t20\t5.3\n3\t30\n",
    )
    return tmp_path


def test_report_md_from_fake_metrics(fake_metrics):
    run.main([])
    reports = fake_metrics / "reports"
    text = (reports / "report.md").read_text()
    assert "# Test report" in text
    # Every figure beside its baseline, in one row.
    assert "| validation loss (nats/token) | 3.5 | 5 | 9.01 |" in text
    assert "| bits per byte | 1.25 | 1.8 | 3.25 |" in text  # 9.01 nats * 4096 / ln 2 / 16384 bytes
    assert "| fine-tuned model | 0.81 | [0.75, 0.86] | 0.8 | [0.74, 0.85] |" in text
    assert "| TF-IDF + logistic regression (baseline) | n/a | n/a | n/a | n/a |" in text
    assert "single class" in text
    assert "masked-LM" not in text.split("## Task")[0]  # families that do not apply are left out
    # Funnel: counts found under different names; the missing stage is named.
    assert "| collect | 1,000 | 5,000,000 | — | — |" in text
    assert "| clean | 800 | 4,000,000 | — | 80.0% |" in text
    assert "| tokenizer | — | — | 950,000 | — |" in text
    assert "metrics/dedup.json" in text
    # A training summary shows its numbers and, from metrics/info/, its text and flags.
    training = text.split("## Training")[1]
    assert "| `final.train_loss` | 3.4 |" in training and "| `device` | cpu |" in training
    assert "| `final.stopped_early` | false |" in training
    for png in ("funnel.png", "confusion_classify.png", "curves_pretrain.png"):
        assert (reports / png).stat().st_size > 1000, png
        assert f"]({png})" in text


def test_report_without_any_metrics_explains_instead_of_failing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "params.yaml", PARAMS)
    run.main([])
    text = (tmp_path / "reports/report.md").read_text()
    assert "run `dvc repro evaluate`" in text and "Not found (stage not run yet)" in text


def test_find_count_prefers_shallow_and_sums_splits():
    assert find_count({"by_source": {"a": {"docs": 3}}, "docs": 10}, ("docs",)) == (10, "docs")
    assert find_count({"n_tokens": {"train": 5, "valid": 2}}, ("n_tokens",)) == (7, "n_tokens")
    assert find_count({"x": 1}, ("docs",)) == (None, None)


def test_verdicts_follow_the_manifest_direction(tmp_path):
    write(tmp_path / "manifest.json", manifest_json())
    manifest = read_manifest(tmp_path / "manifest.json")
    m = "metrics/metrics.json"
    assert direction(m, "pretrain.val_bpb", manifest) == "lower"
    assert direction(m, "classify.test.macro_f1", manifest) == "higher"
    assert direction(m, "classify.test.n", manifest) is None
    assert direction(m, "x.acc", manifest) is None  # a key the manifest does not describe
    # Other metrics files are not in the manifest: no verdict, whatever their keys are called.
    assert direction("metrics/pretrain.json", "val_loss", manifest) is None
    assert direction(m, "pretrain.val_loss", None) is None
    assert verdict(3.0, 2.5, "lower") == "better" and verdict(0.8, 0.7, "higher") == "worse"
    assert verdict(10, 12, None) == "changed" and verdict(0.7, 0.7, "higher") == "same"
    assert verdict("n/a", 0.7, "higher") == "now measured" and verdict(None, 0.7, "higher") == "added"


def test_n_a_figures_left_out_of_metrics_json_come_back_with_their_reasons(tmp_path):
    write(tmp_path / "manifest.json", manifest_json())
    manifest = read_manifest(tmp_path / "manifest.json")
    details = {
        "pretrain": {"na": {"pretrain.val_mlm_loss": "causal model"}},
        "fewshot": {"na": "fewshot is off"},  # one reason for the whole family
        "classify": None,  # no detail file
    }
    flat = with_na(measured(FLAT), details, manifest)
    assert flat["pretrain.val_mlm_loss"] == "n/a" and flat["pretrain.val_loss"] == 3.5
    fewshot = {m.key for m in manifest.of_family("fewshot")}
    assert fewshot and all(flat[k] == "n/a" for k in fewshot)
    # no reason filed: not measured and not n/a either, so it stays absent
    assert "pretrain.val_mlm_pseudo_ppl" not in flat and "classify.tfidf.test.acc" not in flat
    assert with_na({"pretrain.val_mlm_loss": 2.0}, details, manifest)["pretrain.val_mlm_loss"] == 2.0


def test_a_summary_written_in_two_files_reads_back_whole(tmp_path):
    summary = {"device": "cpu", "steps": 40, "near": {"method": "minhash", "clusters": 2}, "hist": [1, 2]}
    write_metrics(tmp_path / "dedup.json", summary)
    assert load_summary(tmp_path / "dedup.json") == summary
    write(tmp_path / "old.json", {"steps": 3, "device": "cpu"})  # an older file, text and numbers together
    assert load_summary(tmp_path / "old.json") == {"steps": 3, "device": "cpu"}
    assert load_summary(tmp_path / "missing.json") is None


def test_a_declared_key_that_appears_or_goes_missing_is_measured_or_n_a_not_added_or_removed(tmp_path):
    write(tmp_path / "manifest.json", manifest_json())
    manifest = read_manifest(tmp_path / "manifest.json")
    m = "metrics/metrics.json"
    assert na_verdict(m, "pretrain.val_bpb", 1.2, None, manifest) == "now n/a"
    assert na_verdict(m, "pretrain.val_bpb", None, 1.2, manifest) == "now measured"
    assert (
        na_verdict(m, "pretrain.val_bpb", "n/a", None, manifest) == "still n/a"
    )  # an older revision's spelling
    assert na_verdict(m, "pretrain.val_bpb", 1.3, 1.2, manifest) is None
    # a key the manifest does not declare, or another metrics file: added and removed as dvc says
    assert na_verdict(m, "x.acc", None, 0.5, manifest) is None
    assert na_verdict("metrics/pretrain.json", "val_loss", 3.0, None, manifest) is None


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def test_against_diff_in_a_temporary_git_dvc_repo(tmp_path, monkeypatch):
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")
    git(tmp_path, "init", "-q")
    git(tmp_path, "config", "user.name", "Test")
    git(tmp_path, "config", "user.email", "test@example.com")
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=tmp_path, check=True, env={**os.environ})
    write(tmp_path / "dvc.yaml", "metrics:\n  - metrics/metrics.json\n  - metrics/pretrain.json\n")
    write(tmp_path / "metrics/manifest.json", manifest_json())
    write(tmp_path / "metrics/pretrain.json", {"tokens_per_s": 2000.0, "train_time_s": 700.0})
    write(tmp_path / "params.yaml", "evaluate:\n  batch_size: 16\n")
    write(
        tmp_path / "metrics/metrics.json",
        {"pretrain.val_loss": 4.0, "pretrain.val_bpb": 1.5, "classify.test.acc": 0.8, "classify.test.n": 10},
    )
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "first")
    write(tmp_path / "params.yaml", "evaluate:\n  batch_size: 32\n")
    write(
        tmp_path / "metrics/metrics.json",
        # val_bpb could not be measured (left out); macro_f1 is measured for the first time
        {
            "pretrain.val_loss": 3.0,
            "classify.test.acc": 0.7,
            "classify.test.n": 10,
            "classify.test.macro_f1": 0.6,
        },
    )
    write(tmp_path / "metrics/pretrain.json", {"tokens_per_s": 2500.0, "train_time_s": 600.0})
    git(tmp_path, "commit", "-qam", "second")
    monkeypatch.chdir(tmp_path)
    from stages.report.diff import against

    md = against("HEAD~1")
    assert "### pretrain" in md and "### classify" in md and "### evaluate" in md
    assert "| `pretrain.val_loss` | 4 | 3 | -1 | better |" in md
    assert "| `classify.test.acc` | 0.8 | 0.7 | -0.1 | worse |" in md
    assert "| `evaluate.batch_size` | 16 | 32 |" in md
    assert "classify.test.n" not in md  # unchanged metrics are left out
    assert "| `pretrain.val_bpb` | 1.5 | — | — | now n/a |" in md
    assert "| `classify.test.macro_f1` | — | 0.6 | — | now measured |" in md
    # Timings are not quality metrics: changed, never better or worse.
    assert "| `tokens_per_s` | 2000 | 2500 | 500 | changed |" in md
    assert "| `train_time_s` | 700 | 600 | -100 | changed |" in md


def test_diff_markdown_groups_other_metric_files_by_name():
    md = diff_markdown(
        "v1",
        {"metrics/finetune/classify.json": {"best_valid_accuracy": {"old": 0.5, "new": 0.6, "diff": 0.1}}},
        {},
    )
    assert "### finetune/classify" in md and "| changed |" in md and "No params changed." in md


def test_stage_times_table_lists_each_stage_in_repro_order_with_its_share(fake_metrics):
    m = fake_metrics / "metrics"
    write(m / "collect.json", {"docs": 1000, "stage_seconds": 30.0})
    write(m / "pretrain.json", {"steps": 400, "stage_seconds": 60.0})
    write(m / "finetune/ner.json", {"steps": 9, "stage_seconds": 10.0})
    write(m / "metrics.json", {**measured(FLAT), "stage_seconds": 20.0})
    run.main([])
    text = (fake_metrics / "reports/report.md").read_text()
    times = text.split("## Stage times")[1].split("\n## ")[0]
    rows = [line for line in times.splitlines() if line.startswith("| `")]
    # clean, tokenizer: metrics without the key read n/a; dedup: no metrics file, no row.
    assert [r.split(" | ")[0] for r in rows] == [
        "| `collect`", "| `clean`", "| `tokenizer`", "| `pretrain`", "| `finetune@ner`", "| `evaluate`",
    ]  # fmt: skip
    assert "| `pretrain` | 60.0 | 50% |" in times and "| `clean` | n/a |  |" in times
    assert "| total | 120.0 (2.0 min) | 100% |" in times
    assert "| `stage_seconds` | 20 |" not in text  # evaluate's time is in the table, not among other keys
