"""The columns of a run record, in a fixed order derived from the scenario."""

from __future__ import annotations

from dataclasses import dataclass

from sim.engine.plan import Plan

__all__ = ["Column", "columns_of", "level_column", "outcome_column"]


def outcome_column(dimension: str) -> str:
    """The runs table's column of an outcome dimension ('' for a single list)."""
    return f"outcome.{dimension}" if dimension else "outcome"


def level_column(kind: str, track: str) -> str:
    """``final_level``/``max_level`` of a track ('' for a single ladder)."""
    return f"{kind}.{track}" if track else kind


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # "int", "float", "str"
    doc: str


def columns_of(plan: Plan) -> list[Column]:
    """The record layout: one row per run, these columns in this order."""
    cols = [Column("run", "int", "run index within the batch")]
    cols += [Column(outcome_column(d.name), "str",
                    f"outcome in dimension {d.name}" if d.name else "outcome id")
             for d in plan.dimensions]
    cols.append(Column("end_time", "float",
                       "clock time the run ended (the horizon if no terminal end)"))
    for tr in plan.tracks:
        on = f" of track {tr.name}" if tr.name else ""
        cols += [Column(level_column("final_level", tr.name), "str", f"level{on} at the end"),
                 Column(level_column("max_level", tr.name), "str",
                        f"highest level{on} reached")]
    cols += [Column(f"time_to.{lv}", "float", f"first time the level was at or above {lv} "
                                             "(NaN if never)") for lv in plan.levels]
    cols += [Column(f"count.{a.name}", "int", f"times {a.name} executed") for a in plan.actions]
    cols += [Column(name, "float", f"final value of {name}") for name, _ in plan.var_slots]
    cols += [Column(f"metric.{name}", "float", f"metric {name} at the end")
             for name, _, _ in plan.metrics]
    cols += [Column(f"observed.{p.spec.id}", "float",
                    f"first time '{p.spec.target}' "
                    f"{'executed' if p.spec.kind == 'event' else 'held'} (NaN if never)")
             for p in plan.probes]
    cols += [
        Column("path", "str", "milestones of the run, ' > '-separated, ending with the outcome"),
        Column("error", "str", "run-time error message, empty for a run that completed"),
    ]
    return cols
