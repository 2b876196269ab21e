"""Hostile results folders and absurd run settings: a clear message and exit 2 (or exit 3
when every run failed), never a traceback, never a hang or a runaway allocation."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

import sim

ROOT = Path(__file__).resolve().parents[2]
REF = str(ROOT / "scenarios" / "reference" / "tit_for_tat.yaml")

ALL_FAIL = """\
name: all_fail
clock: {horizon: 10}
ladder: [a, b]
actors: {x: {vars: {v: 0}}}
actions:
  boom: {actor: x, at: 1, effects: [{set: {x.v: 1 / x.v}}]}
outcomes: [{id: done, default: true}]
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("good") / "r"
    sim.run_batch(REF, 300, 1, executor="serial", chunk_size=100, out=out)
    return out


def _copy(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


# --- sizes (item 5) ----------------------------------------------------------------------

def test_absurd_run_counts_are_refused_up_front(cli, tmp_path):
    cli("run", REF, "-n", "1000000000000", "--out", "x").clean_failure()
    spec = tmp_path / "huge.yaml"
    spec.write_text(f"scenario: {REF}\nvary: [cut_prob]\nruns: 1000000000000000\n")
    out = cli("sweep", "--spec", str(spec), "--out", "s")
    out.clean_failure()
    assert not (tmp_path / "s").exists()


def test_a_manifest_claiming_1e15_runs_is_refused(cli, folder, tmp_path):
    bad = _copy(folder, tmp_path / "b")
    m = json.loads((bad / "manifest.json").read_text())
    m["runs"] = 10**15
    (bad / "manifest.json").write_text(json.dumps(m))
    for args in (("run", "--resume", str(bad)), ("plot", str(bad)), ("report", str(bad))):
        res = cli(*args)
        res.clean_failure()
        assert "manifest.json" in res.stderr


def _sweep_peak_mib(points: int, out: Path) -> float:
    import subprocess
    import sys

    code = ("import resource, sim; from sim.batch import Execution; "
            f"sim.run_sweep({REF!r}, ['cut_prob', 'clash_prob'], runs=1, design='sobol', "
            f"samples={points}, execution=Execution(executor='serial'), out={str(out)!r}); "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    return float(done.stdout.split()[-1])


def test_memory_per_sweep_point_is_small_and_flat(tmp_path):
    """Each point's aggregate is summarised and dropped when its last chunk is in (it was
    about 370 KB per point, kept to the end: 180 MB more here): 512 points cost little more
    than 32."""
    small = _sweep_peak_mib(32, tmp_path / "a")
    large = _sweep_peak_mib(512, tmp_path / "b")
    assert large - small < 50, (small, large)
    assert sim.load_results(tmp_path / "b").sweep_frame()["point"].nunique() == 512


# --- sweep columns (item 8), sensitivity duplicates (item 9) ----------------------------

@pytest.mark.parametrize("name", ["p", "lo", "hi", "runs", "point", "outcome"])
def test_a_parameter_named_like_a_column_can_be_swept(cli, tmp_path, name):
    path = tmp_path / "s.yaml"
    path.write_text(f"""\
name: cols
clock: {{horizon: 10}}
parameters:
  {name}: {{value: 0.5, range: [0, 1], assumption: a test}}
ladder: [a, b]
actions:
  go: {{at: 1}}
triggers:
  up: {{on: go, probability: {name}, do: [{{escalate: 1}}]}}
outcomes:
  - {{id: up, when: level >= b}}
  - {{id: down, default: true}}
""")
    res = cli("sweep", str(path), "--vary", f"{name}=0,1", "-n", "20", "--out", "o", "-q")
    assert res.code == 0, res.stderr[-2000:]
    frame = sim.load_results(tmp_path / "o").sweep_frame()
    up = frame[frame.outcome == "up"].sort_values(f"param.{name}")
    assert up["p"].tolist() == [0.0, 1.0]


def test_sensitivity_refuses_a_repeated_parameter_before_running(cli):
    res = cli("sensitivity", REF, "--outcome", "ceasefire", "--vary", "cut_prob", "--vary",
              "cut_prob", "--samples", "4", "-n", "5", "--out", "s")
    res.clean_failure()
    assert "more than once" in res.stderr


# --- every run failed (items 12, 20) --------------------------------------------------------

def test_a_batch_where_every_run_failed(cli, tmp_path):
    (tmp_path / "f.yaml").write_text(ALL_FAIL)
    res = cli("run", "f.yaml", "-n", "20", "--out", "r", "-q")
    assert res.code == 3 and "Traceback" not in res.output and "20 of 20 runs failed" in res.stderr
    res = cli("run", "f.yaml", "-n", "20", "--out", "j", "--json")
    assert res.code == 3
    data = json.loads(res.stdout)  # strict JSON: no NaN
    assert data["runs"] == 0 and data["failed"] == 20 and data["outcomes"]["done"]["p"] is None
    for args in (("plot", "r"), ("report", "r"), ("compare", "r", "j"),
                 ("plot", "r", "--kind", "paths")):
        cli(*args).clean_failure()


# --- hand-edited results files (item 13) -------------------------------------------------------

@pytest.mark.parametrize("edit", ["wrong_type", "huge_int", "scenario_string", "deep_json",
                                  "not_json", "array_root", "nan_literal"])
def test_hand_edited_manifests_are_refused(cli, folder, tmp_path, edit):
    bad = _copy(folder, tmp_path / "b")
    path = bad / "manifest.json"
    m = json.loads(path.read_text())
    text = {
        "wrong_type": lambda: json.dumps({**m, "seed": "seven"}),
        "huge_int": lambda: json.dumps(m).replace(f'"runs": {m["runs"]}', '"runs": 1e400'),
        "scenario_string": lambda: json.dumps({**m, "scenario": "x"}),
        "deep_json": lambda: json.dumps(m)[:-1] + ', "design": ' + "[" * 5000 + "]" * 5000
        + "}",
        "not_json": lambda: "{not json",
        "array_root": lambda: "[1, 2, 3]",
        "nan_literal": lambda: json.dumps(m).replace(f'"seed": {m["seed"]}', '"seed": NaN'),
    }[edit]()
    path.write_text(text)
    for args in (("run", "--resume", str(bad)), ("plot", str(bad)), ("report", str(bad)),
                 ("compare", str(bad), str(folder))):
        res = cli(*args)
        res.clean_failure()


@pytest.mark.parametrize("edit", ["summary_string", "summary_missing_field", "scenario_array"])
def test_hand_edited_summaries_and_scenarios_are_refused(cli, folder, tmp_path, edit):
    bad = _copy(folder, tmp_path / "b")
    if edit == "summary_string":
        (bad / "summary.json").write_text('{"runs": "many"}')
    elif edit == "summary_missing_field":
        s = json.loads((bad / "summary.json").read_text())
        del s["outcomes"]
        (bad / "summary.json").write_text(json.dumps(s))
    else:
        (bad / "scenario.json").write_text("[]")
    for args in (("plot", str(bad)), ("report", str(bad))):
        cli(*args).clean_failure()


def test_a_chunk_of_another_shape_or_a_directory_is_an_error(cli, folder, tmp_path):
    bad = _copy(folder, tmp_path / "b")
    other = tmp_path / "o"
    assert cli("run", str(ROOT / "scenarios" / "other" / "border_standoff.yaml"), "-n", "100",
               "--chunk-size", "100", "--out", str(other), "-q").code == 0
    target = bad / "runs" / "chunk-000001.parquet"
    target.write_bytes((other / "runs" / "chunk-000000.parquet").read_bytes())
    cli("compare", str(bad), str(folder)).clean_failure()
    cli("run", "--resume", str(bad)).clean_failure()
    bad2 = _copy(folder, tmp_path / "c")
    (bad2 / "runs" / "chunk-000001.parquet").unlink()
    (bad2 / "runs" / "chunk-000001.parquet").mkdir()
    cli("compare", str(bad2), str(folder)).clean_failure()
    cli("run", "--resume", str(bad2)).clean_failure()


def test_a_decompression_bomb_aggregate_is_refused(folder, tmp_path):
    from sim.batch.aggregate import Aggregate

    sink = io.BytesIO()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as z:
        header = np.lib.format.header_data_from_array_1_0(np.zeros(1, np.uint8))
        header["shape"] = (256 * 1024**2,)
        with z.open("meta.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array_header_1_0(member, header)
            block = bytes(1 << 20)
            for _ in range(256):
                member.write(block)
    data = sink.getvalue()
    assert len(data) < 2_000_000  # 256 MB when expanded
    with pytest.raises(ValueError, match="aggregate"):
        Aggregate.loads(data)


def test_a_symlinked_chunk_is_not_followed(cli, folder, tmp_path):
    bad = _copy(folder, tmp_path / "b")
    target = bad / "runs" / "chunk-000002.parquet"
    target.unlink()
    target.symlink_to("/etc/passwd")
    res = cli("run", "--resume", str(bad), "-q")
    assert res.code == 0 and "root:" not in res.output  # not read: recomputed in its place
    assert not target.is_symlink() and pq.read_table(target).num_rows == 100


def test_force_on_a_symlink_to_a_results_folder(cli, folder, tmp_path):
    link = tmp_path / "link"
    link.symlink_to(folder)
    res = cli("run", REF, "-n", "10", "--out", str(link), "--force")
    res.clean_failure()
    assert pq.read_table(folder / "runs").num_rows == 300


# --- small things (item 21) --------------------------------------------------------------

def test_out_empty_and_threshold_nan_and_repeated_set(cli, folder, tmp_path):
    cli("run", REF, "-n", "10", "--out", "").clean_failure()
    sweep = tmp_path / "s"
    assert cli("sweep", REF, "--vary", "cut_prob=0.2,0.8", "-n", "10", "--out", str(sweep),
               "-q").code == 0
    for value in ("nan", "inf"):
        cli("discover", str(sweep), "--outcome", "ceasefire", "--threshold", value
            ).clean_failure()
    res = cli("run", REF, "-n", "10", "--set", "cut_prob=0.1", "--set", "cut_prob=0.2")
    res.clean_failure()
    assert "twice" in res.stderr


# --- a scheduler that never answers (item 2): the folder says so ------------------------------

def test_a_folder_whose_executor_never_started_says_so(tmp_path):
    from adversarial.test_executors_hostile import tcp_server
    from sim.batch import Execution

    out = tmp_path / "r"
    with tcp_server("silent") as address, pytest.raises(sim.BatchError, match=r"127\.0\.0\.1"):
        sim.run_batch(REF, 100, 1, out=out, execution=Execution(
            scheduler=address, executor="dask", connect_timeout=2.0))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "failed to start" and address in manifest["error"]
    assert sim.load_results(out).manifest.status == "failed to start"


# --- the attacker's pass: readers verify what they read ----------------------------------------

@pytest.fixture
def pair(folder: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the good folder, and a batch of the same size with cut_prob=0.8."""
    variant = tmp_path / "variant"
    sim.run_batch(REF, 300, 1, executor="serial", chunk_size=100, out=variant,
                  parameters={"cut_prob": 0.8})
    return _copy(folder, tmp_path / "copy"), variant


def _refused_everywhere(cli, d: Path, good: Path) -> None:
    with pytest.raises(sim.ResultsError, match="altered"):
        _ = sim.load_results(d).runs
    assert sim.load_results(d).verify()
    cli("compare", str(d), str(good)).clean_failure()


def test_a_duplicated_chunk_is_refused_by_readers(cli, folder, pair):
    d, _ = pair
    (d / "runs" / "chunk-000001.parquet").write_bytes(
        (d / "runs" / "chunk-000000.parquet").read_bytes())
    _refused_everywhere(cli, d, folder)


def test_a_chunk_of_another_variant_is_refused_by_readers(cli, folder, pair):
    d, variant = pair
    (d / "runs" / "chunk-000002.parquet").write_bytes(
        (variant / "runs" / "chunk-000002.parquet").read_bytes())
    _refused_everywhere(cli, d, folder)


def test_edited_data_with_its_metadata_kept_is_refused_by_readers(cli, folder, pair):
    import pyarrow as pa

    d, _ = pair
    path = d / "runs" / "chunk-000001.parquet"
    table = pq.read_table(path)
    outcome = table.column("outcome").to_pylist()
    i, j = next((i, j) for i in range(len(outcome)) for j in range(len(outcome))
                if outcome[i] != outcome[j])
    outcome[i], outcome[j] = outcome[j], outcome[i]  # counts unchanged
    table = table.set_column(table.column_names.index("outcome"), "outcome",
                             pa.array(outcome, pa.string()))
    pq.write_table(table, path)
    _refused_everywhere(cli, d, folder)


@pytest.mark.parametrize("move", ["subfolder", "renamed"])
def test_moved_or_renamed_chunks_are_refused_by_readers(cli, folder, pair, move):
    d, _ = pair
    src = d / "runs" / "chunk-000002.parquet"
    if move == "subfolder":
        (d / "runs" / "x").mkdir()
        src.rename(d / "runs" / "x" / "chunk-000002.parquet")
    else:
        src.rename(d / "runs" / "chunk-foo.parquet")
    with pytest.raises(sim.ResultsError):
        _ = sim.load_results(d).runs
    cli("compare", str(d), str(folder)).clean_failure()


def test_a_sweep_point_copied_over_another_is_refused(cli, tmp_path):
    out = tmp_path / "s"
    assert cli("sweep", REF, "--vary", "cut_prob=0.2,0.8", "-n", "100", "--out", str(out),
               "-q").code == 0
    for f in (out / "runs" / "point-0000").iterdir():
        target = out / "runs" / "point-0001" / f.name.replace("000000", "000001")
        target.write_bytes(f.read_bytes())
    with pytest.raises(sim.ResultsError):
        _ = sim.load_results(out).runs
    assert sim.load_results(out).verify()


@pytest.mark.parametrize("args", [
    ["run", REF, "-n", "1000000000", "--chunk-size", "1", "--out", "x"],
    ["sweep", REF, "--vary", "cut_prob=0.2:0.8:1000000000", "-n", "1", "--out", "x"],
    ["sweep", REF, "--vary", "cut_prob", "--design", "lhs", "--samples", "1000000000",
     "-n", "1", "--out", "x"],
    ["sweep", REF, "--vary", "cut_prob=0.1:0.9:100000", "--vary", "clash_prob=0:1:100000",
     "-n", "1", "--out", "x"],
    ["sensitivity", REF, "--outcome", "ceasefire", "--samples", "1000000000", "-n", "1",
     "--out", "x"],
])
def test_huge_designs_and_chunk_counts_are_refused_before_any_allocation(cli, args):
    res = cli(*args, timeout=30)
    res.clean_failure()
    assert "more than" in res.stderr


def test_an_edited_summary_is_refused(cli, folder, tmp_path):
    d = _copy(folder, tmp_path / "d")
    s = json.loads((d / "summary.json").read_text())
    names = list(s["outcomes"])
    a, b = s["outcomes"][names[0]], s["outcomes"][names[1]]
    a["count"], b["count"] = a["count"] + b["count"], 0  # consistent totals, wrong numbers
    a["p"], b["p"] = a["count"] / s["runs"], 0.0
    a["lo"], a["hi"], b["lo"], b["hi"] = a["p"], a["p"], 0.0, 0.0
    (d / "summary.json").write_text(json.dumps(s))
    cli("report", str(d)).clean_failure()
    cli("plot", str(d)).clean_failure()
    with pytest.raises(sim.ResultsError, match="edited"):
        sim.load_results(d)


def test_a_path_too_long_is_a_clean_error(cli):
    cli("run", REF, "-n", "10", "--out", "a" * 300).clean_failure()
    cli("compare", "a" * 300, "b" * 6000).clean_failure()


def test_plot_force_does_not_write_through_a_symlinked_plots_folder(cli, folder, tmp_path):
    d = _copy(folder, tmp_path / "d")
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "outcomes.png").write_bytes(b"precious")
    (d / "plots").symlink_to(victim)
    cli("plot", str(d), "--force", "--kind", "outcomes").clean_failure()
    assert (victim / "outcomes.png").read_bytes() == b"precious"


def test_edited_manifest_parameters_are_refused(cli, folder, tmp_path):
    d = _copy(folder, tmp_path / "d")
    m = json.loads((d / "manifest.json").read_text())
    m["parameters"]["cut_prob"] = 0.8
    (d / "manifest.json").write_text(json.dumps(m))
    res = cli("run", "--resume", str(d))
    res.clean_failure()
    assert "hash" in res.stderr


def test_a_folder_where_a_chunk_should_be_is_refused_and_nothing_rewritten(cli, folder,
                                                                          tmp_path):
    d = _copy(folder, tmp_path / "d")
    (d / "runs" / "chunk-000001.parquet").unlink()
    (d / "runs" / "chunk-000001.parquet").mkdir()
    before = (d / "summary.json").read_bytes()
    res = cli("run", "--resume", str(d))
    res.clean_failure()
    assert "is a folder" in res.stderr
    assert (d / "summary.json").read_bytes() == before


@pytest.mark.parametrize("point", ["+1", " 1", "1_0", "٣", "-1", "1e3"])
def test_sweep_points_are_plain_numbers(cli, tmp_path, point):
    out = tmp_path / "s"
    assert cli("sweep", REF, "--vary", "cut_prob=0.2,0.8", "-n", "20", "--out", str(out),
               "-q").code == 0
    cli("compare", f"{out}@0", f"{out}@{point}").clean_failure()


def test_a_plain_second_run_names_the_holder(tmp_path):
    import subprocess
    import sys
    import time

    out = tmp_path / "busy"
    first = subprocess.Popen([sys.executable, "-m", "sim", "run", REF, "-n", "400000",
                              "--executor", "serial", "--chunk-size", "500", "--out", str(out),
                              "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not list((out / "runs").glob("chunk-*.parquet")):
            assert time.monotonic() < deadline and first.poll() is None
            time.sleep(0.05)
        second = subprocess.run([sys.executable, "-m", "sim", "run", REF, "-n", "10", "--out",
                                 str(out)], capture_output=True, text=True, timeout=60)
        assert second.returncode == 2 and f"pid {first.pid}" in second.stderr
    finally:
        first.kill()
        first.wait(timeout=30)


# --- a second attacker's pass: cross-file checks and derived files ----------------------------

@pytest.fixture
def sweeps(tmp_path: Path) -> tuple[Path, Path]:
    a, b = tmp_path / "SA", tmp_path / "SB"
    for out, values in ((a, "0.2,0.8"), (b, "0.5,0.8")):
        sim.run_sweep(REF, [f"cut_prob={values}"], runs=100, seed=0, executor="serial", out=out)
    return a, b


def test_a_point_of_another_sweep_is_refused_by_readers(sweeps):
    a, b = sweeps
    for f in (b / "runs" / "point-0000").iterdir():
        (a / "runs" / "point-0000" / f.name).write_bytes(f.read_bytes())
    with pytest.raises(sim.ResultsError, match="parameters hash"):
        _ = sim.load_results(a).runs
    assert sim.load_results(a).verify()


@pytest.mark.parametrize("name", ["points.parquet", "sweep.parquet"])
def test_an_edited_derived_table_of_a_sweep_is_refused(cli, sweeps, name):
    import pyarrow as pa

    a, _ = sweeps
    table = pq.read_table(a / name)
    column = table.column_names[-1] if name != "points.parquet" else "param.cut_prob"
    values = table.column(column).to_pylist()
    table = table.set_column(table.column_names.index(column), column,
                             pa.array(values[::-1], table.schema.field(column).type))
    pq.write_table(table, a / name)
    for args in (("report", str(a)), ("plot", str(a)), ("discover", str(a), "--outcome",
                                                         "ceasefire")):
        cli(*args).clean_failure()


@pytest.mark.parametrize("name", ["paths.parquet", "timeline.parquet"])
def test_an_edited_derived_table_of_a_batch_is_refused(cli, folder, tmp_path, name):
    d = _copy(folder, tmp_path / "d")
    table = pq.read_table(d / name)
    pq.write_table(table.slice(1), d / name)
    cli("plot", str(d)).clean_failure()
    cli("report", str(d)).clean_failure()


def test_an_interrupted_folder_keeps_its_summary_checked(cli, folder, tmp_path):
    d = _copy(folder, tmp_path / "d")
    m = json.loads((d / "manifest.json").read_text())
    m["status"] = "interrupted"
    (d / "manifest.json").write_text(json.dumps(m))
    s = json.loads((d / "summary.json").read_text())
    first = next(iter(s["outcomes"]))
    s["outcomes"][first]["count"] = 250
    (d / "summary.json").write_text(json.dumps(s))
    cli("report", str(d)).clean_failure()


def test_edited_overrides_are_refused(cli, folder, tmp_path):
    d = _copy(folder, tmp_path / "d")
    m = json.loads((d / "manifest.json").read_text())
    m["overrides"] = {"cut_prob": 0.99}
    (d / "manifest.json").write_text(json.dumps(m))
    res = cli("report", str(d))
    res.clean_failure()
    assert "override" in res.stderr


def test_rewritten_events_are_refused(tmp_path):
    out = tmp_path / "t"
    sim.run_batch(REF, 200, 1, executor="serial", chunk_size=100, out=out, trace=5)
    path = out / "events" / "chunk-000000.parquet"
    table = pq.read_table(path)
    pq.write_table(table.slice(1), path)
    with pytest.raises(sim.ResultsError, match="events"):
        _ = sim.load_results(out).events


def test_a_column_retyped_in_a_chunk_is_refused(folder, tmp_path):
    import pyarrow as pa

    d = _copy(folder, tmp_path / "d")
    path = d / "runs" / "chunk-000000.parquet"
    table = pq.read_table(path)
    i = table.column_names.index("usa.support")
    text = pa.array([str(v) for v in table.column(i).to_pylist()], pa.string())
    pq.write_table(table.set_column(i, "usa.support", text), path)
    with pytest.raises(sim.ResultsError, match="checksum"):
        _ = sim.load_results(d).runs


def test_a_chunk_is_judged_by_its_footer_before_its_data_is_read(folder, tmp_path,
                                                                 monkeypatch):
    """A small file claiming many rows (a Parquet bomb) is refused without expanding it."""
    import pyarrow as pa

    from sim.results import chunkfile

    bomb = tmp_path / "chunk-000003.parquet"
    writer = pq.ParquetWriter(bomb, pa.schema([("run", pa.int64())]), compression="zstd")
    block = pa.table({"run": pa.array(np.zeros(1_000_000, dtype=np.int64))})
    for _ in range(20):
        writer.write_table(block)
    writer.close()
    good = folder / "runs" / "chunk-000002.parquet"
    meta = dict(pq.read_schema(good).metadata)
    table = pq.read_table(bomb).replace_schema_metadata(meta)
    pq.write_table(table, bomb, compression="zstd")

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the data was read before the footer was checked")

    monkeypatch.setattr(chunkfile.pq, "read_table", never)
    with pytest.raises(chunkfile.ChunkProblem, match="rows"):
        chunkfile.read_chunk(bomb)


def test_an_aggregate_with_damaged_fields_is_a_value_error():
    import base64

    from sim.batch.aggregate import Aggregate

    agg = Aggregate(["a"], ["l0"], 10.0)
    data = agg.dumps()
    import numpy as _np

    with _np.load(io.BytesIO(data)) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(arrays["meta"].tobytes())
    meta["paths"] = ["not", "a", "mapping"]
    arrays["meta"] = _np.frombuffer(json.dumps(meta).encode(), _np.uint8)
    sink = io.BytesIO()
    _np.savez_compressed(sink, **arrays)
    with pytest.raises(ValueError, match="damaged aggregate"):
        Aggregate.loads(sink.getvalue())
    assert base64  # the aggregate travels base64-encoded in chunk files
