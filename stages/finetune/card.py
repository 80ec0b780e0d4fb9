"""models/finetune/<task>/README.md: a fine-tuned model's card, from this run's figures alone.

Reads the saved model's config.json, the task's train and valid data (sources and, for
NER, the valid tags its all-O baseline is scored on), the base model's own card for the
licenses of its pre-training data, and the metrics dict the task returned. Every baseline
is scored on the valid split the stage picks its best epoch on: the majority class for
classifiers (the stage measures it), all-O for NER, the model before training for domain.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

from stages.common.card import CARD_FILE, CardSpec, Score, architecture, fmt, load_snippet, write_card
from stages.finetune import paths
from stages.finetune.config import NEEDS, FinetuneParams
from stages.finetune.data import read_columns

# Task kind -> (what the model does, for the summary and the intended use).
PURPOSE = {
    "classify": "classifies a short text into one of its labels (sentiment)",
    "adversarial": "classifies a short text into one of its labels (sentiment), trained to resist "
    "small perturbations of the input",
    "ner": "tags each word with an IOB2 named-entity label",
    "domain": "continues text in the style of Python's documentation (continued pretraining)",
}


def scores(task: str, metrics: dict[str, Any], task_dir: Path) -> list[Score]:
    """The valid figure the stage selected its model by, beside the baselines on the same data."""
    where = str(task_dir / "valid.parquet")
    best = metrics["best_valid"]
    if task in ("classify", "adversarial"):
        base = {"majority class of train": metrics["majority_valid_accuracy"]}
        return [Score("valid accuracy", "accuracy", best, where, "validation", base, False)]
    if task == "ner":
        from stages.finetune.ner import entity_scores

        tags = read_columns(task_dir, "valid", ("tags",))["tags"]
        all_o = entity_scores(tags, [["O"] * len(t) for t in tags])["f1"]
        entities = sum(t.startswith("B-") for row in tags for t in row)
        base = {f"all-O (no entity of {entities:,})": round(all_o, 4)}
        return [
            Score("valid entity F1 (seqeval, strict IOB2)", "f1", best, where, "validation", base, False),
            Score("valid entity precision", "precision", metrics["best_valid_precision"], where, "validation", {}, False),
            Score("valid entity recall", "recall", metrics["best_valid_recall"], where, "validation", {}, False),
        ]  # fmt: skip
    if task == "domain":
        base = {"the model before training": metrics["initial_valid_ppl"]}
        return [
            Score(
                "valid perplexity", "perplexity", metrics["best_valid_ppl"], where, "validation", base, True
            )
        ]
    return []


def source_counts(task_dir: Path, split: str) -> Counter:
    """Texts per source of a split; a split without a source column counts as the task's own."""
    import pyarrow.parquet as pq

    path = task_dir / f"{split}.parquet"
    if "source" not in pq.read_schema(path).names:
        return Counter({task_dir.name: pq.read_metadata(path).num_rows})
    return Counter(read_columns(task_dir, split, ("source",))["source"])


def base_licenses(base_dir: Path) -> list[str]:
    """The License section of the base model's card, when it has one."""
    path = base_dir / CARD_FILE
    if not path.is_file():
        return [f"{path}: no card, so the licenses of the base model's training data are not known here."]
    text = path.read_text(encoding="utf-8")
    found = re.search(r"^## License\n\n(.*?)(?=^## |\Z)", text, flags=re.S | re.M)
    if not found:
        return [f"{path} has no License section; see the base model's own terms."]
    return [f"From the base model's card ({path}):", "", *found.group(1).rstrip().splitlines()]


def prose(task: str, metrics: dict[str, Any], seed: int, base: str, task_dir: Path) -> tuple[str, list, list]:
    """The summary, intended uses and limitations, each figure from the run's metrics."""
    extra = {
        "classify": (),
        "adversarial": ("method",),
        "ner": ("echo", "label_subword"),
        "domain": ("objective",),
    }
    detail = ", ".join(f"{k} {metrics[k]}" for k in extra.get(task, ()) if k in metrics)
    summary = (
        f"{base} fine-tuned by this repository's finetune stage (task `{task}`): it {PURPOSE.get(task, task)}. "
        f"{metrics['steps']} steps over {metrics['epochs_run']} epoch(s), best at step {metrics['best_step']}"
        f" by valid {metrics['valid_metric']}, seed {seed}" + (f"; {detail}" if detail else "") + "."
    )
    size = metrics.get("train_examples") or metrics.get("train_windows")
    unit = "examples" if "train_examples" in metrics else "windows"
    use = [
        f"Research and teaching: the {task} model of a reproducible pipeline, to compare against the "
        "baselines beside it and to study how params move its figures.",
        f"It {PURPOSE.get(task, task)}; the evaluate stage scores it on the test split (reports/report.md).",
    ]
    limitations = [
        f"Small and briefly trained: {metrics['parameters'] / 1e6:.1f}M parameters, {fmt(size)} {unit} of "
        f"{task_dir} from the sources above. Its figures (below) hold for data like its valid split; other "
        "text is out of its domain, and its outputs are not fit for decisions about people.",
        f"Inputs longer than {fmt(metrics.get('max_length') or metrics.get('context_length'))} tokens were "
        "cut in training; cut them the same way (the saved tokenizer's model_max_length).",
    ]
    return summary, use, limitations


def build_spec(
    task: str,
    cfg: FinetuneParams,
    seed: int,
    metrics: dict[str, Any],
    model_dir: Path,
    tasks_dir: Path = paths.TASKS_DIR,
    pretrain_dir: Path = paths.PRETRAIN_DIR,
) -> CardSpec:
    """The card of the model that `task` saved in `model_dir`, from the metrics it returned."""
    arch = architecture(model_dir)
    task_dir = tasks_dir / task
    sources = {s: source_counts(task_dir, s) for s in ("train", "valid")}
    init = metrics.get("init_from", "pretrain")
    from_pretrain = init == "pretrain"
    base = str(pretrain_dir) if from_pretrain else str(init)
    res = scores(task, metrics, task_dir)
    labels = arch.get("id2label") or {}
    label_names = (
        [labels[k] for k in sorted(labels, key=int)] if arch["auto_class"].endswith("Classification") else []
    )
    model_rows = [
        ("architecture", arch["architecture"]),
        ("base model", base),
        ("parameters", metrics["parameters"]),
        ("context length (tokens)", metrics.get("max_length") or metrics.get("context_length")),
        *([("labels", ", ".join(label_names))] if label_names else []),
        ("trained on", f"{metrics['device']}, {metrics['precision']}"),
    ]
    rows = [(f"{s}: {n}", c, "texts") for s in ("train", "valid") for n, c in sorted(sources[s].items())]
    summary, use, limitations = prose(task, metrics, seed, base, task_dir)
    teacher = task_dir / "teacher.json"
    if task == "ner" and teacher.is_file():
        name = json.loads(teacher.read_text(encoding="utf-8")).get("teacher")
        limitations.append(f"Trained on silver labels tagged by the spaCy pipeline {name}, not by people.")
    task_params = {s: dataclasses.asdict(getattr(cfg, s)) for s in NEEDS.get(task, (task,))}
    return CardSpec(
        title=f"llm-pipeline finetune: {task}",
        summary=summary,
        pipeline_tag=arch["pipeline_tag"],
        tags=("llm-pipeline", "dvc", arch["model_type"], task),
        model_rows=model_rows,
        load=load_snippet(arch["auto_class"], str(model_dir)),
        data_lines=[f"The train and valid splits of `{task_dir}` (the tasks stage); documents per source:"],
        funnel=rows,
        license_lines=[
            f"Fine-tuning data: {', '.join(sorted(sources['train']))} (see `sources.yaml`, `tasks`, for "
            "their packages and terms).",
            "",
            *(base_licenses(pretrain_dir) if from_pretrain else [f"Base model {base}: see its own terms."]),
        ],
        params={"seed": seed, "finetune": {"device": cfg.device, "precision": cfg.precision, **task_params}},
        scores=res,
        results_note=(
            f"Scored on the valid split, by which the stage picked the weights it kept (step {metrics['best_step']}); "
            "the held-out test split is evaluate's (metrics/metrics.json, reports/report.md)."
        ),
        intended_use=use,
        limitations=limitations,
    )


def write(task: str, cfg: FinetuneParams, seed: int, metrics: dict[str, Any]) -> Path:
    """Write models/finetune/<task>/README.md; returns its path."""
    model_dir = paths.MODELS_DIR / task
    return write_card(model_dir, build_spec(task, cfg, seed, metrics, model_dir))
