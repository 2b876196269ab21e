"""The citation rule: every number in a scenario cites a source or is marked an assumption.

Parameters need ``source:`` or ``assumption:`` each. An actor, action or trigger
that writes a number other than 0 or 1 directly (in a value, a distribution or
an expression) needs one on the item. ``escalation validate --strict`` applies it.
"""

from __future__ import annotations

import ast
from typing import Any

from sim.scenario.checks import dotted
from sim.scenario.scenario import Scenario
from sim.scenario.schema import Cited

__all__ = ["uncited"]

_PLAIN = {0.0, 1.0}


def _numbers(text: Any) -> list[float]:
    if isinstance(text, bool):
        return []
    if isinstance(text, (int, float)):
        return [float(text)]
    try:
        tree = ast.parse(str(text).strip(), mode="eval")
    except SyntaxError:
        return []
    return [float(n.value) for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, (int, float))
            and not isinstance(n.value, bool)]


def _cited(item: Cited) -> bool:
    return item.source is not None or bool(item.assumption)


def uncited(scenario: Scenario) -> list[str]:
    """Messages for each number that neither cites a source nor is marked an assumption."""
    spec = scenario.spec
    out: list[str] = []
    for name, param in spec.parameters.items():
        if not _cited(param):
            out.append(f"parameters.{name}: value {param.value} has neither source: nor "
                       f"assumption:")
    owners: dict[str, dict[str, Any]] = {"actors": dict(spec.actors),
                                         "actions": dict(spec.actions),
                                         "triggers": dict(spec.triggers)}
    flagged: set[tuple[str, str]] = set()
    for path, expr in scenario.expressions.items():
        section, name = str(path[0]), str(path[1]) if len(path) > 1 else ""
        item = owners.get(section, {}).get(name)
        if item is None or _cited(item) or (section, name) in flagged:
            continue
        source = expr.literal if expr.code is None else expr.text
        odd = [n for n in _numbers(source) if n not in _PLAIN]
        if odd:
            flagged.add((section, name))
            shown = ", ".join(f"{n:g}" for n in odd)
            out.append(f"{dotted(path)}: the number {shown} is written here, but "
                       f"{section}.{name} has neither source: nor assumption:")
    return out
