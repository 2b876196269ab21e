"""Arrow columns built from buffers equal pa.array's, and building them never imports pandas."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest

from sim.results.columns import column, table


def _same(a: pa.Array, b: pa.Array) -> bool:
    """Equal arrays, NaN equal to NaN (float columns compared bit for bit)."""
    if a.type != b.type or len(a) != len(b) or a.null_count != b.null_count:
        return False
    if pa.types.is_floating(a.type):
        return (a.is_null().to_pylist() == b.is_null().to_pylist()
                and a.fill_null(0.0).to_numpy().tobytes() == b.fill_null(0.0).to_numpy().tobytes())
    return a.equals(b)


@pytest.mark.parametrize(("values", "kind"), [
    ([1, 2, 3, -5, 2**62], pa.int64()),
    ([], pa.int64()),
    ([1.5, math.nan, -0.0, math.inf], pa.float64()),
    (["a", "", None, "é✓", "x" * 1000], pa.string()),
    ([None, None], pa.string()),
    ([], pa.string()),
    ([True, False, None, True] * 5, pa.bool_()),
    ([True] * 9, pa.bool_()),
    (np.arange(10, dtype=np.int64), pa.int64()),
    (np.linspace(0, 1, 7), pa.float64()),
    ([1, None], pa.int64()),  # these fall back to pa.array
    ([1.0, 2], pa.float64()),
    ([1, 2.5], pa.float64()),
])
def test_column_equals_pa_array(values, kind):
    """Each supported type, with nulls, empties and odd text; the rest falls back."""
    made = column(values, kind)
    made.validate(full=True)
    assert _same(made, pa.array(values, kind))


def test_dates_from_datetime64_with_nat():
    """A datetime64[D] array becomes date32, NaT as null."""
    days = np.array(["2024-11-20", "NaT", "1969-12-31", "2100-01-01"], dtype="datetime64[D]")
    made = column(days, pa.date32())
    made.validate(full=True)
    assert made.equals(pa.array([None if np.isnat(d) else d.item() for d in days], pa.date32()))


def test_table_keeps_the_schema_and_its_metadata():
    schema = pa.schema([pa.field("n", pa.int64(), metadata={b"doc": b"a count"}),
                        pa.field("s", pa.string())], metadata={b"k": b"v"})
    made = table({"s": ["x", None], "n": [1, 2]}, schema)
    assert made.equals(pa.Table.from_pydict({"n": [1, 2], "s": ["x", None]}, schema=schema),
                       check_metadata=True)


def test_a_batch_does_not_import_pandas(tmp_path):
    """`escalation run` writes its folder without importing pandas (0.1 s of start-up)."""
    from conftest import ROOT

    code = ("import sys, sim; sc = sim.load_scenario(sys.argv[1]); "
            "sim.run_batch(sc, 50, seed=1, executor='serial', out=sys.argv[2]); "
            "print('pandas' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code,
                          str(ROOT / "scenarios" / "bryansk_atacms_2024.yaml"),
                          str(tmp_path / "r")], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "False"


def _old_digest(table: pa.Table) -> str:
    """table_digest as it was written first, with to_numpy (kept here as the reference)."""
    import hashlib

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


def test_table_digest_is_unchanged_on_chunked_sliced_and_null_columns():
    """The digest read from buffers equals the to_numpy one (chunk checksums depend on it)."""
    from sim.results import table_digest

    base = pa.table({"i": pa.array(range(10), pa.int64()),
                     "f": pa.array([0.5, math.nan, 2.0, -0.0, 1e300, 3, 4, 5, 6, 7],
                                   pa.float64()),
                     "g": pa.array([1.5, None] * 5, pa.float64()),
                     "k": pa.array(range(10), pa.int32()),
                     "s": pa.array(["a", None] * 5, pa.string())})
    for t in (base, base.slice(3, 5), pa.concat_tables([base.slice(1, 4), base.slice(6)]),
              base.slice(0, 0)):
        assert table_digest(t) == _old_digest(t)
