"""The labelled harm set (tests/data/harm_labelled.jsonl) and its scoring.

150 short English texts written for this repository (not downloaded): 75 toxic, 35 of
them plain insults, threats or profanity and 40 with the same in obfuscated spellings
(leetspeak, masks, stretched, spaced or dotted letters, chat abbreviations); 75 clean, 40
of them hard negatives (Scunthorpe, assessment, "kill the process", cocktail, Dick Cheney,
Moby-Dick, anatomy and medicine, "shoot the photo") and 35 ordinary sentences, some of
them negative in tone but not abusive. Fields: text, toxic (0/1), kind.

The real set (gold/harm/, labelled by gold/harm/GUIDELINE.md): sentences of real corpora
holding a listed word or scored high by the classifier; hard_negatives.jsonl (innocent
uses) and toxic_real.jsonl, each row with its sense, corpus, id and a seeded dev/test split.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

HARM_SET = Path(__file__).parent / "data" / "harm_labelled.jsonl"
GOLD = Path(__file__).resolve().parents[1] / "gold" / "harm"


def _jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def harm_rows() -> list[dict]:
    return _jsonl(HARM_SET)


def real_rows(name: str, split: str | None = None) -> list[dict]:
    """gold/harm/<name>.jsonl (hard_negatives or toxic_real), optionally one split (dev, test)."""
    rows = _jsonl(GOLD / f"{name}.jsonl")
    return [r for r in rows if split is None or r["split"] == split]


@dataclass(frozen=True)
class HarmScore:
    recall: float  # toxic texts flagged / toxic texts
    false_positives: int  # clean texts flagged
    fp_rate: float  # false_positives / clean texts
    recall_by_kind: dict[str, float]
    fp_by_kind: dict[str, int]


def harm_score(rows: list[dict], flagged: list[bool]) -> HarmScore:
    toxic = Counter(r["kind"] for r in rows if r["toxic"])
    caught = Counter(r["kind"] for r, f in zip(rows, flagged, strict=True) if f and r["toxic"])
    fps = Counter(r["kind"] for r, f in zip(rows, flagged, strict=True) if f and not r["toxic"])
    n_clean = sum(not r["toxic"] for r in rows)
    fp_kinds = sorted({r["kind"] for r in rows if not r["toxic"]})
    return HarmScore(
        recall=sum(caught.values()) / sum(toxic.values()),
        false_positives=sum(fps.values()),
        fp_rate=sum(fps.values()) / n_clean,
        recall_by_kind={k: caught[k] / n for k, n in sorted(toxic.items())},
        fp_by_kind={k: fps[k] for k in fp_kinds},
    )
