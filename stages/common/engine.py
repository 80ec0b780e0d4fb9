"""The data stages' engines: `local`, a process pool on this machine, or `ray`, Ray Data on a running
cluster (RAY_ADDRESS, `ray start --head`, KubeRay) or on a local one started for the run.

The step classes know nothing of either: an engine only decides where the same step objects run.
A stage hands `map_jobs` a picklable callable (a "job function", e.g. one that cleans a shard and
returns its counts) and its jobs; both engines call that same object on each job and give the
results back in job order, so a stage writes the same files whichever engine ran it.

On `ray` the jobs go through `ray.data.from_items(...).map_batches(...)` with one job a batch, on
a pool of actors: each actor unpickles the job function once, so a model-backed step loads once
per worker, as it does once per forked process on `local`. Job functions and jobs are pickled by
the driver, results and errors of our own (PipelineError) come back pickled and are raised by the
driver at their job's turn, so a run fails on the same job, with the same message, on both
engines. Workers run in the driver's working directory, so relative paths (data/raw/...) mean the
same on every node: on a cluster that directory must be shared storage at the same path.
"""

from __future__ import annotations

import copyreg
import importlib.util
import logging
import multiprocessing as mp
import os
import pickle
import types
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, TypeVar

from stages.common.errors import PipelineError
from stages.common.params import REPO_ROOT
from stages.common.runtime import progress

log = logging.getLogger(__name__)

ENGINES = ("local", "ray")

J = TypeVar("J")
R = TypeVar("R")

# Params sections hold read-only mappings; a job function carries its params to Ray workers.
copyreg.pickle(types.MappingProxyType, lambda m: (types.MappingProxyType, (dict(m),)))


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
    one started here is shut down on exit. Workers get this repository on PYTHONPATH, so they import
    `stages` from the same place (on a cluster: the same path on shared storage)."""
    import ray

    _quiet_ray_data()
    if ray.is_initialized():
        yield ray
        return
    address = os.environ.get("RAY_ADDRESS")
    log.info(
        "ray: %s", f"joining {address}" if address else f"starting a local cluster ({num_cpus or 'all'} CPUs)"
    )
    if not address:
        # Ray starts its workers at nice 15, below the driver; here they are the stage's work, and
        # on a busy machine that priority alone would make them several times slower than local's.
        os.environ.setdefault("RAY_worker_niceness", "0")
    ray.init(
        # "local": a new cluster of our own; None would join any Ray already running on this machine.
        address=address or "local",
        num_cpus=None if address else num_cpus,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
        runtime_env={"env_vars": {"PYTHONPATH": str(REPO_ROOT)}},
    )
    try:
        yield ray
    finally:
        ray.shutdown()


def engine_session(engine: str, workers: int) -> AbstractContextManager[Any]:
    """A Ray session held for a stage's several `map_jobs` calls on `ray` (each reuses it rather
    than starting and stopping its own), or nothing on `local`."""
    return ray_session(workers) if engine == "ray" else nullcontext()


def _quiet_ray_data() -> None:
    """Ray Data's own progress bars follow PIPELINE_NO_PROGRESS, as ours do; order is always kept."""
    from ray.data import DataContext

    ctx = DataContext.get_current()
    # Without this Ray Data yields blocks as they finish, and the output order would depend on timing.
    ctx.execution_options.preserve_order = True
    ctx.enable_progress_bars = not os.environ.get("PIPELINE_NO_PROGRESS")
    ctx.print_on_execution_start = False


# --- local: a fork pool; the job function is set before the fork, so whatever it built in the
# parent (models) is shared copy-on-write instead of being built again by every worker.
_local_fn: Callable[[Any], Any] | None = None


def _local_call(job: Any) -> Any:
    assert _local_fn is not None
    return _local_fn(job)


def _run_local(fn: Callable[[J], R], jobs: Iterable[J], workers: int) -> Iterator[R]:
    global _local_fn
    setup = getattr(fn, "setup", None)
    if setup is not None:
        setup()
    if workers <= 1:
        yield from map(fn, jobs)
        return
    _local_fn = fn
    with mp.get_context("fork").Pool(workers) as pool:
        yield from pool.imap(_local_call, jobs)


# --- ray: Ray Data over the jobs, one job a batch, on an actor pool.
class _RayWorker:
    """A Ray Data actor: unpickles the job function once, then runs it on each job it is given."""

    def __init__(self, fn_bytes: bytes, cwd: str) -> None:
        if os.path.isdir(cwd):
            os.chdir(cwd)
        self.fn = pickle.loads(fn_bytes)
        setup = getattr(self.fn, "setup", None)
        if setup is not None:
            setup()

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        out = []
        for job in batch["job"]:
            try:
                out.append(pickle.dumps(("ok", self.fn(pickle.loads(job)))))
            except PipelineError as e:
                out.append(pickle.dumps(("error", e)))
        return {"i": list(batch["i"]), "result": out}


def _run_ray(fn: Callable[[J], R], jobs: Iterable[J], workers: int) -> Iterator[R]:
    with ray_session(workers) as ray:
        # cloudpickle: a job function defined in a script or a test pickles by value.
        fn_bytes, cwd = ray.cloudpickle.dumps(fn), os.getcwd()
        items = [{"i": i, "job": pickle.dumps(job)} for i, job in enumerate(jobs)]
        if not items:
            return
        ds = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
            _RayWorker,
            fn_constructor_args=(fn_bytes, cwd),
            batch_size=1,
            batch_format="numpy",
            # A fixed pool: every worker asked for starts, one per CPU, on whichever nodes have them.
            compute=ray.data.ActorPoolStrategy(size=max(1, min(workers, len(items)))),
            num_cpus=1,
        )
        for done, row in enumerate(ds.iter_rows()):
            if int(row["i"]) != done:
                raise RuntimeError(f"ray returned job {int(row['i'])} where job {done} was due")
            status, value = pickle.loads(row["result"])
            if status == "error":
                raise value
            yield value


def map_jobs(
    engine: str,
    fn: Callable[[J], R],
    jobs: Iterable[J],
    *,
    workers: int,
    desc: str,
    unit: str,
    total: int | None = None,
) -> Iterator[R]:
    """`fn(job)` for every job, in job order, on `engine` with `workers` processes (or Ray actors).

    `fn` must be picklable; when it has a `setup()` method, that runs once per worker before its
    first job (on `local` once, in the parent, before the fork). Results are yielded as they
    come, so a caller may stop early. `workers <= 1` on `local` runs in this process, lazily,
    job by job.
    """
    run = {"local": _run_local, "ray": _run_ray}[check_engine(engine, "engine")]
    return progress(run(fn, jobs, workers), desc=desc, unit=unit, total=total)
