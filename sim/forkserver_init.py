"""Imported first by the workers' fork server (see :mod:`sim.forkserver`): ignore Ctrl-C.

:func:`sim.forkserver.start` spawns the server with Ctrl-C (SIGINT) blocked, so that a
Ctrl-C during its start-up and preload imports cannot interrupt it; here it is ignored
and unblocked (a Ctrl-C pending meanwhile is dropped). Python's server would only ignore
it after the preload. The workers fork from the server and keep it ignored. In a process
where SIGINT is not blocked (any other importer) this does nothing.
"""

from __future__ import annotations

import signal

if hasattr(signal, "pthread_sigmask") and \
        signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, []):
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread: leave the mask as it is
        pass
    else:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])
