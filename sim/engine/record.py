"""The columns of a run record, in a fixed order derived from the scenario."""

from __future__ import annotations

from dataclasses import dataclass

from sim.engine.plan import Plan

__all__ = ["Column", "columns_of"]


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # "int", "float", "str"
    doc: str


def columns_of(plan: Plan) -> list[Column]:
    """The record layout: one row per run, these columns in this order."""
    cols = [
        Column("run", "int", "run index within the batch"),
        Column("outcome", "str", "outcome id"),
        Column("end_time", "float", "clock time the run ended (the horizon if no terminal end)"),
        Column("final_level", "str", "ladder level at the end"),
        Column("max_level", "str", "highest ladder level reached"),
    ]
    cols += [Column(f"time_to.{lv}", "float", f"first time the level was at or above {lv} "
                                             "(NaN if never)") for lv in plan.levels]
    cols += [Column(f"count.{a.name}", "int", f"times {a.name} executed") for a in plan.actions]
    cols += [Column(name, "float", f"final value of {name}") for name, _ in plan.var_slots]
    cols += [Column(f"metric.{name}", "float", f"metric {name} at the end")
             for name, _, _ in plan.metrics]
    cols += [
        Column("path", "str", "milestones of the run, ' > '-separated, ending with the outcome"),
        Column("error", "str", "run-time error message, empty for a run that completed"),
    ]
    return cols
