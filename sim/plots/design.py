"""Figures of sweeps and sensitivity analyses."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from sim.errors import ResultsError
from sim.plots.context import FolderContext, context_of
from sim.plots.style import new_figure, outcome_style
from sim.results import Results
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
                 outcomes: list[str] | None = None) -> Figure:
    """One swept parameter: each outcome's probability against it with 95% bands. Two
    (on a grid): a heatmap per outcome. More: each outcome against each parameter."""
    ctx = results if isinstance(results, FolderContext) else context_of(results)
    df, varied = _sweep_frame(ctx)
    names = outcomes or list(dict.fromkeys(df["outcome"]))  # type: ignore[index]
    runs = int(df["runs"].iloc[0])  # type: ignore[index]
    points = int(df["point"].nunique())  # type: ignore[index]
    head = f"{ctx.title}\n{points} points x {runs:,} runs, seed {ctx.seed} (common streams)"
    grid = (ctx.results.manifest.design or {}).get("kind") == "grid"
    if len(varied) == 1:
        v = varied[0]
        k = PARAM + v
        fig = new_figure(9.5, 5.2)
        ax = fig.add_subplot()
        for i, o in enumerate(names):
            rows = df[df["outcome"] == o].sort_values(k)  # type: ignore[index]
            st = outcome_style(i)
            ax.fill_between(rows[k], rows["lo"], rows["hi"], color=st["color"], alpha=0.2,
                            linewidth=0)
            ax.plot(rows[k], rows["p"], color=st["color"], linestyle=st["linestyle"],
                    marker=st["marker"], linewidth=2, label=o.replace("_", " "))
        ax.set_xlabel(_label(ctx, v))
        ax.set_ylabel("probability, 95% interval band")
        ax.yaxis.set_major_formatter("{x:.0%}")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=9, title="outcome")
        ax.set_title(f"Outcome probability against {v}\n{head}")
        return fig
    if len(varied) == 2 and grid:
        a, b = varied
        cols = min(3, len(names))
        rows_n = math.ceil(len(names) / cols)
        fig = new_figure(4.2 * cols + 1, 3.8 * rows_n + 0.8)
        axes = np.atleast_1d(fig.subplots(rows_n, cols, squeeze=False)).ravel()
        for ax, o in zip(axes, names, strict=False):
            sub = df[df["outcome"] == o]  # type: ignore[index]
            table = sub.pivot_table(index=PARAM + b, columns=PARAM + a, values="p")
            im = ax.imshow(table.to_numpy(), origin="lower", aspect="auto", cmap="cividis",
                           vmin=0, vmax=max(float(table.to_numpy().max()), 1e-9))
            ax.set_xticks(range(len(table.columns)), [f"{c:g}" for c in table.columns],
                          fontsize=7, rotation=45)
            ax.set_yticks(range(len(table.index)), [f"{r:g}" for r in table.index], fontsize=7)
            ax.set_xlabel(a)
            ax.set_ylabel(b)
            ax.set_title(o.replace("_", " "), fontsize=10)
            fig.colorbar(im, ax=ax, format="{x:.0%}", label="probability")
        for ax in axes[len(names):]:
            ax.set_visible(False)
        fig.suptitle(f"Outcome probability over {a} and {b}\n{head}")
        return fig
    cols = len(varied)
    fig = new_figure(min(4.0 * cols + 1.5, 22), 4.6)
    axes = np.atleast_1d(fig.subplots(1, cols, squeeze=False)).ravel()
    for ax, v in zip(axes, varied, strict=True):
        for i, o in enumerate(names):
            rows = df[df["outcome"] == o]  # type: ignore[index]
            st = outcome_style(i)
            ax.scatter(rows[PARAM + v], rows["p"], color=st["color"], marker=st["marker"], s=14,
                       label=o.replace("_", " "), edgecolors="black", linewidths=0.3)
        ax.set_xlabel(_label(ctx, v))
        ax.yaxis.set_major_formatter("{x:.0%}")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("probability at each point")
    axes[-1].legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, title="outcome")
    fig.suptitle(f"Outcome probability at each design point\n{head}")
    return fig


def _label(ctx: FolderContext, name: str) -> str:
    spec = (ctx.results.scenario.get("parameters") or {}).get(name) or {}
    unit = spec.get("unit") if isinstance(spec, dict) else None
    return f"{name} ({unit})" if unit else name


def sensitivity_bars(results: Results | FolderContext | str | Path, top: int = 15) -> Figure:
    """Sobol' total- and first-order indices (or Morris mu*) with 95% intervals, ranked."""
    from sim.analysis.sensitivity import load_sensitivity

    ctx = results if isinstance(results, FolderContext) else context_of(results)
    sens = load_sensitivity(ctx.path)
    rows = sens.rows[:top][::-1]
    names = [r["parameter"] for r in rows]
    y = np.arange(len(rows))
    fig = new_figure(10, 0.42 * len(rows) + 2.2)
    ax = fig.add_subplot()

    def col(key: str) -> np.ndarray:
        return np.array([r.get(key) if r.get(key) is not None else np.nan for r in rows],
                        dtype=float)

    if sens.method == "sobol":
        st, s1 = col("total"), col("first")
        ax.barh(y + 0.2, st, 0.4, xerr=col("total_conf"), color=outcome_style(0)["color"],
                edgecolor="black", capsize=3, label="total order (ST)")
        ax.barh(y - 0.2, s1, 0.4, xerr=col("first_conf"), color=outcome_style(1)["color"],
                hatch="//", edgecolor="black", capsize=3, label="first order (S1)")
        ax.set_xlabel("Sobol' index (share of the variance of the probability), 95% interval")
    else:
        ax.barh(y, col("mu_star"), 0.6, xerr=col("mu_star_conf"),
                color=outcome_style(0)["color"], edgecolor="black", capsize=3, label="mu*")
        ax.set_xlabel("Morris mu* (mean absolute change in probability across the range), "
                      "95% interval")
    assumed = [str(r.get("source", "")).startswith("assumption") for r in rows]
    ax.set_yticks(y, [f"{n} *" if a else n for n, a in zip(names, assumed, strict=True)])
    ax.axvline(0, color="black", linewidth=0.8)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="lower right", fontsize=9)
    ax.set_title(f"What drives P({sens.outcome}): {sens.method} sensitivity\n{ctx.title}\n"
                 f"{sens.points:,} points x {sens.runs:,} runs, seed {sens.seed}  "
                 f"(* = parameter marked an assumption)")
    return fig
