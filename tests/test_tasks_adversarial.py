"""tasks/adversarial: built from classify's splits; sizes, same-size train, labels kept,
distractors that are near-neutral and in no classify split, errors naming the params."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from params_fixtures import merged

from stages.common.errors import DataError, ParamsError
from stages.common.params import default_params, parse
from stages.tasks import adversarial, classify
from stages.tasks.config import TasksParams
from stages.tasks.sources import Example

SIZES = {"train": 40, "valid": 6, "test": 12}


def classify_splits(out: Path) -> Path:
    """A classify/ folder as the classify builder writes it."""
    d = out / "classify"
    d.mkdir(parents=True)
    for split, n in SIZES.items():
        rows = [
            (
                Example(
                    f"vader/t/{split}{i}",
                    f"The {split} film number {i} was really quite good",
                    "vader/t",
                    1.0,
                ),
                i % 2,
            )
            for i in range(n)
        ]
        classify.write_split(d / f"{split}.parquet", rows)
    (d / "labels.json").write_text(json.dumps(["negative", "positive"]))
    return d


NEUTRAL = [
    Example("v/1", "The film runs for two hours.", "vader/t", 0.1),
    Example("v/2", "It opened on a Tuesday.", "vader/t", -0.4),
    Example("v/3", "The train film number 0 was really quite good", "vader/t", 0.0),  # a classify text
    Example("v/4", "A very long neutral sentence " * 10, "vader/t", 0.2),
    Example("v/5", "Awful.", "vader/t", -3.0),  # not near-neutral
]


def read(path: Path) -> dict[str, list]:
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pydict()


@pytest.fixture
def built(tmp_path, monkeypatch):
    monkeypatch.setenv("PIPELINE_NO_PROGRESS", "1")
    monkeypatch.setattr(adversarial, "read_vader", lambda cfg: iter(NEUTRAL))
    classify_splits(tmp_path)
    m = adversarial.build(default_params("tasks.adversarial"), 11, tmp_path / "adversarial")
    return m, {s: read(tmp_path / "adversarial" / f"{s}.parquet") for s in SIZES}


def test_sizes_and_same_size_train(built, tmp_path):
    m, rows = built
    assert {s: len(r["id"]) for s, r in rows.items()} == SIZES
    assert {s: v["rows"] for s, v in m["splits"].items()} == SIZES
    assert m["splits"]["test"]["attacked"] == 12 and m["splits"]["train"]["attacked"] == 20
    assert m["splits"]["valid"]["attacked"] == 0
    assert set(rows["test"]) == {"id", "text", "label", "source", "orig_id", "perturbation"}
    assert json.loads((tmp_path / "adversarial" / "labels.json").read_text()) == ["negative", "positive"]


def test_rows_keep_labels_and_point_to_their_original(built, tmp_path):
    _, rows = built
    orig = {s: read(tmp_path / "classify" / f"{s}.parquet") for s in SIZES}
    for s in SIZES:
        r, o = rows[s], orig[s]
        assert r["orig_id"] == o["id"] and r["label"] == o["label"]
        assert len(set(r["id"])) == len(r["id"])
        for i, kind in enumerate(r["perturbation"]):
            if kind:
                assert r["id"][i] == f"adv/{o['id'][i]}" and r["text"][i] != o["text"][i]
            else:
                assert r["id"][i] == o["id"][i] and r["text"][i] == o["text"][i]
    assert rows["valid"]["text"] == orig["valid"]["text"]


def test_kinds_are_counted_and_distractors_are_neutral_and_new(built):
    m, rows = built
    test_kinds = m["splits"]["test"]["kinds"]
    assert sum(test_kinds.values()) == 12 and set(test_kinds) <= set(
        default_params("tasks.adversarial").kinds
    )
    assert m["distractors"] == 2  # v/1 and v/2: v/3 is a classify text, v/4 too long, v/5 not neutral
    assert m["dropped"] == {"distractor_in_classify": 1, "distractor_too_long": 1}
    appended = [
        t
        for t, k in zip(rows["test"]["text"], rows["test"]["perturbation"], strict=True)
        if k == "distractor"
    ]
    assert len(appended) == test_kinds["distractor"] > 0
    for text in appended:
        assert text.endswith(("The film runs for two hours.", "It opened on a Tuesday."))


def test_distractor_pool_is_stored_for_the_attack(built, tmp_path):
    from stages.evaluate.robust import read_distractors

    pool = read_distractors(tmp_path / "adversarial")
    assert pool == ["The film runs for two hours.", "It opened on a Tuesday."]


def test_build_is_seeded(built, tmp_path, monkeypatch):
    _, rows = built
    monkeypatch.setattr(adversarial, "read_vader", lambda cfg: iter(NEUTRAL))
    adversarial.build(default_params("tasks.adversarial"), 11, tmp_path / "again")
    assert read(tmp_path / "again" / "test.parquet") == rows["test"]
    adversarial.build(default_params("tasks.adversarial"), 12, tmp_path / "other")
    assert read(tmp_path / "other" / "test.parquet")["text"] != rows["test"]["text"]


def test_missing_classify_names_the_task(tmp_path):
    with pytest.raises(DataError, match=r"adversarial: classify split\(s\).*configure tasks\.classify"):
        adversarial.build(default_params("tasks.adversarial"), 1, tmp_path / "adversarial")


def test_no_distractor_left_names_the_params(tmp_path, monkeypatch):
    monkeypatch.setattr(adversarial, "read_vader", lambda cfg: iter(NEUTRAL[2:]))
    classify_splits(tmp_path)
    with pytest.raises(DataError, match=r"no near-neutral vader sentence.*tasks\.adversarial\.neutral_band"):
        adversarial.build(default_params("tasks.adversarial"), 1, tmp_path / "adversarial")
    # without the distractor kind, vader is not read at all
    monkeypatch.setattr(adversarial, "read_vader", lambda cfg: pytest.fail("read vader"))
    m = adversarial.build(
        default_params("tasks.adversarial", kinds=("typo", "case")), 1, tmp_path / "adversarial"
    )
    assert set(m["splits"]["test"]["kinds"]) <= {"typo", "case"}


@pytest.mark.parametrize(
    "data, match",
    [
        ({"classify": None, "adversarial": {}}, r"tasks\.adversarial: perturbs the classify splits"),
        (
            {"adversarial": {"neutral_band": 0.8}},
            r"tasks\.adversarial\.neutral_band: must be <= tasks\.classify",
        ),
        ({"adversarial": {"kinds": ["typo", "leet"]}}, r"tasks\.adversarial\.kinds: 'leet' is not one of"),
        (
            {"adversarial": {"attacked_fraction": 1.5}},
            r"tasks\.adversarial\.attacked_fraction: must be in \[0, 1\]",
        ),
        ({"adversarial": {"kinds": ["typo"], "kinds_per_text": 2}}, r"tasks\.adversarial\.kinds_per_text"),
    ],
)
def test_bad_adversarial_params_name_the_key(data, match):
    with pytest.raises(ParamsError, match=match):
        parse(TasksParams, merged("tasks", data), "tasks")


def test_default_distractor_band_matches_classify():
    assert default_params("tasks.adversarial").neutral_band == default_params("tasks.classify").neutral_band
