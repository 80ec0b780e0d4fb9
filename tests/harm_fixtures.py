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


# Hand-written cases beside the real sets: innocent senses the rules and the model must leave
# alone, and toxic uses they must flag (gold/harm/GUIDELINE.md says which is which).
INNOCENT = [
    "The farmer keeps a cock and six hens in the yard.",
    "Contemplation makes a rare turkey-cock",
    "If you prick us, do we not bleed?",
    "A police officer cocks his pistol.",
    "The school for mentally retarded children opened in May.",
    "Ha! a bastard son of the king's?",
    "Enter ROBERT and the BASTARD",
    "The ass, that bore his burden, thou hast beaten.",
    "The house was full of bawds and whores in the old play.",
    "Owen went over to the crap table and the dice were hot.",
    "I especially liked Andy Dick's make-over as the masseuse.",
    "He kept the company he preferred--pimps, panders and whores.",  # a class, not a name called
    "But right now, **it does not** work.",
]


TOXIC = [
    "Shut up, you c0ck.",  # obfuscated: counts whatever the neighbours say
    "The farmer is a d1ck and a pr1ck to his hens.",
    "Stop whining, you little prick.",  # a name called beats the verb reading
    "Nobody cares what you think, you retarded troll.",
    "She's a whore and everyone knows it.",
    "You bastard!",
    "Thou art an ass, and thy wit is dull.",  # an insult in its play (GUIDELINE.md)
    "What the hell is this?",  # "hell" as an oath
    "Go back to that bumfuck town.",  # "fuck" inside a word
    "hurley is perfectly cast as the easy slut .",  # modern prose calling a character one
    "Get lost, you pathetic loser, nobody likes you.",  # no listed word: the classifier and a name called
]
