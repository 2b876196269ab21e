"""Plain-text descriptions of scenario parts, for ``escalation show`` and reports."""

from __future__ import annotations

from sim.scenario.distributions import DistSpec
from sim.scenario.effects import Effect
from sim.scenario.fields import plain
from sim.scenario.rates import describe_rate
from sim.scenario.schema import Action, Cited, ScenarioSpec, Trigger

__all__ = ["citation", "describe_dist", "describe_effect", "describe_shape", "describe_timing",
           "describe_trigger"]


_v = plain


def describe_dist(dist: DistSpec | None) -> str:
    """A distribution in one line: ``uniform(low=1, high=3)``."""
    return "" if dist is None else dist.entry.describe(dist.args)


def describe_effect(effect: Effect) -> str:
    """An effect in one line: ``ukraine.atacms += -6``."""
    return effect.entry.describe(effect.value)


def describe_timing(action: Action) -> str:
    if action.at is not None:
        return "at t = " + ", ".join(_v(a) for a in action.at)
    if action.every is not None:
        return f"every {describe_dist(action.every)}" + ("" if action.active else " (stopped)")
    if action.rate is not None:
        return f"Poisson, rate {describe_rate(action.rate)}" + (
            "" if action.active else " (stopped)")
    return "when fired"


def describe_trigger(trigger: Trigger) -> str:
    head = f"on {', '.join(trigger.on)}" if trigger.on else f"when {_v(trigger.when)}"
    parts = [head]
    if trigger.if_ is not None:
        parts.append(f"if {_v(trigger.if_)}")
    if trigger.probability != 1.0:
        parts.append(f"p = {_v(trigger.probability)}")
    if trigger.after is not None:
        parts.append(f"after {describe_dist(trigger.after)}")
    if trigger.limit is not None:
        parts.append("once" if trigger.limit == 1 else f"at most {trigger.limit}x")
    if trigger.cooldown is not None:
        parts.append(f"cooldown {_v(trigger.cooldown)}")
    return "; ".join(parts)


def citation(item: Cited, status: str = "") -> str:
    """``[ref] note``, ``assumption: reason`` (``assumption (informed by ref): reason``),
    or empty; a cited value's evidence ``status`` (``cited, not checked``...) goes in
    front when given."""
    if item.source is not None:
        text = f"[{item.source.ref}] {item.source.note}"
        return f"{status}: {text}" if status else text
    if item.assumption:
        informed = f" (informed by {item.informed_by})" if item.informed_by else ""
        return f"assumption{informed}: {item.assumption}"
    return ""


def counted(n: int, noun: str) -> str:
    """``1 actor``, ``3 actors``."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def describe_shape(spec: ScenarioSpec) -> str:
    """``7 levels, 3 outcomes``, or per track and dimension when they are named."""
    tracks, dims = spec.tracks, spec.dimensions
    if len(tracks) == 1 and not tracks[0].name:
        levels = counted(len(tracks[0].levels), "level")
    else:
        each = ", ".join(f"{t.name}: {len(t.levels)}" for t in tracks)
        levels = f"{len(tracks)} track{'s' if len(tracks) != 1 else ''} ({each})"
    if len(dims) == 1 and not dims[0].name:
        return f"{levels}, {counted(len(dims[0].outcomes), 'outcome')}"
    each = ", ".join(f"{d.name}: {len(d.outcomes)}" for d in dims)
    plural = "s" if len(dims) != 1 else ""
    return f"{levels}, {len(dims)} outcome dimension{plural} ({each})"
