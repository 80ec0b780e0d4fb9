"""Seeding, device choice, the allocator's settings for training, and progress bars."""

from __future__ import annotations

import logging
import os
import random
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (when imported) from params.

    Python's str hashing is not seeded here: the interpreter reads its seed (PYTHONHASHSEED)
    once, at start-up."""
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed % 2**32)
    except ImportError:  # pragma: no cover
        pass
    if "torch" in sys.modules:
        import torch

        torch.manual_seed(seed)


# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_MMAP_MAX = -1, -3, -4


def keep_freed_memory(keep: bool = True) -> bool:
    """Make glibc's malloc keep the memory a training step frees, for the next step to reuse.

    A step allocates and frees the same large tensors every time (the logits and their
    gradients, tens of MB each). glibc serves a block over its mmap threshold (at most 32 MB)
    with a mapping of its own and unmaps it on free, so the kernel faults in and zeroes those
    pages again on every step: on the default model, half of the step's system time
    (benchmarks/stage_budget.py --allocator). With mmap off and the heap never trimmed the
    pages stay in the process; it hands no memory back to the system until it exits.
    `keep=False` sets glibc's own settings as they stand after its warm-up (threshold 32 MB,
    trim at 64 MB), for the benchmark's turns. Returns False, changing nothing, where the C
    library is not glibc."""
    import ctypes
    import platform

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    if keep:
        settings = ((_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, 2**31 - 1))
    else:
        settings = ((_M_MMAP_MAX, 65536), (_M_MMAP_THRESHOLD, 32 << 20), (_M_TRIM_THRESHOLD, 64 << 20))
    ok = all(libc.mallopt(param, value) == 1 for param, value in settings)
    if not keep:
        libc.malloc_trim(0)
    return ok


def pick_device(want: str = "auto") -> str:
    """'cuda' when asked for and present (or 'auto' and present), else 'cpu'."""
    import torch

    if want == "cpu":
        return "cpu"
    if torch.cuda.is_available():
        return "cuda"
    if want == "cuda":
        from stages.common.errors import PipelineError

        raise PipelineError("device: cuda was asked for but no CUDA device is visible; set it to auto or cpu")
    return "cpu"


def cpu_has_bf16() -> bool:
    """True when this CPU has native bf16 matrix instructions (AVX-512 BF16 or AMX)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def pick_precision(want: str, device: str) -> str:
    """'bf16' or 'fp32' for `precision: auto | fp32 | bf16`: auto takes bf16 where the hardware
    has fast bf16 (CUDA with bf16 support, or a CPU with AVX-512 BF16 / AMX), else fp32, which
    loses nothing there; an explicit bf16 without it is kept, with a warning that it is slow."""
    if want == "fp32":
        return "fp32"
    if device == "cuda":
        import torch

        has = torch.cuda.is_bf16_supported()
    else:
        has = cpu_has_bf16()
    if want == "bf16" and not has:
        log.warning("precision bf16 asked for, but %s has no native bf16; it will be slow", device)
    return "bf16" if want == "bf16" or has else "fp32"


def progress(it: Iterable[T], desc: str, unit: str, total: int | None = None, **kw: Any) -> Iterator[T]:
    """A tqdm bar on stderr; quiet when PIPELINE_NO_PROGRESS is set (tests)."""
    from tqdm.auto import tqdm

    disable = bool(os.environ.get("PIPELINE_NO_PROGRESS"))
    return iter(tqdm(it, desc=desc, unit=unit, total=total, disable=disable, dynamic_ncols=True, **kw))
