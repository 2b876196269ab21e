"""Holding stop signals over steps that must not be cut in half."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

__all__ = ["interrupt_deferred"]

#: Also held, when this program handles them (the command line does, as it does Ctrl-C).
_STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP")
                      if hasattr(signal, name))


@contextlib.contextmanager
def interrupt_deferred() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) until the block ends, then raise it: the block's steps
    (a chunk's file and its bookkeeping) happen together or not at all. SIGTERM and SIGHUP
    are held too when a Python handler takes them, and then passed to it. Outside the main
    thread signals cannot be caught, and nothing is changed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        caught.append(signum)

    previous: dict[int, Any] = {}
    try:
        previous[signal.SIGINT] = signal.signal(signal.SIGINT, hold)
        for sig in _STOP_SIGNALS:
            if callable(signal.getsignal(sig)):
                previous[sig] = signal.signal(sig, hold)
    except ValueError:  # no signals here (embedded interpreter)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        yield
        return
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    for sig in dict.fromkeys(caught):  # each once, in the order they came
        handler = previous[sig]
        if callable(handler):
            handler(sig, None)  # Python's own SIGINT handler raises KeyboardInterrupt
        elif sig == signal.SIGINT and handler == signal.SIG_DFL:
            raise KeyboardInterrupt
