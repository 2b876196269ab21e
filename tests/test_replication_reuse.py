"""A Replication run again (``reset``, as a chunk and ``run_one`` do) gives each run exactly
what a new Replication gives it: record, trace and level histories, also after a run that
failed or ended early, and with traced and untraced runs mixed."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest
from conftest import ROOT

import sim
from sim.engine import Replication, RunStreams, make_plan, run_one
from sim.engine.randomness import Stream, run_generator
from sim.engine.tilt import TiltedReplication, run_tilted
from sim.errors import RunError
from sim.scenario import load_scenario_text

# runs that fail (1/(n-6) with n = 6), end early (terminal), jump two rungs past a when:
# edge (so a stale edge state would show), fire with delays and watch slots
HOSTILE = """\
name: t
clock: {horizon: 50}
ladder: [l0, l1, l2, l3]
actors: {x: {vars: {v: 0, n: 0}}}
actions:
  a:
    every: {exponential: {mean: 3}}
    draws: {k: {binomial: {n: 3, p: 0.3}}}
    effects: [{add: {x.n: 1}}]
  b: {effects: [{escalate: 2}]}
  boom: {effects: [{set: {x.v: "1 / (x.n - 6)"}}]}
triggers:
  up: {on: a, if: k >= 2, probability: 0.5, after: {uniform: [0, 2]}, do: [{fire: b}]}
  fail: {on: a, if: k == 3, do: [{fire: boom}]}
  high: {when: level >= l2, do: [{add: {x.v: 1}}]}
outcomes:
  - {id: top, when: level >= l3, terminal: true}
  - {id: calm, default: true}
"""


def _fresh(plan: Any, index: int, trace: bool) -> tuple[Any, ...]:
    """Run ``index`` on a new Replication, as run_one did before runs were reused."""
    rep = Replication(plan, Stream(run_generator(1, index)), trace=trace)
    try:
        try:
            outcomes, end = rep.run()
            row = rep.row(index, outcomes, end)
        except (ArithmeticError, ValueError, TypeError) as exc:
            raise RunError(f"cannot compute a value at t={rep.env.now:g}: {exc}") from None
    except RunError as exc:
        return ("error", str(exc))
    return (row, rep.trace or [], rep.histories)


def _reused(plan: Any, index: int, trace: bool, rep: Replication | None,
            streams: RunStreams) -> tuple[Any, ...]:
    history: list[Any] = []
    try:
        row, trail = run_one(plan, 1, index, trace=trace, history=history,
                             stream=streams.stream(index), rep=rep)
    except RunError as exc:
        return ("error", str(exc))
    return (row, trail, history)


def _same(a: Any, b: Any) -> bool:
    """Equal, NaN equal to NaN (the records hold NaN for rungs never reached)."""
    return repr(a) == repr(b)


@pytest.mark.parametrize("name", ["reference/tit_for_tat.yaml", "bryansk_atacms_2024.yaml",
                                  "examples/state_hazard.yaml", "examples/tracks.yaml",
                                  "examples/evidence.yaml", "examples/date_schedule.yaml"])
def test_reused_replication_runs_as_a_new_one(name):
    plan = make_plan(sim.load_scenario(ROOT / "scenarios" / name))
    streams = RunStreams(1, 0, 60)
    rep = Replication(plan, streams.stream(0))
    for i in range(60):
        trace = i % 3 == 0
        assert _same(_reused(plan, i, trace, rep, streams), _fresh(plan, i, trace)), i


def test_reuse_after_failed_and_ended_runs():
    plan = make_plan(load_scenario_text(textwrap.dedent(HOSTILE), "s.yaml"))
    streams = RunStreams(1, 0, 200)
    rep = Replication(plan, streams.stream(0))
    kinds = set()
    for i in range(200):
        got = _reused(plan, i, i % 2 == 0, rep, streams)
        assert _same(got, _fresh(plan, i, i % 2 == 0)), i
        kinds.add("error" if got[0] == "error" else got[0][1])
    assert kinds == {"error", "top", "calm"}  # failed, ended early and ran to the horizon
    # run_one without rep reuses the thread's last Replication: the same records too
    for i in range(200):
        assert _same(_reused(plan, i, False, None, streams), _fresh(plan, i, False)), i


class _Generic(TiltedReplication):
    """Rare-event runs as they were: a new object per run on the generic methods (a
    subclass that does not declare ``closures``)."""


def _tilted(plan: Any, index: int, theta: list[float], rep: TiltedReplication | None,
            untilted: bool) -> tuple[Any, ...]:
    stream = Stream(run_generator(1, index))
    if rep is None:
        rep = _Generic(plan, stream, theta, tally=True, untilted=untilted)
        assert not rep._fast
    try:
        got = run_tilted(plan, 1, index, theta, tally=True, untilted=untilted, stream=stream,
                         rep=rep)
    except RunError as exc:
        return ("error", str(exc))
    return (got.row, got.log_weight, got.tally, got.max_rank, rep.histories)


@pytest.mark.parametrize("name", ["hostile", "bryansk_atacms_2024.yaml"])
def test_a_reused_tilted_replication_runs_as_a_new_generic_one(name):
    """Rare-event runs now take the closures and reuse one object per chunk: the same
    records, log weights, trigger tallies and rungs as a new object on the generic path."""
    sc = (load_scenario_text(textwrap.dedent(HOSTILE), "s.yaml") if name == "hostile"
          else sim.load_scenario(ROOT / "scenarios" / name))
    plan = make_plan(sc)
    theta = [1.5 if k % 2 == 0 else -0.7 for k in range(len(plan.triggers))]
    rep = TiltedReplication(plan, Stream(run_generator(1, 0)), theta, tally=True)
    assert rep._fast
    kept = []
    for i in range(80):
        untilted = i % 10 == 0
        got = _tilted(plan, i, theta, rep, untilted)
        assert _same(got, _tilted(plan, i, theta, None, untilted)), i
        kept.append(got)
    assert len({repr(k[1]) for k in kept}) > 10  # the weights differ from run to run
    # what a run returned is its own: later restarts do not change it
    for i, k in enumerate(kept):
        assert _same(k, _tilted(plan, i, theta, None, i % 10 == 0)), i
