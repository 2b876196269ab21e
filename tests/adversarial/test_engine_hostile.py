"""Hostile runs: a run that goes wrong fails alone, quickly, located, whatever is traced."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from sim.engine import columns_of, make_plan, run_one
from sim.errors import RunError, ScenarioError
from sim.scenario import load_scenario_text

HEAD = """\
name: t
clock: {horizon: 100}
ladder: [l0, l1, l2, l3]
"""


def plan_of(body: str, **params):
    return make_plan(load_scenario_text(HEAD + textwrap.dedent(body), "s.yaml"), params)


def record(body: str, index: int = 0, trace: bool = False):
    plan = plan_of(body)
    row, events = run_one(plan, 1, index, trace=trace)
    return dict(zip([c.name for c in columns_of(plan)], row, strict=True)), events


def runs_table(folder: Path):
    from sim.results import load_results

    runs = load_results(folder).runs
    frame = (runs() if callable(runs) else runs).to_pandas()
    return frame.sort_values("run").reset_index(drop=True)


def finished(out) -> None:
    """The batch ran to its end (exit 0, or 3 when every run failed), without a traceback."""
    assert out.code in (0, 3), out.stderr[-2000:]
    assert "Traceback" not in out.output


# --- item 1: run-time integer powers, a per-run budget ------------------------------------------

POWER = """
actors: {x: {vars: {v: 0}}}
actions:
  a: {every: 1, effects: [{set: {x.v: "round(t+1e9)**round(t+1e9)**round(t+1e9)"}}]}
outcomes: [{id: end, default: true}]
"""


def test_runtime_integer_power_fails_the_run_located():
    """A power that would take hours as an integer overflows as a float: the run fails, located."""
    with pytest.raises(RunError, match=r"s\.yaml:\d+:\d+: actions\.a\.effects\[0\]\.set\.x\.v"):
        record(POWER)


def test_runtime_integer_power_cli_records_failed_runs(cli, tmp_path):
    """``escalation run`` ends at once; each run fails with its error in the runs table."""
    (tmp_path / "s.yaml").write_text(HEAD + textwrap.dedent(POWER))
    out = cli("run", "s.yaml", "-n", "3", "--executor", "serial", "--out", "r", "-q",
              timeout=30)
    finished(out)
    table = runs_table(tmp_path / "r")
    assert (table["outcome"] == "error").all()
    assert table["error"].str.contains("actions.a.effects[0].set.x.v", regex=False).all()


def test_per_run_cpu_budget_fails_a_runaway_run():
    """``limits.max_seconds`` stops a run that would otherwise take far too long."""
    with pytest.raises(RunError, match=r"limits\.max_seconds"):
        record("""
        limits: {max_events: 10000000, max_seconds: 0.2}
        actions: {spin: {every: 0}}
        outcomes: [{id: end, default: true}]
        """)


# --- item 6: event cap ceiling, bounded trace ----------------------------------------------------


def test_event_cap_of_a_trillion_is_refused_at_load(cli, tmp_path):
    """``max_events: 1e12`` with an ``every: 0`` loop and ``--trace``: refused at once."""
    (tmp_path / "s.yaml").write_text(HEAD + textwrap.dedent("""
    limits: {max_events: 1e12}
    actions: {spin: {every: 0}}
    outcomes: [{id: end, default: true}]
    """))
    out = cli("run", "s.yaml", "-n", "1", "--trace", "--out", "r", "-q", timeout=20)
    out.clean_failure()
    assert "s.yaml:5:" in out.stderr and "limits.max_events" in out.stderr


def test_loop_at_the_event_ceiling_ends_within_its_cpu_budget(cli, tmp_path):
    """``every: 0`` with the largest allowed cap, traced: ends in bounded time and memory."""
    from sim.scenario.schema import MAX_EVENTS

    (tmp_path / "s.yaml").write_text(HEAD + textwrap.dedent(f"""
    limits: {{max_events: {MAX_EVENTS}, max_seconds: 3}}
    actions: {{spin: {{every: 0}}}}
    outcomes: [{{id: end, default: true}}]
    """))
    out = cli("run", "s.yaml", "-n", "1", "--executor", "serial", "--trace", "--out", "r",
              "-q", timeout=45, memory=2 * 1024**3)
    finished(out)
    table = runs_table(tmp_path / "r")
    assert "limits.max_seconds" in table["error"][0]


def test_trace_is_bounded_and_does_not_change_the_run():
    """A traced run keeps at most MAX_TRACE events and ends like the untraced one."""
    from sim.engine.replication import MAX_TRACE

    body = """
    limits: {max_events: 1000000}
    actors: {x: {vars: {v: 0}}}
    actions: {tick: {every: 0.0004, effects: [{add: {x.v: 1}}]}}
    outcomes: [{id: end, default: true}]
    """
    plain, _ = record(body)
    traced, events = record(body, trace=True)
    assert plain == traced
    assert len(events) <= MAX_TRACE + 2


# --- items 10, 17: huge and non-finite values fail one run -----------------------------------

BIG_PRODUCT = """
actors: {x: {vars: {v: 0}}}
actions:
  a: {at: [1], effects: [{set: {x.v: "round(t+1e300)*round(t+1e300)"}}]}
outcomes: [{id: end, default: true}]
"""


def test_variable_set_to_huge_product_fails_the_run_located():
    """``round(t+1e300)*round(t+1e300)`` is not a silent inf nor a crash: the run fails,
    located; the same made of constants only is refused at load."""
    with pytest.raises(RunError, match=r"s\.yaml:\d+:\d+: actions\.a\.effects\[0\]\.set\.x\.v"):
        record(BIG_PRODUCT)
    with pytest.raises(ScenarioError, match=r"s\.yaml:\d+:\d+: actions\.a\.effects\[0\]"):
        record(BIG_PRODUCT.replace("t+1e300", "1e300"))


def test_huge_product_fails_one_run_not_the_batch(cli, tmp_path):
    """In a batch, such runs are recorded as failed; the batch completes."""
    body = BIG_PRODUCT.replace("at: [1]", "at: [1], requires: 't < 0 or x.v == 0'")
    body = body.replace("actions:", "actions:\n  coin: {at: [0.5], draws: {c: {bernoulli: 0.5}},"
                                    " effects: [{set: {x.v: c}}]}")
    (tmp_path / "s.yaml").write_text(HEAD + textwrap.dedent(body))
    out = cli("run", "s.yaml", "-n", "40", "--executor", "serial", "--out", "r", "-q")
    finished(out)
    table = runs_table(tmp_path / "r")
    failed = table[table["outcome"] == "error"]
    assert 0 < len(failed) < 40
    assert failed["error"].str.contains("actions.a.effects[0].set.x.v", regex=False).all()


@pytest.mark.parametrize("expr", ["x.v * 1e308 * 10", "(x.v * 1e308 * 10) - (x.v * 1e308 * 10)",
                                  "round(x.v + 1e300) * round(x.v + 1e300)"])
def test_non_finite_run_time_value_fails_the_run_located(expr):
    """A variable never becomes inf or NaN: the run fails naming the effect."""
    with pytest.raises(RunError, match=r"actions\.a\.effects\[0\]\.set\.x\.v.*(finite|large)"):
        record(f"""
        actors: {{x: {{vars: {{v: 1}}}}}}
        actions:
          a: {{at: [1], effects: [{{set: {{x.v: "{expr}"}}}}]}}
        outcomes: [{{id: end, default: true}}]
        """)


def test_non_finite_add_fails_the_run_located():
    """``add`` that overflows fails the run too."""
    with pytest.raises(RunError, match=r"actions\.a\.effects\[0\]\.add\.x\.v"):
        record("""
        actors: {x: {vars: {v: 1e308}}}
        actions:
          a: {every: 1, effects: [{add: {x.v: "x.v"}}]}
        outcomes: [{id: end, default: true}]
        """)


def test_non_finite_metric_fails_the_run_located():
    """A metric that is not finite at the end fails the run, naming the metric."""
    with pytest.raises(RunError, match=r"metrics\.m"):
        record("""
        metrics: {m: "t * 1e307 * 1e10"}
        outcomes: [{id: end, default: true}]
        """)


def test_integer_state_cannot_grow_without_bound():
    """Squaring a count each step stays a float: it overflows (fails) instead of hanging."""
    with pytest.raises(RunError, match=r"actions\.b\.effects\[0\]\.set\.x\.v"):
        record("""
        actors: {x: {vars: {v: 0}}}
        actions:
          a: {at: [0.5, 0.6], effects: [{set: {x.v: "count.a + count.a"}}]}
          b: {every: 0.01, effects: [{set: {x.v: "x.v * x.v"}}]}
        outcomes: [{id: end, default: true}]
        """)


# --- item 18: when-trigger edges inside nested zero-delay reactions --------------------------


TOGGLE = """
actors: {{x: {{vars: {{v: 0}}}}}}
triggers:
  on_: {{when: x.v == 0, {after}do: [{{set: {{x.v: 1}}}}]}}
  off: {{when: x.v == 1, {after}do: [{{set: {{x.v: 0}}}}]}}
outcomes: [{{id: end, default: true}}]
"""


@pytest.mark.parametrize("after", ["", "after: 0, "])
def test_toggle_loop_is_reported_with_or_without_after_zero(after):
    """The same rules loop whether reactions are nested or queued: both are reported."""
    with pytest.raises(RunError, match=r"zero-delay|events in one run"):
        record(TOGGLE.format(after=after))


def test_when_edges_inside_nested_reactions_are_seen_by_every_trigger():
    """A trigger sees the false state set by a nested reaction before its next true state."""
    r, _ = record("""
    actors: {x: {vars: {v: 0, seen: 0}}}
    actions:
      go: {at: 1, effects: [{set: {x.v: 1}}]}
    triggers:
      back: {when: x.v == 1, once: true, do: [{set: {x.v: 0}}, {set: {x.v: 1}}]}
      count: {when: x.v == 1, do: [{add: {x.seen: 1}}]}
    outcomes: [{id: end, default: true}]
    """)
    # edges of x.v == 1: at go (back and count fire), then back sets 0 and 1 again
    assert r["x.seen"] == 2


# --- item 19: tracing never changes the outcome --------------------------------------------------

HUGE_DRAW = """
actions:
  a:
    at: [1]
    draws:
      b: {binomial: {n: 1000, p: 1}}
      big: "PRODUCT"
outcomes: [{id: end, default: true}]
""".replace("PRODUCT", "*".join(["b"] * 400))


def test_trace_of_a_huge_integer_draw_does_not_fail_the_run():
    """A run's row is identical traced and untraced, even when a payload cannot be a float."""
    plain, _ = record(HUGE_DRAW)
    traced, events = record(HUGE_DRAW, trace=True)
    assert plain == traced and plain["error"] == ""
    assert any(e[1] == "action" and "big" in e[4][0] for e in events)  # (names, values)


def test_trace_cli_same_rows(cli, tmp_path):
    """Through the batch: the runs table does not depend on --trace."""
    (tmp_path / "s.yaml").write_text(HEAD + HUGE_DRAW)
    for name, extra in (("plain", ()), ("traced", ("--trace",))):
        out = cli("run", "s.yaml", "-n", "3", "--executor", "serial", "--out", name, "-q",
                  *extra)
        finished(out)
    assert runs_table(tmp_path / "plain").equals(runs_table(tmp_path / "traced"))
