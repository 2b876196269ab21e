"""Hostile executor settings end quickly with a clear message: a scheduler address that
accepts TCP but does not speak Dask, malformed addresses, too many local workers, and a
Ctrl-C during a Dask batch that shuts down quietly."""

from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from sim.batch.cluster import DaskExecutor, check_scheduler_address
from sim.batch.executors import MAX_WORKERS, make_executor, max_local_workers
from sim.errors import BatchError

from .conftest import Outcome

REFERENCE = (Path(__file__).resolve().parent.parent.parent / "scenarios" / "reference"
             / "tit_for_tat.yaml")

GARBAGE = b"\xff" * 64 + b"SSH-2.0-OpenSSH_9.6 not a dask scheduler\r\n"
PLAUSIBLE = struct.pack("<Q", 1 << 30)  # a frame length Dask would wait to fill


@contextmanager
def tcp_server(mode: str) -> Iterator[str]:
    """A server on 127.0.0.1 (ephemeral port) that accepts connections and then either
    stays ``silent``, sends ``garbage`` or a ``plausible`` frame length that never comes;
    yields its ``tcp://`` address."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    stop = threading.Event()
    accepted: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            accepted.append(conn)
            if mode != "silent":
                with suppress(OSError):
                    conn.sendall(GARBAGE if mode == "garbage" else PLAUSIBLE)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in accepted:
            conn.close()
        listener.close()


@pytest.mark.parametrize("mode", ["silent", "garbage"])
def test_scheduler_that_does_not_speak_dask_fails_within_the_connect_timeout(
        cli: Callable[..., Outcome], mode: str) -> None:
    """The CLI's default connect timeout bounds the whole handshake; exit 2 names the address."""
    with tcp_server(mode) as address:
        began = time.monotonic()
        result = cli("run", str(REFERENCE), "-n", "200", "--scheduler", address, timeout=55)
        elapsed = time.monotonic() - began
    result.clean_failure()
    assert address in result.stderr
    assert elapsed < 40, elapsed


@pytest.mark.parametrize("mode", ["silent", "garbage", "plausible"])
def test_scheduler_connect_timeout_is_configurable(mode: str) -> None:
    """``DaskExecutor(connect_timeout=...)`` bounds the connection through the library API."""
    with tcp_server(mode) as address:
        began = time.monotonic()
        with (pytest.raises(BatchError, match=address.replace(".", r"\.")),
              DaskExecutor(scheduler=address, connect_timeout=1.5)):
            pass
        assert time.monotonic() - began < 15


def test_scheduler_nobody_listens_on_fails_within_the_timeout() -> None:
    """A closed port fails within the connect timeout with a BatchError naming the address."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    began = time.monotonic()
    with (pytest.raises(BatchError, match=address.replace(".", r"\.")),
          make_executor("dask", scheduler=address, connect_timeout=2.0)):
        pass
    assert time.monotonic() - began < 15


def _square(x: int) -> int:
    return x * x


def test_a_real_scheduler_is_joined() -> None:
    """The bounded handshake does not get in the way of a real scheduler on 127.0.0.1."""
    import distributed

    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  protocol="tcp://", host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        with make_executor("dask", 2, scheduler=address, connect_timeout=10) as exe:
            assert exe.workers == 1  # the scheduler's own count
            assert sorted(exe.map_unordered(_square, range(5))) == [0, 1, 4, 9, 16]


MALFORMED = ["foo", "http://127.0.0.1:8786", "tcp://[::1", "inproc://x", "", "tcp://127.0.0.1",
             "tcp://127.0.0.1:0", "tcp://127.0.0.1:65536", "tcp://127.0.0.1:99999999999",
             "tcp://:8786", "tcp://127.0.0.1:port", "tcp://a b:8786", "tcp://127.0.0.1:80/x",
             "tls://-bad-.example:8786", "tcp://[zz::1]:8786", "x" * 5000]


@pytest.mark.parametrize("address", MALFORMED, ids=lambda a: a[:30] or "empty")
def test_malformed_scheduler_address_is_a_batch_error(address: str) -> None:
    """One check names the address and the expected form, before any connection."""
    with pytest.raises(BatchError, match="tcp://HOST:PORT") as info:
        check_scheduler_address(address)
    assert repr(address)[:60] in str(info.value)
    with pytest.raises(BatchError, match="tcp://HOST:PORT"):
        make_executor("dask", scheduler=address)


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:8786", "tls://scheduler.example.org:1",
                                     "tcp://[::1]:65535", "tcp://node-7:8786"])
def test_wellformed_scheduler_address_passes(address: str) -> None:
    """Usual forms (IPv4, names, bracketed IPv6) are accepted as given."""
    assert check_scheduler_address(address) == address


@pytest.mark.parametrize("address", ["foo", "http://x:1", "", "tcp://[::1", "tcp://h:0"])
def test_malformed_scheduler_address_from_the_cli(cli: Callable[..., Outcome],
                                                  address: str) -> None:
    """The command line reports a bad address with exit 2 and no traceback."""
    result = cli("run", str(REFERENCE), "-n", "50", "--scheduler", address)
    result.clean_failure()
    assert "tcp://HOST:PORT" in result.stderr


def test_unknown_executor_kind_is_a_batch_error() -> None:
    """Every refusal of make_executor is a BatchError, never a ValueError."""
    with pytest.raises(BatchError, match="unknown executor 'threads'"):
        make_executor("threads", 2)
    with pytest.raises(BatchError, match="workers"):
        make_executor("processes", 0)


def test_too_many_local_workers_are_refused() -> None:
    """Local processes and local Dask clusters stop at a ceiling relative to the cores."""
    limit = max_local_workers()
    assert 1 <= limit <= MAX_WORKERS
    for kind in ("processes", "dask", "auto"):
        with pytest.raises(BatchError, match=rf"at most {limit} .*core") as info:
            make_executor(kind, limit + 1)
        assert str(limit + 1) in str(info.value)
    make_executor("processes", limit)  # the ceiling itself is allowed (nothing starts)
    # a remote scheduler reports its own workers: not capped here
    assert isinstance(make_executor("dask", 10 * limit, scheduler="tcp://127.0.0.1:8786"),
                      DaskExecutor)


def test_too_many_workers_from_the_cli(cli: Callable[..., Outcome]) -> None:
    """``--workers`` beyond the ceiling exits 2 with the limit and the core count."""
    result = cli("run", str(REFERENCE), "-n", "20000", "--workers", str(max_local_workers() + 1))
    result.clean_failure()
    assert "at most" in result.stderr and "core" in result.stderr


def test_ctrl_c_during_a_dask_batch_is_quiet(tmp_path: Path) -> None:
    """SIGINT (to the whole process group, as a terminal sends it) exits 130 within 30 s
    with the resume message and no traceback or distributed log lines."""
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim", "run", str(REFERENCE), "-n", "200000", "--seed", "3",
         "--chunk-size", "500", "--executor", "dask", "--workers", "2", "--out", str(out),
         "-q"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not list((out / "runs").glob("chunk-*.parquet")):
            if proc.poll() is not None:
                raise AssertionError(f"finished before it could be stopped: {proc.stderr.read()}")
            if time.monotonic() > deadline:
                raise AssertionError("no chunk appeared within 120 s")
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)
        began = time.monotonic()
        _, err = proc.communicate(timeout=45)
        elapsed = time.monotonic() - began
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    assert proc.returncode == 130, err[-3000:]
    assert elapsed < 30, elapsed
    assert "Traceback" not in err, err[-3000:]
    assert "distributed." not in err, err[-3000:]
    assert f"resume with --resume {out}" in err, err[-3000:]
