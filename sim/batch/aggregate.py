"""Streaming aggregates of a batch: merged chunk by chunk, memory flat in the number of runs."""

from __future__ import annotations

import io
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sim.batch.exact import (
    SQUARE_SCALE,
    SUM_SCALE,
    Total,
    add_totals,
    column_totals,
    decode_total,
    encode_total,
    mean_of,
    sd_of,
    to_float,
)
from sim.batch.intervals import wilson
from sim.batch.weighted import INTERVAL, WEIGHTED_METHOD, ExactSum, weighted_estimate
from sim.results.summary import (
    LevelReach,
    MetricStats,
    OutcomeEstimate,
    PathShare,
    RunErrorSample,
    Summary,
)

__all__ = ["TIME_BINS", "Aggregate", "dimensions_of", "occupancy_times", "outcome_columns",
           "summarise", "timeline_columns"]

TIME_BINS = 4096
OCCUPANCY_STEPS = 2000  # at most this many sample times (one per clock unit below it)
MAX_PATHS = 50_000
_OTHER = "(other paths)"


@dataclass
class Aggregate:
    """Counts and histograms of a set of runs; ``merge`` adds another set."""

    outcomes: list[str]
    levels: list[str]
    horizon: float
    metrics: list[str] = field(default_factory=list)
    runs: int = 0
    failed: int = 0
    outcome_counts: np.ndarray = field(init=False)
    reach_counts: np.ndarray = field(init=False)
    reach_zero: np.ndarray = field(init=False)
    reach_hist: np.ndarray = field(init=False)
    paths: Counter[str] = field(default_factory=Counter)
    end_time_sum: float = 0.0
    metric_stats: np.ndarray = field(init=False)  # per metric: n, sum, sumsq, min, max
    # the exact sums (sim.batch.exact) the float ones above are rounded from: of the end
    # times, and per metric [sum, sum of squares]; the summary's mean end time and each
    # metric's mean and sd come from these, so they do not depend on the chunking. False
    # once a chunk written before exact sums was merged in (its aggregate has only float
    # sums): the float sums are then added chunk by chunk, as before, and the summary's
    # last digits depend on the chunk size.
    exact: bool = field(default=True, init=False)
    end_time_total: Total = field(default=0, init=False)
    metric_totals: list[list[Total]] = field(init=False)
    errors: list[tuple[int, str]] = field(default_factory=list)
    # occupancy[k, j]: runs in state k at occupancy_times(horizon)[j]; states are the ladder
    # levels (run still going, or ended at the horizon) then the outcomes (ended earlier).
    occupancy: np.ndarray = field(init=False)
    # rare-event runs only: exact sums of w and w^2 over every run, each outcome's runs and
    # each level's reachers (see sim.batch.weighted); empty for plain runs
    weighted: bool = False
    weight_sums: dict[str, list[ExactSum]] = field(default_factory=dict)
    weight_max: dict[str, float] = field(default_factory=dict)  # the largest w of each key

    def __post_init__(self) -> None:
        self.outcome_counts = np.zeros(len(self.outcomes), dtype=np.int64)
        self.reach_counts = np.zeros(len(self.levels), dtype=np.int64)
        self.reach_zero = np.zeros(len(self.levels), dtype=np.int64)
        self.reach_hist = np.zeros((len(self.levels), TIME_BINS), dtype=np.int64)
        stats = np.zeros((len(self.metrics), 5))
        stats[:, 3] = np.inf
        stats[:, 4] = -np.inf
        self.metric_stats = stats
        self.metric_totals = [[0, 0] for _ in self.metrics]
        self.occupancy = np.zeros((len(self.levels) + len(self.outcomes),
                                   occupancy_times(self.horizon).size), dtype=np.int64)
        if self.weighted:
            keys = ["all", *(f"outcome:{o}" for o in self.outcomes),
                    *(f"level:{lv}" for lv in self.levels)]
            self.weight_sums = {k: [ExactSum(), ExactSum()] for k in keys}

    def _add_weights(self, key: str, w: np.ndarray) -> None:
        sw, sw2 = self.weight_sums[key]
        sw.extend(w.tolist())
        sw2.extend((w * w).tolist())
        if w.size:
            self.weight_max[key] = max(self.weight_max.get(key, 0.0), float(w.max()))

    def weighted_of(self, key: str, hits: int, ratio: bool = False) -> Any:
        """The weighted estimate of ``outcome:<label>`` or ``level:<name>`` (or ``all``)
        over every run (failed ones count as misses); with ``ratio`` the ratio estimate
        ``sum(w 1{key}) / sum(w 1{completed})``: the probability among completed runs."""
        sw, sw2 = self.weight_sums[key]
        if not ratio:
            return weighted_estimate(sw.value, sw2.value, hits, self.runs + self.failed)
        aw, aw2 = self.weight_sums["all"]
        return weighted_estimate(sw.value, sw2.value, hits, self.runs + self.failed,
                                 aw.value, aw2.value)

    def add_histories(self, runs: list[tuple[list[list[tuple[float, int]]], float, int]]
                      ) -> None:
        """Add runs' level histories ``(changes of each track, end time, outcome index)``
        to the occupancy counts: each track's level held at each sample time (changes
        are ``(time, index in levels)``), or the outcome that ended a run before the
        horizon (counted once, whatever the number of tracks)."""
        times = occupancy_times(self.horizon)
        n = times.size
        step = times[1] - times[0] if n > 1 else 1.0
        diff = np.zeros((self.occupancy.shape[0], n + 1), dtype=np.int64)
        # every level held: from its change to the next one (or the end), as flat lists
        at: list[float] = []
        until: list[float] = []
        ranks: list[int] = []
        limits: list[int] = []
        rows: list[int] = []  # runs ended before the horizon: their outcome from then on
        starts: list[int] = []
        n_levels = len(self.levels)
        for tracks, end, outcome in runs:
            ended = end < self.horizon
            limit = min(n, math.ceil(end / step - 1e-9)) if ended else n
            for changes in tracks:
                when, rank = zip(*changes, strict=True)
                at.extend(when)
                until.extend(when[1:])
                until.append(math.inf)
                ranks.extend(rank)
                limits.extend([limit] * len(changes))
            if ended and limit < n:
                rows.append(n_levels + outcome)
                starts.append(limit)
        if at:
            cap = np.asarray(limits, dtype=np.int64)
            a = np.minimum(np.ceil(np.asarray(at) / step - 1e-9), cap)
            b = np.ceil(np.asarray(until) / step - 1e-9)
            b = np.minimum(np.where(np.isinf(b), n, b), cap)
            held = b > a
            level = np.asarray(ranks, dtype=np.int64)[held]
            np.add.at(diff, (level, a[held].astype(np.int64)), 1)
            np.add.at(diff, (level, b[held].astype(np.int64)), -1)
        if rows:
            np.add.at(diff, (rows, starts), 1)
            np.add.at(diff, (rows, [n] * len(rows)), -1)
        if at or rows:
            self.occupancy += np.cumsum(diff, axis=1)[:, :n]

    def add_columns(self, cols: dict[str, Any]) -> None:
        """Add a chunk of runs given as columns of the runs table."""
        errors = np.asarray(cols["error"], dtype=object)
        ok = np.array([e is None or e == "" for e in errors], dtype=bool)
        self.runs += int(ok.sum())
        self.failed += int((~ok).sum())
        for idx in np.flatnonzero(~ok)[:5]:
            if len(self.errors) < 5:
                self.errors.append((int(cols["run"][idx]), str(cols["error"][idx])))
        w = np.asarray(cols["weight"], dtype=float)[ok] if self.weighted else None
        if w is not None:
            self._add_weights("all", w)
        for i, (column, name) in enumerate(outcome_columns(self.outcomes)):
            outcome = np.asarray(cols[column], dtype=object)
            self.outcome_counts[i] += int(np.sum(outcome[ok] == name))
            if w is not None:
                self._add_weights(f"outcome:{self.outcomes[i]}", w[outcome[ok] == name])
        scale = TIME_BINS / self.horizon
        for i, lv in enumerate(self.levels):
            t = np.asarray(cols[f"time_to.{lv}"], dtype=float)[ok]
            if w is not None:
                self._add_weights(f"level:{lv}", w[~np.isnan(t)])
            t = t[~np.isnan(t)]
            self.reach_counts[i] += t.size
            self.reach_zero[i] += int(np.sum(t == 0.0))
            bins = np.clip((t * scale).astype(np.int64), 0, TIME_BINS - 1)
            self.reach_hist[i] += np.bincount(bins, minlength=TIME_BINS)
        for path in np.asarray(cols["path"], dtype=object)[ok]:
            if path in self.paths or len(self.paths) < MAX_PATHS:
                self.paths[path] += 1
            else:
                self.paths[_OTHER] += 1
        # exact sums of the end times (every completed run's, NaN included) and of each
        # metric and its squares (NaN left out: a 0.0 in its place)
        values = np.empty((int(ok.sum()), 1 + len(self.metrics)))
        values[:, 0] = np.asarray(cols["end_time"], dtype=float)[ok]
        for i, m in enumerate(self.metrics):
            v = np.asarray(cols[f"metric.{m}"], dtype=float)[ok]
            missing = np.isnan(v)
            values[:, 1 + i] = np.where(missing, 0.0, v)
            v = v[~missing]
            if v.size:
                st = self.metric_stats[i]
                st[0] += v.size
                st[3] = min(st[3], v.min())
                st[4] = max(st[4], v.max())
        totals = column_totals(values)
        if self.exact:
            self.end_time_total = add_totals(self.end_time_total, totals[0][0])
            for i, (s, ss) in enumerate(totals[1:]):
                mine = self.metric_totals[i]
                mine[0], mine[1] = add_totals(mine[0], s), add_totals(mine[1], ss)
            self._round_totals()
        else:  # added to float sums of old chunks: rounded chunk by chunk, as they were
            self.end_time_sum += to_float(totals[0][0], SUM_SCALE)
            for i, (s, ss) in enumerate(totals[1:]):
                self.metric_stats[i, 1] += to_float(s, SUM_SCALE)
                self.metric_stats[i, 2] += to_float(ss, SQUARE_SCALE)

    def _round_totals(self) -> None:
        """The float sums, each its exact sum correctly rounded."""
        self.end_time_sum = to_float(self.end_time_total, SUM_SCALE)
        for i, (s, ss) in enumerate(self.metric_totals):
            self.metric_stats[i, 1] = to_float(s, SUM_SCALE)
            self.metric_stats[i, 2] = to_float(ss, SQUARE_SCALE)

    def merge(self, other: Aggregate) -> None:
        self.runs += other.runs
        self.failed += other.failed
        self.outcome_counts += other.outcome_counts
        self.reach_counts += other.reach_counts
        self.reach_zero += other.reach_zero
        self.reach_hist += other.reach_hist
        for path, n in other.paths.items():
            if path in self.paths or len(self.paths) < MAX_PATHS:
                self.paths[path] += n
            else:
                self.paths[_OTHER] += n
        if len(self.metrics):
            self.metric_stats[:, 0] += other.metric_stats[:, 0]
            self.metric_stats[:, 3] = np.minimum(self.metric_stats[:, 3], other.metric_stats[:, 3])
            self.metric_stats[:, 4] = np.maximum(self.metric_stats[:, 4], other.metric_stats[:, 4])
        if self.exact and other.exact:
            self.end_time_total = add_totals(self.end_time_total, other.end_time_total)
            for mine, theirs in zip(self.metric_totals, other.metric_totals, strict=True):
                mine[0], mine[1] = add_totals(mine[0], theirs[0]), add_totals(mine[1], theirs[1])
            self._round_totals()
        else:  # a chunk written before exact sums: float sums from here on (see ``exact``)
            self.exact = False
            self.end_time_sum += other.end_time_sum
            if len(self.metrics):
                self.metric_stats[:, 1:3] += other.metric_stats[:, 1:3]
        self.errors = (self.errors + other.errors)[:5]
        self.occupancy += other.occupancy
        for key, sums in self.weight_sums.items():
            sums[0].merge(other.weight_sums[key][0])
            sums[1].merge(other.weight_sums[key][1])
        for key, top in other.weight_max.items():
            self.weight_max[key] = max(self.weight_max.get(key, 0.0), top)

    _ARRAYS = ("outcome_counts", "reach_counts", "reach_zero", "reach_hist", "metric_stats",
               "occupancy")

    def dumps(self) -> bytes:
        """The aggregate as bytes (NumPy arrays and JSON, no pickle), to store beside a chunk."""
        meta = {"outcomes": self.outcomes, "levels": self.levels, "horizon": self.horizon,
                "metrics": self.metrics, "runs": self.runs, "failed": self.failed,
                "end_time_sum": self.end_time_sum, "paths": dict(self.paths),
                "errors": self.errors}
        if self.exact:  # hexadecimal integers (sim.batch.exact.encode_total)
            meta["exact_sums"] = {
                "end_time": encode_total(self.end_time_total),
                "metrics": [[encode_total(s), encode_total(ss)] for s, ss in self.metric_totals]}
        if self.weighted:
            meta["weight_sums"] = {k: [a.partials, b.partials]
                                   for k, (a, b) in self.weight_sums.items()}
            meta["weight_max"] = self.weight_max
        sink = io.BytesIO()
        np.savez_compressed(sink, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8),
                            **{name: getattr(self, name) for name in self._ARRAYS})
        return sink.getvalue()

    @classmethod
    def loads(cls, data: bytes) -> Aggregate:
        """Read what :meth:`dumps` wrote; raises ``ValueError`` if it is damaged or claims
        more than :data:`MAX_AGGREGATE_BYTES` when expanded."""
        _check_expanded_size(data)
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                meta = json.loads(npz["meta"].tobytes().decode())
                agg = cls(list(meta["outcomes"]), list(meta["levels"]), float(meta["horizon"]),
                          list(meta["metrics"]), weighted="weight_sums" in meta)
                for name in cls._ARRAYS:
                    value = npz[name]
                    if value.shape != getattr(agg, name).shape:
                        raise ValueError(f"{name} has shape {value.shape}")
                    setattr(agg, name, value.astype(getattr(agg, name).dtype))
        except (OSError, KeyError, EOFError, UnicodeDecodeError, json.JSONDecodeError,
                ValueError, TypeError, MemoryError) as exc:
            raise ValueError(f"damaged aggregate: {str(exc)[:200]}") from None
        try:
            agg.runs, agg.failed = int(meta["runs"]), int(meta["failed"])
            agg.end_time_sum = float(meta["end_time_sum"])
            agg.paths = Counter({str(k): int(v) for k, v in meta["paths"].items()})
            agg.errors = [(int(r), str(e)) for r, e in meta["errors"]]
            agg._load_totals(meta.get("exact_sums"))
            if agg.weighted:
                sums = meta["weight_sums"]
                if set(sums) != set(agg.weight_sums):
                    raise ValueError("weight sums of other outcomes or levels")
                agg.weight_sums = {k: [ExactSum(map(float, a)), ExactSum(map(float, b))]
                                   for k, (a, b) in sums.items()}
                agg.weight_max = {str(k): float(v)
                                  for k, v in dict(meta.get("weight_max", {})).items()}
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
            raise ValueError(f"damaged aggregate: {str(exc)[:200]}") from None
        return agg

    def _load_totals(self, stored: Any) -> None:
        """The exact sums :meth:`dumps` stored; ``None`` for an aggregate written before
        there were any (only its float sums then count: see ``exact``)."""
        if stored is None:
            self.exact = False
            return
        metrics = list(stored["metrics"])
        if len(metrics) != len(self.metrics):
            raise ValueError("exact sums of other metrics")
        self.end_time_total = decode_total(stored["end_time"], SUM_SCALE)
        self.metric_totals = [[decode_total(s, SUM_SCALE), decode_total(ss, SQUARE_SCALE)]
                              for s, ss in metrics]
        self._round_totals()

    def time_quantile(self, level: int, q: float) -> float:
        """Quantile ``q`` of the time to reach a level, among runs that reached it."""
        n = int(self.reach_counts[level])
        if n == 0:
            return math.nan
        rank = q * n
        zeros = int(self.reach_zero[level])
        if rank <= zeros:
            return 0.0
        hist = self.reach_hist[level].astype(float)
        hist[0] -= zeros
        cum = np.cumsum(hist) + zeros
        b = int(np.searchsorted(cum, rank))
        b = min(b, TIME_BINS - 1)
        before = cum[b - 1] if b > 0 else zeros
        inside = hist[b]
        frac = (rank - before) / inside if inside > 0 else 0.0
        width = self.horizon / TIME_BINS
        return float((b + frac) * width)


MAX_AGGREGATE_BYTES = 64 * 1024**2


def outcome_columns(labels: list[str]) -> list[tuple[str, str]]:
    """For each outcome label (``dimension=class`` with several dimensions), the runs
    table's column holding it and the class written there."""
    out = []
    for label in labels:
        dim, eq, name = label.partition("=")
        out.append((f"outcome.{dim}", name) if eq else ("outcome", label))
    return out


def dimensions_of(labels: list[str]) -> list[tuple[str, list[str]]]:
    """The outcome dimensions of a list of labels, in order: ``(name, labels)``; one
    unnamed dimension for labels without ``=``."""
    dims: dict[str, list[str]] = {}
    for label in labels:
        dim, eq, _ = label.partition("=")
        dims.setdefault(dim if eq else "", []).append(label)
    return list(dims.items())


def _check_expanded_size(data: bytes) -> None:
    """Refuse an aggregate whose arrays would expand past the limit (a zip bomb), reading
    only the zip directory and each array's header."""
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            infos = z.infolist()
            if len(infos) > 32:
                raise ValueError("damaged aggregate: too many members")
            total = 0
            for info in infos:
                total += info.file_size
                if total > MAX_AGGREGATE_BYTES:
                    raise ValueError("aggregate larger than any this program writes")
                with z.open(info) as member:
                    version = np.lib.format.read_magic(member)
                    read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                            else np.lib.format.read_array_header_2_0)
                    shape, _, dtype = read(member)
                    if int(np.prod(shape, dtype=np.float64)) * dtype.itemsize > info.file_size:
                        raise ValueError("damaged aggregate: an array is larger than its data")
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ValueError(f"damaged aggregate: {exc}") from None


def occupancy_times(horizon: float) -> np.ndarray:
    """Sample times of the occupancy counts: every clock unit from 0 to the horizon, or
    :data:`OCCUPANCY_STEPS` even steps for long horizons."""
    steps = max(1, min(OCCUPANCY_STEPS, math.ceil(horizon)))
    return np.linspace(0.0, horizon, steps + 1)


def timeline_columns(agg: Aggregate, point: int = 0) -> dict[str, np.ndarray]:
    """Time-indexed aggregates of a set of runs, one row per sample time: ``at.<level>``
    (runs still going, or ended at the horizon, at that level), ``ended.<outcome>``
    (runs that ended earlier with that outcome), ``reached.<level>`` (runs that had
    reached the level by then, to within horizon/4096) and ``runs``."""
    times = occupancy_times(agg.horizon)
    cols: dict[str, np.ndarray] = {"point": np.full(times.size, point, dtype=np.int64),
                                   "time": times}
    for i, lv in enumerate(agg.levels):
        cols[f"at.{lv}"] = agg.occupancy[i]
    for j, o in enumerate(agg.outcomes):
        cols[f"ended.{o}"] = agg.occupancy[len(agg.levels) + j]
    bins = np.minimum((times * TIME_BINS / agg.horizon).astype(np.int64), TIME_BINS - 1)
    for i, lv in enumerate(agg.levels):
        cols[f"reached.{lv}"] = np.cumsum(agg.reach_hist[i])[bins]
    cols["runs"] = np.full(times.size, agg.runs, dtype=np.int64)
    return cols


def summarise(agg: Aggregate, top_paths: int = 20) -> Summary:
    """The summary of a set of runs (``summary.json``)."""
    n = agg.runs
    if agg.weighted:
        return _summarise_weighted(agg)
    outcomes = {}
    for i, name in enumerate(agg.outcomes):
        k = int(agg.outcome_counts[i])
        lo, hi = wilson(k, n)
        outcomes[name] = OutcomeEstimate(k, k / n if n else math.nan, lo, hi)
    levels = {}
    for i, lv in enumerate(agg.levels):
        k = int(agg.reach_counts[i])
        lo, hi = wilson(k, n)
        levels[lv] = LevelReach(k, k / n if n else math.nan, lo, hi,
                                agg.time_quantile(i, 0.5), agg.time_quantile(i, 0.9))
    paths = [PathShare(p, c, c / n if n else math.nan)
             for p, c in agg.paths.most_common(top_paths)]
    metrics = {}
    for i, m in enumerate(agg.metrics):
        cnt, s, ss, mn, mx = agg.metric_stats[i]
        if agg.exact:  # from the exact sums, rounded once: the same for any chunking
            mean = mean_of(agg.metric_totals[i][0], int(cnt))
            sd = sd_of(int(cnt), *agg.metric_totals[i])
        else:  # float sums of chunks written before exact sums (see Aggregate.exact)
            mean = s / cnt if cnt else math.nan
            var = (ss - cnt * mean * mean) / (cnt - 1) if cnt > 1 else math.nan
            sd = math.sqrt(max(var, 0.0)) if cnt > 1 else math.nan
        metrics[m] = MetricStats(int(cnt), mean, sd, mn if cnt else math.nan,
                                 mx if cnt else math.nan)
    if agg.exact:
        mean_end_time = mean_of(agg.end_time_total, n)
    else:
        mean_end_time = agg.end_time_sum / n if n else math.nan
    return Summary(
        runs=n, failed=agg.failed, outcomes=outcomes, levels=levels, paths=paths,
        distinct_paths=len(agg.paths), mean_end_time=mean_end_time,
        metrics=metrics, errors=[RunErrorSample(r, e) for r, e in agg.errors],
        time_quantiles=f"histogram of {TIME_BINS} bins over the horizon, among runs that "
                       f"reached the level")


def _summarise_weighted(agg: Aggregate) -> Summary:
    """The summary of rare-event runs: every probability weighted and self-normalised
    (``sum(w 1{...}) / sum(w)`` over the completed runs: exact for an event every run has,
    and among completed runs, as plain runs report); the target outcome is replaced by its
    own estimate (:func:`sim.batch.weighted.rare_summary`). Paths, metrics and times of
    the tilted runs are left out (they are not the model's)."""
    n = agg.runs
    outcomes = {}
    for i, name in enumerate(agg.outcomes):
        k = int(agg.outcome_counts[i])
        e = agg.weighted_of(f"outcome:{name}", k, ratio=True)
        outcomes[name] = OutcomeEstimate(k, min(max(e.p, 0.0), 1.0) if n else math.nan,
                                         e.lo, e.hi, se=e.se, method=WEIGHTED_METHOD,
                                         ess=e.ess)
    levels = {}
    for i, lv in enumerate(agg.levels):
        k = int(agg.reach_counts[i])
        e = agg.weighted_of(f"level:{lv}", k, ratio=True)
        levels[lv] = LevelReach(k, min(max(e.p, 0.0), 1.0) if n else math.nan, e.lo, e.hi,
                                math.nan, math.nan)
    return Summary(
        runs=n, failed=agg.failed, outcomes=outcomes, levels=levels, paths=[],
        distinct_paths=len(agg.paths), mean_end_time=math.nan,
        errors=[RunErrorSample(r, e) for r, e in agg.errors],
        interval=f"{INTERVAL} (weighted runs)",
        time_quantiles="not estimated from weighted runs")
