"""Run independent tasks serially, in local processes, or on a Dask cluster.

One code path for all three: :class:`TaskExecutor` maps a module-level function
over a list of picklable tasks and returns results in task order, with a progress
bar. A Dask executor connects to ``scheduler_address`` or, without one, to a local
cluster of ``n_workers`` single-threaded worker processes (each limited to
``memory_limit``) that the process starts on first use and closes at exit.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, TypeVar

from orpr_kedro.core.params import ExecutorParams
from orpr_kedro.core.progress import progress_bar

logger = logging.getLogger(__name__)
Task = TypeVar("Task")


_LOCAL_CLUSTERS: dict[tuple[int, str | None], Any] = {}


def _local_cluster(n_workers: int, memory_limit: str | None) -> Any:
    """The process's local Dask cluster of ``n_workers`` single-threaded worker processes, started once.

    Every stage (and every node) of a run maps over the same cluster instead of starting
    its own; it is closed when the process exits.
    """
    key = (n_workers, memory_limit)
    cluster = _LOCAL_CLUSTERS.get(key)
    if cluster is None or cluster.status.name in ("closed", "closing", "failed"):
        from dask.distributed import LocalCluster

        cluster = LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            host="127.0.0.1",
            memory_limit=memory_limit or "auto",
        )
        _LOCAL_CLUSTERS[key] = cluster
        atexit.register(cluster.close)
    return cluster


class TaskExecutor:
    """Maps a function over tasks with the configured back end."""

    def __init__(self, params: ExecutorParams, *, progress: bool = True):
        self.params = params
        self.progress = progress
        self._pool: ProcessPoolExecutor | None = None
        self._client: Any = None

    def __enter__(self) -> TaskExecutor:
        kind = self.params.kind
        if kind == "processes":
            # workers start from a fresh server process, not a fork of this one: a fork of a
            # process that already ran OpenMP code (LightGBM, torch) is unsafe and aborts
            method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
            self._pool = ProcessPoolExecutor(
                max_workers=self.params.n_workers, mp_context=multiprocessing.get_context(method)
            )
        elif kind == "dask":
            try:  # the `distributed` extra: a runtime install has no Dask
                from dask.distributed import Client
            except ImportError as err:
                raise ImportError(
                    "executor kind 'dask' needs Dask: pip install 'orpr_kedro[distributed]' "
                    "(with -c constraints.txt), or set the executor kind to 'serial' or 'processes'"
                ) from err

            if self.params.scheduler_address:
                self._client = Client(self.params.scheduler_address)
            else:
                self._client = Client(_local_cluster(self.params.n_workers, self.params.memory_limit))
            logger.info("Dask executor on %s", self._client.scheduler.address)
        logger.info("Executor: %s (%s worker(s))", kind, 1 if kind == "serial" else self.params.n_workers)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._pool is not None:
            self._pool.shutdown()
        if self._client is not None:
            self._client.close()
        self._pool = self._client = None

    def map(self, function: Callable[[Task], Any], tasks: Sequence[Task], description: str = "tasks") -> list[Any]:
        """``[function(task) for task in tasks]`` on the configured back end, in order."""
        bar = progress_bar(total=len(tasks), desc=description, enabled=self.progress, leave=False)
        try:
            results: list[Any] = []
            if self.params.kind == "serial" or len(tasks) <= 1:
                for task in tasks:
                    results.append(function(task))
                    bar.update()
                return results
            if self.params.kind == "processes":
                if self._pool is None:
                    raise RuntimeError("use the executor as a context manager")
                futures = {self._pool.submit(function, task): index for index, task in enumerate(tasks)}
                results = [None] * len(tasks)
                for future in as_completed(futures):
                    results[futures[future]] = future.result()
                    bar.update()
                return results
            if self._client is None:
                raise RuntimeError("use the executor as a context manager")
            from dask.distributed import as_completed as dask_completed

            futures = self._client.map(function, list(tasks), pure=False)
            index = {future.key: position for position, future in enumerate(futures)}
            results = [None] * len(tasks)
            for future in dask_completed(futures):
                results[index[future.key]] = future.result()
                bar.update()
            return results
        finally:
            bar.close()
