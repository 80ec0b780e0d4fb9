"""Tests for the report's metric families: every family's table beside its baselines, n/a
reasons, plots drawn or skipped with a note, nothing hidden, and diff directions of new keys."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from report_fixtures import PARAMS, manifest_json, measured, write

from stages.common.manifest import read as read_manifest
from stages.report import run
from stages.report.diff import diff_markdown, direction, group_of, verdict
from stages.report.families import OTHER, family_of, na_reason
from stages.report.sections import canary_chance

NA = "n/a"
CAUSAL = "models/pretrain is clm: masked-LM metrics do not apply"
FLAT = {
    "pretrain.val_loss": 3.5, "pretrain.unigram.val_loss": 5.0,
    "domain.test.n_docs": 40, "domain.test.bytes": 52_000,
    "domain.pretrain.test_loss": 3.69, "domain.tuned.test_loss": 3.4,
    "domain.pretrain.test_ppl": 40.0, "domain.tuned.test_ppl": 30.0,
    "domain.pretrain.test_bpb": 1.5, "domain.tuned.test_bpb": NA,
    "domain.pretrain.test_mlm_loss": NA, "domain.tuned.test_mlm_loss": NA,
    "classify.test.acc": 0.8, "classify.test.acc_ci_low": 0.75, "classify.test.acc_ci_high": 0.85,
    "classify.test.macro_f1": 0.79, "classify.test.n": 200,
    "classify.majority.test.acc": 0.55, "classify.tfidf.test.acc": 0.77,
    "adversarial.test.acc": 0.78, "adversarial.test.macro_f1": 0.77, "adversarial.test.n": 200,
    "adversarial.majority.test.acc": 0.55, "adversarial.tfidf.test.acc": 0.77,
    "fewshot.n_test": 300, "fewshot.chance.acc": 0.5, "fewshot.majority.acc": 0.53,
    "fewshot.k0.acc": 0.52, "fewshot.k1.acc": 0.55, "fewshot.k4.acc": 0.61, "fewshot.k4.acc_norm": 0.6,
    "fewshot.k4.acc_ci_low": 0.55, "fewshot.k4.acc_ci_high": 0.66, "fewshot.k4.truncated": 3,
    "fewshot.k8.acc": NA,
    "classify.perturbed.acc": 0.6, "classify.attack.success_rate": 0.45, "classify.attack.n_correct": 160,
    "classify.attack.n_flipped": 72,
    "adversarial.perturbed.acc": 0.72, "adversarial.attack.success_rate": 0.2,
    "adversarial.attack.n_correct": 156, "adversarial.attack.n_flipped": 31,
    "classify.tfidf.perturbed.acc": 0.7, "classify.tfidf.attack.success_rate": NA,
    "ner.gold.precision": 0.6, "ner.gold.recall": 0.5, "ner.gold.f1": 0.545,
    "ner.gold.f1_ci_low": 0.5, "ner.gold.f1_ci_high": 0.59,
    "ner.gold.PER.f1": 0.7, "ner.gold.ORG.f1": 0.4, "ner.gold.n_sentences": 120, "ner.gold.n_entities": 300,
    "ner.spacy.gold.precision": 0.8, "ner.spacy.gold.recall": 0.75, "ner.spacy.gold.f1": 0.77,
    "ner.spacy.gold.PER.f1": 0.9, "ner.spacy.gold.ORG.f1": 0.6,
    "ner.dictionary.gold.precision": NA, "ner.dictionary.gold.recall": NA, "ner.dictionary.gold.f1": NA,
    "ner.dictionary.gold.PER.f1": NA, "ner.dictionary.gold.ORG.f1": NA,
    "privacy.samples.n": 64, "privacy.samples.chars": 8000, "privacy.samples.email": 0,
    "privacy.samples.phone": 2, "privacy.samples.pii": 2, "privacy.samples.pii_per_1k_chars": 0.25,
    "privacy.valid.n": 64, "privacy.valid.chars": 8000, "privacy.valid.email": 1, "privacy.valid.phone": 3,
    "privacy.valid.pii": 4, "privacy.valid.pii_per_1k_chars": 0.5,
    "privacy.canary.exposure_mean": 3.0, "privacy.canary.rank_mean": 120.5,
    "privacy.canary.exposure_max_possible": math.log2(1001), "privacy.canary.count": 4,
    "privacy.canary.in_training_data": 30,
    "mystery.score": 7,
}  # fmt: skip
DETAILS = {  # as evaluate writes them: reasons under "na", by full key
    "domain": {"method": "bpb over UTF-8 bytes", "pretrain": {"objective": "clm"}, "tuned": {"objective": "clm"}, "na": {"domain.tuned.test_bpb": "byte count missing",
               "domain.pretrain.test_mlm_loss": CAUSAL, "domain.tuned.test_mlm_loss": CAUSAL}},
    "fewshot": {"na": {"fewshot.k8.acc": "prompts of 8 demonstrations exceed the context"}},
    "ner": {"na": {f"ner.dictionary.gold.{k}": "data/tasks/ner/train.parquet has no entities"
                   for k in ("precision", "recall", "f1", "PER.f1", "ORG.f1")},
            "systems": {"model": {"types": {"PER": {"support": 180}, "ORG": {"support": 120}}}}},
    "robust": {"na": {"classify.tfidf.attack.success_rate": "no test example is classified correctly"}},
    "adversarial": {"labels": ["negative", "positive"], "systems": {"model": {"confusion": [[80, 20], [22, 78]]}}},
    "privacy": {"method": "sampled with top-k 50"},
}  # fmt: skip


def make_metrics(root: Path, flat: dict, details: dict) -> None:
    write(root / "params.yaml", PARAMS)
    write(root / "metrics/metrics.json", measured(flat))
    write(root / "metrics/manifest.json", manifest_json())
    for name, detail in details.items():
        write(root / f"metrics/evaluate/{name}.json", detail)


@pytest.fixture
def every_family(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_metrics(tmp_path, FLAT, DETAILS)
    for task in ("classify", "ner"):
        write(tmp_path / f"metrics/finetune/{task}.json", {"task": task, "best_valid": 0.7})
        curves = tmp_path / f"metrics/curves/finetune/{task}/plots/metrics"
        write(curves / "train/loss.tsv", "step\tloss\n10\t1.2\n20\t0.9\n30\t0.7\n")
        write(curves / "valid/loss.tsv", "step\tloss\n15\t1.0\n30\t0.8\n")
    write(tmp_path / "metrics/finetune/domain.json", {"task": "domain", "best_valid": 3.1})  # no curves
    return tmp_path


def test_every_family_renders_its_table_beside_baselines(every_family):
    run.main([])
    text = (every_family / "reports/report.md").read_text()
    # One row: our model beside its baselines; n/a printed as n/a with evaluate's reason.
    assert "| perplexity | 40 | 30 | -25.0% |" in text
    assert "| bits per byte | 1.5 | n/a | — |" in text
    assert "- n/a: `domain.tuned.test_bpb`: byte count missing" in text
    assert "masked-LM" not in text and "do not apply" not in text  # the other objective's rows
    assert "Test set: 40 documents, 52,000 UTF-8 bytes." in text
    assert "| k (demonstrations) | accuracy | accuracy CI | accuracy (byte-length normalised) | prompts truncated | chance | majority class |" in text  # fmt: skip
    assert "| 4 | 0.61 | [0.55, 0.66] | 0.6 | 3 | 0.5 | 0.53 |" in text
    assert "| 8 | n/a | — | — | — | 0.5 | 0.53 |" in text
    assert "- n/a: `fewshot.k8.acc`: prompts of 8 demonstrations exceed the context" in text
    assert "| plain fine-tuned (models/finetune/classify) | 0.8 | [0.75, 0.85] | 0.6 | 0.2 | 0.45 | 160 | 72 |" in text  # fmt: skip
    assert "| adversarially trained (models/finetune/adversarial) | 0.78 | — | 0.72 | 0.06 | 0.2 | 156 | 31 |" in text  # fmt: skip
    assert "| TF-IDF + logistic regression (baseline) | 0.77 | — | 0.7 | 0.07 | n/a | — | — |" in text
    assert "`classify.tfidf.attack.success_rate`: no test example is classified correctly" in text
    assert "## Task `adversarial` on data/tasks/classify/test.parquet" in text
    assert "| overall f1 | 0.545 | 0.77 | n/a | 300 |" in text
    assert "| overall F1 95% CI | [0.5, 0.59] | — | — | 300 |" in text
    assert "| PER f1 | 0.7 | 0.9 | n/a | 180 |" in text and "| ORG f1 | 0.4 | 0.6 | n/a | 120 |" in text
    assert "Gold test set: 120 sentences, 300 entities." in text
    assert "`ner.dictionary.gold.recall`: data/tasks/ner/train.parquet has no entities" in text
    assert "| PII-shaped strings per 1,000 characters | 0.25 | 0.5 |" in text
    assert "| phone (count) | 2 | 3 |" in text and "| texts | 64 | 64 |" in text
    _, chance_exposure = canary_chance(math.log2(1001))
    assert f"| exposure (bits, mean) | 3 | {chance_exposure:.4g} | 9.967 |" in text
    assert "| rank of the secret (mean; 1 = most likely) | 120.5 | 501 | 1 |" in text
    # Nothing hidden: a family key no table shows sits beside its family, unknown keys in "Other metrics".
    assert "More `pretrain` figures" not in text
    assert "## Other metrics" in text and "| `mystery.score` | 7 |" in text
    assert "Not in metrics/metrics.json" not in text
    reports = every_family / "reports"
    pngs = ("fewshot.png", "robustness.png", "ner_f1.png", "confusion_adversarial.png",
            "curves_finetune_classify.png", "curves_finetune_ner.png")  # fmt: skip
    for png in pngs:
        assert (reports / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png
        assert f"]({png})" in text, png
    assert "No dvclive curves under metrics/curves/finetune/domain/plots/metrics/." in text


def test_a_family_key_no_table_shows_is_listed_beside_its_family(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    flat = FLAT | {"pretrain.val_target_tokens": 4096, "ner.gold.words_past_max_length": 2}
    make_metrics(tmp_path, flat, DETAILS)
    write(tmp_path / "params.yaml", PARAMS.replace("plots: true", "plots: false"))
    run.main([])
    text = (tmp_path / "reports/report.md").read_text()
    lm = text.split("## Language model")[1].split("\n## ")[0]
    assert "More `pretrain` figures:" in lm and "| `pretrain.val_target_tokens` | 4,096 |" in lm
    # A key the manifest does not describe is not guessed into a family by its name.
    other = text.split("## Other metrics")[1]
    assert (
        "| `ner.gold.words_past_max_length` | 2 |" in other and "words_past" not in text.split("## Other")[0]
    )


def test_without_a_manifest_every_figure_is_listed_and_the_fix_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_metrics(tmp_path, FLAT, DETAILS)
    (tmp_path / "metrics/manifest.json").unlink()
    run.main([])
    text = (tmp_path / "reports/report.md").read_text()
    assert "metrics/manifest.json is missing" in text and "run `dvc repro evaluate`" in text
    assert "| `ner.gold.f1` | 0.545 |" in text.split("## Other metrics")[1]


def test_family_all_na_skips_its_plot_with_a_note(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    flat = {k: (NA if k.startswith(("fewshot.k", "ner.")) else v) for k, v in FLAT.items()}
    make_metrics(tmp_path, flat, {"fewshot": {"na": {k: "few-shot needs a causal LM; models/pretrain is masked" for k in flat if k.startswith("fewshot.k")}}})  # fmt: skip
    # ner's n/a as an older metrics.json spelled it (the string "n/a"), with no reason filed.
    old_style = {k: v for k, v in flat.items() if not (v == NA and k.startswith("fewshot."))}
    write(tmp_path / "metrics/metrics.json", old_style)
    run.main([])
    text = (tmp_path / "reports/report.md").read_text()
    assert "_Plot of few-shot accuracy over k skipped: no numeric few-shot accuracy (absent or n/a)._" in text
    assert "_Plot of NER F1 per entity type skipped: no numeric per-type F1 (absent or n/a)._" in text
    assert "`fewshot.k0.acc`, `fewshot.k1.acc`, `fewshot.k4.acc`, `fewshot.k4.acc_ci_high`, `fewshot.k4.acc_ci_low`, `fewshot.k4.acc_norm`, `fewshot.k4.truncated`, `fewshot.k8.acc`: few-shot needs a causal LM" in text  # fmt: skip
    assert "no reason recorded in metrics/evaluate/ner.json" in text
    assert not (tmp_path / "reports/fewshot.png").exists() and not (tmp_path / "reports/ner_f1.png").exists()
    assert (tmp_path / "reports/robustness.png").exists()


def test_missing_families_are_named_not_an_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_metrics(
        tmp_path, {k: v for k, v in FLAT.items() if k.startswith(("pretrain.", "classify.test"))}, {}
    )
    run.main([])
    text = (tmp_path / "reports/report.md").read_text()
    assert "Not in metrics/metrics.json (not configured or not evaluated): `adversarial`, `domain`, `fewshot`, `robust`, `ner`, `privacy`." in text  # fmt: skip
    assert "## Task `classify`" in text and "## Few-shot" not in text and "## Robustness" not in text
    assert not any(
        (tmp_path / "reports" / p).exists() for p in ("fewshot.png", "robustness.png", "ner_f1.png")
    )


def test_plots_off_draws_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_metrics(tmp_path, FLAT, DETAILS)
    write(tmp_path / "params.yaml", PARAMS.replace("plots: true", "plots: false"))
    run.main([])
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == ["report.md"]
    assert "skipped" not in (tmp_path / "reports/report.md").read_text()


@pytest.fixture
def manifest(tmp_path):
    write(tmp_path / "manifest.json", manifest_json())
    return read_manifest(tmp_path / "manifest.json")


def test_families_come_from_the_manifest_and_reasons_from_the_key(manifest):
    assert family_of("classify.attack.success_rate", manifest) == "robust"
    assert (
        family_of("classify.perturbed.acc", manifest)
        == family_of("classify.tfidf.attack.n_flipped", manifest)
        == "robust"
    )
    assert family_of("adversarial.test.acc", manifest) == "adversarial"
    assert family_of("adversarial.perturbed.acc", manifest) == "robust"
    assert (
        family_of("classify.tfidf.test.acc", manifest) == "classify"
        and family_of("ner.gold.PER.f1", manifest) == "ner"
    )
    assert family_of("mystery.score", manifest) == OTHER and family_of("pretrain.val_loss", None) == OTHER
    assert na_reason("ner.spacy.gold.f1", {"na": {"ner.spacy.gold.f1": "no model"}}) == "no model"
    assert na_reason("ner.spacy.gold.f1", {"na": "few-shot is off"}) == "few-shot is off"
    assert na_reason("domain.tuned.test_ppl", {"na": {"domain.pretrain.test_ppl": "x"}}) is None
    assert na_reason("classify.test.acc", None) is None


def test_canary_chance_is_the_uniform_rank_expectation():
    # One candidate besides the secret: rank 1 or 2 equally likely -> mean rank 1.5, exposure (1 + 0) / 2.
    assert canary_chance(1.0) == pytest.approx((1.5, 0.5))
    assert canary_chance(NA) == (None, None)


@pytest.mark.parametrize(
    "key, better",
    [
        ("fewshot.k4.acc", "higher"), ("fewshot.k4.acc_norm", "higher"), ("ner.gold.PER.f1", "higher"),
        ("ner.spacy.gold.precision", "higher"), ("ner.gold.recall", "higher"), ("classify.test.macro_f1", "higher"),
        ("domain.tuned.test_ppl", "lower"), ("domain.pretrain.test_bpb", "lower"),
        ("classify.attack.success_rate", "lower"), ("adversarial.attack.success_rate", "lower"),
        ("privacy.canary.exposure_mean", "lower"), ("privacy.samples.pii_per_1k_chars", "lower"),
        ("privacy.valid.pii_per_1k_chars", "lower"), ("privacy.samples.email", "lower"),
        ("privacy.canary.rank_mean", "higher"),
        ("privacy.canary.exposure_max_possible", None), ("privacy.samples.n", None), ("ner.gold.n_sentences", None),
        ("ner.gold.n_entities", None), ("classify.test.n", None), ("privacy.canary.count", None),
        ("privacy.canary.in_training_data", None), ("classify.attack.n_correct", None),
        # Where the old name-based rules guessed wrong: sample size, redaction placeholders,
        # prompts cut to fit and interval bounds say nothing about quality.
        ("privacy.samples.chars", None), ("privacy.samples.placeholders", None), ("fewshot.k8.truncated", None),
        ("classify.test.acc_ci_low", None), ("fewshot.chance.acc", None),
    ],
)  # fmt: skip
def test_direction_of_every_family_key(manifest, key, better):
    assert direction("metrics/metrics.json", key, manifest) == better


def test_verdicts_for_new_keys_and_na_transitions(manifest):
    def judge(key, old, new):
        return verdict(old, new, direction("metrics/metrics.json", key, manifest))

    assert judge("privacy.canary.rank_mean", 10.0, 400.0) == "better"
    assert judge("privacy.canary.exposure_mean", 2.0, 6.0) == "worse"
    assert judge("classify.attack.success_rate", 0.5, 0.3) == "better"
    assert judge("ner.gold.n_sentences", 100, 120) == "changed"
    assert judge("ner.gold.f1", 0.5, NA) == "now n/a" and judge("ner.gold.f1", NA, 0.5) == "now measured"


def test_diff_groups_metrics_by_family(manifest):
    change = {"old": 0.5, "new": 0.3, "diff": -0.2}
    md = diff_markdown("main", {"metrics/metrics.json": {"classify.attack.success_rate": change,
                                                          "classify.test.acc": change}}, {}, manifest)  # fmt: skip
    assert "### robust (1 better)" in md and "### classify (1 worse)" in md
    assert group_of("metrics/metrics.json", "adversarial.perturbed.acc", manifest) == "robust"
    assert group_of("metrics/metrics.json", "adversarial.test.acc", manifest) == "adversarial"
    assert group_of("metrics/finetune/ner.json", "best_valid", manifest) == "finetune/ner"
    assert group_of("params.yaml", "evaluate.fewshot.ks", manifest) == "evaluate"


def test_tables_come_from_the_manifest_not_from_the_spelling_of_keys(tmp_path, monkeypatch):
    """Every key renamed to a meaningless one, in metrics.json, the manifest and the n/a reasons
    alike: every table and plot of the report stays as it was."""
    manifest = manifest_json()
    rename = {m["key"]: f"m{i}" for i, m in enumerate(manifest["metrics"])}
    for m in manifest["metrics"]:
        m["key"], m["baselines"] = rename[m["key"]], [rename[b] for b in m["baselines"]]
        m["reference"] = rename[m["reference"]] if m["reference"] else None
    details = {
        name: {**d, "na": {rename.get(k, k): why for k, why in d["na"].items()}} if "na" in d else d
        for name, d in DETAILS.items()
    }
    reports = {}
    for run_dir, flat, detail in (("named", FLAT, DETAILS), ("renamed", None, details)):
        root = tmp_path / run_dir
        make_metrics(root, FLAT, detail)
        if flat is None:
            write(root / "metrics/metrics.json", {rename.get(k, k): v for k, v in measured(FLAT).items()})
            write(root / "metrics/manifest.json", manifest)
        monkeypatch.chdir(root)
        run.main([])
        reports[run_dir] = root / "reports"

    def tables(path: Path) -> list[str]:
        return [line for line in path.read_text().splitlines() if line.startswith("|") and "`" not in line]

    named = tables(reports["named"] / "report.md")
    assert len(named) > 50 and "| overall f1 | 0.545 | 0.77 | n/a | 300 |" in named
    assert tables(reports["renamed"] / "report.md") == named
    for png in ("fewshot.png", "robustness.png", "ner_f1.png"):
        assert (reports["renamed"] / png).read_bytes() == (reports["named"] / png).read_bytes(), png


def test_ner_genres_get_a_row_each_with_intervals_and_org_f1():
    from stages.common.manifest import System
    from stages.report.sections import ner_genre_lines

    systems = (System("model", "model"), System("spacy", "spaCy teacher"))
    org = {"ORG": {"support": 40, "f1": 0.25}}
    detail = {"genres": {
        "email": {"sentences": 97, "entities": 174, "systems": {
            "model": {"f1": 0.5, "f1_ci_low": 0.4, "f1_ci_high": 0.6, "types": org},
            "spacy": {"f1": 0.7, "f1_ci_low": 0.65, "f1_ci_high": 0.75, "types": {"ORG": {"support": 40, "f1": 0.5}}}}},
        "news": {"sentences": 10, "entities": 0, "systems": {"model": {"f1": 0.0, "types": {}}}},
    }}  # fmt: skip
    lines = ner_genre_lines(detail, systems, 3)
    assert "| email | 97 | 174 | 40 | 0.5 [0.4, 0.6] | 0.7 [0.65, 0.75] | 0.25 | 0.5 |" in lines
    assert "| news | 10 | 0 | — | 0 | — | — | — |" in lines
    assert ner_genre_lines({}, systems, 3) == []


def test_fewshot_section_sets_a_reference_model_beside_ours_in_table_and_plot(tmp_path, monkeypatch):
    from dataclasses import replace

    from report_fixtures import REPO

    from stages.common.params import parse, read_yaml
    from stages.evaluate.config import EvaluateParams
    from stages.evaluate.context import Context
    from stages.evaluate.run import build_manifest
    from stages.report import plots

    monkeypatch.chdir(tmp_path)
    cfg = parse(EvaluateParams, read_yaml(REPO / "params.yaml")["evaluate"], "evaluate")
    cfg = replace(cfg, fewshot=replace(cfg.fewshot, ks=(0, 4), reference="some/folder"))
    flat = {"fewshot.n_test": 40, "fewshot.chance.acc": 0.5, "fewshot.majority.acc": 0.53}
    for prefix, accs in (("fewshot.", (0.5, 0.52)), ("fewshot.reference.", (0.6, 0.7))):
        for k, acc in zip((0, 4), accs):
            flat |= {f"{prefix}k{k}.acc": acc, f"{prefix}k{k}.acc_norm": acc, f"{prefix}k{k}.truncated": 0,
                     f"{prefix}k{k}.acc_ci_low": acc - 0.1, f"{prefix}k{k}.acc_ci_high": acc + 0.1}  # fmt: skip
    write(tmp_path / "params.yaml", PARAMS)
    write(tmp_path / "metrics/metrics.json", flat)
    write(tmp_path / "metrics/manifest.json", build_manifest(Context(cfg, 1, "cpu", ("classify",))).to_json())
    drawn = {}
    monkeypatch.setattr(plots, "fewshot_plot", lambda curves, baselines, out: drawn.update(curves) or False)
    run.main([])
    text = (tmp_path / "reports/report.md").read_text()
    assert "| k (demonstrations) | model: accuracy | accuracy CI | model: accuracy (byte-length normalised) | model: prompts truncated | reference model: accuracy | accuracy CI |" in text  # fmt: skip
    assert "| 4 | 0.52 | [0.42, 0.62] | 0.52 | 0 | 0.7 | [0.6, 0.8] | 0.7 | 0 | 0.5 | 0.53 |" in text
    assert drawn["reference model (acc)"] == {0: 0.6, 4: 0.7} and drawn["model (acc)"] == {0: 0.5, 4: 0.52}
    assert "## Other metrics" not in text  # every reference figure sits in the few-shot table
