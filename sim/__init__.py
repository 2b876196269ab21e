"""Escalation scenario simulation engine.

Load a cited scenario file, run Monte Carlo batches of SimPy replications, and
read the results::

    import sim
    scenario = sim.load_scenario("scenarios/bryansk_atacms_2024.yaml")
    batch = sim.run_batch(scenario, runs=2000, seed=7, out="results/base")
    results = sim.load_results("results/base")

Names are imported on first use, so ``import sim`` (and the command line) start fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sim.errors import (
    BatchError,
    BatchInterrupted,
    Problem,
    ResultsError,
    RunError,
    ScenarioError,
    SimError,
)

if TYPE_CHECKING:
    from sim import plots
    from sim.analysis.compare import compare
    from sim.analysis.discovery import discover
    from sim.analysis.sensitivity import sensitivity
    from sim.analysis.sweeps import run_sweep
    from sim.batch import BatchResult, Execution, resume_batch, run_batch, wilson
    from sim.batch.rare import estimate_rare
    from sim.engine import make_plan, run_one
    from sim.results import Results, load_results, table_digest
    from sim.scenario import Scenario, load_scenario, load_scenario_text

__all__ = [
    "BatchError",
    "BatchInterrupted",
    "BatchResult",
    "Execution",
    "Problem",
    "Results",
    "ResultsError",
    "RunError",
    "Scenario",
    "ScenarioError",
    "SimError",
    "compare",
    "discover",
    "estimate_rare",
    "load_results",
    "load_scenario",
    "load_scenario_text",
    "make_plan",
    "plots",
    "resume_batch",
    "run_batch",
    "run_one",
    "run_sweep",
    "sensitivity",
    "table_digest",
    "wilson",
]

_LAZY = {
    "compare": "sim.analysis.compare",
    "discover": "sim.analysis.discovery",
    "sensitivity": "sim.analysis.sensitivity",
    "run_sweep": "sim.analysis.sweeps",
    "BatchResult": "sim.batch",
    "Execution": "sim.batch",
    "resume_batch": "sim.batch",
    "run_batch": "sim.batch",
    "wilson": "sim.batch",
    "estimate_rare": "sim.batch.rare",
    "make_plan": "sim.engine",
    "run_one": "sim.engine",
    "Results": "sim.results",
    "load_results": "sim.results",
    "table_digest": "sim.results",
    "Scenario": "sim.scenario",
    "load_scenario": "sim.scenario",
    "load_scenario_text": "sim.scenario",
}


_SUBMODULES = {"plots", "analysis", "report"}


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        value = importlib.import_module(f"sim.{name}")
        globals()[name] = value
        return value
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sim' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
