"""The clean stage end to end on a small data/raw made in a temporary directory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from clean_fixtures import PROSE

from stages.common.io import ShardWriter, iter_docs

ROOT = Path(__file__).resolve().parents[1]
GERMAN = (
    "Der Fluss, der durch die Altstadt fließt, hat ihre Geschichte seit vielen Jahrhunderten "
    "geprägt. Händler bauten ihre Lagerhäuser am Ufer, und die Brücken wurden zu Orten, an "
    "denen sich die Menschen trafen, um zu handeln und zu reden. Im Winter steigt das Wasser."
)
DOCS = [
    ("good", PROSE),
    ("pii", PROSE + "\n\nWrite to anna.berg@example.com or call +44 20 7946 0958 for the archive."),
    ("mojibake", PROSE.replace("talk.", "talk â€” and argue.")),
    ("german", GERMAN),
    ("spam", "\n\n".join(["Buy cheap watches now at the best price on the whole web today."] * 6)),
    ("blank", "   \n\t "),
    ("short", "Click here."),
    ("toxic", PROSE + " You are a fucking idiot and a worthless piece of shit, you asshole."),
]


def make_raw(root: Path) -> None:
    raw = root / "data" / "raw"
    with ShardWriter(raw, shard_docs=4) as w:
        for doc_id, text in DOCS:
            w.write(
                {
                    "id": doc_id,
                    "text": text,
                    "source": "test",
                    "origin": f"inline:{doc_id}",
                    "license": "CC0",
                    "meta": json.dumps({"kept_from": "collect"}),
                }
            )


def write_params(root: Path, **clean) -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["clean"].update(clean)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.fixture()
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PIPELINE_NO_PROGRESS", "1")
    make_raw(tmp_path)
    return tmp_path


def run_clean(root: Path, **clean) -> dict:
    from stages.clean.run import main

    write_params(root, **clean)
    main()
    return json.loads((root / "metrics" / "clean.json").read_text())


def test_stage_cleans_counts_and_samples_rejects(workdir):
    harm = {**yaml.safe_load((ROOT / "params.yaml").read_text())["clean"]["harm"], "action": "drop"}
    m = run_clean(workdir, num_proc=2, rejected_sample=1, harm=harm)
    kept = {d["id"]: d for d in iter_docs(workdir / "data" / "clean")}
    assert sorted(kept) == ["good", "mojibake", "pii"]
    assert "<EMAIL>" in kept["pii"]["text"] and "<PHONE>" in kept["pii"]["text"]
    assert "talk — and argue." in kept["mojibake"]["text"]
    meta = json.loads(kept["pii"]["meta"])
    assert meta["kept_from"] == "collect"
    assert meta["clean"]["pii"]["redacted"] == {"EMAIL": 1, "PHONE": 1}
    assert json.loads(kept["mojibake"]["meta"])["clean"]["normalize"]["fixes"] == ["mojibake"]
    assert kept["good"]["origin"] == "inline:good" and kept["good"]["license"] == "CC0"

    steps = m["steps"]
    assert steps["normalize"]["drops_by_reason"] == {"empty": 1}
    assert steps["language"]["drops_by_reason"].get("wrong_language") == 1
    assert steps["harm"]["drops_by_reason"] == {"classifier": 1}
    assert m["pii_redacted"] == {"EMAIL": 1, "PHONE": 1}
    assert m["totals"]["docs_in"] == 8 and m["totals"]["docs_out"] == 3
    assert m["totals"]["docs_changed"] == 2  # pii and mojibake; "good" passes untouched
    for name, st in steps.items():
        assert st["docs_in"] == st["kept"] + st["dropped"], name
    assert sum(st["dropped"] for st in steps.values()) == 5

    rejected = workdir / "data" / "clean" / "rejected"
    files = sorted(p.name for p in rejected.glob("*.jsonl"))
    assert "normalize-empty.jsonl" in files and "harm-classifier.jsonl" in files
    assert len(files) == len(m["rejected_written"])
    sample = json.loads((rejected / "harm-classifier.jsonl").read_text().splitlines()[0])
    assert sample["id"] == "toxic" and sample["reason"] == "classifier"
    # One output shard per input shard, whatever survived.
    assert len(list((workdir / "data" / "clean").glob("part-*.parquet"))) == 2


def test_output_does_not_depend_on_num_proc(workdir):
    steps = ["normalize", "language", "quality", "pii"]
    m2 = run_clean(workdir, num_proc=2, steps=steps)
    two = [pq.read_table(p).to_pylist() for p in sorted((workdir / "data" / "clean").glob("part-*.parquet"))]
    m1 = run_clean(workdir, num_proc=1, steps=steps)
    one = [pq.read_table(p).to_pylist() for p in sorted((workdir / "data" / "clean").glob("part-*.parquet"))]
    assert one == two and m1 == m2
    assert not list(workdir.glob("data/.clean.tmp-*")), "atomic_dir left a temporary folder"


def test_bad_params_stop_the_stage_with_one_sentence(workdir):
    write_params(workdir, steps=["normalize", "spellcheck"])
    proc = subprocess.run(
        [sys.executable, "-m", "stages.clean"],
        cwd=workdir,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "PIPELINE_NO_PROGRESS": "1"},
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "clean.steps[1]" in proc.stderr and "'spellcheck' is not one of" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (workdir / "data" / "clean").exists()
