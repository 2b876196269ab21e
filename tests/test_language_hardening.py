"""Scenario-language hardening: reserved actor names, sound bounds of ``//`` and ``%``,
declared bounds checked against derived ones, one named dimension or track treated like
several, size caps, dates, booleans where numbers are meant, and no knock-on errors."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
from click.testing import CliRunner

import sim
from sim.cli import cli
from sim.engine import columns_of, make_plan, run_one
from sim.errors import RunError, ScenarioError
from sim.scenario import Scenario, load_scenario_text, schema


def _problems(text: str) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        load_scenario_text(textwrap.dedent(text))
    return [str(p) for p in info.value.problems]


def _counts(text: str, action: str, runs: int, seed: int = 2) -> np.ndarray:
    plan = make_plan(load_scenario_text(textwrap.dedent(text)))
    names = [c.name for c in columns_of(plan)]
    column = names.index(f"count.{action}")
    return np.array([run_one(plan, seed, i)[0][column] for i in range(runs)])


# --- 1. actor names that would collide with the runs table's columns -------------------------

COLUMNS = """
name: columns
clock: {horizon: 10}
ladders: {a: [r1, r2], b: [s1, s2]}
actors:
  ACTOR: {vars: {VAR: 5}}
actions:
  e: {at: 1}
metrics:
  m: {expr: "1"}
outcomes:
  war: [{id: c, when: "count.e > 0"}, {id: n, default: true}]
  other: [{id: d, default: true}]
"""


@pytest.mark.parametrize(("actor", "var"), [
    ("outcome", "war"),  # outcome.war is the column of dimension war
    ("final_level", "a"),  # final_level.a: the level of track a at the end
    ("max_level", "b"),
    ("time_to", "r2"),  # time_to.r2: the first time rung r2 was reached
    ("metric", "m"),  # metric.m
    ("observed", "x"),  # a backtest adds the columns observed.ID
])
def test_actor_names_of_result_columns_are_reserved(actor, var, write):
    path = write(COLUMNS.replace("ACTOR", actor).replace("VAR", var))
    res = CliRunner().invoke(cli, ["validate", str(path)], catch_exceptions=False)
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    assert (f"scenario.yaml:6:3: actors.{actor}: '{actor}' is reserved for the runs "
            f"table's columns") in res.output, res.output


def test_a_saved_document_keeps_its_observed_actor():
    """A document rebuilt from results (backtests of earlier versions added the actor
    'observed') still loads."""
    sc = load_scenario_text(COLUMNS.replace("ACTOR", "side").replace("VAR", "x"))
    document = dict(sc.document)
    document["actors"] = {**document["actors"], "observed": {"vars": {"first": -1}}}
    rebuilt = Scenario.from_document(document)
    assert "observed" in rebuilt.spec.actors


# --- 2. sound bounds of // and % ---------------------------------------------------------------


def test_floor_division_in_a_rate_of_time_keeps_its_events():
    """2 // 0.1 is 19 in floating point (0.1 is slightly above a tenth), so the rate is 5;
    a bound of 0 would draw nothing."""
    counts = _counts("""
    name: floordiv
    clock: {horizon: 10}
    ladder: [l0, l1]
    actions:
      ev: {rate: "100 - (2 + 0 * t) // 0.1 * 5"}
    outcomes: [{id: o, default: true}]
    """, "ev", 400)
    assert abs(counts.mean() - 50.0) <= 4 * np.sqrt(50.0 / 400)


@pytest.mark.parametrize(("text", "value"), [
    ("(2 + 0 * t) // 0.1", 19.0),
    ("(0.3 + 0 * t) // 0.1", 2.0),
    ("(49 + 0 * t) // 49", 1.0),  # 49 * (1/49) is below 1 in floating point
    ("(-1e-300 + 0 * t) // 1e300", -1.0),  # the quotient underflows to -0
])
def test_floor_division_bounds_hold_the_floating_point_value(text, value):
    from sim.scenario.bounds import value_range
    from sim.scenario.expressions import compile_expression, namespace_for

    sc = load_scenario_text("name: b\nclock: {horizon: 10}\nladder: [a, b]\n"
                            "outcomes: [{id: o, default: true}]\n")
    expr = compile_expression(text, sc.symbols)
    assert float(expr.bind(namespace_for({}))([0.0], 3.0, ())) == value
    lo, hi = value_range(expr.tree, namespace_for({}), lambda i: (0.0, 1.0), 10.0)
    assert lo <= value <= hi and hi - lo <= 2


# --- 3. a declared max below the bound derived -------------------------------------------------


def test_a_declared_max_below_the_derived_bound_is_a_located_load_error():
    problems = _problems("""
    name: r
    clock: {horizon: 100}
    ladder: [l0, l1]
    actions:
      ev: {rate: {expr: "10 if t > 5 and t < 6 else 0", max: 0.01}}
    outcomes: [{id: o, default: true}]
    """)
    assert problems == [
        "<scenario>:6:58: actions.ev.rate.max: max 0.01 is below 10, the bound derived "
        "from the rate's expression over the run: the rate may exceed it, and thinning "
        "notices that only at the candidate times it draws; write max: 10 or more, or leave "
        "max out"]


def test_a_declared_max_at_or_above_the_derived_bound_is_accepted():
    sc = load_scenario_text(textwrap.dedent("""
    name: r
    clock: {horizon: 100}
    ladder: [l0, l1]
    actions:
      ev: {rate: {expr: "10 if t > 5 and t < 6 else 0", max: 10}}
      other: {rate: {expr: "0.1 * t", max: 12}}
    outcomes: [{id: o, default: true}]
    """))
    assert set(sc.spec.actions) == {"ev", "other"}


def test_a_declared_max_below_the_derived_bound_fails_the_run_at_other_parameters():
    sc = load_scenario_text(textwrap.dedent("""
    name: r
    clock: {horizon: 100}
    parameters: {peak: {value: 0.01, range: [0.01, 100]}}
    ladder: [l0, l1]
    actions:
      ev: {rate: {expr: "peak if t > 5 and t < 6 else 0", max: 0.01}}
    outcomes: [{id: o, default: true}]
    """))
    with pytest.raises(RunError) as info:
        run_one(make_plan(sc, {"peak": 10.0}), 1, 0)
    message = str(info.value)
    assert message.startswith("<scenario>:7:60: actions.ev.rate.max: ")
    assert "max 0.01 is below 10, the bound derived" in message


# --- 4. one named dimension or track behaves like several -------------------------------------

ONE_DIMENSION = """
name: onedim
clock: {horizon: 50}
ladder: [l0, l1, l2]
actions:
  e: {at: 1, effects: [{end: END}]}
outcomes:
  war: [{id: cease, terminal: true}, {id: ongoing, default: true}]
"""


@pytest.mark.parametrize("end", ["war=cease", "cease"])
def test_one_named_dimension_takes_its_labels_like_several(end):
    sc = load_scenario_text(ONE_DIMENSION.replace("END", end))
    res = sim.run_batch(sc, 20, 1, executor="serial")
    assert res.runs_table().column("outcome.war").to_pylist() == ["cease"] * 20
    assert sc.spec.outcome_labels == ["war=cease", "war=ongoing"]


def test_one_named_dimension_names_its_labels_when_an_outcome_is_unknown():
    problems = _problems(ONE_DIMENSION.replace("END", "war=peace"))
    assert len(problems) == 1
    assert "unknown outcome (DIMENSION=CLASS) 'war=peace'" in problems[0]
    assert "war=cease" in problems[0]


def test_a_class_of_several_dimensions_is_ambiguous_alone():
    problems = _problems("""
    name: ambiguous
    clock: {horizon: 50}
    ladder: [l0, l1]
    actions:
      e: {at: 1, effects: [{end: a}]}
    outcomes:
      war: [{id: a, terminal: true}, {id: w, default: true}]
      nuc: [{id: a, terminal: true}, {id: n, default: true}]
    """)
    assert problems == [
        "<scenario>:6:30: actions.e.effects[0].end: outcome 'a' is ambiguous: it is a class "
        "of several dimensions; write war=a or nuc=a"]


def test_one_named_track_asks_for_its_name():
    problems = _problems("""
    name: onetrack
    clock: {horizon: 50}
    ladders: {a: [r1, r2]}
    actions:
      e: {at: 1, effects: [{escalate: 1}]}
    triggers:
      t: {when: "level >= r2", do: [{escalate: {track: a}}]}
    outcomes: [{id: o, default: true}]
    """)
    assert problems == [
        "<scenario>:6:35: actions.e.effects[0].escalate: this scenario's escalation tracks "
        "are named (ladders:): name one with track: (a)",
        "<scenario>:8:13: triggers.t.when: this scenario's escalation tracks are named "
        "(ladders:): read one as level.TRACK (level.a)"]


def test_outcome_label_resolves_labels_and_unique_classes():
    spec = load_scenario_text(textwrap.dedent("""
    name: labels
    clock: {horizon: 50}
    ladder: [l0, l1]
    outcomes:
      war: [{id: a, when: "level >= l1"}, {id: cease, default: true}]
      nuc: [{id: a, when: "t > 3"}, {id: none, default: true}]
    """)).spec
    assert spec.outcome_label("war=cease") == "war=cease"
    assert spec.outcome_label("cease") == "war=cease"
    assert spec.outcome_label("none") == "nuc=none"
    assert spec.outcome_label("a") is None  # in two dimensions
    assert spec.outcome_label("war=a") == "war=a"
    assert spec.outcome_label("war=none") is None
    assert spec.outcome_label("peace") is None
    single = load_scenario_text(ONE_DIMENSION.replace("END", "cease")).spec
    assert single.outcome_label("cease") == "war=cease"
    plain = load_scenario_text("name: p\nclock: {horizon: 5}\nladder: [a, b]\n"
                               "outcomes: [{id: q, default: true}]\n").spec
    assert plain.outcome_label("q") == "q"
    assert plain.outcome_label("x=q") is None


# --- 5. caps on the sizes of tracks and dimensions --------------------------------------------


def _names(prefix: str, n: int) -> str:
    return ", ".join(f"{prefix}{i}" for i in range(n))


def test_a_track_of_too_many_rungs_is_refused_located():
    problems = _problems(f"""
    name: big
    clock: {{horizon: 5}}
    ladders:
      a: [{_names("r", schema.MAX_RUNGS + 1)}]
      b: {{rungs: [{_names("s", schema.MAX_RUNGS + 1)}]}}
    outcomes: [{{id: o, default: true}}]
    """)
    assert problems == [
        f"<scenario>:5:6: ladders.a: a track has at most {schema.MAX_RUNGS:,} rungs; this one has "
        f"{schema.MAX_RUNGS + 1:,}",
        f"<scenario>:6:14: ladders.b.rungs: a track has at most {schema.MAX_RUNGS:,} rungs; this "
        f"one has {schema.MAX_RUNGS + 1:,}"]
    single = _problems(f"""
    name: big
    clock: {{horizon: 5}}
    ladder: [{_names("r", schema.MAX_RUNGS + 1)}]
    outcomes: [{{id: o, default: true}}]
    """)
    assert single == [f"<scenario>:4:9: ladder: a ladder has at most {schema.MAX_RUNGS:,} rungs; "
                      f"this one has {schema.MAX_RUNGS + 1:,}"]


def test_too_many_tracks_or_rungs_in_all_are_refused_located():
    tracks = "\n".join(f"  t{i}: [a{i}, b{i}]" for i in range(schema.MAX_TRACKS + 1))
    problems = _problems(f"name: big\nclock: {{horizon: 5}}\nladders:\n{tracks}\n"
                         f"outcomes: [{{id: o, default: true}}]\n")
    assert problems == [f"<scenario>:4:3: ladders: at most {schema.MAX_TRACKS} tracks; this "
                        f"scenario has {schema.MAX_TRACKS + 1}"]
    per = schema.MAX_RUNGS // 2 + 1
    wide = _problems(f"""
    name: big
    clock: {{horizon: 5}}
    ladders:
      a: [{_names("r", per)}]
      b: [{_names("s", per)}]
    outcomes: [{{id: o, default: true}}]
    """)
    assert len(wide) == 1 and "ladders: " in wide[0]
    assert f"at most {schema.MAX_RUNGS:,} rungs in all; these tracks have {2 * per:,}" in wide[0]


def test_too_many_dimensions_or_outcomes_are_refused_located():
    dims = "\n".join(f"  d{i}: [{{id: x{i}, default: true}}]"
                     for i in range(schema.MAX_DIMENSIONS + 1))
    problems = _problems(f"name: big\nclock: {{horizon: 5}}\nladder: [a, b]\n"
                         f"outcomes:\n{dims}\n")
    assert problems == [f"<scenario>:5:3: outcomes: at most {schema.MAX_DIMENSIONS} outcome "
                        f"dimensions; this scenario has {schema.MAX_DIMENSIONS + 1}"]
    many = ", ".join(f"{{id: o{i}}}" for i in range(schema.MAX_OUTCOMES))
    problems = _problems(f"name: big\nclock: {{horizon: 5}}\nladder: [a, b]\n"
                         f"outcomes: [{many}, {{id: d, default: true}}]\n")
    assert problems == [f"<scenario>:4:11: outcomes: at most {schema.MAX_OUTCOMES:,} outcomes; "
                        f"this list has {schema.MAX_OUTCOMES + 1:,}"]
    problems = _problems(f"name: big\nclock: {{horizon: 5}}\nladder: [a, b]\n"
                         f"outcomes:\n  war: [{many}, {{id: d, default: true}}]\n")
    assert problems == [f"<scenario>:5:8: outcomes.war: at most {schema.MAX_OUTCOMES:,} outcomes "
                        f"in a dimension; this one has {schema.MAX_OUTCOMES + 1:,}"]


# --- 6. dates ---------------------------------------------------------------------------------

DATED = """
name: dated
clock: {unit: day, start: START, horizon: 100}
ladder: [l0, l1]
actions:
  ev: {at: AT}
outcomes: [{id: o, default: true}]
"""


@pytest.mark.parametrize("start", ["86400", "20240101", "2024-01-01T00:00:00"])
def test_a_start_that_is_not_a_date_is_refused(start):
    problems = _problems(DATED.replace("START", start).replace("AT", "1"))
    assert len(problems) == 1 and "clock.start: " in problems[0], problems
    assert "YYYY-MM-DD" in problems[0] and "1970" not in problems[0]
    assert "zero time" not in problems[0]


def test_strict_names_a_date_as_a_date(write):
    path = write(DATED.replace("START", "2024-01-01").replace("AT", "2024-01-10"))
    with pytest.raises(ScenarioError) as info:
        sim.load_scenario(path, strict=True)
    assert [str(p) for p in info.value.problems] == [
        "scenario.yaml:6:12: actions.ev.at[0]: the date 2024-01-10 (t=9) is written here, "
        "but actions.ev has neither source: nor assumption:"]


def test_strict_names_a_date_in_an_expression_as_a_date(write):
    path = write(DATED.replace("START", "2024-01-01")
                 .replace("AT", "\"date('2024-01-10') + 2\""))
    with pytest.raises(ScenarioError) as info:
        sim.load_scenario(path, strict=True)
    message = str(info.value.problems[0])
    assert "the number 2 and the date 2024-01-10 (t=9) are written here" in message


@pytest.mark.parametrize(("at", "hint"), [
    ("2024/01/10", " (2024-01-10)"), ("2024.01.10", " (2024-01-10)"),
    ("2024/1/10", " (2024-01-10)"),  # Python would divide: 202.4
    ("10/01/2024", ""),  # the 10th of January or the 1st of October
    ("13/01/2024", " (2024-01-13)"), ("01/13/2024", " (2024-01-13)"),
])
def test_a_date_with_slashes_or_dots_is_not_a_date(at, hint):
    problems = _problems(DATED.replace("START", "2024-01-01").replace("AT", at))
    assert problems == [f"<scenario>:6:12: actions.ev.at[0]: '{at}' is not a date: "
                        f"write a date as YYYY-MM-DD{hint}"]


# --- 7. messages and acceptances --------------------------------------------------------------

PLAIN = """
name: plain
clock: {horizon: 50}
ladders: {a: [r1, r2], b: [s1, s2]}
actions:
  x: {at: 1, effects: [EFFECT]}
  y: {RATE}
outcomes: [{id: o, default: true}]
"""


@pytest.mark.parametrize(("effect", "rate", "where"), [
    ("{escalate: {track: a, by: 1}}", "rate: true", "actions.y.rate"),
    ("{escalate: {track: a, by: 1}}", "rate: {expr: true}", "actions.y.rate.expr"),
    ("{escalate: {track: a, by: 1}}", "rate: {expr: '0.1 * t', max: true}",
     "actions.y.rate.max"),
    ("{escalate: {track: a, by: 1}}", "rate: {schedule: [[0, true]]}",
     "actions.y.rate.schedule[0][1]"),
    ("{escalate: {track: a, by: true}}", "rate: 1", "actions.x.effects[0].escalate.by"),
    ("{deescalate: {track: a, by: false}}", "rate: 1", "actions.x.effects[0].deescalate.by"),
    ("{escalate: {track: a, by: 1}}", "at: true", "actions.y.at"),
    ("{escalate: {track: a, by: 1}}", "at: [1, true]", "actions.y.at[1]"),
    ("{escalate: {track: a, by: 1}}", "every: {uniform: [true, 2]}", "actions.y.every.uniform"),
    ("{escalate: {track: a, by: 1}}", "every: {uniform: {low: 1, high: true}}",
     "actions.y.every.uniform.high"),
    ("{escalate: true}", "rate: 1", "actions.x.effects[0].escalate"),
])
def test_a_flag_where_a_number_is_meant_is_refused(effect, rate, where):
    problems = _problems(PLAIN.replace("EFFECT", effect).replace("RATE", rate))
    assert len(problems) == 1, problems
    assert f" {where}: " in problems[0] and "a number" in problems[0], problems
    assert "flag" in problems[0]


@pytest.mark.parametrize("every", ["every: true", "every: false"])
def test_a_flag_as_an_interval_is_refused(every):
    problems = _problems(PLAIN.replace("EFFECT", "{escalate: {track: a}}")
                         .replace("RATE", every))
    assert problems == [f"<scenario>:7:14: actions.y.every: a delay or interval is a "
                        f"length of time, got a flag ({every.split()[1]})"]


@pytest.mark.parametrize(("level", "message"), [
    ("'b:s2'", "'b:s2' names a rung as track:rung: write the rung alone (s2); rung names "
               "are unique across tracks"),
    ("':s2'", "':s2' has no track before ':': write the rung alone (s2)"),
    ("'b:'", "'b:' has no rung after ':'"),
])
def test_a_rung_written_with_its_track_says_how_to_write_it(level, message):
    problems = _problems(PLAIN.replace("EFFECT", f"{{raise_to: {level}}}")
                         .replace("RATE", "rate: 1"))
    assert len(problems) == 1 and message in problems[0], problems
    assert "actions.x.effects[0].raise_to" in problems[0]


def test_a_track_whose_definition_failed_gives_no_knock_on_errors():
    problems = _problems("""
    name: knock
    clock: {horizon: 50}
    ladders:
      scope: [bilateral, global]
      intensity: [low, high]
    actions:
      x: {at: 1, effects: [{escalate: {track: scope, by: 1}}, {raise_to: bilateral}]}
    triggers:
      t1: {when: "level.scope >= 1", do: [{escalate: {track: intensity}}]}
    outcomes:
      - {id: a, default: true}
    """)
    assert problems == ["<scenario>:5:22: ladders.scope[1]: 'global' is not a valid name: use "
                        "letters, digits and _, not a keyword"]


@pytest.mark.parametrize(("rate", "where", "warning"), [
    ("1e300", "7:13: actions.y.rate", "at a rate of 1e+300 the action has about 5e+301 events "
                                      "by the horizon, more than limits.max_events (100,000)"),
    ("{every: {exponential: {mean: 1e-4}}}", "7:35: actions.y.every.exponential.mean",
     "at a rate of 10000 the action has about 5e+05 events"),
    ("{expr: '0.001 * t * u.x', max: 20000}", "7:44: actions.y.rate.max",
     "thinning draws candidates at the bound 20000: about 1e+06 by the horizon, each "
     "counted as an event, more than limits.max_events (100,000)"),
])
def test_a_rate_past_the_event_limit_is_warned_of_at_load(rate, where, warning):
    """The run fails with the event limit's message; the load says why beforehand."""
    text = PLAIN.replace("EFFECT", "{escalate: {track: a}}").replace(
        "  y: {RATE}", f"  y: {{rate: {rate}}}" if not rate.startswith("{every") else
        f"  y: {rate}").replace("outcomes:", "actors: {u: {vars: {x: 1}}}\noutcomes:")
    sc = load_scenario_text(text)
    assert len(sc.warnings) == 1, sc.warnings
    assert str(sc.warnings[0]).startswith(f"<scenario>:{where}: ")
    assert warning in str(sc.warnings[0])


def test_a_rate_within_the_event_limit_is_not_warned_of():
    sc = load_scenario_text(PLAIN.replace("EFFECT", "{escalate: {track: a}}")
                            .replace("RATE", "rate: {expr: '0.1 * t', max: 5}"))
    assert sc.warnings == ()


def test_a_list_where_a_number_is_meant_is_named_a_list():
    problems = _problems(PLAIN.replace("EFFECT", "{escalate: [1, 2]}").replace("RATE", "rate: 1"))
    assert problems == ["<scenario>:6:35: actions.x.effects[0].escalate: expected a number or "
                        "an expression, got a list"]


def test_validate_names_one_dimension_and_one_track():
    text = ONE_DIMENSION.replace("END", "cease").replace("ladder: [l0, l1, l2]",
                                                         "ladders: {a: [l0, l1, l2]}")
    from sim.scenario.describe import describe_shape

    assert describe_shape(load_scenario_text(text).spec) == \
        "1 track (a: 3), 1 outcome dimension (war: 2)"


def test_too_many_outcomes_in_all_dimensions_are_refused_located():
    half = schema.MAX_OUTCOMES // 2
    war = ", ".join(f"{{id: w{i}}}" for i in range(half))
    nuc = ", ".join(f"{{id: n{i}}}" for i in range(half))
    problems = _problems(f"name: big\nclock: {{horizon: 5}}\nladder: [a, b]\noutcomes:\n"
                         f"  war: [{war}, {{id: wd, default: true}}]\n"
                         f"  nuc: [{nuc}, {{id: nd, default: true}}]\n")
    assert problems == [f"<scenario>:5:3: outcomes: at most {schema.MAX_OUTCOMES:,} outcomes "
                        f"in all; these dimensions have {2 * half + 2:,}"]
