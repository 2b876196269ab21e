"""The scenario library: every file validates with citations, runs, and each variant moves
its target outcome the way its story says (common random numbers, 95% interval)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pytest

import sim
from sim.batch import paired_diff
from sim.scenario.citations import uncited

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
FILES = sorted(p for p in SCENARIOS.rglob("*.yaml") if p.parent.name not in ("sweeps", "observed"))
SWEEPS = sorted((SCENARIOS / "sweeps").glob("*.yaml"))
BASE = SCENARIOS / "bryansk_atacms_2024.yaml"
RUNS, SEED = 2000, 2024


@cache
def outcomes(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    """Each outcome dimension's column (``""`` for a single list) and the summary."""
    res = sim.run_batch(path, RUNS, SEED, workers=2)
    assert res.failed == 0, res.summary.as_dict()["errors"]
    table = res.runs_table()
    columns = {n.partition(".")[2]: table.column(n).to_numpy(zero_copy_only=False)
               for n in table.column_names if n == "outcome" or n.startswith("outcome.")}
    return columns, res.summary.as_dict()


def test_library_has_base_variants_and_another_case():
    names = {p.relative_to(SCENARIOS).as_posix() for p in FILES}
    assert "bryansk_atacms_2024.yaml" in names
    assert len([n for n in names if n.startswith("variants/")]) >= 5
    assert any(n.startswith("other/") for n in names)


@pytest.mark.parametrize("path", FILES, ids=[p.relative_to(SCENARIOS).as_posix() for p in FILES])
def test_validates_with_every_number_cited(path):
    assert uncited(sim.load_scenario(path)) == []


@pytest.mark.parametrize("path", FILES, ids=[p.relative_to(SCENARIOS).as_posix() for p in FILES])
def test_runs_2000_without_error(path):
    columns, summary = outcomes(path)
    assert columns and all(len(c) == RUNS for c in columns.values())
    assert summary["runs"] == RUNS


def test_base_outcomes_are_the_four_dimensions():
    """The base case answers four questions; each dimension's classes share out every run.
    (That every class is reachable is pinned in test_bryansk_model.py.)"""
    columns, summary = outcomes(BASE)
    assert set(summary["outcomes"]) == {
        "war=ceasefire", "war=ongoing", "kursk=lost", "kursk=held", "nuclear=used",
        "nuclear=signalled", "nuclear=none", "nato=clash", "nato=incident", "nato=none"}
    assert set(columns) == {"war", "kursk", "nuclear", "nato"}
    for dim, col in columns.items():
        assert sum(v["count"] for k, v in summary["outcomes"].items()
                   if k.startswith(f"{dim}=")) == RUNS == len(col)


VARIANTS = [
    ("sustained_support", "war=ceasefire", -1),
    ("aid_cut", "war=ceasefire", +1),
    ("strong_air_defence", "war=ceasefire", -1),
    ("weak_air_defence", "kursk=lost", -1),
    ("north_korean_surge", "nato=clash", +1),
    ("early_allied_troops", "nato=clash", +1),
]


@pytest.mark.parametrize(("variant", "target", "sign"), VARIANTS, ids=[v[0] for v in VARIANTS])
def test_variant_moves_its_target(variant, target, sign):
    """Paired per-run difference (variant - base) of the target outcome's indicator has its
    95% interval on the side the variant's story says."""
    path = SCENARIOS / "variants" / f"{variant}.yaml"
    header = path.read_text().split("extends:")[0]
    assert f"{target} {'higher' if sign > 0 else 'lower'}" in header
    dim, _, cls = target.partition("=")
    base, _ = outcomes(BASE)
    moved, _ = outcomes(path)
    diff, lo, hi = paired_diff(base[dim] == cls, moved[dim] == cls)
    assert (lo > 0) if sign > 0 else (hi < 0), (diff, lo, hi)


def test_base_case_traces_the_articles():
    """The facts the articles report are parameters or state, each cited to its article;
    judgements the articles only inform are assumptions; the day-0 state is that of 20
    November 2024."""
    spec = sim.load_scenario(BASE).spec
    p = spec.parameters
    cited = {"kursk_force": (50000, "tactical")}
    for name, (value, ref) in cited.items():
        assert p[name].value == value and p[name].source is not None
        assert p[name].source.ref == ref and p[name].source.evidence, name
    # one side's claim about one salvo is not a rate, and what Ukraine still held on 20
    # November is not in the articles: judgements informed by them
    for name in ("intercept_prob", "kursk_km2"):
        assert p[name].source is None and p[name].assumption, name
    assert p["intercept_prob"].informed_by == "tactical"  # it reports the claim and the damage
    assert p["kursk_km2"].informed_by == "tactical" and p["kursk_km2"].value < 1000
    actors = spec.actors
    assert actors["north_korea"].vars["troops"] == 12000
    assert actors["north_korea"].source.ref == "tactical"
    # the citations of the US and Russia cover only what their excerpts say: the
    # authorisation and the revised doctrine
    assert actors["russia"].vars == {"doctrine_revised": True}
    assert actors["russia"].source.ref == "bold"  # the article that mentions the doctrine
    assert actors["usa"].vars == {"strikes_authorised": True}
    assert actors["usa"].source.ref == "bold"
    assert actors["us_aid"].vars["flowing"] is True and actors["us_aid"].source is None
    assert spec.clock.start.isoformat() == "2024-11-20" and spec.clock.horizon >= 365
    tracks = {t.name: (t.levels, t.levels[t.start]) for t in spec.tracks}
    assert tracks == {
        "intensity": (["frontline", "strategic_strikes", "demonstration", "nuclear_use"],
                      "strategic_strikes"),
        "scope": (["foreign_forces", "reinforced", "allied_troops"], "foreign_forces"),
        "nato": (["nato_quiet", "nato_incident", "nato_clash"], "nato_quiet")}
    # judgements are never tagged as sources
    assert all(q.source is None for q in p.values() if q.assumption)


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.name)
def test_sweep_files_name_a_scenario_and_its_parameters(path):
    from sim.analysis.designs import expand, parse_factor
    from sim.analysis.sweepspec import load_sweep_spec

    spec, scenario = load_sweep_spec(path)
    assert scenario is not None and scenario.is_file()
    sc = sim.load_scenario(scenario)
    points = expand([parse_factor(sc, f) for f in spec.factors()], spec.design, spec.samples)
    assert points and all(sc.resolve_parameters({**spec.set, **p}) for p in points)
