"""One replication of a scenario on SimPy: the engine kernel. No I/O.

The semantics are those of the design (run semantics, points 1-7): recurring
actions wait an inter-arrival draw and execute if ``requires`` holds; executing
an action draws its draws, applies its effects in order and emits its event,
then its ``on:`` triggers run in file order (limit, cooldown, guard,
probability, delay, effects); after every state change, terminal outcomes are
checked in file order and ``when:`` triggers fire on a false-to-true edge.
Same-time events run in scheduling order (SimPy's FIFO).

Hazards (:mod:`sim.engine.hazards`): an exponential wait whose rate reads the state is
watched like a ``when:`` condition; after a change to a slot it reads (once the
conditions are evaluated, before the rising triggers fire) and at each time of its
schedule, its rate is evaluated again and, if it changed, the pending wait is dropped
(its generation moves on) and one drawn at the new rate; none while the rate is 0. A
rate that reads ``t`` is thinned: its candidates are each kept with rate/bound.

Edges of ``when:`` conditions, also inside nested zero-delay reactions: every state
change first evaluates *all* the ``when:`` conditions that read the changed value and
records each one's new truth value; only then do the triggers whose condition went
from false to true at this change fire, in file order. A trigger that fires may change
the state again: that nested change is evaluated the same way, before the outer
change's remaining triggers fire (they still fire: their edge happened). So a condition
that goes false and true again inside a chain of reactions has two edges, exactly as
when the reactions are queued with ``after: 0``; a toggle between two triggers is a
loop either way, stopped by the chain limit or the event cap.

Limits of a run, each failing that run (never the batch) with a located message:
nested zero-delay reactions (:data:`MAX_CHAIN`), events (``limits.max_events``), CPU
seconds (``limits.max_seconds``, counted from the :data:`_FIRST_CHECK`-th event and
looked at every :data:`_CHECK_EVERY` events, so short runs never read the clock), and
events waiting in the queue (``limits.max_events`` too). A state variable only ever
holds a finite float or a flag: a value that is not finite (or an integer beyond a
float) fails the run, naming the effect. The trace keeps at most :data:`MAX_TRACE`
events per run and never changes the run.

Rare-event mode (:mod:`sim.engine.tilt`): a subclass sets ``tilt`` and decides each
trigger's Bernoulli draw itself (with a tilted probability, keeping the run's likelihood
ratio); plain runs pay one ``is None`` test per probability draw and draw exactly as
before.

A plain :class:`Replication` binds each trigger, action and interval wait into a closure
once (its plan's fields and the state lists as constants) and is run again with
:meth:`Replication.reset` (a chunk keeps one): the state lists are refilled in place and the
SimPy queue emptied, so a reused object runs each run exactly as a new one would (its event
ids go on counting, which keeps their order). A subclass (rare-event mode) runs the generic
methods, which it may override.

The kernel reads the clock as ``env._now``: the same value as ``env.now`` without
a property call on the hot path. It schedules its waits as ``env.timeout`` does (at
``now + delay``, normal priority, the next event id: the same order), but pushes a
:class:`_Wake` on SimPy's queue directly: the delay is checked where it is drawn.
"""

from __future__ import annotations

import functools
import math
import time
import weakref
from collections import Counter
from heapq import heappop, heappush
from typing import Any, ClassVar

import simpy
from simpy.events import NORMAL

from sim.engine.plan import ActionPlan, DimensionPlan, Plan, ProbePlan, TriggerPlan
from sim.engine.randomness import Stream
from sim.errors import RunError
from sim.scenario.distributions import Sampler
from sim.scenario.effects import EffectOp

__all__ = ["MAX_CHAIN", "MAX_PATH", "MAX_TRACE", "Replication", "TraceEvent"]

MAX_CHAIN = 60  # nested zero-delay reactions (fire -> action -> trigger -> ...) in one step
MAX_PATH = 60
MAX_TRACE = 100_000  # traced events kept per run
_DIAGNOSE = 200  # events recorded past the cap to name the loop
_FIRST_CHECK = 64  # events before the CPU clock starts (short runs never read it)
_CHECK_EVERY = 1024  # events between two looks at the run's CPU time

# time, kind, name, level, detail: a note, or an action's draws as (names, values)
TraceEvent = tuple[float, str, str, int, "str | tuple[tuple[str, ...], tuple[Any, ...]]"]


class _Ended(Exception):
    def __init__(self, outcome: int) -> None:
        self.outcome = outcome


class _Wake:
    """A triggered SimPy event with one callback, as ``env.timeout(delay)`` leaves on the
    queue, made without the call layers (``Environment.step`` reads only these fields).
    ``callbacks`` is always a 1-tuple: the run loop tells a wake from SimPy's events by it."""

    __slots__ = ("callbacks",)
    callbacks: Any
    _ok = True
    _value = None


class _Start:
    """What every run of a plan starts from, computed once per plan (copied per run)."""

    def __init__(self, plan: Plan) -> None:
        reach = [math.nan] * len(plan.levels)
        for tr in plan.tracks:
            for k in range(tr.start + 1):
                reach[tr.offset + k] = 0.0
        self.reach = reach
        self.max_rank = [tr.start for tr in plan.tracks]
        self.fired = [0] * len(plan.triggers)
        self.last_fired = [-math.inf] * len(plan.triggers)
        self.when_prev = [False] * len(plan.triggers)
        self.generation = [0] * len(plan.actions)
        self.active = [a.active for a in plan.actions]
        self.path = ", ".join(tr.labels[tr.start] for tr in plan.tracks)
        self.histories = [(0.0, tr.offset + tr.start) for tr in plan.tracks]
        self.probe_t = [math.nan] * len(plan.probes)
        self.rate_now = [0.0] * len(plan.actions)
        self.recurring = [a for a in plan.actions if a.recurring]


_STARTS: weakref.WeakKeyDictionary[Plan, _Start] = weakref.WeakKeyDictionary()


def _start_of(plan: Plan) -> _Start:
    start = _STARTS.get(plan)
    if start is None:
        start = _STARTS[plan] = _Start(plan)
    return start


class Replication:
    """One run. ``Replication(plan, stream).run()`` returns the record's values."""

    #: Run the plan as closures (see ``_firer``); a subclass that overrides nothing they
    #: bypass sets it again in its own body.
    closures: ClassVar[bool] = True

    def __init__(self, plan: Plan, stream: Stream, trace: bool = False) -> None:
        self.plan = plan
        self.env = simpy.Environment()
        self._queue: list[Any] = self.env._queue
        self._eid = self.env._eid  # one count for every run of this object: same order
        start = self._begins = _start_of(plan)
        self.V: list[Any] = list(plan.initial)
        self.reach = list(start.reach)  # every track's rungs, flat
        self.max_rank = list(start.max_rank)
        self.fired = list(start.fired)
        self.last_fired = list(start.last_fired)
        self.when_prev = list(start.when_prev)
        self.generation = list(start.generation)
        self.active = list(start.active)
        self.watched = plan.watched  # read only
        self.probe_t = list(start.probe_t)  # first time each probe held
        self.probe_watch = plan.probe_watch or None  # by slot: condition probes reading it
        self.rate_now = list(start.rate_now)  # a hazard's rate when its wait was drawn
        self.tilt: list[float] | None = None  # rare-event mode only (sim.engine.tilt)
        # each trigger, action and interval schedule as a closure with its plan bound
        # (they hold the lists above, which reset() refills in place)
        self._occur: list[Any] = [None] * len(plan.actions)
        self._occur_list = self._occur
        # a subclass runs the generic methods (it may override them) unless it declares
        # ``closures`` itself: rare-event mode changes only _tilted_draw, which both call
        self._fast = bool(type(self).__dict__.get("closures", False))
        if self._fast:
            self._fires: list[Any] = [self._firer(trig) for trig in plan.triggers]
            self._exec: list[Any] = [self._executor(a) for a in plan.actions]
            self._sched: list[Any] = [self._scheduler(a) for a in plan.actions]
            self._at: list[Any] = [self._timed(run) for run in self._exec]
        for a in start.recurring:
            self._occur[a.index] = self._occurrence(a, 0)
        self._occur0 = list(self._occur)
        self._fresh = True
        self.reset(stream, trace)

    def reset(self, stream: Stream, trace: bool = False) -> None:
        """Start a new run of the same plan on ``stream``: every run's state as a new
        object would have it (the event ids go on counting: their order is the same)."""
        plan, start = self.plan, self._begins
        self.stream = stream
        if not self._fresh:
            env = self.env
            env._now = 0  # as simpy.Environment() starts
            self._queue.clear()
            self.V[:] = plan.initial
            self.reach[:] = start.reach
            self.max_rank[:] = start.max_rank
            self.fired[:] = start.fired
            self.last_fired[:] = start.last_fired
            self.when_prev[:] = start.when_prev
            self.generation[:] = start.generation
            self.active[:] = start.active
            self.probe_t[:] = start.probe_t
            self.rate_now[:] = start.rate_now
            self._occur[:] = self._occur0
        self._fresh = False
        self.path: list[str] = [start.path]
        # each track's level changes (time, index in plan.levels), from its start
        self.histories: list[list[tuple[float, int]]] = [[first] for first in start.histories]
        self.events = 0
        self.check_at = min(plan.max_events, _FIRST_CHECK)  # events at the next checkpoint
        self.started = -1.0  # CPU time of this thread at the first checkpoint
        self.chain = 0
        self.diagnose: list[str] | None = None
        self.trace: list[TraceEvent] | None = [] if trace else None

    # --- bookkeeping ------------------------------------------------------------------------

    def _checkpoint(self, name: str) -> None:
        """Past ``check_at`` events: past the cap, or time to look at the CPU clock."""
        plan = self.plan
        if self.events > plan.max_events:
            self.events -= 1
            self._tick(name)
            return
        now = time.thread_time()
        if self.started < 0:
            self.started = now
        if now - self.started > plan.max_seconds:
            raise RunError(
                f"limits.max_seconds: the run used more than {plan.max_seconds:g} s of CPU "
                f"time (at t={self.env.now:g}, after {self.events:,} events, last "
                f"'{name}'); raise limits.max_seconds, or look for a loop or a costly rule"
            )
        self.check_at = min(plan.max_events, self.events + _CHECK_EVERY)

    def _tick(self, name: str) -> None:
        self.events += 1
        if self.events > self.plan.max_events:
            if self.diagnose is None:
                self.diagnose = []
            self.diagnose.append(name)
            if len(self.diagnose) >= _DIAGNOSE:
                self._loop_error()

    def _loop_error(self) -> None:
        names = Counter(self.diagnose or [])
        top = ", ".join(f"{n} ({c})" for n, c in names.most_common(6))
        first = names.most_common(1)[0][0] if names else ""
        hazard = next((a for a in self.plan.actions if a.name == first and a.recurring), None)
        if hazard is not None:  # a busy recurring action, not a loop at one instant
            thinned = hazard.hazard is not None and hazard.hazard.thinned
            raise RunError(
                f"more than {self.plan.max_events:,} events in one run (limits.max_events) "
                f"at t={self.env.now:g}; the most frequent just before: {top}. "
                f"'{first}' recurs too often"
                + (" (a thinned rate: its rejected candidates count as events, so a max: "
                   "far above the rate costs events)" if thinned else "")
                + ": lower its rate, tighten its max:, or raise limits.max_events.")
        raise RunError(
            f"more than {self.plan.max_events:,} events in one run (limits.max_events) at "
            f"t={self.env.now:g}; the most frequent just before: {top}. A zero-delay loop? "
            f"Give one of these a delay, a limit (once/max/cooldown) or a guard."
        )

    def _queue_full(self, what: str) -> RunError:
        return RunError(f"{what}: more than {self.plan.max_events:,} events waiting at "
                        f"t={self.env.now:g} (limits.max_events): each event schedules "
                        f"several more?")

    def _mark(self, name: str) -> None:
        path = self.path
        if path[-1] != name and len(path) < MAX_PATH:
            path.append(name)

    def _record(self, kind: str, name: str,
                detail: str | tuple[tuple[str, ...], tuple[Any, ...]] = "") -> None:
        trace = self.trace
        if trace is None:
            return
        if len(trace) < MAX_TRACE:
            trace.append((self.env.now, kind, name, self.V[self.plan.level_slot], detail))
        elif len(trace) == MAX_TRACE:
            trace.append((self.env.now, "truncated", "", self.V[self.plan.level_slot],
                          f"more than {MAX_TRACE:,} events: the rest are not traced"))

    def _store(self, value: Any, op: EffectOp) -> Any:
        """A value for a state variable: a flag, or a finite float (else the run fails)."""
        if value.__class__ is bool:
            return value
        expr = op.expr
        assert expr is not None  # only set and add store values
        problem = ""
        if isinstance(value, (int, float)):
            try:
                value = float(value)
            except OverflowError:
                problem = "an integer too large for a float"
            else:
                if math.isfinite(value):
                    return value
                problem = f"not finite ({value})"
        else:
            problem = f"not a number ({type(value).__name__})"
        raise RunError(f"{expr.where}: the value of '{expr.text}' in {op.owner} at "
                       f"t={self.env.now:g} is {problem}")

    def _wake(self, delay: float, callback: Any) -> None:
        """Call ``callback`` after ``delay`` (>= 0, checked by the caller), in SimPy's order."""
        ev = _Wake()
        ev.callbacks = (callback,)
        heappush(self._queue, (self.env._now + delay, NORMAL, next(self._eid), ev))

    # --- state changes ----------------------------------------------------------------------

    def _changed(self, slot: int) -> None:
        if not self.watched[slot]:
            return
        V, now = self.V, self.env._now
        if self.probe_watch is not None:  # probes only read: before a terminal end stops it
            for probe in self.probe_watch[slot]:
                self._probe(probe)
        for o in self.plan.terminal_watch[slot]:
            if o.when is not None and o.when(V, now, ()):
                raise _Ended(o.index)
        # every condition first, then the rising ones fire (see the module docstring)
        prev = self.when_prev
        rising: list[TriggerPlan] | None = None
        for trig in self.plan.when_watch[slot]:
            assert trig.when is not None
            i = trig.index
            if trig.when(V, now, ()):
                if not prev[i]:
                    prev[i] = True
                    if rising is None:
                        rising = [trig]
                    else:
                        rising.append(trig)
            else:
                prev[i] = False
        hazards = self.plan.hazard_watch[slot]  # rates that read it: redraw if changed
        if hazards:
            for a in hazards:
                self._redraw(a)
        if rising is not None:
            for trig in rising:
                self._fire(trig, ())

    def _probe(self, probe: ProbePlan) -> None:
        """Record the first time a condition probe holds (at or after its ``after``)."""
        i = probe.index
        now = self.env._now
        if self.probe_t[i] == self.probe_t[i] or now < probe.spec.after:  # seen, or early
            return
        assert probe.when is not None
        try:
            held = probe.when(self.V, now, ())
        except (ArithmeticError, ValueError, TypeError) as exc:
            raise RunError(f"{probe.spec.where}: cannot compute '{probe.spec.target}' at "
                           f"t={now:g}: {exc}") from None
        if held:
            self.probe_t[i] = now

    def set_level(self, track: int, rank: int) -> None:
        """Move track ``track`` to rung ``rank`` (clipped to the track) and react."""
        tr = self.plan.tracks[track]
        top = len(tr.levels) - 1
        rank = 0 if rank < 0 else top if rank > top else rank
        slot = tr.slot
        if rank == self.V[slot]:
            return
        self.V[slot] = rank
        now = self.env._now
        self.histories[track].append((now, tr.offset + rank))
        if rank > self.max_rank[track]:
            for k in range(self.max_rank[track] + 1, rank + 1):
                self.reach[tr.offset + k] = now
            self.max_rank[track] = rank
        self._mark(tr.labels[rank])
        if self.trace is not None:
            self._record("level", tr.labels[rank])
        if self.watched[slot]:
            self._changed(slot)

    @property
    def history(self) -> list[tuple[float, int]]:
        """The first track's level changes ``(time, rank)``."""
        return self.histories[0]

    def _enter_chain(self, owner: str) -> None:
        """Count one nested zero-delay reaction; too many means a loop."""
        self.chain += 1
        if self.chain > MAX_CHAIN:
            raise RunError(f"more than {MAX_CHAIN} zero-delay reactions chained at "
                           f"t={self.env.now:g}, last in '{owner}': a zero-delay loop? "
                           f"Give a fire or trigger in it a delay or a limit.")

    def _apply(self, effects: list[EffectOp], D: Any, owner: str) -> None:
        self.chain += 1
        if self.chain > MAX_CHAIN:
            self.chain -= 1
            self._enter_chain(owner)
        V = self.V
        op: EffectOp | None = None
        try:
            for op in effects:
                op.execute(self, V, self.env._now, D)
        except (ArithmeticError, ValueError, TypeError) as exc:
            expr = op.expr if op is not None else None
            where = f"{expr.where}: " if expr is not None else ""
            text = f" '{expr.text}'" if expr is not None else ""
            raise RunError(f"{where}cannot compute{text} in {owner} at "
                           f"t={self.env.now:g}: {exc}") from None
        finally:
            self.chain -= 1

    def _applier(self, effects: list[EffectOp], owner: str) -> Any:
        """``_apply(effects, D, owner)`` as a closure of ``D``, the effects bound."""
        rep, env, V, enter = self, self.env, self.V, self._enter_chain

        def apply(D: Any) -> None:
            rep.chain += 1
            if rep.chain > MAX_CHAIN:
                rep.chain -= 1
                enter(owner)
            op: EffectOp | None = None
            try:
                for op in effects:
                    op.execute(rep, V, env._now, D)
            except (ArithmeticError, ValueError, TypeError) as exc:
                expr = op.expr if op is not None else None
                where = f"{expr.where}: " if expr is not None else ""
                text = f" '{expr.text}'" if expr is not None else ""
                raise RunError(f"{where}cannot compute{text} in {owner} at "
                               f"t={env.now:g}: {exc}") from None
            finally:
                rep.chain -= 1

        return apply

    # --- what effects do (the protocol sim.scenario.effects.Run) ------------------------------

    def assign(self, slot: int, value: Any, op: EffectOp) -> None:
        """Store a state variable's new value (a flag or a finite float) and react."""
        if value.__class__ is not float or value - value != 0.0:  # not a finite float
            value = self._store(value, op)
        self.V[slot] = value
        if self.watched[slot]:
            self._changed(slot)

    def fire_action(self, action: int, delay: Sampler | None, D: Any) -> None:
        if delay is None and self._fast:  # as _fire_action: one nested reaction, then run
            self.chain += 1
            try:
                if self.chain > MAX_CHAIN:
                    self.chain -= 1
                    self._enter_chain(self.plan.actions[action].name)
                self._exec[action]()
            finally:
                self.chain -= 1
            return
        self._fire_action(self.plan.actions[action], delay, D)

    def start(self, action: int) -> None:
        self._start(self.plan.actions[action])

    def stop(self, action: int) -> None:
        self.active[action] = False
        self.generation[action] += 1

    def end(self, outcome: int) -> None:
        raise _Ended(outcome)

    # --- actions ----------------------------------------------------------------------------

    def _execute(self, a: ActionPlan) -> None:
        if self._fast:
            self._exec[a.index]()
            return
        self.events += 1
        if self.events > self.check_at:
            self._checkpoint(a.name)
        V, now = self.V, self.env._now
        if a.requires is not None and not a.requires(V, now, ()):
            return
        if a.probes:  # an observed event: its first time (from the probe's after)
            for probe in a.probes:
                i = probe.index
                if self.probe_t[i] != self.probe_t[i] and now >= probe.spec.after:
                    self.probe_t[i] = now
        if a.milestone:
            self._mark(a.name)
        D: list[Any] = []
        if a.draws:
            stream = self.stream
            for sampler in a.draws:
                D.append(sampler(stream, V, now, D))
        if a.effects:
            self._apply(a.effects, D, a.name)
        V[a.count_slot] += 1
        if self.trace is not None:
            self._record("action", a.name, (a.draw_names, tuple(D)))
        if self.watched[a.count_slot]:
            self._changed(a.count_slot)
        for trig in a.listeners:
            self._fire(trig, D)

    def _executor(self, a: ActionPlan) -> Any:
        """Action ``a``'s execution as a closure, its plan's fields bound: wait's end or a
        fire (requires, probes, milestone, draws, effects, count, trace, listeners)."""
        rep, env, V, probe_t = self, self.env, self.V, self.probe_t
        name, requires, milestone = a.name, a.requires, a.milestone
        probes = a.probes or None
        draws = a.draws or None
        effects = a.effects or None
        count_slot, draw_names = a.count_slot, a.draw_names
        count_watched = bool(self.watched[count_slot])
        checkpoint, changed, mark = self._checkpoint, self._changed, self._mark
        apply = self._applier(a.effects, name)
        fires = tuple(self._fires[trig.index] for trig in a.listeners)

        def execute() -> None:
            rep.events += 1
            if rep.events > rep.check_at:
                checkpoint(name)
            now = env._now
            if requires is not None and not requires(V, now, ()):
                return
            if probes is not None:  # an observed event: its first time (from its after)
                for probe in probes:
                    i = probe.index
                    if probe_t[i] != probe_t[i] and now >= probe.spec.after:
                        probe_t[i] = now
            if milestone:
                mark(name)
            D: list[Any] = []
            if draws is not None:
                stream = rep.stream
                for sampler in draws:
                    D.append(sampler(stream, V, now, D))
            if effects is not None:
                apply(D)
            V[count_slot] += 1
            if rep.trace is not None:
                rep._record("action", name, (draw_names, tuple(D)))
            if count_watched:
                changed(count_slot)
            for fire in fires:
                fire(D)

        return execute

    def _fire_action(self, a: ActionPlan, delay: Any, D: Any) -> None:
        if delay is None:
            try:
                self._enter_chain(a.name)
                self._execute(a)
            finally:
                self.chain -= 1
            return
        d = delay(self.stream, self.V, self.env.now, D)
        if not d >= 0:
            raise RunError(f"a delay to fire '{a.name}' must be >= 0, got {d}")
        if len(self._queue) >= self.plan.max_events:
            raise self._queue_full(f"fire '{a.name}'")
        self._wake(d, lambda _ev: self._execute(a))

    def _schedule(self, a: ActionPlan) -> None:
        V, now = self.V, self.env._now
        if a.interval is not None:
            d = a.interval(self.stream, V, now, ())
            if not d >= 0:
                raise RunError(f"actions.{a.name}.every: an interval must be >= 0, got {d}")
        elif a.rate is None:
            self._wait(a)
            return
        else:
            rate = a.rate(V, now, ())
            if rate == 0:
                return
            if not rate > 0:
                where = a.rate_expr.where if a.rate_expr else f"actions.{a.name}.rate"
                raise RunError(f"{where}: a rate must be >= 0, got {rate}")
            d = -math.log(1.0 - self.stream.uniform()) / rate
        ev = _Wake()
        ev.callbacks = (self._occur[a.index],)
        heappush(self._queue, (now + d, NORMAL, next(self._eid), ev))

    @staticmethod
    def _timed(run: Any) -> Any:
        """The callback of an ``at:`` time: the action's execution."""
        def at(_ev: Any) -> None:
            run()

        return at

    def _scheduler(self, a: ActionPlan) -> Any:
        """``_schedule(a)`` as a closure: an interval's next wait with the plan bound."""
        if a.interval is None:
            return functools.partial(self._schedule, a)
        rep, env, V, queue, eid = self, self.env, self.V, self._queue, self._eid
        interval, i, occur = a.interval, a.index, self._occur_list
        where = f"actions.{a.name}.every"

        def schedule() -> None:
            now = env._now
            d = interval(rep.stream, V, now, ())
            if not d >= 0:
                raise RunError(f"{where}: an interval must be >= 0, got {d}")
            ev = _Wake()
            ev.callbacks = (occur[i],)
            heappush(queue, (now + d, NORMAL, next(eid), ev))

        return schedule

    # --- hazards (see sim.engine.hazards) ----------------------------------------------------

    def _wait(self, a: ActionPlan) -> None:
        """Draw the next wait of a hazard: at its rate now, or a candidate at its bound."""
        h = a.hazard
        assert h is not None
        if h.thinned:
            rate = h.bound
        else:
            rate = self.rate_now[a.index] = h.rate(self.V, self.env._now)
        if rate > 0:
            if len(self._queue) >= self.plan.max_events:
                raise self._queue_full(f"actions.{a.name}.rate")
            d = -math.log(1.0 - self.stream.uniform()) / rate
            self._wake(d, self._occur[a.index])

    def _redraw(self, a: ActionPlan, _ev: simpy.Event | None = None) -> None:
        """Something the rate reads changed (or a breakpoint passed): if the rate did, drop
        the pending wait and draw one at the new rate (none while it is 0)."""
        i = a.index
        if not self.active[i]:
            return
        h = a.hazard
        assert h is not None
        rate = h.rate(self.V, self.env._now)
        if rate == self.rate_now[i]:
            return
        self.generation[i] += 1
        self._occur[i] = self._occurrence(a, self.generation[i])
        self._wait(a)

    def _candidate(self, a: ActionPlan, generation: int) -> Any:
        """The callback of one candidate of a thinned hazard: kept with rate/bound."""
        h = a.hazard
        assert h is not None
        i = a.index

        def candidate(_ev: simpy.Event) -> None:
            if self.generation[i] != generation:
                return
            if self.stream.uniform() * h.bound < h.rate(self.V, self.env._now):
                self._execute(a)
            else:
                self.events += 1  # a rejected candidate counts towards the event limit
                if self.events > self.check_at:
                    self._checkpoint(a.name)
            if self.generation[i] == generation:
                self._schedule(a)

        return candidate

    def _occurrence(self, a: ActionPlan, generation: int) -> Any:
        """The callback of one occurrence of a recurring action in one of its generations."""
        if a.hazard is not None and a.hazard.thinned:
            return self._candidate(a, generation)

        current, i = self.generation, a.index
        if self._fast and a.interval is not None:  # the next wait inline (as _scheduler)
            run, interval, env, V = self._exec[i], a.interval, self.env, self.V
            queue, eid, occurs, rep = self._queue, self._eid, self._occur_list, self
            where = f"actions.{a.name}.every"

            def occur_every(_ev: simpy.Event) -> None:
                if current[i] == generation:
                    run()
                    if current[i] == generation:
                        now = env._now
                        d = interval(rep.stream, V, now, ())
                        if not d >= 0:
                            raise RunError(f"{where}: an interval must be >= 0, got {d}")
                        ev = _Wake()
                        ev.callbacks = (occurs[i],)
                        heappush(queue, (now + d, NORMAL, next(eid), ev))

            return occur_every
        if self._fast:
            run, next_wait = self._exec[i], self._sched[i]

            def occur(_ev: simpy.Event) -> None:
                if current[i] == generation:
                    run()
                    if current[i] == generation:
                        next_wait()

            return occur

        execute, schedule = self._execute, self._schedule

        def occur_generic(_ev: simpy.Event) -> None:
            if current[i] == generation:
                execute(a)
                if current[i] == generation:
                    schedule(a)

        return occur_generic

    def _start(self, a: ActionPlan) -> None:
        if not self.active[a.index]:
            self.active[a.index] = True
            self.generation[a.index] += 1
            self._occur[a.index] = self._occurrence(a, self.generation[a.index])
            self._schedule(a)

    # --- triggers ---------------------------------------------------------------------------

    def _fire(self, trig: TriggerPlan, D: Any) -> None:
        i = trig.index
        if trig.never or (trig.limit is not None and self.fired[i] >= trig.limit):
            return
        now = self.env._now
        if trig.cooldown is not None and now - self.last_fired[i] < trig.cooldown:
            return
        V = self.V
        if trig.guard is not None and not trig.guard(V, now, D):
            return
        if trig.probability is not None:
            p = trig.probability(V, now, D)
            if not 0.0 <= p <= 1.0:
                e = trig.probability_expr
                raise RunError(f"{e.where}: a probability must be within [0, 1], got {p} "
                               f"(from '{e.text}') at t={now:g}")
            if self.tilt is None:
                if self.stream.uniform() >= p:
                    return
            elif not self._tilted_draw(i, p):
                return
        self.fired[i] += 1
        self.last_fired[i] = now
        self.events += 1
        if self.events > self.check_at:
            self._checkpoint(trig.name)
        if trig.milestone:
            self._mark(trig.name)
        if self.trace is not None:
            self._record("trigger", trig.name)
        if trig.delay is None:
            self._apply(trig.effects, D, trig.name)
            return
        d = trig.delay(self.stream, V, now, D)
        if not d >= 0:
            raise RunError(f"triggers.{trig.name}.after: a delay must be >= 0, got {d}")
        if len(self._queue) >= self.plan.max_events:
            raise self._queue_full(f"triggers.{trig.name}.after")
        effects = trig.effects
        self._wake(d, lambda _ev: self._apply(effects, D, trig.name))

    def _firer(self, trig: TriggerPlan) -> Any:
        """Trigger ``trig`` as a closure, its plan bound: limit, cooldown, guard,
        probability (tilted in rare-event mode), count, trace, delay, effects."""
        if trig.never:
            def never(D: Any) -> None:
                return

            return never
        rep, env, V, queue, eid = self, self.env, self.V, self._queue, self._eid
        fired, last_fired = self.fired, self.last_fired
        i, name, limit, cooldown, guard = (trig.index, trig.name, trig.limit, trig.cooldown,
                                           trig.guard)
        probability, e, delay = trig.probability, trig.probability_expr, trig.delay
        effects, milestone, max_events = trig.effects, trig.milestone, self.plan.max_events
        checkpoint, mark = self._checkpoint, self._mark
        apply = self._applier(effects, name)

        def fire(D: Any) -> None:
            if limit is not None and fired[i] >= limit:
                return
            now = env._now
            if cooldown is not None and now - last_fired[i] < cooldown:
                return
            if guard is not None and not guard(V, now, D):
                return
            if probability is not None:
                p = probability(V, now, D)
                if not 0.0 <= p <= 1.0:
                    raise RunError(f"{e.where}: a probability must be within [0, 1], got {p} "
                                   f"(from '{e.text}') at t={now:g}")
                if rep.tilt is None:
                    if rep.stream.uniform() >= p:
                        return
                elif not rep._tilted_draw(i, p):
                    return
            fired[i] += 1
            last_fired[i] = now
            rep.events += 1
            if rep.events > rep.check_at:
                checkpoint(name)
            if milestone:
                mark(name)
            if rep.trace is not None:
                rep._record("trigger", name)
            if delay is None:
                apply(D)
                return
            d = delay(rep.stream, V, now, D)
            if not d >= 0:
                raise RunError(f"triggers.{name}.after: a delay must be >= 0, got {d}")
            if len(queue) >= max_events:
                raise rep._queue_full(f"triggers.{name}.after")
            ev = _Wake()
            ev.callbacks = (lambda _ev: apply(D),)
            heappush(queue, (now + d, NORMAL, next(eid), ev))

        return fire

    def _tilted_draw(self, trigger: int, p: float) -> bool:
        """Whether a trigger fires in rare-event mode; only :class:`TiltedReplication`
        sets ``tilt``."""
        raise NotImplementedError

    # --- the run ----------------------------------------------------------------------------

    def _begin(self) -> None:
        plan, V = self.plan, self.V
        for probe in plan.probes:  # conditions: at the start, or from their after on
            if probe.when is None:
                continue
            if probe.spec.after <= 0:
                self._probe(probe)
            elif probe.spec.after < plan.horizon:
                self.env.timeout(probe.spec.after).callbacks.append(
                    functools.partial(self._probe_later, probe))
        for o in plan.outcomes:
            if o.terminal and o.when is not None and o.when(V, 0.0, ()):
                raise _Ended(o.index)
        fast = self._fast
        for a in plan.actions:
            for when in a.at:
                if fast and when >= 0:  # as env.timeout(when) with this callback
                    self._wake(when, self._at[a.index])
                else:
                    self.env.timeout(when).callbacks.append(
                        functools.partial(self._scheduled, a))
            if a.recurring and a.active:
                if fast:
                    self._sched[a.index]()
                else:
                    self._schedule(a)
            if a.hazard is not None:
                for when in a.hazard.breaks[1:]:
                    if when < plan.horizon:
                        self.env.timeout(when).callbacks.append(
                            functools.partial(self._redraw, a))
        rising = []
        for trig in plan.when_triggers:  # every condition first, then the true ones fire
            assert trig.when is not None
            if trig.when(V, 0.0, ()):
                self.when_prev[trig.index] = True
                rising.append(trig)
        for trig in rising:
            self._fire(trig, ())

    def _advance(self, horizon: float) -> None:
        """``env.run(until=horizon)``: pop SimPy's queue in its order (time, priority, id)
        and call each event's callbacks, until the next event is at or past the horizon
        (the until-event SimPy would schedule there comes before any event at that time);
        then the clock reads the horizon. The kernel's events never fail and no process
        runs, so the rest of ``Environment.step`` has nothing to do."""
        env, queue = self.env, self._queue
        while queue and queue[0][0] < horizon:
            env._now, _, _, event = heappop(queue)
            callbacks = event.callbacks
            if callbacks.__class__ is tuple:  # a _Wake's one callback (never read again)
                callbacks[0](event)
                continue
            event.callbacks = None
            for callback in callbacks:
                callback(event)
        env._now = horizon

    def _probe_later(self, probe: ProbePlan, _ev: simpy.Event) -> None:
        self._probe(probe)

    def _scheduled(self, a: ActionPlan, _ev: simpy.Event) -> None:
        self._execute(a)

    def _classify(self, dim: DimensionPlan) -> int:
        """A dimension's class now: its first terminal outcome whose condition holds,
        else its first other outcome whose condition holds, else its default."""
        V, now = self.V, self.env.now
        for o in dim.outcomes:
            if o.terminal and o.when is not None and o.when(V, now, ()):
                return o.index
        for o in dim.outcomes:
            if not o.terminal and o.when is not None and o.when(V, now, ()):
                return o.index
        return dim.default

    def run(self) -> tuple[list[int], float]:
        """Run to the horizon or a terminal end; returns each dimension's outcome (an
        index in ``plan.outcomes``) and the end time. A terminal outcome decides its own
        dimension; the others are classified at that moment."""
        plan = self.plan
        ended: int | None = None
        try:
            try:
                self._begin()
                self._advance(plan.horizon)
            except (ArithmeticError, ValueError, TypeError) as exc:
                raise RunError(f"cannot compute a value at t={self.env.now:g}: {exc}") from None
            if self.diagnose is not None:
                self._loop_error()
            end = plan.horizon
        except _Ended as stop:
            ended = stop.outcome
            end = self.env.now
        try:
            if len(plan.dimensions) == 1:
                classes = [ended if ended is not None else self._classify(plan.dimensions[0])]
            else:
                classes = [ended if ended is not None and plan.outcomes[ended].dimension == d
                           else self._classify(dim) for d, dim in enumerate(plan.dimensions)]
        except (ArithmeticError, ValueError, TypeError) as exc:
            raise RunError(f"cannot classify the run at t={self.env.now:g}: {exc}") from None
        last = plan.outcomes[ended if ended is not None else classes[0]].label
        self.path.append(last)
        if self.trace is not None:  # the end is always traced, even past MAX_TRACE
            self.trace.append((self.env.now, "end", last, self.V[plan.level_slot], ""))
        return classes, end

    def row(self, index: int, outcomes: list[int], end: float) -> list[Any]:
        """The record's values in :func:`sim.engine.record.columns_of` order."""
        plan, V = self.plan, self.V
        if len(outcomes) == 1 and len(plan.tracks) == 1:
            levels = plan.levels
            row: list[Any] = [index, plan.outcomes[outcomes[0]].id, end,
                              levels[V[plan.level_slot]], levels[self.max_rank[0]]]
        else:
            row = [index]
            row.extend(plan.outcomes[o].id for o in outcomes)
            row.append(end)
            for track, tr in enumerate(plan.tracks):
                row.append(tr.levels[V[tr.slot]])
                row.append(tr.levels[self.max_rank[track]])
        row.extend(self.reach)
        row.extend(V[a.count_slot] for a in plan.actions)
        row.extend(float(V[slot]) for _, slot in plan.var_slots)
        now = self.env.now
        for _, fn, expr in plan.metrics:
            try:
                value = float(fn(V, now, ()))
            except (ArithmeticError, ValueError, TypeError) as exc:
                raise RunError(f"{expr.where}: cannot compute metric '{expr.text}': {exc}"
                               ) from None
            if not math.isfinite(value):
                raise RunError(f"{expr.where}: metric '{expr.text}' is not finite ({value}) "
                               f"at the end of the run")
            row.append(value)
        row.extend(self.probe_t)
        row.append(" > ".join(self.path))
        row.append("")
        return row



