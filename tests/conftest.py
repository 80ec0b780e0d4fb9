"""Fixtures that more than one test module uses. pytest hands them to any test that names them;
no module imports them. Plain helpers live beside this file in the *_fixtures.py modules."""

from __future__ import annotations

from pathlib import Path

import pytest
from evaluate_fixtures import save_classifier, save_clm, write_params, write_task, write_tokens
from pipeline_fixtures import reproduce_tiny_copy, sh
from pretrain_fixtures import SEED
from tokenizer_fixtures import make_docs, write_dedup

from stages.common.params import default_params
from stages.tokenizer.run import run as run_tokenizer


@pytest.fixture(scope="session")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real tokenizer (data/tokenizer) and its token files (data/tokens) from a small made-up corpus.

    Built once a session: the tests only read it (pretrain writes its model elsewhere), and
    training the tokenizer is the slow part."""
    d = tmp_path_factory.mktemp("pretrain")
    write_dedup(d / "dedup", make_docs(150))
    run_tokenizer(
        default_params("tokenizer", vocab_size=300, min_frequency=1, valid_fraction=0.2),
        SEED,
        d / "dedup",
        d / "tokenizer",
        d / "tokens",
    )
    return d


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A tiny project for the evaluate stage, and the working directory for the test: params.yaml,
    token files, an untrained causal LM as models/pretrain, and a classify task with its model."""
    monkeypatch.chdir(tmp_path)
    write_params(tmp_path)
    write_tokens(tmp_path)
    save_clm(tmp_path / "models" / "pretrain")
    write_task(tmp_path)
    save_classifier(tmp_path / "models" / "finetune" / "classify")
    return tmp_path


@pytest.fixture(scope="session")
def reproduced(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of this repository on the tiny profile, reproduced and tagged `reproduced`.

    Built once a session (about 3 minutes) for every end-to-end module; tests get it through
    `repo`, which resets it first."""
    repo = tmp_path_factory.mktemp("e2e") / "repo"
    reproduce_tiny_copy(repo)
    return repo


@pytest.fixture
def repo(reproduced: Path) -> Path:
    """The reproduced repository, reset to that state: files, commits and DVC outputs."""
    sh(["git", "reset", "-q", "--hard", "reproduced"], reproduced)
    sh(["git", "clean", "-fdq"], reproduced)  # untracked files; ignored outputs are DVC's to restore
    sh(["dvc", "checkout", "--force", "-q"], reproduced)
    return reproduced


@pytest.fixture
def one_thread():
    """Tiny matrices: one thread avoids OpenMP spin-waiting, which is slow on a busy CPU.

    The finetune modules ask for it with `pytestmark = pytest.mark.usefixtures("one_thread")`."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
