"""The metrics manifest: what every key of metrics/metrics.json is. evaluate writes it, report reads it.

Each metric family of evaluate declares its entries where it computes them: the key, its
family, a short label, the unit, whether higher or lower is better (none for a count, a size
or a timing), the keys of its baselines, and the LM objective it is measured on when it
applies to one only. Each entry also gives the coordinates a table needs: the system whose
figure it is (our model, a baseline, a text source; declared with its display label by the
family), the measure (acc, f1, test_ppl, ...), a point on the family's axis (k demonstrations
for few-shot, the entity type for NER), which end of an interval it is, and the key of the
reference figure it is read against (a perturbed-test accuracy against the clean one).
report builds its sections and the `--against` verdicts from these entries alone, so a key
is never interpreted from its spelling.

    {"families": [{"name": "classify", "kind": "classification",
                   "data": "data/tasks/classify/test.parquet",
                   "systems": [{"name": "model", "label": "fine-tuned model", "short": ""}, ...]}, ...],
     "metrics": [{"key": "classify.test.acc", "family": "classify", "label": "accuracy",
                  "unit": "fraction", "direction": "higher",
                  "baselines": ["classify.majority.test.acc", "classify.tfidf.test.acc"],
                  "objective": null, "system": "model", "measure": "acc", "axis": null,
                  "at": null, "bound": null, "reference": null}, ...]}
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
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
# Axes a family lays its entries along, with the type of a point on each.
AXES: dict[str, type] = {"k": int, "type": str}  # k demonstrations (few-shot); entity type (NER)
BOUNDS = ("low", "high")  # the two ends of an interval (the bootstrap CI of a measure)
MODEL = "model"  # the system name of our own model where a family sets it beside baselines


@dataclass(frozen=True)
class System:
    """Whose figures a family reports: our model, a baseline, or a source of text."""

    name: str
    label: str  # how a table names it
    short: str = ""  # how a plot names it where the label is too long for one

    @property
    def plot_label(self) -> str:
        return self.short or self.label


@dataclass(frozen=True)
class Metric:
    """One key of metrics/metrics.json and what it means.

    `label` names the measure (the interval, for a bound), not the system or the axis point:
    a table shows it as a row or column header and takes the rest from the coordinates.
    """

    key: str
    family: str
    label: str
    unit: str
    direction: str | None = None  # "higher" or "lower" is better; None: a count, a size, a timing
    baselines: tuple[str, ...] = ()  # keys of the same measure for the baselines beside it
    objective: str | None = None  # "clm" / "mlm": measured only on a causal / masked LM
    system: str | None = None  # one of its family's systems; None: a figure of the data itself
    measure: str = ""  # what is measured: acc, f1, test_ppl, n_docs, ...
    axis: str | None = None  # one of AXES, along which the family lays this measure out
    at: int | str | None = None  # the point on `axis`
    bound: str | None = None  # "low" / "high": this end of the interval of `measure`
    reference: str | None = None  # the key of the figure this one is read against

    def __post_init__(self) -> None:
        problems = []
        if not self.measure:
            problems.append("measure is empty: name what is measured (acc, f1, test_ppl, ...)")
        if (self.axis is None) != (self.at is None):
            problems.append(f"axis {self.axis!r} and point {self.at!r} go together: give both or neither")
        elif self.axis is not None and self.axis not in AXES:
            problems.append(f"axis {self.axis!r} is not one of {list(AXES)}")
        elif self.axis is not None and not isinstance(self.at, AXES[self.axis]):
            problems.append(f"point {self.at!r} on axis {self.axis!r} is not a {AXES[self.axis].__name__}")
        if self.bound not in (*BOUNDS, None):
            problems.append(f"bound {self.bound!r} is not 'low', 'high' or None")
        if self.bound is not None and (self.direction is not None or self.baselines):
            problems.append("an interval bound describes uncertainty: it takes no direction and no baselines")
        if self.reference == self.key:
            problems.append("a metric is not its own reference")
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

    def coordinates(self) -> tuple[str, str | None, str, str | None, int | str | None, str | None]:
        """Where the entry sits in its family's tables; no two entries share them."""
        return self.family, self.system, self.measure, self.axis, self.at, self.bound


def interval(point: Metric, label: str) -> list[Metric]:
    """The entries of `point`'s interval, `<key>_ci_low` and `<key>_ci_high`, both labelled `label`."""
    return [
        replace(point, key=f"{point.key}_ci_{b}", label=label, direction=None, baselines=(), bound=b)
        for b in BOUNDS
    ]


@dataclass(frozen=True)
class FamilyInfo:
    """One metric family: its name (the detail file metrics/evaluate/<name>.json), the kind of
    report section it gets, the data it is scored on, and the systems its figures belong to,
    in the order a table shows them."""

    name: str
    kind: str
    data: str
    systems: tuple[System, ...] = ()

    def system(self, name: str) -> System | None:
        return next((s for s in self.systems if s.name == name), None)


@dataclass(frozen=True)
class Manifest:
    families: tuple[FamilyInfo, ...]
    metrics: dict[str, Metric]  # key -> entry, in evaluate's order

    def family(self, name: str) -> FamilyInfo | None:
        return next((f for f in self.families if f.name == name), None)

    def of_family(self, name: str) -> list[Metric]:
        return [m for m in self.metrics.values() if m.family == name]

    def interval(self, entry: Metric) -> tuple[Metric, Metric] | None:
        """The low and high bound entries of `entry`'s interval, or None when it has none."""
        ends = [
            next((m for m in self.metrics.values() if m.coordinates() == (*entry.coordinates()[:5], b)), None)
            for b in BOUNDS
        ]
        return (ends[0], ends[1]) if ends[0] and ends[1] else None

    def to_json(self) -> dict[str, Any]:
        return {
            "families": [asdict(f) for f in self.families],
            "metrics": [{**asdict(m), "baselines": list(m.baselines)} for m in self.metrics.values()],
        }


def build(families: list[FamilyInfo], metrics: list[Metric]) -> Manifest:
    """A manifest; ValueError naming the key when one is declared twice, names an unknown family,
    system, baseline or reference, shares its coordinates with another, or bounds an interval
    whose measure is not declared."""
    by_name = {f.name: f for f in families}
    by_key: dict[str, Metric] = {}
    by_place: dict[tuple, str] = {}
    for m in metrics:
        if m.key in by_key:
            raise ValueError(
                f"manifest: {m.key!r} is declared twice (families {by_key[m.key].family}, {m.family})"
            )
        if m.family not in by_name:
            raise ValueError(
                f"manifest: {m.key!r} names family {m.family!r}, which is not one of {sorted(by_name)}"
            )
        if m.system is not None and by_name[m.family].system(m.system) is None:
            known = [s.name for s in by_name[m.family].systems]
            raise ValueError(
                f"manifest: {m.key!r} names system {m.system!r}, which family {m.family!r} does not "
                f"declare (it declares {known})"
            )
        if m.coordinates() in by_place:
            raise ValueError(
                f"manifest: {m.key!r} and {by_place[m.coordinates()]!r} have the same coordinates "
                f"(family, system, measure, axis, point, bound) {m.coordinates()}: a table could show only one"
            )
        by_key[m.key], by_place[m.coordinates()] = m, m.key
    for m in metrics:
        missing = [b for b in (*m.baselines, m.reference) if b is not None and b not in by_key]
        if missing:
            raise ValueError(
                f"manifest: {m.key!r} names baseline or reference key(s) {missing} that no family declares"
            )
        point = (*m.coordinates()[:5], None)
        if m.bound is not None and point not in by_place:
            raise ValueError(f"manifest: {m.key!r} is a bound of an interval whose measure is not declared")
    return Manifest(tuple(families), by_key)


def parse(data: Any, path: Path) -> Manifest:
    """The manifest from its JSON; DataError naming the file and the entry when it is malformed."""
    rerun = "rerun `dvc repro evaluate` to rewrite it"
    if not isinstance(data, dict) or not isinstance(data.get("metrics"), list):
        raise DataError(f"{path}: expected {{'families': [...], 'metrics': [...]}}; {rerun}")
    try:
        families = [
            FamilyInfo(**{**f, "systems": tuple(System(**s) for s in f.get("systems") or ())})
            for f in data.get("families") or []
        ]
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
