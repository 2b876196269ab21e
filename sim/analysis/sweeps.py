"""Parameter sweeps: a design of points, each run as a batch on the same random streams."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from sim.analysis.designs import Factor, expand, parse_factor
from sim.batch.runner import Progress, execute
from sim.results import write_atomic
from sim.scenario import Scenario, load_scenario

__all__ = ["SweepResult", "run_sweep", "sweep_table", "write_design_tables"]


@dataclass
class SweepResult:
    """A sweep's points, their summaries, and the tidy point x outcome table."""

    scenario: str
    points: list[dict[str, Any]]
    varied: list[str]
    summaries: list[dict[str, Any]]
    table: pa.Table
    seconds: float
    out: Path | None


def sweep_table(varied: list[str], points: list[dict[str, Any]],
                summaries: list[dict[str, Any]]) -> pa.Table:
    """One row per point and outcome: the varied values, probability, 95% interval, runs."""
    rows: dict[str, list[Any]] = {"point": [], **{v: [] for v in varied}, "outcome": [],
                                  "count": [], "runs": [], "p": [], "lo": [], "hi": []}
    for i, (point, summary) in enumerate(zip(points, summaries, strict=True)):
        for outcome, o in summary["outcomes"].items():
            rows["point"].append(i)
            for v in varied:
                rows[v].append(float(point[v]))
            rows["outcome"].append(outcome)
            rows["count"].append(o["count"])
            rows["runs"].append(summary["runs"])
            rows["p"].append(o["p"])
            rows["lo"].append(o["lo"])
            rows["hi"].append(o["hi"])
    return pa.table(rows)


def write_design_tables(out: Path, varied: list[str], values: list[dict[str, Any]],
                        table: pa.Table) -> None:
    """Write ``sweep.parquet`` (point x outcome) and ``points.parquet`` (point -> values)."""
    write_atomic(out / "sweep.parquet", _bytes(table))
    points_table = pa.table({"point": list(range(len(values))),
                             **{v: [float(p[v]) for p in values] for v in varied}})
    write_atomic(out / "points.parquet", _bytes(points_table))


def _bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def run_sweep(
    scenario: Scenario | str | Path,
    vary: list[str] | list[Factor],
    runs: int = 1000,
    seed: int = 0,
    *,
    design: str = "grid",
    samples: int | None = None,
    fixed: dict[str, Any] | None = None,
    workers: int | None = None,
    executor: str = "auto",
    out: str | Path | None = None,
    force: bool = False,
    progress: Progress | None = None,
    command: list[str] | None = None,
    resume: bool = False,
    scheduler: str | None = None,
) -> SweepResult:
    """Run ``runs`` replications at each point of a design over the ``vary`` factors
    (``NAME=LO:HI:STEPS``, ``NAME=V1,V2``, ``NAME`` for its declared range, or
    :class:`Factor`). Run ``i`` of every point shares its random stream, so
    differences between points are paired. ``fixed`` sets other parameters."""
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    factors = [f if isinstance(f, Factor) else parse_factor(sc, f) for f in vary]
    points = [{**(fixed or {}), **p} for p in expand(factors, design, samples, seed)]
    varied = [f.name for f in factors]
    done = execute(sc, points, runs, seed, workers=workers, executor=executor, out=out,
                   force=force, progress=progress, command=command, resume=resume,
                   scheduler=scheduler,
                   extra={"design": {"kind": design, "samples": samples, "varied": varied,
                                     "fixed": dict(fixed or {}),
                                     "factors": [f.__dict__ for f in factors]}})
    table = sweep_table(varied, done.values, done.summaries)
    if done.out is not None:
        write_design_tables(done.out, varied, done.values, table)
    return SweepResult(sc.name, done.values, varied, done.summaries, table, done.seconds,
                       done.out)
