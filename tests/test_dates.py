"""Calendar dates as times: converted by the clock's start and unit, refused with a located
error when they cannot stand for a time, warned about past the horizon, shown as dates."""

from __future__ import annotations

import datetime as dt
import textwrap

import pytest
from click.testing import CliRunner

import sim
from sim.cli import cli
from sim.engine import columns_of, make_plan, run_one
from sim.errors import ScenarioError
from sim.formatting import ClockInfo
from sim.scenario import Scenario, load_scenario_text
from sim.scenario.expressions import ExpressionError, compile_expression

DATED = """\
name: dated
clock: {{unit: {unit}, start: 2025-01-01, horizon: {horizon}}}
ladder: [l0, l1, l2]
actions:
  strike: {{at: [2025-01-15, "2025-01-29", 2000], effects: [{{escalate: 1}}]}}
  pulse: {{rate: {{schedule: [[2025-01-01, 0.1], ["2025-02-05", 0.2]]}}}}
outcomes: [{{id: end, default: true}}]
"""


def invoke(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def load(text: str) -> Scenario:
    return load_scenario_text(textwrap.dedent(text))


@pytest.mark.parametrize(("unit", "days"), [("day", 1.0), ("week", 7.0), ("hours", 1 / 24)])
def test_dates_quoted_or_not_become_clock_times_in_the_clocks_unit(unit, days):
    plan = make_plan(load(DATED.format(unit=unit, horizon="2025-03-01")))
    assert plan.horizon == pytest.approx(59 / days)
    assert plan.actions[0].at == pytest.approx([14 / days, 28 / days, 2000.0])
    hazard = plan.actions[1].hazard
    assert hazard is not None and hazard.breaks == pytest.approx([0.0, 35 / days])


def test_date_in_an_expression_is_a_constant_folded_at_compile_time():
    sc = load(DATED.format(unit="week", horizon=20))
    expr = compile_expression("t >= date('2025-01-15') + 1", sc.symbols)
    assert expr.dates == ((5, "2025-01-15", 2.0),)
    assert "2025" not in repr(expr.code.co_consts)  # no text reaches a run
    fn = expr.bind({})
    assert fn([], 2.99, ()) is False and fn([], 3.0, ()) is True


@pytest.mark.parametrize(("text", "message"), [
    ("date(x)", "date() takes one date in quotes, e.g. date('2025-01-20')"),
    ("date('2025-01-15', 1)", "date() takes one date in quotes, e.g. date('2025-01-20')"),
    ("date(text='2025-01-15')", "date() takes one date in quotes, e.g. date('2025-01-20')"),
    ("date", "'date' is a function: call it"),
    ("t > '2025-01-15'", "str constants not allowed in an expression"),
    ("date('2025-01-15').year",
     "attribute access is only 'actor.variable', 'count.action' or 'level.track'"),
    ("t > 2025-12-20", "a date in an expression is written date('2025-12-20'); '2025-12-20' "
                       "would be a subtraction"),
    ("t > 2025-01-20", "a date in an expression is written date('2025-01-20'); '2025-01-20' "
                       "would be a subtraction"),
    ("date('2025-02-30')", "'2025-02-30' is not a date (day is out of range for month)"),
    ("date('20250115')", "'20250115' is not a date: write YYYY-MM-DD"),
    ("date('2024-12-31')", "2024-12-31 is before the clock's start (2025-01-01)"),
])
def test_date_calls_are_refused_unless_one_quoted_valid_date(text, message):
    sc = load(DATED.format(unit="day", horizon=100))
    with pytest.raises(ExpressionError) as info:
        compile_expression(text, sc.symbols)
    assert str(info.value) == message


def test_date_is_a_reserved_name(write):
    path = write("""
    name: reserved
    clock: {horizon: 10}
    parameters: {date: 3}
    ladder: [a, b]
    outcomes: [{id: end, default: true}]
    """)
    with pytest.raises(ScenarioError) as info:
        sim.load_scenario(path)
    assert [str(p) for p in info.value.problems] == [
        "scenario.yaml:4:14: parameters.date: 'date' is a reserved name"]


@pytest.mark.parametrize(("clock", "at", "message"), [
    ("{horizon: 100}", "2025-01-20",
     "6:12: actions.go.at[0]: a date (2025-01-20) needs clock.start, the date of time 0: add "
     "start: YYYY-MM-DD to clock, or write the time in days"),
    ("{start: 2025-01-01, horizon: 100}", "2024-12-31",
     "6:12: actions.go.at[0]: 2024-12-31 is before the clock's start (2025-01-01)"),
    ("{start: 2025-01-01, horizon: 100}", "2025-13-01",
     "6:12: actions.go.at[0]: '2025-13-01' is not a date (month must be in 1..12)"),
    ("{start: 2025-01-01, horizon: 100}", "'2025-1-20'",
     "6:12: actions.go.at[0]: '2025-1-20' is not a date: write YYYY-MM-DD, with two-digit "
     "month and day"),
    ("{start: 2025-01-01, horizon: 100}", "'2025-01-20T10:00'",
     "6:12: actions.go.at[0]: '2025-01-20T10:00' is not a date: write YYYY-MM-DD, without a "
     "time of day"),
    ("{start: 2025-01-01, horizon: 100}", "0000-01-01",
     "6:12: actions.go.at[0]: '0000-01-01' is outside the dates that can be used (years 0001 "
     "to 9999)"),
    ("{start: 2025-01-01, horizon: 100}", "10000-01-01",
     "6:12: actions.go.at[0]: '10000-01-01' is outside the dates that can be used (years 0001 "
     "to 9999)"),
    ("{unit: month, start: 2025-01-01, horizon: 100}", "2025-02-01",
     "3:15: clock.unit: unknown clock unit 'month': use day, week or hour (or their plurals); a "
     "time in another unit is a number of these (a fortnight is 2 weeks, a month about 30 "
     "days)"),
    ("{start: 2025-01-01, horizon: 2024-06-01}", "5",
     "3:37: clock.horizon: 2024-06-01 is before the clock's start (2025-01-01)"),
    ("{horizon: 2025-06-01}", "5",
     "3:18: clock.horizon: a date (2025-06-01) needs clock.start, the date of time 0: add "
     "start: YYYY-MM-DD to clock, or write the time in days"),
    ("{start: 2025-01-01, horizon: 2025-01-01}", "5",
     "3:37: clock.horizon: the horizon (2025-01-01) must be after the clock's start"),
])
def test_bad_dates_are_located_errors_exit_2(write, clock, at, message):
    path = write(f"""
    name: bad
    clock: {clock}
    ladder: [a, b]
    actions:
      go: {{at: {at}}}
    outcomes: [{{id: end, default: true}}]
    """)
    res = invoke("validate", path)
    assert res.exit_code == 2
    assert res.output.splitlines()[0] == f"scenario.yaml:{message}"
    assert "Traceback" not in res.output


def test_a_date_after_the_horizon_is_a_located_warning_not_an_error(write):
    path = write("""
    name: late
    clock: {start: 2025-01-01, horizon: 2025-03-01}
    ladder: [a, b]
    actions:
      go: {at: [2025-02-01, 2025-04-01]}
    triggers:
      late: {when: "t > date('2025-05-01')", do: []}
    outcomes: [{id: end, default: true}]
    """)
    res = invoke("validate", path)
    assert res.exit_code == 0
    assert res.stderr.splitlines() == [
        "scenario.yaml:6:25: actions.go.at[1]: warning: 2025-04-01 is after the horizon "
        "(t=59, 2025-03-01): a run never reaches it",
        "scenario.yaml:8:21: triggers.late.when: warning: 2025-05-01 is after the horizon "
        "(t=59, 2025-03-01): a run never reaches it"]
    assert res.stdout.startswith("ok  ")
    assert [w.line for w in sim.load_scenario(path).warnings] == [6, 8]


def test_dates_are_read_against_the_start_of_the_merged_file(write):
    write("""
    name: base
    clock: {start: 2025-01-01, horizon: 100}
    ladder: [a, b]
    actions: {go: {at: 2025-02-01}}
    outcomes: [{id: end, default: true}]
    """, "base.yaml")
    variant = write("""
    extends: base.yaml
    name: later
    clock: {start: 2025-01-15}
    """, "variant.yaml")
    assert make_plan(sim.load_scenario(variant)).actions[0].at == [17.0]


def test_a_results_document_reloads_with_its_dates():
    sc = load(DATED.format(unit="week", horizon="2025-03-01"))
    again = Scenario.from_document(sc.document)
    assert make_plan(again).actions[0].at == make_plan(sc).actions[0].at
    assert make_plan(again).horizon == make_plan(sc).horizon


def test_an_invalid_clock_does_not_turn_every_date_into_a_problem(write):
    path = write("""
    name: bad_clock
    clock: {start: 2025-01-01, horizon: -1}
    ladder: [a, b]
    actions: {go: {at: [2025-02-01, 2025-03-01]}}
    outcomes: [{id: end, default: true}]
    """)
    with pytest.raises(ScenarioError) as info:
        sim.load_scenario(path)
    assert [p.path for p in info.value.problems] == ["clock.horizon"]


def test_dates_are_still_checked_when_another_part_is_invalid(write):
    path = write("""
    name: two_problems
    clock: {start: 2025-01-01, horizon: 100}
    ladder: [a, b]
    actions: {go: {at: 2024-02-01, every: 3}}
    outcomes: [{id: end, default: true}]
    """)
    with pytest.raises(ScenarioError) as info:
        sim.load_scenario(path)
    assert [p.message for p in info.value.problems] == [
        "give at most one of at, every, rate; got at, every",
        "2024-02-01 is before the clock's start (2025-01-01)"]


def test_after_a_date_waits_until_that_date_or_not_at_all_once_past():
    sc = load("""
    name: until
    clock: {start: 2025-01-01, horizon: 2025-03-01}
    ladder: [l0, l1, l2]
    actions:
      early: {at: 3}
      late: {at: 40}
      mark: {effects: [{escalate: 1}]}
    triggers:
      wait: {on: [early, late], after: 2025-02-01, do: [{fire: mark}]}
      fire_later: {on: early, do: [{fire: {action: mark, after: "2025-01-11"}}]}
    outcomes: [{id: end, default: true}]
    """)
    _, trace = run_one(make_plan(sc), 1, 0, trace=True)
    marks = [e[0] for e in trace if e[1] == "action" and e[2] == "mark"]
    assert marks == [10.0, 31.0, 40.0]


@pytest.mark.parametrize("unit", ["day", "week", "hour"])
def test_a_time_given_as_a_date_shows_as_that_date(unit):
    """The time a dated action raised the level is shown as the date it was given as."""
    sc = load(DATED.format(unit=unit, horizon="2025-03-01"))
    plan = make_plan(sc)
    row, _ = run_one(plan, 1, 0)
    record = dict(zip([c.name for c in columns_of(plan)], row, strict=True))
    clock = ClockInfo.of_document(sc.document)
    assert clock.date(record["time_to.l1"]) == dt.date(2025, 1, 15)
    assert clock.date(record["time_to.l2"]) == dt.date(2025, 1, 29)
    assert clock.time(record["time_to.l2"]).endswith("29 Jan 2025")
    assert clock.date(plan.horizon) == dt.date(2025, 3, 1)


def test_every_day_of_a_long_weekly_clock_shows_as_itself():
    sc = load(DATED.format(unit="week", horizon=600))
    clock = ClockInfo.of_document(sc.document)
    start = dt.date(2025, 1, 1)
    for days in range(0, 4000, 3):
        day = start + dt.timedelta(days=days)
        t = sc.symbols.calendar.time_of(day.isoformat())
        assert clock.date(t) == day


def test_figures_read_a_horizon_given_as_a_date(tmp_path):
    from sim.plots.context import context_of

    sc = load(DATED.format(unit="week", horizon="2025-03-01"))
    res = sim.run_batch(sc, 20, 1, executor="serial", out=tmp_path / "out")
    assert context_of(res.out).horizon == pytest.approx(59 / 7)


def test_a_date_is_a_written_number_under_the_citation_rule(write):
    """A date is a judgement of when: in at: or in date('...'), it needs an assumption."""
    path = write("""
    name: strict_dates
    clock: {start: 2025-01-01, horizon: 100}
    ladder: [a, b]
    actions: {go: {at: 2025-02-01}}
    triggers:
      late: {when: "t > date('2025-03-01')", do: []}
      fine: {when: "t > date('2025-01-02')", do: []}
    outcomes: [{id: end, default: true}]
    """)
    with pytest.raises(ScenarioError) as info:
        sim.load_scenario(path, strict=True)
    assert [(p.path, p.message) for p in info.value.problems] == [
        ("actions.go.at[0]", "the date 2025-02-01 (t=31) is written here, but actions.go "
                             "has neither source: nor assumption:"),
        ("triggers.late.when", "the date 2025-03-01 (t=59) is written here, but triggers.late "
                               "has neither source: nor assumption:")]
