"""A calibrated variant: a scenario file that extends the calibrated one with fitted values.

Written by ``escalation calibrate --variant FILE`` and never by hand: the file's header
records the command that made it and the posterior it came from, and each fitted
parameter is an assumption whose reason names the estimate, its 90% interval and the
base value. Two estimates are offered:

- ``mode`` (the default): the design point the posterior weights most, i.e. the point
  whose runs matched the observations most often (times its prior density). Its values
  were tried *together* and produced what was seen, so they stay coherent when the
  posterior has several modes or ridges.
- ``mean``: each parameter's posterior mean. Close to the mode for a single, round
  posterior; for a posterior with several modes the means can combine values that no
  matching run had (say, high spillover with high escalation when the matches had one or
  the other).

The text is built here (no I/O); the command line writes it.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

from sim.analysis.calibrate import Calibration
from sim.errors import ScenarioError
from sim.scenario import Scenario

__all__ = ["ESTIMATES", "variant_text"]

ESTIMATES = ("mode", "mean")


def _number(value: float, integer: bool) -> str:
    if integer:
        return str(round(value))
    text = f"{value:.4g}"
    return text if any(c in text for c in ".en") else text + ".0"


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def variant_text(cal: Calibration, scenario: Scenario, target: str | Path, *,
                 estimate: str = "mode", command: list[str] | None = None) -> str:
    """The YAML text of a variant of ``scenario`` (a file) that sets each fitted parameter
    of ``cal`` to its ``estimate`` (``mode`` or ``mean``), to be written at ``target``."""
    if estimate not in ESTIMATES:
        raise ScenarioError(f"unknown estimate '{estimate}': choose one of "
                            f"{', '.join(ESTIMATES)}")
    if scenario.path is None:
        raise ScenarioError("a calibrated variant extends a scenario file; this scenario "
                            "was not read from one")
    base = Path(scenario.path).resolve()
    extends = Path(os.path.relpath(base, Path(target).resolve().parent)).as_posix()
    spec = scenario.spec
    mode = cal.mode
    lines = [
        f"# A calibrated variant of {spec.name}, written by escalation calibrate: do not",
        "# edit it by hand; re-run the command to remake it.",
        "#",
    ]
    if command:
        lines += ["#   " + " ".join(command), "#"]
    lines += [
        *textwrap.wrap(f"Rejection ABC on {len(cal.observations)} observation(s) "
                       f"({', '.join(cal.observations)}):", 86, initial_indent="# ",
                       subsequent_indent="#   "),
        f"# {cal.accepted:,} of {cal.runs:,} runs matched all of them at {cal.points} points "
        f"({cal.runs_per_point:,} runs each);",
        f"# effective sample size {cal.effective_sample_size:.1f} points.",
        f"# Estimate used: the posterior {estimate}"
        + (f" (design point {mode['point']}: {mode['accepted']:,} of {mode['runs']:,} of its "
           f"runs matched)." if estimate == "mode" else "."),
        "#",
        f"#   {'parameter':<24} {'base':>10} {'mode':>10} {'mean':>10}   90% interval",
    ]
    for name, p in cal.parameters.items():
        param = spec.parameters[name]
        lines.append(f"#   {name:<24} {param.value:>10.4g} {p['mode']:>10.4g} "
                     f"{p['mean']:>10.4g}   {p['q05']:.4g} - {p['q95']:.4g}")
    for note in cal.notes:
        lines.append(f"# note: {note}")
    fitted = ", ".join(cal.parameters)
    lines += [
        "#",
        "# Fitted to what happened, so a backtest on the same observations is not a test",
        "# of it: it shows how far the fit moves the forecast. Every other number is the",
        "# base case's.",
        f"extends: {_quoted(extends)}",
        f"name: {spec.name}_calibrated",
        f"title: {_quoted(f'{spec.title or spec.name}: calibrated')}",
        "description: >",
        *textwrap.wrap(f"{spec.name} with {fitted} set to the posterior {estimate} of a "
                       f"rejection-ABC calibration on {len(cal.observations)} "
                       f"observation(s); the command and the posterior are in this "
                       f"file's header.", 86, initial_indent="  ", subsequent_indent="  "),
        "parameters:",
    ]
    for name, p in cal.parameters.items():
        param = spec.parameters[name]
        value = p["mode"] if estimate == "mode" else p["mean"]
        reason = (f"posterior {estimate} of the calibration in this file's header (90% "
                  f"interval {p['q05']:.4g} - {p['q95']:.4g}); base case {param.value:.4g}")
        lines += [f"  {name}:",
                  f"    value: {_number(float(value), param.integer)}",
                  f"    assumption: {_quoted(reason)}"]
        if getattr(param, "source", None) is not None:
            lines.append("    source: null")
        if getattr(param, "informed_by", None) is not None:
            lines.append("    informed_by: null")
    return "\n".join(lines) + "\n"

