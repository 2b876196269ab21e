"""The shapes of a backtest's and a calibration's JSON files, checked on every read: a
file edited by hand (even with its digest recomputed) is refused with a message, never
met with a traceback further on."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sim.errors import ResultsError

__all__ = ["check_backtest", "check_calibration"]

Num = float | None  # NaN and infinity are written as null
Probability = float


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class _Observation(_Model):
    id: str
    kind: Literal["event", "when", "level", "outcome", "not"]
    target: str
    p: Num = Field(ge=0, le=1)
    lo: Num = Field(ge=0, le=1)
    hi: Num = Field(ge=0, le=1)
    brier: Num
    log: Num
    date: Num = None
    time_median: Num = None
    time_q05: Num = None
    time_q95: Num = None
    pit: Num = None
    inside_90: bool | None = None
    crps: Num = None


class _ReadAs(_Model):
    id: str
    kind: Literal["event", "when", "level", "outcome", "not"]
    target: str
    lo: float
    hi: float
    after: float
    date: Num = None


class _Scores(_Model):
    brier: Num
    log: Num
    brier_skill: Num
    log_skill: Num
    reference: str


class _Share(_Model):
    count: int = Field(ge=0)
    p: Num
    lo: Num
    hi: Num
    p_unconditioned: Num = None


class _AsOf(_Model):
    date: str
    time: float
    observations: list[str] = Field(default_factory=list)
    kept: int = Field(default=0, ge=0)
    runs: int = Field(default=0, ge=0)
    effective_sample_size: int = Field(default=0, ge=0)
    outcomes: dict[str, _Share] = Field(default_factory=dict)
    refused: str | None = None


class _Backtest(_Model):
    scenario: str
    runs: int = Field(ge=0)
    seed: int = Field(ge=0)
    observations: list[_Observation] = Field(min_length=1)
    scores: _Scores
    as_of: _AsOf | None = None
    notes: list[str]
    read_as: list[_ReadAs]
    results: str | None = None


class _Parameter(_Model):
    prior: str
    prior_low: float
    prior_high: float
    mean: float
    mode: float | None = None  # written since calibrated variants (older files lack it)
    q05: float
    q95: float


class _Mode(_Model):
    point: int = Field(ge=0)
    accepted: int = Field(ge=0)
    runs: int = Field(ge=0)


class _Calibration(_Model):
    scenario: str
    observations: list[str]
    points: int = Field(ge=1)
    runs_per_point: int = Field(ge=1)
    seed: int = Field(ge=0)
    accepted: int = Field(ge=1)
    runs: int = Field(ge=0)
    acceptance: float = Field(ge=0, le=1)
    effective_sample_size: float = Field(ge=0)
    parameters: dict[str, _Parameter]
    posterior_predictive: dict[str, _Share]
    mode: _Mode | None = None
    notes: list[str]
    results: str | None = None


def _check(model: type[_Model], data: Any, where: str) -> dict[str, Any]:
    try:
        model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        at = ".".join(str(x) for x in err["loc"]) or "(top)"
        raise ResultsError(f"{where}: not a file this program writes ({at}: {err['msg']}); "
                           f"it was edited") from None
    return dict(data)


def check_backtest(data: Any, where: str) -> dict[str, Any]:
    """``backtest.json`` as written, or a :class:`ResultsError` naming what is wrong."""
    out = _check(_Backtest, data, where)
    ids = [o["id"] for o in out["observations"]]
    if [r["id"] for r in out["read_as"]] != ids:
        raise ResultsError(f"{where}: its observations and how they were read disagree; "
                           f"it was edited")
    return out


def check_calibration(data: Any, where: str) -> dict[str, Any]:
    """``calibration.json`` as written, or a :class:`ResultsError` naming what is wrong."""
    return _check(_Calibration, data, where)
