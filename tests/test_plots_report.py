"""Figures and the HTML report, drawn from small real result folders."""

from __future__ import annotations

import html.parser
import re
import shutil
import subprocess
import warnings

import numpy as np
import pytest
from conftest import ROOT
from matplotlib.collections import PathCollection, PolyCollection
from matplotlib.container import ErrorbarContainer
from matplotlib.image import AxesImage
from matplotlib.patches import Rectangle

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
from sim.report import build_report, write_report

BASE = ROOT / "scenarios" / "bryansk_atacms_2024.yaml"


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("plots")
    base = sim.load_scenario(BASE)
    sim.run_batch(base, 1500, 11, executor="serial", trace=5, out=root / "base")
    sim.run_batch(base, 800, 12, {"intercept_prob": 0.95}, executor="serial",
                  out=root / "strong")
    run_sweep(base, ["intercept_prob=0.5:0.95:3"], runs=150, seed=3, executor="serial",
              out=root / "sweep1")
    run_sweep(base, ["intercept_prob=0.5,0.95", "aid_cut_prob=0.05,0.5"], runs=100, seed=3,
              executor="serial", out=root / "sweep2")
    sensitivity(base, "nato=clash", "sobol", ["intercept_prob", "clash_per_incident"],
                samples=8, runs=60, seed=1, executor="serial", out=root / "sens")
    return root, base


def _no_warnings(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = fn(*args, **kwargs)
        data = figure_bytes(fig, "png")
    return fig, data


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def _sane(data: bytes) -> None:
    w, h = _png_size(data)
    assert 600 <= w <= 3000 and 400 <= h <= 3000, (w, h)
    assert len(data) < 2_000_000


def _labels(ax) -> list[str]:
    ax.figure.canvas.draw()
    return [t.get_text() for t in ax.get_xticklabels()]


def test_outcome_bars(folders):
    """One bar per outcome class, over the panels of the outcome dimensions."""
    root, base = folders
    fig, data = _no_warnings(outcome_bars, root / "base")
    bars = [p for ax in fig.axes for p in ax.patches if isinstance(p, Rectangle)]
    assert len(bars) == len(base.spec.outcome_labels)
    summary = sim.load_results(root / "base").batch_summary().as_dict()
    assert sorted(b.get_height() for b in bars) == pytest.approx(
        sorted(o["p"] for o in summary["outcomes"].values()))
    assert any(isinstance(c, ErrorbarContainer) for ax in fig.axes for c in ax.containers)
    titles = [fig.get_suptitle(), *(ax.get_title() for ax in fig.axes)]
    assert any("1,500 runs, seed 11" in t for t in titles)
    assert "probability" in fig.axes[0].get_ylabel()
    _sane(data)


def test_occupancy_bands_stack_to_one_with_dates(folders):
    """On every track, every run is at one of its rungs or has ended, at every time."""
    root, base = folders
    fig, data = _no_warnings(occupancy_bands, root / "base")
    tl = sim.load_results(root / "base").timeline.to_pandas()
    ended = [c for c in tl.columns if c.startswith("ended.")]
    panels = [ax for ax in fig.axes if ax.get_title(loc="left").endswith("track")]
    assert len(panels) == len(base.spec.tracks)
    for ax, track in zip(panels, base.spec.tracks, strict=True):
        at = [f"at.{rung}" for rung in track.levels]
        polys = [c for c in ax.collections if isinstance(c, PolyCollection)]
        shown = [c for c in at + ended if tl[c].any()]
        assert len(polys) == len(shown), track.name
        assert (tl[at + ended].sum(axis=1) == tl["runs"]).all(), track.name
    assert fig.axes[len(panels) - 1].get_xlabel() == "date"
    assert any("2025" in label for label in _labels(fig.axes[len(panels) - 1]))
    _sane(data)


def test_reach_curves_one_line_per_level_above_start(folders):
    root, base = folders
    fig, data = _no_warnings(reach_curves, root / "base")
    summary = sim.load_results(root / "base").batch_summary().as_dict()
    assert len(fig.axes) == len(base.spec.tracks)
    for ax, track in zip(fig.axes, base.spec.tracks, strict=True):
        above = track.levels[track.start + 1:]
        assert len(ax.lines) == len(above), track.name
        for line, lv in zip(ax.lines, above, strict=True):
            y = line.get_ydata()
            assert np.all(np.diff(y) >= 0)  # cumulative
            assert y[-1] == pytest.approx(summary["levels"][lv]["p"], abs=1e-12)
    _sane(data)


def test_path_icicle_columns_partition_the_runs(folders):
    root, _ = folders
    fig, data = _no_warnings(path_icicle, root / "base")
    ax = fig.axes[0]
    first = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_x() == 0]
    assert sum(p.get_height() for p in first) == pytest.approx(1.0)
    assert "distinct" in ax.get_title()
    _sane(data)


def test_run_timeline(folders):
    root, _ = folders
    fig, data = _no_warnings(run_timeline, root / "base", 2)
    top, bottom = fig.axes[:2]
    events = sim.load_results(root / "base").events.to_pandas()
    lanes = events[(events.run == 2) & events.kind.isin(["action", "trigger"])].name.nunique()
    assert len(bottom.get_yticks()) == lanes
    assert len([c for c in bottom.collections if isinstance(c, PathCollection)]) == lanes
    assert len(top.lines) >= 1 and top.get_title().startswith("Run 2: ends in")
    _sane(data)
    with pytest.raises(sim.ResultsError, match="run 99 was not traced; traced runs: 0, 1"):
        run_timeline(root / "base", 99)
    with pytest.raises(sim.ResultsError, match="rerun with --trace"):
        run_timeline(root / "strong", 0)


def test_sweep_figures(folders):
    root, base = folders
    fig, data = _no_warnings(sweep_figure, root / "sweep1")
    ax = fig.axes[0]
    n = len(base.spec.outcome_labels)
    assert len(ax.lines) == n
    assert len([c for c in ax.collections if isinstance(c, PolyCollection)]) == n
    assert ax.get_xlabel() == "intercept_prob (probability)"  # the unit its doc line gives
    _sane(data)
    fig, data = _no_warnings(sweep_figure, root / "sweep2")
    images = [im for a in fig.axes for im in a.images if isinstance(im, AxesImage)]
    assert len(images) == n and images[0].get_array().shape == (2, 2)
    _sane(data)


def test_sensitivity_and_compare_figures(folders):
    root, base = folders
    fig, data = _no_warnings(sensitivity_bars, root / "sens")
    bars = [p for p in fig.axes[0].patches if isinstance(p, Rectangle)]
    assert len(bars) == 2 * 2  # total and first order for two parameters
    _sane(data)
    fig, data = _no_warnings(compare_bars, [root / "base", root / "strong"])
    bars = [p for p in fig.axes[0].patches if isinstance(p, Rectangle)]
    assert len(bars) == 2 * len(base.spec.outcome_labels)
    _sane(data)


def test_default_figures_fit_the_folder(folders):
    root, _ = folders
    assert set(figures_for(root / "base")) == {"outcomes", "occupancy", "reach", "paths"}
    assert set(figures_for(root / "base", run=1)) == {"outcomes", "occupancy", "reach", "paths",
                                                      "run-1"}
    assert set(figures_for(root / "sweep1")) == {"sweep"}
    assert set(figures_for(root / "sens")) == {"sensitivity"}
    svg = figure_bytes(outcome_bars(root / "base"), "svg")
    assert svg.lstrip().startswith(b"<?xml") and b"<svg" in svg
    assert figure_bytes(outcome_bars(root / "base"), "pdf")[:5] == b"%PDF-"


class _Checker(html.parser.HTMLParser):
    """Balanced tags, one html/head/body, and every image embedded."""

    VOID = frozenset({"meta", "img", "br", "hr", "link", "input"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.images: list[str] = []
        self.seen: list[str] = []
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.seen.append(tag)
        if tag == "img":
            self.images.append(dict(attrs).get("src", ""))
            if not dict(attrs).get("alt"):
                self.problems.append("img without alt")
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes <{self.stack[-1] if self.stack else ''}>")
        else:
            self.stack.pop()


def test_report_is_valid_self_contained_html(folders, tmp_path):
    root, base = folders
    text = build_report(root / "base", run=1)
    assert text.startswith("<!DOCTYPE html>")
    checker = _Checker()
    checker.feed(text)
    checker.close()
    assert not checker.problems and not checker.stack
    assert checker.seen.count("html") == checker.seen.count("body") == 1
    assert len(checker.images) == 5  # outcomes, occupancy, reach, paths, run 1
    assert all(src.startswith("data:image/png;base64,") for src in checker.images)
    assert not re.search(r'(src|href)="(https?:)?//', text)
    for name in base.spec.parameters:
        assert f"<code>{name}</code>" in text
    assert "<strong>assumption</strong>" in text and "Ukraine Fires U.S.-Made" in text
    out = write_report(root / "sweep1", tmp_path / "sweep.html")
    assert out.read_text().count("<img") == 1


def test_report_loads_in_headless_chromium(folders, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("Debian's chromium is not installed: the browser check was not run "
                    "(.ci/run installs it)")
    root, _ = folders
    page = write_report(root / "base", tmp_path / "report.html", run=1)
    done = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
         "--v=0", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "<h1>ATACMS strikes on Bryansk" in done.stdout
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    assert console == []


def test_cli_plot_and_report(folders, tmp_path):
    from click.testing import CliRunner

    from sim.cli import cli

    root, _ = folders
    runner = CliRunner()
    res = runner.invoke(cli, ["plot", str(root / "base"), "--out", str(tmp_path / "p"),
                              "--format", "svg", "--kind", "outcomes", "--kind", "paths"])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == ["outcomes.svg", "paths.svg"]
    res = runner.invoke(cli, ["plot", str(root / "base"), str(root / "strong"), "--out",
                              str(tmp_path / "c")])
    assert res.exit_code == 0 and (tmp_path / "c" / "compare.png").is_file()
    res = runner.invoke(cli, ["report", str(root / "base"), "--out", str(tmp_path / "r.html")])
    assert res.exit_code == 0 and (tmp_path / "r.html").stat().st_size > 10_000
    res = runner.invoke(cli, ["plot", str(tmp_path / "nothing")])
    assert res.exit_code == 2 and "no such results folder" in res.output


def test_occupancy_follows_a_level_down_and_an_early_end(write):
    sc = sim.load_scenario(write("""\
        name: updown
        clock: {horizon: 10}
        ladder: [l0, l1, l2]
        actions:
          up: {at: 2, effects: [{escalate: 1}]}
          down: {at: 5, effects: [{escalate: -1}]}
          stop: {at: 8, effects: [{end: halt}]}
        outcomes:
          - {id: halt, terminal: true}
          - {id: other, default: true}
        """))
    res = sim.run_batch(sc, 7, 0, executor="serial")
    occ = res.aggregate.occupancy
    # t = 0..10: l0 at 0,1 and 5,6,7; l1 at 2,3,4; ended (halt) from 8
    assert occ[0].tolist() == [7, 7, 0, 0, 0, 7, 7, 7, 0, 0, 0]
    assert occ[1].tolist() == [0, 0, 7, 7, 7, 0, 0, 0, 0, 0, 0]
    assert occ[3].tolist() == [0] * 8 + [7, 7, 7]


def test_timeline_is_the_same_for_any_executor(reference_path):
    a = sim.run_batch(reference_path, 3000, 5, executor="serial", chunk_size=1000)
    b = sim.run_batch(reference_path, 3000, 5, executor="processes", workers=2, chunk_size=300)
    np.testing.assert_array_equal(a.aggregate.occupancy, b.aggregate.occupancy)
