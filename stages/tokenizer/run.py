"""The tokenizer stage: split documents, train a byte-level BPE, pack token files.

    python -m stages.tokenizer

Reads data/dedup/part-*.parquet; writes data/tokenizer/ (loads with AutoTokenizer),
data/tokens/{train.bin, valid.bin, meta.json, valid_ids.txt} and metrics/tokenizer.json.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from stages.common.errors import DataError
from stages.common.io import atomic_dir, count_docs, iter_docs, write_json, write_metrics
from stages.common.params import load_section, load_seed
from stages.common.runtime import progress
from stages.tokenizer.config import EOS_TOKEN, MASK_TOKEN, PAD_TOKEN, TokenizerParams
from stages.tokenizer.encode import SPLITS, SplitStats, pack_tokens
from stages.tokenizer.split import is_valid_doc
from stages.tokenizer.train import save_tokenizer, train_tokenizer

log = logging.getLogger(__name__)

DEDUP_DIR = Path("data/dedup")
TOKENIZER_DIR = Path("data/tokenizer")
TOKENS_DIR = Path("data/tokens")
METRICS_FILE = Path("metrics/tokenizer.json")


def split_docs(
    in_dir: Path, seed: int, valid_fraction: float, skipped: Counter
) -> Iterator[tuple[str, str, str]]:
    """Stream (split, id, text) for every usable document; count the unusable ones in `skipped`."""
    total = count_docs(in_dir)
    for i, doc in enumerate(progress(iter_docs(in_dir, columns=["id", "text"]), "documents", "doc", total)):
        doc_id, text = doc["id"], doc["text"]
        if not doc_id:
            raise DataError(
                f"{in_dir}: document #{i} has no id; every document needs one to be split. "
                "Rerun the stages before (dvc repro dedup)"
            )
        if not text or not text.strip():
            skipped["empty_text"] += 1
            continue
        yield ("valid" if is_valid_doc(doc_id, seed, valid_fraction) else "train"), doc_id, text


def run(cfg: TokenizerParams, seed: int, in_dir: Path, tok_dir: Path, tokens_dir: Path) -> dict:
    """Train, save and pack; returns the metrics dict. Paths are arguments so tests can use tmp dirs."""
    # The stage never forks, so the Rust thread pool is safe (stages.common.stage turns it off).
    os.environ["TOKENIZERS_PARALLELISM"] = "true"
    t0 = time.perf_counter()
    skipped: Counter = Counter()
    n_train = 0

    def train_texts() -> Iterator[str]:
        nonlocal n_train
        for split, _, text in split_docs(in_dir, seed, cfg.valid_fraction, skipped):
            if split == "train":
                n_train += 1
                yield text

    tok = train_tokenizer(train_texts(), cfg)
    if n_train == 0:
        raise DataError(
            f"{in_dir}: the train split is empty (valid_fraction={cfg.valid_fraction}); "
            "add documents or lower tokenizer.valid_fraction"
        )
    t_train = time.perf_counter() - t0
    ids = {name: tok.token_to_id(name) for name in (EOS_TOKEN, PAD_TOKEN, MASK_TOKEN)}
    with atomic_dir(tok_dir) as tdir, atomic_dir(tokens_dir) as kdir:
        save_tokenizer(tok, tdir)
        # The second pass re-reads the shards rather than holding the corpus in memory.
        skipped.clear()
        docs = split_docs(in_dir, seed, cfg.valid_fraction, skipped)
        dtype, stats = pack_tokens(docs, tok, kdir, cfg.batch_docs, ids[EOS_TOKEN])
        if stats["valid"].n_docs == 0:
            raise DataError(
                f"{in_dir}: the valid split is empty ({stats['train'].n_docs} documents, "
                f"valid_fraction={cfg.valid_fraction}); raise tokenizer.valid_fraction or add documents"
            )
        meta = _meta(dtype.name, tok.get_vocab_size(), ids, stats)
        write_json(kdir / "meta.json", meta)
        (kdir / "valid_ids.txt").write_text(
            "".join(f"{i}\n" for i in stats["valid"].doc_ids), encoding="utf-8"
        )
    for reason, n in skipped.items():
        log.warning("skipped %d documents: %s", n, reason)
    return _metrics(meta, stats, skipped, t_train, time.perf_counter() - t0)


def _meta(dtype: str, vocab_size: int, ids: dict[str, int], stats: dict[str, SplitStats]) -> dict:
    return {
        "dtype": dtype,
        "vocab_size": vocab_size,
        "eos_id": ids[EOS_TOKEN],
        "pad_id": ids[PAD_TOKEN],
        "mask_id": ids[MASK_TOKEN],
        # n_tokens counts the eos after each document: it is the length of the .bin file.
        "n_tokens": {s: stats[s].n_tokens for s in SPLITS},
        "n_bytes": {s: stats[s].n_bytes for s in SPLITS},
        "n_docs": {s: stats[s].n_docs for s in SPLITS},
    }


def _metrics(meta: dict, stats: dict[str, SplitStats], skipped: Counter, t_train: float, wall: float) -> dict:
    v = stats["valid"]
    content = v.n_tokens - v.n_docs  # the separators are not text
    return {
        "vocab_size": meta["vocab_size"],
        "valid_bytes_per_token": round(v.n_bytes / max(content, 1), 4),
        "valid_tokens_per_word": round(content / max(v.n_words, 1), 4),
        "vocab_in_use": {s: int((stats[s].id_counts > 0).sum()) for s in SPLITS},
        "n_tokens": meta["n_tokens"],
        "n_bytes": meta["n_bytes"],
        "n_docs": meta["n_docs"],
        "skipped": dict(skipped),
        "train_seconds": round(t_train, 2),
        "wall_seconds": round(wall, 2),
    }


def main() -> None:
    cfg = load_section("tokenizer")
    metrics = run(cfg, load_seed(), DEDUP_DIR, TOKENIZER_DIR, TOKENS_DIR)
    write_metrics(METRICS_FILE, metrics)
    log.info(
        "vocab %d; train %d tokens, valid %d tokens; %.2f bytes/token on valid",
        metrics["vocab_size"],
        metrics["n_tokens"]["train"],
        metrics["n_tokens"]["valid"],
        metrics["valid_bytes_per_token"],
    )
