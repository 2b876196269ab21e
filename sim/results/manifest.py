"""The manifest of a results folder: provenance, settings and progress, validated on read."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    field_validator,
    model_validator,
)

__all__ = ["FORMAT", "MAX_RUNS", "THETA_RANGE", "Manifest", "ParameterValue", "RareSettings",
           "ScenarioRef"]

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


THETA_RANGE = (-3.0, 7.0)  # log-odds tilts of a rare-event estimate lie in this range


class PilotStageInfo(_Model):
    stage: StrictInt = Field(ge=0)
    runs: StrictInt = Field(ge=0)
    hits: StrictInt = Field(ge=0)
    elite: StrictInt = Field(ge=0)
    rule: Literal["hits", "levels", "push"]
    failed: StrictInt | None = Field(default=None, ge=0)  # None: written before it was kept


class RareSettings(_Model):
    """The ``rare`` block of a rare-event estimate's manifest (checked on read; kept as
    written)."""

    method: str = Field(min_length=1, max_length=1000)
    target: str = Field(min_length=1, max_length=1000)
    theta: dict[str, StrictFloat | StrictInt]
    pilot_runs: StrictInt = Field(ge=100, le=10_000_000)
    pilot_stages: StrictInt = Field(ge=1, le=20)
    seed: StrictInt = Field(ge=0)
    untilted_every: StrictInt = Field(ge=1, le=1_000_000)
    alpha: StrictFloat = Field(gt=0.0, le=1.0)
    pilot: list[PilotStageInfo] = Field(default_factory=list)
    pilot_cpu_seconds: StrictFloat | StrictInt | None = None

    @field_validator("theta")
    @classmethod
    def _tilts(cls, theta: dict[str, float]) -> dict[str, float]:
        lo, hi = THETA_RANGE
        for name, value in theta.items():
            if not (math.isfinite(value) and lo <= value <= hi):
                raise ValueError(f"the tilt of {name} is {value!r}, not a number from "
                                 f"{lo:g} to {hi:g}")
        return theta

    @model_validator(mode="after")
    def _pilot_as_stated(self) -> RareSettings:
        """The pilot's stages are the ones its size and stage count say (an edited size
        would be reported as run)."""
        ran = [st.runs + (st.failed or 0) for st in self.pilot]
        if self.pilot and (len(self.pilot) != self.pilot_stages or any(
                n != self.pilot_runs if st.failed is not None else n > self.pilot_runs
                for n, st in zip(ran, self.pilot, strict=True))):
            raise ValueError(f"its pilot ran {len(self.pilot)} stage(s) of "
                             f"{', '.join(map(str, sorted(set(ran))))} runs, not "
                             f"{self.pilot_stages} of {self.pilot_runs}")
        return self


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
    size and seed, the untilted share ``alpha`` and rule (runs whose index is a multiple
    of ``untilted_every``). Its runs are tilted: only weighted sums of them are
    probabilities. Checked by :class:`RareSettings` on read."""

    @field_validator("rare")
    @classmethod
    def _rare_block(cls, rare: dict[str, Any] | None) -> dict[str, Any] | None:
        if rare is not None:
            RareSettings.model_validate(rare)
        return rare

    @model_validator(mode="after")
    def _consistent(self) -> Manifest:
        if self.runs_cap is not None and (self.precision is None or self.runs > self.runs_cap):
            raise ValueError("runs_cap belongs to a --precision batch and bounds its runs")
        if any(k not in self.parameters or self.parameters[k] != v
               for k, v in self.overrides.items()):
            raise ValueError("an override differs from the parameters it overrides")
        if self.rare is not None:
            every = self.rare["untilted_every"]
            if self.rare["alpha"] != math.ceil(self.runs / every) / self.runs:
                raise ValueError("rare.alpha is not the share of runs whose index is a "
                                 "multiple of rare.untilted_every")
            if self.rare["seed"] != self.seed:
                raise ValueError("rare.seed is not the seed")
        if self.kind == "batch":
            from sim.results.chunkfile import parameters_hash

            if parameters_hash(dict(self.parameters)) != self.parameters_hash:
                raise ValueError("the parameters do not match their hash")
        return self

    @property
    def is_sweep(self) -> bool:
        return self.kind == "sweep"
