"""The typed params parser, and every shipped params file."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest
import yaml

from stages.common.errors import ParamsError
from stages.common.params import SECTIONS, load_all, load_section, parse, require

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = [ROOT / "params.yaml", *sorted((ROOT / "profiles").glob("*.yaml"))]


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


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_params_file_parses(path):
    parsed = load_all(path)
    assert set(SECTIONS) <= set(parsed)
    assert isinstance(parsed["seed"], int)


def test_profiles_have_the_same_sections_and_keys_as_default():
    def keys(d, prefix=""):
        out = set()
        for k, v in d.items():
            out.add(prefix + k)
            if isinstance(v, dict):
                out |= keys(v, prefix + k + ".")
        return out

    default = yaml.safe_load((ROOT / "params.yaml").read_text())
    for path in SHIPPED[1:]:
        prof = yaml.safe_load(path.read_text())
        assert set(prof) == set(default), path.name


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
    with pytest.raises(ParamsError, match="cp profiles/tiny.yaml params.yaml"):
        load_section("clean", tmp_path / "nope.yaml")
