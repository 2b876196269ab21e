"""A valid fixture using every feature loads, runs, and round-trips through its document."""

from __future__ import annotations

from sim.engine import make_plan, run_one
from sim.scenario import Scenario, load_scenario

EVERYTHING = """\
name: everything
title: Every feature of the language
clock: {unit: day, start: 2024-11-19, horizon: 200}
sources:
  - {id: src, title: A source, publisher: P, date: "2024-11-19", url: "https://example.org"}
parameters:
  p: {value: 0.4, range: [0, 1], doc: a probability, source: {ref: src, note: a fact}}
  n: {value: 5, range: [1, 10], integer: true, unit: items, assumption: a reason}
  flag: {value: true}
  pick: {value: 2, choices: [1, 2, 3]}
  bare: 3
ladder:
  - {id: calm, doc: nothing happens}
  - tense
  - hot
  - war
start_level: tense
actors:
  a: {vars: {x: n, y: 0.5, ok: flag}, doc: an actor, assumption: made up}
  b: {}
actions:
  at_once: {actor: a, at: [1, 2], milestone: true}
  recurring:
    every: {triangular: [1, 2, 4]}
    requires: a.ok and a.x > 0
    draws:
      c: 2.5
      u: {uniform: {low: 0, high: 1}}
      tr: {triangular: {low: 0, mode: 1, high: 2}}
      e: {exponential: {rate: 2}}
      no: {normal: {mean: 0, sd: 1, low: -1, high: 1}}
      ln: {lognormal: {mu: 0, sigma: 0.5, high: 10}}
      g: {gamma: {shape: 2, scale: 1}}
      w: {weibull: {shape: 1.5, scale: 2}}
      be: {bernoulli: p}
      bi: {binomial: {n: n, p: p}}
      big: {binomial: {n: "n * 100", p: p}}
      po: {poisson: 3}
      bigpo: {poisson: 50}
      ca: {categorical: {values: [1, 2, 3], weights: [1, 1, "p * 2"]}}
      cu: {categorical: {values: [10, 20]}}
    effects:
      - {add: {a.x: -1}}
      - {set: {a.y: "clip(u + tr + e + no + ln + g + w + be + bi + po + ca, 0, 1000)"}}
  poisson_arrivals: {rate: "0.1 * pick", active: true}
  paused: {every: 5, active: false, effects: [{add: {a.x: 1}}]}
  fired: {doc: only when fired, effects: [{deescalate: 1}]}
triggers:
  on_event:
    on: [recurring]
    if: bi >= 1
    probability: "min(p * 2, 1)"
    after: {exponential: {mean: 3}}
    max: 3
    cooldown: 5
    do: [{escalate: 1}, {fire: {action: fired, after: 1}}, {start: paused}]
  on_state:
    when: a.x < 2
    once: true
    milestone: true
    do: [{raise_to: hot}, {stop: paused}, {fire: at_once}, {set_level: tense}]
outcomes:
  - {id: war, when: level >= war, terminal: true, doc: the worst}
  - {id: stopped, terminal: true}
  - {id: hot_end, when: level >= hot}
  - {id: other, default: true}
metrics:
  total: "a.x + a.y"
  ratio: {expr: "a.y / max(a.x, 1)", doc: a ratio}
limits: {max_events: 50000}
"""


def test_every_feature_loads_runs_and_round_trips(write):
    sc = load_scenario(write(EVERYTHING))
    plan = make_plan(sc)
    outcomes = {run_one(plan, 7, i)[0][1] for i in range(60)}
    assert outcomes <= {"war", "stopped", "hot_end", "other"} and outcomes
    again = Scenario.from_document(sc.document)
    assert again.spec == sc.spec
    assert again.content_hash == sc.content_hash
    dumped = sc.spec.model_dump(by_alias=True, exclude_none=True)
    assert Scenario.from_document(dumped).spec == sc.spec
