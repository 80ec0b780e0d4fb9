"""PII redaction: planted spans at known offsets among decoys; recall and precision."""

from __future__ import annotations

import pytest

from stages.clean.pii import Pii
from stages.common.params import default_params
from stages.common.pii import iban_ok, luhn_ok, redact, resolve

# (piece, type): pieces with a type are PII and must be found exactly; None pieces hold decoys.
PLANTED = [
    ("Please write to ", None),
    ("maria.gomez@example.com", "EMAIL"),
    (" or to her colleague at ", None),
    ("j.doe+news@mail.example.co.uk", "EMAIL"),
    (" if the first bounces. Spammers cannot read ", None),
    ("john at example dot com", "EMAIL"),
    (", nor ", None),
    ("john[at]example[.]com", "EMAIL"),
    (", nor ", None),
    ("support (at) helpdesk.example.org", "EMAIL"),
    (".\nCall the London office on ", None),
    ("+44 20 7946 0958", "PHONE"),
    (" or the one in Washington on ", None),
    ("(202) 555-0143", "PHONE"),
    (", the Berlin desk on ", None),
    ("+49 30 1234567", "PHONE"),
    (" and the local line ", None),
    ("020 7946 0958", "PHONE"),
    (". The meeting on 2024-01-15 at 12:30:45 moved to 15/02/2024 at 9:30.\nOur server ", None),
    ("192.168.10.24", "IP"),
    (" and its twin ", None),
    ("2001:db8:85a3::8a2e:370:7334", "IP"),
    (
        " run version 1.2.3.4 (v2.10.3.1) of the firmware; the MAC is 00:1A:2B:3C:4D:5E and the build "
        "hash is 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08.\nShe paid with ",
        None,
    ),
    ("4111 1111 1111 1111", "CREDIT_CARD"),
    (
        " (her old card 4111 1111 1111 1112 had expired) for the book ISBN 978-3-16-148410-0, "
        "order number 5551234567 and tracking number 1Z999AA10123456784, and wired the rest to ",
        None,
    ),
    ("DE89 3704 0044 0532 0130 00", "IBAN"),
    (" BANK rather than to GB00 WEST 1234 5698 7654 32, which fails the checksum. Her SSN is ", None),
    ("078-05-1120", "ID_NUMBER"),
    (" and her NI number ", None),
    ("AB 12 34 56 C", "ID_NUMBER"),
    (". Call ", None),
    ("+1-202-555-0199", "PHONE"),
    (" after 5 pm; the score was 3-1 and the room number is 204.", None),
]


def planted() -> tuple[str, set[tuple[int, int, str]]]:
    text, spans, pos = "", set(), 0
    for piece, kind in PLANTED:
        if kind:
            spans.add((pos, pos + len(piece), kind))
        text += piece
        pos += len(piece)
    return text, spans


@pytest.fixture(scope="module")
def rules() -> Pii:
    return Pii(
        default_params("clean.pii", types=("EMAIL", "PHONE", "IP", "CREDIT_CARD", "IBAN", "ID_NUMBER"))
    )


def test_rules_recall_and_precision_on_planted_text(rules):
    text, truth = planted()
    found = set(resolve(rules.rule_spans(text)))
    true_pos = found & truth
    recall, precision = len(true_pos) / len(truth), len(true_pos) / max(1, len(found))
    missed = sorted(truth - found)
    false = [(text[s:e], k) for s, e, k in sorted(found - truth)]
    assert recall == 1.0, f"missed {[(text[s:e], k) for s, e, k in missed]}"
    assert precision == 1.0, f"false positives {false}"


def test_redaction_replaces_with_typed_placeholders(rules):
    text, truth = planted()
    out = rules.apply(text)
    assert out.text.count("<EMAIL>") == 5 and out.text.count("<PHONE>") == 5
    assert out.info["redacted"] == {
        "EMAIL": 5,
        "PHONE": 5,
        "IP": 2,
        "CREDIT_CARD": 1,
        "IBAN": 1,
        "ID_NUMBER": 2,
    }
    assert out.counts["pii_EMAIL"] == 5
    for decoy in ("version 1.2.3.4", "2024-01-15", "12:30:45", "978-3-16-148410-0", "5551234567", "9f86d081"):
        assert decoy in out.text
    assert "maria.gomez" not in out.text and "4111 1111 1111 1111" not in out.text


def test_only_configured_types_are_redacted():
    text, _ = planted()
    out = Pii(default_params("clean.pii", types=("IBAN",))).apply(text)
    assert out.info["redacted"] == {"IBAN": 1}
    assert "maria.gomez@example.com" in out.text


def test_clean_text_is_untouched(rules):
    text = "The committee met in 2023 and approved 3 of the 12 proposals at 10:45 on March 3."
    out = rules.apply(text)
    assert out.text == text and out.info == {}


def test_checksums():
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert luhn_ok("378282246310005")  # Amex test number
    assert iban_ok("GB82WEST12345698765432") and not iban_ok("GB00WEST12345698765432")
    assert not iban_ok("DE8937040044053201300")  # one digit short for Germany


def test_overlaps_resolve_to_the_longest_span_and_rules_beat_person():
    spans = resolve(
        [(0, 10, "EMAIL"), (2, 5, "PHONE"), (20, 30, "IP")], [(18, 22, "PERSON"), (40, 45, "PERSON")]
    )
    assert spans == [(0, 10, "EMAIL"), (20, 30, "IP"), (40, 45, "PERSON")]
    assert redact("abcdefghij", [(2, 4, "IP")]) == "ab<IP>efghij"


def test_person_names_with_spacy():
    pii = Pii(default_params("clean.pii", types=("EMAIL", "PERSON")))
    texts = [
        "Yesterday Angela Merkel met Emmanuel Macron in Paris to discuss the budget.",
        "The report was written by Dr. Sarah Thompson and reviewed by Michael Chen.",
        "Contact Peter Jackson at peter@example.com about the film.",
    ]
    outs = pii.apply_batch(texts)
    names = ["Angela Merkel", "Emmanuel Macron", "Sarah Thompson", "Michael Chen", "Peter Jackson"]
    redacted = sum(all(n not in o.text for o in outs) for n in names)
    assert redacted / len(names) >= 0.8
    assert "Paris" in outs[0].text and "<EMAIL>" in outs[2].text
    assert sum(o.info.get("redacted", {}).get("PERSON", 0) for o in outs) >= 4
