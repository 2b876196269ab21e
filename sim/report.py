"""A one-file HTML report of a results folder: the scenario, its cited assumptions, the
summary tables and every figure, embedded. It loads nothing from the network."""

from __future__ import annotations

import base64
import datetime as dt
import html
from pathlib import Path
from typing import Any

from sim.errors import ResultsError
from sim.formatting import ClockInfo, fmt_interval, fmt_num, fmt_p
from sim.plots import figures_for
from sim.plots.context import FolderContext, context_of
from sim.results import Results, ResultsFolder, write_output
from sim.results.folder import PARAM
from sim.results.provenance import describe_value, override_label
from sim.results.summary import Summary

__all__ = ["build_report", "write_report"]

CAPTIONS = {
    "outcomes": "How likely each outcome is: share of runs ending in it, with its 95% Wilson "
                "interval.",
    "occupancy": "Escalation over time: at each date, the share of runs at each ladder level "
                 "(greys) and of runs that have already ended (outcome colours); the bar at "
                 "the right splits all runs by outcome at the horizon.",
    "reach": "Time to reach each level: the probability of having reached it by each date.",
    "paths": "Outcome paths: milestones in the order runs passed them, each box as tall as its "
             "share of runs; small branches grouped.",
    "sweep": "Outcome probabilities across the sweep, with 95% interval bands (points share "
             "random streams, so differences between them are paired).",
    "sensitivity": "Sensitivity indices of the outcome's probability, ranked, with 95% "
                   "intervals; * marks a parameter that is an assumption.",
    "reliability": "Reliability: each observation as the model's probability of an event "
                   "(a 'not' observation is the event it denies) against whether it "
                   "happened, binned, over the diagonal of a perfectly reliable model.",
    "event_times": "When the observed events happen in the model: the probability that each "
                   "has happened by each date, its 5-95% range, and the observed date "
                   "(or window) in red.",
}


def _names(items: list[str]) -> str:
    return ", ".join(i.replace("_", " ") for i in items)


def _caption(ctx: FolderContext, name: str) -> str:
    """What a figure of the report shows, saying how it splits by escalation track and by
    outcome dimension when the scenario has several."""
    text = CAPTIONS.get(name, "One traced run: ladder level and events over time.")
    tracks = _names([t.name for t in ctx.tracks]) if ctx.several_tracks else ""
    dims = _names([d.name for d in ctx.dimensions]) if ctx.several_dimensions else ""
    if name == "outcomes" and dims:
        text = (f"How likely each outcome is, one panel per outcome dimension ({dims}): the "
                f"share of runs in each class, with its 95% Wilson interval; every run is "
                f"classified in every dimension, so each panel sums to 100%.")
    elif name == "occupancy" and (tracks or dims):
        where = (f"Escalation over time, one panel per escalation track ({tracks}): at each "
                 f"date, the share of runs "
                 f"at each rung of that track (greys, darker = higher)" if tracks else
                 "Escalation over time: at each date, the share of runs at each ladder level "
                 "(greys)")
        bar = (f"the bars at the right split all runs by outcome at the horizon, one bar per "
               f"outcome dimension ({dims})" if dims else
               "the bar at the right splits all runs by outcome at the horizon")
        text = (f"{where} and of runs that have already ended (outcome colours); {bar}"
                f"{' (beside the last panel)' if tracks else ''}.")
    elif name == "reach" and tracks:
        text = (f"Time to reach each rung above its track's start, one panel per escalation "
                f"track ({tracks}): the probability of having reached it by each date.")
    elif name == "paths" and (tracks or dims):
        text = CAPTIONS["paths"]
        if tracks:
            text += (f" Rungs are greys of their track ({tracks}; each track with its own "
                     f"hatching).")
        if dims:
            text += (f" A path ends with the outcome that ended its run, else its "
                     f"{ctx.dimensions[0].name.replace('_', ' ')} class.")
    elif name == "sweep" and dims:
        text += f" Outcomes are named dimension: class ({dims})."
    elif name.startswith("run-") and tracks:
        text = (f"One traced run: its rung on each escalation track ({tracks}) and its events "
                f"over time.")
    return text


STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
max-width:1100px;margin:2em auto;padding:0 1em;color:#1a1a1a;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:1.8em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .5em;vertical-align:top;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#f2f2f2}
figure{margin:1.2em 0}img{max-width:100%;height:auto;border:1px solid #ddd}
figcaption{font-size:.9em;color:#444}.meta{color:#555;font-size:.9em}
.assumption{background:#fff6df}.overridden{background:#e8f0ff}code{font-size:.95em}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


_p = fmt_p


def _table(head: list[str], rows: list[list[str]], numeric: set[int] | None = None,
           classes: list[str] | None = None) -> str:
    numeric = numeric or set()
    out = ["<table><thead><tr>", *(f"<th>{_e(h)}</th>" for h in head), "</tr></thead><tbody>"]
    for i, row in enumerate(rows):
        cls = f' class="{classes[i]}"' if classes and classes[i] else ""
        out.append(f"<tr{cls}>")
        out.extend(f'<td class="n">{c}</td>' if j in numeric else f"<td>{c}</td>"
                   for j, c in enumerate(row))
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _sources(doc: dict[str, Any]) -> tuple[str, dict[str, str]]:
    titles: dict[str, str] = {}
    rows = []
    for src in doc.get("sources") or []:
        if not isinstance(src, dict):
            continue
        titles[str(src.get("id"))] = str(src.get("title", ""))
        where = ", ".join(_e(x) for x in (src.get("publisher"), src.get("date")) if x)
        rows.append([f"<code>{_e(src.get('id'))}</code>", _e(src.get("title", "")), where])
    return (_table(["id", "title", "publisher, date"], rows) if rows else
            "<p>No sources listed.</p>"), titles


def _assumptions(doc: dict[str, Any], titles: dict[str, str]) -> str:
    rows, classes = [], []
    for name, p in (doc.get("parameters") or {}).items():
        if not isinstance(p, dict):
            continue
        rng = p.get("range")
        src = p.get("source")
        if isinstance(src, dict):  # the report has no documents: evidence not checked here
            ref = str(src.get("ref", ""))
            excerpts = src.get("evidence") or []
            quoted = ("; evidence: " + ", ".join(f"&ldquo;{_e(x)}&rdquo;" for x in excerpts)
                      if isinstance(excerpts, list) and excerpts else "")
            derived = (f" = {_e(src.get('derivation'))}"
                       if src.get("derivation") is not None else "")
            basis = (f"<strong>cited, not checked</strong>: <em>{_e(titles.get(ref, ref))}</em> "
                     f"[{_e(ref)}]: {_e(src.get('note', ''))}{quoted}{derived}")
            classes.append("")
        else:
            informed = p.get("informed_by")
            by = f" (informed by [{_e(informed)}])" if informed else ""
            basis = f"<strong>assumption</strong>{by}: {_e(p.get('assumption', ''))}"
            classes.append("assumption")
        if isinstance(p.get("overridden"), dict):
            classes[-1] = "overridden"
        rows.append([f"<code>{_e(name)}</code>", _e(describe_value(p)),
                     _e(f"{rng[0]:g} - {rng[1]:g}") if isinstance(rng, list) and len(rng) == 2
                     else "", _e(p.get("unit") or ""), _e(p.get("doc") or ""), basis])
    if not rows:
        return "<p>No parameters.</p>"
    return _table(["parameter", "value as run", "range", "unit", "meaning",
                   "source or assumption (of the scenario's value)"], rows, {1}, classes)


def _outcome_table(s: Summary, labels: list[str], dimension: str = "") -> str:
    """The outcomes' table; a dimension's classes by their own name."""
    return _table(
        ["outcome" if not dimension else "class", "runs", "probability",
         "95% interval"],
        [[_e(o.partition("=")[2] if dimension else o), f"{s.outcomes[o].count:,}",
          _p(s.outcomes[o].p), fmt_interval(s.outcomes[o].lo, s.outcomes[o].hi)]
         for o in labels if o in s.outcomes], {1, 2, 3})


def _ladder_table(s: Summary, rungs: list[str], clock: ClockInfo) -> str:
    return _table(
        ["level", "P(reached)", "95% interval", "median time", "90th percentile"],
        [[_e(lv), _p(v.p), fmt_interval(v.lo, v.hi), _e(clock.time(v.time_median)),
          _e(clock.time(v.time_p90))] for lv, v in ((r, s.levels[r]) for r in rungs
                                                    if r in s.levels)], {1, 2, 3, 4})


def _batch_tables(ctx: FolderContext) -> str:
    s = ctx.results.batch_summary()
    clock = ClockInfo.of_document(ctx.results.scenario)
    parts = []
    if s.failed:
        parts.append(f"<p><strong>{s.failed:,} runs failed</strong> and are left out; e.g. "
                     f"{_e(s.errors[0].error if s.errors else '')}</p>")
    groups = ctx.dimension_groups(list(s.outcomes))
    if len(groups) == 1:
        parts += ["<h3>Outcomes</h3>", _outcome_table(s, groups[0][1])]
    else:
        parts += ["<h3>Outcomes, by dimension</h3>",
                  "<p>Every run is classified in every outcome dimension, so each "
                  "dimension's probabilities sum to 100%.</p>"]
        for dim, labels in groups:
            parts += [f'<h4 id="dimension-{_e(dim)}">Outcome dimension: {_e(dim)}</h4>',
                      _outcome_table(s, labels, dim)]
    if len(s.tracks) <= 1:
        parts += ["<h3>Escalation ladder</h3>", _ladder_table(s, list(s.levels), clock)]
    else:
        parts += ["<h3>Escalation tracks</h3>",
                  "<p>Each track moves on its own; P(reached) is the share of runs that "
                  "reached the rung on that track.</p>"]
        for track, rungs in s.tracks.items():
            start = next((t.levels[t.start] for t in ctx.tracks if t.name == track), "")
            parts += [f'<h4 id="track-{_e(track)}">Escalation track: {_e(track)}'
                      f"{f' (starts at {_e(start)})' if start else ''}</h4>",
                      _ladder_table(s, rungs, clock)]
    if s.metrics:
        parts += ["<h3>Metrics at the end of a run</h3>", _table(
            ["metric", "mean", "sd", "min", "max", "runs"],
            [[_e(m), fmt_num(v.mean, ".4g"), fmt_num(v.sd, ".4g"), fmt_num(v.min, ".4g"),
              fmt_num(v.max, ".4g"), f"{v.n:,}"] for m, v in s.metrics.items()],
            {1, 2, 3, 4, 5})]
    parts += [f"<h3>Most common paths ({s.distinct_paths:,} distinct)</h3>", _table(
        ["share", "runs", "path"],
        [[_p(p.share), f"{p.count:,}", _e(p.path)] for p in s.paths[:15]], {0, 1})]
    return "".join(parts)


def _design_tables(ctx: FolderContext) -> str:
    if ctx.results.has_sensitivity:
        from sim.analysis.sensitivity import load_sensitivity

        res = load_sensitivity(ctx.results)
        if res.method == "sobol":
            head = ["parameter", "total (ST)", "first (S1)", "source or assumption"]
            rows = [[f"<code>{_e(r['parameter'])}</code>",
                     f"{_p(r['total'])} &plusmn; {_p(r['total_conf'])}",
                     f"{_p(r['first'])} &plusmn; {_p(r['first_conf'])}", _e(r["source"])]
                    for r in res.rows]
        else:
            head = ["parameter", "mu*", "sigma", "source or assumption"]
            rows = [[f"<code>{_e(r['parameter'])}</code>",
                     f"{_p(r['mu_star'])} &plusmn; {_p(r['mu_star_conf'])}", _p(r["sigma"]),
                     _e(r["source"])] for r in res.rows]
        return (f"<h3>Sensitivity of P({_e(res.outcome)}) ({_e(res.method)})</h3>"
                + _table(head, rows, {1, 2}))
    df = ctx.results.sweep_frame()
    varied = ctx.results.varied
    outcomes = list(dict.fromkeys(df["outcome"]))
    rows = []
    for point, sub in df.groupby("point", sort=True):
        first = sub.iloc[0]
        cells = [str(point), *(f"{first[PARAM + v]:g}" for v in varied)]
        by = sub.set_index("outcome")
        cells += [f"{_p(by.loc[o, 'p'])} [{_p(by.loc[o, 'lo'])}, {_p(by.loc[o, 'hi'])}]"
                  for o in outcomes]
        rows.append(cells)
    return ("<h3>Outcome probability at each point (95% Wilson interval)</h3>"
            + _table(["point", *varied, *outcomes], rows, set(range(len(varied) + 1,
                                                                   len(rows[0])))))


def _backtest_section(ctx: FolderContext) -> str:
    """Does the model match what happened? The observations scored, and the as-of forecast."""
    _, data = ctx.results.backtest()
    scores = data.get("scores", {})
    rows = []
    for o in data.get("observations", []):
        times = "" if o.get("time_median") is None else (
            f"{_t(o['time_median'])} [{_t(o['time_q05'])}, {_t(o['time_q95'])}]")
        rows.append([f"<code>{_e(o['id'])}</code>", _e(o["kind"]), _e(o["target"]),
                     f"{_p(o['p'])} [{_p(o['lo'])}, {_p(o['hi'])}]", f"{o['brier']:.3f}",
                     f"{o['log']:.3f}", times,
                     "" if o.get("pit") is None else f"{o['pit']:.2f}",
                     "" if o.get("inside_90") is None else ("yes" if o["inside_90"] else "no")])
    parts = ["<h2>Does the model match what happened?</h2>",
             f"<p>Brier score {scores.get('brier', 0):.3f} (skill "
             f"{scores.get('brier_skill', 0):+.2f}) and log score {scores.get('log', 0):.3f} "
             f"(skill {scores.get('log_skill', 0):+.2f}) over "
             f"{len(rows)} observation(s); reference: {_e(scores.get('reference', ''))}. A "
             f"positive skill means the model gave what happened more probability than the "
             f"reference did.</p>",
             _table(["observation", "kind", "what", "P(model) [95%]", "Brier", "log",
                     "time: median [5%, 95%]", "PIT", "in 90%"], rows, {3, 4, 5, 6, 7})]
    as_of = data.get("as_of")
    if as_of and "refused" in as_of:
        parts += [f"<h3>Forecast as of {_e(as_of['date'])}</h3>",
                  f"<p>Refused: {_e(as_of['refused'])}</p>"]
    elif as_of:
        parts += [f"<h3>Forecast as of {_e(as_of['date'])}</h3>",
                  f"<p>{as_of['kept']:,} of {as_of['runs']:,} runs are consistent with the "
                  f"{len(as_of['observations'])} observation(s) known by then (the effective "
                  f"sample size of this rejection).</p>",
                  _table(["outcome", "P(as of) [95%]", "P(all runs)"],
                         [[_e(k), f"{_p(v['p'])} [{_p(v['lo'])}, {_p(v['hi'])}]",
                           _p(v["p_unconditioned"])] for k, v in as_of["outcomes"].items()],
                         {1, 2})]
    return "".join(parts)


def _t(value: Any) -> str:
    return "never" if value is None or value == float("inf") else f"{float(value):.4g}"


def build_report(results: Results | str | Path, run: int | None = None) -> str:
    """The report's HTML text."""
    ctx = context_of(results)
    doc = ctx.results.scenario
    if not doc:
        raise ResultsError(f"{ctx.path}: no scenario.json; not a complete results folder")
    manifest = ctx.results.manifest
    figures = figures_for(ctx.results, run=run)
    from sim.plots import figure_bytes

    sources_html, titles = _sources(doc)
    body = [f"<h1>{_e(ctx.title)}</h1>",
            f'<p class="meta">Scenario <code>{_e(ctx.name)}</code> (content hash '
            f"<code>{_e(manifest.scenario.content_hash[:16])}"
            f"</code>) &middot; {ctx.runs:,} runs &middot; seed {ctx.seed} &middot; "
            f"{_e(manifest.kind)} finished {_e(manifest.finished or manifest.started)} "
            f"&middot; status {_e(manifest.status)}</p>"]
    if manifest.overrides:
        body.append("<p><strong>Parameters set for this run</strong> (they differ from the "
                    "scenario file, and the table below shows the values used): "
                    f"<code>{_e(override_label(manifest.overrides))}</code></p>")
    if manifest.status != "complete":
        body.append(f"<p><strong>This folder is {_e(manifest.status)}</strong>: its figures "
                    "and tables cover only the runs that finished.</p>")
    if doc.get("description"):
        body.append(f"<p>{_e(str(doc['description']).strip())}</p>")
    body.append(f"<p class=\"meta\">Command: <code>{_e(' '.join(manifest.command))}"
                f"</code></p>")
    body += ["<h2>Sources</h2>", sources_html,
             "<h2>Parameters and assumptions</h2>",
             "<p>Every number cites its source or is marked an assumption (highlighted) with "
             "its reason.</p>", _assumptions(doc, titles),
             "<h2>Results</h2>",
             _batch_tables(ctx) if ctx.kind == "batch" else _design_tables(ctx)]
    if ctx.results.has_backtest:
        body.append(_backtest_section(ctx))
    body.append("<h2>Figures</h2>")
    for name, fig in figures.items():
        # Rendered at 1.5x for sharp text on high-density screens, shown at the figure's own
        # size (96 CSS px per inch, so a 9 pt label reads as 9 pt) or narrower on a small
        # screen: the figures are at most 11.25 in wide, within the page's 1100 px.
        data = base64.b64encode(figure_bytes(fig, "png", dpi=144)).decode("ascii")
        width, height = (round(v * 96) for v in fig.get_size_inches())
        caption = _caption(ctx, name)
        body.append(f'<figure id="fig-{_e(name)}"><img alt="{_e(caption)}" '
                    f'width="{width}" height="{height}" '
                    f'src="data:image/png;base64,{data}"><figcaption>{_e(caption)}'
                    f"</figcaption></figure>")
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    body.append(f'<p class="meta">Report written {stamp} from {_e(ctx.path.name)}; '
                f"the simulation was not re-run.</p>")
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{_e(ctx.title)} - report</title>\n<style>{STYLE}</style>\n</head>\n"
            "<body>\n" + "\n".join(body) + "\n</body>\n</html>\n")


def write_report(results: Results | str | Path, out: str | Path | None = None,
                 run: int | None = None, force: bool = False) -> Path:
    """Write the report (default ``<results>/report.html``); an existing file is replaced
    only with ``force``. Returns its path."""
    ctx_path = results.path if isinstance(results, Results) else Path(results)
    target = ResultsFolder(ctx_path).report_path() if out is None else Path(out)
    text = build_report(results, run=run)
    write_output(target, text.encode("utf-8"), force)
    return target
