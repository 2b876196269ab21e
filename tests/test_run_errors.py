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
