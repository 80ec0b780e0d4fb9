"""finetune ner: first-subword label alignment on a real BPE tokenizer, strict entity F1, and a
tiny Llama that learns toy entities, saves and reloads as a token classifier."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from finetune_fixtures import (
    NER_LABELS,
    bpe_tokenizer,
    params,
    save_pretrained_like,
    toy_ner_rows,
    write_ner,
)

from stages.common.errors import DataError
from stages.common.iob import entity_spans, word_tags
from stages.common.subwords import first_subwords, last_subwords
from stages.finetune.data import read_columns
from stages.finetune.ner import COLUMNS, check_rows, encode_ner, entity_scores, replace_mentions

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny matrices: one thread is faster

LABEL2ID = {x: i for i, x in enumerate(NER_LABELS)}


@pytest.fixture(scope="module")
def bpe():
    return bpe_tokenizer([r["text"] for r in toy_ner_rows(200, 1)] + ["don't stop in the U.S.A. now"])


def test_first_subwords_by_hand():
    # "do n't go": a token "don" spans two words; (0, 0) is a special token; the last word is cut.
    offsets = [(0, 0), (0, 3), (3, 5), (5, 8), (0, 0)]
    assert first_subwords(offsets, [0, 2, 6, 9], [2, 5, 8, 12]) == [1, 2, 3, -1]
    # The token for "n't" is already taken by "do", and nothing else overlaps it: no subword.
    assert first_subwords([(0, 5), (5, 8)], [0, 2, 6], [2, 5, 8]) == [0, -1, 1]


def test_labels_sit_on_first_subwords_of_a_real_tokenizer(bpe):
    rows = toy_ner_rows(20, 3) + [
        {
            "text": "Karlsson didn't visit Cape Town",
            "tokens": ["Karlsson", "did", "n't", "visit", "Cape", "Town"],
        }
    ]
    rows[-1] |= {"starts": [0, 9, 12, 16, 22, 27], "ends": [8, 12, 15, 21, 26, 31]}
    rows[-1]["tags"] = ["B-PER", "O", "O", "O", "B-LOC", "I-LOC"]
    cols = {c: [r[c] for r in rows] for c in ("text", "tokens", "starts", "ends", "tags")}
    split = encode_ner(bpe, cols, LABEL2ID, max_length=64)
    enc = bpe(cols["text"], return_offsets_mapping=True)
    multi = 0
    for row, (ids, labels, first) in enumerate(zip(split.enc.ids, split.enc.labels, split.picks)):
        offsets = enc["offset_mapping"][row]
        assert len(labels) == len(ids) and len(first) == len(cols["tokens"][row])
        for w, (k, s, e, tag) in enumerate(
            zip(first, cols["starts"][row], cols["ends"][row], cols["tags"][row])
        ):
            assert k >= 0, (row, w)
            assert labels[k] == LABEL2ID[tag]
            # k is the first token that overlaps the word: no earlier token of this word.
            assert offsets[k][0] < e and offsets[k][1] > s
            assert k == 0 or offsets[k - 1][1] <= s or k - 1 == (first[w - 1] if w else -1)
            multi += sum(1 for o in offsets if o[0] < e and o[1] > s) > 1
        # Exactly one labelled token per word; every other subword is -100.
        assert sum(y != -100 for y in labels) == len(first)
    assert multi > 10  # the small BPE splits many words, so the test exercises continuation subwords


def test_labels_sit_on_last_subwords_when_asked(bpe):
    rows = toy_ner_rows(20, 3)
    cols = {c: [r[c] for r in rows] for c in COLUMNS}
    split = encode_ner(bpe, cols, LABEL2ID, max_length=64, subword="last")
    firsts = encode_ner(bpe, cols, LABEL2ID, max_length=64).picks
    enc = bpe(cols["text"], return_offsets_mapping=True)
    longer = 0
    for row, (labels, last) in enumerate(zip(split.enc.labels, split.picks)):
        offsets = enc["offset_mapping"][row]
        for w, (k, s, e, tag) in enumerate(
            zip(last, cols["starts"][row], cols["ends"][row], cols["tags"][row])
        ):
            assert k >= 0 and labels[k] == LABEL2ID[tag]
            # k is the last token that overlaps the word: the next token starts at or after its end.
            assert offsets[k][0] < e and offsets[k][1] > s
            assert k + 1 == len(offsets) or offsets[k + 1][0] >= e or offsets[k + 1] == (0, 0)
            longer += k > firsts[row][w]
        assert sum(y != -100 for y in labels) == len(last)
    assert longer > 10  # many words have more than one subword, so last differs from first


def test_last_subwords_by_hand():
    # "in Moscow now" as "in", " M", "os", "c", "ow", " now": Moscow is read at "ow".
    offsets = [(0, 2), (2, 4), (4, 6), (6, 7), (7, 9), (9, 13)]
    assert first_subwords(offsets, [0, 3, 10], [2, 9, 13]) == [0, 1, 5]
    assert last_subwords(offsets, [0, 3, 10], [2, 9, 13]) == [0, 4, 5]
    # One token over "do" + "n't" is "do"'s last; "n't" has none of its own. Specials never match.
    assert last_subwords([(0, 0), (0, 5), (5, 8), (0, 0)], [0, 2, 6], [2, 5, 8]) == [1, -1, 2]


def test_echo_labels_only_the_second_copy(bpe):
    rows = toy_ner_rows(6, 5)
    cols = {c: [r[c] for r in rows] for c in ("text", "tokens", "starts", "ends", "tags")}
    plain = encode_ner(bpe, cols, LABEL2ID, max_length=64)
    echoed = encode_ner(bpe, cols, LABEL2ID, max_length=64, echo_sep=0)
    for p_ids, p_labels, e_ids, e_labels, e_first in zip(
        plain.enc.ids, plain.enc.labels, echoed.enc.ids, echoed.enc.labels, echoed.picks
    ):
        n = len(p_ids)
        assert e_ids == p_ids + [0] + p_ids
        # The first copy and the separator carry no label; the second copy carries the plain ones.
        assert e_labels[: n + 1] == [-100] * (n + 1) and e_labels[n + 1 :] == p_labels
        assert all(k > n for k in e_first)


def test_truncation_cuts_words_and_counts_them(bpe):
    rows = toy_ner_rows(5, 4)
    cols = {c: [r[c] for r in rows] for c in ("text", "tokens", "starts", "ends", "tags")}
    split = encode_ner(bpe, cols, LABEL2ID, max_length=8)
    assert all(len(x) <= 8 for x in split.enc.ids)
    assert split.enc.truncated == 5 and split.unaligned_words > 0
    assert all(f[-1] == -1 for f in split.picks)  # the final "." is beyond 8 tokens in every row
    # A cut word is O even where the tagger would say B-PER everywhere.
    says_per = np.log(np.full((8, len(NER_LABELS)), 1e-3))
    says_per[:, NER_LABELS.index("B-PER")] = 0.0
    assert word_tags(says_per, split.picks[0], NER_LABELS)[-1] == "O"


def test_entity_scores_are_strict_iob2():
    gold = [["B-PER", "I-PER", "O", "B-LOC"]]
    assert entity_scores(gold, gold)["f1"] == 1.0
    # An entity that starts with I- is not an entity in strict mode; a wrong end is a miss.
    s = entity_scores(gold, [["I-PER", "I-PER", "O", "B-LOC"]])
    assert s["precision"] == 1.0 and s["recall"] == 0.5
    assert entity_scores(gold, [["B-PER", "O", "O", "B-LOC"]])["f1"] == 0.5


def test_ner_learns_saves_and_reloads(bpe, tmp_path, monkeypatch):
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from stages.finetune.ner import run

    torch.manual_seed(0)
    # 160 positions: each echoed sentence (two copies of up to 64 tokens) fits whole.
    base = save_pretrained_like(tmp_path / "pretrain", "llama", bpe, max_positions=160)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PIPELINE_NO_PROGRESS", "1")
    write_ner(Path("data/tasks"))
    m = run("ner", params(("ner",)), seed=3, pretrain_dir=base, tasks_dir=Path("data/tasks"))
    assert m["echo"] is True  # a causal backbone reads each sentence twice

    assert m["valid_metric"] == "f1" and m["best_valid"] >= 0.8, m["history"]
    assert m["best_valid"] == max(h["valid_f1"] for h in m["history"])
    assert 0 <= m["best_valid_precision"] <= 1 and m["unaligned_words"] == {"train": 0, "valid": 0}
    assert json.loads(Path("metrics/finetune/ner.json").read_text())["best_valid"] == m["best_valid"]

    model = AutoModelForTokenClassification.from_pretrained("models/finetune/ner")
    tok = AutoTokenizer.from_pretrained("models/finetune/ner")
    assert model.config.id2label == dict(enumerate(NER_LABELS))
    assert model.config.label2id == LABEL2ID
    assert model.config.echo_input is True  # evaluate reads this to feed the same input
    enc = tok(["Anna Karlsson was in Oslo .", "the film"], padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = model(**enc).logits
    assert logits.shape == (2, enc["input_ids"].shape[1], len(NER_LABELS))


def test_bad_ner_rows_name_the_file_and_row(bpe, tmp_path, monkeypatch):
    from finetune_fixtures import write_parquet

    from stages.finetune.ner import run

    base = save_pretrained_like(tmp_path / "pretrain", "llama", bpe)
    monkeypatch.chdir(tmp_path)
    write_ner(Path("data/tasks"))
    rows = toy_ner_rows(4, 9)
    rows[2]["tags"][0] = "B-GPE"
    write_parquet(Path("data/tasks/ner/valid.parquet"), rows)
    cfg = params(("ner",))
    with pytest.raises(
        DataError, match=r"ner/valid.parquet row 2: tag\(s\) \['B-GPE'\] are not in labels.json"
    ):
        run("ner", cfg, seed=1, pretrain_dir=base, tasks_dir=Path("data/tasks"))
    rows[2]["tags"][0] = "O"
    rows[1]["starts"][0] += 1
    write_parquet(Path("data/tasks/ner/valid.parquet"), rows)
    with pytest.raises(DataError, match=r"ner/valid.parquet row 1: token .* does not match the text"):
        run("ner", cfg, seed=1, pretrain_dir=base, tasks_dir=Path("data/tasks"))
    Path("data/tasks/ner/labels.json").write_text(json.dumps(["O", "PER", "LOC"]))
    with pytest.raises(DataError, match=r"task ner: .*labels must be 'O' and B-X / I-X tags"):
        run("ner", cfg, seed=1, pretrain_dir=base, tasks_dir=Path("data/tasks"))


def test_mention_replacement_keeps_rows_aligned_and_swaps_same_type_entities(tmp_path):
    write_ner(tmp_path)
    cols = read_columns(tmp_path / "ner", "train", COLUMNS)
    out = replace_mentions(cols, copies=2, prob=1.0, seed=0)
    n = len(cols["text"])
    assert {c: out[c][:n] for c in COLUMNS} == cols  # the originals come first, unchanged
    assert len(out["text"]) == n + 2 * sum(any(t != "O" for t in tags) for tags in cols["tags"])
    check_rows(tmp_path / "augmented", out, LABEL2ID)  # every word sits at its offsets in the new text

    def entities(tokens, tags):
        return {(t, tuple(toks[s:e])) for toks, tg in zip(tokens, tags) for s, e, t in entity_spans(tg)}

    # Every entity of a copy is one of the split's entities, with its type (a PER stays a PER).
    assert entities(out["tokens"][n:], out["tags"][n:]) <= entities(cols["tokens"], cols["tags"])
    # Copies follow their source rows, two each; with prob 1 most of them read differently.
    sources = [
        t for t, tags in zip(cols["text"], cols["tags"]) if any(x != "O" for x in tags) for _ in range(2)
    ]
    assert sum(a != b for a, b in zip(out["text"][n:], sources)) > len(sources) // 2
    again = replace_mentions(cols, copies=2, prob=1.0, seed=0)
    assert again == out and replace_mentions(cols, copies=2, prob=1.0, seed=1) != out
    assert replace_mentions(cols, copies=0, prob=1.0, seed=0) == cols
