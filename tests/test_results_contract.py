"""A results folder is a contract: never deleted or overwritten unless provably ours, one
writer at a time, chunks that prove what they are, effective parameters wherever a result
is shown, and every file readable by pandas, pyarrow, polars and duckdb."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import sim
from sim.cli import cli
from sim.results import table_digest

RUNS, SEED, CHUNK = 600, 3, 100


def _texts(fig) -> list[str]:
    """Every text a figure shows: titles, labels, legends, annotations."""
    fig.canvas.draw()
    return [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]


def invoke(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def ref():
    from conftest import ROOT

    return ROOT / "scenarios" / "reference" / "tit_for_tat.yaml"


@pytest.fixture(scope="module")
def clean_digest(ref):
    return table_digest(sim.run_batch(ref, RUNS, SEED, executor="serial",
                                      chunk_size=CHUNK).runs_table())


def _batch(ref, out: Path, seed: int = SEED, **kw):
    return sim.run_batch(ref, RUNS, seed, executor="serial", chunk_size=CHUNK, out=out, **kw)


# --- 1. --force deletes only a folder that is provably ours ---------------------------

def test_force_refuses_a_folder_with_a_fake_manifest_and_other_files(ref, tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    (d / "manifest.json").write_text('{"manifest_version":3}')
    (d / "a.txt").write_text("precious")
    res = invoke("run", ref, "-n", "20", "--out", d, "--force")
    assert res.exit_code == 2 and "refusing to replace" in res.output
    assert (d / "a.txt").read_text() == "precious"


def test_force_refuses_a_real_results_folder_holding_a_foreign_file(ref, tmp_path):
    out = tmp_path / "r"
    _batch(ref, out)
    (out / "notes.txt").write_text("my notes")
    res = invoke("run", ref, "-n", "20", "--out", out, "--force")
    assert res.exit_code == 2 and "notes.txt" in res.output
    assert (out / "notes.txt").read_text() == "my notes"
    (out / "notes.txt").unlink()
    assert invoke("run", ref, "-n", "20", "--out", out, "--force", "-q").exit_code == 0


def test_force_refuses_a_symlink(ref, tmp_path):
    out = tmp_path / "r"
    _batch(ref, out)
    link = tmp_path / "link"
    link.symlink_to(out)
    res = invoke("run", ref, "-n", "20", "--out", link, "--force")
    assert res.exit_code == 2 and "symbolic link" in res.output
    assert sim.load_results(out).manifest.runs == RUNS


def test_empty_out_is_refused(ref, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "keep.txt").write_text("x")
    res = invoke("run", ref, "-n", "20", "--out", "")
    assert res.exit_code == 2 and "--out" in res.output and "empty" in res.output
    assert (tmp_path / "keep.txt").exists()


def test_a_non_empty_foreign_folder_is_not_called_results(ref, tmp_path):
    d = tmp_path / "mine"
    d.mkdir()
    (d / "x.txt").write_text("x")
    res = invoke("run", ref, "-n", "20", "--out", d)
    assert res.exit_code == 2 and "not a results folder" in res.output
    assert "already holds results" not in res.output


# --- 2. nothing is overwritten without --force ----------------------------------------

def test_report_and_plots_are_not_overwritten_without_force(ref, tmp_path):
    out = tmp_path / "r"
    _batch(ref, out)
    other = tmp_path / "r2"
    _batch(ref, other, seed=SEED + 1)
    report = tmp_path / "report.html"
    report.write_text("my own report")
    res = invoke("report", out, "--out", report)
    assert res.exit_code == 2 and "--force" in res.output
    assert report.read_text() == "my own report"
    assert invoke("report", out, "--out", report, "--force").exit_code == 0
    assert "<!DOCTYPE html>" in report.read_text()
    figs = tmp_path / "figs"
    assert invoke("plot", out, "--out", figs, "--kind", "outcomes").exit_code == 0
    before = (figs / "outcomes.png").read_bytes()
    res = invoke("plot", out, "--out", figs, "--kind", "outcomes")
    assert res.exit_code == 2 and "--force" in res.output
    assert (figs / "outcomes.png").read_bytes() == before
    assert invoke("plot", out, other, "--out", figs).exit_code == 0
    res = invoke("plot", out, other, "--out", figs)
    assert res.exit_code == 2 and "compare.png" in res.output
    assert invoke("plot", out, other, "--out", figs, "--force").exit_code == 0


# --- 3. one writer at a time --------------------------------------------------------------

def test_a_second_writer_is_refused_naming_the_holder(ref, tmp_path):
    out = tmp_path / "busy"
    first = subprocess.Popen([sys.executable, "-m", "sim", "run", str(ref), "-n", "400000",
                              "--executor", "serial", "--chunk-size", "500", "--out", str(out),
                              "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not list((out / "runs").glob("chunk-*.parquet")):
            assert time.monotonic() < deadline and first.poll() is None, "first run stalled"
            time.sleep(0.05)
        second = subprocess.run([sys.executable, "-m", "sim", "run", str(ref), "-n", "100",
                                 "--out", str(out), "--force", "-q"], capture_output=True,
                                text=True, timeout=60)
        assert second.returncode == 2, second.stderr
        assert f"pid {first.pid}" in second.stderr and "Traceback" not in second.stderr
        resume = subprocess.run([sys.executable, "-m", "sim", "run", "--resume", str(out),
                                 "-q"], capture_output=True, text=True, timeout=60)
        assert resume.returncode == 2 and f"pid {first.pid}" in resume.stderr
    finally:
        first.kill()
        first.wait(timeout=30)
    # the holder is gone (killed): its lock went with it, so the folder can be replaced
    done = subprocess.run([sys.executable, "-m", "sim", "run", str(ref), "-n", "100",
                           "--out", str(out), "--force", "-q"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert sim.load_results(out).manifest.runs == 100


def test_a_stale_lock_file_is_taken_over(ref, tmp_path):
    out = tmp_path / "r"
    _batch(ref, out)
    (out / ".lock").write_text('{"pid": 999999, "host": "gone"}')
    assert invoke("run", ref, "-n", "50", "--out", out, "--force", "-q").exit_code == 0


# --- 4/5. resume verifies every chunk -------------------------------------------------------

def _flip(path: Path, column: str = "end_time", n: int = 60) -> None:
    """Flip ``n`` bytes in the middle of a column's data pages."""
    meta = pq.read_metadata(path).row_group(0)
    chunk = next(meta.column(i) for i in range(meta.num_columns)
                 if meta.column(i).path_in_schema == column)
    data = bytearray(path.read_bytes())
    start = chunk.data_page_offset + chunk.total_compressed_size // 2 - n // 2
    for i in range(start, start + n):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def _resume(out: Path):
    return invoke("run", "--resume", out, "-q")


def test_flipped_bytes_in_a_chunk_are_recomputed(ref, tmp_path, clean_digest):
    out = tmp_path / "r"
    _batch(ref, out)
    _flip(out / "runs" / "chunk-000002.parquet")
    res = _resume(out)
    assert res.exit_code == 0, res.output
    m = json.loads((out / "manifest.json").read_text())
    assert m["resumed"][-1]["chunks_found"] == 5 and m["resumed"][-1]["chunks_to_run"] == 1
    assert table_digest(sim.load_results(out).runs) == clean_digest
    assert sim.load_results(out).verify() == []


def test_a_chunk_of_another_seed_is_refused(ref, tmp_path):
    out, other = tmp_path / "r", tmp_path / "o"
    _batch(ref, out)
    _batch(ref, other, seed=SEED + 5)
    victim = out / "runs" / "chunk-000001.parquet"
    kept = other / "runs" / "chunk-000001.parquet"
    shutil.copy(kept, victim)
    res = _resume(out)
    assert res.exit_code == 2 and "of another batch" in res.output and "seed" in res.output
    assert victim.read_bytes() == kept.read_bytes()  # nothing deleted


def test_a_chunk_of_another_variant_is_refused(ref, tmp_path):
    out, other = tmp_path / "r", tmp_path / "o"
    _batch(ref, out)
    _batch(ref, other, parameters={"cut_prob": 0.9})
    shutil.copy(other / "runs" / "chunk-000004.parquet", out / "runs" / "chunk-000004.parquet")
    res = _resume(out)
    assert res.exit_code == 2 and "parameters hash" in res.output


def test_an_edited_aggregate_is_refused(ref, tmp_path):
    """The aggregate is rewritten to claim more runs, with a recomputed checksum."""
    import base64
    import hashlib
    from dataclasses import asdict, replace

    from sim.batch.aggregate import Aggregate
    from sim.results import chunkfile

    out = tmp_path / "r"
    _batch(ref, out)
    path = out / "runs" / "chunk-000000.parquet"
    ident, table, data = chunkfile.read_chunk(path)
    agg = Aggregate.loads(data)
    agg.runs += 1000
    agg.outcome_counts[0] += 1000
    forged = agg.dumps()
    ident = replace(ident, checksum="")
    ident = replace(ident, checksum=chunkfile._checksum(ident, table, forged))
    meta = {chunkfile.IDENTITY_KEY: json.dumps(asdict(ident), sort_keys=True).encode(),
            chunkfile.AGGREGATE_KEY: base64.b64encode(forged)}
    pq.write_table(table.replace_schema_metadata(meta), path)
    assert hashlib.sha256(path.read_bytes()).hexdigest()  # written
    res = _resume(out)
    assert res.exit_code == 2 and "aggregate" in res.output and "edited" in res.output


def test_an_aggregate_edited_without_its_checksum_is_recomputed(ref, tmp_path, clean_digest):
    import base64

    from sim.batch.aggregate import Aggregate
    from sim.results import chunkfile

    out = tmp_path / "r"
    _batch(ref, out)
    path = out / "runs" / "chunk-000003.parquet"
    table = pq.read_table(path)
    meta = dict(table.schema.metadata)
    agg = Aggregate.loads(base64.b64decode(meta[chunkfile.AGGREGATE_KEY]))
    agg.runs += 1000
    meta[chunkfile.AGGREGATE_KEY] = base64.b64encode(agg.dumps())
    pq.write_table(table.replace_schema_metadata(meta), path)
    res = _resume(out)
    assert res.exit_code == 0, res.output
    assert table_digest(sim.load_results(out).runs) == clean_digest
    assert sim.load_results(out).batch_summary().runs == RUNS


def test_a_stray_chunk_is_refused(ref, tmp_path):
    out = tmp_path / "r"
    _batch(ref, out)
    shutil.copy(out / "runs" / "chunk-000000.parquet", out / "runs" / "chunk-000006.parquet")
    res = _resume(out)
    assert res.exit_code == 2 and "not chunks of this batch" in res.output
    with pytest.raises(sim.ResultsError, match="altered"):
        _ = sim.load_results(out).runs  # 700 rows for 600 runs: never silently read


def test_a_manifest_edited_to_another_seed_is_refused(ref, tmp_path):
    out = tmp_path / "r"
    _batch(ref, out)
    m = json.loads((out / "manifest.json").read_text())
    m["seed"] = SEED + 1
    (out / "manifest.json").write_text(json.dumps(m))
    res = _resume(out)
    assert res.exit_code == 2 and "of another batch" in res.output


@pytest.mark.parametrize("field, value", [("chunk_size", 0), ("runs", 1e400), ("seed", "7"),
                                          ("scenario", "x"), ("chunks", [1, 2])])
def test_a_manifest_edited_to_nonsense_is_refused(ref, tmp_path, field, value):
    out = tmp_path / "r"
    _batch(ref, out)
    m = json.loads((out / "manifest.json").read_text())
    m[field] = value
    (out / "manifest.json").write_text(json.dumps(m).replace("Infinity", "1e400"))
    for args in (("run", "--resume", out, "-q"), ("plot", out), ("report", out),
                 ("compare", out, out)):
        res = invoke(*args)
        assert res.exit_code == 2 and "manifest.json" in res.output, (args, res.output)


def test_a_folder_of_an_older_format_is_refused_not_recomputed(ref, tmp_path):
    out = tmp_path / "r"
    _batch(ref, out)
    m = json.loads((out / "manifest.json").read_text())
    m["format"] = 1
    (out / "manifest.json").write_text(json.dumps(m))
    before = sorted(p.stat().st_mtime_ns for p in (out / "runs").iterdir())
    res = _resume(out)
    assert res.exit_code == 2 and "format 1" in res.output
    assert sorted(p.stat().st_mtime_ns for p in (out / "runs").iterdir()) == before


def test_tampering_ends_in_refusal_or_the_clean_table(ref, tmp_path, clean_digest):
    """Deleted, truncated, flipped and emptied chunks together: the resumed table is the
    uninterrupted batch's."""
    out = tmp_path / "r"
    _batch(ref, out)
    runs = out / "runs"
    (runs / "chunk-000000.parquet").unlink()
    data = (runs / "chunk-000001.parquet").read_bytes()
    (runs / "chunk-000001.parquet").write_bytes(data[: len(data) // 3])
    _flip(runs / "chunk-000004.parquet", column="path", n=20)
    (runs / "chunk-000005.parquet").write_bytes(b"")
    assert _resume(out).exit_code == 0
    assert table_digest(sim.load_results(out).runs) == clean_digest


# --- 6. effective parameters everywhere -----------------------------------------------------

def test_overrides_are_shown_wherever_a_result_is(ref, tmp_path):
    out, base = tmp_path / "strong", tmp_path / "base"
    res = invoke("run", ref, "-n", "300", "--set", "intercept_prob=0.9", "--out", out, "-q")
    assert res.exit_code == 0
    assert "intercept_prob=0.9" in res.output and "scenario: 0.83" in res.output
    doc = json.loads((out / "scenario.json").read_text())
    p = doc["parameters"]["intercept_prob"]
    assert p["value"] == 0.9 and p["overridden"]["scenario_value"] == 0.83
    html = (tmp_path / "rep.html")
    assert invoke("report", out, "--out", html).exit_code == 0
    text = html.read_text()
    assert "0.9 (set on the command line; scenario: 0.83)" in text
    assert "intercept_prob=0.9" in text
    from sim.plots import compare_bars, outcome_bars

    fig = outcome_bars(out)
    assert "intercept_prob=0.9" in fig.axes[0].get_title()
    assert invoke("run", ref, "-n", "300", "--out", base, "-q").exit_code == 0
    fig = compare_bars([base, out])
    assert any("intercept_prob=0.9" in label for label in _texts(fig))
    # the folder still resumes to the scenario as the file had it
    assert invoke("run", "--resume", out, "-q").exit_code == 0


# --- 7. every file readable by four readers -------------------------------------------------

def _every_file(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def _read_with_all(path: Path) -> int:
    import duckdb
    import pandas as pd
    import polars as pl
    import pyarrow.parquet as pq

    n = pq.read_table(path).num_rows
    assert len(pd.read_parquet(path)) == n
    assert pl.read_parquet(path).height == n
    assert duckdb.sql(f"select count(*) from read_parquet('{path}')").fetchall()[0][0] == n
    return n


def test_every_file_of_every_kind_of_folder_is_readable_by_four_readers(ref, tmp_path):
    from conftest import ROOT

    traced = tmp_path / "traced"
    assert invoke("run", ref, "-n", "300", "--trace", "5", "--out", traced, "-q").exit_code == 0
    sweep = tmp_path / "sweep"
    assert invoke("sweep", ref, "--vary", "cut_prob=0.2,0.8", "-n", "100", "--out", sweep,
                  "-q").exit_code == 0
    sens = tmp_path / "sens"
    assert invoke("sensitivity", ROOT / "scenarios" / "reference" / "tit_for_tat.yaml",
                  "--outcome", "ceasefire", "--vary", "cut_prob", "--vary", "clash_prob",
                  "--samples", "4", "-n", "20", "--out", sens, "-q").exit_code == 0
    seen = set()
    for folder in (traced, sweep, sens):
        for path in _every_file(folder):
            if path.suffix == ".parquet":
                _read_with_all(path)
            elif path.suffix == ".json":
                json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(c))
            seen.add(path.name if "chunk-" not in path.name else "chunk")
    assert {"chunk", "paths.parquet", "timeline.parquet", "sweep.parquet", "points.parquet",
            "sensitivity.json", "manifest.json", "summary.json", "scenario.json"} <= seen
    import polars as pl

    assert pl.read_parquet(traced / "runs" / "*.parquet").height == 300
    assert pl.read_parquet(sweep / "runs" / "**" / "*.parquet").height == 200


# --- 8/9. resume from the folder alone; JSON says where ------------------------------------

def test_resume_needs_nothing_but_the_folder(ref, tmp_path, clean_digest):
    out = tmp_path / "r"
    _batch(ref, out)
    (out / "runs" / "chunk-000005.parquet").unlink()
    res = invoke("run", "--resume", out, "-q")
    assert res.exit_code == 0, res.output
    assert table_digest(sim.load_results(out).runs) == clean_digest


def test_json_output_says_where_the_results_are(ref, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = invoke("run", ref, "-n", "50", "--json")
    data = json.loads(res.stdout)
    assert Path(data["results"]).is_dir() and (Path(data["results"]) / "manifest.json").exists()
    res = invoke("sweep", ref, "--vary", "cut_prob=0.2,0.8", "-n", "20", "--json")
    data = json.loads(res.stdout)
    assert Path(data["results"]).is_dir() and len(data["points"]) == 2
    res = invoke("sensitivity", ref, "--outcome", "ceasefire", "--vary", "cut_prob",
                 "--vary", "clash_prob", "--samples", "4", "-n", "10", "--json", "-q")
    assert Path(json.loads(res.stdout)["results"]).is_dir()


# --- 10. compare -------------------------------------------------------------------------

def test_compare_refuses_different_scenarios_unless_allowed(ref, tmp_path):
    from conftest import ROOT

    a, b = tmp_path / "a", tmp_path / "b"
    _batch(ref, a)
    assert invoke("run", ROOT / "scenarios" / "other" / "border_standoff.yaml", "-n", "100",
                  "--out", b, "-q").exit_code == 0
    res = invoke("compare", a, b)
    assert res.exit_code == 2 and "different scenarios" in res.output
    assert "--allow-different" in res.output
    assert invoke("compare", a, b, "--allow-different").exit_code == 0


def test_compare_pairs_on_common_runs_and_notes_incomplete_folders(ref, tmp_path):
    from sim.analysis.compare import compare

    a, b = tmp_path / "a", tmp_path / "b"
    sim.run_batch(ref, 600, SEED, executor="serial", chunk_size=100, out=a)
    sim.run_batch(ref, 400, SEED, executor="serial", chunk_size=100, out=b,
                  parameters={"cut_prob": 0.9})
    cmp = compare([a, b])
    assert cmp.methods[str(b)] == "paired"
    assert any("400 run indices both have" in n for n in cmp.notes)
    m = json.loads((b / "manifest.json").read_text())
    m["status"] = "interrupted"
    (b / "manifest.json").write_text(json.dumps(m))
    res = invoke("compare", a, b)
    assert res.exit_code == 0 and "interrupted" in res.output


def test_compare_writes_its_table_and_plot_takes_sweep_points(ref, tmp_path):
    import pandas as pd

    sweep = tmp_path / "s"
    assert invoke("sweep", ref, "--vary", "cut_prob=0.2,0.8", "-n", "200", "--out", sweep,
                  "-q").exit_code == 0
    table = tmp_path / "cmp.csv"
    res = invoke("compare", f"{sweep}@0", f"{sweep}@1", "--out", table)
    assert res.exit_code == 0
    frame = pd.read_csv(table)
    assert {"outcome", "result", "p", "lo", "hi", "diff", "diff_lo", "diff_hi"} <= set(frame)
    assert invoke("compare", f"{sweep}@0", f"{sweep}@1", "--out", table).exit_code == 2
    res = invoke("plot", f"{sweep}@0", f"{sweep}@1", "--out", tmp_path / "f")
    assert res.exit_code == 0, res.output
    from sim.plots import compare_bars

    fig = compare_bars([f"{sweep}@0", f"{sweep}@1"])
    assert len(fig.axes) == 2 and "difference" in fig.axes[1].get_xlabel()
    assert any("cut_prob=0.8" in text for text in _texts(fig))


# --- 11. self-describing data files ----------------------------------------------------------

def test_runs_table_is_typed_and_self_describing(ref, tmp_path):
    import pyarrow as pa

    out = tmp_path / "r"
    _batch(ref, out)
    res = sim.load_results(out)
    table = res.runs
    assert table.schema.field("usa.support").type == pa.bool_()
    assert table.column("error").null_count == table.num_rows
    assert table.schema.field("end_time").metadata[b"unit"] == b"day"
    assert "end_date" not in table.column_names  # the reference clock has no start date
    from conftest import ROOT

    dated = sim.run_batch(ROOT / "scenarios" / "bryansk_atacms_2024.yaml", 50, 1,
                          executor="serial", out=tmp_path / "dated").runs_table()
    assert dated.schema.field("end_date").type == pa.date32()
    first = dated.slice(0, 1).to_pylist()[0]
    import datetime as dt

    assert first["end_date"] == dt.date(2024, 11, 20) + dt.timedelta(
        days=int(first["end_time"]))
    sweep = tmp_path / "s"
    assert invoke("sweep", ref, "--vary", "cut_prob=0.2,0.8", "-n", "50", "--out", sweep,
                  "-q").exit_code == 0
    frame = sim.load_results(sweep).runs_frame(with_points=True)
    assert set(frame["param.cut_prob"]) == {0.2, 0.8}


def test_metrics_are_shown_in_the_console_and_the_report(tmp_path, write):
    path = write("""
        name: m
        clock: {horizon: 10}
        ladder: [a, b]
        actors: {x: {vars: {v: 0}}}
        actions:
          tick: {actor: x, every: 1, effects: [{add: {x.v: 1}}]}
        metrics: {ticks: {expr: x.v}}
        outcomes: [{id: done, default: true}]
    """)
    out = tmp_path / "r"
    res = invoke("run", path, "-n", "20", "--out", out, "-q")
    assert res.exit_code == 0 and "Metrics" in res.output and "ticks" in res.output
    assert invoke("report", out).exit_code == 0
    assert "ticks" in (out / "report.html").read_text()


def test_console_and_report_format_times_the_same_way(tmp_path, write):
    """One formatter: a clock in weeks with a start date shows dates in both views."""
    path = write("""
        name: weeks
        clock: {unit: week, start: 2025-01-06, horizon: 20}
        ladder: [a, b]
        actions:
          up: {at: 3, effects: [{escalate: 1}]}
        outcomes: [{id: done, default: true}]
    """)
    out = tmp_path / "r"
    res = invoke("run", path, "-n", "10", "--out", out, "-q")
    assert res.exit_code == 0 and "3 wk, 27 Jan 2025" in res.output
    assert invoke("report", out).exit_code == 0
    assert "3 wk, 27 Jan 2025" in (out / "report.html").read_text()


def test_a_force_interrupted_halfway_leaves_a_folder_that_is_still_ours(ref, tmp_path,
                                                                       monkeypatch):
    """The manifest is removed last, so a half-cleared folder can still be replaced."""
    import sim.results.folder as folder

    out = tmp_path / "r"
    _batch(ref, out, trace=2)
    real = folder.shutil.rmtree
    calls = []

    def killed(path, *a, **kw):
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(path, *a, **kw)

    monkeypatch.setattr(folder.shutil, "rmtree", killed)
    with pytest.raises(KeyboardInterrupt):
        _batch(ref, out, force=True)
    monkeypatch.undo()
    assert (out / "manifest.json").is_file()
    _batch(ref, out, force=True)
    assert sim.load_results(out).manifest.runs == RUNS


def test_a_run_with_overrides_is_not_called_the_base_case(tmp_path):
    from conftest import ROOT

    res = invoke("run", ROOT / "scenarios" / "bryansk_atacms_2024.yaml", "-n", "50",
                 "--set", "intercept_prob=0.9", "--out", tmp_path / "r", "-q")
    assert res.exit_code == 0
    header = res.output.splitlines()[0]
    assert "base case" not in header and "[intercept_prob=0.9]" in header


def test_trace_payloads_are_typed_columns(tmp_path, write):
    import pyarrow as pa

    path = write("""
        name: draws
        clock: {unit: day, start: 2025-01-01, horizon: 30}
        ladder: [a, b]
        actions:
          salvo:
            every: 5
            draws:
              hits: {binomial: {n: 6, p: 0.5}}
              delay: {uniform: [1, 2]}
          talk: {at: 3}
        outcomes: [{id: done, default: true}]
    """)
    out = tmp_path / "r"
    assert invoke("run", path, "-n", "5", "--trace", "--out", out, "-q").exit_code == 0
    events = sim.load_results(out).events
    assert events.schema.field("draw.hits").type == pa.float64()
    assert events.schema.field("date").type == pa.date32()
    rows = events.to_pylist()
    salvo = [r for r in rows if r["name"] == "salvo"]
    talk = [r for r in rows if r["name"] == "talk"]
    assert salvo and all(0 <= r["draw.hits"] <= 6 and 1 <= r["draw.delay"] <= 2 for r in salvo)
    assert all(r["draw.hits"] is None for r in talk)
    assert salvo[0]["detail"].startswith("hits=")


# --- from a newcomer's pass ------------------------------------------------------------------

def test_an_interrupted_sensitivity_resumes_with_its_own_command(ref, tmp_path):
    import os
    import signal

    out = tmp_path / "sens"
    args = [sys.executable, "-m", "sim", "sensitivity", str(ref), "--outcome", "ceasefire",
            "--vary", "cut_prob", "--vary", "clash_prob", "--samples", "32", "-n", "400",
            "--executor", "serial", "--out", str(out), "-q"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while len(list((out / "runs").rglob("chunk-*.parquet"))) < 5:
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "escalation sensitivity' command plus --resume" in err
    done = subprocess.run([a for a in args if a not in ("--out", str(out))]
                          + ["--resume", str(out)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert sim.load_results(out).has_sensitivity
    res = invoke("run", "--resume", out)
    assert res.exit_code == 2 and "holds a sensitivity, not a batch" in res.output


def test_resuming_a_complete_folder_changes_nothing(ref, tmp_path):
    out = tmp_path / "r"
    _batch(ref, out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and p.name != ".lock"}
    assert invoke("run", "--resume", out, "-q").exit_code == 0
    after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and p.name != ".lock"}
    assert after == before


def test_a_rerun_into_an_interrupted_folder_suggests_resume(ref, tmp_path):
    out = tmp_path / "r"
    _batch(ref, out)
    m = json.loads((out / "manifest.json").read_text())
    m["status"] = "interrupted"
    (out / "manifest.json").write_text(json.dumps(m))
    res = invoke("run", ref, "-n", "600", "--out", out)
    assert res.exit_code == 2 and f"--resume {out}" in res.output


def test_parameter_errors_say_they_are_errors_and_library_overrides_are_not_cli(ref, tmp_path):
    res = invoke("run", ref, "-n", "10", "--set", "cut_prob=5")
    assert res.exit_code == 2 and res.output.startswith("escalation: error: ")
    out = tmp_path / "r"
    sim.run_batch(ref, 50, 1, {"cut_prob": 0.9}, executor="serial", out=out)
    doc = json.loads((out / "scenario.json").read_text())
    assert doc["parameters"]["cut_prob"]["overridden"]["by"] == "set for this run"


def test_resuming_says_when_figures_and_report_are_stale(ref, tmp_path):
    out = tmp_path / "r"
    _batch(ref, out)
    assert invoke("plot", out, "--kind", "outcomes").exit_code == 0
    (out / "runs" / "chunk-000003.parquet").unlink()
    res = invoke("run", "--resume", out, "-q")
    assert res.exit_code == 0 and "were made before this resume" in res.output


def test_ctrl_c_just_after_a_chunk_is_written_still_lists_it_as_complete(ref, tmp_path,
                                                                        monkeypatch):
    """CI found it: SIGINT landing between a chunk's rename and its bookkeeping left a
    whole chunk on disk that the interrupted manifest did not list."""
    import os
    import signal

    import sim.results.folder as folder

    out = tmp_path / "r"
    real = folder.ResultsFolder.write_chunk
    written = []

    def then_ctrl_c(self, point, chunk, runs, events=None):
        real(self, point, chunk, runs, events)
        written.append(chunk)
        if len(written) == 2:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(folder.ResultsFolder, "write_chunk", then_ctrl_c)
    with pytest.raises(sim.errors.BatchInterrupted):
        _batch(ref, out)
    monkeypatch.undo()
    manifest = json.loads((out / "manifest.json").read_text())
    on_disk = sorted(int(f.stem.split("-")[1]) for f in (out / "runs").glob("chunk-*.parquet"))
    assert manifest["status"] == "interrupted"
    assert manifest["chunks"]["complete"] == on_disk == sorted(written)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["runs"] == len(written) * CHUNK


def test_an_edited_manifest_is_named_as_a_possible_cause(tmp_path, reference_path):
    """With manifest.json's seed edited, resume blamed a valid chunk ('move it away'),
    advice that throws good runs away."""
    import json
    import subprocess
    import sys

    import sim

    out = tmp_path / "m"
    sim.run_batch(sim.load_scenario(reference_path), 600, 2, out=out,
                  execution=sim.Execution(executor="serial", chunk_size=200))
    (out / "runs" / "chunk-000000.parquet").unlink()
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["seed"] = 8
    (out / "manifest.json").write_text(json.dumps(manifest))
    done = subprocess.run([sys.executable, "-m", "sim", "run", "--resume", str(out), "-q"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert "If manifest.json was edited, restore it" in done.stderr, done.stderr
