"""One formatter for the console, the report and the figures."""

from __future__ import annotations

import math

import pytest

from sim.formatting import fmt_diff, fmt_interval, fmt_p, fmt_small


@pytest.mark.parametrize("p, text", [
    (0.0, "0.000"), (1.0, "1.000"), (0.25, "0.250"), (0.003, "0.003"), (0.001, "0.001"),
    # between 0.0005 and 0.001 they read as 0.001, an interval as "0.001 - 0.001"
    (0.000896, "0.00090"), (0.00077, "0.00077"),
    (None, "-"), (math.nan, "-"),
    # a rare outcome read as 0.000 in the plain tables (45 runs in 300,000)
    (45 / 300_000, "0.00015"), (3e-6, "3.0e-06"),
])
def test_a_probability_reads_as_zero_only_when_it_is_zero(p, text):
    assert fmt_p(p) == text


def test_an_interval_of_a_rare_outcome_keeps_its_digits():
    assert fmt_interval(0.0, 0.00031) == "0.000 - 0.00031"
    assert fmt_interval(0.00012, 0.00021) == "0.00012 - 0.00021"


def test_small_probabilities_keep_three_significant_digits():
    assert fmt_small(0.00297) == "0.00297"
    assert fmt_small(0.25) == "0.250"
    assert fmt_small(0.0030001) == "0.00300"  # was "0.003" beside "0.00291 - 0.00308"


@pytest.mark.parametrize("d, text", [(-0.000266, "-0.00027"), (0.0, "+0.000"),
                                     (0.0123, "+0.012"), (None, "-")])
def test_a_small_difference_is_not_shown_as_zero(d, text):
    """compare showed a significant difference of -0.000265 as -0.000 [-0.000, -0.000]."""
    assert fmt_diff(d) == text
