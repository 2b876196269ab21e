"""Observation files: what actually happened after a scenario's start, for backtests and
calibration. Written apart from the scenario (which stays as of its start date)::

    scenario: ../bryansk_atacms_2024.yaml       # optional; the command line wins
    sources: [{id: reuters, title: "..."}]       # as in scenarios
    observations:
      - {id: first_signal, event: nuclear_signal, by: 2024-11-25, source: {ref: reuters, note: ...}}
      - {id: salient_lost, when: "kursk.held_km2 <= 0", on: 2025-04-26, window: 14}
      - {id: no_nuclear_use, not: "level >= nuclear_use", by: 2025-11-19}
      - {id: no_ceasefire, outcome: ongoing}

What each observation says of a run: ``event: ACTION`` (the action executed), ``when:
EXPR`` (the condition became true: checked as a ``when:`` trigger is, at the start and
whenever something it reads changes), ``level: RUNG`` or ``TRACK:RUNG`` (the level reached
the rung), ``outcome: CLASS`` or ``DIM=CLASS`` (the run's class), ``not: EXPR`` (the
condition never became true). ``by: DATE`` holds when it happened at or before the date;
``on: DATE`` with ``window: DAYS`` when it happened within the window (in clock units);
``after: DATE`` counts only what happened from that date on. The time of a dated
observation in a run is the first time it happened (from ``after``). Times are dates
(with the scenario's ``clock.start``) or clock numbers.

The runs watch the observations without taking part (engine probes: they neither draw,
count as events nor change anything), so every run is the run the scenario alone gives
with the same seed; the runs table gets ``observed.<id>``, each one's first time.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sim.engine.plan import ProbeSpec
from sim.errors import Problem, ScenarioError
from sim.scenario import Scenario
from sim.scenario.dates import Calendar, DateError, looks_like_date
from sim.scenario.documents import read_model
from sim.scenario.expressions import ExpressionError, compile_expression, did_you_mean
from sim.scenario.fields import Ident, Name
from sim.scenario.loader import read_document
from sim.scenario.schema import Source
from sim.scenario.yamlfile import MarkedDict, locate

__all__ = ["ACTOR", "Observation", "ObservationFile", "Resolved", "load_observations",
           "places_of", "probes_of", "resolve"]

ACTOR = "observed"
"""The prefix of the observations' columns in a backtest's runs table."""
MAX_OBSERVATIONS = 1000


class ObsCitation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ref: Ident
    note: str | None = None


Time = Annotated[Any, Field(description="a date (YYYY-MM-DD) or a clock time")]


class Observation(BaseModel):
    """One thing observed: exactly one of ``event``, ``when``, ``level``, ``outcome``,
    ``not``; dated with ``by`` or ``on`` (+ ``window``)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: Name
    event: Ident | None = None
    when: str | None = None
    level: str | None = None
    outcome: str | None = None
    not_: str | None = Field(default=None, alias="not")
    by: Time = None
    on: Time = None
    window: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    after: Time = None
    source: ObsCitation | None = None
    doc: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Observation:
        kinds = [k for k in ("event", "when", "level", "outcome", "not_")
                 if getattr(self, k) is not None]
        if len(kinds) != 1:
            named = ", ".join(k.rstrip("_") for k in kinds) or "none"
            raise ValueError(f"give exactly one of event, when, level, outcome, not; "
                             f"got {named}")
        if self.by is not None and self.on is not None:
            raise ValueError("give by (at or before a date) or on (within a window), not both")
        if self.on is not None and self.window is None:
            raise ValueError("on: needs window: (clock units either side of the date)")
        if self.window is not None and self.on is None:
            raise ValueError("window: goes with on:")
        if self.outcome is not None and (self.by is not None or self.on is not None
                                         or self.after is not None):
            raise ValueError("an outcome is the run's class at its end: it takes no date")
        if self.not_ is not None and self.on is not None:
            raise ValueError("not: says something never happened: date it with by:, not on:")
        return self

    @property
    def kind(self) -> str:
        return next(k.rstrip("_") for k in ("event", "when", "level", "outcome", "not_")
                    if getattr(self, k) is not None)


Finite = Annotated[float, Field(allow_inf_nan=False)]
PositiveFinite = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class NormalPrior(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mean: Finite
    sd: PositiveFinite


class LognormalPrior(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mu: Finite
    sigma: PositiveFinite


class BetaPrior(BaseModel):
    model_config = ConfigDict(extra="forbid")
    a: PositiveFinite
    b: PositiveFinite


class Prior(BaseModel):
    """A calibration prior of one parameter: exactly one kind, truncated to the range the
    calibration varies the parameter over (uniform on it when none is given)."""

    model_config = ConfigDict(extra="forbid")

    normal: NormalPrior | None = None
    lognormal: LognormalPrior | None = None
    beta: BetaPrior | None = None
    triangular: tuple[Finite, Finite, Finite] | None = None

    @model_validator(mode="after")
    def _one(self) -> Prior:
        given = [k for k in ("normal", "lognormal", "beta", "triangular")
                 if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of normal, lognormal, beta, triangular; got "
                             f"{', '.join(given) or 'none'}")
        if self.triangular is not None:
            lo, mode, hi = self.triangular
            if not lo <= mode <= hi or lo == hi:
                raise ValueError(f"triangular needs low <= mode <= high (low < high), got "
                                 f"{list(self.triangular)}")
        return self

    def density(self, x: np.ndarray) -> np.ndarray:
        """The (unnormalised) density at ``x``."""
        from scipy import stats

        if self.normal is not None:
            return np.asarray(stats.norm.pdf(x, self.normal.mean, self.normal.sd))
        if self.lognormal is not None:
            return np.asarray(stats.lognorm.pdf(x, self.lognormal.sigma,
                                                scale=math.exp(self.lognormal.mu)))
        if self.beta is not None:
            return np.asarray(stats.beta.pdf(x, self.beta.a, self.beta.b))
        assert self.triangular is not None
        lo, mode, hi = self.triangular
        c = (mode - lo) / (hi - lo)
        return np.asarray(stats.triang.pdf(x, c, loc=lo, scale=hi - lo))

    def describe(self) -> str:
        for kind in ("normal", "lognormal", "beta"):
            value = getattr(self, kind)
            if value is not None:
                args = ", ".join(f"{k}={v:g}" for k, v in value.model_dump().items())
                return f"{kind}({args})"
        assert self.triangular is not None
        return "triangular(" + ", ".join(f"{v:g}" for v in self.triangular) + ")"


class ObservationFile(BaseModel):
    """An observation file's content."""

    model_config = ConfigDict(extra="forbid")

    scenario: str | None = None
    sources: list[Source] = Field(default_factory=list)
    priors: dict[str, Prior] = Field(default_factory=dict)
    observations: Annotated[list[Observation], Field(min_length=1,
                                                     max_length=MAX_OBSERVATIONS)]

    @field_validator("observations")
    @classmethod
    def _unique(cls, v: list[Observation]) -> list[Observation]:
        seen: set[str] = set()
        for o in v:
            if o.id in seen:
                raise ValueError(f"duplicate observation id '{o.id}'")
            seen.add(o.id)
        return v


_KEYS = frozenset({"observations"})


@dataclass
class Loaded:
    """An observation file, read: its content, where its parts are, its scenario path."""

    content: ObservationFile
    tree: MarkedDict
    file: str
    scenario: Path | None


def load_observations(path: str | os.PathLike[str]) -> Loaded:
    """Read an observation file with the scenarios' safe reader; problems are located."""
    file = Path(path)
    content, tree = read_model(file, ObservationFile, _KEYS, "observation")
    scenario = (file.parent / content.scenario) if content.scenario else None
    return Loaded(content, tree, str(file), scenario)


@dataclass(frozen=True)
class Resolved:
    """An observation checked against a scenario: its kind, what it names, its times in
    clock units (``lo``/``hi``: the range it must fall in; ``after``: counted from), and
    the observed date (``date``: ``by`` or ``on``) and the date it is known by
    (``dated``: ``by``, or the end of the ``on`` window); both None for an outcome or an
    undated observation."""

    id: str
    kind: str
    target: str  # action, expression text, rung, or outcome label
    lo: float
    hi: float
    after: float
    date: float | None
    dated: float | None
    observation: Observation


def resolve(loaded: Loaded, sc: Scenario) -> list[Resolved]:
    """Check every observation against the scenario; all problems at once, located in the
    observation file."""
    spec = sc.spec
    calendar = Calendar.of(spec.clock)
    horizon = float(spec.clock.horizon)
    problems: list[Problem] = []
    out: list[Resolved] = []
    sources = {s.id for s in loaded.content.sources}

    def problem(i: int, key: str, message: str) -> None:
        mark, _ = locate(loaded.tree, ("observations", i, key))
        line, col = (mark.line, mark.column) if mark is not None else (0, 0)
        problems.append(Problem(loaded.file, line, col, f"observations[{i}].{key}", message))

    def time(i: int, key: str, value: Any) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool):
            problem(i, key, f"expected a date or a clock time, got {value!r}")
            return None
        if isinstance(value, (int, float)):
            t = float(value)
        elif looks_like_date(value):
            try:
                t = calendar.time_of(value)
            except DateError as exc:
                problem(i, key, str(exc))
                return None
        else:
            problem(i, key, f"expected a date (YYYY-MM-DD) or a clock time, got {value!r}")
            return None
        if not (math.isfinite(t) and t >= 0):
            problem(i, key, f"a time must be >= 0, got {t:g}")
            return None
        if t > horizon:
            problem(i, key, f"{calendar.shown(t)} is after the scenario's horizon "
                            f"({calendar.shown(horizon)}): no run can say")
            return None
        return t

    labels = spec.outcome_labels
    named_dims = len(spec.dimensions) > 1
    bare = [o.id for d in spec.dimensions for o in d.outcomes]
    outcomes = {lab: lab for lab in labels}
    if named_dims:
        outcomes.update({b: next(lab for lab in labels if lab.endswith(f"={b}"))
                         for b in bare if bare.count(b) == 1})
    rungs = set(spec.level_ids)
    tracks = {t.name: t.levels for t in spec.tracks}
    for i, o in enumerate(loaded.content.observations):
        key = o.kind if o.kind != "not" else "not"
        target = ""
        if o.source is not None and o.source.ref not in sources:
            problem(i, "source", f"unknown source '{o.source.ref}'"
                                 f"{did_you_mean(o.source.ref, sources)}")
        if o.event is not None:
            target = o.event
            if o.event not in spec.actions:
                names = list(spec.actions)
                problem(i, key, f"unknown action '{o.event}'"
                                f"{did_you_mean(o.event, spec.actions)}; actions are: "
                                f"{', '.join(names[:12])}{', ...' if len(names) > 12 else ''}")
        elif o.when is not None or o.not_ is not None:
            target = str(o.when if o.when is not None else o.not_)
            try:
                compiled = compile_expression(target, sc.symbols)
            except ExpressionError as exc:
                problem(i, key, str(exc))
            else:
                if compiled.reads_time:
                    problem(i, key, "a condition observed may not read t (it would be "
                                    "checked only when the state changes): date it with "
                                    "by:, on: or after: instead")
        elif o.level is not None:
            track, colon, rung = o.level.rpartition(":")
            target = rung
            if colon and not track:
                problem(i, key, f"'{o.level}': name the track before ':' (TRACK:RUNG), or "
                                f"write the rung alone")
            elif rung not in rungs:
                problem(i, key, f"unknown level '{rung}'{did_you_mean(rung, rungs)}")
            elif track and (track not in tracks or rung not in tracks[track]):
                problem(i, key, f"'{rung}' is not a rung of track '{track}'")
        else:
            assert o.outcome is not None
            target = outcomes.get(o.outcome, "")
            if not target:
                shown = "DIMENSION=CLASS" if named_dims else "outcome"
                problem(i, key, f"unknown {shown} '{o.outcome}'"
                                f"{did_you_mean(o.outcome, list(outcomes))}; outcomes are: "
                                f"{', '.join(labels)}")
        by, on, after = time(i, "by", o.by), time(i, "on", o.on), time(i, "after", o.after)
        lo, hi, date, dated = (after or 0.0), horizon, None, None
        if by is not None:
            hi, date, dated = by, by, by
        if on is not None:
            w = float(o.window or 0.0)
            lo, hi, date = max(on - w, after or 0.0), min(on + w, horizon), on
            dated = hi
        if after is not None and after > hi:
            problem(i, "after", "after: is later than the date the observation is due by")
        if after is not None and o.level is not None:
            problem(i, "after", "after: is not available for level: (the runs record the "
                                "first time a rung is reached); write when: level >= RUNG")
        out.append(Resolved(o.id, o.kind, target, lo, hi, after or 0.0, date, dated, o))
    if ACTOR in spec.actors:
        problems.append(Problem(loaded.file, 0, 0, "", f"the scenario has an actor "
                                                       f"'{ACTOR}', whose columns would "
                                                       f"collide with the observations'"))
    if problems:
        raise ScenarioError(problems)
    return out


def places_of(loaded: Loaded) -> dict[str, str]:
    """Where each observation's event or condition is written: ``FILE:LINE:COL: path``."""
    out = {}
    for i, o in enumerate(loaded.content.observations):
        key = o.kind
        mark, _ = locate(loaded.tree, ("observations", i, key))
        line, col = (mark.line, mark.column) if mark is not None else (0, 0)
        out[o.id] = f"{loaded.file}:{line}:{col}: observations[{i}].{key}"
    return out


def probes_of(resolved: list[Resolved], where: dict[str, str]) -> list[ProbeSpec]:
    """What the runs must watch for the observations: the first time of each event or
    condition (levels and outcomes are in the runs table already)."""
    out = []
    for r in resolved:
        if r.kind == "event":
            out.append(ProbeSpec(r.id, "event", r.target, r.after, where.get(r.id, "")))
        elif r.kind in ("when", "not"):
            out.append(ProbeSpec(r.id, "condition", r.target, r.after, where.get(r.id, "")))
    return out


def is_observation_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` holds an observation file: a YAML mapping with ``observations``."""
    file = Path(path)
    tree = read_document(file, str(file), _KEYS, [], what="observation")
    return tree is not None


def describe_observation_file(path: str | os.PathLike[str]) -> str:
    """Check an observation file (against the scenario it names) and describe it in one
    line. Raises :class:`ScenarioError` with the problems found."""
    from sim.scenario import load_scenario

    loaded = load_observations(path)
    n = len(loaded.content.observations)
    how = f"check it with escalation backtest --observed {path}"
    if loaded.scenario is None:
        return f"an observation file without a scenario ({how} SCENARIO): {n} observations"
    resolved = resolve(loaded, load_scenario(loaded.scenario))
    dated = sum(r.dated is not None for r in resolved)
    return (f"an observation file: {n} observations ({dated} dated) checked against "
            f"{loaded.scenario}; {how}")
