"""The thin wrapper every `stages/<name>/__main__.py` calls.

It sets the environment that offline, reproducible runs need, and turns a
`PipelineError` into one line on stderr and exit status 2 instead of a traceback.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from stages.common.errors import PipelineError

log = logging.getLogger("stages")


def setup_env() -> None:
    """Environment defaults for offline, quiet, reproducible runs."""
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("DVC_STUDIO_OFFLINE", "true")  # dvclive never posts to Studio
    # tldextract (under presidio/trafilatura) must never reach for the public-suffix list.
    os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
    os.environ.setdefault("TLDEXTRACT_CACHE", str(Path(".cache/tldextract").resolve()))


def run_stage(name: str, main: Callable[[], None]) -> None:
    """Run a stage's `main`, reporting user-fixable errors as one sentence."""
    setup_env()
    logging.basicConfig(
        level=os.environ.get("LOGLEVEL", "INFO"),
        format=f"[{name}] %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    start = time.perf_counter()
    try:
        main()
    except PipelineError as e:
        print(f"error in stage {name}: {e}", file=sys.stderr)
        sys.exit(2)
    log.info("done in %.1f s", time.perf_counter() - start)
