"""Expressions: allowed arithmetic evaluates correctly; every escape attempt is refused fast."""

from __future__ import annotations

import time

import pytest

from sim.scenario.expressions import (
    MAX_LENGTH,
    ExpressionError,
    Symbols,
    compile_expression,
    namespace_for,
)

SYMBOLS = Symbols(
    parameters={"p": 0.25, "n": 6},
    actor_vars={"russia": {"resolve": 0}, "ukraine": {"atacms": 1}},
    levels={"low": 0, "mid": 1, "high": 2},
    counts={"strike": 3},
    level_slot=2,
)
V = [0.8, 40, 1, 5]


def evaluate(text: str, payload=(), D=(), t=12.0):
    expr = compile_expression(text, SYMBOLS, payload)
    return expr.bind(namespace_for(SYMBOLS.parameters))(V, t, D)


@pytest.mark.parametrize(("text", "value"), [
    ("1 + 2 * 3", 7.0),
    ("russia.resolve > 0.7 and hits >= 1", True),
    ("ukraine.atacms - n", 34.0),
    ("level >= mid", True),
    ("level >= high", False),
    ("count.strike", 5),
    ("t / 2", 6.0),
    ("min(p, 0.1) + max(1, 2, 3) + abs(-1) + round(2.6) + clip(5, 0, 1)", 0.1 + 3 + 1 + 3 + 1),
    ("1 if russia.resolve > 0.5 else 2", 1.0),
    ("not (p > 1)", True),
    ("7 // 2 + 7 % 2", 4.0),
    ("2 ** 3", 8.0),
    ("1 - (1 - p) ** n", 1 - 0.75 ** 6),
    ("0 < p < 1", True),
])
def test_allowed_expressions_evaluate(text, value):
    assert evaluate(text, payload=("hits",), D=(2,)) == pytest.approx(value)


ESCAPES = [
    "__import__('os').system('true')",
    "().__class__.__bases__[0].__subclasses__()",
    "p.__class__",
    "russia.__dict__",
    "(x for x in ()).gi_frame.f_globals",
    "'{0.__class__}'.format(1)",
    "(1).__reduce__()",
    "lambda: 1",
    "(lambda: 1)()",
    "[x for x in (1, 2)]",
    "{x: 1 for x in (1,)}",
    "{1, 2}",
    "9**9**9",
    "1 / 0",
    "V[0]",
    "_p_p",
    "open('/etc/passwd')",
    "getattr(p, 'real')",
    "eval('1')",
    "exec('x=1')",
    "globals()",
    "t.real",
    "count.__class__",
    "f'{p}'",
    "(y := 1)",
    "'text'",
    "[1][0]",
    "p if p else __builtins__",
    "min(p, key=abs)",
    "1 in (1, 2)",
    "p is None",
    "(" * 300 + "1" + ")" * 300,
    "+".join(["1"] * 5000),
]


@pytest.mark.parametrize("text", ESCAPES, ids=range(len(ESCAPES)))
def test_escape_corpus_is_rejected_quickly(text):
    """Each escape attempt raises ExpressionError at load, within 100 ms."""
    t0 = time.perf_counter()
    with pytest.raises(ExpressionError):
        compile_expression(text, SYMBOLS)
    assert time.perf_counter() - t0 < 0.1


def test_ten_kilobyte_expression_is_rejected():
    text = "1+" * 5000 + "1"
    assert len(text) > 10_000 > MAX_LENGTH
    t0 = time.perf_counter()
    with pytest.raises(ExpressionError, match="characters long"):
        compile_expression(text, SYMBOLS)
    assert time.perf_counter() - t0 < 0.1


def test_unknown_name_suggests_the_closest():
    with pytest.raises(ExpressionError, match=r"unknown name 'russia.resolv' \(did you mean "
                                              r"'russia.resolve'\?\)"):
        compile_expression("russia.resolv > 1", SYMBOLS)


def test_reads_are_tracked():
    expr = compile_expression("russia.resolve > p and t > 3", SYMBOLS)
    assert expr.slots == {0}
    assert expr.reads_time and not expr.static
    assert compile_expression("p * 2", SYMBOLS).static


@pytest.mark.benchmark
def test_benchmark_evaluation_speed():
    """Prints microseconds per evaluation of a typical guard (target <= 1 us)."""
    expr = compile_expression("russia.resolve > 0.7 and hits >= 1", SYMBOLS, ("hits",))
    fn = expr.bind(namespace_for(SYMBOLS.parameters))
    D = (2,)
    n = 1_000_000
    t0 = time.perf_counter()
    for _ in range(n):
        fn(V, 0.0, D)
    us = (time.perf_counter() - t0) / n * 1e6
    print(f"\nexpression 'russia.resolve > 0.7 and hits >= 1': {us:.3f} us per evaluation "
          f"(target <= 1 us)")
    assert us < 5
