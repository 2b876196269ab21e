"""Sensitivity indices, scenario discovery, sweep files and the EMA Workbench export."""

from __future__ import annotations

import json
import tarfile

import numpy as np
import pytest

import sim
from sim.analysis.designs import morris, points_from_unit, saltelli, sweepable
from sim.analysis.discovery import discover, export_ema, to_ema
from sim.analysis.sensitivity import load_sensitivity, sensitivity
from sim.analysis.sweeps import run_sweep
from sim.analysis.sweepspec import load_sweep_spec
from sim.errors import ResultsError, ScenarioError

# One outcome decided by `a` alone; `b` and `c` are read nowhere that matters.
ONE_DRIVER = """\
name: one_driver
clock: {horizon: 10}
parameters:
  a: {value: 0.5, range: [0, 1], assumption: test - the only driver}
  b: {value: 0.5, range: [0, 1], assumption: test - inert}
  c: {value: 3, range: [1, 5], integer: true, assumption: test - inert}
ladder: [calm, tense]
actors:
  x: {vars: {b_seen: b, c_seen: c}}
actions:
  decide: {at: 1, draws: {u: {uniform: [0, 1]}}}
triggers:
  hit_it: {on: decide, if: u < a, do: [{end: hit}]}
outcomes:
  - {id: hit, terminal: true}
  - {id: miss, default: true}
"""


@pytest.fixture
def one_driver(write):
    return sim.load_scenario(write(ONE_DRIVER))


def test_saltelli_and_morris_design_sizes(one_driver):
    factors = sweepable(one_driver)
    assert [f.name for f in factors] == ["a", "b", "c"]
    unit = saltelli(factors, 16, seed=1)
    assert unit.shape == (16 * (3 + 2), 3)
    assert unit.min() >= 0 and unit.max() <= 1
    pts = points_from_unit(factors, unit)
    assert all(isinstance(p["c"], int) and 1 <= p["c"] <= 5 for p in pts)
    assert all(0 <= p["a"] <= 1 for p in pts)
    assert morris(factors, 5, seed=1).shape == (5 * (3 + 1), 3)


def test_sobol_puts_the_weight_on_the_only_driver(one_driver, tmp_path):
    res = sensitivity(one_driver, "hit", "sobol", samples=64, runs=100, seed=3,
                      executor="serial", out=tmp_path / "sens")
    total = {r["parameter"]: r["total"] for r in res.rows}
    assert res.rows[0]["parameter"] == "a"
    assert total["a"] / sum(max(v, 0.0) for v in total.values()) > 0.8
    # b and c change nothing in any run, so on common random numbers their effect is zero
    assert total["b"] == pytest.approx(0.0, abs=1e-12)
    assert total["c"] == pytest.approx(0.0, abs=1e-12)
    assert all(r["source"].startswith("assumption:") for r in res.rows)
    back = load_sensitivity(tmp_path / "sens")
    assert back.rows[0]["parameter"] == "a" and back.points == 64 * 5


def test_morris_ranks_the_driver_first(one_driver):
    res = sensitivity(one_driver, "hit", "morris", samples=8, runs=100, seed=3,
                      executor="serial")
    assert res.rows[0]["parameter"] == "a"
    mu = {r["parameter"]: r["mu_star"] for r in res.rows}
    assert mu["a"] > 0.5 and mu["b"] == 0.0 and mu["c"] == 0.0


def test_sensitivity_rejects_unknown_outcome(one_driver):
    with pytest.raises(ScenarioError, match=r"unknown outcome 'hits'.*did you mean 'hit'"):
        sensitivity(one_driver, "hits", samples=4, runs=10)


def test_discovery_finds_the_driving_range(one_driver, tmp_path):
    run_sweep(one_driver, ["a=0:1:11", "b=0:1:3"], runs=200, seed=1, executor="serial",
              out=tmp_path / "sw")
    found = discover(tmp_path / "sw", "hit", threshold=0.7)
    assert [lim["parameter"] for lim in found.limits] == ["a"]
    assert found.limits[0]["low"] >= 0.6 and found.limits[0]["high"] == 1.0
    assert found.coverage >= 0.5 and found.density == 1.0
    assert found.p_in_box[0] > found.p_outside[0]
    with pytest.raises(ResultsError, match="nothing to tell apart"):
        discover(tmp_path / "sw", "hit", threshold=1.0 + 1e-9)


def test_ema_export_round_trips(one_driver, tmp_path):
    run_sweep(one_driver, ["a=0.2,0.8"], runs=50, seed=1, executor="serial",
              out=tmp_path / "sw")
    experiments, outcomes = to_ema(tmp_path / "sw")
    assert list(experiments.columns) == ["a", "scenario", "policy", "model"]
    assert set(outcomes) == {"p_hit", "p_miss", "runs"}
    np.testing.assert_allclose(outcomes["p_hit"] + outcomes["p_miss"], 1.0)
    path = export_ema(tmp_path / "sw", tmp_path / "sw.tar.gz")
    with tarfile.open(path) as tar:
        assert {"experiments.csv", "metadata.json"} <= set(tar.getnames())
    import ema_workbench

    exp2, out2 = ema_workbench.load_results(str(path))
    np.testing.assert_allclose(exp2["a"], [0.2, 0.8])
    np.testing.assert_allclose(out2["p_hit"], outcomes["p_hit"])


def test_sweep_spec_file(write, tmp_path):
    write(ONE_DRIVER)
    spec_path = write("""\
        scenario: scenario.yaml
        vary:
          a: 0.1:0.9:3
          c: [1, 5]
        runs: 40
        seed: 2
        set: {b: 0.2}
        """, "sweep.yaml")
    spec, scenario = load_sweep_spec(spec_path)
    assert scenario == tmp_path / "scenario.yaml"
    assert spec.factors() == ["a=0.1:0.9:3", "c=1,5"]
    assert spec.runs == 40 and spec.set == {"b": 0.2}
    bad = write("""\
        scenario: scenario.yaml
        vary: {a: 0:1:3}
        desing: lhs
        """, "bad.yaml")
    with pytest.raises(ScenarioError) as err:
        load_sweep_spec(bad)
    assert "bad.yaml:3:1: desing: unknown key 'desing' (did you mean 'design'?)" in str(err.value)


def test_cli_sweep_spec_sensitivity_discover_export(write, tmp_path):
    from click.testing import CliRunner

    from sim.cli import cli

    write(ONE_DRIVER)
    write("scenario: scenario.yaml\nvary: {a: 0:1:5}\nruns: 100\n", "sweep.yaml")
    runner = CliRunner()
    res = runner.invoke(cli, ["sweep", "--spec", "sweep.yaml", "--seed", "4", "--out", "sw",
                              "-q", "--executor", "serial"])
    assert res.exit_code == 0, res.output
    manifest = json.loads((tmp_path / "sw" / "manifest.json").read_text())
    assert manifest["seed"] == 4 and manifest["runs"] == 100  # option beats file, file fills in
    assert manifest["points"] == 5
    res = runner.invoke(cli, ["discover", "sw", "--outcome", "hit", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["limits"][0]["parameter"] == "a"
    res = runner.invoke(cli, ["export", "sw", "--ema", "sw.tar.gz"])
    assert res.exit_code == 0 and (tmp_path / "sw.tar.gz").is_file()
    res = runner.invoke(cli, ["export", "sw", "--ema", "sw.tar.gz"])
    assert res.exit_code == 2 and "exists" in res.output
    res = runner.invoke(cli, ["sensitivity", "scenario.yaml", "--outcome", "hit", "--samples",
                              "8", "-n", "50", "--out", "se", "-q", "--executor", "serial"])
    assert res.exit_code == 0, res.output
    assert "first (S1)" in res.output and "assumption: test - the only driver" in res.output
    res = runner.invoke(cli, ["sensitivity", "scenario.yaml", "--outcome", "nope"])
    assert res.exit_code == 2 and "unknown outcome 'nope'" in res.output
