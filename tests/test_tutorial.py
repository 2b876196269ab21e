"""docs/tutorial.md runs as written: its files, commands and outputs (timings aside)."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from sim.cli import cli

ROOT = Path(__file__).resolve().parent.parent
TUTORIAL = ROOT / "docs" / "tutorial.md"
FENCE = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```\n", re.S | re.M)
MODELINE = "# yaml-language-server: $schema=scenario.schema.json"

# What changes from one machine or moment to the next: timings, and the progress bar.
_TIMINGS = [(re.compile(r"\d[\d,.]* s \([\d,]+ runs/s\)"), "TIME (RATE)"),
            (re.compile(r"(seed \d+), [\d.]+ s$", re.M), r"\1, TIME")]
_PROGRESS = re.compile(r"^runs .*━.*ETA.*$\n?", re.M)


@dataclass
class Step:
    """A fenced block of the tutorial: a file to write, or commands and their output."""

    kind: str  # "file" or "console"
    name: str = ""
    text: str = ""
    exit_code: int = 0
    commands: list[tuple[str, str]] = field(default_factory=list)


def steps(markdown: str) -> list[Step]:
    """The tutorial's files (```yaml file=NAME) and transcripts (```console, lines
    starting with '$ ' are commands, the lines after them their output)."""
    out = []
    for lang, info, body in FENCE.findall(markdown):
        options = dict(o.split("=", 1) for o in info.split() if "=" in o)
        if lang == "yaml" and "file" in options:
            out.append(Step("file", name=options["file"], text=body))
        elif lang == "console":
            step = Step("console", exit_code=int(options.get("exit", 0)))
            for line in body.splitlines():
                if line.startswith("$ "):
                    step.commands.append((line[2:], ""))
                else:
                    command, shown = step.commands[-1]
                    step.commands[-1] = (command, shown + line + "\n")
            out.append(step)
    return out


def normalise(text: str) -> str:
    text = _PROGRESS.sub("", text)
    for pattern, replacement in _TIMINGS:
        text = pattern.sub(replacement, text)
    return "\n".join(line.rstrip() for line in text.splitlines()).strip("\n")


def run_command(command: str) -> tuple[int, str]:
    args = shlex.split(command)
    assert args[0] == "escalation", command
    result = CliRunner().invoke(cli, args[1:], catch_exceptions=False)
    return result.exit_code, result.output


def test_the_tutorial_covers_the_whole_workflow():
    """The tutorial writes files and validates, runs, plots, sweeps and compares them."""
    found = steps(TUTORIAL.read_text(encoding="utf-8"))
    used = {shlex.split(c)[1] for s in found for c, _ in s.commands}
    assert {"schema", "validate", "run", "plot", "report", "sweep", "compare"} <= used
    assert {s.name for s in found if s.kind == "file"} >= {"strikes.yaml", "strong_ad.yaml"}


def test_the_tutorial_runs_as_written(tmp_path, monkeypatch):
    """Each file is written, each command run in order in an empty folder; each exits as
    the block says and prints what the tutorial shows."""
    monkeypatch.chdir(tmp_path)
    for step in steps(TUTORIAL.read_text(encoding="utf-8")):
        if step.kind == "file":
            (tmp_path / step.name).write_text(step.text, encoding="utf-8")
            continue
        for command, shown in step.commands:
            code, output = run_command(command)
            assert normalise(output) == normalise(shown), f"$ {command}"
            last = command == step.commands[-1][0]
            assert code == (step.exit_code if last else 0), f"$ {command}"


def test_the_tutorial_files_pass_the_schema_the_tutorial_writes(tmp_path, monkeypatch):
    """Every file that names the schema in its first line is valid under it (what an
    editor would check as it is typed)."""
    monkeypatch.chdir(tmp_path)
    assert run_command("escalation schema --out scenario.schema.json")[0] == 0
    validator = jsonschema.Draft202012Validator(
        json.loads((tmp_path / "scenario.schema.json").read_text(encoding="utf-8")))
    from sim.scenario.yamlfile import parse_yaml

    checked = 0
    for step in steps(TUTORIAL.read_text(encoding="utf-8")):
        if step.kind == "file" and step.text.startswith(MODELINE):
            tree, problems = parse_yaml(step.text, step.name)
            assert not problems
            assert [e.message for e in validator.iter_errors(tree)] == [], step.name
            checked += 1
    assert checked >= 3


@pytest.mark.parametrize("shown", ["2,000 runs, seed 7, 3.8 s (5,263 runs/s)",
                                   "sweep of 3 points, 1,000 runs per point, seed 7, 1.3 s"])
def test_timings_are_the_only_thing_ignored(shown):
    """The comparison ignores timings and nothing else."""
    other = re.sub(r"\d+\.\d s", "9.9 s", shown).replace("5,263", "1,010")
    assert normalise(other) == normalise(shown)
    assert normalise(shown.replace("seed 7", "seed 8")) != normalise(shown)
