"""Params for tests: the shipped values, from params.yaml and the composed profiles.

Dataclasses have no defaults, so a test that needs a config takes the default profile's and
replaces the fields it is about: `default_params("clean.harm", action="drop")`.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

from stages.common.compose import write_profile
from stages.common.params import default_params, read_params

ROOT = Path(__file__).resolve().parents[1]
PROFILES = ("default", *sorted(p.stem for p in (ROOT / "profiles").glob("*.yaml")))

__all__ = ["PROFILES", "ROOT", "as_dict", "default_params", "merged", "profile_file"]


def profile_file(profile: str, tmp_dir: Path) -> Path:
    """A complete params file for `profile`: params.yaml itself, or the overlay composed into `tmp_dir`."""
    if profile == "default":
        return ROOT / "params.yaml"
    return write_profile(
        str(ROOT / "profiles" / f"{profile}.yaml"), tmp_dir / f"{profile}.yaml", ROOT / "params.yaml"
    )


def as_dict(key: str, **changes: Any) -> dict[str, Any]:
    """The default profile's `key` section as a plain mapping, for tests of the parser itself."""
    return dataclasses.asdict(default_params(key)) | changes


def merged(key: str, changes: dict[str, Any]) -> dict[str, Any]:
    """The default profile's raw `key` section with `changes` merged in, key by key."""
    node: Any = read_params(ROOT / "params.yaml")
    for part in key.split("."):
        node = node[part]
    return _merge(copy.deepcopy(node), changes)


def _merge(base: Any, changes: Any) -> Any:
    if not isinstance(base, dict) or not isinstance(changes, dict):
        return changes
    return {**base, **{k: _merge(base.get(k), v) for k, v in changes.items()}}
