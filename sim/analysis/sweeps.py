"""Parameter sweeps: a design of points, each run as a batch on the same random streams."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from sim.analysis.designs import Factor, expand, parse_factor
from sim.batch.runner import Execution, execute
from sim.results import Summary
from sim.results.folder import PARAM, sweep_table
from sim.scenario import Scenario, load_scenario

__all__ = ["SweepResult", "run_sweep"]


@dataclass
class SweepResult:
    """A sweep's points, their summaries, and the tidy point x outcome table (with each
    point's varied values as ``param.<name>`` columns)."""

    scenario: str
    points: list[dict[str, Any]]
    varied: list[str]
    summaries: list[Summary]
    table: pa.Table
    seconds: float
    out: Path | None
    seed: int = 0
    notes: list[str] = field(default_factory=list)  # what a resume found and did about it

    def as_dict(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "varied": self.varied,
                "points": [{"point": i, **{v: p[v] for v in self.varied},
                            "outcomes": {o: {"p": e.p, "lo": e.lo, "hi": e.hi}
                                         for o, e in s.outcomes.items()}, "runs": s.runs,
                            "failed": s.failed}
                           for i, (p, s) in enumerate(zip(self.points, self.summaries,
                                                          strict=True))],
                "seconds": self.seconds, "results": str(self.out) if self.out else None,
                **({"notes": list(self.notes)} if self.notes else {})}


def run_sweep(
    scenario: Scenario | str | Path,
    vary: list[str] | list[Factor],
    runs: int = 1000,
    seed: int = 0,
    *,
    design: str = "grid",
    samples: int | None = None,
    fixed: dict[str, Any] | None = None,
    execution: Execution | None = None,
    out: str | Path | None = None,
    force: bool = False,
    command: list[str] | None = None,
    resume: bool = False,
    **options: Any,
) -> SweepResult:
    """Run ``runs`` replications at each point of a design over the ``vary`` factors
    (``NAME=LO:HI:STEPS``, ``NAME=V1,V2``, ``NAME`` for its declared range, or
    :class:`Factor`). Run ``i`` of every point shares its random stream, so
    differences between points are paired. ``fixed`` sets other parameters; ``execution``
    (or its fields as keywords, e.g. ``workers=2``) says where chunks run."""
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    factors = [f if isinstance(f, Factor) else parse_factor(sc, f) for f in vary]
    points = [{**(fixed or {}), **p} for p in expand(factors, design, samples, seed)]
    varied = [f.name for f in factors]
    execution = execution or Execution.of("run_sweep", options)
    done = execute(sc, points, runs, seed, execution=execution,
                   out=out, force=force, command=command, resume=resume,
                   overrides_by="set for the sweep",
                   design={"kind": design, "samples": samples, "varied": varied,
                           "fixed": dict(fixed or {}),
                           "factors": [f.__dict__ for f in factors]})
    table = sweep_table(done.summaries)
    point = table.column("point").to_pylist()
    for v in varied:
        table = table.append_column(PARAM + v, pa.array([float(done.values[p][v])
                                                         for p in point], pa.float64()))
    return SweepResult(sc.name, done.values, varied, done.summaries, table, done.seconds,
                       done.out, seed, done.notes)
