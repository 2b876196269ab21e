"""A content digest of a runs table: equal digests mean identical results."""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa

__all__ = ["table_digest"]


def table_digest(table: pa.Table) -> str:
    """SHA-256 over column names, types and values (NaN equal to NaN, nulls marked), in row
    order."""
    h = hashlib.sha256()
    for name in table.column_names:
        col = table.column(name)
        h.update(name.encode("utf-8") + b"\0" + str(col.type).encode() + b"\0")
        if col.null_count:
            mask = np.asarray(col.is_null().to_numpy(zero_copy_only=False), dtype=np.uint8)
            h.update(b"nulls" + mask.tobytes())
        if pa.types.is_floating(col.type):
            h.update(np.ascontiguousarray(col.to_numpy(), dtype=np.float64).tobytes())
        elif pa.types.is_integer(col.type):
            h.update(np.ascontiguousarray(col.to_numpy(), dtype=np.int64).tobytes())
        else:
            for value in col.to_pylist():
                h.update(str(value).encode("utf-8") + b"\x1f")
    return h.hexdigest()
