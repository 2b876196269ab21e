"""Shared fixtures: writing scenario files and running small batches."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

MINIMAL = """\
name: minimal
clock: {horizon: 100}
ladder: [low, high]
outcomes:
  - {id: quiet, default: true}
"""


@pytest.fixture
def write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """Write a (dedented) YAML text to a file in a temporary working folder; return its path.

    Messages then name files relative to that folder, as a user would see them.
    """
    monkeypatch.chdir(tmp_path)

    def _write(text: str, name: str = "scenario.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return _write


@pytest.fixture
def reference_path() -> Path:
    return ROOT / "scenarios" / "reference" / "tit_for_tat.yaml"
