"""The citation rule as messages: every number cites a source or is an assumption.

The rule itself, with the evidence check of ``--sources``, is
:func:`sim.scenario.evidence.strict_problems`; the loader locates its problems
(``load_scenario(path, strict=True)``).
"""

from __future__ import annotations

from sim.scenario.checks import dotted
from sim.scenario.evidence import strict_problems
from sim.scenario.scenario import Scenario

__all__ = ["uncited"]


def uncited(scenario: Scenario) -> list[str]:
    """Messages for each number that neither cites a source nor is marked an assumption."""
    return [f"{dotted(p.path)}: {p.message}"
            for p in strict_problems(scenario.spec, scenario.expressions)]
