"""A content digest of a runs table: equal digests mean identical results."""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa

__all__ = ["table_digest"]


def table_digest(table: pa.Table) -> str:
    """SHA-256 over column names and values (NaN equal to NaN), in row order."""
    h = hashlib.sha256()
    for name in table.column_names:
        h.update(name.encode("utf-8") + b"\0")
        col = table.column(name)
        if pa.types.is_floating(col.type):
            h.update(np.ascontiguousarray(col.to_numpy(), dtype=np.float64).tobytes())
        elif pa.types.is_integer(col.type):
            h.update(np.ascontiguousarray(col.to_numpy(), dtype=np.int64).tobytes())
        else:
            for value in col.to_pylist():
                h.update(str(value).encode("utf-8") + b"\x1f")
    return h.hexdigest()
