"""Figures and the report for scenarios with several escalation tracks and several outcome
dimensions: one panel per track or dimension, each with its own rungs or classes, colours
named in legends, each dimension summing to 100%, and the report grouped the same way."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from itertools import combinations
from typing import Any

import numpy as np
import pytest
from conftest import ROOT
from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_hex
from matplotlib.container import BarContainer
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.text import Text

import sim
from sim.analysis.sensitivity import sensitivity
from sim.analysis.sweeps import run_sweep
from sim.plots import (
    compare_bars,
    figure_bytes,
    figures_for,
    occupancy_bands,
    outcome_bars,
    path_icicle,
    reach_curves,
    run_timeline,
    sensitivity_bars,
    sweep_figure,
)
from sim.plots.style import SMALL, new_figure
from sim.report import build_report

TRACKS = ROOT / "scenarios" / "examples" / "tracks.yaml"
DIMENSIONS = ROOT / "scenarios" / "examples" / "dimensions.yaml"
RUNG_TRACKS = {"intensity": ["skirmishes", "heavy_strikes", "strategic_strikes"],
               "scope": ["bilateral", "regional", "alliance"]}
DIMS = {"war": ["ceasefire", "ongoing"], "salient": ["lost", "held"],
        "nuclear": ["used", "signalled", "none"]}


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("language2")
    tracks = sim.load_scenario(TRACKS)
    dims = sim.load_scenario(DIMENSIONS)
    serial = {"executor": "serial"}
    sim.run_batch(tracks, 600, 3, trace=3, out=root / "tracks", **serial)
    sim.run_batch(dims, 600, 3, trace=3, out=root / "dims", **serial)
    sim.run_batch(dims, 400, 3, {"talks_rate": 0.005}, out=root / "talks", **serial)
    run_sweep(dims, ["talks_rate=0:0.01:3"], runs=60, seed=3, out=root / "sweep1", **serial)
    run_sweep(dims, ["talks_rate=0:0.01:2", "signal_rate=0:0.01:2"], runs=40, seed=3,
              out=root / "sweep2", **serial)
    run_sweep(tracks, ["strike_rate=0.01:0.2:3"], runs=60, seed=3, out=root / "tsweep",
              **serial)
    sensitivity(dims, "war=ceasefire", "sobol", ["talks_rate", "signal_rate"], samples=4,
                runs=20, seed=1, out=root / "sens", **serial)
    return root


def _draw(make: Callable[[], Figure]) -> Figure:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = make()
        data = figure_bytes(fig, "png")
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    fig.canvas.draw()
    return fig


def _panels(fig: Figure) -> list[Axes]:
    """The figure's main panels (not colourbars, not the insets, which are child axes)."""
    return [ax for ax in fig.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]


def _legend_texts(ax: Axes) -> list[str]:
    legend = ax.get_legend()
    return [t.get_text() for t in legend.get_texts()] if legend else []


def _words(name: str) -> str:
    return name.replace("_", " ")


def _hidden_ticks(fig: Figure) -> set[int]:
    """Tick labels matplotlib keeps but does not draw (outside the view)."""
    out = set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            pad = (hi - lo) * 1e-9
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                if not lo - pad <= tick.get_loc() <= hi + pad:
                    out.update({id(tick.label1), id(tick.label2)})
    return out


def _visible(artist: Any) -> bool:
    while artist is not None:
        if not artist.get_visible():
            return False
        artist = getattr(artist, "axes", None) if not isinstance(artist, Axes) else None
    return True


def _shown_texts(fig: Figure) -> list[Text]:
    """The texts drawn: visible, not empty, in a visible axes, ticks in view."""
    hidden = _hidden_ticks(fig)
    return [t for t in fig.findobj(Text) if t.get_text().strip() and _visible(t)
            and id(t) not in hidden]


def _check_layout(fig: Figure, what: str) -> None:
    """No text under 9 pt, none crossing the figure's edge, no two overlapping, and the
    figure narrow enough for the report's page."""
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    shown = _shown_texts(fig)
    assert min(t.get_fontsize() for t in shown) >= SMALL, what
    assert fig.get_size_inches()[0] * 96 <= 1100, what
    boxes = [(t, t.get_window_extent(renderer)) for t in shown]
    edge = fig.bbox
    for t, b in boxes:
        assert (b.x0 >= edge.x0 - 0.5 and b.y0 >= edge.y0 - 0.5 and b.x1 <= edge.x1 + 0.5
                and b.y1 <= edge.y1 + 0.5), f"{what}: {t.get_text()!r} is cut by the edge"
    for (t1, b1), (t2, b2) in combinations(boxes, 2):
        w = min(b1.x1, b2.x1) - max(b1.x0, b2.x0)
        h = min(b1.y1, b2.y1) - max(b1.y0, b2.y0)
        assert w <= 1 or h <= 1, f"{what}: {t1.get_text()!r} overlaps {t2.get_text()!r}"


def _fill(patch: Any) -> str:
    return to_hex(patch.get_facecolor())


# --- outcome bars ------------------------------------------------------------------------


def test_outcome_bars_one_panel_per_dimension_each_summing_to_one(folders: Any) -> None:
    fig = _draw(lambda: outcome_bars(folders / "dims"))
    panels = _panels(fig)
    assert [ax.get_title() for ax in panels] == list(DIMS)
    summary = sim.load_results(folders / "dims").batch_summary()
    colours: dict[str, str] = {}
    for ax, (dim, classes) in zip(panels, DIMS.items(), strict=True):
        bars = [c for c in ax.containers if isinstance(c, BarContainer)]
        labels = [c.get_label() for c in bars]
        assert labels == [f"{dim}={c}" for c in classes]
        assert [t.get_text() for t in ax.get_xticklabels()] == classes
        heights = [c.patches[0].get_height() for c in bars]
        assert sum(heights) == pytest.approx(1.0, abs=1e-9)
        assert heights == pytest.approx([summary.outcomes[lb].p for lb in labels])
        fills = [_fill(c.patches[0]) for c in bars]
        assert len(set(fills)) == len(fills)  # the classes of a dimension differ
        colours |= dict(zip(labels, fills, strict=True))
    assert panels[1].get_shared_y_axes().joined(panels[0], panels[1])
    assert "one panel per outcome dimension" in fig.get_suptitle()  # type: ignore[attr-defined]
    # the same label has the same colour in the occupancy figure's legend
    occ = _draw(lambda: occupancy_bands(folders / "dims"))
    legend = occ.axes[0].get_legend()
    for handle, text in zip(legend.legend_handles, legend.get_texts(), strict=True):
        label = text.get_text().rpartition(" (")[0].replace(": ", "=")
        if label in colours:
            assert _fill(handle) == colours[label], label
    _check_layout(fig, "outcomes")


def test_outcome_bars_compose_into_a_figure_and_refuse_one_axes(folders: Any) -> None:
    fig = new_figure(11, 8)
    top, bottom = fig.subfigures(2, 1)
    assert outcome_bars(folders / "dims", fig=top) is fig
    assert len(top.axes) == len(DIMS)
    with pytest.raises(sim.ResultsError, match="pass fig="):
        outcome_bars(folders / "dims", ax=bottom.add_subplot())
    single = new_figure(6, 4)
    ax = single.add_subplot()
    assert outcome_bars(folders / "tracks", ax=ax) is single  # one dimension: one axes
    assert len(ax.patches) == 3


# --- occupancy ---------------------------------------------------------------------------


def test_occupancy_one_panel_per_track_with_its_rungs(folders: Any) -> None:
    fig = _draw(lambda: occupancy_bands(folders / "tracks"))
    panels = _panels(fig)
    assert len(panels) == len(RUNG_TRACKS)
    tl = sim.load_results(folders / "tracks").timeline.to_pandas()
    ended = [c for c in tl.columns if c.startswith("ended.") and tl[c].any()]
    for ax, (track, rungs) in zip(panels, RUNG_TRACKS.items(), strict=True):
        assert ax.get_title(loc="left") == f"{track} track"
        legend = _legend_texts(ax)
        shown = [r for r in rungs if tl[f"at.{r}"].any()]
        assert {_words(r) for r in shown} <= set(legend)
        others = [r for t, rs in RUNG_TRACKS.items() if t != track for r in rs]
        assert not {_words(r) for r in others} & set(legend)
        assert f"under way, at {track} level" in legend
        polys = [c for c in ax.collections if isinstance(c, PolyCollection)]
        assert len(polys) == len(shown) + len(ended)
        named = {_fill(h) for h in ax.get_legend().legend_handles if h.get_visible()}
        assert {to_hex(c.get_facecolor()[0]) for c in polys} <= named  # each panel's own
        # each track's rungs and the ended runs hold every run at every time
        states = tl[[f"at.{r}" for r in rungs] + ended].sum(axis=1)
        assert (states == tl["runs"]).all()
    assert panels[0].get_shared_x_axes().joined(panels[0], panels[1])
    assert panels[0].get_xlabel() == "" and panels[-1].get_xlabel() == "time (days)"
    bars = panels[-1].child_axes  # the horizon bar beside the last panel only
    assert len(bars) == 1 and not panels[0].child_axes
    heights = [p.get_height() for p in bars[0].patches]
    assert sum(heights) == pytest.approx(1.0)
    _check_layout(fig, "occupancy-tracks")
    with pytest.raises(sim.ResultsError, match="pass fig="):
        occupancy_bands(folders / "tracks", ax=new_figure().add_subplot())
    sub = new_figure(10, 8).subfigures(1, 1)
    assert occupancy_bands(folders / "tracks", fig=sub) is sub.get_figure(root=True)


def test_occupancy_one_horizon_bar_per_dimension(folders: Any) -> None:
    fig = _draw(lambda: occupancy_bands(folders / "dims"))
    (ax,) = _panels(fig)
    (bar,) = ax.child_axes
    assert [t.get_text() for t in bar.get_xticklabels()] == list(DIMS)
    summary = sim.load_results(folders / "dims").batch_summary()
    for k, (dim, classes) in enumerate(DIMS.items()):
        mine = [p for p in bar.patches if round(p.get_x() + p.get_width() / 2) == k]
        assert sum(p.get_height() for p in mine) == pytest.approx(1.0)
        expected = sorted(summary.outcomes[f"{dim}={c}"].p for c in classes
                          if summary.outcomes[f"{dim}={c}"].count)
        assert sorted(p.get_height() for p in mine) == pytest.approx(expected)
    legend = _legend_texts(ax)
    assert any(t.startswith("war: ceasefire (") for t in legend)  # ended before the horizon
    for dim, classes in DIMS.items():
        for c in classes:
            if summary.outcomes[f"{dim}={c}"].count:
                assert any(t.startswith(f"{dim}: {c} (") for t in legend), (dim, c)
    _check_layout(fig, "occupancy-dims")


# --- reach -------------------------------------------------------------------------------


def test_reach_curves_one_panel_per_track(folders: Any) -> None:
    fig = _draw(lambda: reach_curves(folders / "tracks"))
    panels = _panels(fig)
    assert len(panels) == len(RUNG_TRACKS)
    summary = sim.load_results(folders / "tracks").batch_summary()
    assert summary.tracks == RUNG_TRACKS
    for ax, (track, rungs) in zip(panels, RUNG_TRACKS.items(), strict=True):
        above = rungs[1:]  # both tracks start on their first rung
        assert len(ax.lines) == len(above)
        legend = _legend_texts(ax)
        assert [t.rpartition(" (")[0] for t in legend] == [_words(r) for r in above]
        assert ax.get_legend().get_title().get_text().startswith(f"{track} level")
        for line, rung in zip(ax.lines, above, strict=True):
            y = np.asarray(line.get_ydata())
            assert np.all(np.diff(y) >= 0)
            assert y[-1] == pytest.approx(summary.levels[rung].p, abs=1e-12)
    _check_layout(fig, "reach-tracks")
    with pytest.raises(sim.ResultsError, match="pass fig="):
        reach_curves(folders / "tracks", ax=new_figure().add_subplot())
    single = new_figure(8, 5)
    ax = single.add_subplot()
    assert reach_curves(folders / "dims", ax=ax) is single and len(ax.lines) == 2


# --- paths -------------------------------------------------------------------------------


def test_path_icicle_with_tracks_names_each_tracks_rungs(folders: Any) -> None:
    fig = _draw(lambda: path_icicle(folders / "tracks"))
    ax = fig.axes[0]
    legend = ax.get_legend()
    names = [t.get_text() for t in legend.get_texts()]
    assert {"intensity level", "scope level"} <= set(names)
    drawn = {(_fill(p), p.get_hatch() or "") for p in ax.patches}
    named = {(_fill(h), h.get_hatch() or "") for h, t in
             zip(legend.legend_handles, legend.get_texts(), strict=True)
             if h is not None and h.get_visible()}
    assert drawn <= named  # every fill drawn (grey and hatch of its track) is in the legend
    intensity = [_fill(h) for h, t in zip(legend.legend_handles, legend.get_texts(),
                                          strict=True)
                 if t.get_text() in {_words(r) for r in RUNG_TRACKS["intensity"]}]
    assert intensity
    first = [p for p in ax.patches if p.get_x() == 0]
    assert sum(p.get_height() for p in first) == pytest.approx(1.0)
    labels = [t.get_text() for t in ax.texts if t.get_text().strip()]
    assert labels and not any(":" in t for t in labels)  # rungs named without their track
    assert "skirmishes (intensity) and bilateral (scope)" in ax.get_xlabel()
    _check_layout(fig, "paths-tracks")


def test_path_icicle_with_dimensions_names_each_ending(folders: Any) -> None:
    fig = _draw(lambda: path_icicle(folders / "dims"))
    ax = fig.axes[0]
    names = _legend_texts(ax)
    assert {"war: ceasefire", "war: ongoing"} <= set(names)
    legend = ax.get_legend()
    named = {_fill(h) for h in legend.legend_handles if h is not None and h.get_visible()}
    assert {_fill(p) for p in ax.patches} <= named
    assert "else its war class" in ax.get_xlabel()
    _check_layout(fig, "paths-dims")


# --- one run -----------------------------------------------------------------------------


def test_run_timeline_draws_a_line_per_track(folders: Any) -> None:
    fig = _draw(lambda: run_timeline(folders / "tracks", 0))
    top = fig.axes[0]
    steps = [ln for ln in top.lines if not ln.get_label().startswith("_")]
    assert [ln.get_label() for ln in steps] == list(RUNG_TRACKS)
    rungs = sim.load_results(folders / "tracks").runs.to_pandas().set_index("run")
    for line, track in zip(steps, RUNG_TRACKS, strict=True):  # each line ends on its rung
        final = rungs.loc[0, f"final_level.{track}"]
        assert [t.get_text() for t in top.get_yticklabels()
                if t.get_position()[1] == line.get_ydata()[-1]] == [_words(final)]
    assert _legend_texts(top) == list(RUNG_TRACKS)
    ticks = [t.get_text() for t in top.get_yticklabels() if t.get_text()]
    assert ticks == [_words(r) for rs in RUNG_TRACKS.values() for r in rs]
    _check_layout(fig, "run-tracks")
    fig = _draw(lambda: run_timeline(folders / "dims", 1))
    title = fig.axes[0].get_title()
    runs = sim.load_results(folders / "dims").runs.to_pandas().set_index("run")
    for dim in DIMS:
        assert f"{dim}: {runs.loc[1, f'outcome.{dim}']}" in title


# --- compare, sweeps, sensitivity --------------------------------------------------------


def test_compare_bars_group_the_dimensions(folders: Any) -> None:
    fig = _draw(lambda: compare_bars([folders / "dims", folders / "talks"]))
    left, right = fig.axes[:2]
    ticks = [t.get_text() for t in left.get_xticklabels()]
    assert ticks == [f"{d}:\n{c}" for d, cs in DIMS.items() for c in cs]
    assert [t.get_text() for t in right.get_yticklabels()] == \
        [f"{d}: {c}" for d, cs in DIMS.items() for c in cs]
    rules = [ln for ln in left.lines if ln.get_linestyle() == "--"]
    assert len(rules) == len(DIMS) - 1
    legend = _legend_texts(left)
    assert any("talks_rate=0.005" in t for t in legend)
    bars = [p for p in left.patches if isinstance(p, Rectangle)]
    assert len(bars) == 2 * sum(len(c) for c in DIMS.values())
    first = bars[:len(bars) // 2]  # the first folder's bars, outcome by outcome
    start = 0
    for classes in DIMS.values():
        assert sum(b.get_height() for b in first[start:start + len(classes)]) == \
            pytest.approx(1.0)
        start += len(classes)
    _check_layout(fig, "compare-dims")


def test_sweep_figures_name_outcomes_by_dimension(folders: Any) -> None:
    fig = _draw(lambda: sweep_figure(folders / "sweep1"))
    ax = fig.axes[0]
    labels = [ln.get_label() for ln in ax.lines]
    assert labels == [f"{d}: {c}" for d, cs in DIMS.items() for c in cs]
    colours = [ln.get_color() for ln in ax.lines]
    assert len(set(colours)) == len(colours)
    _check_layout(fig, "sweep-1")
    fig = _draw(lambda: sweep_figure(folders / "sweep2"))
    heat = [a for a in fig.axes if a.images]
    titles = [a.get_title() for a in heat]
    assert titles == [f"{d}: {c}" for d, cs in DIMS.items() for c in cs]
    rows = [sorted({round(a.get_position().y0, 3) for a in heat
                    if a.get_title().startswith(f"{d}:")}) for d in DIMS]
    assert all(len(r) == 1 for r in rows)  # a dimension's classes share a row
    assert len({r[0] for r in rows}) == len(DIMS)  # and each dimension has its own
    _check_layout(fig, "sweep-2")
    fig = _draw(lambda: sensitivity_bars(folders / "sens"))
    assert "P(war: ceasefire)" in fig.axes[0].get_title()
    fig = _draw(lambda: sweep_figure(folders / "tsweep"))
    assert len(fig.axes[0].lines) == 3


# --- the report --------------------------------------------------------------------------


def _section(html: str, start: str, end: str) -> str:
    i = html.index(start)
    return html[i:html.index(end, i + len(start))]


def test_report_groups_the_ladder_by_track(folders: Any) -> None:
    html = build_report(folders / "tracks", run=0)
    assert html.count("<img") == 5
    summary = sim.load_results(folders / "tracks").batch_summary()
    for track, rungs in RUNG_TRACKS.items():
        heading = f"Escalation track: {track} (starts at {rungs[0]})</h4>"
        assert heading in html
        table = _section(html, heading, "</table>")
        cells = re.findall(r"<tr><td>(\w+)</td><td class=\"n\">([\d.]+)</td>", table)
        assert [c[0] for c in cells] == rungs
        for rung, p in cells:
            assert float(p) == pytest.approx(summary.levels[rung].p, abs=5e-4)
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", html)
    assert len(captions) == 5
    assert sum("one panel per escalation track (intensity, scope)" in c
               for c in captions) == 2  # occupancy and reach
    assert "rung on each escalation track (intensity, scope)" in captions[-1]


def test_report_groups_the_outcomes_by_dimension(folders: Any) -> None:
    html = build_report(folders / "dims")
    assert html.count("<img") == 4
    assert "<h3>Outcomes, by dimension</h3>" in html
    for dim, classes in DIMS.items():
        heading = f"Outcome dimension: {dim}</h4>"
        assert heading in html
        table = _section(html, heading, "</table>")
        cells = re.findall(r"<tr><td>(\w+)</td><td class=\"n\">[\d,]+</td>"
                           r"<td class=\"n\">([\d.]+)</td>", table)
        assert [c[0] for c in cells] == classes
        assert sum(float(p) for _, p in cells) == pytest.approx(1.0, abs=2e-3)
    assert "<h3>Escalation ladder</h3>" in html  # a single ladder, as before
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", html)
    assert "one panel per outcome dimension (war, salient, nuclear)" in captions[0]
    assert "one bar per outcome dimension (war, salient, nuclear)" in captions[1]
    assert set(figures_for(folders / "dims")) == {"outcomes", "occupancy", "reach", "paths"}


WIDE = """\
name: wide
clock: {unit: day, start: 2024-11-20, horizon: 120}
parameters:
  rate: {value: 0.05, range: [0, 0.2], assumption: illustration}
ladders:
  intensity:
    rungs: [fighting_along_the_front, strategic_strikes_on_the_energy_grid, demo]
    start: strategic_strikes_on_the_energy_grid
  scope: {rungs: [foreign_forces_fighting_in_kursk, reinforcements_arrived]}
  nato: {rungs: [nato_quiet_with_no_open_incident, nato_incident_open]}
actions:
  step: {rate: rate, milestone: true, effects: [{escalate: {track: scope, by: 1}}]}
  spill: {rate: rate, effects: [{raise_to: nato_incident_open}]}
  calm: {rate: rate, effects: [{end: war=ceasefire}]}
outcomes:
  war: [{id: ceasefire, terminal: true}, {id: ongoing, default: true}]
  kursk: [{id: lost, when: level.scope >= reinforcements_arrived}, {id: held, default: true}]
  nuclear: [{id: used, when: level.intensity >= demo}, {id: signalled, when: "t < 0"},
            {id: none, default: true}]
  nato: [{id: clash, when: "t < 0"}, {id: incident, when: level.nato >= nato_incident_open},
         {id: none, default: true}]
"""


def test_three_tracks_and_ten_classes_stay_inside_and_apart(tmp_path: Any) -> None:
    """Regression: with three tracks the paths caption ran past the figure's left edge, and
    with ten outcome classes the compare figure's tick labels overlapped."""
    path = tmp_path / "wide.yaml"
    path.write_text(WIDE, encoding="utf-8")
    serial = {"executor": "serial"}
    sim.run_batch(path, 300, 1, out=tmp_path / "a", **serial)
    sim.run_batch(path, 300, 1, {"rate": 0.1}, out=tmp_path / "b", **serial)
    paths = _draw(lambda: path_icicle(tmp_path / "a"))
    _check_layout(paths, "paths")
    assert len(paths.axes[0].get_xlabel().splitlines()) >= 3  # wrapped to the width
    compare = _draw(lambda: compare_bars([tmp_path / "a", tmp_path / "b"]))
    assert len(compare.axes[0].get_xticklabels()) == 10
    _check_layout(compare, "compare")
