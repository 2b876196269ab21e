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


def test_api_misuse_names_the_mistake():
    """A results folder's scenario (a dict) passed to run_batch raised 'expected str,
    bytes or os.PathLike object, not dict'; sensitivity(vary=...) blamed Execution."""
    import pytest

    import sim

    with pytest.raises(TypeError, match=r"scenario_as_written"):
        sim.run_batch({"name": "x"}, 10, 1)
    with pytest.raises(TypeError, match=r"^sensitivity\(\) got an unexpected keyword "
                                        r"argument 'vary'"):
        sim.sensitivity("scenarios/bryansk_atacms_2024.yaml", "nato=clash", "sobol",
                        vary=["intercept_prob"])
