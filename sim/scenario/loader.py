"""Loading a scenario file: safe YAML, ``extends:`` merging, validation, checks, compilation.

Every problem found in a file (and the files it extends) is reported at once,
each located as ``FILE:LINE:COL: dotted.path: message``.
"""

from __future__ import annotations

import contextlib
import functools
import os
import types
import typing
from pathlib import Path as FsPath
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from sim.errors import Problem, ScenarioError
from sim.scenario.checks import Path, PathProblem, check_scenario, dotted
from sim.scenario.evidence import strict_problems
from sim.scenario.expressions import did_you_mean
from sim.scenario.fields import valid_name
from sim.scenario.files import read_text_file
from sim.scenario.scenario import Scenario
from sim.scenario.schema import (
    Action,
    Actor,
    Clock,
    Effect,
    Level,
    LevelItem,
    MetricItem,
    Outcome,
    Parameter,
    ParameterItem,
    ScenarioSpec,
    Source,
    Track,
    TrackItem,
    Trigger,
)
from sim.scenario.yamlfile import MarkedDict, MarkedList, locate, parse_yaml

__all__ = [
    "SCENARIO_KEYS",
    "SCENARIO_SUFFIXES",
    "load_scenario",
    "load_scenario_text",
    "looks_like",
    "merge_documents",
    "read_document",
    "validation_problems",
]

MAX_EXTENDS = 16

_DICT_SECTIONS: dict[str, TypeAdapter[Any]] = {
    "parameters": TypeAdapter(ParameterItem),
    "actors": TypeAdapter(Actor),
    "actions": TypeAdapter(Action),
    "triggers": TypeAdapter(Trigger),
    "metrics": TypeAdapter(MetricItem),
}
_SALVAGED: dict[str, type[BaseModel]] = {"actions": Action, "triggers": Trigger, "actors": Actor}
_OUTCOME: TypeAdapter[Any] = TypeAdapter(Outcome)
_TRACK: TypeAdapter[Any] = TypeAdapter(TrackItem)
_LIST_SECTIONS: dict[str, TypeAdapter[Any]] = {
    "sources": TypeAdapter(Source),
    "outcomes": TypeAdapter(Outcome),
    "ladder": TypeAdapter(LevelItem),
}


def _shown(path: FsPath) -> str:
    """A path as the user would write it: relative to the working folder when inside it."""
    try:
        return str(path.resolve().relative_to(FsPath.cwd()))
    except ValueError:
        return str(path)


def merge_documents(base: Any, over: Any) -> Any:
    """Deep-merge ``over`` onto ``base``.

    Mappings merge key by key (a ``null`` in ``over`` removes the key); lists whose
    items all carry an ``id`` merge item by item on it (new ids are appended);
    anything else in ``over`` replaces what ``base`` had.
    """
    if isinstance(base, MarkedDict) and isinstance(over, MarkedDict):
        out = MarkedDict(over.mark)
        for key, value in base.items():
            out[key] = value
            out.key_marks[key] = base.key_marks[key]
            out.value_marks[key] = base.value_marks[key]
        for key, value in over.items():
            if value is None:
                out.pop(key, None)
                continue
            out[key] = merge_documents(out[key], value) if key in out else value
            out.key_marks[key] = over.key_marks[key]
            out.value_marks[key] = over.value_marks[key]
        return out
    if isinstance(base, MarkedList) and isinstance(over, MarkedList) and _keyed(base) and _keyed(
            over):
        merged = MarkedList(over.mark)
        positions = {item["id"]: i for i, item in enumerate(base)}
        items = list(zip(base, base.item_marks, strict=True))
        for item, mark in zip(over, over.item_marks, strict=True):
            if item["id"] in positions:
                i = positions[item["id"]]
                items[i] = (merge_documents(items[i][0], item), mark)
            else:
                items.append((item, mark))
        for item, mark in items:
            merged.append(item)
            merged.item_marks.append(mark)
        return merged
    return over


def _keyed(items: MarkedList) -> bool:
    return bool(items) and all(isinstance(i, MarkedDict) and isinstance(i.get("id"), str)
                               for i in items)


class _Broken(Exception):
    """A file named by ``extends:`` could not be read: the merged document is incomplete."""


SCENARIO_SUFFIXES = (".yaml", ".yml")
SCENARIO_KEYS = frozenset(f.alias or n for n, f in ScenarioSpec.model_fields.items())
"""The top-level keys of a scenario file."""
_TOP_KEYS = SCENARIO_KEYS


def _not_ours(what: str) -> str:
    a = "an" if what[:1] in "aeiou" else "a"
    return f"not {a} {what} file ({a} {what} file is a .yaml or .yml file holding a " \
           f"mapping of its keys)"


def looks_like(tree: Any, keys: frozenset[str] | set[str]) -> bool:
    """True when ``tree`` is a mapping with at least one of ``keys``: a file of ours whose
    problems may be reported field by field (anything else is reported in one line, so
    that no other file's content is ever echoed)."""
    return isinstance(tree, MarkedDict) and any(k in keys for k in tree)


def read_document(path: FsPath, shown: str, keys: frozenset[str] | set[str],
                  problems: list[Problem], what: str = "scenario",
                  suffixes: tuple[str, ...] = SCENARIO_SUFFIXES) -> MarkedDict | None:
    """Read and parse one of our YAML files; ``None`` (with the problems) if it is unusable.

    A file without one of ``suffixes``, or a mapping without any of ``keys``, gets the
    single problem "not a scenario file" and none of its content; a root that is not a
    mapping, one line saying so.
    """
    try:
        text = read_text_file(path, shown)
    except ScenarioError as exc:
        problems.extend(exc.problems)
        return None
    if path.suffix.lower() not in suffixes:
        problems.append(Problem(shown, 0, 0, "", _not_ours(what)))
        return None
    tree, found = parse_yaml(text, shown)
    if tree is None:  # the parse stopped: its last problem says why (no content)
        problems.extend(found[-1:])
        return None
    if not isinstance(tree, MarkedDict):
        problems.append(Problem(shown, 1, 1, "", f"a {what} file must be a mapping of keys"))
        return None
    if not looks_like(tree, keys):
        problems.append(Problem(shown, 0, 0, "", _not_ours(what)))
        return None
    problems.extend(found)
    return tree


def _read(path: FsPath, chain: tuple[FsPath, ...], problems: list[Problem],
          files: list[str]) -> MarkedDict | None:
    shown = _shown(path)
    files.append(shown)
    tree = read_document(path, shown, _TOP_KEYS, problems)
    if tree is None:
        return None
    parent = tree.get("extends")
    if parent is None:
        return tree
    mark = tree.value_marks["extends"]
    if not isinstance(parent, str):
        problems.append(Problem(shown, mark.line, mark.column, "extends",
                                "extends takes the path of another scenario file"))
        raise _Broken
    target = (path.parent / parent).resolve()
    if target in chain or target == path:
        names = " -> ".join(_shown(p) for p in (*chain, path, target))
        problems.append(Problem(shown, mark.line, mark.column, "extends",
                                f"extends makes a cycle: {names}"))
        raise _Broken
    if len(chain) >= MAX_EXTENDS:
        problems.append(Problem(shown, mark.line, mark.column, "extends",
                                f"more than {MAX_EXTENDS} files extend one another"))
        raise _Broken
    if not target.exists():
        problems.append(Problem(shown, mark.line, mark.column, "extends",
                                f"file not found: '{parent}' (looked for {_shown(target)})"))
        raise _Broken
    base = _read(target, (*chain, path), problems, files)
    if base is None:
        raise _Broken
    return typing.cast(MarkedDict, merge_documents(base, tree))


def _unwrap(tp: Any) -> Any:
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(tp) if a is not type(None)]
            tp = members[0]
        else:
            return tp


def _allowed_keys(path: Path, root: type[BaseModel] = ScenarioSpec) -> list[str]:
    """The keys the model at ``path`` accepts (for did-you-mean hints)."""
    tp: Any = root
    for part in path:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = next((f for n, f in tp.model_fields.items()
                          if part in (n, f.alias)), None)
            if field is None:
                return []
            tp = field.annotation
        elif typing.get_origin(tp) in (dict, list):
            tp = typing.get_args(tp)[-1]
        else:
            return []
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [f.alias or n for n, f in tp.model_fields.items()]
    return []


def _data_path(doc: Any, loc: tuple[Any, ...], keep_last: bool) -> Path:
    """The part of a pydantic ``loc`` that names values present in ``doc``."""
    node = doc
    out: list[str | int] = []
    for i, part in enumerate(loc):
        in_dict = isinstance(node, dict) and isinstance(part, str) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_dict or in_list:
            out.append(part)
            node = node[part]
        elif keep_last and i == len(loc) - 1 and isinstance(part, (str, int)):
            out.append(part)
    return tuple(out)


def _message(err: Any, path: Path, root: type[BaseModel]) -> tuple[str, bool]:
    kind = err["type"]
    if kind == "extra_forbidden":
        key = str(path[-1])
        return f"unknown key '{key}'{did_you_mean(key, _allowed_keys(path[:-1], root))}", True
    if kind == "missing":
        return f"missing required key '{path[-1]}'", False
    msg: str = err["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
    if "input" in err and kind not in ("value_error",) and not isinstance(err["input"],
                                                                          (dict, list)):
        msg = f"{msg[0].lower()}{msg[1:]}, got {err['input']!r}"
    return msg, False


def _place(tree: Any, path: Path, offset: int = 0, key: bool = False,
           default_file: str = "") -> tuple[str, int, int]:
    mark, _ = locate(tree, path, key=key)
    if mark is None:
        return default_file, 0, 0
    column = mark.column
    if offset and mark.single_line:
        column += offset + (1 if mark.quoted else 0)
    return mark.file, mark.line, column


def validation_problems(doc: MarkedDict, exc: ValidationError, file: str,
                        model: type[BaseModel] = ScenarioSpec) -> list[Problem]:
    """Pydantic's errors on ``doc`` as located problems (file, line, column, dotted path)."""
    out: list[Problem] = []
    seen: set[tuple[Path, str]] = set()
    for err in exc.errors():
        loc = tuple(err["loc"])
        path = _data_path(doc, loc, keep_last=err["type"] in ("missing", "extra_forbidden"))
        message, key = _message(err, path, model)
        if err["type"] == "missing":
            located = _place(doc, path[:-1], default_file=file)
        else:
            located = _place(doc, path, key=key, default_file=file)
        if (path, message) in seen:
            continue
        seen.add((path, message))
        out.append(Problem(located[0], located[1], located[2], dotted(path), message))
    return out


@functools.lru_cache(maxsize=256)
def _field_adapter(model: type[BaseModel], name: str) -> TypeAdapter[Any]:
    info = model.model_fields[name]
    annotation: Any = info.annotation
    if info.metadata:
        annotation = typing.Annotated[(annotation, *info.metadata)]
    return TypeAdapter(annotation)


def _salvage(model: type[BaseModel], raw: Any) -> BaseModel | None:
    """Keep the valid fields of an invalid item, so its references can still be checked."""
    if not isinstance(raw, dict):
        return None
    fields: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        key = info.alias or name
        if key not in raw:
            continue
        try:
            fields[name] = _field_adapter(model, name).validate_python(raw[key])
        except ValidationError:
            if name in ("effects", "do") and isinstance(raw[key], list):
                kept = []
                for item in raw[key]:
                    with contextlib.suppress(ValidationError):
                        kept.append(Effect.model_validate(item))
                fields[name] = kept
    return model.model_construct(**fields)


def _partial_spec(doc: dict[str, Any]) -> tuple[ScenarioSpec, bool]:
    """The valid parts of a document that failed validation, for reference checks, and
    whether its outcomes all survived (so that the default-outcome check is fair)."""
    fields: dict[str, Any] = {}
    for name, adapter in _DICT_SECTIONS.items():
        raw = doc.get(name)
        items: dict[str, Any] = {}
        if isinstance(raw, dict):
            for key, value in raw.items():
                if isinstance(key, str) and key.isidentifier():
                    try:
                        items[key] = adapter.validate_python(value)
                    except ValidationError:
                        if name == "parameters":  # keep the name known to expressions
                            items[key] = Parameter.model_construct(value=0.0)
                        elif name in _SALVAGED and (kept := _salvage(_SALVAGED[name], value)):
                            items[key] = kept
        fields[name] = items
    for name, adapter in _LIST_SECTIONS.items():
        raw = doc.get(name)
        valid: list[Any] = []
        for value in raw if isinstance(raw, list) else []:
            with contextlib.suppress(ValidationError):
                valid.append(adapter.validate_python(value))
        fields[name] = valid
    start = doc.get("start_level")
    fields["start_level"] = start if isinstance(start, str) else None
    try:  # a valid clock is kept, so that dates are still read against it
        fields["clock"] = Clock.model_validate(doc.get("clock"))
    except ValidationError:
        fields["clock"] = None  # dates are not checked (see build_symbols)
    fields["name"] = "partial"
    raw_outcomes = doc.get("outcomes")
    whole = isinstance(raw_outcomes, list) and len(fields["outcomes"]) == len(raw_outcomes)
    if isinstance(raw_outcomes, dict):  # dimensions: the valid outcomes of each
        dims: dict[str, list[Any]] = {}
        whole = True
        for dim, listed in raw_outcomes.items():
            good: list[Any] = []
            for value in listed if isinstance(listed, list) else []:
                with contextlib.suppress(ValidationError):
                    good.append(_OUTCOME.validate_python(value))
            whole = whole and isinstance(listed, list) and len(good) == len(listed)
            dims[str(dim)] = good
        fields["outcomes"] = dims
    raw_ladders = doc.get("ladders")
    if isinstance(raw_ladders, dict):
        tracks: dict[str, Any] = {}
        for track, value in raw_ladders.items():
            try:
                tracks[str(track)] = _TRACK.validate_python(value)
            except ValidationError:  # keep the track and its valid rungs: no knock-on errors
                tracks[str(track)] = _salvage_track(value)
        fields["ladders"], fields["ladder"] = tracks, None
    return ScenarioSpec.model_construct(**fields), whole


def _salvage_track(raw: Any) -> Track:
    """A track whose definition failed (its problems are reported on their own), with
    the rungs that are valid names, so that references to it are still checked without
    a second problem saying the track does not exist."""
    rungs = raw.get("rungs") if isinstance(raw, dict) else raw
    kept: list[Level] = []
    for item in rungs if isinstance(rungs, list) else []:
        rung = item.get("id") if isinstance(item, dict) else item
        if isinstance(rung, str) and valid_name(rung):
            kept.append(Level.model_construct(id=rung))
    start = raw.get("start") if isinstance(raw, dict) else None
    known = start if isinstance(start, str) and start in {lv.id for lv in kept} else None
    return Track.model_construct(rungs=kept, start=known)


def _finish(doc: MarkedDict | None, problems: list[Problem], file: str, files: list[str],
            path: str | None, strict: bool = False,
            sources: str | os.PathLike[str] | None = None) -> Scenario:
    if doc is None:
        raise ScenarioError(problems)
    try:
        spec = ScenarioSpec.model_validate(doc)
        valid = outcomes_whole = True
    except ValidationError as exc:
        problems.extend(validation_problems(doc, exc, file))
        spec, outcomes_whole = _partial_spec(doc)
        valid = False

    def where(p: Path) -> str:
        f, line, col = _place(doc, p, default_file=file)
        return f"{f}:{line}:{col}: {dotted(p)}"

    checked = check_scenario(spec, where, complete=outcomes_whole)
    for pp in checked.problems:
        problems.append(_located(doc, pp, file))
    if valid and not problems and (strict or sources is not None):
        for pp in strict_problems(spec, checked.expressions, sources):
            problems.append(_located(doc, pp, file))
    if problems or not valid:
        raise ScenarioError(problems)
    warnings = tuple(_located(doc, pp, file) for pp in checked.warnings)
    return Scenario.build(spec, dict(doc), checked.expressions, path=path, files=tuple(files),
                          warnings=warnings)


def _located(doc: Any, pp: PathProblem, file: str) -> Problem:
    f, line, col = _place(doc, pp.path, pp.offset, pp.key, default_file=file)
    return Problem(f, line, col, dotted(pp.path), pp.message)


def load_scenario(path: str | os.PathLike[str], *, strict: bool = False,
                  sources: str | os.PathLike[str] | None = None) -> Scenario:
    """Load, merge, validate, check and compile a scenario file.

    ``strict`` also applies the citation rule (every number cites a source or is an
    assumption); ``sources``, a folder holding the sources' documents, also checks every
    citation's evidence against them (see :mod:`sim.scenario.evidence`).
    Raises :class:`~sim.errors.ScenarioError` listing every problem found, located.
    """
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"a scenario is a path to its file (or a loaded Scenario), not "
                        f"{type(path).__name__}" + ("; a results folder's scenario is "
                                                    "Results.scenario_as_written()"
                                                    if isinstance(path, dict) else ""))
    fs = FsPath(path)
    problems: list[Problem] = []
    files: list[str] = []
    try:
        doc = _read(fs.resolve(), (), problems, files)
    except _Broken:
        raise ScenarioError(problems) from None
    return _finish(doc, problems, _shown(fs), files, str(path), strict, sources)


def load_scenario_text(text: str, name: str = "<scenario>") -> Scenario:
    """Load a scenario from YAML text (``extends:`` is resolved from the working folder)."""
    problems: list[Problem] = []
    tree, found = parse_yaml(text, name)
    problems.extend(found)
    doc: MarkedDict | None = None
    if tree is not None and not isinstance(tree, MarkedDict):
        problems.append(Problem(name, 1, 1, "", "a scenario file must be a mapping of keys"))
    elif tree is not None:
        doc = tree
        parent = tree.get("extends")
        if isinstance(parent, str):
            files: list[str] = []
            try:
                base = _read(FsPath(parent).resolve(), (), problems, files)
            except _Broken:
                raise ScenarioError(problems) from None
            if base is None:
                raise ScenarioError(problems)
            doc = typing.cast(MarkedDict, merge_documents(base, tree))
    return _finish(doc, problems, name, [name], None)

