"""Outcome probabilities: one results folder, or several side by side."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sim.errors import ResultsError
from sim.plots.context import FolderContext, context_of, outcome_text
from sim.plots.style import (
    FONT,
    SMALL,
    Canvas,
    axes_for,
    outcome_style,
    subfigure_for,
    tick_label,
)
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


def outcome_bars(results: Results | FolderContext | str | Path,
                 ax: Axes | None = None, fig: Canvas | None = None) -> Figure:
    """Bars of each outcome's probability with its 95% Wilson interval (each bar named on
    the axis, so no legend). Draws into ``ax`` when given. With several outcome dimensions,
    one panel per dimension (titled by it, sharing the probability axis; each panel's bars
    sum to 100%), drawn into ``fig`` (a figure or subfigure) when given."""
    ctx = results if isinstance(results, FolderContext) else context_of(results)
    names, p, lo, hi = _outcome_rows(ctx)
    groups = ctx.dimension_groups(names)
    if len(groups) == 1:
        fig_, ax = axes_for(ax, 8.5, 4.8)
        _bars(ax, ctx, names, names, p, lo, hi)
        ax.set_ylabel("probability (share of runs), 95% interval")
        ax.set_title(ctx.heading("Outcome distribution"))
        ax.set_ylim(0, min(1.0, max(float(hi.max()) * 1.18, 0.05)))
        return fig_
    if ax is not None:
        raise ResultsError(f"{ctx.path}: {len(groups)} outcome dimensions draw one panel "
                           f"each; pass fig= (a figure or subfigure) instead of ax=")
    root, canvas = subfigure_for(fig, min(11.25, 1.15 * len(names) + 2.4), 5.0)
    axes = canvas.subplots(1, len(groups), sharey=True,
                           width_ratios=[len(g) + 0.6 for _, g in groups])
    top = min(1.0, max(float(hi.max()) * 1.18, 0.05))
    for i, (axis, (dim, labels)) in enumerate(zip(axes, groups, strict=True)):
        rows = [names.index(lb) for lb in labels]
        _bars(axis, ctx, labels, [lb.partition("=")[2] or lb for lb in labels], p[rows],
              lo[rows], hi[rows])
        axis.set_xlim(-0.6, len(labels) - 0.4)
        axis.set_title(dim.replace("_", " ") or "other", fontsize=FONT, fontweight="bold")
        if i == 0:
            axis.set_ylabel("probability (share of runs), 95% interval")
        else:
            axis.tick_params(axis="y", left=False)
    axes[0].set_ylim(0, top)
    canvas.suptitle(ctx.heading("Outcome distribution, one panel per outcome dimension "
                                "(each sums to 100%)"), fontsize="large")
    return root


def _bars(ax: Axes, ctx: FolderContext, labels: list[str], ticks: list[str], p: np.ndarray,
          lo: np.ndarray, hi: np.ndarray) -> None:
    """One bar per outcome label with its interval and value, named on the axis."""
    x = np.arange(len(labels))
    for i, name in enumerate(labels):
        st = outcome_style(ctx.outcome_index(name, i))
        ax.bar(x[i], p[i], color=st["color"], hatch=st["hatch"], edgecolor="black",
               linewidth=0.8, label=name)
    ax.errorbar(x, p, yerr=[p - lo, hi - p], fmt="none", ecolor="black", capsize=5,
                linewidth=1.2)
    for i in range(len(labels)):
        ax.annotate(f"{p[i]:.1%}", (x[i], hi[i]), xytext=(0, 4), textcoords="offset points",
                    ha="center", va="bottom", fontsize=SMALL)
    ax.set_xticks(x, [tick_label(n) for n in ticks])
    ax.yaxis.set_major_formatter("{x:.0%}")
    ax.grid(axis="y", alpha=0.3)


def _short_labels(labels: list[str], titles: dict[str, str]) -> dict[str, str]:
    """``folder: changed values`` for each result, the scenario title said once elsewhere."""
    out = {}
    for label in labels:
        title = titles.get(label, "")
        values = title[title.rfind(" [") + 2:-1] if title.endswith("]") and " [" in title \
            else "scenario values"
        name = Path(label.rpartition("@")[0]).name + "@" + label.rpartition("@")[2] \
            if "@" in label and not Path(label).exists() else Path(label).name or label
        out[label] = f"{name}: {values}"
    return out


def _compare_tick(label: str) -> str:
    """``war:`` over ``ceasefire`` for a dimension's label, else the name as words."""
    dim, eq, cls = label.partition("=")
    if not eq:
        return tick_label(label, 12)
    return f"{dim.replace('_', ' ')}:\n{tick_label(cls, 12)}"


def _dimension_breaks(labels: list[str]) -> list[int]:
    """The positions where a new outcome dimension starts (after the first)."""
    dims = [lb.partition("=")[0] if "=" in lb else "" for lb in labels]
    return [k for k in range(1, len(dims)) if dims[k] != dims[k - 1]]


def compare_bars(refs: Sequence[Results | str | Path], allow_different: bool = False,
                 fig: Canvas | None = None) -> Figure:
    """Outcome probabilities of several results (folders, or sweep points ``DIR@k``) side by
    side with their values, and beside them each one's difference from the first with its
    95% interval (paired on common random numbers where the runs share them). The legend
    names each result by its folder and the parameter values it changed. Draws its two
    panels into ``fig`` (a figure or subfigure) when given."""
    from sim.analysis.compare import compare

    if len(refs) < 2:
        raise ResultsError("a comparison needs at least two results")
    cmp = compare([r.path if isinstance(r, Results) else r for r in refs], allow_different)
    names = cmp.outcomes
    short = _short_labels(cmp.labels, cmp.titles)
    root, canvas = subfigure_for(fig, 11.0, 5.4)
    left, right = canvas.subplots(1, 2, width_ratios=[3, 2])
    width = 0.8 / len(cmp.labels)
    x = np.arange(len(names))
    vertical = len(cmp.labels) > 2 or len(names) * len(cmp.labels) > 12  # narrow bars
    top = 0.0
    for j, label in enumerate(cmp.labels):
        st = outcome_style(j)
        pv = np.array([r[f"p[{label}]"] for r in cmp.rows])
        lov = np.array([r[f"ci[{label}]"][0] for r in cmp.rows])
        hiv = np.maximum(np.array([r[f"ci[{label}]"][1] for r in cmp.rows]), pv)
        pos = x - 0.4 + width * (j + 0.5)
        left.bar(pos, pv, width, color=st["color"], hatch=st["hatch"], edgecolor="black",
                 linewidth=0.7, label=short[label])
        left.errorbar(pos, pv, yerr=[pv - np.minimum(lov, pv), hiv - pv], fmt="none",
                      ecolor="black", capsize=3, linewidth=1.0)
        for k in range(len(names)):
            left.annotate(f"{pv[k]:.1%}", (pos[k], hiv[k]), xytext=(0, 3),
                          textcoords="offset points", ha="center", va="bottom",
                          fontsize=SMALL, rotation=90 if vertical else 0)
        top = max(top, float(np.nanmax(hiv)))
    rows = math.ceil(len(cmp.labels) / 2)  # of the legend, drawn above the bars
    left.set_ylim(0, top * ((1.3 if vertical else 1.15) + 0.12 * rows) + 0.01)
    left.set_yticks([t for t in left.get_yticks() if 0 <= t <= 1.0])  # headroom: no 110%
    several = any("=" in n for n in names)
    left.set_xticks(x, [_compare_tick(n) for n in names])
    if len(names) > 8:  # too many to sit side by side: each label stands on its end
        left.tick_params(axis="x", labelrotation=90)
    left.set_ylabel("probability (share of runs), 95% interval")
    left.yaxis.set_major_formatter("{x:.0%}")
    left.grid(axis="y", alpha=0.3)
    left.set_title("Outcome probabilities", fontsize=FONT)
    others = cmp.labels[1:]
    height = 0.8 / len(others)
    y = np.arange(len(names))
    span = 0.0
    for j, label in enumerate(others):
        st = outcome_style(j + 1)
        d = np.array([r[f"diff[{label}]"][0] for r in cmp.rows])
        lo = np.array([r[f"diff[{label}]"][1] for r in cmp.rows])
        hi = np.array([r[f"diff[{label}]"][2] for r in cmp.rows])
        pos = y - 0.4 + height * (j + 0.5)
        right.errorbar(d, pos, xerr=[np.nan_to_num(d - lo), np.nan_to_num(hi - d)], fmt="o",
                       color=st["color"], capsize=3, markeredgecolor="black",
                       markeredgewidth=0.5)
        for k in range(len(names)):
            right.annotate(f"{d[k]:+.1%}", (hi[k] if np.isfinite(hi[k]) else d[k], pos[k]),
                           xytext=(4, 0), textcoords="offset points", va="center",
                           fontsize=SMALL)
        span = max(span, float(np.nanmax(np.abs(np.concatenate([lo, hi, d])))))
    right.axvline(0, color="black", linewidth=0.8)
    right.set_xlim(-span * 1.15 - 0.005, span * 1.45 + 0.01)
    right.set_yticks(y, [outcome_text(n) for n in names])
    if several:  # a light rule between the outcome dimensions
        for k in _dimension_breaks(names):
            left.axvline(k - 0.5, color="#888888", linewidth=0.8, linestyle="--")
            right.axhline(k - 0.5, color="#888888", linewidth=0.8, linestyle="--")
    right.invert_yaxis()
    right.xaxis.set_major_formatter("{x:+.0%}")
    methods = sorted(set(cmp.methods.values()))
    right.set_xlabel(f"difference from {short[cmp.labels[0]].split(':')[0]}, 95% interval "
                     f"({', '.join(methods)})")
    right.grid(axis="x", alpha=0.3)
    right.set_title("Differences", fontsize=FONT)
    left.legend(loc="upper center", ncols=min(len(cmp.labels), 2), fontsize=SMALL,
                frameon=False)
    scenario = list(dict.fromkeys(t.rpartition(" [")[0] if t.endswith("]") else t
                                  for t in cmp.titles.values()))
    canvas.suptitle("Outcome probabilities compared\n" + "; ".join(scenario), fontsize=FONT)
    return root
