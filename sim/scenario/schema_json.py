"""The scenario format as a JSON Schema document, for editors and other tools.

:func:`scenario_json_schema` is what ``escalation schema`` prints. It is generated from
the pydantic models of :mod:`sim.scenario.schema` and accepts exactly the documents the
loader's validation accepts, shorthands included, with these exceptions that JSON Schema
cannot express (the loader still refuses them, with a located message):

* a parameter's value outside its ``range`` or not among its ``choices``, and a range
  whose low is above its high;
* a categorical distribution with a different number of ``weights`` and ``values``;
* a date whose day does not exist in its month (``2025-02-30``), a date horizon that is
  not after ``clock.start``, and a clock that runs past 9999-12-31;
* more than 1,000 rungs over all tracks, or 1,000 outcomes over all dimensions (each
  track, list and dimension has its own limit in the schema).

What the loader checks after validation is not in the schema either: that names refer
to something declared (actors, actions, rungs, sources, outcomes), that expressions
parse and read known names, that times given as dates fit the clock, that exactly one
outcome is the default.

A *variant* (a file with ``extends:``) is a partial document, merged into its base before
it is validated: for it the schema checks the top-level keys, the values that replace the
base's outright (``name``, ``title``, ``description``, ``start_level``, ``format``) and the
kind of each section (a mapping or a list); the sections' contents are checked by
``escalation validate``, on the merged whole.
"""

from __future__ import annotations

import re
import typing
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from sim.scenario.schema import ScenarioSpec

__all__ = ["DIALECT", "JsonSchemaGenerator", "model_json_schema", "scenario_json_schema",
           "text_of"]

DIALECT = "https://json-schema.org/draft/2020-12/schema"

REPLACED = ("name", "title", "description", "extends", "start_level", "format")
"""Top-level keys whose value in a variant replaces the base's outright."""


class JsonSchemaGenerator(GenerateJsonSchema):
    """Pydantic's generator, with the names of mappings checked (``propertyNames``, not
    ``patternProperties``, which would let any other name through), without a title on
    every property, and keys left in the order the models declare them."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def sort(self, value: JsonSchemaValue, parent_key: str | None = None) -> JsonSchemaValue:
        return value  # keys in the order the models declare them (examples as written)

    def dict_schema(self, schema: core_schema.DictSchema) -> JsonSchemaValue:
        out = super().dict_schema(schema)
        patterns = out.pop("patternProperties", None)
        if patterns:
            ((pattern, values),) = patterns.items()
            out["propertyNames"] = {"pattern": pattern}
            out["additionalProperties"] = values
        return out


_BOUNDS = {"ge": "minimum", "gt": "exclusiveMinimum", "le": "maximum", "lt": "exclusiveMaximum"}
_ROLE = re.compile(r":\w+:`~?([^`]+)`")


def text_of(doc: str) -> str:
    """A docstring as one paragraph of Markdown (Sphinx roles and double backquotes
    turned into code spans)."""
    return " ".join(_ROLE.sub(r"`\1`", doc).replace("``", "`").split())


def _tidy(node: Any) -> Any:
    """Bounds pydantic leaves in its own spelling (``ge``, when a number is checked by a
    function first) in JSON Schema's, and descriptions as single paragraphs."""
    if isinstance(node, list):
        return [_tidy(v) for v in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _BOUNDS and node.get("type") in ("number", "integer"):
            out[_BOUNDS[key]] = value
        elif key == "description" and isinstance(value, str):
            out[key] = text_of(value)
        elif key in ("properties", "$defs", "patternProperties"):
            out[key] = {k: _tidy(v) for k, v in value.items()}
        elif key in ("examples", "default", "const", "enum"):  # values, not schemas
            out[key] = value
        else:
            out[key] = _tidy(value)
    return out


def _generate(model: type[BaseModel]) -> dict[str, Any]:
    return typing.cast(dict[str, Any], _tidy(model.model_json_schema(
        by_alias=True, schema_generator=JsonSchemaGenerator)))


def model_json_schema(model: type[BaseModel], title: str, description: str) -> dict[str, Any]:
    """A model's JSON Schema (validation mode, keys as written in files), as a document."""
    body = _generate(model)
    return {"$schema": DIALECT, "title": title, "description": description,
            **{k: v for k, v in body.items() if k not in ("title", "description")}}


def _kind(schema: dict[str, Any], defs: dict[str, Any]) -> list[str]:
    """The JSON types a property's schema allows (``object``, ``array``, ...)."""
    if "$ref" in schema:
        return _kind(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    if "type" in schema:
        kinds = schema["type"]
        return [kinds] if isinstance(kinds, str) else list(kinds)
    out: list[str] = []
    for key in ("anyOf", "oneOf"):
        for sub in schema.get(key, []):
            out.extend(k for k in _kind(sub, defs) if k not in out)
    return out


def scenario_json_schema() -> dict[str, Any]:
    """The JSON Schema of a scenario file (see the module's docstring for its reach)."""
    full = _generate(ScenarioSpec)
    defs: dict[str, Any] = full.pop("$defs")
    full.pop("description", None)
    full["title"] = "a complete scenario"
    defs["Scenario"] = full
    variant_props: dict[str, Any] = {}
    for key, prop in full["properties"].items():
        about = {k: prop[k] for k in ("description", "examples") if k in prop}
        if key in REPLACED:
            variant_props[key] = {"anyOf": [prop, {"type": "null"}], **about}
        else:
            kinds = [*_kind(prop, defs), "null"]
            variant_props[key] = {"type": list(dict.fromkeys(kinds)), **about}
    variant_props["extends"] = {"type": "string", **{k: v for k, v in variant_props[
        "extends"].items() if k != "anyOf"}}
    defs["Variant"] = {
        "title": "a variant (a file with extends:)",
        "description": "A partial scenario merged into the file it extends: mappings merge "
                       "key by key, null removes a key, lists of items with an id merge by "
                       "id, other values replace. Its sections' contents are checked on the "
                       "merged whole by escalation validate.",
        "type": "object",
        "properties": variant_props,
        "required": ["extends"],
        "additionalProperties": False,
    }
    return {
        "$schema": DIALECT,
        "title": "escalation scenario file",
        "description": "A scenario: its clock, parameters, escalation ladder, actors, "
                       "actions, triggers and outcomes; or, with extends:, a variant of "
                       "another scenario file.",
        "type": "object",
        "properties": {k: {"description": p["description"]}
                       for k, p in full["properties"].items()},
        "if": {"required": ["extends"], "properties": {"extends": {"type": "string"}}},
        "then": {"$ref": "#/$defs/Variant"},
        "else": {"$ref": "#/$defs/Scenario"},
        "$defs": defs,
    }
