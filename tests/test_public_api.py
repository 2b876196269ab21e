"""The public surface of `import sim` is declared once and pinned here."""

from __future__ import annotations

import sim

EXPECTED = {
    "BatchError", "BatchInterrupted", "BatchResult", "Problem", "Results", "ResultsError",
    "RunError", "Scenario", "ScenarioError", "SimError", "load_results", "load_scenario",
    "load_scenario_text", "make_plan", "run_batch", "run_one", "table_digest", "wilson",
    "run_sweep", "compare", "sensitivity", "discover", "plots", "Execution", "resume_batch",
    "estimate_rare",
}


def test_all_is_pinned():
    assert set(sim.__all__) == EXPECTED


def test_every_public_name_resolves():
    for name in sim.__all__:
        assert getattr(sim, name) is not None


def test_one_base_exception():
    for name in ("ScenarioError", "RunError", "ResultsError", "BatchError", "BatchInterrupted"):
        assert issubclass(getattr(sim, name), sim.SimError)
    assert issubclass(sim.SimError, Exception)
