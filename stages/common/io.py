"""Atomic outputs, metrics files of numbers with their detail beside them, and sharded parquet documents.

Every stage writes only its declared outs, whole, and atomically: into a temporary
sibling that is renamed into place at the end, so an interrupted run never leaves an
output that looks finished.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from stages.common.errors import DataError

# The document schema shared by collect, clean and dedup. `meta` is a JSON string so
# that any source can carry its own fields without changing the parquet schema.
DOC_COLUMNS = ("id", "text", "source", "origin", "license", "meta")

# The metrics files this process wrote: run_stage adds the stage's wall time to each at the end.
WRITTEN_METRICS: list[Path] = []


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths in one atomic step (Linux renameat2); False where the system can't."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False  # kernel or filesystem without RENAME_EXCHANGE
    raise OSError(err, os.strerror(err), str(a), None, str(b))


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def restore_dir(path: str | Path) -> None:
    """Put back the previous `path` where a save was killed between its two renames.

    Only the fallback swap (systems without renameat2) has that gap: `path` was moved
    aside whole to `.NAME.old-PID`, and the new folder never arrived.
    """
    path = Path(path)
    olds = sorted(path.parent.glob(f".{path.name}.old-*"), key=lambda p: p.stat().st_mtime)
    if olds and not (path.exists() or path.is_symlink()):
        os.replace(olds.pop(), path)
    for old in olds:
        _remove(old)


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary directory that replaces `path` when the block succeeds.

    Where `path` already exists the two are exchanged in one step, so a reader (or a
    kill) never finds `path` missing; `restore_dir` repairs the fallback's gap.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private; outputs are ordinary folders
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if not (path.exists() or path.is_symlink()):
        os.replace(tmp, path)
    elif _exchange(tmp, path):
        _remove(tmp)  # it now holds the previous `path`
    else:
        old = path.parent / f".{path.name}.old-{os.getpid()}"
        os.replace(path, old)
        os.replace(tmp, path)
        _remove(old)


@contextlib.contextmanager
def atomic_file(path: str | Path, mode: str = "w") -> Iterator[Any]:
    """Open a temporary sibling of `path` for writing; rename it into place on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; outputs are ordinary files
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json(path: str | Path, obj: Any) -> None:
    """Write `obj` as indented, key-sorted JSON, atomically."""
    with atomic_file(path) as f:
        json.dump(obj, f, indent=2, sort_keys=True, ensure_ascii=False)
        f.write("\n")


# The descriptive part of metrics file DIR/NAME.json (text, flags, lists, nulls) goes to
# DIR/info/NAME.json: metrics/info/pretrain.json, metrics/finetune/info/classify.json.
DETAIL_FOLDER = "info"


def is_number(value: Any) -> bool:
    """True for an int or float leaf of a metrics file (a bool is a flag, not a measurement)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def split_metrics(metrics: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(numbers, detail) of a nested metrics dict, each leaf in its nested place in one of them.

    Numbers are int and float leaves: what `dvc metrics show/diff` and `dvc exp show` compare.
    Everything else (text, bools, lists even of numbers, null) is detail. An empty dict stays
    with the numbers (it is a map of counts with none, e.g. skipped: {}); a dict that the split
    empties is left out of that side.
    """
    numbers: dict[str, Any] = {}
    detail: dict[str, Any] = {}
    for key, value in metrics.items():
        if isinstance(value, Mapping) and value:
            n, d = split_metrics(value)
            if n:
                numbers[key] = n
            if d:
                detail[key] = d
        elif isinstance(value, Mapping) or is_number(value):
            numbers[key] = value
        else:
            detail[key] = value
    return numbers, detail


def detail_path(path: str | Path) -> Path:
    """Where `write_metrics` puts the detail of metrics file `path`: info/<name> beside it."""
    path = Path(path)
    return path.parent / DETAIL_FOLDER / path.name


def write_metrics(path: str | Path, metrics: Mapping[str, Any], *, detail: bool = True) -> None:
    """Write a stage's metrics: the numbers to `path` (declared under `metrics:` in dvc.yaml),
    the rest to `detail_path(path)` (a plain out), both atomically and both every time (the
    detail may be {}), so each is always there for DVC.

    detail=False is for a file with nothing but numbers (evaluate's metrics.json, whose n/a
    figures are left out): a leaf of any other kind is then an error naming its key.
    """
    numbers, rest = split_metrics(metrics)
    if rest and not detail:
        keys = sorted(_leaf_keys(rest))
        raise ValueError(
            f"{path}: a metrics file holds numbers only, but {keys[:8]} are not int or float; "
            "leave them out or write them with detail=True"
        )
    if detail:
        write_json(detail_path(path), rest)
    write_json(path, numbers)
    WRITTEN_METRICS.append(Path(path))


def _leaf_keys(obj: Mapping[str, Any], prefix: str = "") -> list[str]:
    out = []
    for k, v in obj.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        out += _leaf_keys(v, key) if isinstance(v, Mapping) and v else [key]
    return out


def read_json(path: str | Path) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: not found; run the stage that writes it (dvc repro)") from None
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: not valid JSON ({e}); rerun the stage that writes it") from None


def doc_schema():
    import pyarrow as pa

    return pa.schema([(c, pa.string()) for c in DOC_COLUMNS])


class ShardWriter:
    """Write document dicts into `part-00000.parquet`, `part-00001.parquet`, ... in `out_dir`."""

    def __init__(self, out_dir: str | Path, shard_docs: int, schema=None):
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.shard_docs = shard_docs
        self.schema = schema or doc_schema()
        self.buffer: list[dict[str, Any]] = []
        self.shards = 0
        self.rows = 0

    def write(self, doc: dict[str, Any]) -> None:
        self.buffer.append(doc)
        if len(self.buffer) >= self.shard_docs:
            self.flush()

    def write_many(self, docs: Iterable[dict[str, Any]]) -> None:
        for d in docs:
            self.write(d)

    def flush(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self.buffer:
            return
        cols = {name: [d.get(name) for d in self.buffer] for name in self.schema.names}
        table = pa.table(cols, schema=self.schema)
        pq.write_table(table, self.out_dir / f"part-{self.shards:05d}.parquet", compression="zstd")
        self.shards += 1
        self.rows += len(self.buffer)
        self.buffer = []

    def close(self) -> None:
        self.flush()

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is None:
            self.close()


def shard_paths(in_dir: str | Path) -> list[Path]:
    """The parquet shards of a stage output, in order; a clear error if there are none."""
    in_dir = Path(in_dir)
    if not in_dir.is_dir():
        raise DataError(f"{in_dir}: not found; run the stage that writes it (dvc repro)")
    paths = sorted(in_dir.glob("part-*.parquet"))
    if not paths:
        raise DataError(f"{in_dir}: holds no part-*.parquet shards; rerun the stage that writes it")
    return paths


def _shards(in_dir: str | Path | None, paths: Sequence[Path] | None) -> Sequence[Path]:
    if paths is not None:
        return paths
    if in_dir is None:
        raise TypeError("give a stage output folder (in_dir) or its shards (paths)")
    return shard_paths(in_dir)


def iter_docs(
    in_dir: str | Path | None = None,
    columns: list[str] | None = None,
    batch_size: int = 1024,
    paths: Sequence[Path] | None = None,
) -> Iterator[dict[str, Any]]:
    """Stream documents from a directory of parquet shards without loading it whole; `paths`:
    these shards only, in this order, instead of all of `in_dir`'s."""
    import pyarrow.parquet as pq

    for p in _shards(in_dir, paths):
        pf = pq.ParquetFile(p)
        for batch in pf.iter_batches(batch_size=batch_size, columns=columns):
            yield from batch.to_pylist()


def count_docs(in_dir: str | Path | None = None, paths: Sequence[Path] | None = None) -> int:
    """The documents of `in_dir`'s shards (or of the shards `paths`), from the parquet footers."""
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(p).metadata.num_rows for p in _shards(in_dir, paths))
