"""Weighted estimates of rare-event runs: exact sums and intervals from weights.

Sums of weights are kept exactly (Shewchuk's non-overlapping partials, as in
:func:`math.fsum`), so merging chunks in any order or size gives the same, correctly
rounded totals: a rare-event estimate is the same for any worker count or chunk size.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sim.batch.intervals import Z95
from sim.results.summary import RareEstimate

if TYPE_CHECKING:
    from sim.batch.aggregate import Aggregate

__all__ = ["INTERVAL", "WEIGHTED_METHOD", "ExactSum", "WeightedEstimate", "rare_summary",
           "weighted_estimate"]

INTERVAL = "95% Wilson on the effective number of runs p(1-p)/se^2"
FEW_HITS = 10  # fewer hits than this: the interval is a rough guide
LOW_ESS = 100  # Kish ESS of the weights among the hits below this: the weights degenerate
TOP_SHARE = 0.1  # the largest weight carrying more than this share of the estimate: warned

WEIGHTED_METHOD = "importance sampling (likelihood-ratio weights)"


class ExactSum:
    """The exact sum of floats, as non-overlapping partials; ``value`` rounds it once."""

    __slots__ = ("partials",)

    def __init__(self, partials: Iterable[float] = ()) -> None:
        self.partials: list[float] = []
        for x in partials:
            self.add(x)

    def add(self, x: float) -> None:
        partials = self.partials
        i = 0
        for y in partials:
            if abs(x) < abs(y):
                x, y = y, x
            hi = x + y
            lo = y - (hi - x)
            if lo:
                partials[i] = lo
                i += 1
            x = hi
        partials[i:] = [x]

    def extend(self, values: Iterable[float]) -> None:
        for x in values:
            self.add(float(x))

    def merge(self, other: ExactSum) -> None:
        for x in other.partials:
            self.add(x)

    @property
    def value(self) -> float:
        return math.fsum(self.partials)


@dataclass(frozen=True)
class WeightedEstimate:
    """``p = mean(w 1{hit})`` over ``n`` runs, its standard error and 95% interval.

    The interval is Wilson's on the effective number of runs ``p(1-p)/se^2`` (the number
    of plain runs with the same standard error): close to ``p +- 1.96 se`` when there are
    many hits, never below 0 and skewed upwards when there are few."""

    p: float
    se: float
    lo: float
    hi: float
    hits: int
    n: int
    ess: float  # Kish effective sample size of the weights among the hits
    n_effective: float  # p(1-p)/se^2

    @property
    def relative_error(self) -> float:
        return self.se / self.p if self.p > 0 else math.nan

    @property
    def plain_half_width(self) -> float:
        """The 95% half-width plain Monte Carlo would give with the same runs, at ``p``."""
        if self.n <= 0:
            return math.nan
        p = min(max(self.p, 0.0), 1.0)
        return Z95 * math.sqrt(p * (1 - p) / self.n)


def weighted_estimate(sum_w: float, sum_w2: float, hits: int, n: int,
                      ok_w: float | None = None, ok_w2: float | None = None
                      ) -> WeightedEstimate:
    """The estimate from ``sum(w 1{hit})``, ``sum(w^2 1{hit})``, the hits and the ``n``
    runs (every run, failed ones included).

    Without ``ok_w`` it is the unbiased mean ``sum(w 1{hit}) / n``. With ``ok_w`` and
    ``ok_w2`` (``sum(w)`` and ``sum(w^2)`` over the runs that completed, the hits among
    them) it is the ratio ``sum(w 1{hit}) / sum(w 1{ok})``: ``P(hit | run completed)``,
    what plain runs report when some fail, and exactly 1 for an event every completed run
    has; its standard error is the delta method's."""
    if n <= 0 or (ok_w is not None and not ok_w > 0):
        return WeightedEstimate(math.nan, math.nan, math.nan, math.nan, hits, max(n, 0),
                                math.nan, math.nan)
    ess = sum_w * sum_w / sum_w2 if sum_w2 > 0 else 0.0
    if ok_w is None or ok_w2 is None:
        p = sum_w / n
        var = max(sum_w2 / n - p * p, 0.0) / (n - 1) if n > 1 else math.nan
    else:
        p = min(sum_w / ok_w, 1.0)
        # sum over completed runs of (w 1{hit} - p w)^2: hits (1-p)^2 w^2, others p^2 w^2
        resid = (1 - p) ** 2 * sum_w2 + p * p * max(ok_w2 - sum_w2, 0.0)
        var = n * resid / ((n - 1) * ok_w * ok_w) if n > 1 else math.nan
    se = math.sqrt(var) if var == var else math.nan
    if hits == 0 or not se > 0:  # no hit, or every run a hit of the same weight
        lo, hi = (0.0, 1.0) if hits == 0 else (p, p)  # no hit: no bound under tilting
        return WeightedEstimate(p, 0.0 if hits == 0 else se, lo, hi, hits, n, ess,
                                math.inf if hits else float(n))
    shown = min(p, 1.0)
    n_eff = shown * (1 - shown) / var if shown < 1 else float(n)
    z2 = Z95 * Z95
    denom = 1 + z2 / n_eff
    centre = (shown + z2 / (2 * n_eff)) / denom
    half = Z95 / denom * math.sqrt(shown * (1 - shown) / n_eff + z2 / (4 * n_eff * n_eff))
    lo = min(shown, max(0.0, centre - half))
    hi = max(shown, min(1.0, centre + half))
    return WeightedEstimate(p, se, lo, hi, hits, n, ess, n_eff)


def rare_summary(agg: Aggregate, rare: dict[str, Any]) -> RareEstimate:
    """The rare-event estimate of a set of weighted runs (see :mod:`sim.batch.rare`)."""
    target = str(rare["target"])
    hits = int(agg.outcome_counts[agg.outcomes.index(target)])
    e = agg.weighted_of(f"outcome:{target}", hits, ratio=agg.failed > 0)
    everyone = agg.weighted_of("all", agg.runs)
    warnings: list[str] = []
    notes = []
    if agg.failed:
        notes.append(f"{agg.failed:,} of {agg.runs + agg.failed:,} runs failed: the "
                        f"estimate is P({target} | run completed), as plain runs report, "
                        f"by the ratio of weighted sums (delta-method standard error)")
    if hits == 0:
        warnings.append(f"no run reached {target}: the estimate is 0 and the interval "
                        f"[0, 1] says nothing; if it can happen at all, run more or a "
                        f"longer pilot")
    elif hits < FEW_HITS:
        warnings.append(f"only {hits} runs reached {target}: the interval is a rough guide")
    if hits and e.ess < LOW_ESS:
        warnings.append(f"the weights degenerate: their effective sample size among the "
                        f"hits is {e.ess:.1f} of {hits} (below {LOW_ESS}); the interval may "
                        f"be too narrow (run more, or a longer pilot)")
    total = agg.weight_sums[f"outcome:{target}"][0].value
    top = agg.weight_max.get(f"outcome:{target}", 0.0)
    if hits and total > 0 and top > TOP_SHARE * total:
        warnings.append(f"one run carries {top / total:.0%} of the estimate (its weight is "
                        f"the largest); the interval may be too narrow (run more, or a "
                        f"longer pilot)")
    pilot = rare.get("pilot") or []
    return RareEstimate(
        target=target, method=str(rare["method"]), p=e.p, se=e.se, lo=e.lo, hi=e.hi,
        interval=INTERVAL, hits=hits, runs=agg.runs, relative_error=e.relative_error,
        ess=e.ess, ess_all=everyone.ess, plain_half_width=e.plain_half_width,
        theta={str(k): float(v) for k, v in dict(rare["theta"]).items()},
        pilot_runs=int(rare["pilot_runs"]) * max(1, len(pilot)),
        pilot_stages=len(pilot), warnings=warnings, notes=notes)
