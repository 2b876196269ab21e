"""Monte Carlo batches: N runs of one scenario at one or more parameter points.

Run ``i`` draws only from ``SeedSequence(seed, spawn_key=(i,))``, so the runs table is
the same for any executor, worker count or chunk size, and every point of a sweep reuses
the same streams (common random numbers). Chunks are aggregated as they arrive; a point's
aggregate is summarised and dropped as soon as its last chunk is in, so memory stays flat
in the number of runs and of points. With an output folder, every chunk is written as one
file that states its identity (see :mod:`sim.results`).
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
from dataclasses import dataclass, field, fields, replace
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
    probes_json,
    record_columns,
)
from sim.batch.chunks import run_chunk as _run_chunk
from sim.batch.executors import CONNECT_TIMEOUT, Executor, make_executor
from sim.batch.intervals import wilson
from sim.batch.signals import interrupt_deferred
from sim.batch.weighted import rare_summary
from sim.engine import BIT_GENERATOR
from sim.engine.plan import ProbeSpec
from sim.errors import BatchError, BatchInterrupted, ResultsError, SimError
from sim.results import Results, ResultsFolder, Summary, SweepSummary
from sim.results.chunkfile import (
    ChunkIdentity,
    independent_streams,
    parameters_hash,
    point_seed,
    tilt_digest,
)
from sim.results.columns import table as arrow_table
from sim.results.folder import POINTS, TimelineWriter, chunk_name
from sim.results.manifest import FORMAT, MAX_RUNS, Manifest, Resumed
from sim.results.provenance import effective_document
from sim.scenario import Scenario, load_scenario

__all__ = [
    "MAX_POINTS",
    "BatchResult",
    "Executed",
    "Execution",
    "default_chunk_size",
    "default_out",
    "execute",
    "resume_batch",
    "run_batch",
    "versions",
]

Progress = Callable[[int, int], None]
MANIFEST_EVERY = 1.0  # seconds between manifest rewrites during a batch
SERIAL_BELOW = 2000  # "auto" runs smaller batches in this process: no start-up cost
MAX_POINTS = 100_000  # points of a sweep
MAX_TOTAL_RUNS = 10_000_000_000  # runs of a whole sweep
MAX_CHUNKS = 1_000_000  # chunk files of a batch or sweep
SWEEP_PATHS = 5  # most common paths kept in a sweep point's summary


@dataclass
class Execution:
    """Where and how chunks run; shared by batches, sweeps, sensitivity and the CLI.

    ``executor``: ``"auto"`` (in-process below 2,000 runs, else local processes),
    ``"serial"``, ``"processes"``, ``"dask"`` (a local cluster, or the one at
    ``scheduler``) or an :class:`~sim.batch.executors.Executor`. ``workers`` defaults to
    all cores. ``progress(done, total)`` is called as runs complete. Joining a scheduler
    must finish within ``connect_timeout`` seconds."""

    workers: int | None = None
    executor: str | Executor = "auto"
    scheduler: str | None = None
    chunk_size: int | None = None
    progress: Progress | None = None
    connect_timeout: float = CONNECT_TIMEOUT  # seconds to join a Dask scheduler

    @classmethod
    def of(cls, caller: str, options: Mapping[str, Any]) -> Execution:
        """The execution a function's ``**options`` describe; a name that is not an
        execution option is the caller's unexpected argument (not ``Execution``'s)."""
        known = [f.name for f in fields(cls)]
        unknown = [k for k in options if k not in known]
        if unknown:
            raise TypeError(f"{caller}() got an unexpected keyword argument {unknown[0]!r} "
                            f"(its execution options are {', '.join(known)})")
        return cls(**options)

    def make(self, total_runs: int) -> Executor:
        if not isinstance(self.executor, str):
            return self.executor
        kind = self.executor
        if kind == "auto" and total_runs < SERIAL_BELOW and not self.scheduler:
            kind = "serial"
        return make_executor(kind, self.workers, self.scheduler, self.connect_timeout)


@dataclass
class BatchResult:
    """What a batch produced: its summary, aggregates and where its tables are."""

    scenario: str
    runs: int
    seed: int
    parameters: dict[str, Any]
    summary: Summary
    aggregate: Aggregate
    seconds: float
    out: Path | None
    overrides: dict[str, Any] = field(default_factory=dict)
    _chunks: list[bytes] = field(default_factory=list, repr=False)
    computed: int = -1  # runs computed by this call (fewer than runs after a resume)
    overrides_by: str = "set for this run"
    notes: list[str] = field(default_factory=list)  # a resume's: damaged files done again

    @property
    def failed(self) -> int:
        return self.aggregate.failed

    @property
    def runs_per_second(self) -> float:
        """Runs computed by this call per second (a resumed batch counts only its new runs)."""
        done = self.runs if self.computed < 0 else self.computed
        return done / self.seconds if self.seconds > 0 else math.nan

    def runs_table(self) -> pa.Table:
        """The runs table, sorted by run index."""
        if self.out is not None:
            from sim.results import load_results

            return load_results(self.out).runs
        tables = [pq.read_table(io.BytesIO(b)) for b in self._chunks]
        return pa.concat_tables(tables).sort_by("run").replace_schema_metadata(None)

    def as_dict(self) -> dict[str, Any]:
        """The summary as plain data, with where the results are."""
        data = {**self.summary.as_dict(), "results": str(self.out) if self.out else None}
        if self.notes:
            data["notes"] = list(self.notes)
        return data


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
    execution: Execution | None = None,
    out: str | Path | None = None,
    force: bool = False,
    trace: int = 0,
    command: list[str] | None = None,
    precision: float | None = None,
    overrides_by: str = "set for this run",
    **options: Any,
) -> BatchResult:
    """Run ``runs`` replications of ``scenario`` with root ``seed``.

    ``parameters`` overrides parameter defaults (checked against their ranges);
    ``execution`` says where chunks run (or pass its fields, e.g. ``workers=2,
    executor="serial"``). With ``out`` the results folder is written there (never over
    existing results unless ``force``, and only over a folder of ours); ``trace=K``
    records the events of the first K runs. Failed runs are recorded with their error,
    not raised. ``precision=H`` adds chunks, in order, until every outcome's 95% interval
    half-width is at most ``H``; ``runs`` is then the cap. To finish an interrupted batch
    use :func:`resume_batch`."""
    resume = bool(options.pop("resume", False))
    probes = options.pop("probes", None)
    command_name = str(options.pop("command_name", ""))
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    job = Job(sc, [dict(parameters or {})], runs, seed, trace=trace, precision=precision,
              command=command, overrides_by=overrides_by, probes=probes,
              command_name=command_name)
    done = job.execute(execution or Execution.of("run_batch", options), out, force,
                       resume=resume)
    return job.batch_result(done)


def resume_batch(folder: str | Path, execution: Execution | None = None,
                 command: list[str] | None = None) -> BatchResult:
    """Finish the interrupted (or damaged) batch in ``folder``: the scenario, parameters,
    seed and size are the folder's; only chunks without a whole, verified file are run."""
    from sim.results import load_results

    kind = load_results(folder, summary=False).manifest
    if kind.kind != "batch":
        design = str((kind.design or {}).get("kind"))
        what, command_name = (("sensitivity", "sensitivity") if "sensitivity" in design
                              else ("calibration", "calibrate") if design == "calibration"
                              else ("sweep", "sweep"))
        raise BatchError(f"{folder} holds a {what}, not a batch; resume it with the same "
                         f"'escalation {command_name}' command plus --resume {folder}")
    if kind.probes:  # its runs would be finished, but not the scores made from them
        raise BatchError(f"{folder} holds a backtest (it watches observations); resume it "
                         f"with the same 'escalation backtest' command plus --resume "
                         f"{folder}, which also writes its scores")
    job = Job.from_folder(Path(folder), command)
    done = job.execute(execution or Execution(), folder, False, resume=True)
    return job.batch_result(done)


@dataclass
class Executed:
    """What a job produced, per point (aggregates are kept for a single batch only)."""

    values: list[dict[str, Any]]
    summaries: list[Summary]
    aggregate: Aggregate | None
    seconds: float
    out: Path | None
    kept: list[bytes]
    ran_chunks: list[int] = field(default_factory=list)  # chunks computed by this call
    ran_runs: int = 0  # runs computed by this call
    notes: list[str] = field(default_factory=list)  # what a resume found and did about it


class _Point:
    """A point's running aggregate, until its last chunk is in. Chunks are merged in
    index order whatever the order they arrive in (a later one waits for those before
    it), so path ties and the error samples never depend on scheduling (sums are exact:
    they depend on neither the order nor the chunking, see :mod:`sim.batch.exact`)."""

    def __init__(self, aggregate: Aggregate, chunks: int) -> None:
        self.aggregate = aggregate
        self.remaining = chunks
        self.following = 0  # the index (within the point) of the next chunk to merge
        self.waiting: dict[int, Aggregate] = {}

    def add(self, k: int, agg: Aggregate) -> None:
        """Chunk ``k`` of the point is in: merge it and those it was holding up."""
        self.waiting[k] = agg
        while self.following in self.waiting:
            self.aggregate.merge(self.waiting.pop(self.following))
            self.following += 1
            self.remaining -= 1

    def flush(self) -> Aggregate:
        """The aggregate with every chunk that is in (an unfinished batch has gaps)."""
        for k in sorted(self.waiting):
            self.aggregate.merge(self.waiting.pop(k))
            self.remaining -= 1
        return self.aggregate


class Job:
    """A batch or a sweep: validated settings, the expected chunks, and their results."""

    def __init__(self, sc: Scenario, points: list[dict[str, Any]], runs: int, seed: int, *,
                 trace: int = 0, precision: float | None = None,
                 command: list[str] | None = None, design: dict[str, Any] | None = None,
                 chunk_size: int | None = None, overrides_by: str = "set for this run",
                 probes: list[ProbeSpec] | None = None, command_name: str = "",
                 rare: dict[str, Any] | None = None) -> None:
        _check_sizes(runs, seed, len(points), precision, design is not None)
        if rare is not None and (precision is not None or trace or design is not None
                                 or len(points) > 1 or probes):
            raise BatchError("a rare-event estimate is a single batch: no precision "
                             "stopping, trace, sweep or observations")
        self.rare = rare  # see sim.batch.rare: method, target, theta, pilot, seed
        self.sc, self.runs, self.seed, self.precision = sc, runs, seed, precision
        self.design = design
        self.sweep = design is not None or len(points) > 1
        self.points = points
        self.values = [sc.resolve_parameters(p) for p in points]
        self.overrides = {k: v for k, v in self.values[0].items()
                          if k in points[0] and v != sc.defaults.get(k)} if not self.sweep \
            else {k: v for k, v in self.values[0].items()
                  if k in (design or {}).get("fixed", {})}
        self.overrides_by = overrides_by
        self.trace = trace
        self.command = command if command is not None else list(sys.argv)
        self.chunk_size = chunk_size
        self.document = json.dumps(sc.document)
        self.places = json.dumps(sc.places())  # FILE:LINE:COL of expressions, for messages
        self.probes = probes_json(probes)  # what every run watches (a backtest's observations)
        self.command_name = command_name  # the command that resumes it, when not run/sweep
        self.params_json = [json.dumps(v, sort_keys=True) for v in self.values]
        self.params_hash = [parameters_hash(v) for v in self.values]
        self.resumed_from: Manifest | None = None

    @classmethod
    def from_folder(cls, folder: Path, command: list[str] | None = None) -> Job:
        """The job an interrupted batch folder was running."""
        from sim.results import load_results

        res = load_results(folder, summary=False)
        m = res.manifest
        sc = scenario_of(res)
        marks = [p.get("overridden", {}).get("by") for p in
                 (res.scenario.get("parameters") or {}).values() if isinstance(p, dict)]
        by = next((str(b) for b in marks if b), "set for this run")
        probes = [ProbeSpec(**p) for p in m.probes] if m.probes else None
        job = cls(sc, [dict(m.overrides)], m.runs_cap or m.runs, m.seed,
                  trace=m.trace, precision=m.precision, command=command,
                  chunk_size=m.chunk_size, overrides_by=by,
                  probes=probes, command_name="backtest" if probes else "", rare=m.rare)
        job.resumed_from = m
        return job

    # --- plan ----------------------------------------------------------------------------

    def _size(self, workers: int) -> int:
        total = self.runs * len(self.points)
        size = self.chunk_size or default_chunk_size(total, workers)
        return max(1, min(size, self.runs))

    def identities(self, size: int) -> list[ChunkIdentity]:
        per_point = math.ceil(self.runs / size)
        if per_point * len(self.points) > MAX_CHUNKS:
            raise BatchError(f"{per_point * len(self.points):,} chunks is more than the "
                             f"{MAX_CHUNKS:,} a batch may have; use a larger --chunk-size")
        own = independent_streams(self.design)
        return [ChunkIdentity(self.sc.content_hash, self.params_hash[p],
                              point_seed(self.seed, p, own), p,
                              p * per_point + k, k * size, min(self.runs, (k + 1) * size),
                              self.runs, tilt=tilt_digest(self.rare))
                for p in range(len(self.points)) for k in range(per_point)]

    def _check_plans(self) -> None:
        """Compile plans now to fail fast (large designs check a sample of points)."""
        pj = self.params_json
        for p in pj if len(pj) <= 64 else pj[:: len(pj) // 64]:
            plan_for(self.document, self.sc.content_hash, p, self.places, self.probes)

    # --- run -----------------------------------------------------------------------------

    def execute(self, execution: Execution, out: str | Path | None, force: bool,
                resume: bool = False) -> Executed:
        """Build the chunks, open the folder, run what is missing, finish."""
        if resume:
            if out is None:
                raise BatchError("resuming needs the results folder")
            from sim.results import load_results

            old = load_results(out, summary=False).manifest
            self.chunk_size, self.trace = old.chunk_size, old.trace
            if old.rare is not None:
                self._check_rare_block(old.rare, Path(out))
        self.chunk_size = self.chunk_size or execution.chunk_size
        self._check_plans()
        exe = execution.make(self.runs * len(self.points))
        size = self._size(exe.workers)
        expected = self.identities(size)
        run = _Run(self, expected, execution.progress)
        try:
            folder = run.open_folder(out, force, resume, exe)
        except BaseException:
            if run.folder is not None:
                run.folder.close()
            raise
        todo = [t for t in expected if t.chunk not in run.found]
        if resume and not todo and run.was_complete:
            try:
                assert folder is not None and run.manifest is not None
                wrong = folder.damaged_results(run.manifest, self.sweep)
                run.notes += [f"{w}; written again from the chunks" for w in wrong]
                with interrupt_deferred():  # the end files and the manifest together
                    run.finish("complete", write=bool(wrong), repair=True)
            finally:
                if folder is not None:
                    folder.close()
            return run.executed("complete")
        try:
            run.start(exe)
            status = run.drain(exe, todo)
        finally:
            if folder is not None:
                folder.close()
        return run.executed(status)

    def batch_result(self, done: Executed) -> BatchResult:
        assert done.aggregate is not None
        agg = done.aggregate
        return BatchResult(self.sc.name, agg.runs + agg.failed, self.seed, done.values[0],
                           done.summaries[0], agg, done.seconds, done.out, self.overrides,
                           done.kept, done.ran_runs, self.overrides_by, done.notes)

    def new_manifest(self, size: int, chunks: int, exe: Executor) -> Manifest:
        plan = plan_for(self.document, self.sc.content_hash, self.params_json[0],
                        self.places, self.probes)
        sc = self.sc
        return Manifest.model_validate(dict(
            format=FORMAT, kind="sweep" if self.sweep else "batch", status="running",
            scenario={"name": sc.name, "title": sc.spec.title, "path": sc.path,
                      "files": list(sc.files), "content_hash": sc.content_hash},
            parameters=self.values[0] if not self.sweep else
            {**sc.defaults, **self.overrides},
            overrides=self.overrides, parameters_hash=self.params_hash[0], seed=self.seed,
            runs=self.runs, chunk_size=size,
            seeding={"scheme": "numpy SeedSequence(point seed, spawn_key=(run,)) per run; "
                               "the point seed is SeedSequence([seed, point]) (each point has "
                               "its own streams)" if independent_streams(self.design) else
                               "numpy SeedSequence(seed, spawn_key=(run,)) per run; every "
                               "point reuses the same streams",
                     "bit_generator": BIT_GENERATOR},
            trace=self.trace_below(), versions=versions(), command=self.command,
            started=_now(), chunks={"total": chunks, "complete": []},
            executor={"kind": type(exe).__name__, "workers": exe.workers},
            precision=self.precision, runs_cap=self.runs if self.precision else None,
            design=self.design, points=len(self.points),
            probes=json.loads(self.probes) if self.probes else None,
            points_hash=parameters_hash({"points": self.values}) if self.sweep else None,
            rare=self.rare,
            columns=[{"name": c.name, "kind": c.kind, "doc": c.doc}
                     for c in record_columns(plan, self.rare is not None)]))

    def tilt_json(self) -> str:
        """Each trigger's tilt in plan order and the defensive mixture (the share ``alpha``
        of untilted runs: those whose index is a multiple of ``every``), as JSON ('' for
        plain runs)."""
        if self.rare is None:
            return ""
        plan = plan_for(self.document, self.sc.content_hash, self.params_json[0],
                        self.places, self.probes)
        theta = self.rare["theta"]
        return json.dumps({"theta": [float(theta.get(t.name, 0.0)) for t in plan.triggers],
                           "alpha": float(self.rare.get("alpha", 0.0)),
                           "every": int(self.rare.get("untilted_every", 0))})

    def _check_rare_block(self, rare: dict[str, Any], folder: Path) -> None:
        """Refuse a folder whose rare block names an outcome or triggers the scenario does
        not have (its types and ranges were checked on read)."""
        plan = plan_for(self.document, self.sc.content_hash, self.params_json[0],
                        self.places, self.probes)
        labels = {o.label for o in plan.outcomes}
        triggers = {t.name for t in plan.triggers}
        wrong = ([f"target {rare['target']!r} is not an outcome of the scenario"]
                 if rare["target"] not in labels else []) + \
            [f"theta names {name!r}, not a trigger of the scenario"
             for name in rare["theta"] if name not in triggers]
        if wrong:
            raise ResultsError(f"{folder / 'manifest.json'}: rare: {'; '.join(wrong)}; the "
                               f"file was edited")

    def trace_below(self) -> int:
        return self.runs if self.trace < 0 else min(self.trace, self.runs)

    def check_resume(self, old: Manifest, folder: Path) -> None:
        """Refuse to resume a folder made by a different scenario, parameters, seed or size."""
        problems = []
        if old.scenario.content_hash != self.sc.content_hash:
            problems.append(f"the scenario's content differs (hash "
                            f"{old.scenario.content_hash[:12]} in the folder, "
                            f"{self.sc.content_hash[:12]} now)")
        if old.seed != self.seed:
            problems.append(f"the seed differs ({old.seed} in the folder, {self.seed} now)")
        if (old.runs_cap or old.runs) != self.runs:
            problems.append(f"the number of runs differs ({old.runs} in the folder, "
                            f"{self.runs} now)")
        if old.precision != self.precision:
            problems.append(f"the precision differs ({old.precision} in the folder, "
                            f"{self.precision} now)")
        points_hash = parameters_hash({"points": self.values}) if self.sweep else None
        if old.parameters_hash != self.params_hash[0] or old.points_hash != points_hash \
                or old.points != len(self.points):
            problems.append("the parameter values differ")
        if _watched(old.probes) != _watched(json.loads(self.probes) if self.probes else None):
            problems.append("it watched other observations" if old.probes else
                            "it is not a backtest or calibration" if self.probes else
                            "it is a backtest or calibration: resume it with its command")
        if (old.rare or None) != self.rare:
            problems.append(_rare_difference(old.rare, self.rare))
        if old.kind != ("sweep" if self.sweep else "batch"):
            problems.append(f"it holds a {old.kind}, not a {'sweep' if self.sweep else 'batch'}")
        if problems:
            raise BatchError(f"cannot resume {folder}: " + "; ".join(problems)
                             + ". Resume with the same command, or start a new folder.")


def _watched(probes: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """What observations a batch watched, without where their file was (the same file
    named by another path, or from another folder, watches the same)."""
    return [{k: v for k, v in p.items() if k != "where"} for p in probes] if probes else None


def _rare_difference(old: dict[str, Any] | None, new: dict[str, Any] | None) -> str:
    """Why a rare-event folder and a job differ (target, tilts, pilot, method)."""
    if old is None:
        return "it holds plain runs, not a rare-event estimate (--rare)"
    if new is None:
        return (f"it holds a rare-event estimate of {old.get('target')} (--rare); resume it "
                f"with escalation run --resume DIR (its settings are taken from the folder)")
    diffs = [f"{k} ({old.get(k)!r} in the folder, {new.get(k)!r} now)"
             for k in ("method", "target", "pilot_runs", "pilot_stages", "seed")
             if old.get(k) != new.get(k)]
    if old.get("theta") != new.get("theta") and not diffs:
        diffs.append("the tilts differ")
    return "the rare-event settings differ: " + ", ".join(diffs or ["its rare block"])


def scenario_of(results: Results) -> Scenario:
    """The scenario a results folder ran, as its file had it."""
    return results.scenario_as_written()


def _check_sizes(runs: int, seed: int, points: int, precision: float | None,
                 sweep: bool) -> None:
    if not isinstance(runs, int) or isinstance(runs, bool) or not 1 <= runs <= MAX_RUNS:
        raise BatchError(f"runs must be a whole number from 1 to {MAX_RUNS:,} per point, "
                         f"got {runs!r}")
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**63:
        raise BatchError(f"seed must be a whole number from 0 to 2**63-1, got {seed!r}")
    if points < 1:
        raise BatchError("no parameter points to run")
    if points > MAX_POINTS:
        raise BatchError(f"{points:,} points is more than the {MAX_POINTS:,} a sweep may have")
    if runs * points > MAX_TOTAL_RUNS:
        raise BatchError(f"{points:,} points x {runs:,} runs is more than the "
                         f"{MAX_TOTAL_RUNS:,} runs a sweep may have")
    if precision is not None:
        if not (isinstance(precision, float | int) and 0 < precision < 0.5):
            raise BatchError(f"precision is an interval half-width in (0, 0.5), got "
                             f"{precision}")
        if sweep or points > 1:
            raise BatchError("precision stopping applies to a single batch, not a sweep")


class _Run:
    """One execution of a job: folder, executor, chunk acceptance and the end files."""

    def __init__(self, job: Job, expected: list[ChunkIdentity],
                 progress: Progress | None) -> None:
        self.job = job
        self.expected = expected
        self.progress = progress
        self.per_point = len(expected) // len(job.points)
        self.open: dict[int, _Point] = {}
        self.summaries: list[Summary | None] = [None] * len(job.points)
        self.kept_aggregate: Aggregate | None = None
        self.found: set[int] = set()
        self.folder: ResultsFolder | None = None
        self.manifest: Manifest | None = None
        self.complete: list[int] = []
        self.kept: list[bytes] = []
        self.ran: list[int] = []
        self.done_runs = self.done_now = 0
        self.worker_peak = 0.0
        self.began = self.last_saved = time.perf_counter()
        self.timeline: TimelineWriter | None = None
        self.was_complete = False
        self.notes: list[str] = []  # what a resume found and did about it, for the user

    # --- folder ----------------------------------------------------------------------

    def open_folder(self, out: str | Path | None, force: bool, resume: bool,
                    exe: Executor) -> ResultsFolder | None:
        job = self.job
        if out is None:
            if resume:
                raise BatchError("resuming needs the results folder")
            return None
        folder = self.folder = ResultsFolder(out)
        size = self.expected[0].rows if self.expected else 1
        if resume:
            old = folder.open_existing()
            self.was_complete = old.status == "complete"
            try:
                job.check_resume(old, folder.path)
                if old.chunk_size != size:
                    raise BatchError(f"cannot resume {folder.path}: its chunk size "
                                     f"{old.chunk_size} does not match")
                self._take_found(folder)
            except SimError:
                folder.close()
                raise
            manifest = old.model_copy(deep=True)
            if self.was_complete and len(self.found) == len(self.expected):
                self.manifest = manifest
                return folder  # no run to do (the end files are checked by execute)
            if not self.was_complete:
                self.notes += [f"{name}: left by an interrupted finish; written again"
                               for name in folder.drop_leftovers(manifest)]
                if job.sweep and any(w.startswith(POINTS) for w in
                                     folder.damaged_results(manifest, True)):
                    self.notes.append(f"{POINTS}: missing or edited; written again")
                    self._write_points(folder)
            manifest.resumed.append(Resumed(
                at=_now(), chunks_found=len(self.found),
                chunks_to_run=len(self.expected) - len(self.found), command=job.command))
        else:
            folder.create(force)
            manifest = job.new_manifest(size, len(self.expected), exe)
            folder.write_scenario(effective_document(
                job.sc.document, job.overrides, job.overrides_by,
                (job.design or {}).get("varied")))
            if job.sweep:
                self._write_points(folder)
        manifest.status = "running"
        manifest.chunks.complete = sorted(self.found)
        manifest.executor.kind, manifest.executor.workers = type(exe).__name__, exe.workers
        self.manifest = manifest
        self.complete = sorted(self.found)
        folder.write_manifest(manifest)
        return folder

    def _write_points(self, folder: ResultsFolder) -> None:
        job = self.job
        folder.write_points(list((job.design or {}).get("varied") or []), job.values)

    def _take_found(self, folder: ResultsFolder) -> None:
        good, notes = folder.scan(self.expected, self.job.sweep)
        self.notes += notes
        if self.job.precision is not None:  # its chunks count in order: only the first ones
            first = next((e.chunk for e in self.expected if e.chunk not in good), None)
            for chunk in [c for c in good if first is not None and c > first]:
                folder.chunk_path(None, chunk).unlink(missing_ok=True)
                self.notes.append(f"{chunk_name(chunk)}: follows a missing chunk of a "
                                  f"--precision batch; computed again if it is needed")
                del good[chunk]
        for ident in self.expected:
            if ident.chunk not in good:
                continue
            found, data = good[ident.chunk]
            try:
                agg = Aggregate.loads(data)
            except ValueError:
                folder.chunk_path(ident.point if self.job.sweep else None,
                                  ident.chunk).unlink(missing_ok=True)
                continue
            if agg.runs + agg.failed != ident.rows or \
                    agg.failed != found.counts.get("error", 0) or any(
                        int(agg.outcome_counts[i]) != found.counts.get(o, 0)
                        for i, o in enumerate(agg.outcomes)):
                raise ResultsError(
                    f"cannot resume {folder.path}: the aggregate stored in chunk "
                    f"{ident.chunk} disagrees with its rows; the file was edited")
            self.found.add(ident.chunk)
            self._merge(ident, agg)
            self.done_runs += ident.rows
        if self.progress is not None and self.done_runs:  # a resume starts where it was
            self.progress(self.done_runs, self.job.runs * len(self.job.points))

    # --- accepting chunks --------------------------------------------------------------

    def _merge(self, ident: ChunkIdentity, agg: Aggregate) -> None:
        point = self.open.get(ident.point)
        if point is None:
            plan = plan_for(self.job.document, self.job.sc.content_hash,
                            self.job.params_json[ident.point], self.job.places,
                            self.job.probes)
            point = self.open[ident.point] = _Point(
                new_aggregate(plan, self.job.rare is not None), self.per_point)
        point.add(ident.chunk - ident.point * self.per_point, agg)
        if point.remaining == 0 and self.job.sweep:
            self._close_point(ident.point)

    def _close_point(self, p: int) -> None:
        agg = self.open.pop(p).flush()
        self.summaries[p] = self._summary(p, agg, SWEEP_PATHS)
        if self.folder is not None:
            if self.timeline is None:
                self.timeline = self.folder.timeline_writer()
            self.timeline.write(arrow_table(timeline_columns(agg, p)))

    def _summary(self, p: int, agg: Aggregate, top_paths: int = 20) -> Summary:
        job = self.job
        s = summarise(agg, top_paths)
        s.scenario, s.seed, s.parameters = job.sc.name, job.seed, job.values[p]
        s.overrides, s.point = dict(job.overrides), p
        tracks = job.sc.spec.tracks
        if len(tracks) > 1:
            s.tracks = {t.name: list(t.levels) for t in tracks}
        if job.precision is not None:
            s.precision, s.runs_cap = job.precision, job.runs
        if job.rare is not None:
            s.rare = r = rare_summary(agg, job.rare)
            if r.target in s.outcomes:  # the target as estimated (the others self-normalised)
                o = s.outcomes[r.target]
                s.outcomes[r.target] = replace(o, p=min(max(r.p, 0.0), 1.0), lo=r.lo, hi=r.hi,
                                               se=r.se)
        return s

    def accept(self, res: ChunkResult) -> None:
        ident = res.identity
        with interrupt_deferred():  # a chunk on disk is always a chunk counted
            if self.folder is not None:
                self.folder.write_chunk(ident.point if self.job.sweep else None,
                                        ident.chunk, res.runs, res.events)
                self.complete.append(ident.chunk)
            else:
                self.kept.append(res.runs)
            self.ran.append(ident.chunk)
            self._merge(ident, res.aggregate)
            self.worker_peak = max(self.worker_peak, res.peak_rss_mib)
            self.done_runs += ident.rows
            self.done_now += ident.rows
        if self.folder is not None and time.perf_counter() - self.last_saved > MANIFEST_EVERY:
            self._save_manifest()
        if self.progress is not None:
            self.progress(self.done_runs, self.job.runs * len(self.job.points))

    def _save_manifest(self) -> None:
        assert self.folder is not None and self.manifest is not None
        self.manifest.chunks.complete = sorted(self.complete)
        self.folder.write_manifest(self.manifest)  # informative: the files are the truth
        self.last_saved = time.perf_counter()

    # --- the loop ------------------------------------------------------------------------

    def start(self, exe: Executor) -> None:
        try:
            exe.__enter__()
        except BaseException as exc:
            if self.folder is not None and self.manifest is not None:
                self.manifest.status = "failed to start"
                self.manifest.error = str(exc)[:2000]
                with contextlib.suppress(SimError):
                    self.folder.write_manifest(self.manifest)
            raise

    def drain(self, exe: Executor, todo: list[ChunkIdentity]) -> str:
        """Run the missing chunks and accept their results; returns the final status."""
        job = self.job
        tilt = job.tilt_json()
        tasks = (ChunkTask(job.document, job.params_json[i.point], i, job.trace_below(),
                           job.places, job.probes, tilt) for i in todo)
        where = f" in {self.folder.path}" if self.folder is not None else ""
        if self.progress is not None:  # where the bar starts: 0, or a resume's runs found
            self.progress(self.done_runs, job.runs * len(job.points))
        failed = True
        try:
            results: Iterator[ChunkResult] = exe.map_unordered(_run_chunk, tasks)
            if job.precision is None:
                for res in results:
                    self.accept(res)
            else:
                self._precise(results)
            failed = False
        except KeyboardInterrupt:
            self._end_quietly(exe, "interrupted")
            raise BatchInterrupted(
                f"interrupted: {len(self.complete)} of {len(self.expected)} chunks "
                f"({self.done_runs:,} runs) are complete{where}"
                + (f"; resume with {self._resume_hint()}" if self.folder else "")
            ) from None
        except ResultsError as exc:
            self._end_quietly(exe, "failed")
            raise ResultsError(
                f"{exc}. {len(self.complete)} of {len(self.expected)} chunks are complete "
                f"and kept{where}" + (f"; free space or fix the folder, then resume with "
                                      f"{self._resume_hint()}" if self.folder else "")
            ) from None
        except BaseException:
            self._end_quietly(exe, "failed")
            raise
        finally:
            if not failed:
                exe.__exit__(None, None, None)
        try:
            with interrupt_deferred():  # the end files and the manifest are written whole
                self.finish("complete")
        except KeyboardInterrupt:
            raise BatchInterrupted(f"interrupted as the batch finished: its {self.done_runs:,} "
                                   f"runs and summary are complete{where}") from None
        return "complete"

    def _resume_hint(self) -> str:
        assert self.folder is not None
        kind = str((self.job.design or {}).get("kind", ""))
        name = self.job.command_name or ("sensitivity" if "sensitivity" in kind else "")
        if name:
            return f"the same 'escalation {name}' command plus --resume {self.folder.path}"
        if self.job.sweep:
            return f"the same 'escalation sweep' command plus --resume {self.folder.path}"
        return f"--resume {self.folder.path}"

    def _end_quietly(self, exe: Executor, status: str) -> None:
        with contextlib.suppress(Exception):
            exe.__exit__(KeyboardInterrupt, None, None)
        with contextlib.suppress(SimError):
            self.finish(status)

    def _precise(self, results: Iterator[ChunkResult]) -> None:
        """Accept chunks strictly in index order until every outcome is precise enough
        (after the chunks a resume found, which are the first ones)."""
        waiting: dict[int, ChunkResult] = {}
        following = len(self.found)
        if self._is_precise():  # a resume found enough: run nothing more
            if hasattr(results, "close"):
                results.close()
            return
        for res in results:
            waiting[res.chunk] = res
            while following in waiting and not self._is_precise():
                self.accept(waiting.pop(following))
                following += 1
            if self._is_precise():
                break
        if hasattr(results, "close"):
            results.close()

    def _is_precise(self) -> bool:
        point = self.open.get(0)
        if point is None:
            return False
        agg = point.aggregate
        n, h = agg.runs, self.job.precision or 0
        return n > 0 and all((hi - lo) / 2 <= h for lo, hi in
                             (wilson(int(k), n) for k in agg.outcome_counts))

    # --- the end -------------------------------------------------------------------------

    def finish(self, status: str, write: bool = True, repair: bool = False) -> None:
        """Summaries of every point, and (``write``) the end-of-batch files; a ``repair``
        (of a finished folder's end files) keeps the batch's own timing."""
        job = self.job
        if not job.sweep:
            point = self.open.get(0)
            agg = point.flush() if point is not None else new_aggregate(
                plan_for(job.document, job.sc.content_hash, job.params_json[0],
                         job.places, job.probes), job.rare is not None)
            self.kept_aggregate = agg
            self.summaries[0] = self._summary(0, agg)
        else:
            for p in sorted(self.open):
                if status != "complete":
                    self._close_point(p)
        folder, manifest = self.folder, self.manifest
        if folder is None or manifest is None or not write:
            if self.timeline is not None:  # (a resume that found every point whole)
                self.timeline.discard()
            return
        if repair and job.sweep:
            self._write_points(folder)
        seconds = time.perf_counter() - self.began
        manifest.status = status  # type: ignore[assignment]
        if not repair:
            manifest.finished = _now()
            manifest.seconds = round(seconds, 3)
            manifest.runs_per_second = round(self.done_now / seconds, 1) if seconds else None
            manifest.peak_memory_mib = {"driver": round(peak_rss_mib(), 1),
                                        "worker": round(self.worker_peak, 1)}
        if job.precision is not None and self.kept_aggregate is not None:
            manifest.runs = max(1, self.kept_aggregate.runs + self.kept_aggregate.failed)
        if status == "complete" and job.precision is None:
            folder.check_complete(self.expected, job.sweep)
        manifest.chunks.complete = sorted(self.complete)
        if job.sweep:
            done = [s for s in self.summaries if s is not None]
            folder.write_summary(SweepSummary(done))
            folder.write_sweep_table(done)
            if self.timeline is not None:
                self.timeline.commit()
        else:
            assert self.summaries[0] is not None and self.kept_aggregate is not None
            folder.write_summary(self.summaries[0])
            folder.write_paths(self.kept_aggregate.paths.most_common())
            folder.write_timeline(arrow_table(timeline_columns(self.kept_aggregate, 0)))
        folder.write_manifest(manifest)  # last: it records the digests of the files above

    def executed(self, status: str) -> Executed:
        summaries = [s for s in self.summaries if s is not None]
        return Executed(self.job.values, summaries, self.kept_aggregate,
                        time.perf_counter() - self.began,
                        self.folder.path if self.folder else None, self.kept, self.ran,
                        self.done_now, self.notes)


def execute(sc: Scenario, points: list[dict[str, Any]], runs: int, seed: int, *,
            execution: Execution | None = None, out: str | Path | None = None,
            force: bool = False, command: list[str] | None = None,
            design: dict[str, Any] | None = None, resume: bool = False,
            overrides_by: str = "set for this run", probes: list[ProbeSpec] | None = None,
            command_name: str = "") -> Executed:
    """Run ``runs`` replications at each parameter point of a design (a sweep), all on
    the same random streams (or each point on its own, for a design with
    ``streams: independent``). ``resume``: ``out`` holds an unfinished sweep of the same
    scenario, design and seed; only chunks without a whole file there are run. ``probes``
    are watched in every run (a backtest's observations)."""
    job = Job(sc, points, runs, seed, command=command, design=design or {},
              overrides_by=overrides_by, probes=probes, command_name=command_name)
    return job.execute(execution or Execution(), out, force, resume)
