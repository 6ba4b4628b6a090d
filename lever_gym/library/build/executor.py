"""Running independent jobs: in this process, in a local process pool, or on a Ray cluster.

``run_jobs(fn, jobs, ...)`` returns ``[fn(job) for job in jobs]`` in job order whatever the
executor, so a library or a benchmark built on any of them is the same, byte for byte.
Jobs must be picklable and idempotent (library runs and benchmark units skip finished
work), which is what lets Ray retry a job whose worker died.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

import lever_gym.checks as checks
from lever_gym.errors import ConfigError

T = TypeVar("T")
EXECUTORS = ("local", "ray")
RAY_RETRIES = 3
"""How many times Ray re-runs a job whose worker died (a killed process, a lost node)."""


def run_jobs(
    fn: Callable[[Any], T],
    jobs: Sequence[Any],
    *,
    executor: str = "local",
    workers: int = 1,
    address: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[T]:
    """``fn(job)`` for every job, results in job order; ``progress(done, total)`` per job.

    ``local`` runs ``workers`` processes (1: this process). ``ray`` sends one task per job
    to the Ray cluster at ``address`` (``None``: a local cluster of ``workers`` CPUs, started
    and stopped here), with ``RAY_RETRIES`` retries of a task whose worker dies.
    """
    checks.one_of(executor, EXECUTORS, "executor")
    workers = checks.positive_int(workers, "workers")
    if executor == "ray":
        return _run_ray(fn, jobs, workers, address, progress)
    if address is not None:
        raise ConfigError("an address is only used with executor='ray'.")
    results: list[T] = []
    if workers == 1:
        for job in jobs:
            results.append(fn(job))
            if progress:
                progress(len(results), len(jobs))
        return results
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for result in pool.map(fn, jobs):
            results.append(result)
            if progress:
                progress(len(results), len(jobs))
    return results


@contextlib.contextmanager
def executor_session(executor: str, workers: int = 1, address: str | None = None) -> Iterator[None]:
    """Keep one executor session open over several ``run_jobs`` calls: with ``ray``, the
    cluster connection (a local cluster of ``workers`` CPUs if ``address`` is ``None``) is
    made once here instead of per call; ``local`` needs none."""
    checks.one_of(executor, EXECUTORS, "executor")
    if executor != "ray":
        yield
        return
    ray = _ray()
    started = not ray.is_initialized()
    if started:
        options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if address is None:
            options["num_cpus"] = checks.positive_int(workers, "workers")
        ray.init(address=address, **options)
    try:
        yield
    finally:
        if started:
            ray.shutdown()


def _ray() -> Any:
    try:
        import ray
    except ImportError as e:
        raise ConfigError("executor='ray' needs Ray: pip install 'lever-gym[ray]'.") from e
    return ray


def _run_ray(
    fn: Callable[[Any], T],
    jobs: Sequence[Any],
    workers: int,
    address: str | None,
    progress: Callable[[int, int], None] | None,
) -> list[T]:
    with executor_session("ray", workers, address):
        task = _ray().remote(num_cpus=1, max_retries=RAY_RETRIES)(fn)
        refs = [task.remote(job) for job in jobs]
        pending, done = list(refs), 0
        while pending:
            ready, pending = _ray().wait(pending, num_returns=1)
            done += len(ready)
            if progress:
                progress(done, len(jobs))
        return _ray().get(refs)
