"""stages/common/deps.py: each stage's code deps are its import closure, and dvc.yaml lists them."""

from __future__ import annotations

from pathlib import Path

import pytest

from stages.common.deps import Closure, DepsError, code_deps, main, rewrite, stage_closures, table

ROOT = Path(__file__).resolve().parents[1]

# Cross-stage imports that may remain: (importing stage, imported stage).

TREE = {
    "stages/__init__.py": "",
    "stages/common/__init__.py": "",
    "stages/common/params.py": (
        "import importlib\n"
        'SECTIONS: dict[str, str] = {"alpha": "stages.alpha.config:A", "beta": "stages.beta.config:B"}\n'
        "def load_section(name):\n"
        '    module, _, cls = SECTIONS[name].partition(":")\n'
        "    return getattr(importlib.import_module(module), cls)\n"
    ),
    "stages/common/util.py": "X = 1\n",
    "stages/common/typing_only.py": "T = int\n",
    "stages/common/unused.py": "",
    "stages/alpha/__init__.py": "",
    "stages/alpha/__main__.py": "from stages.alpha.run import main\nmain()\n",
    "stages/alpha/run.py": (
        "from typing import TYPE_CHECKING\n"
        "from stages.common.params import load_section\n"
        "from . import helper\n"
        "if TYPE_CHECKING:\n"
        "    from stages.common.typing_only import T\n"
        "def main():\n"
        "    from stages.common.util import X\n"
        '    return load_section("alpha"), helper, X\n'
    ),
    "stages/alpha/helper.py": "from stages.common import words\n",
    "stages/common/words.py": "",
    "stages/alpha/config.py": "class A: ...\n",
    "stages/alpha/words.txt": "a word list the stage reads\n",
    "stages/alpha/unimported.py": "",
    "stages/beta/__init__.py": "",
    "stages/beta/__main__.py": (
        "import stages.beta.registry\nfrom stages.common.params import load_section\nload_section('beta')\n"
    ),
    "stages/beta/registry.py": (
        'import importlib\nKINDS = {"k": "stages.beta.kind"}\ndef get(k):\n    return importlib.import_module(KINDS[k])\n'
    ),
    "stages/beta/kind.py": "from ..common import util\n",
    "stages/beta/config.py": "class B: ...\n",
}

DVC_YAML = """\
# a header comment
stages:
  alpha:
    cmd: python -m stages.alpha
    deps:
      - stages/alpha     # the stage's code
      - stages/common
      - data/in          # its input
    outs:
      - data/alpha
  beta:
    foreach: [x, y]
    do:
      cmd: python -m stages.beta ${item}
      deps:
        - data/alpha
        - stages/beta
        - stages/common
      outs:
        - data/beta/${item}
"""


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for rel, text in TREE.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (tmp_path / "dvc.yaml").write_text(DVC_YAML)
    return tmp_path


def _paths(files: set[Path]) -> set[str]:
    return {f.as_posix() for f in files}


def test_the_repository_dvc_yaml_lists_every_stage_closure(capsys):
    assert main(["--check", "--root", str(ROOT)]) == 0, capsys.readouterr().err


def test_rewriting_the_repository_dvc_yaml_changes_nothing():
    text = (ROOT / "dvc.yaml").read_text()
    assert rewrite(text, code_deps(ROOT)) == text


def test_closure_follows_relative_function_level_and_by_name_imports(tree):
    closures = {name: _paths(files) for name, files in stage_closures(tree).items()}
    assert closures["alpha"] == {
        "stages/__init__.py",
        "stages/common/__init__.py",
        "stages/common/params.py",
        "stages/common/util.py",  # imported inside main()
        "stages/alpha/__init__.py",
        "stages/alpha/__main__.py",
        "stages/alpha/run.py",
        "stages/alpha/helper.py",  # `from . import helper`
        "stages/common/words.py",  # `from stages.common import words`: a module, not a name
        "stages/alpha/config.py",  # load_section("alpha"), and not beta's config
        "stages/alpha/words.txt",  # a data file of an imported package
    }
    assert closures["beta"] == {
        "stages/__init__.py",
        "stages/common/__init__.py",
        "stages/common/params.py",
        "stages/common/util.py",  # `from ..common import util` in kind.py
        "stages/beta/__init__.py",
        "stages/beta/__main__.py",
        "stages/beta/registry.py",
        "stages/beta/kind.py",  # named in the registry, imported by name
        "stages/beta/config.py",
    }


def test_code_deps_list_a_wholly_imported_folder_as_the_folder(tree):
    deps = code_deps(tree)
    assert deps["beta"] == [
        "stages/beta",
        "stages/__init__.py",
        "stages/common/__init__.py",
        "stages/common/params.py",
        "stages/common/util.py",
    ]
    assert "stages/alpha" not in deps["alpha"]  # unimported.py is not in its closure
    assert deps["alpha"][:2] == ["stages/alpha/__init__.py", "stages/alpha/__main__.py"]
    assert "stages/common/typing_only.py" not in deps["alpha"]


def test_a_stale_dvc_yaml_fails_the_check_naming_the_stage_and_the_fix(tree, capsys):
    assert main(["--check", "--root", str(tree)]) == 1
    err = capsys.readouterr().err
    assert "code deps of stage 'alpha' are stale" in err and "drop stages/common" in err
    assert "code deps of stage 'beta' are stale" in err
    assert "run `python -m stages.common.deps`" in err


def test_writing_fixes_the_code_deps_and_keeps_every_other_line(tree, capsys):
    assert main(["--root", str(tree)]) == 0
    text = (tree / "dvc.yaml").read_text()
    assert main(["--check", "--root", str(tree)]) == 0, capsys.readouterr().err
    code_lines = [line for line in text.splitlines() if line.strip().startswith("- stages")]
    assert "      - stages/common/util.py" in code_lines and "      - stages/common" not in code_lines
    assert "        - stages/beta" in code_lines  # the foreach stage, at its own indent
    rest = [line for line in text.splitlines() if not line.strip().startswith("- stages")]
    assert rest == [line for line in DVC_YAML.splitlines() if not line.strip().startswith("- stages")]


def test_the_table_names_the_stages_each_common_file_reruns(tree):
    rows = dict(line.strip("|").split("|")[:2] for line in table(tree).splitlines()[2:])
    rows = {k.strip(" `"): v.strip() for k, v in rows.items()}
    assert rows["util.py"] == "all"
    assert rows["params.py"] == "all"
    assert rows["words.py"] == "alpha"
    assert rows["typing_only.py"] == "none"
    assert rows["unused.py"] == "none"


def test_the_invalidation_page_holds_this_repositorys_table():
    page = (ROOT / "docs" / "invalidation.md").read_text()
    assert page.rstrip().endswith(table(ROOT).rstrip()), (
        "run `python -m stages.common.deps --table` into docs/invalidation.md"
    )


def test_a_section_name_that_is_not_a_literal_is_an_error(tree):
    (tree / "stages/alpha/run.py").write_text(
        "from stages.common.params import load_section\ndef main(n):\n    return load_section(n)\n"
    )
    with pytest.raises(
        DepsError, match=r"run.py:3: load_section\(\) needs the section name as a string literal"
    ):
        stage_closures(tree)


def test_no_stage_imports_another_stage():
    closure = Closure(ROOT)
    run = set().union(*stage_closures(ROOT).values())
    found = set()
    for path in sorted((ROOT / "stages").rglob("*.py")):
        rel = path.relative_to(ROOT)
        if len(rel.parts) < 3 or (rel.parts[1] == "common" and rel not in run):
            continue  # the tools in common that no stage runs (compose, deps) read every section
        module = ".".join(rel.with_suffix("").parts)
        importer = rel.parts[1]
        for imported in closure.imports(module):
            target = imported.split(".")[1] if "." in imported else None
            if target and target != importer and target != "common":
                found.add((importer, target, rel.as_posix(), imported))
    assert not found, f"stages must share code through stages/common only: {sorted(found)}"


def test_each_stage_runs_only_its_own_folder_and_common():
    """A stage's closure holds no file of another stage's folder, not even a config.py: an edit to
    one stage never reruns another (this is what `load_section` being read precisely buys)."""
    for name, files in stage_closures(ROOT).items():
        folders = {f.parts[1] for f in files if len(f.parts) > 2}
        assert folders <= {name, "common"}, (name, sorted(folders - {name, "common"}))
    common = {f.name for files in stage_closures(ROOT).values() for f in files if f.parts[1:2] == ("common",)}
    assert not common & {"deps.py", "compose.py"}, "tools that no stage runs are no stage's deps"
