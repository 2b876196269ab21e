"""The README's shell commands mean the same in bash and in an interactive zsh, as printed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROGRAMS = ("escalation", "python", "python3", "pip", "pytest", "ruff", "mypy", "dask")


def readme_commands(text: str) -> list[str]:
    """Every command line of the README's bash blocks (continuations joined)."""
    out: list[str] = []
    for block in re.findall(r"^```bash\n(.*?)^```", text, flags=re.S | re.M):
        out.extend(line for line in block.replace("\\\n", " ").splitlines() if line.strip())
    return out


def words(shell: list[str], command: str, folder: Path) -> list[list[str]]:
    """The argument lists each program of ``command`` receives in ``shell`` (every program
    replaced by a function that records its arguments)."""
    log = folder / "log"
    log.write_bytes(b"")
    stubs = "".join(f"{p}() {{ printf '%s\\037' {p} \"$@\" >> log; printf '\\036' >> log; }}\n"
                    for p in PROGRAMS)
    subprocess.run([*shell], input=f"{stubs}{command}\nexit\n", text=True, cwd=folder,
                   capture_output=True, timeout=60, env={**os.environ, "HOME": str(folder)})
    calls = log.read_bytes().decode().split("\x1e")[:-1]
    return [call.split("\x1f")[:-1] for call in calls]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A working folder like a clone: the scenarios, and an environment to activate."""
    (tmp_path / "scenarios").symlink_to(ROOT / "scenarios")
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "activate").write_text("")
    return tmp_path


def test_readme_has_no_comment_that_a_shell_would_pass_on():
    """No command line of a bash block holds a '#' comment: an interactive zsh (without
    the interactive_comments option, its default) would pass it on as arguments."""
    commands = readme_commands((ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(commands) >= 20
    assert [c for c in commands if re.search(r"(^|\s)#", c)] == []


@pytest.mark.parametrize("shell", [["bash", "--norc", "--noprofile", "-i"], ["zsh", "-f", "-i"]],
                         ids=["bash", "zsh"])
def test_readme_commands_give_the_same_arguments_in_each_shell(folder, shell):
    """Each README command runs in bash and in a bare interactive zsh: every program gets
    the same arguments as in a plain non-interactive bash, globs and braces expanded to
    files that exist."""
    if shutil.which(shell[0]) is None:
        pytest.skip(f"{shell[0]} is not installed")
    commands = readme_commands((ROOT / "README.md").read_text(encoding="utf-8"))
    for command in commands:
        expected = words(["bash", "--norc", "--noprofile"], command, folder)
        assert expected, f"nothing ran: {command}"
        assert words(shell, command, folder) == expected, command
        for call in expected:
            for arg in call:
                assert "*" not in arg and "{" not in arg, f"{command}: unexpanded {arg}"
                if arg.startswith("scenarios/"):
                    assert (folder / arg).exists(), f"{command}: no such file {arg}"


def test_readme_validate_line_checks_every_scenario_and_sweep_file(folder):
    """The README's validate line reaches every scenario file (the base one too), the
    sweep files and the observation files, without bash's globstar."""
    line = next(c for c in readme_commands((ROOT / "README.md").read_text(encoding="utf-8"))
                if c.startswith("escalation validate scenarios/"))
    (call,) = words(["bash", "--norc", "--noprofile"], line, folder)
    named = set(call[2:])
    wanted = {str(p.relative_to(ROOT)) for p in (ROOT / "scenarios").rglob("*.yaml")}
    assert wanted <= named  # observation and sweep files too: validate knows them
