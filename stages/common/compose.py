"""Compose a profile: the default params.yaml with the changes of one overlay.

    python -m stages.common.compose tiny                  # params.yaml := default + profiles/tiny.yaml
    python -m stages.common.compose gpu --out gpu.yaml    # write elsewhere; params.yaml untouched
    python -m stages.common.compose gpu --check           # compose and parse it, write nothing
    python -m stages.common.compose ci --own              # over params.yaml as it is (a PR's own)

An overlay (`profiles/<name>.yaml`) holds only the keys it changes, nested as in params.yaml,
the way nanoGPT's `config/*.py` override its defaults. A key that params.yaml lacks stops
the command with the key's dotted name; a mapping in the overlay is merged key by key, any
other value (a list, a scalar, null) replaces the default whole. The result is a plain,
complete params file (`dvc repro`, `dvc exp run -S` and `dvc params diff` read it as
before), written only once every section parses. It keeps params.yaml's comments, which
document each key; an overlay's own end-of-line comment replaces the default's.

The base is always a default profile, never another profile. A composed params.yaml starts
with a "# Composed profile:" line; composing over it reads the default from git
(HEAD:params.yaml) instead, and stops, saying how to restore the default, where HEAD holds a
composed file too. `--own` composes over params.yaml exactly as it is in the workspace,
uncommitted edits included, and never falls back to git: CI uses it so that the profile lands
on a pull request's own params (profiles/ci.yaml), and it stops on a composed file instead.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from stages.common.errors import ParamsError
from stages.common.params import PARAMS_FILE, load_all

PROFILES_DIR = Path("profiles")
MARKER = "# Composed profile:"
_MARKED = re.compile(rf"^{re.escape(MARKER)} (\S+)")


def _yaml() -> Any:
    from ruamel.yaml import YAML

    y = YAML()  # round-trip: comments, quotes and number spellings survive
    y.preserve_quotes = True
    y.width = 4096
    y.indent(mapping=2, sequence=4, offset=2)
    return y


def composed_from(text: str) -> str | None:
    """The profile a params file was composed from, or None for the default."""
    m = _MARKED.match(text)
    return m.group(1) if m else None


def overlay_path(profile: str) -> Path:
    """`tiny` -> profiles/tiny.yaml; a path to a .yaml file is taken as it is."""
    path = Path(profile)
    if path.suffix in (".yaml", ".yml"):
        return path
    return PROFILES_DIR / f"{profile}.yaml"


def apply(base: Any, overlay: Any, where: str = "") -> None:
    """Write the overlay's values into `base` in place: a round-trip mapping (comments kept) or
    a plain dict (for readers without ruamel, such as benchmarks/gpu_check.py)."""
    for key, value in overlay.items():
        dotted = f"{where}.{key}" if where else str(key)
        if key not in base:
            known = ", ".join(str(k) for k in base)
            raise ParamsError(f"{dotted}: not a key of params.yaml (keys here: {known}); fix the overlay")
        _copy_comment(base, overlay, key)
        if isinstance(value, dict) and isinstance(base[key], dict):
            apply(base[key], value, dotted)
        else:
            base[key] = value


def _copy_comment(base: Any, overlay: Any, key: Any) -> None:
    """The overlay's end-of-line comment on `key`, if it has one, in place of the default's.

    Only the comment line moves: the blank lines after it belong to the overlay's layout.
    """
    new = _eol(overlay, key)
    if new is None or "#" not in new.value:
        return  # plain dicts (no comments) end here, without ruamel
    from ruamel.yaml.tokens import CommentToken

    old = _eol(base, key)
    rest = old.value.partition("\n")[2] if old is not None else ""
    token = CommentToken(new.value.partition("\n")[0] + "\n" + rest, new.start_mark, None)
    slots = base.ca.items.setdefault(key, [None, None, None, None])
    slots[2] = token


def _eol(node: Any, key: Any) -> Any:
    slots = getattr(node, "ca", None) and node.ca.items.get(key)
    return slots[2] if slots and len(slots) > 2 else None


def _strip_header(text: str) -> str:
    lines = text.splitlines(keepends=True)
    i = 0
    while i < len(lines) and (lines[i].startswith("#") or not lines[i].strip()):
        i += 1
    return "".join(lines[i:])


def _header(overlay_text: str) -> str:
    lines = []
    for line in overlay_text.splitlines(keepends=True):
        if not line.startswith("#"):
            break
        lines.append(line)
    return "".join(lines)


def compose(
    base_text: str,
    overlay_text: str,
    name: str,
    source: str | None = None,
    over: str = "the default params.yaml",
) -> str:
    """The text of the composed params file: `base_text` with the overlay's values."""
    y = _yaml()
    base = y.load(base_text)
    overlay = y.load(overlay_text) or {}
    if not isinstance(overlay, dict):
        raise ParamsError(f"profile {name}: expected a mapping of params.yaml keys at the top level")
    apply(base, overlay)
    out = io.StringIO()
    y.dump(base, out)
    source = source or f"profiles/{name}.yaml"
    marker = f"{MARKER} {name} ({source} over {over}). Restore the default: git checkout params.yaml\n"
    return marker + _header(overlay_text) + "\n" + _strip_header(out.getvalue())


def default_text(path: Path = PARAMS_FILE) -> str:
    """The default profile's text: `path`, or HEAD's copy of it when `path` holds a composed profile."""
    text = path.read_text(encoding="utf-8")
    current = composed_from(text)
    if current is None:
        return text
    restore = f"restore the default with `git checkout {path}` and run the command again"
    try:
        head = subprocess.run(
            ["git", "show", f"HEAD:{path.as_posix()}"], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        raise ParamsError(
            f"{path}: holds the composed profile {current!r}, not the default; {restore}"
        ) from None
    if composed_from(head) is not None:
        raise ParamsError(
            f"{path}: holds the composed profile {current!r}, and so does git's HEAD:{path}; "
            f"check out a commit whose params.yaml is the default ({restore.split(' and ')[0]})"
        )
    print(f"{path} holds profile {current!r}; composing over the default from HEAD:{path}", file=sys.stderr)
    return head


def own_text(path: Path = PARAMS_FILE) -> str:
    """`path` as it is in the workspace; ParamsError where it holds a composed profile, which
    would stack one overlay on another."""
    text = path.read_text(encoding="utf-8")
    current = composed_from(text)
    if current is not None:
        raise ParamsError(
            f"{path}: holds the composed profile {current!r}, not a default profile; --own composes "
            f"over the file as it is, so restore it first (`git checkout {path}`) or leave out --own"
        )
    return text


def write_profile(profile: str, out: Path = PARAMS_FILE, base: Path = PARAMS_FILE, own: bool = False) -> Path:
    """Compose `profile` over the default (or, with `own`, over `base` as it is) and write it to
    `out` once every section parses."""
    src = overlay_path(profile)
    if not src.exists():
        have = sorted(p.stem for p in PROFILES_DIR.glob("*.yaml"))
        raise ParamsError(f"{src}: not found; profiles are {have}")
    base_text = own_text(base) if own else default_text(base)
    over = f"{base} as it was" if own else "the default params.yaml"
    text = compose(base_text, src.read_text(encoding="utf-8"), src.stem, src.as_posix(), over)
    tmp = out.with_name(f".{out.name}.composing")
    tmp.write_text(text, encoding="utf-8")
    try:
        load_all(tmp)
    except ParamsError as e:
        tmp.unlink()
        raise ParamsError(f"profile {src.stem}: {str(e).replace(f'{tmp}: ', '')}") from None
    os.replace(tmp, out)
    return out


def main(argv: list[str] | None = None) -> None:  # pragma: no cover - thin CLI
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("profile", help="a profile name (profiles/<name>.yaml) or an overlay file")
    ap.add_argument("--out", type=Path, default=PARAMS_FILE, help="where to write (default: params.yaml)")
    ap.add_argument("--check", action="store_true", help="compose and parse the profile; write nothing")
    ap.add_argument(
        "--own", action="store_true", help="compose over params.yaml as it is (never git's HEAD copy)"
    )
    args = ap.parse_args(argv)
    name = overlay_path(args.profile).stem
    try:
        if args.check:
            with tempfile.TemporaryDirectory() as tmp:
                write_profile(args.profile, Path(tmp) / f"{name}.yaml", own=args.own)
            print(f"profile {name}: ok")
            return
        out = write_profile(args.profile, args.out, own=args.own)
    except ParamsError as e:
        sys.exit(f"error: {e}")
    print(f"{out}: profile {name} over {'params.yaml as it was' if args.own else 'the default params.yaml'}")


if __name__ == "__main__":
    main()
