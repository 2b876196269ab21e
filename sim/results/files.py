"""Atomic file writes and strict JSON."""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
from pathlib import Path
from typing import Any

from sim.errors import ResultsError

__all__ = ["clean_json", "dump_json", "write_atomic"]


def clean_json(value: Any) -> Any:
    """``value`` with NaN and infinities replaced by ``None`` (strict JSON has neither)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): clean_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_json(v) for v in value]
    if hasattr(value, "item"):  # numpy scalars
        return clean_json(value.item())
    return value


def dump_json(value: Any) -> bytes:
    return (json.dumps(clean_json(value), indent=2, allow_nan=False) + "\n").encode("utf-8")


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader sees the old file or the whole new one.

    The bytes go to a hidden temporary file in the same folder, are flushed to disk,
    and the file is renamed over ``path``.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        if exc.errno == errno.ENOSPC:
            raise ResultsError(f"{path}: the disk is full") from None
        raise ResultsError(f"{path}: cannot write: {exc.strerror or exc}") from None
