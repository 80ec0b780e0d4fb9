"""tasks/domain: docstrings read with ast from a stdlib-like folder (excluded folders, private
modules, parse errors), pydoc topics, seeded sampling and hash splits, empty-data errors."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest
from params_fixtures import merged

from stages.common.errors import DataError, ParamsError
from stages.common.params import default_params, parse
from stages.tasks import domain
from stages.tasks.config import DomainTaskParams

LONG = "Explains at length what this module is for. " * 5


def module_source(name: str) -> str:
    return (
        f'"""{name}: {LONG}"""\n\n'
        "class Widget:\n"
        '    """A widget that widgets."""\n\n'
        "    def spin(self, n):\n"
        '        """Spin `n` times."""\n\n'
        "def helper():\n"
        "    return 1  # no docstring: not in the text\n"
    )


def stdlib_like(root: Path, n_modules: int = 0) -> Path:
    files = {
        "json/__init__.py": module_source("json"),
        "json/decoder.py": module_source("json.decoder"),
        "test/test_json.py": module_source("test_json"),
        "idlelib/editor.py": module_source("editor"),
        "site-packages/numpy/__init__.py": module_source("numpy"),
        "_private.py": module_source("_private"),
        "broken.py": '"""Broken."""\ndef f(:\n',
        "short.py": '"""Tiny."""\n',
        **{f"m{i:02d}.py": module_source(f"m{i:02d}") for i in range(n_modules)},
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_module_names_and_exclusions(tmp_path):
    root = stdlib_like(tmp_path)
    cfg = default_params("tasks.domain")
    assert sorted(domain.stdlib_modules(root, cfg)) == ["broken", "json", "json.decoder", "short"]
    with_private = domain.stdlib_modules(
        root, default_params("tasks.domain", include_private=True, exclude_dirs=("idlelib",))
    )
    assert {"_private", "test.test_json", "site-packages.numpy"} <= set(with_private)
    assert "idlelib.editor" not in with_private


def test_docstrings_become_one_document_per_module(tmp_path):
    text = domain.parse_module(stdlib_like(tmp_path) / "json" / "decoder.py")
    assert (
        text == f"json.decoder: {LONG}\n\nWidget\n\nA widget that widgets.\n\nWidget.spin\n\nSpin `n` times."
    )


def test_parse_errors_and_short_docs_are_counted_not_fatal(tmp_path, caplog):
    cfg = default_params("tasks.domain", sources=("docstrings",), min_chars=50)
    dropped: Counter = Counter()
    docs = domain.collect_docs(cfg, 1, stdlib_like(tmp_path), dropped)
    assert [d.id for d in docs] == ["docstrings/json", "docstrings/json.decoder"]
    assert {d.source for d in docs} == {"stdlib_docstrings"}
    assert dropped == {"parse_error": 1, "too_short": 1}
    assert "docstrings/broken does not parse" in caplog.text


def test_topics_are_pydoc_help_topics():
    dropped: Counter = Counter()
    docs = domain.collect_docs(
        default_params("tasks.domain", sources=("topics",), min_chars=1), 1, Path("/nonexistent"), dropped
    )
    from pydoc_data.topics import topics

    assert len(docs) == len(topics) and dropped == {}
    assert "topics/assert" in {d.id for d in docs}
    assert next(d for d in docs if d.id == "topics/assert").text.startswith('The "assert" statement')


def test_max_docs_is_a_seeded_sample(tmp_path):
    root = stdlib_like(tmp_path, 40)
    cfg = default_params("tasks.domain", sources=("docstrings",), max_docs=10)

    def ids(seed: int) -> list[str]:
        dropped: Counter = Counter()
        out = [d.id for d in domain.collect_docs(cfg, seed, root, dropped)]
        assert len(out) == 10 and dropped["sampled_out"] > 0
        return out

    assert ids(1) == ids(1) and ids(1) != ids(2)


def test_build_splits_by_hash_of_id(tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    monkeypatch.setenv("PIPELINE_NO_PROGRESS", "1")
    monkeypatch.setattr(domain, "stdlib_root", lambda: stdlib_like(tmp_path / "lib", 60))
    cfg = default_params("tasks.domain", sources=("docstrings",), valid_fraction=0.2, test_fraction=0.2)
    m = domain.build(cfg, 7, tmp_path / "out")
    rows = {
        s: pq.read_table(tmp_path / "out" / f"{s}.parquet").to_pydict() for s in ("train", "valid", "test")
    }
    assert sum(len(r["id"]) for r in rows.values()) == 62 == sum(s["rows"] for s in m["splits"].values())
    assert all(len(r["id"]) > 0 for r in rows.values())
    assert set(rows["train"]) == {"id", "source", "text"}
    assert m["splits"]["test"]["chars"] == sum(map(len, rows["test"]["text"]))
    assert m["python_version"] == sys.version.split()[0] and len(m["texts_sha256"]) == 64
    assert m["dropped"] == {"parse_error": 1, "too_short": 1}
    # A document's split depends on its id and the seed only, not on the other documents.
    for split, r in rows.items():
        assert all(domain.split_of(i, cfg, 7) == split for i in r["id"])
    assert domain.build(cfg, 7, tmp_path / "again")["texts_sha256"] == m["texts_sha256"]


def test_empty_domain_data_names_the_params(tmp_path, monkeypatch):
    monkeypatch.setattr(domain, "stdlib_root", lambda: stdlib_like(tmp_path))
    with pytest.raises(DataError, match=r"domain: 0 document\(s\).*tasks\.domain\.min_chars"):
        domain.build(
            default_params("tasks.domain", sources=("docstrings",), min_chars=10_000), 1, tmp_path / "out"
        )


def test_bad_domain_params_name_the_key():
    with pytest.raises(ParamsError, match=r"tasks\.domain\.sources\[0\]: 'man_pages' is not one of"):
        parse(DomainTaskParams, merged("tasks.domain", {"sources": ["man_pages"]}), "tasks.domain")
    with pytest.raises(ParamsError, match=r"tasks\.domain\.test_fraction: valid_fraction \+ test_fraction"):
        parse(
            DomainTaskParams,
            merged("tasks.domain", {"valid_fraction": 0.45, "test_fraction": 0.45}),
            "tasks.domain",
        )
