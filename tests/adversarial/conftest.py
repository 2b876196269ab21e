"""The adversarial corpus: every hostile or absurd input ends within seconds, in bounded
memory, with exit 0 or a clear message and exit 2 (never a traceback, never a hang).

``cli`` runs ``python -m sim`` in a child process under a wall-clock timeout and an
address-space limit, so a hang or a runaway allocation fails the test instead of the
machine.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

MEMORY_LIMIT = 3 * 1024**3  # bytes of address space for a child command
TIMEOUT = 60.0  # seconds for a child command


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def clean_failure(self) -> None:
        """Exit 2 with a message and no traceback."""
        assert self.code == 2, (self.code, self.stderr[-2000:])
        assert "Traceback" not in self.output, self.output[-3000:]
        assert self.stderr.strip(), "an error must say something"


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run_cli(*args: str, cwd: Path | None = None, timeout: float = TIMEOUT,
            stdin: str | None = None, memory: int | None = MEMORY_LIMIT) -> Outcome:
    """Run ``python -m sim ARGS`` with a timeout and a memory limit."""
    env = dict(os.environ, COLUMNS="120", PYTHONFAULTHANDLER="0")
    try:
        proc = subprocess.run([sys.executable, "-m", "sim", *args], cwd=cwd,
                              capture_output=True, text=True, timeout=timeout, env=env,
                              input=stdin, preexec_fn=_limit if memory else None)
    except subprocess.TimeoutExpired:
        pytest.fail(f"escalation {' '.join(args)} did not finish within {timeout:g} s")
    return Outcome(proc.returncode, proc.stdout, proc.stderr)


IN_PROCESS_HEADROOM = 4 * 1024**3  # address space the in-process tests may add


def _address_space() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@pytest.fixture(scope="package", autouse=True)
def bounded_memory() -> Iterator[None]:
    """The in-process tests of this corpus run under an address-space limit too: the
    current size plus a headroom (restored afterwards, for the rest of the session)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    now = _address_space()
    if now and (hard == resource.RLIM_INFINITY or now + IN_PROCESS_HEADROOM < hard):
        resource.setrlimit(resource.RLIMIT_AS, (now + IN_PROCESS_HEADROOM, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@pytest.fixture
def cli(tmp_path: Path) -> Callable[..., Outcome]:
    """``cli(*args)`` runs the command line in ``tmp_path`` under the limits."""

    def _run(*args: str, **kwargs: object) -> Outcome:
        kwargs.setdefault("cwd", tmp_path)
        return run_cli(*args, **kwargs)  # type: ignore[arg-type]

    return _run
