"""The GitHub workflows, read as GitHub reads them (they cannot run here): what each must hold."""

from __future__ import annotations

from pathlib import Path

import yaml

from stages.report import comment

WORKFLOWS = Path(__file__).resolve().parents[1] / ".github" / "workflows"


def load(name: str) -> dict:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the bare key `on` as true
    return data


def steps(workflow: dict) -> list[dict]:
    return [s for job in workflow["jobs"].values() for s in job["steps"]]


def commands(workflow: dict) -> str:
    return "\n".join(s.get("run", "") for s in steps(workflow))


def test_every_workflow_cancels_its_stale_runs_and_skips_docs_only_changes():
    for name in ("ci.yml", "pr-metrics.yml"):
        wf = load(name)
        assert wf["concurrency"]["cancel-in-progress"] is True, name
        for event in ("pull_request",):
            assert "**.md" in wf["on"][event]["paths-ignore"], name


def test_torch_comes_from_the_cpu_index_before_the_requirements():
    for name in ("ci.yml", "pr-metrics.yml"):
        run = commands(load(name))
        cpu = run.index("download.pytorch.org/whl/cpu")
        reqs = (
            run.index("pip install -r requirements.txt")
            if "-r requirements.txt" in run
            else run.index(".ci/run")
        )
        assert cpu < reqs, name


def test_pinned_downloads_and_the_dvc_cache_are_cached():
    wf = load("pr-metrics.yml")
    cached = {s["with"]["path"] for s in steps(wf) if s.get("uses", "").startswith("actions/cache")}
    assert ".dvc/cache" in cached
    assert any("pipeline-cache" in p for p in cached)
    assert "pipeline-cache" in wf["jobs"]["diff"]["env"]["PIPELINE_CACHE"]


def job_commands(workflow: dict, job: str) -> str:
    return "\n".join(s.get("run", "") for s in workflow["jobs"][job]["steps"])


def test_the_pull_request_job_cannot_write_and_the_comment_job_posts_for_forks_too():
    diff, post = load("pr-metrics.yml"), load("pr-comment.yml")
    assert diff["permissions"] == {"contents": "read"}  # a fork's token is read-only anyway
    for job in diff["jobs"]:
        uploads = [
            s["with"]["name"]
            for s in diff["jobs"][job]["steps"]
            if s.get("uses", "").startswith("actions/upload-artifact")
        ]
        assert "comment" in uploads, job
    assert post["on"]["workflow_run"]["workflows"] == [diff["name"]]
    assert post["permissions"]["pull-requests"] == "write"
    run = commands(post)
    assert comment.MARKER in run  # the generator's marker: one comment, found and edited in place
    assert "PATCH" in run and "tr -cd '0-9'" in run  # the number from the fork's job is sanitised


def test_both_sides_run_the_ci_profile_over_their_own_params_and_the_comment_reads_both():
    run = job_commands(load("pr-metrics.yml"), "diff")
    # The base composes the PR's overlay with its own code; the PR refuses anything but its own file.
    assert 'compose "${{ github.workspace }}/profiles/ci.yaml"' in run
    assert "python -m stages.common.compose ci --own" in run
    assert "compose tiny" not in run
    generator = run[run.index("python -m stages.report.comment") :]
    for flag in ("--against", "--params-base", "--base-dir ../base", "--profile ci", "--out", "--full-out"):
        assert flag in generator, flag
    assert "dvc plots diff" in run  # the HTML plots travel in the comment artifact


def test_the_full_fidelity_path_is_opt_in_pulls_the_run_cache_and_skips_forks():
    wf = load("pr-metrics.yml")
    diff, full = wf["jobs"]["diff"], wf["jobs"]["full"]
    assert "vars.DVC_REMOTE_URL != ''" in full["if"] and "vars.DVC_REMOTE_URL == ''" in diff["if"]
    fork = "github.event.pull_request.head.repo.full_name"
    assert f"{fork} == github.repository" in full["if"] and f"{fork} != github.repository" in diff["if"]
    run = job_commands(wf, "full")
    assert "stages.common.compose" not in run  # the default profile, every param as written
    assert run.count("dvc pull --run-cache") == 2 and run.count("dvc push --run-cache") == 2
    assert run.index("dvc pull --run-cache") < run.index("dvc repro") < run.index("dvc push --run-cache")
    assert "--profile none" in run
