"""Rule sets per source kind: which quality rules judge which source, their params checks, the
per-source drop counts in metrics/clean.json, the warning on a heavy rule, the report table."""

from __future__ import annotations

import logging

import pytest
from clean_fixtures import PROSE
from params_fixtures import ROOT, merged

from stages.clean.chain import Chain, SourceStats
from stages.clean.config import CleanParams, stray_sources
from stages.clean.quality import Quality
from stages.clean.run import summarize, warn_heavy_rules
from stages.common.errors import ParamsError
from stages.common.params import default_params, load_section, parse, read_params

CODE_DOC = (
    PROSE
    + "\n\nPass the settings as a dictionary, then start the server:\n\n"
    + '    settings = {"debug": True, "port": 8080}\n    app = make_app(settings)\n    app.run()\n\n'
    + "The server reads the port from the settings and logs every request to the console."
)
SECOND = (
    "The museum by the bridge keeps maps of every flood since the sixteenth century. Visitors "
    "can see how the river changed its course, and how the town moved away from it. The maps "
    "were drawn by hand, and some of them are very large."
)
WIKI_DOC = PROSE + '\n\n{| class="wikitable sortable" style="font-size:80%"\n\n' + SECOND


def quality() -> Quality:
    return Quality(default_params("clean.quality"))


def test_code_with_braces_survives_under_code_and_is_dropped_under_web():
    q = quality()
    assert q.cfg.kind_of("docs_django") == "code" and q.cfg.kind_of("emails") == "web"
    web = q.apply(CODE_DOC, "emails")
    assert web.drop == "c4_curly_bracket" and web.info["kind"] == "web"
    code = q.apply(CODE_DOC, "docs_django")
    assert code.drop is None
    assert '    settings = {"debug": True, "port": 8080}' in code.text
    assert "    app.run()" in code.text  # a one-word code line survives: no min_words_per_line


def test_prose_loses_only_the_markup_line():
    out = quality().apply(WIKI_DOC, "wiki")
    assert out.drop is None and "wikitable" not in out.text
    assert out.text == PROSE + "\n\n" + SECOND and out.counts == {"c4_lines_removed_curly_bracket": 1}
    assert quality().apply(WIKI_DOC, "emails").drop == "c4_curly_bracket"


def test_code_kind_still_drops_what_it_is_not_meant_to_keep():
    q = quality()
    spam = "\n\n".join(["Buy cheap watches now at the best price on the whole web today."] * 6)
    assert q.apply(spam, "docs_django").drop == q.apply(spam, "emails").drop == "gopher_rep_dup_para_fraction"
    lorem = PROSE + "\nLorem ipsum dolor sit amet, consectetur adipiscing elit."
    assert q.apply(lorem, "docs_django").drop == "c4_lorem_ipsum"


def test_unlisted_source_gets_the_default_kind_with_one_warning(caplog):
    q = quality()
    with caplog.at_level(logging.WARNING, logger="stages.clean"):
        first = q.apply(CODE_DOC, "docs_flask")
        q.apply(CODE_DOC, "docs_flask")
    assert first.drop == "c4_curly_bracket"  # default_kind is web
    warned = [r.getMessage() for r in caplog.records if "docs_flask" in r.getMessage()]
    assert len(warned) == 1 and "'web'" in warned[0] and "source_kinds" in warned[0]


@pytest.mark.parametrize(
    ("change", "needles"),
    [
        ({"source_kinds": {"wiki": "encyclopedia"}}, ["clean.quality.source_kinds.wiki", "'encyclopedia'"]),
        ({"default_kind": "html"}, ["clean.quality.default_kind", "'html'", "add it to clean.quality.kinds"]),
        (
            {"kinds": {"code": {"c5": {"enabled": False}}}},
            ["clean.quality.kinds.code.c5", "unknown rule group"],
        ),
        ({"kinds": {"code": {"c4": {"drop_curly": True}}}}, ["clean.quality.kinds.code.c4", "'drop_curly'"]),
        (
            {"kinds": {"code": {"c4": {"min_words_per_line": -1}}}},
            ["clean.quality.kinds.code.c4.min_words_per_line", "must be >= 0"],
        ),
        (
            {"kinds": {"prose": {"c4": {"curly_bracket": "strip"}}}},
            ["clean.quality.kinds.prose.c4.curly_bracket", "'strip' is not one of"],
        ),
        ({"kinds": {"web": None}}, ["clean.quality.kinds.web", "expected a mapping"]),
    ],
)
def test_bad_kind_params_name_the_key_and_the_fix(change, needles):
    with pytest.raises(ParamsError) as err:
        parse(CleanParams, merged("clean", {"quality": change}), "clean")
    for needle in needles:
        assert needle in str(err.value)


def test_warn_drop_share_is_a_fraction():
    with pytest.raises(ParamsError, match=r"clean\.warn_drop_share"):
        parse(CleanParams, merged("clean", {"warn_drop_share": 1.5}), "clean")


def test_shipped_source_kinds_give_every_collect_source_a_kind():
    """The stage reads only its own section, so this cross-check of clean against collect is a test."""
    cfg = load_section("clean", ROOT / "params.yaml").quality
    names = [s["name"] for s in read_params(ROOT / "params.yaml")["collect"]["sources"]]
    assert sorted(cfg.source_kinds) == sorted(names)
    assert stray_sources(cfg, names) == []
    assert stray_sources(cfg, [n for n in names if n != "docs_django"]) == ["docs_django"]


def docs(source: str, texts: list[str]) -> list[dict]:
    return [{"id": f"{source}{i}", "text": t, "source": source, "meta": "{}"} for i, t in enumerate(texts)]


def test_drops_are_counted_per_source_and_rule_and_heavy_rules_warn(caplog):
    cfg = default_params("clean", steps=("quality",))
    chain = Chain([Quality(cfg.quality)], rejected_sample=0)
    batch = docs("docs_django", [CODE_DOC, CODE_DOC, "too short"]) + docs("emails", [CODE_DOC, PROSE, PROSE])
    kept = chain.run(batch)
    assert [d["id"] for d in kept] == ["docs_django0", "docs_django1", "emails1", "emails2"]
    django, emails = chain.sources["docs_django"].as_dict(), chain.sources["emails"].as_dict()
    assert (django["docs_in"], django["docs_out"]) == (3, 2)
    assert django["drops"] == {"quality": {"gopher_quality_min_words": 1}}
    assert emails["drops"] == {"quality": {"c4_curly_bracket": 1}}
    assert emails["drop_shares"] == {"quality": {"c4_curly_bracket": 0.3333}}
    assert emails["drop_share"] == 0.3333 and 0 < emails["char_share_kept"] < 1

    result = {"steps": chain.stats, "sources": chain.sources, "docs_changed": chain.docs_changed}
    result |= {"docs_in": 6, "docs_out": 4, "chars_in": 1, "chars_out": 1}
    with caplog.at_level(logging.WARNING, logger="stages.clean"):
        metrics = summarize(cfg, [result, result])
    assert metrics["sources"]["emails"]["drops"] == {"quality": {"c4_curly_bracket": 2}}
    assert metrics["sources"]["emails"]["docs_in"] == 6
    assert metrics["totals"]["rules_over_warn_share"] == 2
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 2
    assert "quality-gopher_quality_min_words" in warned[0] and "'docs_django'" in warned[0]
    assert "quality-c4_curly_bracket" in warned[1] and "'emails'" in warned[1]


def test_no_warning_at_or_under_the_share(caplog):
    src = SourceStats(docs_in=10, docs_out=9)
    src.drops[("quality", "c4_curly_bracket")] = 1
    with caplog.at_level(logging.WARNING, logger="stages.clean"):
        assert warn_heavy_rules({"wiki": src}, 0.1) == 0
        assert warn_heavy_rules({"wiki": src}, 0.05) == 1
    assert len(caplog.records) == 1 and "10.0%" in caplog.records[0].getMessage()


def test_metrics_per_source_are_numbers_only():
    src = SourceStats(docs_in=4, docs_out=3, chars_in=100, chars_out=70)
    src.drops[("language", "low_confidence")] = 1

    def leaves(node):
        return [x for v in node.values() for x in leaves(v)] if isinstance(node, dict) else [node]

    out = src.as_dict()
    assert all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in leaves(out))
    assert out["drop_share"] == 0.25 and out["char_share_kept"] == 0.7


def test_report_shows_drops_per_source():
    from stages.report.markdown import clean_sources_section

    src = SourceStats(docs_in=200, docs_out=150, chars_in=1000, chars_out=600)
    src.drops[("quality", "c4_curly_bracket")] = 40
    src.drops[("language", "low_confidence")] = 10
    lines = clean_sources_section({"sources": {"docs_django": src.as_dict()}})
    text = "\n".join(lines)
    assert "### Clean: drops per source" in text
    row = next(line for line in lines if line.startswith("| docs_django"))
    assert "25.0%" in row and "60.0%" in row
    assert row.index("quality-c4_curly_bracket 20.0%") < row.index("language-low_confidence 5.0%")
    assert clean_sources_section({"totals": {}}) == [] and clean_sources_section(None) == []


def test_stage_writes_drops_per_source_and_warns(tmp_path, monkeypatch, caplog):
    import json

    import yaml

    from stages.clean.run import main
    from stages.common.io import ShardWriter

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PIPELINE_NO_PROGRESS", "1")
    with ShardWriter(tmp_path / "data" / "raw", shard_docs=3) as w:
        for d in docs("docs_django", [CODE_DOC, CODE_DOC]) + docs("emails", [CODE_DOC, PROSE, SECOND]):
            w.write(d | {"origin": "inline", "license": "CC0"})
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["clean"].update(steps=["normalize", "quality"], num_proc=1)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    with caplog.at_level(logging.WARNING, logger="stages.clean"):
        main()
    m = json.loads((tmp_path / "metrics" / "clean.json").read_text())
    assert m["sources"]["docs_django"]["docs_out"] == 2 and m["sources"]["docs_django"]["drops"] == {}
    assert m["sources"]["emails"]["drop_shares"] == {"quality": {"c4_curly_bracket": 0.3333}}
    assert m["totals"]["rules_over_warn_share"] == 1
    messages = [r.getMessage() for r in caplog.records]
    assert any("quality-c4_curly_bracket" in x and "'emails'" in x for x in messages)
    assert any("no document of" in x and "'wiki'" in x for x in messages)  # source_kinds lists 7 absent


def test_benchmark_prints_kept_shares_per_source_and_kind(tmp_path):
    import subprocess
    import sys

    from stages.common.io import ShardWriter

    with ShardWriter(tmp_path / "raw", shard_docs=10) as w:
        for d in docs("docs_django", [CODE_DOC, PROSE]) + docs("emails", [CODE_DOC, PROSE]):
            w.write(d | {"origin": "inline", "license": "CC0"})
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "clean_rules.py"), str(tmp_path / "raw")],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    ).stdout
    # docs_django (code): both kept; emails (web): the code sample drops one of two.
    assert "| docs_django | code | 2 | 50.0% | 100.0% |" in out
    assert "| emails | web | 2 | 50.0% | 50.0% |" in out
    assert "c4_curly_bracket 50.0%" in out
