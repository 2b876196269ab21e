"""The safe YAML reader: located syntax errors, refused tags/aliases/duplicates, YAML 1.2."""

from __future__ import annotations

import time

import pytest

from sim.errors import ScenarioError
from sim.scenario import load_scenario
from sim.scenario.yamlfile import MAX_DEPTH, parse_yaml


def messages(path) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    return [str(p) for p in info.value.problems]


def test_syntax_error_is_located(write):
    """A YAML syntax error names the file, line and column."""
    path = write("name: x\nclock: {horizon: 10\nladder: [a, b]\n")
    assert messages(path) == [
        "scenario.yaml:3:7: YAML syntax error: a { ... } mapping is not closed, or two of its "
        "entries lack a comma between them (it starts at line 2)"]


def test_python_tag_is_refused_not_constructed(write, tmp_path):
    """A !!python tag is reported and never constructed."""
    marker = tmp_path / "pwned"
    path = write(
        "name: x\n"
        f"title: !!python/object/apply:os.system ['touch {marker}']\n"
        "clock: {horizon: 10}\nladder: [a, b]\noutcomes: [{id: q, default: true}]\n"
    )
    msgs = messages(path)
    assert any(":2:8: tag 'tag:yaml.org,2002:python/object/apply:os.system' is not allowed"
               in m for m in msgs), msgs
    assert not marker.exists()


def test_alias_bomb_is_refused_quickly(write):
    """Anchors and aliases are refused, so a billion-laughs file costs nothing."""
    lines = ["name: bomb", "a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    path = write("\n".join(lines) + "\n")
    t0 = time.perf_counter()
    msgs = messages(path)
    assert time.perf_counter() - t0 < 2.0
    assert "scenario.yaml:2:5: anchors and aliases (&, *) are not allowed: write values out" \
        in msgs


@pytest.mark.parametrize("flow", [True, False])
def test_deep_nesting_is_a_clean_error(write, flow):
    """500-deep nesting gives a located error, never a RecursionError."""
    if flow:
        text = "name: " + "[" * 500 + "]" * 500 + "\n"
    else:
        text = "name:\n" + "".join("  " * i + "- \n" for i in range(1, 501))
    msgs = messages(write(text))
    assert len(msgs) == 1
    assert f"nesting deeper than {MAX_DEPTH} levels" in msgs[0]


def test_duplicate_key_is_reported_with_both_lines(write):
    """A duplicate key is an error naming where the first one was."""
    path = write("name: x\nclock: {horizon: 10}\nname: y\nladder: [a, b]\n"
                 "outcomes: [{id: q, default: true}]\n")
    assert messages(path) == [f"{path.name}:3:1: duplicate key 'name' (first at line 1)"]


def test_yaml_11_traps_stay_text():
    """YAML 1.2: no, on, yes stay text; true/false are booleans; 0x and 0o are integers."""
    tree, problems = parse_yaml("a: no\nb: on\nc: yes\nd: true\ne: 0x1F\nf: 0o17\ng: 1e3\n"
                                "h: 010\ni: .inf\nj: ~\n", "f.yaml")
    assert problems == []
    assert tree == {"a": "no", "b": "on", "c": "yes", "d": True, "e": 31, "f": 15,
                    "g": 1000.0, "h": 10, "i": float("inf"), "j": None}


def test_no_is_a_valid_string_where_a_string_is_expected(write):
    """`title: no` loads as the text 'no'."""
    path = write("name: x\ntitle: no\nclock: {horizon: 10}\nladder: [a, b]\n"
                 "outcomes: [{id: q, default: true}]\n")
    assert load_scenario(path).spec.title == "no"


def test_several_documents_are_refused(write):
    path = write("name: x\n---\nname: y\n")
    assert any("only one YAML document" in m for m in messages(path))


def test_top_level_must_be_a_mapping(write):
    assert messages(write("- a\n- b\n")) == ["scenario.yaml:1:1: a scenario file must be a "
                                             "mapping of keys"]
