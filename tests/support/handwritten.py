"""A plain hand-written SimPy program of the reference tit-for-tat rules.

Written directly against SimPy and numpy, with the same per-run stream
convention as the engine, to check the engine's answers and speed.
"""

from __future__ import annotations

import numpy as np
import simpy

HORIZON = 365.0


def run(seed: int, index: int) -> str:
    """One run of scenarios/reference/tit_for_tat.yaml; returns the outcome."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(index,))))
    env = simpy.Environment()
    state = {"missiles": 60, "level": 1, "support": True}
    done = env.event()

    def finish(outcome: str) -> None:
        if not done.triggered:
            done.succeed(outcome)

    def retaliation(delay: float):  # type: ignore[no-untyped-def]
        yield env.timeout(delay)
        if state["level"] < 4:
            state["level"] += 1
        if state["level"] >= 3 and rng.random() < 0.05:
            state["level"] = 5
            finish("direct_clash")

    def strikes():  # type: ignore[no-untyped-def]
        while True:
            yield env.timeout(rng.exponential(10.0))
            if state["missiles"] < 6:
                continue
            state["missiles"] -= 6
            hits = rng.binomial(6, 1 - 0.83)
            if hits >= 1 and rng.random() < 0.5:
                env.process(retaliation(rng.uniform(1.0, 3.0)))

    def resupply():  # type: ignore[no-untyped-def]
        while True:
            yield env.timeout(30.0)
            if state["support"]:
                state["missiles"] += 20

    def ceasefire(delay: float):  # type: ignore[no-untyped-def]
        yield env.timeout(delay)
        finish("ceasefire")

    def support():  # type: ignore[no-untyped-def]
        yield env.timeout(62.0)
        if rng.random() < 0.5:
            state["support"] = False
            env.process(ceasefire(rng.exponential(60.0)))

    env.process(strikes())
    env.process(resupply())
    env.process(support())
    horizon = env.timeout(HORIZON)
    env.run(until=done | horizon)
    return str(done.value) if done.triggered else "prolonged"


def main(argv: list[str] | None = None) -> None:
    """``python handwritten.py RUNS [SEED]``: run them and print each outcome's count (the
    whole-process side of the end-to-end benchmark)."""
    import sys
    from collections import Counter

    args = sys.argv[1:] if argv is None else argv
    runs, seed = int(args[0]), int(args[1]) if len(args) > 1 else 0
    counts = Counter(run(seed, i) for i in range(runs))
    print(", ".join(f"{k} {v}" for k, v in sorted(counts.items())))


if __name__ == "__main__":
    main()
