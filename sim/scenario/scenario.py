"""A loaded scenario: its validated spec, compiled expressions and provenance."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sim.errors import Problem, ScenarioError
from sim.scenario.checks import Path, build_symbols, check_scenario, dotted
from sim.scenario.expressions import CompiledExpression, Symbols, did_you_mean
from sim.scenario.schema import Parameter, ScenarioSpec
from sim.scenario.yamlfile import resolve_plain

__all__ = ["Scenario", "content_hash", "parse_parameter_value"]

def content_hash(document: Mapping[str, Any]) -> str:
    """SHA-256 of a document's JSON in file order (order matters: triggers run in it)."""
    text = json.dumps(document, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def parse_parameter_value(name: str, param: Parameter, text: str) -> bool | int | float:
    """Read a parameter value given as text (as on the command line).

    The text is read as the file's values are: a YAML 1.2 plain scalar (``true``,
    ``false``, ``12``, ``0.5``, ``1e-3``, ``0x1F``), which must be a finite number for
    a numeric parameter and a boolean for a flag.
    """
    value, error = resolve_plain(text.strip())
    if error:
        raise ValueError(f"parameter '{name}': {error}")
    if isinstance(param.value, bool):
        if not isinstance(value, bool):
            raise ValueError(f"parameter '{name}' is a flag: give true or false, got '{text}'")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"parameter '{name}' takes a number, got '{text}'")
    return value


@dataclass(frozen=True)
class Scenario:
    """A checked scenario, ready to run. Made by :func:`sim.load_scenario`."""

    spec: ScenarioSpec
    document: dict[str, Any]
    expressions: Mapping[Path, CompiledExpression]
    symbols: Symbols
    content_hash: str
    path: str | None = None
    files: tuple[str, ...] = ()
    warnings: tuple[Problem, ...] = ()
    """Located warnings of the load (a date after the horizon...): the file still runs."""
    _defaults: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, spec: ScenarioSpec, document: dict[str, Any],
              expressions: Mapping[Path, CompiledExpression], path: str | None = None,
              files: tuple[str, ...] = (), warnings: tuple[Problem, ...] = ()) -> Scenario:
        plain = json.loads(json.dumps(document, default=str))
        return cls(
            spec=spec,
            document=plain,
            expressions=expressions,
            symbols=build_symbols(spec),
            content_hash=content_hash(plain),
            path=path,
            files=files,
            warnings=warnings,
            _defaults={n: p.value for n, p in spec.parameters.items()},
        )

    @classmethod
    def from_document(cls, document: Mapping[str, Any], path: str | None = None,
                      places: Mapping[str, str] | None = None) -> Scenario:
        """Rebuild a scenario from its resolved document (as saved with results).
        ``places`` (from :meth:`places`) names where each expression was written, so that
        run-time messages keep their FILE:LINE:COL."""
        spec = ScenarioSpec.model_validate(document)
        known = dict(places or {})
        checked = check_scenario(spec, (lambda p: known.get(dotted(p)) or dotted(p))
                                 if known else None, rebuilt=True)
        if checked.problems:
            raise ScenarioError([Problem(path or "<document>", 0, 0, "/".join(map(str, p.path)),
                                         p.message) for p in checked.problems])
        return cls.build(spec, dict(document), checked.expressions, path=path)

    @property
    def name(self) -> str:
        return self.spec.name

    def places(self) -> dict[str, str]:
        """Where each expression was written (``FILE:LINE:COL: path``), by dotted path."""
        return {dotted(p): e.where for p, e in self.expressions.items() if e.where}

    @property
    def defaults(self) -> dict[str, Any]:
        """Every parameter's default value."""
        return dict(self._defaults)

    def resolve_parameters(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """All parameter values with ``overrides`` applied and checked against their ranges.

        Values may be numbers, flags or text (as from ``--set NAME=VALUE``).
        """
        values = self.defaults
        problems: list[str] = []
        for name, raw in (overrides or {}).items():
            param = self.spec.parameters.get(name)
            if param is None:
                valid = ", ".join(sorted(self.spec.parameters)) or "none"
                problems.append(f"unknown parameter '{name}'"
                                f"{did_you_mean(name, self.spec.parameters)}; "
                                f"parameters are: {valid}")
                continue
            try:
                value = parse_parameter_value(name, param, raw) if isinstance(raw, str) else raw
                values[name] = self._check_value(name, param, value)
            except ValueError as exc:
                problems.append(str(exc))
        if problems:
            raise ScenarioError("\n".join(problems))
        return values

    @staticmethod
    def _check_value(name: str, param: Parameter, value: Any) -> Any:
        if isinstance(param.value, bool):
            if not isinstance(value, bool):
                raise ValueError(f"parameter '{name}' is a flag: give true or false, got {value!r}")
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"parameter '{name}' takes a number, got {value!r}")
        try:
            finite = math.isfinite(value)
        except OverflowError:  # an int beyond a float's range
            raise ValueError(f"parameter '{name}' is too large (the limit is about "
                             f"1.8e308)") from None
        if not finite:
            raise ValueError(f"parameter '{name}' must be a finite number, got {value}")
        if param.integer:
            if float(value) != int(value):
                raise ValueError(f"parameter '{name}' takes a whole number, got {value}")
            value = int(value)
        if param.range is not None and not param.range[0] <= value <= param.range[1]:
            lo, hi = param.range
            raise ValueError(f"parameter '{name}' = {value} is outside its range [{lo}, {hi}]")
        if param.choices is not None and value not in param.choices:
            raise ValueError(f"parameter '{name}' = {value} is not one of {param.choices}")
        return value
