"""Run text-dedup (exact_hash, minhash) in-process and map its output back to our rows.

The stage itself runs out of core (run.py, minhash.py); this in-memory path is the reference
that its tests and the dedup benchmarks compare it with.

text-dedup reads a dataset and writes the surviving records with `save_to_disk`. We hand
it a temporary parquet of (`dedup_row`, `text`), so every survivor carries its row
number back, and we check the answer before trusting it: exact survivors must cover
every removed text, and each MinHash cluster must keep exactly one document.

Everything text-dedup and `datasets` write (input, cache, output) lives in a temporary
directory outside the repository that is removed afterwards.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from stages.common.errors import PipelineError
from stages.dedup.config import NearParams
from stages.dedup.ngrams import words
from stages.dedup.shuffle import UnionFind

log = logging.getLogger(__name__)

ROW = "dedup_row"


@dataclass(frozen=True)
class NearResult:
    """Which rows survive near-dedup, and the clusters (two or more rows) they stand for."""

    kept: frozenset[int]
    clusters: tuple[tuple[int, ...], ...]


@contextlib.contextmanager
def _workdir() -> Iterator[Path]:
    """A temp dir for text-dedup and the `datasets` cache, never inside the repository."""
    with tempfile.TemporaryDirectory(prefix="dedup-textdedup-") as tmp:
        old = os.environ.get("HF_DATASETS_CACHE")
        os.environ["HF_DATASETS_CACHE"] = str(Path(tmp) / "hf-cache")
        os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
        try:
            yield Path(tmp)
        finally:
            if old is None:
                os.environ.pop("HF_DATASETS_CACHE", None)
            else:
                os.environ["HF_DATASETS_CACHE"] = old


def _no_bar(iterable=None, *args, **kwargs):
    return iterable


def _quiet() -> None:
    """text-dedup logs a timing table through rich; keep our log to our own summary."""
    logging.getLogger("text_dedup").setLevel(logging.WARNING)
    if os.environ.get("PIPELINE_NO_PROGRESS"):
        import datasets
        from text_dedup import exact_hash, minhash

        datasets.disable_progress_bars()
        # text-dedup calls tqdm directly, with no switch to turn its bars off.
        for module in (exact_hash, minhash):
            module.tqdm = _no_bar


def _write_input(rows: Sequence[int], texts: Sequence[str], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({ROW: pa.array(rows, pa.int64()), "text": pa.array(texts, pa.string())})
    pq.write_table(table, path)


def _read_rows(out_dir: Path) -> list[int]:
    from datasets import load_from_disk

    return list(load_from_disk(str(out_dir))[ROW])


def _io_args(tmp: Path, num_proc: int):
    from text_dedup.utils import IOArgs

    return IOArgs(
        path="parquet",
        data_files=str(tmp / "in.parquet"),
        split="train",
        cache_dir=str(tmp / "cache"),
        output=str(tmp / "out"),
        num_proc=num_proc,
        debug=True,  # minhash then pickles its union-find, our only view of the clusters
        clean_cache=True,
    )


def exact_keep(rows: Sequence[int], texts: Sequence[str], num_proc: int) -> set[int]:
    """Rows that survive text-dedup's exact_hash (the first copy of each text is kept)."""
    if len(rows) < 2:
        return set(rows)
    from text_dedup import exact_hash
    from text_dedup.utils import ExactHashArgs, MetaArgs

    _quiet()
    with _workdir() as tmp:
        _write_input(rows, texts, tmp / "in.parquet")
        exact_hash.main.callback(
            io_args=_io_args(tmp, num_proc),
            meta_args=MetaArgs(column="text", idx_column=ROW),
            exact_hash_args=ExactHashArgs(hash_func="xxh3"),
        )
        kept = set(_read_rows(tmp / "out"))
    _check_exact(rows, texts, kept)
    return kept


def _check_exact(rows: Sequence[int], texts: Sequence[str], kept: set[int]) -> None:
    if not kept <= set(rows):
        raise PipelineError("text-dedup exact_hash returned rows that were not in its input; report a bug")
    kept_texts = {t for r, t in zip(rows, texts) if r in kept}
    if len(kept_texts) != len(kept):
        raise PipelineError("text-dedup exact_hash kept two copies of one text; its output cannot be trusted")
    lost = [r for r, t in zip(rows, texts) if r not in kept and t not in kept_texts]
    if lost:
        raise PipelineError(
            f"text-dedup exact_hash dropped {len(lost)} documents (first row {lost[0]}) whose text "
            "no kept document has; its output cannot be mapped back, so the stage stops"
        )


def minhash_near(
    rows: Sequence[int], texts: Sequence[str], params: NearParams, seed: int, num_proc: int
) -> NearResult:
    """Cluster rows with text-dedup's MinHash-LSH; the first row of each cluster survives."""
    if len(rows) < 2:
        return NearResult(frozenset(rows), ())
    import numpy as np
    from text_dedup import minhash
    from text_dedup.utils import MetaArgs, MinHashArgs

    _quiet()
    # text-dedup draws its permutations from a module-level RNG seeded with a constant;
    # reseed it from params so that the seed, not the call count, decides the result.
    minhash.RNG = np.random.RandomState(seed % 2**32)
    # text-dedup splits on every non-word character, so "a  b" and "a b" share no
    # shingle; hash lower-cased words joined by one space to ignore layout and punctuation.
    normalized = [" ".join(words(t)) for t in texts]
    with _workdir() as tmp:
        _write_input(rows, normalized, tmp / "in.parquet")
        minhash.main.callback(
            io_args=_io_args(tmp, num_proc),
            meta_args=MetaArgs(column="text", idx_column=ROW),
            # min_length=0: text-dedup otherwise silently drops documents under 5 words.
            minhash_args=MinHashArgs(
                ngram=params.ngram,
                min_length=0,
                num_perm=params.num_perm,
                threshold=params.threshold,
                hash_func=params.hash_func,
            ),
        )
        kept = set(_read_rows(tmp / "out"))
        with open(tmp / "out" / "uf.pkl", "rb") as f:
            uf = pickle.load(f)  # written by text-dedup just above, in our own temp dir
    return _clusters_from_union_find(rows, kept, uf)


def _clusters_from_union_find(rows: Sequence[int], kept: set[int], uf) -> NearResult:
    clusters = UnionFind(uf.parent).components()
    in_cluster = {r for c in clusters for r in c}
    for c in clusters:
        n_kept = sum(r in kept for r in c)
        if n_kept != 1:
            raise PipelineError(
                f"text-dedup minhash kept {n_kept} documents of the near-duplicate cluster with rows "
                f"{list(c[:5])}...; expected exactly one, so its output cannot be mapped back"
            )
    lost = [r for r in rows if r not in kept and r not in in_cluster]
    if lost or not kept <= set(rows):
        raise PipelineError(
            f"text-dedup minhash dropped {len(lost)} documents (first row {lost[:1]}) that are in no "
            "near-duplicate cluster; its output cannot be mapped back, so the stage stops"
        )
    # text-dedup keeps its union-find root, which depends on union order; keep the first
    # row of each cluster instead, as exact dedup does, so the choice is easy to explain.
    dropped = {r for c in clusters for r in c[1:]}
    return NearResult(frozenset(r for r in rows if r not in dropped), clusters)
