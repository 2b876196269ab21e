"""The manifest of a results folder: provenance, settings and progress, validated on read."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    model_validator,
)

__all__ = ["FORMAT", "MAX_RUNS", "Manifest", "ParameterValue", "ScenarioRef"]

FORMAT = 2  # 1: chunks without identity; 2: chunks state their identity and checksum
MAX_RUNS = 1_000_000_000  # runs per parameter point
ParameterValue = StrictBool | StrictInt | StrictFloat
Status = Literal["running", "complete", "interrupted", "failed", "failed to start"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class ScenarioRef(_Model):
    name: str = Field(max_length=200)
    title: str | None = None
    path: str | None = None
    files: list[str] = Field(default_factory=list)
    content_hash: str = Field(pattern=r"^[0-9a-f]{64}$")


class Chunks(_Model):
    total: StrictInt = Field(ge=1)
    complete: list[StrictInt] = Field(default_factory=list)


class ExecutorInfo(_Model):
    kind: str
    workers: StrictInt = Field(ge=1)


class Resumed(_Model):
    at: str
    chunks_found: StrictInt = Field(ge=0)
    chunks_to_run: StrictInt = Field(ge=0)
    command: list[str]


class ColumnInfo(_Model):
    name: str
    kind: str
    doc: str
    unit: str | None = None


class Manifest(_Model):
    """``manifest.json``. ``parameters`` are the effective values (for a sweep: the values
    every point starts from); ``overrides`` the ones set on the command line or by the
    sweep file, which differ from the scenario file's."""

    format: StrictInt
    kind: Literal["batch", "sweep"]
    status: Status
    scenario: ScenarioRef
    parameters: dict[str, ParameterValue]
    overrides: dict[str, ParameterValue] = Field(default_factory=dict)
    parameters_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    seed: StrictInt = Field(ge=0)
    runs: StrictInt = Field(ge=1, le=MAX_RUNS)
    chunk_size: StrictInt = Field(ge=1, le=1_000_000)
    seeding: dict[str, str]
    trace: StrictInt = Field(ge=0)
    versions: dict[str, str]
    command: list[str]
    started: str
    finished: str | None = None
    seconds: StrictFloat | StrictInt | None = None
    runs_per_second: StrictFloat | StrictInt | None = None
    peak_memory_mib: dict[str, StrictFloat | StrictInt] | None = None
    chunks: Chunks
    executor: ExecutorInfo
    precision: StrictFloat | None = None
    runs_cap: StrictInt | None = Field(default=None, ge=1, le=MAX_RUNS)
    resumed: list[Resumed] = Field(default_factory=list)
    design: dict[str, Any] | None = None
    points: StrictInt = Field(default=1, ge=1)
    points_hash: str | None = None
    columns: list[ColumnInfo] = Field(default_factory=list)
    error: str | None = None
    files: dict[str, str] = Field(default_factory=dict)  # derived file -> SHA-256
    probes: list[dict[str, Any]] | None = None  # what every run watched (a backtest)
    rare: dict[str, Any] | None = None
    """A rare-event estimate (``run --rare``): method, target, each trigger's tilt, pilot
    size and seed. Its runs are tilted: only weighted sums of them are probabilities."""

    @model_validator(mode="after")
    def _consistent(self) -> Manifest:
        if self.runs_cap is not None and (self.precision is None or self.runs > self.runs_cap):
            raise ValueError("runs_cap belongs to a --precision batch and bounds its runs")
        if any(k not in self.parameters or self.parameters[k] != v
               for k, v in self.overrides.items()):
            raise ValueError("an override differs from the parameters it overrides")
        if self.kind == "batch":
            from sim.results.chunkfile import parameters_hash

            if parameters_hash(dict(self.parameters)) != self.parameters_hash:
                raise ValueError("the parameters do not match their hash")
        return self

    @property
    def is_sweep(self) -> bool:
        return self.kind == "sweep"
