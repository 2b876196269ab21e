"""What a figure needs to know about a results folder: titles, clock, ladder, outcomes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sim.errors import ResultsError
from sim.formatting import DAYS_PER_UNIT, title_with_overrides
from sim.results import Results, load_results
from sim.scenario.dates import Calendar, DateError, looks_like_date

__all__ = ["FolderContext", "context_of"]

_UNIT_DAYS = DAYS_PER_UNIT


@dataclass
class FolderContext:
    """The facts about a results folder that every figure uses."""

    results: Results
    name: str
    title: str
    runs: int
    seed: int
    kind: str  # "batch" or "sweep"
    unit: str
    start: dt.date | None
    horizon: float
    levels: list[str]
    start_level: str
    outcomes: list[str]
    terminal: set[str] = field(default_factory=set)

    @property
    def path(self) -> Path:
        return self.results.path

    def heading(self, what: str) -> str:
        """``<what>`` over ``<scenario title> - N runs, seed S`` (three lines when long)."""
        tail = f"{self.runs:,} runs, seed {self.seed}"
        if len(self.title) + len(tail) > 75:
            return f"{what}\n{self.title}\n{tail}"
        return f"{what}\n{self.title} - {tail}"

    @property
    def dated(self) -> bool:
        return self.start is not None and self.unit in _UNIT_DAYS

    def to_axis(self, t: Any) -> Any:
        """Clock times as calendar dates (when the scenario has a start date) or as is."""
        values = np.asarray(t, dtype=float)
        if not self.dated:
            return values
        assert self.start is not None
        base = np.datetime64(self.start.isoformat(), "s")
        seconds = np.round(values * _UNIT_DAYS[self.unit] * 86400).astype("timedelta64[s]")
        return base + seconds

    def time_label(self) -> str:
        if self.dated:
            return "date"
        return f"time ({self.unit}s)" if self.unit else "time"


def _runs(res: Results) -> int:
    if res.summary is None:
        raise ResultsError(f"{res.path}: no summary yet (status {res.manifest.status}); "
                           f"finish or resume the batch first")
    return sum(s.runs for s in res.point_summaries())


def _horizon(value: Any, start: dt.date | None, unit: str) -> float:
    """The horizon in clock units; a file may give it as a date."""
    if looks_like_date(value):
        try:
            return Calendar(start, unit).time_of(value)
        except DateError:
            return 0.0
    return float(value or 0)


def context_of(results: Results | str | Path) -> FolderContext:
    """Read the context of a results folder (or take a loaded one)."""
    res = results if isinstance(results, Results) else load_results(results)
    doc = res.scenario
    clock = doc.get("clock") or {}
    start = clock.get("start")
    try:
        start_date = dt.date.fromisoformat(str(start)) if start else None
    except ValueError:
        start_date = None
    ladder = [lv["id"] if isinstance(lv, dict) else str(lv) for lv in doc.get("ladder", [])]
    outcomes = [o["id"] for o in doc.get("outcomes", []) if isinstance(o, dict)]
    terminal = {o["id"] for o in doc.get("outcomes", [])
                if isinstance(o, dict) and o.get("terminal")}
    manifest = res.manifest
    title = str(doc.get("title") or doc.get("name") or manifest.scenario.name)
    return FolderContext(
        results=res,
        name=manifest.scenario.name,
        title=title_with_overrides(title, dict(manifest.overrides)),
        runs=_runs(res),
        seed=manifest.seed,
        kind=manifest.kind,
        unit=str(clock.get("unit", "") or ""),
        start=start_date,
        horizon=_horizon(clock.get("horizon"), start_date, str(clock.get("unit") or "day")),
        levels=ladder,
        start_level=str(doc.get("start_level") or (ladder[0] if ladder else "")),
        outcomes=outcomes,
        terminal=terminal,
    )
