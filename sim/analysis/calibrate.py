"""Calibration: which values of a scenario's assumptions make what was observed likely.

Approximate Bayesian computation by rejection, on the sweep runner. The prior is uniform
on each varied parameter's declared range (or on its listed values) unless the
observation file declares one (``priors: {NAME: {normal: {mean, sd}}}``, also
``lognormal: {mu, sigma}``, ``beta: {a, b}``, ``triangular: [low, mode, high]``),
truncated to the range; a Latin hypercube of ``samples`` points is a draw from the
uniform, and a declared prior reweights the points by its density. At every point
``runs`` replications are run, each point on its own random streams (common random
numbers would make every point accept the same few runs), and a run is *accepted* when
every observation holds in it: the accepted (point, run) pairs are draws from the
posterior, so a point's weight is its number of accepted runs (times its prior density).
Reported: each parameter's posterior mean and 90% credible interval (weighted quantiles
over the points), the posterior mode over the design (the point with the most weight: its
values were tried together), the effective sample size of the weights (Kish's), the acceptance
rate, and the posterior predictive outcome distribution (the accepted runs' outcomes).

The match is exact on each observation's indicator (a dated window is the tolerance), so
no distance or epsilon is tuned; a library such as pyabc would add a server-free SMC
loop but needs a distance on summary statistics that binary observations do not have.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sim.analysis.backtest import completed, holds, prepared
from sim.analysis.designs import Factor, expand, parse_factor
from sim.analysis.observations import load_observations
from sim.batch import Execution
from sim.batch.aggregate import outcome_columns
from sim.batch.intervals import wilson
from sim.batch.runner import execute
from sim.errors import ScenarioError
from sim.results import load_results
from sim.results.folder import PARAM
from sim.scenario import Scenario

__all__ = ["Calibration", "calibrate", "weighted_quantile"]


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """The ``q`` quantile of ``values`` weighted by ``weights`` (inverted CDF)."""
    order = np.argsort(values, kind="stable")
    v, w = np.asarray(values, dtype=float)[order], np.asarray(weights, dtype=float)[order]
    cum = np.cumsum(w)
    if cum[-1] <= 0:
        return math.nan
    i = int(np.searchsorted(cum, q * cum[-1], side="left"))
    return float(v[min(i, v.size - 1)])


@dataclass
class Calibration:
    """A calibration's posterior."""

    scenario: str
    observations: list[str]
    points: int
    runs_per_point: int
    seed: int
    accepted: int
    runs: int
    effective_sample_size: float
    parameters: dict[str, dict[str, Any]]  # name -> prior, its low/high, mean, q05, q95
    predictive: dict[str, dict[str, float]]  # outcome label -> count, p, lo, hi
    mode: dict[str, int] = field(default_factory=dict)  # the highest-weight design point
    results: Path | None = None
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "observations": self.observations,
                "points": self.points, "runs_per_point": self.runs_per_point,
                "seed": self.seed, "accepted": self.accepted, "runs": self.runs,
                "acceptance": self.accepted / self.runs if self.runs else math.nan,
                "effective_sample_size": self.effective_sample_size,
                "parameters": self.parameters, "posterior_predictive": self.predictive,
                "mode": self.mode, "notes": self.notes,
                "results": str(self.results) if self.results else None}


def _runs_table(done: Any) -> pa.Table:
    if done.out is not None:
        return load_results(done.out).runs
    tables = [pq.read_table(io.BytesIO(b)) for b in done.kept]
    return pa.concat_tables(tables).replace_schema_metadata(None)


def _range_of(sc: Scenario, text: str) -> Factor:
    """A parameter to fit: ``NAME`` (its declared range) or ``NAME=LO:HI`` (a uniform prior
    needs a range: no steps, no list of values, LO < HI, both finite)."""
    name, eq, spec = text.partition("=")
    if eq and (not spec.strip() or spec.count(":") != 1):
        raise ScenarioError(f"--vary {text}: calibrate samples a range: write {name.strip()} "
                            f"(its declared range) or {name.strip()}=LO:HI")
    low = high = math.nan
    if eq:
        lo_text, hi_text = spec.split(":")
        try:
            low, high = float(lo_text), float(hi_text)
        except ValueError:
            raise ScenarioError(f"--vary {text}: LO and HI must be numbers") from None
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ScenarioError(f"--vary {text}: the range needs finite LO < HI, got "
                                f"[{low:g}, {high:g}]")
    factor = parse_factor(sc, f"{name}={low!r}:{high!r}:2" if eq else name)
    if factor.flag:
        raise ScenarioError(f"calibrate fits numbers: {factor.name} is a flag; fix it with "
                            f"--set instead")
    if factor.values and not eq:
        raise ScenarioError(f"--vary {text}: {factor.name} has choices, not a range: give "
                            f"{factor.name}=LO:HI")
    if not eq:
        low, high = factor.low, factor.high
    return Factor(factor.name, low, high, integer=factor.integer)


def calibrate(scenario: Scenario | str | Path | None, observed: str | Path,
              vary: list[str], samples: int = 64, runs: int = 500, seed: int = 0, *,
              fixed: dict[str, Any] | None = None, out: str | Path | None = None,
              force: bool = False, resume: bool = False,
              execution: Execution | None = None, command: list[str] | None = None,
              **options: Any) -> Calibration:
    """Fit the ``vary`` parameters (``NAME`` for its declared range, or ``NAME=LO:HI``) to
    the observations in ``observed`` (see the module docstring)."""
    sc, probes, resolved = prepared(scenario, observed)
    if not vary:
        raise ScenarioError("calibrate needs at least one --vary parameter")
    factors: list[Factor] = [_range_of(sc, v) for v in vary]
    clash = sorted(set(fixed or {}) & {f.name for f in factors})
    if clash:
        raise ScenarioError(f"{', '.join(clash)} is both fitted (--vary) and fixed (--set): "
                            f"choose one")
    priors = load_observations(observed).content.priors
    stray = sorted(set(priors) - {f.name for f in factors})
    if stray:
        raise ScenarioError(f"{observed}: priors given for {', '.join(stray)}, which this "
                            f"calibration does not vary (--vary {stray[0]})")
    if samples < 2:
        raise ScenarioError("samples must be >= 2")
    points = [{**(fixed or {}), **p} for p in expand(factors, "lhs", samples, seed)]
    names = [f.name for f in factors]
    execution = execution or Execution.of("calibrate", options)
    done = execute(sc, points, runs, seed, execution=execution,
                   out=out, force=force, command=command, resume=resume,
                   overrides_by="set for the calibration", probes=probes,
                   command_name="calibrate",
                   design={"kind": "calibration", "samples": samples, "varied": names,
                           "fixed": dict(fixed or {}), "observed": str(observed),
                           "streams": "independent"})
    table = completed(_runs_table(done))
    match = np.ones(table.num_rows, dtype=bool)
    for r in resolved:
        match &= holds(table, r)
    point = np.asarray(table.column("point").to_numpy(), dtype=np.int64)
    accepted = np.bincount(point[match], minlength=len(points)).astype(float)
    tried = np.bincount(point, minlength=len(points)).astype(float)  # completed runs
    total = float(accepted.sum())
    failed = runs * len(points) - table.num_rows
    # the design draws from uniform priors; a declared prior reweights its points
    prior = np.ones(len(points))
    for name, spec in priors.items():
        prior *= spec.density(np.array([float(p[name]) for p in points]))
    if total == 0:
        raise ScenarioError(
            f"no run matched all {len(resolved)} observations at any of the {len(points)} "
            f"points ({table.num_rows:,} runs): raise -n or --samples, widen the "
            f"observations' windows, or check that the ranges can produce what was seen"
            + (f" (results kept in {done.out})" if done.out else ""))
    # the likelihood at a point is its acceptance rate among the runs that completed
    mass = np.divide(accepted, tried, out=np.zeros_like(accepted), where=tried > 0) * prior
    if float(mass.sum()) <= 0:
        raise ScenarioError(f"the declared priors give no weight to any of the points where "
                            f"runs matched ({int(total):,} runs): check the priors against "
                            f"the ranges")
    w = mass / float(mass.sum())
    ess = 1.0 / float(np.sum(w * w))
    best = int(np.argmax(w))  # the posterior mode over the design (first of ties)
    params: dict[str, dict[str, Any]] = {}
    for f in factors:
        x = np.array([float(p[f.name]) for p in points])
        params[f.name] = {"prior": priors[f.name].describe() if f.name in priors
                          else "uniform", "prior_low": f.low, "prior_high": f.high,
                          "mean": float(np.sum(w * x)), "mode": float(x[best]),
                          "q05": weighted_quantile(x, w, 0.05),
                          "q95": weighted_quantile(x, w, 0.95)}
    labels = sc.spec.outcome_labels
    predictive: dict[str, dict[str, float]] = {}
    run_weight = (prior / np.maximum(tried, 1))[point[match]]  # each accepted run's prior
    run_weight = run_weight / run_weight.sum()
    for label, (column, name) in zip(labels, outcome_columns(labels), strict=True):
        values = np.asarray(table.column(column).to_pylist(), dtype=object)[match]
        k = int(np.sum(values == name))
        share = float(np.sum(run_weight[values == name]))
        lo, hi = wilson(round(share * total), int(total))
        predictive[label] = {"count": k, "p": share, "lo": lo, "hi": hi}
    result = Calibration(sc.name, [r.id for r in resolved], len(points), runs, seed,
                         int(total), table.num_rows, ess, params, predictive,
                         {"point": best, "accepted": int(accepted[best]),
                          "runs": int(tried[best])}, done.out)
    if failed:
        empty = int(np.sum(tried == 0))
        result.notes.append(f"{failed:,} runs failed and are left out (each point is weighted "
                            f"by its acceptance among the runs that completed)"
                            + (f"; at {empty} point(s) every run failed, so they carry no "
                               f"weight" if empty else ""))
    tied = int(np.sum(w >= w[best] * (1 - 1e-12)))
    if tied > 1:
        result.notes.append(f"the mode is the first of {tied} points with the same weight "
                            f"(design point {best}): raise -n for a clearer mode")
    if ess < 10:
        result.notes.append(f"the posterior rests on {ess:.1f} effective points: raise "
                            f"--samples (and -n) before trusting its intervals")
    if done.out is not None:
        from sim.results import ResultsFolder

        posterior = pa.table({
            "point": pa.array(range(len(points)), pa.int64()),
            **{PARAM + n: pa.array([float(p[n]) for p in points], pa.float64())
               for n in names},
            "runs": pa.array(tried.astype(np.int64)), "accepted": pa.array(
                accepted.astype(np.int64)), "weight": pa.array(w)})
        sink = io.BytesIO()
        pq.write_table(posterior, sink)
        with ResultsFolder(done.out) as folder:
            manifest = folder.open_existing()
            folder.write_calibration(sink.getvalue(), result.as_dict())
            folder.write_manifest(manifest)
    return result
