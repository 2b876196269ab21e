"""Analysis: experimental designs, sweeps' summaries and comparisons of results."""

from sim.analysis.designs import DESIGNS, Factor, expand, parse_factor

__all__ = ["DESIGNS", "Factor", "expand", "parse_factor"]
