"""Calibration (rejection ABC) recovers a known parameter and narrows with more data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import sim
from sim.analysis.calibrate import calibrate, weighted_quantile
from sim.cli import cli
from sim.errors import ScenarioError

LOW, HIGH, HORIZON, WINDOW = 0.01, 0.3, 100.0, 10.0


def truth(seed: int) -> float:
    """Repetition ``seed``'s true rate: a known value drawn from the prior, so that the
    90% intervals must cover it 90% of the time (simulation-based calibration)."""
    return float(np.random.default_rng(1000 + seed).uniform(LOW, HIGH))


def _scenario(tmp_path: Path, k: int) -> Path:
    actions = "\n".join(f"  e{i}: {{rate: r}}" for i in range(k))
    text = f"""
name: rates
clock: {{horizon: {HORIZON:g}}}
parameters:
  r: {{value: 0.1, range: [{LOW:g}, {HIGH:g}], assumption: test}}
ladder: [a, b]
actions:
{actions}
outcomes: [{{id: done, default: true}}]
"""
    path = tmp_path / "scenario.yaml"
    path.write_text(text)
    return path


def _observed(tmp_path: Path, k: int, seed: int) -> Path:
    """First times of k actions drawn at the true rate, observed to within a bin of a
    fixed grid (width 2 * WINDOW): a coarsening fixed in advance, so that rejection on it
    is exact Bayesian inference on the binned times."""
    t = np.random.default_rng(seed).exponential(1 / truth(seed), size=k)
    lines = []
    for i, ti in enumerate(t):
        if ti < HORIZON:
            centre = (ti // (2 * WINDOW)) * 2 * WINDOW + WINDOW
            lines.append(f"  - {{id: o{i}, event: e{i}, on: {centre:g}, window: {WINDOW:g}}}")
        else:
            lines.append(f"  - {{id: o{i}, not: 'count.e{i} >= 1', by: {HORIZON:g}}}")
    path = tmp_path / f"observed-{seed}.yaml"
    path.write_text("observations:\n" + "\n".join(lines) + "\n")
    return path


def _interval(tmp_path: Path, k: int, seed: int) -> tuple[float, float]:
    cal = calibrate(_scenario(tmp_path, k), _observed(tmp_path, k, seed), ["r"], samples=96,
                    runs=100, seed=seed, executor="serial")
    return cal.parameters["r"]["q05"], cal.parameters["r"]["q95"]


def test_the_truth_lies_in_the_90_percent_interval_and_more_data_narrows_it(tmp_path):
    few = [_interval(tmp_path, 1, s) for s in range(10)]
    many = [_interval(tmp_path, 2, s) for s in range(10)]
    covered = sum(lo <= truth(s) <= hi for s, (lo, hi) in enumerate(many))
    assert covered >= 8, many
    assert np.mean([hi - lo for lo, hi in many]) < np.mean([hi - lo for lo, hi in few])


def test_weighted_quantiles():
    x = np.array([3.0, 1.0, 2.0, 4.0])
    w = np.array([0.0, 1.0, 1.0, 2.0])
    assert weighted_quantile(x, w, 0.05) == 1.0
    assert weighted_quantile(x, w, 0.5) == 2.0
    assert weighted_quantile(x, w, 0.95) == 4.0


def test_the_folder_holds_the_posterior_and_its_weights(tmp_path):
    out = tmp_path / "c"
    cal = calibrate(_scenario(tmp_path, 2), _observed(tmp_path, 2, 1), ["r"], samples=16,
                    runs=100, seed=1, executor="serial", out=out)
    table, summary = sim.load_results(out).calibration()
    assert table.num_rows == 16 and table.column("accepted").to_numpy().sum() == cal.accepted
    assert np.isclose(table.column("weight").to_numpy().sum(), 1.0)
    assert summary["parameters"]["r"]["mean"] == pytest.approx(cal.parameters["r"]["mean"])


def test_nothing_matched_is_a_clear_error(tmp_path):
    sc = _scenario(tmp_path, 1)
    obs = tmp_path / "impossible.yaml"
    obs.write_text("observations:\n  - {id: x, event: e0, by: 0.001}\n")
    with pytest.raises(ScenarioError, match="no run matched all 1 observations"):
        calibrate(sc, obs, ["r"], samples=4, runs=20, seed=0, executor="serial")


def test_the_command_line_fits_and_prints_json(tmp_path):
    res = CliRunner().invoke(cli, [
        "calibrate", str(_scenario(tmp_path, 2)), "--observed", str(_observed(tmp_path, 2, 3)),
        "--vary", "r", "--samples", "16", "-n", "100", "--out", str(tmp_path / "c"),
        "--json", "--executor", "serial"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert set(data["parameters"]["r"]) == {"prior", "prior_low", "prior_high", "mean", "mode",
                                            "q05", "q95"}
    assert data["accepted"] > 0
    res = CliRunner().invoke(cli, [
        "calibrate", str(_scenario(tmp_path, 2)), "--observed", str(_observed(tmp_path, 2, 3)),
        "--vary", "rr", "-n", "10", "--out", str(tmp_path / "d")])
    assert res.exit_code == 2 and "unknown parameter 'rr'" in res.output
    assert not (tmp_path / "d").exists()


def test_each_point_of_a_calibration_has_its_own_streams_and_the_folder_verifies(tmp_path):
    """Rejection needs independent draws: with common random numbers every point would
    accept the same few runs. Sweeps keep common random numbers."""
    from sim.results.chunkfile import point_seed

    assert point_seed(7, 0, False) == point_seed(7, 3, False) == 7
    seeds = {point_seed(7, p, True) for p in range(50)}
    assert len(seeds) == 50 and all(0 <= s < 2**63 for s in seeds)
    out = tmp_path / "c"
    calibrate(_scenario(tmp_path, 1), _observed(tmp_path, 1, 0), ["r=0.1:0.100001"], samples=4,
              runs=50, seed=7, executor="serial", out=out)
    res = sim.load_results(out)
    assert res.verify() == []
    assert "own streams" in res.manifest.seeding["scheme"]
    runs = res.runs_frame()
    first = runs[runs["point"] == 0]["count.e0"].to_numpy()
    other = runs[runs["point"] == 1]["count.e0"].to_numpy()
    assert not np.array_equal(first, other)  # same rate, other streams


def test_a_declared_prior_reweights_the_points(tmp_path):
    """A prior tight around 0.2 pulls the posterior there and narrows it."""
    sc, obs = _scenario(tmp_path, 1), _observed(tmp_path, 1, 2)
    flat = calibrate(sc, obs, ["r"], samples=64, runs=100, seed=2, executor="serial")
    obs.write_text(obs.read_text().replace(
        "observations:", "priors: {r: {normal: {mean: 0.2, sd: 0.01}}}\nobservations:"))
    tight = calibrate(sc, obs, ["r"], samples=64, runs=100, seed=2, executor="serial")
    r0, r1 = flat.parameters["r"], tight.parameters["r"]
    assert r1["prior"] == "normal(mean=0.2, sd=0.01)" and r0["prior"] == "uniform"
    assert abs(r1["mean"] - 0.2) < 0.02 and (r1["q95"] - r1["q05"]) < (r0["q95"] - r0["q05"])


@pytest.mark.parametrize("priors, message", [
    ("{s: {normal: {mean: 0, sd: 1}}}", "priors given for s, which this calibration does not"),
    ("{r: {normal: {mean: 0, sd: -1}}}", "greater than 0"),
    ("{r: {triangular: [0.3, 0.1, 0.2]}}", "low <= mode <= high"),
    ("{r: {gamma: {a: 1}}}", "unknown key 'gamma'"),
])
def test_bad_priors_are_refused(tmp_path, priors, message):
    sc, obs = _scenario(tmp_path, 1), _observed(tmp_path, 1, 2)
    obs.write_text(obs.read_text().replace("observations:", f"priors: {priors}\nobservations:"))
    res = CliRunner().invoke(cli, ["calibrate", str(sc), "--observed", str(obs), "--vary", "r",
                                   "--samples", "4", "-n", "10", "--out", str(tmp_path / "c")])
    assert res.exit_code == 2 and message in res.output, res.output


def test_failed_runs_do_not_bias_the_posterior_and_are_reported(tmp_path):
    """An observation that always holds says nothing: the posterior is the prior, even
    where runs fail more often (weights are acceptance rates among completed runs)."""
    sc = tmp_path / "fails.yaml"
    sc.write_text("""
name: fails
clock: {horizon: 10}
parameters:
  lam: {value: 0.5, range: [0, 0.9], assumption: test}
ladder: [a, b]
actors: {s: {vars: {x: 0}}}
actions:
  boom: {at: 1, draws: {u: {bernoulli: lam}}, effects: [{set: {s.x: "1 / (1 - u)"}}]}
outcomes: [{id: o, default: true}]
""")
    obs = tmp_path / "obs.yaml"
    obs.write_text("observations: [{id: a, outcome: o}]\n")
    cal = calibrate(sc, obs, ["lam"], samples=100, runs=200, seed=0, executor="serial")
    # the prior's mean is 0.45; a count-weighted posterior would say about 0.3
    assert abs(cal.parameters["lam"]["mean"] - 0.45) < 0.03
    assert any("runs failed and are left out" in n for n in cal.notes)


@pytest.mark.parametrize("vary, sets, message", [
    ("r=0.1:0.2:5", (), "calibrate samples a range"),
    ("r=0.2:0.1", (), "finite LO < HI"),
    ("r=", (), "calibrate samples a range"),
    ("r=0:inf", (), "r=0:inf"),
    ("r", ("r=0.1",), "both fitted (--vary) and fixed (--set)"),
])
def test_calibrate_wants_a_range_to_fit(tmp_path, vary, sets, message):
    args = ["calibrate", str(_scenario(tmp_path, 1)), "--observed",
            str(_observed(tmp_path, 1, 0)), "--vary", vary, "--samples", "4", "-n", "5",
            "--out", str(tmp_path / "c")]
    for s in sets:
        args += ["--set", s]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 2 and message in res.output, res.output
    assert not (tmp_path / "c").exists()


def test_points_of_a_calibration_compare_as_independent_samples(tmp_path):
    from sim.analysis.compare import compare

    out = tmp_path / "c"
    calibrate(_scenario(tmp_path, 1), _observed(tmp_path, 1, 0), ["r"], samples=4, runs=50,
              seed=7, executor="serial", out=out)
    cmp = compare([f"{out}@0", f"{out}@3"])
    assert set(cmp.methods.values()) == {"unpaired"}
