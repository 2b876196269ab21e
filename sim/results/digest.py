"""A content digest of a runs table: equal digests mean identical results."""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa

__all__ = ["table_digest"]


def _values(col: pa.ChunkedArray, dtype: type) -> np.ndarray:
    """A numeric column's values as ``col.to_numpy()`` gives them, read from its buffers
    when it has no nulls (``to_numpy`` imports pandas, which a batch does not need)."""
    if col.null_count or col.type != pa.from_numpy_dtype(dtype):
        return np.ascontiguousarray(col.to_numpy(), dtype=dtype)
    size = np.dtype(dtype).itemsize
    parts: list[np.ndarray] = [
        np.frombuffer(c.buffers()[1], dtype=dtype, count=len(c), offset=c.offset * size)
        for c in col.chunks if len(c)]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


def _nulls(col: pa.ChunkedArray) -> np.ndarray:
    """1 where a value is null, as ``col.is_null()`` says, read from the validity bitmaps
    (``is_null`` imports pyarrow.compute, 45 ms)."""
    parts = [np.zeros(0, dtype=np.uint8)]
    for c in col.chunks:
        bitmap = c.buffers()[0]
        if bitmap is None or c.null_count == 0:
            parts.append(np.zeros(len(c), dtype=np.uint8))
            continue
        bits = np.unpackbits(np.frombuffer(bitmap, dtype=np.uint8), bitorder="little")
        parts.append(1 - bits[c.offset:c.offset + len(c)])
    return np.concatenate(parts)


def table_digest(table: pa.Table) -> str:
    """SHA-256 over column names, types and values (NaN equal to NaN, nulls marked), in row
    order."""
    h = hashlib.sha256()
    for name in table.column_names:
        col = table.column(name)
        h.update(name.encode("utf-8") + b"\0" + str(col.type).encode() + b"\0")
        if col.null_count:
            mask = _nulls(col)
            h.update(b"nulls" + mask.tobytes())
        if pa.types.is_floating(col.type):
            h.update(_values(col, np.float64).tobytes())
        elif pa.types.is_integer(col.type):
            h.update(_values(col, np.int64).tobytes())
        else:
            for value in col.to_pylist():
                h.update(str(value).encode("utf-8") + b"\x1f")
    return h.hexdigest()
