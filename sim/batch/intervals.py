"""Interval estimates for proportions and differences of proportions."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["Z95", "newcombe_diff", "paired_diff", "wilson"]

Z95 = 1.959963984540054


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (``(nan, nan)`` when ``n`` is 0)."""
    if n <= 0:
        return math.nan, math.nan
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe_diff(x1: int, n1: int, x2: int, n2: int, z: float = Z95) -> tuple[float, float, float]:
    """Difference p2 - p1 of two independent proportions with Newcombe's hybrid score interval."""
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson(x1, n1, z)
    l2, u2 = wilson(x2, n2, z)
    d = p2 - p1
    lo = d - math.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2)
    hi = d + math.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2)
    return d, lo, hi


def paired_diff(a: object, b: object, z: float = Z95
                ) -> tuple[float, float, float]:
    """Difference mean(b) - mean(a) of paired 0/1 outcomes with a normal interval on the
    per-run differences (the runs share random streams)."""
    x = np.asarray(a, dtype=float)
    y = np.asarray(b, dtype=float)
    d = y - x
    n = d.size
    mean = float(d.mean()) if n else math.nan
    se = float(d.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    return mean, mean - z * se, mean + z * se
