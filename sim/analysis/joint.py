"""The joint distribution of two outcome dimensions over a batch's completed runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from sim.batch.intervals import wilson
from sim.engine.record import outcome_column
from sim.errors import ScenarioError
from sim.scenario.expressions import did_you_mean
from sim.scenario.schema import ScenarioSpec

__all__ = ["Joint", "joint_of", "parse_pair"]


@dataclass
class Joint:
    """Runs by class of dimension ``a`` (rows) and of dimension ``b`` (columns)."""

    a: str
    b: str
    rows: list[str]
    columns: list[str]
    counts: np.ndarray
    runs: int

    def p(self, i: int, j: int) -> float:
        return float(self.counts[i, j]) / self.runs if self.runs else float("nan")

    def as_dict(self) -> dict[str, Any]:
        cells = []
        for i, r in enumerate(self.rows):
            for j, c in enumerate(self.columns):
                k = int(self.counts[i, j])
                lo, hi = wilson(k, self.runs)
                cells.append({self.a: r, self.b: c, "count": k, "p": self.p(i, j),
                              "lo": lo, "hi": hi})
        return {"dimensions": [self.a, self.b], "runs": self.runs, "cells": cells}


def parse_pair(spec: ScenarioSpec, text: str) -> tuple[str, str]:
    """``A,B``: two different outcome dimensions of the scenario."""
    names = [d.name for d in spec.dimensions if d.name]
    if not names:
        raise ScenarioError(f"--joint: {spec.name} has a single list of outcomes; the joint "
                            f"table needs outcome dimensions (outcomes: {{NAME: [...], ...}})")
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 2 or parts[0] == parts[1]:
        raise ScenarioError(f"--joint takes two different dimensions as A,B; dimensions are: "
                            f"{', '.join(names)}")
    for p in parts:
        if p not in names:
            raise ScenarioError(f"--joint: unknown outcome dimension '{p}'"
                                f"{did_you_mean(p, names)}; dimensions are: {', '.join(names)}")
    return parts[0], parts[1]


def joint_of(table: pa.Table, spec: ScenarioSpec, a: str, b: str) -> Joint:
    """Count the completed runs of ``table`` by their classes in dimensions ``a`` and ``b``."""
    dims = {d.name: [o.id for o in d.outcomes] for d in spec.dimensions}
    ok = np.asarray(table.column("error").is_null().to_pylist(), dtype=bool)
    va = np.asarray(table.column(outcome_column(a)).to_pylist(), dtype=object)[ok]
    vb = np.asarray(table.column(outcome_column(b)).to_pylist(), dtype=object)[ok]
    counts = np.zeros((len(dims[a]), len(dims[b])), dtype=np.int64)
    for i, ra in enumerate(dims[a]):
        mine = vb[va == ra]
        for j, cb in enumerate(dims[b]):
            counts[i, j] = int(np.sum(mine == cb))
    return Joint(a, b, dims[a], dims[b], counts, int(ok.sum()))
