"""Typed, validated params.

`params.yaml` has one top-level section per stage. Each section is parsed into a frozen
dataclass that lives beside its stage (`stages/<name>/config.py`), so that editing a
stage's schema reruns only that stage. This module holds the generic parser: it rejects
unknown keys, checks types, and lets each dataclass check its own consistency in
`__post_init__` by raising `ParamsError` with a message that says what to change.

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


def section_class(name: str) -> type:
    """The dataclass that parses section `name`."""
    module, _, cls = SECTIONS[name].partition(":")
    return getattr(importlib.import_module(module), cls)


def read_yaml(path: Path | str = PARAMS_FILE) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise ParamsError(
            f"{path}: not found. Run from the repository root, or copy a profile: "
            "cp profiles/tiny.yaml params.yaml"
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ParamsError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: expected a mapping of sections at the top level")
    return data


def _check_top_level(data: dict[str, Any], path: Path | str) -> None:
    known = set(SECTIONS) | set(SHARED)
    unknown = sorted(set(data) - known)
    if unknown:
        raise ParamsError(f"{path}: unknown top-level key(s) {unknown}; known sections are {sorted(known)}")
    missing = sorted(known - set(data))
    if missing:
        raise ParamsError(f"{path}: missing section(s) {missing}; copy them from profiles/tiny.yaml")
    for key, typ in SHARED.items():
        _convert(data[key], typ, key)


def load_section(name: str, path: Path | str = PARAMS_FILE) -> Any:
    """Parse and validate one section (and the shared keys) of a params file."""
    data = read_yaml(path)
    _check_top_level(data, path)
    return _wrap(path, lambda: parse(section_class(name), data[name], name))


def load_seed(path: Path | str = PARAMS_FILE) -> int:
    data = read_yaml(path)
    _check_top_level(data, path)
    return int(data["seed"])


def load_all(path: Path | str = PARAMS_FILE) -> dict[str, Any]:
    """Parse every section; used by tests and by `python -m stages.common.params`."""
    data = read_yaml(path)
    _check_top_level(data, path)
    out: dict[str, Any] = {k: data[k] for k in SHARED}
    for name in SECTIONS:
        out[name] = _wrap(path, lambda n=name: parse(section_class(n), data[n], n))
    return out


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
            raise ParamsError(f"{key}: missing; add it to the params file")
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
    import sys

    path = sys.argv[1] if len(sys.argv) > 1 else PARAMS_FILE
    load_all(path)
    print(f"{path}: ok")


if __name__ == "__main__":
    main()
