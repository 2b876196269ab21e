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
    if ctx.kind == "sweep":
        raise ResultsError(f"{ctx.path}: a sweep; plot its points with --kind sweep")
    summary = ctx.results.batch_summary()
    if summary.runs == 0:
        raise ResultsError(f"{ctx.path}: no run completed ({summary.failed:,} failed), so "
                           f"there is no outcome distribution to draw")
    names = list(summary.outcomes)
    p = np.array([summary.outcomes[o].p for o in names], dtype=float)
    lo = np.array([summary.outcomes[o].lo for o in names], dtype=float)
    hi = np.array([summary.outcomes[o].hi for o in names], dtype=float)
    return names, p, np.minimum(lo, p), np.maximum(hi, p)


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


def compare_bars(refs: Sequence[Results | str | Path], allow_different: bool = False
                 ) -> Figure:
    """Outcome probabilities of several results (folders, or sweep points ``DIR@k``) side by
    side, and beside them each one's difference from the first with its 95% interval
    (paired on common random numbers where the runs share them)."""
    from sim.analysis.compare import compare

    if len(refs) < 2:
        raise ResultsError("a comparison needs at least two results")
    cmp = compare([r.path if isinstance(r, Results) else r for r in refs], allow_different)
    names = cmp.outcomes
    fig = new_figure(max(11.0, 2.2 * len(names) + 4), 5.4)
    left, right = fig.subplots(1, 2, width_ratios=[3, 2])
    width = 0.8 / len(cmp.labels)
    x = np.arange(len(names))
    for j, label in enumerate(cmp.labels):
        st = outcome_style(j)
        pv = np.array([r[f"p[{label}]"] for r in cmp.rows])
        lov = np.array([r[f"ci[{label}]"][0] for r in cmp.rows])
        hiv = np.array([r[f"ci[{label}]"][1] for r in cmp.rows])
        pos = x - 0.4 + width * (j + 0.5)
        left.bar(pos, pv, width, color=st["color"], hatch=st["hatch"], edgecolor="black",
                 linewidth=0.7, label=cmp.titles[label] if len(cmp.labels) <= 3 else label)
        left.errorbar(pos, pv, yerr=[pv - np.minimum(lov, pv), np.maximum(hiv, pv) - pv],
                      fmt="none", ecolor="black", capsize=3, linewidth=1.0)
    left.set_xticks(x, [n.replace("_", " ") for n in names], rotation=20, ha="right")
    left.set_ylabel("probability (share of runs), 95% interval")
    left.yaxis.set_major_formatter("{x:.0%}")
    left.legend(loc="upper left", fontsize=7, frameon=True, bbox_to_anchor=(0, -0.28))
    left.grid(axis="y", alpha=0.3)
    left.set_title("Outcome probabilities", fontsize=10)
    others = cmp.labels[1:]
    height = 0.8 / len(others)
    y = np.arange(len(names))
    for j, label in enumerate(others):
        st = outcome_style(j + 1)
        d = np.array([r[f"diff[{label}]"][0] for r in cmp.rows])
        lo = np.array([r[f"diff[{label}]"][1] for r in cmp.rows])
        hi = np.array([r[f"diff[{label}]"][2] for r in cmp.rows])
        pos = y - 0.4 + height * (j + 0.5)
        right.errorbar(d, pos, xerr=[np.nan_to_num(d - lo), np.nan_to_num(hi - d)], fmt="o",
                       color=st["color"], capsize=3, label=f"{label} ({cmp.methods[label]})")
        for k in range(len(names)):
            right.annotate(f"{d[k]:+.1%}", (hi[k] if np.isfinite(hi[k]) else d[k], pos[k]),
                           xytext=(4, 0), textcoords="offset points", va="center", fontsize=7)
    right.axvline(0, color="black", linewidth=0.8)
    right.set_yticks(y, [n.replace("_", " ") for n in names])
    right.invert_yaxis()
    right.xaxis.set_major_formatter("{x:+.0%}")
    right.set_xlabel(f"difference from {cmp.labels[0]}, 95% interval")
    right.grid(axis="x", alpha=0.3)
    right.legend(loc="upper left", fontsize=7, frameon=True, bbox_to_anchor=(0, -0.18))
    right.set_title("Differences", fontsize=10)
    fig.suptitle("Outcome probabilities compared\n" + " vs ".join(
        dict.fromkeys(cmp.titles.values())), fontsize=10)
    return fig
