"""Bounds of an expression over a run: interval arithmetic on its checked tree.

Used to find a bound for a rate that reads the clock, so that its action can be run
by thinning. The clock ``t`` lies in ``[0, horizon]``, parameters are their values,
the level lies on the ladder, counts are ``>= 0`` and actor variables are unbounded.
Every rule below encloses the true range (a bound found is sound); where no
enclosure is easy (a division by an interval holding 0, a power of a negative base)
the result is unbounded, and the file must declare its bound.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Mapping
from typing import Any

from sim.scenario.expressions import Symbols

__all__ = ["Interval", "below_bound", "max_below_message", "state_ranges", "value_range"]

Interval = tuple[float, float]
_ALL: Interval = (-math.inf, math.inf)
_FLAG: Interval = (0.0, 1.0)
_MAX_DEPTH = 200  # deeper trees (long flat sums) are unbounded: declare the bound


def _hull(*parts: Interval) -> Interval:
    return min(p[0] for p in parts), max(p[1] for p in parts)


def _clean(lo: float, hi: float) -> Interval:
    """``(lo, hi)``, unbounded where a bound is NaN."""
    return (-math.inf if math.isnan(lo) else lo, math.inf if math.isnan(hi) else hi)


def _mul1(x: float, y: float) -> float:
    return 0.0 if x == 0.0 or y == 0.0 else x * y


def _mul(a: Interval, b: Interval) -> Interval:
    products = [_mul1(x, y) for x in a for y in b]
    return _clean(min(products), max(products))


def _div(a: Interval, b: Interval) -> Interval:
    if b[0] <= 0.0 <= b[1]:
        return _ALL
    return _mul(a, (1.0 / b[1], 1.0 / b[0]))


_SLACK = 1e-12  # relative: far above the rounding error of one division


def _quotient(x: float, y: float) -> float:
    """``x / y`` for ``y != 0`` (either may be infinite), keeping the sign of a quotient
    that underflows to 0 (so that flooring it gives -1 where Python's ``//`` does)."""
    if x == 0.0:
        return 0.0
    sign = 1.0 if (x > 0) == (y > 0) else -1.0
    if math.isinf(x):
        return sign * math.inf
    if math.isinf(y):
        return sign * 5e-324
    q = x / y
    return q if q != 0.0 else sign * 5e-324


def _floordiv(a: Interval, b: Interval) -> Interval:
    """Python's ``a // b`` is the floor of the exact quotient of its operands, which the
    rounded quotient can miss by one either way (``2 // 0.1`` is 19, ``2 / 0.1`` is 20;
    ``49 * (1 / 49)`` is below 1). The quotient is monotone in each operand when ``b``
    keeps its sign, so its range lies between the corners'; widened by far more than a
    rounding error before flooring, it holds every value ``//`` gives."""
    if b[0] <= 0.0 <= b[1]:
        return _ALL
    qs = [_quotient(x, y) for x in a for y in b]
    if any(math.isnan(q) for q in qs):
        return _ALL
    lo, hi = min(qs), max(qs)
    lo -= abs(lo) * _SLACK
    hi += abs(hi) * _SLACK
    return (math.floor(lo) if math.isfinite(lo) else lo,
            math.floor(hi) if math.isfinite(hi) else hi)


def _mod(b: Interval) -> Interval:
    """Python's ``a % b`` has the sign of ``b`` and a magnitude below ``|b|`` in exact
    arithmetic; rounding can give ``b`` itself (``-1e-20 % 1`` is 1.0), so the end at
    ``b`` is included."""
    if b[0] > 0:
        return 0.0, b[1]
    if b[1] < 0:
        return b[0], 0.0
    return _ALL


def _pow(a: Interval, b: Interval) -> Interval:
    """``math.pow`` is monotone in a base >= 0 for a fixed exponent, and in the exponent
    for a fixed base > 0; nothing simple holds otherwise."""
    if b[0] == b[1] and a[0] >= 0.0:
        e = b[0]
        if e == 0.0:
            return 1.0, 1.0
        if e < 0.0 and a[0] == 0.0:
            return _ALL
        ends = [a[0] ** e, a[1] ** e]
    elif a[0] == a[1] and a[0] > 0.0:
        ends = [a[0] ** b[0], a[0] ** b[1]]
    else:
        return _ALL
    return _clean(min(ends), max(ends))


class _Ranges:
    def __init__(self, ns: Mapping[str, Any], slot: Callable[[int], Interval],
                 horizon: float) -> None:
        self.ns = ns
        self.slot = slot
        self.horizon = horizon

    def of(self, node: ast.AST, depth: int = 0) -> Interval:
        if depth > _MAX_DEPTH:
            return _ALL
        d = depth + 1
        if isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, (bool, int, float)):
                return float(v), float(v)
            return _ALL
        if isinstance(node, ast.Name):
            if node.id == "t":
                return 0.0, self.horizon
            value = self.ns.get(node.id)
            if isinstance(value, (bool, int, float)):
                return float(value), float(value)
            return _ALL
        if isinstance(node, ast.Subscript):
            target, index = node.value, node.slice
            if isinstance(target, ast.Name) and target.id == "V" \
                    and isinstance(index, ast.Constant) and isinstance(index.value, int):
                return self.slot(index.value)
            return _ALL
        if isinstance(node, ast.BinOp):
            a, b = self.of(node.left, d), self.of(node.right, d)
            op = node.op
            if isinstance(op, ast.Add):
                return _clean(a[0] + b[0], a[1] + b[1])
            if isinstance(op, ast.Sub):
                return _clean(a[0] - b[1], a[1] - b[0])
            if isinstance(op, ast.Mult):
                return _mul(a, b)
            if isinstance(op, ast.Div):
                return _div(a, b)
            if isinstance(op, ast.FloorDiv):
                return _floordiv(a, b)
            if isinstance(op, ast.Mod):
                return _mod(b)
            return _ALL
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.Not):
                return _FLAG
            a = self.of(node.operand, d)
            return (-a[1], -a[0]) if isinstance(node.op, ast.USub) else a
        if isinstance(node, ast.BoolOp):  # and/or give one of their operands
            return _hull(*(self.of(v, d) for v in node.values))
        if isinstance(node, ast.Compare):
            return _FLAG
        if isinstance(node, ast.IfExp):
            return _hull(self.of(node.body, d), self.of(node.orelse, d))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            return self.call(node.func.id, [self.of(a, d) for a in node.args])
        return _ALL

    def call(self, name: str, args: list[Interval]) -> Interval:
        if name == "_f_min":
            return min(a[0] for a in args), min(a[1] for a in args)
        if name == "_f_max":
            return max(a[0] for a in args), max(a[1] for a in args)
        if name == "_f_abs":
            (a, b), = args
            if a >= 0:
                return a, b
            if b <= 0:
                return -b, -a
            return 0.0, max(-a, b)
        if name == "_f_clip":  # low if x < low else high if x > high else x
            x, low, high = args
            return min(high[0], max(x[0], low[0])), max(low[1], min(x[1], high[1]))
        if name == "_f_round" and len(args) == 1:
            a, b = args[0]
            return _clean(a - 0.5, b + 0.5)
        if name == "_f_pow":
            return _pow(args[0], args[1])
        return _ALL


def below_bound(declared: float, derived: float) -> bool:
    """Whether a declared ``max:`` lies below the bound derived for its rate (beyond the
    rounding of the derivation): the rate may then exceed its max."""
    return math.isfinite(derived) and declared < derived - 1e-9 * abs(derived)


def max_below_message(declared: float, derived: float) -> str:
    """Why a declared ``max:`` below the derived bound is refused, and what to write."""
    return (f"max {declared:g} is below {derived:g}, the bound derived from the rate's "
            f"expression over the run: the rate may exceed it, and thinning notices that "
            f"only at the candidate times it draws; write max: {derived:g} or more, or leave "
            f"max out")


def value_range(tree: ast.expr | None, ns: Mapping[str, Any],
                slot: Callable[[int], Interval], horizon: float) -> Interval:
    """An interval holding every value of a checked expression's ``tree`` during a run:
    ``ns`` gives the parameters (as ``_p_name``), ``slot`` the range of each state slot,
    ``t`` lies in ``[0, horizon]``. ``(-inf, inf)`` when nothing better is known."""
    if tree is None:
        return _ALL
    try:
        return _Ranges(ns, slot, horizon).of(tree)
    except (ArithmeticError, ValueError, TypeError, RecursionError):
        return _ALL


def state_ranges(symbols: Symbols) -> Callable[[int], Interval]:
    """The range of each state slot: each track's level within the highest rank of any
    track, counts ``>= 0``, actor variables unbounded."""
    top = float(max(symbols.levels.values(), default=0))
    counts = frozenset(symbols.counts.values())
    levels = frozenset({symbols.level_slot, *symbols.tracks.values()})

    def slot(index: int) -> Interval:
        if index in levels:
            return 0.0, top
        if index in counts:
            return 0.0, math.inf
        return _ALL

    return slot
