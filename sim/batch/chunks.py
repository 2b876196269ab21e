"""A chunk of runs: the unit of work sent to an executor, and what comes back."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import pyarrow as pa

from sim.batch.aggregate import Aggregate
from sim.engine import Column, Plan, Replication, RunStreams, columns_of, make_plan, run_one
from sim.engine import failed_row as _failed_row
from sim.engine.plan import ProbeSpec
from sim.engine.tilt import TiltedReplication, mixture_weight, run_tilted
from sim.errors import RunError
from sim.results.chunkfile import ChunkIdentity, encode_chunk
from sim.results.columns import table as arrow_table
from sim.scenario import Scenario

__all__ = ["WEIGHT_COLUMN", "ChunkResult", "ChunkTask", "new_aggregate", "plan_for",
           "record_columns", "run_chunk", "schema_of"]

_ARROW = {"int": pa.int64(), "float": pa.float64(), "str": pa.string(), "bool": pa.bool_()}
_PLANS: dict[tuple[str, str, str], Plan] = {}
_MAX_PLANS = 16
_DAYS_PER_UNIT = {"day": 1.0, "days": 1.0, "week": 7.0, "weeks": 7.0, "hour": 1 / 24,
                  "hours": 1 / 24}


class _Identified:
    """Shortcuts to the chunk index and point of a thing carrying a chunk identity."""

    identity: ChunkIdentity

    @property
    def chunk(self) -> int:
        return self.identity.chunk

    @property
    def point(self) -> int:
        return self.identity.point


@dataclass(frozen=True)
class ChunkTask(_Identified):
    """Runs ``identity.start`` to ``identity.stop - 1`` of a batch at one parameter point;
    picklable, so any executor can take it."""

    document: str  # the scenario document as JSON
    parameters: str  # effective parameter values as JSON
    identity: ChunkIdentity
    trace_below: int = 0  # record events of runs with index below this
    places: str = ""  # where each expression was written, as JSON (for run-time messages)
    probes: str = ""  # what to watch in every run (a backtest's observations), as JSON
    tilt: str = ""  # rare-event runs: {"theta": [tilt per trigger], "alpha", "every"} as JSON


@dataclass
class ChunkResult(_Identified):
    identity: ChunkIdentity
    runs: bytes  # the chunk file (Parquet, identity and aggregate inside)
    events: bytes | None
    aggregate: Aggregate
    seconds: float
    peak_rss_mib: float = 0.0  # of the process that ran the chunk, so far



def probes_of(text: str) -> list[ProbeSpec]:
    """Probes from their JSON (a list of :class:`ProbeSpec` fields)."""
    return [ProbeSpec(**item) for item in json.loads(text)] if text else []


def probes_json(probes: list[ProbeSpec] | None) -> str:
    """Probes as JSON (empty for none)."""
    return json.dumps([asdict(p) for p in probes]) if probes else ""


def plan_for(document: str, content_hash: str, parameters: str, places: str = "",
             probes: str = "") -> Plan:
    """The plan of a scenario document at parameter values, compiled once per process;
    ``places`` (JSON) keeps the file positions of its expressions for run-time messages,
    ``probes`` (JSON) lists what every run watches (see :class:`~sim.engine.ProbeSpec`)."""
    key = (content_hash, parameters, probes)
    plan = _PLANS.get(key)
    if plan is None:
        scenario = Scenario.from_document(json.loads(document),
                                          places=json.loads(places) if places else None)
        plan = make_plan(scenario, json.loads(parameters), probes_of(probes))
        if len(_PLANS) >= _MAX_PLANS:
            _PLANS.pop(next(iter(_PLANS)))
        _PLANS[key] = plan
    return plan


def _bool_columns(plan: Plan) -> set[str]:
    return {name for name, slot in plan.var_slots if isinstance(plan.initial[slot], bool)}


def _clock(plan: Plan) -> tuple[str, dt.date | None]:
    clock = plan.scenario.spec.clock
    return str(clock.unit or ""), clock.start


def schema_of(plan: Plan, weighted: bool = False) -> pa.Schema:
    """The runs table's schema: typed columns, times with their clock unit, and an
    ``end_date`` when the clock has a start date (and ``weight`` in rare-event runs)."""
    flags = _bool_columns(plan)
    unit, start = _clock(plan)
    fields = []
    for c in record_columns(plan, weighted):
        kind = "bool" if c.name in flags else c.kind
        meta = {b"doc": c.doc.encode()}
        if c.name == "end_time" or c.name.startswith("time_to."):
            meta[b"unit"] = unit.encode()
        fields.append(pa.field(c.name, _ARROW[kind], metadata=meta))
    fields.insert(1, pa.field("point", pa.int64(), metadata={b"doc": b"sweep point (0 in a "
                                                                       b"batch)"}))
    if start is not None and unit in _DAYS_PER_UNIT:
        fields.insert(4, pa.field("end_date", pa.date32(),
                                  metadata={b"doc": b"calendar date the run ended"}))
    return pa.schema(fields)


def new_aggregate(plan: Plan, weighted: bool = False) -> Aggregate:
    return Aggregate(
        outcomes=[o.label for o in plan.outcomes],
        levels=list(plan.levels),
        horizon=plan.horizon,
        metrics=[name for name, _, _ in plan.metrics],
        weighted=weighted,
    )


WEIGHT_COLUMN = Column("weight", "float", "importance weight of the run, p/(a p + (1-a) q) "
                       "with a the untilted share (rare-event runs only): a probability is "
                       "the mean of weight x 1{event}, never a share of these runs")


def record_columns(plan: Plan, weighted: bool = False) -> list[Column]:
    """The runs table's columns (before ``point`` and ``end_date``): a rare-event table
    adds ``weight`` before ``path``."""
    cols = columns_of(plan)
    return [*cols[:-2], WEIGHT_COLUMN, *cols[-2:]] if weighted else cols


def _typed(columns: dict[str, Any], plan: Plan, schema: pa.Schema) -> pa.Table:
    """The chunk's columns as the schema's types: flags as booleans, no error as null."""
    for name in _bool_columns(plan):
        columns[name] = [None if v is None or (isinstance(v, float) and math.isnan(v))
                         else bool(v) for v in columns[name]]
    columns["error"] = [e or None for e in columns["error"]]
    if "end_date" in schema.names:
        unit, start = _clock(plan)
        assert start is not None
        base = np.datetime64(start.isoformat(), "D")
        days = np.asarray(columns["end_time"], dtype=float) * _DAYS_PER_UNIT[unit]
        dates = base + np.floor(np.nan_to_num(days, nan=0.0)).astype("timedelta64[D]")
        columns["end_date"] = np.where(np.isnan(days), np.datetime64("NaT", "D"), dates)
    return arrow_table(columns, schema)


def run_chunk(task: ChunkTask) -> ChunkResult:
    """Run one chunk; failed runs are recorded with their error, not raised."""
    began = time.perf_counter()
    ident = task.identity
    plan = plan_for(task.document, ident.scenario_hash, task.parameters, task.places,
                    task.probes)
    rows: list[list[Any]] = []
    events: list[tuple[Any, ...]] = []
    levels = plan.levels
    label_index = {o.label: o.index for o in plan.outcomes}
    end_at = 1 + len(plan.dimensions)  # end_time follows run and the outcome columns
    histories: list[tuple[list[list[tuple[float, int]]], float, int]] = []
    tilt = json.loads(task.tilt) if task.tilt else None
    theta: list[float] | None = None if tilt is None else tilt["theta"]
    alpha = 0.0 if tilt is None else float(tilt["alpha"])
    every = 0 if tilt is None else int(tilt["every"])  # runs i % every == 0: untilted
    streams = RunStreams(ident.seed, ident.start, ident.stop)
    rep: Replication | None = None  # one for the chunk's plain runs, reset for each run
    trep: TiltedReplication | None = None  # the same for its tilted runs
    for index in range(ident.start, ident.stop):
        trace = index < task.trace_below
        history: list[list[tuple[float, int]]] = []
        try:
            if theta is None:
                stream = streams.stream(index)
                if rep is None:
                    rep = Replication(plan, stream)
                row, trail = run_one(plan, ident.seed, index, trace=trace, history=history,
                                     stream=stream, rep=rep)
            else:
                stream = streams.stream(index)
                untilted = every > 0 and index % every == 0
                if trep is None:
                    trep = TiltedReplication(plan, stream, theta, untilted=untilted)
                tilted = run_tilted(plan, ident.seed, index, theta, history=history,
                                    untilted=untilted, stream=stream, rep=trep)
                row, trail = tilted.row, []
                row.insert(len(row) - 2, mixture_weight(tilted.log_weight, alpha))
            last = row[-2].rpartition(" > ")[2]  # the path ends with the deciding outcome
            histories.append((history, row[end_at], label_index[last]))
        except RunError as exc:
            row, trail = _failed_row(plan, index, exc), []
            if theta is not None:
                row.insert(len(row) - 2, math.nan)
        rows.append(row)
        for t, kind, name, level, detail in trail:
            events.append((index, t, kind, name, levels[level], detail))
    schema = schema_of(plan, theta is not None)
    names = [c.name for c in record_columns(plan, theta is not None)]
    columns = dict(zip(names, map(list, zip(*rows, strict=True)), strict=True)) if rows else {
        n: [] for n in names}
    agg = new_aggregate(plan, theta is not None)
    agg.add_columns(columns)
    agg.add_histories(histories)
    columns["point"] = [ident.point] * len(rows)
    table = _typed(columns, plan, schema)
    events_bytes = None
    if task.trace_below > ident.start:
        events_bytes = _events_file(events, plan)
        ident = replace(ident, events=hashlib.sha256(events_bytes).hexdigest())
    return ChunkResult(ident, encode_chunk(table, ident, agg.dumps()), events_bytes, agg,
                       time.perf_counter() - began, peak_rss_mib())


def draw_names(plan: Plan) -> list[str]:
    """Every name an action draws, in file order (one ``draw.<name>`` event column each)."""
    return list(dict.fromkeys(n for a in plan.actions for n in a.draw_names))


def events_schema(plan: Plan) -> pa.Schema:
    """The events table: one row per event of a traced run; an action's draws in typed
    ``draw.<name>`` columns (null where the event has no such draw), ``detail`` as text."""
    unit, start = _clock(plan)
    fields = [pa.field("run", pa.int64()),
              pa.field("time", pa.float64(), metadata={b"unit": unit.encode()}),
              pa.field("kind", pa.string(), metadata={b"doc": b"level, action, trigger, end"}),
              pa.field("name", pa.string()), pa.field("level", pa.string()),
              pa.field("detail", pa.string(), metadata={b"doc": b"the draws as text"})]
    if start is not None and unit in _DAYS_PER_UNIT:
        fields.insert(2, pa.field("date", pa.date32()))
    fields += [pa.field(f"draw.{n}", pa.float64()) for n in draw_names(plan)]
    return pa.schema(fields)


def _as_float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _text(value: Any) -> str:
    """A drawn value as text; never fails (tracing must not change a run)."""
    number = _as_float(value)
    if number is not None:
        return f"{number:g}"
    if isinstance(value, int):
        return f"(an integer of {value.bit_length():,} bits)"
    return str(value)


def _events_file(events: list[tuple[Any, ...]], plan: Plan) -> bytes:
    import io

    import pyarrow.parquet as pq

    schema = events_schema(plan)
    cols: dict[str, list[Any]] = {name: [] for name in schema.names}
    draws = [n for n in schema.names if n.startswith("draw.")]
    unit, start = _clock(plan)
    for run, t, kind, name, level, detail in events:
        values: dict[str, Any] = {}
        if isinstance(detail, tuple):
            values = dict(zip(detail[0], detail[1], strict=False))
            text = ", ".join(f"{k}={_text(v)}" for k, v in values.items())
        else:
            text = str(detail)
        for key, value in (("run", run), ("time", t), ("kind", kind), ("name", name),
                           ("level", level), ("detail", text)):
            cols[key].append(value)
        for column in draws:
            cols[column].append(_as_float(values[column[5:]]) if column[5:] in values
                                else None)
        if "date" in cols:
            assert start is not None
            days = float(t) * _DAYS_PER_UNIT[unit]
            cols["date"].append(start + dt.timedelta(days=math.floor(days)))
    table = pa.Table.from_pydict(cols, schema=schema)
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def peak_rss_mib() -> float:
    """Peak resident memory of this process, in MiB (0 where the platform cannot tell)."""
    try:
        import resource
    except ImportError:  # not on a Unix
        return 0.0
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 / (1024 if sys.platform == "darwin" else 1)
