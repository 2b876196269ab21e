"""Figures of sweeps and sensitivity analyses."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from sim.errors import ResultsError
from sim.plots.context import FolderContext, context_of, outcome_text
from sim.plots.style import (
    FONT,
    SMALL,
    Canvas,
    axes_for,
    finite,
    outcome_style,
    param_label,
    percent_ticks,
    subfigure_for,
    text_colour,
)
from sim.results import Results
from sim.results.chunkfile import independent_streams
from sim.results.folder import PARAM

__all__ = ["sensitivity_bars", "sweep_figure"]


def _sweep_frame(ctx: FolderContext) -> tuple[object, list[str]]:
    if ctx.kind != "sweep":
        raise ResultsError(f"{ctx.path}: not a sweep")
    df = ctx.results.sweep_frame()
    if df.empty or not (df["runs"] > 0).any():
        raise ResultsError(f"{ctx.path}: no run of the sweep completed")
    varied = [str(v) for v in (ctx.results.manifest.design or {}).get("varied", [])]
    return df, varied


def sweep_figure(results: Results | FolderContext | str | Path,
                 outcomes: list[str] | None = None, ax: Axes | None = None,
                 fig: Canvas | None = None) -> Figure:
    """One swept parameter: each outcome's probability against it with 95% bands (drawn
    into ``ax`` when given). Two on a grid: a heatmap per outcome with its value in each
    cell. More (or a sampled design): each parameter's effect as the mean probability per
    bin of its values with a 95% interval. Several panels go into ``fig`` when given."""
    ctx = results if isinstance(results, FolderContext) else context_of(results)
    df, varied = _sweep_frame(ctx)
    names = outcomes or list(dict.fromkeys(df["outcome"]))  # type: ignore[index]
    runs = int(df["runs"].iloc[0])  # type: ignore[index]
    points = int(df["point"].nunique())  # type: ignore[index]
    own = independent_streams(ctx.results.manifest.design)
    streams = "each point its own streams" if own else "common streams"
    head = f"{ctx.title}\n{points} points x {runs:,} runs, seed {ctx.seed} ({streams})"
    grid = (ctx.results.manifest.design or {}).get("kind") == "grid"
    if len(varied) == 1:
        return _sweep_lines(ctx, df, varied[0], names, head, ax)
    if ax is not None:
        raise ResultsError(f"{ctx.path}: a sweep over {len(varied)} parameters draws several "
                           f"panels; pass fig= (a figure or subfigure) instead of ax=")
    if len(varied) == 2 and grid:
        return _heatmaps(ctx, df, varied, names, head, fig)
    return _effects(ctx, df, varied, names, head, fig)


def _sweep_lines(ctx: FolderContext, df: Any, v: str, names: list[str], head: str,
                 ax: Axes | None) -> Figure:
    k = PARAM + v
    fig, ax = axes_for(ax, 10, 5.2)
    for i, o in enumerate(names):
        rows = df[df["outcome"] == o].sort_values(k)
        st = outcome_style(ctx.outcome_index(o, i))
        ax.fill_between(rows[k], rows["lo"], rows["hi"], color=st["color"], alpha=0.2,
                        linewidth=0)
        ax.plot(rows[k], rows["p"], color=st["color"], linestyle=st["linestyle"],
                marker=st["marker"], linewidth=2, label=outcome_text(o))
    ax.set_xlabel(param_label(ctx, v))
    ax.set_ylabel("probability, 95% interval band")
    ax.yaxis.set_major_formatter("{x:.0%}")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=SMALL, title="outcome",
              title_fontsize=SMALL, frameon=False, borderaxespad=0)
    ax.set_title(f"Outcome probability against {v}\n{head}")
    return fig


def _heatmaps(ctx: FolderContext, df: Any, varied: list[str], names: list[str], head: str,
              fig: Canvas | None) -> Figure:
    a, b = varied
    groups = ctx.dimension_groups(names)
    cols = min(3, max(len(g) for _, g in groups))
    cells: list[tuple[int, str]] = []  # each outcome's cell, a row per dimension's outcomes
    row = 0
    for _, labels in groups:
        cells += [((row + k // cols) * cols + k % cols, o) for k, o in enumerate(labels)]
        row += math.ceil(len(labels) / cols)
    rows_n = row
    root, canvas = subfigure_for(fig, 3.5 * cols + 0.6, 3.3 * rows_n + 1.0)
    grid = np.atleast_1d(canvas.subplots(rows_n, cols, squeeze=False)).ravel()
    axes = [grid[k] for k, _ in cells]
    for ax, (_, o) in zip(axes, cells, strict=True):
        sub = df[df["outcome"] == o]
        table = sub.pivot_table(index=PARAM + b, columns=PARAM + a, values="p")
        values = table.to_numpy()
        top = float(np.nanmax(values)) if np.isfinite(values).any() else 0.0
        vmax = top if top > 0 else 0.01
        im = ax.imshow(values, origin="lower", aspect="auto", cmap="cividis", vmin=0,
                       vmax=vmax)
        cmap = im.get_cmap()
        for (r, c), p in np.ndenumerate(values):
            if np.isfinite(p):
                ax.text(c, r, _pct(p), ha="center", va="center", fontsize=SMALL,
                        color=text_colour(cmap(p / vmax)))
        ax.set_xticks(range(len(table.columns)), [f"{c:g}" for c in table.columns])
        ax.set_yticks(range(len(table.index)), [f"{r:g}" for r in table.index])
        ax.set_xlabel(param_label(ctx, a), fontsize=SMALL)
        ax.set_ylabel(param_label(ctx, b), fontsize=SMALL)
        ax.tick_params(labelsize=SMALL)
        ax.set_title(outcome_text(o), fontsize=FONT)
        bar = canvas.colorbar(im, ax=ax, shrink=0.9)
        ticks, labels = percent_ticks(0.0, vmax, 4)
        bar.set_ticks(ticks, labels=labels)
        bar.ax.tick_params(labelsize=SMALL)
    for ax in grid:
        if not any(ax is used for used in axes):
            ax.set_visible(False)
    canvas.suptitle(f"Outcome probability over {a} and {b}\n{head}\n"
                    f"each panel has its own colour scale, from 0 to its highest cell",
                    fontsize=FONT)
    return root


def _pct(p: float) -> str:
    return f"{p:.0%}" if p >= 0.095 else f"{p:.1%}"


def _bins(values: Any, most: int = 5) -> Any:
    """A bin number per point: one bin per distinct value when there are few, else
    equal-count bins."""
    import pandas as pd

    distinct = np.unique(values)
    if len(distinct) <= most:
        return np.searchsorted(distinct, values)
    return pd.qcut(values, most, labels=False, duplicates="drop")


def _effects(ctx: FolderContext, df: Any, varied: list[str], names: list[str], head: str,
             fig: Canvas | None) -> Figure:
    """Each parameter's main effect: points binned on its values, the mean probability of
    each outcome per bin with a 95% t interval over the points in the bin (the other
    parameters vary within a bin, so the interval holds their spread and the sampling
    noise), over the faint points themselves."""
    from scipy import stats

    cols = len(varied)
    root, canvas = subfigure_for(fig, min(3.0 * cols + 2.25, 11.25), 4.8)
    axes = np.atleast_1d(canvas.subplots(1, cols, squeeze=False, sharey=True)).ravel()
    for ax, v in zip(axes, varied, strict=True):
        k = PARAM + v
        for i, o in enumerate(names):
            st = outcome_style(ctx.outcome_index(o, i))
            rows = df[df["outcome"] == o]
            ax.scatter(rows[k], rows["p"], color=st["color"], s=8, alpha=0.25, linewidths=0)
            grouped = rows.assign(bin=_bins(rows[k].to_numpy())).groupby("bin")
            x = grouped[k].mean().to_numpy()
            mean = grouped["p"].mean().to_numpy()
            n = grouped["p"].count().to_numpy()
            sd = grouped["p"].std(ddof=1).fillna(0).to_numpy()
            half = np.where(n > 1, stats.t.ppf(0.975, np.maximum(n - 1, 1)) * sd
                            / np.sqrt(n), np.nan)
            ax.fill_between(x, np.clip(mean - half, 0, 1), np.clip(mean + half, 0, 1),
                            color=st["color"], alpha=0.18, linewidth=0)
            ax.plot(x, mean, color=st["color"], linestyle=st["linestyle"], marker=st["marker"],
                    linewidth=2, markeredgecolor="black", markeredgewidth=0.4,
                    label=outcome_text(o))
        ax.set_xlabel(param_label(ctx, v))
        ax.yaxis.set_major_formatter("{x:.0%}")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("mean probability per bin, 95% interval")
    axes[-1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=SMALL,
                    title="outcome", title_fontsize=SMALL, frameon=False, borderaxespad=0)
    canvas.suptitle(f"Effect of each parameter on the outcome probabilities\n{head}\n"
                    "lines: mean over the points in each bin of the parameter (the others "
                    "vary), band: 95% interval; dots: the points", fontsize=FONT)
    return root


def sensitivity_bars(results: Results | FolderContext | str | Path, top: int = 15,
                     ax: Axes | None = None) -> Figure:
    """Sobol' total- and first-order indices (or Morris mu*) with 95% intervals, ranked.
    Estimates that cannot be right (an index below 0 or above 1, a first-order index above
    the total) are drawn faded and flagged: too few samples. Draws into ``ax`` when
    given."""
    from sim.analysis.sensitivity import load_sensitivity

    ctx = results if isinstance(results, FolderContext) else context_of(results)
    sens = load_sensitivity(ctx.path)
    rows = sens.rows[:top][::-1]
    names = [r["parameter"] for r in rows]
    y = np.arange(len(rows))
    fig, ax = axes_for(ax, 10, 0.4 * len(rows) + 2.6)

    def col(key: str) -> np.ndarray:
        return finite([r.get(key) for r in rows])

    blue, orange = outcome_style(0)["color"], outcome_style(1)["color"]
    if sens.method == "sobol":
        method = "Sobol'"
        st, s1 = col("total"), col("first")
        bad_st = (st < 0) | (st > 1)
        bad_s1 = (s1 < 0) | (s1 > 1) | (s1 > st)
        for values, conf, off, colour, hatch, bad in (
                (st, col("total_conf"), 0.2, blue, "", bad_st),
                (s1, col("first_conf"), -0.2, orange, "//", bad_s1)):
            bars = ax.barh(y + off, values, 0.4, xerr=conf, color=colour, hatch=hatch,
                           edgecolor="black", capsize=3,
                           error_kw={"elinewidth": 1, "ecolor": "black"})
            for patch, wrong in zip(bars.patches, bad, strict=True):
                if wrong:
                    patch.set_alpha(0.3)
        handles = [Patch(facecolor=blue, edgecolor="black", label="total order (ST)"),
                   Patch(facecolor=orange, hatch="//", edgecolor="black",
                         label="first order (S1)")]
        flagged = int(bad_st.sum() + bad_s1.sum())
        lo = np.nanmin(np.concatenate([st - col("total_conf"), s1 - col("first_conf"), [0]]))
        hi = np.nanmax(np.concatenate([st + col("total_conf"), s1 + col("first_conf"),
                                       [0.1]]))
        ax.set_xlim(max(lo * 1.05, -0.5), min(hi * 1.05, 1.05))
        ax.set_xlabel("Sobol' index (share of the variance of the probability), "
                      "95% interval")
        rule = "below 0, above 1, or S1 above ST"
    else:
        method = "Morris"
        mu = col("mu_star")
        conf = col("mu_star_conf")
        ax.barh(y, mu, 0.6, xerr=conf, color=blue, edgecolor="black", capsize=3,
                error_kw={"elinewidth": 1, "ecolor": "black"})
        handles = [Patch(facecolor=blue, edgecolor="black", label="mu*")]
        flagged = int(((mu < 0) | (mu > 1)).sum())
        hi = float(np.nanmax(np.concatenate([mu + np.nan_to_num(conf), [0.05]])))
        ax.set_xlim(0, min(hi * 1.05, 1.0))
        ax.xaxis.set_major_formatter("{x:.0%}")
        ax.set_xlabel("Morris mu*: mean absolute change in the probability across the "
                      "parameter's range\n(percentage points), 95% interval")
        rule = "outside 0 to 100 points"
    if flagged:
        handles.append(Patch(facecolor="#bbbbbb", alpha=0.3, edgecolor="black",
                             label=f"faded: impossible estimate\n({rule}):\n"
                                   "too few samples"))
    assumed = [str(r.get("source", "")).startswith("assumption") for r in rows]
    ax.set_yticks(y, [f"{n} *" if a else n for n, a in zip(names, assumed, strict=True)])
    ax.axvline(0, color="black", linewidth=0.8)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=SMALL,
              frameon=False, borderaxespad=0)
    ax.set_title(f"What drives P({outcome_text(sens.outcome)}): {method} sensitivity\n"
                 f"{ctx.title}\n{sens.points:,} points x {sens.runs:,} runs, seed {sens.seed}"
                 f"  (* = parameter marked an assumption)")
    return fig
