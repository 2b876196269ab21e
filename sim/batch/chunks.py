"""A chunk of runs: the unit of work sent to an executor, and what comes back."""

from __future__ import annotations

import io
import json
import sys
import time
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from sim.batch.aggregate import Aggregate
from sim.engine import Plan, columns_of, make_plan, run_one
from sim.engine import failed_row as _failed_row
from sim.errors import RunError
from sim.scenario import Scenario

__all__ = ["AGGREGATE_KEY", "EVENT_COLUMNS", "ChunkResult", "ChunkTask", "plan_for", "run_chunk"]

AGGREGATE_KEY = b"sim.aggregate"
_ARROW = {"int": pa.int64(), "float": pa.float64(), "str": pa.string()}
EVENT_COLUMNS = ("run", "time", "kind", "name", "level", "detail")
_PLANS: dict[tuple[str, str], Plan] = {}
_MAX_PLANS = 16


@dataclass(frozen=True)
class ChunkTask:
    """Runs ``start`` to ``stop - 1`` of a batch; picklable, so any executor can take it."""

    document: str  # the resolved scenario as JSON
    content_hash: str
    parameters: str  # resolved parameter values as JSON
    seed: int
    chunk: int
    start: int
    stop: int
    trace_below: int = 0  # record events of runs with index below this
    point: int = 0


@dataclass
class ChunkResult:
    chunk: int
    start: int
    stop: int
    point: int
    runs: bytes  # Parquet file
    events: bytes | None
    aggregate: Aggregate
    seconds: float
    peak_rss_mib: float = 0.0  # of the process that ran the chunk, so far


def plan_for(document: str, content_hash: str, parameters: str) -> Plan:
    """The plan of a scenario document at parameter values, compiled once per process."""
    key = (content_hash, parameters)
    plan = _PLANS.get(key)
    if plan is None:
        scenario = Scenario.from_document(json.loads(document))
        plan = make_plan(scenario, json.loads(parameters))
        if len(_PLANS) >= _MAX_PLANS:
            _PLANS.pop(next(iter(_PLANS)))
        _PLANS[key] = plan
    return plan


def schema_of(plan: Plan, point: bool = True) -> pa.Schema:
    fields = [pa.field(c.name, _ARROW[c.kind]) for c in columns_of(plan)]
    if point:
        fields.insert(1, pa.field("point", pa.int64()))
    return pa.schema(fields)


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def new_aggregate(plan: Plan) -> Aggregate:
    return Aggregate(
        outcomes=[o.id for o in plan.outcomes],
        levels=list(plan.levels),
        horizon=plan.horizon,
        metrics=[name for name, _, _ in plan.metrics],
    )


def run_chunk(task: ChunkTask) -> ChunkResult:
    """Run one chunk; failed runs are recorded with their error, not raised."""
    began = time.perf_counter()
    plan = plan_for(task.document, task.content_hash, task.parameters)
    rows: list[list[Any]] = []
    events: list[tuple[Any, ...]] = []
    levels = plan.levels
    outcome_index = {o.id: i for i, o in enumerate(plan.outcomes)}
    histories: list[tuple[list[tuple[float, int]], float, int]] = []
    for index in range(task.start, task.stop):
        trace = index < task.trace_below
        history: list[tuple[float, int]] = []
        try:
            row, trail = run_one(plan, task.seed, index, trace=trace, history=history)
            histories.append((history, row[2], outcome_index[row[1]]))
        except RunError as exc:
            row, trail = _failed_row(plan, index, exc), []
        rows.append(row)
        for t, kind, name, level, detail in trail:
            events.append((index, t, kind, name, levels[level], detail))
    schema = schema_of(plan)
    names = [f.name for f in schema if f.name != "point"]
    columns = dict(zip(names, map(list, zip(*rows, strict=True)), strict=True)) if rows else {
        n: [] for n in names}
    agg = new_aggregate(plan)
    agg.add_columns(columns)
    agg.add_histories(histories)
    columns["point"] = [task.point] * len(rows)
    table = pa.Table.from_pydict({f.name: columns[f.name] for f in schema}, schema=schema)
    # The chunk's aggregates travel inside its Parquet file, so a resumed batch can rebuild
    # its totals from the files alone: a readable file is a complete chunk.
    table = table.replace_schema_metadata({AGGREGATE_KEY: agg.dumps(),
                                           b"sim.chunk": str(task.chunk).encode()})
    events_bytes = None
    if task.trace_below > task.start:
        ev_cols = dict(zip(EVENT_COLUMNS, map(list, zip(*events, strict=True)), strict=True)) \
            if events else {c: [] for c in EVENT_COLUMNS}
        ev_schema = pa.schema([("run", pa.int64()), ("time", pa.float64()),
                               ("kind", pa.string()), ("name", pa.string()),
                               ("level", pa.string()), ("detail", pa.string())])
        events_bytes = _parquet(pa.Table.from_pydict(ev_cols, schema=ev_schema))
    return ChunkResult(task.chunk, task.start, task.stop, task.point, _parquet(table),
                       events_bytes, agg,
                       time.perf_counter() - began, peak_rss_mib())


def peak_rss_mib() -> float:
    """Peak resident memory of this process, in MiB (0 where the platform cannot tell)."""
    try:
        import resource
    except ImportError:  # not on a Unix
        return 0.0
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 / (1024 if sys.platform == "darwin" else 1)
