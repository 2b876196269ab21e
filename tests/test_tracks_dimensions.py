"""Several escalation tracks and outcome dimensions: exact answers and semantics."""

from __future__ import annotations

import math

import pytest

import sim
from sim.errors import ScenarioError
from sim.scenario import load_scenario_text

RUNS = 20_000


def _se(p: float, n: int) -> float:
    return math.sqrt(p * (1 - p) / n)


def _batch(text: str, runs: int = RUNS, seed: int = 5, **kw) -> sim.BatchResult:
    return sim.run_batch(load_scenario_text(text), runs, seed, executor="serial", **kw)


def _problems(text: str) -> str:
    with pytest.raises(ScenarioError) as err:
        load_scenario_text(text)
    return str(err.value)


TWO_TRACKS = """
name: two_tracks
clock: {horizon: 10}
ladders:
  intensity: [i0, i1, i2, i3]
  scope: {rungs: [s0, s1, s2], start: s1}
actions:
  hit: {rate: 0.1, effects: [{escalate: {track: intensity, by: 1}}]}
  widen: {rate: 0.05, effects: [{escalate: {track: scope}}]}
outcomes: [{id: done, default: true}]
"""


def _poisson_capped(lam: float, top: int) -> list[float]:
    """P(min(Poisson(lam), top) = k) for k = 0..top."""
    ps = [math.exp(-lam) * lam**k / math.factorial(k) for k in range(top)]
    return [*ps, 1 - sum(ps)]


def test_each_track_moves_on_its_own_exactly():
    """Each track is a capped Poisson count of its own escalations; jointly independent."""
    res = _batch(TWO_TRACKS)
    t = res.runs_table()
    intensity = t.column("final_level.intensity").to_pylist()
    scope = t.column("final_level.scope").to_pylist()
    exact_i = _poisson_capped(0.1 * 10, 3)
    exact_s = [0.0, *_poisson_capped(0.05 * 10, 1)]  # starts on s1, one rung left
    for k, rung in enumerate(["i0", "i1", "i2", "i3"]):
        p_hat = intensity.count(rung) / RUNS
        assert abs(p_hat - exact_i[k]) <= 4 * _se(exact_i[k], RUNS) + 1e-12, rung
    for k, rung in enumerate(["s0", "s1", "s2"]):
        p_hat = scope.count(rung) / RUNS
        assert abs(p_hat - exact_s[k]) <= 4 * _se(exact_s[k], RUNS) + 1e-12, rung
    both = sum(1 for a, b in zip(intensity, scope, strict=True) if a == "i0" and b == "s2")
    p = exact_i[0] * exact_s[2]
    assert abs(both / RUNS - p) <= 4 * _se(p, RUNS)


def test_tracks_have_their_own_columns_reach_and_paths():
    res = _batch(TWO_TRACKS, runs=300)
    t = res.runs_table()
    assert {"final_level.intensity", "max_level.intensity", "final_level.scope",
            "max_level.scope"} <= set(t.column_names)
    assert "final_level" not in t.column_names
    s = res.summary
    assert s.tracks == {"intensity": ["i0", "i1", "i2", "i3"], "scope": ["s0", "s1", "s2"]}
    assert s.levels["s0"].p == 1.0 and s.levels["s1"].p == 1.0  # at or below the start
    assert s.levels["i0"].p == 1.0
    assert all(p.path.startswith("intensity:i0, scope:s1") for p in s.paths)
    assert any("scope:s2" in p.path for p in s.paths)


def test_the_occupancy_of_each_track_adds_up_to_the_runs(tmp_path):
    _batch(TWO_TRACKS, runs=500, out=tmp_path / "o")
    tl = sim.load_results(tmp_path / "o").timeline
    for rungs in (["i0", "i1", "i2", "i3"], ["s0", "s1", "s2"]):
        total = sum(tl.column(f"at.{r}").to_numpy() for r in rungs)
        assert (total == 500).all()


def test_expressions_name_the_track_and_plain_level_is_refused():
    text = TWO_TRACKS.replace("outcomes: [{id: done, default: true}]", """outcomes:
  - {id: wide, when: level.scope >= s2 and level.intensity >= i1, terminal: true}
  - {id: done, default: true}""")
    res = _batch(text, runs=2000)
    t = res.runs_table()
    for row in t.select(["outcome", "max_level.scope", "max_level.intensity"]).to_pylist():
        if row["outcome"] == "wide":
            assert row["max_level.scope"] == "s2" and row["max_level.intensity"] != "i0"
    msg = _problems(TWO_TRACKS.replace("{id: done, default: true}",
                                       "{id: x, when: level >= i1}, {id: done, default: true}"))
    assert "tracks are named (ladders:)" in msg and "level.intensity" in msg
    msg = _problems(TWO_TRACKS.replace("{id: done, default: true}",
                                       "{id: x, when: level.scop >= s1}, "
                                       "{id: done, default: true}"))
    assert "level.scop" in msg and "level.scope" in msg  # did you mean


@pytest.mark.parametrize("old, new, message", [
    ("escalate: {track: intensity, by: 1}", "escalate: 1", "name one with track"),
    ("escalate: {track: intensity, by: 1}", "escalate: {track: intensty}", "unknown track"),
    ("start: s1", "start: i1", "unknown rung of track 'scope'"),
    ("rungs: [s0, s1, s2]", "rungs: [s0, i1, s2]", "unique across tracks"),
    ("effects: [{escalate: {track: scope}}]",
     "effects: [{raise_to: {level: i2, track: scope}}]", "not a rung of track 'scope'"),
    ("ladders:", "start_level: i1\nladders:", "start_level goes with a single ladder"),
])
def test_track_mistakes_are_refused_with_a_located_message(old, new, message):
    text = TWO_TRACKS.replace(old, new)
    assert text != TWO_TRACKS
    msg = _problems(text)
    assert message in msg, msg
    assert "<scenario>:" in msg  # located


def test_a_single_ladder_refuses_a_track_name():
    msg = _problems("""
name: one
clock: {horizon: 5}
ladder: [a, b]
actions: {x: {at: 1, effects: [{escalate: {track: a}}]}}
outcomes: [{id: d, default: true}]
""")
    assert "one ladder: leave out track" in msg


DIMENSIONS = """
name: dims
clock: {horizon: 10}
ladder: [calm, tense]
actors: {side: {vars: {flipped: false}}}
actions:
  flip: {at: 3, effects: [{set: {side.flipped: true}}, {escalate: 1}]}
  talks: {rate: 0.2, effects: [{end: war=ceasefire}]}
outcomes:
  war:
    - {id: ceasefire, terminal: true}
    - {id: ongoing, default: true}
  state:
    - {id: flipped, when: side.flipped}
    - {id: unflipped, default: true}
"""


def test_other_dimensions_are_classified_when_a_terminal_outcome_ends_the_run():
    """talks end the run at Exp(0.2); the state is 'flipped' iff that is after t=3."""
    res = _batch(DIMENSIONS)
    s = res.summary
    p_cease = 1 - math.exp(-0.2 * 10)
    p_flipped = math.exp(-0.2 * 3)
    assert abs(s.outcomes["war=ceasefire"].p - p_cease) <= 4 * _se(p_cease, RUNS)
    assert abs(s.outcomes["state=flipped"].p - p_flipped) <= 4 * _se(p_flipped, RUNS)
    assert s.outcomes["war=ceasefire"].count + s.outcomes["war=ongoing"].count == RUNS
    t = res.runs_table()
    for row in t.select(["outcome.war", "outcome.state", "end_time"]).to_pylist()[:2000]:
        assert (row["outcome.state"] == "flipped") == (row["end_time"] >= 3)
        assert (row["outcome.war"] == "ceasefire") == (row["end_time"] < 10)


def test_dimensions_have_columns_labels_and_paths():
    res = _batch(DIMENSIONS, runs=200)
    t = res.runs_table()
    assert "outcome" not in t.column_names
    assert {"outcome.war", "outcome.state"} <= set(t.column_names)
    assert list(res.summary.outcomes) == ["war=ceasefire", "war=ongoing", "state=flipped",
                                          "state=unflipped"]
    assert {p.path.rpartition(" > ")[2] for p in res.summary.paths} <= {"war=ceasefire",
                                                                       "war=ongoing"}


def test_a_results_folder_of_dimensions_reads_back_verified(tmp_path):
    out = tmp_path / "d"
    _batch(DIMENSIONS, runs=400, out=out, chunk_size=100)
    res = sim.load_results(out)
    assert res.verify() == []
    assert res.runs.num_rows == 400
    assert list(res.summary.outcomes)[:2] == ["war=ceasefire", "war=ongoing"]


def test_end_names_an_outcome_by_dimension_or_by_a_class_no_other_dimension_has():
    res = _batch(DIMENSIONS.replace("end: war=ceasefire", "end: ceasefire"), runs=500)
    assert res.summary.outcomes["war=ceasefire"].count > 0
    msg = _problems(DIMENSIONS.replace("end: war=ceasefire", "end: war=truce"))
    assert "unknown outcome (DIMENSION=CLASS) 'war=truce'" in msg
    msg = _problems(DIMENSIONS.replace("- {id: unflipped, default: true}",
                                       "- {id: unflipped}"))
    assert "one outcome of dimension 'state' must be marked default" in msg


def test_an_ambiguous_class_must_name_its_dimension():
    text = DIMENSIONS.replace("{id: unflipped, default: true}", "{id: ongoing, default: true}")
    msg = _problems(text.replace("end: war=ceasefire", "end: ongoing"))
    assert "outcome 'ongoing' is ambiguous" in msg and "war=ongoing or state=ongoing" in msg


def test_joint_table_counts_every_completed_run_once():
    from sim.analysis.joint import joint_of, parse_pair

    sc = load_scenario_text(DIMENSIONS)
    res = sim.run_batch(sc, 3000, 2, executor="serial")
    j = joint_of(res.runs_table(), sc.spec, *parse_pair(sc.spec, "war,state"))
    assert j.counts.sum() == 3000
    assert j.counts.sum(axis=1).tolist() == [res.summary.outcomes["war=ceasefire"].count,
                                             res.summary.outcomes["war=ongoing"].count]
    with pytest.raises(ScenarioError, match="did you mean 'state'"):
        parse_pair(sc.spec, "war,stat")
    with pytest.raises(ScenarioError, match="two different"):
        parse_pair(sc.spec, "war,war")


def test_single_ladder_and_list_scenarios_keep_their_columns():
    res = _batch("""
name: plain
clock: {horizon: 5}
ladder: [a, b]
actions: {x: {at: 1, effects: [{escalate: 1}]}}
outcomes: [{id: up, when: level >= b}, {id: d, default: true}]
""", runs=20)
    names = res.runs_table().column_names
    assert {"outcome", "final_level", "max_level", "time_to.a", "time_to.b"} <= set(names)
    assert res.summary.tracks == {}
    assert res.summary.paths[0].path == "a > b > up"


def test_a_rate_that_reads_a_track_follows_it_exactly():
    """hits at rate 0.1 * (1 + level.scope); scope steps up at t=5: count ~ Poisson(1.5)."""
    res = _batch("""
name: rate_of_track
clock: {horizon: 10}
ladders:
  intensity: [i0, i1]
  scope: [s0, s1]
actions:
  hit: {rate: "0.1 * (1 + level.scope)"}
  widen: {at: 5, effects: [{escalate: {track: scope}}]}
outcomes: [{id: done, default: true}]
""")
    counts = res.runs_table().column("count.hit").to_numpy()
    lam = 0.1 * 5 + 0.2 * 5
    assert abs(counts.mean() - lam) <= 4 * math.sqrt(lam / RUNS)
    p0 = math.exp(-lam)
    assert abs((counts == 0).mean() - p0) <= 4 * _se(p0, RUNS)
