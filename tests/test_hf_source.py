"""The streamed `hf` source kind on local `datasets` data made here (no hub is reachable): a
save_to_disk folder, a folder of parquet files, one parquet file; max_docs stops the stream;
a hub id must be pinned; the gpu profile reads FineWeb-Edu's sample at a pinned commit and
is off elsewhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from collect_fixtures import run
from params_fixtures import profile_file

from stages.collect.sources import hf_rows
from stages.common.errors import DataError
from stages.common.params import load_section, parse


def hf(dataset: Path | str, **keys) -> dict:
    return {"name": "h", "kind": "hf", "dataset": str(dataset), "license": "test", **keys}


def write_parquet(path: Path, texts: list[str], start: int = 0) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    ids = [f"<urn:{start + i}>" for i in range(len(texts))]
    pq.write_table(pa.table({"text": texts, "id": ids, "score": [3.5] * len(texts)}), path, row_group_size=2)


def test_a_saved_dataset_dict_streams_its_split_with_meta(tmp_path):
    import datasets

    train = datasets.Dataset.from_dict({"body": ["first row", "second row"], "id": ["a", "b"]})
    test = datasets.Dataset.from_dict({"body": ["held out"], "id": ["c"]})
    datasets.DatasetDict({"train": train, "test": test}).save_to_disk(str(tmp_path / "dd"))
    docs, m = run(tmp_path, [hf(tmp_path / "dd", split="test", text_field="body")])
    assert [d["text"] for d in docs] == ["held out"]
    assert json.loads(docs[0]["meta"]) == {"record_id": "c"}
    assert m["sources"]["h"]["documents"] == 1
    with pytest.raises(DataError, match=r"no split 'valid'; it has \['test', 'train'\]"):
        run(tmp_path, [hf(tmp_path / "dd", split="valid", text_field="body")])


def test_a_parquet_folder_streams_in_file_order_and_stops_at_max_docs(tmp_path):
    folder = tmp_path / "fineweb" / "sample" / "10BT"
    write_parquet(folder / "000_00000.parquet", [f"document {i} of the first file" for i in range(5)])
    write_parquet(folder / "001_00000.parquet", [f"document {i} of the second file" for i in range(5)], 5)
    docs, m = run(tmp_path, [hf(tmp_path / "fineweb", meta_fields=["score"], max_docs=7)])
    assert [d["text"] for d in docs] == [f"document {i} of the first file" for i in range(5)] + [
        "document 0 of the second file",
        "document 1 of the second file",
    ]
    assert json.loads(docs[6]["meta"]) == {"score": 3.5, "record_id": "<urn:6>"}
    assert m["sources"]["h"]["documents"] == 7


def test_the_stream_reads_no_further_than_max_docs(tmp_path):
    """A damaged file after max_docs is never opened: rows are read as collect takes them.
    Without max_docs the damage stops collect with one sentence naming the rows read."""
    write_parquet(tmp_path / "d" / "000.parquet", ["a good document", "another good one"])
    (tmp_path / "d" / "001.parquet").write_bytes(b"PAR1 this is not a parquet file PAR1")
    docs, _ = run(tmp_path, [hf(tmp_path / "d", max_docs=2)])
    assert len(docs) == 2
    with pytest.raises(DataError, match=r"reading stopped after 2 rows \(source h\)"):
        run(tmp_path, [hf(tmp_path / "d")])


def test_one_parquet_file_and_a_wrong_text_field(tmp_path):
    write_parquet(tmp_path / "one.parquet", ["only document here"])
    docs, _ = run(tmp_path, [hf(tmp_path / "one.parquet")])
    assert [d["text"] for d in docs] == ["only document here"]
    with pytest.raises(
        DataError, match=r"no column 'content' \(source h\); columns are \['text', 'id', 'score'\]"
    ):
        run(tmp_path, [hf(tmp_path / "one.parquet", text_field="content")])
    (tmp_path / "data.xlsx").write_bytes(b"x")
    with pytest.raises(DataError, match=r"cannot read '\.xlsx' files"):
        run(tmp_path, [hf(tmp_path / "data.xlsx")])


def test_a_hub_id_must_be_pinned_to_a_commit_before_anything_is_fetched(tmp_path):
    for revision in ("", "main", "87f0914"):
        with pytest.raises(DataError, match=r"pin it to a commit of the dataset repository \(40 hex digits"):
            hf_rows(parse_source(hf("HuggingFaceFW/fineweb-edu", revision=revision)))


def parse_source(data: dict):
    from stages.collect.config import SourceParams

    return parse(SourceParams, data, "collect.sources[0]")


def test_the_gpu_profile_reads_fineweb_edu_pinned_and_the_default_does_not(tmp_path):
    gpu = load_section("collect", profile_file("gpu", tmp_path))
    (fw,) = [s for s in gpu.sources_to_read() if s.kind == "hf"]
    assert fw.dataset == "HuggingFaceFW/fineweb-edu" and fw.subset == "sample-10BT"
    assert len(fw.revision) == 40 and fw.max_docs > 1_000_000
    default = load_section("collect", profile_file("default", tmp_path))
    assert "fineweb_edu" in [s.name for s in default.sources]
    assert all(s.kind != "hf" for s in default.sources_to_read())
    tiny = load_section("collect", profile_file("tiny", tmp_path))
    assert all(s.kind != "hf" for s in tiny.sources_to_read())
