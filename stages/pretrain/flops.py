"""FLOPs per token and the peak that MFU is measured against.

MFU = achieved FLOP/s / peak FLOP/s, with training FLOPs per token = 6 x weights a token
multiplies through + 12 x layers x width x context (attention scores), as in PaLM
(Chowdhery et al. 2022, appendix B). The peak is measured: the best of a few large
square matmuls in the training dtype on this device, so MFU is "share of what this
machine's matmul can do", not of a datasheet number.
"""

from __future__ import annotations

import functools
import time


def train_flops_per_token(matmul_params: int, n_layers: int, hidden: int, context: int) -> float:
    return 6.0 * matmul_params + 12.0 * n_layers * hidden * context


def measure_peak_flops(device: str, dtype_name: str, size: int | None = None, repeats: int = 5) -> float:
    """Best FLOP/s of a size^3 matmul in `dtype_name` ('fp32' or 'bf16') on `device`."""
    import torch

    return _measure(device, dtype_name, size, repeats, torch.get_num_threads())


@functools.lru_cache(maxsize=16)  # once per process and setting; the thread count changes the peak
def _measure(device: str, dtype_name: str, size: int | None, repeats: int, threads: int) -> float:
    import torch

    dtype = torch.bfloat16 if dtype_name == "bf16" else torch.float32
    size = size or (8192 if device == "cuda" else 1024)
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    best = float("inf")
    for i in range(repeats + 1):
        if device == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        a @ b
        if device == "cuda":
            torch.cuda.synchronize()
        if i > 0:  # the first call warms up kernels and caches
            best = min(best, time.perf_counter() - t)
    return 2.0 * size**3 / best
