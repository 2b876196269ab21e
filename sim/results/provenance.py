"""Effective parameter values in a scenario document: what a results folder shows.

A results folder's ``scenario.json`` is the scenario as run: each parameter's ``value``
is the value used, and a parameter set on the command line (or by a sweep file) carries
``overridden: {scenario_value, by}`` so no view can show the file's value, or its
citation, as if it had been used. A varied parameter of a sweep carries ``varied: true``.
:func:`original_document` gives back the document as the scenario file had it.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["describe_value", "effective_document", "original_document", "override_label"]


def effective_document(document: dict[str, Any], overrides: dict[str, Any],
                       by: str = "set on the command line",
                       varied: list[str] | None = None) -> dict[str, Any]:
    """``document`` with overridden parameter values in place and marked."""
    doc = copy.deepcopy(document)
    params = doc.get("parameters") or {}
    for name, value in overrides.items():
        p = params.get(name)
        if isinstance(p, dict) and p.get("value") != value:
            p["overridden"] = {"scenario_value": p.get("value"), "by": by}
            p["value"] = value
    for name in varied or []:
        p = params.get(name)
        if isinstance(p, dict):
            p["varied"] = True
    return doc


def original_document(document: dict[str, Any]) -> dict[str, Any]:
    """The scenario file's document from an effective one."""
    doc = copy.deepcopy(document)
    for p in (doc.get("parameters") or {}).values():
        if not isinstance(p, dict):
            continue
        p.pop("varied", None)
        mark = p.pop("overridden", None)
        if isinstance(mark, dict) and "scenario_value" in mark:
            p["value"] = mark["scenario_value"]
    return doc


def override_label(overrides: dict[str, Any]) -> str:
    """``intercept_prob=0.9, salvo_size=8`` (empty when nothing is overridden)."""
    return ", ".join(f"{k}={_fmt(v)}" for k, v in overrides.items())


def describe_value(param: dict[str, Any]) -> str:
    """A parameter's value as run, with the scenario's value when it was overridden:
    ``0.9 (set on the command line; scenario: 0.83)``."""
    value = _fmt(param.get("value"))
    mark = param.get("overridden")
    if isinstance(mark, dict):
        return f"{value} ({mark.get('by', 'overridden')}; scenario: " \
               f"{_fmt(mark.get('scenario_value'))})"
    if param.get("varied"):
        return f"varied (scenario: {value})"
    return value


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)
