"""A results folder: the one owner of its layout, manifest, lock, chunks and readers.

Layout (format :data:`~sim.results.manifest.FORMAT`)::

    manifest.json      provenance, settings, progress (validated on read)
    scenario.json      the scenario as run: effective parameter values, overrides marked
    runs/              one Parquet file per chunk (runs/point-NNNN/ in a sweep); each
                       states its identity and checksum (see sim.results.chunkfile)
    events/            traced events, the same chunking (with --trace)
    summary.json       typed summary (a sweep: one per point)
    paths.parquet      every distinct path and its count (a batch)
    timeline.parquet   level occupancy, ended outcomes and level reach over time
    points.parquet     a sweep's design: point -> varied values
    sweep.parquet      a sweep's point x outcome table
    sensitivity.json   sensitivity indices (a sensitivity run)
    plots/, report.html  figures and the report, made from the files above
    .lock              held by the process writing the folder

No other module names these files: everything reads and writes through
:class:`ResultsFolder` (writing) and :class:`Results` (reading).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import ValidationError

from sim.errors import ResultsError
from sim.results.chunkfile import (
    ChunkIdentity,
    ChunkProblem,
    independent_streams,
    point_seed,
    read_chunk,
    read_identity,
    tilt_digest,
)
from sim.results.columns import column
from sim.results.files import dump_json, read_json, write_atomic, write_new
from sim.results.lock import FolderLock
from sim.results.manifest import FORMAT, Manifest
from sim.results.scores import check_backtest, check_calibration
from sim.results.summary import Summary, SweepSummary

if TYPE_CHECKING:
    from sim.scenario import Scenario
    from sim.scenario.schema import ScenarioSpec

__all__ = ["Results", "ResultsFolder", "load_results"]

MANIFEST = "manifest.json"
SCENARIO = "scenario.json"
SUMMARY = "summary.json"
RUNS = "runs"
EVENTS = "events"
PATHS = "paths.parquet"
TIMELINE = "timeline.parquet"
POINTS = "points.parquet"
SWEEP = "sweep.parquet"
SENSITIVITY = "sensitivity.json"
BACKTEST = "backtest.parquet"  # one row per observation, scored
BACKTEST_SCORES = "backtest.json"  # overall scores, the as-of forecast, notes
POSTERIOR = "posterior.parquet"  # a calibration: one row per design point, weighted
CALIBRATION = "calibration.json"  # a calibration's posterior summary
PLOTS = "plots"
REPORT = "report.html"
LOCK = ".lock"
#: What a batch writes when it finishes (derived from its chunks): an unfinished batch's
#: copies are leftovers of an interrupted finish, removed when it is resumed.
FINISH_FILES = (SUMMARY, PATHS, TIMELINE, SWEEP)
PARAM = "param."  # prefix of a varied parameter's column in points.parquet and sweep frames

_FILES = {MANIFEST, SCENARIO, SUMMARY, PATHS, TIMELINE, POINTS, SWEEP, SENSITIVITY, REPORT,
          LOCK, BACKTEST, BACKTEST_SCORES, POSTERIOR, CALIBRATION}
_CHUNK = re.compile(r"^chunk-(\d{6,})\.parquet$")
_POINT = re.compile(r"^point-(\d{4,})$")
_TEMP = re.compile(r"^\..+\.\d+\.tmp$")
_FIGURE = re.compile(r"^[\w.-]+\.(png|svg|pdf)$")


def _status_of(path: Path) -> str:
    try:
        return str(read_json(path / MANIFEST).get("status", ""))[:40]
    except ResultsError:
        return ""


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in blocks."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def chunk_name(chunk: int) -> str:
    return f"chunk-{chunk:06d}.parquet"


def _parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def _read_manifest(path: Path) -> Manifest:
    data = read_json(path / MANIFEST)
    version = data.get("format")
    if version != FORMAT:
        raise ResultsError(
            f"{path}: results format {version!r}, but this version reads format {FORMAT}"
            + (" (written before chunks recorded their identity); run the batch again"
               if version == 1 else ""))
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise ResultsError(f"{path / MANIFEST}: {where}: {first['msg']} "
                           f"({exc.error_count()} problem(s)); the file was edited or "
                           f"damaged") from None


class ResultsFolder:
    """Writes one results folder: create (or take over with ``force``), lock, write."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.lock = FolderLock(self.path, LOCK)
        self.digests: dict[str, str] = {}  # derived files written -> SHA-256

    def _derived(self, name: str, data: bytes) -> None:
        """Write a derived file; its digest goes into the next manifest written."""
        write_atomic(self.path / name, data)
        self.digests[name] = hashlib.sha256(data).hexdigest()

    # --- the folder itself -------------------------------------------------------------

    def _foreign_entries(self) -> list[str]:
        """Entries that this program never writes (empty for a folder of ours)."""
        out: list[str] = []

        def check_chunks(folder: Path, allow_points: bool) -> None:
            for entry in folder.iterdir():
                rel = str(entry.relative_to(self.path))
                if entry.is_symlink():
                    out.append(rel)
                elif entry.is_dir() and allow_points and _POINT.match(entry.name):
                    check_chunks(entry, False)
                elif not (entry.is_file() and (_CHUNK.match(entry.name)
                                               or _TEMP.match(entry.name))):
                    out.append(rel)

        for entry in self.path.iterdir():
            name = entry.name
            if entry.is_symlink():
                out.append(name)
            elif entry.is_file() and (name in _FILES or _TEMP.match(name)):
                continue
            elif entry.is_dir() and name in (RUNS, EVENTS):
                check_chunks(entry, True)
            elif entry.is_dir() and name == PLOTS:
                out += [f"{PLOTS}/{f.name}" for f in entry.iterdir()
                        if f.is_symlink() or not f.is_file() or not _FIGURE.match(f.name)]
            else:
                out.append(name)
        return sorted(out)

    def _check_replaceable(self) -> None:
        """Refuse ``--force`` on a folder that is not provably a results folder of ours."""
        p = self.path
        if not (p / MANIFEST).is_file():
            raise ResultsError(f"{p} is not empty and is not a results folder (no {MANIFEST}): "
                               f"refusing to replace it, even with --force")
        try:
            _read_manifest(p)
        except ResultsError as exc:
            raise ResultsError(f"{exc}; refusing to replace {p}, even with --force") from None
        foreign = self._foreign_entries()
        if foreign:
            shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more"
                                             if len(foreign) > 5 else "")
            raise ResultsError(f"{p} holds files this program does not write ({shown}): "
                               f"refusing to replace it, even with --force")

    def _clear(self) -> None:
        """Remove this program's files (the lock file stays: it is held). The manifest goes
        last, so a folder cleared halfway (a killed process) is still recognisably ours."""
        entries = sorted(self.path.iterdir(), key=lambda e: e.name == MANIFEST)
        for entry in entries:
            if entry.name == LOCK:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()

    def check_new(self, force: bool = False) -> None:
        """Raise the :class:`ResultsError` :meth:`create` would raise before making the
        folder (so long computations before it can fail fast)."""
        p = self.path
        if str(p) in ("", "."):
            raise ResultsError("the results folder cannot be the current folder; give --out")
        if p.is_symlink():
            raise ResultsError(f"{p} is a symbolic link; give the folder itself")
        if p.exists() and not p.is_dir():
            raise ResultsError(f"{p} exists and is not a folder")
        if p.is_dir() and any(p.iterdir()):
            if not force:
                if self.lock.in_use():
                    raise ResultsError(f"{p} is in use by {self.lock.holder()}; wait for it "
                                       f"to finish, or choose another --out")
                if (p / MANIFEST).is_file():
                    status = _status_of(p)
                    hint = (f"resume it with --resume {p}, " if status in
                            ("interrupted", "failed", "running") else "")
                    raise ResultsError(f"{p} already holds results"
                                       + (f" ({status})" if status else "")
                                       + f"; {hint}choose another --out, or pass --force to "
                                       f"replace them")
                raise ResultsError(f"{p} is not empty and is not a results folder; choose "
                                   f"another --out")
            self._check_replaceable()

    def create(self, force: bool = False) -> None:
        """Make the folder and lock it. An existing non-empty folder is refused, unless
        ``force`` and it is one of ours, which is then emptied (under the lock)."""
        p = self.path
        self.check_new(force)
        try:
            p.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ResultsError(f"{p}: cannot create the results folder: "
                               f"{exc.strerror or exc}") from None
        self.lock.acquire()
        try:
            if force:
                if (p / MANIFEST).exists():
                    self._check_replaceable()  # again, now that no one else can write
                self._clear()
            (p / RUNS).mkdir(exist_ok=True)
        except OSError as exc:
            self.lock.release()
            raise ResultsError(f"{p}: cannot prepare the results folder: "
                               f"{exc.strerror or exc}") from None
        except BaseException:
            self.lock.release()
            raise

    def open_existing(self) -> Manifest:
        """Lock an existing results folder (to resume it) and return its manifest."""
        p = self.path
        if p.is_symlink():
            raise ResultsError(f"{p} is a symbolic link; give the folder itself")
        if not p.is_dir():
            raise ResultsError(f"{p}: no such results folder")
        if not (p / MANIFEST).is_file():
            raise ResultsError(f"{p}: not a results folder (no {MANIFEST})")
        self.lock.acquire()
        try:
            return _read_manifest(p)
        except BaseException:
            self.lock.release()
            raise

    def close(self) -> None:
        self.lock.release()

    def drop_leftovers(self, manifest: Manifest) -> list[str]:
        """Before resuming an unfinished batch: remove its end-of-batch files (they are
        written again from the chunks when it finishes). Returns those no manifest
        recorded: the leftovers of a finish that was cut short."""
        dropped = []  # the ones no manifest recorded (an interrupted batch's own are)
        for name in FINISH_FILES:
            path = self.path / name
            if path.is_file() and not path.is_symlink():
                path.unlink()
                if name not in manifest.files:
                    dropped.append(name)
            manifest.files.pop(name, None)
        return dropped

    def damaged_results(self, manifest: Manifest, sweep: bool) -> list[str]:
        """The end-of-batch files of a finished batch that are missing or differ from
        what it wrote (each with why): a resume writes them again from the chunks."""
        wrong = []
        for name in (SUMMARY, TIMELINE, *((SWEEP, POINTS) if sweep else (PATHS,))):
            path = self.path / name
            stated = manifest.files.get(name)
            if path.is_symlink() or not path.is_file():
                wrong.append(f"{name}: missing")
            elif stated is None:
                wrong.append(f"{name}: not recorded in the manifest")
            elif sha256_of(path) != stated:
                wrong.append(f"{name}: differs from the file the batch wrote")
        return wrong

    def __enter__(self) -> ResultsFolder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- files ---------------------------------------------------------------------------

    def write_manifest(self, manifest: Manifest) -> None:
        """The manifest, with the digests of the derived files written so far (write it
        after them: a reader trusts a derived file only when its digest is there)."""
        manifest.files.update(self.digests)
        write_atomic(self.path / MANIFEST, dump_json(manifest.model_dump(exclude_none=True)))

    def write_scenario(self, document: dict[str, Any]) -> None:
        write_atomic(self.path / SCENARIO, dump_json(document))

    def write_summary(self, summary: Summary | SweepSummary) -> None:
        self._derived(SUMMARY, dump_json(summary.as_dict()))

    def write_paths(self, counts: list[tuple[str, int]]) -> None:
        table = pa.Table.from_arrays([column([p for p, _ in counts], pa.string()),
                                      column([c for _, c in counts], pa.int64())],
                                     names=["path", "count"])
        self._derived(PATHS, _parquet_bytes(table))

    def write_timeline(self, table: pa.Table) -> None:
        self._derived(TIMELINE, _parquet_bytes(table))

    def timeline_writer(self) -> TimelineWriter:
        """Streams a sweep's timeline point by point; ``commit`` puts it in place."""
        return TimelineWriter(self.path / TIMELINE, self.digests)

    def write_points(self, varied: list[str], values: list[dict[str, Any]]) -> None:
        """``points.parquet``: one row per point, ``param.<name>`` per varied parameter and
        ``parameters``, the point's effective values as JSON (what its chunks' parameters
        hash is taken of)."""
        table = pa.table({"point": pa.array(range(len(values)), pa.int64()),
                          **{PARAM + v: pa.array([float(p[v]) for p in values], pa.float64())
                             for v in varied},
                          "parameters": pa.array([json.dumps(p, sort_keys=True)
                                                  for p in values], pa.string())})
        self._derived(POINTS, _parquet_bytes(table))

    def write_sweep_table(self, summaries: list[Summary]) -> None:
        """``sweep.parquet``: one row per point and outcome (join ``points.parquet`` on
        ``point`` for the values)."""
        self._derived(SWEEP, _parquet_bytes(sweep_table(summaries)))

    def write_sensitivity(self, data: dict[str, Any]) -> None:
        self._derived(SENSITIVITY, dump_json(data))

    def write_backtest(self, table: bytes, scores: dict[str, Any]) -> None:
        """``backtest.parquet`` (one row per observation) and ``backtest.json``."""
        self._derived(BACKTEST, table)
        self._derived(BACKTEST_SCORES, dump_json(scores))

    def write_calibration(self, table: bytes, summary: dict[str, Any]) -> None:
        """``posterior.parquet`` (one row per design point) and ``calibration.json``."""
        self._derived(POSTERIOR, table)
        self._derived(CALIBRATION, dump_json(summary))

    def chunk_path(self, point: int | None, chunk: int, kind: str = RUNS) -> Path:
        folder = self.path / kind
        if point is not None:
            folder = folder / f"point-{point:04d}"
        return folder / chunk_name(chunk)

    def write_chunk(self, point: int | None, chunk: int, runs: bytes,
                    events: bytes | None = None) -> None:
        """Write a chunk's files; the runs file last, since it marks the chunk complete."""
        for kind, data in ((EVENTS, events), (RUNS, runs)):
            if data is None:
                continue
            path = self.chunk_path(point, chunk, kind)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ResultsError(f"{path.parent}: cannot create: "
                                   f"{exc.strerror or exc}") from None
            write_atomic(path, data)

    # --- resume --------------------------------------------------------------------------

    def _chunk_files(self, kind: str = RUNS) -> Iterator[Path]:
        root = self.path / kind
        if root.is_dir():
            yield from (f for f in root.rglob("*") if not f.is_dir() or f.is_symlink())

    def scan(self, expected: Iterable[ChunkIdentity], sweep: bool
             ) -> tuple[dict[int, tuple[ChunkIdentity, bytes]], list[str]]:
        """Verify the chunk files against the batch's expected chunks.

        Returns the aggregate bytes of every whole, verified chunk (by chunk index) and
        notes on the files that were damaged and removed (to be computed again). A file
        that is whole but of another batch, or a file that is no chunk of this batch, is
        refused (nothing is deleted that might be someone's results)."""
        wanted = {self.chunk_path(e.point if sweep else None, e.chunk): e for e in expected}
        stray = [f for f in self._chunk_files() if f not in wanted and not _TEMP.match(f.name)]
        if stray:
            shown = ", ".join(str(f.relative_to(self.path)) for f in stray[:3])
            raise ResultsError(f"cannot resume {self.path}: {len(stray)} file(s) in "
                               f"{RUNS}/ are not chunks of this batch ({shown}); move them "
                               f"away or start a new folder")
        good: dict[int, tuple[ChunkIdentity, bytes]] = {}
        notes: list[str] = []
        for path, ident in wanted.items():
            if not path.exists() and not path.is_symlink():
                continue
            if path.is_dir() and not path.is_symlink():
                raise ResultsError(f"cannot resume {self.path}: "
                                   f"{path.relative_to(self.path)} is a folder, not a chunk "
                                   f"file; move it away")
            try:
                found, _, aggregate = read_chunk(path, ident)
            except ChunkProblem as exc:
                if exc.foreign:
                    raise ResultsError(f"cannot resume {self.path}: "
                                       f"{path.relative_to(self.path)} is {exc}, going by "
                                       f"{MANIFEST}. If {MANIFEST} was edited, restore it; "
                                       f"otherwise move the file away or start a new "
                                       f"folder") from None
                notes.append(f"{path.relative_to(self.path)}: {exc}; computing it again")
                with contextlib.suppress(OSError):
                    path.unlink()
                continue
            if found.events and not self._events_match(ident, found.events, sweep):
                notes.append(f"{path.relative_to(self.path)}: its traced events are missing "
                             f"or damaged; computing it again")
                with contextlib.suppress(OSError):
                    path.unlink()
                continue
            good[ident.chunk] = (found, aggregate)
        for kind in (RUNS, EVENTS):
            for tmp in self._chunk_files(kind):
                if _TEMP.match(tmp.name):
                    tmp.unlink(missing_ok=True)
        return good, notes

    def _events_match(self, ident: ChunkIdentity, digest: str, sweep: bool) -> bool:
        """Whether the chunk's events file holds what its runs chunk recorded."""
        path = self.chunk_path(ident.point if sweep else None, ident.chunk, EVENTS)
        if path.is_symlink() or not path.is_file():
            return False
        return sha256_of(path) == digest

    def check_complete(self, expected: list[ChunkIdentity], sweep: bool) -> None:
        """The runs of a finished batch are exactly the expected chunks (footers only)."""
        for e in expected:
            path = self.chunk_path(e.point if sweep else None, e.chunk)
            try:
                found = read_identity(path)
            except ChunkProblem as exc:
                raise ResultsError(f"{path}: {exc}") from None
            if found.key() != e.key():
                raise ResultsError(f"{path}: " + "; ".join(found.differences(e)))
        n = sum(1 for f in self._chunk_files() if _CHUNK.match(f.name))
        if n != len(expected):
            raise ResultsError(f"{self.path / RUNS}: {n} chunk files, expected {len(expected)}")

    # --- outputs derived from the folder (figures, report) -------------------------------

    def plots_folder(self) -> Path:
        folder = self.path / PLOTS
        if folder.is_symlink():
            raise ResultsError(f"{folder} is a symbolic link; figures are not written through "
                               f"it (remove it, or give --out)")
        return folder

    def derived_outputs(self) -> list[Path]:
        """Figures and reports made from this folder (stale once more runs are added)."""
        return [p for p in (self.path / REPORT, self.path / PLOTS) if p.exists()]

    def report_path(self) -> Path:
        return self.path / REPORT


def sweep_table(summaries: list[Summary]) -> pa.Table:
    """One row per point and outcome: count, completed runs, probability, 95% interval."""
    rows: dict[str, list[Any]] = {"point": [], "outcome": [], "count": [], "runs": [],
                                  "p": [], "lo": [], "hi": []}
    for s in summaries:
        for outcome, o in s.outcomes.items():
            for key, value in (("point", s.point), ("outcome", outcome), ("count", o.count),
                               ("runs", s.runs), ("p", o.p), ("lo", o.lo), ("hi", o.hi)):
                rows[key].append(value)
    return pa.table({k: pa.array(v, pa.string() if k == "outcome" else
                                 pa.int64() if k in ("point", "count", "runs")
                                 else pa.float64()) for k, v in rows.items()})


class TimelineWriter:
    """Appends tables to a hidden Parquet file; ``commit`` renames it into place."""

    def __init__(self, target: Path, digests: dict[str, str]) -> None:
        self.target = target
        self.tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        self._writer: pq.ParquetWriter | None = None
        self._digests = digests

    def write(self, table: pa.Table) -> None:
        try:
            if self._writer is None:
                self._writer = pq.ParquetWriter(self.tmp, table.schema, compression="zstd")
            self._writer.write_table(table)
        except OSError as exc:
            raise ResultsError(f"{self.target}: cannot write: {exc}") from None

    def commit(self) -> None:
        if self._writer is None:
            return
        try:
            self._writer.close()
            self._writer = None
            digest = sha256_of(self.tmp)
            os.replace(self.tmp, self.target)
            self._digests[self.target.name] = digest
        except OSError as exc:
            raise ResultsError(f"{self.target}: cannot write: {exc}") from None

    def discard(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
            self._writer = None
        self.tmp.unlink(missing_ok=True)


def write_output(path: Path, data: bytes, force: bool) -> None:
    """Write a figure, report or table that a command made from results (never over an
    existing file unless ``force``)."""
    write_new(path, data, force)


@dataclass
class Results:
    """A results folder read back.

    Conventions: ``manifest`` (a validated :class:`Manifest`), ``summary``
    (:class:`Summary` for a batch, :class:`SweepSummary` for a sweep) and ``scenario`` (the
    scenario document as run) are read at load; table properties (``runs``, ``events``,
    ``timeline``, ``paths``, ``points``, ``sweep``) return :class:`pyarrow.Table`;
    ``*_frame()`` methods return pandas DataFrames.
    """

    path: Path
    manifest: Manifest
    summary: Summary | SweepSummary | None
    scenario: dict[str, Any]
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def refuse_rare(self, what: str) -> None:
        """Refuse ``what`` on a rare-event folder: its runs are tilted, so counts, shares
        and figures of them are not probabilities (only its summary's weighted ones are)."""
        rare = self.manifest.rare
        if rare is not None:
            raise ResultsError(
                f"{self.path} holds a rare-event estimate of {rare.get('target')} (run "
                f"--rare): its runs are tilted, so {what} of them would not be "
                f"probabilities. Its weighted estimates are in summary.json (escalation run "
                f"--resume {self.path} prints them); weight runs by the 'weight' column")

    @property
    def spec(self) -> ScenarioSpec:
        """The scenario as run, validated (its tracks, outcome dimensions, ...)."""
        if "spec" not in self._cache:
            self._cache["spec"] = spec_of(self.scenario, self.path / SCENARIO)
        spec: ScenarioSpec = self._cache["spec"]
        return spec

    def scenario_as_written(self) -> Scenario:
        """The scenario this folder ran (a :class:`~sim.scenario.Scenario`), as its file had
        it: overrides taken out, checked against the manifest's content hash."""
        from pydantic import ValidationError

        from sim.errors import ScenarioError
        from sim.results.provenance import original_document
        from sim.scenario import Scenario

        where = self.path / SCENARIO
        if not self.scenario:
            raise ResultsError(f"{where}: missing or empty; the folder cannot be resumed")
        try:
            sc = Scenario.from_document(original_document(self.scenario),
                                        path=self.manifest.scenario.path)
        except (ValidationError, ScenarioError, ValueError, TypeError, KeyError) as exc:
            first = str(exc).splitlines()[0][:300]
            raise ResultsError(f"{where}: not a valid scenario ({first}); the file was "
                               f"edited or damaged") from None
        if sc.content_hash != self.manifest.scenario.content_hash:
            raise ResultsError(f"{where}: its content does not match the manifest's hash; "
                               f"the file was edited")
        return sc

    @property
    def complete(self) -> bool:
        return self.manifest.status == "complete"

    @property
    def is_sweep(self) -> bool:
        return self.manifest.kind == "sweep"

    @property
    def overrides(self) -> dict[str, Any]:
        return dict(self.manifest.overrides)

    def batch_summary(self) -> Summary:
        """The summary of a batch (an error for a sweep or an unfinished folder); for a
        complete folder, checked against its chunks' counts."""
        if not isinstance(self.summary, Summary):
            raise ResultsError(f"{self.path}: no batch summary (status "
                               f"{self.manifest.status}, kind {self.manifest.kind})")
        self._summary_matches_chunks(self.summary)
        return self.summary

    def point_summaries(self) -> list[Summary]:
        if isinstance(self.summary, SweepSummary):
            return self.summary.points
        return [self.batch_summary()]

    def _chunk_files(self, kind: str) -> list[tuple[Path, int | None, int]]:
        """The chunk files of ``runs/`` (or ``events/``) as ``(path, point, chunk)``; any
        other entry there is an error (a renamed, moved or stray file is never read)."""
        root = self.path / kind
        if not root.is_dir() or root.is_symlink():
            return []
        found: list[tuple[Path, int | None, int]] = []

        def take(folder: Path, point: int | None) -> None:
            for entry in sorted(folder.iterdir()):
                m = _CHUNK.match(entry.name)
                if _TEMP.match(entry.name) and not entry.is_dir():
                    continue
                if m and entry.is_file() and not entry.is_symlink():
                    found.append((entry, point, int(m.group(1))))
                elif (point is None and self.is_sweep and entry.is_dir()
                      and not entry.is_symlink() and _POINT.match(entry.name)):
                    take(entry, int(entry.name.split("-")[1]))
                else:
                    raise ResultsError(f"{entry}: not a chunk file of this folder; the folder "
                                       f"was altered (move it away)")

        take(root, None)
        return found

    def _point_hashes(self) -> dict[int, str]:
        """Each sweep point's parameters hash, from ``points.parquet`` (which the manifest's
        digest covers)."""
        from sim.results.chunkfile import parameters_hash

        table = self.points
        try:
            points = table.column("point").to_pylist()
            values = [json.loads(v) for v in table.column("parameters").to_pylist()]
            return {int(p): parameters_hash(v) for p, v in zip(points, values, strict=True)}
        except (KeyError, ValueError, TypeError) as exc:
            raise ResultsError(f"{self.path / POINTS}: damaged: {exc}") from None

    def _expected(self, point: int | None, chunk: int, params: str) -> ChunkIdentity:
        m = self.manifest
        total = m.runs_cap or m.runs
        per_point = -(-total // m.chunk_size)
        p = point or 0
        k = chunk - p * per_point
        start = k * m.chunk_size
        if not 0 <= k < per_point:
            start = -1  # no such chunk: the identity check below names the difference
        seed = point_seed(m.seed, p, independent_streams(m.design))
        return ChunkIdentity(m.scenario.content_hash, params, seed, p, chunk, start,
                             min(total, start + m.chunk_size) if start >= 0 else -1, total,
                             tilt=tilt_digest(m.rare))

    def _verified(self, path: Path, point: int | None, chunk: int,
                  point_params: dict[int, str]) -> pa.Table:
        """A chunk's table after checking its identity (against its place in the folder
        and the manifest) and checksum."""
        try:
            if self.is_sweep:
                if not point_params:
                    point_params.update(self._point_hashes())
                params = point_params.get(point or 0, "")
            else:
                params = self.manifest.parameters_hash
            _, table, _ = read_chunk(path, self._expected(point, chunk, params))
        except ChunkProblem as exc:
            raise ResultsError(f"{path}: {exc}; the folder was altered (resume it to "
                               f"recompute damaged chunks)") from None
        return table

    def _verified_events(self, path: Path, point: int | None, chunk: int) -> pa.Table:
        """An events file, checked against the digest its runs chunk records."""
        from sim.results.files import read_bytes

        runs = self.chunk_file(point, chunk)
        try:
            stated = read_identity(runs).events
        except ChunkProblem as exc:
            raise ResultsError(f"{runs}: {exc}") from None
        data = read_bytes(path, 2 * 1024**3)
        if not stated or hashlib.sha256(data).hexdigest() != stated:
            raise ResultsError(f"{path}: not the events its runs chunk recorded; the folder "
                               f"was altered")
        try:
            return pq.read_table(pa.BufferReader(data))
        except (OSError, pa.ArrowException) as exc:
            raise ResultsError(f"{path}: cannot read: {str(exc)[:200]}") from None

    def _check_events_present(self, files: list[tuple[Path, int | None, int]]) -> None:
        """Every runs chunk that recorded traced events has its events file."""
        have = {(point, chunk) for _, point, chunk in files}
        for runs, point, chunk in self._chunk_files(RUNS):
            if (point, chunk) in have:
                continue
            try:
                stated = read_identity(runs).events
            except ChunkProblem as exc:
                raise ResultsError(f"{runs}: {exc}") from None
            if stated:
                raise ResultsError(f"{self.chunk_file(point, chunk, EVENTS)}: missing (its "
                                   f"runs chunk recorded traced events); resume the folder "
                                   f"to compute them again")

    def chunk_file(self, point: int | None, chunk: int, kind: str = RUNS) -> Path:
        folder = self.path / kind
        if point is not None:
            folder = folder / f"point-{point:04d}"
        return folder / chunk_name(chunk)

    def _chunks(self, kind: str) -> pa.Table:
        files = self._chunk_files(kind)
        folder = self.path / kind
        if kind == EVENTS:
            self._check_events_present(files)
        if not files:
            raise ResultsError(f"{folder}: no {kind} table in this results folder"
                               + (" (run with --trace to record events)"
                                  if kind == EVENTS else ""))
        tables = []
        point_params: dict[int, str] = {}
        for f, point, chunk in files:
            if kind == RUNS:
                t = self._verified(f, point, chunk, point_params)
            else:
                t = self._verified_events(f, point, chunk)
            tables.append(t.replace_schema_metadata(None))
        try:
            table = pa.concat_tables(tables)
        except pa.ArrowException as exc:
            raise ResultsError(f"{folder}: chunks of different shapes: {exc}") from None
        keys = [k for k in ("point", "run") if k in table.column_names]
        if "run" not in keys:
            raise ResultsError(f"{folder}: no run column")
        order = pa.compute.sort_indices(table, sort_keys=[(k, "ascending") for k in keys])
        table = table.take(order)
        meta = {b"sim.time_unit": str(self.scenario.get("clock", {}).get("unit", "")).encode()}
        return table.replace_schema_metadata(meta)

    @property
    def runs(self) -> pa.Table:
        """The runs table: one row per run, sorted by point and run index. Every chunk's
        identity and checksum is verified as it is read."""
        if "runs" not in self._cache:
            table = self._chunks(RUNS)
            self._check_runs(table)
            self._cache["runs"] = table
        return self._cache["runs"]

    def _check_runs(self, table: pa.Table) -> None:
        """Every run 0..n-1 exactly once per point (a complete folder)."""
        if not self.complete:
            return
        n = self.manifest.runs
        points = self.manifest.points
        if table.num_rows != n * points:
            raise ResultsError(f"{self.path / RUNS}: {table.num_rows:,} rows, but the manifest "
                               f"says {points} point(s) x {n:,} runs; the folder was altered")

    def _summary_matches_chunks(self, summary: Summary) -> None:
        """A complete batch's summary counts equal its chunks' (footers only)."""
        if not self.complete or "summary_checked" in self._cache:
            return
        counts: dict[str, int] = {}
        for f, _, _ in self._chunk_files(RUNS):
            try:
                ident = read_identity(f)
            except ChunkProblem as exc:
                raise ResultsError(f"{f}: {exc}") from None
            for k, v in ident.counts.items():
                counts[k] = counts.get(k, 0) + v
        stated = {o: e.count for o, e in summary.outcomes.items() if e.count}
        if summary.failed:
            stated["error"] = summary.failed
        if stated != counts:
            raise ResultsError(f"{self.path / SUMMARY}: its counts differ from the runs' "
                               f"chunks; the file was edited")
        self._cache["summary_checked"] = True

    @property
    def events(self) -> pa.Table:
        """The traced events (``--trace``), by run and time."""
        return self._chunks(EVENTS)

    def _parquet(self, name: str, what: str) -> pa.Table:
        path = self.path / name
        if path.is_symlink() or not path.is_file():
            raise ResultsError(f"{path}: missing ({what})")
        data = _derived_bytes(self.path, name, self.manifest)
        try:
            return pq.read_table(pa.BufferReader(data))
        except (OSError, pa.ArrowException) as exc:
            raise ResultsError(f"{path}: cannot read: {str(exc)[:200]}") from None

    @property
    def timeline(self) -> pa.Table:
        """Level occupancy, ended outcomes and level reach over time, one row per sample
        time (and sweep point)."""
        return self._parquet(TIMELINE, "written when a batch finishes")

    @property
    def paths(self) -> pa.Table:
        """Every distinct path of a batch and its number of runs."""
        return self._parquet(PATHS, "written when a batch finishes")

    @property
    def points(self) -> pa.Table:
        """A sweep's design: one row per point with the varied values."""
        return self._parquet(POINTS, "a sweep's design")

    @property
    def sweep(self) -> pa.Table:
        """A sweep's point x outcome table."""
        return self._parquet(SWEEP, "written when a sweep finishes")

    def sweep_frame(self) -> Any:
        """A sweep's point x outcome table (pandas) with each point's varied values as
        ``param.<name>`` columns."""
        frame = self.sweep.to_pandas()
        return frame.merge(self.points.to_pandas(), on="point", how="left")

    @property
    def varied(self) -> list[str]:
        """A sweep's varied parameters, in design order."""
        return [str(v) for v in (self.manifest.design or {}).get("varied") or []]

    def _written(self, *names: str) -> bool:
        """Whether the batch wrote any of these files (its manifest says so), or one is
        there: a listed file that went missing is then refused when read."""
        return any(n in self.manifest.files or (self.path / n).exists() for n in names)

    @property
    def has_backtest(self) -> bool:
        return self._written(BACKTEST, BACKTEST_SCORES)

    def backtest(self) -> tuple[pa.Table, dict[str, Any]]:
        """A backtest's table (one row per observation) and its scores, verified."""
        if not self.has_backtest:
            raise ResultsError(f"{self.path}: no {BACKTEST} (not a backtest folder)")
        table, data = self._table_and_json(BACKTEST, BACKTEST_SCORES, check_backtest,
                                           "a backtest")
        if table.column("id").to_pylist() != [o["id"] for o in data["observations"]]:
            raise ResultsError(f"{self.path / BACKTEST}: its observations are not those of "
                               f"{BACKTEST_SCORES}; the folder was edited")
        return table, data

    @property
    def has_calibration(self) -> bool:
        return self._written(POSTERIOR, CALIBRATION)

    def calibration(self) -> tuple[pa.Table, dict[str, Any]]:
        """A calibration's posterior table (one row per design point) and its summary."""
        if not self.has_calibration:
            raise ResultsError(f"{self.path}: no {POSTERIOR} (not a calibration folder)")
        return self._table_and_json(POSTERIOR, CALIBRATION, check_calibration,
                                    "a calibration")

    def _table_and_json(self, table: str, name: str,
                        check: Callable[[Any, str], dict[str, Any]], what: str
                        ) -> tuple[pa.Table, dict[str, Any]]:
        """A derived table and its JSON companion, digest- and shape-checked."""
        rows = self._parquet(table, what)
        where = self.path / name
        if where.is_symlink() or not where.is_file():
            raise ResultsError(f"{where}: missing ({what})")
        data = _json_of(_derived_bytes(self.path, name, self.manifest), where)
        return rows, check(data, str(where))

    @property
    def has_sensitivity(self) -> bool:
        return (self.path / SENSITIVITY).is_file()

    def sensitivity(self) -> dict[str, Any]:
        """The indices a sensitivity run wrote."""
        if not self.has_sensitivity:
            raise ResultsError(f"{self.path}: no {SENSITIVITY} (not a sensitivity folder)")
        return _json_of(_derived_bytes(self.path, SENSITIVITY, self.manifest),
                        self.path / SENSITIVITY)

    def runs_frame(self, with_points: bool = False) -> Any:
        """The runs table as a pandas DataFrame; ``with_points`` adds a sweep's varied
        values as columns."""
        frame = self.runs.to_pandas()
        if with_points and self.is_sweep:
            frame = frame.merge(self.points.to_pandas(), on="point", how="left")
        return frame

    def verify(self) -> list[str]:
        """Read every chunk in full and check its place, identity and checksum, the row
        count and the summary; returns the problems found (empty when the folder is sound)."""
        problems = []
        try:
            files = self._chunk_files(RUNS)
        except ResultsError as exc:
            return [str(exc)]
        point_params: dict[int, str] = {}
        rows = 0
        for f, point, chunk in files:
            try:
                rows += self._verified(f, point, chunk, point_params).num_rows
            except ResultsError as exc:
                problems.append(str(exc))
        if not problems and self.complete and rows != self.manifest.runs * self.manifest.points:
            problems.append(f"{self.path / RUNS}: {rows:,} rows, expected "
                            f"{self.manifest.runs * self.manifest.points:,}")
        if not problems and isinstance(self.summary, Summary):
            try:
                self.batch_summary()
            except ResultsError as exc:
                problems.append(str(exc))
        return problems


def load_results(path: str | Path, summary: bool = True) -> Results:
    """Read a results folder written by ``escalation run``/``sweep``/``sensitivity`` or the
    library; its manifest and summary are validated. Without ``summary`` the summary is
    not read (resuming needs only what the batch was, and rewrites a damaged one)."""
    p = Path(path)
    if str(path) == "":
        raise ResultsError("no results folder given")
    if not p.is_dir():
        raise ResultsError(f"{p}: no such results folder")
    manifest = _read_manifest(p)
    found: Summary | SweepSummary | None = None
    leftover = manifest.status != "complete" and SUMMARY not in manifest.files
    if summary and (p / SUMMARY).exists() and not leftover:  # (an interrupted finish's)
        data = _json_of(_derived_bytes(p, SUMMARY, manifest), p / SUMMARY)
        where = str(p / SUMMARY)
        found = SweepSummary.from_dict(data, where) if manifest.kind == "sweep" \
            else Summary.from_dict(data, where)
    scenario = read_json(p / SCENARIO)
    if _document_hash(scenario) != manifest.scenario.content_hash:
        raise ResultsError(f"{p / SCENARIO}: does not match the scenario hash in the "
                           f"manifest; the file was edited or damaged")
    results = Results(p, manifest, found, scenario)
    if found is not None:
        spec = results.spec
        for s in ([found] if isinstance(found, Summary) else found.points):
            s.check(str(p / SUMMARY), spec.outcome_labels, spec.level_ids)
    return results


def spec_of(document: dict[str, Any], where: Path) -> ScenarioSpec:
    """A saved scenario document (its provenance marks taken out), validated."""
    from pydantic import ValidationError

    from sim.results.provenance import original_document
    from sim.scenario.schema import ScenarioSpec

    try:
        return ScenarioSpec.model_validate(original_document(document))
    except ValidationError as exc:
        raise ResultsError(f"{where}: not a scenario this version reads: "
                           f"{exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}") from None


DERIVED_LIMIT = 4 * 1024**3


def _derived_bytes(folder: Path, name: str, manifest: Manifest) -> bytes:
    """A derived file's bytes, checked against the digest the manifest recorded."""
    from sim.results.files import read_bytes

    data = read_bytes(folder / name, DERIVED_LIMIT)
    stated = manifest.files.get(name)
    if stated is None:
        raise ResultsError(f"{folder / name}: not recorded in the manifest (written by an "
                           f"unfinished batch, or added by hand)")
    if hashlib.sha256(data).hexdigest() != stated:
        raise ResultsError(f"{folder / name}: differs from the file the batch wrote (its "
                           f"digest is not the manifest's); the file was edited")
    return data


def _json_of(data: bytes, where: Path) -> dict[str, Any]:
    try:
        value = json.loads(data.decode("utf-8"),
                           parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ResultsError(f"{where}: not valid JSON: {str(exc)[:200]}") from None
    if not isinstance(value, dict):
        raise ResultsError(f"{where}: not a JSON object")
    return value


def _document_hash(document: dict[str, Any]) -> str:
    from sim.results.provenance import original_document
    from sim.scenario.scenario import content_hash

    try:
        return content_hash(original_document(document))
    except (TypeError, ValueError, AttributeError):
        return ""
