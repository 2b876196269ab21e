"""Plain-text descriptions of scenario parts, for ``escalation show`` and reports."""

from __future__ import annotations

from typing import Any

from sim.scenario.schema import Action, Cited, DistSpec, Effect, Trigger

__all__ = ["citation", "describe_dist", "describe_effect", "describe_timing", "describe_trigger"]


def _v(value: Any) -> str:
    if isinstance(value, float) and value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def describe_dist(dist: DistSpec | None) -> str:
    if dist is None:
        return ""
    kind = dist.kind
    if kind == "constant":
        return _v(dist.constant)
    args = dist.args
    if kind == "categorical":
        vals = ", ".join(_v(v) for v in args.values)
        ws = f"; weights {', '.join(_v(w) for w in args.weights)}" if args.weights else ""
        return f"categorical({vals}{ws})"
    parts = [f"{k}={_v(getattr(args, k))}" for k in type(args).model_fields
             if getattr(args, k) is not None]
    return f"{kind}({', '.join(parts)})"


def describe_effect(effect: Effect) -> str:
    kind = effect.kind
    if kind == "set":
        return "; ".join(f"{k} = {_v(v)}" for k, v in (effect.set or {}).items())
    if kind == "add":
        return "; ".join(f"{k} += {_v(v)}" for k, v in (effect.add or {}).items())
    if kind in ("escalate", "deescalate"):
        return f"{kind} by {_v(getattr(effect, kind))}"
    if kind == "raise_to":
        return f"raise level to {effect.raise_to}"
    if kind == "set_level":
        return f"set level {effect.set_level}"
    if kind == "fire" and effect.fire is not None:
        after = f" after {describe_dist(effect.fire.after)}" if effect.fire.after else ""
        return f"fire {effect.fire.action}{after}"
    return f"{kind} {getattr(effect, kind)}"


def describe_timing(action: Action) -> str:
    if action.at is not None:
        return "at t = " + ", ".join(_v(a) for a in action.at)
    if action.every is not None:
        return f"every {describe_dist(action.every)}" + ("" if action.active else " (stopped)")
    if action.rate is not None:
        return f"Poisson, rate {_v(action.rate)}" + ("" if action.active else " (stopped)")
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


def citation(item: Cited) -> str:
    """``[ref] note``, ``assumption: reason``, or empty."""
    if item.source is not None:
        return f"[{item.source.ref}] {item.source.note}"
    if item.assumption:
        return f"assumption: {item.assumption}"
    return ""
