"""The loader returns a scenario or raises ScenarioError, whatever text it is given."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.errors import ScenarioError
from sim.scenario import Scenario, load_scenario_text

REFERENCE = (Path(__file__).resolve().parent.parent / "scenarios" / "reference" /
             "tit_for_tat.yaml").read_text()
SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def loads_or_scenario_error(text: str) -> None:
    try:
        result = load_scenario_text(text)
    except ScenarioError as exc:
        assert exc.problems or str(exc)
        for p in exc.problems:
            assert p.line >= 0 and p.column >= 0
        return
    assert isinstance(result, Scenario)


@SETTINGS
@given(st.text(max_size=400))
def test_arbitrary_text(text):
    loads_or_scenario_error(text)


YAML_BITS = st.sampled_from([
    "", " ", "\n", ":", "- ", "{", "}", "[", "]", "&a ", "*a", "!!python/object:os.system ",
    "!!str ", "'", '"', "#", "no", "1e9", "-1", "level", "__class__", "t", "null", "~",
    "every:", "draws:", "if:", "(", "**", "exponential: {mean: ", "0", "9**9**9", "\t",
])


@SETTINGS
@given(st.data())
def test_mutated_reference_scenario(data):
    text = REFERENCE
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(text)))
        cut = data.draw(st.integers(0, 12))
        text = text[:pos] + data.draw(YAML_BITS) + text[pos + cut:]
    loads_or_scenario_error(text)


@SETTINGS
@given(st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["name", "clock", "ladder", "actions", "triggers", "outcomes", "every",
                         "horizon", "id", "when", "do", "on", "x"]), children, max_size=4),
    max_leaves=30,
))
def test_arbitrary_structures(tree):
    import json

    loads_or_scenario_error(json.dumps(tree, default=str))
