"""Results folders: writing a batch's files, and reading them back.

A folder holds ``manifest.json`` (provenance and completed chunks),
``scenario.json`` (the resolved scenario), ``runs/`` (Parquet, one file per
chunk), ``summary.json`` and, when traced, ``events/``. Every file is written
atomically; an existing folder is never overwritten unless asked.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from sim.errors import ResultsError
from sim.results.files import dump_json, write_atomic

__all__ = ["Results", "ResultsWriter", "chunk_name", "load_results"]

FORMAT = 1


def chunk_name(chunk: int) -> str:
    return f"chunk-{chunk:06d}.parquet"


class ResultsWriter:
    """Writes one results folder."""

    def __init__(self, path: str | Path, force: bool = False) -> None:
        self.path = Path(path)
        self.force = force
        self.manifest: dict[str, Any] = {}

    def create(self) -> None:
        """Make the folder; refuse an existing non-empty one unless ``force``."""
        p = self.path
        if p.exists() and not p.is_dir():
            raise ResultsError(f"{p} exists and is not a folder")
        if p.is_dir() and any(p.iterdir()):
            if not self.force:
                raise ResultsError(
                    f"{p} already holds results; choose another --out, or pass --force to "
                    f"replace them")
            if not (p / "manifest.json").is_file():
                raise ResultsError(f"{p} is not empty and not a results folder: "
                                   f"refusing to delete it even with --force")
            shutil.rmtree(p)
        try:
            (p / "runs").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ResultsError(f"{p}: cannot create the results folder: "
                               f"{exc.strerror or exc}") from None

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        self.manifest = manifest
        write_atomic(self.path / "manifest.json", dump_json({"format": FORMAT, **manifest}))

    def write_json(self, name: str, value: Any) -> None:
        write_atomic(self.path / name, dump_json(value))

    def write_file(self, name: str, data: bytes) -> None:
        write_atomic(self.path / name, data)

    def write_chunk(self, kind: str, chunk: int, data: bytes) -> None:
        folder = self.path / kind
        if not folder.is_dir():
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ResultsError(f"{folder}: cannot create: {exc.strerror or exc}") from None
        write_atomic(folder / chunk_name(chunk), data)


@dataclass
class Results:
    """A results folder read back: its manifest, summary and scenario, and its tables."""

    path: Path
    manifest: dict[str, Any]
    summary: dict[str, Any]
    scenario: dict[str, Any]

    def _table(self, kind: str) -> pa.Table:
        folder = self.path / kind
        files = sorted(folder.rglob("chunk-*.parquet")) if folder.is_dir() else []
        if not files:
            raise ResultsError(f"{folder}: no {kind} table in this results folder"
                               + (" (run with --trace to record events)"
                                  if kind == "events" else ""))
        try:
            table = pa.concat_tables([pq.read_table(f) for f in files])
        except (OSError, pa.ArrowInvalid) as exc:
            raise ResultsError(f"{folder}: cannot read: {exc}") from None
        sort = [("point", "ascending"), ("run", "ascending")] if "point" in \
            table.column_names else [("run", "ascending")]
        if kind == "events":
            sort = [("run", "ascending")]
            return table.take(pa.compute.sort_indices(table, sort_keys=sort))
        return table.sort_by(sort)

    @property
    def runs(self) -> pa.Table:
        """The runs table (one row per run, sorted by point and run index)."""
        return self._table("runs")

    @property
    def events(self) -> pa.Table:
        """The traced events (``--trace``), by run and time."""
        return self._table("events")

    @property
    def timeline(self) -> pa.Table:
        """Level occupancy, ended outcomes and level reach over time (``timeline.parquet``),
        one row per sample time (and sweep point)."""
        path = self.path / "timeline.parquet"
        if not path.is_file():
            raise ResultsError(f"{path}: missing (written when a batch finishes)")
        try:
            return pq.read_table(path)
        except (OSError, pa.ArrowInvalid) as exc:
            raise ResultsError(f"{path}: cannot read: {exc}") from None

    def runs_frame(self) -> Any:
        """The runs table as a pandas DataFrame."""
        return self.runs.to_pandas()


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultsError(f"{path}: missing; is {path.parent} a results folder?") from None
    except (OSError, ValueError) as exc:
        raise ResultsError(f"{path}: cannot read: {exc}") from None
    if not isinstance(value, dict):
        raise ResultsError(f"{path}: not a JSON object")
    return value


def load_results(path: str | Path) -> Results:
    """Read a results folder written by ``escalation run`` or :func:`sim.run_batch`."""
    p = Path(path)
    if not p.is_dir():
        raise ResultsError(f"{p}: no such results folder")
    manifest = _read_json(p / "manifest.json")
    summary = _read_json(p / "summary.json") if (p / "summary.json").is_file() else {}
    scenario = _read_json(p / "scenario.json") if (p / "scenario.json").is_file() else {}
    return Results(p, manifest, summary, scenario)
