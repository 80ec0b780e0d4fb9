"""The data stages' engines: `local`, a process pool on this machine, or `ray`, Ray Data on a running
cluster (RAY_ADDRESS, `ray start --head`, KubeRay) or on a local one started for the run.

The step classes know nothing of either: an engine only decides where the same step objects run."""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from stages.common.errors import PipelineError

log = logging.getLogger(__name__)

ENGINES = ("local", "ray")


def check_engine(name: str, key: str) -> str:
    """`name` when it is a known engine whose library is installed, else a PipelineError naming `key`."""
    if name not in ENGINES:
        raise PipelineError(f"{key}: unknown engine {name!r}; use one of {', '.join(ENGINES)}")
    if name == "ray" and importlib.util.find_spec("ray") is None:
        raise PipelineError(
            f"{key}: ray is not installed; run `pip install ray==2.60.0` (requirements.txt) or use local"
        )
    return name


@contextmanager
def ray_session(num_cpus: int | None = None) -> Iterator[Any]:
    """The `ray` module, initialised: joins the cluster at RAY_ADDRESS when set, else starts a local one
    with `num_cpus` CPUs. A session already open (a test's cluster, a caller's) is reused and left open;
    one started here is shut down on exit."""
    import ray

    if ray.is_initialized():
        yield ray
        return
    address = os.environ.get("RAY_ADDRESS")
    log.info(
        "ray: %s", f"joining {address}" if address else f"starting a local cluster ({num_cpus or 'all'} CPUs)"
    )
    ray.init(
        address=address or None,
        num_cpus=None if address else num_cpus,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
    )
    try:
        yield ray
    finally:
        ray.shutdown()


# ---- dedup: one function over many items, in order, on either engine -----------------------------


def _call_with_shared(fn, shared, item):
    return fn(shared, item)


def map_ordered(fn, items: list, shared: Any, *, engine: str, num_proc: int) -> list:
    """`[fn(shared, item) for item in items]`, run on a local process pool or as Ray tasks.

    `shared` (an index, a hasher) is sent to each worker once: the pool's initializer on `local`,
    `ray.put` on `ray`. `fn` must be a module-level function so that it pickles by name."""
    if engine == "ray":
        with ray_session(num_proc) as ray:
            ref = ray.put(shared)
            task = ray.remote(num_cpus=1)(_call_with_shared)
            return ray.get([task.remote(fn, ref, item) for item in items])
    if num_proc == 1 or len(items) <= 1:
        return [fn(shared, item) for item in items]
    import multiprocessing as mp

    with mp.get_context("fork").Pool(min(num_proc, len(items)), _set_shared, (shared,)) as pool:
        return pool.starmap(_call_shared, [(fn, item) for item in items], chunksize=1)


_SHARED: Any = None


def _set_shared(shared: Any) -> None:
    global _SHARED
    _SHARED = shared


def _call_shared(fn, item):
    return fn(_SHARED, item)
