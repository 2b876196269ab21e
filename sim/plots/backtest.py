"""Backtest figures: a reliability diagram of the observations, and the model's
distribution of each dated observation's time with the observed date marked."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sim.analysis.backtest import first_times
from sim.batch.intervals import wilson
from sim.errors import ResultsError
from sim.plots.context import FolderContext, context_of
from sim.plots.style import SMALL, Canvas, axes_for, subfigure_for, time_axis
from sim.results import Results

__all__ = ["event_time_curves", "forecast_pairs", "reliability_diagram"]

BINS = 5


def _backtest(ctx: FolderContext) -> tuple[Any, dict[str, Any]]:
    if not ctx.results.has_backtest:
        raise ResultsError(f"{ctx.path}: not a backtest folder (no backtest.parquet)")
    return ctx.results.backtest()


def forecast_pairs(ids: list[str], kinds: list[str], p: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Each observation as a forecast of an event and whether the event happened: a
    ``not:`` observation is the forecast ``1 - p`` of its condition, which did not happen
    (0); every other kind is the forecast ``p`` of what happened (1)."""
    del ids
    negative = np.array([k == "not" for k in kinds], dtype=bool)
    q = np.where(negative, 1.0 - p, p)
    return q, np.where(negative, 0.0, 1.0)


def reliability_diagram(results: Results | FolderContext | str | Path,
                        ax: Axes | None = None) -> Figure:
    """Forecast probability against observed frequency, in five bins of the forecast
    (each with its 95% interval and number of observations), over the diagonal of a
    perfectly reliable model; each observation is a tick at its forecast."""
    ctx = results if isinstance(results, FolderContext) else context_of(results)
    table, scores = _backtest(ctx)
    ids = [str(x) for x in table.column("id").to_pylist()]
    kinds = [str(x) for x in table.column("kind").to_pylist()]
    p = np.asarray(table.column("p").to_numpy(zero_copy_only=False), dtype=float)
    q, o = forecast_pairs(ids, kinds, p)
    fig, ax = axes_for(ax, 6.4, 5.6)
    ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--", label="perfectly reliable")
    edges = np.linspace(0, 1, BINS + 1)
    which = np.clip(np.digitize(q, edges[1:-1]), 0, BINS - 1)
    xs, ys, los, his, ns = [], [], [], [], []
    for b in range(BINS):
        inside = which == b
        n = int(inside.sum())
        if not n:
            continue
        k = int(o[inside].sum())
        lo, hi = wilson(k, n)
        xs.append(float(q[inside].mean()))
        ys.append(k / n)
        los.append(k / n - lo)
        his.append(hi - k / n)
        ns.append(n)
    ax.errorbar(xs, ys, yerr=[los, his], fmt="o", color="C0", ms=7, capsize=3,
                label="observed frequency per bin (95% interval)")
    for x, y, n in zip(xs, ys, ns, strict=True):
        ax.annotate(f"n={n}", (x, y), textcoords="offset points", xytext=(8, -4),
                    fontsize=SMALL, color="C0")
    ax.plot(q, o + np.where(o > 0.5, 0.025, -0.025), "|", color="0.25", ms=12,
            label="one observation")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.08, 1.08)
    ax.set_xlabel("model's probability of the event")
    ax.set_ylabel("share of those events that happened")
    s = scores.get("scores", {})
    ax.set_title(ctx.heading(
        f"Reliability of {len(ids)} observation(s): Brier {s.get('brier', math.nan):.3f}, "
        f"skill {s.get('brier_skill', math.nan):+.2f} against 0.5"))
    ax.legend(loc="lower right", fontsize=SMALL, frameon=False)
    return fig


def event_time_curves(results: Results | FolderContext | str | Path,
                      fig: Canvas | None = None) -> Figure:
    """For each dated observation, the model's probability that it has happened by each
    time (its cumulative distribution over the runs; runs where it never happens keep the
    curve below 1), its 5-95% range shaded, and the observed date (or window) marked."""
    ctx = results if isinstance(results, FolderContext) else context_of(results)
    _, scores = _backtest(ctx)
    dated = [r for r in scores.get("read_as", [])
             if r.get("date") is not None and r.get("kind") in ("event", "when", "level")]
    if not dated:
        raise ResultsError(f"{ctx.path}: no dated event, condition or level among the "
                           f"observations: there is no time to draw")
    table = ctx.results.runs
    table = table.filter(table.column("error").is_null())
    n = len(dated)
    root, canvas = subfigure_for(fig, 8.5, 1.0 + 2.1 * n)
    axes = canvas.subplots(n, 1, sharex=True, squeeze=False)[:, 0]
    grid = np.linspace(0.0, ctx.horizon, 400)
    for ax, rec in zip(axes, dated, strict=True):
        r = SimpleNamespace(**rec)
        t = first_times(table, r)
        assert t is not None
        t = np.where(np.isnan(t) | (t < r.after), np.inf, t)
        cdf = np.searchsorted(np.sort(t), grid, side="right") / max(t.size, 1)
        ax.plot(ctx.to_axis(grid), cdf, color="C0", lw=1.8, label="model: happened by then")
        finite = t[np.isfinite(t)]
        with np.errstate(invalid="ignore"):  # never is +inf
            q05, q95 = (np.quantile(t, [0.05, 0.95], method="inverted_cdf")
                        if t.size else (math.nan, math.nan))
        if finite.size and math.isfinite(q05):
            ax.axvspan(ctx.to_axis(q05), ctx.to_axis(min(q95, ctx.horizon)), color="C0",
                       alpha=0.12, lw=0, label="model's 5-95% range")
        date = float(r.date)
        if r.hi > r.lo and r.lo > r.after and date > r.lo:  # an on: window
            ax.axvspan(ctx.to_axis(r.lo), ctx.to_axis(r.hi), color="C3", alpha=0.15, lw=0,
                       label="observed window")
        ax.axvline(ctx.to_axis(date), color="C3", lw=1.6, label="observed date")
        pit = float(np.mean(t <= date)) if t.size else math.nan
        ax.set_title(f"{r.id} ({r.kind}: {r.target}): P(by observed date) = {pit:.2f}",
                     fontsize=SMALL + 1, loc="left")
        ax.set_ylim(0, 1.02)
        ax.set_ylabel("P(happened)")
    shown: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            shown.setdefault(label, handle)
    axes[0].legend(list(shown.values()), list(shown), loc="lower right", fontsize=SMALL,
                   frameon=False)
    time_axis(axes[-1], ctx)
    canvas.suptitle(ctx.heading("When the observed events happen in the model"))
    return root
