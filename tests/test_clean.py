"""Unit tests of the clean stage's steps on inline fixtures: normalize, language, the
Gopher and C4 quality rules, harm scoring, and the params checks."""

from __future__ import annotations

import dataclasses

import pytest
from clean_fixtures import PROSE
from params_fixtures import PROFILES, merged, profile_file

from stages.clean.config import (
    CleanParams,
)
from stages.clean.gopher import quality_reason, repetition_reason
from stages.common.errors import ParamsError
from stages.common.params import default_params, parse

# The Gopher paper's thresholds, which these tests check; params.yaml relaxes some of them.
GOPHER_PAPER = {"min_words": 50, "max_words": 100_000, "min_alpha_word_fraction": 0.8}


def gopher_quality(text: str, **kw) -> str | None:
    cfg = default_params("clean.quality.gopher_quality", **(GOPHER_PAPER | kw))
    return quality_reason(text, text.split(), cfg, frozenset(cfg.stop_words))


def gopher_rep(text: str, **kw) -> str | None:
    return repetition_reason(text, text.split(), default_params("clean.quality.gopher_repetition", **kw))


# ---------------------------------------------------------------- normalize


def test_normalize_repairs_mojibake_nfc_and_whitespace():
    from stages.clean.normalize import Normalize

    step = Normalize(default_params("clean.normalize"))
    out = step.apply("The cafÃ© served cre\u0300me br\u00fbl\u00e9e.\r\n\r\n\r\nIt\u00a0was   good.  ")
    assert out.text == "The café served crème brûlée.\n\nIt was good."
    assert set(out.info["fixes"]) == {"mojibake", "NFC", "whitespace"}
    assert Normalize(default_params("clean.normalize")).apply("Plain ASCII text.").info == {}


def test_normalize_keeps_code_indentation():
    from stages.clean.normalize import Normalize

    code = "Here is a loop:\n\nfor i in range(3):\n    print(i)  \n\n\n\nDone."
    assert (
        Normalize(default_params("clean.normalize")).apply(code).text
        == "Here is a loop:\n\nfor i in range(3):\n    print(i)\n\nDone."
    )


def test_normalize_nfkc_and_empty_drop():
    from stages.clean.normalize import Normalize

    assert Normalize(default_params("clean.normalize", form="NFKC")).apply("ﬁne ①").text == "fine 1"
    assert Normalize(default_params("clean.normalize")).apply(" \n\t\x00 ").drop == "empty"


# ---------------------------------------------------------------- language


def test_language_keeps_english_drops_others_and_low_confidence():
    from stages.clean.lang import Language

    step = Language(default_params("clean.language", languages=("en",), min_confidence=0.5))
    assert step.apply(PROSE).drop is None
    assert step.apply(PROSE).info["lang"] == "en"
    german = "Der Fluss, der durch die Altstadt fließt, hat ihre Geschichte seit Jahrhunderten geprägt."
    assert step.apply(german).drop == "wrong_language"
    strict = Language(default_params("clean.language", languages=("en",), min_confidence=0.9999))
    assert strict.apply("ok thanks").drop in {"low_confidence", "wrong_language"}


def test_language_unknown_code_is_a_params_error():
    from stages.clean.lang import Language

    with pytest.raises(ParamsError, match="clean.language.languages"):
        Language(default_params("clean.language", languages=("xx",)))


# ---------------------------------------------------------------- Gopher quality


def test_gopher_quality_accepts_prose():
    assert gopher_quality(PROSE, min_words=20) is None


@pytest.mark.parametrize(
    ("text", "kw", "reason"),
    [
        ("the cat sat on the mat", {"min_words": 20}, "min_words"),
        (PROSE, {"min_words": 5, "max_words": 10}, "max_words"),
        ("a an to of it is be an as at " * 5 + "the and with", {"min_words": 5}, "min_mean_word_length"),
        ("internationalization " * 30 + "the and", {"min_words": 5}, "max_mean_word_length"),
        (PROSE + " #tag" * 20, {"min_words": 5}, "symbol_word_ratio"),
        (
            "\n".join(f"- item number {i} of the list" for i in range(20)),
            {"min_words": 5},
            "bullet_line_fraction",
        ),
        (
            "\n".join(
                f"and then the story of the long journey across the wide sea went on {i}..."
                for i in range(20)
            ),
            {"min_words": 5},
            "ellipsis_line_fraction",
        ),
        (
            "the and " + " ".join(str(10000 + i) for i in range(20)) + " with the",
            {"min_words": 5},
            "alpha_word_fraction",
        ),
        ("cats dogs birds fish trees rocks clouds rivers " * 4, {"min_words": 5}, "stop_words"),
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 30 else "",
)
def test_gopher_quality_rules(text, kw, reason):
    assert gopher_quality(text, **kw) == reason


# ---------------------------------------------------------------- Gopher repetition


def test_gopher_repetition_accepts_prose():
    assert gopher_rep(PROSE) is None


def test_gopher_repetition_duplicate_lines_and_paragraphs():
    para = "Subscribe to our newsletter for updates."
    assert gopher_rep("\n\n".join([PROSE, para, para, para])) == "dup_para_fraction"
    lines = "\n".join([PROSE, "Home", "Home", "Home", "About"])
    assert gopher_rep(lines, max_dup_para_fraction=1, max_dup_para_char_fraction=1) == "dup_line_fraction"
    big = "This sentence is long enough to weigh on the character count of the text."
    text = "\n".join([big, big, big, *(f"line {i}" for i in range(12))])
    assert gopher_rep(text, max_dup_para_char_fraction=1) == "dup_line_char_fraction"


def test_gopher_repetition_top_and_duplicated_ngrams():
    spam = PROSE + " buy now " * 40
    assert gopher_rep(spam) == "top_2gram_char_fraction"
    # A repeated 5-word run that no 2..4-gram dominates: long varied words around it.
    block = "quantum harbour lanterns drift silently "
    text = PROSE + " " + " ".join(f"{block}word{i}" for i in range(12))
    reason = gopher_rep(text, top_ngram_max_char_fraction={})
    assert reason is not None and reason.startswith("dup_") and reason.endswith("gram_char_fraction")
    # The greedy scan counts each repeated word once; unique text has no duplicate n-grams.
    assert gopher_rep(" ".join(f"w{i}" for i in range(300)), top_ngram_max_char_fraction={}) is None


# ---------------------------------------------------------------- C4


def test_c4_line_rules_remove_lines_and_keep_paragraph_breaks():
    from stages.clean.c4 import c4_filter

    text = "\n".join(
        [
            PROSE,
            "",
            "Please enable JavaScript to view this page properly.",
            "This site uses cookies to improve your experience.",
            "Click here",
            "Read more about the river in our archive[1].",
            "x" * 1200 + " is not a word anyone writes.",
            "The flood of 1953 was the worst in living memory.",
        ]
    )
    c4 = default_params("clean.quality.c4", require_terminal_punctuation=True, min_sentences=3)
    out, reason, removed = c4_filter(text, c4)
    assert reason is None
    assert removed == {"javascript": 1, "policy": 1, "no_terminal_punctuation": 1, "long_word": 1}
    assert "[1]" not in out and "archive." in out
    assert out.split("\n\n")[0] == PROSE and out.endswith("worst in living memory.")


def test_c4_document_rules():
    from stages.clean.c4 import c4_filter

    assert (
        c4_filter(PROSE + "\nLorem ipsum dolor sit amet, consectetur.", default_params("clean.quality.c4"))[1]
        == "lorem_ipsum"
    )
    assert (
        c4_filter(PROSE + "\nfunction f() { return 1; }.", default_params("clean.quality.c4"))[1]
        == "curly_bracket"
    )
    assert (
        c4_filter("One short sentence here.", default_params("clean.quality.c4", min_sentences=5))[1]
        == "too_few_sentences"
    )
    # Verse without terminal punctuation survives when the rule is off.
    verse = "Now fair Hippolyta our nuptial hour\nDraws on apace four happy days bring in\nAnother moon rises tonight."
    kept, reason, _ = c4_filter(
        verse, default_params("clean.quality.c4", require_terminal_punctuation=False, min_sentences=1)
    )
    assert reason is None and kept == verse


def test_quality_step_prefixes_reasons_and_counts_removed_lines():
    from stages.clean.quality import Quality

    q = Quality(
        default_params(
            "clean.quality",
            gopher_quality=default_params("clean.quality.gopher_quality", min_words=20),
            c4=default_params("clean.quality.c4", min_sentences=3),
        )
    )
    assert q.apply("too short").drop == "gopher_quality_min_words"
    out = q.apply(PROSE + "\nPlease enable javascript in your browser now.")
    assert out.drop is None and out.text == PROSE
    assert out.counts == {"c4_lines_removed_javascript": 1}
    assert q.apply(PROSE + ("\n" + "Lorem ipsum dolor sit amet, consectetur.")).drop == "c4_lorem_ipsum"


# ---------------------------------------------------------------- harm


HARD_NEGATIVES = [
    "Scunthorpe United won the match after an assessment of the pitch by the referee.",
    "The class studied Dickens, the Essex coast and the history of Sussex cocktail bars.",
    "Passing the bass to the assistant, she analysed the grass on the Matsushita campus.",
    "The cockpit crew checked the shitake mushrooms and the therapist's notes.",
]
TOXIC = [
    "You are a fucking idiot and a worthless piece of shit, get lost.",
    "Shut up you stupid bitch, nobody cares what you think, asshole.",
]


def test_wordlist_uses_word_boundaries():
    from stages.clean.harm import wordlist_hits

    assert [wordlist_hits(t) for t in HARD_NEGATIVES] == [0, 0, 0, 0]
    assert wordlist_hits("What the FUCK, this is shit.") == 2


def test_harm_flags_or_drops_toxic_keeps_hard_negatives():
    from stages.clean.harm import Harm

    flag = Harm(default_params("clean.harm", action="flag"))
    outs = flag.apply_batch(HARD_NEGATIVES + TOXIC)
    assert [o.drop for o in outs] == [None] * 6
    assert [bool(o.info["flagged"]) for o in outs] == [False] * 4 + [True] * 2
    assert all(o.info["classifier_prob"] < 0.5 for o in outs[:4])
    dropper = Harm(default_params("clean.harm", action="drop"))
    assert [o.drop is not None for o in dropper.apply_batch(HARD_NEGATIVES + TOXIC)] == [False] * 4 + [
        True
    ] * 2


# ---------------------------------------------------------------- params


def test_unknown_step_is_a_params_error_naming_the_key():
    with pytest.raises(ParamsError, match=r"clean\.steps\[1\].*'dedupe' is not one of"):
        parse(CleanParams, merged("clean", {"steps": ["normalize", "dedupe"]}), "clean")


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"language": {"min_confidence": 1.5}}, "clean.language.min_confidence"),
        (
            {"quality": {"gopher_repetition": {"max_dup_line_fraction": -0.1}}},
            "clean.quality.gopher_repetition.max_dup_line_fraction",
        ),
        (
            {"quality": {"gopher_repetition": {"top_ngram_max_char_fraction": {"2": 2.0}}}},
            "clean.quality.gopher_repetition.top_ngram_max_char_fraction.2",
        ),
        (
            {"quality": {"gopher_repetition": {"dup_ngram_max_char_fraction": {"x": 0.1}}}},
            "clean.quality.gopher_repetition.dup_ngram_max_char_fraction",
        ),
        (
            {"quality": {"gopher_quality": {"min_words": 10, "max_words": 5}}},
            "clean.quality.gopher_quality.min_words",
        ),
        ({"harm": {"max_classifier_prob": 3}}, "clean.harm.max_classifier_prob"),
        ({"pii": {"types": ["EMAIL", "SSN"]}}, "clean.pii.types[1]"),
        ({"steps": ["pii", "pii"]}, "clean.steps"),
        ({"num_proc": 0}, "clean.num_proc"),
        ({"quality": {"c4": {"min_sentence": 3}}}, "clean.quality.c4"),
    ],
)
def test_bad_params_name_the_key(data, key):
    with pytest.raises(ParamsError) as err:
        parse(CleanParams, merged("clean", data), "clean")
    assert key in str(err.value)


@pytest.mark.parametrize("profile", PROFILES)
def test_shipped_params_parse(profile, tmp_path):
    from stages.common.params import load_section

    cfg = load_section("clean", profile_file(profile, tmp_path))
    assert isinstance(cfg, CleanParams) and dataclasses.is_dataclass(cfg)


def test_dup_ngram_fast_scan_matches_the_plain_greedy_scan():
    import random
    from itertools import accumulate

    from stages.clean.gopher import _dup_ngram_chars

    def plain(words: list[str], n: int) -> int:  # datatrove's find_all_duplicate, on tuples
        seen, chars, idx = set(), 0, 0
        while idx < len(words) - n + 1:
            gram = tuple(words[idx : idx + n])
            if gram in seen:
                chars += sum(map(len, gram))
                idx += n
            else:
                seen.add(gram)
                idx += 1
        return chars

    rng = random.Random(0)
    for _ in range(500):
        vocab = [f"w{i}" * rng.randint(1, 3) for i in range(rng.randint(1, 8))]
        words = [rng.choice(vocab) for _ in range(rng.randint(0, 60))]
        n = rng.randint(2, 6)
        assert _dup_ngram_chars(words, [0, *accumulate(map(len, words))], n) == plain(words, n)
