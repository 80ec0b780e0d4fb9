"""Model cards (stages/common/card.py, pretrain's and finetune's specs) and evaluate's prompted samples."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest
from evaluate_fixtures import save_clm
from pretrain_fixtures import tiny
from tokenizer_fixtures import make_docs, write_dedup

from stages.common.card import CardSpec, Score, read_front_matter, render, write_card
from stages.common.tokens import open_split, read_meta
from stages.evaluate.config import SamplesParams
from stages.evaluate.samples import generate
from stages.pretrain import card as pretrain_card
from stages.report.samples import samples_section

SECTIONS = ("## Model", "## Training data", "## Training params", "## Results", "## Intended use",
            "## Limitations", "## License")  # fmt: skip


def spec(**kw) -> CardSpec:
    fields = dict(
        title="a model",
        summary="made in a test",
        pipeline_tag="text-classification",
        tags=("llm-pipeline", "test"),
        model_rows=[("parameters", 1234567)],
        load="from transformers import AutoModel\n",
        data_lines=["made-up data"],
        funnel=[("collected", 10, "all"), ("kept", 7, "filtered")],
        license_lines=["- CC0: 7"],
        params={"seed": 3, "finetune": {"lr": 0.001}},
        scores=[
            Score(
                "valid accuracy",
                "accuracy",
                0.8125,
                "data/x/valid.parquet",
                "validation",
                {"majority": 0.5625},
                False,
            )
        ],  # fmt: skip
        results_note="measured in a test",
        intended_use=["tests"],
        limitations=["tiny"],
    )
    return CardSpec(**(fields | kw))


def test_a_card_has_yaml_front_matter_with_its_results_in_the_model_index():
    text = render(spec())
    meta = read_front_matter(text)
    assert meta["library_name"] == "transformers" and meta["pipeline_tag"] == "text-classification"
    assert meta["license"] == "other" and meta["tags"] == ["llm-pipeline", "test"]
    [result] = meta["model-index"][0]["results"]
    assert result["metrics"] == [{"type": "accuracy", "value": 0.8125, "name": "valid accuracy"}]
    assert result["dataset"]["split"] == "validation"


def test_a_card_has_every_section_with_the_figures_it_was_given():
    text = render(spec())
    body = text.split("\n---\n", 1)[1]
    positions = [body.index(s) for s in SECTIONS]
    assert positions == sorted(positions)
    assert (
        "| valid accuracy | data/x/valid.parquet | validation | 0.8125 | majority 0.5625 | higher |" in body
    )
    assert "| parameters | 1,234,567 |" in body and "| kept | 7 | filtered |" in body
    assert "seed: 3" in body and "lr: 0.001" in body


def test_huggingface_hub_loads_the_card_and_reads_its_eval_results(tmp_path):
    from huggingface_hub import ModelCard

    # A stage may hand over a numpy scalar (seqeval's F1); the card holds a plain number.
    score = Score("valid accuracy", "accuracy", np.float64(0.8125), "d", "validation", {}, False)
    path = write_card(tmp_path, spec(scores=[score]))
    assert "value: 0.8125\n" in path.read_text()
    card = ModelCard.load(path)
    assert card.data.eval_results[0].metric_value == 0.8125
    assert card.data.license == "other" and "## Limitations" in card.text


def test_a_card_without_front_matter_is_named():
    with pytest.raises(Exception, match="YAML block"):
        read_front_matter("# no front matter\n")


@pytest.fixture
def pretrained(tmp_path, data):
    """A saved causal LM, its token files (conftest's `data`) and raw/clean/dedup folders of 30/25/20 docs."""
    docs = make_docs(30)
    for i, d in enumerate(docs):
        d["source"] = "a" if i % 3 else "b"
        d["license"] = "personal use only" if i < 6 else "CC0"
        d["meta"] = json.dumps({"clean": {"language": {"lang": "en"}}})
    dirs = tuple(
        (step, write_dedup(tmp_path / step, docs[:n]), "what")
        for step, n in (("raw", 30), ("clean", 25), ("dedup", 20))
    )
    meta = read_meta(data / "tokens")
    save_clm(tmp_path / "model", vocab=int(meta["vocab_size"]))
    return tmp_path / "model", dirs


def test_the_pretrain_card_holds_the_run_figures_and_baselines_from_the_token_shards(pretrained, data):
    model_dir, dirs = pretrained
    metrics = {"val_loss": 3.5, "val_ppl": round(math.exp(3.5), 3), "tokens_seen": 1000, "steps": 6,
               "params": 5000, "params_non_embedding": 3000, "device": "cpu", "precision": "fp32",
               "moe_impl": None}  # fmt: skip
    s = pretrain_card.build_spec(tiny(), 7, metrics, data / "tokens", model_dir, dirs)
    [ppl, bpb] = s.scores
    assert ppl.value == metrics["val_ppl"]
    meta = read_meta(data / "tokens")
    valid = np.asarray(open_split(data / "tokens", "valid", meta))
    train = np.asarray(open_split(data / "tokens", "train", meta))
    # Independent unigram: add-one counts of train, scored on every valid token but padding.
    counts = np.bincount(train, minlength=meta["vocab_size"]) + 1.0
    targets = valid[valid != meta["pad_id"]]
    want = math.exp(-np.log(counts[targets] / counts.sum()).mean())
    assert ppl.baselines["unigram"] == pytest.approx(want, rel=1e-9)
    assert ppl.baselines["uniform"] == pytest.approx(meta["vocab_size"])
    assert bpb.value == pytest.approx(
        3.5 / math.log(2) * meta["n_tokens"]["valid"] / meta["n_bytes"]["valid"], abs=1e-4
    )
    assert [row[1] for row in s.funnel[:3]] == [30, 25, 20]
    text = render(s)
    assert (
        "- personal use only: 6" in text
        and "- CC0: 14" in text
        and "personal use only, so the weights" in text
    )
    assert "AutoModelForCausalLM" in text and read_front_matter(text)["pipeline_tag"] == "text-generation"
    assert (
        "en 20" in text
        and "source kinds; `sources.yaml` pins each file by version and sha256): inline 20." in text
    )


def test_a_masked_pretrain_card_names_its_pseudo_perplexity_and_fill_mask(pretrained, data):
    model_dir, dirs = pretrained
    cfg = json.loads((model_dir / "config.json").read_text())
    (model_dir / "config.json").write_text(json.dumps(cfg | {"architectures": ["ModernBertForMaskedLM"]}))
    metrics = {"val_loss": 4.0, "val_ppl": 54.6, "tokens_seen": 1000, "steps": 6, "params": 5000,
               "params_non_embedding": 3000, "device": "cpu", "precision": "fp32", "moe_impl": None}  # fmt: skip
    s = pretrain_card.build_spec(tiny("mlm"), 7, metrics, data / "tokens", model_dir, dirs)
    assert [x.name for x in s.scores] == ["validation masked-LM pseudo-perplexity"]
    assert s.pipeline_tag == "fill-mask" and "does not generate text" in " ".join(s.limitations)


def test_samples_are_reproducible_continuations_of_each_prompt(tmp_path):
    save_clm(tmp_path / "m")
    cfg = SamplesParams(("w1 w2", "w30"), 3, 0.8, 5)
    first = generate(cfg, 11, "cpu", tmp_path / "m")
    assert generate(cfg, 11, "cpu", tmp_path / "m") == first
    assert [s["prompt"] for s in first["samples"]] == ["w1 w2", "w30"]
    assert all(1 <= s["new_tokens"] <= 3 for s in first["samples"])
    greedy = generate(replace(cfg, temperature=0.0), 11, "cpu", tmp_path / "m")
    assert "greedy" in greedy["method"]


def test_samples_refuse_a_prompt_that_passes_the_context_and_skip_a_masked_lm(tmp_path):
    save_clm(tmp_path / "m")
    with pytest.raises(Exception, match=r"prompts\[0\].*context of 8"):
        generate(SamplesParams(("w1 w2 w3",), 6, 0.0, 0), 1, "cpu", tmp_path / "m")
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    (tmp_path / "m" / "config.json").write_text(
        json.dumps(cfg | {"architectures": ["ModernBertForMaskedLM"]})
    )
    out = generate(SamplesParams(("w1",), 2, 0.0, 0), 1, "cpu", tmp_path / "m")
    assert out["samples"] == [] and "masked LM" in out["skipped"]


def test_the_report_prints_each_prompt_and_its_continuation_fenced():
    detail = {
        "method": "greedy",
        "samples": [{"prompt": "Say\n", "continuation": "a ```b``` c", "new_tokens": 4}],
    }
    lines = samples_section(detail)
    text = "\n".join(lines)
    assert "prompt `Say\\n`, 4 new tokens" in text
    assert "````text\nSay\na ```b``` c\n````" in text
    assert "No samples: the model is masked" in "\n".join(
        samples_section({"samples": [], "skipped": "the model is masked"})
    )


def write_split(d, split: str, tags: list[list[str]]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    d.mkdir(parents=True, exist_ok=True)
    table = {"text": [" ".join(t) for t in tags], "tags": tags, "source": ["wiki"] * len(tags)}
    pq.write_table(pa.table(table), d / f"{split}.parquet")


def test_the_ner_card_scores_all_o_on_the_valid_tags_and_quotes_the_base_licenses(tmp_path):
    from stages.common.params import load_section
    from stages.finetune import card as finetune_card

    task_dir = tmp_path / "tasks" / "ner"
    write_split(task_dir, "train", [["B-PER", "O"], ["O"]])
    write_split(task_dir, "valid", [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-ORG"]])
    model = tmp_path / "model"
    model.mkdir()
    labels = {"0": "O", "1": "B-PER", "2": "I-PER"}
    config = {"architectures": ["LlamaForTokenClassification"], "model_type": "llama", "id2label": labels}
    (model / "config.json").write_text(json.dumps(config))
    base = tmp_path / "pretrain"
    base.mkdir()
    (base / "README.md").write_text("---\na: 1\n---\n## License\n\n- CC0: 9\n\n## After\n")
    metrics = {"best_valid": 0.61, "best_valid_precision": 0.6, "best_valid_recall": 0.625, "parameters": 2_000_000,
               "max_length": 64, "device": "cpu", "precision": "fp32", "steps": 10, "epochs_run": 2,
               "best_step": 10, "valid_metric": "f1", "train_examples": 2}  # fmt: skip
    cfg = load_section("finetune")
    s = finetune_card.build_spec("ner", cfg, 5, metrics, model, tmp_path / "tasks", base)
    [f1, precision, recall] = s.scores
    assert (f1.value, precision.value, recall.value) == (0.61, 0.6, 0.625)
    assert f1.baselines == {"all-O (no entity of 3)": 0.0}
    assert s.pipeline_tag == "token-classification" and ("labels", "O, B-PER, I-PER") in s.model_rows
    text = render(s)
    assert "- CC0: 9" in text and "## After" not in text.split("## License")[1]
    assert "ner:\n    lr:" in text and "seed: 5" in text
    assert "| valid: wiki | 2 | texts |" in text
