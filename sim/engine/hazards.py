"""Hazards: the rates of Poisson-timed actions that read the state or the clock. No I/O.

An action's exponential waits (``rate:``, or ``every: {exponential: ...}``) whose
rate depends on parameters only keep the kernel's plain path: one draw per wait. A
rate that reads the state or the clock becomes a :class:`Hazard`, run in one of two
exact ways:

* **redraw** — the rate is piecewise constant in time: it changes only when a state
  value it reads changes, or at a breakpoint of its ``schedule``. The replication
  watches those slots and breakpoints; when the rate's value changes, the pending
  wait is dropped and a new one drawn at the new rate (exact, as the exponential
  wait has no memory). A rate of 0 leaves no wait pending (the action is suspended)
  until the rate turns positive again.
* **thinning** (Lewis and Shedler) — the rate reads ``t``: candidates arrive at a
  constant ``bound`` the rate never exceeds (declared with ``max:`` or derived from
  the expression over the run), and each is kept with probability rate/bound,
  evaluated at the candidate's time with the state of that moment. A rate found
  above its bound fails the run, located at the expression.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sim.errors import RunError
from sim.scenario.bounds import Interval, below_bound, max_below_message, value_range
from sim.scenario.expressions import CompiledExpression, Evaluator
from sim.scenario.fields import Path
from sim.scenario.rates import RateSpec
from sim.scenario.schema import Action

__all__ = ["Hazard", "Timing", "timing_of"]


@dataclass(eq=False)
class Hazard:
    """The rate of one action over a run: one evaluator per segment of its schedule."""

    rates: list[Evaluator]
    exprs: list[CompiledExpression]
    breaks: list[float]  # start of each segment: [0.0] without a schedule
    inverse: bool = False  # the expression is an exponential mean: the rate is 1/mean
    thinned: bool = False  # reads t: candidates at rate ``bound``, kept with rate/bound
    bound: float = 0.0
    declared: float | None = None  # the file's max:, checked at every evaluation
    slots: frozenset[int] = frozenset()  # what the rate reads (a change may redraw)

    def rate(self, V: list[Any], t: float) -> float:
        """The rate now; a value that is not a rate fails the run, located."""
        k = 0 if len(self.breaks) == 1 else bisect.bisect_right(self.breaks, t) - 1
        expr = self.exprs[k]
        try:
            value = float(self.rates[k](V, t, ()))
        except (ArithmeticError, ValueError, TypeError) as exc:
            raise RunError(f"{expr.where}: cannot compute the rate '{expr.text}' at "
                           f"t={t:g}: {exc}") from None
        if self.inverse:
            if not (value > 0 and math.isfinite(value)):
                raise RunError(f"{expr.where}: exponential mean must be > 0, got {value!r} "
                               f"(from '{expr.text}') at t={t:g}")
            value = 1.0 / value
        elif not (value >= 0 and math.isfinite(value)):
            raise RunError(f"{expr.where}: a rate must be >= 0, got {value!r} (from "
                           f"'{expr.text}') at t={t:g}")
        if self.declared is not None and value > self.declared:
            raise RunError(f"{expr.where}: the rate {value:g} (from '{expr.text}') at "
                           f"t={t:g} is above its declared max {self.declared:g}")
        if self.thinned and value > self.bound:
            raise RunError(f"{expr.where}: the rate {value:g} (from '{expr.text}') at "
                           f"t={t:g} is above the bound {self.bound:g} derived for it; "
                           f"declare a max")
        return value


@dataclass(eq=False)
class Timing:
    """How a recurring action's waits are drawn: a plain rate evaluator (a rate of
    parameters only) or a hazard; neither for ``every:`` draws and non-recurring ones."""

    rate: Evaluator | None = None
    rate_expr: CompiledExpression | None = None
    hazard: Hazard | None = None


def timing_of(action: Action, base: Path, ex: dict[Path, CompiledExpression],
              ns: dict[str, Any], horizon: float,
              slot_range: Callable[[int], Interval]) -> Timing:
    """The timing of ``action`` (at ``base``) at one parameter point (namespace ``ns``);
    ``slot_range(slot)`` gives the interval a state slot keeps to (for bounds)."""
    rate, wait = action.rate, action.every
    if isinstance(rate, RateSpec) and rate.schedule is not None:
        n = len(rate.schedule)
        exprs = [ex[(*base, "rate", "schedule", k, 1)] for k in range(n)]
        breaks = [float(ex[(*base, "rate", "schedule", k, 0)].literal) for k in range(n)]
        return Timing(hazard=Hazard([e.bind(ns) for e in exprs], exprs, breaks,
                                    slots=frozenset().union(*(e.slots for e in exprs))))
    declared: float | None = None
    declared_at: CompiledExpression | None = None
    inverse = False
    if isinstance(rate, RateSpec):
        expr = ex[(*base, "rate", "expr")]
        if rate.max is not None:
            declared_at = ex[(*base, "rate", "max")]
            declared = _declared(declared_at, ns)
    elif rate is not None:
        expr = ex[(*base, "rate")]
    elif wait is not None and wait.kind == "exponential":
        inverse = wait.args.mean is not None
        expr = ex[(*base, "every", "exponential", "mean" if inverse else "rate")]
        if expr.static:
            return Timing()  # the interval sampler serves it
    else:
        return Timing()
    if expr.static:
        fn = expr.bind(ns)
        if declared is not None:
            value = fn([], 0.0, ())
            if value > declared:
                raise RunError(f"{expr.where}: the rate {value:g} (from '{expr.text}') is "
                               f"above its declared max {declared:g}")
        return Timing(rate=fn, rate_expr=expr)
    hazard = Hazard([expr.bind(ns)], [expr], [0.0], inverse=inverse, declared=declared,
                    slots=expr.slots)
    if expr.reads_time:
        hazard.thinned = True
        hazard.bound = _bound(expr, ns, horizon, slot_range, inverse, declared, declared_at)
        hazard.slots = frozenset()  # thinning reads the state at each candidate
    return Timing(hazard=hazard)


def _declared(expr: CompiledExpression, ns: dict[str, Any]) -> float:
    try:
        value = float(expr.bind(ns)([], 0.0, ()))
    except (ArithmeticError, ValueError, TypeError) as exc:
        raise RunError(f"{expr.where}: cannot compute '{expr.text}': {exc}") from None
    if not (value > 0 and math.isfinite(value)):
        raise RunError(f"{expr.where}: a rate's max must be > 0, got {value!r} (from "
                       f"'{expr.text}')")
    return value


def _bound(expr: CompiledExpression, ns: dict[str, Any], horizon: float,
           slot_range: Callable[[int], Interval], inverse: bool,
           declared: float | None, declared_at: CompiledExpression | None = None) -> float:
    """The thinning bound: the declared max, or the smaller bound the expression's range
    over the run gives (both hold, so the smaller does). A declared max below the bound
    derived fails the run (as it fails the load at the parameters' defaults): the rate
    could exceed it between candidates, unseen."""
    span: Interval = value_range(expr.tree, ns, slot_range, horizon)
    derived = (1.0 / span[0] if span[0] > 0 else math.inf) if inverse else span[1]
    if declared is not None:
        if below_bound(declared, derived):
            at = declared_at or expr
            raise RunError(f"{at.where}: {max_below_message(declared, derived)} (at these "
                           f"parameter values)")
        return min(declared, derived) if derived > 0 else declared
    if not math.isfinite(derived):
        raise RunError(f"{expr.where}: the rate '{expr.text}' reads t and has no bound at "
                       f"these parameter values; declare one, rate: {{expr: ..., max: B}}")
    if derived < 0:
        raise RunError(f"{expr.where}: a rate must be >= 0; '{expr.text}' is at most "
                       f"{derived:g} at these parameter values")
    return derived
