"""Reading an input file (a scenario, a sweep file) safely: regular files only, size-bounded.

The file is opened without blocking (a named pipe nobody writes to would otherwise
wait forever), its type checked on the open descriptor (a device such as
``/dev/zero`` never ends), and at most :data:`~sim.scenario.yamlfile.MAX_BYTES` + 1
bytes are read, so an oversized or growing file costs bounded memory.
"""

from __future__ import annotations

import os
import stat

from sim.errors import Problem, ScenarioError
from sim.scenario.yamlfile import MAX_BYTES

__all__ = ["read_text_file"]

_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_BINARY = getattr(os, "O_BINARY", 0)


def _fail(shown: str, message: str) -> ScenarioError:
    return ScenarioError([Problem(shown, 0, 0, "", message)])


def read_text_file(path: str | os.PathLike[str], shown: str | None = None,
                   limit: int = MAX_BYTES) -> str:
    """The UTF-8 text of the regular file at ``path``, at most ``limit`` bytes.

    Raises :class:`~sim.errors.ScenarioError` (one problem, named ``shown``) when the
    file is missing, unreadable, not a regular file, larger than ``limit`` or not UTF-8.
    """
    name = shown if shown is not None else str(path)
    try:
        fd = os.open(path, os.O_RDONLY | _NONBLOCK | _BINARY)
    except FileNotFoundError:
        raise _fail(name, "no such file") from None
    except OSError as exc:
        raise _fail(name, f"cannot read the file: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise _fail(name, "is a folder, not a regular file")
        if not stat.S_ISREG(info.st_mode):
            raise _fail(name, "not a regular file (a device, pipe or socket): "
                              "give the path of a scenario file")
        if info.st_size > limit:
            raise _fail(name, f"file is larger than {limit:,} bytes")
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise _fail(name, f"cannot read the file: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if size > limit:
        raise _fail(name, f"file is larger than {limit:,} bytes")
    try:
        return b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _fail(name, f"not UTF-8 text (byte {exc.start:,} cannot be decoded)") from None

