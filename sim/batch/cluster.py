"""The Dask executor: chunks run on a ``dask.distributed`` cluster.

Without a scheduler address it starts a ``LocalCluster`` of worker processes bound to
127.0.0.1 with no dashboard; with one (``tcp://host:8786``) it joins that cluster.
Dask recomputes the chunks of a worker that dies; the driver takes each chunk's first
result only, so no run is lost or counted twice, and since a chunk is a pure function
of its task, a recomputed chunk is identical.

Joining a scheduler is bounded in time: ``distributed``'s own connect timeout
(``distributed.comm.timeouts.connect``, and ``Client(timeout=)``) covers opening the TCP
connection but not the handshake read that follows, so a peer that accepts connections
and then stays silent would hang the driver, and one that sends other bytes makes Dask
read them as a frame length (exabytes). The address is therefore checked first
(:func:`check_scheduler_address`), then the handshake is made once under a wall-clock
deadline in a thread of its own, and only then is the ``Client`` created.

Local workers do not raise KeyboardInterrupt on SIGINT (a terminal's Ctrl-C reaches the whole
process group) but fall silent: the driver alone handles the interrupt, silences the workers
(it forwards SIGINT to them), and closes the cluster with short timeouts and its logs muted.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import math
import os
import re
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from sim.errors import BatchError

__all__ = ["DaskExecutor", "check_scheduler_address", "dask_setup"]

T = TypeVar("T")
R = TypeVar("R")

EXPECTED = ("expected tcp://HOST:PORT or tls://HOST:PORT with a port in 1..65535, "
            "e.g. tcp://10.0.0.5:8786")
_ADDRESS = re.compile(r"(?P<scheme>tcp|tls)://(?:\[(?P<ipv6>[^\]]*)\]|(?P<host>[^:/\[\]]*))"
                      r":(?P<port>[0-9]+)")
_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
_QUIET_SECONDS = 5.0  # closing an interrupted client or cluster waits at most this long


def _shown(address: object) -> str:
    text = repr(address)
    return text if len(text) <= 80 else text[:77] + "..."


def _address_problem(address: object) -> str | None:
    if not isinstance(address, str):
        return "it is not a string"
    m = _ADDRESS.fullmatch(address)
    if m is None:
        return "it does not have that form"
    port = int(m["port"])
    if not 1 <= port <= 65535:
        return f"port {port} is out of range"
    if m["ipv6"] is not None:
        try:
            ipaddress.IPv6Address(m["ipv6"])
        except ValueError:
            return f"[{m['ipv6']}] is not an IPv6 address"
        return None
    host = m["host"]
    if not host:
        return "the host is missing"
    if re.fullmatch(r"[0-9.]+", host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return f"{host} is not an IPv4 address"
        return None
    if len(host) > 253 or not all(_LABEL.fullmatch(label) for label in host.split(".")):
        return f"{host!r} is not a host name"
    return None


def check_scheduler_address(address: object) -> str:
    """The scheduler ``address`` if it is ``tcp://HOST:PORT`` or ``tls://HOST:PORT``
    (a host name, an IPv4 address or a bracketed IPv6 address; a port in 1..65535), else a
    :class:`BatchError` naming it and the expected form. Nothing is connected to."""
    problem = _address_problem(address)
    if problem is not None:
        raise BatchError(f"scheduler address {_shown(address)} is not valid ({problem}): "
                         f"{EXPECTED}")
    assert isinstance(address, str)
    return address


def _silence(signum: int, frame: object) -> None:
    """A local worker's SIGINT: the driver is stopping the batch and will stop this worker;
    until then it keeps quiet (no log lines, no traceback on stdout or stderr)."""
    del signum, frame
    logging.disable(logging.CRITICAL)
    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os.close(devnull)


def dask_setup(worker: object) -> None:
    """Preload of the local cluster's workers: SIGINT (a terminal's Ctrl-C reaches the whole
    process group, and the driver forwards its own) silences the worker instead of raising
    KeyboardInterrupt in it; the driver alone handles the interrupt and stops the workers.
    Otherwise a worker logs errors only."""
    del worker
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _silence)
    logging.getLogger("distributed").setLevel(logging.ERROR)


def _silence_workers(cluster: Any) -> None:
    """Send SIGINT to the local cluster's worker processes: they go quiet (see
    :func:`dask_setup`) before the driver closes the connections they are using."""
    for nanny in list(getattr(cluster, "workers", {}).values()):
        pid = getattr(getattr(getattr(nanny, "process", None), "process", None), "pid", None)
        if isinstance(pid, int) and pid > 0:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGINT)


@contextlib.contextmanager
def _muted_logs() -> Iterator[None]:
    """Silence every ``distributed`` logger of this process for the block."""
    loggers = [logging.getLogger("distributed")]
    loggers += [lg for name, lg in list(logging.root.manager.loggerDict.items())
                if name.startswith("distributed.") and isinstance(lg, logging.Logger)]
    before = [lg.disabled for lg in loggers]
    for lg in loggers:
        lg.disabled = True
    try:
        yield
    finally:
        for lg, was in zip(loggers, before, strict=True):
            lg.disabled = was


def _handshake(dist: Any, address: str, timeout: float) -> None:
    """Connect to ``address`` and complete Dask's handshake within ``timeout`` seconds, in a
    thread with its own event loop (the caller may be inside one, as in a notebook)."""
    args = dist.Security().get_connection_args("client")

    async def attempt() -> None:
        opening = dist.comm.connect(address, timeout=timeout, **args)
        comm = await asyncio.wait_for(opening, timeout)
        await comm.close()

    failure: list[BaseException] = []

    def target() -> None:
        try:
            with _muted_logs():
                asyncio.run(attempt())
        except BaseException as exc:  # reported to the caller below
            failure.append(exc)

    thread = threading.Thread(target=target, name="dask-handshake", daemon=True)
    thread.start()
    thread.join(timeout + 5.0)
    if thread.is_alive():
        raise TimeoutError(f"no answer within {timeout:g} s")
    if failure:
        raise failure[0]


def _reason(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return (f"no Dask handshake within {timeout:g} s (is something else listening "
                "there?)")
    if isinstance(exc, MemoryError | ValueError | OverflowError):
        return "the peer does not speak the Dask protocol"
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


class DaskExecutor:
    """Runs tasks on a Dask cluster, a bounded number in flight.

    ``workers`` is the size of a local cluster (capped like local processes); with a
    ``scheduler`` address the cluster's own workers are used. ``connect_timeout`` (seconds)
    bounds reaching the scheduler, handshake included."""

    def __init__(self, workers: int | None = None, scheduler: str | None = None,
                 connect_timeout: float | None = None) -> None:
        from sim.batch.executors import (
            CONNECT_TIMEOUT,
            check_local_workers,
            default_workers,
            max_local_workers,
        )

        timeout = CONNECT_TIMEOUT if connect_timeout is None else connect_timeout
        if (isinstance(timeout, bool) or not isinstance(timeout, int | float)
                or not math.isfinite(timeout) or timeout <= 0):
            raise BatchError(f"connect timeout must be a number of seconds > 0, "
                             f"got {connect_timeout!r}")
        self.connect_timeout = float(timeout)
        self.scheduler = None if scheduler is None else check_scheduler_address(scheduler)
        if self.scheduler is not None:  # not capped: the scheduler reports its own workers
            self.workers = (workers if isinstance(workers, int) and workers >= 1
                            else default_workers())
        elif workers is None:
            self.workers = min(default_workers(), max_local_workers())
        else:
            self.workers = check_local_workers(workers)
        self._client: Any = None
        self._cluster: Any = None
        self._hidden: str | None = None

    def __enter__(self) -> DaskExecutor:
        from sim.batch.executors import ExecutorStartError, hide_unimportable_main

        try:
            import distributed
        except ImportError:
            raise BatchError("the dask executor needs dask.distributed: "
                             "pip install 'dask[distributed]'") from None
        for name in ("distributed", "distributed.nanny", "distributed.scheduler",
                     "distributed.worker", "distributed.core", "distributed.http.proxy"):
            logging.getLogger(name).setLevel(logging.ERROR)
        dist: Any = distributed  # no type annotations
        self._hidden = hide_unimportable_main()
        try:
            if self.scheduler:
                self._join(dist)
            else:
                self._cluster = dist.LocalCluster(n_workers=self.workers, threads_per_worker=1,
                                                  processes=True, host="127.0.0.1",
                                                  dashboard_address=None,
                                                  preload=["sim.batch.cluster"])
                self._client = dist.Client(self._cluster)
        except BaseException as exc:  # whatever distributed raises, say where it failed
            self.__exit__(type(exc))  # also on Ctrl-C: close what was started, quietly
            if not isinstance(exc, Exception):
                raise
            if self.scheduler:
                raise ExecutorStartError(
                    f"cannot connect to the Dask scheduler at {self.scheduler}: "
                    f"{_reason(exc, self.connect_timeout)}", "dask", self.scheduler) from None
            raise ExecutorStartError(f"cannot start a local Dask cluster of {self.workers} "
                                     f"workers: {_reason(exc, self.connect_timeout)}",
                                     "dask") from None
        return self

    def _join(self, dist: Any) -> None:
        assert self.scheduler is not None
        _handshake(dist, self.scheduler, self.connect_timeout)
        self._client = dist.Client(self.scheduler, timeout=self.connect_timeout)
        info = self._client.scheduler_info()
        self.workers = max(1, sum(w.get("nthreads", 1)
                                  for w in info.get("workers", {}).values()))

    def __exit__(self, exc_type: object, *exc: object) -> None:
        from sim.batch.executors import restore_main

        restore_main(self._hidden)
        self._hidden = None
        client, cluster = self._client, self._cluster
        self._client = self._cluster = None
        if exc_type is None:
            if client is not None:
                client.close()
            if cluster is not None:
                cluster.close()
            return
        # interrupted or failed: stop quickly and quietly; the error in flight says why
        with _muted_logs():
            if cluster is not None:
                with contextlib.suppress(Exception):
                    _silence_workers(cluster)
            if client is not None:
                with contextlib.suppress(Exception):
                    client.close(timeout=_QUIET_SECONDS)
            if cluster is not None:
                with contextlib.suppress(Exception):
                    cluster.close(timeout=_QUIET_SECONDS)

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
