"""tasks: vader parsing, the neutral band, stratified disjoint splits, params errors."""

from __future__ import annotations

import dataclasses
import io
import json
import random
import tarfile
from collections import Counter
from pathlib import Path

import pytest
from params_fixtures import ROOT, merged, profile_file

from stages.common.errors import DataError, ParamsError
from stages.common.params import default_params, parse
from stages.tasks import classify, sources
from stages.tasks.config import TasksParams
from stages.tasks.sources import Example


def test_parse_vader_lines_reads_id_score_text():
    data = b"1\t2.5\tGreat fun &amp; games \r\n2\t-0.2\tmeh\r\n\r\n3\t-3.1\tawful"
    got = list(sources.parse_vader_lines(data, "tweets"))
    assert [(e.id, e.score, e.text) for e in got] == [
        ("vader/tweets/1", 2.5, "Great fun & games"),
        ("vader/tweets/2", -0.2, "meh"),
        ("vader/tweets/3", -3.1, "awful"),
    ]
    assert {e.source for e in got} == {"vader/tweets"}


def test_parse_vader_lines_names_the_bad_line():
    with pytest.raises(DataError, match="tweets_GroundTruth.txt line 2: expected id<TAB>score<TAB>text"):
        list(sources.parse_vader_lines(b"1\t1.0\tok\n2\tbroken", "tweets"))
    with pytest.raises(DataError, match="line 1: score 'x' is not a number"):
        list(sources.parse_vader_lines(b"1\tx\tok", "tweets"))


def test_neutral_band_drops_and_labels():
    cfg = default_params("tasks.classify", neutral_band=0.5, min_chars=1)
    exs = [
        Example(str(i), f"text {i}", "vader/tweets", s)
        for i, s in enumerate([0.51, 0.5, -0.5, -0.51, 0.0, 3.0])
    ]
    dropped: Counter = Counter()
    kept = classify.filter_examples(exs, cfg, dropped)
    assert [(e.score, y) for e, y in kept] == [(0.51, 1), (-0.51, 0), (3.0, 1)]
    assert dropped == {"near_neutral": 3}
    # band 0 keeps everything but exact zeros
    assert (
        len(
            classify.filter_examples(
                exs, default_params("tasks.classify", neutral_band=0.0, min_chars=1), Counter()
            )
        )
        == 5
    )
    # pang_lee labels are binary already: the band does not apply
    assert classify.label_of(Example("p", "x", "pang_lee", -1.0), 0.5) == 0


def test_duplicates_and_short_texts_are_counted():
    cfg = default_params("tasks.classify", min_chars=5)
    exs = [
        Example("1", "Good movie", "vader/a", 2.0),
        Example("2", "good   MOVIE", "vader/b", 1.0),
        Example("3", "ok", "vader/a", 2.0),
    ]
    dropped: Counter = Counter()
    assert [e.id for e, _ in classify.filter_examples(exs, cfg, dropped)] == ["1"]
    assert dropped == {"duplicate": 1, "too_short": 1}


def synthetic(n: int, seed: int) -> list[Example]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        src = rng.choice(["vader/tweets", "vader/movieReviewSnippets"])
        score = rng.choice([-1, 1]) * rng.uniform(0.0, 3.0) * (1.6 if src.endswith("tweets") else 1.0)
        out.append(Example(f"{src}/{i}", f"text number {i} " + "x" * (i % 7), src, score))
    return out


def build(tmp_path: Path, monkeypatch, seed: int = 5, **kw) -> dict:
    monkeypatch.setattr(classify, "read_sources", lambda cfg: iter(synthetic(2000, 0)))
    monkeypatch.setenv("PIPELINE_NO_PROGRESS", "1")
    cfg = default_params("tasks.classify", **({"max_docs": 1000} | kw))
    return classify.build(cfg, seed, tmp_path / "classify")


def read(tmp_path: Path, split: str):
    import pyarrow.parquet as pq

    return pq.read_table(tmp_path / "classify" / f"{split}.parquet").to_pydict()


def test_splits_are_stratified_disjoint_and_seeded(tmp_path, monkeypatch):
    m = build(tmp_path, monkeypatch)
    assert m["kept"] == 1000 and m["stratified_by"] == "source+label"
    assert m["dropped"]["sampled_out"] == 2000 - m["dropped"].get("near_neutral", 0) - 1000
    splits = {s: read(tmp_path, s) for s in ("train", "valid", "test")}
    assert [len(splits[s]["text"]) for s in ("train", "valid", "test")] == [700, 100, 200]
    assert set(splits["train"]) >= {"text", "label", "source"}
    texts = {s: set(d["text"]) for s, d in splits.items()}
    assert not texts["train"] & texts["valid"] and not texts["train"] & texts["test"]
    assert not texts["valid"] & texts["test"]
    fracs = [sum(d["label"]) / len(d["label"]) for d in splits.values()]
    assert max(fracs) - min(fracs) < 0.02, fracs  # stratified: same positive share everywhere
    tweet_share = [d["source"].count("vader/tweets") / len(d["source"]) for d in splits.values()]
    assert max(tweet_share) - min(tweet_share) < 0.02, tweet_share
    assert json.loads((tmp_path / "classify" / "labels.json").read_text()) == ["negative", "positive"]
    assert m["splits"]["test"]["labels"]["positive"] == sum(splits["test"]["label"])

    again = tmp_path / "again"
    build(again, monkeypatch)
    assert read(again, "test")["id"] == splits["test"]["id"]
    other = tmp_path / "other"
    build(other, monkeypatch, seed=6)
    assert read(other, "test")["id"] != splits["test"]["id"]


def test_too_few_examples_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(classify, "read_sources", lambda cfg: iter(synthetic(4, 0)))
    with pytest.raises(DataError, match="max_docs"):
        classify.build(default_params("tasks.classify", neutral_band=0.0, min_chars=1), 1, tmp_path / "c")


def fake_vader_sdist(path: Path, tweets: bytes = b"1\t2.0\tI love it\r\n2\t-1.5\tI hate it\r\n") -> Path:
    """A vaderSentiment-shaped sdist: the ground-truth tarball nested inside."""

    def add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))

    inner = io.BytesIO()
    with tarfile.open(fileobj=inner, mode="w:gz") as tar:
        add(tar, "hutto_ICWSM_2014/tweets_GroundTruth.txt", tweets)
        add(tar, "hutto_ICWSM_2014/tweets_anonDataRatings.txt", b"not ground truth")
    with tarfile.open(path, "w:gz") as tar:
        add(tar, "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz", inner.getvalue())
    return path


def test_read_vader_from_nested_archive(tmp_path, monkeypatch):
    sdist = fake_vader_sdist(tmp_path / "v.tar.gz")
    monkeypatch.setattr(sources, "fetch_pypi", lambda *a, **k: sdist)
    cfg = default_params("tasks.classify").vader
    got = list(sources.read_vader(dataclasses.replace(cfg, subsets=("tweets",))))
    assert [(e.text, e.score) for e in got] == [("I love it", 2.0), ("I hate it", -1.5)]
    with pytest.raises(DataError, match=r"no ground truth for subset\(s\) \['amazonReviewSnippets'\]"):
        list(sources.read_vader(dataclasses.replace(cfg, subsets=("tweets", "amazonReviewSnippets"))))


@pytest.mark.parametrize(
    "data, match",
    [
        ({"classify": {"neutral_band": -0.1}}, r"tasks\.classify\.neutral_band: must be in \[0, 4\)"),
        ({"classify": {"valid_fraction": 0.4, "test_fraction": 0.45}}, r"tasks\.classify\.test_fraction"),
        ({"classify": {"sources": ["imdb"]}}, r"tasks\.classify\.sources\[0\]: 'imdb' is not one of"),
        ({"classify": {"vader": {"subsets": ["reddit"]}}}, r"tasks\.classify\.vader\.subsets: 'reddit'"),
        ({"classify": {"max_doc": 10}}, r"unknown key\(s\) \['max_doc'\]"),
        (
            dict.fromkeys(("classify", "ner", "domain", "adversarial")),
            r"tasks\.classify: no task is configured",
        ),
    ],
)
def test_bad_params_name_the_key(data, match):
    with pytest.raises(ParamsError, match=match):
        parse(TasksParams, merged("tasks", data), "tasks")


def test_stage_writes_tasks_and_metrics(tmp_path, monkeypatch):
    """`python -m stages.tasks` end to end on the tiny profile (classify, then adversarial
    from its splits; ner and domain have their own stage tests), fed by a made-up sdist."""
    import yaml

    from stages.tasks.run import main

    lines = [f"{i}\t{(-1) ** i * (0.2 + (i % 5) * 0.4):.2f}\ttweet number {i} here" for i in range(600)]
    sdist = fake_vader_sdist(tmp_path / "v.tar.gz", "\r\n".join(lines).encode())
    monkeypatch.setattr(sources, "fetch_pypi", lambda *a, **k: sdist)
    monkeypatch.setenv("PIPELINE_NO_PROGRESS", "1")
    params = yaml.safe_load(profile_file("tiny", tmp_path).read_text())
    params["tasks"]["ner"] = params["tasks"]["domain"] = None
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    data = yaml.safe_load((ROOT / "sources.yaml").read_text())
    data["tasks"]["classify"]["vader"]["subsets"] = ["tweets"]
    data["tasks"]["adversarial"]["vader"]["subsets"] = ["tweets"]
    (tmp_path / "sources.yaml").write_text(yaml.safe_dump(data))
    monkeypatch.chdir(tmp_path)
    main()
    metrics = json.loads(Path("metrics/tasks.json").read_text())
    assert sorted(metrics) == ["adversarial", "classify"]
    adv = metrics["adversarial"]["splits"]
    assert {k: v["rows"] for k, v in adv.items()} == {"train": 280, "valid": 40, "test": 80}
    assert adv["test"]["attacked"] == 80 and adv["train"]["attacked"] == 140
    # the 120 tweets scored +-0.2 are near-neutral: classify drops them, distractors use them
    assert metrics["adversarial"]["distractors"] == 120
    m = metrics["classify"]
    assert m["read"] == {"vader/tweets": 600}
    # text lives in the detail beside the numbers
    info = json.loads(Path("metrics/info/tasks.json").read_text())
    assert "provenance" not in m and list(info["classify"]["provenance"]) == ["vader"]
    # scores are +-0.2, 0.6, 1.0, 1.4, 1.8 in turn: only 0.2 lies within the band of 0.5
    assert m["dropped"] == {"near_neutral": 120, "sampled_out": 80}
    assert sum(s["rows"] for s in m["splits"].values()) == m["kept"] == 400
    assert sorted(p.name for p in Path("data/tasks/classify").iterdir()) == [
        "labels.json",
        "test.parquet",
        "train.parquet",
        "valid.parquet",
    ]
