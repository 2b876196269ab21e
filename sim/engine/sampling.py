"""Samplers for the scenario's distributions, bound to parameter values.

A sampler is called as ``s(stream, V, t, D)`` and returns one draw. Arguments
that depend on parameters only are evaluated and checked once when the sampler
is built; arguments that read the state are evaluated at each draw.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable
from typing import Any

from sim.engine.randomness import Stream
from sim.errors import RunError
from sim.scenario.checks import Path, dist_args
from sim.scenario.expressions import CompiledExpression
from sim.scenario.schema import DistSpec

__all__ = ["Sampler", "make_sampler"]

Sampler = Callable[[Stream, list[Any], float, Any], Any]
_MAX_REJECTIONS = 10_000
_SMALL_BINOMIAL = 32
_SMALL_POISSON = 30.0
_TABLE_BINOMIAL = 1000


def _binomial_cdf(n: int, p: float) -> list[float]:
    """P(X <= k) for k = 0..n-1 (the last step, 1, is implied)."""
    cdf: list[float] = []
    total = 0.0
    for k in range(n):
        total += math.comb(n, k) * p**k * (1.0 - p) ** (n - k)
        cdf.append(min(total, 1.0))
    return cdf


class _Arg:
    """One argument: a fixed value, or an evaluator over the state."""

    __slots__ = ("expr", "fixed", "fn")

    def __init__(self, expr: CompiledExpression, ns: dict[str, Any]) -> None:
        self.expr = expr
        self.fn = expr.bind(ns)
        self.fixed: float | None = float(self.fn([], 0.0, ())) if expr.static else None


def _fail(expr: CompiledExpression, message: str, value: Any) -> RunError:
    return RunError(f"{expr.where}: {message}, got {value!r} (from '{expr.text}')")


def _checked(arg: _Arg, test: Callable[[float], bool], message: str) -> Callable[..., float]:
    """A getter for an argument that checks its value (once if fixed, else at each draw)."""
    if arg.fixed is not None:
        value = arg.fixed
        if not test(value):
            raise _fail(arg.expr, message, value)
        return lambda V, t, D: value
    fn, expr = arg.fn, arg.expr

    def get(V: list[Any], t: float, D: Any) -> float:
        value = fn(V, t, D)
        if not test(value):
            raise _fail(expr, message, value)
        return float(value)

    return get


def _finite(x: float) -> bool:
    return math.isfinite(x)


def _positive(x: float) -> bool:
    return x > 0 and math.isfinite(x)


def _nonneg(x: float) -> bool:
    return x >= 0 and math.isfinite(x)


def _prob(x: float) -> bool:
    return 0.0 <= x <= 1.0


def make_sampler(dist: DistSpec, path: Path, expressions: dict[Path, CompiledExpression],
                 ns: dict[str, Any]) -> Sampler:
    """Build the sampler of the distribution at ``path``."""
    args = {p[len(path) + 1:]: _Arg(expressions[p], ns) for p, _ in dist_args(dist, path)}

    def arg(*name: str | int) -> _Arg:
        return args[name]

    def opt(name: str) -> _Arg | None:
        return args.get((name,))

    kind = dist.kind
    if kind == "constant":
        a = args[()]
        if a.fixed is not None:
            value = a.expr.literal if a.expr.code is None else a.fixed
            return lambda r, V, t, D: value
        fn = a.fn
        return lambda r, V, t, D: fn(V, t, D)
    if kind == "uniform":
        lo_, hi_ = _checked(arg("low"), _finite, "must be finite"), _checked(
            arg("high"), _finite, "must be finite")
        if arg("low").fixed is not None and arg("high").fixed is not None:
            lo, hi = float(arg("low").fixed or 0.0), float(arg("high").fixed or 0.0)
            if hi < lo:
                raise _fail(arg("high").expr, f"uniform high must be >= low ({lo})", hi)
            span = hi - lo
            return lambda r, V, t, D: lo + span * r.uniform()

        def uniform(r: Stream, V: list[Any], t: float, D: Any) -> float:
            a, b = lo_(V, t, D), hi_(V, t, D)
            if b < a:
                raise _fail(arg("high").expr, f"uniform high must be >= low ({a})", b)
            return a + (b - a) * r.uniform()

        return uniform
    if kind == "triangular":
        g = [_checked(arg(n), _finite, "must be finite") for n in ("low", "mode", "high")]

        def triangular(r: Stream, V: list[Any], t: float, D: Any) -> float:
            a, m, b = (x(V, t, D) for x in g)
            if not a <= m <= b:
                raise _fail(arg("mode").expr, f"triangular needs low <= mode <= high "
                                              f"(low {a}, high {b})", m)
            u = r.uniform()
            if b == a:
                return a
            c = (m - a) / (b - a)
            if u < c:
                return a + math.sqrt(u * (b - a) * (m - a))
            return b - math.sqrt((1.0 - u) * (b - a) * (b - m))

        return triangular
    if kind == "exponential":
        mean_arg, rate_arg = opt("mean"), opt("rate")
        if mean_arg is not None:
            get = _checked(mean_arg, _positive, "exponential mean must be > 0")
            if mean_arg.fixed is not None:
                m = mean_arg.fixed
                return lambda r, V, t, D: -m * math.log(1.0 - r.uniform())
            return lambda r, V, t, D: -get(V, t, D) * math.log(1.0 - r.uniform())
        assert rate_arg is not None
        getr = _checked(rate_arg, _positive, "exponential rate must be > 0")
        return lambda r, V, t, D: -math.log(1.0 - r.uniform()) / getr(V, t, D)
    if kind in ("normal", "lognormal"):
        centre, spread = ("mean", "sd") if kind == "normal" else ("mu", "sigma")
        c_ = _checked(arg(centre), _finite, "must be finite")
        s_ = _checked(arg(spread), _nonneg, "must be >= 0")
        low, high = opt("low"), opt("high")
        lo_get = _checked(low, _finite, "must be finite") if low else None
        hi_get = _checked(high, _finite, "must be finite") if high else None
        log = kind == "lognormal"
        expr = arg(centre).expr

        def normal(r: Stream, V: list[Any], t: float, D: Any) -> float:
            c, s = c_(V, t, D), s_(V, t, D)
            lo = lo_get(V, t, D) if lo_get else -math.inf
            hi = hi_get(V, t, D) if hi_get else math.inf
            for _ in range(_MAX_REJECTIONS):
                x = c + s * r.normal()
                if log:
                    x = math.exp(x)
                if lo <= x <= hi:
                    return x
            raise _fail(expr, f"{kind} bounds [{lo}, {hi}] are too narrow to sample", c)

        return normal
    if kind in ("gamma", "weibull"):
        shape = _checked(arg("shape"), _positive, f"{kind} shape must be > 0")
        scale = _checked(arg("scale"), _positive, f"{kind} scale must be > 0")
        if kind == "gamma":
            return lambda r, V, t, D: float(r.gen.gamma(shape(V, t, D), scale(V, t, D)))
        return lambda r, V, t, D: scale(V, t, D) * (-math.log(1.0 - r.uniform())) ** (
            1.0 / shape(V, t, D))
    if kind == "bernoulli":
        p_ = _checked(arg("p"), _prob, "probability must be within [0, 1]")
        return lambda r, V, t, D: 1 if r.uniform() < p_(V, t, D) else 0
    if kind == "binomial":
        n_arg = arg("n")
        n_ = _checked(n_arg, lambda x: x >= 0 and float(x) == int(x),
                      "binomial n must be a whole number >= 0")
        p_ = _checked(arg("p"), _prob, "probability must be within [0, 1]")
        if n_arg.fixed is not None and arg("p").fixed is not None:
            n_fixed, p_fixed = int(n_arg.fixed), float(arg("p").fixed or 0.0)
            if n_fixed <= _TABLE_BINOMIAL:  # inversion of a precomputed CDF: one uniform
                cdf = _binomial_cdf(n_fixed, p_fixed)
                return lambda r, V, t, D: bisect.bisect_right(cdf, r.uniform())

        def binomial(r: Stream, V: list[Any], t: float, D: Any) -> int:
            n, p = int(n_(V, t, D)), p_(V, t, D)
            if n <= _SMALL_BINOMIAL:
                u = r.uniform
                k = 0
                for _ in range(n):
                    if u() < p:
                        k += 1
                return k
            return int(r.gen.binomial(n, p))

        return binomial
    if kind == "poisson":
        m_ = _checked(arg("mean"), _nonneg, "poisson mean must be >= 0")

        def poisson(r: Stream, V: list[Any], t: float, D: Any) -> int:
            m = m_(V, t, D)
            if m > _SMALL_POISSON:
                return int(r.gen.poisson(m))
            u, k, p = r.uniform(), 0, math.exp(-m)
            s = p
            while u > s and k < 10_000:
                k += 1
                p *= m / k
                s += p
            return k

        return poisson
    if kind == "categorical":
        n = len(dist.categorical.values) if dist.categorical else 0
        values = [args[("values", i)] for i in range(n)]
        weights = [_checked(args[("weights", i)], _nonneg, "weight must be >= 0")
                   for i in range(n) if ("weights", i) in args]
        first = values[0].expr

        def categorical(r: Stream, V: list[Any], t: float, D: Any) -> Any:
            if weights:
                cum: list[float] = []
                total = 0.0
                for w in weights:
                    total += w(V, t, D)
                    cum.append(total)
                if total <= 0:
                    raise _fail(first, "categorical weights must not all be 0", total)
                i = bisect.bisect_right(cum, r.uniform() * total)
            else:
                i = int(r.uniform() * len(values))
            v = values[min(i, len(values) - 1)]
            return v.fixed if v.fixed is not None else v.fn(V, t, D)

        return categorical
    raise AssertionError(f"unhandled distribution {kind}")
