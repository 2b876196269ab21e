"""Executors: where chunks run. One small interface, used as a context manager."""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol, TypeVar

from sim.batch.signals import interrupt_deferred
from sim.errors import BatchError
from sim.forkserver import context as forkserver_context
from sim.forkserver import start as start_forkserver
from sim.forkserver import worker_init

__all__ = [
    "CONNECT_TIMEOUT",
    "EXECUTORS",
    "MAX_WORKERS",
    "WORKERS_PER_CORE",
    "Executor",
    "ExecutorStartError",
    "ProcessExecutor",
    "SerialExecutor",
    "check_local_workers",
    "default_workers",
    "make_executor",
    "max_local_workers",
]

T = TypeVar("T")
R = TypeVar("R")

EXECUTORS = ("auto", "serial", "processes", "dask")
#: Local worker processes (plain or in a local Dask cluster) per core this process may use:
#: beyond a few per core they only compete for the cores and cost memory (~100 MB each).
WORKERS_PER_CORE = 4
#: Local worker processes at most, whatever the core count.
MAX_WORKERS = 256
#: Seconds to reach a Dask scheduler and complete its handshake.
CONNECT_TIMEOUT = 10.0


class ExecutorStartError(BatchError):
    """An executor could not start (a scheduler that cannot be reached or does not speak
    Dask, worker processes that cannot be started): no chunk has run on it.

    ``executor`` names the kind (``"dask"``, ``"processes"``); ``address`` is the scheduler
    address, if any."""

    def __init__(self, message: str, executor: str, address: str | None = None) -> None:
        super().__init__(message)
        self.executor = executor
        self.address = address


def default_workers() -> int:
    """All cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def max_local_workers() -> int:
    """The most local worker processes allowed here: ``WORKERS_PER_CORE`` per core this
    process may use, and never more than ``MAX_WORKERS``."""
    return min(MAX_WORKERS, WORKERS_PER_CORE * default_workers())


def check_local_workers(workers: object) -> int:
    """``workers`` as a count of local worker processes, or a :class:`BatchError` naming
    the limit and the core count."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise BatchError(f"workers must be a whole number >= 1, got {workers!r}")
    limit = max_local_workers()
    if workers > limit:
        cores = default_workers()
        raise BatchError(
            f"{workers} local workers is too many: at most {limit} here ({WORKERS_PER_CORE} "
            f"per core, {cores} core{'s' if cores != 1 else ''} available, never more than "
            f"{MAX_WORKERS}); use a Dask scheduler (--scheduler) for more")
    return workers


def hide_unimportable_main() -> str | None:
    """A main module that is not a file (``python -``, ``python -c``) cannot be re-imported
    by spawned workers: hide its name from them, as for a notebook. Returns what to restore."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if main is not None and isinstance(path, str) and not os.path.isfile(path):
        del main.__file__
        return path
    return None


def restore_main(path: str | None) -> None:
    main = sys.modules.get("__main__")
    if path is not None and main is not None:
        main.__file__ = path


class Executor(Protocol):
    """Runs a function over tasks and yields results as they complete (any order)."""

    workers: int

    def __enter__(self) -> Executor: ...

    def __exit__(self, exc_type: object, *exc: object) -> None: ...

    def map_unordered(self, fn: Callable[[T], R], tasks: Iterable[T]) -> Iterator[R]: ...


class SerialExecutor:
    """Runs every task in this process, in order."""

    workers = 1

    def __enter__(self) -> SerialExecutor:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        return None

    def map_unordered(self, fn: Callable[[T], R], tasks: Iterable[T]) -> Iterator[R]:
        for task in tasks:
            yield fn(task)


class ProcessExecutor:
    """Runs tasks on local worker processes, a bounded number in flight."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = (min(default_workers(), max_local_workers()) if workers is None
                        else check_local_workers(workers))
        self._pool: ProcessPoolExecutor | None = None
        self._hidden: str | None = None

    def __enter__(self) -> ProcessExecutor:
        if sys.platform.startswith("linux"):
            # workers fork from a server that has imported the engine once: quick to start,
            # and safe beside threads (a progress bar) in this process, unlike plain fork
            ctx = forkserver_context()
        else:
            ctx = multiprocessing.get_context("spawn")
        self._hidden = hide_unimportable_main()
        try:
            if sys.platform.startswith("linux"):
                start_forkserver()  # ignoring Ctrl-C from its start (the pool would not)
            # each worker ignores Ctrl-C and ends when this process does
            self._pool = ProcessPoolExecutor(self.workers, mp_context=ctx,
                                             initializer=worker_init)
        except (OSError, ValueError) as exc:
            restore_main(self._hidden)
            self._hidden = None
            raise ExecutorStartError(f"cannot start {self.workers} worker processes: {exc}",
                                     "processes") from None
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        restore_main(self._hidden)
        self._hidden = None
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if exc_type is None:
            pool.shutdown(wait=True)
            return
        # interrupted or failed: drop queued work and stop the workers now, without
        # waiting for chunks in flight (their runs are simply not recorded)
        workers = list(getattr(pool, "_processes", {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in workers:
            proc.terminate()
        for proc in workers:
            proc.join(timeout=5)

    def map_unordered(self, fn: Callable[[T], R], tasks: Iterable[T]) -> Iterator[R]:
        assert self._pool is not None, "use the executor in a with block"
        pending: set[Future[Any]] = set()
        todo = iter(tasks)
        limit = self.workers * 2
        exhausted = False
        while True:
            while not exhausted and len(pending) < limit:
                try:
                    task = next(todo)
                except StopIteration:
                    exhausted = True
                    break
                # a submit may start a worker: Ctrl-C in the middle of handing it its
                # start-up data would leave it to fail reading them, with a traceback
                with interrupt_deferred():
                    pending.add(self._pool.submit(fn, task))
            if not pending:
                return
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                try:
                    result = fut.result()
                except BrokenProcessPool:
                    raise BatchError("a worker process died (killed, or out of memory); "
                                     "the chunks already written are kept") from None
                yield result


def make_executor(kind: str = "auto", workers: int | None = None,
                  scheduler: str | None = None,
                  connect_timeout: float = CONNECT_TIMEOUT) -> Executor:
    """``serial``, ``processes``, ``dask`` (a local cluster, or the one at ``scheduler``),
    or ``auto`` (processes when more than one worker).

    Local workers are capped by :func:`max_local_workers`; a scheduler's cluster reports
    its own workers. ``connect_timeout`` bounds reaching the scheduler, handshake included.
    Every refusal is a :class:`BatchError`; nothing starts until the ``with`` block."""
    if kind not in EXECUTORS:
        raise BatchError(f"unknown executor '{kind}': use {', '.join(EXECUTORS)}")
    if scheduler is not None:
        from sim.batch.cluster import DaskExecutor

        return DaskExecutor(workers, scheduler, connect_timeout=connect_timeout)
    n = (min(default_workers(), max_local_workers()) if workers is None
         else check_local_workers(workers))
    if kind == "dask":
        from sim.batch.cluster import DaskExecutor

        return DaskExecutor(n, connect_timeout=connect_timeout)
    if kind == "serial" or (kind == "auto" and n == 1):
        return SerialExecutor()
    return ProcessExecutor(n)
