"""Tests for metrics/manifest.json as evaluate declares it: every entry placed in a table by its
coordinates (system, measure, axis point, bound, reference), and entries no table could place
rejected with the key named."""

from __future__ import annotations

from pathlib import Path

import pytest

from stages.common.manifest import COUNT, FRACTION, FamilyInfo, Metric, System, build, interval, parse
from stages.common.params import parse as parse_params
from stages.common.params import read_yaml
from stages.evaluate.config import EvaluateParams
from stages.evaluate.context import Context
from stages.evaluate.run import build_manifest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def manifest():
    cfg = parse_params(EvaluateParams, read_yaml(REPO / "params.yaml")["evaluate"], "evaluate")
    return build_manifest(Context(cfg, 1, "cpu", ("classify", "adversarial", "domain", "ner")))


def test_every_entry_names_its_system_measure_and_point(manifest):
    k4 = manifest.metrics["fewshot.k4.acc"]
    assert (k4.system, k4.measure, k4.axis, k4.at, k4.label) == ("model", "acc", "k", 4, "accuracy")
    low, high = manifest.interval(k4)
    assert (low.key, high.key, low.label) == (
        "fewshot.k4.acc_ci_low",
        "fewshot.k4.acc_ci_high",
        "accuracy CI",
    )
    per = manifest.metrics["ner.spacy.gold.PER.f1"]
    assert (per.system, per.measure, per.axis, per.at) == ("spacy", "f1", "type", "PER")
    assert manifest.interval(per) is None  # per-type F1 has no bootstrap interval
    assert manifest.metrics["domain.tuned.test_bpb"].system == "tuned"
    assert manifest.metrics["domain.test.bytes"].system is None  # a figure of the data, no system's
    assert manifest.metrics["classify.tfidf.perturbed.acc"].reference == "classify.tfidf.test.acc"
    assert manifest.metrics["adversarial.perturbed.acc"].reference == "adversarial.test.acc"
    robust = manifest.family("robust")
    assert robust.system("tfidf") == System(
        "tfidf", "TF-IDF + logistic regression (baseline)", "TF-IDF baseline"
    )
    assert robust.system("classify").plot_label == "plain"
    assert manifest.family("classify").system("model").plot_label == "fine-tuned model"


def test_every_system_an_entry_names_is_declared_by_its_family(manifest):
    for m in manifest.metrics.values():
        assert m.measure, m.key
        if m.system is not None:
            assert manifest.family(m.family).system(m.system) is not None, m.key


def test_lm_entries_carry_unit_direction_baseline_and_objective(manifest):
    loss = manifest.metrics["pretrain.val_loss"]
    assert (loss.unit, loss.direction, loss.baselines) == (
        "nats/token",
        "lower",
        ("pretrain.unigram.val_loss",),
    )
    assert manifest.metrics["pretrain.val_mlm_loss"].objective == "mlm"
    assert manifest.metrics["domain.tuned.test_ppl"].baselines == ("domain.pretrain.test_ppl",)


def test_the_manifest_survives_its_json(manifest):
    again = parse(manifest.to_json(), Path("metrics/manifest.json"))
    assert again == manifest
    assert (
        again.metrics["fewshot.k8.truncated"].at == 8
        and again.family("ner").systems[1].label == "spaCy teacher"
    )


def metric(key: str, **kw) -> Metric:
    return Metric(key, "x", "accuracy", FRACTION, **{"measure": "acc", **kw})


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"axis": "k"}, r"axis 'k' and point None go together"),
        ({"axis": "k", "at": "4"}, r"point '4' on axis 'k' is not a int"),
        ({"axis": "layer", "at": 1}, r"axis 'layer' is not one of \['k', 'type'\]"),
        ({"bound": "mid"}, r"bound 'mid' is not 'low', 'high' or None"),
        ({"bound": "low", "direction": "higher"}, r"an interval bound .* takes no direction"),
        ({"reference": "x.acc"}, r"a metric is not its own reference"),
        ({"measure": ""}, r"measure is empty"),
    ],
)
def test_an_entry_no_table_could_place_is_rejected(kw, message):
    with pytest.raises(ValueError, match=rf"manifest entry 'x.acc': {message}"):
        metric("x.acc", **kw)


def test_a_manifest_whose_tables_would_be_ambiguous_is_rejected():
    family = [FamilyInfo("x", "classification", "data/x", (System("model", "model"),))]
    point = metric("x.acc", system="model")
    assert [m.key for m in interval(point, "accuracy CI")] == ["x.acc_ci_low", "x.acc_ci_high"]
    build(family, [point, *interval(point, "accuracy CI")])  # holds
    with pytest.raises(ValueError, match=r"'x.acc' names system 'tfidf', which family 'x' does not declare"):
        build(family, [metric("x.acc", system="tfidf")])
    with pytest.raises(ValueError, match=r"'x.top1' and 'x.acc' have the same coordinates"):
        build(family, [point, metric("x.top1", system="model")])
    with pytest.raises(ValueError, match=r"'x.acc_ci_low' is a bound of an interval whose measure is not"):
        build(family, interval(point, "accuracy CI"))
    with pytest.raises(ValueError, match=r"'x.perturbed' names baseline or reference key\(s\) \['x.clean'\]"):
        build(family, [metric("x.perturbed", measure="perturbed", reference="x.clean")])
    counts = [Metric("x.n", "x", "rows", COUNT, measure="n"), Metric("x.m", "x", "rows", COUNT, measure="n")]
    with pytest.raises(ValueError, match="same coordinates"):
        build(family, counts)
