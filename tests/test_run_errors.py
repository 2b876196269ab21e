"""A run that fails in a batch names the file, line and column of what failed, whichever
process ran it (workers rebuild the scenario from its document)."""

from __future__ import annotations

import pytest

import sim

FAILS = """name: fails
clock: {horizon: 10}
ladder: [a, b]
actors: {u: {vars: {x: 0}}}
actions:
  boom: {at: 2, effects: [{set: {u.x: "1 / u.x"}}]}
outcomes: [{id: d, default: true}]
"""


@pytest.mark.parametrize("executor", ["serial", "processes"])
def test_a_failed_run_is_located_in_its_file(tmp_path, executor):
    path = tmp_path / "fails.yaml"
    path.write_text(FAILS)
    res = sim.run_batch(path, 40, 0, executor=executor, workers=2, chunk_size=10)
    errors = set(res.runs_table().column("error").to_pylist())
    assert errors == {f"{path}:6:39: actions.boom.effects[0].set.u.x: cannot compute "
                      f"'1 / u.x' in boom at t=2: float division by zero"}


def test_a_busy_poisson_action_is_not_called_a_loop(tmp_path):
    path = tmp_path / "busy.yaml"
    path.write_text("""name: busy
clock: {horizon: 10}
ladder: [a, b]
actions:
  ev: {rate: 1e300}
outcomes: [{id: o, default: true}]
""")
    res = sim.run_batch(path, 2, 0, executor="serial")
    errors = res.runs_table().column("error").to_pylist()
    assert all("'ev' recurs too often" in e and "zero-delay loop" not in e for e in errors)


def test_a_zero_delay_loop_is_still_called_one(tmp_path):
    path = tmp_path / "loop.yaml"
    path.write_text("""name: loop
clock: {horizon: 10}
ladder: [a, b]
limits: {max_events: 1000}
actions:
  ping: {at: 1, effects: [{fire: {action: pong, after: 0}}]}
  pong: {effects: [{fire: {action: ping, after: 0}}]}
outcomes: [{id: o, default: true}]
""")
    res = sim.run_batch(path, 1, 0, executor="serial")
    (error,) = set(res.runs_table().column("error").to_pylist())
    assert "A zero-delay loop?" in error
