"""Hostile expressions: constant folding never hangs, overflows silently or recurses too deep."""

from __future__ import annotations

import pytest

from sim.errors import ScenarioError
from sim.scenario import load_scenario_text
from sim.scenario.expressions import (
    MAX_DEPTH,
    ExpressionError,
    Hints,
    Symbols,
    compile_expression,
    did_you_mean,
    namespace_for,
)

SYMBOLS = Symbols(
    parameters={"p": 0.25, "n": 6},
    actor_vars={"x": {"v": 0}},
    levels={"low": 0, "high": 1},
    counts={"a": 3},
    level_slot=2,
)

SCENARIO = """\
name: hostile
clock: {{horizon: 10}}
parameters:
  p: 0.5
ladder: [low, high]
actors:
  x: {{vars: {{v: 0}}}}
actions:
  a:
    at: 1
    effects: [{{set: {{x.v: {expr}}}}}]
outcomes:
  - {{id: quiet, default: true}}
"""


def refused(text: str, match: str | None = None) -> ExpressionError:
    with pytest.raises(ExpressionError, match=match) as info:
        compile_expression(text, SYMBOLS)
    return info.value


def value(text: str, V=(1.0, 0, 0, 5), t: float = 0.0):
    expr = compile_expression(text, SYMBOLS)
    return expr.bind(namespace_for(SYMBOLS.parameters))(list(V), t, ())


# --- item 1: integer powers in constant folding ---------------------------------------------


@pytest.mark.parametrize("text", [
    "round(9.0)**round(9.0)**round(9.0)",
    "round(1e300)**round(1e300)",
    "round(1e300)**2",
    "abs(round(-9.0))**abs(round(9.0))**round(99.0)",
    "max(round(9.0), 1)**max(round(9.0), 1)**round(9.0)",
    "(round(9.0)**round(9.0))**round(9.0)**round(9.0)",
])
def test_integer_powers_fail_fast_at_load(text):
    """Powers of round() results are computed as floats: an overflow, refused at once."""
    refused(text, "constant part")


def test_integer_power_in_a_file_is_located():
    """Through the loader: a located problem in well under the harness timeout."""
    with pytest.raises(ScenarioError, match=r"s\.yaml:11:\d+: actions\.a\.effects\[0\]"):
        load_scenario_text(SCENARIO.format(expr="round(9.0)**round(9.0)**round(9.0)"), "s.yaml")


def test_validate_integer_power_cli(cli, tmp_path):
    """``escalation validate`` ends at once (it used to run for minutes)."""
    (tmp_path / "s.yaml").write_text(SCENARIO.format(expr="round(1e300)**round(1e300)"))
    cli("validate", "s.yaml", timeout=20).clean_failure()


def test_round_returns_a_float():
    """round() gives a float, so no unbounded integer enters the arithmetic."""
    assert value("round(2.6)") == 3.0 and isinstance(value("round(2.6)"), float)
    assert value("round(2.567, 2)") == pytest.approx(2.57)
    assert value("2 ** 3") == 8.0


def test_power_of_negative_base_to_a_fraction_is_an_error_not_a_complex():
    """``(-8) ** (1/3)`` fails at load instead of giving a complex number."""
    refused("(0 - 8) ** (1 / 3)", "constant part")


# --- items 10, 17: numbers too large, non-finite constants -----------------------------------


def test_999_digit_constant_is_located():
    """A literal beyond a float's range is a located error, not an OverflowError."""
    err = refused("x.v + " + "9" * 900, "too large")
    assert err.offset == 6


@pytest.mark.parametrize("text", ["1e999", "1e999 - 1e999", "x.v + 1e999", "-1e999",
                                  "1e308 * 10", "1e308 + 1e308", "0 * 1e999"])
def test_non_finite_constants_are_refused(text):
    """inf and NaN never enter a scenario as a constant."""
    refused(text)


@pytest.mark.parametrize("literal", [float("inf"), float("-inf"), float("nan"), 10**400])
def test_non_finite_literals_are_refused(literal):
    """A YAML number given as a whole expression must be finite and fit a float."""
    with pytest.raises(ExpressionError):
        compile_expression(literal, SYMBOLS)


def test_non_finite_constant_in_a_file_is_located():
    """``1e999`` inside an expression is located at its column."""
    with pytest.raises(ScenarioError, match=r"s\.yaml:11:\d+: actions\.a\.effects\[0\]"):
        load_scenario_text(SCENARIO.format(expr="1e999-1e999"), "s.yaml")


# --- item 21: nesting is counted, not operands ----------------------------------------------


def test_a_flat_sum_of_many_terms_is_allowed():
    """``a+a+...+a`` with 33 (or 240) terms is flat, not deep."""
    for terms in (33, 240):
        assert value("+".join(["x.v"] * terms)) == float(terms)
        assert value("-".join(["x.v"] * terms)) == 1.0 - (terms - 1)
        assert value("*".join(["x.v"] * terms)) == 1.0


def test_long_flat_constant_sum_folds():
    """A long constant chain is folded without recursion trouble."""
    assert value("+".join(["1"] * 450)) == 450.0
    refused("+".join(["1"] * 450) + "+1/0", "constant part")


def test_flat_chains_of_comparisons_and_booleans_are_allowed():
    """``and``/``or`` lists and mixed operators at one level are flat too."""
    assert value(" and ".join(["x.v > 0"] * 40)) is True
    assert value("+".join(["x.v*2"] * 40)) == 80.0


@pytest.mark.parametrize("text", [
    "-" * (MAX_DEPTH + 2) + "x.v",
    "abs(" * (MAX_DEPTH + 1) + "x.v" + ")" * (MAX_DEPTH + 1),
    "x.v+(" * (MAX_DEPTH + 1) + "x.v" + ")" * (MAX_DEPTH + 1),
    "x.v**" * (MAX_DEPTH + 2) + "x.v",
])
def test_real_nesting_is_still_refused(text):
    """Parenthesised, called, unary and right-nested chains count as nesting."""
    refused(text, "nests deeper")


def test_redundant_parentheses_add_no_depth():
    """Parentheses around one name are not nesting."""
    assert value("(" * 40 + "x.v" + ")" * 40 + "+1") == 2.0


def test_deepest_allowed_nesting_compiles():
    """Nesting up to the limit compiles and evaluates."""
    text = "abs(" * (MAX_DEPTH - 5) + "x.v" + ")" * (MAX_DEPTH - 5)
    assert value(text) == 1.0


# --- item 3: hints are bounded --------------------------------------------------------------


def test_hints_stop_when_their_budget_is_spent():
    """A hint index spends a bounded amount of work, then gives no more hints."""
    names = [f"param_{i:05d}" for i in range(40_000)]
    hints = Hints(names)
    assert hints.suggest("parm_00001") == " (did you mean 'param_00001'?)"
    for i in range(3_000):
        hints.suggest(f"parm_{i:05d}")
    assert hints.suggest("parm_00002") == ""
    assert did_you_mean("clok", ["clock", "name"]) == " (did you mean 'clock'?)"


def test_hints_consider_extra_names():
    """Names local to an expression (event payload) are hinted too."""
    hints = Hints(["alpha", "beta"])
    assert hints.suggest("hitz", ("hits",)) == " (did you mean 'hits'?)"
