"""Atomic file writes, bounded reads and strict JSON."""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import stat
from pathlib import Path
from typing import Any

from sim.errors import ResultsError

__all__ = ["MAX_JSON_BYTES", "clean_json", "dump_json", "read_bytes", "read_json",
           "write_atomic", "write_new"]

MAX_JSON_BYTES = 64 * 1024**2  # a manifest, summary or scenario larger than this is refused
MAX_JSON_DEPTH = 64


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
    """Strict JSON (no NaN, no infinity), indented, as UTF-8 bytes."""
    return (json.dumps(clean_json(value), indent=2, allow_nan=False) + "\n").encode("utf-8")


def read_bytes(path: Path, limit: int) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes (never more are read)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ResultsError(f"{path}: missing") from None
    except (OSError, ValueError) as exc:
        raise ResultsError(f"{path!r}: cannot read: {getattr(exc, 'strerror', None) or exc}"
                           ) from None
    if not stat.S_ISREG(st.st_mode):
        raise ResultsError(f"{path}: not a regular file")
    if st.st_size > limit:
        raise ResultsError(f"{path}: {st.st_size:,} bytes, more than the {limit:,} allowed")
    try:
        with open(path, "rb") as fh:
            data = fh.read(min(limit, st.st_size) + 1)
    except OSError as exc:
        raise ResultsError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise ResultsError(f"{path}: more than the {limit:,} bytes allowed")
    if len(data) > st.st_size:  # grew while being read
        raise ResultsError(f"{path}: changed while it was read")
    return data


def _depth(value: Any) -> int:
    depth, level = 0, [value]
    while level:
        depth += 1
        if depth > MAX_JSON_DEPTH:
            return depth
        nxt: list[Any] = []
        for v in level:
            if isinstance(v, dict):
                nxt.extend(v.values())
            elif isinstance(v, list):
                nxt.extend(v)
        level = nxt
    return depth


def read_json(path: Path, limit: int = MAX_JSON_BYTES) -> dict[str, Any]:
    """A JSON object from a file: bounded in size and nesting; strict (no NaN)."""
    data = read_bytes(path, limit)

    def _refuse(token: str) -> Any:
        raise ValueError(f"{token} is not JSON")

    try:
        value = json.loads(data.decode("utf-8"), parse_constant=_refuse)
    except RecursionError:
        raise ResultsError(f"{path}: nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ResultsError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ResultsError(f"{path}: not a JSON object")
    if _depth(value) > MAX_JSON_DEPTH:
        raise ResultsError(f"{path}: nested deeper than {MAX_JSON_DEPTH} levels")
    return value


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


def write_new(path: Path, data: bytes, force: bool) -> None:
    """Write a file that is not part of a results folder's own records (a report, a figure,
    a table): never over an existing file unless ``force``."""
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise ResultsError(f"{path} exists and is not a regular file; choose another name")
    if path.exists() and not force:
        raise ResultsError(f"{path} exists; pass --force to replace it")
    write_atomic(path, data)
