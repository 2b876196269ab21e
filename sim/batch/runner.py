"""Monte Carlo batches: N runs of one scenario at one parameter point.

Run ``i`` draws only from ``SeedSequence(seed, spawn_key=(i,))``, so the runs
table is the same for any executor, worker count or chunk size. Chunks are
aggregated as they arrive (memory stays flat in the number of runs) and, with an
output folder, written as one Parquet file each, atomically, with the manifest
recording which chunks are complete.
"""

from __future__ import annotations

import contextlib
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
    AGGREGATE_KEY,
    ChunkResult,
    ChunkTask,
    new_aggregate,
    peak_rss_mib,
    plan_for,
    run_chunk,
)
from sim.batch.executors import Executor, default_workers, make_executor
from sim.batch.intervals import wilson
from sim.engine import BIT_GENERATOR, columns_of
from sim.errors import BatchError, BatchInterrupted, ResultsError, SimError
from sim.results import ResultsWriter, chunk_name
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
    resume: bool = False,
    precision: float | None = None,
    scheduler: str | None = None,
) -> BatchResult:
    """Run ``runs`` replications of ``scenario`` with root ``seed``.

    ``parameters`` overrides parameter defaults (checked against their ranges).
    ``workers`` defaults to all cores; ``executor`` is ``"auto"`` (in-process below
    2,000 runs, else local processes), ``"serial"``, ``"processes"`` or an
    :class:`~sim.batch.executors.Executor`. With ``out`` the results folder is
    written there (never over existing results unless ``force``); ``trace=K``
    records the events of the first K runs. Failed runs are recorded with their
    error, not raised.

    ``executor="dask"`` runs the chunks on a Dask cluster: a local one on 127.0.0.1, or
    the one whose scheduler is at ``scheduler``. ``resume=True`` finishes the unfinished
    batch in ``out`` (same scenario, parameters, seed and runs, or it is refused), running
    only chunks without a whole file. ``precision=H`` adds chunks, in order, until every
    outcome's 95% interval half-width is at most ``H``; ``runs`` is then the cap.
    """
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    done = execute(sc, [dict(parameters or {})], runs, seed, workers=workers,
                   executor=executor, chunk_size=chunk_size, out=out, force=force, trace=trace,
                   progress=progress, command=command, resume=resume, precision=precision,
                   scheduler=scheduler)
    used = done.aggregates[0].runs + done.aggregates[0].failed
    return BatchResult(sc.name, used, seed, done.values[0], done.summaries[0],
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
    ran_chunks: list[int] = field(default_factory=list)  # chunks computed by this call


def _chunk_file(out: Path, sweep: bool, point: int, chunk: int, kind: str = "runs") -> Path:
    folder = out / (f"{kind}/point-{point:04d}" if sweep else kind)
    return folder / chunk_name(chunk)


def _read_complete(path: Path, rows: int) -> Aggregate | None:
    """The aggregate stored in a chunk file if the file is whole and has ``rows`` rows."""
    try:
        meta = pq.read_metadata(path)
        stored = (meta.metadata or {}).get(AGGREGATE_KEY)
        if meta.num_rows != rows or stored is None:
            return None
        return Aggregate.loads(stored)
    except (OSError, ValueError, pa.ArrowException):
        return None


def _check_resume(out: Path, manifest: dict[str, Any], sc: Scenario, seed: int, runs: int,
                  values: list[dict[str, Any]], kind: str) -> None:
    """Refuse to resume a folder made by a different scenario, parameters, seed or size."""
    problems = []
    old_hash = manifest.get("scenario", {}).get("content_hash")
    if old_hash != sc.content_hash:
        problems.append(f"the scenario's content differs (hash {str(old_hash)[:12]} in the "
                        f"folder, {sc.content_hash[:12]} now)")
    if manifest.get("seed") != seed:
        problems.append(f"the seed differs ({manifest.get('seed')} in the folder, {seed} now)")
    if manifest.get("runs") != runs and manifest.get("runs_cap") != runs:
        problems.append(f"the number of runs differs ({manifest.get('runs')} in the folder, "
                        f"{runs} now)")
    old_values = manifest.get("points") if kind == "sweep" else [manifest.get("parameters")]
    if json.dumps(old_values, sort_keys=True) != json.dumps(values, sort_keys=True):
        problems.append("the parameter values differ")
    if manifest.get("kind") != kind:
        problems.append(f"it holds a {manifest.get('kind')}, not a {kind}")
    if problems:
        raise BatchError(f"cannot resume {out}: " + "; ".join(problems)
                         + ". Resume with the same command, or start a new folder.")


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
    resume: bool = False,
    precision: float | None = None,
    scheduler: str | None = None,
) -> Executed:
    """Run ``runs`` replications at each parameter point (one point: a batch; several: a
    sweep). Every point uses the same streams: run ``i`` of every point draws from
    ``SeedSequence(seed, spawn_key=(i,))`` (common random numbers).

    ``resume``: ``out`` holds an unfinished run of the same scenario, parameters, seed and
    size; only the chunks without a whole file there are run. ``precision=H``: chunks are
    taken in order until every outcome's 95% interval half-width is at most ``H`` (``runs``
    is then the cap); the chunks used depend only on the data, never on timing."""
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
    kind_name = "sweep" if sweep else "batch"
    if precision is not None:
        if not 0 < precision < 0.5:
            raise BatchError(f"precision is an interval half-width in (0, 0.5), got {precision}")
        if sweep:
            raise BatchError("precision stopping applies to a single batch, not a sweep")
        if resume:
            raise BatchError("precision stopping cannot be resumed; rerun the batch")
    if resume and out is None:
        raise BatchError("resuming needs the results folder (--resume DIR)")
    old: dict[str, Any] | None = None
    if resume:
        from sim.results import load_results

        old = load_results(Path(out)).manifest  # type: ignore[arg-type]
        _check_resume(Path(out), old, sc, seed, runs, values, kind_name)  # type: ignore[arg-type]
        chunk_size = int(old["chunk_size"])
        trace = int(old.get("trace", 0))
    total_runs = runs * len(points)
    n_workers = workers or default_workers()
    if isinstance(executor, str):
        kind = "serial" if executor == "auto" and total_runs < SERIAL_BELOW else executor
        try:
            exe: Executor = make_executor(kind, n_workers, scheduler)
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
    all_tasks = [ChunkTask(document, sc.content_hash, params_json[p], seed, p * per_point + k,
                           k * size, min(runs, (k + 1) * size), trace_below, point=p)
                 for p in range(len(points)) for k in range(per_point)]
    totals = [new_aggregate(plans[i] if len(plans) == len(values) else plans[0])
              for i in range(len(values))]
    complete: list[int] = []
    target = Path(out) if out is not None else None
    writer = ResultsWriter(target, force) if target is not None else None
    done_runs = 0
    if old is not None and target is not None:
        for task in all_tasks:
            path = _chunk_file(target, sweep, task.point, task.chunk)
            agg = _read_complete(path, task.stop - task.start) if path.is_file() else None
            if agg is None:
                path.unlink(missing_ok=True)  # absent, truncated or damaged: run it again
                continue
            totals[task.point].merge(agg)
            complete.append(task.chunk)
            done_runs += task.stop - task.start
        for stale in target.rglob(".*.tmp"):
            stale.unlink(missing_ok=True)
    skip = set(complete)
    tasks = [t for t in all_tasks if t.chunk not in skip]

    manifest: dict[str, Any] = dict(old) if old is not None else {
        "kind": kind_name,
        "scenario": {"name": sc.name, "title": sc.spec.title, "path": sc.path,
                     "files": list(sc.files), "content_hash": sc.content_hash},
        "parameters": values[0] if not sweep else sc.defaults,
        "overrides": dict(points[0]) if not sweep else {},
        "seed": seed,
        "runs": runs,
        "chunk_size": size,
        "seeding": {"scheme": "numpy SeedSequence(seed, spawn_key=(run,)) per run; "
                              "every point reuses the same streams",
                    "bit_generator": BIT_GENERATOR},
        "trace": trace_below,
        "versions": versions(),
        "command": command if command is not None else list(sys.argv),
        "started": _now(),
        "columns": [{"name": c.name, "kind": c.kind, "doc": c.doc}
                    for c in columns_of(plans[0])],
    }
    manifest.update(status="running", chunks={"total": n_chunks, "complete": complete},
                    executor={"kind": type(exe).__name__, "workers": exe.workers})
    if precision is not None:
        manifest.update(precision=precision, runs_cap=runs)
    if old is not None:
        manifest.setdefault("resumed", []).append(
            {"at": _now(), "chunks_found": len(complete), "chunks_to_run": len(tasks),
             "command": command if command is not None else list(sys.argv)})
    if sweep and old is None:
        manifest.update(extra or {}, points=values)
    if writer is not None:
        if old is None:
            writer.create()
            writer.write_json("scenario.json", sc.document)
        writer.write_manifest(manifest)

    kept: list[bytes] = []
    ran: list[int] = []
    done_now = 0
    worker_peak = 0.0
    began = last_saved = time.perf_counter()

    def finish(status: str) -> list[dict[str, Any]]:
        seconds = time.perf_counter() - began
        summaries = []
        for v, agg in zip(values, totals, strict=True):
            summary = summarise(agg)
            summary.update(scenario=sc.name, seed=seed, parameters=v, status=status)
            if precision is not None:
                summary.update(precision=precision, runs_cap=runs)
            summaries.append(summary)
        if writer is not None:
            manifest.update(status=status, finished=_now(), seconds=round(seconds, 3),
                            runs_per_second=round(done_now / seconds, 1) if seconds else None,
                            peak_memory_mib={"driver": round(peak_rss_mib(), 1),
                                             "worker": round(worker_peak, 1)})
            if precision is not None:
                manifest.update(runs=sum(a.runs + a.failed for a in totals))
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

    def accept(res: ChunkResult) -> None:
        nonlocal done_runs, done_now, worker_peak, last_saved
        if writer is not None:
            if res.events is not None:  # events first: a runs file marks a complete chunk
                writer.write_chunk(_folder(res, "events"), res.chunk, res.events)
            writer.write_chunk(_folder(res, "runs"), res.chunk, res.runs)
            complete.append(res.chunk)
            if time.perf_counter() - last_saved > MANIFEST_EVERY:
                writer.write_manifest(manifest)  # informative: the files are the truth
                last_saved = time.perf_counter()
        else:
            kept.append(res.runs)
        ran.append(res.chunk)
        totals[res.point].merge(res.aggregate)
        worker_peak = max(worker_peak, res.peak_rss_mib)
        done_runs += res.stop - res.start
        done_now += res.stop - res.start
        if progress is not None:
            progress(done_runs, total_runs)

    def _folder(res: ChunkResult, kind: str) -> str:
        return f"{kind}/point-{res.point:04d}" if sweep else kind

    def precise(agg: Aggregate) -> bool:
        n = agg.runs
        return n > 0 and all((hi - lo) / 2 <= (precision or 0)
                             for lo, hi in (wilson(int(k), n) for k in agg.outcome_counts))

    if progress is not None and done_runs:
        progress(done_runs, total_runs)
    where = f" in {out}" if out is not None else ""
    try:
        with exe:
            results: Iterator[ChunkResult] = exe.map_unordered(run_chunk, iter(tasks))
            if precision is None:
                for res in results:
                    accept(res)
            else:
                waiting: dict[int, ChunkResult] = {}
                following = 0
                for res in results:
                    waiting[res.chunk] = res
                    while following in waiting and not precise(totals[0]):
                        accept(waiting.pop(following))
                        following += 1
                    if precise(totals[0]):
                        break
                if hasattr(results, "close"):
                    results.close()
    except KeyboardInterrupt:
        with contextlib.suppress(SimError):
            finish("interrupted")
        raise BatchInterrupted(
            f"interrupted: {len(complete)} of {n_chunks} chunks ({done_runs:,} runs) are "
            f"complete{where}" + (f"; resume with --resume {out}" if out is not None else "")
        ) from None
    except ResultsError as exc:
        with contextlib.suppress(SimError):
            finish("failed")
        raise ResultsError(
            f"{exc}. {len(complete)} of {n_chunks} chunks are complete and kept{where}"
            + (f"; free space or fix the folder, then resume with --resume {out}"
               if out is not None else "")) from None
    summaries = finish("complete")
    return Executed(values, summaries, totals, time.perf_counter() - began,
                    target, kept, ran)
