"""Every figure kind, drawn for the base case, reads cleanly: no two texts overlap, none is cut
by the figure's edge, colourbar ticks are distinct, every colour drawn is in a legend, and in
the report no text is shown under 9 pt."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from itertools import combinations
from typing import Any

import numpy as np
import pytest
from conftest import ROOT
from matplotlib.axes import Axes
from matplotlib.collections import Collection
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.lines import Line2D
from matplotlib.markers import MarkerStyle
from matplotlib.patches import Patch
from matplotlib.text import Text

import sim
from sim.analysis.sensitivity import sensitivity
from sim.analysis.sweeps import run_sweep
from sim.plots import (
    compare_bars,
    figure_bytes,
    occupancy_bands,
    outcome_bars,
    path_icicle,
    reach_curves,
    run_timeline,
    sensitivity_bars,
    sweep_figure,
)
from sim.plots.style import SMALL, new_figure
from sim.report import build_report

BASE = ROOT / "scenarios" / "bryansk_atacms_2024.yaml"
PAGE_PX = 1100  # the report's widest column (its CSS max-width)


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("layout")
    base = sim.load_scenario(BASE)
    sim.run_batch(base, 5000, 7, trace=5, out=root / "base")
    sim.run_batch(base, 2000, 7, {"aid_cut_prob": 0.9}, out=root / "aid")
    run_sweep(base, ["intercept_prob=0.5:0.95:6"], runs=150, seed=3, out=root / "s1")
    run_sweep(base, ["intercept_prob=0.5:0.95:4", "resupply_batch=0,6,12"], runs=150, seed=3,
              out=root / "s2")
    run_sweep(base, ["intercept_prob=0.5:0.95", "signal_rate=0:0.02",
                     "aid_cut_prob=0:1"], runs=100, seed=3, design="lhs", samples=24,
              out=root / "lhs")
    sensitivity(base, "nato=clash", "sobol",
                ["intercept_prob", "clash_per_incident", "resupply_batch"], samples=8, runs=60,
                seed=1, out=root / "sens")
    sensitivity(base, "nato=clash", "morris",
                ["intercept_prob", "clash_per_incident", "resupply_batch"], samples=4, runs=60,
                seed=1, out=root / "morris")
    return root


def _figures(root: Any) -> dict[str, Callable[[], Figure]]:
    return {
        "outcomes": lambda: outcome_bars(root / "base"),
        "occupancy": lambda: occupancy_bands(root / "base"),
        "reach": lambda: reach_curves(root / "base"),
        "paths": lambda: path_icicle(root / "base"),
        "run": lambda: run_timeline(root / "base", 0),
        "sweep-1": lambda: sweep_figure(root / "s1"),
        "sweep-2": lambda: sweep_figure(root / "s2"),
        "sweep-lhs": lambda: sweep_figure(root / "lhs"),
        "sobol": lambda: sensitivity_bars(root / "sens"),
        "morris": lambda: sensitivity_bars(root / "morris"),
        "compare": lambda: compare_bars([root / "base", root / "aid"]),
    }


KINDS = list(_figures(None))


def _draw(make: Callable[[], Figure]) -> Figure:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = make()
        figure_bytes(fig, "png")
        fig.canvas.draw()
    return fig


def _shown(artist: Any) -> bool:
    while artist is not None:
        if not artist.get_visible():
            return False
        artist = getattr(artist, "axes", None) if not isinstance(artist, Axes) else None
    return True


def _hidden_ticks(fig: Figure) -> set[int]:
    """Tick labels matplotlib keeps but does not draw (outside the view)."""
    out = set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            pad = (hi - lo) * 1e-9
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                if not lo - pad <= tick.get_loc() <= hi + pad:
                    out.update({id(tick.label1), id(tick.label2)})
    return out


def texts(fig: Figure) -> list[Text]:
    """The texts that are drawn: visible, not empty, in a visible axes, ticks in view."""
    hidden = _hidden_ticks(fig)
    return [t for t in fig.findobj(Text) if t.get_text().strip() and _shown(t)
            and id(t) not in hidden and (t.axes is None or t.axes.get_visible())]


@pytest.mark.parametrize("kind", KINDS)
def test_no_text_overlaps_or_leaves_the_figure(folders: Any, kind: str) -> None:
    """No two drawn texts overlap and none crosses the figure's edge."""
    fig = _draw(_figures(folders)[kind])
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    shown = texts(fig)
    assert shown
    boxes = [(t, t.get_window_extent(renderer)) for t in shown]
    edge = fig.bbox
    for t, b in boxes:
        assert (b.x0 >= edge.x0 - 0.5 and b.y0 >= edge.y0 - 0.5 and b.x1 <= edge.x1 + 0.5
                and b.y1 <= edge.y1 + 0.5), f"{kind}: {t.get_text()!r} is cut by the edge"
    for (t1, b1), (t2, b2) in combinations(boxes, 2):
        w = min(b1.x1, b2.x1) - max(b1.x0, b2.x0)
        h = min(b1.y1, b2.y1) - max(b1.y0, b2.y0)
        assert w <= 1 or h <= 1, f"{kind}: {t1.get_text()!r} overlaps {t2.get_text()!r}"


@pytest.mark.parametrize("kind", KINDS)
def test_text_is_readable_at_report_size(folders: Any, kind: str) -> None:
    """No text under 9 pt, and figures narrow enough to be shown at their own size."""
    fig = _draw(_figures(folders)[kind])
    assert min(t.get_fontsize() for t in texts(fig)) >= SMALL
    assert fig.get_size_inches()[0] * 96 <= PAGE_PX


def test_colourbar_ticks_are_distinct(folders: Any) -> None:
    """Each heatmap's colourbar labels its ticks with as many decimals as they need."""
    fig = _draw(_figures(folders)["sweep-2"])
    images = [im for ax in fig.axes for im in ax.images if isinstance(im, AxesImage)]
    assert images
    for im in images:
        assert im.colorbar is not None
        labels = [t.get_text() for t in texts(fig) if t in im.colorbar.ax.get_yticklabels()]
        assert len(labels) >= 2 and len(set(labels)) == len(labels), labels
    cells = [t.get_text() for t in texts(fig) if re.fullmatch(r"\d+(\.\d)?%", t.get_text())
             and t.axes is not None and t.axes.images]
    assert len(cells) == 12 * len(images)  # every cell says its value


# Ink and paper, not categories: black, white, and the mid-grey rule drawn between
# outcome dimensions (compare) and between tracks (a run's timeline).
_INK = {(0.0, 0.0, 0.0), (1.0, 1.0, 1.0), (0.533, 0.533, 0.533)}


def _rgb(colour: Any) -> tuple[float, ...] | None:
    rgb = tuple(round(c, 3) for c in to_rgb(colour))
    return None if rgb in _INK else rgb


def _legend_colours(fig: Figure) -> set[tuple[float, ...]]:
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend()] + list(fig.legends)
    out = set()
    for legend in legends:
        for h in legend.legend_handles:
            if isinstance(h, Patch):
                out.add(_rgb(h.get_facecolor()))
            elif isinstance(h, Line2D):
                out.add(_rgb(h.get_color()))
            elif isinstance(h, Collection) and len(h.get_facecolor()):
                out.add(_rgb(h.get_facecolor()[0]))
    return out


def _drawn_colours(fig: Figure) -> set[tuple[float, ...] | None]:
    out: set[tuple[float, ...] | None] = set()
    for ax in fig.axes:
        if ax.images or not ax.get_visible() or ax.get_label() == "<colorbar>":
            continue
        out |= {_rgb(p.get_facecolor()) for p in ax.patches if p.get_visible()
                and p.get_facecolor()[3] > 0}
        for line in ax.lines:
            if line.get_visible() and line.get_linestyle() not in {"None", "", " "}:
                out.add(_rgb(line.get_color()))
            if line.get_visible() and MarkerStyle(line.get_marker()).is_filled():
                out.add(_rgb(line.get_markerfacecolor()))
        for c in ax.collections:
            out |= {_rgb(f) for f in c.get_facecolor() if f[3] > 0}
    return out


@pytest.mark.parametrize("kind", [k for k in KINDS if k not in {"outcomes", "sweep-2"}])
def test_every_colour_drawn_is_in_a_legend(folders: Any, kind: str) -> None:
    """Colours name categories only through a legend (black and white are ink and paper;
    outcome bars name theirs on the axis, heatmaps have colourbars)."""
    fig = _draw(_figures(folders)[kind])
    missing = _drawn_colours(fig) - _legend_colours(fig) - {None}
    assert not missing, f"{kind}: colours {missing} are not in the legend"


def test_path_icicle_for_the_base_case(folders: Any) -> None:
    """Hundreds of paths: no empty column, ladder levels in the legend, labels inside boxes."""
    summary = sim.load_results(folders / "base").batch_summary()
    assert summary.distinct_paths >= 200
    fig = _draw(_figures(folders)["paths"])
    ax = fig.axes[0]
    columns = {round(p.get_x()) for p in ax.patches}
    assert columns == set(range(len(ax.get_xticks())))  # every column holds a box
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert {"intensity level", "demonstration", "scope level", "reinforced", "nato level",
            "nato incident", "milestone action"} <= set(legend)
    # no outcome box is wide enough here: the legend says so (it showed no outcome at all)
    at = legend.index("outcome (ends the path)")
    assert legend[at + 1].startswith("none shown: every path to an")
    boxes = [p.get_window_extent() for p in ax.patches]
    labels = [t for t in ax.texts if t.get_text().strip()]
    assert len(labels) >= 20
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    for t in labels:
        b = t.get_window_extent(renderer)
        assert any(box.x0 <= b.x0 and b.x1 <= box.x1 and box.y0 <= b.y0 and b.y1 <= box.y1
                   for box in boxes), f"{t.get_text()!r} is not inside its box"


def test_every_function_draws_into_the_callers_axes(folders: Any) -> None:
    """One-panel figures take ax=, figures of several panels (the base case's four outcome
    dimensions and three tracks) take fig= (a subfigure too)."""
    fig = new_figure(11, 14)
    top, middle, bottom = fig.subfigures(3, 1)
    assert outcome_bars(folders / "base", fig=top) is fig
    assert reach_curves(folders / "base", fig=middle) is fig
    assert compare_bars([folders / "base", folders / "aid"], fig=bottom) is fig
    other = new_figure(11, 8)
    assert occupancy_bands(folders / "base", fig=other.subfigures(1, 1)) is other
    assert len(top.axes) == 4 and sum(len(a.patches) for a in top.axes) >= 10
    assert len(middle.axes) == 3 and sum(len(a.lines) for a in middle.axes) >= 5
    single = new_figure(6, 4)
    ax = single.add_subplot()
    for draw in (outcome_bars, reach_curves, occupancy_bands):
        with pytest.raises(sim.ResultsError, match="pass fig="):
            draw(folders / "base", ax=ax)
    ax.clear()
    assert path_icicle(folders / "base", ax=ax) is single
    ax.clear()
    assert sweep_figure(folders / "s1", ax=ax) is single
    ax.clear()
    assert sensitivity_bars(folders / "sens", ax=ax) is single
    assert run_timeline(folders / "base", 0, fig=new_figure(8, 5).subfigures(1, 1)) \
        is not None
    with pytest.raises(sim.ResultsError, match="pass fig="):
        sweep_figure(folders / "s2", ax=ax)
    assert sweep_figure(folders / "lhs", fig=single) is single


def test_report_shows_figures_text_at_9pt_or_more(folders: Any) -> None:
    """The smallest text of any figure, at the size the report shows it, is 9 pt or more."""
    html = build_report(folders / "base", run=0)
    widths = [int(w) for w in re.findall(r'<img [^>]*width="(\d+)"', html)]
    figs = [_figures(folders)[k]() for k in ("outcomes", "occupancy", "reach", "paths", "run")]
    assert len(widths) == len(figs)
    smallest = []
    for fig, width in zip(figs, widths, strict=True):
        scale = min(width, PAGE_PX) / (fig.get_size_inches()[0] * 96)
        fig.canvas.draw()
        smallest.append(min(t.get_fontsize() for t in texts(fig)) * scale)
    assert np.min(smallest) >= 9.0, smallest
