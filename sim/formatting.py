"""Numbers, times and parameter values as text: one formatter for the console, the report
and the figures, so no two views can disagree."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

__all__ = ["ClockInfo", "fmt_diff", "fmt_interval", "fmt_num", "fmt_p", "fmt_small",
           "title_with_overrides"]

DAYS_PER_UNIT = {"day": 1.0, "days": 1.0, "week": 7.0, "weeks": 7.0, "hour": 1 / 24,
                 "hours": 1 / 24}


def _missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def fmt_p(p: Any) -> str:
    """A probability to three decimals; ``-`` when undefined. One below 0.001 but not zero
    (45 runs in 300,000) shows two significant digits (``0.00015``), never ``0.000`` or a
    ``0.001`` that hides its interval's width."""
    if _missing(p):
        return "-"
    x = float(p)
    return f"{x:#.2g}" if 0 < abs(x) < 0.001 else f"{x:.3f}"


def fmt_diff(d: Any) -> str:
    """A difference of probabilities, signed, as :func:`fmt_p` writes them (a significant
    difference of 0.00027 is not ``-0.000``)."""
    if _missing(d):
        return "-"
    x = float(d)
    return f"{x:+#.2g}" if 0 < abs(x) < 0.001 else f"{x:+.3f}"


def fmt_interval(lo: Any, hi: Any) -> str:
    return f"{fmt_p(lo)} - {fmt_p(hi)}"


def fmt_small(p: Any) -> str:
    """A probability that may be small: three significant digits below 0.01."""
    if _missing(p):
        return "-"
    return f"{float(p):#.3g}" if 0 < abs(float(p)) < 0.01 else f"{float(p):.3f}"


def fmt_num(x: Any, spec: str = ".3f") -> str:
    return "-" if _missing(x) else format(x, spec)


@dataclass(frozen=True)
class ClockInfo:
    """A scenario's clock: its unit and, optionally, its start date."""

    unit: str
    start: dt.date | None = None

    @classmethod
    def of_document(cls, doc: dict[str, Any]) -> ClockInfo:
        clock = doc.get("clock") or {}
        start = clock.get("start")
        try:
            day = dt.date.fromisoformat(str(start)) if start else None
        except ValueError:
            day = None
        return cls(str(clock.get("unit") or ""), day)

    @property
    def dated(self) -> bool:
        return self.start is not None and self.unit in DAYS_PER_UNIT

    def date(self, t: float) -> dt.date | None:
        """The calendar date of clock time ``t`` (None when undated or out of range)."""
        if not self.dated or _missing(t):
            return None
        assert self.start is not None
        try:
            return self.start + dt.timedelta(days=float(t) * DAYS_PER_UNIT[self.unit])
        except (OverflowError, ValueError):
            return None

    def time(self, t: Any) -> str:
        """``45 d, 03 Jan 2025`` when dated; ``45.0 weeks`` otherwise."""
        if _missing(t):
            return "-"
        unit = self.unit.rstrip("s")
        short = {"day": "d", "week": "wk", "hour": "h"}.get(unit, unit)
        day = self.date(t)
        if day is not None:
            return f"{float(t):,.0f} {short}, {day.strftime('%d %b %Y')}"
        return f"{float(t):,.1f} {unit}s" if unit else f"{float(t):,.1f}"


def title_with_overrides(title: str, overrides: dict[str, Any]) -> str:
    """A title that says which parameters were set: ``Title [intercept_prob=0.9]``."""
    from sim.results.provenance import override_label

    label = override_label(overrides)
    return f"{title} [{label}]" if label else title
