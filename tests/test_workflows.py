"""The GitHub workflows, read as GitHub reads them (they cannot run here): what each must hold."""

from __future__ import annotations

from pathlib import Path

import yaml

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


def test_the_pull_request_job_cannot_write_and_the_comment_job_posts_for_forks_too():
    diff, post = load("pr-metrics.yml"), load("pr-comment.yml")
    assert diff["permissions"] == {"contents": "read"}  # a fork's token is read-only anyway
    uploads = [
        s["with"]["name"] for s in steps(diff) if s.get("uses", "").startswith("actions/upload-artifact")
    ]
    assert "comment" in uploads
    assert post["on"]["workflow_run"]["workflows"] == [diff["name"]]
    assert post["permissions"]["pull-requests"] == "write"
    run = commands(post)
    marker = "<!-- llm-pipeline metrics diff -->"
    assert marker in run and marker in commands(diff)  # one comment, found and edited in place
    assert "PATCH" in run and "tr -cd '0-9'" in run  # the number from the fork's job is sanitised


def test_both_sides_of_the_diff_run_the_composed_tiny_profile():
    run = commands(load("pr-metrics.yml"))
    assert run.count("python -m stages.common.compose tiny") == 2
    assert "stages.report --against" in run
