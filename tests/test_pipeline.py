"""End to end: `dvc repro` on the tiny profile in a temporary copy of the repository.

One repository is built and reproduced once a session (conftest.py's `reproduced`); before
each test it is reset to that reproduced state (git reset, then `dvc checkout` of the outputs
its dvc.lock names), so no test depends on what another did or on their order: incremental
reruns, experiments, and push/pull through a local-directory remote. Each test asserts which
stages DVC ran, read from its "Running stage '...'" lines.
"""

from __future__ import annotations

import json
import math

import pytest
from pipeline_fixtures import UPSTREAM, commit, get_param, ran, repro, set_param, sh

from stages.common.card import read_front_matter
from stages.report.sources import flatten

pytestmark = pytest.mark.slow


def test_full_repro_writes_real_metrics(repo):
    metrics = json.loads((repo / "metrics" / "metrics.json").read_text())
    ppl = metrics["pretrain.val_ppl"]
    assert isinstance(ppl, float) and 1.0 < ppl < 1e6 and math.isfinite(ppl)
    acc = metrics["classify.test.acc"]
    assert 0.0 <= acc <= 1.0
    # Every metric family is measured on the tiny profile: numbers, not "n/a".
    for key in (
        "domain.pretrain.test_ppl",
        "domain.tuned.test_ppl",
        "ner.gold.f1",
        "ner.spacy.gold.f1",
        "ner.dictionary.gold.f1",
        "fewshot.k0.acc",
        "fewshot.chance.acc",
        "adversarial.test.acc",
        "adversarial.perturbed.acc",
        "classify.perturbed.acc",
        "classify.attack.success_rate",
        "privacy.samples.pii_per_1k_chars",
        "privacy.canary.exposure_mean",
    ):
        assert isinstance(metrics[key], float) and math.isfinite(metrics[key]), (key, metrics.get(key))
    for task in ("classify", "ner", "domain", "adversarial"):
        assert (repo / "models" / "finetune" / task / "config.json").is_file(), task
    assert (repo / "models" / "pretrain" / "config.json").is_file()
    assert (repo / "models" / "finetune" / "classify" / "config.json").is_file()
    assert (repo / "reports" / "report.md").is_file()
    # Outputs are DVC-tracked and git-ignored; small metrics are in git.
    ignored = sh(["git", "check-ignore", "data/raw", "models/pretrain"], repo).stdout.split()
    assert ignored == ["data/raw", "models/pretrain"]
    assert sh(["git", "ls-files", "metrics/metrics.json"], repo).stdout.strip() == "metrics/metrics.json"


def test_metrics_show_lists_numbers_only_and_the_text_is_in_the_details(repo):
    shown = json.loads(sh(["dvc", "metrics", "show", "--json"], repo).stdout)
    (workspace,) = shown.values()  # one revision: the workspace (dvc names it "")
    files = {path: d.get("data", {}) for path, d in workspace["data"].items()}
    keys = {f"{path}:{k}": v for path, data in files.items() for k, v in flatten(data).items()}
    odd = {k: v for k, v in keys.items() if isinstance(v, (str, bool, list)) or v is None}
    assert not odd, f"non-numeric metrics: {odd}"
    assert not any(path.startswith("metrics/evaluate") for path in files)  # a plain out, not metrics
    # DVC shows every leaf of the files as written: none is text, a list or null that it would drop.
    on_disk = {path: flatten(json.loads((repo / path).read_text())) for path in files}
    assert sum(map(len, on_disk.values())) == len(keys) > 100, len(keys)
    assert all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for d in on_disk.values() for v in d.values()
    )
    print(f"dvc metrics show: {len(keys)} keys in {len(files)} files, all numbers")
    # metrics.json: each declared key is measured, or n/a with its reason in the family's detail.
    flat = json.loads((repo / "metrics/metrics.json").read_text())
    flat.pop("stage_seconds")  # the stage's own wall time, added after the manifest is written
    declared = {m["key"] for m in json.loads((repo / "metrics/manifest.json").read_text())["metrics"]}
    reasons = {
        k: why
        for path in (repo / "metrics/evaluate").glob("*.json")
        for k, why in (json.loads(path.read_text()).get("na") or {}).items()
    }
    assert reasons and not set(flat) & set(reasons) and set(flat) | set(reasons) == declared
    # The text of each run is in the detail beside its numbers.
    device = json.loads((repo / "metrics/info/pretrain.json").read_text())["device"]
    assert device in ("cpu", "cuda", "mps")
    assert json.loads((repo / "metrics/finetune/info/ner.json").read_text())["task"] == "ner"
    assert "label_map" in json.loads((repo / "metrics/info/tasks.json").read_text())["ner"]
    # report puts each n/a figure back with its reason (the other objective's figures of the
    # causal model do not apply, and their sections leave them out), and shows the text.
    report = (repo / "reports/report.md").read_text()
    assert all(why in report for why in reasons.values() if "do not apply" not in why)
    assert f"| `device` | {device} |" in report.split("## Training")[1]


def test_noop_repro_runs_nothing(repo):
    assert repro(repo) == set()


def test_clean_param_reruns_clean_onward_not_collect(repo):
    # A stricter quality threshold changes data/clean, so everything after it reruns.
    old = get_param(repo, "clean.quality.gopher_quality.min_words")
    set_param(repo, "clean.quality.gopher_quality.min_words", old + 15)
    stages = repro(repo)
    assert "clean" in stages and "dedup" in stages
    assert not stages & {"collect", "tasks"}


def test_layer_count_reruns_pretrain_onward_only(repo):
    set_param(repo, "pretrain.model.n_layers", get_param(repo, "pretrain.model.n_layers") + 1)
    stages = repro(repo)
    assert {"pretrain", "evaluate"} <= stages
    assert any(s.startswith("finetune@") for s in stages)
    assert not stages & UPSTREAM


def test_evaluate_param_reruns_only_evaluate(repo):
    set_param(repo, "evaluate.classify.bootstrap", get_param(repo, "evaluate.classify.bootstrap") + 7)
    stages = repro(repo)
    assert "evaluate" in stages
    # report reads evaluate's metrics; nothing upstream of evaluate runs.
    assert stages <= {"evaluate", "report"}


def test_a_finetune_task_param_reruns_that_task_not_the_others(repo):
    set_param(repo, "finetune.ner.lr", get_param(repo, "finetune.ner.lr") * 2)
    stages = repro(repo)
    assert "finetune@ner" in stages
    assert stages <= {"finetune@ner", "evaluate", "report"}


def test_editing_clean_code_reruns_clean_not_collect(repo):
    path = repo / "stages" / "clean" / "__init__.py"
    path.write_text(path.read_text() + "\n# edited by the e2e test\n")
    stages = repro(repo)
    assert "clean" in stages
    assert not stages & {"collect", "tasks"}


def test_editing_a_common_file_changes_exactly_the_stages_that_import_it(repo):
    from stages.common.deps import stage_closures

    def changed() -> set[str]:
        return set(json.loads(sh(["dvc", "status", "--json"], repo).stdout))

    closures = stage_closures(repo)
    tasks = get_param(repo, "finetune.tasks")
    common = sorted(
        p for p in (repo / "stages" / "common").rglob("*") if p.is_file() and "__pycache__" not in p.parts
    )
    assert len(common) > 10 and changed() == set()
    for path in common:
        rel = path.relative_to(repo)
        users = {name for name, files in closures.items() if rel in files}
        # a foreach stage is reported once per item
        want = {f"finetune@{t}" for t in tasks if "finetune" in users} | (users - {"finetune"})
        before = path.read_bytes()
        path.write_bytes(before + b"\n# edited by the e2e test\n")
        try:
            got = changed()
        finally:
            path.write_bytes(before)
        assert got == want, f"{rel}: dvc status lists {sorted(got)}, its importers are {sorted(want)}"
    assert changed() == set()


def test_experiment_run_and_show(repo):
    steps = get_param(repo, "pretrain.train.max_steps")
    proc = sh(["dvc", "exp", "run", "-S", f"pretrain.train.max_steps={steps + 5}", "--name", "longer"], repo)
    assert "pretrain" in ran(proc) and not ran(proc) & UPSTREAM
    shown = json.loads(sh(["dvc", "exp", "show", "--json"], repo).stdout)
    exps = [e for rev in shown for e in (rev.get("experiments") or []) if e.get("name") == "longer"]
    assert exps, f"experiment 'longer' not in dvc exp show: {json.dumps(shown)[:2000]}"
    data = exps[0]["revs"][0]["data"]
    params = data["params"]["params.yaml"]["data"]
    assert params["pretrain"]["train"]["max_steps"] == steps + 5
    metrics = data["metrics"]["metrics/metrics.json"]["data"]
    assert math.isfinite(metrics["pretrain.val_ppl"])


def test_push_and_pull_through_a_local_remote(repo, tmp_path):
    remote = tmp_path / "remote"
    sh(["dvc", "remote", "add", "-d", "local", str(remote)], repo)
    sh(["dvc", "repro"], repo)  # the workspace matches dvc.lock before pushing
    commit(repo, "remote")
    sh(["dvc", "push"], repo)
    assert any(remote.rglob("*")), "dvc push wrote nothing to the remote"

    clone = tmp_path / "clone"
    sh(["git", "clone", "-q", str(repo), str(clone)], tmp_path)
    sh(["dvc", "pull"], clone)
    for out in ("data/raw", "data/tokens", "models/pretrain"):
        assert (clone / out).exists(), out
    assert (clone / "models/pretrain/config.json").read_bytes() == (
        repo / "models/pretrain/config.json"
    ).read_bytes()
    # Everything is fetched, so nothing needs to rerun.
    assert repro(clone) == set()


def test_model_cards_sit_beside_the_weights_with_the_runs_figures_and_the_report_has_samples(repo):
    pretrain = json.loads((repo / "metrics" / "pretrain.json").read_text())
    card = (repo / "models" / "pretrain" / "README.md").read_text()
    meta = read_front_matter(card)
    [result] = meta["model-index"][0]["results"]
    assert result["metrics"][0]["value"] == pretrain["val_ppl"] and meta["library_name"] == "transformers"
    assert "| collected: documents |" in card and "unigram" in card
    for task in ("classify", "ner", "domain", "adversarial"):
        m = json.loads((repo / "metrics" / "finetune" / f"{task}.json").read_text())
        text = (repo / "models" / "finetune" / task / "README.md").read_text()
        figure = m["best_valid_ppl"] if task == "domain" else m["best_valid"]  # domain selects by loss
        assert f"value: {figure}" in text and "## Limitations" in text, task
    samples = json.loads((repo / "metrics" / "evaluate" / "samples.json").read_text())["samples"]
    report = (repo / "reports" / "report.md").read_text()
    assert samples and all(s["continuation"] in report for s in samples)
    assert [s["prompt"] for s in samples] == get_param(repo, "evaluate.samples.prompts")
