"""Every class of scenario mistake gives its own located message, all in one pass."""

from __future__ import annotations

import pytest

from sim.errors import ScenarioError
from sim.scenario import load_scenario

BASE = """\
name: test
clock: {{horizon: 100}}
sources:
  - {{id: bold, title: An article}}
parameters:
  p: {{value: 0.5, range: [0, 1]}}
ladder: [low, mid, high]
actors:
  ukraine: {{vars: {{atacms: 60}}}}
actions:
  strike:
    actor: ukraine
    every: {{exponential: {{mean: 10}}}}
    draws: {{hits: {{binomial: {{n: 6, p: p}}}}}}
    effects: [{{add: {{ukraine.atacms: -6}}}}]
triggers:
  answer:
    on: strike
    if: hits > 0
    do: [{{escalate: 1}}]
outcomes:
  - {{id: clash, when: level >= high, terminal: true}}
  - {{id: quiet, default: true}}
{extra}"""


def problems(write, text: str) -> list[str]:
    path = write(text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    return [str(p) for p in info.value.problems]


def replace(old: str, new: str, extra: str = "") -> str:
    text = BASE.format(extra=extra)
    assert old in text
    return text.replace(old, new, 1)


def test_base_is_valid(write):
    assert load_scenario(write(BASE.format(extra=""))).name == "test"


CASES = [
    # (what, old, new, expected message)
    ("unknown key", "    actor: ukraine\n", "    actr: ukraine\n",
     "scenario.yaml:12:5: actions.strike.actr: unknown key 'actr' (did you mean 'actor'?)"),
    ("wrong type", "clock: {horizon: 100}", "clock: {horizon: soon}",
     "scenario.yaml:2:18: clock.horizon: input should be a number, got text 'soon'"),
    ("probability out of range", "    if: hits > 0\n", "    if: hits > 0\n    probability: 1.5\n",
     "scenario.yaml:20:18: triggers.answer.probability: probability must be within [0, 1], "
     "got 1.5"),
    ("negative mean", "{mean: 10}", "{mean: -3}",
     "scenario.yaml:13:33: actions.strike.every.exponential.mean: must be > 0, got -3"),
    ("negative time", "    every: {exponential: {mean: 10}}\n", "    at: [5, -5]\n",
     "scenario.yaml:13:13: actions.strike.at[1]: must be >= 0, got -5"),
    ("unknown actor", "    actor: ukraine\n", "    actor: ukrane\n",
     "scenario.yaml:12:12: actions.strike.actor: unknown actor 'ukrane' (did you mean "
     "'ukraine'?); the actors are ukraine"),
    ("unknown action", "    on: strike\n", "    on: strikes\n",
     "scenario.yaml:18:9: triggers.answer.on: unknown action 'strikes' (did you mean "
     "'strike'?); the actions are strike"),
    ("unknown variable", "{add: {ukraine.atacms: -6}}", "{add: {ukraine.atcms: -6}}",
     "scenario.yaml:15:22: actions.strike.effects[0].add.ukraine.atcms: unknown variable "
     "'ukraine.atcms' (write actor.variable) (did you mean 'ukraine.atacms'?)"),
    ("unknown level", "level >= high", "level >= hihg",
     "scenario.yaml:22:32: outcomes[0].when: unknown name 'hihg' (did you mean 'high'?)"),
    ("unknown parameter", "{n: 6, p: p}", "{n: 6, p: q}",
     "scenario.yaml:14:40: actions.strike.draws.hits.binomial.p: unknown name 'q'"),
    ("unknown outcome", "do: [{escalate: 1}]", "do: [{end: clsh}]",
     "scenario.yaml:20:16: triggers.answer.do[0].end: unknown outcome 'clsh' (did you mean "
     "'clash'?); the outcomes are clash, quiet"),
    ("unknown source", "p: {value: 0.5, range: [0, 1]}",
     "p: {value: 0.5, range: [0, 1], source: {ref: bld, note: x}}",
     "scenario.yaml:6:48: parameters.p.source.ref: unknown source 'bld' (did you mean "
     "'bold'?); the sources are bold"),
    ("expression syntax error", "    if: hits > 0\n", "    if: hits >\n",
     "scenario.yaml:19:9: triggers.answer.if: syntax error in expression: invalid syntax"),
    ("forbidden construct", "    if: hits > 0\n", "    if: hits.__class__\n",
     "scenario.yaml:19:9: triggers.answer.if: attribute '__class__' is not allowed"),
    ("duplicate id", "  - {id: quiet, default: true}", "  - {id: clash, default: true}",
     "scenario.yaml:23:10: outcomes[1].id: duplicate outcome id 'clash'"),
    ("missing key", "clock: {horizon: 100}", "clock: {unit: day}",
     "scenario.yaml:2:8: clock.horizon: missing required key 'horizon'"),
]


@pytest.mark.parametrize(("what", "old", "new", "expected"), CASES, ids=[c[0] for c in CASES])
def test_each_mistake_is_located(write, what, old, new, expected):
    """Each mistake class gives exactly one message at the exact line and column."""
    assert problems(write, replace(old, new)) == [expected]


def test_forbidden_dunder_import_at_column(write):
    """The column points at the offending call inside the expression."""
    found = problems(write, replace("    if: hits > 0\n",
                                    "    if: hits > 0 and __import__('os')\n"))
    assert found == ["scenario.yaml:19:22: triggers.answer.if: calling '__import__' is not "
                     "allowed; functions are abs, clip, date, max, min, round"]


def test_extends_missing_file(write):
    path = write("extends: nowhere.yaml\nname: v\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert [str(p) for p in info.value.problems] == [
        "scenario.yaml:1:10: extends: file not found: 'nowhere.yaml' (looked for nowhere.yaml)"]


def test_extends_cycle(write):
    write("extends: b.yaml\nname: a\n", "a.yaml")
    write("extends: a.yaml\nname: b\n", "b.yaml")
    with pytest.raises(ScenarioError) as info:
        load_scenario("a.yaml")
    assert [str(p) for p in info.value.problems] == [
        "b.yaml:1:10: extends: extends makes a cycle: a.yaml -> b.yaml -> a.yaml"]


TWENTY = """\
name: twenty_mistakes
clock: {horizon: -1, unit: day}
sources: [{id: a, title: T}, {id: b, title: U}]
parameters:
  p: {value: 2, range: [0, 1]}
  level: 3
ladder: [low, high, low]
start_level: middle
actors:
  blue: {vars: {x: 1}, colour: red}
actions:
  go:
    actor: green
    every: {exponential: {mean: 0}}
    requires: blue.y > 1
    effects: [{add: {blue.z: 1}}, {fire: stop_it}, {start: once_only}]
  once_only:
    at: 5
    effects: [{set_level: top}]
triggers:
  t1:
    on: went
    probability: 1.2
    do: [{end: nothing}]
  t2:
    when: (1 +
    do: [{escalate: 1}]
  t3:
    when: blue.x.__class__
    do: []
outcomes:
  - {id: done, when: lvl > 1, terminal: true}
"""


def test_twenty_mistakes_in_one_pass(write):
    """A file with 20 different mistakes yields 20 located messages at once."""
    found = problems(write, TWENTY)
    assert len(found) == 20, "\n".join(found)
    assert all(f.startswith("scenario.yaml:") for f in found)
    lines = [int(f.split(":")[1]) for f in found]
    assert lines == sorted(lines)
