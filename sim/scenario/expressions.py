"""Expressions of the scenario language, checked and compiled once at load.

An expression's text is parsed with :mod:`ast`, walked against an allow-list
(arithmetic, comparisons, ``and``/``or``/``not``, ``x if c else y``, numbers,
the names of the scenario and the calls ``min``, ``max``, ``abs``, ``clip``,
``round`` and ``date``), every name is resolved against the scenario's symbols, and the
checked tree is rewritten into a small function ``f(V, t, D)`` where ``V`` is
the run's state vector, ``t`` the clock and ``D`` the payload of the event being
handled. The raw text is never evaluated: only the rewritten tree, made of
allowed nodes, is compiled, with no builtins available.

Numbers are floats: literals, parameters, ``round()`` and ``**`` (computed by
:func:`math.pow`) all give floats, so no unbounded integer can arise (the only
integers are counts, the level and counted draws, all bounded) and an overflow is
an error at once instead of hours of big-integer arithmetic. Every part made of
literals only is computed at load: one that fails or is not finite is refused.
Nesting (parentheses around operators, calls, unary operators) is limited to
:data:`MAX_DEPTH`; a flat chain such as ``a + b + ... + z`` is one level, however
long, and is walked without recursion.

``date('2025-01-20')`` is the one place text may appear: exactly one quoted ISO date,
folded at compile time into its clock time (days since ``clock.start`` over the
unit's length), so no text ever reaches a run. A bare date in an expression
(``t > 2025-12-20``, which Python would read as a subtraction) is refused.
"""

from __future__ import annotations

import ast
import difflib
import itertools
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sim.scenario.dates import Calendar, DateError, date_in_text

__all__ = [
    "HINT_BUDGET",
    "MAX_DEPTH",
    "MAX_LENGTH",
    "CompiledExpression",
    "ExpressionError",
    "Hints",
    "Symbols",
    "compile_expression",
    "did_you_mean",
    "listing",
    "syntax_hint",
]

MAX_LENGTH = 1000
MAX_DEPTH = 32
HINT_BUDGET = 250_000
"""Name comparisons one :class:`Hints` index may spend (about a second), then no hints."""
_HINT_MAX_NAME = 64  # longer names get no hint (comparing them costs too much)

Evaluator = Callable[[list[Any], float, tuple[Any, ...]], Any]


class ExpressionError(ValueError):
    """An expression is not allowed; ``offset`` is its 0-based column in the text."""

    def __init__(self, message: str, offset: int = 0) -> None:
        super().__init__(message)
        self.offset = offset


class Hints:
    """Did-you-mean suggestions from a fixed set of names, with bounded total work.

    Names are bucketed by length (a name whose length differs too much can never be
    close enough), and every suggestion spends the number of names it compares from
    a budget: once spent, no more hints, so many misspellings against many names stay
    near-linear instead of quadratic.
    """

    def __init__(self, names: Iterable[str], budget: int = HINT_BUDGET) -> None:
        self._by_length: dict[int, list[str]] = {}
        for n in sorted(set(names)):
            self._by_length.setdefault(len(n), []).append(n)
        self.budget = budget

    def suggest(self, name: str, extra: Iterable[str] = ()) -> str:
        """A ``" (did you mean 'x'?)"`` hint for ``name``, or an empty string."""
        size = len(name)
        if size > _HINT_MAX_NAME:
            return ""
        pool = list(extra)
        lo, hi = (3 * size + 6) // 7, (7 * size) // 3  # outside, difflib's ratio < 0.6
        lengths = [k for k in self._by_length if lo <= k <= hi]
        cost = sum(len(self._by_length[k]) for k in lengths) * (1 + size // 16)
        if cost <= self.budget:
            self.budget -= cost
            for k in sorted(lengths):
                pool.extend(self._by_length[k])
        close = difflib.get_close_matches(name, pool, n=1, cutoff=0.6)
        return f" (did you mean '{close[0]}'?)" if close else ""


def listing(what: str, names: Iterable[str], limit: int = 12) -> str:
    """``the actors are a, b, c`` (at most ``limit`` names), or ``there are no actors``."""
    shown = list(itertools.islice(iter(names), limit + 1))
    if not shown:
        return f"there are no {what}"
    more = ", ..." if len(shown) > limit else ""
    return f"the {what} are {', '.join(shown[:limit])}{more}"


_INSTEAD = {"BitAnd": " (write 'and')", "BitOr": " (write 'or')", "Invert": " (write 'not')",
            "BitXor": " (write ** for a power)"}
_UNIT_WORDS = frozenset((
    "per", "day", "days", "week", "weeks", "hour", "hours", "month", "months", "year",
    "years", "minute", "minutes", "second", "seconds", "km", "percent"))
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_LOGIC = re.compile(r"&&|\|\||!(?!=)")
_UNIT = re.compile(r"(?<![\w.])[0-9][0-9_]*(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?\s+"
                   r"(?!(?:and|or|not|if|else|in|is)\b)([A-Za-z_]\w*)")
_ASSIGN = re.compile(r"(?<![=!<>])=(?!=)")
_OTHER_DATE = re.compile(r"\s*(?:([0-9]{4})([/.])([0-9]{1,2})\2([0-9]{1,2})"
                         r"|([0-9]{1,2})([/.])([0-9]{1,2})\6([0-9]{4}))\s*")


def other_date(text: str) -> str | None:
    """Why ``text``, a whole expression shaped like a date with ``/`` or ``.``
    (``2024/01/10``, ``10.01.2024``), is not read as one; None for anything else."""
    found = _OTHER_DATE.fullmatch(text)
    if found is None:
        return None
    shown = text.strip()
    if found.group(1):
        year, month, day = found.group(1), int(found.group(3)), int(found.group(4))
    else:  # day and month in either order: only a day above 12 tells which
        first, second, year = int(found.group(5)), int(found.group(7)), found.group(8)
        if first > 12 >= second:
            month, day = second, first
        elif second > 12 >= first:
            month, day = first, second
        else:
            return f"'{shown}' is not a date: write a date as YYYY-MM-DD"
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return f"'{shown}' is not a date: write a date as YYYY-MM-DD"
    return f"'{shown}' is not a date: write a date as YYYY-MM-DD ({year}-{month:02d}-{day:02d})"


def syntax_hint(text: str) -> tuple[str, int] | None:
    """How to fix a common slip in an expression that does not parse, and where it is:
    C-style logic (``&&``, ``||``, ``!``), a unit after a number (``0.1 per day``), or
    ``=`` for ``==``."""
    blank = _QUOTED.sub(lambda m: " " * len(m.group()), text)
    logic = _LOGIC.search(blank)
    if logic is not None:
        return (f"'{logic.group()}' is not an operator here: write 'and', 'or' and 'not' "
                f"(as in 'a and not b') instead of '&&', '||' and '!'", logic.start())
    unit = _UNIT.search(blank)
    if unit is not None:
        return (f"'{unit.group(1)}' after a number: expressions hold plain numbers; times and "
                f"rates are in clock units (clock.unit: day, week or hour), and a "
                f"parameter's unit goes in its unit: field", unit.start(1))
    assign = _ASSIGN.search(blank)
    if assign is not None:
        return "'=' assigns: compare with '=='", assign.start()
    return None


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """A ``" (did you mean 'x'?)"`` hint, or an empty string."""
    return Hints(candidates).suggest(name)


def _clip(x: float, lo: float, hi: float) -> float:
    return lo if x < lo else hi if x > hi else x


def _round(x: float, digits: float | None = None) -> float:
    """``round`` giving a float (a Python int could grow without bound)."""
    if digits is None:
        return float(round(x))
    if digits != int(digits):
        raise ValueError(f"round() takes a whole number of digits, got {digits}")
    return float(round(x, int(digits)))


_FUNCTIONS: dict[str, tuple[Callable[..., Any], int, int]] = {
    "min": (min, 2, 8),
    "max": (max, 2, 8),
    "abs": (abs, 1, 1),
    "round": (_round, 1, 2),
    "clip": (_clip, 3, 3),
}
_POW = "_f_pow"  # ``a ** b`` becomes math.pow(a, b): a float, or an OverflowError at once
_DATE = "date"  # date('YYYY-MM-DD'): a constant, folded at compile time
RESERVED = frozenset({"t", "level", "count", "True", "False", _DATE, *_FUNCTIONS})

_BINOPS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow)
_CMPOPS = (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE)
_UNARY = (ast.UAdd, ast.USub, ast.Not)


@dataclass
class Symbols:
    """The names an expression may use and where each lives at run time."""

    parameters: dict[str, Any]
    actor_vars: dict[str, dict[str, int]]  # actor -> var -> slot in V
    levels: dict[str, int]  # ladder id -> rank
    counts: dict[str, int]  # action -> slot in V
    level_slot: int  # the single track's slot (the first track's with several)
    tracks: dict[str, int] = field(default_factory=dict)  # named tracks -> slot in V
    calendar: Calendar = field(default_factory=Calendar)
    """The clock that ``date('...')`` is read against."""
    _hints: Hints | None = field(default=None, repr=False, compare=False)

    def candidates(self, payload: tuple[str, ...] = ()) -> set[str]:
        names = set(self.parameters) | set(self.levels) | {"t"} | set(payload)
        names |= {f"level.{k}" for k in self.tracks} if self.tracks else {"level"}
        names |= {f"{a}.{v}" for a, vs in self.actor_vars.items() for v in vs}
        names |= {f"count.{a}" for a in self.counts}
        return names

    def hint(self, name: str, payload: tuple[str, ...] = ()) -> str:
        """A did-you-mean hint among these names (one bounded index, built once)."""
        if self._hints is None:
            self._hints = Hints(self.candidates())
        return self._hints.suggest(name, payload)


@dataclass
class CompiledExpression:
    """A checked expression: its text, what it reads, and a factory for its evaluator."""

    text: str
    code: Any  # a code object evaluating to the lambda, or None for a literal
    literal: Any = None
    slots: frozenset[int] = frozenset()
    reads_time: bool = False
    reads_payload: bool = False
    parameters: frozenset[str] = frozenset()
    where: str = ""
    date: str = ""
    """The ISO date a literal time was written as (``at: 2025-01-20``), else empty."""
    dates: tuple[tuple[int, str, float], ...] = ()
    """Each ``date('...')`` inside: its column, its text and its clock time."""
    tree: ast.expr | None = field(default=None, repr=False, compare=False)
    """The checked, rewritten tree (names as ``V[slot]``, ``_p_name``, ``t``...)."""
    _cache: dict[int, Evaluator] = field(default_factory=dict, repr=False)

    @property
    def static(self) -> bool:
        """True when the value depends on parameters and literals only."""
        return not self.slots and not self.reads_time and not self.reads_payload

    def bind(self, namespace: dict[str, Any]) -> Evaluator:
        """The evaluator ``f(V, t, D)`` with parameters taken from ``namespace``."""
        if self.code is None:
            value = self.literal
            return lambda V, t, D: value
        fn: Evaluator = eval(self.code, namespace)  # the checked tree, with no builtins
        return fn

    def value(self, namespace: dict[str, Any]) -> Any:
        """The value of a static expression."""
        return self.bind(namespace)([], 0.0, ())


def namespace_for(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The globals an evaluator runs with: the allowed functions and parameter values."""
    ns: dict[str, Any] = {"__builtins__": {}}
    for name, (fn, _, _) in _FUNCTIONS.items():
        ns[f"_f_{name}"] = fn
    ns[_POW] = math.pow
    for name, value in parameters.items():
        ns[f"_p_{name}"] = float(value) if isinstance(value, int) and not isinstance(
            value, bool) else value
    return ns


def _depth(tree: ast.AST) -> int:
    """How deeply ``tree`` nests; the left operand of a binary operator is at its level,
    so a flat chain ``a + b - c * d + ...`` counts once, not once per operator."""
    deepest = 0
    stack: list[tuple[ast.AST, int]] = [(tree, 1)]
    while stack:
        node, d = stack.pop()
        deepest = max(deepest, d)
        if deepest > MAX_DEPTH:
            return deepest
        for child in ast.iter_child_nodes(node):
            flat = isinstance(node, ast.BinOp) and child is node.left \
                and isinstance(child, ast.BinOp)
            stack.append((child, d if flat else d + 1))
    return deepest


def _at(new: ast.expr, old: ast.AST) -> ast.expr:
    """``new`` placed where ``old`` stands in the text (for messages)."""
    return ast.copy_location(new, old)


def _locate_all(root: ast.AST) -> None:
    """Give every node a location (its parent's when missing), without recursion."""
    stack: list[tuple[ast.AST, ast.AST]] = [(root, root)]
    while stack:
        node, parent = stack.pop()
        for attr in getattr(node, "_attributes", ()):
            if getattr(node, attr, None) is None:
                setattr(node, attr, getattr(parent, attr, None) or (1 if "line" in attr else 0))
        stack.extend((child, node) for child in ast.iter_child_nodes(node))


class _Rewriter:
    def __init__(self, symbols: Symbols, payload: tuple[str, ...]) -> None:
        self.symbols = symbols
        self.payload = payload
        self.slots: set[int] = set()
        self.params: set[str] = set()
        self.reads_time = False
        self.reads_payload = False
        self.dates: list[tuple[int, str, float]] = []

    def fail(self, node: ast.AST, message: str) -> ExpressionError:
        return ExpressionError(message, getattr(node, "col_offset", 0))

    def _slot(self, node: ast.AST, slot: int) -> ast.expr:
        self.slots.add(slot)
        return ast.Subscript(ast.Name("V", ast.Load()), ast.Constant(slot), ast.Load())

    def _unknown(self, node: ast.AST, name: str) -> ExpressionError:
        hint = self.symbols.hint(name, self.payload)
        owner, dot, _ = name.partition(".")
        actors = self.symbols.actor_vars
        if name in _UNIT_WORDS:
            hint += (": a unit is not written in an expression (times and rates are in "
                     "clock units, set by clock.unit; a parameter's unit goes in its unit:)")
        elif dot and owner not in ("level", "count") and owner not in actors:
            hint += f": '{owner}' is not an actor ({listing('actors', actors)})"
        elif dot and owner in actors:
            hint += f": {listing(f'variables of {owner}', actors[owner])}"
        return self.fail(node, f"unknown name '{name}'{hint}")

    def visit(self, node: ast.AST) -> ast.expr:
        return _at(self._visit(node), node)

    def _visit(self, node: ast.AST) -> ast.expr:
        if isinstance(node, ast.Constant):
            return self._constant(node)
        if isinstance(node, ast.Name):
            return self._name(node)
        if isinstance(node, ast.Attribute):
            return self._attribute(node)
        if isinstance(node, ast.BoolOp):
            return ast.BoolOp(node.op, [self.visit(v) for v in node.values])
        if isinstance(node, ast.BinOp):
            return self._chain(node)
        if isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, _UNARY):
                return self._forbid(node, f"the operator {type(node.op).__name__}")
            return ast.UnaryOp(node.op, self.visit(node.operand))
        if isinstance(node, ast.Compare):
            for op in node.ops:
                if not isinstance(op, _CMPOPS):
                    return self._forbid(node, f"the comparison {type(op).__name__}")
            return ast.Compare(self.visit(node.left), node.ops,
                               [self.visit(c) for c in node.comparators])
        if isinstance(node, ast.IfExp):
            return ast.IfExp(self.visit(node.test), self.visit(node.body), self.visit(node.orelse))
        if isinstance(node, ast.Call):
            return self._call(node)
        what = {
            ast.Lambda: "lambda", ast.ListComp: "comprehensions", ast.SetComp: "comprehensions",
            ast.DictComp: "comprehensions", ast.GeneratorExp: "generator expressions",
            ast.Subscript: "subscripts", ast.Starred: "starred arguments",
            ast.JoinedStr: "f-strings", ast.NamedExpr: ":=", ast.Await: "await",
            ast.Yield: "yield", ast.YieldFrom: "yield", ast.List: "lists", ast.Tuple: "tuples",
            ast.Dict: "dicts", ast.Set: "sets", ast.Slice: "slices",
        }.get(type(node), type(node).__name__)
        return self._forbid(node, what)

    def _constant(self, node: ast.Constant) -> ast.expr:
        v = node.value
        if isinstance(v, bool):
            return ast.Constant(v)
        if isinstance(v, (int, float)):
            number = _as_float(v)
            if number is None:
                raise self.fail(node, f"number {_short(v)} is too large (the limit is "
                                      f"about 1.8e308)")
            return ast.Constant(number)
        return self._forbid(node, f"{type(v).__name__} constants")

    def _chain(self, node: ast.BinOp) -> ast.expr:
        """A left-leaning chain of binary operators, walked without recursion."""
        spine: list[ast.BinOp] = []
        cur: ast.expr = node
        while isinstance(cur, ast.BinOp):
            spine.append(cur)
            cur = cur.left
        out = self.visit(cur)
        for op_node in reversed(spine):
            if not isinstance(op_node.op, _BINOPS):
                return self._forbid(op_node, f"the operator {type(op_node.op).__name__}")
            right = self.visit(op_node.right)
            if isinstance(op_node.op, ast.Pow):
                out = ast.Call(ast.Name(_POW, ast.Load()), [out, right], [])
            else:
                out = ast.BinOp(out, op_node.op, right)
            out = _at(out, op_node)
        return out

    def _forbid(self, node: ast.AST, what: str) -> ast.expr:
        instead = _INSTEAD.get(what.rpartition(" ")[2], "")
        raise self.fail(node, f"{what} not allowed in an expression{instead}")

    def _name(self, node: ast.Name) -> ast.expr:
        name = node.id
        if name.startswith("_"):
            raise self.fail(node, f"names starting with '_' are not allowed: '{name}'")
        if name == "t":
            self.reads_time = True
            return ast.Name("t", ast.Load())
        if name == "level":
            if self.symbols.tracks:
                names = ", ".join(f"level.{k}" for k in self.symbols.tracks)
                raise self.fail(node, f"this scenario's escalation tracks are named "
                                      f"(ladders:): read one as level.TRACK ({names})")
            return self._slot(node, self.symbols.level_slot)
        if name in self.payload:
            self.reads_payload = True
            return ast.Subscript(ast.Name("D", ast.Load()), ast.Constant(self.payload.index(name)),
                                 ast.Load())
        if name in self.symbols.parameters:
            self.params.add(name)
            return ast.Name(f"_p_{name}", ast.Load())
        if name in self.symbols.levels:
            return ast.Constant(float(self.symbols.levels[name]))
        if name in self.symbols.actor_vars:
            raise self.fail(node, f"'{name}' is an actor: name one of its variables, "
                                  f"e.g. '{name}.{next(iter(self.symbols.actor_vars[name]), 'x')}'")
        if name in _FUNCTIONS or name == _DATE:
            raise self.fail(node, f"'{name}' is a function: call it")
        raise self._unknown(node, name)

    def _attribute(self, node: ast.Attribute) -> ast.expr:
        owner = node.value
        if node.attr.startswith("_"):
            raise self.fail(node, f"attribute '{node.attr}' is not allowed")
        if not isinstance(owner, ast.Name):
            raise self.fail(node, "attribute access is only 'actor.variable', "
                                  "'count.action' or 'level.track'")
        full = f"{owner.id}.{node.attr}"
        if owner.id == "level":
            if node.attr in self.symbols.tracks:
                return self._slot(node, self.symbols.tracks[node.attr])
            if not self.symbols.tracks:
                raise self.fail(node, f"'{full}': this scenario has one ladder; its rung "
                                      f"is plain 'level'")
            raise self._unknown(node, full)
        if owner.id == "count":
            if node.attr in self.symbols.counts:
                return self._slot(node, self.symbols.counts[node.attr])
            raise self._unknown(node, full)
        vars_ = self.symbols.actor_vars.get(owner.id)
        if vars_ is None:
            if owner.id in self.symbols.parameters or owner.id in self.payload:
                raise self.fail(node, f"'{owner.id}' is a number and has no attribute "
                                      f"'{node.attr}'")
            raise self._unknown(node, full)
        if node.attr not in vars_:
            raise self._unknown(node, full)
        return self._slot(node, vars_[node.attr])

    def _call(self, node: ast.Call) -> ast.expr:
        func = node.func
        if isinstance(func, ast.Name) and func.id == _DATE:
            return self._date(node)
        if not isinstance(func, ast.Name) or func.id not in _FUNCTIONS:
            shown = func.id if isinstance(func, ast.Name) else ast.unparse(func)
            raise self.fail(node, f"calling '{shown}' is not allowed; "
                                  f"functions are {', '.join(sorted([*_FUNCTIONS, _DATE]))}")
        if node.keywords:
            raise self.fail(node, f"{func.id}() takes no keyword arguments")
        _, lo, hi = _FUNCTIONS[func.id]
        if not lo <= len(node.args) <= hi:
            want = str(lo) if lo == hi else f"{lo} to {hi}"
            raise self.fail(node, f"{func.id}() takes {want} arguments, got {len(node.args)}")
        return ast.Call(ast.Name(f"_f_{func.id}", ast.Load()), [self.visit(a) for a in node.args],
                        [])

    def _date(self, node: ast.Call) -> ast.expr:
        """``date('YYYY-MM-DD')``: the date's clock time, as a constant."""
        args = node.args
        if node.keywords or len(args) != 1 or not isinstance(args[0], ast.Constant) \
                or not isinstance(args[0].value, str):
            raise self.fail(node, "date() takes one date in quotes, e.g. date('2025-01-20')")
        text = args[0].value
        try:
            value = self.symbols.calendar.time_of(text)
        except DateError as exc:
            raise self.fail(node, str(exc)) from None
        self.dates.append((getattr(node, "col_offset", 0), text.strip(), value))
        return ast.Constant(value)


def _as_float(value: int | float) -> float | None:
    """``value`` as a finite float, or None."""
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _short(value: Any) -> str:
    text = str(value) if not isinstance(value, int) or value.bit_length() < 4000 else "(huge)"
    return text if len(text) <= 24 else f"{text[:10]}...{text[-6:]} ({len(text):,} digits)"


def compile_expression(
    source: bool | int | float | str,
    symbols: Symbols,
    payload: tuple[str, ...] = (),
    where: str = "",
) -> CompiledExpression:
    """Check and compile one expression. Raises :class:`ExpressionError`."""
    if isinstance(source, bool) or not isinstance(source, str):
        if isinstance(source, bool):
            value: bool | float = source
        else:
            number = _as_float(source)
            if number is None:
                raise ExpressionError(f"number {_short(source)} is not finite or too large "
                                      f"(the limit is about 1.8e308)")
            value = number
        return CompiledExpression(text=repr(source), code=None, literal=value, where=where)
    text = source
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"expression is {len(text):,} characters long; "
                              f"the limit is {MAX_LENGTH:,}")
    if not text.strip():
        raise ExpressionError("empty expression")
    text = text.strip()
    slashed = other_date(text)
    if slashed is not None:
        raise ExpressionError(slashed)
    bare = date_in_text(text)
    if bare is not None:
        offset, shown = bare
        raise ExpressionError(f"a date in an expression is written date('{shown}'); "
                              f"'{shown}' would be a subtraction", offset)
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        offset = max((exc.offset or 1) - 1, 0)
        found = syntax_hint(text)
        if found is not None:
            hint, offset = found
            raise ExpressionError(f"syntax error in expression: {hint}", offset) from None
        raise ExpressionError(f"syntax error in expression: {exc.msg}", offset) from None
    except (RecursionError, MemoryError, ValueError):
        raise ExpressionError("expression is too deeply nested") from None
    if _depth(tree) > MAX_DEPTH:
        raise ExpressionError(f"expression nests deeper than {MAX_DEPTH} levels")
    rewriter = _Rewriter(symbols, payload)
    body = rewriter.visit(tree.body)
    _check_constants(body, text)
    lam = ast.Lambda(
        ast.arguments(posonlyargs=[], args=[ast.arg("V"), ast.arg("t"), ast.arg("D")],
                      kwonlyargs=[], kw_defaults=[], defaults=[]),
        body,
    )
    module = ast.Expression(_at(lam, body))
    _locate_all(module)
    code = compile(module, where or "<expression>", "eval")
    return CompiledExpression(
        text=source,
        code=code,
        slots=frozenset(rewriter.slots),
        reads_time=rewriter.reads_time,
        reads_payload=rewriter.reads_payload,
        parameters=frozenset(rewriter.params),
        where=where,
        dates=tuple(rewriter.dates),
        tree=body,
    )


def _constant_nodes(body: ast.expr) -> set[int]:
    """The ids of the nodes made of literals (and allowed calls) only, without recursion."""
    order: list[ast.AST] = []
    stack: list[ast.AST] = [body]
    while stack:
        node = stack.pop()
        order.append(node)
        stack.extend(ast.iter_child_nodes(node))
    constant: set[int] = set()
    for node in reversed(order):  # every node after its children
        if isinstance(node, ast.Name):
            if node.id.startswith("_f_"):
                constant.add(id(node))
        elif isinstance(node, ast.Subscript):
            continue
        elif all(id(child) in constant for child in ast.iter_child_nodes(node)):
            constant.add(id(node))
    return constant


def _check_constants(body: ast.expr, text: str) -> None:
    """Compute each part made of literals only, so ``9**9**9``, ``1/0`` or ``1e308*10``
    fail at load (the first constant part that fails or is not finite is reported)."""
    constant = _constant_nodes(body)
    stack: list[ast.AST] = [body]
    ns = namespace_for({})
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.BinOp, ast.UnaryOp, ast.Call)) and id(node) in constant:
            part = ast.get_source_segment(text, node) or "..."
            offset = getattr(node, "col_offset", 0)
            expr = ast.Expression(node)
            _locate_all(expr)
            try:
                value = eval(compile(expr, "<constant>", "eval"), ns)
            except (ArithmeticError, ValueError, TypeError) as exc:
                raise ExpressionError(f"constant part '{part}' fails: {exc}", offset) from None
            if isinstance(value, (int, float)) and not isinstance(value, bool) \
                    and _as_float(value) is None:
                raise ExpressionError(f"constant part '{part}' is not finite (it overflows "
                                      f"or is NaN)", offset)
            continue
        stack.extend(ast.iter_child_nodes(node))
