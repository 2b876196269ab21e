"""Outcome probabilities: one results folder, or several side by side."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from sim.errors import ResultsError
from sim.plots.context import FolderContext, context_of
from sim.plots.style import new_figure, outcome_style
from sim.results import Results

__all__ = ["compare_bars", "outcome_bars"]


def _outcome_rows(ctx: FolderContext) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    outcomes = ctx.results.summary.get("outcomes")
    if not outcomes:
        raise ResultsError(f"{ctx.path}: no outcome summary (is it a sweep? plot its points "
                           f"with --kind sweep)")
    names = list(outcomes)
    p = np.array([outcomes[o]["p"] for o in names], dtype=float)
    lo = np.array([outcomes[o]["lo"] for o in names], dtype=float)
    hi = np.array([outcomes[o]["hi"] for o in names], dtype=float)
    return names, p, lo, hi


def outcome_bars(results: Results | FolderContext | str | Path) -> Figure:
    """Bars of each outcome's probability with its 95% Wilson interval."""
    ctx = results if isinstance(results, FolderContext) else context_of(results)
    names, p, lo, hi = _outcome_rows(ctx)
    fig = new_figure(8.5, 4.8)
    ax = fig.add_subplot()
    x = np.arange(len(names))
    for i, name in enumerate(names):
        st = outcome_style(i)
        ax.bar(x[i], p[i], color=st["color"], hatch=st["hatch"], edgecolor="black",
               linewidth=0.8, label=name)
    ax.errorbar(x, p, yerr=[p - lo, hi - p], fmt="none", ecolor="black", capsize=5,
                linewidth=1.2)
    for i in range(len(names)):
        ax.annotate(f"{p[i]:.1%}", (x[i], hi[i]), xytext=(0, 4), textcoords="offset points",
                    ha="center", va="bottom", fontsize=9)
    ax.set_xticks(x, [n.replace("_", " ") for n in names])
    ax.set_ylabel("probability (share of runs), 95% interval")
    ax.set_ylim(0, min(1.0, max(float(hi.max()) * 1.18, 0.05)))
    ax.yaxis.set_major_formatter("{x:.0%}")
    ax.set_title(ctx.heading("Outcome distribution"))
    ax.grid(axis="y", alpha=0.3)
    return fig


def compare_bars(folders: Sequence[Results | str | Path]) -> Figure:
    """Outcome probabilities of several results folders, grouped by outcome."""
    ctxs = [context_of(f) for f in folders]
    if len(ctxs) < 2:
        raise ResultsError("a comparison needs at least two results folders")
    rows = [_outcome_rows(c) for c in ctxs]
    names = list(dict.fromkeys(n for r in rows for n in r[0]))
    fig = new_figure(max(8.5, 1.6 * len(names) + 2), 5.0)
    ax = fig.add_subplot()
    width = 0.8 / len(ctxs)
    x = np.arange(len(names))
    for j, (ctx, (own, p, lo, hi)) in enumerate(zip(ctxs, rows, strict=True)):
        st = outcome_style(j)
        idx = {n: k for k, n in enumerate(own)}
        pv = np.array([p[idx[n]] if n in idx else np.nan for n in names])
        lov = np.array([lo[idx[n]] if n in idx else np.nan for n in names])
        hiv = np.array([hi[idx[n]] if n in idx else np.nan for n in names])
        pos = x - 0.4 + width * (j + 0.5)
        label = f"{ctx.path.name} ({ctx.runs:,} runs, seed {ctx.seed})"
        ax.bar(pos, pv, width, color=st["color"], hatch=st["hatch"], edgecolor="black",
               linewidth=0.7, label=label)
        ax.errorbar(pos, pv, yerr=[pv - lov, hiv - pv], fmt="none", ecolor="black", capsize=3,
                    linewidth=1.0)
    ax.set_xticks(x, [n.replace("_", " ") for n in names])
    ax.set_ylabel("probability (share of runs), 95% interval")
    ax.yaxis.set_major_formatter("{x:.0%}")
    ax.legend(loc="upper right", fontsize=8, frameon=True)
    ax.grid(axis="y", alpha=0.3)
    titles = dict.fromkeys(c.title for c in ctxs)
    ax.set_title("Outcome probabilities compared\n" + "\n".join(titles))
    return fig
