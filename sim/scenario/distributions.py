"""Distributions: one registry entry per kind.

Each kind is one object holding everything about it: the model of its arguments
(and a shorter spelling, if any), the arguments as paths (which the checks compile),
how to build its sampler, and how to describe it. :data:`DISTRIBUTIONS` lists them;
:class:`DistSpec` (a distribution in a scenario file) takes exactly one of their names.
Adding a kind is one entry here and its case in ``tests/test_registry.py``.

A sampler is called as ``s(stream, V, t, D)`` and returns one draw. Arguments that
depend on parameters only are evaluated and checked once when the sampler is built;
arguments that read the state are evaluated at each draw.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Protocol

import numpy as np
from pydantic import BeforeValidator, ConfigDict, Field, create_model, model_validator

from sim.errors import RunError
from sim.scenario.expressions import CompiledExpression
from sim.scenario.fields import (
    Base,
    Expr,
    Finite,
    NonNegative,
    OneOf,
    Path,
    Positive,
    Probability,
    bare,
    exactly_one,
    json_rules,
    pair,
    plain,
)

__all__ = [
    "DISTRIBUTIONS",
    "Arguments",
    "Dist",
    "DistSpec",
    "DistributionKind",
    "Draws",
    "Sampler",
    "distribution_arguments",
    "make_sampler",
]

_MAX_REJECTIONS = 10_000
_SMALL_BINOMIAL = 32
_SMALL_POISSON = 30.0
_TABLE_BINOMIAL = 1000


class Draws(Protocol):
    """A run's random stream (see :class:`sim.engine.randomness.Stream`)."""

    gen: np.random.Generator

    def uniform(self) -> float: ...

    def normal(self) -> float: ...


Sampler = Callable[[Draws, list[Any], float, Any], Any]


# --- arguments at run time --------------------------------------------------------------------


class _Arg:
    """One argument: a fixed value, or an evaluator over the state."""

    __slots__ = ("expr", "fixed", "fn")

    def __init__(self, expr: CompiledExpression, ns: dict[str, Any]) -> None:
        self.expr = expr
        self.fn = expr.bind(ns)
        self.fixed: float | None = float(self.fn([], 0.0, ())) if expr.static else None


class Arguments:
    """A distribution's compiled arguments, by their path below the kind's key."""

    def __init__(self, args: dict[Path, _Arg]) -> None:
        self._args = args

    def __getitem__(self, name: str | Path) -> _Arg:
        return self._args[(name,) if isinstance(name, str) else name]

    def get(self, name: str | Path) -> _Arg | None:
        return self._args.get((name,) if isinstance(name, str) else name)


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


def _binomial_cdf(n: int, p: float) -> list[float]:
    """P(X <= k) for k = 0..n-1 (the last step, 1, is implied)."""
    cdf: list[float] = []
    total = 0.0
    for k in range(n):
        total += math.comb(n, k) * p**k * (1.0 - p) ** (n - k)
        cdf.append(min(total, 1.0))
    return cdf


# --- argument models --------------------------------------------------------------------------


class UniformArgs(Base):
    low: Annotated[Finite, Field(examples=[1])]
    """The smallest value."""
    high: Annotated[Finite, Field(examples=[7])]
    """The largest value (at least ``low``)."""


class TriangularArgs(Base):
    low: Annotated[Finite, Field(examples=[2])]
    """The smallest value."""
    mode: Annotated[Finite, Field(examples=[5])]
    """The most likely value (between ``low`` and ``high``)."""
    high: Annotated[Finite, Field(examples=[14])]
    """The largest value."""


class ExponentialArgs(Base):
    """Give the ``mean`` or the ``rate`` (one over the mean), not both."""

    model_config = ConfigDict(json_schema_extra=json_rules(exactly_one(("mean", "rate"))))

    mean: Annotated[Positive | None, Field(examples=[10])] = None
    """The mean (in clock units, for a wait)."""
    rate: Annotated[Positive | None, Field(examples=[0.1])] = None
    """The rate: events per clock unit."""

    @model_validator(mode="after")
    def _one(self) -> ExponentialArgs:
        if (self.mean is None) == (self.rate is None):
            raise ValueError("give exactly one of mean or rate")
        return self


class NormalArgs(Base):
    mean: Annotated[Finite, Field(examples=[5])]
    """The mean."""
    sd: Annotated[NonNegative, Field(examples=[1.5])]
    """The standard deviation."""
    low: Annotated[Finite | None, Field(examples=[0])] = None
    """A lower bound: draws below it are drawn again."""
    high: Annotated[Finite | None, Field(examples=[10])] = None
    """An upper bound: draws above it are drawn again."""


class LognormalArgs(Base):
    """Log-normal: ``mu`` and ``sigma`` of the underlying normal, optional bounds."""

    mu: Annotated[Finite, Field(examples=[1.5])]
    """The mean of the underlying normal (the log of the median)."""
    sigma: Annotated[NonNegative, Field(examples=[0.4])]
    """The standard deviation of the underlying normal."""
    low: Annotated[Finite | None, Field(examples=[1])] = None
    """A lower bound: draws below it are drawn again."""
    high: Annotated[Finite | None, Field(examples=[60])] = None
    """An upper bound: draws above it are drawn again."""


class ShapeScaleArgs(Base):
    shape: Annotated[Positive, Field(examples=[2])]
    """The shape parameter."""
    scale: Annotated[Positive, Field(examples=[5])]
    """The scale parameter."""


class BernoulliArgs(Base):
    p: Annotated[Probability, Field(examples=[0.3])]
    """The chance of drawing 1 (else 0)."""


class BinomialArgs(Base):
    n: Annotated[NonNegative, Field(examples=["salvo_size"])]
    """The number of trials (a whole number)."""
    p: Annotated[Probability, Field(examples=["1 - intercept_prob"])]
    """The chance of success in each trial."""


class PoissonArgs(Base):
    mean: Annotated[NonNegative, Field(examples=[4])]
    """The mean count."""


class CategoricalArgs(Base):
    values: Annotated[list[Expr], Field(min_length=1, examples=[[100, 200, 500]])]
    """The values to pick from."""
    weights: Annotated[list[NonNegative] | None, Field(examples=[[0.5, 0.3, 0.2]])] = None
    """Their weights, one per value (equal when left out)."""

    @model_validator(mode="after")
    def _same_length(self) -> CategoricalArgs:
        if self.weights is not None and len(self.weights) != len(self.values):
            raise ValueError(
                f"weights has {len(self.weights)} items but values has {len(self.values)}"
            )
        return self


# --- the kinds --------------------------------------------------------------------------------


class DistributionKind:
    """One kind of distribution: its arguments, sampler and description."""

    name: ClassVar[str]
    model: ClassVar[Any]
    """The arguments' annotation in the schema (a model, or ``Expr`` for a constant)."""
    shorthand: ClassVar[Any] = None
    """A ``BeforeValidator`` accepting a shorter spelling (``uniform: [0, 1]``), or None."""
    doc: ClassVar[str] = ""
    """What the kind draws, for the JSON Schema and the field reference."""
    example: ClassVar[Any] = None
    """An example of its value."""
    delay_floor: ClassVar[tuple[Path, ...]] = ()
    """Arguments whose negative literal makes a delay or interval negative."""

    def arguments(self, args: Any) -> Iterator[tuple[Path, Any]]:
        """Each argument given, with its path below the kind's key."""
        for name in type(args).model_fields:
            value = getattr(args, name)
            if value is not None:
                yield (name,), value

    def sampler(self, a: Arguments, args: Any) -> Sampler:
        """The sampler, given the compiled arguments ``a`` and the model ``args``."""
        raise NotImplementedError

    def describe(self, args: Any) -> str:
        parts = [f"{k}={plain(v)}" for (k, *_), v in self.arguments(args)]
        return f"{self.name}({', '.join(parts)})"


class Constant(DistributionKind):
    name = "constant"
    model = Expr
    doc = ("a fixed value (a number or an expression); a bare number or expression where a "
           "distribution is due means the same")
    example: ClassVar[Any] = 5
    delay_floor = ((),)

    def arguments(self, args: Any) -> Iterator[tuple[Path, Any]]:
        yield (), args

    def sampler(self, a: Arguments, args: Any) -> Sampler:
        arg = a[()]
        if arg.fixed is not None:
            value = arg.expr.literal if arg.expr.code is None else arg.fixed
            return lambda r, V, t, D: value
        fn = arg.fn
        return lambda r, V, t, D: fn(V, t, D)

    def describe(self, args: Any) -> str:
        return plain(args)


class Uniform(DistributionKind):
    name = "uniform"
    model = UniformArgs
    shorthand = pair(("low", "high"), UniformArgs)
    doc = "uniform between low and high; [low, high] for short"
    example: ClassVar[Any] = [1, 7]
    delay_floor = (("low",),)

    def sampler(self, a: Arguments, args: Any) -> Sampler:
        low, high = a["low"], a["high"]
        lo_, hi_ = _checked(low, _finite, "must be finite"), _checked(
            high, _finite, "must be finite")
        if low.fixed is not None and high.fixed is not None:
            lo, hi = float(low.fixed or 0.0), float(high.fixed or 0.0)
            if hi < lo:
                raise _fail(high.expr, f"uniform high must be >= low ({lo})", hi)
            span = hi - lo
            return lambda r, V, t, D: lo + span * r.uniform()

        def uniform(r: Draws, V: list[Any], t: float, D: Any) -> float:
            a, b = lo_(V, t, D), hi_(V, t, D)
            if b < a:
                raise _fail(high.expr, f"uniform high must be >= low ({a})", b)
            return a + (b - a) * r.uniform()

        return uniform


class Triangular(DistributionKind):
    name = "triangular"
    model = TriangularArgs
    shorthand = pair(("low", "mode", "high"), TriangularArgs)
    doc = "triangular from low to high, peaking at mode; [low, mode, high] for short"
    example: ClassVar[Any] = [2, 5, 14]
    delay_floor = (("low",),)

    def sampler(self, a: Arguments, args: Any) -> Sampler:
        g = [_checked(a[n], _finite, "must be finite") for n in ("low", "mode", "high")]
        mode = a["mode"]

        def triangular(r: Draws, V: list[Any], t: float, D: Any) -> float:
            lo, m, hi = (x(V, t, D) for x in g)
            if not lo <= m <= hi:
                raise _fail(mode.expr, f"triangular needs low <= mode <= high "
                                       f"(low {lo}, high {hi})", m)
            u = r.uniform()
            if hi == lo:
                return lo
            c = (m - lo) / (hi - lo)
            if u < c:
                return lo + math.sqrt(u * (hi - lo) * (m - lo))
            return hi - math.sqrt((1.0 - u) * (hi - lo) * (hi - m))

        return triangular


class Exponential(DistributionKind):
    name = "exponential"
    model = ExponentialArgs
    shorthand = bare("mean", ExponentialArgs)
    doc = ("exponential with a mean or a rate; a bare number or expression is the MEAN "
           "(exponential: 30 waits 30 units on average), never the rate")
    example: ClassVar[Any] = {"mean": 10}

    def sampler(self, a: Arguments, args: Any) -> Sampler:
        mean_arg, rate_arg = a.get("mean"), a.get("rate")
        if mean_arg is not None:
            get = _checked(mean_arg, _positive, "exponential mean must be > 0")
            if mean_arg.fixed is not None:
                m = mean_arg.fixed
                return lambda r, V, t, D: -m * math.log(1.0 - r.uniform())
            return lambda r, V, t, D: -get(V, t, D) * math.log(1.0 - r.uniform())
        assert rate_arg is not None
        getr = _checked(rate_arg, _positive, "exponential rate must be > 0")
        return lambda r, V, t, D: -math.log(1.0 - r.uniform()) / getr(V, t, D)


class Normal(DistributionKind):
    """A normal draw, redrawn until it falls within the optional bounds."""

    name = "normal"
    model: ClassVar[Any] = NormalArgs
    doc = "normal with a mean and sd, drawn again until within the optional low and high"
    example: ClassVar[Any] = {"mean": 5, "sd": 1.5, "low": 0}
    delay_floor = (("low",),)
    centre, spread, log = "mean", "sd", False

    def sampler(self, a: Arguments, args: Any) -> Sampler:
        c_ = _checked(a[self.centre], _finite, "must be finite")
        s_ = _checked(a[self.spread], _nonneg, "must be >= 0")
        low, high = a.get("low"), a.get("high")
        lo_get = _checked(low, _finite, "must be finite") if low else None
        hi_get = _checked(high, _finite, "must be finite") if high else None
        log, kind = self.log, self.name
        expr = a[self.centre].expr

        def normal(r: Draws, V: list[Any], t: float, D: Any) -> float:
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


class Lognormal(Normal):
    """``exp`` of a normal with ``mu`` and ``sigma``, redrawn within the optional bounds."""

    name = "lognormal"
    model = LognormalArgs
    doc = "exp of a normal(mu, sigma), drawn again until within the optional low and high"
    example: ClassVar[Any] = {"mu": 1.5, "sigma": 0.4}
    centre, spread, log = "mu", "sigma", True


class Gamma(DistributionKind):
    name = "gamma"
    model = ShapeScaleArgs
    doc = "gamma with a shape and a scale (mean shape * scale)"
    example: ClassVar[Any] = {"shape": 2, "scale": 5}

    def sampler(self, a: Arguments, args: Any) -> Sampler:
        shape = _checked(a["shape"], _positive, "gamma shape must be > 0")
        scale = _checked(a["scale"], _positive, "gamma scale must be > 0")
        return lambda r, V, t, D: float(r.gen.gamma(shape(V, t, D), scale(V, t, D)))


class Weibull(DistributionKind):
    name = "weibull"
    model = ShapeScaleArgs
    doc = "Weibull with a shape and a scale"
    example: ClassVar[Any] = {"shape": 1.5, "scale": 20}

    def sampler(self, a: Arguments, args: Any) -> Sampler:
        shape = _checked(a["shape"], _positive, "weibull shape must be > 0")
        scale = _checked(a["scale"], _positive, "weibull scale must be > 0")
        return lambda r, V, t, D: scale(V, t, D) * (-math.log(1.0 - r.uniform())) ** (
            1.0 / shape(V, t, D))


class Bernoulli(DistributionKind):
    name = "bernoulli"
    model = BernoulliArgs
    shorthand = bare("p", BernoulliArgs)
    doc = "1 with probability p, else 0; a bare number or expression is p"
    example: ClassVar[Any] = 0.3

    def sampler(self, a: Arguments, args: Any) -> Sampler:
        p_ = _checked(a["p"], _prob, "probability must be within [0, 1]")
        return lambda r, V, t, D: 1 if r.uniform() < p_(V, t, D) else 0


class Binomial(DistributionKind):
    """Fixed small ``n`` and ``p``: inversion of a precomputed CDF (one uniform); else
    ``n`` Bernoulli trials for small ``n``, numpy's sampler beyond."""

    name = "binomial"
    model = BinomialArgs
    doc = "successes in n trials, each with probability p"
    example: ClassVar[Any] = {"n": "salvo_size", "p": "1 - intercept_prob"}

    def sampler(self, a: Arguments, args: Any) -> Sampler:
        n_arg, p_arg = a["n"], a["p"]
        n_ = _checked(n_arg, lambda x: x >= 0 and float(x) == int(x),
                      "binomial n must be a whole number >= 0")
        p_ = _checked(p_arg, _prob, "probability must be within [0, 1]")
        if n_arg.fixed is not None and p_arg.fixed is not None:
            n_fixed, p_fixed = int(n_arg.fixed), float(p_arg.fixed or 0.0)
            if n_fixed <= _TABLE_BINOMIAL:
                cdf = _binomial_cdf(n_fixed, p_fixed)
                return lambda r, V, t, D: bisect.bisect_right(cdf, r.uniform())

        def binomial(r: Draws, V: list[Any], t: float, D: Any) -> int:
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


class Poisson(DistributionKind):
    """Inversion (one uniform) for a mean up to 30, numpy's sampler beyond."""

    name = "poisson"
    model = PoissonArgs
    shorthand = bare("mean", PoissonArgs)
    doc = "a Poisson count with a mean; a bare number or expression is the mean"
    example: ClassVar[Any] = 4

    def sampler(self, a: Arguments, args: Any) -> Sampler:
        m_ = _checked(a["mean"], _nonneg, "poisson mean must be >= 0")

        def poisson(r: Draws, V: list[Any], t: float, D: Any) -> int:
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


class Categorical(DistributionKind):
    """One of ``values``: equally likely, or by ``weights``."""

    name = "categorical"
    model = CategoricalArgs
    doc = "one of values, equally likely or by weights"
    example: ClassVar[Any] = {"values": [100, 200, 500], "weights": [0.5, 0.3, 0.2]}

    def arguments(self, args: Any) -> Iterator[tuple[Path, Any]]:
        for i, v in enumerate(args.values):
            yield ("values", i), v
        for i, w in enumerate(args.weights or []):
            yield ("weights", i), w

    def sampler(self, a: Arguments, args: Any) -> Sampler:
        n = len(args.values)
        values = [a[("values", i)] for i in range(n)]
        weights = [_checked(w, _nonneg, "weight must be >= 0")
                   for i in range(n) if (w := a.get(("weights", i))) is not None]
        first = values[0].expr

        def categorical(r: Draws, V: list[Any], t: float, D: Any) -> Any:
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

    def describe(self, args: Any) -> str:
        vals = ", ".join(plain(v) for v in args.values)
        ws = f"; weights {', '.join(plain(w) for w in args.weights)}" if args.weights else ""
        return f"categorical({vals}{ws})"


DISTRIBUTIONS: dict[str, DistributionKind] = {k.name: k for k in (
    Constant(), Uniform(), Triangular(), Exponential(), Normal(), Lognormal(),
    Gamma(), Weibull(), Bernoulli(), Binomial(), Poisson(), Categorical(),
)}
"""Every distribution kind by name, in the order the schema lists them."""


# --- the schema's distribution ----------------------------------------------------------------


class _DistBase(OneOf):
    """A distribution: a bare number or expression (a constant), or one ``kind: args`` entry."""

    _kinds: ClassVar[tuple[str, ...]] = tuple(DISTRIBUTIONS)
    _noun: ClassVar[str] = "a distribution"

    @property
    def args(self) -> Any:
        """The arguments of the one kind given."""
        return getattr(self, self.kind)

    @property
    def entry(self) -> DistributionKind:
        """The registry entry of the kind given."""
        return DISTRIBUTIONS[self.kind]


def _field(kind: DistributionKind) -> Any:
    info = Field(default=None, description=kind.doc, examples=[kind.example])
    if kind.shorthand is None:
        return (kind.model | None, info)
    return (Annotated[kind.model | None, kind.shorthand], info)


if TYPE_CHECKING:
    DistSpec = _DistBase
else:
    DistSpec = create_model("DistSpec", __base__=_DistBase, __module__=__name__,
                            __doc__=_DistBase.__doc__,
                            **{name: _field(kind) for name, kind in DISTRIBUTIONS.items()})


def _dist_shorthand(value: Any) -> Any:
    return {"constant": value} if isinstance(value, (bool, int, float, str)) else value


Dist = Annotated[DistSpec, BeforeValidator(_dist_shorthand,
                                            json_schema_input_type=Expr | DistSpec)]


def distribution_arguments(dist: DistSpec, path: Path) -> Iterator[tuple[Path, Any]]:
    """Each argument of the distribution at ``path``, with its full path."""
    for sub, value in dist.entry.arguments(dist.args):
        yield (*path, dist.kind, *sub) if sub else (*path, dist.kind), value


def make_sampler(dist: DistSpec, path: Path, expressions: dict[Path, CompiledExpression],
                 ns: dict[str, Any]) -> Sampler:
    """Build the sampler of the distribution at ``path`` (its arguments compiled already)."""
    base = len(path) + 1
    args = {p[base:]: _Arg(expressions[p], ns) for p, _ in distribution_arguments(dist, path)}
    return dist.entry.sampler(Arguments(args), dist.args)
