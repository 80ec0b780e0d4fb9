"""IOB2 tag sequences: their entities, and the best valid sequence under a tagger's scores.

A token classifier scores each word on its own, so its argmax can start an entity with
I-LOC or run I-PER into I-ORG. Strict IOB2 scoring (seqeval, mode="strict") drops such
entities whole. `viterbi` instead returns the most probable sequence among the valid ones,
the constrained decoding that CRF taggers use (e.g. AllenNLP's `allowed_transitions`),
here over the classifier's own log-probabilities, with no transition weights to learn.
finetune scores its valid split and evaluate tags the gold set through the same function.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

NEG = -1e9  # the score of a forbidden move; finite, so a row of them still has an argmax


def entity_spans(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """(first token, end token exclusive, type) of each strict-IOB2 entity."""
    from seqeval.scheme import IOB2, Tokens

    return [(e.start, e.end, e.tag) for e in Tokens(list(tags), scheme=IOB2).entities]


def transitions(labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(start, move): 0 where IOB2 allows a first tag / a tag after another, NEG where not.

    I-X may only follow B-X or I-X; everything else may go anywhere."""
    n = len(labels)
    start = np.zeros(n)
    move = np.zeros((n, n))  # [previous, current]
    for j, cur in enumerate(labels):
        if cur.startswith("I-"):
            start[j] = NEG
            for i, prev in enumerate(labels):
                if prev[2:] != cur[2:] or prev == "O":
                    move[i, j] = NEG
    return start, move


def viterbi(scores: np.ndarray, labels: Sequence[str]) -> list[str]:
    """The valid IOB2 sequence with the highest total score (words x labels log-probabilities)."""
    if len(scores) == 0:
        return []
    start, move = transitions(labels)
    best = scores[0] + start
    back = np.empty((len(scores) - 1, len(labels)), dtype=np.int64)
    for t in range(1, len(scores)):
        cand = best[:, None] + move
        back[t - 1] = cand.argmax(0)
        best = cand.max(0) + scores[t]
    path = [int(best.argmax())]
    for row in back[::-1]:
        path.append(int(row[path[-1]]))
    return [labels[k] for k in reversed(path)]


def word_tags(token_scores: np.ndarray, picks: Sequence[int], labels: Sequence[str]) -> list[str]:
    """Tags per word from per-token log-probabilities read at each word's labelled subword
    (`picks`: its token index, from stages/common/subwords.word_subwords).

    A word with no subword of its own (-1 in `picks`: cut by max_length, or merged into the
    previous word's token) is forced to O, as argmax decoding scored it."""
    if not len(picks):
        return []
    o = np.full(len(labels), NEG)
    o[list(labels).index("O")] = 0.0
    rows = np.stack([token_scores[k] if k >= 0 else o for k in picks])
    return viterbi(rows, labels)
