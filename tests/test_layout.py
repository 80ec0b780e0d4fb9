"""How the tests are laid out: shared fixtures come from conftest.py and shared helpers from the
*_fixtures.py modules, so no test module imports another (and none depends on another's import)."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def imports_of_test_modules(source: str) -> list[tuple[int, str]]:
    """(line, module) of every import, at any depth, of a test_*.py module or of conftest."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            # `from tests import test_x` and `from . import test_x` name the module in the alias.
            names = [alias.name for alias in node.names] if node.module in (None, "tests") else [node.module]
        else:
            continue
        for name in names:
            module = name.removeprefix("tests.").split(".")[0]
            if module.startswith("test_") or module == "conftest":
                found.append((node.lineno, name))
    return sorted(found)


def test_the_check_finds_imports_of_test_modules_at_any_depth():
    source = (
        "import os\n"
        "from params_fixtures import merged\n"
        "from test_report import write\n"
        "from tests.test_pretrain import data\n"
        "def f():\n"
        "    import test_tokenizer\n"
        "    from conftest import workspace\n"
        "from tests import test_canary\n"
        "from .test_iob import x\n"
    )
    assert imports_of_test_modules(source) == [
        (3, "test_report"),
        (4, "tests.test_pretrain"),
        (6, "test_tokenizer"),
        (7, "conftest"),
        (8, "test_canary"),
        (9, "test_iob"),
    ]


def test_no_test_module_imports_another():
    offenders = [
        f"{path.name}:{line} imports {module}"
        for path in sorted(TESTS.glob("*.py"))
        for line, module in imports_of_test_modules(path.read_text(encoding="utf-8"))
    ]
    assert not offenders, (
        "test modules must not import each other: move a shared fixture into tests/conftest.py and a "
        "shared helper into a tests/*_fixtures.py module, then import it from there:\n" + "\n".join(offenders)
    )


def test_helper_modules_define_no_fixtures():
    """A fixture in a helper module works only where it is imported; conftest.py shares it instead."""
    defined = [
        f"{path.name}:{node.lineno} {node.name}"
        for path in sorted(TESTS.glob("*_fixtures.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef) and any("fixture" in ast.unparse(d) for d in node.decorator_list)
    ]
    assert not defined, "move these fixtures into tests/conftest.py:\n" + "\n".join(defined)
