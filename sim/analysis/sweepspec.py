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
    WithJsonSchema,
    field_validator,
)

from sim.scenario.documents import read_model
from sim.scenario.loader import read_document
from sim.scenario.schema import Whole

__all__ = ["SweepSpec", "describe_sweep_file", "is_sweep_file", "load_sweep_spec",
           "sweep_json_schema"]

def _value(value: Any) -> Any:
    if not isinstance(value, (bool, int, float)):
        raise ValueError(f"expected a number or a flag, got {type(value).__name__}")
    return value


Value = Annotated[bool | int | float, BeforeValidator(_value)]


_VALUES_SCHEMA = WithJsonSchema({"type": "array", "minItems": 1,
                                 "items": {"type": ["boolean", "number"]}})


class SweepSpec(BaseModel):
    """A sweep file's content; ``factors()`` gives ``--vary`` strings."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    scenario: Annotated[str | None, Field(examples=["../bryansk_atacms_2024.yaml"])] = None
    """The scenario file, relative to the sweep file (a scenario given on the command line
    wins)."""
    vary: dict[str, str | Annotated[list[Value], _VALUES_SCHEMA] | None] = Field(
        min_length=1, examples=[{"intercept_prob": "0.5:0.95:10", "retaliation_prob":
                                 [0.2, 0.6, 1], "salvo_size": "range"}])
    """The parameters varied, each ``LO:HI:STEPS`` (STEPS evenly spaced values from LO to
    HI; 5 when ``:STEPS`` is left out), a list of values (or ``V1,V2,...``), or ``range``
    (or nothing) for its declared range, from which lhs and sobol designs draw."""
    design: Annotated[Literal["grid", "lhs", "sobol"], Field(examples=["lhs"])] = "grid"
    """``grid`` (every combination of the listed values), ``lhs`` (Latin hypercube) or
    ``sobol`` (scrambled Sobol' points)."""
    samples: Annotated[Annotated[Whole, Field(ge=1)] | None, Field(examples=[32])] = None
    """Points of an lhs or sobol design; by default the power of two at or above ten per
    varied parameter, at least 8 (16 for one parameter, 32 for two or three)."""
    runs: Annotated[Whole, Field(ge=1, examples=[2000])] = 1000
    """Runs at each point; every point uses the same random streams."""
    seed: Annotated[Whole, Field(ge=0, examples=[7])] = 0
    """The root seed."""
    set: dict[str, Value] = Field(default_factory=dict, examples=[{"aid_cut_prob": 0.5}])
    """Other parameters, held at these values at every point."""

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


def sweep_json_schema() -> dict[str, Any]:
    """The JSON Schema of a sweep file (``escalation schema --sweep``)."""
    from sim.scenario.schema_json import model_json_schema

    return model_json_schema(SweepSpec, "escalation sweep file",
                             "A sweep's design written down: a scenario, the parameters "
                             "varied, the design, runs per point and seed.")


def load_sweep_spec(path: str | os.PathLike[str]) -> tuple[SweepSpec, Path | None]:
    """Read a sweep file; returns it and its scenario's path (relative to the file)."""
    file = Path(path)
    spec, _ = read_model(file, SweepSpec, _KEYS, "sweep")
    scenario = (file.parent / spec.scenario) if spec.scenario else None
    return spec, scenario


def is_sweep_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` holds a sweep file rather than a scenario: a YAML mapping with a
    sweep file's keys and none of a scenario's."""
    from sim.scenario.loader import SCENARIO_KEYS

    file = Path(path)
    tree = read_document(file, str(file), _KEYS, [], what="sweep")
    return tree is not None and not any(k in SCENARIO_KEYS for k in tree)


def describe_sweep_file(path: str | os.PathLike[str]) -> str:
    """Check a sweep file, the scenario it names and the parameters it varies and sets;
    describe it in one line. Raises :class:`ScenarioError` with the problems found."""
    from sim.analysis.designs import expand, parse_factor
    from sim.scenario.loader import load_scenario

    spec, scenario = load_sweep_spec(path)
    run_it = f"run it with escalation sweep --spec {path}"
    if scenario is None:
        return (f"a sweep file without a scenario ({run_it} SCENARIO): "
                f"{len(spec.vary)} parameters varied, {spec.design} design")
    loaded = load_scenario(scenario)
    loaded.resolve_parameters(dict(spec.set))
    factors = [parse_factor(loaded, f) for f in spec.factors()]
    points = len(expand(factors, spec.design, spec.samples, spec.seed))
    varied = ", ".join(f.name for f in factors)
    return (f"a sweep file ({run_it}): {varied} varied, {spec.design} design of "
            f"{points:,} points, {spec.runs:,} runs per point, scenario "
            f"{os.path.normpath(scenario)}")
