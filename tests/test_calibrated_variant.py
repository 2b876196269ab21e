"""``calibrate --variant``: a calibrated variant written by the program, never by hand."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any
from unittest import mock

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import sim
from sim.cli import cli

SCENARIO = """
name: rates
title: two rates
clock: {horizon: 100}
parameters:
  r: {value: 0.1, range: [0.01, 0.3], assumption: test}
  s: {value: 0.1, range: [0.01, 0.3], assumption: test}
ladder: [a, b]
actions:
  e0: {rate: r}
  e1: {rate: s}
outcomes: [{id: done, default: true}]
"""

OBSERVED = """
observations:
  - {id: first, event: e0, on: 10, window: 10}
  - {id: second, event: e1, on: 30, window: 10}
"""


def _files(tmp_path: Path) -> tuple[Path, Path, Path]:
    (tmp_path / "variants").mkdir()
    sc = tmp_path / "base.yaml"
    sc.write_text(SCENARIO)
    obs = tmp_path / "observed.yaml"
    obs.write_text(OBSERVED)
    return sc, obs, tmp_path / "variants" / "fitted.yaml"


def _calibrate(sc: Path, obs: Path, variant: Path, out: Path, *extra: str) -> Any:
    args = ["calibrate", str(sc), "--observed", str(obs), "--vary", "r", "--vary", "s",
            "--samples", "16", "-n", "100", "--seed", "3", "--workers", "1", "--out",
            str(out), "--variant", str(variant), "-q", *extra]
    with mock.patch.object(sys, "argv", ["escalation", *args]):  # the command recorded
        return CliRunner().invoke(cli, args)


def test_the_variant_holds_the_posterior_mode_and_the_command(tmp_path):
    sc, obs, variant = _files(tmp_path)
    res = _calibrate(sc, obs, variant, tmp_path / "cal")
    assert res.exit_code == 0, res.output
    posterior = pq.read_table(tmp_path / "cal" / "posterior.parquet").to_pydict()
    best = max(range(len(posterior["weight"])), key=lambda i: (posterior["weight"][i], -i))
    fitted = sim.load_scenario(variant)
    for name in ("r", "s"):
        want = posterior[f"param.{name}"][best]
        assert fitted.spec.parameters[name].value == pytest.approx(want, rel=5e-4)
        assert "posterior mode" in (fitted.spec.parameters[name].assumption or "")
    text = variant.read_text()
    assert "--variant" in text and "escalation calibrate" in text
    summary = json.loads((tmp_path / "cal" / "calibration.json").read_text())
    assert summary["mode"]["point"] == best
    assert summary["parameters"]["r"]["mode"] == pytest.approx(posterior["param.r"][best])


def test_the_mean_estimate_sets_the_posterior_means(tmp_path):
    sc, obs, variant = _files(tmp_path)
    res = _calibrate(sc, obs, variant, tmp_path / "cal", "--estimate", "mean")
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "cal" / "calibration.json").read_text())
    fitted = sim.load_scenario(variant)
    for name in ("r", "s"):
        assert fitted.spec.parameters[name].value == pytest.approx(
            summary["parameters"][name]["mean"], rel=5e-4)


def test_an_existing_variant_is_refused_before_any_run_and_kept(tmp_path):
    sc, obs, variant = _files(tmp_path)
    variant.write_text("# mine\n")
    res = _calibrate(sc, obs, variant, tmp_path / "cal")
    assert res.exit_code == 2
    assert "exists; use --force" in res.output
    assert variant.read_text() == "# mine\n"
    assert not (tmp_path / "cal").exists()
    res = _calibrate(sc, obs, variant, tmp_path / "cal", "--force")
    assert res.exit_code == 0, res.output
    assert sim.load_scenario(variant).spec.parameters["r"].value != 0.1


def test_the_variant_cannot_be_the_scenario_or_in_a_missing_folder(tmp_path):
    sc, obs, _ = _files(tmp_path)
    before = sc.read_text()
    res = _calibrate(sc, obs, sc, tmp_path / "cal", "--force")
    assert res.exit_code == 2 and "the scenario being calibrated" in res.output
    assert sc.read_text() == before
    res = _calibrate(sc, obs, tmp_path / "nowhere" / "v.yaml", tmp_path / "cal2")
    assert res.exit_code == 2 and "no folder" in res.output


def test_remaking_the_variant_from_its_recorded_command_gives_the_same_file(tmp_path):
    sc, obs, variant = _files(tmp_path)
    assert _calibrate(sc, obs, variant, tmp_path / "cal").exit_code == 0
    first = variant.read_bytes()
    assert _calibrate(sc, obs, variant, tmp_path / "cal", "--force").exit_code == 0
    assert variant.read_bytes() == first.replace(b" -q\n", b" -q --force\n")


def test_a_tied_mode_is_said_to_be_one_of_several(tmp_path):
    """Seed 2 with 4 runs a point: three points match once each (a tie the note names);
    seed 3: one point matches twice (no tie, no note)."""
    sc, obs, _ = _files(tmp_path)
    for seed, tied in ((2, 3), (3, 1)):
        args = ["calibrate", str(sc), "--observed", str(obs), "--vary", "r", "--vary", "s",
                "--samples", "8", "-n", "4", "--seed", str(seed), "--workers", "1",
                "--out", str(tmp_path / f"cal{seed}"), "--json"]
        res = CliRunner().invoke(cli, args)
        assert res.exit_code == 0, res.output
        data = json.loads(res.output)
        posterior = pq.read_table(tmp_path / f"cal{seed}" / "posterior.parquet").to_pydict()
        top = max(posterior["weight"])
        assert sum(1 for w in posterior["weight"] if w == top) == tied
        said = [n for n in data["notes"] if "points with the same weight" in n]
        assert bool(said) == (tied > 1)
        if said:
            assert f"first of {tied} points" in said[0]
            assert f"design point {data['mode']['point']}" in said[0]
