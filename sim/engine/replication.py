"""One replication of a scenario on SimPy: the engine kernel. No I/O.

The semantics are those of the design (run semantics, points 1-7): recurring
actions wait an inter-arrival draw and execute if ``requires`` holds; executing
an action draws its draws, applies its effects in order and emits its event,
then its ``on:`` triggers run in file order (limit, cooldown, guard,
probability, delay, effects); after every state change, terminal outcomes are
checked in file order and ``when:`` triggers fire on a false-to-true edge.
Same-time events run in scheduling order (SimPy's FIFO).

The kernel reads the clock as ``env._now``: the same value as ``env.now`` without
a property call on the hot path.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from typing import Any

import simpy

from sim.engine.plan import (
    ADD,
    END,
    FIRE,
    SET,
    SHIFT,
    START,
    STOP,
    TO_LEVEL,
    ActionPlan,
    Plan,
    TriggerPlan,
)
from sim.engine.randomness import Stream
from sim.errors import RunError

__all__ = ["MAX_CHAIN", "MAX_PATH", "Replication", "TraceEvent"]

MAX_CHAIN = 60  # nested zero-delay reactions (fire -> action -> trigger -> ...) in one step
MAX_PATH = 60
_DIAGNOSE = 200  # events recorded past the cap to name the loop

TraceEvent = tuple[float, str, str, int, str]  # time, kind, name, level, detail


class _Ended(Exception):
    def __init__(self, outcome: int) -> None:
        self.outcome = outcome


class Replication:
    """One run. ``Replication(plan, stream).run()`` returns the record's values."""

    def __init__(self, plan: Plan, stream: Stream, trace: bool = False) -> None:
        self.plan = plan
        self.stream = stream
        self.env = simpy.Environment()
        self.V: list[Any] = list(plan.initial)
        n_levels = len(plan.levels)
        self.reach = [math.nan] * n_levels
        for k in range(plan.start_rank + 1):
            self.reach[k] = 0.0
        self.max_rank = plan.start_rank
        self.fired = [0] * len(plan.triggers)
        self.last_fired = [-math.inf] * len(plan.triggers)
        self.when_prev = [False] * len(plan.triggers)
        self.generation = [0] * len(plan.actions)
        self.active = [a.active for a in plan.actions]
        self.path: list[str] = [plan.levels[plan.start_rank]]
        self.history: list[tuple[float, int]] = [(0.0, plan.start_rank)]  # level changes
        self.events = 0
        self.chain = 0
        self.diagnose: list[str] | None = None
        self.trace: list[TraceEvent] | None = [] if trace else None
        self.watched = [bool(a or b) for a, b in zip(plan.terminal_watch, plan.when_watch,
                                                      strict=True)]
        self._occur: list[Any] = [self._occurrence(a, 0) for a in plan.actions]

    # --- bookkeeping ------------------------------------------------------------------------

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
        raise RunError(
            f"more than {self.plan.max_events:,} events in one run (limits.max_events) at "
            f"t={self.env.now:g}; the most frequent just before: {top}. A zero-delay loop? "
            f"Give one of these a delay, a limit (once/max/cooldown) or a guard."
        )

    def _mark(self, name: str) -> None:
        path = self.path
        if path[-1] != name and len(path) < MAX_PATH:
            path.append(name)

    def _record(self, kind: str, name: str, detail: str = "") -> None:
        if self.trace is not None:
            self.trace.append((self.env.now, kind, name, self.V[self.plan.level_slot], detail))

    # --- state changes ----------------------------------------------------------------------

    def _changed(self, slot: int) -> None:
        if not self.watched[slot]:
            return
        V, now = self.V, self.env._now
        for o in self.plan.terminal_watch[slot]:
            if o.when is not None and o.when(V, now, ()):
                raise _Ended(o.index)
        for trig in self.plan.when_watch[slot]:
            assert trig.when is not None
            state = bool(trig.when(V, now, ()))
            i = trig.index
            if state and not self.when_prev[i]:
                self.when_prev[i] = True
                self._fire(trig, ())
            elif not state:
                self.when_prev[i] = False

    def _set_level(self, rank: int) -> None:
        plan = self.plan
        top = len(plan.levels) - 1
        rank = 0 if rank < 0 else top if rank > top else rank
        slot = plan.level_slot
        if rank == self.V[slot]:
            return
        self.V[slot] = rank
        self.history.append((self.env.now, rank))
        if rank > self.max_rank:
            now = self.env.now
            for k in range(self.max_rank + 1, rank + 1):
                self.reach[k] = now
            self.max_rank = rank
        self._mark(plan.levels[rank])
        self._record("level", plan.levels[rank])
        self._changed(slot)

    def _enter_chain(self, owner: str) -> None:
        """Count one nested zero-delay reaction; too many means a loop."""
        self.chain += 1
        if self.chain > MAX_CHAIN:
            raise RunError(f"more than {MAX_CHAIN} zero-delay reactions chained at "
                           f"t={self.env.now:g}, last in '{owner}': a zero-delay loop? "
                           f"Give a fire or trigger in it a delay or a limit.")

    def _apply(self, effects: list[tuple[Any, ...]], D: Any, owner: str) -> None:
        self._enter_chain(owner)
        V = self.V
        op: tuple[Any, ...] = ()
        try:
            for op in effects:
                code = op[0]
                if code == SET:
                    V[op[1]] = op[2](V, self.env._now, D)
                    self._changed(op[1])
                elif code == ADD:
                    V[op[1]] = V[op[1]] + op[2](V, self.env._now, D)
                    self._changed(op[1])
                elif code == SHIFT:
                    amount = op[2](V, self.env._now, D)
                    self._set_level(V[self.plan.level_slot] + op[1] * round(amount))
                elif code == TO_LEVEL:
                    if not op[2] or op[1] > V[self.plan.level_slot]:
                        self._set_level(op[1])
                elif code == FIRE:
                    self._fire_action(self.plan.actions[op[1]], op[2], D)
                elif code == START:
                    self._start(self.plan.actions[op[1]])
                elif code == STOP:
                    a = self.plan.actions[op[1]]
                    self.active[a.index] = False
                    self.generation[a.index] += 1
                elif code == END:
                    raise _Ended(op[1])
        except (ArithmeticError, ValueError, TypeError) as exc:
            expr = op[3] if len(op) > 3 else None
            where = f"{expr.where}: " if expr is not None else ""
            text = f" '{expr.text}'" if expr is not None else ""
            raise RunError(f"{where}cannot compute{text} in {owner} at "
                           f"t={self.env.now:g}: {exc}") from None
        finally:
            self.chain -= 1

    # --- actions ----------------------------------------------------------------------------

    def _execute(self, a: ActionPlan) -> None:
        self.events += 1
        if self.events > self.plan.max_events:
            self.events -= 1
            self._tick(a.name)
        V, now = self.V, self.env._now
        if a.requires is not None and not a.requires(V, now, ()):
            return
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
            self._record("action", a.name, _payload(a.draw_names, D))
        if self.watched[a.count_slot]:
            self._changed(a.count_slot)
        for trig in a.listeners:
            self._fire(trig, D)

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
        self.env.timeout(d).callbacks.append(lambda _ev: self._execute(a))

    def _schedule(self, a: ActionPlan) -> None:
        V, now = self.V, self.env._now
        if a.interval is not None:
            d = a.interval(self.stream, V, now, ())
            if not d >= 0:
                raise RunError(f"actions.{a.name}.every: an interval must be >= 0, got {d}")
        else:
            assert a.rate is not None
            rate = a.rate(V, now, ())
            if rate == 0:
                return
            if not rate > 0:
                where = a.rate_expr.where if a.rate_expr else f"actions.{a.name}.rate"
                raise RunError(f"{where}: a rate must be >= 0, got {rate}")
            d = -math.log(1.0 - self.stream.uniform()) / rate
        self.env.timeout(d).callbacks.append(self._occur[a.index])

    def _occurrence(self, a: ActionPlan, generation: int) -> Any:
        """The callback of one occurrence of a recurring action in one of its generations."""

        def occur(_ev: simpy.Event) -> None:
            if self.generation[a.index] == generation:
                self._execute(a)
                if self.generation[a.index] == generation:
                    self._schedule(a)

        return occur

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
            if self.stream.uniform() >= p:
                return
        self.fired[i] += 1
        self.last_fired[i] = now
        self.events += 1
        if self.events > self.plan.max_events:
            self.events -= 1
            self._tick(trig.name)
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
        effects = trig.effects
        self.env.timeout(d).callbacks.append(lambda _ev: self._apply(effects, D, trig.name))

    # --- the run ----------------------------------------------------------------------------

    def _begin(self) -> None:
        plan, V = self.plan, self.V
        for o in plan.outcomes:
            if o.terminal and o.when is not None and o.when(V, 0.0, ()):
                raise _Ended(o.index)
        for a in plan.actions:
            for when in a.at:
                self.env.timeout(when).callbacks.append(functools.partial(self._scheduled, a))
            if a.recurring and a.active:
                self._schedule(a)
        for trig in plan.when_triggers:
            assert trig.when is not None
            if trig.when(V, 0.0, ()) and not self.when_prev[trig.index]:
                self.when_prev[trig.index] = True
                self._fire(trig, ())

    def _scheduled(self, a: ActionPlan, _ev: simpy.Event) -> None:
        self._execute(a)

    def _classify(self) -> int:
        plan, V, now = self.plan, self.V, self.env.now
        for o in plan.outcomes:
            if o.terminal and o.when is not None and o.when(V, now, ()):
                return o.index
        for o in plan.outcomes:
            if not o.terminal and o.when is not None and o.when(V, now, ()):
                return o.index
        return plan.default_outcome

    def run(self) -> tuple[int, float]:
        """Run to the horizon or a terminal end; returns (outcome index, end time)."""
        plan = self.plan
        try:
            try:
                self._begin()
                self.env.run(until=plan.horizon)
            except (ArithmeticError, ValueError, TypeError) as exc:
                raise RunError(f"cannot compute a value at t={self.env.now:g}: {exc}") from None
            if self.diagnose is not None:
                self._loop_error()
            outcome = self._classify()
            end = plan.horizon
        except _Ended as ended:
            outcome = ended.outcome
            end = self.env.now
        self.path.append(plan.outcomes[outcome].id)
        self._record("end", plan.outcomes[outcome].id)
        return outcome, end

    def row(self, index: int, outcome: int, end: float) -> list[Any]:
        """The record's values in :func:`sim.engine.record.columns_of` order."""
        plan, V = self.plan, self.V
        row: list[Any] = [index, plan.outcomes[outcome].id, end,
                          plan.levels[V[plan.level_slot]], plan.levels[self.max_rank]]
        row.extend(self.reach)
        row.extend(V[a.count_slot] for a in plan.actions)
        row.extend(float(V[slot]) for _, slot in plan.var_slots)
        now = self.env.now
        for _, fn, expr in plan.metrics:
            try:
                row.append(float(fn(V, now, ())))
            except (ArithmeticError, ValueError, TypeError) as exc:
                raise RunError(f"{expr.where}: cannot compute metric '{expr.text}': {exc}"
                               ) from None
        row.append(" > ".join(self.path))
        row.append("")
        return row


def _payload(names: tuple[str, ...], values: list[Any]) -> str:
    return ", ".join(f"{n}={v:g}" if isinstance(v, (int, float)) else f"{n}={v}"
                     for n, v in zip(names, values, strict=False))
