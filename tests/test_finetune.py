"""finetune: tiny Llama and ModernBERT models learn a separable toy task, save and reload."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from stages.common.errors import ParamsError, PipelineError
from stages.common.params import parse
from stages.finetune.config import FinetuneParams

POS = ["great", "good", "lovely", "superb"]
NEG = ["awful", "bad", "boring", "terrible"]
FILLER = [
    "the",
    "a",
    "film",
    "plot",
    "actor",
    "scene",
    "movie",
    "story",
    "was",
    "is",
    "and",
    "it",
    "this",
    "very",
    "quite",
]


def toy_texts(n: int, seed: int) -> tuple[list[str], list[int]]:
    """Filler words plus one sentiment word that decides the label: trivially separable."""
    rng = random.Random(seed)
    texts, labels = [], []
    for i in range(n):
        y = i % 2
        words = rng.choices(FILLER, k=rng.randint(3, 8))
        words.insert(rng.randint(0, len(words)), rng.choice(POS if y else NEG))
        texts.append(" ".join(words))
        labels.append(y)
    return texts, labels


def write_task(tasks_dir: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    d = tasks_dir / "classify"
    d.mkdir(parents=True)
    for split, (n, seed) in {"train": (240, 1), "valid": (60, 2), "test": (60, 3)}.items():
        texts, labels = toy_texts(n, seed)
        pq.write_table(
            pa.table({"text": texts, "label": pa.array(labels, pa.int64())}), d / f"{split}.parquet"
        )
    (d / "labels.json").write_text(json.dumps(["negative", "positive"]))


def tiny_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.WordLevelTrainer(special_tokens=["<pad>", "<eos>", "<mask>", "<unk>"])
    tok.train_from_iterator([" ".join(POS + NEG + FILLER)], trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>", mask_token="<mask>", unk_token="<unk>"
    )


def tiny_model(kind: str, tok):
    from transformers import LlamaConfig, LlamaForCausalLM, ModernBertConfig, ModernBertForMaskedLM

    common = {"vocab_size": len(tok), "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2}
    common |= {"num_attention_heads": 2, "max_position_embeddings": 64, "pad_token_id": tok.pad_token_id}
    if kind == "llama":
        return LlamaForCausalLM(LlamaConfig(**common, num_key_value_heads=2, eos_token_id=tok.eos_token_id))
    ids = {k: tok.eos_token_id for k in ("bos_token_id", "eos_token_id", "cls_token_id", "sep_token_id")}
    return ModernBertForMaskedLM(ModernBertConfig(**common, **ids, mask_token_id=tok.mask_token_id))


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny matrices: one thread avoids OpenMP spin-waiting, which is slow on a busy CPU."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory) -> dict[str, Path]:
    """models/pretrain look-alikes: save_pretrained model + tokenizer, one per architecture."""
    import torch

    torch.manual_seed(0)
    tok = tiny_tokenizer()
    out = {}
    for kind in ("llama", "modernbert"):
        d = tmp_path_factory.mktemp(kind)
        tiny_model(kind, tok).save_pretrained(d)
        tok.save_pretrained(d)
        out[kind] = d
    return out


def cfg(**kw) -> FinetuneParams:
    base = {"lr": 3e-3, "epochs": 6, "batch_size": 16, "max_length": 16, "patience": 2, "log_every": 5}
    base["precision"] = "fp32"  # bf16 autocast only pays off on matrices far larger than these
    return FinetuneParams(**(base | kw))


@pytest.mark.parametrize("kind", ["llama", "modernbert"])
def test_classify_learns_saves_and_reloads(kind, pretrained, tmp_path, monkeypatch):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from stages.finetune.classify import run

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PIPELINE_NO_PROGRESS", "1")
    write_task(tmp_path / "data" / "tasks")
    m = run("classify", cfg(), seed=7, pretrain_dir=pretrained[kind], tasks_dir=Path("data/tasks"))

    assert m["best_valid_accuracy"] >= 0.9, m["history"]
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
    texts, labels = toy_texts(60, 3)  # the test split
    enc = tok(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        pred = model(**enc).logits.argmax(-1)
    acc = (pred == torch.tensor(labels)).float().mean().item()
    assert acc >= 0.85


def test_same_seed_same_metrics(pretrained, tmp_path, monkeypatch):
    from stages.finetune.classify import run

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PIPELINE_NO_PROGRESS", "1")
    write_task(tmp_path / "data" / "tasks")
    runs = [
        run("classify", cfg(epochs=1), seed=3, pretrain_dir=pretrained["llama"], tasks_dir=Path("data/tasks"))
        for _ in range(2)
    ]
    assert runs[0]["history"] == runs[1]["history"]


def test_unknown_task_lists_known_ones():
    from stages.finetune.run import main

    with pytest.raises(PipelineError, match=r"unknown task 'sentiment'.*\['classify'\]"):
        main(["sentiment"])
    with pytest.raises(PipelineError, match="usage"):
        main([])


@pytest.mark.parametrize(
    "data, match",
    [
        ({"tasks": ["ner_x"]}, r"finetune\.tasks: 'ner_x' is not a known task"),
        ({"patience": 0}, r"finetune\.patience: must be at least 1"),
        ({"lr": 2.0}, r"finetune\.lr"),
        ({"warmup_ratio": 1.0}, r"finetune\.warmup_ratio"),
        ({"epochs": "3"}, r"finetune\.epochs: expected an integer"),
        ({"learning_rate": 1e-3}, r"unknown key\(s\) \['learning_rate'\]"),
        ({"precision": "fp16"}, r"finetune\.precision: 'fp16' is not one of"),
    ],
)
def test_bad_params_name_the_key(data, match):
    with pytest.raises(ParamsError, match=match):
        parse(FinetuneParams, data, "finetune")


def test_missing_task_data_is_a_clear_error(pretrained, tmp_path, monkeypatch):
    from stages.common.errors import DataError
    from stages.finetune.classify import run

    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match="labels.json"):
        run("classify", cfg(), seed=1, pretrain_dir=pretrained["llama"], tasks_dir=Path("data/tasks"))


def test_stage_cli_on_tiny_profile(pretrained, tmp_path, monkeypatch):
    """`python -m stages.finetune classify` with the tiny profile's params and default paths."""
    import shutil

    from stages.finetune.run import main

    shutil.copy(Path(__file__).parents[1] / "profiles" / "tiny.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PIPELINE_NO_PROGRESS", "1")
    write_task(Path("data/tasks"))
    Path("models").mkdir()
    Path("models/pretrain").symlink_to(pretrained["modernbert"])
    main(["classify"])
    m = json.loads(Path("metrics/finetune/classify.json").read_text())
    assert m["epochs_run"] == 1 and m["model_type"] == "modernbert"
    assert m["train_examples"] == 240 and m["steps"] == 15  # 240 / batch 16
    assert Path("models/finetune/classify/model.safetensors").is_file()
    assert Path("metrics/curves/finetune/classify/plots/metrics/train/loss.tsv").is_file()
