"""A chunk file: one Parquet file of runs that proves what it is.

Its key-value metadata holds, as UTF-8 text (so every Parquet reader accepts it):

- ``sim.chunk``: the chunk's identity, JSON: format version, scenario content hash,
  effective-parameters hash, root seed, point, chunk index, run range, row count, the
  per-outcome counts of its rows, and a checksum;
- ``sim.aggregate``: the chunk's streamed aggregates (opaque bytes, base64).

The checksum is SHA-256 over the table's content digest, the aggregate bytes and the
identity itself, so a flipped byte in the data, an edited aggregate or an edited
identity is detected when the file is verified.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sim.results.digest import table_digest

__all__ = ["CHUNK_FORMAT", "MAX_CHUNK_ROWS", "ChunkIdentity", "ChunkProblem", "encode_chunk",
           "parameters_hash", "read_chunk", "read_identity", "tilt_digest"]

CHUNK_FORMAT = 2
IDENTITY_KEY = b"sim.chunk"
AGGREGATE_KEY = b"sim.aggregate"
MAX_CHUNK_BYTES = 2 * 1024**3
MAX_CHUNK_ROWS = 1_000_000  # runs in one chunk (the largest --chunk-size)
MAX_COLUMNS = 100_000


def parameters_hash(values: dict[str, Any]) -> str:
    """SHA-256 of effective parameter values (sorted JSON)."""
    text = json.dumps(values, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ChunkIdentity:
    """What a chunk is: which batch (scenario, parameters, seed), which runs."""

    scenario_hash: str
    parameters_hash: str
    seed: int
    point: int
    chunk: int
    start: int
    stop: int
    total: int = 0  # runs per point of the whole batch (the cap of a --precision batch)
    format: int = CHUNK_FORMAT
    counts: dict[str, int] = field(default_factory=dict)  # rows per outcome (incl. "error")
    events: str = ""  # SHA-256 of the chunk's events file (traced runs), or ""
    checksum: str = ""
    tilt: str = ""  # rare-event runs: SHA-256 of the settings they ran with (tilt_digest)

    @property
    def rows(self) -> int:
        return self.stop - self.start

    def key(self) -> tuple[Any, ...]:
        """The fields that say which batch and which runs (not the content)."""
        return (self.format, self.scenario_hash, self.parameters_hash, self.seed, self.point,
                self.chunk, self.start, self.stop, self.total, self.tilt)

    def differences(self, expected: ChunkIdentity) -> list[str]:
        """How this identity differs from the expected one, in words."""
        out = []
        for name in ("format", "scenario_hash", "parameters_hash", "seed", "point", "chunk",
                     "start", "stop", "total", "tilt"):
            mine, theirs = getattr(self, name), getattr(expected, name)
            if name == "tilt" and mine != theirs:
                out.append("tilted runs, not plain ones" if not theirs else
                           "plain runs, not tilted ones" if not mine else
                           "runs with other tilts (rare-event settings)")
            elif mine != theirs:
                shown = (str(mine)[:12], str(theirs)[:12]) if "hash" in name else (mine, theirs)
                out.append(f"{name.replace('_', ' ')} {shown[0]} (expected {shown[1]})")
        return out


def _outcome_columns(table: pa.Table) -> list[str]:
    return [n for n in table.column_names if n == "outcome" or n.startswith("outcome.")]


def point_seed(seed: int, point: int, independent: bool) -> int:
    """The seed a point's runs draw from: the root seed (every point reuses the same
    streams: common random numbers), or, for a design with independent streams (a
    calibration), one drawn from ``SeedSequence([seed, point])``."""
    if not independent:
        return seed
    state = np.random.SeedSequence([seed, point]).generate_state(1, np.uint64)
    return int(state[0]) >> 1  # 63 bits, as seeds are


def independent_streams(design: dict[str, Any] | None) -> bool:
    """Whether a design gives each point its own streams."""
    return bool(design) and (design or {}).get("streams") == "independent"


def _counts(table: pa.Table) -> dict[str, int]:
    """Runs per outcome label (``dimension=class`` with several dimensions; a failed run
    counts once as ``error``)."""
    outcomes: list[str] = []
    for i, name in enumerate(_outcome_columns(table)):
        dim = name.partition(".")[2]
        for o in table.column(name).to_pylist():
            if str(o) != "error":
                outcomes.append(f"{dim}={o}" if dim else str(o))
            elif i == 0:
                outcomes.append("error")
    if not outcomes:
        return {}
    values, counts = np.unique(np.asarray(outcomes, dtype=str), return_counts=True)
    return {str(v): int(c) for v, c in zip(values.tolist(), counts.tolist(), strict=True)}


def tilt_digest(rare: dict[str, Any] | None) -> str:
    """SHA-256 of the rare-event settings runs are drawn with (method, target, tilts,
    untilted share and rule); "" for plain runs."""
    if rare is None:
        return ""
    keys = ("method", "target", "theta", "alpha", "untilted_every")
    text = json.dumps({k: rare.get(k) for k in keys}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _checksum(identity: ChunkIdentity, table: pa.Table, aggregate: bytes) -> str:
    body = asdict(identity)
    body.pop("checksum")
    if not body["tilt"]:
        del body["tilt"]  # plain chunks: as before rare-event runs existed
    h = hashlib.sha256()
    h.update(json.dumps(body, sort_keys=True).encode())
    h.update(table_digest(table).encode())
    h.update(hashlib.sha256(aggregate).digest())
    return h.hexdigest()


def encode_chunk(table: pa.Table, identity: ChunkIdentity, aggregate: bytes) -> bytes:
    """The Parquet bytes of a chunk: ``table`` with its identity and aggregate stored."""
    ident = ChunkIdentity(**{**asdict(identity), "counts": _counts(table), "checksum": ""})
    ident = ChunkIdentity(**{**asdict(ident), "checksum": _checksum(ident, table, aggregate)})
    meta = dict(table.schema.metadata or {})
    meta[IDENTITY_KEY] = json.dumps(asdict(ident), sort_keys=True).encode("utf-8")
    meta[AGGREGATE_KEY] = base64.b64encode(aggregate)
    sink = io.BytesIO()
    pq.write_table(table.replace_schema_metadata(meta), sink, compression="zstd")
    return sink.getvalue()


class ChunkProblem(Exception):
    """A chunk file is damaged, foreign or not a chunk (not raised past the results layer)."""

    def __init__(self, message: str, foreign: bool = False) -> None:
        super().__init__(message)
        self.foreign = foreign  # whole and valid, but of another batch


def _identity_from(meta: dict[bytes, bytes] | None) -> ChunkIdentity:
    raw = (meta or {}).get(IDENTITY_KEY)
    if raw is None:
        raise ChunkProblem("no chunk identity (not written by this version)")
    try:
        data = json.loads(raw.decode("utf-8"))
        counts = {str(k): int(v) for k, v in dict(data.pop("counts")).items()}
        ident = ChunkIdentity(**{k: data[k] for k in (
            "scenario_hash", "parameters_hash", "seed", "point", "chunk", "start", "stop",
            "total", "format", "events", "checksum")}, counts=counts,
            tilt=str(data.get("tilt", "")))
        if not all(isinstance(getattr(ident, k), int) for k in ("seed", "point", "chunk",
                                                                 "start", "stop", "total")):
            raise TypeError("a whole number is not one")
        return ident
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ChunkProblem(f"damaged chunk identity: {exc}") from None


def read_identity(path: Path) -> ChunkIdentity:
    """The identity a chunk file states (its footer only; the data is not verified)."""
    try:
        meta = pq.read_schema(path).metadata
    except (OSError, pa.ArrowException) as exc:
        raise ChunkProblem(f"unreadable: {exc}") from None
    return _identity_from(meta)


def read_chunk(path: Path, expected: ChunkIdentity | None = None
               ) -> tuple[ChunkIdentity, pa.Table, bytes]:
    """Read and verify a chunk file: identity (against ``expected``), row count, run
    indices, outcome counts and checksum. Returns its identity, table and aggregate bytes;
    raises :class:`ChunkProblem` saying what is wrong."""
    try:
        if not path.is_file() or path.is_symlink():
            raise ChunkProblem("not a regular file")
        if path.stat().st_size > MAX_CHUNK_BYTES:
            raise ChunkProblem("larger than any chunk this program writes")
        meta = pq.read_metadata(path)  # the footer first: nothing is expanded before it
    except ChunkProblem:
        raise
    except (OSError, pa.ArrowException, ValueError) as exc:
        raise ChunkProblem(f"unreadable: {str(exc)[:200]}") from None
    ident = _identity_from(meta.metadata)
    if expected is not None and ident.key() != expected.key():
        raise ChunkProblem("of another batch: " + "; ".join(ident.differences(expected)),
                           foreign=True)
    if meta.num_rows != ident.rows or not 0 < ident.rows <= MAX_CHUNK_ROWS \
            or meta.num_columns > MAX_COLUMNS:
        raise ChunkProblem(f"{meta.num_rows} rows, expected {ident.rows}")
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException, ValueError) as exc:
        raise ChunkProblem(f"unreadable: {str(exc)[:200]}") from None
    try:
        aggregate = base64.b64decode((table.schema.metadata or {}).get(AGGREGATE_KEY, b""),
                                     validate=True)
    except ValueError:
        raise ChunkProblem("damaged aggregate") from None
    table = table.replace_schema_metadata(
        {k: v for k, v in (table.schema.metadata or {}).items()
         if k not in (IDENTITY_KEY, AGGREGATE_KEY)})
    if table.num_rows != ident.rows or "run" not in table.column_names \
            or not _outcome_columns(table):
        raise ChunkProblem(f"{table.num_rows} rows, expected {ident.rows}")
    runs = table.column("run").to_numpy()
    if not np.array_equal(runs, np.arange(ident.start, ident.stop)):
        raise ChunkProblem(f"its run indices are not {ident.start}..{ident.stop - 1}")
    if _counts(table) != ident.counts:
        raise ChunkProblem("its outcome counts do not match its identity")
    if _checksum(ident, table, aggregate) != ident.checksum:
        raise ChunkProblem("checksum mismatch: the data, aggregate or identity was altered")
    return ident, table, aggregate
