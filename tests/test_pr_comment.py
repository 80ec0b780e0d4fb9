"""The pull-request comment (stages/report/comment.py) and the CI profile it is read against, on
diffs made here in the shape `dvc metrics diff --json` and `dvc params diff --json` give them.
The end-to-end runs of both CI paths are in test_pr_diff.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from stages.common.compose import composed_from, write_profile
from stages.common.errors import ParamsError
from stages.common.manifest import read as read_manifest
from stages.report import comment
from stages.report.diff import is_timing
from stages.report.sources import flatten

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = read_manifest(ROOT / "metrics" / "manifest.json")
# The files dvc.yaml declares as metrics (numbers only; the text beside them is in info/ and evaluate/).
METRIC_FILES = sorted(
    p
    for p in (ROOT / "metrics").rglob("*.json")
    if p.name != "manifest.json" and not {"info", "evaluate"} & set(p.relative_to(ROOT / "metrics").parts)
)
# Every timing a run writes: they move on every run, so none may count as a change.
TIMINGS = {
    "metrics/finetune/adversarial.json": {"train_time_s", "train_tokens_per_s"},
    "metrics/finetune/classify.json": {"train_time_s", "train_tokens_per_s"},
    "metrics/finetune/domain.json": {"load_time_s", "train_time_s", "train_tokens_per_s"},
    "metrics/finetune/ner.json": {"train_time_s", "train_tokens_per_s"},
    "metrics/pretrain.json": {"mfu", "mfu_peak_gflop_s", "tokens_per_s", "train_seconds", "wall_seconds"},
    "metrics/tasks.json": {
        "adversarial.build_time_s",
        "classify.build_time_s",
        "domain.build_time_s",
        "ner.build_time_s",
        "ner.teacher_sentences_per_s",
    },
    "metrics/tokenizer.json": {"train_seconds", "wall_seconds"},
}


def committed_metrics() -> dict[str, dict]:
    """{path: flat metrics} of the committed run, as dvc names them."""
    return {p.relative_to(ROOT).as_posix(): flatten(json.loads(p.read_text())) for p in METRIC_FILES}


def moved(old: dict[str, dict], new: dict[str, dict]) -> dict[str, dict]:
    """A `dvc metrics diff --json` of two runs (changed keys only, as dvc gives them)."""
    out: dict[str, dict] = {}
    for path, keys in old.items():
        for key, value in keys.items():
            after = new[path].get(key)
            if after != value:
                diff = after - value if all(isinstance(v, (int, float)) for v in (value, after)) else None
                out.setdefault(path, {})[key] = {"old": value, "new": after, "diff": diff}
    return out


def params_diff(**changes) -> dict:
    """`dvc params diff --json` of params.yaml: key (with __ for .) -> (old, new)."""
    return {"params.yaml": {k.replace("__", "."): {"old": o, "new": n} for k, (o, n) in changes.items()}}


def make(authored, effective, metrics, profile="ci", plots=(), limit=comment.LIMIT) -> str:
    overridden = comment.overridden_keys(str(ROOT / "profiles" / f"{profile}.yaml")) if profile else {}
    parts = comment.sections("Metrics", authored, effective, metrics, MANIFEST, overridden, list(plots))
    return comment.render(parts, limit)


def test_every_timing_a_run_writes_and_nothing_else_is_a_timing():
    found = {}
    for path, keys in committed_metrics().items():
        manifest = MANIFEST if path.endswith("/metrics.json") else None
        # every stage's own wall time is a timing in each file; the rest is held to TIMINGS
        assert "stage_seconds" not in keys or is_timing("stage_seconds", manifest), path
        hits = {k for k in keys if is_timing(k, manifest) and k != "stage_seconds"}
        if hits:
            found[path] = hits
    assert found == TIMINGS
    assert sum(map(len, found.values())) == 21


def test_the_ci_profile_sets_size_keys_only():
    overlay = comment.overridden_keys(str(ROOT / "profiles" / "ci.yaml"))
    assert "pretrain.model.n_layers" in overlay and "pretrain.train.max_steps" in overlay
    for key, value in overlay.items():
        leaf = key.rsplit(".", 1)[-1]
        if leaf == "exclude":  # keeps a source's largest files out: the data's size
            assert all(isinstance(g, str) for g in value), key
            continue
        counts = value if isinstance(value, list) else [value]
        assert all(isinstance(v, int) and not isinstance(v, bool) for v in counts), (key, value)
    # What a pull request tunes reaches the CI run: rules, rates, sources.
    assert not {k for k in overlay if k.endswith(("lr", "min_words", "valid_fraction", "sources"))}


def test_own_composes_over_the_workspace_params_with_its_edits(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    params = tmp_path / "params.yaml"
    text = (ROOT / "params.yaml").read_text()
    params.write_text(text.replace("min_words: 20 ", "min_words: 35 ", 1))
    assert "min_words: 35 " in params.read_text()
    out = write_profile("ci", tmp_path / "composed.yaml", base=params, own=True)
    data = yaml.safe_load(out.read_text())
    assert data["clean"]["quality"]["gopher_quality"]["min_words"] == 35  # the PR's change is kept
    assert data["pretrain"]["train"]["lr"] == yaml.safe_load(text)["pretrain"]["train"]["lr"]
    assert data["pretrain"]["model"]["n_layers"] == 2  # the size key is scaled down
    assert composed_from(out.read_text()) == "ci" and "as it was" in out.read_text().splitlines()[0]


def test_own_refuses_a_composed_params_file_and_says_how_to_restore_it(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    composed = write_profile("tiny", tmp_path / "params.yaml")
    with pytest.raises(ParamsError, match=r"composed profile 'tiny'.*git checkout"):
        write_profile("ci", tmp_path / "out.yaml", base=composed, own=True)
    assert not (tmp_path / "out.yaml").exists()


def test_a_seen_param_change_and_its_metric_effect_lead_the_comment():
    old = committed_metrics()
    new = {p: dict(keys) for p, keys in old.items()}
    new["metrics/metrics.json"]["pretrain.val_ppl"] *= 1.2  # lower is better: worse
    new["metrics/metrics.json"]["classify.test.acc"] += 0.01  # higher is better: better
    new["metrics/clean.json"]["totals.docs_out"] = old["metrics/clean.json"]["totals.docs_out"] - 40
    new["metrics/pretrain.json"]["tokens_per_s"] *= 1.5
    change = params_diff(clean__quality__gopher_quality__min_words=(20, 35))
    text = make(change, change, moved(old, new))
    lines = text.splitlines()
    assert lines[0] == comment.MARKER
    assert "**1 better, 1 worse**; 1 other key(s) changed." in text
    assert "| `clean.quality.gopher_quality.min_words` | 20 | 35 | seen |" in text
    row = next(line for line in lines if line.startswith("| `pretrain.val_ppl`"))
    assert "worse (↓ better)" in row
    assert "better (↑ better)" in next(line for line in lines if line.startswith("| `classify.test.acc`"))
    # Verdicts come before every fold; the timing sits in its own fold, not among the verdicts.
    assert text.index("### Quality metrics") < text.index("<details>")
    assert text.index("<summary>Timings (1 changed)</summary>") < text.index("`tokens_per_s`")


def test_a_change_the_ci_profile_overrides_is_marked_and_never_called_no_effect():
    change = params_diff(pretrain__model__n_layers=(4, 6))
    text = make(change, {}, {})
    assert "| `pretrain.model.n_layers` | 4 | 6 | **set by CI** to 2: not seen |" in text
    assert "CI could not see the change to `pretrain.model.n_layers`" in text
    assert "No change" not in text and "No metric moved" not in text
    assert "**Not measured**" in text
    # The full-fidelity run has no overlay: the same change is seen.
    assert "| 4 | 6 | seen |" in make(change, change, {}, profile=None)


def test_a_pull_request_that_only_moves_timings_says_no_change():
    old = committed_metrics()
    new = {p: dict(keys) for p, keys in old.items()}
    for path, keys in TIMINGS.items():
        for key in keys:
            value = new[path][key]
            new[path][key] = value * 1.3 if isinstance(value, float) else f"{value} (again)"
    text = make({}, {}, moved(old, new))
    assert "**No change**" in text
    assert "No quality metric moved." in text
    assert "<summary>Timings (21 changed)</summary>" in text


def test_a_diff_where_everything_moved_stays_under_the_limit_with_every_verdict():
    old = committed_metrics()
    new = {
        p: {
            k: (v * 1.1 + 1 if isinstance(v, (int, float)) and not isinstance(v, bool) else f"{v}!")
            for k, v in keys.items()
        }
        for p, keys in old.items()
    }
    params = flatten(yaml.safe_load((ROOT / "params.yaml").read_text()))
    every = {"params.yaml": {k: {"old": v, "new": [v, "changed"]} for k, v in params.items()}}
    curve = [(float(s), 9.0 - s / 10) for s in range(1, 401)]
    plots = comment.curve_charts(
        {"train/loss": curve, "val/loss": curve}, {"train/loss": curve, "val/loss": curve}
    )
    diff = moved(old, new)
    full = make(every, every, diff, plots=plots, limit=10**9)
    assert len(full) > 65_536  # what GitHub would refuse
    text = make(every, every, diff, plots=plots)
    assert len(text) <= comment.LIMIT
    directed = [k for k, m in MANIFEST.metrics.items() if m.direction and k in old["metrics/metrics.json"]]
    assert len(directed) > 50
    for key in directed:  # no verdict is ever cut
        assert f"| `{key}` |" in text, key
    assert "more rows cut to keep this comment under 40,000 characters" in text


def test_loss_curves_are_downsampled_onto_the_steps_both_sides_logged():
    base = [(float(s), 10.0 - s / 100) for s in range(1, 401)]
    pr = [(float(s), 9.0 - s / 100) for s in range(1, 301, 3)]
    (train, missing) = comment.curve_charts({"train/loss": base, "val/loss": base}, {"train/loss": pr})
    assert train.startswith("```mermaid\nxychart-beta")
    lines = [line.strip() for line in train.splitlines()]
    series = [line for line in lines if line.startswith("line [")]
    assert len(series) == 2
    points = [len(s.split(",")) for s in series]
    assert points == [comment.CURVE_POINTS] * 2
    assert '"1"' in train and '"298"' in train  # the shared range: 1 .. the PR's last step
    assert "No `val/loss` curve on the PR side." in missing
