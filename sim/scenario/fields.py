"""The building blocks of the scenario format: names, numbers, expressions, base models.

Shared by the schema (:mod:`sim.scenario.schema`) and the registries of kinds
(:mod:`sim.scenario.distributions`, :mod:`sim.scenario.effects`).
"""

from __future__ import annotations

import keyword
import math
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
    "Base",
    "Expr",
    "Finite",
    "Flag",
    "Ident",
    "Name",
    "NonNegative",
    "Number",
    "OneOf",
    "Path",
    "Positive",
    "Probability",
    "Scalar",
    "Whole",
    "bare",
    "fits_float",
    "number_only",
    "pair",
    "plain",
]

Scalar = bool | int | float | str


def _ident(value: str) -> str:
    if not value.isidentifier() or keyword.iskeyword(value) or value.startswith("__"):
        raise ValueError(f"'{value}' is not a valid name: use letters, digits and _, not a keyword")
    return value


def _name(value: str) -> str:
    _ident(value)
    if value.startswith("_"):
        raise ValueError(f"'{value}' is not a valid name: expressions cannot use names "
                         f"starting with '_'")
    return value


Ident = Annotated[str, AfterValidator(_ident)]
Name = Annotated[str, AfterValidator(_name)]
"""A name that expressions read (parameter, actor, variable, level, action, draw)."""


def _what(value: Any) -> str:
    if isinstance(value, bool):
        return f"a flag ({str(value).lower()})"
    if isinstance(value, str):
        return f"text {value[:40]!r}"
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
    raise ValueError(f"expected a number or an expression, got {type(value).__name__}")


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


Probability = Annotated[Expr, AfterValidator(_literal_check(lambda v: 0 <= v <= 1,
                                                             "probability must be within [0, 1]"))]
Positive = Annotated[Expr, AfterValidator(_literal_check(lambda v: v > 0, "must be > 0"))]
NonNegative = Annotated[Expr, AfterValidator(_literal_check(lambda v: v >= 0, "must be >= 0"))]
Finite = Annotated[Expr, AfterValidator(_literal_check(math.isfinite, "must be finite"))]


class Base(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def pair(names: tuple[str, ...]) -> Any:
    def convert(value: Any) -> Any:
        if isinstance(value, list) and len(value) == len(names):
            return dict(zip(names, value, strict=True))
        return value

    return BeforeValidator(convert)


def bare(name: str) -> Any:
    def convert(value: Any) -> Any:
        return {name: value} if isinstance(value, (bool, int, float, str)) else value

    return BeforeValidator(convert)


class OneOf(Base):
    """A mapping that takes exactly one of the keys in ``_kinds``."""

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
