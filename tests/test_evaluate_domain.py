"""Tests for stages/evaluate/domain.py and the family registry of stages/evaluate/run.py."""

from __future__ import annotations

import json
import math

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from evaluate_fixtures import WORDS, save_clm, save_tokenizer

from stages.common.errors import DataError
from stages.common.manifest import read as read_manifest
from stages.common.params import default_params
from stages.evaluate import domain, run
from stages.evaluate.context import Context

DOCS = [" ".join(WORDS[i : i + 7]) for i in range(0, 35, 5)] * 3


def write_domain(root):
    d = root / "data/tasks/domain"
    d.mkdir(parents=True)
    table = pa.table({"id": [str(i) for i in range(len(DOCS))], "text": DOCS})
    for split in ("train", "valid", "test"):
        pq.write_table(table, d / f"{split}.parquet")


def ctx(tasks):
    return Context(default_params("evaluate", batch_size=4), seed=1, device="cpu", tasks=tasks)


def test_token_stream_puts_eos_after_each_document(tmp_path):
    from transformers import AutoTokenizer

    save_tokenizer(tmp_path)
    tok = AutoTokenizer.from_pretrained(tmp_path)
    ids = domain.token_stream(tok, ["w1 w2", "w3"], tmp_path)
    assert ids.tolist() == [5, 6, 0, 7, 0]  # w_i has id 4 + i; eos is 0


def test_pretrain_and_tuned_bits_per_byte(tmp_path, monkeypatch):
    import torch

    monkeypatch.chdir(tmp_path)
    write_domain(tmp_path)
    model = save_clm(tmp_path / "models/pretrain")
    flat, detail, _ = domain.family(ctx(("classify",)))
    total_bytes = sum(len(t.encode()) for t in DOCS)
    assert flat["domain.test.n_docs"] == len(DOCS) and flat["domain.test.bytes"] == total_bytes
    # Manual: HF's own shifted loss on each window of 9 stream tokens that lm.pick_windows picks.
    from transformers import AutoTokenizer

    from stages.evaluate.lm import pick_windows

    stream = domain.token_stream(AutoTokenizer.from_pretrained(tmp_path / "models/pretrain"), DOCS, tmp_path)
    windows = pick_windows(stream, 9, ctx(()).cfg.lm.max_batches * 4)
    with torch.no_grad():
        nats = sum(
            model(input_ids=torch.tensor(w)[None], labels=torch.tensor(w)[None]).loss.item() * 8
            for w in windows
        )
    n = 8 * len(windows)
    assert detail["pretrain"]["target_tokens"] == n and detail["pretrain"]["nats"] == pytest.approx(
        nats, rel=1e-5
    )
    assert flat["domain.pretrain.test_ppl"] == pytest.approx(math.exp(nats / n), rel=1e-5)
    assert flat["domain.pretrain.test_bpb"] == pytest.approx(
        nats / math.log(2) / (total_bytes * n / len(stream)), rel=1e-5
    )
    assert flat["domain.tuned.test_ppl"] == "n/a"
    assert "finetune.tasks in params.yaml does not list domain" in detail["na"]["domain.tuned.test_bpb"]
    assert flat["domain.pretrain.test_mlm_pseudo_ppl"] == "n/a"

    save_clm(tmp_path / "models/finetune/domain")
    flat, detail, _ = domain.family(ctx(("domain",)))
    assert flat["domain.tuned.test_bpb"] == pytest.approx(flat["domain.pretrain.test_bpb"])  # same weights


def test_missing_data_is_na_and_half_written_tuned_model_is_an_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    save_clm(tmp_path / "models/pretrain")
    flat, detail, _ = domain.family(ctx(("domain",)))
    assert (
        set(flat.values()) == {"n/a"} and "does not build domain" in detail["na"]["domain.pretrain.test_ppl"]
    )

    write_domain(tmp_path)
    save_clm(tmp_path / "models/finetune/domain")
    (tmp_path / "models/finetune/domain/config.json").unlink()
    with pytest.raises(DataError, match=r"models/finetune/domain: no config.json.*dvc repro finetune@domain"):
        domain.family(ctx(("domain",)))


def test_families_run_in_order_and_absent_ones_are_na_with_reasons(workspace):
    names = [family.name for family in run.FAMILIES]
    assert names == ["pretrain", "domain", "classify", "adversarial", "ner", "fewshot", "robust", "privacy"]
    run.main()
    flat = json.loads((workspace / "metrics/metrics.json").read_text())
    details = {p.stem: json.loads(p.read_text()) for p in (workspace / "metrics/evaluate").glob("*.json")}
    reasons = {k: why for d in details.values() for k, why in d.get("na", {}).items()}  # samples: no figures
    for key in (
        "domain.pretrain.test_bpb",
        "adversarial.test.acc",
        "ner.gold.f1",
        "adversarial.attack.success_rate",
    ):
        assert key not in flat and reasons[key], key  # n/a: a reason, no figure
    assert 0 not in [v for k, v in flat.items() if k.startswith(("ner.", "domain.", "adversarial."))]
    assert set(details) == {*names, "samples"}  # samples: the prompted continuations, no figure
    assert (
        "finetune.tasks in params.yaml does not list" in details["adversarial"]["na"]["adversarial.test.acc"]
    )
    assert "does not build ner" in details["ner"]["na"]["ner.gold.f1"]
    assert isinstance(flat["fewshot.k1.acc"], float) and isinstance(flat["classify.attack.n_correct"], int)
    assert sorted(p.name for p in (workspace / "metrics/confusion").iterdir()) == ["classify.json"]
    # The manifest describes exactly the keys written or n/a, each family's where it computes them.
    manifest = read_manifest(workspace / "metrics/manifest.json")
    assert list(manifest.metrics) and set(manifest.metrics) == set(flat) | set(reasons)
    assert not set(flat) & set(reasons)
    assert [f.name for f in manifest.families] == names
    assert manifest.family("adversarial").data == "data/tasks/classify/test.parquet"
    assert manifest.metrics["classify.attack.success_rate"].family == "robust"
    assert manifest.metrics["adversarial.test.acc"].baselines == (
        "adversarial.majority.test.acc",
        "adversarial.tfidf.test.acc",
    )
