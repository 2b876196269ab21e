"""docs/reference.md is the field reference the code generates, and it covers every key."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from sim.analysis.sweepspec import sweep_json_schema
from sim.cli import cli
from sim.reference import field_reference
from sim.scenario.schema_json import scenario_json_schema

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "docs" / "reference.md"


def test_committed_reference_is_up_to_date():
    """The committed file is what the code generates now (regenerate it with
    `escalation schema --reference --out docs/reference.md --force`)."""
    assert REFERENCE.read_text(encoding="utf-8") == field_reference()


def test_schema_reference_command_prints_it():
    """`escalation schema --reference` prints the reference."""
    result = CliRunner().invoke(cli, ["schema", "--reference"])
    assert result.exit_code == 0 and result.output == field_reference()


def _sections(text: str) -> dict[str, list[str]]:
    """Each section's table rows, by heading."""
    out: dict[str, list[str]] = {}
    heading = ""
    for line in text.splitlines():
        if line.startswith("#"):
            heading = line.lstrip("# ")
            out[heading] = []
        elif line.startswith("| `"):
            out[heading].append(line)
    return out


def test_every_key_has_a_type_a_meaning_and_an_example():
    """Every property of every part of both formats is a row with its type, its meaning
    and an example (the default column may be empty: no default, not required)."""
    text = field_reference()
    rows = [row for rows in _sections(text).values() for row in rows]
    keys = {re.match(r"\| `([^`]+)`", r).group(1) for r in rows}
    wanted = set(sweep_json_schema()["properties"])
    for name, part in scenario_json_schema()["$defs"].items():
        if name != "Variant":
            wanted |= set(part.get("properties", {}))
    assert wanted <= keys
    for row in rows:
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]]
        key, kind, _default, meaning, example = cells
        assert kind and meaning and example.startswith(f"`{key.strip('`')}: "), row


def test_reference_states_the_shorthands_and_the_exponential_mean():
    """The shorter spellings the loader accepts are in the types, and `exponential: X`
    is documented as a mean."""
    sections = _sections(field_reference())
    level = next(r for r in sections["Scenario file"] if r.startswith("| `ladder`"))
    assert "name or [Level](#level)" in level
    expo = next(r for r in sections["Distribution"] if r.startswith("| `exponential`"))
    # numbers or expressions, never flags: "text" is the expression
    assert "number (> 0) or text or [ExponentialArgs]" in expo and "is the MEAN" in expo
    escalate = next(r for r in sections["Effect"] if r.startswith("| `escalate`"))
    assert "number or text or [Steps](#steps)" in escalate
