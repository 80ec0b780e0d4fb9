"""The tokenizer stage: split documents, train a byte-level BPE, pack token files.

    python -m stages.tokenizer

Reads data/dedup/part-*.parquet; writes data/tokenizer/ (loads with AutoTokenizer),
data/tokens/{train.bin, valid.bin, meta.json, valid_ids.txt} and metrics/tokenizer.json.
The BPE trains on the train documents, or on a seeded sample of about `train_sample_bytes`
of them; the encoding pass runs on `engine` (stages/common/engine.py), local or ray.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from stages.common.engine import check_engine, map_jobs
from stages.common.errors import DataError
from stages.common.io import atomic_dir, count_docs, iter_docs, shard_paths, write_json, write_metrics
from stages.common.params import load_section, load_seed
from stages.common.runtime import progress
from stages.tokenizer.config import EOS_TOKEN, MASK_TOKEN, PAD_TOKEN, TokenizerParams
from stages.tokenizer.encode import SPLITS, SplitStats, concat_chunks, pack_tokens, token_dtype
from stages.tokenizer.split import in_train_sample, is_valid_doc
from stages.tokenizer.train import save_tokenizer, train_tokenizer

log = logging.getLogger(__name__)

DEDUP_DIR = Path("data/dedup")
TOKENIZER_DIR = Path("data/tokenizer")
TOKENS_DIR = Path("data/tokens")
METRICS_FILE = Path("metrics/tokenizer.json")


def split_docs(
    paths: Sequence[Path], seed: int, valid_fraction: float, skipped: Counter
) -> Iterator[tuple[str, str, str]]:
    """Stream (split, id, text) for every usable document of the shards `paths`; count the
    unusable ones in `skipped`."""
    docs = ((p, row, d) for p in paths for row, d in enumerate(iter_docs(paths=[p], columns=["id", "text"])))
    for path, row, doc in progress(docs, "documents", "doc", count_docs(paths=paths)):
        doc_id, text = doc["id"], doc["text"]
        if not doc_id:
            # The shard and its row, not a count over the corpus: the ray engine sees one shard a job.
            raise DataError(
                f"{path}: the document at row {row} has no id; every document needs one to be split. "
                "Rerun the stages before (dvc repro dedup)"
            )
        if not text or not text.strip():
            skipped["empty_text"] += 1
            continue
        yield ("valid" if is_valid_doc(doc_id, seed, valid_fraction) else "train"), doc_id, text


def sample_fraction(cfg: TokenizerParams, seed: int, in_dir: Path) -> float:
    """The share of train documents the BPE trains on: about `train_sample_bytes` of their text."""
    if not cfg.train_sample_bytes:
        return 1.0
    total = sum(
        len(t.encode("utf-8"))
        for s, _, t in split_docs(shard_paths(in_dir), seed, cfg.valid_fraction, Counter())
        if s == "train"
    )
    return min(1.0, cfg.train_sample_bytes / max(total, 1))


class ShardEncoder:
    """The ray engine's job function: (input shard, chunk folder) -> `pack_tokens` of that shard.
    The tokenizer travels as its JSON and is built by `setup`, once per worker."""

    def __init__(self, cfg: TokenizerParams, seed: int, tok_json: str, eos_id: int) -> None:
        self.cfg, self.seed, self.tok_json, self.eos_id = cfg, seed, tok_json, eos_id
        self.tok = None

    def setup(self) -> None:
        from tokenizers import Tokenizer

        self.tok = Tokenizer.from_str(self.tok_json)

    def __call__(self, job: tuple[Path, Path]) -> tuple[dict[str, SplitStats], Counter]:
        assert self.tok is not None, "map_jobs calls setup() before the first job"
        src, chunk = job
        chunk.mkdir(parents=True, exist_ok=True)
        skipped: Counter = Counter()
        docs = split_docs([src], self.seed, self.cfg.valid_fraction, skipped)
        _, stats = pack_tokens(docs, self.tok, chunk, self.cfg.batch_docs, self.eos_id)
        return stats, skipped


def encode(
    cfg: TokenizerParams, seed: int, in_dir: Path, tok, eos_id: int, out_dir: Path, skipped: Counter
) -> tuple[np.dtype, dict[str, SplitStats]]:
    """The encoding pass on `cfg.engine`: the same files and counts on both engines."""
    shards = shard_paths(in_dir)
    if check_engine(cfg.engine, "tokenizer.engine") == "local":
        docs = split_docs(shards, seed, cfg.valid_fraction, skipped)
        return pack_tokens(docs, tok, out_dir, cfg.batch_docs, eos_id)
    jobs = [(p, out_dir / "chunks" / f"{i:05d}") for i, p in enumerate(shards)]
    fn = ShardEncoder(cfg, seed, tok.to_str(), eos_id)
    workers = min(cfg.num_proc, len(jobs))
    results = list(map_jobs("ray", fn, jobs, workers=workers, desc="encode", unit="shard", total=len(jobs)))
    concat_chunks([chunk for _, chunk in jobs], out_dir)
    (out_dir / "chunks").rmdir()
    stats = {s: SplitStats() for s in SPLITS}
    for shard_stats, shard_skipped in results:
        skipped.update(shard_skipped)
        for s in SPLITS:
            stats[s].merge(shard_stats[s])
    dtype = token_dtype(tok.get_vocab_size())
    return dtype, stats


def run(cfg: TokenizerParams, seed: int, in_dir: Path, tok_dir: Path, tokens_dir: Path) -> dict:
    """Train, save and pack; returns the metrics dict. Paths are arguments so tests can use tmp dirs."""
    # The stage never forks, so the Rust thread pool is safe (stages.common.stage turns it off).
    os.environ["TOKENIZERS_PARALLELISM"] = "true"
    t0 = time.perf_counter()
    skipped: Counter = Counter()
    fraction = sample_fraction(cfg, seed, in_dir)
    n_train = n_sample = sample_bytes = 0

    def train_texts() -> Iterator[str]:
        nonlocal n_train, n_sample, sample_bytes
        for split, doc_id, text in split_docs(shard_paths(in_dir), seed, cfg.valid_fraction, skipped):
            if split == "train":
                n_train += 1
                if in_train_sample(doc_id, seed, fraction):
                    n_sample += 1
                    sample_bytes += len(text.encode("utf-8"))
                    yield text

    tok = train_tokenizer(train_texts(), cfg)
    if n_sample == 0:
        raise DataError(
            f"{in_dir}: the train split is empty (valid_fraction={cfg.valid_fraction}, "
            f"train_sample_bytes={cfg.train_sample_bytes}); add documents, lower tokenizer.valid_fraction "
            "or raise tokenizer.train_sample_bytes"
        )
    t_train = time.perf_counter() - t0
    ids = {name: tok.token_to_id(name) for name in (EOS_TOKEN, PAD_TOKEN, MASK_TOKEN)}
    with atomic_dir(tok_dir) as tdir, atomic_dir(tokens_dir) as kdir:
        save_tokenizer(tok, tdir)
        # The second pass re-reads the shards rather than holding the corpus in memory.
        skipped.clear()
        dtype, stats = encode(cfg, seed, in_dir, tok, ids[EOS_TOKEN], kdir, skipped)
        if stats["valid"].n_docs == 0:
            raise DataError(
                f"{in_dir}: the valid split is empty ({stats['train'].n_docs} documents, "
                f"valid_fraction={cfg.valid_fraction}); raise tokenizer.valid_fraction or add documents"
            )
        meta = _meta(dtype.name, tok.get_vocab_size(), ids, stats)
        write_json(kdir / "meta.json", meta)
    for reason, n in skipped.items():
        log.warning("skipped %d documents: %s", n, reason)
    metrics = _metrics(meta, stats, skipped, t_train, time.perf_counter() - t0)
    if cfg.train_sample_bytes:
        metrics["train_sample"] = {"docs": n_sample, "bytes": sample_bytes, "of_docs": n_train}
    return metrics


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
