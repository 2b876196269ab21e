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
from sim.plots.context import FolderContext, context_of
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

    levels = level_colours(len(ctx.levels))
    outcome_index = {o: i for i, o in enumerate(ctx.outcomes)}

    def style(step: Step) -> tuple[str, dict[str, Any]]:
        name, is_outcome = step
        if is_outcome and name in outcome_index:
            st = outcome_style(outcome_index[name])
            return "outcome", {"facecolor": st["color"], "hatch": st["hatch"],
                               "edgecolor": "black"}
        if not is_outcome and name in ctx.levels:
            return "level", {"facecolor": levels[ctx.levels.index(name)], "hatch": "",
                             "edgecolor": "black"}
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
    after = f"after {start.replace('_', ' ')} (where every run starts); " if start else ""
    ax.set_xlabel(f"milestones in the order runs passed them, {after}each path ends with its "
                  f"outcome")
    ax.set_title(ctx.heading(f"Outcome paths ({distinct:,} distinct)"))
    _legend(ax, ctx, boxes, levels, min_share)
    _label_boxes(fig, ax, boxes)
    return fig


def _legend(ax: Axes, ctx: FolderContext, boxes: list[_Box], levels: list[Any],
            min_share: float) -> None:
    """Every fill drawn, in three groups: ladder levels, outcomes, other boxes."""
    used = {(b.kind, b.name) for b in boxes}
    handles: list[Patch] = []
    heads: list[int] = []

    def head(text: str) -> None:
        heads.append(len(handles))
        handles.append(Patch(facecolor="none", edgecolor="none", label=text))

    shown_levels = [lv for lv in ctx.levels if ("level", lv) in used]
    if shown_levels:
        head("ladder level")
        handles += [Patch(facecolor=levels[ctx.levels.index(lv)], edgecolor="black",
                          label=lv.replace("_", " ")) for lv in shown_levels]
    shown = [o for o in ctx.outcomes if ("outcome", o) in used]
    if shown:
        head("outcome (ends the path)")
        for o in shown:
            st = outcome_style(ctx.outcomes.index(o))
            handles.append(Patch(facecolor=st["color"], hatch=st["hatch"], edgecolor="black",
                                 label=o.replace("_", " ")))
    head("other boxes")
    kinds = {kind for kind, _ in used}
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
        name = b.name.replace("_", " ")
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
