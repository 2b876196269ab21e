"""Typed summaries of a batch (``summary.json``): what the console, the report and
``--json`` all show, from one set of classes."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Annotated, Any

from pydantic import BeforeValidator, TypeAdapter, ValidationError

from sim.errors import ResultsError

__all__ = ["LevelReach", "MetricStats", "OutcomeEstimate", "PathShare", "RunErrorSample",
           "Summary", "SweepSummary"]


def _nan_for_null(v: Any) -> Any:
    return math.nan if v is None else v


Num = Annotated[float, BeforeValidator(_nan_for_null)]


@dataclass
class OutcomeEstimate:
    """How many runs ended in an outcome, its share ``p`` and 95% interval."""

    count: int
    p: Num
    lo: Num
    hi: Num


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

    def as_dict(self) -> dict[str, Any]:
        """Plain data (NaN where a value is undefined; strict JSON writers turn it to null)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any, where: str = "summary") -> Summary:
        try:
            return _SUMMARY.validate_python(data)
        except ValidationError as exc:
            raise ResultsError(f"{where}: not a valid summary: "
                               f"{exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}") from None


@dataclass
class SweepSummary:
    """One summary per point of a sweep (paths trimmed)."""

    points: list[Summary]
    kind: str = "sweep"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any, where: str = "summary") -> SweepSummary:
        try:
            return _SWEEP.validate_python(data)
        except ValidationError as exc:
            raise ResultsError(f"{where}: not a valid sweep summary: "
                               f"{exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}") from None


_SUMMARY = TypeAdapter(Summary)
_SWEEP = TypeAdapter(SweepSummary)
