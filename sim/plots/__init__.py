"""Figures from results folders, built with matplotlib; nothing here runs a simulation.

Each function takes a results folder (path or :class:`~sim.results.Results`) and returns a
:class:`matplotlib.figure.Figure`, for notebooks; :func:`save_figures` writes them, for
the command line. To compose panels, pass ``ax=`` (one-panel figures) or ``fig=`` (a figure
or subfigure, for figures of several panels): the function draws into it and returns its
figure::

    fig, (a, b) = plt.subplots(1, 2, figsize=(14, 5))
    outcome_bars("results/base", ax=a)
    reach_curves("results/base", ax=b)

Ladder levels are greys (darker = higher), outcomes are colours, in every figure; every
figure is at most 11.25 in wide and writes no text under 9 pt. With several escalation
tracks, occupancy and reach draw one panel per track; with several outcome dimensions,
the outcome bars draw one panel per dimension (these take ``fig=``, not ``ax=``).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure

from sim.errors import ResultsError
from sim.plots.backtest import event_time_curves, reliability_diagram
from sim.plots.context import FolderContext, context_of
from sim.plots.design import sensitivity_bars, sweep_figure
from sim.plots.outcomes import compare_bars, outcome_bars
from sim.plots.paths import path_icicle
from sim.plots.timeline import occupancy_bands, reach_curves, run_timeline
from sim.results import Results, write_output

__all__ = [
    "FORMATS",
    "KINDS",
    "compare_bars",
    "default_kinds",
    "event_time_curves",
    "figure_bytes",
    "figures_for",
    "occupancy_bands",
    "outcome_bars",
    "path_icicle",
    "reach_curves",
    "reliability_diagram",
    "run_timeline",
    "save_figures",
    "sensitivity_bars",
    "sweep_figure",
]

KINDS = ("outcomes", "occupancy", "reach", "paths", "run", "sweep", "sensitivity",
         "reliability", "event_times")
FORMATS = ("png", "svg", "pdf")


def default_kinds(ctx: FolderContext, run: int | None = None) -> list[str]:
    """Every figure that fits the folder."""
    if ctx.results.has_sensitivity:
        return ["sensitivity"]
    if ctx.kind == "sweep":
        return ["sweep"]
    kinds = ["outcomes", "occupancy", "reach", "paths"]
    if run is not None:
        kinds.append("run")
    if ctx.results.has_backtest:
        kinds.append("reliability")
        if _has_dated_times(ctx):
            kinds.append("event_times")
    return kinds


def _has_dated_times(ctx: FolderContext) -> bool:
    _, scores = ctx.results.backtest()
    return any(r.get("date") is not None and r.get("kind") in ("event", "when", "level")
               for r in scores.get("read_as", []))


def figures_for(results: Results | str | Path, kinds: Sequence[str] | None = None,
                run: int | None = None) -> dict[str, Figure]:
    """The named figures of one results folder (default: every one that fits it)."""
    ctx = context_of(results)
    wanted = list(kinds) if kinds else default_kinds(ctx, run)
    unknown = [k for k in wanted if k not in KINDS]
    if unknown:
        raise ResultsError(f"unknown figure kind {', '.join(unknown)}: use "
                           f"{', '.join(KINDS)}")
    makers = {
        "outcomes": lambda: outcome_bars(ctx),
        "occupancy": lambda: occupancy_bands(ctx),
        "reach": lambda: reach_curves(ctx),
        "paths": lambda: path_icicle(ctx),
        "run": lambda: run_timeline(ctx, 0 if run is None else run),
        "sweep": lambda: sweep_figure(ctx),
        "sensitivity": lambda: sensitivity_bars(ctx),
        "reliability": lambda: reliability_diagram(ctx),
        "event_times": lambda: event_time_curves(ctx),
    }
    return {(f"run-{run or 0}" if k == "run" else k): makers[k]() for k in wanted}


def figure_bytes(fig: Figure, fmt: str = "png", dpi: int = 150) -> bytes:
    """A figure rendered to PNG, SVG or PDF bytes."""
    if fmt not in FORMATS:
        raise ResultsError(f"unknown format '{fmt}': use {', '.join(FORMATS)}")
    sink = io.BytesIO()
    metadata = {"Software": None} if fmt == "png" else {}
    fig.savefig(sink, format=fmt, dpi=dpi, metadata=metadata)
    return sink.getvalue()


def save_figures(figures: dict[str, Figure], out: str | Path, fmt: str = "png",
                 force: bool = False) -> list[Path]:
    """Write figures as ``<out>/<name>.<fmt>``; returns the paths. Existing files are
    replaced only with ``force`` (and then none is written unless all can be)."""
    folder = Path(out)
    targets = {name: folder / f"{name}.{fmt}" for name in figures}
    existing = [p for p in targets.values() if p.exists() or p.is_symlink()]
    if existing and not force:
        raise ResultsError(f"{', '.join(str(p) for p in existing)} already "
                           f"exist{'s' if len(existing) == 1 else ''}; pass --force to replace")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ResultsError(f"{folder}: cannot create: {exc.strerror or exc}") from None
    written = []
    for name, fig in figures.items():
        write_output(targets[name], figure_bytes(fig, fmt), force)
        written.append(targets[name])
    return written
