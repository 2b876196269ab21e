"""The Dask executor: chunks run on a ``dask.distributed`` cluster.

Without a scheduler address it starts a ``LocalCluster`` of worker processes bound to
127.0.0.1 with no dashboard; with one (``tcp://host:8786``) it joins that cluster.
Dask recomputes the chunks of a worker that dies; the driver takes each chunk's first
result only, so no run is lost or counted twice, and since a chunk is a pure function
of its task, a recomputed chunk is identical.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from sim.errors import BatchError

__all__ = ["DaskExecutor"]

T = TypeVar("T")
R = TypeVar("R")


class DaskExecutor:
    """Runs tasks on a Dask cluster, a bounded number in flight."""

    def __init__(self, workers: int | None = None, scheduler: str | None = None) -> None:
        from sim.batch.executors import default_workers

        self.workers = workers or default_workers()
        self.scheduler = scheduler
        self._client: Any = None
        self._cluster: Any = None
        self._hidden: str | None = None

    def __enter__(self) -> DaskExecutor:
        try:
            import distributed
        except ImportError:
            raise BatchError("the dask executor needs dask.distributed: "
                             "pip install 'dask[distributed]'") from None
        for name in ("distributed", "distributed.nanny", "distributed.scheduler",
                     "distributed.worker", "distributed.core", "distributed.http.proxy"):
            logging.getLogger(name).setLevel(logging.ERROR)
        from sim.batch.executors import hide_unimportable_main

        dist: Any = distributed  # no type annotations
        self._hidden = hide_unimportable_main()
        try:
            if self.scheduler:
                self._client = dist.Client(self.scheduler, timeout="30s")
                info = self._client.scheduler_info()
                self.workers = max(1, sum(w.get("nthreads", 1)
                                          for w in info.get("workers", {}).values()))
            else:
                self._cluster = dist.LocalCluster(n_workers=self.workers, threads_per_worker=1,
                                             processes=True, host="127.0.0.1",
                                             dashboard_address=None)
                self._client = dist.Client(self._cluster)
        except (OSError, TimeoutError, RuntimeError) as exc:
            self.__exit__(None)
            where = self.scheduler or "a local cluster"
            raise BatchError(f"cannot connect to the Dask scheduler at {where}: {exc}") from None
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        from sim.batch.executors import restore_main

        restore_main(self._hidden)
        self._hidden = None
        client, cluster = self._client, self._cluster
        self._client = self._cluster = None
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()

    @property
    def client(self) -> Any:
        """The ``distributed.Client`` (inside the ``with`` block)."""
        return self._client

    def map_unordered(self, fn: Callable[[T], R], tasks: Iterable[T]) -> Iterator[R]:
        import distributed

        assert self._client is not None, "use the executor in a with block"
        todo = iter(tasks)
        limit = max(2, self.workers * 2)
        dist: Any = distributed  # no type annotations
        running = dist.as_completed()
        for _ in range(limit):
            task = next(todo, None)
            if task is None:
                break
            running.add(self._client.submit(fn, task, pure=False))
        for fut in running:
            try:
                result = fut.result()
            except Exception as exc:
                raise BatchError(f"a chunk failed on the Dask cluster: {exc}") from exc
            fut.release()
            task = next(todo, None)
            if task is not None:
                running.add(self._client.submit(fn, task, pure=False))
            yield result
