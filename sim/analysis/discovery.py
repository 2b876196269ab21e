"""Scenario discovery on a sweep: where in parameter space is an outcome most likely?

PRIM comes from EMA Workbench (``ema_workbench.analysis.prim``), a maintained
implementation; this module only shapes a sweep's results for it and reads the box
back. Cases of interest are the sweep points where the outcome's probability is at
least a threshold. The same shaping gives the ``(experiments, outcomes)`` pair that
EMA Workbench's analysis functions take, and its ``.tar.gz`` results file.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sim.batch.intervals import wilson
from sim.errors import ResultsError
from sim.results import Manifest, load_results
from sim.results.folder import PARAM
from sim.scenario.expressions import did_you_mean

__all__ = ["Discovery", "discover", "export_ema", "to_ema"]


def _sweep(folder: str | Path) -> tuple[Any, Any, list[str], Manifest]:
    res = load_results(Path(folder))
    if not res.is_sweep:
        raise ResultsError(f"{folder}: not a sweep; run 'escalation sweep' or 'escalation "
                           f"sensitivity' first")
    points = res.points.to_pandas().sort_values("point")
    points.columns = [c.removeprefix(PARAM) for c in points.columns]
    table = res.sweep.to_pandas()
    varied = res.varied
    return points, table, varied, res.manifest


def to_ema(folder: str | Path) -> tuple[Any, dict[str, np.ndarray]]:
    """A sweep as EMA Workbench's ``(experiments, outcomes)``: one experiment per point (the
    varied parameters, plus ``scenario``, ``policy`` and ``model`` columns) and, per
    outcome, an array of its probability (``p_<outcome>``) at each point, plus ``runs``."""
    points, table, varied, manifest = _sweep(folder)
    experiments = points[varied].astype(float).reset_index(drop=True)
    experiments["scenario"] = points["point"].astype(int).to_numpy()
    experiments["policy"] = "none"
    experiments["model"] = manifest.scenario.name
    outcomes: dict[str, np.ndarray] = {}
    for outcome, rows in table.groupby("outcome", sort=False):
        rows = rows.set_index("point").reindex(points["point"])
        outcomes[f"p_{outcome}"] = rows["p"].to_numpy(dtype=float)
        outcomes.setdefault("runs", rows["runs"].to_numpy(dtype=float))
    return experiments, outcomes


def _ema() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # it warns about optional parallel back-ends
        try:
            import ema_workbench
            from ema_workbench.analysis import prim
        except ImportError:
            raise ResultsError("this needs EMA Workbench, the project's 'discovery' extra: "
                               "pip install -e '.[discovery]' in the project's folder") from None
    return ema_workbench, prim


def export_ema(folder: str | Path, path: str | Path) -> Path:
    """Write a sweep as an EMA Workbench results file (``.tar.gz``; read it back with
    ``ema_workbench.load_results``)."""
    ema, _ = _ema()
    experiments, outcomes = to_ema(folder)
    for name in outcomes:
        ema.ScalarOutcome(name)  # registers the name, as save_results requires
    target = Path(path)
    try:
        ema.save_results((experiments, outcomes), str(target))
    except OSError as exc:
        raise ResultsError(f"cannot write {target}: {exc.strerror or exc}") from None
    return target


@dataclass
class Discovery:
    """The PRIM box chosen on the peeling trajectory, and the trajectory itself.

    ``coverage``: share of the points of interest that fall in the box; ``density``:
    share of the points in the box that are of interest; ``mass``: share of all points in
    the box. ``p_in_box``/``p_outside`` pool the runs inside and outside the box."""

    outcome: str
    threshold: float
    points: int
    of_interest: int
    coverage: float
    density: float
    mass: float
    p_in_box: tuple[float, float, float]
    p_outside: tuple[float, float, float]
    limits: list[dict[str, Any]] = field(default_factory=list)
    trajectory: list[dict[str, float]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def discover(folder: str | Path, outcome: str, threshold: float | None = None, *,
             min_coverage: float = 0.5, peel_alpha: float = 0.05,
             mass_min: float = 0.05) -> Discovery:
    """Run PRIM on a sweep's points for ``outcome``: points with ``P(outcome) >= threshold``
    are of interest (default: the upper quartile of the points' probabilities). The box
    reported is the densest on the peeling trajectory that keeps ``coverage >= min_coverage``."""
    points, table, varied, _ = _sweep(folder)
    names = list(dict.fromkeys(table["outcome"]))
    if outcome not in names:
        raise ResultsError(f"unknown outcome '{outcome}'{did_you_mean(outcome, names)}; "
                           f"outcomes are: {', '.join(names)}")
    rows = table[table["outcome"] == outcome].set_index("point").reindex(points["point"])
    p = rows["p"].to_numpy(dtype=float)
    counts = rows["count"].to_numpy(dtype=float)
    runs = rows["runs"].to_numpy(dtype=float)
    cut = float(np.quantile(p, 0.75)) if threshold is None else float(threshold)
    y = (p >= cut).astype(int)
    if y.min() == y.max():
        raise ResultsError(f"every point has P({outcome}) {'>=' if y[0] else '<'} {cut:.4g}: "
                           f"nothing to tell apart; choose another --threshold")
    _, prim = _ema()
    x = points[varied].astype(float).reset_index(drop=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas deprecations inside the library
        finder = prim.Prim(x, y, threshold=0.5, peel_alpha=peel_alpha, mass_min=mass_min)
        box = finder.find_box()
    traj = box.peeling_trajectory
    eligible = traj[traj["coverage"] >= min_coverage]
    pick = int((eligible if len(eligible) else traj)["density"].idxmax())
    limits_df = box.box_lims[pick]
    init = finder.box_init
    inside = np.ones(len(x), dtype=bool)
    limits = []
    for name in varied:
        lo, hi = float(limits_df[name].iloc[0]), float(limits_df[name].iloc[1])
        inside &= (x[name].to_numpy() >= lo) & (x[name].to_numpy() <= hi)
        restricted = lo > float(init[name].iloc[0]) or hi < float(init[name].iloc[1])
        if restricted:
            limits.append({"parameter": name, "low": lo, "high": hi,
                           "swept_low": float(init[name].iloc[0]),
                           "swept_high": float(init[name].iloc[1])})

    def pooled(mask: np.ndarray) -> tuple[float, float, float]:
        k, n = int(counts[mask].sum()), int(runs[mask].sum())
        lo, hi = wilson(k, n)
        return (k / n if n else math.nan, lo, hi)

    row = traj.loc[pick]
    return Discovery(outcome, cut, len(x), int(y.sum()), float(row["coverage"]),
                     float(row["density"]), float(row["mass"]), pooled(inside),
                     pooled(~inside), limits,
                     [{k: float(r[k]) for k in ("coverage", "density", "mass", "res_dim")}
                      for _, r in traj.iterrows()])
