"""Rare-event mode of the kernel: trigger probabilities tilted, each run weighted. No I/O.

A trigger with probability ``p`` (which may read the state) fires in rare-event mode with
the tilted probability ``q = p e^θ / (1 - p + p e^θ)`` (a shift of ``θ`` on the log-odds
scale, so a state-dependent ``p`` stays a probability; ``p`` of 0 or 1 is untouched) and
the run's likelihood ratio is multiplied by ``p/q`` when it fires and ``(1-p)/(1-q)`` when
it does not. Every other draw is the plain run's, so ``weight x 1{outcome}`` has the plain
run's expectation ``P(outcome)`` whatever the tilts ``θ`` (fixed before the run): the
estimate is unbiased. The weight is exact for state-dependent probabilities because the
ratio is taken at each draw with the ``p`` of that moment. It is kept as a logarithm.
A tilted ``q`` is kept within [0.01, 0.99] (or ``p`` itself when ``p`` is outside), so no
single draw's ratio exceeds about 100.

**Defensive mixture.** A batch draws a fixed share ``α`` of its runs untilted (``untilted``:
they draw with ``p``) and the rest tilted; both accumulate ``log p/q`` of their path (at
each draw both are known), and every run's weight is the balance heuristic's
``p/(α p + (1-α) q) = 1 / (α + (1-α) exp(-log p/q))`` (:func:`mixture_weight`), which is
unbiased for a deterministic allocation of the runs to the two and at most ``1/α``.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from sim.engine.plan import Plan
from sim.engine.randomness import Stream, run_generator
from sim.engine.replication import Replication
from sim.errors import RunError

__all__ = ["Q_MAX", "Q_MIN", "TiltedReplication", "TiltedRun", "mixture_weight",
           "pilot_generator", "run_tilted", "tilted"]

PILOT_KEY = 0x70696C6F  # "pilo": the first spawn key of pilot runs, never a run index
Q_MIN, Q_MAX = 0.01, 0.99  # a tilted probability stays within these (or at p, if outside)


def tilted(p: float, theta: float) -> float:
    """``p`` shifted by ``theta`` on the log-odds scale (0 and 1 stay where they are), kept
    within [Q_MIN, Q_MAX] unless ``p`` itself is outside (then it is not moved further)."""
    if theta == 0.0 or p <= 0.0 or p >= 1.0:
        return p
    e = math.exp(theta)
    q = p * e / (1.0 - p + p * e)
    return min(max(q, min(p, Q_MIN)), max(p, Q_MAX))


def mixture_weight(log_ratio: float, alpha: float) -> float:
    """The weight ``p/(α p + (1-α) q)`` of a run whose path has ``log p/q = log_ratio``,
    in a batch with a share ``alpha`` of untilted runs (``exp(log_ratio)`` if ``alpha`` is
    0)."""
    if alpha <= 0.0:
        return math.exp(log_ratio)
    x = -log_ratio  # log q/p
    if x > 700.0:
        return math.exp(log_ratio) / (1.0 - alpha)
    return 1.0 / (alpha + (1.0 - alpha) * math.exp(x))


def pilot_generator(seed: int, stage: int, index: int) -> np.random.Generator:
    """The generator of pilot run ``index`` of pilot stage ``stage``: its own streams
    (``SeedSequence(seed, spawn_key=(PILOT_KEY, stage, index))``), never a batch run's."""
    return np.random.Generator(np.random.PCG64(
        np.random.SeedSequence(seed, spawn_key=(PILOT_KEY, stage, index))))


class TiltedReplication(Replication):
    """One run with tilted trigger probabilities and its log likelihood ratio.

    ``theta[i]`` is trigger ``i``'s log-odds shift. With ``tally``, each trigger's draws
    are counted as ``{p: [draws, fires]}`` (for the cross-entropy pilot). An ``untilted``
    run draws with ``p`` (the defensive share) but still sums ``log p/q`` of its path.
    :meth:`restart` runs it again (a chunk builds one)."""

    closures: ClassVar[bool] = True  # it changes only _tilted_draw, which they call

    def __init__(self, plan: Plan, stream: Stream, theta: list[float],
                 tally: bool = False, trace: bool = False, untilted: bool = False) -> None:
        super().__init__(plan, stream, trace=trace)
        if len(theta) != len(plan.triggers):
            raise RunError(f"a tilt needs one value per trigger ({len(plan.triggers)}), "
                           f"got {len(theta)}")
        self.tilt = list(theta)
        self.log_weight = 0.0  # log p/q of the path's draws
        self.untilted = untilted
        self.tally: list[dict[float, list[int]]] | None = \
            [{} for _ in plan.triggers] if tally else None

    def restart(self, stream: Stream, untilted: bool = False) -> None:
        """A new run of the same plan and tilts on ``stream``, as a new object would be."""
        self.reset(stream)
        self.log_weight = 0.0
        self.untilted = untilted
        if self.tally is not None:
            self.tally = [{} for _ in self.plan.triggers]

    def _tilted_draw(self, trigger: int, p: float) -> bool:
        assert self.tilt is not None
        theta = self.tilt[trigger]
        fires = False
        if theta == 0.0 or p <= 0.0 or p >= 1.0:
            fires = self.stream.uniform() < p
        else:
            q = tilted(p, theta)
            fires = self.stream.uniform() < (p if self.untilted else q)
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
               history: list[list[tuple[float, int]]] | None = None,
               untilted: bool = False, stream: Stream | None = None,
               rep: TiltedReplication | None = None) -> TiltedRun:
    """Run ``index`` under root ``seed`` with tilts ``theta`` (one per trigger): on the
    batch run's stream, or (``pilot_stage``) on that pilot stage's own stream; drawn with
    the plain probabilities if ``untilted`` (its ``log_weight`` is still ``log p/q``).
    ``stream``, if given, must be that run's (it saves deriving it); ``rep``, if given, a
    :class:`TiltedReplication` of ``plan`` with these tilts and ``tally`` to run again."""
    if stream is None:
        stream = Stream(run_generator(seed, index) if pilot_stage is None else
                        pilot_generator(seed, pilot_stage, index))
    if rep is None:
        rep = TiltedReplication(plan, stream, theta, tally=tally, untilted=untilted)
    else:
        rep.restart(stream, untilted)
    try:
        outcomes, end = rep.run()
        row = rep.row(index, outcomes, end)
    except (ArithmeticError, ValueError, TypeError) as exc:
        raise RunError(f"cannot compute a value at t={rep.env.now:g}: {exc}") from None
    if history is not None:
        history.extend(rep.histories)
    return TiltedRun(row, rep.log_weight, rep.tally, list(rep.max_rank))  # rep refills its own
