"""The report's section of prompted samples from the pretrained model (metrics/evaluate/samples.json)."""

from __future__ import annotations

from typing import Any

from stages.report import paths

DETAIL = paths.DETAIL_DIR / "samples.json"


def samples_section(detail: dict[str, Any] | None) -> list[str]:
    """Each prompt and the model's continuation, in a code block so that markdown in them shows as text."""
    lines = ["## Samples from the pre-trained model", ""]
    if not detail:
        return lines + [f"{DETAIL} not found: run `dvc repro evaluate`.", ""]
    if not detail.get("samples"):
        return lines + [f"No samples: {detail.get('skipped', 'none were generated')}.", ""]
    lines += [f"Prompts from `evaluate.samples`; {detail.get('method', '')}.", ""]
    for i, s in enumerate(detail["samples"], 1):
        text = s["prompt"] + s["continuation"]
        fence = "`" * max(3, 1 + max((len(r) for r in _backtick_runs(text)), default=0))
        prompt = s["prompt"].replace("\n", "\\n")
        lines += [
            f"{i}. prompt `{prompt}`, {s['new_tokens']} new tokens:",
            "",
            fence + "text",
            text,
            fence,
            "",
        ]
    return lines


def _backtick_runs(text: str) -> list[str]:
    """The runs of backticks in `text`, so the fence around it can be longer than any of them."""
    runs, run = [], ""
    for ch in text:
        if ch == "`":
            run += ch
        elif run:
            runs.append(run)
            run = ""
    return runs + ([run] if run else [])
