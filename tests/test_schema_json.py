"""The JSON Schema (`escalation schema`) accepts exactly what the loader's validation accepts."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from sim.analysis.sweepspec import SweepSpec, sweep_json_schema
from sim.scenario.loader import merge_documents
from sim.scenario.schema import ScenarioSpec
from sim.scenario.schema_json import scenario_json_schema
from sim.scenario.yamlfile import parse_yaml

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = scenario_json_schema()
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
SWEEP_VALIDATOR = jsonschema.Draft202012Validator(sweep_json_schema())


def _tree(path: Path) -> Any:
    tree, problems = parse_yaml(path.read_text(encoding="utf-8"), str(path))
    assert tree is not None and not problems
    return tree


def _plain(tree: Any) -> Any:
    return json.loads(json.dumps(tree))


SCENARIOS = sorted(p for p in (ROOT / "scenarios").rglob("*.yaml")
                   if p.parent.name not in ("sweeps", "observed"))
SWEEPS = sorted((ROOT / "scenarios" / "sweeps").glob("*.yaml"))
FULL = [p for p in SCENARIOS if "extends" not in _tree(p)]
VARIANTS = [p for p in SCENARIOS if "extends" in _tree(p)]

# Refusals JSON Schema cannot express (see sim.scenario.schema_json): values compared with
# other values, and calendar arithmetic.
BEYOND_SCHEMA = re.compile(
    r"is outside its range|is not one of its choices|range low must be <= high|"
    r"weights has \d+ items|is not a date \(|must be after the clock's start|"
    r"is before the clock's start|the clock runs past|a date needs a valid clock.start|"
    r"rungs in all|outcomes in all")


def schema_accepts(doc: Any) -> bool:
    return VALIDATOR.is_valid(doc)


def loader_accepts(doc: Any) -> bool | None:
    """Whether the loader's validation accepts a complete document; None when it refuses
    it only for reasons the schema leaves to the loader."""
    try:
        ScenarioSpec.model_validate(doc)
    except ValidationError as exc:
        if all(BEYOND_SCHEMA.search(e["msg"]) for e in exc.errors()):
            return None
        return False
    return True


def agree(doc: Any) -> None:
    expected = loader_accepts(doc)
    if expected is None:
        return
    found = schema_accepts(doc)
    if found != expected:
        errors = [f"{list(e.absolute_path)}: {e.message[:200]}"
                  for e in VALIDATOR.iter_errors(doc)][:5]
        try:
            ScenarioSpec.model_validate(doc)
            why = "loader accepts"
        except ValidationError as exc:
            why = str(exc)[:1500]
        raise AssertionError(f"loader {'accepts' if expected else 'refuses'}, schema "
                             f"{'accepts' if found else 'refuses'}:\n"
                             f"{json.dumps(doc)[:3000]}\nschema: {errors}\nloader: {why}")


# --- shipped files ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_shipped_scenario_passes_the_schema(path):
    """Every scenario under scenarios/ (variants too) is valid under the JSON Schema."""
    errors = [f"{list(e.absolute_path)}: {e.message}"
              for e in VALIDATOR.iter_errors(_plain(_tree(path)))]
    assert errors == []


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.name)
def test_every_shipped_sweep_file_passes_the_sweep_schema(path):
    """Sweep files are valid under `escalation schema --sweep`."""
    doc = _plain(_tree(path))
    assert list(SWEEP_VALIDATOR.iter_errors(doc)) == []
    SweepSpec.model_validate(doc)


# --- generated documents -------------------------------------------------------------------------

NAMES = ["a", "alpha", "red", "x1", "t_2", "Level", "_x", "__x", "if", "not", "True", "1a",
         "a-b", "a b", "é", "", "a\n", "deep_strikes"]
TEXTS = [*NAMES, "level >= 1", "hits > 0", "0.1 per day", "2025-01-20", "2025-02-30",
         "0000-01-01", "2025-1-20", " 2025-01-20 ", "10000-01-01", "day", "days", "week",
         "fortnight", "hour", "grid", "lhs", "0.5:0.95:10", "1,2", "range", "x.yaml"]
SCALARS = st.one_of(
    st.sampled_from([0, 1, -1, 2, 0.5, 1.5, -0.5, 1e9, 1e9 + 1, 3.0, 10_000_001, None, True,
                     False]),
    st.sampled_from(TEXTS),
    st.integers(-3, 100),
    st.floats(-5, 400, allow_nan=False, allow_infinity=False),
)
JUNK = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3),
    st.dictionaries(st.sampled_from([*NAMES, "value", "mean", "id", "rungs", "by", "expr"]),
                    inner, max_size=2)), max_leaves=4)


def _paths(node: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [here]
    if isinstance(node, dict):
        for k, v in node.items():
            out.extend(_paths(v, (*here, k)))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.extend(_paths(v, (*here, i)))
    return out


def _at(node: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        node = node[part]
    return node


@st.composite
def mutated(draw: st.DrawFn, doc: Any, keep: str = "") -> Any:
    """A document with one to three random changes: a value replaced, a key dropped or
    added, a value wrapped in a list or unwrapped from one, a mapping reduced to one value
    (the top-level key ``keep`` is left alone)."""
    doc = json.loads(json.dumps(doc))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from([p for p in _paths(doc) if not p or p[0] != keep]))
        node = _at(doc, path)
        how = draw(st.sampled_from(["replace", "drop", "add", "wrap", "unwrap", "only"]))
        if not path and how in ("replace", "drop", "wrap", "unwrap", "only"):
            how = "add"
        parent = _at(doc, path[:-1]) if path else None
        last = path[-1] if path else None
        if how == "replace":
            parent[last] = draw(JUNK)
        elif how == "drop" and isinstance(parent, dict):
            del parent[last]
        elif how == "drop" and isinstance(parent, list):
            parent.pop(last)
        elif how == "add" and isinstance(node, dict):
            key = draw(st.sampled_from([*NAMES, *_keys_near(node)]))
            node[key] = draw(JUNK)
        elif how == "wrap" and parent is not None:
            parent[last] = [node]
        elif how == "unwrap" and isinstance(node, list) and node:
            parent[last] = node[0]
        elif how == "only" and isinstance(node, dict) and node:
            parent[last] = draw(st.sampled_from(list(node.values())))
    return doc


def _keys_near(node: dict[str, Any]) -> list[str]:
    """Keys that exist somewhere in the format (so additions are often known keys)."""
    return sorted(_ALL_KEYS)


def _collect_keys(schema: Any, out: set[str]) -> set[str]:
    if isinstance(schema, dict):
        for k, v in schema.items():
            if k == "properties" and isinstance(v, dict):
                out.update(v)
            _collect_keys(v, out)
    elif isinstance(schema, list):
        for v in schema:
            _collect_keys(v, out)
    return out


_ALL_KEYS = _collect_keys(SCHEMA, set())
_FULL_TREES = [_plain(_tree(p)) for p in FULL]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(range(len(_FULL_TREES))).flatmap(lambda i: mutated(_FULL_TREES[i])))
def test_mutated_scenarios_are_judged_alike(doc):
    """Shipped scenarios changed at random: the schema and the loader agree on each."""
    agree(doc)


def _from_schema(schema: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    """Documents shaped by the schema's types, ignoring its rules across keys (``allOf``,
    ``if``, ``not``), so that many break one of them."""
    if "$ref" in schema:
        return _from_schema(SCHEMA["$defs"][schema["$ref"].rsplit("/", 1)[-1]], depth)
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return st.one_of([_from_schema(s, depth) for s in schema[key]])
    kind = schema.get("type")
    if isinstance(kind, list):
        return st.one_of([_from_schema({**schema, "type": k}, depth) for k in kind])
    if kind == "string":
        pattern = schema.get("pattern")
        fitting = [t for t in TEXTS if pattern is None or re.search(pattern, t)]
        return st.sampled_from(fitting or TEXTS)
    if kind in ("number", "integer"):
        lo = schema.get("minimum", schema.get("exclusiveMinimum", -5))
        hi = schema.get("maximum", 1e6)
        ints = st.integers(int(lo), min(int(hi), 10**6))
        if kind == "integer":
            return ints
        return st.one_of(ints, st.floats(lo, hi, allow_nan=False, allow_infinity=False))
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if depth > 6:
        return st.just([] if kind == "array" else {})
    if kind == "array":
        if "prefixItems" in schema:
            return st.tuples(*(_from_schema(s, depth + 1) for s in schema["prefixItems"])).map(
                list)
        return st.lists(_from_schema(schema.get("items", {}), depth + 1),
                        min_size=schema.get("minItems", 0), max_size=max(2, schema.get(
                            "minItems", 0)))
    if kind == "object":
        props = schema.get("properties", {})
        required = set(schema.get("required", []))
        groups = [[r["required"][0] for r in rule["oneOf"]]
                  for rule in schema.get("allOf", []) if "oneOf" in rule]
        grouped = {k for g in groups for k in g}
        fixed = st.fixed_dictionaries(
            {k: _from_schema(v, depth + 1) for k, v in props.items() if k in required},
            optional={k: _from_schema(v, depth + 1) for k, v in props.items()
                      if k not in required and k not in grouped})
        for group in groups:  # mostly one key of an exactly-one group, sometimes two
            one = st.sampled_from(group).flatmap(
                lambda k: _from_schema(props[k], depth + 1).map(lambda v, k=k: {k: v}))
            picked = st.one_of(one, one, one, st.tuples(one, one).map(
                lambda pair: {**pair[0], **pair[1]}))
            fixed = st.tuples(fixed, picked).map(lambda pair: {**pair[0], **pair[1]})
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            pattern = schema.get("propertyNames", {}).get("pattern")
            names = [n for n in NAMES if pattern is None or re.search(pattern, n)]
            entries = st.dictionaries(st.sampled_from(names or NAMES),
                                      _from_schema(extra, depth + 1),
                                      min_size=schema.get("minProperties", 0), max_size=2)
            return st.tuples(fixed, entries).map(lambda pair: {**pair[1], **pair[0]})
        return fixed
    return JUNK


_SCENARIO = _from_schema(SCHEMA["$defs"]["Scenario"]).map(
    lambda doc: {k: v for k, v in doc.items() if k != "extends"})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(_SCENARIO, _SCENARIO.flatmap(mutated)))
def test_documents_built_from_the_models_are_judged_alike(doc):
    """Documents generated from the models' schema (and then changed at random): the schema
    and the loader agree on each."""
    agree(doc)


# --- variants -----------------------------------------------------------------------------------

_BASES = {p: _tree(p.parent / _tree(p)["extends"]) for p in VARIANTS}
_VARIANT_TREES = [(_BASES[p], _plain(_tree(p))) for p in VARIANTS]


def variant_loader_accepts(base: Any, doc: Any) -> bool | None:
    """The loader's verdict on a variant: merged into its base, then validated."""
    tree, problems = parse_yaml(json.dumps(doc), "variant.yaml")
    assert tree is not None and not problems
    return loader_accepts(merge_documents(base, tree))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(range(len(_VARIANT_TREES))).flatmap(
    lambda i: st.tuples(st.just(_VARIANT_TREES[i][0]),
                        mutated(_VARIANT_TREES[i][1], keep="extends"))))
def test_the_schema_never_refuses_a_variant_the_loader_accepts(pair):
    """A variant is a partial document: what the schema refuses of it, the loader refuses
    once it is merged into its base (the schema leaves the sections' contents to it)."""
    base, doc = pair
    if variant_loader_accepts(base, doc):
        errors = [e.message for e in VALIDATOR.iter_errors(doc)]
        assert errors == [], json.dumps(doc)[:2000]


@pytest.mark.parametrize(("key", "value"), [
    ("bogus", 1), ("name", "two words"), ("parameters", [1]), ("clock", 5),
    ("outcomes", "ceasefire"), ("ladder", {"a": 1}), ("format", 2), ("start_level", "1a")])
def test_the_schema_checks_a_variant_keys_and_sections(key, value):
    """Unknown top-level keys, replaced values and sections of the wrong kind are refused
    in a variant by both the schema and the loader."""
    base, doc = _VARIANT_TREES[0]
    doc = {**doc, key: value}
    assert not schema_accepts(doc)
    assert variant_loader_accepts(base, doc) is False


# --- specific spellings ------------------------------------------------------------------------

MINIMAL = {"name": "m", "clock": {"horizon": 10}, "ladder": ["a", "b"],
           "outcomes": [{"id": "q", "default": True}]}


@pytest.mark.parametrize("change", [
    {"ladder": ["a", {"id": "b", "doc": "the top"}]},
    {"ladders": {"x": ["a", "b"], "y": {"rungs": ["c", "d"], "start": "d"}}, "ladder": None},
    {"parameters": {"p": 0.5, "f": True, "n": {"value": 3, "integer": True, "range": [1, 9]}}},
    {"actions": {"s": {"every": 30}, "r": {"rate": {"schedule": [[0, 0.1], [5, 0]]}},
                 "e": {"rate": {"expr": "0.1 * t", "max": 2}}, "a": {"at": 3},
                 "d": {"every": {"exponential": "p"}, "draws": {"k": {"uniform": [1, 2]},
                                                                "c": 4}}}},
    {"triggers": {"t": {"on": "s", "do": [
        {"fire": "s"}, {"escalate": 1}, {"escalate": {"by": 2}}, {"raise_to": "b"},
        {"fire": {"action": "s", "after": {"uniform": [1, 2]}}}]}}},
    {"triggers": {"t": {"on": ["s", "r"], "after": {"triangular": [1, 2, 3]}}}},
    {"metrics": {"m": "level", "n": {"expr": 1, "doc": "one"}}},
    {"outcomes": {"war": [{"id": "q", "default": True}], "n": [{"id": "r", "default": True}]}},
    {"clock": {"unit": "week", "start": "2025-01-06", "horizon": "2025-06-30"}},
    {"sources": [{"id": "s", "title": "T"}],
     "parameters": {"p": {"value": 1, "source": {"ref": "s", "note": "n", "evidence": "x"}}}},
])
def test_shorthands_the_loader_accepts_are_in_the_schema(change):
    """Each shorter spelling (a rung's name, a bare parameter value, `every: 30`, `on:` one
    action, `fire: name`, `escalate: 1`, a metric's expression, one excerpt...) is valid
    under the schema as it is for the loader."""
    doc = {k: v for k, v in {**MINIMAL, **change}.items() if v is not None}
    assert loader_accepts(doc) is True
    assert [e.message for e in VALIDATOR.iter_errors(doc)] == []


@pytest.mark.parametrize("change", [
    {"clock": {"unit": "fortnight", "horizon": 10}},
    {"clock": {"horizon": "2025-01-06"}},
    {"clock": {"start": 0, "horizon": 10}},
    {"triggers": {"t": {"on": "s", "if_": "x"}}},
    {"triggers": {"t": {"on": "s", "when": "x"}}},
    {"actions": {"s": {"every": 30, "rate": 2}}},
    {"actions": {"s": {"every": {"uniform": [1, 2], "normal": {"mean": 1, "sd": 1}}}}},
    {"actions": {"s": {"every": {"exponential": {"mean": 1, "rate": 1}}}}},
    {"actions": {"s": {"rate": {"schedule": [[0, 1]], "max": 2}}}},
    {"actions": {"s": {"effects": [{"escalate": None}]}}},
    {"outcomes": [{"id": "q", "default": True, "terminal": True}]},
    {"ladders": {"x": ["a", "b"]}},
    {"parameters": {"n": {"value": 2.5, "integer": True}}},
    {"parameters": {"f": {"value": True, "range": [0, 1]}}},
    {"name": "a\n"},
    {"parameters": {"if": 1}},
    {"actors": {"_a": {}}},
    {"format": True},
])
def test_what_the_loader_refuses_the_schema_refuses(change):
    """Each of these is refused by the loader's validation and by the schema."""
    doc = {**MINIMAL, **change}
    assert loader_accepts(doc) is False
    assert not schema_accepts(doc)


def test_every_property_has_a_description_and_an_example():
    """Editors show each key's meaning and an example of it."""
    missing = []
    for schema in (SCHEMA, sweep_json_schema()):
        parts = [("", schema), *schema.get("$defs", {}).items()]
        for name, part in parts:
            if name == "" and "$defs" in schema and "if" in schema:
                props = {k: {**v, "examples": 1} for k, v in part["properties"].items()}
            else:
                props = part.get("properties", {})
            missing += [f"{name}.{key}: {what}" for key, prop in props.items()
                        for what in ("description", "examples") if what not in prop]
    assert missing == []


def test_the_schema_is_a_valid_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    jsonschema.Draft202012Validator.check_schema(sweep_json_schema())
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


# --- escalation schema ------------------------------------------------------------------------


def test_schema_command_writes_the_file_and_refuses_to_overwrite_it(tmp_path):
    """`escalation schema --out FILE` writes the schema; an existing FILE needs --force."""
    from click.testing import CliRunner

    from sim.cli import cli

    out = tmp_path / "scenario.schema.json"
    result = CliRunner().invoke(cli, ["schema", "--out", str(out)])
    assert result.exit_code == 0 and json.loads(out.read_text()) == SCHEMA
    result = CliRunner().invoke(cli, ["schema", "--out", str(out)])
    assert result.exit_code == 2 and "exists; use --force to replace it" in result.output
    assert CliRunner().invoke(cli, ["schema", "--out", str(out), "--force"]).exit_code == 0
    assert json.loads(CliRunner().invoke(cli, ["schema"]).output) == SCHEMA
    assert json.loads(CliRunner().invoke(cli, ["schema", "--sweep"]).output) == \
        sweep_json_schema()
    assert CliRunner().invoke(cli, ["schema", "--sweep", "--reference"]).exit_code == 2


@settings(max_examples=150, deadline=None)
@given(mutated(_plain(_tree(SWEEPS[0]))) if SWEEPS else st.just({}))
def test_sweep_files_are_judged_alike(doc):
    """Sweep files changed at random: the sweep schema and the sweep file's model agree."""
    try:
        SweepSpec.model_validate(doc)
        expected = True
    except ValidationError:
        expected = False
    assert SWEEP_VALIDATOR.is_valid(doc) == expected, json.dumps(doc)
