"""Authoring mistakes get a located message that says how to fix them; help states defaults."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from sim.analysis.designs import expand, parse_factor
from sim.cli import cli
from sim.scenario import load_scenario

SCENARIO = """\
name: t
clock: {{unit: {unit}, horizon: 100}}
parameters:
  talks_interval: 30
ladder: [calm, crisis]
actors:
  red: {{vars: {{navy: 0, tired: false}}}}
  usa: {{vars: {{ships: 2}}}}
actions:
  probe:
    actor: {actor}
    rate: {rate}
    draws: {{rammed: {{bernoulli: 0.5}}}}
triggers:
  answer:
    on: probe
    if: {guard}
    do: [{{escalate: 1}}]
outcomes: [{{id: quiet, default: true}}]
"""
GOOD = {"unit": "day", "actor": "red", "rate": "0.1", "guard": "rammed > 0"}


def validate(*args: str) -> tuple[int, list[str]]:
    result = CliRunner().invoke(cli, ["validate", *args])
    assert "Traceback" not in result.output
    return result.exit_code, result.output.splitlines()


def problems(write, **change: str) -> list[str]:
    path = write(SCENARIO.format(**{**GOOD, **change}))
    code, lines = validate(str(path))
    assert code == 2
    return lines[:-1]


def test_the_base_file_is_valid(write):
    assert validate(str(write(SCENARIO.format(**GOOD))))[0] == 0


@pytest.mark.parametrize(("guard", "column", "hint"), [
    ("rammed && !red.tired", 16, "'&&' is not an operator here: write 'and', 'or' and 'not'"),
    ("rammed || red.tired", 16, "'||' is not an operator here"),
    ("'!red.tired'", 9, "'!' is not an operator here"),
    ("red.navy = 1", 18, "'=' assigns: compare with '=='"),
])
def test_c_style_logic_gets_the_python_words(write, guard, column, hint):
    """`&&`, `||`, `!` and `=` are located at the slip and say what to write."""
    (line,) = problems(write, guard=guard)
    assert line.startswith(f"scenario.yaml:17:{column}: triggers.answer.if: syntax error in "
                           f"expression: {hint}")


@pytest.mark.parametrize("rate", ["0.1 per day", "2 days", "1e3 km"])
def test_a_unit_in_an_expression_points_to_the_unit_field(write, rate):
    """A unit written after a number says that units belong in clock.unit or unit:."""
    (line,) = problems(write, rate=rate)
    assert re.match(r"scenario\.yaml:12:1\d: actions\.probe\.rate: syntax error in "
                    r"expression: '\w+' after a number: expressions hold plain numbers", line)
    assert "clock.unit" in line and "its unit: field" in line


def test_a_unit_word_read_as_a_name_says_the_same(write):
    (line,) = problems(write, rate="0.1/day")
    assert line == ("scenario.yaml:12:15: actions.probe.rate: unknown name 'day': a unit is "
                    "not written in an expression (times and rates are in clock units, set "
                    "by clock.unit; a parameter's unit goes in its unit:)")


@pytest.mark.parametrize(("guard", "hint"), [
    ("rammed & red.tired", "(write 'and')"), ("rammed | red.tired", "(write 'or')"),
    ("~red.tired", "(write 'not')"), ("red.navy ^ 2", "(write ** for a power)")])
def test_bitwise_operators_name_the_right_one(write, guard, hint):
    (line,) = problems(write, guard=guard)
    assert line.endswith(f"not allowed in an expression {hint}")


def test_an_unknown_actor_lists_the_actors(write):
    """No close match: the message lists the choices."""
    assert problems(write, actor="blue") == [
        "scenario.yaml:11:12: actions.probe.actor: unknown actor 'blue'; the actors are red, "
        "usa"]


def test_an_unknown_actor_in_an_expression_lists_them_too(write):
    (line,) = problems(write, guard="blue.navy > 0")
    assert line == ("scenario.yaml:17:9: triggers.answer.if: unknown name 'blue.navy' (did you "
                    "mean 'red.navy'?): 'blue' is not an actor (the actors are red, usa)")
    (line,) = problems(write, guard="red.nvy > 0")
    assert line.endswith("unknown name 'red.nvy' (did you mean 'red.navy'?): the variables "
                         "of red are navy, tired")


def test_a_long_list_of_choices_is_cut(write):
    actors = "\n".join(f"  a{i}: {{vars: {{x: 0}}}}" for i in range(20))
    text = SCENARIO.format(**GOOD).replace("actors:\n", f"actors:\n{actors}\n")
    code, lines = validate(str(write(text.replace("actor: red", "actor: zzz"))))
    assert code == 2
    assert lines[0].endswith("the actors are a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, "
                             "a11, ...")


@pytest.mark.parametrize("unit", ["fortnight", "month", "days2"])
def test_an_unknown_clock_unit_is_refused(write, unit):
    """Only units with a length in days are clock units."""
    (line,) = problems(write, unit=unit)
    assert line.startswith(f"scenario.yaml:2:15: clock.unit: unknown clock unit '{unit}': use "
                           f"day, week or hour (or their plurals)")


@pytest.mark.parametrize("unit", ["day", "days", "week", "weeks", "hour", "hours"])
def test_the_clock_units(write, unit):
    assert validate(str(write(SCENARIO.format(**{**GOOD, "unit": unit}))))[0] == 0


@pytest.mark.parametrize(("start", "message"), [
    ("0", "the start is a date: write YYYY-MM-DD, got 0"),
    ("'2024-11-19T00:00'", "'2024-11-19T00:00' is not a date: write YYYY-MM-DD, without a "
                           "time of day"),
    ("2024-02-30", "'2024-02-30' is not a date (day is out of range for month)")])
def test_a_start_that_is_not_a_date_is_refused(write, start, message):
    text = SCENARIO.format(**GOOD).replace("horizon: 100}", f"horizon: 100, start: {start}}}")
    code, lines = validate(str(write(text)))
    assert code == 2 and lines[0].endswith(f"clock.start: {message}")


def test_a_date_with_spaces_around_it_is_a_date(write):
    """Quoted dates may carry spaces on either side (both sides alike)."""
    text = SCENARIO.format(**GOOD).replace("horizon: 100}", "horizon: 100, start: 2025-01-01}")
    text = text.replace("    rate: 0.1\n", "    at: ' 2025-01-20 '\n")
    assert validate(str(write(text)))[0] == 0


@pytest.mark.parametrize(("text", "line", "message"), [
    ("name: t\nactors:\n  red:\n    vars: {x: 0}\n   blue: {}\n", "5:4",
     "inconsistent indentation: this line starts at column 4, but the keys of the mapping it "
     "belongs to start at column 3 (line 3): align it with them, or indent it under a key as "
     "a nested value"),
    ("name: t\nactors:\n\tred: {}\n", "3:1",
     "a tab: YAML indents with spaces only; replace the tab with spaces"),
    ("name: t\nclock: {horizon: 10\nladder: [a, b]\n", "3:7",
     "a { ... } mapping is not closed, or two of its entries lack a comma between them (it "
     "starts at line 2)"),
    ("name: t\ntitle: 'open\n", "3:1",
     "a quoted text is not closed: its closing quote is missing (it starts at line 2)"),
    ("name: t\nladder:\n  - a\n - b\n", "4:2",
     "a list item ('- ') where a key was expected: indent the list under its key, or align "
     "this line with the keys of its mapping (at column 1)"),
])
def test_yaml_slips_are_explained(write, text, line, message):
    """The usual YAML slips read as what to do, not as the parser's terms."""
    code, lines = validate(str(write(text)))
    assert code == 2
    assert lines[0] == f"scenario.yaml:{line}: YAML syntax error: {message}"
    assert "<block" not in lines[0] and "but found" not in lines[0]


def test_a_leading_exclamation_mark_is_explained(write):
    """`if: !a` is a YAML tag, not a negation: the message says to write `not`."""
    (line,) = problems(write, guard="!red.tired")
    assert line == ("scenario.yaml:17:9: '!red.tired' reads as a YAML tag (a value may not "
                    "start with '!'): in an expression write 'not' (as in 'not a'), or quote "
                    "the text")


def test_strict_problems_are_located(write):
    """Every --strict problem carries FILE:LINE:COL, for parameters, actors, actions and
    triggers alike, and through a variant."""
    text = SCENARIO.format(**{**GOOD, "rate": "0.25", "guard": "red.navy > 3"})
    write(text)
    write("extends: scenario.yaml\nname: v\nparameters:\n  talks_interval: {value: 40}\n",
          "variant.yaml")
    for name in ("scenario.yaml", "variant.yaml"):
        code, lines = validate("--strict", name)
        assert code == 2
        found = lines[:-1]
        assert len(found) == 4
        for line in found:
            assert re.match(r"[\w.]+\.yaml:\d+:\d+: (parameters|actors|actions|triggers)\.", line)


def test_underscore_inside_a_name_is_fine_at_the_start_refused(write):
    """README: names *starting* with `_` are refused; `_` inside a name is fine."""
    ok = SCENARIO.format(**GOOD).replace("talks_interval", "talks_interval_2")
    assert validate(str(write(ok)))[0] == 0
    bad = SCENARIO.format(**GOOD).replace("talks_interval", "_talks")
    code, lines = validate(str(write(bad)))
    assert code == 2 and "starting with '_'" in lines[0]


@pytest.mark.parametrize(("change", "message"), [
    (("    if: rammed > 0\n", "    if_: rammed > 0\n"), "unknown key 'if_'"),
    (("name: t\n", "name: \"t\\n\"\n"), "is not a valid scenario name"),
    (("  talks_interval: 30\n", "  tälks: 30\n"), "is not a valid name"),
    (("outcomes: [{id: quiet, default: true}]", "format: true\noutcomes: [{id: quiet, "
                                                "default: true}]"), "format"),
])
def test_what_the_json_schema_refuses_the_loader_refuses(write, change, message):
    """Spellings the loader used to let through: `if_` for `if`, a name ending in a line
    break, a non-ASCII name, a flag for the format version."""
    text = SCENARIO.format(**GOOD)
    assert change[0] in text
    code, lines = validate(str(write(text.replace(*change))))
    assert code == 2 and message in "\n".join(lines)


def test_exponential_of_a_bare_value_is_its_mean(write):
    """`every: {exponential: X}` is documented as the mean X, and it is the mean."""
    text = SCENARIO.format(**GOOD).replace("    rate: 0.1\n",
                                           "    every: {exponential: talks_interval}\n")
    every = load_scenario(write(text)).spec.actions["probe"].every
    assert every.kind == "exponential" and every.args.mean == "talks_interval"
    assert every.args.rate is None


# --- help ------------------------------------------------------------------------------------


def _helps() -> dict[str, str]:
    out = {"": CliRunner().invoke(cli, ["--help"]).output}
    for name in cli.commands:
        out[name] = CliRunner().invoke(cli, [name, "--help"], terminal_width=200).output
    return out


def test_no_help_shows_a_doubled_percent_sign():
    helps = _helps()
    assert not [name for name, text in helps.items() if "%%" in text]
    assert "95% interval" in helps["run"]


def test_help_states_the_defaults_of_vary_and_samples(write):
    """`--vary X=lo:hi` gives 5 points and `--design lhs` without `--samples` 16 for one
    parameter: the help says so, and it is so."""
    sweep = " ".join(_helps()["sweep"].split())
    assert "(5 when :STEPS is left out)" in sweep
    assert "16 for one parameter, 32 for two or three" in sweep
    text = SCENARIO.format(**GOOD).replace("  talks_interval: 30\n",
                                           "  talks_interval: {value: 30, range: [10, 50]}\n")
    sc = load_scenario(write(text))
    assert len(parse_factor(sc, "talks_interval=10:50").values) == 5
    assert len(expand([parse_factor(sc, "talks_interval")], "lhs")) == 16


@pytest.mark.parametrize("command", ["run", "sweep", "sensitivity"])
def test_quiet_says_it_hides_the_progress_bar_only(command):
    text = " ".join(_helps()[command].split())
    assert "-q, --quiet Hide the progress bar (the results are still printed" in text
