"""Speed and memory figures (opt-in: `pytest -m benchmark -s`). They print, then check
only loose floors: the figures themselves go in closing notes, measured in one run."""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

import sim
from sim.engine import make_plan, run_one

pytestmark = pytest.mark.benchmark

RUNS = 20_000
ROUNDS = 5  # alternations of the whole-process comparisons; the median ratio is printed
HERE = Path(__file__).resolve().parent


def _rate(fn, runs: int) -> float:
    t0 = time.perf_counter()
    fn(runs)
    return runs / (time.perf_counter() - t0)


def test_engine_against_handwritten_simpy(reference_path):
    """Engine runs/s beside a plain SimPy program of the same rules (target ratio >= 0.8)."""
    from support.handwritten import run

    plan = make_plan(sim.load_scenario(reference_path))

    def engine(n: int) -> None:
        for i in range(n):
            run_one(plan, 1, i)

    def hand(n: int) -> None:
        for i in range(n):
            run(1, i)

    engine(200), hand(200)  # warm up
    hand_rate = _rate(hand, RUNS)
    engine_rate = _rate(engine, RUNS)
    print(f"\nreference scenario, one core: engine {engine_rate:,.0f} runs/s, hand-written SimPy "
          f"{hand_rate:,.0f} runs/s, ratio {engine_rate / hand_rate:.2f} (target >= 0.8)")
    assert engine_rate / hand_rate > 0.5


@pytest.mark.parametrize("scenario", ["reference/tit_for_tat.yaml", "bryansk_atacms_2024.yaml"])
def test_batch_executors(scenario, tmp_path):
    """Batch runs/s: serial, 2 worker processes, Dask with 2 local workers; ratios to serial
    (target >= 1.8 for two workers on two free cores). Same digest for all three."""
    from conftest import ROOT

    from sim.results import table_digest

    sc = sim.load_scenario(ROOT / "scenarios" / scenario)
    runs = int(os.environ.get("BENCH_RUNS", "40000"))
    rates, digests = {}, {}
    for name, kw in (("serial", {"executor": "serial"}),
                     ("processes(2)", {"executor": "processes", "workers": 2}),
                     ("dask(2)", {"executor": "dask", "workers": 2})):
        t0 = time.perf_counter()
        res = sim.run_batch(sc, runs, seed=1, out=tmp_path / name, **kw)
        rates[name] = runs / (time.perf_counter() - t0)  # including start-up
        digests[name] = table_digest(res.runs_table())
    base = rates["serial"]
    print(f"\n{scenario}: {runs:,} runs; " + "; ".join(
        f"{k} {v:,.0f} runs/s ({v / base:.2f}x)" for k, v in rates.items())
        + " (wall clock, start-up included)")
    assert len(set(digests.values())) == 1


@pytest.mark.parametrize("executor", ["processes", "dask"])
@pytest.mark.parametrize("scenario", ["reference/tit_for_tat.yaml", "bryansk_atacms_2024.yaml"])
def test_million_runs_peak_memory(scenario, executor, tmp_path):
    """Peak memory of a 1,000,000-run batch (target < 1 GiB), measured in a child process."""
    from conftest import ROOT

    runs = int(os.environ.get("BENCH_MILLION", "1000000"))
    out = tmp_path / "m"
    subprocess.run([sys.executable, "-m", "sim", "run", str(ROOT / "scenarios" / scenario),
                    "-n", str(runs), "--seed", "1", "--workers", "2", "--executor", executor,
                    "--out", str(out), "-q"],
                   check=True, capture_output=True)
    manifest = json.loads((out / "manifest.json").read_text())
    peak = manifest["peak_memory_mib"]
    print(f"\n{scenario}, {executor}: {runs:,} runs at {manifest['runs_per_second']:,.0f} "
          f"runs/s; peak RSS driver {peak['driver']:,.0f} MiB, largest worker "
          f"{peak['worker']:,.0f} MiB (target < 1 GiB each)")
    assert max(peak.values()) < 1024


def test_rare_outcome_against_plain_monte_carlo():
    """P(nuclear use) in the base case: plain Monte Carlo and the rare-event estimator
    (pilot included) at equal CPU time; target: a half-width at least 5x narrower."""
    from conftest import ROOT

    from sim.batch.intervals import Z95
    from sim.batch.rare import estimate_rare

    sc = sim.load_scenario(ROOT / "scenarios" / "bryansk_atacms_2024.yaml")
    plain_runs = int(os.environ.get("BENCH_RARE_PLAIN", "20000"))
    rare_runs = int(os.environ.get("BENCH_RARE_RUNS", "5000"))
    t0 = time.process_time()
    plain = sim.run_batch(sc, plain_runs, seed=7, executor="serial")
    plain_cpu = time.process_time() - t0
    t0 = time.process_time()
    rare = estimate_rare(sc, "nuclear=used", rare_runs, seed=7, pilot=1000,
                         execution=sim.Execution(executor="serial"))
    rare_cpu = time.process_time() - t0
    o, r = plain.summary.outcomes["nuclear=used"], rare.summary.rare
    assert r is not None
    plain_half, rare_half = (o.hi - o.lo) / 2, (r.hi - r.lo) / 2
    # a half-width shrinks as 1/sqrt(runs), so as 1/sqrt(CPU time): plain at the rare CPU
    plain_at_equal = plain_half * math.sqrt(plain_cpu / rare_cpu)
    # the same, from the rare estimate's p (steadier than plain's few hits)
    plain_at_p = Z95 * math.sqrt(r.p * (1 - r.p) / plain_runs) * math.sqrt(plain_cpu / rare_cpu)
    ratio = plain_at_equal / rare_half
    print(f"\nP(nuclear=used), base case, one core:"
          f"\n  plain MC    {plain_runs:,} runs, {plain_cpu:.1f} s CPU: p = {o.p:.5f} "
          f"[{o.lo:.5f}, {o.hi:.5f}] ({o.count} hits), half-width {plain_half:.5f}"
          f"\n  rare-event  {rare_runs:,} runs + {r.pilot_runs:,} pilot, {rare_cpu:.1f} s CPU: "
          f"p = {r.p:.5f} [{r.lo:.5f}, {r.hi:.5f}] ({r.hits} hits, ESS {r.ess:,.0f}), "
          f"half-width {rare_half:.5f}"
          f"\n  at equal CPU ({rare_cpu:.1f} s) plain's half-width would be {plain_at_equal:.5f} "
          f"({plain_at_p:.5f} at the rare estimate's p): ratio {ratio:.1f}x "
          f"({plain_at_p / rare_half:.1f}x) (target >= 5)")
    assert ratio >= 5


def _timed(cmd: list[str]) -> float:
    """Wall-clock seconds of a whole process (start-up, imports, work, files, exit)."""
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - t0


def test_end_to_end_against_handwritten_process(reference_path, tmp_path):
    """The whole `escalation run ... -n 40000 --workers 1` process (start-up, runs,
    aggregation, Parquet) beside the hand-written SimPy program run as a process too,
    alternating ROUNDS times; prints each round and the median throughput ratio (target
    >= 1.0)."""
    runs = int(os.environ.get("BENCH_E2E_RUNS", "40000"))
    engine = [sys.executable, "-m", "sim", "run", str(reference_path), "-n", str(runs),
              "--seed", "1", "--workers", "1", "--out", str(tmp_path / "r"), "--force", "-q"]
    hand = [sys.executable, str(HERE / "support" / "handwritten.py"), str(runs), "1"]
    ratios = []
    for k in range(ROUNDS):
        h, e = _timed(hand), _timed(engine)
        ratios.append(h / e)  # throughput ratio: same runs, so the inverse time ratio
        print(f"\nround {k + 1}: hand-written {h:.2f} s, escalation run {e:.2f} s, "
              f"ratio {h / e:.2f}", end="")
    print(f"\nreference, {runs:,} runs, whole processes: median engine/hand-written "
          f"throughput {statistics.median(ratios):.2f} (target >= 1.0)")


def test_two_workers_against_one(tmp_path):
    """Bryansk base, whole `escalation run` processes: --workers 2 against --workers 1,
    alternating ROUNDS times; prints the median speed-up (target >= 1.9 on two free
    cores)."""
    from conftest import ROOT

    runs = int(os.environ.get("BENCH_RUNS", "40000"))
    scenario = str(ROOT / "scenarios" / "bryansk_atacms_2024.yaml")

    def cmd(workers: int) -> list[str]:
        return [sys.executable, "-m", "sim", "run", scenario, "-n", str(runs), "--seed", "1",
                "--workers", str(workers), "--out", str(tmp_path / f"w{workers}"), "--force",
                "-q"]

    speedups = []
    for k in range(ROUNDS):
        one, two = _timed(cmd(1)), _timed(cmd(2))
        speedups.append(one / two)
        print(f"\nround {k + 1}: 1 worker {one:.2f} s, 2 workers {two:.2f} s, "
              f"speed-up {one / two:.2f}", end="")
    print(f"\nBryansk base, {runs:,} runs: median 2-worker speed-up "
          f"{statistics.median(speedups):.2f} (target >= 1.9)")
