"""Fuzzing the command line and results folders: whatever the arguments or the damage to a
folder's files, a command ends with exit 0, or with a one-line message and exit 2 (3 when
every run failed); never a traceback, never a hang."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sim
from sim.cli import cli

ROOT = Path(__file__).resolve().parents[2]
REF = str(ROOT / "scenarios" / "reference" / "tit_for_tat.yaml")
FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "40")), deadline=None,
                derandomize=not os.environ.get("FUZZ_EXAMPLES"),
                suppress_health_check=[HealthCheck.too_slow,
                                       HealthCheck.function_scoped_fixture])


@contextlib.contextmanager
def _inside(folder: Path) -> Iterator[None]:
    old = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(old)


def _check(args: list[str]) -> None:
    res = CliRunner().invoke(cli, args, catch_exceptions=True)
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise AssertionError(f"escalation {args!r} raised {res.exception!r}") \
            from res.exception
    assert res.exit_code in (0, 2, 3), (args, res.exit_code, res.output[-1500:])
    assert "Traceback" not in res.output
    if res.exit_code in (2, 3):
        errors = [line for line in res.output.splitlines() if line.startswith("escalation:")
                  or line.startswith("Error:") or line.startswith("Usage:")]
        assert errors, (args, res.output[-1500:])


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fuzz") / "good"
    sim.run_batch(REF, 300, 2, executor="serial", chunk_size=100, out=out, trace=3)
    return out


FILES = ["manifest.json", "summary.json", "scenario.json", "runs/chunk-000000.parquet",
         "runs/chunk-000002.parquet", "paths.parquet", "timeline.parquet",
         "events/chunk-000000.parquet"]
COMMANDS = [["plot", "{d}", "--kind", "outcomes", "--kind", "paths", "--out", "{p}"],
            ["compare", "{d}", "{g}"], ["run", "--resume", "{d}", "-q"],
            ["plot", "{d}", "--kind", "run", "--run", "1", "--out", "{p}"]]


def _json_edit(value: Any, path: list[int], new: Any) -> Any:
    """Replace (or delete, when ``new`` is ``...``) the leaf that ``path`` picks."""
    if not path or not isinstance(value, (dict, list)) or not value:
        return new
    keys = list(value) if isinstance(value, dict) else list(range(len(value)))
    key = keys[path[0] % len(keys)]
    child = _json_edit(value[key], path[1:], new)
    if child is ...:
        del value[key]
    else:
        value[key] = child
    return value


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**30), 10**30) | st.floats(allow_nan=False)
    | st.text(max_size=20), lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)


@FUZZ
@given(file=st.sampled_from(FILES), command=st.sampled_from(COMMANDS),
       edits=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), min_size=1,
                      max_size=12))
def test_random_byte_edits(good: Path, file: str, command: list[str],
                           edits: list[tuple[float, int]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp) / "d"
        shutil.copytree(good, d)
        target = d / file
        data = bytearray(target.read_bytes())
        for where, byte in edits:
            data[min(len(data) - 1, int(where * len(data)))] = byte
        target.write_bytes(bytes(data))
        _check([a.format(d=d, g=good, p=Path(tmp) / "plots") for a in command])


@FUZZ
@given(file=st.sampled_from(["manifest.json", "summary.json", "scenario.json"]),
       command=st.sampled_from(COMMANDS), path=st.lists(st.integers(0, 50), max_size=5),
       new=json_values | st.just(...))
def test_random_json_edits(good: Path, file: str, command: list[str], path: list[int],
                           new: Any) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp) / "d"
        shutil.copytree(good, d)
        target = d / file
        value = _json_edit(json.loads(target.read_text()), path, new)
        target.write_text(json.dumps(value) if value is not ... else "")
        _check([a.format(d=d, g=good, p=Path(tmp) / "plots") for a in command])


WORDS = ["run", "sweep", "compare", "plot", "report", "validate", "show", "sensitivity",
         "discover", "export", REF, "nope.yaml", "-n", "--seed", "--set", "--out", "--force",
         "--resume", "--workers", "--executor", "--chunk-size", "--precision", "--trace",
         "--json", "-q", "--vary", "--design", "--samples", "--kind", "--outcome",
         "--threshold", "cut_prob=0.5", "cut_prob=nan", "cut_prob=1e400", "x=1", "=", "",
         "0", "1", "3", "-1", "1e12", "99999999999999999999", "nan", "inf", "serial", "bogus",
         "grid", "sobol", "ceasefire", "out", "out@1", "@", "tcp://[::1", "\x00", "é", "..",
         "/", "-", "--", "--debug"]


@FUZZ
@given(args=st.lists(st.sampled_from(WORDS), min_size=1, max_size=8))
def test_random_command_lines(tmp_path: Path, args: list[str]) -> None:
    if "--debug" in args:  # tracebacks are what --debug is for
        args = [a for a in args if a != "--debug"]
    with tempfile.TemporaryDirectory() as tmp, _inside(Path(tmp)):
        _check(args)
