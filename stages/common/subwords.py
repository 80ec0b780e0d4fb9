"""Words to subword tokens: the one alignment finetune trains NER with and evaluate predicts with.

Each word is read at ONE of its subword tokens: its first (the Hugging Face convention, right
for a bidirectional encoder, whose first subword sees the rest of the word) or its last (for
a causal decoder, whose first subword has not yet seen the rest of the word: "Moscow" is
"ĠM os c ow", and "ĠM" alone cannot tell a city from a person). The choice is saved in the
model's config.json (`SUBWORD_KEY`), so evaluate reads a tagger where it was trained.
"""

from __future__ import annotations


def first_subwords(offsets: list[tuple[int, int]], starts: list[int], ends: list[int]) -> list[int]:
    """Token index of each word's first subword, or -1.

    A word's first subword is the first token whose characters overlap the word and that is
    not already the first subword of the word before (a BPE token may span "do" + "n't").
    Special tokens have empty (0, 0) offsets and never match."""
    out, j, last = [], 0, -1
    for s, e in zip(starts, ends):
        while j < len(offsets) and (offsets[j][1] <= s or offsets[j][0] == offsets[j][1]):
            j += 1
        k = j + 1 if j == last else j
        hit = k < len(offsets) and offsets[k][0] < e and offsets[k][1] > s and offsets[k][0] != offsets[k][1]
        out.append(k if hit else -1)
        if hit:
            last = k
    return out


def last_subwords(offsets: list[tuple[int, int]], starts: list[int], ends: list[int]) -> list[int]:
    """Token index of each word's last subword, or -1.

    A word's last subword is the last token whose characters overlap the word; where that
    token is also the previous word's last (one BPE token over "do" + "n't"), the word has
    no subword of its own. Special tokens have empty (0, 0) offsets and never match."""
    out, j, last = [], 0, -1
    for s, e in zip(starts, ends):
        while j < len(offsets) and (offsets[j][1] <= s or offsets[j][0] == offsets[j][1]):
            j += 1
        k = j
        while k + 1 < len(offsets) and offsets[k + 1][0] < e and offsets[k + 1][0] != offsets[k + 1][1]:
            k += 1
        hit = k < len(offsets) and offsets[k][0] < e and offsets[k][1] > s and k != last
        out.append(k if hit else -1)
        if hit:
            last = k
    return out


# Saved in the token classifier's config.json: which subword of each word carries its tag.
SUBWORD_KEY = "label_subword"
SUBWORDS = {"first": first_subwords, "last": last_subwords}


def word_subwords(
    which: str, offsets: list[tuple[int, int]], starts: list[int], ends: list[int]
) -> list[int]:
    """Each word's token index under `which` ("first" or "last"), or -1."""
    return SUBWORDS[which](offsets, starts, ends)


# Saved in the token classifier's config.json: True when it was trained on echoed input.
ECHO_KEY = "echo_input"


def echo(
    ids: list[int], offsets: list[tuple[int, int]], sep_id: int
) -> tuple[list[int], list[tuple[int, int]]]:
    """The input read twice, `ids + [sep] + ids`, with offsets only on the second copy.

    A causal model tags each token from the words before it alone; in the second copy every
    token has already seen the whole sentence, so "New" can be tagged B-LOC because "York"
    follows (the repetition trick of Springer et al. 2024, "Repetition Improves Language
    Model Embeddings"). The first copy and the separator get empty (0, 0) offsets, so
    `word_subwords` aligns words to the second copy only.
    """
    return ids + [sep_id] + ids, [(0, 0)] * (len(ids) + 1) + list(offsets)


def echo_length(positions: int) -> int:
    """The longest single copy that still fits `positions` once echoed."""
    return (positions - 1) // 2
