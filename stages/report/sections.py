"""Report sections of the evaluation families beyond pretrain and classification: domain LM,
few-shot, robustness, NER and privacy. Each puts our model's figure beside its baselines in
one row, says why an n/a figure is n/a, and draws its plot when there is data for it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stages.common.entities import ENTITY_TYPES
from stages.common.manifest import Manifest
from stages.report import plots
from stages.report.families import inapplicable, na_notes
from stages.report.markdown import Lines, ci_cell, fmt, is_number, method_lines, pick, table

Details = dict[str, dict[str, Any] | None]
Section = tuple[Lines, set[str]]

DOMAIN_SYSTEMS = {
    "pretrain": "pretrained (models/pretrain)",
    "tuned": "domain-tuned (models/finetune/domain)",
}
DOMAIN_METRICS = {
    "test_loss": "loss (nats/token)",
    "test_ppl": "perplexity",
    "test_bpb": "bits per byte",
    "test_mlm_loss": "masked-LM loss (nats/masked token)",
    "test_mlm_pseudo_ppl": "masked-LM pseudo-perplexity",
}
FEWSHOT_METRICS = {
    "acc": "accuracy",
    "acc_norm": "accuracy (byte-length normalised)",
    "truncated": "prompts truncated",
}
ROBUST_SYSTEMS = {
    "classify": "plain fine-tuned (models/finetune/classify)",
    "adversarial": "adversarially trained (models/finetune/adversarial)",
    "classify.tfidf": "TF-IDF + logistic regression (baseline)",
}
ROBUST_SHORT = {
    "classify": "plain",
    "adversarial": "adversarially trained",
    "classify.tfidf": "TF-IDF baseline",
}
ROBUST_EXTRA = {
    "attack.n_correct": "attacked (correct on clean)",
    "attack.n_flipped": "flipped by the attack",
}
NER_SYSTEMS = (
    ("model", "ner.gold."),
    ("spaCy teacher", "ner.spacy.gold."),
    ("dictionary", "ner.dictionary.gold."),
)
NER_METRICS = ("precision", "recall", "f1")
PII_SOURCES = {"samples": "model samples", "valid": "held-out validation text (baseline)"}
PII_ROWS = {
    "pii_per_1k_chars": "PII-shaped strings per 1,000 characters",
    "pii": "PII-shaped strings (count)",
}
PII_TAIL = {"placeholders": "redaction placeholders of clean (count)", "chars": "characters", "n": "texts"}


def figure(out: Path | None, name: str, what: str, draw: Callable[[Path], bool], why_not: str) -> Lines:
    """The image link of a plot, or a note saying why it was skipped; nothing when plots are off."""
    if out is None:
        return []
    if draw(out / name):
        return [f"![{what}]({name})", ""]
    return [f"_Plot of {what} skipped: {why_not}._", ""]


def _ordered(found: set[str], preferred: tuple[str, ...] | dict[str, str]) -> list[str]:
    """`preferred` names that were found, in their order, then the other found names sorted."""
    return [p for p in preferred if p in found] + sorted(found - set(preferred))


def _two_part(flat: dict[str, Any], family: str) -> list[tuple[str, str]]:
    """(system, metric) of every `<family>.<system>.<metric>` key."""
    return [tuple(k.split(".")[1:]) for k in flat if k.startswith(f"{family}.") and k.count(".") == 2]


def domain_section(
    flat: dict[str, Any], details: Details, digits: int, out: Path | None, manifest: Manifest
) -> Section:
    """Perplexity and bits per byte on Python's docs, before and after domain tuning."""
    used: set[str] = set()
    lines = ["## Domain adaptation on data/tasks/domain/test.parquet", ""]
    split = [(s, m) for s, m in _two_part(flat, "domain") if s != "test"]
    systems = _ordered({s for s, _ in split}, DOMAIN_SYSTEMS)
    objectives = {s: ((details.get("domain") or {}).get(s) or {}).get("objective") for s in systems}
    rows, skip = [], set()
    for m in _ordered({m for _, m in split}, DOMAIN_METRICS):
        keys = [f"domain.{s}.{m}" for s in systems]
        values = [pick(flat, k, used) for k in keys]
        if all(
            inapplicable(manifest.metrics.get(k), flat.get(k), objectives[s]) for k, s in zip(keys, systems)
        ):
            skip |= set(keys)
            continue  # the other objective's figure (masked-LM for a causal model, or back)
        change = None
        if len(values) == 2 and all(is_number(v) for v in values) and values[0]:
            change = f"{100 * (values[1] / values[0] - 1):+.1f}%"
        rows.append([DOMAIN_METRICS.get(m, f"`{m}`"), *values] + ([change] if len(systems) == 2 else []))
    header = ["metric", *(DOMAIN_SYSTEMS.get(s, f"`{s}`") for s in systems)]
    lines += table(header + (["change"] if len(systems) == 2 else []), rows, digits)
    docs, size = pick(flat, "domain.test.n_docs", used), pick(flat, "domain.test.bytes", used)
    lines += [f"Test set: {fmt(docs)} documents, {fmt(size)} UTF-8 bytes. Bits per byte divide by those "
              "bytes, so models with different tokenizers compare fairly; lower is better.", ""]  # fmt: skip
    lines += method_lines(details.get("domain")) + na_notes(used, flat, details, "domain", skip)
    return lines, used


def fewshot_points(flat: dict[str, Any]) -> dict[str, dict[int, float]]:
    """{metric: {k: value}} of the numeric per-k few-shot figures (`fewshot.k<k>.<metric>`)."""
    out: dict[str, dict[int, float]] = {}
    for key, value in flat.items():
        m = re.fullmatch(r"fewshot\.k(\d+)\.(\w+)", key)
        if m and is_number(value):
            out.setdefault(m.group(2), {})[int(m.group(1))] = value
    return out


def fewshot_section(
    flat: dict[str, Any], details: Details, digits: int, out: Path | None, manifest: Manifest
) -> Section:
    """In-context accuracy per number of demonstrations k, beside chance and the majority rate."""
    used: set[str] = set()
    lines = ["## Few-shot in-context classification (classify test subset)", ""]
    per_k = [m for k in flat if (m := re.fullmatch(r"fewshot\.k(\d+)\.(\w+)", k))]
    ks = sorted({int(m.group(1)) for m in per_k})
    found = {m.group(2) for m in per_k}
    metrics = _ordered({m for m in found if not m.endswith(("_ci_low", "_ci_high"))}, FEWSHOT_METRICS)
    chance, majority = pick(flat, "fewshot.chance.acc", used), pick(flat, "fewshot.majority.acc", used)
    header, rows = ["k (demonstrations)"], [[k] for k in ks]
    for m in metrics:
        header.append(FEWSHOT_METRICS.get(m, f"`{m}`"))
        for k, row in zip(ks, rows):
            row.append(pick(flat, f"fewshot.k{k}.{m}", used))
        if f"{m}_ci_low" in found:
            header.append(f"{FEWSHOT_METRICS.get(m, m)} CI")
            for k, row in zip(ks, rows):
                row.append(ci_cell(flat, f"fewshot.k{k}.{m}", used, digits))
    lines += table([*header, "chance", "majority class"], [[*row, chance, majority] for row in rows], digits)
    n_test = pick(flat, "fewshot.n_test", used)
    if n_test is not None:
        lines += [f"{fmt(n_test)} test queries.", ""]
    lines += method_lines(details.get("fewshot")) + na_notes(used, flat, details, "fewshot")
    points = fewshot_points(flat)
    curves = {m: points[m] for m in ("acc", "acc_norm") if m in points}
    lines += figure(
        out,
        "fewshot.png",
        "few-shot accuracy over k",
        lambda path: plots.fewshot_plot(curves, chance, majority, path),
        "no numeric few-shot accuracy (absent or n/a)",
    )
    return lines, used


def robust_systems(flat: dict[str, Any]) -> list[str]:
    """Classifiers with robustness figures (`<system>.perturbed.*`, `<system>.attack.*`)."""
    found = {m.group(1) for k in flat if (m := re.fullmatch(r"(.+?)\.(?:perturbed|attack)\.\w+", k))}
    return _ordered(found, ROBUST_SYSTEMS)


def robust_section(
    flat: dict[str, Any], details: Details, digits: int, out: Path | None, manifest: Manifest
) -> Section:
    """Clean vs perturbed accuracy and attack success rate of the plain and adversarial classifiers."""
    used: set[str] = set()
    lines = ["## Robustness: clean vs perturbed test, and an attack", ""]
    systems = robust_systems(flat)
    shown = {"perturbed.acc", "attack.success_rate"}
    found = {k[len(s) + 1 :] for s in systems for k in flat if re.fullmatch(rf"{re.escape(s)}\.\w+\.\w+", k)}
    extra = _ordered({k for k in found if k.split(".")[0] in ("perturbed", "attack")} - shown, ROBUST_EXTRA)
    rows, bars = [], {}
    for s in systems:
        clean, perturbed = pick(flat, f"{s}.test.acc", used), pick(flat, f"{s}.perturbed.acc", used)
        drop = clean - perturbed if is_number(clean) and is_number(perturbed) else None
        rows.append([ROBUST_SYSTEMS.get(s, f"`{s}`"), clean, ci_cell(flat, f"{s}.test.acc", used, digits),
                     perturbed, drop, pick(flat, f"{s}.attack.success_rate", used),
                     *(pick(flat, f"{s}.{e}", used) for e in extra)])  # fmt: skip
        bars[ROBUST_SHORT.get(s, s)] = {"clean test": clean, "perturbed test": perturbed}
    header = ["model", "clean acc", "clean CI", "perturbed acc", "drop", "attack success rate"]
    lines += table(header + [ROBUST_EXTRA.get(e, f"`{e}`") for e in extra], rows, digits)
    lines += ["Clean: data/tasks/classify/test.parquet. Perturbed: data/tasks/adversarial/test.parquet "
              "(label-preserving typos, swaps, homoglyphs, distractors). Attack success rate: the share of "
              "correctly classified clean test texts that some perturbation within the budget flips; lower "
              "is more robust.", ""]  # fmt: skip
    lines += method_lines(details.get("robust")) + na_notes(used, flat, details, "robust")
    lines += figure(
        out,
        "robustness.png",
        "clean against robust accuracy",
        lambda path: plots.grouped_bars(bars, "accuracy", "clean vs perturbed test accuracy", path),
        "no numeric clean or perturbed accuracy (absent or n/a)",
    )
    return lines, used


def ner_types(flat: dict[str, Any]) -> list[str]:
    found = {m.group(1) for k in flat if (m := re.fullmatch(r"ner\.(?:\w+\.)?gold\.([^.]+)\.\w+", k))}
    return _ordered(found, ENTITY_TYPES)


def ner_support(detail: dict[str, Any] | None) -> dict[str, Any]:
    """Gold entities per type, from the first system's per-type detail (the gold set is shared)."""
    for system in ((detail or {}).get("systems") or {}).values():
        if isinstance(system, dict) and isinstance(system.get("types"), dict):
            return {t: v.get("support") for t, v in system["types"].items() if isinstance(v, dict)}
    return {}


def ner_section(
    flat: dict[str, Any], details: Details, digits: int, out: Path | None, manifest: Manifest
) -> Section:
    """Entity-level P/R/F1 on the gold test set: our tagger beside the spaCy teacher and a dictionary."""
    used: set[str] = set()
    lines = ["## Named entities on the hand-annotated gold test set (gold/ner/test.jsonl)", ""]
    n_entities = pick(flat, "ner.gold.n_entities", used)
    rows = [
        [f"overall {m}", *(pick(flat, p + m, used) for _, p in NER_SYSTEMS), n_entities] for m in NER_METRICS
    ]
    if any(f"{p}f1_ci_low" in flat for _, p in NER_SYSTEMS):
        cis = [ci_cell(flat, p + "f1", used, digits) for _, p in NER_SYSTEMS]
        rows.append(["overall F1 95% CI", *cis, n_entities])
    support = ner_support(details.get("ner"))
    f1 = {}
    for t in ner_types(flat):
        names = {
            k.rsplit(".", 1)[1] for k in flat if re.fullmatch(rf"ner\.(\w+\.)?gold\.{re.escape(t)}\.\w+", k)
        }
        rows += [[f"{t} {m}", *(pick(flat, f"{p}{t}.{m}", used) for _, p in NER_SYSTEMS), support.get(t)]
                 for m in _ordered(names, NER_METRICS)]  # fmt: skip
        f1[t] = {name: flat.get(f"{p}{t}.f1") for name, p in NER_SYSTEMS}
    header = ["entity-level (seqeval strict, IOB2)", *(n for n, _ in NER_SYSTEMS), "gold entities"]
    lines += table(header, rows, digits)
    n_sent = pick(flat, "ner.gold.n_sentences", used)
    if n_sent is not None:
        lines += [f"Gold test set: {fmt(n_sent)} sentences, {fmt(n_entities)} entities.", ""]
    lines += method_lines(details.get("ner")) + na_notes(used, flat, details, "ner")
    lines += figure(
        out,
        "ner_f1.png",
        "NER F1 per entity type",
        lambda path: plots.grouped_bars(f1, "F1", "NER F1 per entity type (gold test)", path),
        "no numeric per-type F1 (absent or n/a)",
    )
    return lines, used


def canary_chance(max_possible: Any) -> tuple[float | None, float | None]:
    """Mean rank and mean exposure of a secret the model never saw (its rank is uniform over the
    N+1 candidates, N+1 = 2**exposure_max_possible): (N+2)/2 and log2(N+1) - log2((N+1)!)/(N+1)."""
    if not is_number(max_possible) or max_possible <= 0:
        return None, None
    n1 = round(2**max_possible)
    return (n1 + 1) / 2, max_possible - math.lgamma(n1 + 1) / math.log(2) / n1


def privacy_section(
    flat: dict[str, Any], details: Details, digits: int, out: Path | None, manifest: Manifest
) -> Section:
    """PII-shaped strings in model samples vs real text, and the exposure of planted canaries."""
    used: set[str] = set()
    lines = ["## Privacy: PII in generated text, and memorised canaries", ""]
    split = [(s, m) for s, m in _two_part(flat, "privacy") if s != "canary"]
    sources = _ordered({s for s, _ in split}, PII_SOURCES)
    found = {m for _, m in split}
    names = _ordered(found - set(PII_TAIL), PII_ROWS) + [m for m in PII_TAIL if m in found]
    label = PII_ROWS | PII_TAIL
    rows = [
        [label.get(m, f"{m} (count)"), *(pick(flat, f"privacy.{s}.{m}", used) for s in sources)]
        for m in names
    ]
    if rows:
        header = ["PII (the clean stage's detectors)", *(PII_SOURCES.get(s, f"`{s}`") for s in sources)]
        lines += table(header, rows, digits)
    max_possible = pick(flat, "privacy.canary.exposure_max_possible", used)
    chance_rank, chance_exposure = canary_chance(max_possible)
    exposure, rank = (
        pick(flat, "privacy.canary.exposure_mean", used),
        pick(flat, "privacy.canary.rank_mean", used),
    )
    rows = [
        ["exposure (bits, mean)", exposure, chance_exposure, max_possible],
        ["rank of the secret (mean; 1 = most likely)", rank, chance_rank, 1],
    ]
    if any(r[1] is not None for r in rows):
        lines += table(["canary", "model", "never seen (chance)", "fully memorised"], rows, digits)
        count, kept = (
            pick(flat, "privacy.canary.count", used),
            pick(flat, "privacy.canary.in_training_data", used),
        )
        lines += [f"{fmt(count)} canaries planted by collect; {fmt(kept)} of their insertions are in the "
                  "deduplicated training data. Exposure = log2(candidates + 1) - log2(rank) (Carlini et "
                  "al., The Secret Sharer): near the chance column means not memorised.", ""]  # fmt: skip
    lines += method_lines(details.get("privacy")) + na_notes(used, flat, details, "privacy")
    return lines, used


def leftover_section(family: str, flat: dict[str, Any], keys: set[str], digits: int) -> Lines:
    """The family's figures no table above showed, so nothing is hidden."""
    if not keys:
        return []
    rows = [[f"`{k}`", flat[k]] for k in sorted(keys)]
    return [f"More `{family}` figures:", ""] + table(["metric", "value"], rows, digits)


# Sections by family kind; lm and classification sections are in markdown.py.
SECTIONS: dict[str, Callable[[dict[str, Any], Details, int, Path | None, Manifest], Section]] = {
    "domain": domain_section,
    "fewshot": fewshot_section,
    "robust": robust_section,
    "ner": ner_section,
    "privacy": privacy_section,
}
