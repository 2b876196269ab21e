"""A scenario bound to one set of parameter values: everything a run needs, precomputed."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from sim.engine.hazards import Hazard, timing_of
from sim.errors import RunError
from sim.scenario.bounds import state_ranges
from sim.scenario.distributions import Sampler, make_sampler
from sim.scenario.effects import Effect, EffectOp
from sim.scenario.expressions import CompiledExpression, Evaluator, namespace_for
from sim.scenario.fields import Path
from sim.scenario.scenario import Scenario

__all__ = ["ActionPlan", "DimensionPlan", "OutcomePlan", "Plan", "ProbePlan", "ProbeSpec",
           "TrackPlan", "TriggerPlan", "make_plan"]

@dataclass(eq=False)
class ActionPlan:
    index: int
    name: str
    at: list[float]
    interval: Sampler | None
    rate: Evaluator | None
    rate_expr: CompiledExpression | None
    active: bool
    requires: Evaluator | None
    draws: list[Sampler]
    draw_names: tuple[str, ...]
    effects: list[EffectOp]
    milestone: bool
    count_slot: int
    listeners: list[TriggerPlan] = field(default_factory=list)
    probes: list[ProbePlan] = field(default_factory=list)  # event probes of this action
    hazard: Hazard | None = None  # a rate that reads the state or the clock

    @property
    def recurring(self) -> bool:
        return self.interval is not None or self.rate is not None or self.hazard is not None


@dataclass(eq=False)
class TriggerPlan:
    index: int
    name: str
    when: Evaluator | None
    guard: Evaluator | None
    probability: Evaluator | None  # None: always (literal 1)
    probability_expr: CompiledExpression
    delay: Sampler | None
    limit: int | None
    cooldown: float | None
    effects: list[EffectOp]
    milestone: bool
    never: bool = False  # literal probability 0


@dataclass(eq=False)
class OutcomePlan:
    index: int  # in the flat list of every dimension's outcomes
    id: str
    when: Evaluator | None
    terminal: bool
    expr: CompiledExpression | None
    dimension: int = 0
    label: str = ""  # ``dimension=id`` with several dimensions, else the id


@dataclass(eq=False)
class DimensionPlan:
    """One outcome dimension: its outcomes (in file order) and its default's index."""

    name: str
    outcomes: list[OutcomePlan]
    default: int


@dataclass(eq=False)
class TrackPlan:
    """One escalation track: its rungs, its slot in the state, its start rank, and
    ``offset``, the index of its first rung in the plan's flat list of rungs."""

    name: str
    levels: list[str]
    labels: list[str]  # ``track:rung`` with several tracks (as paths show them)
    slot: int
    start: int
    offset: int


@dataclass(frozen=True)
class ProbeSpec:
    """Something to watch in every run without changing it (a backtest's observation):
    the first time an ``event`` (action) executes, or a ``condition`` (an expression of
    the state, not of ``t``) holds, at or after ``after``. ``where`` locates it (in the
    observation file) for messages."""

    id: str
    kind: str  # "event" or "condition"
    target: str  # the action, or the expression's text
    after: float = 0.0
    where: str = ""


@dataclass(eq=False)
class ProbePlan:
    index: int
    spec: ProbeSpec
    action: int | None  # an event probe's action
    when: Evaluator | None  # a condition probe's evaluator
    slots: frozenset[int] = frozenset()


@dataclass(eq=False)
class Plan:
    """Precomputed structures of one scenario at one parameter point."""

    scenario: Scenario
    parameters: dict[str, Any]
    horizon: float
    initial: list[Any]
    level_slot: int
    start_rank: int
    levels: list[str]  # every track's rungs, track by track
    tracks: list[TrackPlan]
    actions: list[ActionPlan]
    triggers: list[TriggerPlan]
    outcomes: list[OutcomePlan]  # every dimension's outcomes, dimension by dimension
    dimensions: list[DimensionPlan]
    default_outcome: int
    terminal_watch: list[list[OutcomePlan]]  # by state slot: terminal outcomes to check
    when_watch: list[list[TriggerPlan]]  # by state slot: when-triggers to check
    when_triggers: list[TriggerPlan]
    metrics: list[tuple[str, Evaluator, CompiledExpression]]
    var_slots: list[tuple[str, int]]
    max_events: int
    max_seconds: float
    probes: list[ProbePlan] = field(default_factory=list)
    probe_watch: list[list[ProbePlan]] = field(default_factory=list)  # by state slot
    hazard_watch: list[list[ActionPlan]] = field(default_factory=list)
    """By state slot: actions whose rate reads it (a change may redraw their wait)."""
    watched: list[bool] = field(default_factory=list)
    """By state slot: whether any of the three watches above reads it."""


def _eval(expr: CompiledExpression, fn: Evaluator) -> Any:
    try:
        return fn([], 0.0, ())
    except (ArithmeticError, ValueError, TypeError) as exc:
        raise RunError(f"{expr.where}: cannot compute '{expr.text}': {exc}") from None


def _initial(expr: CompiledExpression, value: Any) -> bool | float:
    """A state variable's starting value: a flag or a finite float."""
    if isinstance(value, bool):
        return value
    try:
        number = float(value)
    except OverflowError:
        raise RunError(f"{expr.where}: the value of '{expr.text}' is an integer too large "
                       f"for a float") from None
    if not math.isfinite(number):
        raise RunError(f"{expr.where}: the value of '{expr.text}' is not finite ({number})")
    return number


class _Builder:
    def __init__(self, scenario: Scenario, parameters: dict[str, Any]) -> None:
        self.sc = scenario
        self.ex: dict[Path, CompiledExpression] = dict(scenario.expressions)
        self.ns = namespace_for(parameters)
        self.spec = scenario.spec
        self.action_index = {name: i for i, name in enumerate(self.spec.actions)}
        self.outcome_index: dict[str, int] = {}
        flat = [(d, o) for d in self.spec.dimensions for o in d.outcomes]
        bare = [o.id for _, o in flat]
        for i, (d, o) in enumerate(flat):
            self.outcome_index[d.label(o.id)] = i
            if bare.count(o.id) == 1:
                self.outcome_index[o.id] = i
        self.levels = self.spec.level_ids
        self.level_slot = scenario.symbols.level_slot
        tracks = self.spec.tracks
        self.track_slots = [self.level_slot + i for i in range(len(tracks))]
        self.track_index = {t.name: i for i, t in enumerate(tracks)}
        self.rungs = {rung: (i, rank) for i, t in enumerate(tracks)
                      for rank, rung in enumerate(t.levels)}

    def fn(self, path: Path) -> Evaluator | None:
        expr = self.ex.get(path)
        return None if expr is None else expr.bind(self.ns)

    def sampler(self, dist: Any, path: Path) -> Sampler | None:
        if dist is None:
            return None
        if dist.kind == "constant" and self.ex[(*path, "constant")].date:
            until = float(self.ex[(*path, "constant")].literal)  # after: a date
            return lambda r, V, t, D: until - t if t < until else 0.0
        return make_sampler(dist, path, self.ex, self.ns)

    def expression(self, path: Path) -> CompiledExpression:
        return self.ex[path]

    def slot(self, target: str) -> int:
        actor, _, var = target.partition(".")
        return self.sc.symbols.actor_vars[actor][var]

    def effects(self, effects: list[Effect], path: Path, owner: str) -> list[EffectOp]:
        """Each effect's operations, compiled by its registry entry."""
        ops: list[EffectOp] = []
        for i, eff in enumerate(effects):
            ops.extend(eff.entry.compile(self, eff.value, (*path, i, eff.kind), owner))
        return ops

    def build(self, parameters: dict[str, Any]) -> Plan:
        spec, syms = self.spec, self.sc.symbols
        n_tracks = len(spec.tracks)
        n_slots = syms.level_slot + n_tracks + len(spec.actions)
        initial: list[Any] = [0] * n_slots
        var_slots: list[tuple[str, int]] = []
        for actor, a in spec.actors.items():
            for var in a.vars:
                p: Path = ("actors", actor, "vars", var)
                expr = self.ex[p]
                value = _initial(expr, _eval(expr, expr.bind(self.ns)))
                initial[syms.actor_vars[actor][var]] = value
                var_slots.append((f"{actor}.{var}", syms.actor_vars[actor][var]))
        tracks: list[TrackPlan] = []
        offset = 0
        for i, info in enumerate(spec.tracks):
            initial[self.track_slots[i]] = info.start
            tracks.append(TrackPlan(info.name, list(info.levels),
                                    [info.label(r) for r in info.levels],
                                    self.track_slots[i], info.start, offset))
            offset += len(info.levels)

        triggers: list[TriggerPlan] = []
        for i, (name, trig) in enumerate(spec.triggers.items()):
            base: Path = ("triggers", name)
            pexpr = self.ex[(*base, "probability")]
            literal = pexpr.literal if pexpr.code is None else None
            triggers.append(TriggerPlan(
                index=i,
                name=name,
                when=self.fn((*base, "when")),
                guard=self.fn((*base, "if")),
                probability=None if literal == 1.0 else pexpr.bind(self.ns),
                probability_expr=pexpr,
                delay=self.sampler(trig.after, (*base, "after")),
                limit=trig.limit,
                cooldown=trig.cooldown,
                effects=self.effects(trig.do, (*base, "do"), name),
                milestone=trig.milestone,
                never=literal == 0.0,
            ))

        actions: list[ActionPlan] = []
        for i, (name, act) in enumerate(spec.actions.items()):
            base = ("actions", name)
            at_times = []
            for j in range(len(act.at or [])):
                expr = self.ex[(*base, "at", j)]
                when = float(_eval(expr, expr.bind(self.ns)))
                if not (when >= 0 and math.isfinite(when)):
                    raise RunError(f"{expr.where}: a time must be >= 0, got {when}")
                at_times.append(when)
            timing = timing_of(act, base, self.ex, self.ns, float(spec.clock.horizon),
                               state_ranges(syms))
            plan = ActionPlan(
                index=i,
                name=name,
                at=at_times,
                interval=None if timing.hazard is not None and act.rate is None
                else self.sampler(act.every, (*base, "every")),
                rate=timing.rate,
                rate_expr=timing.rate_expr,
                active=act.active,
                requires=self.fn((*base, "requires")),
                draws=[s for d, dist in act.draws.items()
                       if (s := self.sampler(dist, (*base, "draws", d))) is not None],
                draw_names=tuple(act.draws),
                effects=self.effects(act.effects, (*base, "effects"), name),
                milestone=act.milestone,
                count_slot=syms.counts[name],
                hazard=timing.hazard,
            )
            actions.append(plan)
        for trig_plan, trig in zip(triggers, spec.triggers.values(), strict=True):
            for act_name in trig.on or []:
                actions[self.action_index[act_name]].listeners.append(trig_plan)

        outcomes: list[OutcomePlan] = []
        dimensions: list[DimensionPlan] = []
        for d, dim in enumerate(spec.dimensions):
            mine: list[OutcomePlan] = []
            default = len(outcomes)
            for i, outcome in enumerate(dim.outcomes):
                p = (*dim.path, i, "when")
                o = OutcomePlan(len(outcomes), outcome.id, self.fn(p), outcome.terminal,
                                self.ex.get(p), d, dim.label(outcome.id))
                outcomes.append(o)
                mine.append(o)
                if outcome.default:
                    default = o.index
            dimensions.append(DimensionPlan(dim.name, mine, default))

        terminal_watch: list[list[OutcomePlan]] = [[] for _ in range(n_slots)]
        when_watch: list[list[TriggerPlan]] = [[] for _ in range(n_slots)]
        for o in outcomes:
            if o.terminal and o.expr is not None:
                for slot in range(n_slots):
                    if slot in o.expr.slots or o.expr.reads_time:
                        terminal_watch[slot].append(o)
        hazard_watch: list[list[ActionPlan]] = [[] for _ in range(n_slots)]
        for act_plan in actions:
            if act_plan.hazard is not None:
                for slot in sorted(act_plan.hazard.slots):
                    hazard_watch[slot].append(act_plan)
        when_triggers = [t for t in triggers if t.when is not None]
        for name, t in zip(spec.triggers, triggers, strict=True):
            if t.when is None:
                continue
            expr = self.ex[("triggers", name, "when")]
            for slot in range(n_slots):
                if slot in expr.slots or expr.reads_time:
                    when_watch[slot].append(t)

        metrics = []
        for name in spec.metrics:
            p = ("metrics", name, "expr")
            metrics.append((name, self.ex[p].bind(self.ns), self.ex[p]))

        return Plan(
            scenario=self.sc,
            parameters=dict(parameters),
            horizon=float(spec.clock.horizon),
            initial=initial,
            level_slot=syms.level_slot,
            start_rank=spec.start_rank,
            levels=list(self.levels),
            tracks=tracks,
            actions=actions,
            triggers=triggers,
            outcomes=outcomes,
            dimensions=dimensions,
            default_outcome=dimensions[0].default,
            terminal_watch=terminal_watch,
            when_watch=when_watch,
            when_triggers=when_triggers,
            metrics=metrics,
            var_slots=var_slots,
            max_events=spec.limits.max_events,
            max_seconds=float(spec.limits.max_seconds),
            hazard_watch=hazard_watch,
            watched=[bool(a or b or c) for a, b, c in zip(terminal_watch, when_watch,
                                                          hazard_watch, strict=True)],
        )


def make_plan(scenario: Scenario, parameters: dict[str, Any] | None = None,
              probes: list[ProbeSpec] | None = None) -> Plan:
    """Bind ``scenario`` to parameter values (defaults, overridden by ``parameters``);
    ``probes`` are watched in every run (see :class:`ProbeSpec`)."""
    values = scenario.resolve_parameters(parameters)
    plan = _Builder(scenario, values).build(values)
    if probes:
        _add_probes(plan, scenario, probes)
    return plan


def _add_probes(plan: Plan, scenario: Scenario, probes: list[ProbeSpec]) -> None:
    from sim.scenario.expressions import ExpressionError, compile_expression

    ns = namespace_for(plan.parameters)
    n_slots = len(plan.initial)
    plan.probe_watch = [[] for _ in range(n_slots)]
    index = {a.name: a for a in plan.actions}
    for i, spec in enumerate(probes):
        if spec.kind == "event":
            action = index.get(spec.target)
            if action is None:
                raise RunError(f"{spec.where}: unknown action '{spec.target}'")
            probe = ProbePlan(i, spec, action.index, None)
            action.probes.append(probe)
        else:
            try:
                expr = compile_expression(spec.target, scenario.symbols, where=spec.where)
            except ExpressionError as exc:
                raise RunError(f"{spec.where}: {exc}") from None
            if expr.reads_time:
                raise RunError(f"{spec.where}: a condition to watch may not read t; date "
                               f"it with by:, on: or after:")
            probe = ProbePlan(i, spec, None, expr.bind(ns), frozenset(expr.slots))
            for slot in expr.slots:
                plan.probe_watch[slot].append(probe)
                plan.watched[slot] = True
        plan.probes.append(probe)
