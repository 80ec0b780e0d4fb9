"""The thin wrapper every `stages/<name>/__main__.py` calls.

It sets the environment that offline, reproducible runs need, turns a `PipelineError` into
one line on stderr and exit status 2 instead of a traceback, and adds the stage's wall time
(`stage_seconds`, from process start, imports included) to every metrics file the stage
wrote, so report's stage-times table and the pull-request diff's timings show a regression.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from stages.common import io
from stages.common.errors import PipelineError

log = logging.getLogger("stages")

STAGE_SECONDS = "stage_seconds"  # the key of a stage's wall time in its metrics files
_IMPORTED = time.perf_counter()  # the fallback start where /proc is not there


def start_ticks(pid: int | str = "self") -> int:
    """When process `pid` started, in clock ticks after boot: field 22 of /proc/<pid>/stat,
    which never changes (psutil's create_time() adds a boot time that moves with the clock).
    The command name (field 2) may hold spaces, so count from its closing parenthesis."""
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])


def process_seconds() -> float:
    """Seconds since this process started: interpreter start-up and the stage's imports
    (torch, transformers: seconds) count, as they do in `dvc repro`'s wall time."""
    try:
        start = start_ticks()
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return uptime - start / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return time.perf_counter() - _IMPORTED


def record_stage_seconds(paths: list[Path], seconds: float) -> None:
    """Add `stage_seconds` to each metrics file in `paths` (each a JSON object of numbers)."""
    for path in dict.fromkeys(paths):  # once each, in the order written
        data = io.read_json(path)
        data[STAGE_SECONDS] = round(seconds, 1)
        io.write_json(path, data)


def setup_env() -> None:
    """Environment defaults for offline, quiet, reproducible runs."""
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("DVC_STUDIO_OFFLINE", "true")  # dvclive never posts to Studio
    # tldextract (under presidio/trafilatura) must never reach for the public-suffix list.
    os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
    os.environ.setdefault("TLDEXTRACT_CACHE", str(Path(".cache/tldextract").resolve()))


def stage_parser(name: str, main: Callable[[], None]) -> argparse.ArgumentParser:
    """The command line of `python -m stages.<name>`: `--help` from the module's docstring, no flags."""
    doc = sys.modules[main.__module__].__doc__ or f"The {name} stage."
    return argparse.ArgumentParser(
        prog=f"python -m stages.{name}",
        description=doc.strip(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"Params: the `{name}` section of params.yaml (check a file with "
        f"`python -m stages.common.params FILE`). Deps and outs: stage `{name}` in dvc.yaml.",
    )


def run_stage(name: str, main: Callable[[], None], parser: argparse.ArgumentParser | None = None) -> None:
    """Run a stage's `main`, reporting user-fixable errors as one sentence.

    The command line is parsed first, so `--help` prints usage and an unknown flag stops with
    exit status 2, both before any work. `main` reads its arguments from `sys.argv` itself.
    """
    (parser or stage_parser(name, main)).parse_args()
    setup_env()
    logging.basicConfig(
        level=os.environ.get("LOGLEVEL", "INFO"),
        format=f"[{name}] %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    try:
        main()
    except PipelineError as e:
        print(f"error in stage {name}: {e}", file=sys.stderr)
        sys.exit(2)
    seconds = process_seconds()
    record_stage_seconds(io.WRITTEN_METRICS, seconds)
    log.info("done in %.1f s", seconds)
