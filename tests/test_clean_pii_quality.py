"""The PII bar on the seeded planted set of tests/pii_fixtures.py: recall >= 0.98 on
emails, phones, IPs, cards and IBANs, precision >= 0.95, and every decoy left in place."""

from __future__ import annotations

import pytest
from pii_fixtures import TYPES, misses_and_false_alarms, pii_docs, span_scores

from stages.clean.pii import Pii
from stages.common.params import default_params
from stages.common.pii import resolve

ISSUE_TYPES = ("EMAIL", "PHONE", "IP", "CREDIT_CARD", "IBAN")


@pytest.fixture(scope="module")
def rules() -> Pii:
    return Pii(default_params("clean.pii", types=TYPES))


@pytest.mark.parametrize("seed", [1337, 2024])
def test_recall_and_precision_meet_the_issue_bar(rules, seed):
    docs = pii_docs(400, seed)
    predicted = [resolve(rules.rule_spans(d.text)) for d in docs]
    scores = span_scores(docs, predicted)
    missed, false = misses_and_false_alarms(docs, predicted)
    for t in ISSUE_TYPES:
        assert scores[t].planted >= 60, f"too few planted {t} to measure"
        assert scores[t].recall >= 0.98, f"{t} recall {scores[t].recall:.3f}; missed e.g. {missed}"
        assert scores[t].precision >= 0.95, f"{t} precision {scores[t].precision:.3f}; e.g. {false}"


def test_decoys_survive_redaction(rules):
    docs = pii_docs(200, 7)
    for doc in docs:
        out = rules.apply(doc.text).text
        for start, end, kind in doc.decoys:
            assert doc.text[start:end] in out, f"{kind} decoy {doc.text[start:end]!r} was redacted: {out!r}"


def test_fixture_offsets_hold_the_planted_values():
    docs = pii_docs(50, 3)
    assert {t for d in docs for *_, t in d.spans} == set(TYPES)
    for doc in docs:
        for start, end, _ in doc.spans:
            value = doc.text[start:end]
            assert value == value.strip() and value and not value.endswith((".", ","))
    assert docs == pii_docs(50, 3)  # seeded


def test_span_scores_count_overlap_of_the_same_type_only():
    docs = pii_docs(1, 0)
    (start, end, kind) = docs[0].spans[0]
    other = "IP" if kind != "IP" else "EMAIL"
    good = span_scores(docs, [[(start + 1, end, kind)]], [kind])[kind]
    assert good.precision == 1.0 and good.recall == 1.0 / len([s for s in docs[0].spans if s[2] == kind])
    wrong = span_scores(docs, [[(start, end, other)]], [other])[other]
    assert wrong.precision == 0.0
