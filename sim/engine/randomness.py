"""Random streams of one run: a generator keyed by (root seed, run index) only.

:func:`run_generator` is the definition: ``SeedSequence(seed, spawn_key=(index,))``
feeding PCG64. :class:`RunStreams` gives the very same streams for a range of run
indices at a fraction of the cost: NumPy's SeedSequence hashing (a fixed algorithm,
stable across NumPy versions by its design) is done for the whole range at once with
array arithmetic, and each run's PCG64 state is set on one reused bit generator.
A test checks both against each other bit for bit.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["BIT_GENERATOR", "RunStreams", "Stream", "run_generator"]

BIT_GENERATOR = "PCG64"
_BLOCK = 64

# SeedSequence's constants (numpy/random/bit_generator.pyx) and PCG64's multiplier
_POOL = 4
_INIT_A, _MULT_A = 0x43B0D7E5, 0x931E8875
_INIT_B, _MULT_B = 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R = 0xCA01F9DD, 0x4973F715
_M32 = 0xFFFFFFFF
_M128 = (1 << 128) - 1
_PCG_MULT = (2549297995355413924 << 64) | 4865540595714422341


def run_generator(seed: int, index: int) -> np.random.Generator:
    """The generator of run ``index`` under root ``seed``.

    It is ``SeedSequence(seed, spawn_key=(index,))`` feeding PCG64.

    It never depends on the worker, chunk or sweep point, so a batch is the same
    whatever the executor, and sweep points share streams (common random numbers).
    """
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(index,))))


def _words(n: int) -> list[int]:
    """An integer as 32-bit words, least significant first (0 is one word)."""
    out = [n & _M32]
    n >>= 32
    while n:
        out.append(n & _M32)
        n >>= 32
    return out


class _Hash:
    """SeedSequence's running hash constant: the same sequence whatever the data."""

    def __init__(self) -> None:
        self.const = _INIT_A

    def mix_in(self, value: Any) -> Any:
        value = value ^ self.const
        self.const = (self.const * _MULT_A) & _M32
        value = (value * self.const) & _M32
        return value ^ (value >> 16)


def _mix(x: Any, y: Any) -> Any:
    r = (_MIX_L * x - _MIX_R * y) & _M32
    return r ^ (r >> 16)


class RunStreams:
    """The streams of runs ``start`` to ``stop - 1`` under root ``seed``, the same draws
    as :func:`run_generator`. ``stream(index)`` reuses one generator: a run's stream is
    good until the next call."""

    def __init__(self, seed: int, start: int, stop: int) -> None:
        if seed < 0 or start < 0:
            raise ValueError(f"a seed and a run index are >= 0, got {seed} and {start}")
        self.start = start
        self._bits = np.random.PCG64(0)
        self._gen = np.random.Generator(self._bits)
        entropy = _words(seed)
        entropy += [0] * (_POOL - len(entropy))  # padded: a spawn key follows
        h = _Hash()
        pool: list[Any] = [h.mix_in(entropy[i]) for i in range(_POOL)]
        for src in range(_POOL):
            for dst in range(_POOL):
                if src != dst:
                    pool[dst] = _mix(pool[dst], h.mix_in(pool[src]))
        for extra in entropy[_POOL:]:
            for dst in range(_POOL):
                pool[dst] = _mix(pool[dst], h.mix_in(extra))
        index = np.arange(start, max(start, stop), dtype=np.uint64)
        spawn = [index & np.uint64(_M32), index >> np.uint64(32)]
        wide = index >= np.uint64(1 << 32)  # an index of two words mixes in one more
        for k, word in enumerate(spawn):
            mixed = [_mix(pool[dst], h.mix_in(word)) for dst in range(_POOL)]
            pool = mixed if k == 0 else [np.where(wide, m, p)
                                         for m, p in zip(mixed, pool, strict=True)]
        # generate_state(4, uint64): eight 32-bit words from the cycled pool
        const = _INIT_B
        out = []
        for i in range(8):
            v = np.asarray(pool[i % _POOL], dtype=np.uint64) ^ np.uint64(const)
            const = (const * _MULT_B) & _M32
            v = (v * np.uint64(const)) & np.uint64(_M32)
            out.append(v ^ (v >> np.uint64(16)))
        self._seed_hi = ((out[1] << np.uint64(32)) | out[0]).tolist()
        self._seed_lo = ((out[3] << np.uint64(32)) | out[2]).tolist()
        self._inc_hi = ((out[5] << np.uint64(32)) | out[4]).tolist()
        self._inc_lo = ((out[7] << np.uint64(32)) | out[6]).tolist()

    def stream(self, index: int) -> Stream:
        """The stream of run ``index`` (within the range)."""
        k = index - self.start
        initstate = (self._seed_hi[k] << 64) | self._seed_lo[k]
        inc = ((((self._inc_hi[k] << 64) | self._inc_lo[k]) << 1) | 1) & _M128
        state = (((inc + initstate) & _M128) * _PCG_MULT + inc) & _M128
        self._bits.state = {"bit_generator": "PCG64", "state": {"state": state, "inc": inc},
                            "has_uint32": 0, "uinteger": 0}
        return Stream(self._gen)


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
