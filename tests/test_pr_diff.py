"""Both CI paths of a pull request, end to end, in a throwaway copy of the repository.

The base commit holds the default params.yaml. Its run composes profiles/ci.yaml over it
(`compose ci --own`, what pr-metrics.yml does), is reproduced once and committed; before each
test the copy is reset to that run (git reset, `dvc checkout`). A pull request is a commit that
edits the default params.yaml; the test then composes, reproduces and writes the comment as CI
does. The full-fidelity path pushes the run-cache to a local DVC remote, clones, pulls it and
reruns only what a late-stage param change touched.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from pipeline_fixtures import UPSTREAM, commit, copy_repository, ran, repro, sh

from stages.report import comment

pytestmark = pytest.mark.slow

MIN_WORDS = "clean.quality.gopher_quality.min_words"


def set_min_words(repo: Path, value: int) -> None:
    """Edit the default params.yaml as an author would: one line, comments kept."""
    path = repo / "params.yaml"
    lines = path.read_text().splitlines(keepends=True)
    i = next(i for i, line in enumerate(lines) if line.strip().startswith("min_words:"))
    head, _, rest = lines[i].partition(":")
    comment_part = rest.partition("#")[2]
    lines[i] = f"{head}: {value}" + (f"   #{comment_part}" if comment_part else "\n")
    path.write_text("".join(lines))


def compose_ci(repo: Path) -> None:
    sh([sys.executable, "-m", "stages.common.compose", "ci", "--own"], repo)


def write_comment(repo: Path, *args: str) -> str:
    out = repo.parent / "comment.md"
    sh([sys.executable, "-m", "stages.report.comment", "--out", str(out), *args], repo)
    return out.read_text()


@pytest.fixture(scope="module")
def base_run(tmp_path_factory) -> Path:
    """The base commit (tag base-src: the default params) and its CI-profile run (tag base-run)."""
    repo = tmp_path_factory.mktemp("prdiff") / "repo"
    copy_repository(repo)
    sh(["git", "init", "-q"], repo)
    sh(["git", "config", "user.name", "pr"], repo)
    sh(["git", "config", "user.email", "pr@example.invalid"], repo)
    commit(repo, "base")
    sh(["git", "tag", "base-src"], repo)
    compose_ci(repo)
    assert "evaluate" in repro(repo)
    commit(repo, "CI-profile run of the base")
    sh(["git", "tag", "base-run"], repo)
    sh(["git", "worktree", "add", "--detach", "../base", "base-run"], repo)  # where CI keeps it
    return repo


@pytest.fixture
def repo(base_run: Path) -> Path:
    sh(["git", "reset", "-q", "--hard", "base-run"], base_run)
    sh(["git", "clean", "-fdq"], base_run)
    sh(["dvc", "checkout", "--force", "-q"], base_run)
    return base_run


def open_pr(repo: Path, min_words: int | None) -> set[str]:
    """Commit the PR's default params.yaml, compose the CI profile over it, reproduce it."""
    sh(["git", "checkout", "base-src", "--", "params.yaml"], repo)
    if min_words is not None:
        set_min_words(repo, min_words)
    commit(repo, "the pull request")
    compose_ci(repo)
    return repro(repo)


def test_a_min_words_change_reaches_the_ci_run_and_the_comment_shows_it_and_its_effect(repo):
    stages = open_pr(repo, 45)
    assert "clean" in stages and not stages & {"collect", "tasks"}
    args = ["--against", "base-run", "--params-base", "base-src", "--base-dir", "../base"]
    text = write_comment(repo, *args)
    assert text.startswith(comment.MARKER) and len(text) <= comment.LIMIT
    assert f"| `{MIN_WORDS}` | 20 | 45 | seen |" in text
    assert "CI could not see" not in text
    quality = text[text.index("### Quality metrics") : text.index("<details>")]
    assert "better (" in quality or "worse (" in quality  # the stricter rule moved a quality metric
    assert "`totals.docs_out` (clean.json)" in text  # fewer documents passed clean
    assert text.count("```mermaid") >= 3  # two loss curves and the headline bars
    assert "<summary>Timings" in text


def test_a_pull_request_that_changes_nothing_says_no_change(repo):
    stages = open_pr(repo, None)
    assert stages == set()  # same params, same code: every stage is the base's
    text = write_comment(repo, "--against", "base-run", "--params-base", "base-src", "--base-dir", "../base")
    assert "**No change**" in text and "This pull request changes no param." in text


def test_a_pull_request_that_changes_a_size_key_is_told_ci_could_not_see_it(repo):
    sh(["git", "checkout", "base-src", "--", "params.yaml"], repo)
    path = repo / "params.yaml"
    path.write_text(path.read_text().replace("n_layers: 4", "n_layers: 6", 1))
    commit(repo, "a bigger model")
    compose_ci(repo)
    assert repro(repo) == set()  # the CI profile sets n_layers on both sides
    text = write_comment(repo, "--against", "base-run", "--params-base", "base-src")
    assert "| `pretrain.model.n_layers` | 4 | 6 | **set by CI** to 2: not seen |" in text
    assert "CI could not see the change to `pretrain.model.n_layers`" in text
    assert "No change" not in text


def test_full_fidelity_pulls_the_run_cache_and_reruns_only_the_touched_stages(repo, tmp_path):
    remote = tmp_path / "remote"
    sh(["dvc", "remote", "add", "-d", "local", str(remote)], repo)
    commit(repo, "a DVC remote")
    sh(["dvc", "push", "--run-cache", "-q"], repo)
    clone = tmp_path / "clone"
    sh(["git", "clone", "-q", str(repo), str(clone)], tmp_path)
    sh(["dvc", "pull", "--run-cache", "-q"], clone)
    assert ran(sh(["dvc", "repro"], clone)) == set()  # the base, restored from the remote
    params = clone / "params.yaml"
    params.write_text(params.read_text().replace("bootstrap: 200", "bootstrap: 150", 1))
    stages = repro(clone)
    assert "evaluate" in stages and stages <= {"evaluate", "report"}
    assert not stages & (UPSTREAM | {"pretrain"})
    text = write_comment(clone, "--against", "HEAD", "--profile", "none")
    assert "| `evaluate.classify.bootstrap` | 200 | 150 | seen |" in text
