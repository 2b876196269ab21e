"""The outcome paths as an icicle: each column is a step along the path, each box as tall
as its share of runs and nested in the box of the path so far.

Made to be read at report size: a box is labelled only when its label fits inside it
(measured with the renderer), branches under ``min_share`` are grouped per parent, columns
that would hold nothing drawn are left out, ladder levels are greys and outcomes colours,
and the legend names every colour drawn.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from sim.errors import ResultsError
from sim.plots.context import FolderContext, context_of, outcome_text, rung_text
from sim.plots.style import (
    SMALL,
    axes_for,
    bold_heads,
    fit_text,
    level_colours,
    outcome_style,
    renderer_of,
    text_colour,
)
from sim.results import Results

__all__ = ["path_icicle"]

OTHER = "other paths"
_OTHER_ROW = "(other paths)"
_ACTION = "white"  # milestone actions: white boxes, so no fill is confused with a level
_GROUPED = {"facecolor": "#f7f7f7", "hatch": "////", "edgecolor": "#9a9a9a"}

Step = tuple[str, bool]  # (milestone or outcome id, is the outcome)
# With several tracks, each track's rungs are its greys with its own hatch, so a rung of one
# track is not read as the same-grey rung of another.
_TRACK_HATCHES = ["", "\\\\\\", "...", "|||", "---", "+++"]


@dataclass
class _Box:
    column: int
    y: float
    h: float
    name: str
    kind: str  # "level", "outcome", "action" or "other"
    style: dict[str, Any]


def _counts(ctx: FolderContext) -> tuple[list[tuple[list[str], int]], int, int, int]:
    """Every distinct path and its runs (the results' paths table), the runs the table
    leaves out, the runs and the number of distinct paths."""
    if ctx.kind == "sweep":
        raise ResultsError(f"{ctx.path}: a sweep has no path figure; plot it with --kind sweep")
    summary = ctx.results.batch_summary()
    if not summary.paths:
        raise ResultsError(f"{ctx.path}: no path completed ({summary.failed:,} runs failed)")
    table = ctx.results.paths
    pairs: Any = zip(table.column("path").to_pylist(), table.column("count").to_pylist(),
                     strict=True)
    listed, unlisted = [], 0
    for p, c in pairs:
        if p == _OTHER_ROW:
            unlisted += int(c)
        else:
            listed.append((str(p).split(" > "), int(c)))
    return listed, unlisted, summary.runs or 1, summary.distinct_paths


def path_icicle(results: Results | FolderContext | str | Path, min_share: float = 0.025,
                max_depth: int = 9, ax: Axes | None = None) -> Figure:
    """Outcome paths as an icicle: column k holds the k-th milestone after the start level
    (ladder levels and milestone actions, then the outcome), each box as tall as its share
    of runs and nested in the box of the path so far. Branches under ``min_share`` are
    grouped per parent; a box is labelled when its name and share fit in it. Draws into
    ``ax`` when given; returns the figure."""
    ctx = results if isinstance(results, FolderContext) else context_of(results)
    listed, unlisted, total, distinct = _counts(ctx)
    firsts = {steps[0] for steps, _ in listed}
    start = next(iter(firsts)) if len(firsts) == 1 and not unlisted else None
    counts: dict[tuple[Step, ...], int] = {}
    for steps, n in listed:
        marked = [(s, i == len(steps) - 1) for i, s in enumerate(steps)]
        if start is not None:
            marked = marked[1:]
        for d in range(1, min(len(marked), max_depth) + 1):
            key = tuple(marked[:d])
            counts[key] = counts.get(key, 0) + n
    children: dict[tuple[Step, ...], list[tuple[tuple[Step, ...], int]]] = {}
    for key, n in counts.items():
        children.setdefault(key[:-1], []).append((key, n))

    styles = _level_styles(ctx)

    def style(step: Step) -> tuple[str, dict[str, Any]]:
        name, is_outcome = step
        if is_outcome and name in ctx.outcomes:
            st = outcome_style(ctx.outcome_index(name))
            return "outcome", {"facecolor": st["color"], "hatch": st["hatch"],
                               "edgecolor": "black"}
        rung = _rung_of(name, ctx)
        if not is_outcome and rung is not None:
            return "level", dict(styles[rung])
        return "action", {"facecolor": _ACTION, "hatch": "", "edgecolor": "black"}

    boxes: list[_Box] = []

    def lay_out(prefix: tuple[Step, ...], y0: float, extra: int = 0) -> None:
        y, small, grouped = y0, extra, 1 if extra else 0
        for key, n in sorted(children.get(prefix, []), key=lambda kn: (-kn[1], kn[0])):
            h = n / total
            if h < min_share:
                small += n
                grouped += 1
                continue
            boxes.append(_Box(len(prefix), y, h, key[-1][0], *style(key[-1])))
            lay_out(key, y)
            y += h
        if small:
            boxes.append(_Box(len(prefix), y, small / total, OTHER, "other", dict(_GROUPED)))

    lay_out((), 0.0, unlisted)
    depth = max(b.column for b in boxes) + 1
    fig, ax = axes_for(ax, 11.25, 8.2)
    for b in boxes:
        ax.add_patch(Rectangle((b.column, b.y), 0.96, b.h, linewidth=0.6, **b.style))
    ax.set_xlim(0, depth - 0.04)
    ax.set_ylim(1, 0)
    ax.xaxis.tick_top()
    ax.xaxis.set_label_position("top")
    ax.set_xticks([d + 0.48 for d in range(depth)],
                  [f"step {d + 1}" for d in range(depth)])
    ax.tick_params(axis="x", length=0)
    ax.yaxis.set_major_formatter("{x:.0%}")
    ax.set_ylabel("share of runs")
    after = f"after {_start_text(start)} (where every run starts); " if start else ""
    ending = "each path ends with its outcome"
    if ctx.several_dimensions:
        ending += (f" (the one that ended the run, else its "
                   f"{ctx.dimensions[0].name.replace('_', ' ')} class)")
    label = f"milestones in the order runs passed them, {after}{ending}"
    if len(label) > 120:  # one line per clause, each wrapped to the figure's width
        label = "\n".join(textwrap.fill(part, 110)
                          for part in label.replace("; ", ";\n").split("\n"))
    ax.set_xlabel(label)
    ax.set_title(ctx.heading(f"Outcome paths ({distinct:,} distinct)"))
    _legend(ax, ctx, boxes, styles, min_share)
    _label_boxes(fig, ax, boxes)
    return fig


def _rung_of(step: str, ctx: FolderContext) -> str | None:
    """The rung a path step names (``track:rung``, a rung, or the start of several tracks,
    ``a:x, b:y``, coloured as its first), or None for an action."""
    rung = step.split(", ")[0].rpartition(":")[2]
    return rung if rung in ctx.levels else None


def _start_text(step: str) -> str:
    """A start as words: ``skirmishes (intensity) and bilateral (scope)`` on several
    tracks."""
    parts = []
    for part in step.split(", "):
        track, colon, rung = part.rpartition(":")
        parts.append(f"{rung.replace('_', ' ')} ({track.replace('_', ' ')})" if colon
                     else part.replace("_", " "))
    return " and ".join(parts)


def _level_styles(ctx: FolderContext) -> dict[str, dict[str, Any]]:
    """Each rung's box style: its track's greys (darker = higher), hatched per track when
    there are several."""
    out = {}
    for i, track in enumerate(ctx.tracks):
        greys = level_colours(len(track.levels))
        hatch = _TRACK_HATCHES[i % len(_TRACK_HATCHES)] if ctx.several_tracks else ""
        for k, lv in enumerate(track.levels):
            out[lv] = {"facecolor": greys[k], "hatch": hatch, "edgecolor": "black"}
    return out


def _legend(ax: Axes, ctx: FolderContext, boxes: list[_Box],
            styles: dict[str, dict[str, Any]], min_share: float) -> None:
    """Every fill drawn, in groups: ladder levels (one group per track), outcomes, other
    boxes."""
    used = {(b.kind, b.name) for b in boxes}
    rungs = {_rung_of(b.name, ctx) for b in boxes if b.kind == "level"}
    handles: list[Patch] = []
    heads: list[int] = []

    def head(text: str) -> None:
        heads.append(len(handles))
        handles.append(Patch(facecolor="none", edgecolor="none", label=text))

    for track in ctx.tracks:
        shown_levels = [lv for lv in track.levels if lv in rungs]
        if shown_levels:
            head(f"{track.name.replace('_', ' ')} level" if ctx.several_tracks
                 else "ladder level")
            handles += [Patch(**styles[lv], label=lv.replace("_", " "))
                        for lv in shown_levels]
    shown = [o for o in ctx.outcomes if ("outcome", o) in used]
    head("outcome (ends the path)")
    for o in shown:
        st = outcome_style(ctx.outcome_index(o))
        handles.append(Patch(facecolor=st["color"], hatch=st["hatch"], edgecolor="black",
                             label=outcome_text(o)))
    if not shown:  # paths so varied that no branch to an outcome is wide enough to show
        handles.append(Patch(facecolor="none", edgecolor="none",
                             label=f"none shown: every path to an\noutcome is under "
                                   f"{min_share:.1%} of runs"))
    kinds = {kind for kind, _ in used}
    if kinds & {"action", "other"}:
        head("other boxes")
    if "action" in kinds:
        handles.append(Patch(facecolor=_ACTION, edgecolor="black", label="milestone action"))
    if "other" in kinds:
        handles.append(Patch(label=f"other paths: branches\nunder {min_share:.1%}, grouped",
                             facecolor=_GROUPED["facecolor"], hatch=_GROUPED["hatch"],
                             edgecolor=_GROUPED["edgecolor"]))
    legend = ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                       fontsize=SMALL, frameon=False, handlelength=1.6, borderaxespad=0)
    bold_heads(legend, heads)


def _label_boxes(fig: Figure, ax: Axes, boxes: list[_Box]) -> None:
    """Label each box with its name and share when the label fits inside it."""
    renderer = renderer_of(fig)
    pad = 3.0 * fig.dpi / 72  # points of room kept around a label
    for b in boxes:
        inner = ax.transData.transform([(b.column + 0.03, b.y + b.h), (b.column + 0.93, b.y)])
        width, height = inner[1, 0] - inner[0, 0], inner[1, 1] - inner[0, 1]
        if height < SMALL * fig.dpi / 72:
            continue
        name = (outcome_text(b.name) if b.kind == "outcome" else
                ", ".join(rung_text(part) for part in b.name.split(", ")))
        share = f"{b.h:.1%}"
        hatched = bool(b.style.get("hatch"))
        text = ax.text(b.column + 0.045, b.y + b.h / 2, "", va="center", ha="left",
                       fontsize=SMALL, color="black" if hatched else
                       text_colour(b.style["facecolor"]), linespacing=1.1, clip_on=True)
        if hatched:
            text.set_bbox({"boxstyle": "round,pad=0.15", "facecolor": "white",
                           "alpha": 0.9, "linewidth": 0})
        text.set_in_layout(False)
        if not fit_text(text, renderer, _candidates(name, share), width - pad, height - pad):
            text.remove()


def _candidates(name: str, share: str) -> list[str]:
    """Labels from widest and flattest to narrowest and tallest."""
    out = [f"{name}  {share}", f"{name}\n{share}"]
    for width in (16, 12, 9):
        lines = textwrap.wrap(name, width)
        if len(lines) > 1:
            out += ["\n".join([*lines[:-1], f"{lines[-1]}  {share}"]),
                    "\n".join([*lines, share])]
    return list(dict.fromkeys(out))
