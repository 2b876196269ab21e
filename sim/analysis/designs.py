"""Experimental designs: pure expansion of parameter points, no running.

A factor names a parameter and what to try: ``NAME=LO:HI:STEPS`` (evenly spaced),
``NAME=V1,V2,...`` (listed values) or ``NAME`` alone (its declared range). Designs:
``grid`` (full factorial), ``lhs`` (Latin hypercube) and ``sobol`` (scrambled
Sobol' sequence), both from ``scipy.stats.qmc`` and drawn within declared ranges.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.errors import ScenarioError
from sim.scenario import Scenario
from sim.scenario.expressions import did_you_mean

__all__ = ["DESIGNS", "Factor", "expand", "morris", "parse_factor", "points_from_unit",
           "saltelli", "sweepable"]

DESIGNS = ("grid", "lhs", "sobol")


@dataclass(frozen=True)
class Factor:
    """A parameter to vary: explicit ``values``, or a range ``[low, high]`` for samplers."""

    name: str
    low: float
    high: float
    values: tuple[Any, ...] = ()
    integer: bool = False
    flag: bool = False


MAX_DESIGN_POINTS = 100_000  # points of a sweep or sensitivity design

def parse_factor(scenario: Scenario, text: str) -> Factor:
    """Read ``NAME=LO:HI:STEPS``, ``NAME=V1,V2,...`` or ``NAME`` against the scenario."""
    name, _, spec = text.partition("=")
    name = name.strip()
    params = scenario.spec.parameters
    param = params.get(name)
    if param is None:
        raise ScenarioError(f"unknown parameter '{name}' in --vary{did_you_mean(name, params)}; "
                            f"parameters are: {', '.join(params) or 'none'}")
    if isinstance(param.value, bool):
        values = tuple(scenario.resolve_parameters({name: v})[name]
                       for v in (spec.split(",") if spec else ("false", "true")))
        return Factor(name, 0, 1, values, flag=True)
    declared = param.range
    if not spec and declared is None and param.choices:
        values = tuple(dict.fromkeys(param.choices))
        return Factor(name, float(min(values)), float(max(values)), values,
                      integer=param.integer)
    if not spec:
        if declared is None:
            raise ScenarioError(f"parameter '{name}' has no declared range: give values, "
                                f"e.g. {name}=LO:HI:STEPS or {name}=V1,V2")
        return Factor(name, declared[0], declared[1], integer=param.integer)
    if ":" in spec:
        parts = spec.split(":")
        try:
            lo, hi = float(parts[0]), float(parts[1])
            steps = int(parts[2]) if len(parts) > 2 else 5
        except (ValueError, IndexError):
            raise ScenarioError(f"--vary {text}: expected NAME=LO:HI:STEPS") from None
        if steps < 1 or len(parts) > 3:
            raise ScenarioError(f"--vary {text}: expected NAME=LO:HI:STEPS with STEPS >= 1")
        if steps > MAX_DESIGN_POINTS:
            raise ScenarioError(f"--vary {text}: {steps:,} steps is more than the "
                                f"{MAX_DESIGN_POINTS:,} points a design may have")
        raw = list(np.linspace(lo, hi, steps)) if steps > 1 else [lo]
    else:
        raw = [v for v in spec.split(",") if v.strip()]
        if len(raw) > MAX_DESIGN_POINTS:
            raise ScenarioError(f"--vary {name}: more than {MAX_DESIGN_POINTS:,} values")
    checked = [scenario.resolve_parameters({name: str(v)})[name] for v in raw]
    unique = tuple(dict.fromkeys(checked))
    return Factor(name, float(min(unique)), float(max(unique)), unique, integer=param.integer)


def _from_unit(factor: Factor, u: float) -> Any:
    if factor.values:
        return factor.values[min(int(u * len(factor.values)), len(factor.values) - 1)]
    x = factor.low + u * (factor.high - factor.low)
    return round(x) if factor.integer else float(x)


def expand(factors: list[Factor], design: str = "grid", samples: int | None = None,
           seed: int = 0) -> list[dict[str, Any]]:
    """The points of a design: a list of ``{parameter: value}``, in a fixed order.

    ``grid`` needs every factor to have values; ``lhs`` and ``sobol`` draw ``samples``
    points (a power of two is best for ``sobol``) within each factor's range, or pick
    among its listed values.
    """
    if design not in DESIGNS:
        raise ScenarioError(f"unknown design '{design}': use one of {', '.join(DESIGNS)}")
    names = [f.name for f in factors]
    if len(set(names)) != len(names):
        raise ScenarioError("a parameter is varied twice")
    if not factors:
        return [{}]
    if design == "grid":
        missing = [f.name for f in factors if not f.values]
        if missing:
            raise ScenarioError(f"a grid needs values for {', '.join(missing)}: "
                                f"give NAME=LO:HI:STEPS or NAME=V1,V2")
        size = math.prod(len(f.values) for f in factors)
        if size > MAX_DESIGN_POINTS:
            raise ScenarioError(f"a grid of {size:,} points is more than the "
                                f"{MAX_DESIGN_POINTS:,} a design may have")
        return [dict(zip(names, combo, strict=True))
                for combo in itertools.product(*(f.values for f in factors))]
    from scipy.stats import qmc

    n = samples or 2 ** max(3, math.ceil(math.log2(10 * len(factors))))
    check_design_size(n, f"{design} with {n:,} samples")
    sampler: Any = (qmc.LatinHypercube(d=len(factors), rng=np.random.default_rng(seed))
                    if design == "lhs" else
                    qmc.Sobol(d=len(factors), scramble=True, rng=np.random.default_rng(seed)))
    return points_from_unit(factors, sampler.random(n))


def sweepable(scenario: Scenario, names: list[str] | None = None) -> list[Factor]:
    """Factors for ``names`` (each over its declared range, choices or both flag values), or
    for every parameter that declares a range, choices or is a flag."""
    params = scenario.spec.parameters
    if names:
        return [parse_factor(scenario, n) for n in names]
    return [parse_factor(scenario, n) for n, p in params.items()
            if p.range is not None or p.choices or isinstance(p.value, bool)]


def points_from_unit(factors: list[Factor], unit: np.ndarray) -> list[dict[str, Any]]:
    """Map rows of a design on the unit cube to parameter points (integers rounded, flags and
    choices picked by equal-width bins)."""
    return [{f.name: _from_unit(f, float(u)) for f, u in zip(factors, row, strict=True)}
            for row in unit]


def _problem(factors: list[Factor]) -> dict[str, Any]:
    return {"num_vars": len(factors), "names": [f.name for f in factors],
            "bounds": [[0.0, 1.0]] * len(factors)}


def check_design_size(points: int, what: str) -> None:
    """Refuse a design larger than :data:`MAX_DESIGN_POINTS` before building it."""
    if points > MAX_DESIGN_POINTS:
        raise ScenarioError(f"{what}: {points:,} points is more than the "
                            f"{MAX_DESIGN_POINTS:,} a design may have; use fewer samples")


def saltelli(factors: list[Factor], n: int, seed: int = 0) -> np.ndarray:
    """Saltelli's scheme for first- and total-order Sobol' indices (SALib): ``n * (d + 2)``
    rows on the unit cube; ``n`` should be a power of two."""
    if not factors:
        raise ScenarioError("a sensitivity analysis needs at least one parameter")
    check_design_size(n * (len(factors) + 2), f"Sobol' with {n:,} samples")
    from SALib.sample import sobol

    return np.asarray(sobol.sample(_problem(factors), n, calc_second_order=False, seed=seed))


def morris(factors: list[Factor], n: int, seed: int = 0, levels: int = 4) -> np.ndarray:
    """Morris elementary-effects trajectories (SALib): ``n * (d + 1)`` rows on the unit cube."""
    if not factors:
        raise ScenarioError("a sensitivity analysis needs at least one parameter")
    check_design_size(n * (len(factors) + 1), f"Morris with {n:,} trajectories")
    from SALib.sample import morris as morris_sample

    return np.asarray(morris_sample.sample(_problem(factors), n, num_levels=levels, seed=seed))
