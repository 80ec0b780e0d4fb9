"""Shared inputs of the finetune tests: tiny tokenizers and models saved like models/pretrain,
toy task data that a 2-layer model learns in seconds, and a params builder."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from stages.common.params import default_params
from stages.finetune.config import FinetuneParams, TextTrainParams

POS = ["great", "good", "lovely", "superb"]
NEG = ["awful", "bad", "boring", "terrible"]
FILLER = [
    "the",
    "a",
    "film",
    "plot",
    "actor",
    "scene",
    "movie",
    "story",
    "was",
    "is",
    "and",
    "it",
    "this",
    "very",
]
FILLER += ["quite"]
PEOPLE = [["Anna", "Karlsson"], ["Bob"], ["Chen", "Wei"], ["Dora"]]
PLACES = [["Paris"], ["New", "York"], ["Oslo"], ["Cape", "Town"]]
ORGS = [["Acme", "Corp"], ["Globex"], ["Initech"]]
NER_LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
SPECIALS = ["<pad>", "<eos>", "<mask>", "<unk>"]


def toy_texts(n: int, seed: int) -> tuple[list[str], list[int]]:
    """Filler words plus one sentiment word that decides the label: trivially separable."""
    rng = random.Random(seed)
    texts, labels = [], []
    for i in range(n):
        y = i % 2
        words = rng.choices(FILLER, k=rng.randint(3, 8))
        words.insert(rng.randint(0, len(words)), rng.choice(POS if y else NEG))
        texts.append(" ".join(words))
        labels.append(y)
    return texts, labels


def toy_ner_rows(n: int, seed: int) -> list[dict[str, Any]]:
    """Sentences of filler words and entities (some of two words), with IOB2 tags and offsets."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        words, tags = [], []
        for _ in range(rng.randint(2, 4)):
            for w in rng.choices(FILLER, k=rng.randint(1, 3)):
                words.append(w)
                tags.append("O")
            kind, names = rng.choice([("PER", PEOPLE), ("LOC", PLACES), ("ORG", ORGS)])
            for j, w in enumerate(rng.choice(names)):
                words.append(w)
                tags.append(("B-" if j == 0 else "I-") + kind)
        words.append(".")
        tags.append("O")
        starts, pos = [], 0
        for w in words:
            starts.append(pos)
            pos += len(w) + 1
        text = " ".join(words)
        ends = [s + len(w) for s, w in zip(starts, words)]
        rows.append({"id": f"n{seed}-{i}", "source": "toy", "text": text, "tokens": words})
        rows[-1] |= {"starts": starts, "ends": ends, "tags": tags}
    return rows


def write_parquet(path: Path, rows: list[dict[str, Any]] | dict[str, list]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table(rows) if isinstance(rows, dict) else pa.Table.from_pylist(rows)
    pq.write_table(table, path)


def write_classify(tasks_dir: Path, task: str = "classify", attacked: bool = False) -> None:
    """A classify-shaped task; `attacked` adds perturbation columns and attacked train copies."""
    d = tasks_dir / task
    for split, (n, seed) in {"train": (240, 1), "valid": (60, 2), "test": (60, 3)}.items():
        texts, labels = toy_texts(n, seed)
        cols: dict[str, list] = {"id": [f"{split}{i}" for i in range(n)], "text": texts, "label": labels}
        if attacked:
            cols |= {"orig_id": list(cols["id"]), "perturbation": [""] * n}
            if split == "train":  # attacked copies: the sentiment word in upper case, a typo'd filler
                for i in range(0, n, 4):
                    cols["id"].append(f"{split}{i}-a")
                    cols["text"].append(texts[i].upper().replace("THE", "teh"))
                    cols["label"].append(labels[i])
                    cols["orig_id"].append(f"{split}{i}")
                    cols["perturbation"].append("case+typo")
        write_parquet(d / f"{split}.parquet", cols)
    (d / "labels.json").write_text(json.dumps(["negative", "positive"]))


def write_ner(tasks_dir: Path) -> None:
    d = tasks_dir / "ner"
    for split, (n, seed) in {"train": (200, 1), "valid": (50, 2), "test": (50, 3)}.items():
        write_parquet(d / f"{split}.parquet", toy_ner_rows(n, seed))
    (d / "labels.json").write_text(json.dumps(NER_LABELS))


def write_domain(tasks_dir: Path) -> None:
    """Text with a strong pattern (a fixed cycle of words) that continued pretraining picks up fast."""
    rng = random.Random(5)
    cycle = ["def", "return", "import", "class", "lambda", "yield"]
    for split, n in {"train": 120, "valid": 30, "test": 30}.items():
        texts = []
        for _ in range(n):
            k = rng.randrange(len(cycle))
            texts.append(" ".join(cycle[(k + j) % len(cycle)] for j in range(rng.randint(8, 20))))
        write_parquet(
            tasks_dir / "domain" / f"{split}.parquet", {"id": [f"d{i}" for i in range(n)], "text": texts}
        )


def word_tokenizer(extra: list[str] = ()):
    """A word-level tokenizer over the toy vocabulary (offsets from a whitespace split)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    words = POS + NEG + FILLER + [w for names in PEOPLE + PLACES + ORGS for w in names] + [".", *extra]
    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator([" ".join(words)], trainers.WordLevelTrainer(special_tokens=SPECIALS))
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>", mask_token="<mask>", unk_token="<unk>"
    )


def bpe_tokenizer(texts: list[str], vocab_size: int = 300):
    """A byte-level BPE like the tokenizer stage trains: small, so words split into subwords."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.post_processor = processors.ByteLevel(trim_offsets=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>", mask_token="<mask>"
    )


def tiny_model(kind: str, tok, max_positions: int = 64):
    from transformers import LlamaConfig, LlamaForCausalLM, ModernBertConfig, ModernBertForMaskedLM

    common = {"vocab_size": len(tok), "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2}
    common |= {
        "num_attention_heads": 2,
        "max_position_embeddings": max_positions,
        "pad_token_id": tok.pad_token_id,
    }
    if kind == "llama":
        return LlamaForCausalLM(LlamaConfig(**common, num_key_value_heads=2, eos_token_id=tok.eos_token_id))
    ids = {k: tok.eos_token_id for k in ("bos_token_id", "eos_token_id", "cls_token_id", "sep_token_id")}
    return ModernBertForMaskedLM(ModernBertConfig(**common, **ids, mask_token_id=tok.mask_token_id))


def save_pretrained_like(path: Path, kind: str, tok, max_positions: int = 64) -> Path:
    """A models/pretrain look-alike: save_pretrained model + tokenizer (seed torch first)."""
    tiny_model(kind, tok, max_positions).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def train_params(**kw) -> TextTrainParams:
    base = {"lr": 3e-3, "epochs": 6, "batch_size": 16, "max_length": 16, "patience": 2, "log_every": 5}
    return default_params("finetune.classify", **(base | kw))


def params(tasks: tuple[str, ...] = ("classify",), **sections) -> FinetuneParams:
    """FinetuneParams in fp32 (bf16 autocast only pays off on matrices far larger than these),
    with a fast toy section for every listed task unless given."""
    budget = {"lr": 3e-3, "batch_size": 16, "patience": 2, "log_every": 5}
    defaults = {
        "classify": train_params(),
        "ner": default_params("finetune.ner", **(budget | {"lr": 5e-3}), max_length=64, epochs=4),
        "domain": default_params(
            "finetune.domain",
            **(budget | {"batch_size": 8}),
            epochs=3,
            context_length=16,
            max_steps=0,
            eval_every=0,
            valid_windows=0,
        ),
        "adversarial": default_params(
            "finetune.adversarial", adv_steps=2, adv_lr=0.05, adv_eps=0.1, init_mag=0.05
        ),  # embeds: ~0.1 a token
    }
    needed = {s for t in tasks for s in ({"adversarial", "classify"} if t == "adversarial" else {t})}
    chosen = dict.fromkeys(defaults) | {s: defaults[s] for s in needed} | sections
    return FinetuneParams(tasks=tasks, device="auto", precision="fp32", **chosen)
