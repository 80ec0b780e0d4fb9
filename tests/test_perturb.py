"""stages/common/perturb.py: each kind changes what it should, keeps what it should, and is
deterministic for a seed."""

from __future__ import annotations

import random

import pytest

from stages.common.perturb import HOMOGLYPHS, KINDS, NEIGHBOURS, attack, attack_variants, perturb

TEXT = "The acting was wonderful and the story kept me watching until midnight."
WORDS = TEXT.split()


def changed_words(a: str, b: str) -> list[tuple[str, str]]:
    return [(x, y) for x, y in zip(a.split(), b.split(), strict=True) if x != y]


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_is_deterministic_for_a_seed(kind):
    runs = {perturb(TEXT, kind, random.Random(7), 0.3, ["It was Tuesday."]) for _ in range(3)}
    assert len(runs) == 1 and runs != {TEXT}
    others = {perturb(TEXT, kind, random.Random(s), 0.3, ["A.", "B.", "C."]) for s in range(20)}
    assert len(others) > 1  # the seed matters


def test_typo_uses_a_keyboard_neighbour_and_keeps_length():
    out = perturb(TEXT, "typo", random.Random(1), rate=0.1)
    assert len(out) == len(TEXT)
    diffs = [(a, b) for a, b in zip(TEXT, out, strict=True) if a != b]
    assert len(diffs) == 1  # 12 words * 0.1 -> one word touched, one letter
    a, b = diffs[0]
    assert b.lower() in NEIGHBOURS[a.lower()]


def test_swap_trades_two_inner_adjacent_letters():
    out = perturb(TEXT, "swap", random.Random(2), rate=0.2)
    pairs = changed_words(TEXT, out)
    assert len(pairs) == round(0.2 * len(WORDS))
    for old, new in pairs:
        assert sorted(old) == sorted(new) and old[0] == new[0] and old[-1] == new[-1]
        i = next(k for k in range(len(old)) if old[k] != new[k])
        assert new[i : i + 2] == old[i + 1] + old[i]


def test_insert_adds_one_letter_per_touched_word():
    out = perturb(TEXT, "insert", random.Random(3), rate=0.25)
    pairs = changed_words(TEXT, out)
    assert len(pairs) == 3 and len(out) == len(TEXT) + 3
    for old, new in pairs:
        assert len(new) == len(old) + 1 and new[0] == old[0]


def test_homoglyph_changes_characters_but_not_length_or_look():
    out = perturb(TEXT, "homoglyph", random.Random(4), rate=0.5)
    assert len(out) == len(TEXT) and out != TEXT
    lookalikes = set(HOMOGLYPHS.values())
    for a, b in zip(TEXT, out, strict=True):
        assert a == b or (HOMOGLYPHS[a] == b and b in lookalikes)
    assert not out.isascii()


def test_case_flips_whole_words():
    out = perturb("I do NOT like it", "case", random.Random(0), rate=1.0)
    assert out == "i DO not LIKE IT"


def test_distractor_appends_a_sentence_and_keeps_the_text():
    out = perturb("Loved it", "distractor", random.Random(0), distractors=["The film is 90 minutes long."])
    assert out == "Loved it. The film is 90 minutes long."
    assert perturb("Loved it!", "distractor", random.Random(0), distractors=["Rain."]) == "Loved it! Rain."
    with pytest.raises(ValueError, match="needs a non-empty `distractors`"):
        perturb("Loved it", "distractor", random.Random(0))


@pytest.mark.parametrize("kind", ["typo", "swap", "insert"])
def test_spelling_edits_never_touch_negations_digits_or_short_words(kind):
    text = "I do not want it, never 42 times, don't ever"
    for seed in range(30):
        out = perturb(text, kind, random.Random(seed), rate=1.0)
        words = out.replace(",", "").split()
        assert {"I", "do", "not", "it", "never", "42", "don't"} <= set(words), out


def test_a_kind_that_cannot_apply_leaves_the_text():
    assert perturb("fun 123 !!", "homoglyph", random.Random(0)) == "fun 123 !!"
    assert perturb("123 !!", "case", random.Random(0)) == "123 !!"
    with pytest.raises(ValueError, match="unknown kind 'emoji'"):
        perturb(TEXT, "emoji", random.Random(0))


def test_attack_passes_over_kinds_that_cannot_change_the_text():
    # "fun" has no look-alike letter and is too short to swap: only case can change it.
    for seed in range(5):
        assert attack("fun", random.Random(seed), ["homoglyph", "swap", "case"]) == ("case", "FUN")
    assert attack("123", random.Random(0), ["typo", "case"]) == ("", "123")
    kind, out = attack(TEXT, random.Random(5), ["typo", "case", "distractor"], 0.2, ["Ok."], n_kinds=2)
    assert len(kind.split("+")) == 2 and len(set(kind.split("+"))) == 2 and out != TEXT
    with pytest.raises(ValueError, match="none of the kinds"):
        attack(TEXT, random.Random(0), ["distractor"])


def test_attack_variants_gives_n_changed_candidates():
    got = attack_variants(TEXT, random.Random(9), 8, KINDS, ["It rained."])
    assert len(got) == 8
    assert all(kind in KINDS and text != TEXT for kind, text in got)
    assert got == attack_variants(TEXT, random.Random(9), 8, KINDS, ["It rained."])
    assert attack_variants("42", random.Random(0), 5, KINDS[:-1]) == []
