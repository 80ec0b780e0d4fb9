"""The code deps of each dvc.yaml stage: the files its `python -m stages.<name>` imports.

A stage's code deps are the import closure over `stages/` of `stages/<name>/__main__.py`,
read from the source with `ast`, so that an edit reruns exactly the stages that run the
edited file. dvc.yaml lists them; this module writes them there and checks them:

    python -m stages.common.deps            # rewrite the code deps in dvc.yaml
    python -m stages.common.deps --check    # exit 1, naming each stage whose deps are stale
    python -m stages.common.deps --table    # which stages each stages/common file reruns

What counts as an import of a module:
- `import stages.a.b`, `from stages.a import b`, relative imports, at any depth: stages
  import heavy code inside functions, and that code runs all the same. Imports under
  `if TYPE_CHECKING:` never run and do not count;
- the `__init__.py` of every package on the way (`stages/`, `stages/a/`);
- `load_section("x")` (stages/common/params.py): section x's config module, from `SECTIONS`
  in params.py, and only that one; `load_all()` imports them all. params.py's own by-name
  import of SECTIONS does not count, or every stage would depend on every config;
- in a module that imports by name (`importlib.import_module`), every string constant that
  names a module under stages/ (the task registries of tasks and finetune).
A package's files other than `.py` (word lists, JSON) are deps of every stage that imports
the package. A folder whose every file is in the closure is listed as the folder.

Only the deps that start with `stages` are rewritten; data deps, comments and every other
line of dvc.yaml stay byte for byte. (DVC's `${}` templating cannot put a list into
`deps`, so the lists are written out.)
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from stages.common.errors import PipelineError

PACKAGE = "stages"
PARAMS_MODULE = "stages.common.params"
SECTION_LOADERS = {"load_section", "section_class"}  # their first argument is a section name
ALL_SECTIONS_LOADERS = {"load_all"}
BY_NAME_IMPORTERS = {"import_module", "__import__"}
FIX = "python -m stages.common.deps"
_STAGE_CMD = re.compile(r"\bpython3? -m (stages\.\w+)")
_MODULE_NAME = re.compile(r"stages(?:\.[A-Za-z_]\w*)+")


class DepsError(PipelineError):
    """The code under stages/ or dvc.yaml cannot be read as this module expects."""


@dataclass(frozen=True)
class Stage:
    name: str  # as in dvc.yaml; a foreach stage runs as name@item, all items with these deps
    module: str  # what its cmd runs with `python -m`


class Closure:
    """Import closures over the package `stages` under `root`, from the source alone."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._imports: dict[str, set[str]] = {}
        self._sections: dict[str, str] | None = None

    def file_of(self, module: str) -> Path | None:
        """The source file of `module` (relative to root), or None when there is none."""
        base = Path(*module.split("."))
        for rel in (base.with_suffix(".py"), base / "__init__.py"):
            if (self.root / rel).is_file():
                return rel
        return None

    def closure(self, module: str) -> set[Path]:
        """Every file (relative to root) that running `module` may import or read."""
        seen: set[str] = set()
        todo = [module]
        while todo:
            mod = todo.pop()
            if mod in seen:
                continue
            seen.add(mod)
            parts = mod.split(".")
            todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))
            todo.extend(self.imports(mod))
        files = {f for f in map(self.file_of, seen) if f is not None}
        packages = {f.parent for f in files if f.name == "__init__.py"}
        return files | {d for p in packages for d in _data_files(self.root, p)}

    def imports(self, module: str) -> set[str]:
        """The modules under stages/ that `module` imports, directly."""
        if module not in self._imports:
            self._imports[module] = self._read_imports(module)
        return self._imports[module]

    def _read_imports(self, module: str) -> set[str]:
        rel = self.file_of(module)
        if rel is None:
            raise DepsError(f"module {module} has no file under {self.root / PACKAGE}")
        tree = ast.parse((self.root / rel).read_text(encoding="utf-8"), filename=str(rel))
        package = module if rel.name == "__init__.py" else module.rpartition(".")[0]
        found: set[str] = set()
        by_name = False
        for node in _runtime_nodes(tree):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(node, package, rel)
                found.add(base)
                found.update(f"{base}.{a.name}" for a in node.names if self.file_of(f"{base}.{a.name}"))
            elif isinstance(node, ast.Call):
                called = _called_name(node)
                by_name = by_name or called in BY_NAME_IMPORTERS
                if module != PARAMS_MODULE:
                    found.update(self._sections_loaded(node, called, rel))
        if by_name and module != PARAMS_MODULE:
            # a string that merely looks like a module name (a logger's, say) is no import
            strings = {
                s.value for s in ast.walk(tree) if isinstance(s, ast.Constant) and isinstance(s.value, str)
            }
            found.update(s for s in strings if _MODULE_NAME.fullmatch(s) and self.file_of(s))
        found = {m for m in found if m == PACKAGE or m.startswith(PACKAGE + ".")}
        for m in found:
            if self.file_of(m) is None:
                raise DepsError(f"{rel}: imports {m}, which is no module under {PACKAGE}/; fix the import")
        return found

    def _sections_loaded(self, call: ast.Call, called: str | None, rel: Path) -> list[str]:
        """The config modules that a `load_section("x")` or `load_all()` call imports."""
        if called in ALL_SECTIONS_LOADERS:
            return list(self.sections().values())
        if called not in SECTION_LOADERS:
            return []
        arg = call.args[0] if call.args else None
        if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
            raise DepsError(
                f"{rel}:{call.lineno}: {called}() needs the section name as a string literal, "
                "so that the stage's deps can name that section's config.py"
            )
        if arg.value not in self.sections():
            raise DepsError(f"{rel}:{call.lineno}: {called}({arg.value!r}): no such section in SECTIONS")
        return [self.sections()[arg.value]]

    def sections(self) -> dict[str, str]:
        """params.py's SECTIONS as section name -> config module, read from its source."""
        if self._sections is None:
            self._sections = {}
            rel = self.file_of(PARAMS_MODULE)
            tree = ast.parse((self.root / rel).read_text(encoding="utf-8")) if rel else ast.Module(body=[])
            for node in tree.body:
                target = node.target if isinstance(node, ast.AnnAssign) else None
                if isinstance(node, ast.Assign) and len(node.targets) == 1:
                    target = node.targets[0]
                if isinstance(target, ast.Name) and target.id == "SECTIONS":
                    value = ast.literal_eval(node.value)
                    self._sections = {k: v.partition(":")[0] for k, v in value.items()}
        return self._sections


def _runtime_nodes(tree: ast.AST) -> Iterable[ast.AST]:
    """Every node of `tree` except those under `if TYPE_CHECKING:`, which never run."""
    todo: list[ast.AST] = [tree]
    while todo:
        node = todo.pop()
        yield node
        if isinstance(node, ast.If) and _called_name(node.test) == "TYPE_CHECKING":
            todo.extend(node.orelse)
            continue
        todo.extend(ast.iter_child_nodes(node))


def _called_name(node: ast.AST) -> str | None:
    """`f` for `f(...)`, `a.f(...)`, `f` and `a.f`; None for anything else."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _absolute(node: ast.ImportFrom, package: str, rel: Path) -> str:
    """The absolute module name of a `from ... import` (relative or not)."""
    if not node.level:
        return node.module or ""
    parts = package.split(".")
    if node.level > len(parts):
        raise DepsError(f"{rel}:{node.lineno}: relative import goes above the package {PACKAGE}")
    base = parts[: len(parts) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _files_under(root: Path, folder: Path) -> set[Path]:
    return {
        p.relative_to(root)
        for p in (root / folder).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and not p.name.startswith(".")
    }


def _data_files(root: Path, package: Path) -> set[Path]:
    """The files of `package` (its own folder, not subpackages) that are not Python source."""
    return {
        p.relative_to(root)
        for p in (root / package).iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix not in (".py", ".pyc")
    }


def render(root: Path, files: set[Path]) -> list[str]:
    """`files` as dvc.yaml deps: a folder whose files are all in `files` is listed as the folder."""
    out: list[str] = []

    def walk(folder: Path) -> None:
        under = _files_under(root, folder)
        if folder != Path(PACKAGE) and under and under <= files:
            out.append(folder.as_posix())
            return
        out.extend(f.as_posix() for f in sorted(files) if f.parent == folder)
        for sub in sorted(p for p in (root / folder).iterdir() if p.is_dir() and p.name != "__pycache__"):
            walk(sub.relative_to(root))

    walk(Path(PACKAGE))
    return sorted(out)


def pipeline_stages(root: Path) -> list[Stage]:
    """The stages of dvc.yaml whose cmd runs `python -m stages.<name>`, in file order."""
    spec = yaml.safe_load((root / "dvc.yaml").read_text(encoding="utf-8")) or {}
    out = []
    for name, body in (spec.get("stages") or {}).items():
        cmd = (body.get("do") or {}).get("cmd", "") if "foreach" in body else body.get("cmd", "")
        m = _STAGE_CMD.search(" ".join(cmd) if isinstance(cmd, list) else str(cmd))
        if m:
            out.append(Stage(name, m.group(1) + ".__main__"))
    return out


def code_deps(root: Path) -> dict[str, list[str]]:
    """Stage name -> its code deps as dvc.yaml lists them: its own folder first, then by path."""
    closure = Closure(root)
    out = {}
    for s in pipeline_stages(root):
        own = s.module.rpartition(".")[0].replace(".", "/")
        deps = render(root, closure.closure(s.module))
        out[s.name] = sorted(deps, key=lambda d: (d != own and not d.startswith(own + "/"), d))
    return out


def stage_closures(root: Path) -> dict[str, set[Path]]:
    """Stage name -> every file (relative to root) in its import closure."""
    closure = Closure(root)
    return {s.name: closure.closure(s.module) for s in pipeline_stages(root)}


# -- dvc.yaml as text ------------------------------------------------------------------


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _blank(line: str) -> bool:
    return not line.strip() or line.lstrip().startswith("#")


def _item_value(line: str) -> str:
    value = re.sub(r"\s+#.*$", "", line.strip()[1:].strip()).rstrip(":")
    return value.strip("'\"")


def _is_code(value: str) -> bool:
    return value == PACKAGE or value.startswith(PACKAGE + "/")


def _deps_items(lines: list[str], name: str) -> tuple[int, list[tuple[int, int]]]:
    """For stage `name`: the index of its `deps:` line and its items as (first, end) line ranges."""
    top = next((i for i, line in enumerate(lines) if re.match(r"stages:\s*(#.*)?$", line)), None)
    if top is None:
        raise DepsError("dvc.yaml: no top-level `stages:`")
    body = [i for i in range(top + 1, len(lines)) if not _blank(lines[i])]
    level = _indent(lines[body[0]]) if body else 2
    head = next(
        (i for i in body if _indent(lines[i]) == level and re.match(rf"\s*{re.escape(name)}:", lines[i])),
        None,
    )
    if head is None:
        raise DepsError(f"dvc.yaml: stage {name!r} not found under `stages:`")
    end = next((i for i in body if i > head and _indent(lines[i]) <= level), len(lines))
    deps = [i for i in range(head + 1, end) if re.match(r"\s*deps:\s*(#.*)?$", lines[i])]
    if len(deps) != 1:
        raise DepsError(
            f"dvc.yaml: stage {name!r} needs one block-style `deps:` list; add `deps:` with its code folder"
        )
    items: list[tuple[int, int]] = []
    item_indent = None
    for i in range(deps[0] + 1, end):
        line = lines[i]
        if _blank(line):
            continue
        if item_indent is None and line.lstrip().startswith("- "):
            item_indent = _indent(line)
        if item_indent is None or _indent(line) < item_indent:
            break
        if _indent(line) == item_indent:
            if not line.lstrip().startswith("- "):
                break
            items.append((i, i + 1))
        else:
            items[-1] = (items[-1][0], i + 1)  # a continuation line of the item above
    return deps[0], items


def rewrite(text: str, want: dict[str, list[str]]) -> str:
    """`text` (dvc.yaml) with the code deps of each stage in `want` replaced; all else kept."""
    lines = text.splitlines(keepends=True)
    for name, deps in want.items():
        head, items = _deps_items(lines, name)
        code = [(a, b) for a, b in items if _is_code(_item_value(lines[a]))]
        indent = " " * _indent(lines[items[0][0]]) if items else " " * (_indent(lines[head]) + 2)
        kept = {_item_value(lines[a]): lines[a] for a, b in code if b == a + 1}
        block = [kept.get(d, f"{indent}- {d}\n") for d in deps]
        at = code[0][0] if code else (items[0][0] if items else head + 1)
        drop = {i for a, b in code for i in range(a, b)}
        # every dropped line is at or after `at`, the first code item
        lines = lines[:at] + block + [line for i, line in enumerate(lines[at:], start=at) if i not in drop]
    return "".join(lines)


def listed(text: str, name: str) -> list[str]:
    """The code deps that dvc.yaml `text` lists for stage `name`."""
    lines = text.splitlines(keepends=True)
    _, items = _deps_items(lines, name)
    return [v for v in (_item_value(lines[a]) for a, _ in items) if _is_code(v)]


def stale(root: Path) -> list[str]:
    """One sentence per stage whose code deps in dvc.yaml differ from its import closure."""
    text = (root / "dvc.yaml").read_text(encoding="utf-8")
    out = []
    for name, want in code_deps(root).items():
        have = listed(text, name)
        if have != want:
            add, drop = [d for d in want if d not in have], [d for d in have if d not in want]
            what = "; ".join(
                part for part in (add and f"add {', '.join(add)}", drop and f"drop {', '.join(drop)}") if part
            )
            out.append(f"dvc.yaml: the code deps of stage {name!r} are stale: {what or 'reorder them'}")
    return out


def table(root: Path) -> str:
    """A markdown table: each file of stages/common and the stages that an edit to it reruns."""
    closures = stage_closures(root)
    rows = ["| `stages/common` file | stages an edit reruns |", "|---|---|"]
    for f in sorted(_files_under(root, Path(PACKAGE, "common"))):
        users = [name for name, files in closures.items() if f in files]
        who = "all" if len(users) == len(closures) else ", ".join(users) or "none"
        rows.append(f"| `{f.relative_to(PACKAGE, 'common').as_posix()}` | {who} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog=FIX, description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if dvc.yaml's code deps are stale")
    ap.add_argument("--table", action="store_true", help="print which stages each stages/common file reruns")
    ap.add_argument("--root", type=Path, default=Path("."), help="the repository root (holds dvc.yaml)")
    args = ap.parse_args(argv)
    root = args.root
    if not (root / "dvc.yaml").is_file():
        print(
            f"error: {root / 'dvc.yaml'} not found; run from the repository root or pass --root",
            file=sys.stderr,
        )
        return 2
    try:
        if args.table:
            print(table(root))
            return 0
        if args.check:
            problems = stale(root)
            for p in problems:
                print(p, file=sys.stderr)
            if problems:
                print(f"run `{FIX}` to rewrite them from the imports", file=sys.stderr)
            return 1 if problems else 0
        path = root / "dvc.yaml"
        text = path.read_text(encoding="utf-8")
        new = rewrite(text, code_deps(root))
        if new != text:
            path.write_text(new, encoding="utf-8")
            print(f"{path}: code deps rewritten")
        return 0
    except DepsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
