"""The metrics manifest: what every key of metrics/metrics.json is. evaluate writes it, report reads it.

Each metric family of evaluate declares its entries where it computes them: the key, its
family, a short label, the unit, whether higher or lower is better (none for a count, a size
or a timing), the keys of its baselines, and the LM objective it is measured on when it
applies to one only. report builds its sections and the `--against` verdicts from these
entries alone, so a key is never interpreted from its spelling.

    {"families": [{"name": "classify", "kind": "classification",
                   "data": "data/tasks/classify/test.parquet"}, ...],
     "metrics": [{"key": "classify.test.acc", "family": "classify", "label": "accuracy",
                  "unit": "fraction", "direction": "higher",
                  "baselines": ["classify.majority.test.acc", "classify.tfidf.test.acc"],
                  "objective": null}, ...]}
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from stages.common.errors import DataError

# Units. A timing ("s") is not a quality metric: it never carries a direction, so no verdict.
FRACTION = "fraction"  # accuracy, F1, precision, recall, a success rate: 0..1
NATS = "nats/token"
PPL = "perplexity"
BPB = "bits/byte"
BITS = "bits"
COUNT = "count"
RANK = "rank"
BYTES = "bytes"
CHARS = "characters"
PER_1K_CHARS = "per 1k characters"
SECONDS = "s"
UNITS = (FRACTION, NATS, PPL, BPB, BITS, COUNT, RANK, BYTES, CHARS, PER_1K_CHARS, SECONDS)
DIRECTIONS = ("higher", "lower", None)
OBJECTIVES = ("clm", "mlm", None)


@dataclass(frozen=True)
class Metric:
    """One key of metrics/metrics.json and what it means."""

    key: str
    family: str
    label: str
    unit: str
    direction: str | None = None  # "higher" or "lower" is better; None: a count, a size, a timing
    baselines: tuple[str, ...] = ()  # keys of the same measure for the baselines beside it
    objective: str | None = None  # "clm" / "mlm": measured only on a causal / masked LM

    def __post_init__(self) -> None:
        problems = []
        if self.unit not in UNITS:
            problems.append(f"unit {self.unit!r} is not one of {list(UNITS)}")
        if self.direction not in DIRECTIONS:
            problems.append(f"direction {self.direction!r} is not 'higher', 'lower' or None")
        if self.unit == SECONDS and self.direction is not None:
            problems.append("a timing (unit 's') is not a quality metric and takes no direction")
        if self.objective not in OBJECTIVES:
            problems.append(f"objective {self.objective!r} is not 'clm', 'mlm' or None")
        if self.key in self.baselines:
            problems.append("a metric is not its own baseline")
        if problems:
            raise ValueError(f"manifest entry {self.key!r}: " + "; ".join(problems))


@dataclass(frozen=True)
class FamilyInfo:
    """One metric family: its name (the detail file metrics/evaluate/<name>.json), the kind of
    report section it gets, and the data it is scored on."""

    name: str
    kind: str
    data: str


@dataclass(frozen=True)
class Manifest:
    families: tuple[FamilyInfo, ...]
    metrics: dict[str, Metric]  # key -> entry, in evaluate's order

    def family(self, name: str) -> FamilyInfo | None:
        return next((f for f in self.families if f.name == name), None)

    def of_family(self, name: str) -> list[Metric]:
        return [m for m in self.metrics.values() if m.family == name]

    def to_json(self) -> dict[str, Any]:
        return {
            "families": [asdict(f) for f in self.families],
            "metrics": [{**asdict(m), "baselines": list(m.baselines)} for m in self.metrics.values()],
        }


def build(families: list[FamilyInfo], metrics: list[Metric]) -> Manifest:
    """A manifest; ValueError naming the key when one is declared twice or names an unknown
    family or baseline."""
    names = {f.name for f in families}
    by_key: dict[str, Metric] = {}
    for m in metrics:
        if m.key in by_key:
            raise ValueError(
                f"manifest: {m.key!r} is declared twice (families {by_key[m.key].family}, {m.family})"
            )
        if m.family not in names:
            raise ValueError(
                f"manifest: {m.key!r} names family {m.family!r}, which is not one of {sorted(names)}"
            )
        by_key[m.key] = m
    for m in metrics:
        missing = [b for b in m.baselines if b not in by_key]
        if missing:
            raise ValueError(f"manifest: {m.key!r} names baseline(s) {missing} that no family declares")
    return Manifest(tuple(families), by_key)


def parse(data: Any, path: Path) -> Manifest:
    """The manifest from its JSON; DataError naming the file and the entry when it is malformed."""
    rerun = "rerun `dvc repro evaluate` to rewrite it"
    if not isinstance(data, dict) or not isinstance(data.get("metrics"), list):
        raise DataError(f"{path}: expected {{'families': [...], 'metrics': [...]}}; {rerun}")
    try:
        families = [FamilyInfo(**f) for f in data.get("families") or []]
        known = {f.name for f in fields(Metric)}
        metrics = []
        for entry in data["metrics"]:
            unknown = sorted(set(entry) - known) if isinstance(entry, dict) else ["(not an object)"]
            if unknown:
                raise ValueError(f"entry {entry!r} has unknown field(s) {unknown}")
            metrics.append(Metric(**{**entry, "baselines": tuple(entry.get("baselines") or ())}))
        return build(families, metrics)
    except (TypeError, ValueError) as e:
        raise DataError(f"{path}: {e}; {rerun}") from None


def read(path: Path) -> Manifest | None:
    """The manifest at `path`, or None when the file is absent."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: not valid JSON ({e}); rerun `dvc repro evaluate`") from None
    return parse(data, path)
