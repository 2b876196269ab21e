"""Shared look: colour-blind-safe colours that stay apart in greyscale, hatches, axes."""

from __future__ import annotations

from typing import Any

import matplotlib as mpl
from matplotlib.figure import Figure

from sim.plots.context import FolderContext

__all__ = ["HATCHES", "LINESTYLES", "MARKERS", "PALETTE", "level_colours", "new_figure",
           "outcome_style", "time_axis"]

# Okabe & Ito's palette, safe for the common colour-vision deficiencies.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
           "#000000"]
HATCHES = ["", "//", "..", "xx", "\\\\", "++", "oo", "--"]
LINESTYLES = ["-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1))]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
_GREYS = ["#4d4d4d", "#8c8c8c", "#bdbdbd", "#e0e0e0", "#6e6e6e", "#a6a6a6"]


def new_figure(width: float = 9.0, height: float = 5.0) -> Figure:
    """A figure not tied to pyplot's global state (safe in scripts, servers and notebooks)."""
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    return fig


def level_colours(n: int) -> list[Any]:
    """Ordered ladder levels: viridis, whose lightness falls steadily with rank, so the
    order survives greyscale printing and colour-blind reading."""
    cmap = mpl.colormaps["viridis"]
    if n <= 1:
        return [cmap(0.85)]
    return [cmap(0.92 - 0.85 * i / (n - 1)) for i in range(n)]


def outcome_style(i: int) -> dict[str, Any]:
    """Colour, hatch, line style and marker of the i-th outcome."""
    return {"color": PALETTE[i % len(PALETTE)], "hatch": HATCHES[i % len(HATCHES)],
            "linestyle": LINESTYLES[i % len(LINESTYLES)], "marker": MARKERS[i % len(MARKERS)],
            "grey": _GREYS[i % len(_GREYS)]}


def time_axis(ax: Any, ctx: FolderContext) -> None:
    """Label the x axis as calendar dates (or clock units) and format its ticks."""
    if ctx.dated:
        import matplotlib.dates as mdates

        make: Any = mdates  # matplotlib.dates has no annotations
        locator = make.AutoDateLocator(minticks=4, maxticks=9)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(make.ConciseDateFormatter(locator))
    ax.set_xlabel(ctx.time_label())
