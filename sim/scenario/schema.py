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
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from sim.scenario.dates import UNIT_DAYS, Calendar, DateError, looks_like_date, parse_date
from sim.scenario.distributions import Dist, DistSpec
from sim.scenario.effects import Effect
from sim.scenario.fields import (
    END,
    Base,
    Expr,
    Flag,
    Ident,
    Name,
    NonNegative,
    Number,
    Probability,
    Whole,
    exactly_one,
    fits_float,
    given,
    json_rules,
    not_both,
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
MAX_RUNGS = 1000
"""Rungs of one track (or of ``ladder:``), and of all tracks together."""
MAX_TRACKS = 64
"""Tracks of ``ladders:``."""
MAX_OUTCOMES = 1000
"""Outcomes of one list or dimension, and of all dimensions together."""
MAX_DIMENSIONS = 64
"""Dimensions of ``outcomes:``."""

_SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,79}")
SLUG_PATTERN = f"^{_SLUG.pattern}{END}"
DATE_PATTERN = (r"^\s*(?!0000)[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])\s*"
                f"{END}")
"""A date as the loader reads one (YYYY-MM-DD; whether the day exists in its month is
left to the loader)."""
CLOCK_UNITS = tuple(UNIT_DAYS)
"""The clock's units: each has a length in days, so that dates can be read as times."""


def _at_most(cap: int, what: str) -> BeforeValidator:
    """Refuse a list or mapping longer than ``cap`` before validating its items (so that a
    huge one fails at once): ``what`` is the message, with ``{cap}`` and ``{n}``."""
    def check(value: Any) -> Any:
        if isinstance(value, (list, dict)) and len(value) > cap:
            raise ValueError(what.format(cap=cap, n=len(value)))
        return value

    return BeforeValidator(check)


def _slug(value: str) -> str:
    if not _SLUG.fullmatch(value):
        raise ValueError(f"'{value}' is not a valid scenario name: use letters, digits, "
                         f"'_', '.' and '-' (at most 80), starting with a letter or digit")
    return value


def _listify(value: Any) -> Any:
    return [value] if isinstance(value, (bool, int, float, str)) else value


def _one_or_list(item: Any) -> BeforeValidator:
    """Accept one item for a list of one (``on: strike`` for ``on: [strike]``)."""
    return BeforeValidator(_listify, json_schema_input_type=item | list[item] | None)


# --- provenance -------------------------------------------------------------------------------


class Source(Base):
    """A document the scenario draws on; cite it by ``id``."""

    id: Annotated[Ident, Field(examples=["bold"])]
    """The id citations use (``source: {ref: ID}``, ``informed_by: ID``)."""
    title: Annotated[str, Field(examples=["Ukraine Fires U.S.-Made ATACMS Missiles into Russia"])]
    """The document's title."""
    publisher: Annotated[str | None, Field(examples=["The National Interest"])] = None
    """Who published it."""
    date: Annotated[str | None, Field(examples=["2024-11-19"])] = None
    """When it was published, as written."""
    url: Annotated[str | None, Field(examples=["https://example.org/article"])] = None
    """Where it can be found."""
    file: Annotated[str | None, Field(examples=["000_67064f67a26f993f.txt"])] = None
    """The document's file name in the sources folder (``validate --sources DIR``), which
    holds the excerpts of its citations' ``evidence``."""
    note: Annotated[str | None, Field(examples=["an opinion piece; figures as reported"])] = None
    """Anything a reader should know about the source."""


class Citation(Base):
    """Where a number comes from: a source id, the fact in the modeller's own words, the
    ``evidence`` (short excerpts of the source's document holding the figure) and, when
    the value is not literally in them, its ``derivation`` (arithmetic over their numbers)."""

    ref: Annotated[Ident, Field(examples=["bold"])]
    """The ``id`` of the source cited."""
    note: Annotated[str, Field(examples=["Russia said it shot down five of the six"])]
    """The fact, in the modeller's own words."""
    evidence: Annotated[list[str] | None, _one_or_list(str), Field(
        examples=[["intercepting five of the six missiles"]])] = None
    """Short excerpts of the source's document (at most 12 words each) that hold the figure;
    one text or a list."""
    derivation: Annotated[Expr | None, Field(examples=["5/6"])] = None
    """The arithmetic (numbers and ``+ - * / **``) that turns the excerpts' numbers into the
    value, when it is not literally among them."""


class Cited(Base):
    """Mixin: a ``source:`` citation, or an ``assumption:`` with its reason (optionally
    ``informed_by`` a source id)."""

    doc: Annotated[str | None, Field(examples=["share of ATACMS missiles intercepted"])] = None
    """What it is, in a line."""
    source: Annotated[Citation | None, Field(examples=[
        {"ref": "bold", "note": "Russia said it shot down five of the six"}])] = None
    """Where its numbers come from: a citation of one of the ``sources``."""
    assumption: Annotated[str | None, Field(
        examples=["a scarce missile is fired sparingly; roughly two salvos a month"])] = None
    """Its numbers are a judgement: the reason for it."""
    informed_by: Annotated[Ident | None, Field(examples=["tactical"])] = None
    """The ``id`` of a source that shaped the assumption (with ``assumption:`` only)."""


# --- clock, parameters, ladder, actors ---------------------------------------------------------


class Clock(Base):
    """The run's clock: its unit, an optional start date and the horizon (at most 1e9
    units, or a date after the start; with a start date, the run must end by
    9999-12-31)."""

    model_config = ConfigDict(json_schema_extra=json_rules(
        {"if": {"required": ["horizon"], "properties": {"horizon": {"type": "string"}}},
         "then": given("start")}))

    unit: Annotated[str, AfterValidator(_clock_unit), WithJsonSchema(
        {"enum": list(CLOCK_UNITS)}), Field(examples=["day"])] = "day"
    """The unit of every time in the file (``at``, delays, intervals, ``horizon``) and of
    every rate (events per unit): day, week or hour (or their plurals)."""
    start: Annotated[dt.date | None, BeforeValidator(_start_date), WithJsonSchema(
        {"anyOf": [{"type": "string", "pattern": DATE_PATTERN, "format": "date"},
                   {"type": "null"}]}), Field(examples=["2024-11-19"])] = None
    """The date of time 0 (YYYY-MM-DD): times may then be written as dates, and results
    show dates."""
    horizon: Annotated[Number, Field(gt=0, le=MAX_HORIZON, allow_inf_nan=False,
                                     examples=[365, "2025-11-19"]),
                       WithJsonSchema({"anyOf": [
                           {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_HORIZON},
                           {"type": "string", "pattern": DATE_PATTERN, "format": "date"}]})]
    """When a run ends: a time in clock units (at most 1e9), or a date after ``start``."""

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


def _clock_unit(value: str) -> str:
    if value not in UNIT_DAYS:
        raise ValueError(f"unknown clock unit '{value}': use day, week or hour (or their "
                         f"plurals); a time in another unit is a number of these (a fortnight "
                         f"is 2 weeks, a month about 30 days)")
    return value


def _start_date(value: Any) -> Any:
    """The clock's start: a date, written YYYY-MM-DD (never a number of seconds)."""
    if value is None or (isinstance(value, dt.date) and not isinstance(value, dt.datetime)):
        return value
    if not isinstance(value, str):
        raise ValueError(f"the start is a date: write YYYY-MM-DD, got {value!r}")
    try:
        return parse_date(value)
    except DateError as exc:
        raise ValueError(str(exc)) from None


def _param_shorthand(value: Any) -> Any:
    return {"value": value} if isinstance(value, (bool, int, float)) else value


def _parameter_value(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    return fits_float(number_only(value))


class Parameter(Cited):
    """A named, sweepable number or flag."""

    model_config = ConfigDict(json_schema_extra=json_rules(
        {"if": {"required": ["integer"], "properties": {"integer": {"const": True}}},
         "then": {"properties": {"value": {"type": "integer"}}}},
        {"if": {"required": ["value"], "properties": {"value": {"type": "boolean"}}},
         "then": {"properties": {"range": {"type": "null"}}}}))

    value: Annotated[bool | int | float, BeforeValidator(_parameter_value),
                     Field(examples=[0.83, 6, True])]
    """Its value: a number or a flag (``true``/``false``). A bare value stands for the
    whole parameter: ``salvo_size: 6`` is ``salvo_size: {value: 6}``."""
    range: Annotated[tuple[Number, Number] | None, Field(examples=[[0.5, 0.95]])] = None
    """``[low, high]``: the values a sweep or a sensitivity analysis may give it; the value
    lies within (numbers only)."""
    choices: Annotated[list[Number] | None, Field(examples=[[2, 4, 6]])] = None
    """The only values it may take (the value is one of them)."""
    integer: Annotated[Flag, Field(examples=[True])] = False
    """Whether it is a whole number (its value, and the values sweeps give it)."""
    unit: Annotated[str | None, Field(examples=["missiles", "km"])] = None
    """Its unit, for people: any text. Write units here, never in expressions (rates are
    per clock unit)."""

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
    """One rung of the escalation ladder; its name alone for short."""

    id: Annotated[Name, Field(examples=["deep_strikes"])]
    """The rung's name (expressions read it as its rank: 0 for the first)."""
    doc: Annotated[str | None, Field(examples=["strikes deep inside Russia"])] = None
    """What the rung means."""


LevelItem = Annotated[Level, BeforeValidator(_level_shorthand,
                                             json_schema_input_type=Name | Level)]


def _track_shorthand(value: Any) -> Any:
    return {"rungs": value} if isinstance(value, list) else value


class Track(Base):
    """One escalation track of ``ladders:``: its rungs in order and the rung a run
    starts on (the first unless ``start`` names another)."""

    rungs: Annotated[list[LevelItem], Field(min_length=2, max_length=MAX_RUNGS,
                                            examples=[["bilateral", "regional", "alliance"]]),
                     _at_most(MAX_RUNGS, "a track has at most {cap:,} rungs; this one has {n:,}")]
    """The track's rungs, lowest first (at least two, at most 1,000)."""
    start: Annotated[Ident | None, Field(examples=["bilateral"])] = None
    """The rung a run starts on (the first when left out)."""
    doc: Annotated[str | None, Field(examples=["who is fighting"])] = None
    """What the track measures."""


TrackItem = Annotated[Track, BeforeValidator(
    _track_shorthand,
    json_schema_input_type=Annotated[list[LevelItem], Field(min_length=2, max_length=MAX_RUNGS)]
    | Track)]


def _rungs_in_all(tracks: dict[str, Track] | None) -> dict[str, Track] | None:
    n = sum(len(t.rungs) for t in (tracks or {}).values())
    if n > MAX_RUNGS:
        raise ValueError(f"at most {MAX_RUNGS:,} rungs in all; these tracks have {n:,}")
    return tracks


def _outcomes_in_all(dims: dict[str, list[Outcome]]) -> dict[str, list[Outcome]]:
    n = sum(len(items) for items in dims.values())
    if n > MAX_OUTCOMES:
        raise ValueError(f"at most {MAX_OUTCOMES:,} outcomes in all; these dimensions have "
                         f"{n:,}")
    return dims


@dataclass(frozen=True)
class TrackInfo:
    """A track as the engine sees it: ``name`` ('' for a single ``ladder:``), its rung
    ids, the rank it starts on, and where it is written (``ladder`` or ``ladders.NAME``)."""

    name: str
    levels: list[str]
    start: int
    path: tuple[str, ...]

    def label(self, rung: str) -> str:
        """A rung as paths and tables name it: ``track:rung`` on named tracks."""
        return f"{self.name}:{rung}" if self.name else rung


@dataclass(frozen=True)
class DimensionInfo:
    """An outcome dimension: ``name`` ('' for a single list) and its outcomes."""

    name: str
    outcomes: list[Outcome]
    path: tuple[str, ...]

    def label(self, outcome: str) -> str:
        """An outcome as summaries name it: ``dimension=class`` with named dimensions."""
        return f"{self.name}={outcome}" if self.name else outcome


class Actor(Cited):
    """A party and its state variables (numbers, flags, or expressions of parameters)."""

    vars: dict[Name, Expr] = Field(default_factory=dict,
                                   examples=[{"atacms": "initial_atacms", "support": True}])
    """Its state variables and their starting values: numbers, flags, or expressions of
    parameters. Expressions read them as ``actor.var``."""


# --- effects, actions, triggers ---------------------------------------------------------------


class Action(Cited):
    """Something an actor does: at fixed times (``at``), recurring (``every``), as a Poisson
    process (``rate``), or only when fired by an effect (none of the three)."""

    model_config = ConfigDict(json_schema_extra=json_rules(
        not_both("at", "every"), not_both("at", "rate"), not_both("every", "rate")))

    actor: Annotated[Ident | None, Field(examples=["ukraine"])] = None
    """The actor doing it (for people; the run does not depend on it)."""
    at: Annotated[list[NonNegative] | None, _one_or_list(NonNegative),
                  Field(examples=[[0, 30], "2025-01-20"])] = None
    """Fixed times: one or a list (numbers, expressions of parameters, or dates)."""
    every: Annotated[Dist | None, Field(examples=[{"exponential": {"mean": 10}}, 30])] = None
    """Recurring: the distribution of the wait before each occurrence (a bare number waits
    that long each time)."""
    rate: Annotated[Rate | None, Field(examples=[0.1, "raid_rate * (1 + level)"])] = None
    """A Poisson process: events per clock unit (see the rate's forms)."""
    active: Annotated[Flag, Field(examples=[False])] = True
    """``false``: a recurring action waits for a ``start:`` effect."""
    requires: Annotated[Expr | None, Field(examples=["ukraine.atacms >= salvo_size"])] = None
    """A condition: when false, the occurrence is skipped (a recurring action waits for its
    next)."""
    draws: dict[Name, Dist] = Field(
        default_factory=dict,
        examples=[{"hits": {"binomial": {"n": "salvo_size", "p": "1 - intercept_prob"}}}])
    """Named random values drawn each time, in order; later draws, effects and the triggers
    listening to the action read them by name."""
    effects: list[Effect] = Field(default_factory=list, examples=[
        [{"add": {"ukraine.atacms": "-salvo_size"}}, {"escalate": 1}]])
    """What it does, in order."""
    milestone: Annotated[Flag, Field(examples=[True])] = False
    """Whether it appears in run paths."""

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

    model_config = ConfigDict(json_schema_extra=json_rules(exactly_one(("on", "when"))),
                              validate_by_name=False, validate_by_alias=True)  # `if`, never `if_`

    on: Annotated[list[Ident] | None, _one_or_list(Ident),
                  Field(examples=["atacms_salvo", ["strike", "raid"]])] = None
    """The action (or list of actions) whose every occurrence is checked."""
    when: Annotated[Expr | None, Field(examples=["level >= infrastructure_war"])] = None
    """A condition: the trigger is checked each time it turns from false to true."""
    if_: Expr | None = Field(default=None, alias="if", examples=["hits > 0"])
    """A guard, checked when triggered: false means nothing happens. With ``on:`` it may
    read the event's draws."""
    probability: Annotated[Probability, Field(examples=[0.5, "retaliation_prob"])] = 1.0
    """The chance the effects follow, drawn each time."""
    after: Annotated[Dist | None, Field(examples=[{"uniform": [1, 7]}])] = None
    """A delay before the effects (a distribution, or a date with ``clock.start``)."""
    once: Annotated[Flag, Field(examples=[True])] = False
    """Fire at most once per run."""
    max: Annotated[Annotated[Whole, Field(ge=1)] | None, Field(examples=[3])] = None
    """Fire at most this many times per run."""
    cooldown: Annotated[Annotated[Number, Field(ge=0, allow_inf_nan=False)] | None,
                        Field(examples=[30])] = None
    """After firing, ignore triggering for this long (clock units)."""
    do: list[Effect] = Field(default_factory=list, examples=[[{"fire": "massed_strike"}]])
    """The effects, in order."""
    milestone: Annotated[Flag, Field(examples=[True])] = False
    """Whether its firing appears in run paths."""

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

    model_config = ConfigDict(json_schema_extra=json_rules(
        {"if": {"required": ["default"], "properties": {"default": {"const": True}}},
         "then": {"properties": {"terminal": {"const": False}, "when": {"type": "null"}}}}))

    id: Annotated[Ident, Field(examples=["ceasefire"])]
    """The outcome's name."""
    when: Annotated[Expr | None, Field(examples=["level >= nuclear_use"])] = None
    """Its condition."""
    terminal: Annotated[Flag, Field(examples=[True])] = False
    """End the run the moment ``when`` holds (else it classifies the run at the end)."""
    default: Annotated[Flag, Field(examples=[True])] = False
    """The outcome of a run no other one claims (exactly one per list, without ``when``)."""
    doc: Annotated[str | None, Field(examples=["a nuclear weapon is used"])] = None
    """What it means."""

    @model_validator(mode="after")
    def _default_plain(self) -> Outcome:
        if self.default and (self.terminal or self.when is not None):
            raise ValueError("the default outcome takes neither when nor terminal")
        return self


def _metric_shorthand(value: Any) -> Any:
    return {"expr": value} if isinstance(value, (bool, int, float, str)) else value


class Metric(Base):
    """A named expression recorded at the end of every run; the expression alone for
    short."""

    expr: Annotated[Expr, Field(examples=["ukraine.atacms"])]
    """The expression, evaluated at the end of the run."""
    doc: Annotated[str | None, Field(examples=["ATACMS missiles left"])] = None
    """What it measures."""


class Limits(Base):
    """Safety limits of one run: events and CPU seconds. A run past either fails,
    recorded with its error."""

    max_events: Annotated[Whole, Field(ge=1, le=MAX_EVENTS, examples=[500_000])] = 100_000
    """Events (actions and triggers) one run may have before it fails (at most 10,000,000)."""
    max_seconds: Annotated[Number, Field(gt=0, le=MAX_SECONDS, allow_inf_nan=False,
                                         examples=[30])] = 10.0
    """CPU seconds one run may take before it fails (at most 3,600)."""


ParameterItem = Annotated[Parameter, BeforeValidator(
    _param_shorthand, json_schema_input_type=bool | float | Parameter)]
OutcomeList = Annotated[list[Outcome], Field(min_length=1, max_length=MAX_OUTCOMES), _at_most(
    MAX_OUTCOMES, "at most {cap:,} outcomes; this list has {n:,}")]
DimensionList = Annotated[list[Outcome], Field(min_length=1, max_length=MAX_OUTCOMES), _at_most(
    MAX_OUTCOMES, "at most {cap:,} outcomes in a dimension; this one has {n:,}")]


def _outcomes_kind(value: Any) -> str:
    return "dimensions" if isinstance(value, dict) else "list"
MetricItem = Annotated[Metric, BeforeValidator(_metric_shorthand,
                                               json_schema_input_type=Expr | Metric)]


class ScenarioSpec(Base):
    """A whole scenario file (after ``extends:`` has been merged)."""

    model_config = ConfigDict(json_schema_extra=json_rules(
        exactly_one(("ladder", "ladders")), not_both("ladders", "start_level")))

    name: Annotated[str, AfterValidator(_slug), WithJsonSchema(
        {"type": "string", "pattern": SLUG_PATTERN}), Field(examples=["bryansk_atacms_2024"])]
    """The scenario's name: letters, digits, ``_``, ``.`` and ``-`` (at most 80), starting
    with a letter or digit; results folders are named after it."""
    title: Annotated[str | None, Field(
        examples=["ATACMS strikes on Bryansk and what may follow"])] = None
    """A title for people."""
    description: Annotated[str | None, Field(
        examples=["How likely is each outcome within a year of the first strike?"])] = None
    """What the scenario models and asks."""
    extends: Annotated[str | None, Field(examples=["../bryansk_atacms_2024.yaml"])] = None
    """Another scenario file (relative to this one) that this one changes: see variants."""
    sources: list[Source] = Field(default_factory=list, examples=[
        [{"id": "bold", "title": "Ukraine Fires U.S.-Made ATACMS Missiles into Russia"}]])
    """The documents the numbers are cited from."""
    clock: Annotated[Clock, Field(examples=[{"unit": "day", "start": "2024-11-19",
                                             "horizon": 365}])]
    """The clock: its unit, start date and horizon."""
    parameters: dict[Name, ParameterItem] = Field(default_factory=dict, examples=[
        {"salvo_size": {"value": 6, "range": [2, 12], "integer": True,
                        "assumption": "a typical salvo"}}])
    """Named numbers and flags: sweepable, each cited or an assumption."""
    ladder: Annotated[Annotated[list[LevelItem], Field(min_length=2, max_length=MAX_RUNGS),
                                _at_most(MAX_RUNGS, "a ladder has at most {cap:,} rungs; this "
                                                    "one has {n:,}")] | None, Field(
        examples=[["contained", "deep_strikes", "nuclear_use"]])] = None
    """One escalation ladder: its rungs, lowest first (at least two, at most 1,000; give
    this or ``ladders``)."""
    ladders: Annotated[Annotated[dict[Name, TrackItem], Field(min_length=1, max_length=MAX_TRACKS),
                                 _at_most(MAX_TRACKS, "at most {cap} tracks; this scenario "
                                                      "has {n}"),
                                 AfterValidator(_rungs_in_all)] | None, Field(
        examples=[{"intensity": ["skirmishes", "heavy_strikes"],
                   "scope": {"rungs": ["bilateral", "regional"], "start": "bilateral"}}])] = None
    """Named escalation tracks (at most 64, with 1,000 rungs in all), each a list of rungs
    or ``{rungs, start, doc}`` (give this or ``ladder``)."""
    start_level: Annotated[Ident | None, Field(examples=["deep_strikes"])] = None
    """The rung of ``ladder`` a run starts on (the first when left out)."""
    actors: dict[Name, Actor] = Field(default_factory=dict, examples=[
        {"ukraine": {"vars": {"atacms": 50}}}])
    """The parties, by name, and their state."""
    actions: dict[Name, Action] = Field(default_factory=dict, examples=[
        {"salvo": {"actor": "ukraine", "every": {"exponential": 12}}}])
    """What the actors do, by name."""
    triggers: dict[Ident, Trigger] = Field(default_factory=dict, examples=[
        {"retaliation": {"on": "salvo", "probability": 0.5, "do": [{"escalate": 1}]}}])
    """Rules that react to actions and conditions, by name."""
    outcomes: Annotated[
        Annotated[OutcomeList, Tag("list")]
        | Annotated[Annotated[dict[Name, DimensionList],
                              Field(min_length=1, max_length=MAX_DIMENSIONS),
                              _at_most(MAX_DIMENSIONS, "at most {cap} outcome dimensions; this "
                                                       "scenario has {n}"),
                              AfterValidator(_outcomes_in_all)], Tag("dimensions")],
        Discriminator(_outcomes_kind),
        Field(examples=[[{"id": "nuclear_use", "when": "level >= nuclear_use",
                          "terminal": True}, {"id": "prolonged_war", "default": True}]])]
    """How a run ends: a list of outcomes, or named dimensions each a list (a run gets one
    outcome in each); at most 1,000 outcomes in all, and 64 dimensions."""
    metrics: dict[Ident, MetricItem] = Field(default_factory=dict, examples=[
        {"atacms_left": "ukraine.atacms"}])
    """Named expressions recorded at the end of every run."""
    limits: Limits = Field(default_factory=Limits, examples=[{"max_events": 500_000}])
    """Safety limits of one run."""
    format: Annotated[Literal[1], BeforeValidator(number_only), Field(examples=[1])] = 1
    """The version of the file format (1, the only one so far)."""

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

    def outcome_label(self, name: str) -> str | None:
        """The label of the outcome ``name`` stands for: a label as summaries write it
        (``DIMENSION=CLASS`` with named dimensions, however many; the class alone for a
        single list), or a class no other dimension has; None for an unknown name or a
        class of several dimensions."""
        labels = self.outcome_labels
        if name in labels:
            return name
        found = [d.label(o.id) for d in self.dimensions for o in d.outcomes if o.id == name]
        return found[0] if len(found) == 1 else None

    @property
    def level_ids(self) -> list[str]:
        """Every rung id, track by track (rung ids are unique across tracks)."""
        return [lv for t in self.tracks for lv in t.levels]

    @property
    def start_rank(self) -> int:
        return self.tracks[0].start
