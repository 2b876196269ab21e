"""Global sensitivity of an outcome's probability to the scenario's parameters (SALib).

Each design point is a batch of ``runs`` replications on the common random streams, so
the probability estimated at every point shares its noise with the others; the indices
are computed by SALib from those probabilities.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sim.analysis.designs import Factor, morris, points_from_unit, saltelli, sweepable
from sim.batch.runner import Execution, execute
from sim.errors import BatchError, ResultsError, ScenarioError
from sim.results import Results, ResultsFolder, load_results
from sim.scenario import Scenario, load_scenario
from sim.scenario.describe import citation
from sim.scenario.expressions import did_you_mean

__all__ = ["METHODS", "Sensitivity", "load_sensitivity", "sensitivity"]

METHODS = ("sobol", "morris")


@dataclass
class Sensitivity:
    """Indices per parameter, ranked (most influential first).

    Sobol': ``first``/``total`` with 95% half-widths ``first_conf``/``total_conf``.
    Morris: ``mu_star`` (mean absolute elementary effect of moving a parameter across its
    whole range) with ``mu_star_conf``, and ``sigma`` (interactions and non-linearity).
    """

    scenario: str
    outcome: str
    method: str
    samples: int
    runs: int
    seed: int
    points: int
    rows: list[dict[str, Any]] = field(default_factory=list)
    out: Path | None = None
    failed: int = 0  # runs that raised (recorded in the runs table's error column)

    def as_dict(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "outcome": self.outcome, "method": self.method,
                "samples": self.samples, "runs_per_point": self.runs, "seed": self.seed,
                "points": self.points, "failed_runs": self.failed, "rows": self.rows,
                "results": str(self.out) if self.out else None}


def _finite(x: Any) -> float:
    v = float(x)
    return v if math.isfinite(v) else math.nan


def _rank(method: str, names: list[str], raw: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for i, name in enumerate(names):
        if method == "sobol":
            rows.append({"parameter": name, "first": _finite(raw["S1"][i]),
                         "first_conf": _finite(raw["S1_conf"][i]),
                         "total": _finite(raw["ST"][i]), "total_conf": _finite(raw["ST_conf"][i])})
        else:
            rows.append({"parameter": name, "mu_star": _finite(raw["mu_star"][i]),
                         "mu_star_conf": _finite(raw["mu_star_conf"][i]),
                         "mu": _finite(raw["mu"][i]), "sigma": _finite(raw["sigma"][i])})
    key = "total" if method == "sobol" else "mu_star"
    rows.sort(key=lambda r: -r[key] if math.isfinite(r[key]) else math.inf)
    return rows


def sensitivity(
    scenario: Scenario | str | Path,
    outcome: str,
    method: str = "sobol",
    parameters: list[str] | None = None,
    *,
    samples: int = 64,
    runs: int = 200,
    seed: int = 0,
    fixed: dict[str, Any] | None = None,
    execution: Execution | None = None,
    out: str | Path | None = None,
    force: bool = False,
    command: list[str] | None = None,
    resume: bool = False,
    **options: Any,
) -> Sensitivity:
    """Sobol' (Saltelli design, ``samples * (d + 2)`` points) or Morris (``samples``
    trajectories, ``samples * (d + 1)`` points) indices of ``P(outcome)`` over
    ``parameters`` (default: every parameter with a declared range, choices or a flag),
    each point estimated from ``runs`` replications."""
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    if method not in METHODS:
        raise ScenarioError(f"unknown method '{method}': use one of {', '.join(METHODS)}")
    outcomes = sc.spec.outcome_labels
    if outcome not in outcomes:
        raise ScenarioError(f"unknown outcome '{outcome}'{did_you_mean(outcome, outcomes)}; "
                            f"outcomes are: {', '.join(outcomes)}")
    factors: list[Factor] = sweepable(sc, parameters)
    if not factors:
        raise ScenarioError(f"{sc.name} has no parameter with a range to analyse")
    if samples < 2:
        raise ScenarioError("samples must be >= 2")
    names = [f.name for f in factors]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ScenarioError(f"parameter {', '.join(repeated)} is named more than once; name "
                            f"each parameter once")
    unit = saltelli(factors, samples, seed) if method == "sobol" else morris(factors, samples,
                                                                            seed)
    points = [{**(fixed or {}), **p} for p in points_from_unit(factors, unit)]
    execution = execution or Execution.of("sensitivity", options)
    done = execute(sc, points, runs, seed, execution=execution,
                   out=out, force=force, command=command, overrides_by="set for the analysis",
                   resume=resume,
                   design={"kind": f"{method} sensitivity", "samples": samples,
                           "varied": names, "fixed": dict(fixed or {}), "outcome": outcome,
                           "factors": [f.__dict__ for f in factors]})
    y = np.array([s.outcomes[outcome].p for s in done.summaries], dtype=float)
    failed = sum(s.failed for s in done.summaries)
    if np.isnan(y).any():
        first = int(np.flatnonzero(np.isnan(y))[0])
        errors = done.summaries[first].errors
        raise BatchError(
            f"every run failed at {int(np.isnan(y).sum())} of {len(y)} points, e.g. point "
            f"{first} ({', '.join(f'{n}={done.values[first][n]:g}' for n in names)}): "
            f"{errors[0].error if errors else 'unknown error'}; narrow the ranges with "
            f"--vary/--set or fix the scenario" + (f" (results kept in {done.out})"
                                                   if done.out else ""))
    problem = {"num_vars": len(factors), "names": names, "bounds": [[0.0, 1.0]] * len(names)}
    with np.errstate(divide="ignore", invalid="ignore"):
        if method == "sobol":
            from SALib.analyze import sobol as sobol_analyze

            raw = sobol_analyze.analyze(problem, y, calc_second_order=False, seed=seed)
        else:
            from SALib.analyze import morris as morris_analyze

            raw = morris_analyze.analyze(problem, unit, y, seed=seed)
    rows = _rank(method, names, raw)
    params = sc.spec.parameters
    for row in rows:
        row["source"] = citation(params[row["parameter"]], "cited, not checked") or "uncited"
    result = Sensitivity(sc.name, outcome, method, samples, runs, seed, len(points), rows,
                         done.out, failed)
    if done.out is not None:
        with ResultsFolder(done.out) as folder:
            manifest = folder.open_existing()
            folder.write_sensitivity(result.as_dict())
            folder.write_manifest(manifest)
    return result


def load_sensitivity(folder: str | Path | Results) -> Sensitivity:
    """Read the indices a sensitivity run wrote to its results folder."""
    res = folder if isinstance(folder, Results) else load_results(folder)
    data = res.sensitivity()
    try:
        return Sensitivity(str(data["scenario"]), str(data["outcome"]), str(data["method"]),
                           int(data["samples"]), int(data["runs_per_point"]),
                           int(data["seed"]), int(data["points"]), list(data["rows"]),
                           res.path, int(data.get("failed_runs", 0)))
    except (KeyError, TypeError, ValueError) as exc:
        raise ResultsError(f"{res.path}: damaged sensitivity file: {exc}") from None
