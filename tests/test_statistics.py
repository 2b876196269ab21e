"""Batches agree with exact answers within 4 standard errors (fixed seeds)."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

import sim
from sim.scenario import load_scenario_text


def within(p_hat: float, p: float, n: int, k: float = 4.0) -> bool:
    return abs(p_hat - p) <= k * math.sqrt(p * (1 - p) / n)


def batch(text: str, runs: int, seed: int = 11) -> sim.BatchResult:
    return sim.run_batch(load_scenario_text(text), runs, seed, executor="serial")


def test_binomial_hits_match_the_binomial_law():
    runs = 4000
    res = batch("""
name: hits
clock: {horizon: 10}
ladder: [a, b]
actors: {u: {vars: {hits: 0}}}
actions:
  salvo: {at: 1, draws: {h: {binomial: {n: 6, p: 0.17}}}, effects: [{set: {u.hits: h}}]}
outcomes:
  - {id: none_hit, when: u.hits == 0}
  - {id: some, default: true}
""", runs)
    hits = res.runs_table().column("u.hits").to_numpy()
    mean, sd = 6 * 0.17, math.sqrt(6 * 0.17 * 0.83)
    assert abs(hits.mean() - mean) <= 4 * sd / math.sqrt(runs)
    p0 = 0.83**6
    assert within(res.summary.as_dict()["outcomes"]["none_hit"]["p"], p0, runs)


def test_exponential_race_matches_rate_ratio():
    runs = 4000
    res = batch("""
name: race
clock: {horizon: 100000}
ladder: [a, b]
actions:
  start: {at: 0, effects: [{fire: {action: red, after: {exponential: {rate: 0.2}}}},
                          {fire: {action: blue, after: {exponential: {mean: 2.5}}}}]}
  red: {effects: [{end: red_first}]}
  blue: {effects: [{end: blue_first}]}
outcomes:
  - {id: red_first, terminal: true}
  - {id: blue_first, terminal: true}
  - {id: neither, default: true}
""", runs)
    p_red = 0.2 / (0.2 + 0.4)
    assert within(res.summary.as_dict()["outcomes"]["red_first"]["p"], p_red, runs)
    assert res.summary.as_dict()["outcomes"]["neither"]["count"] == 0
    # the race ends at the minimum of the two: exponential with rate 0.6
    end = res.runs_table().column("end_time").to_numpy()
    assert abs(end.mean() - 1 / 0.6) <= 4 * (1 / 0.6) / math.sqrt(runs)


def test_absorbing_markov_chain_matches_numpy_solution():
    runs = 4000
    up, stay, down = 0.5, 0.2, 0.3
    res = batch(f"""
name: chain
clock: {{horizon: 100000}}
ladder: [l0, l1, l2, l3]
start_level: l1
actions:
  step:
    every: 1
    draws: {{move: {{categorical: {{values: [-1, 0, 1], weights: [{down}, {stay}, {up}]}}}}}}
    effects: [{{escalate: move}}]
outcomes:
  - {{id: top, when: level >= l3, terminal: true}}
  - {{id: bottom, when: level <= l0, terminal: true}}
  - {{id: stuck, default: true}}
""", runs)
    Q = np.array([[stay, up], [down, stay]])
    R = np.array([[down, 0.0], [0.0, up]])
    B = np.linalg.solve(np.eye(2) - Q, R)
    assert within(res.summary.as_dict()["outcomes"]["top"]["p"], B[0, 1], runs)
    steps = np.linalg.solve(np.eye(2) - Q, np.ones(2))[0]  # expected steps to absorption
    end = res.runs_table().column("end_time").to_numpy()
    assert abs(end.mean() - steps) <= 4 * end.std(ddof=1) / math.sqrt(runs)


@pytest.mark.slow
def test_reference_scenario_matches_the_handwritten_program(reference_path):
    """At 20,000 runs, outcome shares of engine and hand-written SimPy agree within 4 SE."""
    from support.handwritten import run

    runs = 20_000
    res = sim.run_batch(reference_path, runs, seed=5, workers=2)
    hand = Counter(run(99, i) for i in range(runs))
    for outcome in ("direct_clash", "ceasefire", "prolonged"):
        p1 = res.summary.as_dict()["outcomes"][outcome]["p"]
        p2 = hand[outcome] / runs
        se = math.sqrt(p1 * (1 - p1) / runs + p2 * (1 - p2) / runs)
        assert abs(p1 - p2) <= 4 * se, (outcome, p1, p2, se)


@pytest.mark.parametrize("runs", [3, 10, 13])
def test_summary_intervals_hold_outcomes_that_never_or_always_occur(runs):
    """An outcome that never occurs has lo == 0 exactly, one that always occurs hi == 1
    (these run counts used to round the bounds past the estimate)."""
    res = batch("""
name: edges
clock: {horizon: 10}
ladder: [a, b]
outcomes:
  - {id: never, when: level > 5}
  - {id: always, default: true}
""", runs)
    outcomes = res.summary.as_dict()["outcomes"]
    never, always = outcomes["never"], outcomes["always"]
    assert never["p"] == 0.0 and never["lo"] == 0.0 and never["hi"] > 0.0
    assert always["p"] == 1.0 and always["hi"] == 1.0 and always["lo"] < 1.0
    for level in res.summary.as_dict()["levels"].values():
        assert 0.0 <= level["lo"] <= level["p"] <= level["hi"] <= 1.0


def _occupancy_per_run(agg, runs):
    """add_histories as first written (one run, one change at a time): the reference."""
    import math

    import numpy as np

    from sim.batch.aggregate import occupancy_times

    times = occupancy_times(agg.horizon)
    n = times.size
    step = times[1] - times[0] if n > 1 else 1.0
    diff = np.zeros((agg.occupancy.shape[0], n + 1), dtype=np.int64)
    rows, starts, stops = [], [], []
    for tracks, end, outcome in runs:
        ended = end < agg.horizon
        limit = min(n, math.ceil(end / step - 1e-9)) if ended else n
        for changes in tracks:
            for i, (t, rank) in enumerate(changes):
                a = math.ceil(t / step - 1e-9)
                b = math.ceil(changes[i + 1][0] / step - 1e-9) if i + 1 < len(changes) else n
                a, b = min(a, limit), min(b, limit)
                if b > a:
                    rows.append(rank)
                    starts.append(a)
                    stops.append(b)
        if ended and limit < n:
            rows.append(len(agg.levels) + outcome)
            starts.append(limit)
            stops.append(n)
    if rows:
        np.add.at(diff, (rows, starts), 1)
        np.add.at(diff, (rows, stops), -1)
    return np.cumsum(diff, axis=1)[:, :n]


@pytest.mark.parametrize("horizon", [365.0, 10.0, 0.5, 5000.0])
def test_occupancy_counts_equal_the_per_run_reference(horizon):
    """The array form of add_histories counts exactly as the per-change loop did: changes
    on and between sample times, several tracks, runs ended early, at or past the horizon."""
    import random

    from sim.batch.aggregate import Aggregate

    rng = random.Random(3)
    levels = ["a", "b", "c", "x", "y"]
    runs = []
    for _ in range(400):
        end = rng.choice([horizon, horizon * rng.random(), float(int(horizon * rng.random()))])
        tracks = []
        for offset in (0, 3):
            changes = [(0.0, offset + rng.randrange(2))]
            t = 0.0
            for _ in range(rng.randrange(5)):
                t = min(end, t + rng.choice([0.0, 1.0, rng.random() * horizon / 4]))
                changes.append((t, offset + rng.randrange(2)))
            tracks.append(changes)
        runs.append((tracks, end, rng.randrange(2)))
    agg = Aggregate(outcomes=["o1", "o2"], levels=levels, horizon=horizon)
    agg.add_histories(runs)
    agg.add_histories([])
    assert (agg.occupancy == _occupancy_per_run(agg, runs)).all()
