"""The server local worker processes fork from (Linux): one place for how it is set up.

It preloads the chunk runner, so each worker starts with the engine imported. This module
imports nothing heavy, so the command line can start the server before its own imports
(:func:`warm`) and the executor (``sim.batch.executors``) use the same context.

Ctrl-C belongs to the main process, which stops the workers itself: the server is started
with Ctrl-C blocked and ignores it from its first instruction (:mod:`sim.forkserver_init`,
imported first), and its workers inherit that. Each worker also leaves as soon as the main
process is gone, however it died (:func:`worker_init`); the server then follows, as the
last holder of its "alive" pipe is gone.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess

__all__ = ["PRELOAD", "context", "start", "warm", "worker_init"]

#: Imported by the server before it serves: the first one makes it ignore Ctrl-C.
PRELOAD = ["sim.forkserver_init", "sim.batch.chunks"]
#: A worker's exit status when it stops because the main process is gone.
ORPHANED = 1


def context() -> BaseContext:
    """The forkserver context with :data:`PRELOAD` set."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


def start() -> None:
    """Start the server if it is not running, with Ctrl-C blocked in it from the start.

    Python's own server only ignores Ctrl-C after its preload imports (about a second),
    so a Ctrl-C in that time printed their traceback. The signal mask is inherited across
    fork and exec; :mod:`sim.forkserver_init` then ignores Ctrl-C and unblocks it. Here it
    is blocked in this thread only, only while the server is spawned: a Ctrl-C meanwhile
    waits, it is not lost."""
    from multiprocessing import forkserver, resource_tracker

    context()
    # the resource tracker unblocks Ctrl-C after starting itself: start it first; it
    # ignores Ctrl-C and SIGTERM but not a hang-up, which a closed terminal sends the whole
    # group: it would die of it, and the command's exit print its relaunch and tracebacks
    _ignoring_hangup(resource_tracker.ensure_running)
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGINT])
    try:
        forkserver.ensure_running()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def _ignoring_hangup(spawn: Callable[[], None]) -> None:
    """Run ``spawn`` with SIGHUP ignored, so that a process it starts inherits that."""
    hup = getattr(signal, "SIGHUP", None)
    try:
        previous = signal.signal(hup, signal.SIG_IGN) if hup is not None else None
    except ValueError:  # not the main thread: the child takes this process's disposition
        hup = None
        previous = None
    try:
        spawn()
    finally:
        if hup is not None:
            signal.signal(hup, signal.SIG_DFL if previous is None else previous)


def warm() -> None:
    """Start the server now (its imports overlap the caller's); a head start only: the
    executor starts it anyway if this did not."""
    with contextlib.suppress(OSError, ValueError):
        start()


def worker_init() -> None:
    """Run first in every local worker process (the pool's initializer).

    Ctrl-C is ignored (the main process handles it and stops the workers; a worker
    interrupted while waiting for work printed a traceback), and a daemon thread waits for
    the main process to end and then ends the worker at once. Without it a worker whose
    main process was killed (SIGTERM, SIGHUP, SIGKILL, out of memory) waited for work for
    ever, and kept the server, and the caller's stdout and stderr pipes, alive with it."""
    with contextlib.suppress(ValueError, OSError):  # ValueError: not the main thread
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = multiprocessing.parent_process()
    if parent is not None:
        with contextlib.suppress(RuntimeError):  # no thread to spare: work without it
            threading.Thread(target=_exit_with, args=(parent,), name="sim-exit-with-parent",
                             daemon=True).start()


def _exit_with(parent: BaseProcess) -> None:
    """Wait until ``parent`` has ended (its sentinel, a pipe only it holds open, reads as
    closed), then end this process without cleaning up: its chunk is nobody's now."""
    parent.join()
    os._exit(ORPHANED)
