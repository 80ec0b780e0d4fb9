"""Fixtures that more than one test module uses. pytest hands them to any test that names them;
no module imports them. Plain helpers live beside this file in the *_fixtures.py modules."""

from __future__ import annotations

from pathlib import Path

import pytest
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
