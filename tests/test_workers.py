"""Local worker processes and the signals that stop a batch: no worker or fork server
outlives the command, however it ends, and Ctrl-C prints no traceback from them."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import sim
from sim.results import table_digest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="local workers fork from a server on Linux only")

from conftest import ROOT  # noqa: E402

BRYANSK = ROOT / "scenarios" / "bryansk_atacms_2024.yaml"

# Ctrl-C as a terminal sends it: to the whole process group, with SIGINT at its default
# (a shell running a command in the background would have it ignored)
_AS_IN_A_TERMINAL = ("import os, signal, sys\n"
                     "signal.signal(signal.SIGINT, signal.SIG_DFL)\n"
                     "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])\n")

# the command, holding on to its worker pool's queues as the pool's manager thread does
# until it has finished: it often had not when an interrupted command left, and the
# queues' semaphores were then left for the resource tracker to report (a race, made sure)
_HOLDING_THE_QUEUES = """
import sys
import sim.batch.executors as executors
held = []
stop = executors.ProcessExecutor.__exit__
def holding(self, *args):
    if self._pool is not None:
        held.append((self._pool._call_queue, self._pool._result_queue))
    return stop(self, *args)
executors.ProcessExecutor.__exit__ = holding
from sim.cli import main
sys.argv = ["escalation", *sys.argv[1:]]
main()
"""


def _start(args: list[str], *, own_group: bool = False,
           code: str | None = None) -> subprocess.Popen[str]:
    command = [sys.executable, *(["-c", code] if code else ["-m", "sim"]), *args]
    if own_group:
        command = [sys.executable, "-c", _AS_IN_A_TERMINAL, *command[1:]]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=own_group)


def _run_args(out: Path, runs: int = 8000, chunk_size: int = 500) -> list[str]:
    return ["run", str(BRYANSK), "-n", str(runs), "--seed", "7", "--workers", "2",
            "--chunk-size", str(chunk_size), "--out", str(out), "-q"]


def _chunks(out: Path) -> int:
    return len(list((out / "runs").glob("chunk-*.parquet")))


def _wait_for_chunks(out: Path, n: int, proc: subprocess.Popen[str],
                     timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _chunks(out) >= n:
            return
        if proc.poll() is not None:
            raise AssertionError(f"finished before it could be stopped: {proc.stderr.read()}")
        time.sleep(0.01)
    raise AssertionError("no chunks appeared")


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rpartition(")")[2].split()[1])
            kids.setdefault(ppid, []).append(int(entry))
    return kids


def _descendants(pid: int) -> list[int]:
    kids, found, todo = _children(), [], [pid]
    while todo:
        for kid in kids.get(todo.pop(), []):
            found.append(kid)
            todo.append(kid)
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie waits for a reaper this test cannot be)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _sigint_in(pid: int, field: str) -> bool:
    """Whether SIGINT is in a process's signal set ``field`` (SigIgn: ignored, SigBlk:
    blocked)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return bool(int(line.split()[1], 16) & (1 << (signal.SIGINT - 1)))
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def _ignores_sigint(pid: int) -> bool:
    return _sigint_in(pid, "SigIgn")


def _holds_off_sigint(pid: int) -> bool:
    return _sigint_in(pid, "SigIgn") or _sigint_in(pid, "SigBlk")


def _wait_gone(pids: list[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = [p for p in pids if _running(p)]
        if not left:
            return []
        time.sleep(0.05)
    return [p for p in pids if _running(p)]


def _finish(proc: subprocess.Popen[str], pids: list[int], timeout: float) -> str:
    """The command's stderr once every process holding its pipes has exited; the test
    fails (and cleans up) if that takes longer than ``timeout``."""
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        left = [p for p in pids if _running(p)]
        names = [_cmdline(p)[:70] for p in left]
        for pid in [proc.pid, *left]:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        proc.communicate()
        raise AssertionError(f"still running {timeout} s later, holding the pipes: "
                             f"{names}") from None
    return err


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGKILL],
                         ids=["TERM", "HUP", "KILL"])
def test_no_worker_outlives_the_command(tmp_path, signum):
    """The main process alone is killed (as by kill PID, a closed terminal or the OOM
    killer): its workers and the fork server exit within seconds, so a caller waiting for
    the command's output returns (they held its pipes, waiting for work, for minutes)."""
    out = tmp_path / "r"
    proc = _start(_run_args(out))
    _wait_for_chunks(out, 3, proc)
    pids = _descendants(proc.pid)
    assert sum("forkserver" in _cmdline(p) for p in pids) >= 3  # the server, two workers
    os.kill(proc.pid, signum)
    err = _finish(proc, pids, timeout=20)
    assert not _wait_gone(pids, timeout=5)
    if signum == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
        return
    # stopped as Ctrl-C stops it: chunks kept, the folder marked, how to resume said
    assert proc.returncode == 128 + signum, err
    assert f"resume with --resume {out}" in err
    assert "Traceback" not in err and "leaked" not in err, err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    assert len(manifest["chunks"]["complete"]) == _chunks(out) >= 3


def test_ctrl_c_while_the_fork_server_starts_prints_no_traceback(tmp_path):
    """Ctrl-C in the first second: the server, still importing the engine, printed a long
    KeyboardInterrupt traceback (Python's server ignores Ctrl-C only after its imports)."""
    out = tmp_path / "r"
    proc = _start(_run_args(out), own_group=True)
    deadline = time.monotonic() + 30
    server = None
    while server is None and time.monotonic() < deadline and proc.poll() is None:
        server = next((p for p in _descendants(proc.pid)
                       if "multiprocessing.forkserver" in _cmdline(p)), None)
        time.sleep(0.005)
    assert server is not None, "the fork server never started"
    assert _holds_off_sigint(server)  # from its first instruction
    time.sleep(0.2)  # well into its imports (they take about a second)
    pids = _descendants(proc.pid)
    os.killpg(proc.pid, signal.SIGINT)
    err = _finish(proc, pids, timeout=30)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert not _wait_gone(pids, timeout=5)


def test_ctrl_c_with_an_idle_worker_prints_no_traceback_or_leak(tmp_path):
    """Three chunks on two workers: once two are written, one worker waits for work that
    will not come. Ctrl-C then printed that worker's traceback (KeyboardInterrupt in
    call_queue.get), and the resource tracker reported leaked semaphores when the pool
    was still held at exit (the command leaves with os._exit, skipping their release)."""
    out = tmp_path / "r"
    proc = _start(_run_args(out, runs=6000, chunk_size=2000), own_group=True,
                  code=_HOLDING_THE_QUEUES)
    _wait_for_chunks(out, 2, proc)
    pids = _descendants(proc.pid)
    forked = [p for p in pids if "multiprocessing.forkserver" in _cmdline(p)]
    assert len(forked) == 3  # the server and two workers
    # whether the worker's traceback is printed before the command stops it is a race;
    # that it would get Ctrl-C at all is not
    assert all(_ignores_sigint(p) for p in forked), "a worker or the server takes Ctrl-C"
    os.killpg(proc.pid, signal.SIGINT)
    err = _finish(proc, pids, timeout=30)
    assert proc.returncode == 130, err
    assert f"resume with --resume {out}" in err
    assert "Traceback" not in err and "ForkServerProcess" not in err, err
    assert "leaked" not in err, err
    assert json.loads((out / "manifest.json").read_text())["status"] == "interrupted"
    assert not _wait_gone(pids, timeout=5)


_LIBRARY = """
import os, signal, sys
import sim
def stop(done, total):
    if done >= 2000:
        os.kill(os.getpid(), signal.SIGINT)
try:
    sim.run_batch(sys.argv[1], 8000, 7, out=sys.argv[2], execution=sim.Execution(
        executor="processes", workers=2, chunk_size=500, progress=stop))
except sim.BatchInterrupted as exc:
    print("interrupted:", exc)
"""


def test_an_interrupted_library_batch_raises_and_then_exits(tmp_path):
    """From a script: Ctrl-C during run_batch on worker processes raises BatchInterrupted
    (the workers ignore Ctrl-C; the batch stops them), and the script then ends normally."""
    out = tmp_path / "r"
    done = subprocess.run([sys.executable, "-c", _LIBRARY, str(BRYANSK), str(out)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "interrupted: interrupted: " in done.stdout, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert json.loads((out / "manifest.json").read_text())["status"] == "interrupted"
    resumed = sim.resume_batch(out, sim.Execution(executor="processes", workers=2))
    assert table_digest(resumed.runs_table()) == table_digest(
        sim.run_batch(BRYANSK, 8000, 7, executor="serial", chunk_size=500).runs_table())


def test_workers_started_from_another_thread(tmp_path):
    """A batch run from a thread (a notebook's or an application's) starts the server and
    its workers there: same runs as in this process."""
    import threading

    got: list[str] = []
    thread = threading.Thread(target=lambda: got.append(table_digest(sim.run_batch(
        BRYANSK, 3000, 3, execution=sim.Execution(executor="processes", workers=2,
                                                  chunk_size=500)).runs_table())))
    thread.start()
    thread.join(timeout=120)
    assert got == [table_digest(sim.run_batch(BRYANSK, 3000, 3, executor="serial")
                                .runs_table())]


def test_a_hangup_of_the_whole_group_prints_no_traceback(tmp_path):
    """A closed terminal hangs up the whole process group: the resource tracker died of it,
    and the command's exit then printed its relaunch warning and KeyError tracebacks."""
    out = tmp_path / "h"
    proc = _start(_run_args(out), own_group=True)
    _wait_for_chunks(out, 3, proc)
    pids = _descendants(proc.pid)
    os.killpg(proc.pid, signal.SIGHUP)
    err = _finish(proc, pids, timeout=20)
    assert proc.returncode == 128 + signal.SIGHUP, err
    assert "Traceback" not in err and "resource_tracker" not in err, err
    assert f"resume with --resume {out}" in err
