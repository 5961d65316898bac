"""Where batch cases run: this machine (in-process or a process pool) or a Dask cluster.

Every executor calls the same ``job(item)`` and yields results as cases finish, so results do
not depend on where they ran. With Dask, ``scheduler`` is the address of a running scheduler
(``tcp://host:8786``, e.g. started with ``dask scheduler`` and ``dask worker`` on other machines,
which need this package and the same models); without one, a ``LocalCluster`` of ``workers``
single-threaded processes is started and closed. Each worker process loads the models once
(the job keeps them per process).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

from ..core.errors import HematomaExpansionError

EXECUTORS = ("local", "dask")


def run_jobs(job: Callable[[Any], Any], items: list[Any], workers: int = 1, executor: str = "local",
             scheduler: str | None = None, initializer: Callable[..., Any] | None = None,
             initargs: tuple = ()) -> Iterator[Any]:
    """``job(item)`` for every item, yielded in completion order."""
    if executor not in EXECUTORS:
        raise HematomaExpansionError(f"unknown executor {executor!r}; choose one of {', '.join(EXECUTORS)}")
    if not items:
        return
    if executor == "dask":
        yield from _run_dask(job, items, workers, scheduler, initializer, initargs)
    elif workers <= 1:
        if initializer is not None:
            initializer(*initargs)
        for item in items:
            yield job(item)
    else:
        with ProcessPoolExecutor(max_workers=workers, initializer=initializer, initargs=initargs) as pool:
            for future in as_completed([pool.submit(job, item) for item in items]):
                yield future.result()


def _run_dask(job, items, workers, scheduler, initializer, initargs) -> Iterator[Any]:
    try:
        from distributed import Client, LocalCluster
        from distributed import as_completed as dask_completed
    except ImportError:
        raise HematomaExpansionError("--executor dask needs the 'distributed' package (pip install distributed)") from None
    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=max(1, workers), threads_per_worker=1, processes=True,
                               dashboard_address=None)
    try:
        client = Client(scheduler or cluster)
    except OSError as exc:
        raise HematomaExpansionError(f"cannot reach the Dask scheduler {scheduler}: {exc}") from None
    try:
        if initializer is not None:
            client.run(initializer, *initargs)
        futures = client.map(job, items, pure=False)
        for future in dask_completed(futures):
            yield future.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
