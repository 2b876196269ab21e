"""Sweep files: a sweep's design written down, so it can be reviewed and rerun.

::

    scenario: ../scenarios/bryansk_atacms_2024.yaml   # relative to this file
    vary:
      intercept_prob: 0.5:0.95:10      # LO:HI:STEPS
      retaliation_prob: [0.2, 0.6, 1]  # listed values
      salvo_size: range                # its declared range (lhs/sobol designs)
    design: grid                       # grid | lhs | sobol
    samples: 32                        # points, for lhs/sobol
    runs: 2000                         # per point
    seed: 7
    set: {aid_cut_prob: 0.5}           # other parameters held fixed

Read with the same safe YAML reader as scenarios; problems are located.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from sim.errors import Problem, ScenarioError
from sim.scenario.loader import read_document, validation_problems
from sim.scenario.schema import Whole

__all__ = ["SweepSpec", "load_sweep_spec"]

def _value(value: Any) -> Any:
    if not isinstance(value, (bool, int, float)):
        raise ValueError(f"expected a number or a flag, got {type(value).__name__}")
    return value


Value = Annotated[bool | int | float, BeforeValidator(_value)]


class SweepSpec(BaseModel):
    """A sweep file's content; ``factors()`` gives ``--vary`` strings."""

    model_config = ConfigDict(extra="forbid")

    scenario: str | None = None
    vary: dict[str, str | list[Value] | None] = Field(min_length=1)
    design: Literal["grid", "lhs", "sobol"] = "grid"
    samples: Annotated[Whole, Field(ge=1)] | None = None
    runs: Annotated[Whole, Field(ge=1)] = 1000
    seed: Annotated[Whole, Field(ge=0)] = 0
    set: dict[str, Value] = Field(default_factory=dict)

    @field_validator("vary")
    @classmethod
    def _vary(cls, v: dict[str, Any]) -> dict[str, Any]:
        for name, spec in v.items():
            if isinstance(spec, list) and not spec:
                raise ValueError(f"'{name}' lists no values")
        return v

    def factors(self) -> list[str]:
        out = []
        for name, spec in self.vary.items():
            if spec is None or spec == "range":
                out.append(name)
            elif isinstance(spec, list):
                values = (str(x).lower() if isinstance(x, bool) else str(x) for x in spec)
                out.append(f"{name}={','.join(values)}")
            else:
                out.append(f"{name}={spec}")
        return out


_KEYS = frozenset(SweepSpec.model_fields)


def load_sweep_spec(path: str | os.PathLike[str]) -> tuple[SweepSpec, Path | None]:
    """Read a sweep file; returns it and its scenario's path (relative to the file)."""
    file = Path(path)
    problems: list[Problem] = []
    tree = read_document(file, str(file), _KEYS, problems, what="sweep")
    if tree is None or problems:
        raise ScenarioError(problems)
    try:
        spec = SweepSpec.model_validate(dict(tree))
    except ValidationError as exc:
        raise ScenarioError(validation_problems(tree, exc, str(file), SweepSpec)) from None
    scenario = (file.parent / spec.scenario) if spec.scenario else None
    return spec, scenario
