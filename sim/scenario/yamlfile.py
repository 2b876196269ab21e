"""Safe YAML 1.2 reading into plain dicts and lists that remember where each value stood.

The text is parsed into YAML events (ruamel.yaml's parser is iterative, so deep
nesting cannot exhaust the Python stack) and the tree is built here, so nothing
in the file is ever constructed as a Python object: tags other than the core
``!!str``/``!!int``/``!!float``/``!!bool``/``!!null``/``!!map``/``!!seq`` are
refused, as are anchors and aliases (the "billion laughs" expansion), duplicate
keys, non-text keys, several documents and nesting deeper than :data:`MAX_DEPTH`.
Plain scalars are resolved by the YAML 1.2 core schema, so ``no`` and ``on`` stay
text.
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML, events
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from sim.errors import Problem

__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "Mark",
    "MarkedDict",
    "MarkedList",
    "explain",
    "locate",
    "parse_yaml",
    "resolve_plain",
]

MAX_DEPTH = 32
MAX_BYTES = 2_000_000

_CORE = "tag:yaml.org,2002:"
_ALLOWED_TAGS = {f"{_CORE}{t}" for t in ("str", "int", "float", "bool", "null", "map", "seq")}
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL_TRUE = re.compile(r"^(?:true|True|TRUE)$")
_BOOL_FALSE = re.compile(r"^(?:false|False|FALSE)$")
_INT = re.compile(r"^[-+]?[0-9]+$")
_INT_OCT = re.compile(r"^0o[0-7]+$")
_INT_HEX = re.compile(r"^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_INF = re.compile(r"^[-+]?\.(?:inf|Inf|INF)$")
_NAN = re.compile(r"^\.(?:nan|NaN|NAN)$")
_SURROGATE = re.compile("[\ud800-\udfff]")
_MAX_DIGITS = 400  # longer integer literals are beyond a float's range anyway
_TOO_LARGE = object()


@dataclass(frozen=True)
class Mark:
    """Where a value stands: 1-based line and column, and how a scalar was written."""

    file: str
    line: int
    column: int
    quoted: bool = False
    single_line: bool = True


class MarkedDict(dict[str, Any]):
    """A mapping read from YAML, with the marks of its keys and values."""

    mark: Mark
    key_marks: dict[str, Mark]
    value_marks: dict[str, Mark]

    def __init__(self, mark: Mark) -> None:
        super().__init__()
        self.mark = mark
        self.key_marks = {}
        self.value_marks = {}


class MarkedList(list[Any]):
    """A sequence read from YAML, with the marks of its items."""

    mark: Mark
    item_marks: list[Mark]

    def __init__(self, mark: Mark) -> None:
        super().__init__()
        self.mark = mark
        self.item_marks = []


def _mark(file: str, ev: Any, scalar: bool = False) -> Mark:
    m = ev.start_mark
    if not scalar:
        return Mark(file, m.line + 1, m.column + 1)
    style = getattr(ev, "style", None)
    return Mark(
        file,
        m.line + 1,
        m.column + 1,
        quoted=style in ("'", '"'),
        single_line=ev.end_mark.line == m.line and style not in ("|", ">"),
    )


def _resolve_plain(text: str) -> Any:
    if _NULL.fullmatch(text):
        return None
    if _BOOL_TRUE.fullmatch(text):
        return True
    if _BOOL_FALSE.fullmatch(text):
        return False
    if _INT.fullmatch(text):
        return int(text) if len(text) <= _MAX_DIGITS else _TOO_LARGE
    if _INT_OCT.fullmatch(text):
        return int(text[2:], 8) if len(text) <= _MAX_DIGITS else _TOO_LARGE
    if _INT_HEX.fullmatch(text):
        return int(text[2:], 16) if len(text) <= _MAX_DIGITS else _TOO_LARGE
    if _FLOAT.fullmatch(text):
        return float(text)
    if _INF.fullmatch(text):
        return -math.inf if text.startswith("-") else math.inf
    if _NAN.fullmatch(text):
        return math.nan
    return text


def resolve_plain(text: str) -> tuple[Any, str | None]:
    """A plain scalar's value by the YAML 1.2 core schema, or an error message.

    A number must fit a float: an integer beyond about 1.8e308, or a decimal that
    overflows to infinity (``1e999``), is an error (``.inf`` spells infinity).
    """
    value = _resolve_plain(text)
    if value is _TOO_LARGE:
        return None, f"number '{_short(text)}' is too large (the limit is about 1.8e308)"
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            float(value)
        except OverflowError:
            return None, f"number '{_short(text)}' is too large (the limit is about 1.8e308)"
    if isinstance(value, float) and math.isinf(value) and not _INF.fullmatch(text):
        return None, (f"number '{_short(text)}' is too large (the limit is about 1.8e308; "
                      f"write .inf for infinity)")
    return value, None


def _short(text: str) -> str:
    return text if len(text) <= 24 else f"{text[:10]}...{text[-6:]} ({len(text):,} characters)"


def _scalar_value(ev: Any) -> tuple[Any, str | None]:
    """The Python value of a scalar event, or an error message."""
    tag = ev.tag
    text = ev.value
    if not text.isascii() and _SURROGATE.search(text):
        return None, "text holds a lone surrogate escape, which is not valid Unicode"
    if tag is None or tag == "!":
        plain = ev.style is None and (ev.implicit[0] if ev.implicit else True)
        return resolve_plain(text) if plain else (text, None)
    if tag not in _ALLOWED_TAGS:
        if tag.startswith("!") and not tag.startswith("!!"):  # `if: !a`: a negation
            return None, (f"'{tag}{(' ' + text) if text else ''}' reads as a YAML tag (a "
                          f"value may not start with '!'): in an expression write 'not' "
                          f"(as in 'not a'), or quote the text")
        return None, f"tag '{tag}' is not allowed: scenario files hold plain data only"
    kind = tag[len(_CORE):]
    if kind == "str":
        return text, None
    value, error = resolve_plain(text)
    if error:
        return None, error
    if kind == "null":
        return None, None if value is None else f"'{text}' is not null"
    if kind == "bool":
        return value, None if isinstance(value, bool) else f"'{text}' is not a boolean"
    if kind == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
        return value, None if ok else f"'{text}' is not an integer"
    if kind == "float":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value), None
        return None, f"'{text}' is not a number"
    return None, f"tag '{tag}' does not fit a scalar"


def parse_yaml(text: str, file: str) -> tuple[Any, list[Problem]]:
    """Parse YAML text into marked plain data.

    Returns the tree (``None`` if it could not be built) and the problems found.
    A syntax error stops the parse; other problems are collected and reading goes on.
    """
    problems: list[Problem] = []

    def fail(mark: Mark, message: str) -> None:
        problems.append(Problem(file, mark.line, mark.column, "", message))

    if len(text.encode("utf-8", "replace")) > MAX_BYTES:
        fail(Mark(file, 1, 1), f"file is larger than {MAX_BYTES:,} bytes")
        return None, problems
    reader = YAML(typ="safe", pure=True)
    reader.version = (1, 2)
    stack: list[Any] = []  # containers being filled
    pending_keys: list[Any] = []  # per mapping on the stack: key waiting for its value
    root: Any = None
    documents = 0
    depth_reported = False

    def attach(value: Any, mark: Mark) -> None:
        nonlocal root
        if not stack:
            root = value
            return
        parent = stack[-1]
        if isinstance(parent, MarkedList):
            parent.append(value)
            parent.item_marks.append(mark)
            return
        key_info = pending_keys[-1]
        if key_info is None:  # this value is a key
            if isinstance(value, (MarkedDict, MarkedList)):
                fail(mark, "a key must be text, not a mapping or a list")
                pending_keys[-1] = ("", mark, False)
            elif not isinstance(value, str):
                fail(mark, f"a key must be text, got {value!r}")
                pending_keys[-1] = (str(value), mark, False)
            elif value in parent:
                first = parent.key_marks[value].line
                fail(mark, f"duplicate key '{value}' (first at line {first})")
                pending_keys[-1] = (value, mark, False)
            else:
                pending_keys[-1] = (value, mark, True)
            return
        key, key_mark, keep = key_info
        pending_keys[-1] = None
        if keep:
            parent[key] = value
            parent.key_marks[key] = key_mark
            parent.value_marks[key] = mark

    try:
        for ev in reader.parse(io.StringIO(text)):
            if isinstance(ev, events.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    fail(_mark(file, ev), "only one YAML document is allowed per file")
                    break
                continue
            anchor = getattr(ev, "anchor", None)
            if isinstance(ev, events.AliasEvent) or anchor:
                fail(_mark(file, ev),
                     "anchors and aliases (&, *) are not allowed: write values out")
                if isinstance(ev, events.AliasEvent):
                    attach(None, _mark(file, ev))
                    continue
            if isinstance(ev, events.ScalarEvent):
                mark = _mark(file, ev, scalar=True)
                value, error = _scalar_value(ev)
                if error:
                    fail(mark, error)
                attach(value, mark)
            elif isinstance(ev, (events.MappingStartEvent, events.SequenceStartEvent)):
                mark = _mark(file, ev)
                tag = ev.tag
                if tag not in (None, "!") and tag not in _ALLOWED_TAGS:
                    fail(mark, f"tag '{tag}' is not allowed: scenario files hold plain data only")
                if len(stack) >= MAX_DEPTH:
                    if not depth_reported:
                        fail(mark, f"nesting deeper than {MAX_DEPTH} levels")
                        depth_reported = True
                    return None, problems
                is_map = isinstance(ev, events.MappingStartEvent)
                container: Any = MarkedDict(mark) if is_map else MarkedList(mark)
                attach(container, mark)
                stack.append(container)
                pending_keys.append(None)
            elif isinstance(ev, (events.MappingEndEvent, events.SequenceEndEvent)):
                stack.pop()
                pending_keys.pop()
    except MarkedYAMLError as exc:
        pm = exc.problem_mark or exc.context_mark
        line, col = (pm.line + 1, pm.column + 1) if pm is not None else (1, 1)
        problems.append(Problem(file, line, col, "", f"YAML syntax error: {explain(exc)}"))
        return None, problems
    except YAMLError as exc:
        problems.append(Problem(file, 1, 1, "", f"YAML error: {exc}"))
        return None, problems
    if root is None and not problems:
        fail(Mark(file, 1, 1), "the file is empty: it should be a mapping of keys")
    return root, problems


def explain(exc: MarkedYAMLError) -> str:
    """A YAML parser's error in words that say how to fix it (its own words when the
    slip is not a common one)."""
    problem, context = exc.problem or "", exc.context or ""
    started = exc.context_mark
    since = f" (it starts at line {started.line + 1})" if started is not None else ""
    column = f"column {started.column + 1}" if started is not None else "one column"
    if "'\\t'" in problem or "\t" in problem:
        return "a tab: YAML indents with spaces only; replace the tab with spaces"
    if problem.startswith("expected <block end>") and "block mapping" in context:
        if "'-'" in problem or "sequence" in problem:
            return (f"a list item ('- ') where a key was expected: indent the list under its "
                    f"key, or align this line with the keys of its mapping (at {column})")
        here = exc.problem_mark
        at = f"this line starts at column {here.column + 1}, but " if here is not None else ""
        return (f"inconsistent indentation: {at}the keys of the mapping it belongs to start "
                f"at {column}{f' (line {started.line + 1})' if started else ''}: align it "
                f"with them, or indent it under a key as a nested value")
    if problem.startswith("expected <block end>"):
        return (f"inconsistent indentation in a list{since}: its '- ' items start in the "
                f"same column ({column}); a key cannot follow them at that indentation")
    if problem == "mapping values are not allowed here":
        return ("a ':' that cannot start a value here: this line may be indented deeper than "
                "the keys above it (keys of one mapping line up), a key may lack the space "
                "after its ':' on the line before, or a text holding ': ' must be quoted")
    if "could not find expected ':'" in problem:
        return f"a key without ':'{since}: write 'key: value'"
    if "flow sequence" in context:
        return (f"a [ ... ] list is not closed, or two of its items lack a comma between "
                f"them{since}")
    if "flow mapping" in context:
        return (f"a {{ ... }} mapping is not closed, or two of its entries lack a comma "
                f"between them{since}")
    if "quoted scalar" in context:
        return f"a quoted text is not closed: its closing quote is missing{since}"
    return " ".join(x for x in (context, problem) if x)


def locate(tree: Any, path: tuple[Any, ...], key: bool = False) -> tuple[Mark | None, int]:
    """The mark of the deepest value along ``path`` and how many path parts it covers.

    With ``key=True`` the last part, when it is a mapping key, gives its key's mark.
    """
    node = tree
    best: Mark | None = getattr(tree, "mark", None)
    used = 0
    for i, part in enumerate(path):
        if isinstance(node, MarkedDict) and isinstance(part, str) and part in node.value_marks:
            last = i == len(path) - 1
            best = node.key_marks[part] if (key and last) else node.value_marks[part]
            node = node[part]
            used = i + 1
        elif isinstance(node, MarkedList) and isinstance(part, int) and 0 <= part < len(node):
            best = node.item_marks[part]
            node = node[part]
            used = i + 1
        else:
            continue
    return best, used
