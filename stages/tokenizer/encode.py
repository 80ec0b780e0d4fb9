"""Encode documents into flat token files: `train.bin` and `valid.bin`, and `valid_ids.txt`.

Each document's ids are followed by the eos id, so a window sampled from the file sees
document boundaries. Documents are encoded in batches (`encode_batch` runs on all
cores) and appended to the files as they come, so the corpus is never held in memory:
memory is one batch plus a vocabulary-sized count per split, whatever the corpus size.
On the ray engine each input shard is packed into files of its own by a worker, and
`concat_chunks` appends them in shard order, giving the same bytes.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stages.common.errors import DataError

log = logging.getLogger(__name__)

SPLITS = ("train", "valid")
VALID_IDS = "valid_ids.txt"  # one valid document id a line, in file order


def token_dtype(vocab_size: int) -> np.dtype:
    """The smallest unsigned dtype that holds every id of a `vocab_size` vocabulary."""
    if vocab_size <= 2**16 - 1:
        return np.dtype(np.uint16)
    if vocab_size <= 2**32 - 1:
        return np.dtype(np.uint32)
    raise DataError(f"vocab size {vocab_size} does not fit uint32 token files; lower tokenizer.vocab_size")


@dataclass
class SplitStats:
    """What was written to one split's token file."""

    n_tokens: int = 0
    n_bytes: int = 0
    n_words: int = 0
    n_docs: int = 0
    id_counts: np.ndarray | None = None

    def merge(self, other: SplitStats) -> None:
        self.n_tokens += other.n_tokens
        self.n_bytes += other.n_bytes
        self.n_words += other.n_words
        self.n_docs += other.n_docs
        if other.id_counts is not None:
            self.id_counts = (
                other.id_counts.copy() if self.id_counts is None else self.id_counts + other.id_counts
            )


def _batches(docs: Iterable[tuple[str, str, str]], size: int) -> Iterator[list[tuple[str, str, str]]]:
    batch: list[tuple[str, str, str]] = []
    for d in docs:
        batch.append(d)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _encode(tok, texts: list[str]) -> list[list[int]]:
    # encode_batch_fast skips offset tracking, which we never use.
    fn = getattr(tok, "encode_batch_fast", tok.encode_batch)
    return [e.ids for e in fn(texts, add_special_tokens=False)]


def pack_tokens(
    docs: Iterable[tuple[str, str, str]],
    tok,
    out_dir: Path,
    batch_docs: int,
    eos_id: int,
) -> tuple[np.dtype, dict[str, SplitStats]]:
    """Encode (split, doc_id, text) triples into `out_dir/{train,valid}.bin` and `out_dir/valid_ids.txt`.

    Returns the dtype and per-split counts. Raises DataError when an id does not fit the
    dtype (a tokenizer whose vocabulary outgrew it).
    """
    vocab = tok.get_vocab_size()
    dtype = token_dtype(vocab)
    limit = np.iinfo(dtype).max
    stats = {s: SplitStats(id_counts=np.zeros(vocab, dtype=np.int64)) for s in SPLITS}
    with contextlib.ExitStack() as stack:
        files = {s: stack.enter_context(open(out_dir / f"{s}.bin", "wb")) for s in SPLITS}
        valid_ids = stack.enter_context(open(out_dir / VALID_IDS, "w", encoding="utf-8"))
        for batch in _batches(docs, batch_docs):
            encoded = _encode(tok, [text for _, _, text in batch])
            for (split, doc_id, text), ids in zip(batch, encoded, strict=True):
                arr = np.asarray(ids + [eos_id], dtype=np.int64)
                if arr.max() > limit or arr.max() >= vocab:
                    raise DataError(
                        f"document {doc_id!r}: token id {int(arr.max())} does not fit {dtype.name} "
                        f"(vocab {vocab}); retrain the tokenizer (dvc repro tokenizer)"
                    )
                files[split].write(arr.astype(dtype).tobytes())
                st = stats[split]
                st.n_tokens += arr.size
                st.n_bytes += len(text.encode("utf-8"))
                st.n_words += len(text.split())
                st.n_docs += 1
                st.id_counts += np.bincount(arr, minlength=vocab)
                if split == "valid":
                    valid_ids.write(f"{doc_id}\n")
    return dtype, stats


def concat_chunks(chunk_dirs: Iterable[Path], out_dir: Path) -> None:
    """Append each chunk folder's token files and valid ids, in order, to those of `out_dir`,
    deleting each chunk once copied; memory stays one copy buffer."""
    names = [f"{s}.bin" for s in SPLITS] + [VALID_IDS]
    with contextlib.ExitStack() as stack:
        outs = {n: stack.enter_context(open(out_dir / n, "wb")) for n in names}
        for chunk in chunk_dirs:
            for n in names:
                with open(chunk / n, "rb") as f:
                    shutil.copyfileobj(f, outs[n], 16 * 2**20)
            shutil.rmtree(chunk)
