"""Random streams of one run: a generator keyed by (root seed, run index) only."""

from __future__ import annotations

import numpy as np

__all__ = ["BIT_GENERATOR", "Stream", "run_generator"]

BIT_GENERATOR = "PCG64"
_BLOCK = 64


def run_generator(seed: int, index: int) -> np.random.Generator:
    """The generator of run ``index`` under root ``seed``.

    It is ``SeedSequence(seed, spawn_key=(index,))`` feeding PCG64.

    It never depends on the worker, chunk or sweep point, so a batch is the same
    whatever the executor, and sweep points share streams (common random numbers).
    """
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(index,))))


class Stream:
    """A run's draws: uniforms and normals taken from the generator in blocks."""

    __slots__ = ("_n", "_u", "gen")

    def __init__(self, gen: np.random.Generator) -> None:
        self.gen = gen
        self._u: list[float] = []
        self._n: list[float] = []

    def uniform(self) -> float:
        """A uniform draw on [0, 1)."""
        try:
            return self._u.pop()
        except IndexError:
            self._u = self.gen.random(_BLOCK).tolist()
            return self._u.pop()

    def normal(self) -> float:
        """A standard normal draw."""
        try:
            return self._n.pop()
        except IndexError:
            self._n = self.gen.standard_normal(_BLOCK // 4).tolist()
            return self._n.pop()
