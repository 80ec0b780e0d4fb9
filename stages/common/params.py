"""Typed, validated params.

`params.yaml` has one top-level section per stage, every key written out: the dataclasses
have no defaults, so params.yaml is the one place a default and its doc live. Where the
data comes from (package pins, sha256s, members) is in `sources.yaml`, whose `collect` and
`tasks` sections are merged into params.yaml's before parsing, and whose `pins` table
holds each pinned file once: an entry `pin: <name>` stands for that pin's keys.

Each section is parsed into a frozen dataclass that lives beside its stage
(`stages/<name>/config.py`), so that editing a stage's schema reruns only that stage. This
module holds the generic parser: it rejects unknown and missing keys, checks types, and
lets each dataclass check its own consistency in `__post_init__` by raising `ParamsError`
with a message that says what to change.

    from stages.common.params import load_section
    cfg = load_section("clean")          # -> stages.clean.config.CleanParams
"""

from __future__ import annotations

import dataclasses
import importlib
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

import yaml

from stages.common.errors import ParamsError

T = TypeVar("T")

PARAMS_FILE = Path("params.yaml")
SOURCES_FILE = Path("sources.yaml")
# The repository's own files: its sources file is read beside a params file that has none next
# to it, and its params.yaml is the default profile that `default_params` reads.
REPO_ROOT = Path(__file__).resolve().parents[2]
REPO_PARAMS = REPO_ROOT / PARAMS_FILE
REPO_SOURCES = REPO_PARAMS.with_name(SOURCES_FILE.name)

# section name -> "module:ClassName". Imported lazily so that a stage pays only for its own.
SECTIONS: dict[str, str] = {
    "collect": "stages.collect.config:CollectParams",
    "clean": "stages.clean.config:CleanParams",
    "dedup": "stages.dedup.config:DedupParams",
    "tokenizer": "stages.tokenizer.config:TokenizerParams",
    "pretrain": "stages.pretrain.config:PretrainParams",
    "tasks": "stages.tasks.config:TasksParams",
    "finetune": "stages.finetune.config:FinetuneParams",
    "evaluate": "stages.evaluate.config:EvaluateParams",
    "report": "stages.report.config:ReportParams",
}
# Top-level scalars shared by several stages.
SHARED: dict[str, type] = {"seed": int}
# Sections of sources.yaml merged into params.yaml's, and its table of pins.
SOURCE_SECTIONS = ("collect", "tasks")
PINS = "pins"


def section_class(name: str) -> type:
    """The dataclass that parses section `name`."""
    module, _, cls = SECTIONS[name].partition(":")
    return getattr(importlib.import_module(module), cls)


def read_yaml(path: Path | str = PARAMS_FILE) -> dict[str, Any]:
    """A YAML file's top-level mapping, or a ParamsError naming the file."""
    path = Path(path)
    if not path.exists():
        raise ParamsError(
            f"{path}: not found. Run from the repository root, or compose a profile: "
            "python -m stages.common.compose tiny"
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ParamsError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: expected a mapping of sections at the top level")
    return data


def sources_path(path: Path | str = PARAMS_FILE) -> Path:
    """The sources file read with params file `path`: the one beside it, else the repository's."""
    beside = Path(path).with_name(SOURCES_FILE.name)
    return beside if beside.exists() else REPO_SOURCES


def read_params(path: Path | str = PARAMS_FILE) -> dict[str, Any]:
    """params.yaml with the sources file's sections merged in and its pins expanded."""
    data = read_yaml(path)
    src_path = sources_path(path)
    sources = read_yaml(src_path)
    unknown = sorted(set(sources) - {PINS, *SOURCE_SECTIONS})
    if unknown:
        raise ParamsError(
            f"{src_path}: unknown top-level key(s) {unknown}; it holds only {[PINS, *SOURCE_SECTIONS]}"
        )
    pins = sources.get(PINS) or {}
    if not isinstance(pins, dict):
        raise ParamsError(f"{src_path}: {PINS}: expected a mapping of pin names to pinned files")
    for name in SOURCE_SECTIONS:
        if name in sources:
            expanded = _expand_pins(sources[name], pins, f"{src_path}: {name}")
            data[name] = _merge(data[name], expanded, name, path, src_path) if name in data else expanded
    return data


def _expand_pins(node: Any, pins: dict[str, Any], where: str) -> Any:
    """`node` with every mapping's `pin: <name>` replaced by that pin's keys."""
    if isinstance(node, list):
        return [_expand_pins(v, pins, f"{where}[{i}]") for i, v in enumerate(node)]
    if not isinstance(node, dict):
        return node
    out = {k: _expand_pins(v, pins, f"{where}.{k}") for k, v in node.items() if k != "pin"}
    if "pin" in node:
        name = node["pin"]
        if name not in pins or not isinstance(pins[name], dict):
            raise ParamsError(f"{where}.pin: {name!r} is not in {PINS}; pins are {sorted(pins)}")
        twice = sorted(set(out) & set(pins[name]))
        if twice:
            raise ParamsError(f"{where}: {twice} are set by pin {name!r} too; write them in the pin only")
        out = {**pins[name], **out}
    return out


def _merge(base: Any, extra: Any, key: str, path: Path | str, src_path: Path) -> Any:
    """Two files' parts of one section, merged; a key written in both is an error.

    A null in params.yaml (a task that is not built) turns its part of the sources file off.
    """
    if base is None:
        return None
    if not isinstance(base, dict) or not isinstance(extra, dict):
        raise ParamsError(f"{key}: set in both {path} and {src_path}; keep it in one of them")
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(base[k], v, f"{key}.{k}", path, src_path) if k in base else v
    return out


def _check_top_level(data: dict[str, Any], path: Path | str) -> None:
    known = set(SECTIONS) | set(SHARED)
    unknown = sorted(set(data) - known)
    if unknown:
        raise ParamsError(f"{path}: unknown top-level key(s) {unknown}; known sections are {sorted(known)}")
    missing = sorted(known - set(data))
    if missing:
        raise ParamsError(
            f"{path}: missing section(s) {missing}; copy them from the repository's params.yaml"
        )
    for key, typ in SHARED.items():
        _convert(data[key], typ, key)


def load_section(name: str, path: Path | str = PARAMS_FILE) -> Any:
    """Parse and validate one section (and the shared keys) of a params file."""
    data = read_params(path)
    _check_top_level(data, path)
    return _wrap(path, lambda: parse(section_class(name), data[name], name))


def load_seed(path: Path | str = PARAMS_FILE) -> int:
    """The shared `seed`, checked with the rest of the file's top level."""
    data = read_params(path)
    _check_top_level(data, path)
    return int(data["seed"])


def load_all(path: Path | str = PARAMS_FILE) -> dict[str, Any]:
    """Parse every section; used by tests and by `python -m stages.common.params`."""
    data = read_params(path)
    _check_top_level(data, path)
    out: dict[str, Any] = {k: data[k] for k in SHARED}
    for name in SECTIONS:
        out[name] = _wrap(path, lambda n=name: parse(section_class(n), data[n], n))
    return out


def default_params(key: str, path: Path | str | None = None, **changes: Any) -> Any:
    """The parsed dataclass at dotted `key` of the default params.yaml, with `changes` replaced.

    For tests and benchmarks that want the shipped values but a few fields:
    `default_params("clean.quality.c4", min_sentences=1)`.
    """
    section, *rest = key.split(".")
    obj = load_section(section, path or REPO_PARAMS)
    for i, part in enumerate(rest):
        obj = getattr(obj, part)
        if obj is None:
            raise ParamsError(
                f"{'.'.join([section, *rest[: i + 1]])}: null in params.yaml; no dataclass to replace"
            )
    return dataclasses.replace(obj, **changes) if changes else obj


def _wrap(path: Path | str, fn: typing.Callable[[], T]) -> T:
    try:
        return fn()
    except ParamsError as e:
        if str(e).startswith(f"{path}:"):
            raise
        raise ParamsError(f"{path}: {e}") from None


def parse(cls: type[T], data: Any, where: str) -> T:
    """Build dataclass `cls` from a mapping, naming `where` (a dotted key) in errors."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ParamsError(f"{where}: expected a mapping, got {type(data).__name__} {data!r}")
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ParamsError(f"{where}: unknown key(s) {unknown}; allowed keys are {sorted(fields)}")
    kwargs = {}
    for name, f in fields.items():
        key = f"{where}.{name}"
        if name in data:
            kwargs[name] = _convert(data[name], hints[name], key)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ParamsError(f"{key}: missing; add it to the params file (params.yaml has every key)")
    try:
        return cls(**kwargs)
    except ParamsError as e:
        msg = str(e)
        raise ParamsError(msg if msg.startswith(where) else f"{where}.{msg}") from None


def _convert(value: Any, typ: Any, key: str) -> Any:
    origin = get_origin(typ)
    if typ is Any:
        return value
    if dataclasses.is_dataclass(typ):
        return parse(typ, value, key)
    if origin in (Union, types.UnionType):
        args = get_args(typ)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, key)
            except ParamsError as e:
                errors.append(str(e))
        raise ParamsError(errors[0] if len(errors) == 1 else f"{key}: {value!r} fits none of {typ}")
    if origin is Literal:
        choices = get_args(typ)
        if value not in choices:
            raise ParamsError(f"{key}: {value!r} is not one of {list(choices)}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ParamsError(f"{key}: expected a list, got {value!r}")
        (item,) = get_args(typ)[:1] or (Any,)
        return tuple(_convert(v, item, f"{key}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ParamsError(f"{key}: expected a mapping, got {value!r}")
        _, vt = get_args(typ)
        return types.MappingProxyType({str(k): _convert(v, vt, f"{key}.{k}") for k, v in value.items()})
    if typ is bool:
        if not isinstance(value, bool):
            raise ParamsError(f"{key}: expected true or false, got {value!r}")
        return value
    if typ is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParamsError(f"{key}: expected an integer, got {value!r}")
        return value
    if typ is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParamsError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if typ is str:
        if not isinstance(value, str):
            raise ParamsError(f"{key}: expected a string, got {value!r}")
        return value
    raise TypeError(f"params parser: unsupported type {typ} at {key}")


def require(cond: bool, key: str, message: str) -> None:
    """Raise a ParamsError naming `key` unless `cond`; for use in `__post_init__`."""
    if not cond:
        raise ParamsError(f"{key}: {message}")


def main() -> None:  # pragma: no cover - thin CLI
    """Check a params file. A profile overlay is checked by composing it (stages.common.compose),
    which this module does not import: every stage imports this one, and would rerun on its edits."""
    import sys

    path = Path(sys.argv[1] if len(sys.argv) > 1 else PARAMS_FILE)
    if path.parent.name == "profiles":
        sys.exit(f"{path} is an overlay: check it with `python -m stages.common.compose {path.stem} --check`")
    try:
        load_all(path)
    except ParamsError as e:
        sys.exit(f"error: {e}")
    print(f"{path}: ok")


if __name__ == "__main__":
    main()
