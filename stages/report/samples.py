"""The report's section of prompted samples from the pretrained model (metrics/evaluate/samples.json)."""

from __future__ import annotations

import re
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
        fence = "`" * max(
            3, 1 + max(map(len, re.findall("`+", text)), default=0)
        )  # longer than any run in it
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
