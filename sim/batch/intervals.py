"""Interval estimates for proportions and differences of proportions.

Every interval holds its own estimate and stays inside the range of its quantity, exactly:
an outcome that never occurs has a Wilson interval starting at exactly 0, one that always
occurs an interval ending at exactly 1, whatever rounding the formula meets on the way.
(Hand-written rather than ``statsmodels.stats.proportion.proportion_confint``: a few lines
of closed form, pinned by exhaustive tests, against a heavy dependency that does not clamp
the edges either.)
"""

from __future__ import annotations

import math
import operator

import numpy as np

__all__ = ["Z95", "newcombe_diff", "paired_diff", "wilson"]

Z95 = 1.959963984540054


def _counts(successes: int, n: int) -> tuple[int, int]:
    k, size = operator.index(successes), operator.index(n)
    if size > 0 and not 0 <= k <= size:
        raise ValueError(f"successes must be between 0 and n={size}, got {k}")
    return k, size


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (``(nan, nan)`` when ``n`` is 0).

    Always ``0 <= lo <= successes / n <= hi <= 1``, with ``lo == 0`` exactly when there are
    no successes and ``hi == 1`` exactly when every trial succeeded."""
    k, size = _counts(successes, n)
    if size <= 0:
        return math.nan, math.nan
    p = k / size
    z2 = z * z
    denom = size + z2
    centre = (k + z2 / 2) / denom
    half = z / denom * math.sqrt(k * (size - k) / size + z2 / 4)
    lo = 0.0 if k == 0 else min(p, max(0.0, centre - half))
    hi = 1.0 if k == size else max(p, min(1.0, centre + half))
    return lo, hi


def newcombe_diff(x1: int, n1: int, x2: int, n2: int, z: float = Z95) -> tuple[float, float, float]:
    """Difference p2 - p1 of two independent proportions with Newcombe's hybrid score interval.

    Always ``-1 <= lo <= p2 - p1 <= hi <= 1``; NaN when either side has no trials."""
    k1, m1 = _counts(x1, n1)
    k2, m2 = _counts(x2, n2)
    if m1 <= 0 or m2 <= 0:
        return math.nan, math.nan, math.nan
    p1, p2 = k1 / m1, k2 / m2
    l1, u1 = wilson(k1, m1, z)
    l2, u2 = wilson(k2, m2, z)
    d = p2 - p1
    lo = d - math.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2)
    hi = d + math.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2)
    return d, max(-1.0, min(d, lo)), min(1.0, max(d, hi))


def paired_diff(a: object, b: object, z: float = Z95
                ) -> tuple[float, float, float]:
    """Difference mean(b) - mean(a) of paired 0/1 outcomes with a normal interval on the
    per-run differences (the runs share random streams).

    No runs: all NaN; one run: the difference with a NaN interval; every difference equal:
    a zero-width interval. For outcomes in [0, 1] the interval stays inside [-1, 1]."""
    x = np.asarray(a, dtype=float).ravel()
    y = np.asarray(b, dtype=float).ravel()
    if x.size != y.size:
        raise ValueError(f"paired outcomes need equal lengths, got {x.size} and {y.size}")
    d = y - x
    n = d.size
    if n == 0:
        return math.nan, math.nan, math.nan
    mean = float(d.mean())
    if n == 1 or not np.all(np.isfinite(d)):
        return mean, math.nan, math.nan
    if np.all(d == d[0]):
        return mean, mean, mean
    half = z * float(d.std(ddof=1)) / math.sqrt(n)
    lo, hi = min(mean, mean - half), max(mean, mean + half)
    if x.min() >= 0 and y.min() >= 0 and x.max() <= 1 and y.max() <= 1:
        lo, hi = max(-1.0, lo), min(1.0, hi)
    return mean, lo, hi
