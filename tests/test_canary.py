"""Tests of the privacy canaries: drawing them (stages/common/canary.py), planting them in
collect, and what the clean stage's PII step does to a canary sentence."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
from collect_fixtures import collect_params, local
from params_fixtures import PROFILES, as_dict, default_params, profile_file

from stages.collect.canaries import choose_documents, insert_sentence
from stages.collect.collect import collect
from stages.common.canary import CanaryParams, candidates, exposure, make_canaries
from stages.common.errors import DataError, ParamsError
from stages.common.io import iter_docs
from stages.common.params import load_section, parse

TEMPLATE = default_params("collect.canaries").template


def test_make_canaries_is_deterministic_and_shaped_by_its_params():
    a = make_canaries(5, 9, TEMPLATE, seed=7)
    assert a == make_canaries(5, 9, TEMPLATE, seed=7)
    assert a != make_canaries(5, 9, TEMPLATE, seed=8)
    assert len({c.secret for c in a}) == 5
    for i, c in enumerate(a):
        assert len(c.secret) == 9 and c.secret.isdigit()
        assert c.prefix == f"my secret canary {i} number is "
        assert c.text == c.prefix + c.secret
    # Leading zeros are part of the secret's shape; a suffix after the secret stays in the text.
    (short,) = make_canaries(1, 2, "code {secret}.", seed=3)
    assert len(short.secret) == 2 and short.text == f"code {short.secret}." and short.prefix == "code "
    assert {c.secret for c in make_canaries(100, 2, "c{i} is {secret}", 0)} == {
        f"{v:02d}" for v in range(100)
    }


def test_candidates_have_the_secret_shape_and_never_the_secret():
    (canary,) = make_canaries(1, 3, TEMPLATE, seed=1)
    drawn = candidates(canary, 999, random.Random(0))  # every other 3-digit secret
    assert len(drawn) == len(set(drawn)) == 999
    assert canary.secret not in drawn and all(len(s) == 3 and s.isdigit() for s in drawn)
    assert drawn[:10] == candidates(canary, 999, random.Random(0))[:10]
    with pytest.raises(ValueError, match="only 999"):
        candidates(canary, 1000, random.Random(0))


def test_exposure_arithmetic():
    assert exposure(1, 1023) == pytest.approx(10.0)  # ranked first among 1024: all 10 bits
    assert exposure(512, 1023) == pytest.approx(1.0)
    assert exposure(1024, 1023) == pytest.approx(0.0)
    assert exposure(3, 999) == pytest.approx(math.log2(1000) - math.log2(3))
    with pytest.raises(ValueError, match="outside"):
        exposure(0, 10)


@pytest.mark.parametrize(
    "params, key",
    [
        ({"count": -1}, "count"),
        ({"insertions": 0}, "insertions"),
        ({"digits": 0}, "digits"),
        ({"template": "no secret here {i}"}, "exactly once"),
        ({"template": "{secret} first"}, "words before"),
        ({"template": "mine {j} is {secret}"}, "unknown field"),
        ({"count": 2, "template": "the number is {secret}"}, "must contain {i}"),
        ({"template": "broken {i {secret}"}, "template"),
        ({"count": 11, "digits": 1}, "distinct secrets"),
    ],
)
def test_canary_params_are_validated(params, key):
    with pytest.raises(ParamsError, match="collect.canaries") as e:
        parse(CanaryParams, as_dict("collect.canaries", **params), "collect.canaries")
    assert key in str(e.value)


@pytest.mark.parametrize("profile", PROFILES)
def test_shipped_profiles_plant_canaries(profile, tmp_path):
    cfg = load_section("collect", profile_file(profile, tmp_path)).canaries
    assert cfg.count > 0 and cfg.insertions > 0


def test_insert_sentence_adds_a_paragraph_at_a_paragraph_boundary():
    text = "First paragraph here.\n\nSecond one.\n \nThird."
    seen = set()
    for s in range(40):
        out = insert_sentence(text, "CANARY", random.Random(s))
        assert out.replace("\n\nCANARY", "", 1) == text
        i = out.index("CANARY")
        assert out[i - 2 : i] == "\n\n" and out[i + 6 : i + 7] in ("", "\n")
        seen.add(i)
    assert len(seen) == 3  # after each of the three paragraphs
    assert insert_sentence("one line", "C", random.Random(0)) == "one line\n\nC"


def test_choose_documents_is_seeded_and_distinct():
    picks = choose_documents(50, 4, 8, seed=1)
    assert len(picks) == 32 and sorted(set(picks.values())) == [0, 1, 2, 3]
    assert all(list(picks.values()).count(k) == 8 for k in range(4))
    assert picks == choose_documents(50, 4, 8, seed=1) != choose_documents(50, 4, 8, seed=2)
    with pytest.raises(DataError, match="need 33 distinct documents but only 32"):
        choose_documents(32, 3, 11, seed=0)


def _corpus(tmp_path: Path, n: int) -> Path:
    lines = [
        f"Document {i} talks about topic {i * 7} at some length.\n\nIts second paragraph." for i in range(n)
    ]
    path = tmp_path / "docs.jsonl"
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in lines))
    return path


def _collect(tmp_path: Path, corpus: Path, seed: int, **canaries) -> tuple[list[dict], dict]:
    cfg = collect_params([local(corpus)], shard_docs=7, on_error="fail", **canaries)
    out, metrics = tmp_path / "raw", tmp_path / "collect.json"
    collect(cfg, out_dir=out, metrics_path=metrics, seed=seed)
    return list(iter_docs(out)), json.loads(metrics.read_text())


def test_collect_plants_count_times_insertions_canaries_in_distinct_documents(tmp_path):
    corpus = _corpus(tmp_path, 40)
    plain, _ = _collect(tmp_path / "plain", corpus, seed=5)
    docs, m = _collect(tmp_path / "a", corpus, seed=5, count=3, insertions=4, digits=6)
    canaries = make_canaries(3, 6, TEMPLATE, seed=5)

    assert len(docs) == len(plain) == 40
    planted = [d for d in docs if "canaries" in json.loads(d["meta"])]
    assert len(planted) == 12
    for k, c in enumerate(canaries):
        holders = [d for d in docs if c.text in d["text"]]
        assert len(holders) == 4 and all(json.loads(d["meta"])["canaries"] == [k] for d in holders)
    # A planted document keeps its id and every other character; the rest are untouched.
    by_id = {d["id"]: d for d in plain}
    for d in docs:
        original = by_id[d["id"]]["text"]
        found = [c.text for c in canaries if c.text in d["text"]]
        assert d["text"] == original if not found else d["text"].replace("\n\n" + found[0], "", 1) == original
    assert m["canaries"] == {
        "count": 3,
        "per_canary": 4,
        "insertions": 12,
        "characters": sum(len(c.text) + 2 for c in canaries) * 4,
        "by_source": {"src": 12},
    }
    assert not any(c.secret in json.dumps(m) for c in canaries)

    again, _ = _collect(tmp_path / "b", corpus, seed=5, count=3, insertions=4, digits=6)
    other, _ = _collect(tmp_path / "c", corpus, seed=6, count=3, insertions=4, digits=6)
    assert again == docs and other != docs


def test_collect_without_canaries_records_none_and_too_few_documents_is_an_error(tmp_path):
    corpus = _corpus(tmp_path, 5)
    _, m = _collect(tmp_path / "off", corpus, seed=1)
    assert m["canaries"] == {"count": 0, "per_canary": 8, "insertions": 0}
    with pytest.raises(DataError, match="lower count or insertions"):
        _collect(tmp_path / "many", corpus, seed=1, count=2, insertions=3)
    assert not (tmp_path / "many" / "raw").exists()


def test_clean_pii_step_keeps_the_default_canary_secret():
    """Decides what default exposure means: the digits reach the model unredacted, so a low
    exposure is the model not memorising, not the clean stage hiding the secret."""
    from stages.clean.pii import Pii

    step = Pii(default_params("clean.pii"))
    for c in make_canaries(20, 9, TEMPLATE, seed=1337):
        assert step.apply(c.text).text == c.text
    # A secret shaped like a card number is redacted, and would then have nothing to expose.
    assert step.apply("my secret canary 0 number is 4111 1111 1111 1111").text.endswith("<CREDIT_CARD>")
