"""An OS-level lock on a results folder: one writer at a time.

The lock is ``fcntl.flock`` on the folder's ``.lock`` file, which also holds the
holder's process id and host. The operating system releases it when the holder exits,
however it exits, so a lock file left behind by a killed process is stale and is
simply taken over.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
from pathlib import Path
from types import TracebackType

from sim.errors import ResultsError

__all__ = ["FolderLock"]

try:
    import fcntl
except ImportError:  # not on a Unix: no OS lock (documented in the README)
    fcntl = None  # type: ignore[assignment]


_UNSUPPORTED = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS}


class FolderLock:
    """Exclusive lock on ``<folder>/<name>``; ``acquire`` raises :class:`ResultsError`
    naming the holder when another process has it."""

    def __init__(self, folder: Path, name: str = ".lock") -> None:
        self.path = folder / name
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def holder(self) -> str:
        """Who holds (or last held) the lock, as written in the lock file."""
        try:
            info = json.loads(self.path.read_text(encoding="utf-8")[:4096])
            return f"pid {int(info['pid'])} on {str(info['host'])[:100]}"
        except (OSError, ValueError, KeyError, TypeError):
            return "another process"

    def in_use(self) -> bool:
        """Whether another process holds the lock now (without taking it)."""
        if self._fd is not None or fcntl is None or not self.path.is_file():
            return False
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            return exc.errno not in _UNSUPPORTED
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        finally:
            os.close(fd)

    def acquire(self, what: str = "writing") -> None:
        if self._fd is not None:
            return
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as exc:
            raise ResultsError(f"{self.path}: cannot lock the folder: "
                               f"{exc.strerror or exc}") from None
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in _UNSUPPORTED:  # a file system without locks: go on unlocked
                    self._fd = fd
                    return
                os.close(fd)
                raise ResultsError(
                    f"{self.path.parent} is in use by {self.holder()} (locked while it is "
                    f"{what}); wait for it to finish, or stop it first") from None
        stamp = json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode()
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, stamp, 0)
        self._fd = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        if fcntl is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def __enter__(self) -> FolderLock:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
