"""Decontamination: find pre-training documents that share a long word n-gram with the
validation or test text of any fine-tuning task, so evaluation never scores memorised text.

Every `ngram`-word window of every task text is indexed. A task text shorter than
`ngram` words but at least `min_words` long is indexed whole, since short evaluation
items (tweets, one-line reviews) would otherwise never match. Hash hits are confirmed
on the words themselves, so a hash collision can never drop a document.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path

import numpy as np

from stages.common.errors import DataError
from stages.dedup.config import DecontamParams
from stages.dedup.ngrams import window_hashes, word_ids, words

log = logging.getLogger(__name__)

SPLITS = ("valid", "test")


def task_files(tasks_dir: Path) -> list[Path]:
    """The evaluation files of every task: `<tasks_dir>/*/valid.parquet` and `test.parquet`."""
    if not tasks_dir.is_dir():
        raise DataError(
            f"{tasks_dir}: not found, so pre-training data cannot be decontaminated against the "
            "evaluation sets; run the tasks stage first (dvc repro tasks), or set "
            "dedup.decontaminate.enabled: false"
        )
    files = sorted(p for split in SPLITS for p in tasks_dir.glob(f"*/{split}.parquet"))
    if not files:
        raise DataError(
            f"{tasks_dir}: holds no */valid.parquet or */test.parquet; rerun the tasks stage "
            "(dvc repro tasks) or set dedup.decontaminate.enabled: false"
        )
    return files


def read_task_texts(path: Path) -> list[str]:
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    if "text" not in schema.names:
        raise DataError(
            f"{path}: has no `text` column (columns: {schema.names}); the tasks stage must write "
            "the evaluation text there so that dedup can decontaminate against it"
        )
    texts = pq.read_table(path, columns=["text"]).column("text").to_pylist()
    return [t for t in texts if t]


class TaskIndex:
    """Word n-grams of evaluation texts, by length, with their hashes for vector lookup."""

    def __init__(self, texts: list[str], params: DecontamParams):
        self.n = params.ngram
        self.grams: dict[int, set[tuple[str, ...]]] = defaultdict(set)
        hashes: dict[int, list[np.ndarray]] = defaultdict(list)
        self.short_texts = 0
        self.unindexed_texts = 0  # shorter than min_words: too short to match safely
        for text in texts:
            toks = words(text)
            if len(toks) >= self.n:
                length = self.n
                self.grams[length].update(zip(*(toks[i:] for i in range(length))))
            elif params.min_words and len(toks) >= params.min_words:
                length = len(toks)
                self.grams[length].add(tuple(toks))
                self.short_texts += 1
            else:
                self.unindexed_texts += 1
                continue
            hashes[length].append(window_hashes(word_ids(toks), length))
        self.hashes = {length: np.unique(np.concatenate(hs)) for length, hs in hashes.items()}

    @property
    def size(self) -> int:
        return sum(len(g) for g in self.grams.values())

    def match(self, text: str) -> str | None:
        """The first task n-gram that `text` contains, or None."""
        return self.match_words(words(text))

    def match_words(self, toks: list[str]) -> str | None:
        """`match` on a text's `words`, for a caller that has them already."""
        if not toks or not self.grams:
            return None
        ids = word_ids(toks)
        for length in sorted(self.grams, reverse=True):
            hits = np.flatnonzero(_member(window_hashes(ids, length), self.hashes[length]))
            for i in hits:
                gram = tuple(toks[i : i + length])
                if gram in self.grams[length]:
                    return " ".join(gram)
        return None


def _member(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    """Which `values` occur in `sorted_set`, by binary search (np.isin re-sorts per call)."""
    if len(sorted_set) == 0:
        return np.zeros(len(values), dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_set, values), len(sorted_set) - 1)
    return sorted_set[pos] == values


def build_index(tasks_dir: Path, params: DecontamParams) -> tuple[TaskIndex, dict[str, int]]:
    """Index every task's valid/test text; returns the index and counts for the metrics."""
    files = task_files(tasks_dir)
    texts: list[str] = []
    for f in files:
        texts.extend(read_task_texts(f))
    index = TaskIndex(texts, params)
    log.info(
        "decontamination: %d task texts from %d files -> %d n-grams (%d short texts matched whole, "
        "%d too short to match)",
        len(texts),
        len(files),
        index.size,
        index.short_texts,
        index.unindexed_texts,
    )
    stats = {
        "task_files": len(files),
        "task_texts": len(texts),
        "task_ngrams": index.size,
        "task_texts_matched_whole": index.short_texts,
        "task_texts_too_short": index.unindexed_texts,
    }
    return index, stats
