"""The harm step on the labelled set of tests/data/harm_labelled.jsonl, and its de-obfuscation.

Bounds are the measured figures of benchmarks/harm_quality.py at the default thresholds
(recall 0.907, 0 false positives of 75) with a little slack, so a regression fails."""

from __future__ import annotations

import pytest
from harm_fixtures import harm_rows, harm_score

from stages.clean.harm import Harm, deobfuscate, listed_word
from stages.common.params import default_params


@pytest.fixture(scope="module")
def outcomes():
    rows = harm_rows()
    outs = Harm(default_params("clean.harm", action="flag")).apply_batch([r["text"] for r in rows])
    return rows, [bool(o.info["flagged"]) for o in outs]


def test_the_labelled_set_is_balanced_and_has_the_issue_cases():
    rows = harm_rows()
    kinds = {r["kind"] for r in rows}
    assert len(rows) == 150 and sum(r["toxic"] for r in rows) == 75
    assert kinds == {"plain", "obfuscated", "hard_negative", "clean"}
    texts = " ".join(r["text"] for r in rows if r["kind"] == "hard_negative")
    for case in ("Scunthorpe", "assessment", "kill the process", "cocktail", "Dick Cheney"):
        assert case in texts


def test_recall_and_false_positives_at_default_thresholds(outcomes):
    rows, flagged = outcomes
    s = harm_score(rows, flagged)
    assert s.recall >= 0.9, s
    assert s.recall_by_kind["obfuscated"] >= 0.95, s
    assert s.false_positives <= 2 and s.fp_by_kind["clean"] == 0, s


def test_deobfuscation_finds_masked_leet_stretched_and_spaced_words():
    for text, word in [
        ("f*ck", "fuck"),
        ("f**k", "fuck"),
        ("sh1t", "shit"),
        ("a$$hole", "asshole"),
        ("bu11sh1t", "bullshit"),
        ("w@nker", "wanker"),
        ("fuuuuck", "fuck"),
        ("FUCKKK", "fuck"),
        ("a-hole", "ahole"),
    ]:
        assert listed_word(text) == word, text
    assert deobfuscate("F u c k off and s.h.i.t") == ("Fuck off and shit", 2)


def test_hard_negatives_and_ordinary_tokens_are_not_words_of_the_list():
    for token in (
        "Scunthorpe",
        "assessment",
        "cocktail",
        "Dick",
        "Moby-Dick",
        "class",
        "*hit*",
        "2001",
        "mp3",
    ):
        assert listed_word(token) is None, token
    text = "Kill the process at 10:15, then run the assessment in Scunthorpe with Dick Cheney."
    assert deobfuscate(text) == (text, 0)


def test_classifier_reads_the_plain_spelling():
    step = Harm(default_params("clean.harm"))
    masked, raw = step.apply_batch(["Go f**k yourself."])[0], step.predict_prob(["Go f**k yourself."])[0]
    assert masked.info["classifier_prob"] > 0.9 > raw
