"""Rich rendering of scenarios and batch summaries for the command line."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from sim.batch import BatchResult
from sim.batch.aggregate import dimensions_of
from sim.formatting import (
    ClockInfo,
    fmt_diff,
    fmt_interval,
    fmt_num,
    fmt_p,
    fmt_small,
    title_with_overrides,
)
from sim.results.folder import SENSITIVITY, SWEEP
from sim.results.summary import Summary
from sim.scenario import Scenario
from sim.scenario.describe import (
    citation,
    describe_dist,
    describe_effect,
    describe_timing,
    describe_trigger,
)

if TYPE_CHECKING:  # only annotations: escalation run need not import the analyses
    from sim.analysis.backtest import Backtest
    from sim.analysis.calibrate import Calibration
    from sim.analysis.joint import Joint

__all__ = ["print_comparison", "print_discovery", "print_sensitivity", "print_summary",
           "print_sweep", "progress_bar",
           "render_scenario"]


@contextlib.contextmanager
def progress_bar(total: int | None, disable: bool = False
                 ) -> Iterator[Callable[[int, int], None]]:
    """A progress bar over runs (done/total, runs/s, ETA); yields the update callback.

    With ``total=None`` the total is taken from the callback's second argument."""
    columns = (
        TextColumn("[bold]runs"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    bar = Progress(*columns, console=Console(stderr=True), disable=disable, transient=False)
    task = bar.add_task("runs", total=total, rate="")
    started: list[tuple[float, int]] = []  # when and from how many runs (a resume's)

    def advance(done: int, _total: int) -> None:
        t = bar.get_time()
        if not started:  # runs begin (from a resume's runs already done): the bar shows
            started.append((t, done))
            bar.reset(task, total=_total, completed=done, rate="")
            bar.start()
            return
        elapsed, since = t - started[0][0], done - started[0][1]
        rate = f"{since / elapsed:,.0f} runs/s" if elapsed > 0 and since > 0 else ""
        bar.update(task, completed=done, total=_total, rate=rate)

    try:
        yield advance  # a command refused before its runs begin shows no bar
    finally:
        if started:
            bar.stop()


def _row(table: Table, *cells: str) -> None:
    """Add a row of plain text: brackets in scenario text (``[tactical] ...``) stay visible."""
    table.add_row(*(escape(c) for c in cells))

def _ladder(s: Summary, title: str, extra: tuple[str, ...],
            cells: Callable[[Any], tuple[str, ...]]) -> Table:
    """The ladder table: each track's rungs (a section each), P(reached), its interval and
    the ``extra`` columns; ``cells`` formats one rung's figures."""
    ladder = Table(title=f"Escalation ladder: probability of ever reaching each level, {title}",
                   title_justify="left")
    for col in ("level", "P(reached)", "95% interval", *extra):
        ladder.add_column(col, justify="left" if col == "level" else "right", no_wrap=True)
    for k, (track, rungs) in enumerate((s.tracks or {"": list(s.levels)}).items()):
        if k:
            ladder.add_section()
        for name in rungs:
            _row(ladder, f"{track}:{name}" if track else name, *cells(s.levels[name]))
    return ladder



def _timing(result: BatchResult, runs: int) -> str:
    """How long the runs computed now took; a resume says how many of the runs those were."""
    now = runs if result.computed < 0 else result.computed
    if now == 0:
        return "already complete (nothing run now)"
    timing = f"{result.seconds:.1f} s ({result.runs_per_second:,.0f} runs/s)"
    return timing if now >= runs else f"{now:,} of them run now in {timing}"


def print_summary(sc: Scenario, result: BatchResult, console: Console) -> None:
    """Outcome probabilities, ladder reach and timing, metrics and the most common paths."""
    s = result.summary
    clock = ClockInfo(str(sc.spec.clock.unit or ""), sc.spec.clock.start)
    title = title_with_overrides(sc.spec.title or sc.name, result.overrides)
    console.print(
        f"[bold]{escape(title)}[/bold]: {s.runs:,} runs, seed {result.seed}, "
        f"{_timing(result, s.runs)}" + (f", [red]{s.failed} failed[/red]" if s.failed else "")
    )
    for note in result.notes:
        console.print(f"  note: {escape(note)}")
    for name, value in result.overrides.items():
        p = sc.spec.parameters[name]
        console.print(escape(f"  {name} = {value} ({result.overrides_by}; scenario: "
                             f"{p.value}{', ' + citation(p) if citation(p) else ''})"))
    if s.rare is not None:
        _print_rare(s, console)
        return _print_weighted(sc, result, console)
    outcomes = Table(title="Outcomes (95% Wilson interval)", title_justify="left")
    for col in ("outcome", "runs", "probability", "95% interval"):
        outcomes.add_column(col, justify="left" if col == "outcome" else "right")
    for d, (_, labels) in enumerate(dimensions_of(list(s.outcomes))):
        if d:
            outcomes.add_section()  # each dimension's probabilities sum to 1
        for name in labels:
            o = s.outcomes[name]
            _row(outcomes, name, f"{o.count:,}", fmt_p(o.p), fmt_interval(o.lo, o.hi))
    console.print(outcomes)
    console.print(_ladder(
        s, "and when", ("median time", "90th percentile"),
        lambda lv: (fmt_p(lv.p), fmt_interval(lv.lo, lv.hi), clock.time(lv.time_median),
                    clock.time(lv.time_p90))))
    if s.metrics:
        metrics = Table(title="Metrics at the end of a run", title_justify="left")
        for col in ("metric", "mean", "sd", "min", "max", "runs"):
            metrics.add_column(col, justify="left" if col == "metric" else "right")
        for name, m in s.metrics.items():
            _row(metrics, name, fmt_num(m.mean, ".4g"), fmt_num(m.sd, ".4g"),
                 fmt_num(m.min, ".4g"), fmt_num(m.max, ".4g"), f"{m.n:,}")
        console.print(metrics)
    paths = Table(title=f"Most common paths ({s.distinct_paths:,} distinct)",
                  title_justify="left")
    paths.add_column("share", justify="right")
    paths.add_column("runs", justify="right")
    paths.add_column("path")
    for share in s.paths[:10]:
        _row(paths, fmt_p(share.share), f"{share.count:,}", share.path)
    console.print(paths)
    if result.out is not None:
        console.print(f"results: {escape(str(result.out))}")


def _print_rare(s: Any, console: Console) -> None:
    """The rare-event estimate: p, interval, method, effective sample size, and what plain
    Monte Carlo would have given with as many runs."""
    r = s.rare
    half = (r.hi - r.lo) / 2
    relative = (f", relative error {fmt_num(100 * r.relative_error, '.1f')}%"
                if r.relative_error == r.relative_error else "")  # none when p is 0
    console.print(f"[bold]Rare outcome {escape(r.target)}[/bold]: p = {fmt_small(r.p)}, 95% "
                  f"interval {fmt_small(r.lo)} - {fmt_small(r.hi)} (se {r.se:.3g}"
                  f"{relative})")
    console.print(escape(f"  method: {r.method}"))
    tilts = ", ".join(f"{k} {v:+.2f}" for k, v in r.theta.items())
    console.print(escape(f"  log-odds tilts: {tilts} (pilot: {r.pilot_stages} stages, "
                         f"{r.pilot_runs:,} runs)"))
    console.print(f"  {r.runs:,} weighted runs, {r.hits:,} reached it; effective sample size "
                  f"{fmt_num(r.ess, ',.0f')} among those ({fmt_num(r.ess_all, ',.0f')} over "
                  f"all runs)")
    if r.hits:  # with no hit there is no p to compare at
        ratio = r.plain_half_width / half if half > 0 else math.nan
        console.print(f"  plain Monte Carlo with {r.runs:,} runs: half-width "
                      f"{fmt_small(r.plain_half_width)} (at this p); here {fmt_small(half)}"
                      + (f", {ratio:.1f}x narrower (pilot runs not counted)"
                         if ratio == ratio else ""))
    for note in r.notes:
        console.print(f"  note: {escape(note)}")
    for w in r.warnings:
        console.print(f"  [red]warning:[/red] {escape(w)}")


def _print_weighted(sc: Scenario, result: BatchResult, console: Console) -> None:
    """Outcome and ladder probabilities of rare-event runs, all weighted."""
    s = result.summary
    outcomes = Table(title="Outcomes, weighted (run counts are not probabilities)",
                     title_justify="left")
    for col in ("outcome", "runs", "probability", "95% interval", "ESS"):
        outcomes.add_column(col, justify="left" if col == "outcome" else "right")
    for d, (_, labels) in enumerate(dimensions_of(list(s.outcomes))):
        if d:
            outcomes.add_section()
        for name in labels:
            o = s.outcomes[name]
            _row(outcomes, name, f"{o.count:,}", fmt_small(o.p),
                 f"{fmt_small(o.lo)} - {fmt_small(o.hi)}", fmt_num(o.ess, ",.0f"))
    console.print(outcomes)
    console.print(_ladder(s, "weighted", (), lambda lv: (
        fmt_small(lv.p), f"{fmt_small(lv.lo)} - {fmt_small(lv.hi)}")))
    if result.out is not None:
        console.print(f"results: {escape(str(result.out))} (a rare-event estimate: the runs "
                      f"table's 'weight' column weights each run)")


def print_joint(joint: Joint, console: Console) -> None:
    """The joint table of two outcome dimensions: each cell's share of the runs (and count)."""
    t = Table(title=f"Joint outcomes: {joint.a} (rows) by {joint.b} (columns), share of "
                    f"{joint.runs:,} runs", title_justify="left")
    t.add_column(f"{joint.a} / {joint.b}")
    for c in [*joint.columns, "all"]:
        t.add_column(c, justify="right")
    for i, r in enumerate(joint.rows):
        cells = [f"{fmt_p(joint.p(i, j))} ({int(joint.counts[i, j]):,})"
                 for j in range(len(joint.columns))]
        total = int(joint.counts[i].sum())
        _row(t, r, *cells, fmt_p(total / joint.runs if joint.runs else float("nan")))
    col_totals = joint.counts.sum(axis=0)
    _row(t, "all", *(fmt_p(int(k) / joint.runs if joint.runs else float("nan"))
                     for k in col_totals), "1")
    console.print(t)


def render_scenario(sc: Scenario, console: Console, sources: str | None = None) -> None:
    """A readable, cited description of a scenario. Each citation says whether its
    evidence was checked against the documents in the ``sources`` folder."""
    from sim.scenario.evidence import check_evidence

    spec = sc.spec
    evidence = check_evidence(spec, sc.expressions, sources)

    def cite(item: Any, *path: str) -> str:
        return citation(item, evidence.status(item, path))

    console.print(f"[bold]{escape(spec.title or spec.name)}[/bold]  ({spec.name}, "
                  f"{len(sc.files) or 1} file{'s' if len(sc.files) > 1 else ''}: "
                  f"{' <- '.join(sc.files)})")
    if spec.description:
        console.print(escape(spec.description.strip()))
    clock = spec.clock
    start = f" from {clock.start.isoformat()}" if clock.start else ""
    console.print(f"Clock: {clock.horizon:g} {clock.unit}s{start}.")
    if spec.sources:
        t = Table(title="Sources", title_justify="left")
        t.add_column("id")
        t.add_column("title")
        for src in spec.sources:
            _row(t, src.id, src.title + (f" ({src.publisher})" if src.publisher else ""))
        console.print(t)
    if spec.parameters:
        t = Table(title="Parameters", title_justify="left")
        for col in ("name", "value", "range", "unit", "meaning and source"):
            t.add_column(col, overflow="fold")
        for name, p in spec.parameters.items():
            rng = f"[{p.range[0]:g}, {p.range[1]:g}]" if p.range else ""
            what = "; ".join(x for x in (p.doc or "", cite(p, "parameters", name)) if x)
            _row(t, name, f"{p.value}", rng, p.unit or "", what)
        console.print(t)
    docs = {lv.id: lv.doc for lv in spec.ladder or []}
    for written in (spec.ladders or {}).values():
        docs.update({lv.id: lv.doc for lv in written.rungs})
    for track in spec.tracks:
        head = f"Track {track.name}: " if track.name else "Ladder: "
        console.print(head + " < ".join(
            f"[bold]{lv}[/bold] (start)" if rank == track.start else lv
            for rank, lv in enumerate(track.levels)))
        for lv in track.levels:
            if docs.get(lv):
                console.print(f"  {lv}: {escape(str(docs[lv]))}")
    if spec.actors:
        t = Table(title="Actors", title_justify="left")
        t.add_column("actor")
        t.add_column("state variables (initial)", overflow="fold")
        t.add_column("notes", overflow="fold")
        for name, actor in spec.actors.items():
            vars_ = ", ".join(f"{k} = {v}" for k, v in actor.vars.items())
            notes = (actor.doc or "", cite(actor, "actors", name))
            _row(t, name, vars_, "; ".join(x for x in notes if x))
        console.print(t)
    if spec.actions:
        t = Table(title="Actions", title_justify="left")
        for col in ("action", "actor", "timing", "requires", "draws", "effects", "notes"):
            t.add_column(col, overflow="fold")
        for name, a in spec.actions.items():
            _row(t,
                name + (" *" if a.milestone else ""), a.actor or "", describe_timing(a),
                str(a.requires or ""),
                "; ".join(f"{k} ~ {describe_dist(d)}" for k, d in a.draws.items()),
                "; ".join(describe_effect(e) for e in a.effects),
                "; ".join(x for x in (a.doc or "", cite(a, "actions", name)) if x),
            )
        console.print(t)
        console.print("  * milestone: appears in run paths")
    if spec.triggers:
        t = Table(title="Triggers (checked in this order)", title_justify="left")
        for col in ("trigger", "rule", "effects", "notes"):
            t.add_column(col, overflow="fold")
        for name, trig in spec.triggers.items():
            _row(t, name + (" *" if trig.milestone else ""), describe_trigger(trig),
                      "; ".join(describe_effect(e) for e in trig.do),
                      "; ".join(x for x in (trig.doc or "", cite(trig, "triggers", name))
                                if x))
        console.print(t)
    for dim in spec.dimensions:
        title = f"Outcomes: {dim.name}" if dim.name else "Outcomes"
        t = Table(title=title, title_justify="left")
        for col in ("outcome", "kind", "condition", "meaning"):
            t.add_column(col, overflow="fold")
        for o in dim.outcomes:
            kind = "default" if o.default else "terminal" if o.terminal else "at horizon"
            _row(t, o.id, kind, str(o.when if o.when is not None else
                                      ("(end effect)" if o.terminal else "")), o.doc or "")
        console.print(t)
    if spec.metrics:
        console.print("Metrics: " + escape("; ".join(f"{k} = {m.expr}"
                                                     for k, m in spec.metrics.items())))



def _short(p: float) -> str:
    """A probability in three decimals without the leading zero: ``.057``."""
    text = fmt_p(p)
    return text[1:] if text.startswith("0.") else text


def print_sweep(result: Any, console: Console) -> None:
    """Outcome probabilities at each point of a sweep."""
    runs = result.summaries[0].runs + result.summaries[0].failed if result.summaries else 0
    console.print(f"[bold]{result.scenario}[/bold]: sweep of {len(result.points)} points over "
                  f"{', '.join(result.varied)}, {runs:,} runs per point, seed {result.seed}, "
                  f"{result.seconds:.1f} s")
    for note in getattr(result, "notes", []):
        console.print(f"  note: {escape(note)}")
    outcomes = list(result.summaries[0].outcomes) if result.summaries else []
    table = Table(title="Outcome probability at each point (95% Wilson interval)",
                  title_justify="left")
    table.add_column("point", justify="right")
    for v in result.varied:
        table.add_column(v, justify="right")
    for o in outcomes:
        table.add_column(o, justify="right")
    for i, (point, summary) in enumerate(zip(result.points, result.summaries, strict=True)):
        cells = [str(i), *(f"{point[v]:g}" for v in result.varied)]
        for o in outcomes:
            s = summary.outcomes[o]
            cells.append(f"{_short(s.p)} [{_short(s.lo)}-{_short(s.hi)}]")
        _row(table, *cells)
    console.print(table)
    if result.out is not None:
        console.print(f"results: {result.out} ({SWEEP}: one row per point and outcome)")


def print_comparison(cmp: Any, console: Console) -> None:
    """Outcome probabilities side by side and differences against the first result."""
    table = Table(title="Outcome probabilities and differences against the first "
                        "(95% intervals)", title_justify="left")
    table.add_column("outcome")
    for label in cmp.labels:
        table.add_column(label, justify="right")
    for label in cmp.labels[1:]:
        table.add_column(f"diff {label} ({cmp.methods[label]})", justify="right")
    for row in cmp.rows:
        cells = [row["outcome"]]
        for label in cmp.labels:
            lo, hi = row[f"ci[{label}]"]
            cells.append(f"{fmt_p(row[f'p[{label}]'])} [{fmt_p(lo)}, {fmt_p(hi)}]")
        for label in cmp.labels[1:]:
            d, lo, hi = row[f"diff[{label}]"]
            cells.append(f"{fmt_diff(d)} [{fmt_diff(lo)}, {fmt_diff(hi)}]")
        _row(table, *cells)
    console.print(table)
    for note in cmp.notes:
        console.print(f"note: {escape(note)}")
    for label, method in cmp.methods.items():
        why = ("same seed and run indices: per-run differences (common random numbers)"
               if method == "paired" else "different streams: independent samples (Newcombe)")
        console.print(f"{label}: {method} - {why}")


def print_sensitivity(result: Any, console: Console) -> None:
    """Indices per parameter, most influential first, with each parameter's source."""
    sobol = result.method == "sobol"
    what = ("Sobol' indices" if sobol else "Morris elementary effects")
    console.print(f"[bold]{result.scenario}[/bold]: {what} of P({result.outcome}), "
                  f"{result.points:,} points x {result.runs:,} runs (seed {result.seed})")
    table = Table(title=("first- and total-order indices, +/- 95% half-width" if sobol else
                         "mu* = mean |change in P| across a parameter's range, +/- 95%; "
                         "sigma = interaction"), title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("parameter")
    if sobol:
        table.add_column("total (ST)", justify="right")
        table.add_column("first (S1)", justify="right")
    else:
        table.add_column("mu*", justify="right")
        table.add_column("sigma", justify="right")
    table.add_column("source", overflow="fold", max_width=60)
    for i, row in enumerate(result.rows, 1):
        if sobol:
            a = f"{fmt_num(row['total'])} +/- {fmt_num(row['total_conf'])}"
            b = f"{fmt_num(row['first'])} +/- {fmt_num(row['first_conf'])}"
        else:
            a = f"{fmt_num(row['mu_star'], '.4f')} +/- {fmt_num(row['mu_star_conf'], '.4f')}"
            b = fmt_num(row["sigma"], ".4f")
        _row(table, str(i), row["parameter"], a, b, row["source"])
    console.print(table)
    if result.failed:
        console.print(f"[red]{result.failed:,} runs failed[/red] and were left out; see the "
                      f"'error' column of the runs table")
    if result.out is not None:
        console.print(f"results: {result.out} ({SENSITIVITY}, {SWEEP})")


def print_discovery(found: Any, console: Console) -> None:
    """The PRIM box: its limits, coverage, density and the outcome's probability in it."""
    console.print(
        f"[bold]P({found.outcome}) >= {found.threshold:.4g}[/bold] at {found.of_interest} of "
        f"{found.points} points. Box: coverage {found.coverage:.2f}, density "
        f"{found.density:.2f}, mass {found.mass:.2f}.")
    table = Table(title="Box limits (restricted parameters only)", title_justify="left")
    for col in ("parameter", "low", "high", "swept range"):
        table.add_column(col, justify="left" if col == "parameter" else "right")
    for lim in found.limits:
        _row(table, lim["parameter"], f"{lim['low']:.4g}", f"{lim['high']:.4g}",
                      f"{lim['swept_low']:.4g} - {lim['swept_high']:.4g}")
    console.print(table)
    p, lo, hi = found.p_in_box
    q, qlo, qhi = found.p_outside
    console.print(f"P({found.outcome}) pooled over runs: inside the box {fmt_p(p)} "
                  f"[{fmt_p(lo)}, {fmt_p(hi)}], outside {fmt_p(q)} [{fmt_p(qlo)}, {fmt_p(qhi)}] "
                  "(95% Wilson)")


def print_backtest(bt: Backtest, console: Console) -> None:
    """Each observation's forecast and scores, the overall skill, and the as-of forecast."""
    t = Table(title=f"Backtest of {bt.scenario}: {bt.runs:,} runs, seed {bt.seed}",
              title_justify="left")
    for col in ("observation", "kind", "P(model)", "95% interval", "Brier", "log",
                "time: median [5%-95%]", "PIT", "in 90%"):
        t.add_column(col, justify="left" if col in ("observation", "kind") else "right")
    for o in bt.observations:
        times = "" if o.time_median is None else (
            f"{_time(o.time_median)} [{_time(o.time_q05)}-{_time(o.time_q95)}]")
        _row(t, o.id, o.kind, fmt_p(o.p), fmt_interval(o.lo, o.hi), f"{o.brier:.3f}",
             f"{o.log:.3f}", times, "" if o.pit is None else f"{o.pit:.3f}",
             "" if o.inside_90 is None else ("yes" if o.inside_90 else "no"))
    console.print(t)
    console.print(escape(
        f"Brier {bt.brier:.3f} (skill {bt.brier_skill:+.2f}), log score {bt.log:.3f} "
        f"(skill {bt.log_skill:+.2f}); reference: {bt.reference}"))
    for note in bt.notes:
        console.print(escape(f"note: {note}"))
    if bt.as_of is not None and "refused" not in bt.as_of:
        a = bt.as_of
        f = Table(title=f"Forecast as of {a['date']}: {a['kept']:,} of {a['runs']:,} runs "
                        f"consistent with {len(a['observations'])} observation(s)",
                  title_justify="left")
        for col in ("outcome", "P(as of)", "95% interval", "P(all runs)"):
            f.add_column(col, justify="left" if col == "outcome" else "right")
        for name, o in a["outcomes"].items():
            _row(f, name, fmt_p(o["p"]), fmt_interval(o["lo"], o["hi"]),
                 fmt_p(o["p_unconditioned"]))
        console.print(f)
    if bt.results is not None:
        console.print(f"results: {escape(str(bt.results))}")


def _time(t: float | None) -> str:
    if t is None:
        return ""
    return "never" if math.isinf(t) else f"{t:.4g}"


def print_calibration(cal: Calibration, console: Console) -> None:
    """Posterior of each fitted parameter and the posterior predictive outcomes."""
    console.print(escape(
        f"Calibration of {cal.scenario} to {len(cal.observations)} observation(s): "
        f"{cal.accepted:,} of {cal.runs:,} runs matched all of them at {cal.points} points "
        f"({cal.runs_per_point:,} runs each); effective sample size "
        f"{cal.effective_sample_size:.1f} points"))
    t = Table(title="Posterior (90% credible interval)", title_justify="left")
    for col in ("parameter", "prior", "range", "posterior mean", "mode", "90% interval"):
        t.add_column(col, justify="left" if col in ("parameter", "prior") else "right")
    for name, p in cal.parameters.items():
        mode = p.get("mode")
        _row(t, name, str(p.get("prior", "uniform")),
             f"{p['prior_low']:.4g} - {p['prior_high']:.4g}", f"{p['mean']:.4g}",
             "-" if mode is None else f"{mode:.4g}", f"{p['q05']:.4g} - {p['q95']:.4g}")
    console.print(t)
    o = Table(title="Posterior predictive outcomes (the matching runs)", title_justify="left")
    for col in ("outcome", "runs", "probability", "95% interval"):
        o.add_column(col, justify="left" if col == "outcome" else "right")
    for name, v in cal.predictive.items():
        _row(o, name, f"{int(v['count']):,}", fmt_p(v["p"]), fmt_interval(v["lo"], v["hi"]))
    console.print(o)
    if cal.mode:
        m = cal.mode
        console.print(escape(f"mode: design point {m['point']} ({m['accepted']:,} of "
                             f"{m['runs']:,} of its runs matched)"))
    for note in cal.notes:
        console.print(escape(f"note: {note}"))
    if cal.results is not None:
        console.print(f"results: {escape(str(cal.results))}")
