"""The harm step on the independent real set of gold/harm/ (real sentences, labelled by
gold/harm/GUIDELINE.md), and the context rules that read a listed word's innocent sense.

Bounds are the test-split figures of the rules alone (`sense_model: ""`) in
`python benchmarks/harm_quality.py --split test`, with a little slack: false positives on the hard negatives 0.168 (the issue's goal of 0.05 is
not reached; benchmarks/README.md says what is left), recall 0.877 on the real toxic
sentences and 0.920 on the project's own toxic set. Rows taken out of a document are scored
with their document context, as the benchmark does."""

from __future__ import annotations

from collections import Counter

import pytest
from harm_fixtures import INNOCENT, TOXIC, harm_rows, harm_score, real_rows

from stages.clean.harm import Harm
from stages.common.params import default_params


@pytest.fixture(scope="module")
def step() -> Harm:
    """The step's context rules alone; tests/test_clean_harm_sense.py holds the sense model."""
    return Harm(default_params("clean.harm", action="flag", sense_model=""))


def flags(step: Harm, rows: list[dict]) -> list[bool]:
    outs = step.apply_batch([r["text"] for r in rows], [r.get("context") for r in rows])
    return [bool(o.info["flagged"]) for o in outs]


def test_the_real_set_is_labelled_split_and_traceable():
    negatives, toxic = real_rows("hard_negatives"), real_rows("toxic_real")
    assert len(negatives) >= 300 and len(toxic) >= 250
    assert {r["toxic"] for r in negatives} == {0} and {r["toxic"] for r in toxic} == {1}
    senses = Counter(r["sense"] for r in negatives)
    for sense in ("animal", "name", "historical", "technical", "anatomy", "other"):
        assert senses[sense] >= 3, senses
    assert {r["sense"] for r in toxic} == {"profanity", "abuse", "quoted"}
    corpora = {r["corpus"].split("/")[0] for r in negatives}
    assert {"raw", "brown", "vader"} <= corpora
    assert all(r["id"] and r["split"] in ("dev", "test") for r in negatives + toxic)
    texts = [r["text"] for r in negatives + toxic]
    assert len(set(texts)) == len(texts)
    fresh = [r for r in negatives + toxic if r.get("round") == 2]
    assert len(fresh) >= 100 and {r["corpus"] for r in fresh} == {"raw/books", "raw/reviews"}
    test = [r for r in negatives if r["split"] == "test"]
    assert 0.4 < len(test) / len(negatives) < 0.6


def test_the_training_rows_are_their_own_split_and_share_no_sentence_with_the_sets():
    train = real_rows("train")
    assert (
        len(train) >= 350
        and {r["split"] for r in train} == {"train"}
        and {r["round"] for r in train} == {3, 4, 5}
    )
    assert {r["toxic"] for r in train} == {0, 1} and all(r["id"] and r["corpus"] for r in train)
    assert all(r["corpus"].startswith("raw/") for r in train if r["round"] == 3)
    held = {r["text"].lower() for r in real_rows("hard_negatives") + real_rows("toxic_real")}
    texts = [r["text"].lower() for r in train]
    assert not held & set(texts) and len(set(texts)) == len(texts)


def test_round_four_comes_from_no_document_that_holds_a_test_row():
    test = real_rows("hard_negatives", "test") + real_rows("toxic_real", "test")
    test_docs = {r["id"].rsplit("/", 1)[0] for r in test if r["corpus"].startswith("raw/")}
    test_docs |= {r["id"].rsplit(".", 1)[0] for r in test if not r["corpus"].startswith("raw/")}
    fourth = [r for r in real_rows("train") if r["round"] == 4]
    assert len(fourth) >= 200 and {"raw/books", "raw/reviews", "brown"} <= {r["corpus"] for r in fourth}
    docs = {
        r["id"].rsplit("/", 1)[0] if r["corpus"].startswith("raw/") else r["id"].rsplit(".", 1)[0]
        for r in fourth
    }
    assert not docs & test_docs


def test_context_cuts_false_positives_on_the_test_split_and_keeps_recall(step):
    negatives, toxic = real_rows("hard_negatives", "test"), real_rows("toxic_real", "test")
    fp = sum(flags(step, negatives)) / len(negatives)
    baseline = Harm(default_params("clean.harm", context=False, classifier_alone_prob=0.9))
    assert sum(flags(baseline, negatives)) / len(negatives) > 0.8  # what the issue reported
    assert fp <= 0.19, fp
    assert sum(flags(step, toxic)) / len(toxic) >= 0.85
    own = harm_rows()
    s = harm_score(own, flags(step, own))
    assert s.recall >= 0.9 and s.false_positives <= 1, s


@pytest.mark.parametrize("text", INNOCENT)
def test_an_innocent_sense_is_not_flagged(step, text):
    out = step.apply(text)
    assert not out.info["flagged"], out.info
    assert out.info["wordlist_fraction"] == 0


@pytest.mark.parametrize("text", TOXIC)
def test_a_toxic_use_stays_flagged(step, text):
    assert step.apply(text).info["flagged"], text


def test_one_sense_per_discourse_and_a_name_list_read_lower_cased_names(step):
    review = "directed by kirby dick . the film is slow , and dick is its best part ."
    assert not step.apply(review).info["flagged"]
    assert step.apply("the film is slow , and dick is its best part .").info["flagged"]
    assert step.apply("kirby dick directed it . what a dick he is .").info["flagged"]


def test_older_english_is_read_from_the_document_around_a_sentence(step):
    line = "Titania waked and straightway loved an ass."
    play = "Thou knowest, and hath she kill'd him? Nay, thou art mad, for thy lord doth sleep. " * 3
    assert step.apply(line).info["flagged"]
    out = step.apply_batch([line], [play + line])[0]
    assert not out.info["flagged"], out.info
    self_mocking, insult = "Why, what an ass am I!", "Thou bastard of my grandfather!"
    outs = step.apply_batch([self_mocking, insult], [play + self_mocking, play + insult])
    assert [bool(o.info["flagged"]) for o in outs] == [False, True]


def test_the_classifier_alone_needs_a_name_called(step):
    for text in ("I do not want to die", "Robots are stupid", "An ugly, pointless, stupid movie."):
        out = step.apply(text)
        assert out.info["classifier_prob"] > 0.9 and not out.info["flagged"], (text, out.info)
    gateless = Harm(default_params("clean.harm", classifier_alone_prob=0.9))
    assert gateless.apply("Robots are stupid").info["flagged"] == "classifier"


def test_classifier_alone_prob_below_max_classifier_prob_is_a_params_error():
    from stages.common.errors import ParamsError

    with pytest.raises(ParamsError, match="classifier_alone_prob"):
        default_params("clean.harm", classifier_alone_prob=0.5)


def test_a_missing_pos_model_is_an_error_naming_the_key():
    with pytest.raises(OSError, match=r"clean\.harm\.pos_model"):
        Harm(default_params("clean.harm", pos_model="no_such_spacy_model"))
