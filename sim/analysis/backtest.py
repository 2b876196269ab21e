"""Backtests: how a scenario's runs score against what was observed after its start.

For each observation: the model's probability that it holds (with a 95% Wilson
interval), the Brier and log scores of that forecast, and, for a dated observation,
the model's distribution of the time it first happened (median, 5-95%), the PIT value
of the observed date (the model's probability that it happened by then), whether the
date lies in the model's 90% range and, for ``on:`` dates, the CRPS of the times. The
overall scores are set against a stated reference: the uninformed forecast 0.5 for
every observation (Brier 0.25, log score ln 2); skill is ``1 - score / reference``.

``as_of`` conditions the forecast on every observation dated up to a date: only runs
consistent with all of them are kept (rejection), and the outcome distribution of those
runs is reported with their number (the effective sample size of rejection).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sim.analysis.observations import (
    ACTOR,
    Resolved,
    load_observations,
    places_of,
    probes_of,
    resolve,
)
from sim.batch import Execution, run_batch
from sim.batch.aggregate import outcome_columns
from sim.batch.intervals import wilson
from sim.engine.plan import ProbeSpec
from sim.errors import AllRunsFailed, ScenarioError
from sim.scenario import Scenario, load_scenario

__all__ = ["MIN_KEPT", "Backtest", "ObservationScore", "ReadAs", "backtest", "crps_ensemble",
           "first_times", "holds", "scored"]

MIN_KEPT = 30
"""Fewest runs an ``as_of`` forecast keeps before it is refused."""
REFERENCE = "the uninformed forecast 0.5 for every observation"


def crps_ensemble(values: np.ndarray, observed: float) -> float:
    """CRPS of an ensemble against an observation: ``E|X - y| - E|X - X'| / 2``."""
    x = np.sort(np.asarray(values, dtype=float))
    n = x.size
    if n == 0:
        return math.nan
    spread = 2.0 * float(np.sum((2 * np.arange(1, n + 1) - n - 1) * x)) / (n * n)
    return float(np.mean(np.abs(x - observed))) - 0.5 * spread


class ReadAs(Protocol):
    """What reading an observation off the runs table needs (a :class:`Resolved`, or
    its record in ``backtest.json``)."""

    @property
    def id(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def target(self) -> str: ...

    @property
    def lo(self) -> float: ...

    @property
    def hi(self) -> float: ...


def _time_column(r: ReadAs) -> str:
    return f"{ACTOR}.{r.id}"


def first_times(table: pa.Table, r: ReadAs) -> np.ndarray | None:
    """Each run's first time of a dated observation (NaN: never); None for an outcome."""
    if r.kind == "outcome":
        return None
    if r.kind == "level":
        return np.asarray(table.column(f"time_to.{r.target}").to_numpy(zero_copy_only=False),
                          dtype=float)
    return np.asarray(table.column(_time_column(r)).to_numpy(zero_copy_only=False),
                      dtype=float)


def holds(table: pa.Table, r: ReadAs) -> np.ndarray:
    """Whether the observation holds in each run of ``table``."""
    if r.kind == "outcome":
        column, name = outcome_columns([r.target])[0]
        values = np.asarray(table.column(column).to_pylist(), dtype=object)
        return np.asarray(values == name, dtype=bool)
    t = first_times(table, r)
    assert t is not None
    with np.errstate(invalid="ignore"):
        inside = (t >= r.lo) & (t <= r.hi)
    return ~inside if r.kind == "not" else inside


@dataclass
class ObservationScore:
    """One observation, scored."""

    id: str
    kind: str
    target: str
    p: float
    lo: float
    hi: float
    brier: float
    log: float
    date: float | None = None  # the observed date (by, or on), clock units
    time_median: float | None = None
    time_q05: float | None = None
    time_q95: float | None = None
    pit: float | None = None
    inside_90: bool | None = None
    crps: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _quantile(t: np.ndarray, q: float) -> float:
    """Quantile of first times with never as +inf (inf when the quantile is never)."""
    filled = np.where(np.isnan(t), np.inf, t)
    return float(np.quantile(filled, q, method="inverted_cdf"))


def scored(table: pa.Table, r: Resolved, horizon: float) -> ObservationScore:
    """Score one observation over the completed runs of ``table``."""
    ok = holds(table, r)
    n = ok.size
    k = int(ok.sum())
    p = k / n if n else math.nan
    lo, hi = wilson(k, n)
    floor = 0.5 / n if n else math.nan  # a forecast of 0 from n runs: at most 1/(2n)
    s = ObservationScore(r.id, r.kind, r.target, p, lo, hi, (1 - p) ** 2,
                         -math.log(max(p, floor)) + 0.0 if n else math.nan)  # no -0.0
    t = first_times(table, r)
    if t is None or r.kind == "not":
        return s
    date = r.date
    s.date = date
    s.time_median, s.time_q05, s.time_q95 = (_quantile(t, 0.5), _quantile(t, 0.05),
                                             _quantile(t, 0.95))
    if date is not None:
        with np.errstate(invalid="ignore"):
            s.pit = float(np.mean((t >= r.after) & (t <= date)))
        s.inside_90 = bool(s.time_q05 <= date <= s.time_q95)
        if r.observation.on is not None:  # the date is the observed time: score the times
            s.crps = crps_ensemble(np.where(np.isnan(t), horizon, t), date)
    return s


@dataclass
class Backtest:
    """A backtest's scores, and (with ``as_of``) the forecast after that date."""

    scenario: str
    runs: int
    seed: int
    observations: list[ObservationScore]
    brier: float
    log: float
    brier_skill: float
    log_skill: float
    results: Path | None = None
    as_of: dict[str, Any] | None = None
    reference: str = REFERENCE
    notes: list[str] = field(default_factory=list)
    resolved: list[Resolved] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "runs": self.runs, "seed": self.seed,
                "observations": [o.as_dict() for o in self.observations],
                "scores": {"brier": self.brier, "log": self.log,
                           "brier_skill": self.brier_skill, "log_skill": self.log_skill,
                           "reference": self.reference},
                "as_of": self.as_of, "notes": self.notes,
                "read_as": [{"id": r.id, "kind": r.kind, "target": r.target, "lo": r.lo,
                             "hi": r.hi, "after": r.after, "date": r.date}
                            for r in self.resolved],
                "results": str(self.results) if self.results else None}

    def table(self) -> pa.Table:
        """``backtest.parquet``: one row per observation."""
        rows = [o.as_dict() for o in self.observations]
        names = list(ObservationScore.__dataclass_fields__)
        cols: dict[str, Any] = {}
        for name in names:
            values = [row[name] for row in rows]
            if name in ("id", "kind", "target"):
                cols[name] = pa.array(values, pa.string())
            elif name == "inside_90":
                cols[name] = pa.array(values, pa.bool_())
            else:
                cols[name] = pa.array([None if v is None else float(v) for v in values],
                                      pa.float64())
        return pa.table(cols)


def _scenario_for(scenario: Scenario | str | Path | None, loaded: Any) -> Scenario:
    if isinstance(scenario, Scenario):
        return scenario
    path = scenario if scenario is not None else loaded.scenario
    if path is None:
        raise ScenarioError(f"{loaded.file}: names no scenario: give one on the command line "
                            f"or scenario: in the file")
    return load_scenario(path)


def prepared(scenario: Scenario | str | Path | None, observed: str | Path
             ) -> tuple[Scenario, list[ProbeSpec], list[Resolved]]:
    """The scenario, what its runs must watch, and the observations checked against it."""
    loaded = load_observations(observed)
    sc = _scenario_for(scenario, loaded)
    resolved = resolve(loaded, sc)
    return sc, probes_of(resolved, places_of(loaded)), resolved


def completed(table: pa.Table) -> pa.Table:
    """The runs that completed (failed runs say nothing about what happened)."""
    return table.filter(table.column("error").is_null())


def as_of_forecast(table: pa.Table, resolved: list[Resolved], date: float, shown: str,
                   labels: list[str]) -> dict[str, Any]:
    """The outcome distribution of the runs consistent with every observation known by
    ``date``; refused when fewer than :data:`MIN_KEPT` runs are."""
    known = [r for r in resolved if r.dated is not None and r.dated <= date]
    keep = np.ones(table.num_rows, dtype=bool)
    for r in known:
        keep &= holds(table, r)
    kept = int(keep.sum())
    n = table.num_rows
    if kept < MIN_KEPT:
        need = (f"about {math.ceil(MIN_KEPT * n / kept):,} runs would keep {MIN_KEPT}"
                if kept else f"more than {n * MIN_KEPT:,} runs may be needed")
        raise ScenarioError(f"--as-of {shown}: only {kept:,} of {n:,} runs are consistent with "
                            f"the {len(known)} observation(s) known by then (at least "
                            f"{MIN_KEPT} are needed); {need}")
    sub = table.filter(pa.array(keep))
    out = {}
    for label, (column, name) in zip(labels, outcome_columns(labels), strict=True):
        values = np.asarray(sub.column(column).to_pylist(), dtype=object)
        k = int(np.sum(values == name))
        lo, hi = wilson(k, kept)
        before = np.asarray(table.column(column).to_pylist(), dtype=object)
        out[label] = {"count": k, "p": k / kept, "lo": lo, "hi": hi,
                      "p_unconditioned": float(np.mean(before == name)) if n else math.nan}
    return {"date": shown, "time": date, "observations": [r.id for r in known],
            "kept": kept, "runs": n, "effective_sample_size": kept, "outcomes": out}


def backtest(scenario: Scenario | str | Path | None, observed: str | Path, runs: int = 1000,
             seed: int = 0, *, out: str | Path | None = None, force: bool = False,
             as_of: Any = None, execution: Execution | None = None,
             command: list[str] | None = None, resume: bool = False,
             **options: Any) -> Backtest:
    """Run the scenario and score it against the observations in ``observed`` (see the
    module docstring); ``as_of`` (a date or clock time) adds the conditioned forecast."""
    sc, probes, resolved = prepared(scenario, observed)
    as_of_time = _as_of_time(sc, as_of)
    res = run_batch(sc, runs, seed, execution=execution or Execution.of("backtest", options),
                    out=out, force=force, command=command, probes=probes,
                    command_name="backtest", resume=resume)
    table = completed(res.runs_table())
    if table.num_rows == 0:
        errors = res.summary.errors
        raise AllRunsFailed(
            f"every one of the {res.failed:,} runs failed, so nothing can be scored"
            + (f"; e.g. {errors[0].error}" if errors else "")
            + (f" (see the 'error' column in {res.out}/runs)" if res.out else ""))
    horizon = float(sc.spec.clock.horizon)
    scores = [scored(table, r, horizon) for r in resolved]
    brier = float(np.mean([o.brier for o in scores]))
    log = float(np.mean([o.log for o in scores]))
    result = Backtest(sc.name, table.num_rows, seed, scores, brier, log,
                      1 - brier / 0.25, 1 - log / math.log(2), res.out, resolved=resolved)
    if res.failed:
        result.notes.append(f"{res.failed:,} runs failed and are left out")
    if as_of_time is not None:
        try:
            result.as_of = as_of_forecast(table, resolved, as_of_time, str(as_of),
                                          sc.spec.outcome_labels)
        except ScenarioError as exc:  # the scores stand; the as-of forecast is refused
            result.as_of = {"date": str(as_of), "time": as_of_time, "refused": str(exc)}
    if res.out is not None:
        from sim.results import ResultsFolder

        with ResultsFolder(res.out) as folder:
            manifest = folder.open_existing()
            folder.write_backtest(_parquet(result.table()), result.as_dict())
            folder.write_manifest(manifest)
    return result


def check_as_of(sc: Scenario, value: Any) -> None:
    """Refuse an ``as_of`` that is not a date or time within the run (before running)."""
    _as_of_time(sc, value)


def _as_of_time(sc: Scenario, value: Any) -> float | None:
    if value is None:
        return None
    from sim.scenario.dates import Calendar, DateError, looks_like_date

    calendar = Calendar.of(sc.spec.clock)
    text = str(value).strip()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        t = float(value)
    else:
        try:
            if looks_like_date(text):
                t = calendar.time_of(text)
            elif not all(c in "0123456789.eE+-" for c in text):
                raise ValueError(text)
            else:
                t = float(text)
        except (DateError, ValueError) as exc:
            raise ScenarioError(f"--as-of {text}: {exc}" if isinstance(exc, DateError) else
                                f"--as-of {text}: expected a date (YYYY-MM-DD) or a clock "
                                f"time") from None
    if not (math.isfinite(t) and 0 <= t <= float(sc.spec.clock.horizon)):
        raise ScenarioError(f"--as-of {text}: a time within the run, from 0 to "
                            f"{calendar.shown(float(sc.spec.clock.horizon))}")
    return t


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()
