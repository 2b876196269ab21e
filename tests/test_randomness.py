"""Run streams: the fast per-chunk derivation gives exactly SeedSequence(seed, spawn_key=(i,))."""

from __future__ import annotations

import pytest

from sim.engine.randomness import RunStreams, Stream, run_generator


@pytest.mark.parametrize(("seed", "start", "stop"), [
    (0, 0, 200),
    (1, 0, 200),
    (7, 4_999, 5_050),
    (2**32 - 1, 0, 20),  # a seed of one full word
    (2**32, 0, 20),  # two words
    (2**63 - 1, 0, 20),  # the largest seed the CLI takes
    (123_456_789_012_345, 2**32 - 3, 2**32 + 3),  # run indices across one word
    (5, 2**40, 2**40 + 3),
])
def test_run_streams_match_seed_sequence(seed, start, stop):
    """Every run's PCG64 state, and its first draws, equal run_generator's."""
    streams = RunStreams(seed, start, stop)
    for index in range(start, stop):
        fast = streams.stream(index)
        assert fast.gen.bit_generator.state == run_generator(seed, index).bit_generator.state
    reference = Stream(run_generator(seed, stop - 1))
    again = RunStreams(seed, stop - 1, stop).stream(stop - 1)
    assert [again.uniform() for _ in range(100)] == [reference.uniform() for _ in range(100)]
    assert [again.normal() for _ in range(20)] == [reference.normal() for _ in range(20)]


def test_run_streams_refuse_negative():
    """A negative seed or index is refused, as SeedSequence refuses it."""
    with pytest.raises(ValueError, match=">= 0"):
        RunStreams(-1, 0, 3)
