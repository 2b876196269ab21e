"""`extends:` deep-merges a variant over its base, relative to the variant's folder."""

from __future__ import annotations

from sim.scenario import load_scenario

BASE = """\
name: base
title: Base
clock: {horizon: 100}
parameters:
  p: {value: 0.5, range: [0, 1]}
  q: {value: 2}
ladder: [low, high]
actors:
  a: {vars: {x: 1, y: 2}}
actions:
  go: {every: 10, effects: [{add: {a.x: 1}}]}
triggers:
  up: {when: a.x > 3, do: [{escalate: 1}]}
  extra: {on: go, do: [{add: {a.y: 1}}]}
outcomes:
  - {id: hot, when: level >= high, terminal: true}
  - {id: calm, default: true, doc: base doc}
"""


def test_variant_merges_over_base(write):
    write(BASE, "base.yaml")
    variant = write(
        """\
        extends: base.yaml
        name: variant
        parameters:
          p: {value: 0.9}
        actors:
          a: {vars: {y: 5}}
        triggers:
          extra: null
        outcomes:
          - {id: calm, doc: variant doc}
          - {id: late, when: t > 50}
        """,
        "variant.yaml",
    )
    sc = load_scenario(variant)
    spec = sc.spec
    assert spec.name == "variant" and spec.title == "Base"
    assert spec.parameters["p"].value == 0.9 and spec.parameters["p"].range == (0, 1)
    assert spec.parameters["q"].value == 2
    assert spec.actors["a"].vars == {"x": 1, "y": 5}
    assert list(spec.triggers) == ["up"]
    assert [o.id for o in spec.outcomes] == ["hot", "calm", "late"]
    assert spec.outcomes[1].doc == "variant doc" and spec.outcomes[1].default
    assert sc.files == ("variant.yaml", "base.yaml")


def test_base_in_another_folder_is_found_relative_to_the_variant(write, tmp_path):
    (tmp_path / "sub").mkdir()
    write(BASE, "base.yaml")
    variant = write("extends: ../base.yaml\nname: v2\n", "sub/v.yaml")
    assert load_scenario(variant).spec.title == "Base"


def test_error_in_base_names_the_base_file(write):
    write(BASE.replace("every: 10", "every: -1"), "base.yaml")
    variant = write("extends: base.yaml\nname: v\n", "variant.yaml")
    import pytest

    from sim.errors import ScenarioError

    with pytest.raises(ScenarioError) as info:
        load_scenario(variant)
    assert [p.file for p in info.value.problems] == ["base.yaml"]
