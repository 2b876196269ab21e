"""Executors: where chunks run. One small interface, used as a context manager."""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Protocol, TypeVar

__all__ = ["Executor", "ProcessExecutor", "SerialExecutor", "default_workers", "make_executor"]

T = TypeVar("T")
R = TypeVar("R")


def default_workers() -> int:
    """All cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class Executor(Protocol):
    """Runs a function over tasks and yields results as they complete (any order)."""

    workers: int

    def __enter__(self) -> Executor: ...

    def __exit__(self, *exc: object) -> None: ...

    def map_unordered(self, fn: Callable[[T], R], tasks: Iterable[T]) -> Iterator[R]: ...


class SerialExecutor:
    """Runs every task in this process, in order."""

    workers = 1

    def __enter__(self) -> SerialExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def map_unordered(self, fn: Callable[[T], R], tasks: Iterable[T]) -> Iterator[R]:
        for task in tasks:
            yield fn(task)


class ProcessExecutor:
    """Runs tasks on local worker processes, a bounded number in flight."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or default_workers()
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> ProcessExecutor:
        method = "forkserver" if sys.platform.startswith("linux") else "spawn"
        self._pool = ProcessPoolExecutor(self.workers,
                                         mp_context=multiprocessing.get_context(method))
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def map_unordered(self, fn: Callable[[T], R], tasks: Iterable[T]) -> Iterator[R]:
        assert self._pool is not None, "use the executor in a with block"
        pending: set[Future[Any]] = set()
        todo = iter(tasks)
        limit = self.workers * 2
        exhausted = False
        while True:
            while not exhausted and len(pending) < limit:
                try:
                    pending.add(self._pool.submit(fn, next(todo)))
                except StopIteration:
                    exhausted = True
            if not pending:
                return
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                yield fut.result()


def make_executor(kind: str = "auto", workers: int | None = None) -> Executor:
    """``serial``, ``processes``, or ``auto`` (processes when more than one worker)."""
    n = workers or default_workers()
    if kind == "serial" or (kind == "auto" and n == 1):
        return SerialExecutor()
    if kind in ("processes", "auto"):
        return ProcessExecutor(n)
    raise ValueError(f"unknown executor '{kind}': use serial or processes")
