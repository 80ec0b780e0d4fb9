"""Words to subword tokens: the one alignment finetune trains NER with and evaluate predicts with."""

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
