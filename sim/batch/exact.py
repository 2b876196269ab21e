"""Exact sums of doubles as integers: the same totals for any chunking, order or worker count.

Every finite double is an integer multiple of ``2**-1074`` (the smallest subnormal), and
its square an integer multiple of ``2**-2148``. A sum of doubles is kept as that integer
(a Python ``int``, of any size), so adding the sums of two chunks is integer addition:
exact, associative and commutative, whatever the chunk sizes or the order they arrive in.
A total is rounded to a float once, where it is used (:func:`to_float`, :func:`mean_of`,
:func:`sd_of`: each correctly rounded).

A column is summed without a Python loop over its values: :func:`column_totals` splits
each value into its 53-bit integer mantissa and its exponent (``np.frexp``), sums the
mantissas of each exponent with ``np.bincount`` in pieces small enough to stay exact in
float64, and shifts the few per-exponent sums (Python ints) into place.

Non-finite values are kept apart: a total that met one is a non-finite float (``inf``,
``-inf`` or ``nan``), the float sum of the non-finite values alone, as float arithmetic
gives (a finite value added to ``inf`` is ``inf``, ``inf + -inf`` is ``nan``). That sum is
the same in any order, so it too is independent of chunking.
"""

from __future__ import annotations

import math
import re

import numpy as np

__all__ = ["SQUARE_SCALE", "SUM_SCALE", "Total", "add_totals", "column_totals", "decode_total",
           "encode_total", "mean_of", "sd_of", "to_float"]

SUM_SCALE = 1074  # a sum is an int K: the value K * 2**-1074
SQUARE_SCALE = 2 * SUM_SCALE  # a sum of squares: K * 2**-2148

Total = int | float
"""An exact sum: an int (the multiple of ``2**-scale``), or a non-finite float that
stands for the whole sum (see the module's docstring)."""

_ROWS = 1 << 16  # rows summed by one bincount at most: every bin's sum stays below 2**53
_BLOCK = 8192  # values per bincount: small temporary arrays are much faster to allocate
_HEX = re.compile(r"-?0x[0-9a-f]+")
_SPECIAL = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def add_totals(a: Total, b: Total) -> Total:
    """The total of two totals (of the same scale)."""
    if isinstance(a, float) or isinstance(b, float):
        return (a if isinstance(a, float) else 0.0) + (b if isinstance(b, float) else 0.0)
    return a + b


def column_totals(values: np.ndarray) -> list[tuple[Total, Total]]:
    """For each column of a 2-D float array, the exact sum of its values (scale
    :data:`SUM_SCALE`) and of their squares (scale :data:`SQUARE_SCALE`). Leave a value out
    by passing 0.0 in its place."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 2:
        raise ValueError("column_totals takes a 2-D array")
    rows, cols = v.shape
    sums: list[Total] = [0] * cols
    squares: list[Total] = [0] * cols
    if not rows or not cols:
        return list(zip(sums, squares, strict=True))
    finite = np.isfinite(v)
    if not finite.all():
        for j in np.flatnonzero(~finite.all(axis=0)).tolist():
            odd = v[~finite[:, j], j]
            with np.errstate(invalid="ignore"):  # inf + -inf is nan, quietly
                sums[j] = float(np.sum(odd))  # nan, inf or -inf, in any order
            squares[j] = float(np.sum(odd * odd))  # nan or inf
        v = np.where(finite, v, 0.0)
    step = max(1, min(_ROWS, _BLOCK // max(cols, 1)))
    for start in range(0, rows, step):
        _add_block(v[start:start + step], sums, squares)
    return list(zip(sums, squares, strict=True))


def _add_block(v: np.ndarray, sums: list[Total], squares: list[Total]) -> None:
    """Add the exact sums of the columns of at most :data:`_ROWS` rows to ``sums`` and
    ``squares`` (left alone where they are already non-finite)."""
    f, x = np.frexp(v)  # v = f * 2**x with 0.5 <= |f| < 1 (0 and 0 for a zero)
    low = int(x.min())
    span = int(x.max()) - low + 1
    key = (x - low + np.arange(v.shape[1]) * span).ravel()  # (column, exponent) bins
    m = np.ldexp(f, 53).ravel()  # v = m * 2**(x - 53): m an integer, |m| < 2**53
    # split into integers below 2**38 (every step exact in float64): at most 2**16 of them
    # per bin keep each bin's float64 sum an exact integer below 2**53
    m1 = np.floor(m * 2.0**-32)
    m0 = m - m1 * 2.0**32  # m = m1 2**32 + m0, 0 <= m0 < 2**32, whatever m's sign
    a = np.abs(m)
    hi = np.floor(a * 2.0**-36)
    a -= hi * 2.0**36
    mid = np.floor(a * 2.0**-18)
    lo = a - mid * 2.0**18  # |m| = hi 2**36 + mid 2**18 + lo, each below 2**18
    parts = [m1, m0, hi * hi, 2 * hi * mid, mid * mid + 2 * hi * lo, 2 * mid * lo, lo * lo]
    size = v.shape[1] * span
    bins = np.flatnonzero(np.bincount(key, minlength=size))
    got = [np.bincount(key, weights=p, minlength=size)[bins].astype(np.int64).tolist()
           for p in parts]
    for k, s1, s0, q4, q3, q2, q1, q0 in zip(bins.tolist(), *got, strict=True):
        j, r = divmod(k, span)
        shift = r + low + SUM_SCALE - 53  # the bin's values are m * 2**shift * 2**-1074
        if isinstance(sums[j], int):
            total = (s1 << 32) + s0
            # a subnormal's shift is below 0, but its mantissa has as many trailing zeros
            sums[j] += total << shift if shift >= 0 else total >> -shift
        if isinstance(squares[j], int):
            total = (q4 << 72) + (q3 << 54) + (q2 << 36) + (q1 << 18) + q0
            squares[j] += total << 2 * shift if shift >= 0 else total >> -2 * shift


def to_float(total: Total, scale: int) -> float:
    """The total's value, correctly rounded (``inf`` beyond the largest double)."""
    if isinstance(total, float):
        return total
    try:
        return total / (1 << scale)  # int / int: rounded once, correctly
    except OverflowError:
        return math.inf if total > 0 else -math.inf


def mean_of(total: Total, n: int) -> float:
    """``sum / n`` of a sum (scale :data:`SUM_SCALE`), correctly rounded; NaN for no value."""
    if n <= 0:
        return math.nan
    if isinstance(total, float):
        return total / n
    try:
        return total / (n << SUM_SCALE)
    except OverflowError:
        return math.inf if total > 0 else -math.inf


def sd_of(n: int, total: Total, square_total: Total) -> float:
    """The sample standard deviation ``sqrt((n sum(x^2) - sum(x)^2) / (n (n - 1)))`` of
    ``n`` values from their exact sum and sum of squares, with one rounding (the exact
    square root of the exact variance, correctly rounded); NaN for fewer than two values
    or a non-finite value among them."""
    if n < 2 or isinstance(total, float) or isinstance(square_total, float):
        return math.nan
    # both in units of 2**-2148; never negative for true sums (Cauchy-Schwarz)
    num = n * square_total - total * total
    return _sqrt_ratio(max(num, 0), (n * (n - 1)) << SQUARE_SCALE)


def _sqrt_ratio(num: int, den: int) -> float:
    """``sqrt(num / den)`` correctly rounded, for ``num >= 0`` and ``den > 0``."""
    if num == 0:
        return 0.0
    # scale by an even power 2**k so that the integer square root has at least 58 bits
    k = 2 * 58 + 2 - (num.bit_length() - den.bit_length())
    k += k & 1
    if k >= 0:
        scaled, rest = divmod(num << k, den)
    else:
        scaled, rest = divmod(num, den << -k)
    root = math.isqrt(scaled)
    # below the exact root by less than 1: a sticky bit keeps the rounding right (the
    # rounding points of a 58-bit root are integers, never strictly inside (root, root + 1))
    sticky = 1 if rest or root * root != scaled else 0
    doubled, half = (root << 1) | sticky, k // 2 + 1  # the root is doubled / 2**half
    try:
        if half <= 0:
            return float(doubled << -half)
        return doubled / (1 << half)
    except OverflowError:  # beyond the largest double
        return math.inf


def encode_total(total: Total) -> str:
    """A total as text: hexadecimal (``-0x1f``), or ``nan``, ``inf``, ``-inf``."""
    if isinstance(total, float):
        return "nan" if math.isnan(total) else "inf" if total > 0 else "-inf"
    return hex(total)


def decode_total(text: str, scale: int) -> Total:
    """Read what :func:`encode_total` wrote; ``ValueError`` for anything else, or an integer
    larger than a sum of doubles of :data:`~sim.results.manifest.MAX_RUNS` runs can be."""
    if not isinstance(text, str):
        raise ValueError("an exact sum is not text")
    if text in _SPECIAL:
        return _SPECIAL[text]
    if len(text) > 2 * scale or not _HEX.fullmatch(text):
        raise ValueError("an exact sum is not a hexadecimal integer")
    value = int(text, 16)
    if value.bit_length() > 2 * scale + 64:
        raise ValueError("an exact sum larger than any sum of doubles")
    return value
