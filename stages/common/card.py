"""The README.md a model user expects next to the weights: a Hugging Face model card.

pretrain and finetune describe their run as a `CardSpec` (every figure taken from the run:
its metrics, its params section, the data it read) and `write_card` renders it into the
model folder: YAML front matter (license, library_name, pipeline_tag, tags and a
`model-index` with the run's own results, built and checked by huggingface_hub's
ModelCardData), then the model and how to load it, the training data and its funnel, the
training params, the results beside their baselines, intended use and limitations.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from stages.common.errors import DataError
from stages.common.io import atomic_file

CARD_FILE = "README.md"
# Architecture suffix in config.json -> (the Auto class that loads it, the Hub's pipeline_tag).
AUTO_CLASSES = {
    "ForCausalLM": ("AutoModelForCausalLM", "text-generation"),
    "ForMaskedLM": ("AutoModelForMaskedLM", "fill-mask"),
    "ForSequenceClassification": ("AutoModelForSequenceClassification", "text-classification"),
    "ForTokenClassification": ("AutoModelForTokenClassification", "token-classification"),
}
# The training data carry several licenses (some "personal use only"), so the weights get none of
# the Hub's standard identifiers; the card's "License" section lists each one with its documents.
LICENSE = "other"
LICENSE_NAME = "mixed-training-data-licenses"


@dataclass(frozen=True)
class Score:
    """One measured figure of the model and the baselines scored on the same data."""

    name: str  # what it is, e.g. "validation perplexity"
    metric_type: str  # the Hub's metric id: perplexity, accuracy, f1, ...
    value: float
    dataset: str  # where it was scored, e.g. "data/tokens/valid.bin"
    split: str  # validation or test
    baselines: dict[str, float]  # baseline name -> its figure on the same data
    lower_is_better: bool


@dataclass(frozen=True)
class CardSpec:
    """What a stage knows about the model it saved; `render` turns it into the card."""

    title: str
    summary: str  # one paragraph: what the model is and how it was made
    pipeline_tag: str  # the Hub's task, also the model-index task: text-generation, fill-mask, ...
    tags: tuple[str, ...]
    model_rows: list[tuple[str, Any]]  # (property, value) rows of the "Model" table
    load: str  # python that loads the folder
    data_lines: list[str]  # markdown: where the training data come from
    funnel: list[tuple[str, Any, str]]  # (step, documents or tokens, what happened there)
    license_lines: list[str]  # markdown: the licenses of the training data and what they allow
    params: dict[str, Any]  # the params section(s) the stage trained with, as in params.yaml
    scores: list[Score]
    results_note: str  # how the figures and baselines were measured, printed under the results
    intended_use: list[str]
    limitations: list[str]


def architecture(model_dir: Path) -> dict[str, Any]:
    """config.json of a saved model with its Auto class and pipeline_tag, from its architecture."""
    path = model_dir / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise DataError(f"{path}: cannot read the saved model's config ({e}); save the model first") from None
    arch = (config.get("architectures") or [""])[0]
    for suffix, (auto, tag) in AUTO_CLASSES.items():
        if arch.endswith(suffix):
            return {**config, "architecture": arch, "auto_class": auto, "pipeline_tag": tag}
    raise DataError(f"{path}: architecture {arch!r} has no Auto class here; known: {sorted(AUTO_CLASSES)}")


def load_snippet(auto_class: str, folder: str) -> str:
    return (
        f"from transformers import {auto_class}, AutoTokenizer\n\n"
        f'model = {auto_class}.from_pretrained("{folder}")\n'
        f'tokenizer = AutoTokenizer.from_pretrained("{folder}")\n'
    )


def parquet_counts(folder: Path, column: str) -> Counter:
    """Documents per value of `column` over the top-level parquet files of a data folder.

    Reads that one column only, never the text, so the funnel costs well under a second.
    """
    import pyarrow.parquet as pq

    files = sorted(folder.glob("*.parquet"))
    if not files:
        raise DataError(f"{folder}: no parquet files; run the stage that writes it (dvc repro)")
    counts: Counter = Counter()
    for f in files:
        counts.update(pq.read_table(f, columns=[column]).column(column).to_pylist())
    return counts


def fmt(value: Any) -> str:
    """A figure as the card prints it: integers with separators, floats to 4 significant digits."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if not math.isfinite(value):
        return str(value)
    return f"{value:,.4g}" if abs(value) < 1e6 else f"{value:,.0f}"


def card_data(spec: CardSpec) -> Any:
    """huggingface_hub's ModelCardData of the card: it validates the metadata and writes model-index."""
    from huggingface_hub import EvalResult, ModelCardData

    results = [
        EvalResult(
            task_type=spec.pipeline_tag,
            dataset_type=s.dataset,
            dataset_name=s.dataset,
            dataset_split=s.split,
            metric_type=s.metric_type,
            metric_value=float(s.value),  # a numpy scalar would be dumped as a python object tag
            metric_name=s.name,
        )
        for s in spec.scores
    ]
    return ModelCardData(
        license=LICENSE,
        license_name=LICENSE_NAME,
        library_name="transformers",
        pipeline_tag=spec.pipeline_tag,
        tags=list(spec.tags),
        model_name=spec.title,
        eval_results=results or None,
    )


def render(spec: CardSpec) -> str:
    """The whole card: front matter, then one section each for model, data, params, results, use."""
    lines = ["---", card_data(spec).to_yaml().rstrip(), "---", "", f"# {spec.title}", "", spec.summary, ""]
    lines += ["## Model", "", *table(["property", "value"], [[k, fmt(v)] for k, v in spec.model_rows])]
    lines += ["", "Load it with transformers:", "", "```python", spec.load.rstrip(), "```", ""]
    lines += ["## Training data", "", *spec.data_lines, ""]
    if spec.funnel:
        lines += table(["step", "count", "what happened"], [[a, fmt(b), c] for a, b, c in spec.funnel])
        lines += [""]
    lines += ["## Training params", "", "As in params.yaml (the whole section this stage read):", ""]
    lines += ["```yaml", yaml.safe_dump(spec.params, sort_keys=False).rstrip(), "```", ""]
    lines += ["## Results", ""]
    if spec.scores:
        rows = [
            [s.name, s.dataset, s.split, fmt(s.value), "; ".join(f"{k} {fmt(v)}" for k, v in s.baselines.items()),
             "lower" if s.lower_is_better else "higher"]
            for s in spec.scores
        ]  # fmt: skip
        lines += table(["measure", "data", "split", "this model", "baselines (same data)", "better"], rows)
        lines += ["", spec.results_note] if spec.results_note else []
    else:
        lines += ["The run measured no result."]
    lines += ["", "## Intended use", "", *[f"- {x}" for x in spec.intended_use], ""]
    lines += ["## Limitations", "", *[f"- {x}" for x in spec.limitations], ""]
    lines += ["## License", "", *spec.license_lines]
    return "\n".join(lines).rstrip() + "\n"


def write_card(model_dir: Path, spec: CardSpec) -> Path:
    """Render `spec` into `model_dir/README.md`, atomically; returns the path."""
    path = model_dir / CARD_FILE
    with atomic_file(path) as f:
        f.write(render(spec))
    return path


def read_front_matter(text: str) -> dict[str, Any]:
    """The YAML between the card's leading `---` lines (what the Hub reads as metadata)."""
    head, sep, rest = text.partition("---\n")
    meta, sep2, _ = rest.partition("\n---\n")
    if head or not sep or not sep2:
        raise DataError("the model card does not start with a ---\\n...\\n--- YAML block")
    return yaml.safe_load(meta)


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """A markdown table; cells are printed with `str`, pipes escaped."""

    def cell(x: str) -> str:
        return str(x).replace("|", "\\|").replace("\n", " ")

    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return out + ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
