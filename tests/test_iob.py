"""IOB2 constrained decoding (stages/common/iob): the best valid sequence, never an invalid one."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from stages.common.iob import entity_spans, transitions, viterbi

LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def valid(tags: list[str]) -> bool:
    prev = "O"
    for t in tags:
        if t.startswith("I-") and (prev == "O" or prev[2:] != t[2:]):
            return False
        prev = t
    return True


def test_transitions_forbid_only_what_iob2_forbids():
    start, move = transitions(LABELS)
    assert [s < 0 for s in start] == [False, False, True, False, True]
    i = {x: k for k, x in enumerate(LABELS)}
    assert move[i["B-PER"], i["I-PER"]] == 0 and move[i["I-PER"], i["I-PER"]] == 0
    assert move[i["O"], i["I-PER"]] < 0 and move[i["B-LOC"], i["I-PER"]] < 0
    assert move[i["I-LOC"], i["B-PER"]] == 0 and move[i["I-PER"], i["O"]] == 0


def test_argmax_that_starts_with_i_is_repaired():
    # Argmax says I-PER I-PER (no entity under strict IOB2); B-PER I-PER is the best valid one.
    p = np.log(np.array([[0.05, 0.40, 0.45, 0.05, 0.05], [0.05, 0.05, 0.80, 0.05, 0.05]]))
    assert [LABELS[k] for k in p.argmax(-1)] == ["I-PER", "I-PER"]
    assert viterbi(p, LABELS) == ["B-PER", "I-PER"]
    assert entity_spans(viterbi(p, LABELS)) == [(0, 2, "PER")]


@pytest.mark.parametrize("seed", range(20))
def test_viterbi_is_the_best_valid_sequence_by_brute_force(seed):
    rng = np.random.default_rng(seed)
    scores = np.log(rng.dirichlet(np.ones(len(LABELS)), size=4))
    best = max(
        (seq for seq in itertools.product(range(len(LABELS)), repeat=4) if valid([LABELS[k] for k in seq])),
        key=lambda seq: sum(scores[t, k] for t, k in enumerate(seq)),
    )
    got = viterbi(scores, LABELS)
    assert valid(got) and got == [LABELS[k] for k in best]


def test_empty_sentence():
    assert viterbi(np.zeros((0, len(LABELS))), LABELS) == []
