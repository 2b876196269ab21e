"""The server local worker processes fork from (Linux): one place for how it is set up.

It preloads the chunk runner, so each worker starts with the engine imported. This module
imports nothing heavy, so the command line can start the server before its own imports
(:func:`warm`) and the executor (``sim.batch.executors``) use the same context.
"""

from __future__ import annotations

import contextlib
import multiprocessing
from multiprocessing.context import BaseContext

__all__ = ["PRELOAD", "context", "warm"]

PRELOAD = ["sim.batch.chunks"]


def context() -> BaseContext:
    """The forkserver context with :data:`PRELOAD` set."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


def warm() -> None:
    """Start the server now (its imports overlap the caller's); a head start only: the
    executor starts it anyway if this did not."""
    from multiprocessing import forkserver

    context()
    with contextlib.suppress(OSError, ValueError):
        forkserver.ensure_running()
