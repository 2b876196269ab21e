"""What a figure needs to know about a results folder: titles, clock, escalation tracks,
outcome dimensions."""

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
from sim.scenario.schema import DimensionInfo, TrackInfo

__all__ = ["FolderContext", "context_of", "outcome_text", "rung_text"]

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
    levels: list[str]  # every rung, track by track
    start_level: str  # the first track's start
    outcomes: list[str]  # every outcome label (``dim=class`` with several dimensions)
    terminal: set[str] = field(default_factory=set)
    tracks: list[TrackInfo] = field(default_factory=list)
    dimensions: list[DimensionInfo] = field(default_factory=list)

    @property
    def several_tracks(self) -> bool:
        return len(self.tracks) > 1

    @property
    def several_dimensions(self) -> bool:
        return len(self.dimensions) > 1

    def track_of(self, rung: str) -> TrackInfo:
        """The track a rung is on (rung names are unique across tracks)."""
        return next((t for t in self.tracks if rung in t.levels), self.tracks[0])

    def dimension_groups(self, labels: list[str] | None = None) -> list[tuple[str, list[str]]]:
        """The outcome labels (default: all) grouped by dimension, in the scenario's order:
        ``(dimension, labels)``; one unnamed group with a single dimension. Labels the
        scenario does not declare go in a last group of their own."""
        wanted = list(self.outcomes) if labels is None else list(labels)
        out: list[tuple[str, list[str]]] = []
        for d in self.dimensions:
            mine = [lb for lb in (d.label(o.id) for o in d.outcomes) if lb in wanted]
            if mine:
                out.append((d.name, mine))
        known = {lb for _, group in out for lb in group}
        rest = [lb for lb in wanted if lb not in known]
        if rest:
            out.append(("", rest))
        return out

    def outcome_index(self, label: str, fallback: int = 0) -> int:
        """The style index of an outcome label: its place among every label, so each label
        keeps its colour in every figure and the classes of a dimension differ."""
        return self.outcomes.index(label) if label in self.outcomes else fallback

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


def outcome_text(label: str) -> str:
    """An outcome label as figure text: ``war: ceasefire`` for ``war=ceasefire``."""
    dim, eq, cls = label.partition("=")
    return (f"{dim}: {cls}" if eq else label).replace("_", " ")


def rung_text(name: str) -> str:
    """A rung as figure text, its track left off (``heavy strikes`` for
    ``intensity:heavy_strikes``): rung names are unique across tracks."""
    return name.rpartition(":")[2].replace("_", " ")


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
    res.refuse_rare("figures and reports")
    doc = res.scenario
    clock = doc.get("clock") or {}
    start = clock.get("start")
    try:
        start_date = dt.date.fromisoformat(str(start)) if start else None
    except ValueError:
        start_date = None
    try:
        spec = res.spec
    except ResultsError:  # a document this version does not validate: read it as it is
        spec = None
    if spec is not None:
        tracks, dimensions = spec.tracks, spec.dimensions
    else:
        ladder = [lv["id"] if isinstance(lv, dict) else str(lv)
                  for lv in doc.get("ladder", [])]
        first = ladder.index(doc["start_level"]) if doc.get("start_level") in ladder else 0
        tracks = [TrackInfo("", ladder, first, ("ladder",))]
        dimensions = []
    ladder = [lv for t in tracks for lv in t.levels]
    if dimensions:
        outcomes = [d.label(o.id) for d in dimensions for o in d.outcomes]
        terminal = {d.label(o.id) for d in dimensions for o in d.outcomes if o.terminal}
    else:
        outcomes = [o["id"] for o in doc.get("outcomes", []) if isinstance(o, dict)]
        terminal = {o["id"] for o in doc.get("outcomes", [])
                    if isinstance(o, dict) and o.get("terminal")}
    first_track = tracks[0] if tracks and tracks[0].levels else None
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
        start_level=first_track.levels[first_track.start] if first_track else "",
        outcomes=outcomes,
        terminal=terminal,
        tracks=tracks,
        dimensions=dimensions,
    )
