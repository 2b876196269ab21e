"""Sweeps and comparisons: designs expand correctly; common random numbers pay off;
compare's intervals agree with a direct computation."""

from __future__ import annotations

import math

import numpy as np
import pytest

import sim
from sim.analysis.compare import compare
from sim.analysis.designs import expand, parse_factor
from sim.analysis.sweeps import run_sweep
from sim.errors import ScenarioError

Z = 1.959963984540054


@pytest.fixture(scope="module")
def base():
    from conftest import ROOT

    return sim.load_scenario(ROOT / "scenarios" / "bryansk_atacms_2024.yaml")


def test_design_sizes_and_bounds(base):
    grid = expand([parse_factor(base, "intercept_prob=0.5:0.9:5"),
                   parse_factor(base, "resupply_batch=0,6,12")])
    assert len(grid) == 15
    assert {p["resupply_batch"] for p in grid} == {0, 6, 12}
    assert sorted({p["intercept_prob"] for p in grid}) == pytest.approx([0.5, 0.6, 0.7, 0.8, 0.9])
    for design in ("lhs", "sobol"):
        pts = expand([parse_factor(base, "intercept_prob"), parse_factor(base, "initial_atacms")],
                     design, 16, seed=3)
        assert len(pts) == 16
        assert all(0.5 <= p["intercept_prob"] <= 0.95 for p in pts)
        assert all(isinstance(p["initial_atacms"], int) and 6 <= p["initial_atacms"] <= 150
                   for p in pts)
    lhs = expand([parse_factor(base, "intercept_prob")], "lhs", 10, seed=1)
    strata = sorted(int((p["intercept_prob"] - 0.5) / 0.45 * 10) for p in lhs)
    assert strata == list(range(10))  # one point per stratum


def test_bad_factors_are_errors(base):
    with pytest.raises(ScenarioError, match="unknown parameter 'intercept' in --vary"):
        parse_factor(base, "intercept=0:1:3")
    with pytest.raises(ScenarioError, match="outside its range"):
        parse_factor(base, "intercept_prob=0.1:0.9:3")


def test_sweep_is_monotone_within_intervals_and_shares_streams(base, tmp_path):
    """More interception, fewer salvos landing and so fewer nuclear signals drawn by them:
    the chance of a year without a nuclear signal rises along the sweep. (Airspace
    incidents, the earlier target, now come mostly from Russia's own massed strikes, so
    interception barely moves them.)"""
    res = run_sweep(base, ["intercept_prob=0.5,0.95"], runs=1500, seed=4, workers=2,
                    out=tmp_path / "s")
    df = res.table.to_pandas()
    quiet = df[df.outcome == "nuclear=none"].sort_values("param.intercept_prob")
    assert quiet.p.iloc[0] < quiet.p.iloc[1]
    assert quiet.hi.iloc[0] < quiet.lo.iloc[1]
    runs = sim.load_results(tmp_path / "s").runs.to_pandas()
    assert sorted(runs.point.unique()) == [0, 1]
    assert (runs.groupby("point").run.apply(list).apply(sorted) == [list(range(1500))] * 2).all()


def test_crn_paired_variance_is_below_unpaired(base, tmp_path):
    """Same seed (paired) differences vary far less than differences across seeds."""
    a = sim.run_batch(base, 1500, seed=1, workers=2, out=tmp_path / "a")
    b = sim.run_batch(base, 1500, seed=1, parameters={"aid_cut_prob": 0.1}, workers=2,
                      out=tmp_path / "b")
    c = sim.run_batch(base, 1500, seed=2, parameters={"aid_cut_prob": 0.1}, workers=2,
                      out=tmp_path / "c")
    paired = compare([tmp_path / "a", tmp_path / "b"])
    unpaired = compare([tmp_path / "a", tmp_path / "c"])
    assert paired.methods[str(tmp_path / "b")] == "paired"
    assert unpaired.methods[str(tmp_path / "c")] == "unpaired"
    row_p = next(r for r in paired.rows if r["outcome"] == "war=ceasefire")
    row_u = next(r for r in unpaired.rows if r["outcome"] == "war=ceasefire")
    width_p = row_p[f"diff[{tmp_path / 'b'}]"][2] - row_p[f"diff[{tmp_path / 'b'}]"][1]
    width_u = row_u[f"diff[{tmp_path / 'c'}]"][2] - row_u[f"diff[{tmp_path / 'c'}]"][1]
    assert width_p < 0.6 * width_u
    del a, b, c


def test_compare_intervals_match_direct_computation(base, tmp_path):
    sim.run_batch(base, 800, seed=5, executor="serial", out=tmp_path / "a")
    sim.run_batch(base, 800, seed=5, parameters={"intercept_prob": 0.95}, executor="serial",
                  out=tmp_path / "b")
    sim.run_batch(base, 600, seed=6, parameters={"intercept_prob": 0.95}, executor="serial",
                  out=tmp_path / "c")
    ra = sim.load_results(tmp_path / "a").runs.to_pandas()
    rb = sim.load_results(tmp_path / "b").runs.to_pandas()
    rc = sim.load_results(tmp_path / "c").runs.to_pandas()
    cmp = compare([tmp_path / "a", tmp_path / "b", tmp_path / "c"])
    row = next(r for r in cmp.rows if r["outcome"] == "kursk=lost")
    lost = {k: (r["outcome.kursk"] == "lost").to_numpy(float)
            for k, r in (("a", ra), ("b", rb), ("c", rc))}
    d = lost["b"] - lost["a"]
    se = d.std(ddof=1) / math.sqrt(len(d))
    assert row[f"diff[{tmp_path / 'b'}]"] == pytest.approx((d.mean(), d.mean() - Z * se,
                                                              d.mean() + Z * se))
    p1, n1 = lost["a"].mean(), len(ra)
    p2, n2 = lost["c"].mean(), len(rc)
    got, lo, hi = row[f"diff[{tmp_path / 'c'}]"]
    assert got == pytest.approx(p2 - p1)
    assert lo < p2 - p1 < hi
    # Newcombe's interval is close to the Wald interval at these sizes
    wald = Z * math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    assert hi - lo == pytest.approx(2 * wald, rel=0.05)
    assert np.isfinite([lo, hi]).all()


def test_cli_sweep_and_compare(base, tmp_path):
    from click.testing import CliRunner

    from sim.cli import cli

    out = tmp_path / "sw"
    res = CliRunner().invoke(cli, ["sweep", base.path, "--vary", "intercept_prob=0.5,0.9",
                                   "-n", "200", "--out", str(out), "-q"])
    assert res.exit_code == 0, res.output
    assert (out / "sweep.parquet").is_file() and "Outcome probability at each point" in res.output
    res = CliRunner().invoke(cli, ["compare", f"{out}@0", f"{out}@1"])
    assert res.exit_code == 0 and "(paired)" in res.output
    res = CliRunner().invoke(cli, ["compare", str(out), f"{out}@1"])
    assert res.exit_code == 2 and "is a sweep" in res.output
