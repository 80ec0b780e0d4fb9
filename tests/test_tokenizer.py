"""Tests of the tokenizer stage: params, split, training, token files, metrics."""

from __future__ import annotations

import json

import numpy as np
import pytest
from params_fixtures import merged
from tokenizer_fixtures import make_docs, write_dedup

from stages.common.errors import DataError, ParamsError
from stages.common.params import default_params, parse
from stages.tokenizer.config import TokenizerParams
from stages.tokenizer.encode import token_dtype
from stages.tokenizer.run import run
from stages.tokenizer.split import is_valid_doc

SEED = 1337


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    d = tmp_path_factory.mktemp("tok")
    docs = make_docs(120)
    docs.append({**docs[0], "id": "empty", "text": "   "})
    docs.append({**docs[0], "id": "accents", "text": "Cafe\u0301 déjà vu — naïve façade."})
    write_dedup(d / "dedup", docs)
    cfg = default_params("tokenizer", vocab_size=320, min_frequency=1, valid_fraction=0.2, batch_docs=16)
    metrics = run(cfg, SEED, d / "dedup", d / "tokenizer", d / "tokens")
    return d, docs, metrics


@pytest.mark.parametrize(
    "data, key",
    [
        ({"vocab_size": 100}, "tokenizer.vocab_size"),
        ({"special_tokens": ["<pad>", "<mask>"]}, "tokenizer.special_tokens"),
        ({"valid_fraction": 1.5}, "tokenizer.valid_fraction"),
        ({"batch_docs": 0}, "tokenizer.batch_docs"),
        ({"vocab_sise": 300}, "tokenizer: unknown key"),
    ],
)
def test_config_errors_name_the_key(data, key):
    with pytest.raises(ParamsError, match=key):
        parse(TokenizerParams, merged("tokenizer", data), "tokenizer")


def test_split_is_seeded_and_near_the_fraction():
    ids = [f"d{i}" for i in range(4000)]
    a = [is_valid_doc(i, 1, 0.1) for i in ids]
    assert a == [is_valid_doc(i, 1, 0.1) for i in ids]
    assert a != [is_valid_doc(i, 2, 0.1) for i in ids]
    assert 0.08 < sum(a) / len(a) < 0.12


def test_split_has_no_overlap(built):
    d, docs, metrics = built
    valid = set((d / "tokens" / "valid_ids.txt").read_text().split())
    expected = {doc["id"] for doc in docs if doc["text"].strip() and is_valid_doc(doc["id"], SEED, 0.2)}
    assert valid == expected and valid
    train = {doc["id"] for doc in docs if doc["text"].strip()} - valid
    assert metrics["n_docs"] == {"train": len(train), "valid": len(valid)}
    assert metrics["skipped"] == {"empty_text": 1}


def test_autotokenizer_round_trip(built):
    from transformers import AutoTokenizer

    d, _, _ = built
    tok = AutoTokenizer.from_pretrained(str(d / "tokenizer"))
    meta = json.loads((d / "tokens" / "meta.json").read_text())
    assert (tok.eos_token_id, tok.pad_token_id, tok.mask_token_id) == (
        meta["eos_id"],
        meta["pad_id"],
        meta["mask_id"],
    )
    assert tok.bos_token_id == tok.eos_token_id
    text = "The dog sat by the river. déjà vu, 42 £!"
    assert tok.decode(tok(text)["input_ids"]) == text
    # NFC normalisation: a decomposed accent decodes as the composed one.
    assert tok.decode(tok("Cafe\u0301")["input_ids"]) == "Café"


def test_token_files_are_memmaps_of_documents(built):
    d, _, metrics = built
    meta = json.loads((d / "tokens" / "meta.json").read_text())
    assert meta["dtype"] == "uint16"
    for split in ("train", "valid"):
        arr = np.memmap(d / "tokens" / f"{split}.bin", dtype=meta["dtype"], mode="r")
        assert arr.size == meta["n_tokens"][split]
        assert int((arr == meta["eos_id"]).sum()) == meta["n_docs"][split]
        assert arr[-1] == meta["eos_id"] and int(arr.max()) < meta["vocab_size"]
    assert 1.0 < metrics["valid_bytes_per_token"] < 10.0
    assert 0 < metrics["vocab_in_use"]["valid"] <= metrics["vocab_size"]


def test_lowercase_param(tmp_path):
    write_dedup(tmp_path / "dedup", make_docs(30))
    cfg = default_params("tokenizer", vocab_size=300, min_frequency=1, lowercase=True, valid_fraction=0.3)
    run(cfg, SEED, tmp_path / "dedup", tmp_path / "tokenizer", tmp_path / "tokens")
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tmp_path / "tokenizer"))
    assert tok.decode(tok("The CAT")["input_ids"]) == "the cat"


def test_empty_train_split_is_an_error(tmp_path):
    docs = [{**doc, "text": ""} for doc in make_docs(5)]
    write_dedup(tmp_path / "dedup", docs)
    with pytest.raises(DataError, match="train split is empty"):
        run(
            default_params("tokenizer", vocab_size=300),
            SEED,
            tmp_path / "dedup",
            tmp_path / "tok",
            tmp_path / "tokens",
        )
    assert not (tmp_path / "tok").exists() and not (tmp_path / "tokens").exists()


def test_dtype_follows_vocab_size():
    assert token_dtype(65535) == np.uint16
    assert token_dtype(65536) == np.uint32
    with pytest.raises(DataError, match="does not fit"):
        token_dtype(2**32)
