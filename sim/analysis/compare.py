"""Comparing result folders (or points of a sweep): outcome probabilities side by side and
their differences with 95% intervals, paired when the runs share random streams.

Results are comparable when their scenarios have the same outcomes (a variant and its base
are); others are refused unless ``allow_different``. Two results with the same root seed
are paired on the run indices they have in common (common random numbers); otherwise the
difference is of independent samples (Newcombe's interval).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sim.batch.aggregate import dimensions_of
from sim.batch.intervals import newcombe_diff, paired_diff, wilson
from sim.engine.record import outcome_column
from sim.errors import ResultsError
from sim.formatting import title_with_overrides
from sim.results import Results, load_results, write_new
from sim.results.chunkfile import independent_streams, point_seed
from sim.results.folder import PARAM

__all__ = ["Comparison", "Side", "compare", "side_of"]


def label_of(dimension: str, value: Any) -> str:
    """A runs table's outcome value as a label (``dimension=class`` when named)."""
    return f"{dimension}={value}" if dimension and value != "error" else str(value)


@dataclass
class Side:
    """One result being compared: a folder, or a point of a sweep (``DIR@k``)."""

    label: str
    results: Results
    point: int | None
    seed: int
    content: str
    runs: np.ndarray  # run indices of completed runs
    outcomes: np.ndarray  # runs x dimensions: each run's outcome labels, aligned with runs
    declared: list[str]  # the scenario's outcome labels, in file order
    title: str  # scenario title with its overrides (or the point's values)


def side_of(ref: str | Path) -> Side:
    """Read ``DIR`` or ``DIR@k`` (point ``k`` of a sweep)."""
    text = str(ref)
    path, sep, point = text.rpartition("@") if "@" in text and not Path(text).exists() \
        else (text, "", "")
    res = load_results(path)
    res.refuse_rare("a comparison")
    table = res.runs
    wanted: int | None = None
    values: dict[str, Any] = dict(res.manifest.overrides)
    if sep:
        if not (point.isascii() and point.isdigit()) or len(point) > 9:
            raise ResultsError(f"{ref}: a point is a whole number, as in {path}@3")
        wanted = int(point)
        points = table.column("point").to_numpy()
        if wanted not in set(points.tolist()):
            raise ResultsError(f"{ref}: no point {wanted} in {path} (its points are 0 to "
                               f"{res.manifest.points - 1})")
        table = table.filter(points == wanted)
        varied = list((res.manifest.design or {}).get("varied") or [])
        row = res.points.to_pandas().set_index("point")
        if wanted in row.index:
            values.update({v: float(row.loc[wanted, PARAM + v]) for v in varied
                           if PARAM + v in row.columns})
    elif res.is_sweep:
        raise ResultsError(f"{path} is a sweep: name one of its points, as in {path}@0")
    ok = np.asarray(table.column("error").is_null().to_pylist(), dtype=bool)
    runs = table.column("run").to_numpy()[ok]
    declared = res.spec.outcome_labels
    # one column of labels per outcome dimension (runs x dimensions)
    by_dim = [np.asarray([label_of(dim, v) for v in table.column(outcome_column(dim)).to_pylist()],
                         dtype=object)[ok] for dim, _ in dimensions_of(declared)]
    outcomes = np.stack(by_dim, axis=1) if by_dim else np.empty((0, 0), dtype=object)
    title = str(res.scenario.get("title") or res.manifest.scenario.name)
    # a point's streams: the root seed's, unless its design gives each point its own
    seed = point_seed(res.manifest.seed, wanted or 0, independent_streams(res.manifest.design))
    return Side(text, res, wanted, seed, res.manifest.scenario.content_hash, runs,
                outcomes, declared, title_with_overrides(title, values))


@dataclass
class Comparison:
    """Rows ``{outcome, p[label], ci[label], diff[label]}`` for each outcome, differences
    taken against the first result; ``methods[label]`` says how (``paired`` or
    ``unpaired``), ``notes`` what a reader should know (pairing, incomplete folders)."""

    labels: list[str]
    outcomes: list[str]
    titles: dict[str, str] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    methods: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"labels": self.labels, "titles": self.titles, "methods": self.methods,
                "notes": self.notes, "rows": self.rows}

    def table(self) -> Any:
        """One row per outcome and result: p, interval, and the difference against the first."""
        import pandas as pd

        records = []
        for row in self.rows:
            for label in self.labels:
                lo, hi = row[f"ci[{label}]"]
                rec = {"outcome": row["outcome"], "result": label, "p": row[f"p[{label}]"],
                       "lo": lo, "hi": hi, "diff": math.nan, "diff_lo": math.nan,
                       "diff_hi": math.nan, "method": ""}
                if label in self.methods:
                    d, dlo, dhi = row[f"diff[{label}]"]
                    rec.update(diff=d, diff_lo=dlo, diff_hi=dhi, method=self.methods[label])
                records.append(rec)
        return pd.DataFrame.from_records(records)

    def write(self, path: str | Path, force: bool = False) -> Path:
        """Write the table as ``.csv``, ``.parquet`` or ``.json`` (by the file's suffix)."""
        target = Path(path)
        frame = self.table()
        suffix = target.suffix.lower()
        if suffix == ".csv":
            data = frame.to_csv(index=False).encode("utf-8")
        elif suffix == ".parquet":
            sink = io.BytesIO()
            frame.to_parquet(sink, index=False)
            data = sink.getvalue()
        elif suffix == ".json":
            from sim.results import dump_json

            data = dump_json(self.as_dict())
        else:
            raise ResultsError(f"{target}: give a .csv, .parquet or .json file")
        write_new(target, data, force)
        return target


def _pairing(base: Side, other: Side) -> tuple[str, np.ndarray | None, str | None]:
    if other.seed != base.seed:
        return "unpaired", None, None
    common = np.intersect1d(base.runs, other.runs)
    if common.size < 2:
        return "unpaired", None, None
    note = None
    if common.size != base.runs.size or common.size != other.runs.size:
        note = (f"{other.label}: paired with {base.label} on the {common.size:,} run indices "
                f"both have ({base.runs.size:,} and {other.runs.size:,} completed runs)")
    return "paired", common, note


def _on(side: Side, runs: np.ndarray, outcome: str) -> np.ndarray:
    order = np.argsort(side.runs)
    pos = order[np.searchsorted(side.runs, runs, sorter=order)]
    return np.asarray((side.outcomes[pos] == outcome).any(axis=1))  # one dimension holds it


def compare(refs: list[str | Path], allow_different: bool = False) -> Comparison:
    """Compare two or more results (``DIR`` or ``DIR@point`` for a sweep point)."""
    if len(refs) < 2:
        raise ResultsError("compare needs at least two results")
    sides = [side_of(r) for r in refs]
    base = sides[0]
    notes: list[str] = []
    for s in sides:
        if not s.results.complete:
            notes.append(f"{s.label} is {s.results.manifest.status}: only its "
                         f"{s.runs.size:,} completed runs are compared")
        if s.runs.size == 0:
            raise ResultsError(f"{s.label}: no completed run to compare (every run failed or "
                               f"none finished)")
    for s in sides[1:]:
        if s.declared != base.declared:
            if not allow_different:
                raise ResultsError(
                    f"{s.label} and {base.label} are results of different scenarios (outcomes "
                    f"{', '.join(s.declared)} vs {', '.join(base.declared)}); pass "
                    f"--allow-different to compare them anyway")
            notes.append(f"{s.label}: a different scenario; an outcome it lacks counts as 0")
        elif s.content != base.content:
            notes.append(f"{s.label}: another scenario file with the same outcomes "
                         f"(a variant)")
    outcomes = list(dict.fromkeys([o for s in sides for o in s.declared]
                                  + [o for s in sides for o in s.outcomes.ravel().tolist()]))
    cmp = Comparison([s.label for s in sides], outcomes, {s.label: s.title for s in sides})
    pairs: dict[str, np.ndarray | None] = {}
    for other in sides[1:]:
        method, common, note = _pairing(base, other)
        cmp.methods[other.label] = method
        pairs[other.label] = common
        if note:
            notes.append(note)
    for outcome in outcomes:
        row: dict[str, Any] = {"outcome": outcome}
        for s in sides:
            k, n = int(np.sum(s.outcomes == outcome)), len(s.outcomes)
            row[f"p[{s.label}]"] = k / n
            row[f"ci[{s.label}]"] = wilson(k, n)
        for other in sides[1:]:
            common = pairs[other.label]
            if common is not None:
                d, lo, hi = paired_diff(_on(base, common, outcome), _on(other, common, outcome))
            else:
                d, lo, hi = newcombe_diff(int(np.sum(base.outcomes == outcome)),
                                          len(base.outcomes),
                                          int(np.sum(other.outcomes == outcome)),
                                          len(other.outcomes))
            row[f"diff[{other.label}]"] = (d, lo, hi)
        cmp.rows.append(row)
    cmp.notes = notes
    return cmp
