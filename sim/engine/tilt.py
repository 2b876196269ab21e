"""Rare-event mode of the kernel: trigger probabilities tilted, each run weighted. No I/O.

A trigger with probability ``p`` (which may read the state) fires in rare-event mode with
the tilted probability ``q = p e^θ / (1 - p + p e^θ)`` (a shift of ``θ`` on the log-odds
scale, so a state-dependent ``p`` stays a probability; ``p`` of 0 or 1 is untouched) and
the run's likelihood ratio is multiplied by ``p/q`` when it fires and ``(1-p)/(1-q)`` when
it does not. Every other draw is the plain run's, so ``weight x 1{outcome}`` has the plain
run's expectation ``P(outcome)`` whatever the tilts ``θ`` (fixed before the run): the
estimate is unbiased. The weight is exact for state-dependent probabilities because the
ratio is taken at each draw with the ``p`` of that moment. It is kept as a logarithm.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from sim.engine.plan import Plan
from sim.engine.randomness import Stream, run_generator
from sim.engine.replication import Replication
from sim.errors import RunError

__all__ = ["TiltedReplication", "TiltedRun", "pilot_generator", "run_tilted", "tilted"]

PILOT_KEY = 0x70696C6F  # "pilo": the first spawn key of pilot runs, never a run index


def tilted(p: float, theta: float) -> float:
    """``p`` shifted by ``theta`` on the log-odds scale (0 and 1 stay where they are)."""
    if theta == 0.0 or p <= 0.0 or p >= 1.0:
        return p
    e = math.exp(theta)
    return p * e / (1.0 - p + p * e)


def pilot_generator(seed: int, stage: int, index: int) -> np.random.Generator:
    """The generator of pilot run ``index`` of pilot stage ``stage``: its own streams
    (``SeedSequence(seed, spawn_key=(PILOT_KEY, stage, index))``), never a batch run's."""
    return np.random.Generator(np.random.PCG64(
        np.random.SeedSequence(seed, spawn_key=(PILOT_KEY, stage, index))))


class TiltedReplication(Replication):
    """One run with tilted trigger probabilities and its log likelihood ratio.

    ``theta[i]`` is trigger ``i``'s log-odds shift. With ``tally``, each trigger's draws
    are counted as ``{p: [draws, fires]}`` (for the cross-entropy pilot)."""

    def __init__(self, plan: Plan, stream: Stream, theta: list[float],
                 tally: bool = False, trace: bool = False) -> None:
        super().__init__(plan, stream, trace=trace)
        if len(theta) != len(plan.triggers):
            raise RunError(f"a tilt needs one value per trigger ({len(plan.triggers)}), "
                           f"got {len(theta)}")
        self.tilt = list(theta)
        self.log_weight = 0.0
        self.tally: list[dict[float, list[int]]] | None = \
            [{} for _ in plan.triggers] if tally else None

    def _tilted_draw(self, trigger: int, p: float) -> bool:
        assert self.tilt is not None
        theta = self.tilt[trigger]
        fires = False
        if theta == 0.0 or p <= 0.0 or p >= 1.0:
            fires = self.stream.uniform() < p
        else:
            q = tilted(p, theta)
            fires = self.stream.uniform() < q
            if fires:
                self.log_weight += math.log(p) - math.log(q)
            else:
                self.log_weight += math.log1p(-p) - math.log1p(-q)
        if self.tally is not None and 0.0 < p < 1.0:
            counts = self.tally[trigger].setdefault(p, [0, 0])
            counts[0] += 1
            counts[1] += fires
        return fires


class TiltedRun:
    """What a tilted run returns: the record, its log weight, its trigger tallies."""

    __slots__ = ("log_weight", "max_rank", "row", "tally")

    def __init__(self, row: list[Any], log_weight: float,
                 tally: list[dict[float, list[int]]] | None, max_rank: list[int]) -> None:
        self.row = row
        self.log_weight = log_weight
        self.tally = tally
        self.max_rank = max_rank  # the highest rung reached on each track


def run_tilted(plan: Plan, seed: int, index: int, theta: list[float], *,
               pilot_stage: int | None = None, tally: bool = False,
               history: list[list[tuple[float, int]]] | None = None) -> TiltedRun:
    """Run ``index`` under root ``seed`` with tilts ``theta`` (one per trigger): on the
    batch run's stream, or (``pilot_stage``) on that pilot stage's own stream."""
    gen = run_generator(seed, index) if pilot_stage is None else \
        pilot_generator(seed, pilot_stage, index)
    rep = TiltedReplication(plan, Stream(gen), theta, tally=tally)
    try:
        outcomes, end = rep.run()
        row = rep.row(index, outcomes, end)
    except (ArithmeticError, ValueError, TypeError) as exc:
        raise RunError(f"cannot compute a value at t={rep.env.now:g}: {exc}") from None
    if history is not None:
        history.extend(rep.histories)
    return TiltedRun(row, rep.log_weight, rep.tally, rep.max_rank)
