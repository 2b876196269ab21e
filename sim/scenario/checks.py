"""Cross-reference checks and expression compilation over a (possibly partial) scenario.

Every problem is collected with the dotted path of the value at fault; the
loader turns paths into file, line and column.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sim.scenario.bounds import below_bound, max_below_message, state_ranges, value_range
from sim.scenario.dates import Calendar, DateError, looks_like_date
from sim.scenario.distributions import DistSpec, distribution_arguments
from sim.scenario.effects import Effect
from sim.scenario.expressions import (
    RESERVED,
    CompiledExpression,
    ExpressionError,
    Hints,
    Symbols,
    compile_expression,
    listing,
    namespace_for,
)
from sim.scenario.fields import Path
from sim.scenario.rates import RateSpec
from sim.scenario.schema import Action, Cited, DimensionInfo, ScenarioSpec

__all__ = ["COLUMN_ACTORS", "Checked", "Path", "PathProblem", "build_symbols", "check_scenario",
           "dotted"]

COLUMN_ACTORS = {
    "outcome": "outcome.DIMENSION",
    "final_level": "final_level.TRACK",
    "max_level": "max_level.TRACK",
    "time_to": "time_to.RUNG",
    "metric": "metric.NAME",
    "observed": "observed.ID, a backtest's",
}
"""Actor names the runs table's columns begin with: an actor's variables are columns
``actor.var``, so these would collide (``count`` is reserved for expressions already)."""


@dataclass(frozen=True)
class PathProblem:
    """A problem at a path of the document; ``offset`` is a column inside an expression."""

    path: Path
    message: str
    offset: int = 0
    key: bool = False


@dataclass
class Checked:
    """What the checks produce: problems, warnings, and compiled expressions by path."""

    problems: list[PathProblem] = field(default_factory=list)
    expressions: dict[Path, CompiledExpression] = field(default_factory=dict)
    warnings: list[PathProblem] = field(default_factory=list)


def dotted(path: Path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def build_symbols(spec: ScenarioSpec) -> Symbols:
    """Lay out the run state: every actor variable, then each track's level, then action
    counts. A rung's name stands for its rank on its track.

    A partial spec (one whose validation failed) may carry ``clock=None``: its dates are
    then not checked."""
    actor_vars: dict[str, dict[str, int]] = {}
    slot = 0
    for actor, a in spec.actors.items():
        actor_vars[actor] = {}
        for var in a.vars:
            actor_vars[actor][var] = slot
            slot += 1
    tracks = spec.tracks
    level_slot = slot
    named = {t.name: level_slot + i for i, t in enumerate(tracks) if t.name}
    counts = {name: level_slot + len(tracks) + i for i, name in enumerate(spec.actions)}
    levels: dict[str, int] = {}
    for t in tracks:
        for rank, rung in enumerate(t.levels):
            levels.setdefault(rung, rank)
    return Symbols(
        parameters={name: p.value for name, p in spec.parameters.items()},
        actor_vars=actor_vars,
        levels=levels,
        counts=counts,
        level_slot=level_slot,
        tracks=named,
        calendar=Calendar.of(spec.clock),
    )


class _Checker:
    def __init__(self, spec: ScenarioSpec, where: Callable[[Path], str], complete: bool,
                 rebuilt: bool = False) -> None:
        self.spec = spec
        self.complete = complete
        self.rebuilt = rebuilt
        self.out = Checked()
        self.symbols = build_symbols(spec)
        self.where = where
        self.sources = {s.id for s in spec.sources}
        self.levels = set(spec.level_ids)
        self.tracks = {t.name: t.levels for t in spec.tracks}
        # an outcome by its label (DIMENSION=CLASS with named dimensions, however many),
        # or by a class no other dimension has
        self.outcome_classes: dict[str, list[str]] = {}
        for d in spec.dimensions:
            for o in d.outcomes:
                self.outcome_classes.setdefault(o.id, []).append(d.label(o.id))
        self.outcomes = {label for labels in self.outcome_classes.values() for label in labels}
        self.outcomes |= {c for c, labels in self.outcome_classes.items() if len(labels) == 1}
        self.hints: dict[str, Hints] = {}  # by kind of name: one bounded index each

    def problem(self, path: Path, message: str, offset: int = 0, key: bool = False) -> None:
        self.out.problems.append(PathProblem(path, message, offset, key))

    def warn(self, path: Path, message: str, offset: int = 0) -> None:
        self.out.warnings.append(PathProblem(path, message, offset))

    def expr(self, path: Path, source: Any, payload: tuple[str, ...] = (),
             static: bool = False) -> None:
        if source is None:
            return
        try:
            compiled = compile_expression(source, self.symbols, payload,
                                          where=self.where(path))
        except ExpressionError as exc:
            self.problem(path, str(exc), exc.offset)
            return
        if static and not compiled.static:
            self.problem(path, "this value is fixed at the start of a run: it may use "
                               "parameters and numbers only")
            return
        for offset, text, t in compiled.dates:
            self.beyond(path, text, t, offset)
        self.out.expressions[path] = compiled

    def beyond(self, path: Path, text: str, t: float, offset: int = 0) -> None:
        """Warn of a date past the horizon (it is never reached)."""
        calendar = self.symbols.calendar
        if calendar.beyond(t):
            self.warn(path, f"{text} is after the horizon ({calendar.shown(calendar.horizon)})"
                            f": a run never reaches it", offset)

    def time(self, path: Path, source: Any, constant: bool = False) -> None:
        """A point in time: a date (with ``clock.start``), else a number or, unless
        ``constant``, an expression of parameters."""
        if source is None:
            return
        if looks_like_date(source):
            text = str(source).strip()
            try:
                t = self.symbols.calendar.time_of(source)
            except DateError as exc:
                self.problem(path, str(exc))
                return
            self.beyond(path, text, t)
            self.out.expressions[path] = CompiledExpression(
                text=text, code=None, literal=t, where=self.where(path), date=text)
            return
        if constant and (isinstance(source, bool) or not isinstance(source, (int, float))):
            self.problem(path, f"a time here is a number or a date (YYYY-MM-DD), got "
                               f"'{source}'")
            return
        self.expr(path, source, static=True)

    def dist(self, dist: DistSpec | None, path: Path, payload: tuple[str, ...] = (),
             time: bool = False) -> None:
        """Compile a distribution's arguments; a delay or interval may not be negative."""
        if dist is None:
            return
        floor = {(*path, dist.kind, *sub) for sub in dist.entry.delay_floor} if time else set()
        if time and dist.kind == "constant" and isinstance(dist.args, bool):
            self.problem(path, f"a delay or interval is a length of time, got a flag "
                               f"({str(dist.args).lower()})")
            return
        if time and dist.kind == "constant" and looks_like_date(dist.args):
            if path[-1] == "after":  # wait until that date
                self.time((*path, dist.kind), dist.args)
            else:
                self.problem(path, "this is a length of time, not a date")
            return
        for arg_path, value in distribution_arguments(dist, path):
            self.expr(arg_path, value, payload)
            negative = isinstance(value, (int, float)) and not isinstance(value, bool) \
                and value < 0
            if negative and arg_path in floor:
                self.problem(arg_path, f"a delay or interval must be >= 0, got {value}")

    def hint(self, name: str, known: set[str] | Mapping[str, Any], what: str) -> str:
        hints = self.hints.get(what)
        if hints is None:
            hints = self.hints[what] = Hints(known)
        return hints.suggest(name)

    def ref(self, path: Path, name: str, known: set[str] | Mapping[str, Any], what: str) -> None:
        if name not in known:
            names = sorted(known) if isinstance(known, (set, frozenset)) else list(known)
            choices = listing(f"{what.split(' ')[0]}s", names)
            self.problem(path, f"unknown {what} '{name}'{self.hint(name, known, what)}; "
                               f"{choices}")

    def cited(self, item: Cited, path: Path) -> None:
        if item.source is not None:
            self.ref((*path, "source", "ref"), item.source.ref, self.sources, "source")
        if item.informed_by is not None:
            self.ref((*path, "informed_by"), item.informed_by, self.sources, "source")
            if not item.assumption:
                self.problem((*path, "informed_by"), "informed_by goes with assumption: "
                                                     "(a judgement informed by a source)")

    def run(self) -> Checked:
        spec = self.spec
        self.names()
        self.track_checks()
        seen: set[str] = set()
        for i, src in enumerate(spec.sources):
            if src.id in seen:
                self.problem(("sources", i, "id"), f"duplicate source id '{src.id}'")
            seen.add(src.id)
        for name, p in spec.parameters.items():
            self.cited(p, ("parameters", name))
        for actor, a in spec.actors.items():
            self.cited(a, ("actors", actor))
            for var, value in a.vars.items():
                self.expr(("actors", actor, "vars", var), value, static=True)
        for name, _action in spec.actions.items():
            self.action(name)
        for name in spec.triggers:
            self.trigger(name)
        self.outcome_checks()
        for name, m in spec.metrics.items():
            self.expr(("metrics", name, "expr"), m.expr)
        return self.out

    def names(self) -> None:
        owners: dict[str, str] = {}
        groups: list[tuple[str, Any]] = [
            ("parameters", self.spec.parameters),
            ("actors", self.spec.actors),
        ]
        for section, names in groups:
            for name in names:
                if name in RESERVED:
                    self.problem((section, name), f"'{name}' is a reserved name", key=True)
                elif section == "actors" and name in COLUMN_ACTORS \
                        and not (self.rebuilt and name == "observed"):
                    self.problem((section, name), f"'{name}' is reserved for the runs table's "
                                                  f"columns ({COLUMN_ACTORS[name]}): name the "
                                                  f"actor otherwise", key=True)
                elif name in owners:
                    self.problem((section, name),
                                 f"'{name}' is already a name in {owners[name]}", key=True)
                owners.setdefault(name, section)
        for track in self.spec.tracks:
            for i, rung in enumerate(track.levels):
                if rung in RESERVED:
                    self.problem((*track.path, i), f"'{rung}' is a reserved name")
                elif rung in owners:
                    self.problem((*track.path, i), f"'{rung}' is already a name in "
                                                   f"{owners[rung]}")

    def track_checks(self) -> None:
        """Rungs are unique across all tracks (a rung's name says its track); each
        track's start is one of its rungs."""
        spec = self.spec
        if spec.start_level is not None:
            self.ref(("start_level",), spec.start_level, self.levels, "level")
        seen: dict[str, str] = {}
        for track in spec.tracks:
            rungs_path = (*track.path, "rungs") if track.name else track.path
            for i, rung in enumerate(track.levels):
                if rung in seen:
                    other = f" (also on track '{seen[rung]}')" if seen[rung] != track.name \
                        else ""
                    self.problem((*rungs_path, i), f"duplicate level '{rung}'{other}: rung "
                                                   f"names are unique across tracks")
                seen.setdefault(rung, track.name)
            if track.name and spec.ladders is not None:
                start = spec.ladders[track.name].start
                if start is not None:
                    self.ref((*track.path, "start"), start, set(track.levels),
                             f"rung of track '{track.name}'")

    def action(self, name: str) -> None:
        action = self.spec.actions[name]
        path: Path = ("actions", name)
        self.cited(action, path)
        if action.actor is not None:
            self.ref((*path, "actor"), action.actor, self.spec.actors, "actor")
        for i, at in enumerate(action.at or []):
            self.time((*path, "at", i), at)
        self.dist(action.every, (*path, "every"), time=True)
        self.rate(action, path)
        self.expr((*path, "requires"), action.requires)
        drawn: list[str] = []
        for draw, dist in action.draws.items():
            if draw in RESERVED or draw in self.spec.parameters or draw in self.spec.actors \
                    or draw in self.levels:
                self.problem((*path, "draws", draw),
                             f"draw name '{draw}' hides another name of the scenario", key=True)
            self.dist(dist, (*path, "draws", draw), tuple(drawn))
            drawn.append(draw)
        self.effects(action.effects, (*path, "effects"), tuple(drawn))

    def rate(self, action: Action, path: Path) -> None:
        """A rate's expressions and times; one that reads ``t`` needs a bound."""
        rate, wait = action.rate, action.every
        at: Path | None = None
        declared = False
        if isinstance(rate, RateSpec) and rate.schedule is not None:
            self.schedule(rate, (*path, "rate", "schedule"))
            return
        if isinstance(rate, RateSpec):
            at = (*path, "rate", "expr")
            self.expr(at, rate.expr)
            self.expr((*path, "rate", "max"), rate.max, static=True)
            declared = rate.max is not None
        elif rate is not None:
            at = (*path, "rate")
            self.expr(at, rate)
        elif wait is not None and wait.kind == "exponential":
            which = "mean" if wait.args.mean is not None else "rate"
            at = (*path, "every", "exponential", which)
        compiled = None if at is None else self.out.expressions.get(at)
        if at is None or compiled is None:
            return
        if compiled.static:
            fixed = self.fixed(compiled)
            if fixed is not None and at[-1] == "mean":
                fixed = 1.0 / fixed if fixed > 0 else None
            if fixed is not None:
                self.crowded(at, fixed, "events")
        if not compiled.reads_time:
            return
        lo, hi = self.range(compiled)
        if declared:  # thinning checks the rate only at its candidates: the max must hold
            bound = self.declared_max((*path, "rate", "max"), hi)
            if bound is not None:
                self.crowded((*path, "rate", "max"), min(bound, hi), "candidates")
            return
        if at[-1] != "mean" and 0 < hi < math.inf:
            self.crowded(at, hi, "candidates")
        if at[-1] == "mean":
            hi = 1.0 / lo if lo > 0 else math.inf
        if hi < 0:  # thinning would never look at it
            self.problem(at, f"this rate is below 0 throughout the run (at most {hi:g})")
        elif not math.isfinite(hi) and self.symbols.calendar.known:
            hint = "rate: {expr: ..., max: B}" if at[-1] != "mean" else \
                "rate: {expr: 1 / (...), max: B} in place of every:"
            self.problem(at, f"this rate reads t, so it is run by thinning, which needs a "
                             f"bound it never exceeds; none follows from the expression: "
                             f"declare one, {hint}")

    def fixed(self, compiled: CompiledExpression) -> float | None:
        """The value of a static expression with the parameters' defaults (None if it
        cannot be computed: the run reports that)."""
        try:
            value = float(compiled.value(namespace_for(self.symbols.parameters)))
        except (ArithmeticError, ValueError, TypeError):
            return None
        return value if math.isfinite(value) else None

    def declared_max(self, path: Path, derived: float) -> float | None:
        """Refuse a declared ``max:`` below the bound derived for its rate (parameters at
        their defaults; the run checks each other parameter point); its value if it
        holds."""
        compiled = self.out.expressions.get(path)
        if compiled is None or not self.symbols.calendar.known:
            return None
        declared = self.fixed(compiled)
        if declared is None:
            return None
        if below_bound(declared, derived):
            self.problem(path, max_below_message(declared, derived))
            return None
        return declared

    def crowded(self, path: Path, rate: float, what: str) -> None:
        """Warn of a rate whose events (or thinning's candidates, each counted as an event)
        by the horizon would pass ``limits.max_events``: a run then fails unless it ends
        sooner."""
        calendar, cap = self.symbols.calendar, self.spec.limits.max_events
        if not calendar.known or not math.isfinite(calendar.horizon):
            return
        expected = rate * calendar.horizon
        if not expected > cap:
            return
        if what == "events":
            self.warn(path, f"at a rate of {rate:g} the action has about {expected:.3g} "
                            f"events by the horizon, more than limits.max_events ({cap:,}): a "
                            f"run fails unless the action stops or the run ends sooner")
        else:
            self.warn(path, f"thinning draws candidates at the bound {rate:g}: about "
                            f"{expected:.3g} by the horizon, each counted as an event, more "
                            f"than limits.max_events ({cap:,}): a run fails unless the action "
                            f"stops or the run ends sooner")

    def range(self, compiled: CompiledExpression) -> tuple[float, float]:
        """The values ``compiled`` can take in a run (parameters at their defaults)."""
        return value_range(compiled.tree, namespace_for(self.symbols.parameters),
                           state_ranges(self.symbols), self.symbols.calendar.horizon)

    def schedule(self, rate: RateSpec, path: Path) -> None:
        """Times increasing from 0 (or the start date), rates that do not read ``t``."""
        assert rate.schedule is not None
        times: list[float] = []
        for k, (when, value) in enumerate(rate.schedule):
            self.time((*path, k, 0), when, constant=True)
            self.expr((*path, k, 1), value)
            compiled = self.out.expressions.get((*path, k, 1))
            if compiled is not None and compiled.reads_time:
                self.problem((*path, k, 1), "a schedule's rate may not read t (it holds "
                                            "from its time to the next); use rate: "
                                            "{expr: ..., max: B}")
            point = self.out.expressions.get((*path, k, 0))
            if point is None:
                return
            t = float(point.literal)
            if not self.symbols.calendar.known:  # dates read as 0: nothing to compare
                continue
            if k == 0 and t != 0.0:
                start = self.symbols.calendar.start
                first = f"0 or {start.isoformat()}" if start else "0"
                self.problem((*path, k, 0), f"a schedule starts at time {first}, got "
                                            f"{point.text}")
            elif times and not t > times[-1]:
                self.problem((*path, k, 0), f"a schedule's times must increase: "
                                            f"{point.text} is not after the previous time")
            times.append(t)

    def trigger(self, name: str) -> None:
        trig = self.spec.triggers[name]
        path: Path = ("triggers", name)
        self.cited(trig, path)
        payload: tuple[str, ...] = ()
        if trig.on is not None:
            lists = []
            for i, act in enumerate(trig.on):
                key: Path = (*path, "on", i) if len(trig.on) > 1 else (*path, "on")
                self.ref(key, act, self.spec.actions, "action")
                if act in self.spec.actions:
                    lists.append(list(self.spec.actions[act].draws))
            if len(lists) < len(trig.on):  # an unknown action: accept any draw name
                payload = tuple(dict.fromkeys(d for a in self.spec.actions.values()
                                              for d in a.draws))
            elif lists:
                payload = tuple(n for n in lists[0] if all(n in other for other in lists[1:]))
        self.expr((*path, "when"), trig.when)
        self.expr((*path, "if"), trig.if_, payload)
        self.expr((*path, "probability"), trig.probability, payload)
        self.dist(trig.after, (*path, "after"), payload, time=True)
        self.effects(trig.do, (*path, "do"), payload)

    @property
    def actions(self) -> Mapping[str, Any]:
        return self.spec.actions

    def effects(self, effects: list[Effect], path: Path, payload: tuple[str, ...]) -> None:
        for i, eff in enumerate(effects):
            eff.entry.check(self, eff.value, (*path, i, eff.kind), payload)

    def target(self, path: Path, target: str) -> None:
        actor, _, var = target.partition(".")
        vars_ = self.symbols.actor_vars
        if not var or actor not in vars_ or var not in vars_[actor]:
            known = {f"{a}.{v}" for a, vs in vars_.items() for v in vs} \
                if "variable" not in self.hints else set()
            self.problem(path, f"unknown variable '{target}' (write actor.variable)"
                               f"{self.hint(target, known, 'variable')}", key=True)

    def outcome_checks(self) -> None:
        for dim in self.spec.dimensions:
            self.dimension_checks(dim)

    def dimension_checks(self, dim: DimensionInfo) -> None:
        seen: set[str] = set()
        defaults = []
        of = f" of dimension '{dim.name}'" if dim.name else ""
        for i, o in enumerate(dim.outcomes):
            if o.id in seen:
                self.problem((*dim.path, i, "id"), f"duplicate outcome id '{o.id}'{of}")
            seen.add(o.id)
            if o.default:
                defaults.append(i)
            self.expr((*dim.path, i, "when"), o.when)
        if not defaults and self.complete:
            self.problem(dim.path, f"one outcome{of} must be marked default: true "
                                   f"(the class of a run no other outcome claims)")
        for i in defaults[1:]:
            self.problem((*dim.path, i, "default"), f"only one outcome{of} may be the default")


def check_scenario(spec: ScenarioSpec, where: Callable[[Path], str] | None = None,
                   complete: bool = True, rebuilt: bool = False) -> Checked:
    """Check references and compile every expression of ``spec``.

    ``where`` names the place of a path (``file:line:col: path``) for run-time messages;
    ``complete=False`` (a spec missing its invalid parts) skips checks of what is absent;
    ``rebuilt`` (a document saved with results: backtests of earlier versions gave it an
    ``observed`` actor) accepts that actor.
    """
    return _Checker(spec, where or dotted, complete, rebuilt).run()
