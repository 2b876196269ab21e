"""Rare outcomes: likelihood-ratio importance sampling of trigger probabilities.

``estimate_rare(scenario, "nuclear=used", runs, seed)`` estimates the probability of one
outcome in three steps:

1. **Pilot (cross-entropy).** A few stages of pilot runs, on streams of their own
   (``SeedSequence(seed, spawn_key=(PILOT_KEY, stage, i))``, never a batch run's), choose a
   log-odds tilt ``θ`` per trigger: each stage keeps the runs that reached the outcome (or,
   while none does, the top tenth by the highest rung reached on the tracks the outcome
   reads), and sets ``θ`` to the weighted maximum-likelihood value on their draws — the
   cross-entropy update, which for a log-odds shift solves ``Σ w (fired - q) = 0`` with
   the ``p`` of each draw, so state-dependent probabilities are handled exactly.
2. **Final runs.** Run ``i`` uses the batch stream ``(seed, i)`` with the fixed ``θ``
   (recorded in the manifest), tilted unless ``i`` is a multiple of UNTILTED_EVERY (the
   defensive share ``α``, also recorded), and returns its weight
   ``p/(α p + (1-α) q) <= 1/α`` (:mod:`sim.engine.tilt`). ``p = mean(w 1{outcome})``
   is unbiased whatever ``θ`` is.
3. **Estimate.** Exact sums of ``w`` and ``w²`` (:mod:`sim.batch.weighted`) give the same
   estimate for any worker count or chunk size; standard error from the sample variance,
   a 95% interval (Wilson on the effective number of runs) and the Kish effective sample
   size of the weights among the hits. When runs failed, the target is the ratio
   ``Σ w 1{outcome} / Σ w 1{completed}`` (what plain runs report); the other outcomes
   and rungs are always self-normalised.

Every choice here (pilot size, stages, smoothing, clipping of ``θ``) changes only the
variance, never the expectation: ``θ`` is fixed before the final runs.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.batch.chunks import plan_for
from sim.batch.runner import BatchResult, Execution, Job
from sim.engine import Plan
from sim.engine.randomness import Stream
from sim.engine.tilt import TiltedReplication, pilot_generator, run_tilted, tilted
from sim.errors import BatchError, RunError, ScenarioError
from sim.results.manifest import THETA_RANGE
from sim.scenario import Scenario, load_scenario
from sim.scenario.expressions import did_you_mean

__all__ = ["METHOD", "RARE_BELOW", "UNTILTED_EVERY", "PilotStage", "choose_tilt",
           "defensive_share", "estimate_rare", "rare_label", "rare_target"]

METHOD = ("likelihood-ratio importance sampling: trigger probabilities tilted on the "
          "log-odds scale, tilts chosen by a cross-entropy pilot; defensive mixture (every "
          "10th run untilted, balance-heuristic weights)")
UNTILTED_EVERY = 10  # runs whose index is a multiple of this draw untilted (the defensive share)
RARE_BELOW = 0.1  # an outcome more frequent than this in the plain pilot stage is not rare
PILOT_CHUNK = 100  # pilot runs per task (fixed: results never depend on the workers)
THETA_MIN, THETA_MAX = THETA_RANGE  # log-odds tilts are clipped to this range
SMOOTHING = 0.7  # weight of a stage's cross-entropy solution against the previous tilt
ELITE = 0.1  # share of pilot runs kept by level while none reaches the outcome
PUSH = 1.0  # tilt added to every trigger when the pilot runs cannot be told apart
SCALES = (0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)  # shrinkages of the last tilt tried


@dataclass(frozen=True)
class _PilotTask:
    document: str
    content_hash: str
    parameters: str
    places: str
    seed: int
    stage: int
    start: int
    stop: int
    theta: tuple[float, ...]
    target: int  # index in plan.outcomes


@dataclass(frozen=True)
class _PilotRun:
    index: int
    log_weight: float
    hit: bool
    score: float
    tally: list[dict[float, list[int]]]


@dataclass(frozen=True)
class PilotStage:
    """One pilot stage: its runs, hits, how it chose the next tilts."""

    stage: int
    runs: int
    hits: int
    elite: int
    rule: str  # "hits", "levels" or "push"
    failed: int = 0  # pilot runs of the stage that failed (runs + failed = the pilot's size)


def rare_target(plan: Plan, outcome: str) -> int:
    """The index in ``plan.outcomes`` of ``outcome`` (``DIM=CLASS``, or a class only one
    dimension has); a :class:`ScenarioError` with a suggestion otherwise."""
    labels = [o.label for o in plan.outcomes]
    if outcome in labels:
        return labels.index(outcome)
    found = [o.index for o in plan.outcomes if o.id == outcome]
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise ScenarioError(f"--rare: outcome '{outcome}' is a class of several dimensions; "
                            f"give one of {', '.join(labels[i] for i in found)}")
    raise ScenarioError(f"--rare: unknown outcome '{outcome}'{did_you_mean(outcome, labels)}; "
                        f"outcomes are: {', '.join(labels)}")


def rare_label(scenario: Scenario, outcome: str,
               parameters: Mapping[str, Any] | None = None) -> str:
    """Check that ``outcome`` can be estimated by :func:`estimate_rare` and return its
    label (``DIM=CLASS``): a known outcome, and a scenario with a trigger probability to
    tilt. Whether it is rare is seen in the pilot."""
    job = Job(scenario, [dict(parameters or {})], 1, 0)
    plan = plan_for(job.document, scenario.content_hash, job.params_json[0], job.places)
    label = plan.outcomes[rare_target(plan, outcome)].label
    if not _tiltable(plan):
        raise BatchError(f"--rare {label}: the scenario has no trigger with a probability "
                         f"(other than 0 or 1), so no trigger probability leads to it; "
                         f"drop --rare")
    return label


def _tiltable(plan: Plan) -> list[int]:
    """Triggers with a probability that can be other than 0 or 1."""
    return [t.index for t in plan.triggers if t.probability is not None and not t.never
            and not (t.probability_expr.static and t.probability_expr.literal in (0, 1))]


def _score_tracks(plan: Plan, target: int) -> list[int]:
    """The tracks the target outcome's condition reads (every track if none)."""
    expr = plan.outcomes[target].expr
    slots = expr.slots if expr is not None else frozenset()
    read = [k for k, tr in enumerate(plan.tracks) if tr.slot in slots]
    return read or list(range(len(plan.tracks)))


def _run_pilot(task: _PilotTask) -> list[_PilotRun]:
    plan = plan_for(task.document, task.content_hash, task.parameters, task.places)
    target = plan.outcomes[task.target]
    column = 1 + target.dimension  # the outcome columns follow "run"
    tracks = _score_tracks(plan, task.target)
    out = []
    theta = list(task.theta)
    rep: TiltedReplication | None = None  # one for the task's runs, restarted for each
    for i in range(task.start, task.stop):
        try:
            stream = Stream(pilot_generator(task.seed, task.stage, i))
            if rep is None:
                rep = TiltedReplication(plan, stream, theta, tally=True)
            r = run_tilted(plan, task.seed, i, theta, pilot_stage=task.stage, tally=True,
                           stream=stream, rep=rep)
        except RunError:
            continue  # a failed run is left out, as in the batch
        assert r.tally is not None
        out.append(_PilotRun(i, r.log_weight, r.row[column] == target.id,
                             float(sum(r.max_rank[k] for k in tracks)), r.tally))
    return out


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def _cross_entropy(elite: list[_PilotRun], trigger: int, previous: float) -> float:
    """The log-odds tilt maximising the weighted likelihood of the elite runs' draws of
    ``trigger``: the root of ``Σ w (fires - draws q(p, θ))``; ``previous`` if none drew."""
    top = max(r.log_weight for r in elite)
    groups: dict[float, list[float]] = {}  # p -> [weighted draws, weighted fires]
    for r in elite:
        w = math.exp(r.log_weight - top)
        for p, (n, k) in sorted(r.tally[trigger].items()):
            g = groups.setdefault(p, [0.0, 0.0])
            g[0] += w * n
            g[1] += w * k
    draws = sum(g[0] for g in groups.values())
    if draws <= 0:
        return previous
    fires = sum(g[1] for g in groups.values())
    items = sorted(groups.items())

    def excess(theta: float) -> float:
        return sum(n * _sigmoid(math.log(p / (1 - p)) + theta) for p, (n, _) in items) - fires

    lo, hi = THETA_MIN, THETA_MAX
    if excess(lo) >= 0:
        return lo
    if excess(hi) <= 0:
        return hi
    for _ in range(60):
        mid = (lo + hi) / 2
        if excess(mid) < 0:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def choose_tilt(plan: Plan, job: Job, target: int, pilot: int, stages: int,
                execution: Execution) -> tuple[list[float], list[PilotStage]]:
    """Each trigger's tilt (plan order) from ``stages`` pilot stages of ``pilot`` runs."""
    tiltable = _tiltable(plan)
    theta = [0.0] * len(plan.triggers)
    report: list[PilotStage] = []
    exe = execution.make(pilot * stages)
    label = plan.outcomes[target].label
    with exe:
        for stage in range(stages):
            tasks = [_PilotTask(job.document, job.sc.content_hash, job.params_json[0],
                                job.places, job.seed, stage, a, min(pilot, a + PILOT_CHUNK),
                                tuple(theta), target)
                     for a in range(0, pilot, PILOT_CHUNK)]
            runs = sorted((r for chunk in exe.map_unordered(_run_pilot, tasks)
                           for r in chunk), key=lambda r: r.index)
            if not runs:
                raise BatchError(f"--rare {label}: every pilot run failed; run the "
                                 f"scenario plainly to see why")
            hits = [r for r in runs if r.hit]
            if stage == 0 and len(hits) > RARE_BELOW * len(runs):
                raise BatchError(
                    f"--rare {label}: not a rare outcome (P about {len(hits) / len(runs):.2g} "
                    f"in {len(runs):,} plain pilot runs, above {RARE_BELOW:g}); plain Monte "
                    f"Carlo estimates it well: drop --rare")
            if hits and not any(r.tally[j] for r in hits for j in tiltable):
                raise BatchError(
                    f"--rare {label}: no trigger probability leads to it (no trigger with a "
                    f"probability was drawn in the pilot runs that reached it); importance "
                    f"sampling of trigger probabilities cannot help: drop --rare")
            elite, rule = hits, "hits"
            if not hits:
                scores = sorted(r.score for r in runs)
                level = scores[min(len(scores) - 1, int((1 - ELITE) * len(scores)))]
                elite = [r for r in runs if r.score >= level]
                rule = "levels"
                if level <= scores[0]:  # every run scores the same: nothing to learn from
                    elite, rule = [], "push"
            report.append(PilotStage(stage, len(runs), len(hits), len(elite), rule,
                                     pilot - len(runs)))
            following = list(theta)
            for j in tiltable:
                if rule == "push":
                    following[j] = min(THETA_MAX, theta[j] + PUSH)
                    continue
                ce = _cross_entropy(elite, j, theta[j])
                following[j] = SMOOTHING * ce + (1 - SMOOTHING) * theta[j]
            if rule == "hits" and stage == stages - 1:
                following = _least_second_moment(hits, len(runs), following, tiltable)
            theta = following
    return theta, report


def _log_ratio(run: _PilotRun, theta: list[float], tiltable: list[int]) -> float:
    """The log likelihood ratio ``log p/q`` of a pilot run's draws under tilts ``theta``."""
    total = 0.0
    for j in tiltable:
        for p, (n, k) in sorted(run.tally[j].items()):
            q = tilted(p, theta[j])
            total += k * (math.log(p) - math.log(q)) + (n - k) * (math.log1p(-p)
                                                                  - math.log1p(-q))
    return total


def _least_second_moment(hits: list[_PilotRun], runs: int, theta: list[float],
                         tiltable: list[int]) -> list[float]:
    """``c θ`` for the ``c`` in SCALES whose estimated second moment ``E[w² 1{hit}]`` is
    least, estimated from the last stage's runs (drawn with their own tilts): the
    cross-entropy tilt can overshoot (hits that dawdle then rush get large weights)."""
    best, chosen = math.inf, theta
    for c in SCALES:
        trial = [c * x for x in theta]
        moment = math.fsum(math.exp(r.log_weight + _log_ratio(r, trial, tiltable))
                           for r in hits) / runs
        if moment < best:
            best, chosen = moment, trial
    return chosen


def estimate_rare(
    scenario: Scenario | str | Path,
    outcome: str,
    runs: int = 10_000,
    seed: int = 0,
    parameters: Mapping[str, Any] | None = None,
    *,
    pilot: int = 1000,
    stages: int = 3,
    execution: Execution | None = None,
    out: str | Path | None = None,
    force: bool = False,
    resume: bool = False,
    command: list[str] | None = None,
    overrides_by: str = "set for this run",
) -> BatchResult:
    """Estimate the probability of a rare ``outcome`` (``DIM=CLASS``) by importance
    sampling of trigger probabilities (see the module docstring): ``stages`` pilot stages
    of ``pilot`` runs choose the tilts, then ``runs`` weighted runs estimate it.

    The result's ``summary.rare`` holds the estimate (``p``, ``se``, ``lo``, ``hi``,
    effective sample size, tilts) and every ``summary.outcomes[...]`` is weighted. With
    ``out`` the results folder is written there and marked as a rare-event estimate;
    ``resume`` finishes one (same outcome, pilot and seed; its tilts are reused)."""
    if not isinstance(outcome, str) or not outcome.strip():
        raise ScenarioError(f"--rare: the outcome must be a name (DIMENSION=CLASS), got "
                            f"{outcome!r}")
    if parameters is not None and not isinstance(parameters, Mapping):
        raise BatchError(f"parameters must be a mapping of names to values, got "
                         f"{type(parameters).__name__}")
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    if not isinstance(pilot, int) or isinstance(pilot, bool) or not 100 <= pilot <= 10_000_000:
        raise BatchError(f"--pilot: pilot runs per stage must be from 100 to 10,000,000, "
                         f"got {pilot!r}")
    if not isinstance(stages, int) or isinstance(stages, bool) or not 1 <= stages <= 20:
        raise BatchError(f"pilot stages must be from 1 to 20, got {stages!r}")
    job = Job(sc, [dict(parameters or {})], runs, seed, command=command,
              overrides_by=overrides_by)
    plan = plan_for(job.document, sc.content_hash, job.params_json[0], job.places)
    label = rare_label(sc, outcome, parameters)
    target = rare_target(plan, label)
    settings = {"method": METHOD, "target": label, "pilot_runs": pilot,
                "pilot_stages": stages, "seed": seed, "untilted_every": UNTILTED_EVERY,
                "alpha": defensive_share(runs, UNTILTED_EVERY)}
    execution = execution or Execution()
    rare: dict[str, Any] | None = None
    # every folder problem before the pilot (which may take long)
    if resume and out is None:
        raise BatchError("resuming needs the results folder (out)")
    if resume and out is not None:
        rare = _folder_rare(Path(out), settings)
    elif out is not None:
        from sim.results import ResultsFolder

        ResultsFolder(out).check_new(force)
    if rare is None:
        began = time.process_time()
        theta, report = choose_tilt(plan, job, target, pilot, stages, execution)
        rare = {**settings,
                "theta": {plan.triggers[j].name: theta[j] for j in _tiltable(plan)},
                "pilot": [vars(s) for s in report],
                "pilot_cpu_seconds": round(time.process_time() - began, 3)}
    job = Job(sc, [dict(parameters or {})], runs, seed, command=command,
              overrides_by=overrides_by, rare=rare)
    done = job.execute(execution, out, force, resume=resume)
    return job.batch_result(done)


def defensive_share(runs: int, every: int) -> float:
    """The share ``α`` of ``runs`` runs drawn untilted: those whose index is a multiple of
    ``every``."""
    return math.ceil(runs / every) / runs if runs > 0 else 0.0


def _folder_rare(folder: Path, settings: dict[str, Any]) -> dict[str, Any] | None:
    """The rare block of the folder being resumed when it matches ``settings`` (its tilts
    are then reused); None otherwise (resuming is refused later, naming the difference)."""
    from sim.results import load_results

    old = load_results(folder, summary=False).manifest.rare  # (a resume rewrites a bad one)
    if old is None:
        return {**settings, "theta": {}}  # refused: a plain folder
    if any(old.get(k) != v for k, v in settings.items()):
        return {**settings, "theta": json.loads(json.dumps(old.get("theta")))}
    return old
