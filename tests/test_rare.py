"""Rare outcomes (`run --rare`): unbiased against exact answers, covering, reproducible,
marked as weighted, and invisible to plain runs."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT

import sim
from sim.batch import Execution
from sim.batch.rare import estimate_rare
from sim.batch.weighted import ExactSum
from sim.engine import make_plan, run_one
from sim.engine.tilt import run_tilted, tilted
from sim.results import load_results, table_digest

BIRTH_DEATH = ROOT / "scenarios" / "examples" / "birth_death.yaml"
SERIAL = Execution(executor="serial")


def absorption(absorb_at: int, up_prob: float = 0.25, slope: float = 0.01, rate: float = 1.0,
               start: int = 1, horizon: float = 20.0) -> float:
    """P(the birth-death walk of birth_death.yaml reaches rung ``absorb_at`` by the horizon):
    ``exp(QT)[start, absorb_at]`` by uniformisation (Q's rows: up at rate x p(k), down at
    rate x (1 - p(k)), rungs 0 and ``absorb_at`` absorbing)."""
    n = absorb_at + 1
    q = np.zeros((n, n))
    for k in range(1, absorb_at):
        p = min(0.5, up_prob + slope * k)
        q[k, k + 1], q[k, k - 1] = rate * p, rate * (1 - p)
        q[k, k] = -rate
    step = np.eye(n) + q / rate  # the uniformised chain
    v = np.zeros(n)
    v[start] = 1.0
    total, term = np.zeros(n), math.exp(-rate * horizon)
    for m in range(1, 2000):
        total += term * v
        v = v @ step
        term *= rate * horizon / m
    return float(total[absorb_at])


def _rare(absorb_at: int, seed: int, runs: int = 1000, pilot: int = 300,
          execution: Execution = SERIAL) -> sim.BatchResult:
    return estimate_rare(BIRTH_DEATH, "absorbed", runs, seed, {"absorb_at": absorb_at},
                         pilot=pilot, execution=execution)


def test_exact_answer_matches_plain_runs():
    """The matrix exponential is the scenario's own answer (checked where plain runs can)."""
    exact = absorption(4)
    res = sim.run_batch(BIRTH_DEATH, 3000, 1, {"absorb_at": 4}, executor="serial")
    k = res.summary.outcomes["absorbed"].count
    se = math.sqrt(exact * (1 - exact) / 3000)
    assert abs(k / 3000 - exact) < 4 * se


@pytest.mark.parametrize("absorb_at", [8, 10])
def test_estimate_within_4_se_of_exact(absorb_at):
    """P about 9e-4 and 1.6e-4: the estimate is within 4 SE, and far more precise than plain
    Monte Carlo with the same runs."""
    exact = absorption(absorb_at)
    assert 1e-4 < exact < 1.5e-3
    rare = _rare(absorb_at, seed=11, runs=2000, pilot=500).summary.rare
    assert rare is not None and rare.se > 0
    assert abs(rare.p - exact) <= 4 * rare.se, (rare.p, exact, rare.se)
    assert rare.plain_half_width > 5 * (rare.hi - rare.lo) / 2


@pytest.mark.parametrize("absorb_at", [8, 10])
def test_intervals_cover_the_exact_value(absorb_at):
    """Across 20 seeds the 95% intervals cover the exact value at least 17 times."""
    exact = absorption(absorb_at)
    covered = 0
    for seed in range(20):
        rare = _rare(absorb_at, seed).summary.rare
        assert rare is not None
        covered += rare.lo <= exact <= rare.hi
    assert covered >= 17, covered


def test_same_seed_same_estimate_for_any_workers():
    """One worker or two (and other chunk sizes): the same tilts and the same estimate."""
    one = _rare(8, seed=5, runs=1200)
    two = _rare(8, seed=5, runs=1200, execution=Execution(executor="processes", workers=2,
                                                          chunk_size=150))
    assert one.summary.rare == two.summary.rare
    assert one.summary.outcomes == two.summary.outcomes


def test_exact_sums_do_not_depend_on_order():
    """Weight sums merged in any grouping are the exactly rounded total."""
    rng = np.random.default_rng(0)
    values = (rng.pareto(1.5, 3000) * 10.0 ** rng.integers(-12, 3, 3000)).tolist()
    whole = ExactSum(values)
    parts = [ExactSum(values[i:i + 7]) for i in range(0, 3000, 7)]
    merged = ExactSum()
    for part in reversed(parts):
        merged.merge(part)
    assert whole.value == merged.value == math.fsum(values)


def test_untilted_runs_are_the_plain_runs():
    """With every tilt 0 a weighted run draws exactly as a plain one, with weight 1."""
    sc = sim.load_scenario(ROOT / "scenarios" / "bryansk_atacms_2024.yaml")
    plan = make_plan(sc)
    for i in range(30):
        r = run_tilted(plan, 3, i, [0.0] * len(plan.triggers))
        assert r.row == run_one(plan, 3, i)[0]
        assert r.log_weight == 0.0


def test_weight_is_the_likelihood_ratio():
    """A run's weight is the product of p/q and (1-p)/(1-q) over its draws."""
    sc = sim.load_scenario(BIRTH_DEATH)
    plan = make_plan(sc)
    theta = [1.3 if t.name == "up" else 0.0 for t in plan.triggers]
    r = run_tilted(plan, 2, 0, theta, tally=True)
    assert r.tally is not None
    expected = 0.0
    for p, (n, k) in r.tally[0].items():
        q = tilted(p, 1.3)
        expected += k * math.log(p / q) + (n - k) * math.log((1 - p) / (1 - q))
    assert len(r.tally[0]) > 1  # the probability read the state
    assert r.log_weight == pytest.approx(expected, rel=1e-12)


# digests of 400 plain runs (seed 3) at commit 92679f6, before rare-event mode existed
PLAIN_DIGESTS = {
    ("reference/tit_for_tat.yaml", None):
        "97a09911e62b7e3c1db6ca805392014774c97663531164d05effb8be5d139e06",
    ("examples/birth_death.yaml", 5):
        "11cd3708c4453a90ed183f8336e7823aa646024279941d1d79951bb5b0544f67",
}


@pytest.mark.parametrize(("scenario", "absorb_at"), list(PLAIN_DIGESTS))
def test_plain_runs_are_bit_identical(scenario, absorb_at):
    """Plain runs tables are what they were before rare-event mode existed."""
    params = {"absorb_at": absorb_at} if absorb_at else {}
    res = sim.run_batch(ROOT / "scenarios" / scenario, 400, 3, params, executor="serial")
    assert table_digest(res.runs_table()) == PLAIN_DIGESTS[(scenario, absorb_at)]


def test_plain_summary_has_no_rare_fields(tmp_path):
    """A plain summary.json keeps its keys (regression: new fields leaked as nulls)."""
    sim.run_batch(BIRTH_DEATH, 50, 1, out=tmp_path / "p", executor="serial")
    data = json.loads((tmp_path / "p" / "summary.json").read_text())
    assert "rare" not in data
    assert set(data["outcomes"]["absorbed"]) == {"count", "p", "lo", "hi"}


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sim", *args], capture_output=True,
                          text=True)


@pytest.fixture(scope="module")
def rare_folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("rare") / "r"
    done = _cli("run", str(BIRTH_DEATH), "--rare", "absorbed", "-n", "600", "--pilot", "200",
                "--seed", "4", "--out", str(out), "--json", "--executor", "serial")
    assert done.returncode == 0, done.stderr
    return out, json.loads(done.stdout)


def test_json_manifest_and_runs_say_what_they_are(rare_folder):
    """JSON outcomes[OUTCOME] has p, lo, hi, se, method, ess; the manifest records method,
    target, tilts, pilot and seed; the runs table carries each run's weight."""
    out, data = rare_folder
    o = data["outcomes"]["absorbed"]
    assert o["lo"] <= o["p"] <= o["hi"] and o["se"] > 0 and o["ess"] > 0
    assert "importance sampling" in o["method"]
    assert data["rare"]["target"] == "absorbed" and data["rare"]["p"] == o["p"]
    res = load_results(out)
    rare = res.manifest.rare
    assert rare is not None
    assert {"method", "target", "theta", "pilot_runs", "seed"} <= set(rare)
    assert set(rare["theta"]) == {"up"} and rare["seed"] == 4 and rare["pilot_runs"] == 200
    runs = res.runs.to_pandas()
    hit = runs["outcome"] == "absorbed"
    assert (runs["weight"] * hit).mean() == pytest.approx(o["p"], rel=1e-12)


def test_resume_refuses_changed_target_or_pilot(rare_folder):
    """Resuming with another target, pilot size or none at all is refused (exit 2)."""
    out, _ = rare_folder
    for extra, words in ((["--rare", "extinct"], "target"), (["--rare", "absorbed", "--pilot",
                                                              "300"], "pilot_runs")):
        done = _cli("run", "--resume", str(out), *extra)
        assert done.returncode == 2 and words in done.stderr, done.stderr
        assert "Traceback" not in done.stderr


def test_resume_options_of_a_rare_folder(rare_folder):
    """--chunk-size is refused as in plain resumes; --pilot, -n and --seed are the
    folder's unless typed; a rare folder resumed without --rare (with a scenario or
    --set) is resumed as one, and a changed parameter is named as such."""
    out, data = rare_folder
    done = _cli("run", "--resume", str(out), "--rare", "absorbed", "--chunk-size", "37")
    assert done.returncode == 2 and "drop --chunk-size" in done.stderr, done.stderr
    for extra in (["--rare", "absorbed"], [str(BIRTH_DEATH)]):
        done = _cli("run", "--resume", str(out), "--json", *extra)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["rare"] == data["rare"]
    done = _cli("run", "--resume", str(out), "--set", "absorb_at=9", "-q")
    assert done.returncode == 2 and "parameter values differ" in done.stderr, done.stderr
    assert "--rare absorbed" not in done.stderr


def test_resume_of_a_complete_rare_folder_gives_its_estimate(rare_folder):
    out, data = rare_folder
    done = _cli("run", "--resume", str(out), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["rare"] == data["rare"]


@pytest.mark.parametrize("command", [["plot"], ["report"], ["compare", "SELF", "SELF"]])
def test_figures_reports_and_comparisons_refuse_a_rare_folder(rare_folder, command):
    out, _ = rare_folder
    done = _cli(*[str(out) if c == "SELF" else c for c in command],
                *([str(out)] if command[0] != "compare" else []))
    assert done.returncode == 2 and "rare-event estimate" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(("args", "words"), [
    (["--rare", "absorbd"], "did you mean 'absorbed'"),
    (["--rare", "extinct"], "not a rare outcome"),
    (["--rare", "absorbed", "--precision", "0.01"], "cannot be combined with --precision"),
    (["--rare", "absorbed", "--trace", "3"],
     "cannot be combined with --trace: a traced run would be a tilted one"),
    (["--rare", "absorbed", "--joint", "a,b"], "--joint: its cells count runs"),
    (["--pilot", "500"], "--pilot goes with --rare"),
])
def test_bad_rare_requests_are_refused(tmp_path, args, words):
    """Unknown or common outcomes and options that cannot go with --rare: exit 2, a message."""
    done = _cli("run", str(BIRTH_DEATH), *args, "-n", "200", "--out", str(tmp_path / "x"),
                "-q", "--executor", "serial")
    assert done.returncode == 2 and words in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_no_trigger_probability_to_tilt(write):
    """A scenario without a trigger probability has nothing to tilt: refused."""
    path = write("""\
        name: fixed
        clock: {horizon: 10}
        ladder: [low, high]
        actions:
          jump: {at: [5], effects: [{escalate: 1}]}
        outcomes:
          - {id: up, when: level >= high, terminal: true}
          - {id: calm, default: true}
        """)
    with pytest.raises(sim.BatchError, match="no trigger probability leads to it"):
        estimate_rare(path, "up", 100, 0, execution=SERIAL)


def test_resume_recomputes_a_lost_chunk_to_the_same_estimate(rare_folder, tmp_path):
    """A rare-event folder missing a chunk is finished by --resume with its own tilts (no
    new pilot): the same estimate as the whole folder's."""
    import shutil

    out, data = rare_folder
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    chunks = sorted((copy / "runs").glob("*.parquet"))
    assert len(chunks) > 1
    chunks[-1].unlink()
    done = _cli("run", "--resume", str(copy), "--json", "-q")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["rare"] == data["rare"]
    assert load_results(copy).manifest.resumed[-1].chunks_to_run == 1


def _weighted(weights: list[float], hits: list[bool]):
    from sim.batch.aggregate import Aggregate

    agg = Aggregate(["hit", "miss"], ["low"], 10.0, weighted=True)
    n = len(weights)
    agg.add_columns({"run": list(range(n)), "error": [None] * n, "weight": weights,
                     "outcome": ["hit" if h else "miss" for h in hits],
                     "time_to.low": [0.0] * n, "path": ["low"] * n, "end_time": [10.0] * n})
    return agg


def test_degenerate_weights_and_no_hits_are_flagged():
    """A few heavy weights among the hits, or no hit at all: the summary says so, and with
    no hit the interval is [0, 1] (a tilted sample without hits bounds nothing)."""
    from sim.batch.weighted import rare_summary

    rare = {"target": "hit", "method": "m", "theta": {"t": 1.0}, "pilot_runs": 100}
    heavy = rare_summary(_weighted([1e-3] * 40 + [0.5] * 2 + [1.0] * 58,
                                   [True] * 42 + [False] * 58), rare)
    assert heavy.ess < 5 and any("degenerate" in w for w in heavy.warnings)
    assert heavy.lo <= heavy.p <= heavy.hi
    none = rare_summary(_weighted([1.0] * 50, [False] * 50), rare)
    assert (none.p, none.lo, none.hi) == (0.0, 0.0, 1.0)
    assert any("no run reached" in w for w in none.warnings)


FAILING = """\
    name: failing
    clock: {unit: day, horizon: 10}
    ladder: [l0, l1, l2, l3]
    start_level: l0
    actors: {x: {vars: {z: 0}}}
    actions:
      tick: {rate: 1.0}
    triggers:
      up: {on: tick, probability: 0.1, do: [{escalate: 1}]}
      boom: {on: tick, if: level >= 1, probability: 0.1, do: [{set: {x.z: 1 / x.z}}]}
    outcomes:
      - {id: top, when: level >= 3, terminal: true}
      - {id: rest, default: true}
    """
# plain runs of FAILING, -n 400000 --seed 1: 285,797 completed, 17,337 reached top
FAILING_PLAIN, FAILING_PLAIN_SE = 17337 / 285797, 0.000447


def test_failed_runs_do_not_bias_the_estimate(write):
    """Some runs fail (a division by zero on some paths): the estimate is what plain runs
    report, P(top | run completed), within 4 SE of a long plain run, and says so."""
    res = estimate_rare(write(FAILING), "top", 6000, 2, pilot=300, execution=SERIAL)
    rare = res.summary.rare
    assert rare is not None and res.summary.failed > 0
    se = math.hypot(rare.se, FAILING_PLAIN_SE)
    assert abs(rare.p - FAILING_PLAIN) < 4 * se, (rare.p, FAILING_PLAIN, se)
    assert any("run completed" in n for n in rare.notes)
    assert res.summary.outcomes["top"].p == pytest.approx(rare.p)


def test_by_products_are_self_normalised(rare_folder):
    """The start rung is reached by every run: its weighted P is exactly 1 with interval
    [1, 1] (self-normalised by-products), and the outcomes of a dimension sum to 1."""
    _, data = rare_folder
    start = data["levels"]["r1"]  # birth_death.yaml's start_level
    assert (start["p"], start["lo"], start["hi"]) == (1.0, 1.0, 1.0)
    others = [o["p"] for k, o in data["outcomes"].items() if k != "absorbed"]
    assert all(0 <= p <= 1 for p in others)


HEAVY = """\
    name: heavy
    clock: {unit: day, horizon: 20}
    parameters:
      base: {value: 0.08, range: [0, 0.5], assumption: test}
    ladder: [l0, l1, l2, l3, l4, l5, l6]
    start_level: l0
    actors:
      x: {vars: {n: 0, flag: false}}
    actions:
      tick:
        rate: 1.0
        draws: {b: {bernoulli: 0.5}}
        effects: [{add: {x.n: b}}]
      calm: {rate: 0.3}
    triggers:
      up:
        on: tick
        if: b > 0
        probability: "0 if level >= 5 else (1 if x.n > 15 else base + 0.03 * level)"
        cooldown: 0.5
        after: {exponential: {mean: 0.5}}
        do: [{escalate: 1}]
      down:
        on: calm
        probability: "0.6 if level > 0 else 0"
        do: [{deescalate: 1}]
      jump:
        when: level >= 3
        probability: 0.2
        max: 2
        after: 1
        do: [{escalate: 2}]
      flare:
        on: tick
        probability: 0.05
        do: [{set: {x.flag: true}}]
    outcomes:
      esc:
        - {id: top, when: level >= 6}
        - {id: high, when: level >= 4}
        - {id: low, default: true}
      flag:
        - {id: raised, when: x.flag}
        - {id: none, default: true}
    """
# plain runs of HEAVY, -n 300000: 2,534 ended esc=high
HEAVY_PLAIN, HEAVY_PLAIN_SE = 2534 / 300000, 0.000167


def test_heavy_tailed_weights_do_not_bias_the_interval_low(write):
    """Seed 112 drew a tilt near the clip (jump +6.8): pure tilting gave p = 0.0035, 11 SE
    below the truth. The defensive mixture (every 10th run untilted) bounds the weights
    by 1/alpha and the estimate is within 4 SE."""
    res = estimate_rare(write(HEAVY), "esc=high", 4000, 112, pilot=300, execution=SERIAL)
    rare = res.summary.rare
    assert rare is not None
    se = math.hypot(rare.se, HEAVY_PLAIN_SE)
    assert abs(rare.p - HEAVY_PLAIN) < 4 * se, (rare.p, HEAVY_PLAIN, se)
    assert rare.warnings  # the weights are still uneven: said so


def test_defensive_runs_draw_untilted_and_weights_are_bounded(rare_folder):
    """Runs 0, 10, 20, ... draw as plain runs; every weight is p/(a p + (1-a) q) <= 1/a,
    with a the exact share of such runs; the manifest records a and the rule."""
    out, _ = rare_folder
    res = load_results(out)
    rare = res.manifest.rare
    assert rare is not None and rare["untilted_every"] == 10
    alpha = rare["alpha"]
    assert alpha == math.ceil(600 / 10) / 600
    runs = res.runs.to_pandas()
    assert runs["weight"].max() <= 1 / alpha + 1e-12
    plan = make_plan(sim.load_scenario(BIRTH_DEATH))
    theta = [float(rare["theta"].get(t.name, 0.0)) for t in plan.triggers]
    for i in (0, 10, 20, 1):
        r = run_tilted(plan, 4, i, theta, untilted=i % 10 == 0)
        w = 1 / (alpha + (1 - alpha) * math.exp(-r.log_weight))
        assert runs["weight"][i] == pytest.approx(w, rel=1e-12)
        if i % 10 == 0:
            assert r.row[1:] == run_one(plan, 4, i)[0][1:]


def test_folder_problems_are_found_before_the_pilot(rare_folder, monkeypatch):
    """An existing complete folder without force, or resume without a folder: refused
    before any pilot run."""
    import sim.batch.rare as rare_module

    def no_pilot(*args, **kwargs):
        raise AssertionError("the pilot ran")

    monkeypatch.setattr(rare_module, "choose_tilt", no_pilot)
    out, _ = rare_folder
    with pytest.raises(sim.ResultsError, match="already holds results"):
        estimate_rare(BIRTH_DEATH, "absorbed", 600, 9, pilot=200, out=out, execution=SERIAL)
    with pytest.raises(sim.BatchError, match="needs the results folder"):
        estimate_rare(BIRTH_DEATH, "absorbed", 600, 9, pilot=200, resume=True,
                      execution=SERIAL)


def _edited_copy(rare_folder, tmp_path, edit):
    import shutil

    out, _ = rare_folder
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    sorted((copy / "runs").glob("*.parquet"))[-1].unlink()  # something left to run
    path = copy / "manifest.json"
    data = json.loads(path.read_text())
    edit(data["rare"])
    path.write_text(json.dumps(data))
    return copy


@pytest.mark.parametrize("edit", [
    lambda r: r.update(theta="abc"), lambda r: r.update(theta=[1, 2]),
    lambda r: r.update(target="nope"), lambda r: r.update(pilot_runs="many"),
    lambda r: r.update(theta={"up": 1e308}), lambda r: r.update(theta={"up": float("nan")}),
    lambda r: r.update(theta={"nope": 1.0}), lambda r: r.update(alpha=0.5),
    # was accepted, and the summary then reported a pilot 100 times the one that ran
    lambda r: r.update(pilot_runs=100 * r["pilot_runs"]),
], ids=["theta-str", "theta-list", "target", "pilot-str", "theta-huge", "theta-nan",
        "theta-name", "alpha", "pilot-size"])
def test_an_edited_rare_block_is_refused_before_any_run(rare_folder, tmp_path, edit):
    """A manifest whose rare block was edited: exit 2 naming the edit, no traceback, and
    no run (the lost chunk is not recomputed)."""
    copy = _edited_copy(rare_folder, tmp_path, edit)
    chunks = len(list((copy / "runs").glob("*.parquet")))
    for extra in ([], ["--rare", "absorbed", "--pilot", "200"]):
        done = _cli("run", "--resume", str(copy), "-q", "--executor", "serial", *extra)
        assert done.returncode == 2 and "edited" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
    assert len(list((copy / "runs").glob("*.parquet"))) == chunks


@pytest.mark.parametrize(("edit", "words"), [
    (lambda r: r["theta"].update(up=0.5), "runs with other tilts"),
    (lambda r: r.clear(), "tilted runs, not plain ones"),
], ids=["other-theta", "plain"])
def test_chunks_record_their_tilts(rare_folder, tmp_path, edit, words):
    """Chunks state the rare-event settings they ran with: resuming with other tilts, or
    as plain runs (rare set to null), refuses the old chunks instead of mixing them."""
    copy = _edited_copy(rare_folder, tmp_path, edit)
    if words.startswith("tilted"):
        data = json.loads((copy / "manifest.json").read_text())
        data["rare"] = None
        (copy / "manifest.json").write_text(json.dumps(data))
    done = _cli("run", "--resume", str(copy), "-q", "--executor", "serial")
    assert done.returncode == 2 and words in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(("kwargs", "error", "words"), [
    ({"outcome": None}, sim.ScenarioError, "must be a name"),
    ({"outcome": 5}, sim.ScenarioError, "must be a name"),
    ({"parameters": [1, 2]}, sim.BatchError, "must be a mapping"),
])
def test_bad_api_arguments_are_clear_errors(kwargs, error, words):
    args = {"outcome": "absorbed", "parameters": None, **kwargs}
    with pytest.raises(error, match=words):
        estimate_rare(BIRTH_DEATH, args["outcome"], 200, 1, args["parameters"], pilot=200,
                      execution=SERIAL)


def test_no_hit_prints_no_relative_error():
    """p = 0: no 'relative error -%' (it is undefined)."""
    import io

    from rich.console import Console

    from sim.batch.weighted import rare_summary
    from sim.show import _print_rare

    rare = {"target": "hit", "method": "m", "theta": {"t": 1.0}, "pilot_runs": 100}
    none = rare_summary(_weighted([1.0] * 50, [False] * 50), rare)
    sink = io.StringIO()
    _print_rare(type("S", (), {"rare": none})(), Console(file=sink, width=200))
    text = sink.getvalue()
    assert "p = 0" in text and "relative error" not in text and "-%" not in text
    assert "narrower" not in text  # no p to compare plain Monte Carlo at (was "0.0x")
    assert "if it can happen at all" in " ".join(none.warnings)


def test_a_rare_folder_with_an_edited_summary_gets_it_back(rare_folder, tmp_path):
    """Resuming a rare-event folder read its summary to learn its rare block, so an edited
    summary.json made it refuse ('the file was edited') where a plain folder is repaired."""
    import shutil

    out, _ = rare_folder
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    reference = (copy / "summary.json").read_bytes()
    with (copy / "summary.json").open("ab") as f:
        f.write(b" ")
    done = _cli("run", "--resume", str(copy), "-q", "--executor", "serial")
    assert done.returncode == 0, done.stderr
    assert "summary.json: differs from the file the batch wrote" in done.stdout
    assert (copy / "summary.json").read_bytes() == reference
