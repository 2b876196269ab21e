"""Arrow columns from Python values and NumPy arrays, without ``pa.array``.

``pa.array`` (and so ``pa.table`` and ``Table.from_pydict``) asks whether its input is a
pandas object, which imports pandas (about 0.1 s) the first time in a process; a batch
writes only numbers, text, flags and dates, so it builds those columns from their
buffers instead. The columns are the same as ``pa.array(values, type)`` gives (a test
checks them against it); any other type, or a value these do not expect, falls back to
``pa.array``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

__all__ = ["column", "table"]

_NUMERIC = {pa.int64(): np.int64, pa.float64(): np.float64}
_EPOCH = np.datetime64("1970-01-01", "D")
_MAX_TEXT = 2**31 - 1  # bytes a string column's int32 offsets can address


def _validity(valid: np.ndarray) -> pa.Buffer | None:
    """The validity bitmap of a mask of non-null values (none when all are valid)."""
    if valid.all():
        return None
    return pa.py_buffer(np.packbits(valid, bitorder="little"))


def _numbers(values: Any, kind: type) -> pa.Array | None:
    if isinstance(values, np.ndarray):
        if values.dtype != kind or values.ndim != 1:
            return None
        data = np.ascontiguousarray(values)
    else:
        exact = int if kind is np.int64 else float
        if not all(v.__class__ is exact for v in values):
            return None  # nulls, flags, mixed numbers: pa.array decides
        try:
            data = np.array(values, dtype=kind)
        except OverflowError:
            return None
    return pa.Array.from_buffers(pa.from_numpy_dtype(kind), len(data),
                                 [None, pa.py_buffer(data)])


def _strings(values: Sequence[Any]) -> pa.Array | None:
    if not all(v is None or v.__class__ is str for v in values):
        return None
    valid = np.array([v is not None for v in values], dtype=bool)
    encoded = [b"" if v is None else v.encode("utf-8") for v in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    if offsets[-1] > _MAX_TEXT:
        return None
    return pa.Array.from_buffers(pa.string(), len(encoded), [
        _validity(valid), pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(b"".join(encoded))])


def _flags(values: Sequence[Any]) -> pa.Array | None:
    if not all(v is None or v.__class__ is bool for v in values):
        return None
    valid = np.array([v is not None for v in values], dtype=bool)
    data = np.array([bool(v) for v in values], dtype=bool)
    return pa.Array.from_buffers(pa.bool_(), len(values), [
        _validity(valid), pa.py_buffer(np.packbits(data, bitorder="little"))])


def _dates(values: Any) -> pa.Array | None:
    """From a ``datetime64[D]`` array (NaT as null)."""
    if not (isinstance(values, np.ndarray) and values.dtype == np.dtype("datetime64[D]")):
        return None
    valid = ~np.isnat(values)
    days = np.where(valid, (values - _EPOCH).astype(np.int64), 0)
    if len(days) and (days.min() < -(2**31) or days.max() >= 2**31):
        return None
    return pa.Array.from_buffers(pa.date32(), len(values), [
        _validity(valid), pa.py_buffer(days.astype(np.int32))])


def column(values: Any, type: pa.DataType) -> pa.Array:
    """``pa.array(values, type)`` for int64, float64, string, bool and date32 (from a
    ``datetime64[D]`` array), built from buffers; other cases go to ``pa.array``."""
    made: pa.Array | None = None
    if type in _NUMERIC:
        made = _numbers(values, _NUMERIC[type])
    elif isinstance(values, np.ndarray) and type == pa.date32():
        made = _dates(values)
    elif isinstance(values, np.ndarray):
        made = None
    elif type == pa.string():
        made = _strings(values)
    elif type == pa.bool_():
        made = _flags(values)
    return made if made is not None else pa.array(values, type)


def table(columns: Mapping[str, Any], schema: pa.Schema | None = None) -> pa.Table:
    """A table of ``columns`` (name to values) with ``schema``'s types and metadata, or,
    without one, each NumPy array's own type (like ``pa.table`` of NumPy arrays)."""
    if schema is None:
        arrays = [column(v, pa.from_numpy_dtype(np.asarray(v).dtype)) for v in columns.values()]
        return pa.Table.from_arrays(arrays, names=list(columns))
    return pa.Table.from_arrays([column(columns[f.name], f.type) for f in schema],
                                schema=schema)
