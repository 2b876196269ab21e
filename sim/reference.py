"""The field reference of the scenario and sweep file formats, in Markdown.

Generated from the JSON Schemas (themselves generated from the pydantic models), so it
lists every key an editor knows, with its type, default, meaning and an example.
``escalation schema --reference`` prints it; ``docs/reference.md`` is its output.
"""

from __future__ import annotations

import json
import re
from typing import Any

from sim.analysis.sweepspec import sweep_json_schema
from sim.scenario.fields import IDENT_PATTERN, NAME_PATTERN
from sim.scenario.schema import DATE_PATTERN, SLUG_PATTERN
from sim.scenario.schema_json import scenario_json_schema
from sim.scenario.yamlfile import resolve_plain

__all__ = ["field_reference"]

# Each part of a scenario file, in reading order, and where it is written.
PLACES: dict[str, str] = {
    "Scenario": "the top level of a scenario file",
    "Clock": "`clock:`",
    "Source": "each item of `sources:`",
    "Citation": "`source:` of a parameter, actor, action or trigger",
    "Parameter": "each entry of `parameters:`",
    "Level": "each rung of `ladder:`, or of a track's `rungs:`",
    "Track": "each entry of `ladders:`",
    "Actor": "each entry of `actors:`",
    "Action": "each entry of `actions:`",
    "RateSpec": "an action's `rate:`, when it is a mapping",
    "Trigger": "each entry of `triggers:`",
    "Effect": "each item of an action's `effects:` and of a trigger's `do:`",
    "StepArgs": "the value of `escalate:` and `deescalate:`, when it is a mapping",
    "RungArgs": "the value of `raise_to:` and `set_level:`, when it is a mapping",
    "FireArgs": "the value of `fire:`, when it is a mapping",
    "DistSpec": "wherever a distribution is due: `every:`, `after:`, each entry of "
                "`draws:`, and `fire: {after:}`",
    "UniformArgs": "`uniform:`", "TriangularArgs": "`triangular:`",
    "ExponentialArgs": "`exponential:`", "NormalArgs": "`normal:`",
    "LognormalArgs": "`lognormal:`", "ShapeScaleArgs": "`gamma:` and `weibull:`",
    "BernoulliArgs": "`bernoulli:`", "BinomialArgs": "`binomial:`",
    "PoissonArgs": "`poisson:`", "CategoricalArgs": "`categorical:`",
    "Outcome": "each item of `outcomes:` (or of each of its dimensions)",
    "Metric": "each entry of `metrics:`",
    "Limits": "`limits:`",
}
_HEADINGS = {"Scenario": "Scenario file", "DistSpec": "Distribution", "RateSpec": "Rate",
             "StepArgs": "Steps", "RungArgs": "Rung", "FireArgs": "Fire",
             "ShapeScaleArgs": "GammaWeibullArgs"}
_INHERITED = ("doc", "source", "assumption", "informed_by")
_PLAIN_TEXT = re.compile(r"[\w.]([\w .'>=<*/+-]*[\w.'])?")
"""Text a YAML flow value holds without quotes (when it does not read as a number)."""

INTRO = """\
# Field reference

Every key of the scenario and sweep file formats: its type, its default (*required*
when it has none), what it means, and an example. This page is generated from the
code by `escalation schema --reference`; a test fails when it differs from the code, so
it is never out of date. `escalation schema` prints the same formats as a JSON Schema
for editors (see the tutorial, `docs/tutorial.md`, on editor support).

How to read the types: *flag* is `true` or `false`; *expression* is a number, a
flag or a text holding an expression (`1 - intercept_prob`, `level >= deep_strikes`);
*name* is ASCII letters, digits and `_`, starting with a letter (or `_`, for ids that
expressions never read), and not a Python keyword; *date* is `YYYY-MM-DD`; *or null*
means the key may be left out or written `null`. Where a part has a shorter spelling,
its type lists it (a ladder's rung may be its name alone; a parameter may be its value
alone).

The JSON Schema accepts what the loader accepts, with these exceptions, which the
loader still refuses with a located message: a parameter's value outside its `range`
or not among its `choices`, a range whose low is above its high; a categorical
distribution with a different number of `weights` and `values`; a date whose day
does not exist in its month, a date horizon not after `clock.start`, a clock that
runs past 9999-12-31. The loader also checks what no schema can: that every name
refers to something declared, that expressions parse and read known names, that
exactly one outcome is the default.

A **variant** (a file with `extends:`) is a partial scenario, merged into the file it
extends before it is checked: mappings merge key by key, `null` removes a key, lists of
items with an `id` (sources, outcomes) merge by id, other values replace. For a variant
the JSON Schema checks its top-level keys, the values that replace the base's outright
(`name`, `title`, `description`, `start_level`, `format`) and whether each section is a
mapping or a list; `escalation validate` checks the merged whole.
"""


def _flow(value: Any) -> str:
    """A value in YAML flow style, as a scenario file would hold it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        plain = _PLAIN_TEXT.fullmatch(value) is not None and isinstance(
            resolve_plain(value)[0], str)
        return value if plain else json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    return str(value)


def _anchor(name: str) -> str:
    return _HEADINGS.get(name, name).lower().replace(" ", "-")


def _bounds(schema: dict[str, Any]) -> str:
    parts = [f"{sign} {_flow(schema[key])}" for key, sign in (
        ("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="),
        ("exclusiveMaximum", "<")) if key in schema]
    return f" ({', '.join(parts)})" if parts else ""


def _type(schema: dict[str, Any]) -> str:
    """A schema as a short phrase: ``number (> 0)``, ``list of [Level](#level)``."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f"[{_HEADINGS.get(name, name)}](#{_anchor(name)})"
    if "const" in schema:
        return f"`{_flow(schema['const'])}`"
    if "enum" in schema:
        return " / ".join(f"`{_flow(v)}`" for v in schema["enum"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [s for s in schema[key] if s != {"type": "null"}]
            kinds = {s.get("type") for s in options}
            if kinds == {"number", "boolean", "string"} and len(options) == 3:
                number = next(s for s in options if s.get("type") == "number")
                return f"expression{_bounds(number)}"
            phrases = list(dict.fromkeys(_type(s) for s in options))
            if "number" in phrases and "whole number" in phrases:
                phrases.remove("whole number")
            null = " or null" if len(options) < len(schema[key]) else ""
            return " or ".join(phrases) + null
    kind = schema.get("type")
    if isinstance(kind, list):
        return " or ".join(_type({**schema, "type": k}) for k in kind)
    if kind == "string":
        pattern = schema.get("pattern")
        return {NAME_PATTERN: "name", IDENT_PATTERN: "name", DATE_PATTERN: "date",
                SLUG_PATTERN: "scenario name"}.get(pattern or "", "text")
    if kind == "number":
        return f"number{_bounds(schema)}"
    if kind == "integer":
        return f"whole number{_bounds(schema)}"
    if kind == "boolean":
        return "flag"
    if kind == "null":
        return "null"
    if kind == "array":
        if "prefixItems" in schema:
            return "[" + ", ".join(_type(s) for s in schema["prefixItems"]) + "]"
        least = schema.get("minItems", 0)
        some = f" (at least {least})" if least > 1 else ""
        return f"list of {_type(schema.get('items', {}))}{some}"
    if kind == "object":
        values = schema.get("additionalProperties")
        if isinstance(values, dict):
            keys = "name" if "propertyNames" in schema else "text"
            return f"mapping of {keys} to {_type(values)}"
        return "mapping"
    return "any"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(schema: dict[str, Any]) -> list[str]:
    props: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", []))
    order = [k for k in props if k not in _INHERITED] + [k for k in props if k in _INHERITED]
    rows = ["| key | type | default | meaning | example |", "|---|---|---|---|---|"]
    for key in order:
        prop = props[key]
        default = "*required*" if key in required else (
            f"`{_flow(prop['default'])}`" if "default" in prop and prop["default"] is not None
            else "")
        examples = prop.get("examples")
        example = f"`{key}: {_flow(examples[0])}`" if examples else ""
        rows.append(f"| `{key}` | {_cell(_type(prop))} | {default} | "
                    f"{_cell(prop.get('description', ''))} | {_cell(example)} |")
    return rows


def _section(name: str, schema: dict[str, Any], where: str | None) -> list[str]:
    lines = [f"### {_HEADINGS.get(name, name)}", ""]
    if where:
        lines.append(f"Where: {where}.")
    if schema.get("description") and name not in ("Scenario",):
        lines.append(schema["description"])
    lines.append("")
    if "properties" in schema:
        lines.extend(_table(schema))
        lines.append("")
    return lines


def field_reference() -> str:
    """The whole reference, in Markdown."""
    defs = scenario_json_schema()["$defs"]
    lines = [INTRO, "## Scenario files", ""]
    done = {"Variant"}
    for name, where in PLACES.items():
        if name in defs:
            lines.extend(_section(name, defs[name], where))
            done.add(name)
    for name in sorted(set(defs) - done):  # a part added without a place here
        lines.extend(_section(name, defs[name], None))
    sweep = sweep_json_schema()
    lines += ["## Sweep files", "", f"{sweep['description']} Read by `escalation sweep --spec "
              f"FILE`; options given on the command line win over the file.", ""]
    lines.extend(_table(sweep))
    return "\n".join(lines).rstrip() + "\n"
