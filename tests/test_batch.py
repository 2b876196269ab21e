"""Batches: identical runs tables for any executor and chunking; failures isolated; folders."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

import sim
from sim.errors import ResultsError
from sim.results import table_digest
from sim.scenario import load_scenario_text

FLAKY = """\
name: flaky
clock: {horizon: 50}
ladder: [a, b]
actors: {u: {vars: {x: 0}}}
actions:
  go: {at: 1, draws: {k: {bernoulli: 0.7}}, effects: [{set: {u.x: 1 / k}}]}
outcomes: [{id: done, default: true}]
"""


@pytest.fixture(scope="module")
def reference(request):
    from conftest import ROOT

    return sim.load_scenario(ROOT / "scenarios" / "reference" / "tit_for_tat.yaml")


def test_runs_table_is_identical_for_workers_and_chunk_sizes(reference, tmp_path):
    digests = set()
    for workers, executor, chunk in [(1, "serial", 1000), (1, "serial", 7), (2, "processes", 1),
                                     (2, "processes", 7), (2, "processes", 1000)]:
        res = sim.run_batch(reference, 300, seed=42, workers=workers, executor=executor,
                            chunk_size=chunk, out=tmp_path / f"w{workers}c{chunk}")
        table = res.runs_table()
        assert table.column("run").to_pylist() == list(range(300))
        digests.add(table_digest(table))
    assert len(digests) == 1


def test_in_memory_batch_equals_folder_batch(reference, tmp_path):
    a = sim.run_batch(reference, 200, seed=3, executor="serial")
    b = sim.run_batch(reference, 200, seed=3, executor="serial", out=tmp_path / "r")
    assert table_digest(a.runs_table()) == table_digest(b.runs_table())
    assert a.summary.as_dict()["outcomes"] == b.summary.as_dict()["outcomes"]


def test_different_seeds_differ(reference):
    a = sim.run_batch(reference, 200, seed=1, executor="serial").runs_table()
    b = sim.run_batch(reference, 200, seed=2, executor="serial").runs_table()
    assert table_digest(a) != table_digest(b)


def test_failing_runs_are_isolated_and_counted(tmp_path):
    res = sim.run_batch(load_scenario_text(FLAKY), 400, seed=9, executor="serial",
                        out=tmp_path / "f")
    table = res.runs_table().to_pandas()
    bad = table[table["error"].notna()]  # null when a run completed
    assert 0 < len(bad) < 400 and res.failed == len(bad)
    assert (bad["outcome"] == "error").all()
    assert bad["error"].str.contains("cannot compute '1 / k'").all()
    assert res.summary.as_dict()["runs"] == 400 - len(bad)
    assert res.summary.as_dict()["outcomes"]["done"]["count"] == 400 - len(bad)
    assert res.summary.as_dict()["errors"][0]["run"] == int(bad["run"].iloc[0])


def test_existing_folder_is_never_overwritten_without_force(reference, tmp_path):
    out = tmp_path / "r"
    sim.run_batch(reference, 50, seed=1, executor="serial", out=out)
    before = (out / "manifest.json").read_bytes()
    with pytest.raises(ResultsError, match="already holds results"):
        sim.run_batch(reference, 50, seed=2, executor="serial", out=out)
    assert (out / "manifest.json").read_bytes() == before
    sim.run_batch(reference, 50, seed=2, executor="serial", out=out, force=True)
    assert json.loads((out / "manifest.json").read_text())["seed"] == 2
    other = tmp_path / "notes"
    other.mkdir()
    (other / "thesis.txt").write_text("precious")
    with pytest.raises(ResultsError, match="not a results folder"):
        sim.run_batch(reference, 50, seed=2, executor="serial", out=other, force=True)
    assert (other / "thesis.txt").read_text() == "precious"


def test_results_folder_layout_and_provenance(reference, tmp_path):
    out = tmp_path / "r"
    sim.run_batch(reference, 250, seed=4, executor="serial", chunk_size=100, out=out, trace=3,
                  parameters={"cut_prob": "0.25"})
    m = json.loads((out / "manifest.json").read_text())
    assert m["status"] == "complete" and m["seed"] == 4 and m["runs"] == 250
    assert m["scenario"]["content_hash"] == reference.content_hash
    assert m["parameters"]["cut_prob"] == 0.25 and m["overrides"] == {"cut_prob": 0.25}
    assert m["chunks"] == {"total": 3, "complete": [0, 1, 2]}
    assert {"numpy", "simpy", "sim", "python"} <= set(m["versions"])
    assert m["seeding"]["bit_generator"] == "PCG64"
    assert sorted(p.name for p in (out / "runs").iterdir()) == [
        "chunk-000000.parquet", "chunk-000001.parquet", "chunk-000002.parquet"]
    assert pq.read_table(out / "runs").num_rows == 250  # readable as one dataset
    res = sim.load_results(out)
    assert set(res.events.column("run").to_pylist()) == {0, 1, 2}
    assert res.summary.as_dict()["runs"] == 250
    assert res.scenario["name"] == "tit_for_tat"
    s = json.loads((out / "summary.json").read_text())  # strict JSON: no NaN
    assert abs(sum(o["p"] for o in s["outcomes"].values()) - 1) < 1e-9


def test_bad_batch_arguments_are_errors(reference):
    with pytest.raises(sim.BatchError):
        sim.run_batch(reference, 0)
    with pytest.raises(sim.BatchError):
        sim.run_batch(reference, 10, seed=-1)
    with pytest.raises(sim.ScenarioError, match="unknown parameter"):
        sim.run_batch(reference, 10, parameters={"nope": 1})


def test_wilson_interval_known_values():
    lo, hi = sim.wilson(50, 100)
    assert lo == pytest.approx(0.4038, abs=1e-4) and hi == pytest.approx(0.5962, abs=1e-4)
    lo, hi = sim.wilson(0, 20)
    assert lo == 0 and hi == pytest.approx(0.1611, abs=1e-4)


class _Reversed:
    """An executor that runs every chunk, then hands them back last first (as a pool may)."""

    workers = 2

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    def map_unordered(self, fn, tasks):
        return reversed([fn(t) for t in tasks])


def test_summary_does_not_depend_on_the_order_chunks_arrive_in(tmp_path):
    """Chunks that arrive out of order are merged in index order: the summary (path ties,
    mean end time, metric sums) and the end-of-batch files equal a serial run's.
    (Before, path ties followed arrival order, so two workers could reorder them.)"""
    from conftest import ROOT

    sc = sim.load_scenario(ROOT / "scenarios" / "bryansk_atacms_2024.yaml")
    serial = sim.run_batch(sc, 600, seed=5, executor="serial", chunk_size=50,
                           out=tmp_path / "serial")
    shuffled = sim.run_batch(sc, 600, seed=5, executor=_Reversed(), chunk_size=50,
                             out=tmp_path / "reversed")
    assert serial.summary.as_dict() == shuffled.summary.as_dict()
    counts = [p.count for p in serial.summary.paths]
    assert len(set(counts)) < len(counts)  # paths tie here
    for name in ("summary.json", "paths.parquet", "timeline.parquet"):
        assert (tmp_path / "serial" / name).read_bytes() == \
            (tmp_path / "reversed" / name).read_bytes(), name
