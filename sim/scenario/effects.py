"""Effects: one registry entry per kind.

Each kind is one object holding everything about it: the model of its value, its
checks (references and expressions), how it compiles into run-time operations, how
an operation executes on a run, and how it is described. :data:`EFFECTS` lists them;
:class:`Effect` (one item of ``effects:`` or ``do:``) takes exactly one of their names.
Adding a kind is one entry here and its case in ``tests/test_registry.py``.

The entries see the checker, the plan builder and the running replication only
through the small protocols below, so this module depends on neither the checks
nor the engine.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Protocol

from pydantic import BeforeValidator, Field, create_model

from sim.scenario.distributions import Dist, DistSpec, Sampler
from sim.scenario.expressions import CompiledExpression, Evaluator
from sim.scenario.fields import Base, Expr, Ident, Name, Numeric, OneOf, Path, plain

__all__ = [
    "EFFECTS",
    "CheckContext",
    "CompileContext",
    "Effect",
    "EffectKind",
    "EffectOp",
    "FireArgs",
    "Run",
    "RungArgs",
    "StepArgs",
]


class CheckContext(Protocol):
    """What an effect's checks use (the scenario checker provides it)."""

    levels: set[str]
    outcomes: set[str]  # labels, and classes only one dimension has
    outcome_classes: dict[str, list[str]]  # each class -> its labels, dimension by dimension
    tracks: dict[str, list[str]]  # track name ('' for a single ladder) -> its rungs

    @property
    def actions(self) -> Mapping[str, Any]: ...

    def problem(self, path: Path, message: str, offset: int = 0, key: bool = False) -> None: ...

    def expr(self, path: Path, source: Any, payload: tuple[str, ...] = (),
             static: bool = False) -> None: ...

    def dist(self, dist: DistSpec | None, path: Path, payload: tuple[str, ...] = (),
             time: bool = False) -> None: ...

    def ref(self, path: Path, name: str, known: set[str] | Mapping[str, Any],
            what: str) -> None: ...

    def target(self, path: Path, target: str) -> None: ...


class CompileContext(Protocol):
    """What compiling an effect uses (the engine's plan builder provides it)."""

    track_slots: list[int]  # each track's slot in V, in file order
    track_index: dict[str, int]  # track name ('' for a single ladder) -> its index
    rungs: dict[str, tuple[int, int]]  # rung -> (track index, rank)
    action_index: dict[str, int]
    outcome_index: dict[str, int]  # outcome (label, or a class unique across dimensions)

    def expression(self, path: Path) -> CompiledExpression: ...

    def fn(self, path: Path) -> Evaluator | None: ...

    def sampler(self, dist: Any, path: Path) -> Sampler | None: ...

    def slot(self, target: str) -> int: ...


class Run(Protocol):
    """What executing an effect does to a run (the engine's replication provides it)."""

    def assign(self, slot: int, value: Any, op: EffectOp) -> None: ...

    def set_level(self, track: int, rank: int) -> None: ...

    def fire_action(self, action: int, delay: Sampler | None, D: Any) -> None: ...

    def start(self, action: int) -> None: ...

    def stop(self, action: int) -> None: ...

    def end(self, outcome: int) -> None: ...


Execute = Callable[[Run, list[Any], float, Any], None]


class EffectOp:
    """One compiled operation: ``execute(run, V, t, D)``; ``expr`` and ``owner`` (the
    action or trigger) name it in messages."""

    __slots__ = ("execute", "expr", "owner")

    def __init__(self, owner: str, expr: CompiledExpression | None = None) -> None:
        self.owner = owner
        self.expr = expr
        self.execute: Execute = _nothing


def _nothing(run: Run, V: list[Any], t: float, D: Any) -> None:
    return None


class EffectKind:
    """One kind of effect: its value's model, checks, compilation and description."""

    name: ClassVar[str]
    model: ClassVar[Any]
    """The value's annotation in the schema."""
    shorthand: ClassVar[Any] = None
    """A ``BeforeValidator`` accepting a shorter spelling, or None."""
    doc: ClassVar[str] = ""
    """What the effect does, for the JSON Schema and the field reference."""
    example: ClassVar[Any] = None
    """An example of its value."""

    def check(self, ctx: CheckContext, value: Any, path: Path, payload: tuple[str, ...]) -> None:
        """Check references and compile expressions of ``value`` (at ``path``)."""
        raise NotImplementedError

    def compile(self, ctx: CompileContext, value: Any, path: Path, owner: str) -> list[EffectOp]:
        """The operations of ``value`` (checked already) for a run."""
        raise NotImplementedError

    def describe(self, value: Any) -> str:
        return f"{self.name} {value}"


class _Assign(EffectKind):
    """``set: {actor.var: expr}`` and ``add: {actor.var: expr}``."""

    model = dict[str, Expr]
    adds: ClassVar[bool]

    def check(self, ctx: CheckContext, value: Any, path: Path, payload: tuple[str, ...]) -> None:
        for target, expr in value.items():
            ctx.target((*path, target), target)
            ctx.expr((*path, target), expr, payload)

    def compile(self, ctx: CompileContext, value: Any, path: Path, owner: str) -> list[EffectOp]:
        ops = []
        for target in value:
            p = (*path, target)
            ops.append(self._op(ctx.slot(target), ctx.fn(p), ctx.expression(p), owner))
        return ops

    def _op(self, slot: int, fn: Any, expr: CompiledExpression, owner: str) -> EffectOp:
        op = EffectOp(owner, expr)
        if self.adds:
            def execute(run: Run, V: list[Any], t: float, D: Any) -> None:
                run.assign(slot, V[slot] + fn(V, t, D), op)
        else:
            def execute(run: Run, V: list[Any], t: float, D: Any) -> None:
                run.assign(slot, fn(V, t, D), op)
        op.execute = execute
        return op


class Set(_Assign):
    name = "set"
    adds = False
    doc = "set actor variables (actor.var) to the values of expressions"
    example: ClassVar[Any] = {"russia.doctrine_lowered": True}

    def describe(self, value: Any) -> str:
        return "; ".join(f"{k} = {plain(v)}" for k, v in value.items())


class Add(_Assign):
    name = "add"
    adds = True
    doc = "add the values of expressions to actor variables (actor.var); negative to subtract"
    example: ClassVar[Any] = {"ukraine.atacms": "-salvo_size"}

    def describe(self, value: Any) -> str:
        return "; ".join(f"{k} += {plain(v)}" for k, v in value.items())


def _step_shorthand(value: Any) -> Any:
    return value if isinstance(value, dict) else {"by": value}


class StepArgs(Base):
    """``escalate``/``deescalate``: ``by`` rungs (an expression, rounded) on ``track``
    (needed only when the tracks are named, with ``ladders:``)."""

    by: Annotated[Numeric, Field(examples=[2])] = 1
    """Rungs to move (an expression, rounded); the move stops at the track's ends."""
    track: Annotated[Name | None, Field(examples=["scope"])] = None
    """The track to move; needed only when the tracks are named (``ladders:``)."""


def _check_track(ctx: CheckContext, track: str | None, path: Path) -> str | None:
    """The track an effect names, checked: required with named tracks (``ladders:``)."""
    tracks = ctx.tracks
    if track is None:
        if "" in tracks:
            return ""
        ctx.problem(path, f"this scenario's escalation tracks are named (ladders:): name "
                          f"one with track: ({', '.join(tracks)})")
        return None
    if "" in tracks:
        ctx.problem((*path, "track"), "this scenario has one ladder: leave out track")
        return None
    ctx.ref((*path, "track"), track, tracks, "track")
    return track if track in tracks else None


class Escalate(EffectKind):
    """Move a track's level up by a number of rungs (rounded; clipped to the track)."""

    name = "escalate"
    model = StepArgs
    shorthand = BeforeValidator(_step_shorthand, json_schema_input_type=Numeric | StepArgs)
    doc = ("move up a number of rungs: a number or expression, or {track, by} with named "
           "tracks (ladders:)")
    example: ClassVar[Any] = 1
    sign: ClassVar[int] = 1

    def check(self, ctx: CheckContext, value: Any, path: Path, payload: tuple[str, ...]) -> None:
        _check_track(ctx, value.track, path)
        ctx.expr((*path, "by") if isinstance(value.by, str) else path, value.by, payload)

    def compile(self, ctx: CompileContext, value: Any, path: Path, owner: str) -> list[EffectOp]:
        by = (*path, "by") if isinstance(value.by, str) else path
        op = EffectOp(owner, ctx.expression(by))
        fn, sign = ctx.fn(by), self.sign
        track = ctx.track_index[value.track or ""]
        level = ctx.track_slots[track]
        assert fn is not None

        def execute(run: Run, V: list[Any], t: float, D: Any) -> None:
            run.set_level(track, V[level] + sign * round(fn(V, t, D)))

        op.execute = execute
        return [op]

    def describe(self, value: Any) -> str:
        on = f" on {value.track}" if value.track else ""
        return f"{self.name}{on} by {plain(value.by)}"


class Deescalate(Escalate):
    """Move a track's level down by a number of rungs."""

    name = "deescalate"
    sign = -1
    doc = "move down a number of rungs: a number or expression, or {track, by}"
    example: ClassVar[Any] = {"track": "scope", "by": 1}


def _rung_shorthand(value: Any) -> Any:
    return {"level": value} if isinstance(value, str) else value


def _rung_alone(value: Any) -> Any:
    """A rung written ``track:rung`` (as paths show it): say to write the rung alone."""
    if not isinstance(value, str) or ":" not in value:
        return value
    track, _, rung = value.strip().rpartition(":")
    if not rung:
        raise ValueError(f"'{value}' has no rung after ':': write the rung alone (its name "
                         f"says its track)")
    if not track:
        raise ValueError(f"'{value}' has no track before ':': write the rung alone ({rung})")
    raise ValueError(f"'{value}' names a rung as track:rung: write the rung alone ({rung}); "
                     f"rung names are unique across tracks, so it names its track (or write "
                     f"{{level: {rung}, track: {track}}})")


class RungArgs(Base):
    """``raise_to``/``set_level``: a rung (its name says its track); ``track`` may be
    given too, and must then be the rung's."""

    level: Annotated[Ident, BeforeValidator(_rung_alone), Field(examples=["regional"])]
    """The rung (rung names are unique across tracks, so it names its track)."""
    track: Annotated[Name | None, Field(examples=["scope"])] = None
    """The rung's track (optional; if given it must be the rung's)."""


class RaiseTo(EffectKind):
    """Move a track's level up to a rung (never down)."""

    name = "raise_to"
    model = RungArgs
    shorthand = BeforeValidator(_rung_shorthand, json_schema_input_type=Ident | RungArgs | None)
    doc = "move up to a rung (never down): the rung's name"
    example: ClassVar[Any] = "nuclear_signalling"
    only_up: ClassVar[bool] = True

    def check(self, ctx: CheckContext, value: Any, path: Path, payload: tuple[str, ...]) -> None:
        here = (*path, "level") if value.track is not None else path
        ctx.ref(here, value.level, ctx.levels, "level")
        if value.track is not None and _check_track(ctx, value.track, path) is not None \
                and value.level in ctx.levels and value.level not in ctx.tracks[value.track]:
            ctx.problem(here, f"'{value.level}' is not a rung of track '{value.track}'")

    def compile(self, ctx: CompileContext, value: Any, path: Path, owner: str) -> list[EffectOp]:
        op = EffectOp(owner)
        track, rank = ctx.rungs[value.level]
        level = ctx.track_slots[track]
        if self.only_up:
            def execute(run: Run, V: list[Any], t: float, D: Any) -> None:
                if rank > V[level]:
                    run.set_level(track, rank)
        else:
            def execute(run: Run, V: list[Any], t: float, D: Any) -> None:
                run.set_level(track, rank)
        op.execute = execute
        return [op]

    def describe(self, value: Any) -> str:
        return f"raise level to {value.level}"


class SetLevel(RaiseTo):
    """Move a track's level to a rung, up or down."""

    name = "set_level"
    only_up = False
    doc = "move to a rung, up or down: the rung's name"
    example: ClassVar[Any] = "contained"

    def describe(self, value: Any) -> str:
        return f"set level {value.level}"


def _fire_shorthand(value: Any) -> Any:
    return {"action": value} if isinstance(value, str) else value


class FireArgs(Base):
    action: Annotated[Name, Field(examples=["massed_strike"])]
    """The action to execute."""
    after: Annotated[Dist | None, Field(examples=[{"uniform": [1, 3]}])] = None
    """A delay (a distribution, or a date with ``clock.start``); now when left out."""


class Fire(EffectKind):
    """Execute an action now, or after a drawn delay."""

    name = "fire"
    model = FireArgs
    shorthand = BeforeValidator(_fire_shorthand, json_schema_input_type=Name | FireArgs | None)
    doc = "execute an action now (its name), or later: {action, after}"
    example: ClassVar[Any] = {"action": "massed_strike", "after": {"uniform": [1, 3]}}

    def check(self, ctx: CheckContext, value: Any, path: Path, payload: tuple[str, ...]) -> None:
        ctx.ref((*path, "action"), value.action, ctx.actions, "action")
        ctx.dist(value.after, (*path, "after"), payload, time=True)

    def compile(self, ctx: CompileContext, value: Any, path: Path, owner: str) -> list[EffectOp]:
        op = EffectOp(owner)
        delay = ctx.sampler(value.after, (*path, "after"))
        action = ctx.action_index[value.action]

        def execute(run: Run, V: list[Any], t: float, D: Any) -> None:
            run.fire_action(action, delay, D)

        op.execute = execute
        return [op]

    def describe(self, value: Any) -> str:
        after = f" after {value.after.entry.describe(value.after.args)}" if value.after else ""
        return f"fire {value.action}{after}"


class Start(EffectKind):
    """Start a recurring action (no change if it runs)."""

    name = "start"
    model = Ident
    doc = "start a recurring action (one with every or rate)"
    example: ClassVar[Any] = "talks"

    def check(self, ctx: CheckContext, value: Any, path: Path, payload: tuple[str, ...]) -> None:
        ctx.ref(path, value, ctx.actions, "action")
        act = ctx.actions.get(value)
        if act is not None and not act.recurring:
            ctx.problem(path, f"'{value}' is not recurring (no every or rate), so it cannot "
                              f"be {self.name}ed")

    def compile(self, ctx: CompileContext, value: Any, path: Path, owner: str) -> list[EffectOp]:
        op = EffectOp(owner)
        action = ctx.action_index[value]
        starts = self.name == "start"

        def execute(run: Run, V: list[Any], t: float, D: Any) -> None:
            if starts:
                run.start(action)
            else:
                run.stop(action)

        op.execute = execute
        return [op]


class Stop(Start):
    """Stop a recurring action (its pending occurrence is dropped)."""

    name = "stop"
    doc = "stop a recurring action; its pending occurrence is dropped"
    example: ClassVar[Any] = "atacms_salvo"


class End(EffectKind):
    """End the run now with an outcome."""

    name = "end"
    model = str
    doc = "end the run now with an outcome (DIMENSION=CLASS with outcome dimensions)"
    example: ClassVar[Any] = "ceasefire"

    def check(self, ctx: CheckContext, value: Any, path: Path, payload: tuple[str, ...]) -> None:
        labels = ctx.outcome_classes.get(value or "", [])
        if value not in ctx.outcomes and len(labels) > 1:
            ctx.problem(path, f"outcome '{value}' is ambiguous: it is a class of several "
                              f"dimensions; write {' or '.join(labels)}")
            return
        named = any("=" in o for o in ctx.outcomes)
        ctx.ref(path, value or "", ctx.outcomes,
                "outcome (DIMENSION=CLASS)" if named else "outcome")

    def compile(self, ctx: CompileContext, value: Any, path: Path, owner: str) -> list[EffectOp]:
        op = EffectOp(owner)
        outcome = ctx.outcome_index[value or ""]

        def execute(run: Run, V: list[Any], t: float, D: Any) -> None:
            run.end(outcome)

        op.execute = execute
        return [op]


EFFECTS: dict[str, EffectKind] = {k.name: k for k in (
    Set(), Add(), Escalate(), Deescalate(), RaiseTo(), SetLevel(), Fire(), Start(), Stop(),
    End(),
)}
"""Every effect kind by name, in the order the schema lists them."""


class _EffectBase(OneOf):
    """One effect: exactly one of the keys below."""

    _kinds: ClassVar[tuple[str, ...]] = tuple(EFFECTS)
    _noun: ClassVar[str] = "an effect"

    @property
    def value(self) -> Any:
        """The value of the one kind given."""
        return getattr(self, self.kind)

    @property
    def entry(self) -> EffectKind:
        """The registry entry of the kind given."""
        return EFFECTS[self.kind]


def _field(kind: EffectKind) -> Any:
    info = Field(default=None, description=kind.doc, examples=[kind.example])
    if kind.shorthand is None:
        return (kind.model | None, info)
    return (Annotated[kind.model | None, kind.shorthand], info)


if TYPE_CHECKING:
    Effect = _EffectBase
else:
    Effect = create_model("Effect", __base__=_EffectBase, __module__=__name__,
                          __doc__=_EffectBase.__doc__,
                          **{name: _field(kind) for name, kind in EFFECTS.items()})
