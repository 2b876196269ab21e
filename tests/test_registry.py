"""Every registered distribution and effect kind loads, describes itself, is in the JSON
Schema, and behaves: distributions draw with the moments of their scipy.stats law."""

from __future__ import annotations

import math
import textwrap
from typing import Any

import numpy as np
import pytest
from pydantic import TypeAdapter
from scipy import stats

from sim.engine import columns_of, make_plan, run_one
from sim.engine.randomness import Stream, run_generator
from sim.scenario import ScenarioSpec, load_scenario_text
from sim.scenario.describe import describe_dist, describe_effect
from sim.scenario.distributions import DISTRIBUTIONS, Dist
from sim.scenario.effects import EFFECTS

DRAWS = 20_000
SIGMAS = 4.0


def _truncated(law: Any, low: float, high: float) -> Any:
    """Raw moments 1..4 of ``law`` conditioned on [low, high]."""
    return [law.expect(lambda x, k=k: x**k, lb=low, ub=high, conditional=True)
            for k in range(1, 5)]


def _point(value: float) -> Any:
    return stats.rv_discrete(values=([value], [1.0]))


# One case per way a kind samples: (kind, YAML of the distribution, reference law or raw
# moments). ``s.*`` arguments read the state, so they take the per-draw path.
CASES: list[tuple[str, str, Any]] = [
    ("constant", "2.5", _point(2.5)),
    ("constant", "s.three", _point(3.0)),
    ("uniform", "{uniform: [2, 5]}", stats.uniform(2, 3)),
    ("uniform", "{uniform: {low: s.one, high: 4}}", stats.uniform(1, 3)),
    ("triangular", "{triangular: [1, 2, 6]}", stats.triang(0.2, loc=1, scale=5)),
    ("exponential", "{exponential: 4}", stats.expon(scale=4)),
    ("exponential", "{exponential: {rate: 0.5}}", stats.expon(scale=2)),
    ("exponential", "{exponential: {mean: s.three}}", stats.expon(scale=3)),
    ("normal", "{normal: {mean: 3, sd: 2}}", stats.norm(3, 2)),
    ("normal", "{normal: {mean: 3, sd: 2, low: 2, high: 6}}",
     stats.truncnorm(-0.5, 1.5, loc=3, scale=2)),
    ("lognormal", "{lognormal: {mu: 0.5, sigma: 0.4}}",
     stats.lognorm(0.4, scale=math.exp(0.5))),
    ("lognormal", "{lognormal: {mu: 0.5, sigma: 0.4, low: 1, high: 3}}",
     _truncated(stats.lognorm(0.4, scale=math.exp(0.5)), 1.0, 3.0)),
    ("gamma", "{gamma: {shape: 2.5, scale: 1.5}}", stats.gamma(2.5, scale=1.5)),
    ("gamma", "{gamma: {shape: 0.6, scale: 2}}", stats.gamma(0.6, scale=2)),
    ("weibull", "{weibull: {shape: 1.5, scale: 3}}", stats.weibull_min(1.5, scale=3)),
    ("weibull", "{weibull: {shape: 0.8, scale: 2}}", stats.weibull_min(0.8, scale=2)),
    ("bernoulli", "{bernoulli: 0.3}", stats.bernoulli(0.3)),
    ("binomial", "{binomial: {n: 6, p: 0.17}}", stats.binom(6, 0.17)),  # CDF table
    ("binomial", "{binomial: {n: 2000, p: 0.3}}", stats.binom(2000, 0.3)),  # numpy
    ("binomial", "{binomial: {n: s.ten, p: 0.4}}", stats.binom(10, 0.4)),  # trials
    ("binomial", "{binomial: {n: s.ten * 5, p: 0.4}}", stats.binom(50, 0.4)),  # numpy
    ("poisson", "{poisson: 3.5}", stats.poisson(3.5)),  # inversion
    ("poisson", "{poisson: 45}", stats.poisson(45)),  # numpy
    ("categorical", "{categorical: {values: [1, 4, 9]}}",
     stats.rv_discrete(values=([1, 4, 9], [1 / 3, 1 / 3, 1 / 3]))),
    ("categorical", "{categorical: {values: [1, 4, 9], weights: [1, s.one, 2]}}",
     stats.rv_discrete(values=([1, 4, 9], [0.25, 0.25, 0.5]))),
]

SCENARIO = """\
name: dist
clock: {horizon: 10}
ladder: [low, high]
actors: {s: {vars: {one: 1, three: 3, ten: 10}}}
actions: {go: {at: 0, draws: {x: DIST}}}
outcomes: [{id: quiet, default: true}]
"""


def _moments(law: Any) -> tuple[float, float, float]:
    """Mean, variance and fourth central moment of a law (or of its raw moments)."""
    m1, m2, m3, m4 = law if isinstance(law, list) else [law.moment(k) for k in range(1, 5)]
    var = m2 - m1**2
    mu4 = m4 - 4 * m1 * m3 + 6 * m1**2 * m2 - 3 * m1**4
    return m1, var, mu4


def _sample(dist: str, n: int, seed: int = 11) -> np.ndarray:
    sc = load_scenario_text(SCENARIO.replace("DIST", dist))
    sampler = make_plan(sc).actions[0].draws[0]
    stream = Stream(run_generator(seed, 0))
    V = make_plan(sc).initial
    return np.array([sampler(stream, V, 0.0, []) for _ in range(n)], dtype=float)


def test_every_kind_is_registered_once_and_has_cases():
    assert {kind for kind, _, _ in CASES} == set(DISTRIBUTIONS)
    assert set(EFFECT_CASES) == set(EFFECTS)


@pytest.mark.parametrize(("kind", "dist", "law"), CASES,
                         ids=[f"{k}:{d}" for k, d, _ in CASES])
def test_draws_have_the_moments_of_the_law(kind: str, dist: str, law: Any):
    """Mean and variance within 4 standard errors (from the law's own moments)."""
    x = _sample(dist, DRAWS)
    mean, var, mu4 = _moments(law)
    se_mean = math.sqrt(var / DRAWS)
    se_var = math.sqrt(max(mu4 - var**2, 0.0) / DRAWS)
    assert abs(x.mean() - mean) <= SIGMAS * se_mean + 1e-12, (x.mean(), mean, se_mean)
    assert abs(x.var(ddof=1) - var) <= SIGMAS * se_var + 1e-12, (x.var(ddof=1), var, se_var)
    if not isinstance(law, list) and hasattr(law, "pmf"):  # discrete: on the support
        assert np.all(law.pmf(x) > 0)


@pytest.mark.parametrize("kind", list(DISTRIBUTIONS))
def test_distribution_kind_validates_describes_and_is_in_the_schema(kind: str):
    text = next(d for k, d, _ in CASES if k == kind)
    value = load_scenario_text(SCENARIO.replace("DIST", text)).spec.actions["go"].draws["x"]
    assert value.kind == kind
    assert value.entry is DISTRIBUTIONS[kind]
    described = describe_dist(value)
    assert described and (kind == "constant" or described.startswith(f"{kind}("))
    assert TypeAdapter(Dist).validate_python(value.model_dump()) == value
    schema = ScenarioSpec.model_json_schema(by_alias=True)
    assert kind in schema["$defs"]["DistSpec"]["properties"]


# --- effects ------------------------------------------------------------------------------

EFFECT_SCENARIO = """\
name: eff
clock: {horizon: 10}
ladder: [low, mid, high]
start_level: mid
actors: {a: {vars: {x: 1}}}
actions:
  go: {at: 1.5, effects: [EFFECT]}
  tick: {every: 1, active: ACTIVE}
  helper: {effects: [{set: {a.x: 7}}]}
outcomes:
  - {id: stopped_early, terminal: true}
  - {id: quiet, default: true}
"""

# kind: (effect YAML, whether `tick` starts active, the record's expected values)
EFFECT_CASES: dict[str, tuple[str, bool, dict[str, Any]]] = {
    "set": ("{set: {a.x: 5}}", False, {"a.x": 5.0}),
    "add": ("{add: {a.x: a.x + 2}}", False, {"a.x": 4.0}),
    "escalate": ("{escalate: 1}", False, {"final_level": "high"}),
    "deescalate": ("{deescalate: 3}", False, {"final_level": "low"}),
    "raise_to": ("{raise_to: low}", False, {"final_level": "mid"}),
    "set_level": ("{set_level: low}", False, {"final_level": "low"}),
    "fire": ("{fire: {action: helper, after: 2}}", False, {"a.x": 7.0, "count.helper": 1}),
    "start": ("{start: tick}", False, {"count.tick": 8}),
    "stop": ("{stop: tick}", True, {"count.tick": 1}),
    "end": ("{end: stopped_early}", False, {"outcome": "stopped_early", "end_time": 1.5}),
}


def _effect_scenario(kind: str) -> Any:
    text, active, _ = EFFECT_CASES[kind]
    return load_scenario_text(EFFECT_SCENARIO.replace("EFFECT", text)
                              .replace("ACTIVE", str(active).lower()))


@pytest.mark.parametrize("kind", list(EFFECTS))
def test_effect_kind_validates_describes_is_in_the_schema_and_runs(kind: str):
    sc = _effect_scenario(kind)
    effect = sc.spec.actions["go"].effects[0]
    assert effect.kind == kind
    assert effect.entry is EFFECTS[kind]
    assert describe_effect(effect)
    schema = ScenarioSpec.model_json_schema(by_alias=True)
    assert kind in schema["$defs"]["Effect"]["properties"]
    plan = make_plan(sc)
    row, _ = run_one(plan, 1, 0)
    record = dict(zip([c.name for c in columns_of(plan)], row, strict=True))
    expected = EFFECT_CASES[kind][2]
    assert {k: record[k] for k in expected} == expected


def test_effect_descriptions_read_as_before():
    """The table texts of `show` (pinned: one registry, the same words)."""
    cases = {
        "{set: {a.x: 5}}": "a.x = 5",
        "{add: {a.x: -2.0}}": "a.x += -2",
        "{escalate: 2}": "escalate by 2",
        "{deescalate: 1}": "deescalate by 1",
        "{raise_to: high}": "raise level to high",
        "{set_level: low}": "set level low",
        "{fire: helper}": "fire helper",
        "{fire: {action: helper, after: {uniform: [1, 3]}}}":
            "fire helper after uniform(low=1, high=3)",
        "{start: tick}": "start tick",
        "{stop: tick}": "stop tick",
        "{end: stopped_early}": "end stopped_early",
    }
    for text, words in cases.items():
        sc = load_scenario_text(EFFECT_SCENARIO.replace("EFFECT", text)
                                .replace("ACTIVE", "true"))
        assert describe_effect(sc.spec.actions["go"].effects[0]) == words
    assert describe_dist(load_scenario_text(textwrap.dedent(SCENARIO).replace(
        "DIST", "{categorical: {values: [1, 2], weights: [3, 1]}}")).spec.actions["go"]
        .draws["x"]) == "categorical(1, 2; weights 3, 1)"
