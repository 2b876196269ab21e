"""Escalation over time: level occupancy, time to reach each level, one run's timeline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from sim.errors import ResultsError
from sim.plots.context import FolderContext, context_of
from sim.plots.style import (
    LINESTYLES,
    MARKERS,
    PALETTE,
    level_colours,
    new_figure,
    outcome_style,
    time_axis,
)
from sim.results import Results

__all__ = ["occupancy_bands", "reach_curves", "run_timeline"]


def _ctx(results: Results | FolderContext | str | Path) -> FolderContext:
    return results if isinstance(results, FolderContext) else context_of(results)


def _timeline(ctx: FolderContext, point: int = 0) -> dict[str, np.ndarray]:
    table = ctx.results.timeline
    cols = {name: table.column(name).to_numpy() for name in table.column_names}
    keep = cols["point"] == point
    if not keep.any():
        raise ResultsError(f"{ctx.path}: no timeline for point {point}")
    return {k: v[keep] for k, v in cols.items()}


def occupancy_bands(results: Results | FolderContext | str | Path, point: int = 0) -> Figure:
    """Share of runs at each ladder level over time (stacked bands), with runs that have
    already ended (ceasefire, ...) stacked on top in grey hatched bands."""
    ctx = _ctx(results)
    tl = _timeline(ctx, point)
    runs = float(tl["runs"][0]) or 1.0
    x = ctx.to_axis(tl["time"])
    levels = [lv for lv in ctx.levels if tl[f"at.{lv}"].any()]
    ended = [o for o in ctx.outcomes if f"ended.{o}" in tl and tl[f"ended.{o}"].any()]
    colours = level_colours(len(ctx.levels))
    fig = new_figure(10, 5.4)
    ax = fig.add_subplot()
    ys = [tl[f"at.{lv}"] / runs for lv in levels] + [tl[f"ended.{o}"] / runs for o in ended]
    labels = [lv.replace("_", " ") for lv in levels] + \
        [f"ended: {o.replace('_', ' ')}" for o in ended]
    fills = [colours[ctx.levels.index(lv)] for lv in levels] + \
        [outcome_style(i)["grey"] for i in range(len(ended))]
    polys = ax.stackplot(x, *ys, labels=labels, colors=fills, edgecolor="white", linewidth=0.4)
    for k, poly in enumerate(polys[len(levels):]):
        poly.set_hatch(["//", "..", "xx", "\\\\"][k % 4])
        poly.set_edgecolor("#333333")
    ax.set_ylim(0, 1)
    ax.set_xlim(x[0], x[-1])
    ax.yaxis.set_major_formatter("{x:.0%}")
    ax.set_ylabel("share of runs")
    time_axis(ax, ctx)
    handles, names = ax.get_legend_handles_labels()
    ax.legend(handles[::-1], names[::-1], loc="center left", bbox_to_anchor=(1.01, 0.5),
              fontsize=9, title="state (top to bottom)")
    ax.set_title(ctx.heading("Escalation over time: where the runs are"))
    return fig


def reach_curves(results: Results | FolderContext | str | Path, point: int = 0) -> Figure:
    """Cumulative probability of having reached each level above the start, over time."""
    ctx = _ctx(results)
    tl = _timeline(ctx, point)
    runs = float(tl["runs"][0]) or 1.0
    x = ctx.to_axis(tl["time"])
    start = ctx.levels.index(ctx.start_level) if ctx.start_level in ctx.levels else 0
    colours = level_colours(len(ctx.levels))
    fig = new_figure(10, 5.2)
    ax = fig.add_subplot()
    for k, lv in enumerate(ctx.levels[start + 1:], start + 1):
        y = tl[f"reached.{lv}"] / runs
        ax.plot(x, y, color=colours[k], linestyle=LINESTYLES[k % len(LINESTYLES)],
                linewidth=2, label=f"{lv.replace('_', ' ')} ({y[-1]:.1%})",
                marker=MARKERS[k % len(MARKERS)], markevery=max(1, len(y) // 8))
    ax.set_ylim(0, 1)
    ax.set_xlim(x[0], x[-1])
    ax.yaxis.set_major_formatter("{x:.0%}")
    ax.set_ylabel("probability of having reached the level")
    time_axis(ax, ctx)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=9, title="level (reached by the horizon)")
    ax.set_title(ctx.heading("Time to reach each escalation level"))
    return fig


def run_timeline(results: Results | FolderContext | str | Path, run: int = 0) -> Figure:
    """One traced run: its ladder level over time and every action and trigger on lanes."""
    ctx = _ctx(results)
    try:
        events = ctx.results.events.to_pandas()
    except ResultsError:
        raise ResultsError(f"{ctx.path}: no events recorded; rerun with --trace to plot a "
                           f"run's timeline") from None
    ev = events[events["run"] == run]
    if ev.empty:
        traced = sorted(set(events["run"].tolist()))
        shown = ", ".join(map(str, traced[:10])) + (" ..." if len(traced) > 10 else "")
        raise ResultsError(f"run {run} was not traced; traced runs: {shown}")
    actors = {name: str(spec.get("actor") or "") for name, spec in
              (ctx.results.scenario.get("actions") or {}).items() if isinstance(spec, dict)}
    fig = new_figure(11, 6.5)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[1, 1.6])
    start = ctx.levels.index(ctx.start_level) if ctx.start_level in ctx.levels else 0
    lv = ev[ev["kind"] == "level"]
    end_row = ev[ev["kind"] == "end"]
    end_t = float(end_row["time"].iloc[0]) if len(end_row) else ctx.horizon
    times = [0.0, *lv["time"].tolist(), end_t]
    ranks = [start, *[ctx.levels.index(v) for v in lv["name"]]]
    ranks.append(ranks[-1])
    top.step(ctx.to_axis(times), ranks, where="post", color=PALETTE[0], linewidth=2.2)
    top.set_yticks(range(len(ctx.levels)), [v.replace("_", " ") for v in ctx.levels])
    top.set_ylim(-0.5, len(ctx.levels) - 0.5)
    top.set_ylabel("ladder level")
    top.grid(alpha=0.3)
    outcome = str(end_row["name"].iloc[0]) if len(end_row) else "?"
    top.set_title(f"Run {run}: ends in {outcome.replace('_', ' ')} on "
                  f"{_when(ctx, end_t)}\n{ctx.title} - seed {ctx.seed}")
    acts = ev[ev["kind"].isin(["action", "trigger"])]
    lanes = list(dict.fromkeys(acts.sort_values("time")["name"]))
    owner = {name: actors.get(name, "") for name in lanes}
    groups = list(dict.fromkeys(owner[n] or "(trigger)" for n in lanes))
    for i, name in enumerate(lanes):
        rows = acts[acts["name"] == name]
        g = groups.index(owner[name] or "(trigger)")
        is_trigger = (rows["kind"] == "trigger").all()
        where = (ctx.to_axis(rows["time"].to_numpy()), np.full(len(rows), i))
        if is_trigger:
            bottom.scatter(*where, marker="|", s=90, color="black", linewidths=1.5,
                           label="(trigger)")
        else:
            bottom.scatter(*where, marker=MARKERS[g % len(MARKERS)], s=50,
                           color=PALETTE[g % len(PALETTE)], edgecolors="black",
                           linewidths=0.4, label=owner[name] or "(no actor)")
    bottom.set_yticks(range(len(lanes)), [n.replace("_", " ") for n in lanes], fontsize=8)
    bottom.set_ylim(-0.7, len(lanes) - 0.3)
    bottom.invert_yaxis()
    bottom.grid(axis="x", alpha=0.3)
    handles, labels = bottom.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    bottom.legend(unique.values(), unique.keys(), loc="center left", bbox_to_anchor=(1.01, 0.5),
                  fontsize=8, title="actor")
    for ax in (top, bottom):
        ax.axvline(ctx.to_axis([end_t])[0], color="black", linestyle=":", linewidth=1)
    time_axis(bottom, ctx)
    return fig


def _when(ctx: FolderContext, t: float) -> str:
    if ctx.dated:
        return str(ctx.to_axis([t])[0].astype("datetime64[D]"))
    return f"t = {t:g}"
