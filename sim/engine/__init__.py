"""The engine kernel: one run of a scenario on SimPy, returning a record. No I/O."""

from __future__ import annotations

import threading
from typing import Any

from sim.engine.plan import Plan, make_plan
from sim.engine.randomness import BIT_GENERATOR, RunStreams, Stream, run_generator
from sim.engine.record import Column, columns_of
from sim.engine.replication import Replication, TraceEvent
from sim.errors import RunError

__all__ = [
    "BIT_GENERATOR",
    "Column",
    "Plan",
    "Replication",
    "RunStreams",
    "TraceEvent",
    "columns_of",
    "make_plan",
    "run_generator",
    "run_one",
]


_LAST = threading.local()  # the Replication of this thread's last run_one without rep


def run_one(plan: Plan, seed: int, index: int, trace: bool = False,
            history: list[list[tuple[float, int]]] | None = None,
            stream: Stream | None = None, rep: Replication | None = None
            ) -> tuple[list[Any], list[TraceEvent]]:
    """Run replication ``index`` of the batch with root ``seed``.

    Returns the record's values (see :func:`columns_of`) and, with ``trace``, its events.
    If a ``history`` list is given, each track's level changes are appended to it as one
    list of ``(time, index in plan.levels)``, starting with the start rung at time 0. A
    run that fails raises :class:`~sim.errors.RunError`. ``stream``, if given, must be
    run ``index``'s (from :class:`RunStreams` of ``seed``): it saves deriving it. ``rep``,
    if given, is a :class:`Replication` of ``plan`` to run again (see ``reset``); without
    it, the thread's last one is run again if it ran the same plan (building one costs
    more than a short run's events).
    """
    if stream is None:
        stream = Stream(run_generator(seed, index))
    if rep is None:
        last = getattr(_LAST, "rep", None)  # this thread's last plain run, if of this plan
        if last is not None and last.plan is plan:
            rep = last
            rep.reset(stream, trace)
        else:
            rep = _LAST.rep = Replication(plan, stream, trace=trace)
    else:
        rep.reset(stream, trace)
    try:
        outcomes, end = rep.run()
        row = rep.row(index, outcomes, end)
    except (ArithmeticError, ValueError, TypeError) as exc:  # a value no check foresaw
        raise RunError(f"cannot compute a value at t={rep.env.now:g}: {exc}") from None
    if history is not None:
        history.extend(rep.histories)
    return row, rep.trace or []


def failed_row(plan: Plan, index: int, error: RunError) -> list[Any]:
    """The record of a run that failed: NaN/empty values and its error message."""
    cols = columns_of(plan)
    row: list[Any] = []
    for c in cols:
        row.append(index if c.name == "run" else "" if c.kind == "str" else
                   (0 if c.kind == "int" else float("nan")))
    for d in range(len(plan.dimensions)):  # the outcome columns follow "run"
        row[1 + d] = "error"
    row[-1] = str(error)
    return row
