"""The command line: exit codes, located errors without tracebacks, run output."""

from __future__ import annotations

import json
import subprocess
import sys

from click.testing import CliRunner

from sim.cli import cli

BAD = "name: x\nclock: {horizon: 10}\nladder: [a, b]\noutcomes: [{id: q, defualt: true}]\n"


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_validate_ok(reference_path):
    res = invoke("validate", str(reference_path))
    assert res.exit_code == 0
    assert "3 actors, 5 actions, 3 triggers, 9 parameters, 6 levels, 3 outcomes" in res.output


def test_validate_bad_file_exits_2_with_located_messages(write):
    path = write(BAD)
    res = invoke("validate", str(path))
    assert res.exit_code == 2
    assert res.output.count("scenario.yaml:") == 1
    assert "scenario.yaml:4:20: outcomes[0].defualt: unknown key 'defualt' (did you mean " \
           "'default'?)" in res.output
    assert "Traceback" not in res.output


def test_validate_missing_file_exits_2(write):
    write(BAD)
    res = invoke("validate", "nope.yaml")
    assert res.exit_code == 2 and "nope.yaml: no such file" in res.output


def test_debug_shows_the_traceback(write):
    path = write(BAD)
    proc = subprocess.run([sys.executable, "-m", "sim", "--debug", "show", str(path)],
                          capture_output=True, text=True)
    assert proc.returncode != 0 and "Traceback" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "sim", "show", str(path)],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_show_describes_the_scenario(reference_path):
    res = invoke("show", str(reference_path))
    assert res.exit_code == 0
    for text in ("Parameters", "intercept_prob", "reference rule", "Ladder", "strike_attempt",
                 "retaliate", "direct_clash"):
        assert text in res.output


def test_schema_is_json():
    res = invoke("schema")
    schema = json.loads(res.output)
    assert "actions" in schema["properties"] and "if" in json.dumps(schema)


def test_run_writes_results_and_prints_summary(reference_path, tmp_path):
    out = tmp_path / "r"
    res = invoke("run", str(reference_path), "-n", "300", "--seed", "2", "--out", str(out),
                 "--set", "cut_prob=0.9", "--trace", "-q")
    assert res.exit_code == 0, res.output
    for text in ("Outcomes (95% Wilson interval)", "ceasefire", "Most common paths",
                 "P(reached)"):
        assert text in res.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["parameters"]["cut_prob"] == 0.9 and manifest["trace"] == 300
    assert manifest["command"][:2] == ["escalation", "run"] or manifest["command"]
    again = invoke("run", str(reference_path), "-n", "10", "--out", str(out), "-q")
    assert again.exit_code == 2 and "already holds results" in again.output


def test_run_unknown_parameter_lists_valid_names(reference_path, tmp_path):
    res = invoke("run", str(reference_path), "-n", "10", "--set", "intercept=0.5",
                 "--out", str(tmp_path / "r"))
    assert res.exit_code == 2
    assert "unknown parameter 'intercept' (did you mean 'intercept_prob'?)" in res.output
    assert "clash_prob" in res.output
    assert not (tmp_path / "r").exists()


def test_run_value_out_of_range_names_the_range(reference_path, tmp_path):
    res = invoke("run", str(reference_path), "-n", "10", "--set", "intercept_prob=1.5",
                 "--out", str(tmp_path / "r"))
    assert res.exit_code == 2
    assert "intercept_prob' = 1.5 is outside its range [0.0, 1.0]" in res.output


def test_run_json_summary(reference_path, tmp_path):
    res = invoke("run", str(reference_path), "-n", "100", "--out", str(tmp_path / "r"), "--json")
    assert json.loads(res.output)["runs"] == 100


def test_help_does_not_import_heavy_modules():
    """`escalation --help` stays fast: the CLI module imports no numpy, pydantic or simpy."""
    code = ("import sys, sim.cli; heavy = [m for m in ('numpy', 'pydantic', 'simpy', 'pyarrow',"
            " 'rich') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    assert out.strip() == "[]"


def test_a_refused_run_shows_no_empty_progress_bar(reference_path, tmp_path):
    """A run refused before its runs begin (an existing folder here) printed an empty
    progress bar ('runs 0/2000 0% ... ETA -:--:--') before its error."""
    out = tmp_path / "r"
    first = subprocess.run([sys.executable, "-m", "sim", "run", str(reference_path), "-n",
                            "2000", "--out", str(out), "--executor", "serial"],
                           capture_output=True, text=True, timeout=300)
    assert first.returncode == 0 and "2000/2000" in first.stderr  # the bar of a real run
    again = subprocess.run([sys.executable, "-m", "sim", "run", str(reference_path), "-n",
                            "2000", "--out", str(out)], capture_output=True, text=True,
                           timeout=300)
    assert again.returncode == 2 and "already holds results" in again.stderr
    assert "0/2000" not in again.stderr and "ETA" not in again.stderr, again.stderr


def test_show_marks_the_start_rung_in_words(reference_path):
    """'(start in bold)' meant nothing in a pipe or file, where there is no bold."""
    res = invoke("show", str(reference_path))
    ladder = next(line for line in res.output.splitlines() if line.startswith("Ladder: "))
    assert ladder.count("(start)") == 1 and "bold" not in ladder


def test_compare_prints_each_note_once(reference_path, tmp_path):
    """A comparison's notes were printed twice: in the table's output and on stderr."""
    import sim

    folders = []
    for k, status in enumerate(("complete", "interrupted")):
        out = tmp_path / f"c{k}"
        sim.run_batch(sim.load_scenario(reference_path), 300, k, out=out,
                      execution=sim.Execution(executor="serial"))
        if status == "interrupted":  # compare notes that it is not complete
            manifest = json.loads((out / "manifest.json").read_text())
            manifest["status"] = status
            (out / "manifest.json").write_text(json.dumps(manifest))
        folders.append(str(out))
    done = subprocess.run([sys.executable, "-m", "sim", "compare", *folders],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    both = done.stdout + done.stderr
    assert both.count("is interrupted") == 1, both
    as_json = subprocess.run([sys.executable, "-m", "sim", "compare", *folders, "--json"],
                             capture_output=True, text=True, timeout=300)
    assert "is interrupted" in as_json.stderr and json.loads(as_json.stdout)["notes"]


def test_validate_counts_in_words(tmp_path):
    """'1 actors, 1 triggers' read badly."""
    path = tmp_path / "one.yaml"
    path.write_text("name: one\nclock: {horizon: 10}\nladder: [calm, hot]\n"
                    "actors: {a: {vars: {v: 0}}}\n"
                    "actions:\n  tick: {every: {exponential: {mean: 2}}, "
                    "effects: [{add: {a.v: 1}}]}\n"
                    "triggers:\n  up: {on: tick, probability: 0.1, do: [{escalate: 1}]}\n"
                    "outcomes:\n  - {id: hot, when: level >= hot, terminal: true}\n"
                    "  - {id: calm, default: true}\n")
    res = invoke("validate", str(path))
    assert res.exit_code == 0, res.output
    assert "1 actor, 1 action, 1 trigger, 0 parameters, 2 levels, 2 outcomes" in res.output
