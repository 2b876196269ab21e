"""One test per rule of a run's semantics (design: run semantics, points 1-7)."""

from __future__ import annotations

import math
import textwrap

import pytest

from sim.engine import columns_of, make_plan, run_one
from sim.errors import RunError
from sim.scenario import load_scenario_text

HEAD = """\
name: t
clock: {horizon: 100}
ladder: [l0, l1, l2, l3]
"""


def run(body: str, index: int = 0, seed: int = 1, trace: bool = False, **params):
    sc = load_scenario_text(HEAD + textwrap.dedent(body))
    plan = make_plan(sc, params)
    row, events = run_one(plan, seed, index, trace=trace)
    record = dict(zip([c.name for c in columns_of(plan)], row, strict=True))
    return (record, events) if trace else record


def test_same_seed_and_index_give_the_same_run_and_others_differ():
    body = """
    actors: {a: {vars: {x: 0}}}
    actions: {go: {every: {exponential: 5}, effects: [{add: {a.x: 1}}]}}
    outcomes: [{id: end, default: true}]
    """
    first, again, other = run(body, 3), run(body, 3), run(body, 4)
    assert first == again
    assert first["a.x"] != other["a.x"] or first["count.go"] != other["count.go"]


def test_recurring_action_waits_then_executes_if_requires_holds():
    r = run("""
    actors: {a: {vars: {x: 0}}}
    actions:
      go: {every: 10, requires: a.x < 2, effects: [{add: {a.x: 1}}]}
    outcomes: [{id: end, default: true}]
    """)
    assert r["a.x"] == 2 and r["count.go"] == 2  # attempts at 10..90, two allowed


def test_scheduled_actions_run_at_their_times_and_horizon_excludes_its_own_instant():
    r, events = run("""
    actions: {ping: {at: [0, 30, 99.5, 100]}}
    outcomes: [{id: end, default: true}]
    """, trace=True)
    assert [e[0] for e in events if e[1] == "action"] == [0, 30, 99.5]
    assert r["count.ping"] == 3


def test_draws_in_order_and_effects_in_order():
    r = run("""
    actors: {a: {vars: {x: 0, y: 0}}}
    actions:
      go:
        at: 1
        draws: {first: 4, second: first * 10}
        effects: [{set: {a.x: second}}, {add: {a.x: 1}}, {set: {a.y: a.x * 2}}]
    outcomes: [{id: end, default: true}]
    """)
    assert (r["a.x"], r["a.y"]) == (41, 82)


def test_event_triggers_run_in_file_order_with_the_payload():
    r = run("""
    actors: {a: {vars: {y: 0}}}
    actions: {go: {at: 1, draws: {k: 3}}}
    triggers:
      first: {on: go, do: [{set: {a.y: k}}]}
      second: {on: go, do: [{set: {a.y: a.y * 10 + 2}}]}
    outcomes: [{id: end, default: true}]
    """)
    assert r["a.y"] == 32


def test_trigger_guard_probability_and_delay():
    r, _events = run("""
    actors: {a: {vars: {hit: 0, miss: 0, late: 0}}}
    actions: {go: {at: 1, draws: {k: 1}}}
    triggers:
      guarded: {on: go, if: k > 1, do: [{set: {a.miss: 1}}]}
      never: {on: go, probability: 0, do: [{set: {a.miss: 2}}]}
      always: {on: go, probability: 1, do: [{set: {a.hit: 1}}]}
      delayed: {on: go, after: 5, do: [{set: {a.late: t}}]}
    outcomes: [{id: end, default: true}]
    """, trace=True)
    assert (r["a.hit"], r["a.miss"], r["a.late"]) == (1, 0, 6)


def test_trigger_limits_once_max_cooldown():
    r = run("""
    actors: {a: {vars: {once: 0, max2: 0, cool: 0}}}
    actions: {tick: {every: 1}}
    triggers:
      t_once: {on: tick, once: true, do: [{add: {a.once: 1}}]}
      t_max: {on: tick, max: 2, do: [{add: {a.max2: 1}}]}
      t_cool: {on: tick, cooldown: 10, do: [{add: {a.cool: 1}}]}
    outcomes: [{id: end, default: true}]
    """)
    assert (r["a.once"], r["a.max2"], r["a.cool"]) == (1, 2, 10)  # ticks 1..99: 1, 11, ..., 91


def test_when_trigger_fires_on_false_to_true_edges_only():
    r = run("""
    actors: {a: {vars: {x: 0, fired: 0}}}
    actions:
      up: {at: [10, 20, 40], effects: [{set: {a.x: 1}}]}
      down: {at: 30, effects: [{set: {a.x: 0}}]}
    triggers:
      edge: {when: a.x > 0, do: [{add: {a.fired: 1}}]}
    outcomes: [{id: end, default: true}]
    """)
    assert r["a.fired"] == 2  # at 10 (edge), not 20 (still true), again at 40 after 30


def test_terminal_outcomes_end_the_run_at_once_in_file_order():
    r = run("""
    actors: {a: {vars: {x: 0, after: 0}}}
    actions:
      go: {at: 5, effects: [{set: {a.x: 5}}, {set: {a.after: 1}}]}
    outcomes:
      - {id: second_listed_first_true, when: a.x > 4, terminal: true}
      - {id: also_true, when: a.x > 1, terminal: true}
      - {id: end, default: true}
    """)
    assert r["outcome"] == "second_listed_first_true"
    assert r["end_time"] == 5 and r["a.after"] == 0  # nothing after the ending change


def test_terminal_checks_come_before_when_triggers():
    r = run("""
    actors: {a: {vars: {x: 0, y: 0}}}
    actions: {go: {at: 5, effects: [{set: {a.x: 1}}]}}
    triggers: {react: {when: a.x > 0, do: [{set: {a.y: 1}}]}}
    outcomes:
      - {id: stop, when: a.x > 0, terminal: true}
      - {id: end, default: true}
    """)
    assert r["outcome"] == "stop" and r["a.y"] == 0


def test_same_time_events_run_in_scheduling_order():
    r = run("""
    actors: {a: {vars: {x: 0}}}
    actions:
      first: {at: 5, effects: [{set: {a.x: 1}}]}
      second: {at: 5, effects: [{set: {a.x: 2}}]}
    outcomes: [{id: end, default: true}]
    """)
    assert r["a.x"] == 2


def test_levels_are_clamped_and_times_to_levels_recorded():
    r = run("""
    start_level: l1
    actions:
      jump: {at: 10, effects: [{escalate: 5}]}
      fall: {at: 20, effects: [{deescalate: 9}]}
      lift: {at: 30, effects: [{raise_to: l2}, {raise_to: l1}]}
    outcomes: [{id: end, default: true}]
    """)
    assert (r["final_level"], r["max_level"]) == ("l2", "l3")
    assert (r["time_to.l0"], r["time_to.l1"], r["time_to.l2"], r["time_to.l3"]) == (0, 0, 10, 10)
    assert r["path"] == "l1 > l3 > l0 > l2 > end"


def test_never_reached_level_time_is_nan():
    r = run("outcomes: [{id: end, default: true}]\n")
    assert math.isnan(r["time_to.l1"]) and r["time_to.l0"] == 0


def test_fire_now_and_after_a_delay_and_start_stop():
    r, events = run("""
    actors: {a: {vars: {n: 0}}}
    actions:
      tick: {every: 10, active: false, effects: [{add: {a.n: 1}}]}
      begin: {at: 5, effects: [{start: tick}, {fire: {action: halt, after: 30}}]}
      halt: {effects: [{stop: tick}]}
    outcomes: [{id: end, default: true}]
    """, trace=True)
    # ticks at 15 and 25; at 35 the halt, scheduled earlier (at 5), runs first (FIFO)
    assert r["a.n"] == 2
    assert [e[0] for e in events if e[2] == "tick"] == [15, 25]


def test_end_effect_and_milestones_make_the_path():
    r = run("""
    actions:
      strike: {at: 1, milestone: true}
      talks: {at: 2, milestone: true, effects: [{escalate: 1}, {end: deal}]}
    outcomes:
      - {id: deal, terminal: true}
      - {id: end, default: true}
    """)
    assert r["outcome"] == "deal" and r["end_time"] == 2
    assert r["path"] == "l0 > strike > talks > l1 > deal"


def test_classification_at_horizon():
    r = run("""
    actors: {a: {vars: {x: 0}}}
    actions: {go: {at: 1, effects: [{set: {a.x: 3}}]}}
    outcomes:
      - {id: late_terminal, when: t > 1000, terminal: true}
      - {id: big, when: a.x > 5}
      - {id: medium, when: a.x > 2}
      - {id: small, when: a.x > 1}
      - {id: end, default: true}
    """)
    assert r["outcome"] == "medium" and r["end_time"] == 100


def test_poisson_rate_and_metrics():
    r = run("""
    actors: {a: {vars: {x: 0}}}
    actions: {arrive: {rate: 0.5, effects: [{add: {a.x: 1}}]}}
    metrics: {double: a.x * 2, per_day: "a.x / t"}
    outcomes: [{id: end, default: true}]
    """)
    assert r["metric.double"] == 2 * r["a.x"] and 20 < r["a.x"] < 90
    assert r["metric.per_day"] == pytest.approx(r["a.x"] / 100)


def test_zero_delay_queue_loop_hits_the_event_cap_with_names():
    with pytest.raises(RunError, match=r"more than 1,000 events .* ping \(\d+\)"):
        run("""
        limits: {max_events: 1000}
        actions: {ping: {at: 1, effects: [{fire: {action: ping, after: 0}}]}}
        outcomes: [{id: end, default: true}]
        """)


def test_synchronous_loop_is_stopped_with_names():
    with pytest.raises(RunError, match="zero-delay"):
        run("""
        actions:
          a: {at: 1, effects: [{fire: b}]}
          b: {effects: [{fire: a}]}
        outcomes: [{id: end, default: true}]
        """)


def test_runtime_division_by_zero_is_located():
    with pytest.raises(RunError, match=r"<scenario>:\d+:\d+: actions.go.effects\[0\].set.a.x: "
                                       r"cannot compute '1 / a.y'"):
        run("""
        actors: {a: {vars: {x: 0, y: 0}}}
        actions: {go: {at: 1, effects: [{set: {a.x: 1 / a.y}}]}}
        outcomes: [{id: end, default: true}]
        """)


def test_runtime_probability_outside_unit_interval_is_located():
    with pytest.raises(RunError, match=r"triggers.t.probability: a probability must be within "
                                       r"\[0, 1\], got 2"):
        run("""
        actors: {a: {vars: {x: 2}}}
        actions: {go: {at: 1}}
        triggers: {t: {on: go, probability: a.x, do: []}}
        outcomes: [{id: end, default: true}]
        """)


def test_parameters_bind_values_and_ranges_are_enforced():
    body = """
    parameters: {k: {value: 2, range: [0, 10]}}
    actors: {a: {vars: {x: k}}}
    outcomes: [{id: end, default: true}]
    """
    assert run(body)["a.x"] == 2
    assert run(body, k=7)["a.x"] == 7
    from sim.errors import ScenarioError

    with pytest.raises(ScenarioError, match=r"outside its range \[0.0, 10.0\]"):
        run(body, k=11)
    with pytest.raises(ScenarioError, match=r"unknown parameter 'kk' .did you mean 'k'.."):
        run(body, kk=1)
