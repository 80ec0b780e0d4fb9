"""Report sections of the evaluation families beyond pretrain and classification: domain LM,
few-shot, robustness, NER and privacy. Each puts our model's figure beside its baselines in
one row, says why an n/a figure is n/a, and draws its plot when there is data for it.

Tables are laid out from metrics/manifest.json alone: rows and columns are the systems,
measures and axis points evaluate declared for each key, headed by the labels it gave them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stages.common.manifest import FRACTION, Manifest
from stages.report import plots
from stages.report.families import inapplicable, na_notes
from stages.report.markdown import (
    Lines,
    cells,
    ci_cell,
    ends,
    fmt,
    is_number,
    measures,
    method_lines,
    present,
    systems_of,
    table,
    value,
)

Details = dict[str, dict[str, Any] | None]
Section = tuple[Lines, set[str]]


def figure(out: Path | None, name: str, what: str, draw: Callable[[Path], bool], why_not: str) -> Lines:
    """The image link of a plot, or a note saying why it was skipped; nothing when plots are off."""
    if out is None:
        return []
    if draw(out / name):
        return [f"![{what}]({name})", ""]
    return [f"_Plot of {what} skipped: {why_not}._", ""]


def domain_section(
    flat: dict[str, Any], details: Details, digits: int, out: Path | None, manifest: Manifest
) -> Section:
    """Perplexity and bits per byte on Python's docs, before and after domain tuning."""
    used: set[str] = set()
    lines = ["## Domain adaptation on data/tasks/domain/test.parquet", ""]
    entries = present(manifest, "domain", flat)
    at = cells(entries)
    systems = systems_of(manifest, "domain", entries)
    objectives = {s.name: ((details.get("domain") or {}).get(s.name) or {}).get("objective") for s in systems}
    rows, skip = [], set()
    for m in measures([e for e in entries if e.system is not None]):
        row = [at.get((s.name, m.measure, None, None)) for s in systems]
        values = [value(flat, e, used) for e in row]
        if all(e is None or inapplicable(e, flat[e.key], objectives[e.system]) for e in row):
            skip |= {e.key for e in row if e}
            continue  # the other objective's figure (masked-LM for a causal model, or back)
        change = None
        if len(values) == 2 and all(is_number(v) for v in values) and values[0]:
            change = f"{100 * (values[1] / values[0] - 1):+.1f}%"
        rows.append([m.label, *values] + ([change] if len(systems) == 2 else []))
    header = ["metric", *(s.label for s in systems)]
    lines += table(header + (["change"] if len(systems) == 2 else []), rows, digits)
    docs = value(flat, at.get((None, "n_docs", None, None)), used)
    size = value(flat, at.get((None, "bytes", None, None)), used)
    lines += [f"Test set: {fmt(docs)} documents, {fmt(size)} UTF-8 bytes. Bits per byte divide by those "
              "bytes, so models with different tokenizers compare fairly; lower is better.", ""]  # fmt: skip
    lines += method_lines(details.get("domain")) + na_notes(used, flat, details, "domain", skip)
    return lines, used


def fewshot_section(
    flat: dict[str, Any], details: Details, digits: int, out: Path | None, manifest: Manifest
) -> Section:
    """In-context accuracy per number of demonstrations k, beside chance and the majority rate."""
    used: set[str] = set()
    lines = ["## Few-shot in-context classification (classify test subset)", ""]
    entries = present(manifest, "fewshot", flat)
    at = cells(entries)
    per_k = [m for m in entries if m.axis == "k"]
    ks = sorted({m.at for m in per_k})
    # Our model's columns, then a reference model's when evaluate scored one, each measure once.
    scored = systems_of(manifest, "fewshot", per_k)
    columns = [(s, m) for s in scored for m in measures([e for e in per_k if e.system == s.name])]
    # The baselines: one figure per system, the same for every k, in a column each.
    fixed = [m for m in entries if m.system is not None and m.axis is None and m.bound is None]
    labels = {s.name: s.label for s in systems_of(manifest, "fewshot", fixed)}
    baselines = {labels[m.system]: value(flat, m, used) for m in fixed}
    header, rows = ["k (demonstrations)"], [[k] for k in ks]
    for s, m in columns:
        header.append(m.label if len(scored) == 1 else f"{s.plot_label}: {m.label}")
        for k, row in zip(ks, rows):
            row.append(value(flat, at.get((m.system, m.measure, k, None)), used))
        interval = [ends(at, m.system, m.measure, k) for k in ks]
        named = next((e[0] for e in interval if e[0] is not None), None)
        if named is not None:
            header.append(named.label)
            for bounds, row in zip(interval, rows):
                row.append(ci_cell(flat, bounds, used, digits))
    lines += table([*header, *baselines], [[*row, *baselines.values()] for row in rows], digits)
    n_test = value(flat, at.get((None, "n_test", None, None)), used)
    if n_test is not None:
        lines += [f"{fmt(n_test)} test queries.", ""]
    lines += method_lines(details.get("fewshot")) + na_notes(used, flat, details, "fewshot")
    # Every accuracy-like measure (a fraction) over k; counts such as truncated prompts are not drawn.
    curves: dict[str, dict[int, float]] = {}
    names = {s.name: s.plot_label for s in scored}
    for e in per_k:
        if e.bound is None and e.unit == FRACTION and is_number(flat[e.key]):
            curves.setdefault(f"{names[e.system]} ({e.measure})", {})[e.at] = flat[e.key]
    lines += figure(
        out,
        "fewshot.png",
        "few-shot accuracy over k",
        lambda path: plots.fewshot_plot(curves, baselines, path),
        "no numeric few-shot accuracy (absent or n/a)",
    )
    return lines, used


def robust_section(
    flat: dict[str, Any], details: Details, digits: int, out: Path | None, manifest: Manifest
) -> Section:
    """Clean vs perturbed accuracy and attack success rate of the plain and adversarial classifiers."""
    used: set[str] = set()
    lines = ["## Robustness: clean vs perturbed test, and an attack", ""]
    entries = present(manifest, "robust", flat)
    declared = cells(manifest.of_family("robust"))
    at = cells(entries)
    systems = systems_of(manifest, "robust", entries)
    # The measure read against a clean-test figure (perturbed accuracy), then the attack's.
    compared = next((m for m in measures(manifest.of_family("robust")) if m.reference), None)
    others = [m for m in measures(entries) if not m.reference]
    rows, bars = [], {}
    for s in systems:
        perturbed_entry = declared.get((s.name, compared.measure, None, None)) if compared else None
        clean_entry = manifest.metrics.get(perturbed_entry.reference) if perturbed_entry else None
        clean, perturbed = value(flat, clean_entry, used), value(flat, perturbed_entry, used)
        clean_ci = ci_cell(flat, manifest.interval(clean_entry) if clean_entry else None, used, digits)
        drop = clean - perturbed if is_number(clean) and is_number(perturbed) else None
        rest = [value(flat, at.get((s.name, m.measure, None, None)), used) for m in others]
        rows.append([s.label, clean, clean_ci, perturbed, drop, *rest])
        bars[s.plot_label] = {"clean test": clean, "perturbed test": perturbed}
    header = ["model", "clean acc", "clean CI", "perturbed acc", "drop"]
    lines += table(header + [m.label for m in others], rows, digits)
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


def ner_support(detail: dict[str, Any] | None) -> dict[str, Any]:
    """Gold entities per type, from the first system's per-type detail (the gold set is shared)."""
    for system in ((detail or {}).get("systems") or {}).values():
        if isinstance(system, dict) and isinstance(system.get("types"), dict):
            return {t: v.get("support") for t, v in system["types"].items() if isinstance(v, dict)}
    return {}


def ner_genre_lines(detail: dict[str, Any] | None, systems: tuple, digits: int) -> list[str]:
    """One row per genre of the gold set: its size, each system's F1 with its bootstrap interval,
    and ORG F1 (the detail's "genres", written by evaluate)."""
    genres = (detail or {}).get("genres")
    if not isinstance(genres, dict) or not genres:
        return []

    def f1_ci(scores: dict[str, Any]) -> str:
        f1, low, high = (scores.get(k) for k in ("f1", "f1_ci_low", "f1_ci_high"))
        if not is_number(f1):
            return "—"
        ci = f" [{fmt(low, digits)}, {fmt(high, digits)}]" if is_number(low) and is_number(high) else ""
        return fmt(f1, digits) + ci

    rows = []
    for genre, entry in genres.items():
        by = entry.get("systems") or {}
        org = [((by.get(s.name) or {}).get("types") or {}).get("ORG") or {} for s in systems]
        rows.append([genre, entry.get("sentences"), entry.get("entities"), org[0].get("support") if org else None,
                     *(f1_ci(by.get(s.name) or {}) for s in systems),
                     *(o.get("f1") if o.get("support") else None for o in org)])  # fmt: skip
    header = ["genre", "sentences", "entities", "ORG", *(f"{s.label} F1 [CI]" for s in systems),
              *(f"{s.label} ORG F1" for s in systems)]  # fmt: skip
    return ["Per genre of the gold set (F1 with its bootstrap interval over that genre's sentences):", "",
            *table(header, rows, digits)]  # fmt: skip


def ner_section(
    flat: dict[str, Any], details: Details, digits: int, out: Path | None, manifest: Manifest
) -> Section:
    """Entity-level P/R/F1 on the gold test set: our tagger beside the spaCy teacher and a dictionary."""
    used: set[str] = set()
    lines = ["## Named entities on the hand-annotated gold test set (gold/ner/test.jsonl)", ""]
    declared = manifest.of_family("ner")
    at = cells(declared)
    info = manifest.family("ner")
    systems = info.systems if info else ()
    n_entities = value(flat, at.get((None, "n_entities", None, None)), used)
    overall = measures([m for m in declared if m.system is not None and m.axis is None])
    rows = [
        [f"overall {m.label}", *(value(flat, at.get((s.name, m.measure, None, None)), used) for s in systems), n_entities]
        for m in overall
    ]  # fmt: skip
    for m in overall:
        interval = [ends(at, s.name, m.measure) for s in systems]
        if any(low is not None and low.key in flat for low, _ in interval):
            label = next(low.label for low, _ in interval if low is not None)
            rows.append([f"overall {label}", *(ci_cell(flat, e, used, digits) for e in interval), n_entities])
    support = ner_support(details.get("ner"))
    per_type = [m for m in present(manifest, "ner", flat) if m.axis == "type"]
    f1 = {}
    for t in dict.fromkeys(m.at for m in per_type):
        rows += [[f"{t} {m.label}", *(value(flat, at.get((s.name, m.measure, t, None)), used) for s in systems),
                  support.get(t)] for m in measures([e for e in per_type if e.at == t])]  # fmt: skip
        f1[t] = {s.plot_label: value(flat, at.get((s.name, "f1", t, None)), used) for s in systems}
    header = ["entity-level (seqeval strict, IOB2)", *(s.label for s in systems), "gold entities"]
    lines += table(header, rows, digits)
    n_sent = value(flat, at.get((None, "n_sentences", None, None)), used)
    if n_sent is not None:
        lines += [f"Gold test set: {fmt(n_sent)} sentences, {fmt(n_entities)} entities.", ""]
    lines += ner_genre_lines(details.get("ner"), systems, digits)
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
    texts = [m for m in present(manifest, "privacy", flat) if m.system is not None]
    sources = systems_of(manifest, "privacy", texts)
    at = cells(texts)
    rows = [
        [m.label, *(value(flat, at.get((s.name, m.measure, None, None)), used) for s in sources)]
        for m in measures(texts)
    ]
    if rows:
        header = ["PII (the clean stage's detectors)", *(s.label for s in sources)]
        lines += table(header, rows, digits)
    # The canaries' figures belong to no system: the model's ranks of the planted secrets.
    canary = {m.measure: m for m in manifest.of_family("privacy") if m.system is None}
    max_possible = value(flat, canary.get("exposure_max_possible"), used)
    chance_rank, chance_exposure = canary_chance(max_possible)
    exposure, rank = canary.get("exposure_mean"), canary.get("rank_mean")
    rows = [
        [exposure.label, value(flat, exposure, used), chance_exposure, max_possible] if exposure else [],
        [rank.label, value(flat, rank, used), chance_rank, 1] if rank else [],
    ]
    rows = [r for r in rows if r]
    if any(r[1] is not None for r in rows):
        lines += table(["canary", "model", "never seen (chance)", "fully memorised"], rows, digits)
        count = value(flat, canary.get("count"), used)
        kept = value(flat, canary.get("in_training_data"), used)
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
