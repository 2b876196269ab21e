"""Scale and crash safety: Dask executor, killed workers and drivers, resume, precision
stopping, and full or read-only disks."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

import sim
from sim.batch.cluster import DaskExecutor
from sim.batch.intervals import wilson
from sim.results import table_digest

REF_RUNS, REF_SEED = 12_000, 21


@pytest.fixture(scope="module")
def serial_reference(reference_path_module):
    res = sim.run_batch(reference_path_module, REF_RUNS, REF_SEED, executor="serial")
    return table_digest(res.runs_table())


@pytest.fixture(scope="module")
def reference_path_module():
    from conftest import ROOT

    return ROOT / "scenarios" / "reference" / "tit_for_tat.yaml"


def _escalation(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "sim", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def _wait_for_chunks(folder: Path, n: int, proc: subprocess.Popen, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(list((folder / "runs").glob("chunk-*.parquet"))) >= n:
            return
        if proc.poll() is not None:
            raise AssertionError(f"finished before it could be stopped: {proc.stderr.read()}")
        time.sleep(0.02)
    raise AssertionError("no chunks appeared")


def test_dask_local_cluster_equals_serial(reference_path_module, serial_reference, tmp_path):
    res = sim.run_batch(reference_path_module, REF_RUNS, REF_SEED, executor="dask", workers=2,
                        chunk_size=1000, out=tmp_path / "d")
    assert table_digest(res.runs_table()) == serial_reference
    manifest = json.loads((tmp_path / "d" / "manifest.json").read_text())
    assert manifest["executor"]["kind"] == "DaskExecutor"


def test_a_worker_killed_mid_batch_costs_nothing(reference_path_module, serial_reference):
    exe = DaskExecutor(workers=2)
    killed: list[int] = []

    def kill_one(done: int, total: int) -> None:
        if not killed and done >= 2000:
            pids = sorted(exe.client.run(os.getpid).values())
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])

    res = sim.run_batch(reference_path_module, REF_RUNS, REF_SEED, executor=exe,
                        chunk_size=250, progress=kill_one)
    assert killed, "the worker was never killed"
    table = res.runs_table()
    runs = table.column("run").to_numpy()
    assert table.num_rows == REF_RUNS and len(np.unique(runs)) == REF_RUNS
    assert table_digest(table) == serial_reference


def _uninterrupted(path: Path, runs: int, seed: int) -> str:
    return table_digest(sim.run_batch(path, runs, seed, executor="serial").runs_table())


def test_driver_killed_then_resumed(reference_path_module, tmp_path):
    out = tmp_path / "k"
    proc = _escalation("run", str(reference_path_module), "-n", "20000", "--seed", "4",
                       "--chunk-size", "200", "--executor", "serial", "--out", str(out), "-q")
    _wait_for_chunks(out, 10, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    before = {p.name: p.stat().st_mtime_ns for p in (out / "runs").glob("chunk-*.parquet")}
    assert 10 <= len(before) < 100
    done = subprocess.run([sys.executable, "-m", "sim", "run", str(reference_path_module),
                           "--resume", str(out), "-q", "--workers", "2"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["resumed"][-1]["chunks_found"] == len(before)
    assert manifest["resumed"][-1]["chunks_to_run"] == 100 - len(before)
    after = {p.name: p.stat().st_mtime_ns for p in (out / "runs").glob("chunk-*.parquet")}
    assert len(after) == 100
    assert all(after[name] == mtime for name, mtime in before.items())  # not rewritten
    assert table_digest(sim.load_results(out).runs) == _uninterrupted(reference_path_module,
                                                                       20000, 4)
    # the headline times only the runs computed now, and says how many those were
    assert f"{20000 - 200 * len(before):,} of them run now in" in done.stdout
    again = subprocess.run([sys.executable, "-m", "sim", "run", "--resume", str(out), "-q"],
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "already complete (nothing run now)" in again.stdout
    assert "runs/s" not in again.stdout.splitlines()[0]  # was "0.2 s (0 runs/s)"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["runs"] == 20000


def test_ctrl_c_keeps_chunks_and_says_how_to_resume(reference_path_module, tmp_path):
    out = tmp_path / "c"
    proc = _escalation("run", str(reference_path_module), "-n", "40000", "--seed", "4",
                       "--chunk-size", "200", "--workers", "2", "--out", str(out), "-q")
    _wait_for_chunks(out, 6, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert f"resume with --resume {out}" in err and "Traceback" not in err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    files = sorted((out / "runs").glob("chunk-*.parquet"))
    assert len(files) == len(manifest["chunks"]["complete"]) >= 6
    assert all(pq.read_metadata(f).num_rows == 200 for f in files)


def test_resume_refuses_another_scenario_seed_or_parameters(reference_path_module, tmp_path):
    scenario = tmp_path / "s.yaml"
    shutil.copy(reference_path_module, scenario)
    out = tmp_path / "r"
    sim.run_batch(scenario, 400, 1, executor="serial", chunk_size=100, out=out)
    scenario.write_text(scenario.read_text().replace("value: 0.83", "value: 0.8"))
    for extra, message in (([], "the scenario's content differs"),):
        done = subprocess.run([sys.executable, "-m", "sim", "run", str(scenario), "--resume",
                               str(out), *extra], capture_output=True, text=True, timeout=60)
        assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr
    shutil.copy(reference_path_module, scenario)
    for extra, message in ((["--seed", "2"], "the seed differs"),
                           (["--set", "cut_prob=0.9"], "the parameter values differ"),
                           (["-n", "500"], "the number of runs differs")):
        done = subprocess.run([sys.executable, "-m", "sim", "run", str(scenario), "--resume",
                               str(out), *extra], capture_output=True, text=True, timeout=60)
        assert done.returncode == 2, done.stderr
        assert message in done.stderr and "Traceback" not in done.stderr


def test_a_truncated_chunk_is_detected_and_recomputed(reference_path_module, tmp_path):
    out = tmp_path / "t"
    first = sim.run_batch(reference_path_module, 1000, 8, executor="serial", chunk_size=100,
                          out=out)
    digest = table_digest(first.runs_table())
    victim = out / "runs" / "chunk-000003.parquet"
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2])
    (out / "runs" / "chunk-000007.parquet").unlink()
    again = sim.run_batch(reference_path_module, 1000, 8, executor="serial", out=out,
                          resume=True)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["resumed"][-1] == {**manifest["resumed"][-1], "chunks_found": 8,
                                       "chunks_to_run": 2}
    assert table_digest(again.runs_table()) == digest
    assert again.summary.as_dict()["outcomes"] == first.summary.as_dict()["outcomes"]


def test_precision_stopping_meets_h_and_depends_only_on_the_seed(tmp_path):
    from conftest import ROOT

    base = ROOT / "scenarios" / "bryansk_atacms_2024.yaml"
    h = 0.02
    a = sim.run_batch(base, 20_000, 9, executor="serial", chunk_size=250, precision=h)
    b = sim.run_batch(base, 20_000, 9, executor="processes", workers=2, chunk_size=250,
                      precision=h, out=tmp_path / "p")
    assert a.runs == b.runs < 20_000 and a.runs % 250 == 0
    assert table_digest(a.runs_table()) == table_digest(b.runs_table())
    for o in a.summary.as_dict()["outcomes"].values():
        assert (o["hi"] - o["lo"]) / 2 <= h
    # one chunk fewer would not have been precise enough
    counts = a.aggregate.outcome_counts
    table = a.runs_table().to_pandas()
    short = table[table.run < a.runs - 250]

    def hits(label: str) -> int:  # runs of class CLASS in dimension DIM (label DIM=CLASS)
        dim, _, cls = label.rpartition("=")
        return int((short[f"outcome.{dim}" if dim else "outcome"] == cls).sum())

    widths = [(hi - lo) / 2 for lo, hi in
              (wilson(hits(o), len(short)) for o in a.aggregate.outcomes)]
    dimensions = len(sim.load_scenario(base).spec.dimensions)  # each run has a class in each
    assert max(widths) > h and counts.sum() == a.runs * dimensions
    manifest = json.loads((tmp_path / "p" / "manifest.json").read_text())
    assert manifest["runs"] == a.runs and manifest["runs_cap"] == 20_000


def _mount_tmpfs(path: Path, size: str, read_only: bool = False) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    opts = f"size={size}" + (",ro" if read_only else "")
    if shutil.which("mount") is None:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)],
                          capture_output=True).returncode == 0


def _check_full_disk_error(message: str, out: Path, chunk_rows: int) -> None:
    assert "the disk is full" in message and "Traceback" not in message
    assert "chunks are complete and kept" in message and "--resume" in message
    files = sorted((out / "runs").glob("chunk-*.parquet"))
    assert files, "no chunk was completed before the disk filled"
    for f in files:
        assert pq.read_metadata(f).num_rows == chunk_rows  # every kept chunk is whole
    assert not list((out / "runs").glob(".*.tmp"))


def test_a_full_disk_is_a_clear_error_and_keeps_completed_chunks(reference_path_module,
                                                                  tmp_path):
    disk = tmp_path / "small"
    if not _mount_tmpfs(disk, "200k"):
        pytest.skip("cannot mount a small tmpfs here (needs root); the /dev/full test runs")
    try:
        out = disk / "r"
        done = subprocess.run([sys.executable, "-m", "sim", "run", str(reference_path_module),
                               "-n", "200000", "--chunk-size", "2000", "--executor", "serial",
                               "--out", str(out), "-q"],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 2, done.stderr
        _check_full_disk_error(done.stderr, out, 2000)
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


def test_a_full_disk_mid_batch_via_dev_full(reference_path_module, tmp_path, monkeypatch):
    """Also without root: chunk 3's file is written to /dev/full, which refuses every write
    with ENOSPC, as a full disk does; chunks 0-2 stay whole and the batch resumes."""
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    import sim.results.files as files

    real_open = open

    def full_at_chunk_3(path, mode="r", *args, **kwargs):
        if "chunk-000003.parquet" in str(path) and "w" in mode:
            return real_open("/dev/full", mode, *args, **kwargs)
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(files, "open", full_at_chunk_3, raising=False)
    out = tmp_path / "f"
    with pytest.raises(sim.ResultsError) as err:
        sim.run_batch(reference_path_module, 1000, 1, executor="serial", chunk_size=100,
                      out=out)
    _check_full_disk_error(str(err.value), out, 100)
    assert len(list((out / "runs").glob("chunk-*.parquet"))) == 3
    monkeypatch.undo()
    again = sim.run_batch(reference_path_module, 1000, 1, executor="serial", out=out,
                          resume=True)
    assert again.runs == 1000 and len(list((out / "runs").glob("chunk-*.parquet"))) == 10


def test_a_read_only_folder_is_a_clear_error(reference_path_module, tmp_path):
    disk = tmp_path / "ro"
    mounted = _mount_tmpfs(disk, "1m", read_only=True)
    if not mounted:
        if os.geteuid() == 0:
            pytest.skip("cannot mount a read-only tmpfs, and permissions do not bind root")
        disk.mkdir(exist_ok=True)
        disk.chmod(0o555)
    try:
        done = subprocess.run([sys.executable, "-m", "sim", "run", str(reference_path_module),
                               "-n", "100", "--out", str(disk / "r"), "-q"],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 2
        assert "cannot create the results folder" in done.stderr
        assert ("Read-only file system" in done.stderr or "Permission denied" in done.stderr)
        assert "Traceback" not in done.stderr
    finally:
        if mounted:
            subprocess.run(["umount", str(disk)], capture_output=True)
        else:
            disk.chmod(0o755)


def test_sweeps_resume_too(tmp_path):
    from conftest import ROOT

    base = ROOT / "scenarios" / "bryansk_atacms_2024.yaml"
    out = tmp_path / "s"
    full = sim.run_sweep(base, ["intercept_prob=0.6,0.9"], runs=300, seed=2,
                         executor="serial", out=out)
    victim = sorted((out / "runs" / "point-0001").glob("chunk-*.parquet"))[0]
    victim.unlink()
    again = sim.run_sweep(base, ["intercept_prob=0.6,0.9"], runs=300, seed=2,
                          executor="serial", out=out, resume=True)
    assert victim.is_file()
    assert again.summaries[1].outcomes == full.summaries[1].outcomes
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["resumed"][-1]["chunks_to_run"] == 1


_LINGERING = """
import threading, time, sys
from sim.cli import main
# a thread that would hold the interpreter's exit (as a worker pool's manager thread does
# when a worker died holding its queue's lock): an interrupted command must not wait for it
threading.Thread(target=time.sleep, args=(120,), daemon=False).start()
sys.argv = ["escalation", *sys.argv[1:]]
main()
"""


def test_an_interrupted_command_exits_at_once_whatever_is_left_running(reference_path_module,
                                                                       tmp_path):
    """Ctrl-C: once the chunks are kept and the message printed, the process exits with 130
    without waiting for threads or worker pools at interpreter exit (a pool whose worker was
    stopped mid-read can block that exit for ever; CI saw the message printed and no exit)."""
    out = tmp_path / "c"
    proc = subprocess.Popen(
        [sys.executable, "-c", _LINGERING, "run", str(reference_path_module), "-n", "40000",
         "--seed", "4", "--chunk-size", "200", "--workers", "2", "--out", str(out), "-q"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_chunks(out, 4, proc)
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError("the interrupted command did not exit") from None
    assert proc.returncode == 130, err
    assert f"resume with --resume {out}" in err and "Traceback" not in err
    assert json.loads((out / "manifest.json").read_text())["status"] == "interrupted"


@pytest.mark.parametrize("preset", [None, "3"])
def test_the_command_gives_numpy_one_blas_thread_unless_told(preset):
    """OpenBLAS starts a thread per core in every process; the command and the workers' fork
    server starting at once then slowed each other by about 0.1 s. The command sets one BLAS
    thread (inherited by its workers) unless the user chose a count."""
    from sim.cli import BLAS_THREADS

    env = {k: v for k, v in os.environ.items() if k not in BLAS_THREADS}
    if preset is not None:
        env["OPENBLAS_NUM_THREADS"] = preset
    code = ("import os, sys\n"
            "sys.argv = ['escalation', '--help']\n"
            "from sim.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "import numpy\n"
            "print(os.environ['OPENBLAS_NUM_THREADS'], len(os.listdir('/proc/self/task')))\n")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    value, threads = done.stdout.split()[-2:]
    if preset is None:
        assert value == "1"
        assert threads == "1"  # numpy loaded without OpenBLAS's extra threads
    else:
        assert value == preset  # the user's choice is kept


def test_a_resume_starts_the_progress_at_the_runs_already_done(reference_path_module,
                                                              tmp_path):
    """A resumed batch's progress began at 0 of N (and a complete folder's stayed there)."""
    out = tmp_path / "p"
    sc = sim.load_scenario(reference_path_module)
    sim.run_batch(sc, 1000, 3, out=out, execution=sim.Execution(executor="serial",
                                                                 chunk_size=100))
    for name in ("chunk-000003.parquet", "chunk-000007.parquet"):
        (out / "runs" / name).unlink()
    calls: list[tuple[int, int]] = []
    sim.resume_batch(out, sim.Execution(executor="serial", progress=lambda d, t: calls.append(
        (d, t))))
    assert calls[0] == (800, 1000) and calls[-1] == (1000, 1000)
    calls.clear()
    sim.resume_batch(out, sim.Execution(executor="serial", progress=lambda d, t: calls.append(
        (d, t))))
    assert calls == [(1000, 1000)]  # complete: the bar shows it full


def _finished_then_cut(reference_path_module, out: Path) -> bytes:
    """A complete folder put back in the state a kill during its finish leaves: the end
    files written, the manifest not yet (status running, their digests not recorded)."""
    done = subprocess.run([sys.executable, "-m", "sim", "run", str(reference_path_module),
                           "-n", "2000", "--seed", "2", "--executor", "serial", "--out",
                           str(out), "-q"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    reference = (out / "summary.json").read_bytes()
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["status"] = "running"
    for name in ("summary.json", "paths.parquet", "timeline.parquet"):
        manifest["files"].pop(name)
    (out / "manifest.json").write_text(json.dumps(manifest))
    return reference


def test_a_batch_killed_as_it_finished_can_be_resumed(reference_path_module, tmp_path):
    """Killed between writing its end files and its manifest, a batch could not be
    resumed ('summary.json: not recorded in the manifest'); only deleting files by hand
    (or --force, losing every run) got out of it."""
    out = tmp_path / "cut"
    reference = _finished_then_cut(reference_path_module, out)
    assert sim.load_results(out).summary is None  # the leftover is not taken as a result
    done = subprocess.run([sys.executable, "-m", "sim", "run", "--resume", str(out), "-q"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "summary.json: left by an interrupted finish; written again" in done.stdout
    assert (out / "summary.json").read_bytes() == reference
    assert sim.load_results(out).complete


@pytest.mark.parametrize("damage", ["delete", "edit"])
def test_a_complete_folder_gets_its_missing_or_edited_end_files_back(
        reference_path_module, tmp_path, damage):
    """A complete folder without its summary was a dead end: 'report' said to resume, and
    resume said 'already complete' and wrote nothing."""
    out = tmp_path / "c"
    reference = _finished_then_cut(reference_path_module, out)
    subprocess.run([sys.executable, "-m", "sim", "run", "--resume", str(out), "-q"],
                   capture_output=True, text=True, timeout=300, check=True)
    before = json.loads((out / "manifest.json").read_text())
    for name in ("summary.json", "paths.parquet"):
        if damage == "delete":
            (out / name).unlink()
        else:
            with (out / name).open("ab") as f:
                f.write(b" ")
    done = subprocess.run([sys.executable, "-m", "sim", "run", "--resume", str(out), "-q"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "written again from the chunks" in done.stdout
    assert (out / "summary.json").read_bytes() == reference
    after = json.loads((out / "manifest.json").read_text())
    assert after["seconds"] == before["seconds"]  # the batch's own timing is kept
    report = subprocess.run([sys.executable, "-m", "sim", "report", str(out)],
                            capture_output=True, text=True, timeout=300)
    assert report.returncode == 0, report.stderr


def test_ctrl_c_while_the_batch_finishes_leaves_it_complete(reference_path_module, tmp_path,
                                                            monkeypatch):
    """Ctrl-C while the end files were written left them without the manifest that
    vouches for them, and said only 'interrupted'."""
    from sim.results.folder import ResultsFolder

    real = ResultsFolder.write_summary

    def interrupted(self, summary):
        os.kill(os.getpid(), signal.SIGINT)  # arrives in the middle of the finish
        real(self, summary)

    monkeypatch.setattr(ResultsFolder, "write_summary", interrupted)
    out = tmp_path / "f"
    with pytest.raises(sim.BatchInterrupted, match="runs and summary are complete"):
        sim.run_batch(sim.load_scenario(reference_path_module), 500, 1, out=out,
                      execution=sim.Execution(executor="serial"))
    assert sim.load_results(out).complete


@pytest.mark.parametrize("lost", ["last three", "a middle one"])
def test_an_interrupted_precision_batch_resumes_to_the_same_stop(tmp_path, lost):
    """An interrupted --precision batch was told to resume, then refused ('cannot be
    resumed'), and the same command refused the folder too: its runs could only be thrown
    away. Resumed, it stops where an uninterrupted batch stops, with the same runs."""
    from conftest import ROOT

    base = ROOT / "scenarios" / "bryansk_atacms_2024.yaml"
    whole = sim.run_batch(base, 20_000, 9, executor="serial", chunk_size=250, precision=0.02)
    out = tmp_path / "p"
    sim.run_batch(base, 20_000, 9, executor="serial", chunk_size=250, precision=0.02,
                  out=out)
    chunks = sorted((out / "runs").glob("chunk-*.parquet"))
    assert len(chunks) == whole.runs // 250 > 6
    for f in chunks[-3:] if lost == "last three" else chunks[2:3]:
        f.unlink()
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["status"] = "interrupted"
    (out / "manifest.json").write_text(json.dumps(manifest))
    done = subprocess.run([sys.executable, "-m", "sim", "run", "--resume", str(out), "-q",
                           "--workers", "2"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    res = sim.load_results(out)
    assert res.complete and res.manifest.runs == whole.runs
    assert table_digest(res.runs) == table_digest(whole.runs_table())
    if lost == "a middle one":
        assert "follows a missing chunk of a --precision batch" in done.stdout
    # and with the scenario named, as the message after an interrupt allows
    again = subprocess.run([sys.executable, "-m", "sim", "run", str(base), "--resume",
                            str(out), "-q"], capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr


@pytest.mark.parametrize("damage", ["truncate", "delete"])
def test_damaged_traced_events_are_found_and_computed_again(reference_path_module, tmp_path,
                                                           damage):
    """A truncated or deleted events file went unnoticed: resume said 'already complete',
    a deleted one silently dropped its runs from the events table, and 'plot --run' said
    no events were recorded."""
    out = tmp_path / "ev"
    sim.run_batch(sim.load_scenario(reference_path_module), 3000, 7, out=out, trace=1000,
                  execution=sim.Execution(executor="serial", chunk_size=500))
    whole = sim.load_results(out).events
    target = out / "events" / "chunk-000001.parquet"
    if damage == "truncate":
        with target.open("r+b") as f:
            f.truncate(100)
    else:
        target.unlink()
        with pytest.raises(sim.ResultsError, match=r"missing .*resume the folder"):
            _ = sim.load_results(out).events
        plot = subprocess.run([sys.executable, "-m", "sim", "plot", str(out), "--run", "600"],
                              capture_output=True, text=True, timeout=300)
        assert plot.returncode == 2 and "resume the folder" in plot.stderr, plot.stderr
    done = subprocess.run([sys.executable, "-m", "sim", "run", "--resume", str(out), "-q"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "traced events are missing or damaged; computing it again" in done.stdout
    again = sim.load_results(out).events
    assert again.equals(whole)


def test_a_sweep_resume_writes_its_missing_design_again(tmp_path):
    """A sweep without points.parquet resumed 'successfully', left it missing (so report
    refused the folder), printed no note, and left a temporary timeline file behind."""
    from conftest import ROOT

    out = tmp_path / "sw"
    args = [sys.executable, "-m", "sim", "sweep", str(ROOT / "scenarios" /
                                                      "bryansk_atacms_2024.yaml"),
            "--vary", "intercept_prob=0.5:0.95:3", "-n", "300", "--seed", "7", "-q",
            "--executor", "serial"]
    subprocess.run([*args, "--out", str(out)], capture_output=True, timeout=300, check=True)
    reference = (out / "points.parquet").read_bytes()
    (out / "points.parquet").unlink()
    done = subprocess.run([*args, "--resume", str(out)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert "points.parquet: missing; written again from the chunks" in done.stdout
    assert (out / "points.parquet").read_bytes() == reference
    again = subprocess.run([*args, "--resume", str(out)], capture_output=True, text=True,
                           timeout=300)
    assert again.returncode == 0 and "note:" not in again.stdout, again.stdout
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
    report = subprocess.run([sys.executable, "-m", "sim", "report", str(out)],
                            capture_output=True, text=True, timeout=300)
    assert report.returncode == 0, report.stderr
