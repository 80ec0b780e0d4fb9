"""The `domain` task: Python's own documentation, for domain-adaptive continued pretraining.

Two sources, both shipped with every Python and kept out of the pretraining corpus:
- topics:     `pydoc_data.topics.topics`, the `help()` topics (one document per topic);
- docstrings: the standard library's sources, parsed with `ast` and never imported: one
              document per module (its docstring, then each class and function docstring).
              Folders in `exclude_dirs` (tests, idlelib, site-packages, ...) are skipped; a
              file that does not parse is counted and logged, not fatal.

Candidates are visited in an order seeded by a hash of their id, and each is split by
another hash of its id, so a document's split does not depend on which others exist. The
texts depend on the running Python: metrics record its version and a sha256 of the texts.
Writes `<out>/domain/{train,valid,test}.parquet` (id, source, text).
"""

from __future__ import annotations

import ast
import hashlib
import logging
import sys
import sysconfig
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stages.common.docstrings import module_docstrings
from stages.common.errors import DataError
from stages.common.runtime import progress
from stages.tasks.config import DomainTaskParams
from stages.tasks.split import SPLITS

log = logging.getLogger(__name__)

SOURCE_NAMES = {"topics": "pydoc_topics", "docstrings": "stdlib_docstrings"}


@dataclass(frozen=True)
class Doc:
    id: str
    source: str
    text: str


def unit_hash(*parts: object) -> float:
    """A number in [0, 1) fixed by `parts`: a seeded, order-free coin for ids."""
    digest = hashlib.sha256("\0".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def module_name(rel: Path) -> str:
    parts = list(rel.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def stdlib_modules(root: Path, cfg: DomainTaskParams) -> dict[str, Path]:
    """Module name -> source file, skipping excluded folders and (unless asked) private modules."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if set(rel.parts[:-1]) & set(cfg.exclude_dirs):
            continue
        name = module_name(rel)
        if not name or (not cfg.include_private and any(p.startswith("_") for p in name.split("."))):
            continue
        out[name] = path
    return out


def parse_module(path: Path) -> str:
    """The module's docstrings as one text; SyntaxError/ValueError if it does not parse."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # old escape sequences in docstrings warn, harmlessly
        tree = ast.parse(path.read_bytes(), filename=str(path))
    return "\n\n".join(module_docstrings(tree))


def candidates(cfg: DomainTaskParams, root: Path) -> dict[str, tuple[str, Callable[[], str]]]:
    """Document id -> (source, loader of its text), for every configured source."""
    out: dict[str, tuple[str, Callable[[], str]]] = {}
    if "topics" in cfg.sources:
        from pydoc_data.topics import topics

        for name, text in topics.items():
            out[f"topics/{name}"] = (SOURCE_NAMES["topics"], lambda t=text: t.strip())
    if "docstrings" in cfg.sources:
        for name, path in stdlib_modules(root, cfg).items():
            out[f"docstrings/{name}"] = (SOURCE_NAMES["docstrings"], lambda p=path: parse_module(p))
    return out


def collect_docs(cfg: DomainTaskParams, seed: int, root: Path, dropped: Counter) -> list[Doc]:
    """Up to `max_docs` documents of at least `min_chars`, in a seeded order over all candidates.

    Visiting in a seeded order and stopping at `max_docs` samples without parsing every file.
    """
    todo = candidates(cfg, root)
    order = sorted(todo, key=lambda i: unit_hash(seed, "order", i))
    docs: list[Doc] = []
    for visited, doc_id in enumerate(progress(order, desc="domain: read", unit="docs"), start=1):
        source, load = todo[doc_id]
        try:
            text = load()
        except (SyntaxError, ValueError, UnicodeDecodeError) as e:
            dropped["parse_error"] += 1
            log.warning("domain: %s does not parse (%s); skipped", doc_id, e)
            continue
        if len(text) < cfg.min_chars:
            dropped["too_short"] += 1
            continue
        docs.append(Doc(doc_id, source, text))
        if cfg.max_docs and len(docs) == cfg.max_docs:
            dropped["sampled_out"] = len(order) - visited
            break
    return sorted(docs, key=lambda d: d.id)


def split_of(doc_id: str, cfg: DomainTaskParams, seed: int) -> str:
    u = unit_hash(seed, "split", doc_id)
    return (
        "test"
        if u < cfg.test_fraction
        else "valid"
        if u < cfg.test_fraction + cfg.valid_fraction
        else "train"
    )


def texts_sha256(docs: list[Doc]) -> str:
    h = hashlib.sha256()
    for d in docs:
        h.update(f"{d.id}\0{d.text}\0".encode())
    return h.hexdigest()


def write_split(path: Path, docs: list[Doc]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = {k: pa.array([getattr(d, k) for d in docs], pa.string()) for k in ("id", "source", "text")}
    pq.write_table(pa.table(cols), path, compression="zstd")


def build(cfg: DomainTaskParams, seed: int, out_dir: Path) -> dict[str, Any]:
    """Build the task into `out_dir` (created) and return its metrics."""
    dropped: Counter = Counter()
    docs = collect_docs(cfg, seed, stdlib_root(), dropped)
    splits = {name: [d for d in docs if split_of(d.id, cfg, seed) == name] for name in SPLITS}
    empty = [name for name, rows in splits.items() if not rows]
    if empty:
        raise DataError(
            f"domain: {len(docs)} document(s) after filtering leave split(s) {empty} empty; raise "
            "tasks.domain.max_docs (0 = all), lower tasks.domain.min_chars or add tasks.domain.sources"
        )
    for reason, n in sorted(dropped.items()):
        log.info("domain: dropped %d document(s): %s", n, reason)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, rows in splits.items():
        write_split(out_dir / f"{name}.parquet", rows)
    return {
        "python_version": sys.version.split()[0],
        "texts_sha256": texts_sha256(docs),
        "dropped": dict(sorted(dropped.items())),
        "splits": {
            name: {
                "rows": len(rows),
                "chars": sum(len(d.text) for d in rows),
                "sources": dict(sorted(Counter(d.source for d in rows).items())),
            }
            for name, rows in splits.items()
        },
    }
