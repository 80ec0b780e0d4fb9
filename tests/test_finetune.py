"""finetune: the stage, its params, and classify: tiny Llama and ModernBERT models learn a
separable toy task, save and reload."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from finetune_fixtures import (
    params,
    save_pretrained_like,
    toy_texts,
    word_tokenizer,
    write_classify,
)
from params_fixtures import merged, profile_file

from stages.common.errors import DataError, ParamsError, PipelineError
from stages.common.params import parse
from stages.finetune.config import FinetuneParams

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny matrices: one thread is faster


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory) -> dict[str, Path]:
    """models/pretrain look-alikes: save_pretrained model + tokenizer, one per architecture."""
    import torch

    torch.manual_seed(0)
    tok = word_tokenizer()
    return {k: save_pretrained_like(tmp_path_factory.mktemp(k), k, tok) for k in ("llama", "modernbert")}


def cfg(**kw) -> FinetuneParams:
    from finetune_fixtures import train_params

    return params(("classify",), classify=train_params(**kw))


@pytest.mark.parametrize("kind", ["llama", "modernbert"])
def test_classify_learns_saves_and_reloads(kind, pretrained, tmp_path, monkeypatch):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from stages.finetune.classify import run

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PIPELINE_NO_PROGRESS", "1")
    write_classify(tmp_path / "data" / "tasks")
    m = run("classify", cfg(), seed=7, pretrain_dir=pretrained[kind], tasks_dir=Path("data/tasks"))

    assert m["best_valid_accuracy"] >= 0.9, m["history"]
    assert m["valid_metric"] == "accuracy" and m["best_valid"] == m["best_valid_accuracy"]
    assert m["best_valid_accuracy"] > m["majority_valid_accuracy"] + 0.3
    assert 1 <= m["best_epoch"] <= m["epochs_run"] <= 6
    assert m["train_time_s"] > 0
    on_disk = json.loads(Path("metrics/finetune/classify.json").read_text())
    assert on_disk["best_valid_accuracy"] == m["best_valid_accuracy"]
    assert (Path("metrics/curves/finetune/classify/plots/metrics/valid/accuracy.tsv")).is_file()

    model = AutoModelForSequenceClassification.from_pretrained("models/finetune/classify")
    tok = AutoTokenizer.from_pretrained("models/finetune/classify")
    assert model.config.id2label == {0: "negative", 1: "positive"}
    assert model.config.pad_token_id == tok.pad_token_id
    assert tok.model_max_length == 16  # truncation at reload matches training
    assert tok("w1 w2")["input_ids"] == tok("w1 w2", add_special_tokens=False)["input_ids"]  # boundary none
    texts, labels = toy_texts(60, 3)  # the test split
    enc = tok(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        pred = model(**enc).logits.argmax(-1)
    acc = (pred == torch.tensor(labels)).float().mean().item()
    assert acc >= 0.85


def test_text_boundary_both_is_saved_with_the_tokenizer(pretrained, tmp_path, monkeypatch):
    from transformers import AutoTokenizer

    from stages.finetune.classify import run

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PIPELINE_NO_PROGRESS", "1")
    write_classify(tmp_path / "data" / "tasks")
    m = run("classify", cfg(epochs=1, text_boundary="both"), 7, pretrained["llama"], Path("data/tasks"))
    assert m["text_boundary"] == "both"
    ids = AutoTokenizer.from_pretrained("models/finetune/classify")("w1 w2")["input_ids"]
    assert ids[0] == ids[-1] != ids[1] and len(ids) == 4  # the separator around the text, at reload too


def test_text_boundary_puts_the_separator_after_or_around_a_text_once():
    from stages.finetune.model import end_token

    tok = word_tokenizer()
    plain = tok("w1 w2")["input_ids"]
    end_token(tok)
    assert tok("w1 w2")["input_ids"] == [*plain, tok.eos_token_id]
    assert tok("w1 w2", add_special_tokens=False)["input_ids"] == plain
    end_token(tok, start=True)  # a tokenizer that already adds its own tokens is left alone
    assert tok("w1 w2")["input_ids"] == [*plain, tok.eos_token_id]
    tok = word_tokenizer()
    end_token(tok, start=True)
    assert tok("w1 w2")["input_ids"] == [tok.eos_token_id, *plain, tok.eos_token_id]


def test_same_seed_same_metrics(pretrained, tmp_path, monkeypatch):
    from stages.finetune.classify import run

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PIPELINE_NO_PROGRESS", "1")
    write_classify(tmp_path / "data" / "tasks")
    runs = [
        run("classify", cfg(epochs=1), seed=3, pretrain_dir=pretrained["llama"], tasks_dir=Path("data/tasks"))
        for _ in range(2)
    ]
    assert runs[0]["history"] == runs[1]["history"]


def test_unknown_task_lists_known_ones():
    from stages.finetune.run import main

    with pytest.raises(
        PipelineError, match=r"unknown task 'sentiment'.*\['adversarial', 'classify', 'domain', 'ner'\]"
    ):
        main(["sentiment"])
    with pytest.raises(PipelineError, match="few-shot is not a finetune task: the evaluate stage"):
        main(["fewshot"])
    with pytest.raises(PipelineError, match="usage"):
        main([])


SECTION = {"lr": 1e-3, "epochs": 1}


@pytest.mark.parametrize(
    "data, match",
    [
        ({"tasks": ["ner_x"]}, r"finetune\.tasks: 'ner_x' is not a known task"),
        (
            {"tasks": ["classify", "fewshot"], "classify": SECTION},
            r"finetune\.tasks: 'fewshot': few-shot is not a finetune task",
        ),
        ({"tasks": ["classify", "classify"], "classify": SECTION}, r"finetune\.tasks: must not repeat"),
        (
            {"tasks": ["ner"], "classify": SECTION, "ner": None},
            r"finetune\.ner: missing, but task 'ner' needs it",
        ),
        (
            {"tasks": ["adversarial"], "adversarial": {}, "classify": None},
            r"finetune\.classify: missing, but task 'adversarial' needs it for the budget",
        ),
        (
            {"tasks": ["classify"], "classify": {"patience": 0}},
            r"finetune\.classify\.patience: must be at least 1",
        ),
        ({"tasks": ["classify"], "classify": {"lr": 2.0}}, r"finetune\.classify\.lr"),
        ({"tasks": ["ner"], "ner": {"warmup_ratio": 1.0}}, r"finetune\.ner\.warmup_ratio"),
        (
            {"tasks": ["classify"], "classify": {"epochs": "3"}},
            r"finetune\.classify\.epochs: expected an integer",
        ),
        ({"classify": {"learning_rate": 1e-3}}, r"finetune\.classify: unknown key\(s\) \['learning_rate'\]"),
        ({"lr": 1e-3}, r"finetune: unknown key\(s\) \['lr'\]"),
        ({"precision": "fp16"}, r"finetune\.precision: 'fp16' is not one of"),
        (
            {
                "tasks": ["domain"],
                "domain": {"init_from": {"package": "x==1", "sha256": "a" * 64, "member": "m.bin"}},
            },
            r"finetune\.domain\.init_from",
        ),
        ({"tasks": ["domain"], "domain": {"init_from": "scratch"}}, r"finetune\.domain\.init_from: must be"),
        (
            {"tasks": ["domain"], "domain": {"member": "m.gguf"}},
            r"finetune\.domain: unknown key\(s\) \['member'\]",
        ),
        ({"tasks": ["domain"], "domain": {"mask_prob": 0.0}}, r"finetune\.domain\.mask_prob"),
        ({"tasks": ["domain"], "domain": {"max_steps": -1}}, r"finetune\.domain\.max_steps"),
        (
            {"tasks": ["adversarial"], "classify": {}, "adversarial": {"method": "fgsm"}},
            r"finetune\.adversarial\.method: 'fgsm' is not one of",
        ),
        (
            {"tasks": ["adversarial"], "classify": {}, "adversarial": {"adv_eps": 0}},
            r"finetune\.adversarial\.adv_eps: must be > 0",
        ),
    ],
)
def test_bad_params_name_the_key(data, match):
    with pytest.raises(ParamsError, match=match):
        parse(FinetuneParams, merged("finetune", data), "finetune")


def test_sections_parse_and_adversarial_uses_the_classify_budget():
    data = {"tasks": ["adversarial"], "classify": {"lr": 1e-4, "epochs": 2}, "adversarial": {"method": "pgd"}}
    cfg = parse(FinetuneParams, merged("finetune", data) | {"ner": None}, "finetune")
    assert cfg.train_params("adversarial") is cfg.classify and cfg.classify.lr == 1e-4
    assert cfg.adversarial.method == "pgd" and cfg.ner is None
    with pytest.raises(ParamsError, match="ner: missing, but task 'ner' needs it"):
        cfg.train_params("ner")


def test_cli_refuses_a_task_whose_section_is_missing(tmp_path, monkeypatch):
    import yaml

    from stages.finetune.run import main

    data = yaml.safe_load(profile_file("tiny", tmp_path).read_text())
    data["finetune"]["tasks"] = ["classify"]
    data["finetune"]["ner"] = None
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(data))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ParamsError, match=r"params\.yaml: finetune\.ner: missing, but task 'ner' needs it"):
        main(["ner"])


def test_missing_task_data_is_a_clear_error(pretrained, tmp_path, monkeypatch):
    from stages.finetune.classify import run

    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match="labels.json"):
        run("classify", cfg(), seed=1, pretrain_dir=pretrained["llama"], tasks_dir=Path("data/tasks"))


def test_empty_split_names_the_task(pretrained, tmp_path, monkeypatch):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from stages.finetune.classify import run

    monkeypatch.chdir(tmp_path)
    write_classify(Path("data/tasks"))
    empty = pa.table({"text": pa.array([], pa.string()), "label": pa.array([], pa.int64())})
    pq.write_table(empty, "data/tasks/classify/valid.parquet")
    with pytest.raises(DataError, match=r"task classify: data/tasks/classify/valid.parquet has no rows"):
        run("classify", cfg(), seed=1, pretrain_dir=pretrained["llama"], tasks_dir=Path("data/tasks"))


def test_a_base_head_for_other_labels_is_refused(pretrained, tmp_path, monkeypatch):
    """Fine-tuning from a folder that already is a classifier for other labels names the task."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from stages.finetune.classify import run

    monkeypatch.chdir(tmp_path)
    write_classify(Path("data/tasks"))
    base = tmp_path / "old_classifier"
    labels = {0: "neg", 1: "neu", 2: "pos"}
    AutoModelForSequenceClassification.from_pretrained(pretrained["llama"], id2label=labels).save_pretrained(
        base
    )
    AutoTokenizer.from_pretrained(pretrained["llama"]).save_pretrained(base)
    with pytest.raises(
        DataError, match=r"task classify: .*old_classifier has a head for labels \['neg', 'neu', 'pos'\]"
    ):
        run("classify", cfg(), seed=1, pretrain_dir=base, tasks_dir=Path("data/tasks"))


def test_stage_cli_on_tiny_profile(pretrained, tmp_path, monkeypatch):
    """`python -m stages.finetune classify` with the tiny profile's params and default paths."""

    from stages.finetune.run import main

    profile_file("tiny", tmp_path).rename(tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PIPELINE_NO_PROGRESS", "1")
    write_classify(Path("data/tasks"))
    Path("models").mkdir()
    Path("models/pretrain").symlink_to(pretrained["modernbert"])
    main(["classify"])
    m = json.loads(Path("metrics/finetune/classify.json").read_text())
    info = json.loads(Path("metrics/finetune/info/classify.json").read_text())
    assert m["epochs_run"] == 1 and info["model_type"] == "modernbert" and "model_type" not in m
    assert m["train_examples"] == 240 and m["steps"] == 15  # 240 / batch 16
    assert Path("models/finetune/classify/model.safetensors").is_file()
    assert Path("metrics/curves/finetune/classify/plots/metrics/train/loss.tsv").is_file()
    card = Path("models/finetune/classify/README.md").read_text()  # the model card, beside the weights
    assert (
        f"| valid accuracy | data/tasks/classify/valid.parquet | validation | {m['best_valid']:.4g} |" in card
    )


@pytest.mark.parametrize("total, warmup_ratio", [(10, 0.1), (7, 0.0), (45, 0.3)])
def test_the_shared_linear_schedule_gives_torchs_lambdalr_rates_exactly(total, warmup_ratio):
    """Fine-tunes keep their numbers: the rate of each step equals, bit for bit, that of the
    LambdaLR (warmup, then linear decay to 0) they were measured with."""
    import math

    import torch

    from stages.common.optim import linear_schedule

    warmup = math.ceil(total * warmup_ratio)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(2))], lr=3e-4)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    lr_at = linear_schedule(3e-4, total, warmup_ratio)
    for step in range(total + 2):
        assert lr_at(step) == opt.param_groups[0]["lr"], step
        opt.step()
        sched.step()
