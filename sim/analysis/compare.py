"""Comparing result folders (or points of a sweep): outcome probabilities side by side and
their differences with 95% intervals, paired when the runs share random streams."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sim.batch.intervals import newcombe_diff, paired_diff, wilson
from sim.errors import ResultsError
from sim.results import load_results

__all__ = ["Comparison", "compare"]


@dataclass
class _Side:
    label: str
    seed: int
    content: str
    runs: np.ndarray  # run indices
    outcomes: np.ndarray  # outcome per run, aligned with runs
    declared: list[str]  # the scenario's outcome ids, in file order


@dataclass
class Comparison:
    """Rows of ``{outcome, p_<label>..., diff_<label>, lo_<label>, hi_<label>}`` against the
    first result, and how each difference was computed (``paired`` or ``unpaired``)."""

    labels: list[str]
    outcomes: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)
    methods: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"labels": self.labels, "methods": self.methods, "rows": self.rows}


def _side(ref: str) -> _Side:
    path, _, point = ref.partition("@")
    res = load_results(path)
    table = res.runs
    if point:
        try:
            wanted = int(point)
        except ValueError:
            raise ResultsError(f"{ref}: a point is a number, as in {path}@3") from None
        points = table.column("point").to_numpy()
        if wanted not in set(points.tolist()):
            raise ResultsError(f"{ref}: no point {wanted} in {path}")
        table = table.filter(points == wanted)
    elif res.manifest.get("kind") == "sweep":
        raise ResultsError(f"{path} is a sweep: name one of its points, as in {path}@0")
    ok = np.asarray(table.column("error").to_pylist()) == ""
    runs = table.column("run").to_numpy()[ok]
    outcomes = np.asarray(table.column("outcome").to_pylist(), dtype=object)[ok]
    declared = [o["id"] for o in res.scenario.get("outcomes", [])
                if isinstance(o, dict) and "id" in o]
    return _Side(ref, int(res.manifest.get("seed", -1)),
                 str(res.manifest.get("scenario", {}).get("content_hash", "")), runs, outcomes,
                 declared)


def compare(refs: list[str | Path]) -> Comparison:
    """Compare two or more result folders (``path`` or ``path@point`` for a sweep point)."""
    if len(refs) < 2:
        raise ResultsError("compare needs at least two results")
    sides = [_side(str(r)) for r in refs]
    base = sides[0]
    seen = [o for s in sides for o in s.outcomes.tolist()]
    outcomes = list(dict.fromkeys([*base.declared, *seen]))
    cmp = Comparison([s.label for s in sides], outcomes)
    for other in sides[1:]:
        same_runs = np.array_equal(np.sort(base.runs), np.sort(other.runs))
        cmp.methods[other.label] = "paired" if other.seed == base.seed and same_runs \
            else "unpaired"
    for outcome in outcomes:
        row: dict[str, Any] = {"outcome": outcome}
        for s in sides:
            k, n = int(np.sum(s.outcomes == outcome)), len(s.outcomes)
            lo, hi = wilson(k, n)
            row[f"p[{s.label}]"] = k / n if n else float("nan")
            row[f"ci[{s.label}]"] = (lo, hi)
        for other in sides[1:]:
            if cmp.methods[other.label] == "paired":
                a = base.outcomes[np.argsort(base.runs)] == outcome
                b = other.outcomes[np.argsort(other.runs)] == outcome
                d, lo, hi = paired_diff(a, b)
            else:
                d, lo, hi = newcombe_diff(int(np.sum(base.outcomes == outcome)), len(base.outcomes),
                                          int(np.sum(other.outcomes == outcome)),
                                          len(other.outcomes))
            row[f"diff[{other.label}]"] = (d, lo, hi)
        cmp.rows.append(row)
    return cmp
