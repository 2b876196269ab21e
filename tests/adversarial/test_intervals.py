"""Interval estimates always contain their own estimate and stay inside their range, even
at the edges (an outcome that never or always occurs) where rounding used to push them out."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.batch.intervals import newcombe_diff, paired_diff, wilson

N_MAX = 20_000


def _check_wilson(k: int, n: int) -> None:
    lo, hi = wilson(k, n)
    p = k / n
    assert 0.0 <= lo <= p <= hi <= 1.0, (k, n, lo, hi)


def test_wilson_edges_are_exact_for_every_n_up_to_20000() -> None:
    """k == 0 gives lo exactly 0; k == n gives hi exactly 1; the estimate is inside."""
    for n in range(1, N_MAX + 1):
        lo, hi = wilson(0, n)
        assert lo == 0.0 and 0.0 < hi <= 1.0, (n, lo, hi)
        lo, hi = wilson(n, n)
        assert hi == 1.0 and 0.0 <= lo < 1.0, (n, lo, hi)


def test_wilson_contains_the_estimate_for_random_k() -> None:
    """For random k in 0..n (n up to 20,000), 0 <= lo <= k/n <= hi <= 1."""
    rng = np.random.default_rng(20_000)
    for n in range(1, N_MAX + 1):
        for k in (0, 1, n - 1, n, int(rng.integers(0, n + 1))):
            if 0 <= k <= n:
                _check_wilson(k, n)


@settings(max_examples=500, deadline=None)
@given(st.integers(1, 10**9).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
       st.floats(0.1, 5.0))
def test_wilson_contains_the_estimate_for_any_size(kn: tuple[int, int], z: float) -> None:
    """Also for huge n and other confidence levels."""
    k, n = kn
    lo, hi = wilson(k, n, z)
    assert 0.0 <= lo <= k / n <= hi <= 1.0
    if k == 0:
        assert lo == 0.0
    if k == n:
        assert hi == 1.0


def test_wilson_of_nothing_is_nan_and_bad_counts_are_refused() -> None:
    """n = 0 has no interval; a count outside 0..n is an error, not a silent number."""
    assert all(math.isnan(v) for v in wilson(0, 0))
    for k, n in ((-1, 10), (11, 10)):
        with pytest.raises(ValueError, match="successes"):
            wilson(k, n)


@settings(max_examples=2000, deadline=None)
@given(st.integers(1, 20_000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
       st.integers(1, 20_000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_newcombe_contains_the_difference(a: tuple[int, int], b: tuple[int, int]) -> None:
    """-1 <= lo <= p2 - p1 <= hi <= 1."""
    (x1, n1), (x2, n2) = a, b
    d, lo, hi = newcombe_diff(x1, n1, x2, n2)
    assert d == x2 / n2 - x1 / n1
    assert -1.0 <= lo <= d <= hi <= 1.0, (a, b, d, lo, hi)


def test_newcombe_edges() -> None:
    """Both never or both always: the interval holds zero; an empty side gives NaN."""
    for n1 in (1, 3, 7, 10, 13, 999, 20_000):
        for n2 in (1, 6, 25, 20_000):
            for x1, x2 in ((0, 0), (n1, n2), (0, n2), (n1, 0)):
                d, lo, hi = newcombe_diff(x1, n1, x2, n2)
                assert -1.0 <= lo <= d <= hi <= 1.0, (x1, n1, x2, n2, lo, hi)
    assert all(math.isnan(v) for v in newcombe_diff(0, 0, 1, 2))


def test_paired_diff_of_one_or_no_run_has_no_interval() -> None:
    """n <= 1 cannot estimate a spread: the interval is NaN (the estimate is kept)."""
    d, lo, hi = paired_diff([1], [0])
    assert d == -1.0 and math.isnan(lo) and math.isnan(hi)
    assert all(math.isnan(v) for v in paired_diff([], []))


def test_paired_diff_of_equal_differences_is_zero_width() -> None:
    """All differences equal: a zero-width interval at the difference, never NaN."""
    for n in (2, 3, 10, 1001, 20_000):
        for a, b in ((0, 0), (1, 1), (0, 1), (1, 0)):
            d, lo, hi = paired_diff(np.full(n, a, dtype=bool), np.full(n, b, dtype=bool))
            assert d == lo == hi == b - a, (n, a, b, d, lo, hi)
        # a non-0/1 constant difference, where a float mean may round
        x = np.full(n, 0.1)
        d, lo, hi = paired_diff(x, x + 0.7)
        assert lo == d == hi and not math.isnan(d)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=2, max_size=300))
def test_paired_diff_contains_the_difference(pairs: list[tuple[bool, bool]]) -> None:
    """-1 <= lo <= mean(b - a) <= hi <= 1 for 0/1 outcomes."""
    a = [p[0] for p in pairs]
    b = [p[1] for p in pairs]
    d, lo, hi = paired_diff(a, b)
    assert -1.0 <= lo <= d <= hi <= 1.0, (d, lo, hi)


def test_paired_diff_refuses_unequal_lengths() -> None:
    """Pairs need equal lengths: a clear ValueError, not a broadcasting surprise."""
    with pytest.raises(ValueError, match="paired"):
        paired_diff([1, 0, 1], [1, 0])
