"""The most common outcome paths as an icicle: each column is a step along the path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from sim.errors import ResultsError
from sim.plots.context import FolderContext, context_of
from sim.plots.style import level_colours, new_figure, outcome_style
from sim.results import Results

__all__ = ["path_icicle"]

OTHER = "other paths"


def _counts(ctx: FolderContext) -> tuple[list[tuple[list[str], int]], int, int]:
    """Every distinct path and its runs (``paths.parquet``), or the summary's top ones."""
    if ctx.kind == "sweep":
        raise ResultsError(f"{ctx.path}: a sweep has no path figure; plot it with --kind sweep")
    summary = ctx.results.batch_summary()
    if not summary.paths:
        raise ResultsError(f"{ctx.path}: no path completed ({summary.failed:,} runs failed)")
    total = summary.runs or 1
    table = ctx.results.paths
    pairs: Any = zip(table.column("path").to_pylist(), table.column("count").to_pylist(),
                     strict=True)
    listed = [(str(p).split(" > "), int(c)) for p, c in pairs if p != "(other paths)"]
    return listed, total, summary.distinct_paths


def path_icicle(results: Results | FolderContext | str | Path, min_share: float = 0.01,
                max_depth: int = 9) -> Figure:
    """Outcome paths as an icicle: column k holds the k-th milestone (ladder levels and
    milestone actions, then the outcome), each box as tall as its share of runs and nested
    in the box of the path so far. Branches under ``min_share`` are grouped per parent."""
    ctx = results if isinstance(results, FolderContext) else context_of(results)
    listed, total, distinct = _counts(ctx)
    counts: dict[tuple[str, ...], int] = {}
    for steps, n in listed:
        for d in range(1, min(len(steps), max_depth) + 1):
            key = tuple(steps[:d])
            counts[key] = counts.get(key, 0) + n
    children: dict[tuple[str, ...], list[tuple[tuple[str, ...], int]]] = {}
    for key, n in counts.items():
        children.setdefault(key[:-1], []).append((key, n))
    depth = max((len(k) for k in counts), default=1)
    fig = new_figure(13, 7.0)
    ax = fig.add_subplot()
    levels = level_colours(len(ctx.levels))
    outcome_index = {o: i for i, o in enumerate(ctx.outcomes)}

    def style(label: str) -> dict[str, Any]:
        if label in ctx.levels:
            return {"facecolor": levels[ctx.levels.index(label)], "hatch": ""}
        if label in outcome_index:
            st = outcome_style(outcome_index[label])
            return {"facecolor": st["color"], "hatch": st["hatch"]}
        return {"facecolor": "#e6e6e6", "hatch": ""}

    def box(x: int, y: float, h: float, label: str, shown: str, **kw: Any) -> None:
        ax.add_patch(Rectangle((x, y), 0.97, h, edgecolor="black", linewidth=0.5, **kw))
        if h >= 0.022:
            text = f"{shown}  {h:.1%}" if h < 0.045 else f"{shown}\n{h:.1%}"
            ax.text(x + 0.04, y + h / 2, text, va="center", ha="left", fontsize=7.5,
                    bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "alpha": 0.8,
                          "linewidth": 0})

    def draw(prefix: tuple[str, ...], y0: float) -> None:
        y, small = y0, 0
        for key, n in sorted(children.get(prefix, []), key=lambda kn: -kn[1]):
            h = n / total
            if h < min_share:
                small += n
                continue
            box(len(prefix), y, h, key[-1], key[-1].replace("_", " "), **style(key[-1]))
            draw(key, y)
            y += h
        if small:
            box(len(prefix), y, small / total, OTHER, OTHER, facecolor="white", hatch="..")

    draw((), 0.0)
    handles = [Patch(edgecolor="black", **style(o), label=o.replace("_", " "))
               for o in ctx.outcomes]
    handles.append(Patch(facecolor="#e6e6e6", edgecolor="black", label="milestone action"))
    handles.append(Patch(facecolor="white", hatch="..", edgecolor="black", label=OTHER))
    ax.legend(handles=handles, loc="lower right", fontsize=8, title="outcome / box")
    ax.set_xlim(0, depth)
    ax.set_ylim(1, 0)
    ax.set_xticks([d + 0.48 for d in range(depth)],
                  ["start level" if d == 0 else f"step {d}" for d in range(depth)])
    ax.yaxis.set_major_formatter("{x:.0%}")
    ax.set_ylabel("share of runs")
    ax.set_xlabel("milestones along each path (ladder levels, milestone actions), ending with "
                  f"the outcome; branches under {min_share:.0%} grouped")
    ax.set_title(ctx.heading(f"Outcome paths ({distinct:,} distinct)"))
    return fig
