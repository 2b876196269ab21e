"""Escalation scenario simulation engine.

Load a cited scenario file, run Monte Carlo batches of SimPy replications, and
read the results::

    import sim
    scenario = sim.load_scenario("scenarios/bryansk_atacms_2024.yaml")
    batch = sim.run_batch(scenario, runs=2000, seed=7, out="results/base")
    results = sim.load_results("results/base")
"""

from sim.batch import BatchResult, run_batch, wilson
from sim.engine import make_plan, run_one
from sim.errors import (
    BatchError,
    BatchInterrupted,
    Problem,
    ResultsError,
    RunError,
    ScenarioError,
    SimError,
)
from sim.results import Results, load_results
from sim.scenario import Scenario, load_scenario, load_scenario_text

__all__ = [
    "BatchError",
    "BatchInterrupted",
    "BatchResult",
    "Problem",
    "Results",
    "ResultsError",
    "RunError",
    "Scenario",
    "ScenarioError",
    "SimError",
    "load_results",
    "load_scenario",
    "load_scenario_text",
    "make_plan",
    "run_batch",
    "run_one",
    "wilson",
]
