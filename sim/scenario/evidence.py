"""The citation rules of ``escalation validate --strict`` and the evidence check of
``--sources DIR``.

A number is either **cited** (``source: {ref, note, evidence, derivation}``) or an
**assumption** (``assumption: REASON``, optionally ``informed_by: SOURCE_ID``).

``--strict``: every parameter, and every actor, action or trigger that writes a number
other than 0 or 1, cites a source or is marked an assumption.

``--sources DIR`` (also): each cited source's document (its ``file:``) is read from
DIR, and every citation must carry ``evidence:``, short excerpts (at most
:data:`MAX_EXCERPT_WORDS` words) that occur in the document, ignoring case, spacing and
typographic quotes. The cited value must be among the excerpts' numbers, or equal the
``derivation:`` (arithmetic over those numbers, rounded to the value's written
precision). A citation whose note calls the value an assumption or an estimate is a
judgement, and must say so with ``assumption:``.

Every problem is a :class:`~sim.scenario.checks.PathProblem`: the loader locates it.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

from sim.errors import ScenarioError
from sim.scenario.checks import PathProblem
from sim.scenario.expressions import (
    CompiledExpression,
    ExpressionError,
    Symbols,
    compile_expression,
    namespace_for,
)
from sim.scenario.fields import Path
from sim.scenario.files import read_text_file
from sim.scenario.schema import Cited, ScenarioSpec

__all__ = [
    "ASSUMPTION",
    "CHECKED",
    "FAILED",
    "MAX_EXCERPT_WORDS",
    "NOT_CHECKED",
    "Evidence",
    "check_evidence",
    "excerpt_numbers",
    "strict_problems",
]

MAX_EXCERPT_WORDS = 12
"""An excerpt holds the figure in a few words: never whole sentences."""
MAX_DOCUMENT_BYTES = 20_000_000

CHECKED = "cited, evidence checked"
FAILED = "cited, evidence fails its check"
NOT_CHECKED = "cited, not checked"
ASSUMPTION = "assumption"

_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90, "dozen": 12, "hundred": 100,
    "thousand": 1000, "million": 1_000_000, "billion": 1_000_000_000,
}
_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000, "billion": 1_000_000_000}
_TOKEN = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|[a-z]+|%")
_SPACE = re.compile(r"\s+")
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
                         "\u2013": "-", "\u2014": "-", "\u00a0": " "})
_JUDGEMENT = re.compile(
    r"\b(?:our|my|an?|the modell?er'?s?)\s+(?:own\s+)?(?:assumption|estimate|guess|judge?ment)"
    r"|^\s*(?:assum|estimat)", re.IGNORECASE)
_RANGE_ONLY = re.compile(r"\brange\s+(?:is|are)\s*$", re.IGNORECASE)
_PLAIN = {0.0, 1.0}


def _judgement(note: str) -> bool:
    """Whether a note calls the value itself an assumption or an estimate (a note that
    only calls the sweep *range* one still cites its value)."""
    return any(not _RANGE_ONLY.search(note[:m.start()].rstrip())
               for m in _JUDGEMENT.finditer(note))


def _normal(text: str) -> str:
    return _SPACE.sub(" ", text.translate(_QUOTES).lower()).strip()


def excerpt_numbers(text: str) -> list[float]:
    """The numbers an excerpt holds: digits (``1,000``, ``2.5``) and number words
    (one to twenty, the tens, dozen, hundred, thousand, million); a number followed by
    a scale word counts scaled too (``12 thousand``), and ``percent`` or ``%`` adds 100."""
    out: list[float] = []
    tokens = _TOKEN.findall(_normal(text))
    for i, token in enumerate(tokens):
        if token[0].isdigit():
            number = float(token.replace(",", ""))
        elif token in _WORDS:
            number = float(_WORDS[token])
        elif token in ("percent", "%", "per"):
            if token != "per" or (i + 1 < len(tokens) and tokens[i + 1] == "cent"):
                out.append(100.0)
            continue
        else:
            continue
        out.append(number)
        following = tokens[i + 1] if i + 1 < len(tokens) else ""
        if following in _SCALES and token not in _SCALES:
            out.append(number * _SCALES[following])
    return out


def _words(text: str) -> int:
    return len(text.split())


@dataclass
class Evidence:
    """The outcome of checking a scenario's evidence against a folder of documents."""

    folder: str | None
    problems: list[PathProblem] = field(default_factory=list)
    unread: set[str] = field(default_factory=set)
    """Sources whose document could not be read."""

    def status(self, item: Cited, path: Path) -> str:
        """How the value at ``path`` (an item with a citation) stands: checked, failed,
        not checked (no folder), an assumption, or empty (neither)."""
        if item.source is None:
            return ASSUMPTION if item.assumption else ""
        if self.folder is None:
            return NOT_CHECKED
        n = len(path)
        failed = item.source.ref in self.unread or any(p.path[:n] == path
                                                      for p in self.problems)
        return FAILED if failed else CHECKED


class _Library:
    """The documents of a folder, read once each; a missing one is reported once."""

    def __init__(self, folder: str | os.PathLike[str], spec: ScenarioSpec,
                 problems: list[PathProblem]) -> None:
        self.texts: dict[str, str | None] = {}
        for i, src in enumerate(spec.sources):
            if src.id in self.texts:
                continue
            if not src.file:
                problems.append(PathProblem(("sources", i), f"source '{src.id}' names no "
                                            f"file: (its document), so its evidence cannot "
                                            f"be checked"))
                self.texts[src.id] = None
                continue
            name = FsPath(src.file).name
            where = FsPath(folder) / name
            if name != src.file or not where.is_file():
                problems.append(PathProblem(("sources", i, "file"), f"source '{src.id}': "
                                            f"document '{src.file}' is not in {folder}"))
                self.texts[src.id] = None
                continue
            try:
                self.texts[src.id] = _normal(read_text_file(where, str(where),
                                                            MAX_DOCUMENT_BYTES))
            except ScenarioError as exc:
                problems.append(PathProblem(("sources", i, "file"), f"source '{src.id}': "
                                            f"{exc}"))
                self.texts[src.id] = None


_NO_NAMES = Symbols(parameters={}, actor_vars={}, levels={}, counts={}, level_slot=0)
_ARITHMETIC = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Constant, ast.Add, ast.Sub,
               ast.Mult, ast.Div, ast.Pow, ast.USub, ast.UAdd)


def _derive(text: Any) -> tuple[float | None, list[float], str]:
    """The derivation's value and its numbers, or an error message."""
    source = text if isinstance(text, str) else repr(text)
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError:
        return None, [], f"derivation '{source}' is not an arithmetic expression"
    for node in ast.walk(tree):
        if not isinstance(node, _ARITHMETIC) or (
                isinstance(node, ast.Constant) and (isinstance(node.value, bool) or
                                                    not isinstance(node.value, (int, float)))):
            return None, [], (f"derivation '{source}' may use numbers and + - * / ** only, "
                              f"found {type(node).__name__.lower()}")
    numbers = [float(n.value) for n in ast.walk(tree)
               if isinstance(n, ast.Constant) and isinstance(n.value, (int, float))]
    try:
        compiled = compile_expression(source, _NO_NAMES)
        value = compiled.value(namespace_for({}))
    except (ExpressionError, ArithmeticError, ValueError, TypeError) as exc:
        return None, [], f"derivation '{source}' cannot be computed: {exc}"
    return float(value), numbers, ""


def _decimals(value: float) -> int:
    text = repr(float(value))
    if "e" in text or "." not in text:
        return 0
    return len(text.split(".")[1].rstrip("0"))


def _same(derived: float, value: float) -> bool:
    """Equal at the value's written precision (0.83 for 5/6, 306 for 306.0)."""
    return abs(derived - value) <= 0.5 * 10.0 ** -_decimals(value) + 1e-12 * abs(value)


def _shown(numbers: list[float]) -> str:
    return ", ".join(f"{n:g}" for n in dict.fromkeys(numbers)) or "none"


def _written_numbers(source: Any) -> list[float]:
    if isinstance(source, bool):
        return []
    if isinstance(source, (int, float)):
        return [float(source)]
    try:
        tree = ast.parse(str(source).strip(), mode="eval")
    except SyntaxError:
        return []
    return [float(n.value) for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, (int, float))
            and not isinstance(n.value, bool)]


def _expression_source(expr: CompiledExpression) -> Any:
    return expr.literal if expr.code is None else expr.text


def _written(expr: CompiledExpression) -> list[float]:
    """The numbers written in an expression; a ``date('...')`` is one (its clock time), as
    a date written as a time is."""
    return _written_numbers(_expression_source(expr)) + [t for _, _, t in expr.dates]


def _written_here(expr: CompiledExpression) -> str:
    """What an uncited expression writes, for people: ``the number 2``, ``the date
    2024-01-10 (t=9)``, or both; empty when it writes only 0 and 1."""
    if expr.date:  # a time written as a date
        numbers: list[float] = []
        dates = [(expr.date, float(expr.literal))]
    else:
        numbers = _written_numbers(_expression_source(expr))
        dates = [(text, t) for _, text, t in expr.dates]
    numbers = [n for n in numbers if n not in _PLAIN]
    dates = [(text, t) for text, t in dates if t not in _PLAIN]
    parts = []
    if numbers:
        parts.append(f"the number {_shown(numbers)}")
    if dates:
        shown = ", ".join(f"{text} (t={t:g})" for text, t in dict.fromkeys(dates))
        parts.append(f"the date{'s' if len(set(dates)) > 1 else ''} {shown}")
    if not parts:
        return ""
    return f"{' and '.join(parts)} {'are' if len(parts) > 1 else 'is'} written here"


class _Strict:
    def __init__(self, spec: ScenarioSpec, expressions: Mapping[Path, CompiledExpression],
                 folder: str | os.PathLike[str] | None) -> None:
        self.spec = spec
        self.expressions = expressions
        self.problems: list[PathProblem] = []
        self.folder = folder
        self.documents = _Library(folder, spec, self.problems) if folder is not None else None

    def items(self) -> Iterator[tuple[Path, Cited, list[float] | None]]:
        """Each cited item, its path and its value(s): a parameter's value, or the numbers
        other than 0 and 1 written in an actor, action or trigger."""
        spec = self.spec
        for name, p in spec.parameters.items():
            value = None if isinstance(p.value, bool) else [float(p.value)]
            yield ("parameters", name), p, value
        sections: dict[str, Mapping[str, Cited]] = {
            "actors": spec.actors, "actions": spec.actions, "triggers": spec.triggers}
        written: dict[Path, list[float]] = {}
        for path, expr in self.expressions.items():
            if str(path[0]) in sections and len(path) > 1:
                odd = [n for n in _written(expr) if n not in _PLAIN]
                written.setdefault(path[:2], []).extend(odd)
        for section, items in sections.items():
            for name, item in items.items():
                yield (section, name), item, written.get((section, name), [])

    def run(self) -> list[PathProblem]:
        for path, item, values in self.items():
            self.uncited(path, item, values)
            if item.source is not None and self.documents is not None:
                self.cited(path, item, values)
        return self.problems

    def problem(self, path: Path, message: str) -> None:
        self.problems.append(PathProblem(path, message))

    def uncited(self, path: Path, item: Cited, values: list[float] | None) -> None:
        if item.source is not None or item.assumption:
            return
        if path[0] == "parameters":
            value = getattr(item, "value", "")
            self.problem(path, f"value {value} has neither source: nor assumption:")
            return
        for p, expr in self.expressions.items():
            if p[:2] != path:
                continue
            written = _written_here(expr)
            if written:
                self.problem(p, f"{written}, but {path[0]}.{path[1]} has neither source: nor "
                                f"assumption:")
                return

    def cited(self, path: Path, item: Cited, values: list[float] | None) -> None:
        assert item.source is not None and self.documents is not None
        src = item.source
        here: Path = (*path, "source")
        if src.note and _judgement(src.note):
            self.problem((*here, "note"), "the note calls this value an assumption or an "
                                          "estimate: a judgement is never cited; write "
                                          f"assumption: REASON (with informed_by: {src.ref})")
            return
        if not src.evidence:
            self.problem(here, f"cites '{src.ref}' without evidence: give the short "
                               f"excerpts of its document that hold the figure")
            return
        text = self.documents.texts.get(src.ref)
        numbers: list[float] = []
        refused = False
        for i, excerpt in enumerate(src.evidence):
            at: Path = (*here, "evidence", i)
            if _words(excerpt) > MAX_EXCERPT_WORDS:
                self.problem(at, f"an excerpt holds the figure in a few words (at most "
                                 f"{MAX_EXCERPT_WORDS}), never whole sentences; this one "
                                 f"has {_words(excerpt)}")
                refused = True
                continue
            if not excerpt.strip():
                self.problem(at, "empty excerpt")
                refused = True
                continue
            if text is not None and _normal(excerpt) not in text:
                self.problem(at, f"excerpt '{excerpt}' is not in the document of "
                                 f"'{src.ref}'")
            numbers.extend(excerpt_numbers(excerpt))
        if not values or refused:
            return
        if src.derivation is not None:
            derived, used, error = _derive(src.derivation)
            at = (*here, "derivation")
            if derived is None:
                self.problem(at, error)
                return
            foreign = [n for n in used if n not in numbers]
            if foreign:
                self.problem(at, f"the derivation uses {_shown(foreign)}, which the "
                                 f"excerpts do not hold (they hold {_shown(numbers)})")
            elif not any(_same(derived, v) for v in values):
                self.problem(at, f"the derivation gives {derived:g}, not the value "
                                 f"{_shown(values)}")
            return
        missing = [v for v in values if v not in numbers]
        if missing:
            self.problem((*here, "evidence"),
                         f"the value {_shown(missing)} is not among the excerpts' numbers "
                         f"({_shown(numbers)}); give the derivation: that yields it")


def strict_problems(spec: ScenarioSpec, expressions: Mapping[Path, CompiledExpression],
                    sources: str | os.PathLike[str] | None = None) -> list[PathProblem]:
    """The problems ``validate --strict`` reports; with ``sources`` (a folder of the
    sources' documents) also every evidence problem."""
    return _Strict(spec, expressions, sources).run()


def check_evidence(spec: ScenarioSpec, expressions: Mapping[Path, CompiledExpression],
                   sources: str | os.PathLike[str] | None) -> Evidence:
    """The evidence status of every cited value (``sources`` None: nothing checked)."""
    if sources is None:
        return Evidence(None)
    strict = _Strict(spec, expressions, sources)
    problems = strict.run()
    assert strict.documents is not None
    unread = {ref for ref, text in strict.documents.texts.items() if text is None}
    return Evidence(str(sources), problems, unread)
