"""Monte Carlo batches: N runs of one scenario at one parameter point.

Run ``i`` draws only from ``SeedSequence(seed, spawn_key=(i,))``, so the runs
table is the same for any executor, worker count or chunk size. Chunks are
aggregated as they arrive (memory stays flat in the number of runs) and, with an
output folder, written as one Parquet file each, atomically, with the manifest
recording which chunks are complete.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import math
import platform
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from sim.batch.aggregate import Aggregate, summarise, timeline_columns
from sim.batch.chunks import (
    ChunkResult,
    ChunkTask,
    new_aggregate,
    peak_rss_mib,
    plan_for,
    run_chunk,
)
from sim.batch.executors import Executor, default_workers, make_executor
from sim.engine import BIT_GENERATOR, columns_of
from sim.errors import BatchError, BatchInterrupted
from sim.results import ResultsWriter
from sim.scenario import Scenario, load_scenario

__all__ = [
    "BatchResult",
    "Executed",
    "default_chunk_size",
    "default_out",
    "execute",
    "run_batch",
    "versions",
]

Progress = Callable[[int, int], None]
MANIFEST_EVERY = 1.0  # seconds between manifest rewrites during a batch
SERIAL_BELOW = 2000  # "auto" runs smaller batches in this process: no start-up cost


@dataclass
class BatchResult:
    """What a batch produced: its summary, aggregates and where its tables are."""

    scenario: str
    runs: int
    seed: int
    parameters: dict[str, Any]
    summary: dict[str, Any]
    aggregate: Aggregate
    seconds: float
    out: Path | None
    _chunks: list[bytes] = field(default_factory=list, repr=False)

    @property
    def failed(self) -> int:
        return self.aggregate.failed

    @property
    def runs_per_second(self) -> float:
        return self.runs / self.seconds if self.seconds > 0 else math.nan

    def runs_table(self) -> pa.Table:
        """The runs table, sorted by run index."""
        if self.out is not None:
            from sim.results import load_results

            return load_results(self.out).runs
        tables = [pq.read_table(io.BytesIO(b)) for b in self._chunks]
        return pa.concat_tables(tables).sort_by("run")


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name, dist in (("sim", "escalation-sim"), ("numpy", "numpy"), ("simpy", "simpy"),
                       ("pydantic", "pydantic"), ("pyarrow", "pyarrow")):
        try:
            out[name] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[name] = "unknown"
    return out


def default_chunk_size(runs: int, workers: int) -> int:
    """About eight chunks per worker, between 50 and 5,000 runs each."""
    return max(50, min(5000, math.ceil(runs / max(1, workers * 8))))


def default_out(scenario: Scenario, root: str | Path = "results", suffix: str = "") -> Path:
    """``results/<scenario><suffix>-<timestamp>``, made unique."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{scenario.name}{suffix}-{stamp}"
    out, n = base, 1
    while out.exists():
        n += 1
        out = Path(f"{base}-{n}")
    return out


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def run_batch(
    scenario: Scenario | str | Path,
    runs: int = 1000,
    seed: int = 0,
    parameters: Mapping[str, Any] | None = None,
    *,
    workers: int | None = None,
    executor: str | Executor = "auto",
    chunk_size: int | None = None,
    out: str | Path | None = None,
    force: bool = False,
    trace: int = 0,
    progress: Progress | None = None,
    command: list[str] | None = None,
) -> BatchResult:
    """Run ``runs`` replications of ``scenario`` with root ``seed``.

    ``parameters`` overrides parameter defaults (checked against their ranges).
    ``workers`` defaults to all cores; ``executor`` is ``"auto"`` (in-process below
    2,000 runs, else local processes), ``"serial"``, ``"processes"`` or an
    :class:`~sim.batch.executors.Executor`. With ``out`` the results folder is
    written there (never over existing results unless ``force``); ``trace=K``
    records the events of the first K runs. Failed runs are recorded with their
    error, not raised.
    """
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    done = execute(sc, [dict(parameters or {})], runs, seed, workers=workers,
                   executor=executor, chunk_size=chunk_size, out=out, force=force, trace=trace,
                   progress=progress, command=command)
    return BatchResult(sc.name, runs, seed, done.values[0], done.summaries[0],
                       done.aggregates[0], done.seconds, done.out, done.kept)


@dataclass
class Executed:
    """What :func:`execute` produced, per point."""

    values: list[dict[str, Any]]
    summaries: list[dict[str, Any]]
    aggregates: list[Aggregate]
    seconds: float
    out: Path | None
    kept: list[bytes]


def execute(
    sc: Scenario,
    points: list[dict[str, Any]],
    runs: int,
    seed: int,
    *,
    workers: int | None = None,
    executor: str | Executor = "auto",
    chunk_size: int | None = None,
    out: str | Path | None = None,
    force: bool = False,
    trace: int = 0,
    progress: Progress | None = None,
    command: list[str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Executed:
    """Run ``runs`` replications at each parameter point (one point: a batch; several: a
    sweep). Every point uses the same streams: run ``i`` of every point draws from
    ``SeedSequence(seed, spawn_key=(i,))`` (common random numbers)."""
    if not isinstance(runs, int) or runs < 1:
        raise BatchError(f"runs must be a whole number >= 1, got {runs!r}")
    if not isinstance(seed, int) or seed < 0:
        raise BatchError(f"seed must be a whole number >= 0, got {seed!r}")
    if workers is not None and workers < 1:
        raise BatchError(f"workers must be >= 1, got {workers}")
    if not points:
        raise BatchError("no parameter points to run")
    values = [sc.resolve_parameters(p) for p in points]
    sweep = len(points) > 1 or extra is not None
    total_runs = runs * len(points)
    n_workers = workers or default_workers()
    if isinstance(executor, str):
        kind = "serial" if executor == "auto" and total_runs < SERIAL_BELOW else executor
        try:
            exe: Executor = make_executor(kind, n_workers)
        except ValueError as exc:
            raise BatchError(str(exc)) from None
    else:
        exe = executor
    size = chunk_size or default_chunk_size(total_runs, exe.workers)
    size = min(size, runs)
    if size < 1:
        raise BatchError(f"chunk size must be >= 1, got {size}")
    document = json.dumps(sc.document)
    params_json = [json.dumps(v, sort_keys=True) for v in values]
    # Compile here to fail fast (a plan takes ~10 ms: large designs check a sample of points).
    checked = params_json if len(params_json) <= 64 else params_json[:: len(params_json) // 64]
    plans = [plan_for(document, sc.content_hash, pj) for pj in checked]
    per_point = math.ceil(runs / size)
    n_chunks = per_point * len(points)
    trace_below = runs if trace < 0 else min(trace, runs)
    tasks = (ChunkTask(document, sc.content_hash, params_json[p], seed, p * per_point + k,
                       k * size, min(runs, (k + 1) * size), trace_below, point=p)
             for p in range(len(points)) for k in range(per_point))

    writer = ResultsWriter(out, force) if out is not None else None
    manifest: dict[str, Any] = {
        "kind": "sweep" if sweep else "batch",
        "status": "running",
        "scenario": {"name": sc.name, "title": sc.spec.title, "path": sc.path,
                     "files": list(sc.files), "content_hash": sc.content_hash},
        "parameters": values[0] if not sweep else sc.defaults,
        "overrides": dict(points[0]) if not sweep else {},
        "seed": seed,
        "runs": runs,
        "chunk_size": size,
        "chunks": {"total": n_chunks, "complete": []},
        "seeding": {"scheme": "numpy SeedSequence(seed, spawn_key=(run,)) per run; "
                              "every point reuses the same streams",
                    "bit_generator": BIT_GENERATOR},
        "executor": {"kind": type(exe).__name__, "workers": exe.workers},
        "trace": trace_below,
        "versions": versions(),
        "command": command if command is not None else list(sys.argv),
        "started": _now(),
        "columns": [{"name": c.name, "kind": c.kind, "doc": c.doc}
                    for c in columns_of(plans[0])],
    }
    if sweep:
        manifest.update(extra or {}, points=values)
    if writer is not None:
        writer.create()
        writer.write_json("scenario.json", sc.document)
        writer.write_manifest(manifest)

    totals = [new_aggregate(plans[i] if len(plans) == len(values) else plans[0])
              for i in range(len(values))]
    kept: list[bytes] = []
    done_runs = 0
    worker_peak = 0.0
    began = last_saved = time.perf_counter()
    complete: list[int] = manifest["chunks"]["complete"]

    def folder(res: ChunkResult, kind: str) -> str:
        return f"{kind}/point-{res.point:04d}" if sweep else kind

    def finish(status: str) -> list[dict[str, Any]]:
        seconds = time.perf_counter() - began
        summaries = []
        for v, agg in zip(values, totals, strict=True):
            summary = summarise(agg)
            summary.update(scenario=sc.name, seed=seed, parameters=v, status=status)
            summaries.append(summary)
        if writer is not None:
            manifest.update(status=status, finished=_now(), seconds=round(seconds, 3),
                            runs_per_second=round(done_runs / seconds, 1) if seconds else None,
                            peak_memory_mib={"driver": round(peak_rss_mib(), 1),
                                             "worker": round(worker_peak, 1)})
            complete.sort()
            writer.write_manifest(manifest)
            writer.write_json("summary.json", summaries[0] if not sweep else
                              {"points": summaries})
            if not sweep:
                counts = totals[0].paths.most_common()
                sink = io.BytesIO()
                pq.write_table(pa.table({"path": [p for p, _ in counts],
                                         "count": [c for _, c in counts]}), sink,
                               compression="zstd")
                writer.write_file("paths.parquet", sink.getvalue())
            timeline = pa.concat_tables([pa.table(timeline_columns(agg, i))
                                         for i, agg in enumerate(totals)])
            sink = io.BytesIO()
            pq.write_table(timeline, sink, compression="zstd")
            writer.write_file("timeline.parquet", sink.getvalue())
        return summaries

    try:
        with exe:
            results: Iterator[ChunkResult] = exe.map_unordered(run_chunk, tasks)
            for res in results:
                if writer is not None:
                    writer.write_chunk(folder(res, "runs"), res.chunk, res.runs)
                    if res.events is not None:
                        writer.write_chunk(folder(res, "events"), res.chunk, res.events)
                    complete.append(res.chunk)
                    if time.perf_counter() - last_saved > MANIFEST_EVERY:
                        writer.write_manifest(manifest)  # informative: files are the truth
                        last_saved = time.perf_counter()
                else:
                    kept.append(res.runs)
                totals[res.point].merge(res.aggregate)
                worker_peak = max(worker_peak, res.peak_rss_mib)
                done_runs += res.stop - res.start
                if progress is not None:
                    progress(done_runs, total_runs)
    except KeyboardInterrupt:
        finish("interrupted")
        where = f" in {out}" if out is not None else ""
        raise BatchInterrupted(
            f"interrupted: {len(complete)} of {n_chunks} chunks ({done_runs:,} runs) are "
            f"complete{where}") from None
    summaries = finish("complete")
    return Executed(values, summaries, totals, time.perf_counter() - began,
                    Path(out) if out is not None else None, kept)
