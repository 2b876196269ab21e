"""The scenario language: safe YAML, pydantic schema, expressions, located errors."""

from sim.scenario.loader import load_scenario, load_scenario_text, merge_documents
from sim.scenario.scenario import Scenario, content_hash, parse_parameter_value
from sim.scenario.schema import ScenarioSpec

__all__ = [
    "Scenario",
    "ScenarioSpec",
    "content_hash",
    "load_scenario",
    "load_scenario_text",
    "merge_documents",
    "parse_parameter_value",
]
