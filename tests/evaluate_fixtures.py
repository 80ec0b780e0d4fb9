"""Tiny stand-ins for the evaluate tests: a 44-token word-level tokenizer, 1-layer Llama models,
token files, a separable classify task, and a params.yaml with a small evaluate section.
conftest.py's `workspace` lays them out as a project."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from params_fixtures import ROOT, as_dict, merged

if TYPE_CHECKING:
    from transformers import LlamaConfig, LlamaForCausalLM

WORDS = [f"w{i}" for i in range(40)]
SPECIALS = ["<|endoftext|>", "<pad>", "<mask>", "<unk>"]
VOCAB = len(SPECIALS) + len(WORDS)


def save_tokenizer(path: Path) -> None:
    """A word-level tokenizer over SPECIALS + WORDS (w_i has id 4 + i), saved like a model's."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(SPECIALS + WORDS)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="<unk>",
        pad_token="<pad>",
        eos_token="<|endoftext|>",
        mask_token="<mask>",
    )
    fast.save_pretrained(path)


def llama_config(vocab: int = VOCAB, **kw) -> LlamaConfig:
    """A 1-layer, 16-wide Llama config with a context of 8; `kw` goes to LlamaConfig."""
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=vocab, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=2, max_position_embeddings=8, pad_token_id=1, **kw,
    )  # fmt: skip


def save_clm(path: Path, vocab: int = VOCAB) -> LlamaForCausalLM:
    """A seeded, untrained causal LM and its tokenizer saved in `path`; returns the model."""
    import torch
    from transformers import LlamaForCausalLM

    torch.manual_seed(0)
    model = LlamaForCausalLM(llama_config(vocab))
    model.save_pretrained(path)
    save_tokenizer(path)
    return model


def write_tokens(root: Path, n_train: int = 300, n_valid: int = 100, n_bytes: bool = True) -> dict:
    """data/tokens under `root` as the tokenizer stage writes it; returns meta.json's content."""
    rng = np.random.default_rng(0)
    d = root / "data" / "tokens"
    d.mkdir(parents=True)
    # Skewed ids so the unigram baseline learns something; specials 0-3 rarely occur.
    train = rng.zipf(1.5, n_train).clip(0, len(WORDS) - 1).astype(np.uint16) + len(SPECIALS)
    valid = rng.zipf(1.5, n_valid).clip(0, len(WORDS) - 1).astype(np.uint16) + len(SPECIALS)
    train.tofile(d / "train.bin")
    valid.tofile(d / "valid.bin")
    meta = {
        "dtype": "uint16", "vocab_size": VOCAB, "eos_id": 0, "pad_id": 1, "mask_id": 2,
        "n_tokens": {"train": n_train, "valid": n_valid}, "n_docs": {"train": 3, "valid": 1},
    }  # fmt: skip
    if n_bytes:
        meta["n_bytes"] = {"train": 4 * n_train, "valid": 4 * n_valid}
    (d / "meta.json").write_text(json.dumps(meta))
    return meta


# evaluate's section for the workspace; every other section is the default profile's.
EVALUATE = {
    "device": "cpu",
    "batch_size": 4,
    "lm": {"max_batches": 2, "context_length": 0, "mask_prob": 0.15},
    "classify": {"max_length": 16, "bootstrap": 200, "tfidf_max_features": 100, "tfidf_ngram_max": 1},
    "ner": {"max_length": 16, "bootstrap": 200},
    "fewshot": {"ks": [0, 1], "n_test": 10, "verbalizer": ["w1", "w30"]},
    "robust": {"attack_budget": 3, "n_attack": 10},
    "privacy": {"n_samples": 2, "max_new_tokens": 4, "n_candidates": 10, "batch_size": 4},
    "samples": {"prompts": ["w1 w2", "w30"], "max_new_tokens": 3},  # within the context of 8
}


def write_params(root: Path) -> None:
    """params.yaml with EVALUATE, and collect's record of planting no canaries."""
    data = yaml.safe_load((ROOT / "params.yaml").read_text())
    data["seed"] = 5
    data["evaluate"] = merged("evaluate", EVALUATE)
    (root / "params.yaml").write_text(yaml.safe_dump(data))
    (root / "data" / "raw").mkdir(parents=True)
    canaries = as_dict("collect.canaries", count=0)
    (root / "data" / "raw" / "canaries.json").write_text(json.dumps(canaries))


def write_task(root: Path, n_test: int = 30) -> None:
    """data/tasks/classify under `root`: two labels that the words separate."""
    rng = np.random.default_rng(1)
    d = root / "data" / "tasks" / "classify"
    d.mkdir(parents=True)
    for split, n in (("train", 60), ("valid", 10), ("test", n_test)):
        labels = rng.integers(0, 2, n)
        # Label 1 texts use the upper half of the words, so TF-IDF can learn the task.
        texts = [" ".join(rng.choice(WORDS[20 * y : 20 * y + 20], 5)) for y in labels]
        pq.write_table(pa.table({"text": texts, "label": labels.astype(np.int64)}), d / f"{split}.parquet")
    (d / "labels.json").write_text(json.dumps(["negative", "positive"]))


def save_classifier(path: Path) -> None:
    """A seeded, untrained 2-label Llama classifier and its tokenizer saved in `path`."""
    import torch
    from transformers import LlamaForSequenceClassification

    torch.manual_seed(0)
    LlamaForSequenceClassification(llama_config(num_labels=2)).save_pretrained(path)
    save_tokenizer(path)
