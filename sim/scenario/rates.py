"""The rate of a Poisson-timed action as written in a file (``rate:``).

Three spellings:

* ``rate: EXPR`` — a number or an expression; it may read parameters and the state
  (actor variables, ``level``, counts); with ``t`` it needs a bound (below);
* ``rate: {expr: EXPR, max: BOUND}`` — the same, with a declared bound the rate never
  exceeds (``max`` is a number or an expression of parameters); a rate that reads
  ``t`` is run by thinning against it;
* ``rate: {schedule: [[TIME, RATE], ...]}`` — piecewise constant in time: each RATE
  holds from its TIME (a number, or a date with ``clock.start``) to the next; the
  first TIME is 0 (or the start date) and times increase.

The checks (:mod:`sim.scenario.checks`) compile the expressions and validate the
times; the engine's plan turns the whole into a hazard.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict, Discriminator, Field, Tag, model_validator

from sim.scenario.fields import (
    Base,
    Expr,
    NonNegative,
    Positive,
    Scalar,
    exactly_one,
    json_rules,
    not_both,
    plain,
)

__all__ = ["Rate", "RateSpec", "describe_rate"]


def _pair(value: Any) -> Any:
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return value
    raise ValueError(f"a schedule item is [time, rate], got {value!r}")


ScheduleItem = Annotated[tuple[Expr, NonNegative], BeforeValidator(_pair)]


class RateSpec(Base):
    """A rate with a declared bound (``expr`` and ``max``) or a ``schedule``."""

    model_config = ConfigDict(json_schema_extra=json_rules(
        exactly_one(("expr", "schedule")), not_both("max", "schedule")))

    expr: Annotated[NonNegative | None, Field(examples=["0.1 + 0.02 * t"])] = None
    """The rate, events per clock unit: an expression that may read ``t`` and the state."""
    max: Annotated[Positive | None, Field(examples=[2])] = None
    """A bound the rate never exceeds (a number or an expression of parameters); needed when
    ``expr`` reads ``t`` and no bound can be derived from it."""
    schedule: Annotated[Annotated[list[ScheduleItem], Field(min_length=1)] | None, Field(
        examples=[[[0, 0.1], ["2025-01-20", 0.3], [90, 0]]])] = None
    """Piecewise-constant rates: ``[[TIME, RATE], ...]``; each RATE holds from its TIME (a
    number, or a date with ``clock.start``) to the next; the first TIME is 0 (or the start
    date) and times increase."""

    @model_validator(mode="after")
    def _one(self) -> RateSpec:
        if (self.expr is None) == (self.schedule is None):
            raise ValueError("a rate takes exactly one of expr (with an optional max) or "
                             "schedule")
        if self.schedule is not None and self.max is not None:
            raise ValueError("max goes with expr: a schedule's rates are its own bound")
        return self


def _which(value: Any) -> str:
    return "spec" if isinstance(value, (dict, RateSpec)) else "expr"


Rate = Annotated[
    Annotated[RateSpec, Tag("spec")] | Annotated[NonNegative, Tag("expr")],
    Discriminator(_which),
]
"""An action's ``rate:``: a number or expression, or a :class:`RateSpec`."""


def describe_rate(rate: Scalar | RateSpec) -> str:
    """A rate in one line: ``0.1 * level``, ``0.1 + t/100 (at most 2)``,
    ``0.1 from 0, 0.3 from 2025-01-20``."""
    if not isinstance(rate, RateSpec):
        return plain(rate)
    if rate.schedule is not None:
        return ", ".join(f"{plain(v)} from {plain(at)}" for at, v in rate.schedule)
    bound = f" (at most {plain(rate.max)})" if rate.max is not None else ""
    return f"{plain(rate.expr)}{bound}"
