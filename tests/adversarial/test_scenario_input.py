"""Hostile scenario and sweep files: every one is refused fast, located, without leaking content."""

from __future__ import annotations

import math
import os
import textwrap

import pytest

from sim.errors import ScenarioError
from sim.scenario import load_scenario, load_scenario_text

BASE = """\
name: hostile
clock: {{horizon: 100}}
parameters:
  p: {{value: 0.5, range: [0, 1]}}
  n: {{value: 3, integer: true}}
  k: 2
  flag: false
ladder: [low, high]
actors:
  x: {{vars: {{v: 0}}}}
{extra}
outcomes:
  - {{id: quiet, default: true}}
"""


def scenario(extra: str = "", **replace: str) -> str:
    text = BASE.format(extra=textwrap.dedent(extra))
    for old, new in replace.items():
        text = text.replace(old, new)
    return text


def problems_of(text: str) -> str:
    with pytest.raises(ScenarioError) as info:
        load_scenario_text(text, "s.yaml")
    return str(info.value)


def test_base_scenario_loads():
    """The base of these tests is itself valid."""
    assert load_scenario_text(scenario()).name == "hostile"


# --- item 4: special files ---------------------------------------------------------------------


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_validate_device_is_refused_fast(cli, device):
    """A character device is refused before any read, not read until memory runs out."""
    if not os.path.exists(device):
        pytest.skip(f"no {device}")
    out = cli("validate", device, timeout=20)
    out.clean_failure()
    assert "not a regular file" in out.stderr


def test_sweep_spec_device_is_refused_fast(cli):
    """``sweep --spec /dev/zero`` is refused before any read."""
    out = cli("sweep", "--spec", "/dev/zero", timeout=20)
    out.clean_failure()
    assert "not a regular file" in out.stderr


def test_validate_fifo_does_not_block(cli, tmp_path):
    """A named pipe nobody writes to is refused, not waited on forever."""
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    out = cli("validate", str(fifo), timeout=20)
    out.clean_failure()
    assert "not a regular file" in out.stderr


def test_extends_fifo_does_not_block(cli, tmp_path):
    """A named pipe as an extends target is refused too."""
    os.mkfifo(tmp_path / "pipe.yaml")
    (tmp_path / "s.yaml").write_text("extends: pipe.yaml\nname: s\n")
    out = cli("validate", "s.yaml", timeout=20)
    out.clean_failure()
    assert "not a regular file" in out.stderr


def test_oversized_file_is_refused_without_reading_it_whole(write):
    """A file past the size limit is refused with one located line."""
    path = write("name: big\n" + "# padding\n" * 300_000)
    with pytest.raises(ScenarioError, match="larger than 2,000,000 bytes"):
        load_scenario(path)


def test_reader_refuses_folders_and_reads_at_most_the_limit(tmp_path):
    """The shared reader refuses a folder and never returns more than the limit."""
    from sim.scenario.files import read_text_file

    with pytest.raises(ScenarioError, match="not a regular file"):
        read_text_file(tmp_path)
    big = tmp_path / "big.yaml"
    big.write_bytes(b"a" * 3_000_000)
    with pytest.raises(ScenarioError, match="larger than"):
        read_text_file(big)
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"name: \xff\n")
    with pytest.raises(ScenarioError, match="UTF-8"):
        read_text_file(bad)


# --- item 15: files that are not scenarios -----------------------------------------------------

SECRET = "password: hunter2\ntoken: s3cr3t-value\nroot: x\n"


@pytest.mark.parametrize("name", ["secret.txt", "secret.yaml", "shadow"])
def test_extends_non_scenario_leaks_nothing(write, name):
    """An extends target that is not a scenario file gets one line, none of its content."""
    write(SECRET, name)
    path = write(f"extends: {name}\nname: s\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    text = str(info.value)
    assert "not a scenario file" in text
    for secret in ("password", "hunter2", "token", "s3cr3t", "root"):
        assert secret not in text, text


@pytest.mark.parametrize("name", ["secret.txt", "secret.yaml"])
def test_main_file_non_scenario_leaks_nothing(write, name):
    """The main file is judged the same way: one line, no keys or values echoed."""
    path = write(SECRET, name)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    text = str(info.value)
    assert "not a scenario file" in text
    assert len(info.value.problems) == 1
    for secret in ("password", "hunter2", "token", "s3cr3t"):
        assert secret not in text, text


def test_extends_etc_passwd_leaks_nothing(cli, tmp_path):
    """``extends: /etc/passwd`` prints no line of that file."""
    if not os.path.exists("/etc/passwd"):
        pytest.skip("no /etc/passwd")
    (tmp_path / "s.yaml").write_text("extends: /etc/passwd\nname: s\n")
    out = cli("validate", "s.yaml")
    out.clean_failure()
    assert "not a scenario file" in out.stderr
    assert "root" not in out.output


def test_scenario_with_one_known_key_is_reported_field_by_field(write):
    """A real (if broken) scenario file still gets every problem, located."""
    path = write("name: s\nclok: {horizon: 1}\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert "unknown key 'clok' (did you mean 'clock'?)" in str(info.value)


# --- item 16: parameter overrides follow the file's rules --------------------------------------


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", ".inf", ".nan", "1e400", "١",
                                  "1_0e-1", "0x", "1e999"])
def test_overrides_refuse_what_the_file_refuses(text):
    """``--set k=...`` takes a YAML 1.2 plain number, finite, like the file."""
    sc = load_scenario_text(scenario())
    with pytest.raises(ScenarioError, match="'k'"):
        sc.resolve_parameters({"k": text})


@pytest.mark.parametrize("text", ["inf", "1e400", "-inf", "nan"])
def test_integer_parameter_override_non_finite_is_a_scenario_error(text):
    """``--set n=inf`` on an integer parameter is a ScenarioError, never an OverflowError."""
    sc = load_scenario_text(scenario())
    with pytest.raises(ScenarioError, match="'n'"):
        sc.resolve_parameters({"n": text})


@pytest.mark.parametrize("value", [math.inf, math.nan, 10**400])
def test_numeric_overrides_must_be_finite(value):
    """Numbers given from Python (a sweep design) are checked the same way."""
    sc = load_scenario_text(scenario())
    for name in ("k", "n"):
        with pytest.raises(ScenarioError, match=f"'{name}'"):
            sc.resolve_parameters({name: value})


@pytest.mark.parametrize(("text", "value"), [("0.25", 0.25), ("3", 3), ("1e-1", 0.1),
                                            ("0x10", 16), (" 2 ", 2), ("-1.5", -1.5)])
def test_overrides_accept_plain_numbers(text, value):
    """Ordinary numbers still work."""
    sc = load_scenario_text(scenario())
    assert sc.resolve_parameters({"k": text})["k"] == value


def test_flag_override_takes_yaml_booleans():
    """A flag takes true/false as the file does."""
    sc = load_scenario_text(scenario())
    assert sc.resolve_parameters({"flag": "true"})["flag"] is True
    assert sc.resolve_parameters({"flag": "False"})["flag"] is False
    with pytest.raises(ScenarioError, match="'flag'"):
        sc.resolve_parameters({"flag": "maybe"})


def test_cli_set_inf_on_integer_parameter(cli, tmp_path):
    """At the command line the same is a clean exit 2."""
    (tmp_path / "s.yaml").write_text(scenario())
    out = cli("run", "s.yaml", "-n", "2", "--set", "n=inf", "--out", "r", "-q")
    out.clean_failure()
    assert "'n'" in out.stderr


# --- item 10: numbers too large for a float ----------------------------------------------------

HUGE = "1" + "0" * 400


def test_huge_integer_as_actor_variable_is_located():
    """A 400-digit literal as a variable is a located error, not an OverflowError."""
    text = problems_of(scenario(**{"{v: 0}": f"{{v: {HUGE}}}"}))
    assert "s.yaml:10:" in text and "too large" in text


def test_huge_integer_as_parameter_is_located():
    """A 400-digit parameter value is refused at load (it used to crash the run)."""
    text = problems_of(scenario(**{"k: 2": f"k: {HUGE}"}))
    assert "s.yaml:6:" in text and "too large" in text


def test_five_thousand_digit_literal_is_located():
    """Past Python's int-string limit too: a located error, not a ValueError."""
    text = problems_of(scenario(**{"k: 2": "k: " + "9" * 5000}))
    assert "s.yaml:6:" in text and "too large" in text


def test_huge_integer_validate_cli(cli, tmp_path):
    """``escalation validate`` prints the located error and exits 2."""
    (tmp_path / "s.yaml").write_text(scenario(**{"{v: 0}": f"{{v: {HUGE}}}"}))
    cli("validate", "s.yaml").clean_failure()


def test_float_literal_overflow_in_yaml_is_located():
    """``1e999`` written in the file is an error (``.inf`` spells infinity), not a silent inf."""
    text = problems_of(scenario(**{"{v: 0}": "{v: 1e999}"}))
    assert "s.yaml:10:" in text


# --- item 6: event cap ceiling -------------------------------------------------------------------


def test_max_events_has_a_ceiling():
    """``limits.max_events`` above the documented ceiling is a located error."""
    from sim.scenario.schema import MAX_EVENTS

    text = problems_of(scenario("limits: {max_events: 1000000000000}\n"))
    assert "s.yaml:11:" in text and "limits.max_events" in text and str(MAX_EVENTS) in text


def test_max_seconds_is_bounded():
    """The per-run CPU budget is positive, finite and at most its ceiling."""
    for bad in ("0", "-1", ".inf", "1e9"):
        text = problems_of(scenario(f"limits: {{max_seconds: {bad}}}\n"))
        assert "limits.max_seconds" in text


# --- item 11: clock range ----------------------------------------------------------------------


@pytest.mark.parametrize("clock", [
    "{start: 9999-12-01, horizon: 365}",
    "{start: 2024-01-01, horizon: 3000000}",
    "{horizon: 1e308}",
    "{start: 2024-01-01, unit: week, horizon: 500000}",
])
def test_clock_must_stay_in_range(clock):
    """The clock's end must be a date Python holds, and the horizon under its ceiling."""
    text = problems_of(scenario(**{"{horizon: 100}": clock}))
    assert "s.yaml:2:" in text and "clock" in text


def test_clock_range_cli(cli, tmp_path):
    """At the command line: exit 2, a located message, no traceback."""
    (tmp_path / "s.yaml").write_text(scenario(**{"{horizon: 100}":
                                                 "{start: 9999-12-01, horizon: 365}"}))
    out = cli("validate", "s.yaml")
    out.clean_failure()
    assert "s.yaml:2:" in out.stderr


def test_clock_near_the_end_of_dates_is_fine():
    """A clock that ends before 9999-12-31 is accepted."""
    sc = load_scenario_text(scenario(**{"{horizon: 100}": "{start: 9999-01-01, horizon: 300}"}))
    assert sc.spec.clock.horizon == 300


# --- item 21: strict numbers, names that expressions cannot use ----------------------------------


@pytest.mark.parametrize(("old", "new"), [
    ("{horizon: 100}", "{horizon: true}"),
    ("{horizon: 100}", "{horizon: !!str 10}"),
    ("{horizon: 100}", "{horizon: '10'}"),
    ("n: {value: 3, integer: true}", "n: {value: 3, integer: 'yes'}"),
    ("k: 2", "k: {value: !!str 2}"),
    ("k: 2", "k: {value: 2, range: ['0', 5]}"),
    ("outcomes:", "limits: {max_events: true}\noutcomes:"),
])
def test_numbers_and_flags_are_strict(old, new):
    """No bool as a number, no text turned into a number or a flag."""
    text = problems_of(scenario(**{old: new}))
    assert "s.yaml:" in text


def test_sweep_file_numbers_are_strict(tmp_path):
    """A sweep file's ``runs: true`` is refused too."""
    from sim.analysis.sweepspec import load_sweep_spec

    path = tmp_path / "sweep.yaml"
    path.write_text("vary: {p: [0.1, 0.2]}\nruns: true\n")
    with pytest.raises(ScenarioError, match="runs"):
        load_sweep_spec(path)
    path.write_text("vary: {p: [0.1, 0.2]}\nseed: !!str 3\n")
    with pytest.raises(ScenarioError, match="seed"):
        load_sweep_spec(path)


@pytest.mark.parametrize(("old", "new", "path"), [
    ("k: 2", "_k: 2", "parameters._k"),
    ("x: {vars: {v: 0}}", "_x: {vars: {v: 0}}", "actors._x"),
    ("{v: 0}", "{_v: 0}", "actors.x.vars._v"),
    ("[low, high]", "[_low, high]", "ladder[0]"),
    ("outcomes:", "actions: {_a: {at: 1}}\noutcomes:", "actions._a"),
])
def test_names_starting_with_underscore_are_refused(old, new, path):
    """Expressions cannot name ``_x``, so a scenario cannot declare it."""
    text = problems_of(scenario(**{old: new}))
    assert path in text and "'_" in text


def test_underscore_draw_name_is_refused():
    """A draw is read by name in expressions: no leading underscore either."""
    text = problems_of(scenario("actions: {a: {at: 1, draws: {_d: 1}}}\n"))
    assert "actions.a.draws._d" in text


# --- item 3: did-you-mean hints stay near-linear -----------------------------------------------


def test_many_parameters_and_many_misspellings_validate_fast(cli, tmp_path):
    """40,000 parameters and 3,000 misspelt names: errors in seconds, not minutes."""
    lines = ["name: many", "clock: {horizon: 10}", "parameters:"]
    lines += [f"  param_{i:05d}: {i % 7}" for i in range(40_000)]
    lines += ["ladder: [low, high]", "actors:", "  x:", "    vars:"]
    lines += [f"      v{i}: parm_{i:05d} + 1" for i in range(3_000)]
    lines += ["actions:"]
    lines += [f"  a{i}: {{at: 1, effects: [{{fire: acton_{i}}}]}}" for i in range(500)]
    lines += ["outcomes:", "  - {id: quiet, default: true}"]
    (tmp_path / "many.yaml").write_text("\n".join(lines) + "\n")
    out = cli("validate", "many.yaml", timeout=30)
    out.clean_failure()
    assert "unknown name 'parm_00000' (did you mean 'param_00000'?)" in out.stderr
    assert out.stderr.count("unknown name") == 3_000
