"""Shared look: colour-blind-safe colours that stay apart in greyscale, hatches, axes, and
the few helpers every figure uses (a figure or the caller's axes, text that fits a box,
percentage ticks that never repeat).

Colour rule, the same in every figure: **ladder levels are greys** (darker = higher on the
ladder), **outcomes are colours** (Okabe & Ito), so a level and an outcome never share a hue.
"""

from __future__ import annotations

import itertools
import math
import textwrap
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure, SubFigure
from matplotlib.text import Text
from matplotlib.ticker import MaxNLocator

from sim.plots.context import FolderContext

__all__ = [
    "FONT",
    "HATCHES",
    "LINESTYLES",
    "MARKERS",
    "PALETTE",
    "SMALL",
    "Canvas",
    "axes_for",
    "finite",
    "fit_text",
    "level_colours",
    "new_figure",
    "outcome_style",
    "param_label",
    "percent_ticks",
    "renderer_of",
    "root_figure",
    "subfigure_for",
    "text_colour",
    "tick_label",
    "time_axis",
]

# Okabe & Ito's palette, safe for the common colour-vision deficiencies. Its black is
# replaced by Tol's olive: black and greys are the ladder's.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
           "#999933"]
HATCHES = ["", "//", "..", "xx", "\\\\", "++", "oo", "--"]
LINESTYLES = ["-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1))]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
_GREYS = ["#4d4d4d", "#8c8c8c", "#bdbdbd", "#e0e0e0", "#6e6e6e", "#a6a6a6"]

FONT = 10.0  # body text of a figure, points
SMALL = 9.0  # the smallest text any figure draws, points

Canvas = Figure | SubFigure


def new_figure(width: float = 9.0, height: float = 5.0) -> Figure:
    """A figure not tied to pyplot's global state (safe in scripts, servers and notebooks),
    with an Agg canvas so ``fig.canvas.draw()`` and text measurement work at once."""
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def root_figure(artist: Axes | Canvas) -> Figure:
    """The top-level figure of an axes or (sub)figure."""
    fig = artist.get_figure(root=True) if isinstance(artist, Axes | SubFigure) else artist
    assert isinstance(fig, Figure)
    return fig


def axes_for(ax: Axes | None, width: float, height: float) -> tuple[Figure, Axes]:
    """The caller's axes (and its figure) or a new figure of the given size with one axes."""
    if ax is not None:
        return root_figure(ax), ax
    fig = new_figure(width, height)
    return fig, fig.add_subplot()


def subfigure_for(fig: Canvas | None, width: float, height: float) -> tuple[Figure, Canvas]:
    """The caller's (sub)figure to draw several panels into, or a new figure."""
    if fig is not None:
        return root_figure(fig), fig
    new = new_figure(width, height)
    return new, new


def renderer_of(fig: Figure) -> Any:
    """A renderer to measure text with, after laying the figure out."""
    fig.draw_without_rendering()
    get = getattr(fig.canvas, "get_renderer", None)
    if get is not None:
        return get()
    width, height = fig.bbox.size
    make: Any = RendererAgg  # matplotlib's Agg renderer has no annotations
    return make(int(width), int(height), fig.dpi)


def level_colours(n: int) -> list[Any]:
    """Ordered ladder levels as greys, light to dark with rank: the order survives greyscale
    printing, and no level shares a hue with an outcome."""
    cmap = mpl.colormaps["Greys"]
    if n <= 1:
        return [cmap(0.45)]
    return [cmap(0.18 + 0.72 * i / (n - 1)) for i in range(n)]


def outcome_style(i: int) -> dict[str, Any]:
    """Colour, hatch, line style and marker of the i-th outcome."""
    return {"color": PALETTE[i % len(PALETTE)], "hatch": HATCHES[i % len(HATCHES)],
            "linestyle": LINESTYLES[i % len(LINESTYLES)], "marker": MARKERS[i % len(MARKERS)],
            "grey": _GREYS[i % len(_GREYS)]}


def text_colour(fill: Any) -> str:
    """Black or white, whichever reads better on the fill."""
    r, g, b = to_rgb(fill)
    return "white" if 0.2126 * r + 0.7152 * g + 0.0722 * b < 0.45 else "black"


def tick_label(name: str, width: int = 14) -> str:
    """An identifier as words, wrapped on two lines rather than rotated."""
    return "\n".join(textwrap.wrap(name.replace("_", " "), width)) or name


def percent_ticks(vmin: float, vmax: float, nbins: int = 5) -> tuple[list[float], list[str]]:
    """Nice ticks over a probability range and labels with just enough decimals that no two
    read the same (``0.2%, 0.4%`` rather than ``0%, 0%``)."""
    ticks = [float(t) for t in MaxNLocator(nbins).tick_values(vmin, vmax)
             if vmin - 1e-12 <= t <= vmax + 1e-12]
    if len(ticks) < 2:
        ticks = [vmin, vmax] if vmax > vmin else [vmin]
    step = min((b - a for a, b in itertools.pairwise(ticks)), default=1.0)
    decimals = 0 if step <= 0 else max(0, -math.floor(math.log10(step * 100) + 1e-9))
    labels = [f"{t * 100:.{decimals}f}%" for t in ticks]
    while len(set(labels)) < len(labels) and decimals < 6:
        decimals += 1
        labels = [f"{t * 100:.{decimals}f}%" for t in ticks]
    return ticks, labels


def param_label(ctx: FolderContext, name: str) -> str:
    """A parameter's axis label with its unit: the declared one, else what its doc line says
    it is (a chance, a share, a multiplier)."""
    spec = (ctx.results.scenario.get("parameters") or {}).get(name) or {}
    if not isinstance(spec, dict):
        return name
    unit = spec.get("unit")
    doc = str(spec.get("doc") or "").lower()
    if not unit:
        if doc.startswith("chance") or name.endswith("_prob"):
            unit = "probability"
        elif doc.startswith("share"):
            unit = "share"
        elif "multiplier" in doc or name.endswith(("_multiplier", "_factor")):
            unit = "multiplier"
    return f"{name} ({unit})" if unit else name


def time_axis(ax: Any, ctx: FolderContext) -> None:
    """Label the x axis as calendar dates (or clock units) and format its ticks."""
    if ctx.dated:
        import matplotlib.dates as mdates

        make: Any = mdates  # matplotlib.dates has no annotations
        locator = make.AutoDateLocator(minticks=4, maxticks=9)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(make.ConciseDateFormatter(locator))
    ax.set_xlabel(ctx.time_label())


def finite(values: Any) -> np.ndarray:
    """Values as floats with NaN for missing ones."""
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def fit_text(text: Text, renderer: Any, candidates: list[str], width: float,
             height: float) -> bool:
    """Give ``text`` the first candidate that fits in ``width`` x ``height`` pixels."""
    for candidate in candidates:
        text.set_text(candidate)
        extent = text.get_window_extent(renderer)
        if extent.width <= width and extent.height <= height:
            return True
    return False


def bold_heads(legend: Any, heads: list[int]) -> None:
    """Make legend rows ``heads`` section titles: bold text, no swatch."""
    for i in heads:
        legend.get_texts()[i].set_fontweight("bold")
        handle = legend.legend_handles[i]
        if handle is not None:
            handle.set_visible(False)
