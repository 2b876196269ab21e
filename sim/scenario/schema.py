"""The scenario format as pydantic models: what keys exist, their types and literal limits.

Cross-references (an action's actor, a trigger's ``on:`` action, names inside
expressions) are checked afterwards by :mod:`sim.scenario.checks`, so that every
problem in a file can be reported in one pass.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from sim.scenario.dates import UNIT_DAYS, Calendar, DateError, looks_like_date
from sim.scenario.distributions import Dist, DistSpec
from sim.scenario.effects import Effect
from sim.scenario.fields import (
    Base,
    Expr,
    Flag,
    Ident,
    Name,
    NonNegative,
    Number,
    Probability,
    Whole,
    fits_float,
    number_only,
)
from sim.scenario.rates import Rate

__all__ = [
    "Action",
    "Actor",
    "Citation",
    "Clock",
    "DimensionInfo",
    "Dist",
    "DistSpec",
    "Effect",
    "Level",
    "LevelItem",
    "Limits",
    "Metric",
    "MetricItem",
    "Outcome",
    "Parameter",
    "ParameterItem",
    "ScenarioSpec",
    "Source",
    "Track",
    "TrackInfo",
    "Trigger",
    "Whole",
]


MAX_EVENTS = 10_000_000
"""Ceiling of ``limits.max_events``: events (actions and triggers) in one run."""
MAX_SECONDS = 3600.0
"""Ceiling of ``limits.max_seconds``: CPU seconds one run may take."""
MAX_HORIZON = 1e9
"""Ceiling of ``clock.horizon``, in clock units."""

_SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")


def _slug(value: str) -> str:
    if not _SLUG.match(value):
        raise ValueError(f"'{value}' is not a valid scenario name: use letters, digits, "
                         f"'_', '.' and '-' (at most 80), starting with a letter or digit")
    return value


def _listify(value: Any) -> Any:
    return [value] if isinstance(value, (bool, int, float, str)) else value


# --- provenance -------------------------------------------------------------------------------


class Source(Base):
    """A document the scenario draws on; cite it by ``id``."""

    id: Ident
    title: str
    publisher: str | None = None
    date: str | None = None
    url: str | None = None
    file: str | None = None
    note: str | None = None


class Citation(Base):
    """Where a number comes from: a source id, the fact in the modeller's own words, the
    ``evidence`` (short excerpts of the source's document holding the figure) and, when
    the value is not literally in them, its ``derivation`` (arithmetic over their numbers)."""

    ref: Ident
    note: str
    evidence: Annotated[list[str] | None, BeforeValidator(_listify)] = None
    derivation: Expr | None = None


class Cited(Base):
    """Mixin: a ``source:`` citation, or an ``assumption:`` with its reason (optionally
    ``informed_by`` a source id)."""

    doc: str | None = None
    source: Citation | None = None
    assumption: str | None = None
    informed_by: Ident | None = None


# --- clock, parameters, ladder, actors ---------------------------------------------------------


class Clock(Base):
    """The run's clock: its unit, an optional start date and the horizon (at most
    :data:`MAX_HORIZON` units, or a date after the start; with a start date, the end must
    be a date Python holds)."""

    unit: str = "day"
    start: dt.date | None = None
    horizon: Annotated[Number, Field(gt=0, le=MAX_HORIZON, allow_inf_nan=False)]

    @field_validator("horizon", mode="before")
    @classmethod
    def _horizon_date(cls, value: Any, info: ValidationInfo) -> Any:
        """A horizon written as a date: its clock time from the start."""
        if not looks_like_date(value):
            return value
        if "start" not in info.data:  # the start is invalid: reported on its own
            raise ValueError("a date needs a valid clock.start")
        calendar = Calendar(info.data["start"], str(info.data.get("unit", "day")))
        try:
            t = calendar.time_of(value)
        except DateError as exc:
            raise ValueError(str(exc)) from None
        if t <= 0:
            raise ValueError(f"the horizon ({str(value).strip()}) must be after the clock's "
                             f"start")
        return t

    @model_validator(mode="after")
    def _end_is_a_date(self) -> Clock:
        if self.start is None:
            return self
        days = self.horizon * UNIT_DAYS.get(self.unit, 1.0)
        left = (dt.date.max - self.start).days
        if days > left:
            raise ValueError(f"the clock runs past {dt.date.max.isoformat()}, the last date "
                             f"it can show: from {self.start.isoformat()} at most {left:,} "
                             f"days, got {self.horizon:g} {self.unit}s")
        return self


def _param_shorthand(value: Any) -> Any:
    return {"value": value} if isinstance(value, (bool, int, float)) else value


def _parameter_value(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    return fits_float(number_only(value))


class Parameter(Cited):
    """A named, sweepable number or flag."""

    value: Annotated[bool | int | float, BeforeValidator(_parameter_value)]
    range: tuple[Number, Number] | None = None
    choices: list[Number] | None = None
    integer: Flag = False
    unit: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Parameter:
        v = self.value
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError(f"value must be finite, got {v}")
        if self.range is not None:
            lo, hi = self.range
            if not lo <= hi:
                raise ValueError(f"range low must be <= high, got [{lo}, {hi}]")
            if isinstance(v, bool):
                raise ValueError("a boolean parameter takes no range")
            if not lo <= v <= hi:
                raise ValueError(f"value {v} is outside its range [{lo}, {hi}]")
        if self.choices is not None and not isinstance(v, bool) and v not in self.choices:
            raise ValueError(f"value {v} is not one of its choices {self.choices}")
        if self.integer and (isinstance(v, bool) or float(v) != int(v)):
            raise ValueError(f"an integer parameter needs a whole value, got {v}")
        return self


def _level_shorthand(value: Any) -> Any:
    return {"id": value} if isinstance(value, str) else value


class Level(Base):
    """One rung of the escalation ladder."""

    id: Name
    doc: str | None = None


LevelItem = Annotated[Level, BeforeValidator(_level_shorthand)]


def _track_shorthand(value: Any) -> Any:
    return {"rungs": value} if isinstance(value, list) else value


class Track(Base):
    """One escalation track of ``ladders:``: its rungs in order and the rung a run
    starts on (the first unless ``start`` names another)."""

    rungs: Annotated[list[LevelItem], Field(min_length=2)]
    start: Ident | None = None
    doc: str | None = None


TrackItem = Annotated[Track, BeforeValidator(_track_shorthand)]


@dataclass(frozen=True)
class TrackInfo:
    """A track as the engine sees it: ``name`` ('' for a single ``ladder:``), its rung
    ids, the rank it starts on, and where it is written (``ladder`` or ``ladders.NAME``)."""

    name: str
    levels: list[str]
    start: int
    path: tuple[str, ...]

    def label(self, rung: str) -> str:
        """A rung as paths and tables name it: ``track:rung`` on several tracks."""
        return f"{self.name}:{rung}" if self.name else rung


@dataclass(frozen=True)
class DimensionInfo:
    """An outcome dimension: ``name`` ('' for a single list) and its outcomes."""

    name: str
    outcomes: list[Outcome]
    path: tuple[str, ...]

    def label(self, outcome: str) -> str:
        """An outcome as summaries name it: ``dimension=class`` with several dimensions."""
        return f"{self.name}={outcome}" if self.name else outcome


class Actor(Cited):
    """A party and its state variables (numbers, flags, or expressions of parameters)."""

    vars: dict[Name, Expr] = Field(default_factory=dict)


# --- effects, actions, triggers ---------------------------------------------------------------


class Action(Cited):
    """Something an actor does: at fixed times (``at``), recurring (``every``), as a Poisson
    process (``rate``, see :mod:`sim.scenario.rates`), or only when fired by an effect (none
    of the three)."""

    actor: Ident | None = None
    at: Annotated[list[NonNegative] | None, BeforeValidator(_listify)] = None
    every: Dist | None = None
    rate: Rate | None = None
    active: Flag = True
    requires: Expr | None = None
    draws: dict[Name, Dist] = Field(default_factory=dict)
    effects: list[Effect] = Field(default_factory=list)
    milestone: Flag = False

    @model_validator(mode="after")
    def _timing(self) -> Action:
        given = [k for k in ("at", "every", "rate") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"give at most one of at, every, rate; got {', '.join(given)}")
        return self

    @property
    def recurring(self) -> bool:
        return self.every is not None or self.rate is not None


class Trigger(Cited):
    """A rule: ``on`` an action's event or ``when`` a condition becomes true, ``if`` a guard
    holds, with a ``probability``, ``after`` a delay, ``do`` effects."""

    on: Annotated[list[Ident] | None, BeforeValidator(_listify)] = None
    when: Expr | None = None
    if_: Expr | None = Field(default=None, alias="if")
    probability: Probability = 1.0
    after: Dist | None = None
    once: Flag = False
    max: Annotated[Whole, Field(ge=1)] | None = None
    cooldown: Annotated[Number, Field(ge=0, allow_inf_nan=False)] | None = None
    do: list[Effect] = Field(default_factory=list)
    milestone: Flag = False

    @model_validator(mode="after")
    def _on_or_when(self) -> Trigger:
        if (self.on is None) == (self.when is None):
            raise ValueError("give exactly one of on (an action) or when (a condition)")
        return self

    @property
    def limit(self) -> int | None:
        return 1 if self.once else self.max


class Outcome(Base):
    """A named end state. Terminal outcomes end a run as soon as ``when`` holds."""

    id: Ident
    when: Expr | None = None
    terminal: Flag = False
    default: Flag = False
    doc: str | None = None

    @model_validator(mode="after")
    def _default_plain(self) -> Outcome:
        if self.default and (self.terminal or self.when is not None):
            raise ValueError("the default outcome takes neither when nor terminal")
        return self


def _metric_shorthand(value: Any) -> Any:
    return {"expr": value} if isinstance(value, (bool, int, float, str)) else value


class Metric(Base):
    """A named expression recorded at the end of every run."""

    expr: Expr
    doc: str | None = None


class Limits(Base):
    """Safety limits of one run: events (at most :data:`MAX_EVENTS`) and CPU seconds (at
    most :data:`MAX_SECONDS`). A run past either fails, recorded with its error."""

    max_events: Annotated[Whole, Field(ge=1, le=MAX_EVENTS)] = 100_000
    max_seconds: Annotated[Number, Field(gt=0, le=MAX_SECONDS, allow_inf_nan=False)] = 10.0


ParameterItem = Annotated[Parameter, BeforeValidator(_param_shorthand)]
OutcomeList = Annotated[list[Outcome], Field(min_length=1)]


def _outcomes_kind(value: Any) -> str:
    return "dimensions" if isinstance(value, dict) else "list"
MetricItem = Annotated[Metric, BeforeValidator(_metric_shorthand)]


class ScenarioSpec(Base):
    """A whole scenario file (after ``extends:`` has been merged)."""

    name: Annotated[str, AfterValidator(_slug)]
    title: str | None = None
    description: str | None = None
    extends: str | None = None
    sources: list[Source] = Field(default_factory=list)
    clock: Clock
    parameters: dict[Name, ParameterItem] = Field(default_factory=dict)
    ladder: Annotated[list[LevelItem], Field(min_length=2)] | None = None
    ladders: Annotated[dict[Name, TrackItem], Field(min_length=1)] | None = None
    start_level: Ident | None = None
    actors: dict[Name, Actor] = Field(default_factory=dict)
    actions: dict[Name, Action] = Field(default_factory=dict)
    triggers: dict[Ident, Trigger] = Field(default_factory=dict)
    outcomes: Annotated[
        Annotated[OutcomeList, Tag("list")]
        | Annotated[Annotated[dict[Name, OutcomeList], Field(min_length=1)], Tag("dimensions")],
        Discriminator(_outcomes_kind)]
    metrics: dict[Ident, MetricItem] = Field(default_factory=dict)
    limits: Limits = Field(default_factory=Limits)
    format: Literal[1] = 1

    @model_validator(mode="after")
    def _one_ladder(self) -> ScenarioSpec:
        if (self.ladder is None) == (self.ladders is None):
            raise ValueError("give exactly one of ladder (a list of rungs) or ladders "
                             "(named tracks, each a list of rungs)")
        if self.ladders is not None and self.start_level is not None:
            raise ValueError("start_level goes with a single ladder; with ladders, give "
                             "each track's start: ladders: {NAME: {rungs: [...], start: RUNG}}")
        return self

    @property
    def tracks(self) -> list[TrackInfo]:
        """The escalation tracks, in file order (one unnamed track for ``ladder:``)."""
        if self.ladders is None:
            ids = [lv.id for lv in self.ladder or []]
            start = ids.index(self.start_level) if self.start_level in ids else 0
            return [TrackInfo("", ids, start, ("ladder",))]
        out = []
        for name, track in self.ladders.items():
            ids = [lv.id for lv in track.rungs]
            start = ids.index(track.start) if track.start in ids else 0
            out.append(TrackInfo(name, ids, start, ("ladders", name)))
        return out

    @property
    def dimensions(self) -> list[DimensionInfo]:
        """The outcome dimensions, in file order (one unnamed one for a list)."""
        if isinstance(self.outcomes, dict):
            return [DimensionInfo(name, list(items), ("outcomes", name))
                    for name, items in self.outcomes.items()]
        return [DimensionInfo("", list(self.outcomes), ("outcomes",))]

    @property
    def outcome_labels(self) -> list[str]:
        """Every outcome as summaries name it, dimension by dimension."""
        return [d.label(o.id) for d in self.dimensions for o in d.outcomes]

    @property
    def level_ids(self) -> list[str]:
        """Every rung id, track by track (rung ids are unique across tracks)."""
        return [lv for t in self.tracks for lv in t.levels]

    @property
    def start_rank(self) -> int:
        return self.tracks[0].start
