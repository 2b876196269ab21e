"""Backtests against exact answers, hand-made scores, explicit rejection and located errors."""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from click.testing import CliRunner

import sim
from sim.analysis.backtest import as_of_forecast, backtest, crps_ensemble, holds, prepared
from sim.cli import cli
from sim.errors import ScenarioError

RATE, RUNS = 0.05, 20_000

POISSON = """
name: poisson
clock: {unit: day, start: 2025-01-01, horizon: 100}
ladder: [calm, tense]
actions:
  incident: {rate: 0.05, effects: [{escalate: 1}]}
outcomes: [{id: quiet, when: level <= calm}, {id: loud, default: true}]
"""


def _files(tmp_path: Path, scenario: str, observed: str) -> tuple[Path, Path]:
    sc = tmp_path / "scenario.yaml"
    sc.write_text(textwrap.dedent(scenario))
    obs = tmp_path / "observed.yaml"
    obs.write_text(textwrap.dedent(observed))
    return sc, obs


def _se(p: float, n: int) -> float:
    return math.sqrt(p * (1 - p) / n)


def test_a_poisson_event_matches_its_exact_probability_and_pit(tmp_path):
    sc, obs = _files(tmp_path, POISSON, """
        observations:
          - {id: by_day_20, event: incident, by: 2025-01-21}
          - {id: around_day_30, event: incident, on: 2025-01-31, window: 5}
          - {id: reached, level: tense, by: 40}
    """)
    bt = backtest(sc, obs, RUNS, seed=3, executor="serial")
    by = {o.id: o for o in bt.observations}
    p20 = 1 - math.exp(-RATE * 20)
    assert abs(by["by_day_20"].p - p20) <= 4 * _se(p20, RUNS)
    assert by["by_day_20"].pit == pytest.approx(by["by_day_20"].p)
    pit30 = 1 - math.exp(-RATE * 30)
    assert abs(by["around_day_30"].pit - pit30) <= 4 * _se(pit30, RUNS)
    window = math.exp(-RATE * 25) - math.exp(-RATE * 35)  # first incident in [25, 35]
    assert abs(by["around_day_30"].p - window) <= 4 * _se(window, RUNS)
    p40 = 1 - math.exp(-RATE * 40)
    assert abs(by["reached"].p - p40) <= 4 * _se(p40, RUNS)
    median = math.log(2) / RATE  # of the first time, given it happens (here almost surely)
    assert by["by_day_20"].time_median == pytest.approx(median, rel=0.05)


def test_scores_equal_a_direct_computation():
    table = pa.table({"outcome": ["a", "a", "b", "a"], "error": pa.nulls(4, pa.string())})
    from sim.analysis.backtest import scored
    from sim.analysis.observations import Observation, Resolved

    r = Resolved("x", "outcome", "a", 0, 10, 0, None, None,
                 Observation(id="x", outcome="a"))
    s = scored(table, r, 10.0)
    assert s.p == 0.75
    assert s.brier == pytest.approx(0.25**2)
    assert s.log == pytest.approx(-math.log(0.75))
    xs = np.array([3.0, 1.0, 7.0, 2.0])
    direct = np.mean(np.abs(xs - 4.0)) - 0.5 * np.mean(np.abs(xs[:, None] - xs[None, :]))
    assert crps_ensemble(xs, 4.0) == pytest.approx(direct)


def test_overall_scores_and_skill_are_the_means_against_one_half(tmp_path):
    sc, obs = _files(tmp_path, POISSON, """
        observations:
          - {id: a, event: incident, by: 30}
          - {id: b, outcome: loud}
    """)
    bt = backtest(sc, obs, 2000, seed=1, executor="serial")
    ps = [o.p for o in bt.observations]
    assert bt.brier == pytest.approx(np.mean([(1 - p) ** 2 for p in ps]))
    assert bt.log == pytest.approx(np.mean([-math.log(p) for p in ps]))
    assert bt.brier_skill == pytest.approx(1 - bt.brier / 0.25)
    assert bt.log_skill == pytest.approx(1 - bt.log / math.log(2))


def test_as_of_equals_explicit_rejection_over_the_runs_table(tmp_path):
    sc, obs = _files(tmp_path, POISSON, """
        observations:
          - {id: early, event: incident, by: 10}
          - {id: late, event: incident, on: 80, window: 5}
    """)
    bt = backtest(sc, obs, 3000, seed=2, executor="serial", out=tmp_path / "r", as_of=20)
    table = sim.load_results(tmp_path / "r").runs
    t = np.asarray(table.column("observed.early").to_numpy(), dtype=float)
    keep = ~np.isnan(t) & (np.nan_to_num(t, nan=-1.0) <= 10)
    outcome = np.asarray(table.column("outcome").to_pylist(), dtype=object)[keep]
    assert bt.as_of is not None
    assert bt.as_of["observations"] == ["early"]  # 'late' is known only after day 85
    assert bt.as_of["kept"] == int(keep.sum())
    assert bt.as_of["outcomes"]["loud"]["count"] == int(np.sum(outcome == "loud"))


def test_as_of_refuses_too_few_runs_and_says_how_many_would_do(tmp_path):
    sc, obs = _files(tmp_path, POISSON, """
        observations:
          - {id: early, event: incident, by: 1}
    """)
    scenario, probes, resolved = prepared(sc, obs)
    res = sim.run_batch(scenario, 200, 0, executor="serial", probes=probes)
    with pytest.raises(ScenarioError, match=r"only \d+ of 200 runs are consistent.*runs would"):
        as_of_forecast(res.runs_table(), resolved, 5.0, "5", scenario.spec.outcome_labels)


def test_the_runs_are_the_scenarios_own_for_the_same_seed(tmp_path):
    """Observations draw nothing: the backtest's runs equal a plain batch's."""
    sc, obs = _files(tmp_path, POISSON, """
        observations:
          - {id: a, event: incident, by: 30}
          - {id: b, when: "level >= tense", by: 50}
    """)
    backtest(sc, obs, 500, seed=9, executor="serial", out=tmp_path / "b")
    plain = sim.run_batch(sc, 500, 9, executor="serial").runs_table()
    mine = sim.load_results(tmp_path / "b").runs
    cols = ["outcome", "end_time", "count.incident", "time_to.tense", "path"]
    assert mine.select(cols).to_pandas().equals(plain.select(cols).to_pandas())


def test_a_condition_that_ends_the_run_is_seen(tmp_path):
    """A terminal outcome ends a run before triggers react: the end is still recorded."""
    sc, obs = _files(tmp_path, """
        name: ends
        clock: {horizon: 100}
        ladder: [calm, war]
        actions:
          incident: {rate: 0.05, effects: [{escalate: 1}]}
          settle: {rate: 0.01, effects: [{end: settled}]}
        outcomes:
          - {id: war, when: level >= war, terminal: true}
          - {id: settled, terminal: true}
          - {id: peace, default: true}
    """, """
        observations:
          - {id: no_war, not: "level >= war", by: 40}
          - {id: settled_by_60, event: settle, by: 60}
    """)
    bt = backtest(sc, obs, RUNS, seed=4, executor="serial")
    by = {o.id: o for o in bt.observations}
    p_no_war = 1 - (0.05 / 0.06) * (1 - math.exp(-0.06 * 40))  # war comes first, by 40
    assert abs(by["no_war"].p - p_no_war) <= 4 * _se(p_no_war, RUNS)
    p_settled = (0.01 / 0.06) * (1 - math.exp(-0.06 * 60))
    assert abs(by["settled_by_60"].p - p_settled) <= 4 * _se(p_settled, RUNS)


def test_the_folder_keeps_the_scores_verified(tmp_path):
    sc, obs = _files(tmp_path, POISSON, """
        observations: [{id: a, event: incident, by: 30}]
    """)
    backtest(sc, obs, 300, seed=1, executor="serial", out=tmp_path / "r")
    res = sim.load_results(tmp_path / "r")
    table, scores = res.backtest()
    assert table.column("id").to_pylist() == ["a"]
    assert scores["scores"]["reference"].startswith("the uninformed forecast")
    path = tmp_path / "r" / "backtest.json"
    path.write_text(path.read_text().replace('"brier"', '"brier" ', 1))
    with pytest.raises(sim.errors.ResultsError, match="digest"):
        sim.load_results(tmp_path / "r").backtest()


@pytest.mark.parametrize("observed, message", [
    ("[{id: a, event: incidnet, by: 3}]", "unknown action 'incidnet' (did you mean 'incident'?)"),
    ("[{id: a, event: incident, by: 2024-12-01}]", "before the clock's start"),
    ("[{id: a, event: incident, by: 500}]", "after the scenario's horizon"),
    ("[{id: a, event: incident, window: 3}]", "window: goes with on:"),
    ("[{id: a, event: incident, on: 3}]", "on: needs window:"),
    ("[{id: a, outcome: loud, by: 3}]", "takes no date"),
    ("[{id: a, outcome: lod}]", "unknown outcome 'lod' (did you mean 'loud'?)"),
    ("[{id: a, when: 'level >= tnse'}]", "unknown name 'tnse'"),
    ("[{id: a, event: incident, level: tense}]", "exactly one of"),
    ("[{id: a, event: incident}, {id: a, outcome: loud}]", "duplicate observation id 'a'"),
    ("[{id: a, level: tense, after: 3}]", "not available for level"),
])
def test_bad_observations_are_located_errors_with_exit_2(tmp_path, observed, message):
    sc, obs = _files(tmp_path, POISSON, f"observations: {observed}\n")
    res = CliRunner().invoke(cli, ["backtest", str(sc), "--observed", str(obs), "-n", "10",
                                   "--out", str(tmp_path / "r")])
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert "observed.yaml:1:" in res.output  # located
    assert "Traceback" not in res.output and not (tmp_path / "r").exists()


def test_json_output_and_the_example_file(tmp_path):
    from conftest import ROOT

    res = CliRunner().invoke(cli, [
        "backtest", "--observed", str(ROOT / "scenarios" / "observed" / "tit_for_tat.yaml"),
        "-n", "400", "--out", str(tmp_path / "r"), "--json", "--as-of", "60",
        "--executor", "serial"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    ids = {o["id"] for o in data["observations"]}
    assert ids >= {"first_retaliation", "aid_cut", "ended_in_ceasefire"}
    assert set(data["scores"]) >= {"brier", "log"} and data["results"] == str(tmp_path / "r")
    assert data["as_of"]["kept"] >= 30


def test_holds_reads_not_as_never_in_the_range():
    from sim.analysis.observations import Observation, Resolved

    table = pa.table({"observed.x": [float("nan"), 5.0, 50.0]})
    r = Resolved("x", "not", "c", 0, 10, 0, 10, 10, Observation(id="x", not_="c", by=10))
    assert holds(table, r).tolist() == [True, False, True]


def test_figures_and_report_of_a_backtest_folder(tmp_path):
    from sim.plots import figures_for
    from sim.plots.backtest import forecast_pairs
    from sim.report import build_report

    sc, obs = _files(tmp_path, POISSON, """
        observations:
          - {id: early, event: incident, on: 15, window: 5}
          - {id: calm_kept, not: "level >= tense", by: 5}
          - {id: loud_end, outcome: loud}
    """)
    backtest(sc, obs, 400, seed=1, executor="serial", out=tmp_path / "r", as_of=20)
    figs = figures_for(tmp_path / "r")
    assert {"reliability", "event_times"} <= set(figs)
    curves = figs["event_times"].axes
    assert len(curves) == 1
    assert curves[0].get_title(loc="left").startswith("early (event: incident)")
    q, o = forecast_pairs(["a", "b"], ["event", "not"], np.array([0.7, 0.9]))
    assert q.tolist() == pytest.approx([0.7, 0.1]) and o.tolist() == [1.0, 0.0]
    html = build_report(tmp_path / "r")
    assert "Does the model match what happened?" in html and "Forecast as of 20" in html
    assert all(f"<code>{i}</code>" in html for i in ("early", "calm_kept", "loud_end"))


def test_a_scenario_given_as_observations_is_refused_in_good_english(tmp_path):
    from conftest import ROOT

    res = CliRunner().invoke(cli, ["backtest", "--observed",
                                   str(ROOT / "scenarios" / "bryansk_atacms_2024.yaml")])
    assert res.exit_code == 2
    assert "not an observation file (an observation file is a .yaml" in res.output


def test_validate_recognises_an_observation_file_and_checks_it(tmp_path):
    _, obs = _files(tmp_path, POISSON, """
        scenario: scenario.yaml
        observations: [{id: a, event: incident, by: 30}, {id: b, outcome: loud}]
    """)
    res = CliRunner().invoke(cli, ["validate", str(obs)])
    assert res.exit_code == 0 and "an observation file: 2 observations (1 dated)" in res.output
    obs.write_text(obs.read_text().replace("event: incident", "event: incidnt"))
    res = CliRunner().invoke(cli, ["validate", str(obs)])
    assert res.exit_code == 2
    assert "unknown action 'incidnt' (did you mean 'incident'?); actions are: incident" \
        in res.output


# --- from an attacker's pass: the observations never change the runs ------------------

def test_watching_counts_no_events_and_adds_no_chain_depth(tmp_path):
    chain = "\n".join(f"  a{i}: {{effects: [{{fire: a{i + 1}}}]}}" for i in range(1, 30))
    sc, obs = _files(tmp_path, f"""
name: tight
clock: {{horizon: 20}}
ladder: [l0, l1]
limits: {{max_events: 50}}  # exactly the plain run's events
actors: {{s: {{vars: {{x: 0}}}}}}
actions:
  tick: {{every: 1, effects: [{{add: {{s.x: 1}}}}]}}
  a0: {{at: 1, effects: [{{fire: a1}}]}}
{chain}
  a30: {{}}
outcomes: [{{id: o, default: true}}]
""", """
        observations:
          - {id: a, when: "s.x >= 1", by: 5}
          - {id: b, when: "s.x >= 2", by: 5}
          - {id: deep, event: a30, by: 5}
    """)
    plain = sim.run_batch(sc, 20, 0, executor="serial")
    assert plain.failed == 0
    bt = backtest(sc, obs, 20, seed=0, executor="serial")
    assert [o.p for o in bt.observations] == [1.0, 1.0, 1.0] and not bt.notes


def test_a_condition_true_before_its_after_date_is_seen_at_that_date(tmp_path):
    """The same trajectory gives the same answer, whatever else writes the state."""
    base = """
name: flag
clock: {horizon: 100}
ladder: [l0, l1]
actors: {s: {vars: {f: false}}}
actions:
  lift: {at: 5, effects: [{set: {s.f: true}}]}
EXTRA
outcomes: [{id: stopped, terminal: true}, {id: o, default: true}]
"""
    extras = ["", "  again: {at: 35, effects: [{set: {s.f: true}}]}",
              "  stop: {at: 38, effects: [{end: stopped}]}"]
    for k, extra in enumerate(extras):
        folder = tmp_path / f"case{k}"
        folder.mkdir()
        sc, obs = _files(folder, base.replace("EXTRA", extra), """
            observations: [{id: f, when: "s.f", after: 30, by: 40}]
        """)
        (score,) = backtest(sc, obs, 10, seed=0, executor="serial").observations
        assert score.p == 1.0 and score.time_median == 30.0, extra


def test_a_condition_that_cannot_be_computed_fails_the_run_at_the_observation(tmp_path):
    sc, obs = _files(tmp_path, """
        name: div
        clock: {horizon: 10}
        ladder: [l0, l1]
        actors: {s: {vars: {x: 0}}}
        actions: {tick: {at: 1, effects: [{add: {s.x: 0}}]}}
        outcomes: [{id: o, default: true}]
    """, """
        observations: [{id: bad, when: "1 / s.x > 0.5", by: 5}]
    """)
    scenario, probes, _ = prepared(sc, obs)
    res = sim.run_batch(scenario, 3, 0, executor="serial", probes=probes)
    (error,) = set(res.runs_table().column("error").to_pylist())
    assert error.startswith(f"{obs}:2:") and "observations[0].when" in error


def test_a_condition_of_the_clock_is_refused(tmp_path):
    sc, obs = _files(tmp_path, POISSON, """
        observations: [{id: late, when: "t > 50 and level >= tense"}]
    """)
    with pytest.raises(ScenarioError, match="may not read t"):
        prepared(sc, obs)


def _redigest(folder: Path, name: str) -> None:
    import hashlib

    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"][name] = hashlib.sha256((folder / name).read_bytes()).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize("edit", [
    lambda d: d["observations"][0].update(p="abc"),
    lambda d: d.update(as_of={"x": 1}),
    lambda d: d.update(as_of="abc"),
    lambda d: d["read_as"][0].update(id="nope"),
    lambda d: d.clear(),
])
def test_an_edited_backtest_file_is_refused_even_with_its_digest_recomputed(tmp_path, edit):
    sc, obs = _files(tmp_path, POISSON, "observations: [{id: a, event: incident, by: 30}]\n")
    out = tmp_path / "r"
    backtest(sc, obs, 50, seed=1, executor="serial", out=out)
    data = json.loads((out / "backtest.json").read_text())
    edit(data)
    (out / "backtest.json").write_text(json.dumps(data))
    _redigest(out, "backtest.json")
    for command in (["report", str(out), "--force"], ["plot", str(out), "--force"]):
        res = CliRunner().invoke(cli, command)
        assert res.exit_code == 2 and "backtest.json" in res.output, res.output
        assert "Traceback" not in res.output


def test_a_deleted_backtest_table_is_noticed(tmp_path):
    sc, obs = _files(tmp_path, POISSON, "observations: [{id: a, event: incident, by: 30}]\n")
    out = tmp_path / "r"
    backtest(sc, obs, 50, seed=1, executor="serial", out=out)
    (out / "backtest.parquet").unlink()
    res = CliRunner().invoke(cli, ["report", str(out)])
    assert res.exit_code == 2 and "backtest.parquet: missing" in res.output


def test_every_run_failing_is_exit_3_with_a_message(tmp_path):
    sc, obs = _files(tmp_path, """
        name: allfail
        clock: {horizon: 10}
        ladder: [l0, l1]
        actors: {s: {vars: {x: 0}}}
        actions: {boom: {at: 1, effects: [{set: {s.x: 1 / s.x}}]}}
        outcomes: [{id: o, default: true}]
    """, "observations: [{id: b, event: boom, by: 5}, {id: o, outcome: o}]\n")
    res = CliRunner().invoke(cli, ["backtest", str(sc), "--observed", str(obs), "-n", "5",
                                   "--out", str(tmp_path / "r")])
    assert res.exit_code == 3, res.output
    assert "every one of the 5 runs failed" in res.output and "division by zero" in res.output


@pytest.mark.parametrize("as_of", ["nan", "-inf", "-5", "1_0", "500", "2024-12-01", "soon"])
def test_nonsense_as_of_is_refused_before_running(tmp_path, as_of):
    sc, obs = _files(tmp_path, POISSON, "observations: [{id: a, event: incident, by: 30}]\n")
    res = CliRunner().invoke(cli, ["backtest", str(sc), "--observed", str(obs), "-n", "5",
                                   "--as-of", as_of, "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and "--as-of" in res.output, res.output
    assert not (tmp_path / "r").exists()


def test_a_refused_as_of_keeps_and_prints_the_scores(tmp_path):
    sc, obs = _files(tmp_path, POISSON, "observations: [{id: early, event: incident, by: 1}]\n")
    out = tmp_path / "r"
    res = CliRunner().invoke(cli, ["backtest", str(sc), "--observed", str(obs), "-n", "100",
                                   "--as-of", "5", "--out", str(out), "--executor", "serial"])
    assert res.exit_code == 2 and "only" in res.output and "the scores above stand" in res.output
    assert "Brier" in res.output
    _, data = sim.load_results(out).backtest()
    assert data["as_of"]["refused"].startswith("--as-of 5: only")


def test_an_interrupted_backtest_resumes_with_its_own_command(tmp_path):
    sc, obs = _files(tmp_path, POISSON, "observations: [{id: a, event: incident, by: 30}]\n")
    out = tmp_path / "r"
    whole = backtest(sc, obs, 400, seed=5, executor="serial", out=tmp_path / "whole")
    backtest(sc, obs, 400, seed=5, executor="serial", out=out, chunk_size=100)
    (out / "runs" / "chunk-000002.parquet").unlink()
    (out / "backtest.json").unlink()
    res = CliRunner().invoke(cli, ["backtest", str(sc), "--observed", str(obs), "-n", "400",
                                   "--seed", "5", "--resume", str(out), "--json",
                                   "--executor", "serial"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["observations"][0]["p"] == whole.observations[0].p
    other = tmp_path / "other.yaml"  # watches something else (not only another file)
    other.write_text("observations: [{id: a, event: incident, after: 5, by: 30}]\n")
    res = CliRunner().invoke(cli, ["backtest", str(sc), "--observed", str(other), "-n", "400",
                                   "--seed", "5", "--resume", str(out)])
    assert res.exit_code == 2 and "it watched other observations" in res.output


def test_a_level_with_an_empty_track_is_refused(tmp_path):
    sc, obs = _files(tmp_path, POISSON, "observations: [{id: a, level: ':tense', by: 30}]\n")
    with pytest.raises(ScenarioError, match="name the track before ':'"):
        prepared(sc, obs)


def test_an_empty_observation_file_is_not_called_a_scenario(tmp_path):
    sc, obs = _files(tmp_path, POISSON, "")
    res = CliRunner().invoke(cli, ["backtest", str(sc), "--observed", str(obs)])
    assert res.exit_code == 2 and "the file is empty" in res.output
    assert "a scenario is" not in res.output


def test_a_backtest_resumes_with_its_observations_named_by_another_path(tmp_path,
                                                                        monkeypatch):
    """The observations' file location was compared as typed, so resuming from another
    folder, or with an absolute path, was refused: 'it watched other observations'."""
    sc, obs = _files(tmp_path, POISSON, "observations: [{id: a, event: incident, by: 30}]\n")
    out = tmp_path / "r"
    monkeypatch.chdir(tmp_path)
    backtest(sc.name, obs.name, 400, seed=5, executor="serial", out=out, chunk_size=100)
    (out / "runs" / "chunk-000002.parquet").unlink()
    res = CliRunner().invoke(cli, ["backtest", str(sc.resolve()), "--observed",
                                   str(obs.resolve()), "-n", "400", "--seed", "5",
                                   "--resume", str(out), "--executor", "serial"])
    assert res.exit_code == 0, res.output


def test_run_resume_sends_a_backtest_or_calibration_to_its_own_command(tmp_path):
    """'escalation run --resume' on a backtest folder said 'already complete' and left it
    without its scores; on a calibration folder it named 'escalation sweep'."""
    sc, obs = _files(tmp_path, POISSON, "observations: [{id: a, event: incident, by: 30}]\n")
    out = tmp_path / "r"
    backtest(sc, obs, 200, seed=5, executor="serial", out=out, chunk_size=100)
    (out / "backtest.parquet").unlink()
    res = CliRunner().invoke(cli, ["run", "--resume", str(out)])
    assert res.exit_code == 2 and "'escalation backtest' command plus --resume" in res.output
    from conftest import ROOT

    cal = tmp_path / "c"
    res = CliRunner().invoke(cli, ["calibrate", "--observed",
                                   str(ROOT / "scenarios" / "observed" / "tit_for_tat.yaml"),
                                   "--vary", "retaliation_prob", "--samples", "4", "-n", "20",
                                   "--out", str(cal), "--executor", "serial"])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(cli, ["run", "--resume", str(cal)])
    assert res.exit_code == 2 and "'escalation calibrate' command plus --resume" in res.output
