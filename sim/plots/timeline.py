"""Escalation over time: level occupancy, time to reach each level, one run's timeline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from sim.errors import ResultsError
from sim.plots.context import FolderContext, context_of, outcome_text
from sim.plots.style import (
    FONT,
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
from sim.scenario.schema import TrackInfo

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
                    ax: Axes | None = None, fig: Canvas | None = None) -> Figure:
    """Share of runs at each ladder level over time (stacked grey bands, darker = higher),
    with runs that have already ended stacked on top in their outcome's colour; a bar at
    the right splits the runs at the horizon by outcome, so the runs still under way there
    are shown in the outcome they were classified in (one bar per outcome dimension when
    there are several). Draws into ``ax`` when given. With several escalation tracks, one
    panel per track on a shared time axis (the bars beside the last, next to the time
    axis), drawn into ``fig`` (a figure or subfigure) when given."""
    ctx = _ctx(results)
    tl = _timeline(ctx, point)
    what = "Escalation over time: where the runs are"
    if not ctx.several_tracks:
        fig_, ax = axes_for(ax, 10.5, 5.6)
        _label_segments(fig_, _occupancy_panel(ax, ctx, tl, point, ctx.levels,
                                               "ladder level", True, 1.09))
        ax.set_title(ctx.heading(what))
        return fig_
    if ax is not None:
        raise ResultsError(f"{ctx.path}: {len(ctx.tracks)} escalation tracks draw one panel "
                           f"each; pass fig= (a figure or subfigure) instead of ax=")
    root, canvas = subfigure_for(fig, 10.5, 1.5 + 3.0 * len(ctx.tracks))
    axes = np.atleast_1d(canvas.subplots(len(ctx.tracks), 1, sharex=True, squeeze=False))
    segments: list[Segment] = []
    bars = len(ctx.dimension_groups())  # the last panel's bars: one per dimension
    legend_x = 1.035 + _bars_width(bars)
    for i, (axis, track) in enumerate(zip(axes.ravel(), ctx.tracks, strict=True)):
        name = track.name.replace("_", " ")
        segments += _occupancy_panel(axis, ctx, tl, point, track.levels,
                                     f"{name} level", i == len(ctx.tracks) - 1, legend_x)
        axis.set_title(f"{name} track", fontsize=FONT, fontweight="bold", loc="left")
        if i < len(ctx.tracks) - 1:
            axis.set_xlabel("")
    canvas.suptitle(ctx.heading(f"{what}, one panel per escalation track"), fontsize="large")
    _label_segments(root, segments)
    return root


Segment = tuple[Axes, float, float, float]  # (bar axes, x, bottom, height)


def _bars_width(bars: int) -> float:
    """The width of the horizon bars (in the panel's widths): wide enough to hold a share."""
    return 0.055 if bars == 1 else 0.068 * bars


def _half(bars: int) -> float:
    """Half a horizon bar's width, in its slots."""
    return 0.5 if bars == 1 else 0.43


def _occupancy_panel(ax: Axes, ctx: FolderContext, tl: dict[str, np.ndarray], point: int,
                     levels_all: list[str], level_head: str, horizon: bool,
                     legend_x: float = 1.09) -> list[Segment]:
    """One track's rungs and the ended runs over time, its legend (from ``legend_x``, past
    the bars), and (``horizon``) the bars at the right that split the runs by outcome, one
    per outcome dimension; returns the bar segments to label."""
    runs = float(tl["runs"][0]) or 1.0
    x = ctx.to_axis(tl["time"])
    levels = [lv for lv in levels_all if tl[f"at.{lv}"].any()]
    ended = [o for o in ctx.outcomes if f"ended.{o}" in tl and tl[f"ended.{o}"].any()]
    colours = level_colours(len(levels_all))
    ys = [tl[f"at.{lv}"] / runs for lv in levels] + [tl[f"ended.{o}"] / runs for o in ended]
    fills = [colours[levels_all.index(lv)] for lv in levels] + \
        [outcome_style(ctx.outcome_index(o))["color"] for o in ended]
    polys = ax.stackplot(x, *ys, colors=fills, edgecolor="white", linewidth=0.4)
    for o, poly in zip(ended, polys[len(levels):], strict=True):
        poly.set_hatch(outcome_style(ctx.outcome_index(o))["hatch"])
        poly.set_edgecolor("#333333")
        poly.set_linewidth(0.3)
    ax.set_ylim(0, 1)
    ax.set_xlim(x[0], x[-1])
    ax.yaxis.set_major_formatter("{x:.0%}")
    ax.set_ylabel("share of runs")
    time_axis(ax, ctx)
    counts = _horizon_counts(ctx, point)
    at_end = [o for o in ctx.outcomes if o not in ended and counts.get(o)] if horizon else []
    shares = {o: float(tl[f"ended.{o}"][-1]) / runs for o in ended}
    shares |= {o: counts[o] / runs for o in at_end}
    groups = ctx.dimension_groups(at_end + ended)
    segments: list[Segment] = []
    if horizon:
        width = _bars_width(len(groups))
        legend_x = max(legend_x, 1.035 + width)
        bar = ax.inset_axes((1.015, 0.0, width, 1.0))
        for k, (_, labels) in enumerate(groups):
            bottom = 0.0
            for o in [lb for lb in at_end if lb in labels] + \
                    [lb for lb in ended if lb in labels]:
                st = outcome_style(ctx.outcome_index(o))
                bar.bar(k, shares[o], 2 * _half(len(groups)), bottom=bottom,
                        color=st["color"], hatch=st["hatch"], edgecolor="#333333",
                        linewidth=0.4)
                segments.append((bar, k, bottom, shares[o]))
                bottom += shares[o]
        bar.set_xlim(-0.5, len(groups) - 0.5)
        bar.set_ylim(0, 1)
        bar.set_yticks([])
        if len(groups) == 1:
            bar.set_xticks([0], ["at the\nhorizon"], fontsize=SMALL)
        else:
            bar.set_xticks(range(len(groups)), [d.replace("_", " ") for d, _ in groups],
                           fontsize=SMALL, rotation=90)
            bar.set_xlabel("at the\nhorizon", fontsize=SMALL)
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
        for _, labels in ctx.dimension_groups(names):
            for o in reversed(labels):
                st = outcome_style(ctx.outcome_index(o))
                handles.append(Patch(facecolor=st["color"], hatch=st["hatch"],
                                     edgecolor="#333333",
                                     label=f"{outcome_text(o)} ({shares[o]:.1%})"))

    outcomes("ended before the horizon", ended)
    head(f"under way, at {level_head}")
    handles += [Patch(facecolor=colours[levels_all.index(lv)], edgecolor="white",
                      label=lv.replace("_", " ")) for lv in reversed(levels)]
    outcomes("classified at the horizon" if len(groups) == 1 else
             "classified at the horizon\n(or when the run ended)", at_end)
    legend = ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(legend_x, 1.0),
                       fontsize=SMALL, frameon=False, borderaxespad=0, handlelength=1.6)
    bold_heads(legend, heads)
    return segments


def _clear_of_time_ticks(fig: Figure, renderer: Any) -> bool:
    """Move the horizon bars' names below the time axis's tick labels where the last of
    those (a number centred on the axis's end) would run into them; says if it did."""
    moved = False
    for ax in fig.axes:
        lo, hi = sorted(ax.get_xlim())
        ticks = [t.label1.get_window_extent(renderer) for t in ax.xaxis.get_major_ticks()
                 if t.label1.get_visible() and t.label1.get_text() and lo <= t.get_loc() <= hi]
        for bar in ax.child_axes:
            names = [t.get_window_extent(renderer) for t in bar.get_xticklabels()
                     if t.get_text()]
            if not any(a.overlaps(n) for a in ticks for n in names):
                continue
            shift = max(n.y1 for n in names) - (min(a.y0 for a in ticks) - 2)
            tick: Any = bar.xaxis.get_major_ticks()[0]  # its stub says get_pad returns None
            bar.tick_params(axis="x", pad=float(tick.get_pad()) + shift * 72 / fig.dpi)
            moved = True
    return moved


def _label_segments(fig: Figure, segments: list[Segment]) -> None:
    """Each horizon segment's share, inside it when it fits (after moving the bars' names
    clear of the time axis)."""
    renderer = renderer_of(fig)
    if _clear_of_time_ticks(fig, renderer):
        renderer = renderer_of(fig)  # laid out again with the names moved
    for bar, x, y, h in segments:
        half = _half(len(bar.get_xticks()))
        lo, hi = bar.transData.transform([(x - half, y), (x + half, y + h)])
        text = bar.text(x, y + h / 2, "", ha="center", va="center", fontsize=SMALL,
                        bbox={"boxstyle": "round,pad=0.1", "facecolor": "white",
                              "alpha": 0.85, "linewidth": 0})
        text.set_in_layout(False)
        if not fit_text(text, renderer, [f"{h:.0%}"], hi[0] - lo[0] - 2, hi[1] - lo[1] - 2):
            text.remove()


def reach_curves(results: Results | FolderContext | str | Path, point: int = 0,
                 ax: Axes | None = None, fig: Canvas | None = None) -> Figure:
    """Cumulative probability of having reached each level above the start, over time.
    Draws into ``ax`` when given. With several escalation tracks, one panel per track on a
    shared time axis, drawn into ``fig`` (a figure or subfigure) when given."""
    ctx = _ctx(results)
    tl = _timeline(ctx, point)
    what = "Time to reach each escalation level"
    if not ctx.several_tracks:
        fig_, ax = axes_for(ax, 10.5, 5.2)
        _reach_panel(ax, ctx, tl, ctx.tracks[0], "level")
        ax.set_title(ctx.heading(what))
        return fig_
    if ax is not None:
        raise ResultsError(f"{ctx.path}: {len(ctx.tracks)} escalation tracks draw one panel "
                           f"each; pass fig= (a figure or subfigure) instead of ax=")
    root, canvas = subfigure_for(fig, 10.5, 1.5 + 2.8 * len(ctx.tracks))
    axes = np.atleast_1d(canvas.subplots(len(ctx.tracks), 1, sharex=True, squeeze=False))
    for i, (axis, track) in enumerate(zip(axes.ravel(), ctx.tracks, strict=True)):
        name = track.name.replace("_", " ")
        _reach_panel(axis, ctx, tl, track, f"{name} level")
        axis.set_title(f"{name} track (starts at {track.levels[track.start].replace('_', ' ')})",
                       fontsize=FONT, fontweight="bold", loc="left")
        if i < len(ctx.tracks) - 1:
            axis.set_xlabel("")
    canvas.suptitle(ctx.heading(f"{what}, one panel per escalation track"), fontsize="large")
    return root


def _reach_panel(ax: Axes, ctx: FolderContext, tl: dict[str, np.ndarray], track: TrackInfo,
                 what: str) -> None:
    runs = float(tl["runs"][0]) or 1.0
    x = ctx.to_axis(tl["time"])
    colours = level_colours(len(track.levels))
    for k, lv in enumerate(track.levels[track.start + 1:], track.start + 1):
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
    if track.start + 1 >= len(track.levels):
        ax.text(0.5, 0.5, "every run starts on this track's top rung", ha="center",
                va="center", transform=ax.transAxes, fontsize=SMALL)
        return
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=SMALL, frameon=False,
              borderaxespad=0, title=f"{what} (reached by\nthe horizon)",
              title_fontsize=SMALL)


def run_timeline(results: Results | FolderContext | str | Path, run: int = 0,
                 fig: Canvas | None = None) -> Figure:
    """One traced run: its ladder level over time and every action and trigger on lanes.
    Draws its two panels into ``fig`` (a figure or subfigure) when given."""
    ctx = _ctx(results)
    if not ctx.results.manifest.trace:
        raise ResultsError(f"{ctx.path}: no events recorded; rerun with --trace to plot a "
                           f"run's timeline")
    events = ctx.results.events.to_pandas()  # a missing or damaged file says so
    ev = events[events["run"] == run]
    if ev.empty:
        traced = sorted(set(events["run"].tolist()))
        shown = ", ".join(map(str, traced[:10])) + (" ..." if len(traced) > 10 else "")
        raise ResultsError(f"run {run} was not traced; traced runs: {shown}")
    actors = {name: str(spec.get("actor") or "") for name, spec in
              (ctx.results.scenario.get("actions") or {}).items() if isinstance(spec, dict)}
    extra = max(0, len(ctx.levels) + len(ctx.tracks) - 6) if ctx.several_tracks else 0
    root, canvas = subfigure_for(fig, 10.5, 6.5 + 0.25 * extra)
    top, bottom = canvas.subplots(2, 1, sharex=True, height_ratios=[1, 1.6])
    lv = ev[ev["kind"] == "level"]
    end_row = ev[ev["kind"] == "end"]
    end_t = float(end_row["time"].iloc[0]) if len(end_row) else ctx.horizon
    _level_steps(top, ctx, lv, end_t)
    top.grid(alpha=0.3)
    outcome = _run_outcome(ctx, run, str(end_row["name"].iloc[0]) if len(end_row) else "?")
    top.set_title(f"Run {run}: ends in {outcome} on "
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


def _level_steps(ax: Axes, ctx: FolderContext, lv: Any, end_t: float) -> None:
    """The run's rung over time: one step line, or with several tracks one per track, each
    in its own band of the axis (a legend names the tracks)."""
    rungs = [str(name).rpartition(":")[2] for name in lv["name"]]
    times = lv["time"].tolist()
    base = 0
    ticks: list[str] = []
    for i, track in enumerate(ctx.tracks):
        mine = [(t, track.levels.index(r)) for t, r in zip(times, rungs, strict=True)
                if r in track.levels]
        xs = [0.0, *(t for t, _ in mine), end_t]
        ys = [track.start, *(k for _, k in mine)]
        ys.append(ys[-1])
        ax.step(ctx.to_axis(xs), [base + y for y in ys], where="post",
                color="black" if i == 0 else _GREY_LINES[(i - 1) % len(_GREY_LINES)],
                linestyle=LINESTYLES[i % len(LINESTYLES)], linewidth=2.2,
                label=track.name.replace("_", " "))
        if i:
            ax.axhline(base - 1, color="#888888", linewidth=0.8)
        ticks += [""] * (1 if i else 0) + [v.replace("_", " ") for v in track.levels]
        base += len(track.levels) + 1
    shown = [k for k, t in enumerate(ticks) if t]
    ax.set_yticks(shown, [ticks[k] for k in shown])
    ax.set_ylim(-0.5, len(ticks) - 0.5)
    if ctx.several_tracks:
        ax.set_ylabel("level on each track")
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=SMALL,
                  title="track", title_fontsize=SMALL, frameon=False)
    else:
        ax.set_ylabel("ladder level")


_GREY_LINES = ["#555555", "#777777", "#333333"]


def _run_outcome(ctx: FolderContext, run: int, ended: str) -> str:
    """The run's outcome as words: with several dimensions its class in each."""
    if not ctx.several_dimensions:
        return outcome_text(ended)
    try:
        table = ctx.results.runs
        cols = [f"outcome.{d.name}" for d in ctx.dimensions]
        rows = table.filter(pc.equal(table.column("run"), run)).select(cols).to_pylist()
    except (ResultsError, KeyError):
        return outcome_text(ended)
    if not rows:
        return outcome_text(ended)
    return ", ".join(f"{d.name}: {rows[0][f'outcome.{d.name}']}".replace("_", " ")
                     for d in ctx.dimensions)


def _when(ctx: FolderContext, t: float) -> str:
    if ctx.dated:
        return str(ctx.to_axis([t])[0].astype("datetime64[D]"))
    return f"t = {t:g}"
