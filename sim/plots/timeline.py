"""Escalation over time: level occupancy, time to reach each level, one run's timeline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from sim.errors import ResultsError
from sim.plots.context import FolderContext, context_of
from sim.plots.style import (
    LINESTYLES,
    MARKERS,
    PALETTE,
    SMALL,
    Canvas,
    axes_for,
    bold_heads,
    fit_text,
    level_colours,
    outcome_style,
    renderer_of,
    subfigure_for,
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


def _horizon_counts(ctx: FolderContext, point: int) -> dict[str, int]:
    """Runs per outcome for one point (its summary), to split the runs still under way at
    the horizon into the outcomes they were classified in there."""
    summaries = ctx.results.point_summaries()
    summary = summaries[point] if ctx.kind == "sweep" and point < len(summaries) \
        else ctx.results.batch_summary()
    return {o: int(v.count) for o, v in summary.outcomes.items()}


def occupancy_bands(results: Results | FolderContext | str | Path, point: int = 0,
                    ax: Axes | None = None) -> Figure:
    """Share of runs at each ladder level over time (stacked grey bands, darker = higher),
    with runs that have already ended stacked on top in their outcome's colour; a bar at
    the right splits the runs at the horizon by outcome, so the runs still under way there
    are shown in the outcome they were classified in. Draws into ``ax`` when given."""
    ctx = _ctx(results)
    tl = _timeline(ctx, point)
    runs = float(tl["runs"][0]) or 1.0
    x = ctx.to_axis(tl["time"])
    levels = [lv for lv in ctx.levels if tl[f"at.{lv}"].any()]
    ended = [o for o in ctx.outcomes if f"ended.{o}" in tl and tl[f"ended.{o}"].any()]
    colours = level_colours(len(ctx.levels))
    index = {o: i for i, o in enumerate(ctx.outcomes)}
    fig, ax = axes_for(ax, 10.5, 5.6)
    ys = [tl[f"at.{lv}"] / runs for lv in levels] + [tl[f"ended.{o}"] / runs for o in ended]
    fills = [colours[ctx.levels.index(lv)] for lv in levels] + \
        [outcome_style(index[o])["color"] for o in ended]
    polys = ax.stackplot(x, *ys, colors=fills, edgecolor="white", linewidth=0.4)
    for o, poly in zip(ended, polys[len(levels):], strict=True):
        poly.set_hatch(outcome_style(index[o])["hatch"])
        poly.set_edgecolor("#333333")
        poly.set_linewidth(0.3)
    ax.set_ylim(0, 1)
    ax.set_xlim(x[0], x[-1])
    ax.yaxis.set_major_formatter("{x:.0%}")
    ax.set_ylabel("share of runs")
    time_axis(ax, ctx)
    counts = _horizon_counts(ctx, point)
    at_end = [o for o in ctx.outcomes if o not in ended and counts.get(o)]
    bar = ax.inset_axes((1.015, 0.0, 0.055, 1.0))
    bottom = 0.0
    segments: list[tuple[str, float, float]] = []
    for o in at_end + ended:
        share = (counts[o] if o in at_end else float(tl[f"ended.{o}"][-1])) / runs
        st = outcome_style(index[o])
        bar.bar(0, share, 1.0, bottom=bottom, color=st["color"], hatch=st["hatch"],
                edgecolor="#333333", linewidth=0.4)
        segments.append((o, bottom, share))
        bottom += share
    bar.set_xlim(-0.5, 0.5)
    bar.set_ylim(0, 1)
    bar.set_yticks([])
    bar.set_xticks([0], ["at the\nhorizon"], fontsize=SMALL)
    bar.tick_params(axis="x", length=0)
    handles: list[Any] = []
    heads: list[int] = []

    def head(text: str) -> None:
        heads.append(len(handles))
        handles.append(Patch(facecolor="none", edgecolor="none", label=text))

    def outcomes(title: str, names: list[str]) -> None:
        if not names:
            return
        head(title)
        for o in reversed(names):
            st = outcome_style(index[o])
            handles.append(Patch(facecolor=st["color"], hatch=st["hatch"], edgecolor="#333333",
                                 label=f"{o.replace('_', ' ')} ({_share(o, segments)})"))

    outcomes("ended before the horizon", ended)
    head("under way, at ladder level")
    handles += [Patch(facecolor=colours[ctx.levels.index(lv)], edgecolor="white",
                      label=lv.replace("_", " ")) for lv in reversed(levels)]
    outcomes("classified at the horizon", at_end)
    legend = ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.09, 1.0),
                       fontsize=SMALL, frameon=False, borderaxespad=0, handlelength=1.6)
    bold_heads(legend, heads)
    ax.set_title(ctx.heading("Escalation over time: where the runs are"))
    _label_segments(fig, bar, segments)
    return fig


def _share(outcome: str, segments: list[tuple[str, float, float]]) -> str:
    return next(f"{h:.1%}" for o, _, h in segments if o == outcome)


def _label_segments(fig: Figure, bar: Axes, segments: list[tuple[str, float, float]]) -> None:
    """Each horizon segment's share, inside it when it fits."""
    renderer = renderer_of(fig)
    for _, y, h in segments:
        lo, hi = bar.transData.transform([(-0.5, y), (0.5, y + h)])
        text = bar.text(0, y + h / 2, "", ha="center", va="center", fontsize=SMALL,
                        bbox={"boxstyle": "round,pad=0.1", "facecolor": "white",
                              "alpha": 0.85, "linewidth": 0})
        text.set_in_layout(False)
        if not fit_text(text, renderer, [f"{h:.0%}"], hi[0] - lo[0] - 2, hi[1] - lo[1] - 2):
            text.remove()


def reach_curves(results: Results | FolderContext | str | Path, point: int = 0,
                 ax: Axes | None = None) -> Figure:
    """Cumulative probability of having reached each level above the start, over time.
    Draws into ``ax`` when given."""
    ctx = _ctx(results)
    tl = _timeline(ctx, point)
    runs = float(tl["runs"][0]) or 1.0
    x = ctx.to_axis(tl["time"])
    start = ctx.levels.index(ctx.start_level) if ctx.start_level in ctx.levels else 0
    colours = level_colours(len(ctx.levels))
    fig, ax = axes_for(ax, 10.5, 5.2)
    for k, lv in enumerate(ctx.levels[start + 1:], start + 1):
        y = tl[f"reached.{lv}"] / runs
        ax.plot(x, y, color=colours[k], linestyle=LINESTYLES[k % len(LINESTYLES)],
                linewidth=2, label=f"{lv.replace('_', ' ')} ({y[-1]:.1%})",
                marker=MARKERS[k % len(MARKERS)], markevery=max(1, len(y) // 8),
                markeredgecolor="black", markeredgewidth=0.5)
    ax.set_ylim(0, 1)
    ax.set_xlim(x[0], x[-1])
    ax.yaxis.set_major_formatter("{x:.0%}")
    ax.set_ylabel("probability of having reached the level")
    time_axis(ax, ctx)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=SMALL, frameon=False,
              borderaxespad=0, title="level (reached by\nthe horizon)",
              title_fontsize=SMALL)
    ax.set_title(ctx.heading("Time to reach each escalation level"))
    return fig


def run_timeline(results: Results | FolderContext | str | Path, run: int = 0,
                 fig: Canvas | None = None) -> Figure:
    """One traced run: its ladder level over time and every action and trigger on lanes.
    Draws its two panels into ``fig`` (a figure or subfigure) when given."""
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
    root, canvas = subfigure_for(fig, 10.5, 6.5)
    top, bottom = canvas.subplots(2, 1, sharex=True, height_ratios=[1, 1.6])
    start = ctx.levels.index(ctx.start_level) if ctx.start_level in ctx.levels else 0
    lv = ev[ev["kind"] == "level"]
    end_row = ev[ev["kind"] == "end"]
    end_t = float(end_row["time"].iloc[0]) if len(end_row) else ctx.horizon
    times = [0.0, *lv["time"].tolist(), end_t]
    ranks = [start, *[ctx.levels.index(v) for v in lv["name"]]]
    ranks.append(ranks[-1])
    top.step(ctx.to_axis(times), ranks, where="post", color="black", linewidth=2.2)
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
    bottom.set_yticks(range(len(lanes)), [n.replace("_", " ") for n in lanes], fontsize=SMALL)
    bottom.set_ylim(-0.7, len(lanes) - 0.3)
    bottom.invert_yaxis()
    bottom.grid(axis="x", alpha=0.3)
    handles, labels = bottom.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    bottom.legend(unique.values(), unique.keys(), loc="center left", bbox_to_anchor=(1.01, 0.5),
                  fontsize=SMALL, title="actor", title_fontsize=SMALL, frameon=False)
    for ax in (top, bottom):
        ax.axvline(ctx.to_axis([end_t])[0], color="black", linestyle=":", linewidth=1)
    time_axis(bottom, ctx)
    return root


def _when(ctx: FolderContext, t: float) -> str:
    if ctx.dated:
        return str(ctx.to_axis([t])[0].astype("datetime64[D]"))
    return f"t = {t:g}"
