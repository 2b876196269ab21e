"""The building blocks of the scenario format: names, numbers, expressions, base models.

Shared by the schema (:mod:`sim.scenario.schema`) and the registries of kinds
(:mod:`sim.scenario.distributions`, :mod:`sim.scenario.effects`).
"""

from __future__ import annotations

import keyword
import math
from collections.abc import Callable
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainValidator,
    Strict,
    WithJsonSchema,
    model_validator,
)

__all__ = [
    "END",
    "IDENT_PATTERN",
    "NAME_PATTERN",
    "Base",
    "Expr",
    "Finite",
    "Flag",
    "Ident",
    "Name",
    "NonNegative",
    "Number",
    "Numeric",
    "OneOf",
    "Path",
    "Positive",
    "Probability",
    "Scalar",
    "Whole",
    "annotation_of",
    "bare",
    "exactly_one",
    "fits_float",
    "given",
    "json_rules",
    "not_both",
    "number_only",
    "pair",
    "plain",
    "valid_name",
]

Scalar = bool | int | float | str


def _ident(value: str) -> str:
    if not (value.isascii() and value.isidentifier()) or keyword.iskeyword(value) \
            or value.startswith("__"):
        raise ValueError(f"'{value}' is not a valid name: use letters, digits and _, not a keyword")
    return value


def _name(value: str) -> str:
    _ident(value)
    if value.startswith("_"):
        raise ValueError(f"'{value}' is not a valid name: expressions cannot use names "
                         f"starting with '_'")
    return value


def valid_name(value: str) -> bool:
    """Whether ``value`` is a valid :data:`Name` (one that expressions read)."""
    try:
        _name(value)
    except ValueError:
        return False
    return True


END = "$(?!\\n)"
"""The end of a JSON Schema pattern: ``$`` alone would also match before a final line
break in Python's ``re``, which the loader refuses."""
_KEYWORDS = "|".join(keyword.kwlist)
IDENT_PATTERN = f"^(?!(?:{_KEYWORDS}){END})(?!__)[A-Za-z_][A-Za-z0-9_]*{END}"
NAME_PATTERN = f"^(?!(?:{_KEYWORDS}){END})[A-Za-z][A-Za-z0-9_]*{END}"

Ident = Annotated[str, AfterValidator(_ident), WithJsonSchema(
    {"type": "string", "pattern": IDENT_PATTERN,
     "description": "a name: ASCII letters, digits and _, not starting with a digit or '__', "
                    "not a Python keyword"})]
Name = Annotated[str, AfterValidator(_name), WithJsonSchema(
    {"type": "string", "pattern": NAME_PATTERN,
     "description": "a name that expressions read: ASCII letters, digits and _, starting "
                    "with a letter, not a Python keyword"})]
"""A name that expressions read (parameter, actor, variable, level, action, draw)."""


def _what(value: Any) -> str:
    if isinstance(value, bool):
        return f"a flag ({str(value).lower()})"
    if isinstance(value, str):
        return f"text {value[:40]!r}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    if value is None:
        return "nothing (null)"
    return f"a {type(value).__name__}"


def number_only(value: Any) -> Any:
    """Refuse flags and text where a number is due (pydantic would turn them into one)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"input should be a number, got {_what(value)}")
    return value


def fits_float(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            float(value)
        except OverflowError:
            raise ValueError("number is too large (the limit is about 1.8e308)") from None
    return value


Number = Annotated[float, BeforeValidator(number_only)]
Whole = Annotated[int, BeforeValidator(number_only)]
Flag = Annotated[bool, Strict()]
def _expr(value: Any) -> Scalar:
    if isinstance(value, (bool, int, float, str)):
        return fits_float(value)  # type: ignore[no-any-return]
    raise ValueError(f"expected a number or an expression, got {_what(value)}")


_EXPR_SCHEMA = WithJsonSchema(
    {"anyOf": [{"type": "number"}, {"type": "boolean"}, {"type": "string"}],
     "description": "a number or an expression"}
)
Expr = Annotated[Scalar, PlainValidator(_expr), _EXPR_SCHEMA]


def _literal_check(test: Any, what: str) -> Any:
    def check(value: Scalar) -> Scalar:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not test(value):
            raise ValueError(f"{what}, got {value}")
        return value

    return check


def _bounded(bounds: dict[str, float], what: str) -> WithJsonSchema:
    """The JSON Schema of an expression whose literal number has ``bounds``."""
    return WithJsonSchema({"anyOf": [{"type": "number", **bounds}, {"type": "string"}],
                           "description": f"a number ({what}) or an expression"})


def _no_flag(value: Scalar) -> Scalar:
    """Refuse ``true``/``false`` where a number is meant (Python would read them as 1
    and 0); an expression may still compute a flag."""
    if isinstance(value, bool):
        raise ValueError(f"expected a number or an expression, got {_what(value)}; a "
                         f"number is meant here")
    return value


Numeric = Annotated[Expr, AfterValidator(_no_flag), WithJsonSchema(
    {"anyOf": [{"type": "number"}, {"type": "string"}],
     "description": "a number or an expression"})]
"""An expression where a number is meant: a literal flag is refused."""
Probability = Annotated[Expr, AfterValidator(_no_flag),
                        AfterValidator(_literal_check(lambda v: 0 <= v <= 1,
                                                      "probability must be within [0, 1]")),
                        _bounded({"minimum": 0, "maximum": 1}, "within [0, 1]")]
Positive = Annotated[Expr, AfterValidator(_no_flag),
                     AfterValidator(_literal_check(lambda v: v > 0, "must be > 0")),
                     _bounded({"exclusiveMinimum": 0}, "> 0")]
NonNegative = Annotated[Expr, AfterValidator(_no_flag),
                        AfterValidator(_literal_check(lambda v: v >= 0, "must be >= 0")),
                        _bounded({"minimum": 0}, ">= 0")]
Finite = Annotated[Expr, AfterValidator(_no_flag),
                   AfterValidator(_literal_check(math.isfinite, "must be finite")),
                   _bounded({}, "finite")]


class Base(BaseModel):
    """A part of a scenario file: unknown keys are refused; each field's docstring is its
    description in the JSON Schema and the field reference."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True,
                              use_attribute_docstrings=True)


def annotation_of(model: type[BaseModel], name: str) -> Any:
    """The full annotation of a model's field (its type with its constraints)."""
    info = model.model_fields[name]
    return Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation


def pair(names: tuple[str, ...], model: type[BaseModel]) -> Any:
    """Accept ``[a, b]`` for ``{names[0]: a, names[1]: b}`` of ``model``."""
    def convert(value: Any) -> Any:
        if isinstance(value, list) and len(value) == len(names):
            return dict(zip(names, value, strict=True))
        return value

    items: Any = tuple(annotation_of(model, n) for n in names)
    as_list: Any = tuple.__class_getitem__(items)  # tuple[A, B] from the fields' types
    return BeforeValidator(convert, json_schema_input_type=as_list | model | None)


def bare(name: str, model: type[BaseModel]) -> Any:
    """Accept a bare number or expression for ``{name: value}`` of ``model``."""
    def convert(value: Any) -> Any:
        return {name: value} if isinstance(value, (bool, int, float, str)) else value

    return BeforeValidator(convert,
                           json_schema_input_type=annotation_of(model, name) | model | None)


# --- rules across keys, in JSON Schema --------------------------------------------------------

_NOT_NULL: dict[str, Any] = {"not": {"type": "null"}}


def given(*keys: str) -> dict[str, Any]:
    """JSON Schema: every one of ``keys`` is present and not null."""
    return {"required": list(keys), "properties": {k: _NOT_NULL for k in keys}}


def exactly_one(keys: tuple[str, ...]) -> dict[str, Any]:
    """JSON Schema: exactly one of ``keys`` is given (present and not null)."""
    return {"oneOf": [given(k) for k in keys]}


def not_both(a: str, b: str) -> dict[str, Any]:
    """JSON Schema: ``a`` and ``b`` are not both given."""
    return {"not": given(a, b)}


def json_rules(*rules: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    """A ``json_schema_extra`` adding ``rules`` (checked by a model validator) to a
    model's JSON Schema, so that editors refuse what the loader refuses."""
    def extra(schema: dict[str, Any]) -> None:
        schema.setdefault("allOf", []).extend(rules)

    return extra


def _one_of_schema(schema: dict[str, Any], cls: type[Any]) -> None:
    schema.setdefault("allOf", []).append(exactly_one(cls._kinds))


class OneOf(Base):
    """A mapping that takes exactly one of the keys in ``_kinds``."""

    model_config = ConfigDict(json_schema_extra=_one_of_schema)

    _kinds: ClassVar[tuple[str, ...]] = ()
    _noun: ClassVar[str] = "an item"

    @model_validator(mode="after")
    def _exactly_one(self) -> OneOf:
        given = [k for k in self._kinds if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"{self._noun} takes exactly one of {', '.join(self._kinds)}; "
                             f"got {', '.join(given) if given else 'none'}")
        return self

    @property
    def kind(self) -> str:
        """The one key given."""
        return next(k for k in self._kinds if getattr(self, k) is not None)


Path = tuple[str | int, ...]
"""Where a value sits in a scenario document: keys and list indexes."""


def plain(value: Any) -> str:
    """A value as written for people: ``3`` rather than ``3.0``."""
    if isinstance(value, float) and value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return str(value)
