"""Hazards that follow the state and the clock agree with exact answers (fixed seeds,
4 standard errors, 40,000 runs each), and their semantics hold: a wait is redrawn only
when the rate changes, a rate of 0 suspends, bounds and signs are checked, located."""

from __future__ import annotations

import math
import textwrap
from collections import Counter

import numpy as np
import pytest
import scipy.linalg
from scipy import integrate, stats

import sim
from sim.engine import columns_of, make_plan, run_one
from sim.errors import RunError, ScenarioError
from sim.scenario import load_scenario_text

RUNS = 40_000
K = 4.0  # standard errors


def records(text: str, runs: int = RUNS, seed: int = 3, **params) -> list[dict]:
    plan = make_plan(load_scenario_text(textwrap.dedent(text)), params)
    names = [c.name for c in columns_of(plan)]
    return [dict(zip(names, run_one(plan, seed, i)[0], strict=True)) for i in range(runs)]


def events(text: str, index: int = 0, seed: int = 1) -> list[tuple[float, str]]:
    plan = make_plan(load_scenario_text(textwrap.dedent(text)))
    _, trace = run_one(plan, seed, index, trace=True)
    return [(e[0], e[2]) for e in trace if e[1] == "action"]


def assert_share(count: int, p: float, n: int, what: str = "") -> None:
    se = math.sqrt(p * (1 - p) / n)
    assert abs(count / n - p) <= K * se, (what, count / n, p, se)


def assert_pmf(counts: np.ndarray, pmf: np.ndarray, what: str = "") -> None:
    """Every P(N = k) with an expected 20 runs or more, and the mean."""
    n = len(counts)
    for k, p in enumerate(pmf):
        if p * n >= 20:
            assert_share(int((counts == k).sum()), float(p), n, f"{what} P(N={k})")
    mean = float(np.dot(np.arange(len(pmf)), pmf))
    sd = math.sqrt(float(np.dot((np.arange(len(pmf)) - mean) ** 2, pmf)))
    assert abs(counts.mean() - mean) <= K * sd / math.sqrt(n), (what, counts.mean(), mean)


# --- exact answers --------------------------------------------------------------------------


@pytest.mark.parametrize(("up", "down"), [
    ('rate: "0.3 * (3 - level)"', 'rate: "0.25 * level"'),
    ('every: {exponential: {rate: "0.3 * (3 - level)"}}', 'rate: {expr: "0.25 * level"}'),
], ids=["rate", "every-exponential"])
def test_ladder_with_level_dependent_rates_matches_the_matrix_exponential(up, down):
    """Up at 0.3 per rung left above, down at 0.25 per rung below: a birth-death chain on
    the ladder; the level at T is distributed as row 0 of expm(Q T). Both rates reach 0
    at an end of the ladder (the action is suspended there and resumes)."""
    T = 5.0
    rows = records(f"""
    name: ladder
    clock: {{horizon: {T}}}
    ladder: [l0, l1, l2, l3]
    actions:
      up: {{{up}, effects: [{{escalate: 1}}]}}
      down: {{{down}, effects: [{{deescalate: 1}}]}}
    outcomes: [{{id: end, default: true}}]
    """)
    Q = np.zeros((4, 4))
    for k in range(4):
        if k < 3:
            Q[k, k + 1] = 0.3 * (3 - k)
        if k > 0:
            Q[k, k - 1] = 0.25 * k
        Q[k, k] = -Q[k].sum()
    exact = scipy.linalg.expm(Q * T)[0]
    final = Counter(r["final_level"] for r in rows)
    for k, level in enumerate(["l0", "l1", "l2", "l3"]):
        assert_share(final[level], exact[k], RUNS, level)


@pytest.mark.parametrize("arrive", [
    'rate: "0.5 if u.flipped else 2"',
    'every: {exponential: {mean: "2 if u.flipped else 0.5"}}',
], ids=["rate", "every-mean"])
def test_poisson_rate_switches_when_a_variable_flips(arrive):
    """Arrivals at 2 per unit until a flag flips (at an exponential time, rate mu), then
    at 0.5: the count over [0, T] is Poisson with the random mean
    r1 min(tau, T) + r2 (T - tau)+, whose mixture is integrated exactly."""
    r1, r2, mu, T = 2.0, 0.5, 0.4, 4.0
    rows = records(f"""
    name: flip
    clock: {{horizon: {T}}}
    ladder: [a, b]
    actors: {{u: {{vars: {{flipped: false}}}}}}
    actions:
      flip: {{every: {{exponential: {{rate: {mu}}}}}, effects: [{{set: {{u.flipped: true}}}}]}}
      arrive: {{{arrive}}}
    outcomes: [{{id: end, default: true}}]
    """)
    counts = np.array([r["count.arrive"] for r in rows])

    def pmf(k: int) -> float:
        def mixed(s: float) -> float:
            return mu * math.exp(-mu * s) * stats.poisson.pmf(k, r1 * s + r2 * (T - s))
        inner = integrate.quad(mixed, 0.0, T, epsabs=1e-13)[0]
        return inner + math.exp(-mu * T) * stats.poisson.pmf(k, r1 * T)

    exact = np.array([pmf(k) for k in range(40)])
    assert abs(exact.sum() - 1.0) < 1e-9
    assert_pmf(counts, exact, "flip")


@pytest.mark.parametrize(("rate", "integral"), [
    ("0.2 + 0.1 * t", 0.2 * 10 + 0.05 * 100),  # the bound 1.2 is derived
    ({"expr": "1 - 0.04 * (t - 5) ** 2", "max": 1.1}, 10 - 0.04 * 250 / 3),  # declared
])
def test_rate_of_time_gives_a_poisson_count_of_its_integral(rate, integral):
    """A non-homogeneous Poisson process (thinning): the count over [0, 10] is
    Poisson(integral of the rate)."""
    written = f'"{rate}"' if isinstance(rate, str) else \
        f'{{expr: "{rate["expr"]}", max: {rate["max"]}}}'
    rows = records(f"""
    name: nhpp
    clock: {{horizon: 10}}
    ladder: [a, b]
    actions:
      arrive: {{rate: {written}}}
    outcomes: [{{id: end, default: true}}]
    """)
    counts = np.array([r["count.arrive"] for r in rows])
    assert_pmf(counts, stats.poisson.pmf(np.arange(60), integral), str(rate))


def test_exponential_mean_that_reads_the_clock_is_thinned_with_a_derived_bound():
    """every: {exponential: {mean: 2 / (1 + t)}} has rate (1 + t) / 2: over [0, 6] the
    count is Poisson((6 + 18) / 2 = 12)."""
    rows = records("""
    name: mean_of_t
    clock: {horizon: 6}
    ladder: [a, b]
    actions:
      arrive: {every: {exponential: {mean: "2 / (1 + t)"}}}
    outcomes: [{id: end, default: true}]
    """)
    counts = np.array([r["count.arrive"] for r in rows])
    assert_pmf(counts, stats.poisson.pmf(np.arange(80), 12.0), "mean of t")


def test_piecewise_schedule_by_dates_is_exact_and_stops_at_zero():
    """0.5 a day from the start, 2 from the 3rd of January, none from the 4th: over five
    days the count is Poisson(1 + 2 + 0 = 3), and nothing happens after the 4th."""
    rows = records("""
    name: schedule
    clock: {unit: day, start: 2025-01-01, horizon: 2025-01-06}
    ladder: [a, b]
    actors: {u: {vars: {last: -1}}}
    actions:
      arrive:
        rate: {schedule: [[2025-01-01, 0.5], [2025-01-03, 2], ["2025-01-04", 0]]}
        effects: [{set: {u.last: t}}]
    outcomes: [{id: end, default: true}]
    """)
    counts = np.array([r["count.arrive"] for r in rows])
    assert_pmf(counts, stats.poisson.pmf(np.arange(40), 3.0), "schedule")
    assert max(r["u.last"] for r in rows) < 3.0
    # the share of runs with an arrival in [2, 3): 1 - exp(-2)
    busy = sum(1 for r in rows if 2.0 <= r["u.last"] < 3.0)
    assert_share(busy, 1 - math.exp(-2.0), RUNS, "an arrival on the 3rd")


def test_a_rate_that_goes_to_zero_suspends_and_resumes():
    """Rate 1, then 0 from t=1 to t=3 (a flag), then 1 again: Poisson(3) over [0, 5],
    with no arrival while the flag is set (a zero rate no longer ends the process)."""
    rows = records("""
    name: suspend
    clock: {horizon: 5}
    ladder: [a, b]
    actors: {u: {vars: {off: false, while_off: 0}}}
    actions:
      pause: {at: 1, effects: [{set: {u.off: true}}]}
      resume: {at: 3, effects: [{set: {u.off: false}}]}
      arrive:
        rate: "0 if u.off else 1"
        effects: [{add: {u.while_off: "1 if u.off else 0"}}]
    outcomes: [{id: end, default: true}]
    """)
    counts = np.array([r["count.arrive"] for r in rows])
    assert_pmf(counts, stats.poisson.pmf(np.arange(40), 3.0), "suspend")
    assert sum(r["u.while_off"] for r in rows) == 0


# --- semantics ------------------------------------------------------------------------------

_REDRAW = """
name: redraw
clock: {{horizon: 200}}
ladder: [a, b]
actors: {{u: {{vars: {{x: 1, other: 0}}}}}}
actions:
  arrive: {{rate: "0.5 if u.x > 0 else 2"}}
  poke: {{every: 0.7, effects: [{poke}]}}
outcomes: [{{id: end, default: true}}]
"""


def _arrivals(poke: str) -> list[float]:
    return [t for t, name in events(_REDRAW.format(poke=poke)) if name == "arrive"]


def test_the_wait_is_redrawn_only_when_the_rate_changes():
    """Writing the value the rate reads again, writing another value that leaves the rate
    as it was, or writing a variable the rate does not read, draws nothing: the arrivals
    are those of a run that never pokes. A write that changes the rate redraws."""
    quiet = _arrivals("{set: {u.other: 0}}")
    assert len(quiet) > 50
    assert _arrivals("{set: {u.x: 1}}") == quiet  # the same value
    assert _arrivals("{add: {u.x: 1}}") == quiet  # another value, the same rate
    assert _arrivals("{add: {u.other: 1}}") == quiet  # a variable the rate does not read
    changed = _arrivals("{set: {u.x: \"0 if u.x > 0 else 1\"}}")  # toggles the rate
    assert changed != quiet


def test_a_constant_rate_draws_as_before():
    """A rate of parameters only keeps the plain path: one draw per wait, the same
    stream as an exponential interval with the same mean."""
    rate = [t for t, _ in events("""
    name: plain
    clock: {horizon: 100}
    ladder: [a, b]
    parameters: {r: 0.4}
    actions: {arrive: {rate: r}}
    outcomes: [{id: end, default: true}]
    """)]
    every = [t for t, _ in events("""
    name: plain
    clock: {horizon: 100}
    ladder: [a, b]
    actions: {arrive: {every: {exponential: {rate: 0.4}}}}
    outcomes: [{id: end, default: true}]
    """)]
    assert rate == pytest.approx(every, rel=1e-12) and len(rate) > 10


def test_a_rate_above_its_declared_max_is_a_located_run_error(write):
    """No bound follows from an actor variable, so the declared max is trusted, and a
    rate seen above it at a candidate fails the run."""
    path = write("""
    name: over
    clock: {horizon: 100}
    ladder: [a, b]
    actors: {u: {vars: {x: 1}}}
    actions:
      arrive: {rate: {expr: "0.02 * t * u.x", max: 0.5}}
    outcomes: [{id: end, default: true}]
    """)
    plan = make_plan(sim.load_scenario(path))
    with pytest.raises(RunError) as info:
        for i in range(50):
            run_one(plan, 1, i)
    message = str(info.value)
    assert message.startswith("scenario.yaml:7:25: actions.arrive.rate.expr: the rate ")
    assert "above its declared max 0.5" in message and "'0.02 * t * u.x'" in message


def test_a_rate_of_time_without_a_bound_is_a_located_load_error(write):
    path = write("""
    name: unbounded
    clock: {horizon: 100}
    ladder: [a, b]
    actors: {u: {vars: {x: 1}}}
    actions:
      arrive: {rate: "0.1 * t * u.x"}
    outcomes: [{id: end, default: true}]
    """)
    with pytest.raises(ScenarioError) as info:
        sim.load_scenario(path)
    assert [str(p) for p in info.value.problems] == [
        "scenario.yaml:7:18: actions.arrive.rate: this rate reads t, so it is run by thinning, "
        "which needs a bound it never exceeds; none follows from the expression: declare "
        "one, rate: {expr: ..., max: B}"]


def test_a_negative_rate_is_a_located_run_error(write):
    path = write("""
    name: negative
    clock: {horizon: 100}
    ladder: [a, b]
    actors: {u: {vars: {x: 0}}}
    actions:
      grow: {every: 1, effects: [{add: {u.x: 1}}]}
      arrive: {rate: "1 - u.x"}
    outcomes: [{id: end, default: true}]
    """)
    with pytest.raises(RunError) as info:
        run_one(make_plan(sim.load_scenario(path)), 1, 0)
    assert str(info.value) == ("scenario.yaml:8:18: actions.arrive.rate: a rate must be >= 0, "
                               "got -1.0 (from '1 - u.x') at t=2")


def test_a_rate_of_time_that_is_never_positive_is_a_located_error(write):
    """Thinning against a bound of 0 would never evaluate it: refused at load, and at a
    parameter point that makes it so."""
    path = write("""
    name: never
    clock: {horizon: 10}
    ladder: [a, b]
    actions:
      always: {rate: "-0.1 - 0.01 * t"}
    outcomes: [{id: end, default: true}]
    """)
    with pytest.raises(ScenarioError) as info:
        sim.load_scenario(path)
    assert [str(p) for p in info.value.problems] == [
        "scenario.yaml:6:18: actions.always.rate: this rate is below 0 throughout the run "
        "(at most -0.1)"]
    path = write("""
    name: sometimes
    clock: {horizon: 10}
    parameters: {k: {value: 1, range: [-1, 1], assumption: a test}}
    ladder: [a, b]
    actions:
      arrive: {rate: "k * (0.1 + 0.01 * t)"}
    outcomes: [{id: end, default: true}]
    """, "sometimes.yaml")
    sc = sim.load_scenario(path)
    with pytest.raises(RunError) as run_info:
        make_plan(sc, {"k": -1})
    assert str(run_info.value) == (
        "sometimes.yaml:7:18: actions.arrive.rate: a rate must be >= 0; "
        "'k * (0.1 + 0.01 * t)' is at most -0.1 at these parameter values")


def test_a_negative_literal_rate_or_schedule_rate_is_a_located_load_error(write):
    path = write("""
    name: negative
    clock: {horizon: 100}
    ladder: [a, b]
    actions:
      one: {rate: -1}
      two: {rate: {schedule: [[0, 1], [5, -0.5]]}}
    outcomes: [{id: end, default: true}]
    """)
    with pytest.raises(ScenarioError) as info:
        sim.load_scenario(path)
    assert [str(p) for p in info.value.problems] == [
        "scenario.yaml:6:15: actions.one.rate: must be >= 0, got -1",
        "scenario.yaml:7:39: actions.two.rate.schedule[1][1]: must be >= 0, got -0.5"]


@pytest.mark.parametrize(("schedule", "message"), [
    ("[[1, 0.1]]", "[0][0]: a schedule starts at time 0, got 1"),
    ("[[0, 0.1], [5, 0.2], [5, 0.3]]",
     "[2][0]: a schedule's times must increase: 5 is not after the previous time"),
    ("[[0, 0.1], [x, 0.2]]", "[1][0]: a time here is a number or a date (YYYY-MM-DD), got 'x'"),
    ("[[0, t]]", "[0][1]: a schedule's rate may not read t (it holds from its time to the "
                 "next); use rate: {expr: ..., max: B}"),
    ("[]", ": List should have at least 1 item after validation, not 0"),
    ("[[0, 1, 2]]", "[0]: a schedule item is [time, rate], got [0, 1, 2]"),
    ("[0.5]", "[0]: a schedule item is [time, rate], got 0.5"),
])
def test_bad_schedules_are_located_load_errors(write, schedule, message):
    path = write(f"""
    name: bad
    clock: {{horizon: 100}}
    ladder: [a, b]
    actions:
      arrive: {{rate: {{schedule: {schedule}}}}}
    outcomes: [{{id: end, default: true}}]
    """)
    with pytest.raises(ScenarioError) as info:
        sim.load_scenario(path)
    found = [p.path + ": " + p.message for p in info.value.problems]
    assert found == [f"actions.arrive.rate.schedule{message}"] and \
        all(p.line == 6 for p in info.value.problems)


def test_a_stopped_hazard_ignores_changes_and_restarts_at_the_rate_of_its_start():
    """stop: drops the pending wait; a change while stopped draws nothing; start: draws
    at the rate of that moment."""
    arrivals = [t for t, name in events("""
    name: stop
    clock: {horizon: 30}
    ladder: [a, b]
    actors: {u: {vars: {x: 1}}}
    actions:
      arrive: {rate: "10 * u.x"}
      halt: {at: 5, effects: [{stop: arrive}]}
      poke: {at: [6, 7], effects: [{add: {u.x: 1}}]}
      go: {at: 20, effects: [{start: arrive}]}
    outcomes: [{id: end, default: true}]
    """) if name == "arrive"]
    assert any(t < 5 for t in arrivals) and any(t >= 20 for t in arrivals)
    assert not any(5 <= t < 20 for t in arrivals)


# --- bounds of a rate that reads the clock --------------------------------------------------

_SYMBOLS_TEXT = """
name: bounds
clock: {horizon: 100}
parameters: {p: 0.5, q: -2}
ladder: [l0, l1, l2, l3]
actors: {u: {vars: {x: 1}}}
actions: {go: {every: 1}}
outcomes: [{id: end, default: true}]
"""


def _range(text: str) -> tuple[float, float]:
    from sim.scenario.bounds import state_ranges, value_range
    from sim.scenario.expressions import compile_expression, namespace_for

    sc = load_scenario_text(_SYMBOLS_TEXT)
    expr = compile_expression(text, sc.symbols)
    return value_range(expr.tree, namespace_for(sc.defaults), state_ranges(sc.symbols), 100.0)


@pytest.mark.parametrize(("text", "hi"), [
    ("0.1 + t / 100", 1.1),
    ("clip(0.01 * t, 0, p)", 0.5),
    ("abs(t - 60) / 100", 0.6),
    ("0.2 if t < 30 else 0.05", 0.2),
    ("p * (1 + level) * t / 100", 2.0),
    ("max(0, min(t, 10)) * p", 5.0),
    ("(t / 100) ** 2 + 2 ** q", 1.25),
    ("t // 30 * p", 1.5),
    ("t % 7", 7.0),
    ("t * (count.go > 3)", 100.0),
    ("round(t / 10)", 10.5),
])
def test_bounds_of_rates_of_time(text, hi):
    assert _range(text)[1] == pytest.approx(hi)


@pytest.mark.parametrize("text", ["t / level", "t * u.x", "t * count.go", "(t - 50) ** 2",
                                  "t ** u.x", "round(t, 1)", "t % u.x"])
def test_no_bound_is_claimed_where_none_is_sound(text):
    assert _range(text)[1] == math.inf


@pytest.mark.parametrize("text", [
    "0.1 + t / 100", "clip(0.01 * t, 0, p) - level", "abs(t - 60) / (1 + level)",
    "0.2 if t < 30 else -0.05 * level", "max(0, min(t, 10)) * q", "(t / 100) ** 2 + 2 ** q",
    "t // 30 * p - 1 // (1 + level)", "t % 7 + count.go % 3", "round(t / 10) * -p",
    "(t > 50) + (level == 2) * 3", "not (t > 5) or level", "-t ** 0.5 + level / 4",
    # floor division and remainder with operands that floating point cannot hold exactly
    "(2 + 0 * t) // 0.1", "100 - (2 + 0 * t) // 0.1 * 5", "t // 0.1", "t // 0.3 * p",
    "(t - 50) // 0.3", "-t // 0.1", "t // -0.3", "(0.3 + 0 * t) // 0.1",
    "(49 + 0 * t) // 49", "(t * 0.1) // 0.1", "(level - 2.1) // 0.3", "count.go // -0.1",
    "t % 0.1", "t % 0.3", "(t - 50) % 0.3", "-t % 0.1", "t % -0.3", "(level - 2) % -0.1",
    "(-1e-20 + 0 * t) % 1", "(0.3 - t) % (0.1 + level)",
])
def test_bounds_hold_at_every_point_sampled(text):
    """Soundness: the expression's value at random times, levels and counts lies in the
    interval found for it. Times include multiples of 0.1 and 0.3, where floating-point
    floor division and remainder differ from exact arithmetic."""
    from sim.scenario.expressions import compile_expression, namespace_for

    sc = load_scenario_text(_SYMBOLS_TEXT)
    expr = compile_expression(text, sc.symbols)
    fn = expr.bind(namespace_for(sc.defaults))
    lo, hi = _range(text)
    rng = np.random.default_rng(5)
    level_slot, count_slot = sc.symbols.level_slot, sc.symbols.counts["go"]
    for _ in range(2000):
        V = [1.0, 0, 0]
        V[level_slot] = int(rng.integers(0, 4))
        V[count_slot] = int(rng.integers(0, 20))
        t = float(rng.choice([0.0, 100.0, rng.uniform(0, 100), 0.1 * rng.integers(0, 1001),
                              0.3 * rng.integers(0, 334)]))
        value = float(fn(V, t, ()))
        assert lo - 1e-12 <= value <= hi + 1e-12, (text, t, V, value, lo, hi)
