"""Typed summaries of a batch (``summary.json``): what the console, the report and
``--json`` all show, from one set of classes."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Annotated, Any

from pydantic import BeforeValidator, TypeAdapter, ValidationError

from sim.errors import ResultsError

__all__ = ["LevelReach", "MetricStats", "OutcomeEstimate", "PathShare", "RareEstimate",
           "RunErrorSample", "Summary", "SweepSummary"]


def _nan_for_null(v: Any) -> Any:
    return math.nan if v is None else v


Num = Annotated[float, BeforeValidator(_nan_for_null)]


@dataclass
class OutcomeEstimate:
    """How many runs ended in an outcome, its share ``p`` and 95% interval.

    In a rare-event estimate (runs with tilted trigger probabilities) ``count`` is the
    number of tilted runs that ended there and ``p`` the weighted estimate ``mean(w
    1{outcome})``, with its standard error ``se``, ``method`` and ``ess`` (Kish effective
    sample size of the weights among those runs); these are left out of plain summaries."""

    count: int
    p: Num
    lo: Num
    hi: Num
    se: float | None = None
    method: str | None = None
    ess: float | None = None


@dataclass
class RareEstimate:
    """The rare-event estimate of one outcome (``escalation run --rare``): unbiased
    likelihood-ratio importance sampling with trigger probabilities tilted by ``theta``
    (log-odds shift per trigger, chosen by a cross-entropy pilot before the runs)."""

    target: str
    method: str
    p: Num
    se: Num
    lo: Num
    hi: Num
    interval: str
    hits: int
    runs: int
    relative_error: Num
    ess: Num  # Kish effective sample size of the weights among the hits
    ess_all: Num  # ... over every run
    plain_half_width: Num  # what plain Monte Carlo with the same runs would give, at p
    theta: dict[str, float]
    pilot_runs: int
    pilot_stages: int
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the estimate is, when not plain


@dataclass
class LevelReach:
    """How many runs ever reached a level, the share, its interval and when."""

    reached: int
    p: Num
    lo: Num
    hi: Num
    time_median: Num
    time_p90: Num


@dataclass
class PathShare:
    path: str
    count: int
    share: Num


@dataclass
class MetricStats:
    n: int
    mean: Num
    sd: Num
    min: Num
    max: Num


@dataclass
class RunErrorSample:
    run: int
    error: str


@dataclass
class Summary:
    """A batch (or one sweep point) summarised."""

    runs: int  # runs that completed
    failed: int
    outcomes: dict[str, OutcomeEstimate]
    levels: dict[str, LevelReach]
    paths: list[PathShare]
    distinct_paths: int
    mean_end_time: Num
    metrics: dict[str, MetricStats] = field(default_factory=dict)
    errors: list[RunErrorSample] = field(default_factory=list)
    interval: str = "95% Wilson score"
    time_quantiles: str = ""
    scenario: str = ""
    seed: int = 0
    parameters: dict[str, Any] = field(default_factory=dict)
    overrides: dict[str, Any] = field(default_factory=dict)
    status: str = "complete"
    point: int = 0
    precision: float | None = None
    runs_cap: int | None = None
    tracks: dict[str, list[str]] = field(default_factory=dict)
    """With several escalation tracks: each track's rungs (``levels`` holds them all)."""
    rare: RareEstimate | None = None
    """A rare-event estimate: every probability here is weighted (see :class:`RareEstimate`);
    path shares, metrics and times are of the tilted runs and are left out."""

    def as_dict(self) -> dict[str, Any]:
        """Plain data (NaN where a value is undefined; strict JSON writers turn it to null)."""
        data = asdict(self)
        if self.rare is None:
            del data["rare"]
        for o in data["outcomes"].values():
            for key in ("se", "method", "ess"):
                if o[key] is None:
                    del o[key]
        return data

    @classmethod
    def from_dict(cls, data: Any, where: str = "summary") -> Summary:
        try:
            summary = _SUMMARY.validate_python(data)
        except ValidationError as exc:
            raise ResultsError(f"{where}: not a valid summary: "
                               f"{exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}") from None
        summary.check(where)
        return summary

    def check(self, where: str, outcomes: list[str] | None = None,
              levels: list[str] | None = None) -> None:
        """Refuse numbers no batch produces: counts outside the runs, probabilities outside
        [0, 1] or outside their interval, other outcomes or levels than the scenario's."""
        def bad(what: str) -> ResultsError:
            return ResultsError(f"{where}: {what}; the file was edited or damaged")

        if self.runs < 0 or self.failed < 0:
            raise bad("negative run counts")
        estimates: list[tuple[str, int, float, float, float]] = [
            *((n, e.count, e.p, e.lo, e.hi) for n, e in self.outcomes.items()),
            *((n, e.reached, e.p, e.lo, e.hi) for n, e in self.levels.items())]
        for name, count, p, lo, hi in estimates:
            if not 0 <= count <= self.runs:
                raise bad(f"{name}: count {count} outside 0..{self.runs}")
            if self.runs and not (0 <= lo <= p <= hi <= 1):
                raise bad(f"{name}: probability {p} outside its interval [{lo}, {hi}]")
        if outcomes is not None and list(self.outcomes) != outcomes:
            raise bad("its outcomes are not the scenario's")
        if levels is not None and list(self.levels) != levels:
            raise bad("its levels are not the scenario's ladder")


@dataclass
class SweepSummary:
    """One summary per point of a sweep (paths trimmed)."""

    points: list[Summary]
    kind: str = "sweep"

    def as_dict(self) -> dict[str, Any]:
        return {"points": [p.as_dict() for p in self.points], "kind": self.kind}

    @classmethod
    def from_dict(cls, data: Any, where: str = "summary") -> SweepSummary:
        try:
            return _SWEEP.validate_python(data)
        except ValidationError as exc:
            raise ResultsError(f"{where}: not a valid sweep summary: "
                               f"{exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}") from None


_SUMMARY = TypeAdapter(Summary)
_SWEEP = TypeAdapter(SweepSummary)
