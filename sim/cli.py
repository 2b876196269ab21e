"""The ``escalation`` command: parse arguments, call the library, print. No model logic.

Heavy modules are imported inside the commands so that ``escalation --help`` is quick.
"""

from __future__ import annotations

import contextlib
import functools
import json
import sys
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from sim.errors import AllRunsFailed, BatchInterrupted, ResultsError, ScenarioError, SimError

F = TypeVar("F", bound=Callable[..., Any])

EXECUTORS = ["auto", "serial", "processes", "dask"]
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130
EXIT_ALL_FAILED = 3  # a batch in which every run failed


def _console(stderr: bool = False) -> Any:
    """A rich console; 120 columns when writing to a file or pipe, the terminal's otherwise."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else 120
    return Console(stderr=stderr, highlight=False, soft_wrap=False, width=width)


def _handled(fn: F) -> F:
    """Turn the project's errors into a message and exit code 2 (a traceback with --debug)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = bool(click.get_current_context().find_root().params.get("debug"))
        try:
            return fn(*args, **kwargs)
        except BatchInterrupted as exc:
            if debug:
                raise
            click.echo(f"escalation: {exc}", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except AllRunsFailed as exc:
            if debug:
                raise
            click.echo(f"escalation: {exc}", err=True)
            sys.exit(EXIT_ALL_FAILED)
        except ScenarioError as exc:
            if debug:
                raise
            for line in str(exc).splitlines():
                click.echo(line if exc.problems else f"escalation: error: {line}", err=True)
            n = len(exc.problems)
            if n:
                click.echo(f"escalation: {n} problem{'s' if n != 1 else ''} found", err=True)
            sys.exit(EXIT_ERROR)
        except SimError as exc:
            if debug:
                raise
            click.echo(f"escalation: error: {exc}", err=True)
            sys.exit(EXIT_ERROR)
        except KeyboardInterrupt:
            if debug:
                raise
            click.echo("escalation: interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except OSError as exc:  # a path the system refuses (too long, a loop, ...)
            if debug:
                raise
            name = f"{str(exc.filename)[:200]}: " if exc.filename else ""
            click.echo(f"escalation: error: {name}{exc.strerror or exc}", err=True)
            sys.exit(EXIT_ERROR)

    return wrapper  # type: ignore[return-value]


def _warn(scenario: Any) -> None:
    """Print a loaded scenario's warnings (``FILE:LINE:COL: path: warning: ...``)."""
    import dataclasses

    for problem in scenario.warnings:
        click.echo(str(dataclasses.replace(problem, message=f"warning: {problem.message}")),
                   err=True)


class _Commands(click.Group):
    """The command group; refuses arguments no file system or scenario can take."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if any("\0" in a for a in args):
            raise click.UsageError("an argument contains a NUL character", ctx)
        return super().parse_args(ctx, args)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.version_option(package_name="escalation-sim", prog_name="escalation")
def cli(debug: bool) -> None:
    """Escalation scenario simulation: cited scenario files, SimPy runs, Monte Carlo batches.

    \b
    escalation validate scenarios/bryansk_atacms_2024.yaml
    escalation show     scenarios/bryansk_atacms_2024.yaml
    escalation run      scenarios/bryansk_atacms_2024.yaml -n 20000 --seed 7
    """


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--strict", is_flag=True,
              help="Also require every number to cite a source or be marked an assumption.")
@click.option("--sources", "sources", type=click.Path(path_type=Path), default=None,
              metavar="DIR", help="Folder of the sources' documents (their file:): check "
              "every citation's evidence in them (implies --strict).")
@_handled
def validate(files: tuple[Path, ...], strict: bool, sources: Path | None) -> None:
    """Check scenario files; print every problem with its file, line and column.

    A sweep file (see escalation sweep --spec) and an observation file (see escalation
    backtest) are recognised and checked as such.
    """
    from sim.analysis.observations import describe_observation_file, is_observation_file
    from sim.analysis.sweepspec import describe_sweep_file, is_sweep_file
    from sim.scenario import load_scenario
    from sim.scenario.describe import counted, describe_shape

    if sources is not None and not sources.is_dir():
        raise click.BadParameter(f"'{sources}' is not a folder", param_hint="--sources")
    failed: list[ScenarioError] = []
    for file in files:
        try:
            if is_observation_file(file):
                click.echo(f"ok  {file}: {describe_observation_file(file)}")
                continue
            if is_sweep_file(file):
                click.echo(f"ok  {file}: {describe_sweep_file(file)}")
                continue
            sc = load_scenario(file, strict=strict, sources=sources)
        except ScenarioError as exc:
            failed.append(exc)
            for line in str(exc).splitlines():
                click.echo(line, err=True)
            continue
        spec = sc.spec
        _warn(sc)
        click.echo(
            f"ok  {file}: {counted(len(spec.actors), 'actor')}, "
            f"{counted(len(spec.actions), 'action')}, "
            f"{counted(len(spec.triggers), 'trigger')}, "
            f"{counted(len(spec.parameters), 'parameter')}, {describe_shape(spec)}"
            + (", evidence checked" if sources is not None else "")
        )
    if failed:
        n = sum(max(1, len(e.problems)) for e in failed)
        click.echo(f"escalation: {n} problem{'s' if n != 1 else ''} in {len(failed)} "
                   f"file{'s' if len(failed) != 1 else ''}", err=True)
        sys.exit(EXIT_ERROR)


@cli.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--sources", "sources", type=click.Path(path_type=Path), default=None,
              metavar="DIR", help="Folder of the sources' documents: mark each citation "
              "whose evidence is checked there.")
@_handled
def show(file: Path, sources: Path | None) -> None:
    """Describe a scenario: parameters and sources, ladder, actors, actions, triggers, outcomes."""
    from sim.scenario import load_scenario
    from sim.show import render_scenario

    if sources is not None and not sources.is_dir():
        raise click.BadParameter(f"'{sources}' is not a folder", param_hint="--sources")
    render_scenario(load_scenario(file), _console(),
                    str(sources) if sources is not None else None)


@cli.command()
@click.option("--sweep", is_flag=True, help="The schema of sweep files instead.")
@click.option("--reference", is_flag=True,
              help="The field reference of both formats, in Markdown, instead.")
@click.option("--out", type=click.Path(path_type=Path), default=None, metavar="FILE",
              help="Write to FILE instead of printing.")
@click.option("--force", is_flag=True, help="Replace an existing FILE.")
@_handled
def schema(sweep: bool, reference: bool, out: Path | None, force: bool) -> None:
    """Print the JSON Schema of the scenario format, for editors.

    \b
    escalation schema --out scenario.schema.json
    then, on the first line of a scenario file beside it (YAML language server):
    # yaml-language-server: $schema=scenario.schema.json
    """
    from sim.errors import ResultsError

    if sweep and reference:
        raise click.UsageError("give --sweep or --reference, not both")
    if reference:
        from sim.reference import field_reference

        text = field_reference()
    elif sweep:
        from sim.analysis.sweepspec import sweep_json_schema

        text = json.dumps(sweep_json_schema(), indent=2) + "\n"
    else:
        from sim.scenario.schema_json import scenario_json_schema

        text = json.dumps(scenario_json_schema(), indent=2) + "\n"
    if out is None:
        click.echo(text, nl=False)
        return
    if out.exists() and not force:
        raise ResultsError(f"{out} exists; use --force to replace it")
    out.write_text(text, encoding="utf-8")
    click.echo(f"wrote {out}")


def _execution(workers: int | None, executor: str, scheduler: str | None,
               progress: Callable[[int, int], None] | None = None,
               chunk_size: int | None = None) -> Any:
    from sim.batch import Execution

    return Execution(workers=workers, executor=executor, scheduler=scheduler,
                     chunk_size=chunk_size, progress=progress)


def _execution_options(fn: F) -> F:
    """``--workers``, ``--executor`` and ``--scheduler``, shared by every command that runs."""
    for option in reversed((
        click.option("--workers", type=click.IntRange(min=1), default=None,
                     help="Worker processes [default: all cores]."),
        click.option("--executor", type=click.Choice(EXECUTORS), default="auto",
                     show_default=True),
        click.option("--scheduler", metavar="ADDRESS", default=None,
                     help="A Dask scheduler, e.g. tcp://10.0.0.5:8786 (implies --executor "
                          "dask)."),
    )):
        fn = option(fn)
    return fn


def _folder_options(kind: str, resume_help: str, json_help: str) -> Callable[[F], F]:
    """``--out``, ``--force``, ``--resume``, ``--json`` and ``-q`` of a command that writes
    a results folder named ``results/<scenario>-<kind>-<timestamp>`` by default."""
    options = [
        click.option("--out", type=str, default=None, callback=_out_path,
                     help=f"Results folder [default: results/<scenario>-{kind}-<timestamp>]."),
        click.option("--force", is_flag=True, help="Replace an existing results folder."),
        click.option("--resume", "resume", type=click.Path(path_type=Path), default=None,
                     metavar="DIR", help=resume_help),
        click.option("--json", "as_json", is_flag=True, help=json_help),
        click.option("-q", "--quiet", is_flag=True,
                     help="Hide the progress bar (the results are still printed; --json "
                          "prints them for programs)."),
    ]

    def apply(fn: F) -> F:
        for option in reversed(options):
            fn = option(fn)
        return fn

    return apply


def _emit(as_json: bool, data: Callable[[], Any], render: Callable[[], None]) -> None:
    """Print ``data()`` as JSON for machines, or ``render()`` a table for people."""
    if as_json:
        from sim.results import clean_json

        click.echo(json.dumps(clean_json(data()), indent=2, default=str, allow_nan=False))
    else:
        render()


def _parse_sets(values: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"expected NAME=VALUE, got '{item}'", param_hint="--set")
        if name.strip() in out:
            raise click.BadParameter(f"'{name.strip()}' is set twice; set each parameter once",
                                     param_hint="--set")
        out[name.strip()] = value
    return out


def _out_path(ctx: click.Context, param: click.Parameter, value: str | None) -> Path | None:
    """``--out``: a folder name; an empty one is refused (it would mean this folder)."""
    if value is None:
        return None
    if not value.strip():
        raise click.BadParameter("is empty; give a folder name")
    return Path(value)


def _parse_trace(value: str | None) -> int:
    if value is None:
        return 0
    if value == "all":
        return -1
    try:
        k = int(value)
    except ValueError:
        raise click.BadParameter(f"expected a number of runs or 'all', got '{value}'",
                                 param_hint="--trace") from None
    if k < 0:
        raise click.BadParameter("must be >= 0", param_hint="--trace")
    return k


def _resume_settings(folder: Path, runs: int, seed: int) -> tuple[int, int]:
    """Runs and seed for ``--resume``: the folder's, unless typed (then they must match)."""
    from sim.results import load_results

    manifest = load_results(folder, summary=False).manifest
    old_runs = manifest.runs_cap or manifest.runs
    return (runs if _given("runs") else old_runs), (seed if _given("seed") else manifest.seed)


@cli.command()
@click.argument("scenario", type=click.Path(path_type=Path), required=False)
@click.option("-n", "--runs", default=1000, show_default=True,
              type=click.IntRange(min=1, max=1_000_000_000),
              help="Number of runs (the cap, with --precision).")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0, max=2**63 - 1),
              help="Root seed: run i uses SeedSequence(seed, spawn_key=(i,)).")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE",
              help="Override a parameter (repeatable, once per parameter).")
@_execution_options
@click.option("--chunk-size", type=click.IntRange(min=1), default=None,
              help="Runs per chunk (one Parquet file each).")
@click.option("--out", type=str, default=None, callback=_out_path,
              help="Results folder [default: results/<scenario>-<timestamp>].")
@click.option("--force", is_flag=True,
              help="Replace an existing results folder (only one this program wrote).")
@click.option("--resume", "resume", type=click.Path(path_type=Path), default=None,
              metavar="DIR", help="Finish the interrupted batch in DIR, running only its "
                                  "missing chunks; the folder holds everything else.")
@click.option("--precision", type=click.FloatRange(0, 0.5, min_open=True, max_open=True),
              default=None, metavar="H",
              help="Add chunks until every outcome's 95% interval half-width is <= H "
                   "(-n is the cap).")
@click.option("--trace", "trace", is_flag=False, flag_value="all", default=None,
              metavar="[K]", help="Record events of the first K runs (all if K is omitted).")
@click.option("--json", "as_json", is_flag=True,
              help="Print the summary as JSON (with the results folder's path).")
@click.option("--joint", "joint", default=None, metavar="A,B",
              help="Also print the joint table of two outcome dimensions.")
@click.option("--rare", "rare", default=None, metavar="OUTCOME",
              help="Estimate a rare outcome (DIMENSION=CLASS) by importance sampling of "
                   "trigger probabilities: a pilot chooses the tilts, then -n weighted runs.")
@click.option("--pilot", "pilot", type=click.IntRange(min=100, max=10_000_000), default=1000,
              show_default=True, help="With --rare: pilot runs per stage (3 stages).")
@click.option("-q", "--quiet", is_flag=True,
              help="Hide the progress bar (the results are still printed; --json prints "
                   "them for programs).")
@_handled
def run(scenario: Path | None, runs: int, seed: int, sets: tuple[str, ...],
        workers: int | None, executor: str, scheduler: str | None, chunk_size: int | None,
        out: Path | None, force: bool, resume: Path | None, precision: float | None,
        trace: str | None, joint: str | None, rare: str | None, pilot: int, as_json: bool,
        quiet: bool) -> None:
    """Run a Monte Carlo batch of a scenario and summarise its outcomes and paths.

    \b
    escalation run scenarios/bryansk_atacms_2024.yaml -n 20000 --seed 7
    escalation run scenarios/bryansk_atacms_2024.yaml --rare nuclear=used -n 10000
    escalation run --resume results/base      # finish an interrupted batch
    """
    if executor in ("auto", "processes") and workers != 1:
        _warm_workers()
    from sim.batch import default_out, resume_batch, run_batch
    from sim.scenario import load_scenario
    from sim.show import print_joint, print_summary, progress_bar

    if joint is not None:
        from sim.analysis.joint import joint_of, parse_pair
    command = ["escalation", *sys.argv[1:]]
    if resume is not None and rare is None:
        rare = _folder_target(resume)  # a rare-event folder resumes as one
    if rare is not None or _given("pilot"):
        _run_rare(scenario, rare, pilot, runs, seed, sets, workers, executor, scheduler,
                  chunk_size, out, force, resume, as_json, quiet, command)
        return
    if resume is not None:
        given = [f"--{n.replace('_', '-')}" for n in ("precision", "trace", "chunk_size",
                                                      "out", "force") if _given(n)]
        if given:
            raise click.UsageError("--resume DIR takes these from the folder; drop "
                                   + ", ".join(given))
        runs, seed = _resume_settings(resume, runs, seed)
        with progress_bar(runs, disable=quiet or as_json) as advance:
            execution = _execution(workers, executor, scheduler, advance)
            if scenario is None and not sets and not _given("runs") and not _given("seed"):
                result = resume_batch(resume, execution, command=command)
                sc = load_scenario_from(resume)
            else:  # also given: they must match the folder's, or resuming is refused
                if scenario is None:
                    sc = load_scenario_from(resume)
                    overrides: dict[str, Any] = {
                        **load_results_overrides(resume), **_parse_sets(sets)}
                else:
                    sc = load_scenario(scenario)
                    overrides = dict(_parse_sets(sets))
                result = run_batch(sc, runs, seed, overrides, execution=execution, out=resume,
                                   command=command, resume=True,
                                   precision=_folder_precision(resume))
    else:
        if scenario is None:
            raise click.UsageError("give a SCENARIO file (or --resume DIR)")
        sc = load_scenario(scenario)
        _warn(sc)
        overrides = _parse_sets(sets)
        sc.resolve_parameters(overrides)  # fail before creating any folder
        if joint is not None:
            parse_pair(sc.spec, joint)
        target = out or default_out(sc)
        with progress_bar(runs, disable=quiet or as_json) as advance:
            result = run_batch(sc, runs, seed, overrides,
                               execution=_execution(workers, executor, scheduler, advance,
                                                    chunk_size),
                               out=target, force=force, trace=_parse_trace(trace),
                               command=command, precision=precision,
                               overrides_by="set on the command line")
    pair = parse_pair(sc.spec, joint) if joint is not None else None
    table = joint_of(result.runs_table(), sc.spec, *pair) if pair is not None else None
    if as_json:
        data = result.as_dict()
        if table is not None:
            data["joint"] = table.as_dict()
        _emit(True, lambda: data, lambda: None)
    else:
        print_summary(sc, result, _console())
        if table is not None:
            print_joint(table, _console())
        if precision is not None:
            click.echo(f"precision {precision:g}: stopped after {result.runs:,} of at most "
                       f"{runs:,} runs")
    if resume is not None and result.computed:
        from sim.results import ResultsFolder

        made = ResultsFolder(resume).derived_outputs()
        if made:
            click.echo(f"escalation: note: {', '.join(str(p) for p in made)} were made before "
                       f"this resume; make them again (plot/report --force)", err=True)
    if result.failed:
        click.echo(f"escalation: {result.failed} of {result.runs} runs failed; see the 'error' "
                   f"column in {result.out}/runs" + (f"; e.g. {result.summary.errors[0].error}"
                                                     if result.summary.errors else ""),
                   err=True)
        if result.summary.runs == 0:
            sys.exit(EXIT_ALL_FAILED)


def _run_rare(scenario: Path | None, rare: str | None, pilot: int, runs: int, seed: int,
              sets: tuple[str, ...], workers: int | None, executor: str,
              scheduler: str | None, chunk_size: int | None, out: Path | None, force: bool,
              resume: Path | None, as_json: bool, quiet: bool, command: list[str]) -> None:
    """``run --rare OUTCOME``: a rare-event estimate (see sim.batch.rare)."""
    from sim.batch import default_out
    from sim.batch.rare import estimate_rare, rare_label
    from sim.scenario import load_scenario
    from sim.show import print_summary, progress_bar

    if rare is None:
        raise click.UsageError("--pilot goes with --rare OUTCOME")
    if not rare.strip():
        raise click.BadParameter("is empty; give an outcome (DIMENSION=CLASS)",
                                 param_hint="--rare")
    why = {"precision": "it stops on plain intervals, and a rare-event interval comes from "
                        "the runs' weights",
           "trace": "a traced run would be a tilted one, not a run of the model; trace "
                    "plain runs without --rare",
           "joint": "its cells count runs, and tilted runs' counts are not probabilities"}
    refused = [n for n in why if _given(n)]
    if refused:
        raise click.UsageError("--rare cannot be combined with " + "; ".join(
            f"--{n}: {why[n]}" for n in refused))
    overrides: dict[str, Any] = dict(_parse_sets(sets))
    if resume is not None:
        given = [f"--{n.replace('_', '-')}" for n in ("chunk_size", "out", "force")
                 if _given(n)]
        if given:
            raise click.UsageError("--resume DIR takes these from the folder; drop "
                                   + ", ".join(given))
        runs, seed = _resume_settings(resume, runs, seed)
        if not _given("pilot"):
            pilot = _folder_pilot(resume, pilot)
        sc = load_scenario(scenario) if scenario is not None else load_scenario_from(resume)
        if scenario is None:
            overrides = {**load_results_overrides(resume), **overrides}
        target = resume
    else:
        if scenario is None:
            raise click.UsageError("give a SCENARIO file (or --resume DIR)")
        sc = load_scenario(scenario)
        _warn(sc)
        sc.resolve_parameters(overrides)  # fail before creating any folder
        target = out or default_out(sc, suffix="-rare")
    try:
        rare = rare_label(sc, rare, overrides)  # every problem before the pilot
    except ScenarioError as exc:
        if resume is None or _given("rare"):
            raise
        raise ResultsError(f"{resume / 'manifest.json'}: rare: {exc}; the file was "
                           f"edited") from None
    with progress_bar(runs, disable=quiet or as_json) as advance:
        result = estimate_rare(sc, rare, runs, seed, overrides, pilot=pilot,
                               execution=_execution(workers, executor, scheduler, advance,
                                                    chunk_size),
                               out=target, force=force, resume=resume is not None,
                               command=command, overrides_by="set on the command line")
    if as_json:
        _emit(True, result.as_dict, lambda: None)
    else:
        print_summary(sc, result, _console())
    if result.failed:
        click.echo(f"escalation: {result.failed} of {result.runs} runs failed; see the 'error' "
                   f"column in {result.out}/runs", err=True)
        if result.summary.runs == 0:
            sys.exit(EXIT_ALL_FAILED)


def _folder_target(folder: Path) -> str | None:
    """The outcome a rare-event results folder estimates (None for any other folder, or
    one that cannot be read: resuming it says why)."""
    from sim.errors import SimError
    from sim.results import load_results

    try:
        rare = load_results(folder, summary=False).manifest.rare
    except SimError:
        return None
    return None if rare is None else str(rare["target"])


def _folder_pilot(folder: Path, default: int) -> int:
    """The pilot size of a rare-event folder being resumed (``default`` if it has none)."""
    from sim.results import load_results

    rare = load_results(folder, summary=False).manifest.rare
    return default if rare is None else int(rare["pilot_runs"])


def _folder_precision(folder: Path) -> float | None:
    """The --precision a results folder's batch stops at (None if it runs them all)."""
    from sim.results import load_results

    return load_results(folder, summary=False).manifest.precision


def load_results_overrides(folder: Path) -> dict[str, Any]:
    from sim.results import load_results

    return dict(load_results(folder, summary=False).manifest.overrides)


def load_scenario_from(folder: Path) -> Any:
    """The scenario a results folder ran (as its file had it)."""
    from sim.batch.runner import scenario_of
    from sim.results import load_results

    return scenario_of(load_results(folder, summary=False))


def _given(name: str) -> bool:
    """Whether an option was typed on the command line (not a default)."""
    from click.core import ParameterSource

    return click.get_current_context().get_parameter_source(name) == ParameterSource.COMMANDLINE


@cli.command()
@click.argument("scenario", type=click.Path(path_type=Path), required=False)
@click.option("--spec", type=click.Path(path_type=Path), default=None,
              help="A sweep file (scenario, vary, design, samples, runs, seed, set); options "
                   "given on the command line win.")
@click.option("--vary", "vary", multiple=True, metavar="NAME=LO:HI:STEPS|V1,V2",
              help="A parameter to vary (repeatable): STEPS evenly spaced values from LO to "
                   "HI (5 when :STEPS is left out), or the values listed; NAME alone uses "
                   "its declared range.")
@click.option("--design", type=click.Choice(["grid", "lhs", "sobol"]), default="grid",
              show_default=True)
@click.option("--samples", type=click.IntRange(min=1), default=None,
              help="Points for lhs/sobol designs [default: the power of two at or above 10 "
                   "per varied parameter, at least 8: 16 for one parameter, 32 for two or "
                   "three].")
@click.option("-n", "--runs", default=1000, show_default=True, type=click.IntRange(min=1),
              help="Runs per point.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0))
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE",
              help="Fix another parameter (repeatable).")
@_execution_options
@_folder_options("sweep", "Finish the unfinished sweep in DIR (same design and seed).",
                 "Print each point's outcome probabilities as JSON (with the folder's path).")
@_handled
def sweep(scenario: Path | None, spec: Path | None, vary: tuple[str, ...], design: str,
          samples: int | None, runs: int, seed: int, sets: tuple[str, ...],
          workers: int | None, executor: str, scheduler: str | None, out: Path | None,
          force: bool, resume: Path | None, as_json: bool, quiet: bool) -> None:
    """Run a batch at each point of a parameter design, all on the same random streams.

    \b
    escalation sweep scenarios/bryansk_atacms_2024.yaml --vary intercept_prob=0.5:0.95:10 -n 2000
    escalation sweep --spec scenarios/sweeps/air_defence.yaml
    """
    from sim.analysis.sweeps import run_sweep
    from sim.analysis.sweepspec import load_sweep_spec
    from sim.batch import default_out
    from sim.scenario import load_scenario
    from sim.show import print_sweep, progress_bar

    fixed: dict[str, Any] = {}
    factors = list(vary)
    if spec is not None:
        sheet, from_sheet = load_sweep_spec(spec)
        scenario = scenario or from_sheet
        factors = factors or sheet.factors()
        design = design if _given("design") else sheet.design
        samples = samples if _given("samples") else sheet.samples
        runs = runs if _given("runs") else sheet.runs
        seed = seed if _given("seed") else sheet.seed
        fixed.update(sheet.set)
    if scenario is None:
        raise click.UsageError("give a SCENARIO file (or a --spec file naming one)")
    if not factors:
        raise click.UsageError("give at least one --vary (or a --spec file with 'vary:')")
    sc = load_scenario(scenario)
    _warn(sc)
    fixed.update(_parse_sets(sets))
    sc.resolve_parameters(fixed)
    if resume is not None:
        runs, seed = _resume_settings(resume, runs, seed)
    target = resume or out or default_out(sc, suffix="-sweep")
    with progress_bar(None, disable=quiet or as_json) as advance:
        result = run_sweep(sc, factors, runs, seed, design=design, samples=samples,
                           fixed=fixed, execution=_execution(workers, executor, scheduler,
                                                             advance),
                           out=target, force=force, command=["escalation", *sys.argv[1:]],
                           resume=resume is not None)
    _emit(as_json, result.as_dict, lambda: print_sweep(result, _console()))


@cli.command()
@click.argument("scenario", type=click.Path(path_type=Path))
@click.option("--outcome", required=True,
              help="The outcome whose probability is analysed (DIMENSION=CLASS with several "
                   "dimensions).")
@click.option("--method", type=click.Choice(["sobol", "morris"]), default="sobol",
              show_default=True)
@click.option("--vary", "vary", multiple=True, metavar="NAME",
              help="A parameter to include (repeatable) [default: all with a declared range].")
@click.option("--samples", type=click.IntRange(min=2), default=64, show_default=True,
              help="Sobol': base samples N (N*(d+2) points; a power of two). "
                   "Morris: trajectories (N*(d+1) points).")
@click.option("-n", "--runs", default=200, show_default=True, type=click.IntRange(min=1),
              help="Runs per point.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0))
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE",
              help="Fix another parameter (repeatable).")
@_execution_options
@_folder_options("sensitivity", "Finish the interrupted analysis in DIR (same command).",
                 "Print the indices as JSON.")
@_handled
def sensitivity(scenario: Path, outcome: str, method: str, vary: tuple[str, ...],
                samples: int, runs: int, seed: int, sets: tuple[str, ...],
                workers: int | None, executor: str, scheduler: str | None, out: Path | None,
                force: bool, resume: Path | None, as_json: bool, quiet: bool) -> None:
    """Rank parameters by their influence on an outcome's probability (Sobol' or Morris)."""
    from sim.analysis.sensitivity import sensitivity as run_sensitivity
    from sim.batch import default_out
    from sim.scenario import load_scenario
    from sim.show import print_sensitivity, progress_bar

    sc = load_scenario(scenario)
    _warn(sc)
    fixed: dict[str, Any] = _parse_sets(sets)
    sc.resolve_parameters(fixed)
    if resume is not None:
        runs, seed = _resume_settings(resume, runs, seed)
    target = resume or out or default_out(sc, suffix="-sensitivity")
    with progress_bar(None, disable=quiet or as_json) as advance:
        result = run_sensitivity(sc, outcome, method, list(vary) or None, samples=samples,
                                 runs=runs, seed=seed, fixed=fixed,
                                 execution=_execution(workers, executor, scheduler, advance),
                                 out=target, force=force, command=["escalation", *sys.argv[1:]],
                                 resume=resume is not None)
    _emit(as_json, result.as_dict, lambda: print_sensitivity(result, _console()))


@cli.command()
@click.argument("scenario", type=click.Path(path_type=Path), required=False)
@click.option("--observed", "observed", required=True, type=click.Path(path_type=Path),
              metavar="FILE", help="The observation file (what happened, dated).")
@click.option("-n", "--runs", default=2000, show_default=True,
              type=click.IntRange(min=1, max=1_000_000_000))
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0, max=2**63 - 1))
@click.option("--as-of", "as_of", default=None, metavar="DATE",
              help="Also forecast from the runs consistent with every observation known by "
                   "DATE (a date or clock time).")
@_execution_options
@_folder_options("backtest",
                 "Finish the interrupted backtest in DIR (the same command plus --resume DIR).",
                 "Print the scores as JSON (with the results folder's path).")
@_handled
def backtest(scenario: Path | None, observed: Path, runs: int, seed: int, as_of: str | None,
             workers: int | None, executor: str, scheduler: str | None, out: Path | None,
             force: bool, resume: Path | None, as_json: bool, quiet: bool) -> None:
    """Score a scenario against what happened: each observation's probability, its dates'
    PIT and 90% range, Brier and log scores with their skill.

    \b
    escalation backtest --observed scenarios/observed/tit_for_tat.yaml -n 5000
    """
    from sim.analysis.backtest import backtest as run_backtest
    from sim.analysis.backtest import check_as_of, prepared
    from sim.batch import default_out
    from sim.show import print_backtest, progress_bar

    sc, _, _ = prepared(scenario, observed)  # every problem before any folder is made
    check_as_of(sc, as_of)
    if resume is not None:
        runs, seed = _resume_settings(resume, runs, seed)
    target = resume or out or default_out(sc, suffix="-backtest")
    with progress_bar(runs, disable=quiet or as_json) as advance:
        result = run_backtest(sc, observed, runs, seed, out=target, force=force, as_of=as_of,
                              execution=_execution(workers, executor, scheduler, advance),
                              command=["escalation", *sys.argv[1:]],
                              resume=resume is not None)
    _emit(as_json, result.as_dict, lambda: print_backtest(result, _console()))
    if result.as_of is not None and "refused" in result.as_of:
        click.echo(f"escalation: error: {result.as_of['refused']} (the scores above stand)",
                   err=True)
        sys.exit(EXIT_ERROR)


@cli.command()
@click.argument("scenario", type=click.Path(path_type=Path), required=False)
@click.option("--observed", "observed", required=True, type=click.Path(path_type=Path),
              metavar="FILE", help="The observation file (what happened, dated).")
@click.option("--vary", "vary", multiple=True, required=True, metavar="NAME[=LO:HI]",
              help="A parameter to fit (repeatable): uniform prior on its declared range, "
                   "or on LO:HI.")
@click.option("--samples", type=click.IntRange(min=2, max=100_000), default=64,
              show_default=True, help="Points drawn from the prior (Latin hypercube).")
@click.option("-n", "--runs", default=500, show_default=True,
              type=click.IntRange(min=1, max=1_000_000_000), help="Runs per point.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0, max=2**63 - 1))
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE",
              help="Fix another parameter (repeatable).")
@click.option("--variant", type=click.Path(path_type=Path, dir_okay=False), default=None,
              metavar="FILE", help="Also write a variant scenario that extends SCENARIO with "
                                   "the fitted values and records this command (--force "
                                   "replaces an existing file).")
@click.option("--estimate", type=click.Choice(["mode", "mean"]), default="mode",
              show_default=True, help="The variant's values: the posterior mode over the "
                                      "design (values tried together) or each mean.")
@_execution_options
@_folder_options("calibration", "Finish the unfinished calibration in DIR (same command).",
                 "Print the posterior as JSON.")
@_handled
def calibrate(scenario: Path | None, observed: Path, vary: tuple[str, ...], samples: int,
              runs: int, seed: int, sets: tuple[str, ...], variant: Path | None,
              estimate: str, workers: int | None,
              executor: str, scheduler: str | None, out: Path | None, force: bool,
              resume: Path | None, as_json: bool, quiet: bool) -> None:
    """Fit assumptions to what happened (rejection ABC over their ranges): posterior means,
    the mode over the design, 90% credible intervals, effective sample size and the
    posterior predictive outcomes; --variant also writes the fitted values as a variant.

    \b
    escalation calibrate --observed scenarios/observed/tit_for_tat.yaml \
        --vary retaliation_prob --vary strike_mean --samples 64 -n 500
    """
    from sim.analysis.backtest import prepared
    from sim.analysis.calibrate import calibrate as run_calibrate
    from sim.batch import default_out
    from sim.show import print_calibration, progress_bar

    sc, _, _ = prepared(scenario, observed)  # every problem before any folder is made
    fixed: dict[str, Any] = _parse_sets(sets)
    sc.resolve_parameters(fixed)
    if variant is not None:
        _check_variant_target(variant, force, sc.path)
    if resume is not None:
        runs, seed = _resume_settings(resume, runs, seed)
    target = resume or out or default_out(sc, suffix="-calibration")
    command = ["escalation", *sys.argv[1:]]
    with progress_bar(None, disable=quiet or as_json) as advance:
        result = run_calibrate(sc, observed, list(vary), samples, runs, seed, fixed=fixed,
                               out=target, force=force, resume=resume is not None,
                               execution=_execution(workers, executor, scheduler, advance),
                               command=command)
    _emit(as_json, result.as_dict, lambda: print_calibration(result, _console()))
    if variant is not None:
        from sim.analysis.variant import variant_text

        _write_variant(variant, variant_text(result, sc, variant, estimate=estimate,
                                             command=command))
        if not as_json:
            click.echo(f"variant: {variant} (the posterior {estimate})")


def _warm_workers() -> None:
    """Start the server local workers fork from now, so that its imports overlap this
    process's own (about half a second of a batch's start on two cores)."""
    if sys.platform.startswith("linux"):
        from sim.forkserver import warm

        warm()


def _check_variant_target(variant: Path, force: bool, scenario_path: str | None) -> None:
    """Refuse a variant file that cannot be written, before any run."""
    from sim.errors import ResultsError

    if scenario_path is None:
        raise ResultsError("--variant: the scenario was not read from a file, so a variant "
                           "cannot extend it")
    if variant.resolve() == Path(scenario_path).resolve():
        raise ResultsError(f"--variant {variant}: that is the scenario being calibrated")
    if not variant.parent.is_dir():
        raise ResultsError(f"--variant {variant}: no folder {variant.parent}")
    if variant.exists() and not force:
        raise ResultsError(f"--variant {variant} exists; use --force to replace it")


def _write_variant(variant: Path, text: str) -> None:
    """Write the variant only once it loads as a scenario, in one step (never half)."""
    import os
    import tempfile

    from sim.scenario import load_scenario

    fd, tmp = tempfile.mkstemp(prefix=".variant-", suffix=".yaml", dir=variant.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        load_scenario(tmp)  # it extends the base and sets values in their ranges
        os.replace(tmp, variant)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@cli.command()
@click.argument("sweep_dir", metavar="SWEEP", type=click.Path(path_type=Path))
@click.option("--outcome", required=True,
              help="The outcome to explain (DIMENSION=CLASS with several dimensions).")
@click.option("--threshold", type=click.FloatRange(0, 1), default=None, callback=lambda c, p, v:
              _finite(v, "--threshold"),
              help="Points with P(outcome) >= this are of interest [default: upper quartile].")
@click.option("--min-coverage", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              callback=lambda c, p, v: _finite(v, "--min-coverage"),
              help="The densest box on the peeling trajectory with at least this coverage.")
@click.option("--json", "as_json", is_flag=True, help="Print the box as JSON.")
@_handled
def discover(sweep_dir: Path, outcome: str, threshold: float | None, min_coverage: float,
             as_json: bool) -> None:
    """Scenario discovery (PRIM): the parameter box where an outcome is most likely."""
    from sim.analysis.discovery import discover as run_discover
    from sim.show import print_discovery

    found = run_discover(sweep_dir, outcome, threshold, min_coverage=min_coverage)
    _emit(as_json, found.as_dict, lambda: print_discovery(found, _console()))


@cli.command()
@click.argument("sweep_dir", metavar="SWEEP", type=click.Path(path_type=Path))
@click.option("--ema", "ema", type=click.Path(path_type=Path), required=True,
              help="Write an EMA Workbench results file (.tar.gz) here.")
@click.option("--force", is_flag=True, help="Replace an existing file.")
@_handled
def export(sweep_dir: Path, ema: Path, force: bool) -> None:
    """Export a sweep as EMA Workbench experiments and outcomes."""
    from sim.analysis.discovery import export_ema
    from sim.errors import ResultsError

    if ema.exists() and not force:
        raise ResultsError(f"{ema} exists; use --force to replace it")
    path = export_ema(sweep_dir, ema)
    click.echo(f"wrote {path} (read it with ema_workbench.load_results)")


@cli.command()
@click.argument("results", nargs=-1, required=True)
@click.option("--allow-different", is_flag=True,
              help="Compare results of scenarios with different outcomes (missing ones count "
                   "as 0).")
@click.option("--out", "out_file", type=click.Path(path_type=Path), default=None,
              help="Also write the table to this .csv, .parquet or .json file.")
@click.option("--force", is_flag=True, help="Replace an existing --out file.")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@_handled
def compare(results: tuple[str, ...], allow_different: bool, out_file: Path | None,
            force: bool, as_json: bool) -> None:
    """Compare outcome probabilities of result folders (or sweep points, as DIR@3)."""
    from sim.analysis.compare import compare as run_compare
    from sim.show import print_comparison

    cmp = run_compare(list(results), allow_different=allow_different)
    if as_json:  # the table prints its notes; JSON keeps stdout for the data
        for note in cmp.notes:
            click.echo(f"escalation: note: {note}", err=True)
    _emit(as_json, cmp.as_dict, lambda: print_comparison(cmp, _console()))
    if out_file is not None:
        click.echo(f"wrote {cmp.write(out_file, force)}", err=as_json)


@cli.command()
@click.argument("results", nargs=-1, required=True)
@click.option("--kind", "kinds", multiple=True,
              type=click.Choice(["outcomes", "occupancy", "reach", "paths", "run", "sweep",
                                 "sensitivity", "reliability", "event_times"]),
              help="A figure to draw (repeatable) [default: every one that fits the folder].")
@click.option("--run", "run", type=click.IntRange(min=0), default=None,
              help="Also draw this traced run's timeline (needs a batch run with --trace).")
@click.option("--format", "fmt", type=click.Choice(["png", "svg", "pdf"]), default="png",
              show_default=True)
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Folder for the figures [default: RESULTS/plots].")
@click.option("--force", is_flag=True, help="Replace figures that already exist.")
@click.option("--allow-different", is_flag=True,
              help="With several results: compare scenarios with different outcomes.")
@_handled
def plot(results: tuple[str, ...], kinds: tuple[str, ...], run: int | None, fmt: str,
         out: Path | None, force: bool, allow_different: bool) -> None:
    """Draw figures from results folders (never re-running anything).

    \b
    One folder: its figures (outcomes, occupancy, reach, paths; sweep; sensitivity).
    Several folders or sweep points (DIR@k): outcome probabilities side by side and their
    differences from the first (compare.png).
    """
    from sim.plots import compare_bars, figures_for, save_figures

    first = Path(results[0].rpartition("@")[0] if "@" in results[0]
                 and not Path(results[0]).exists() else results[0])
    if len(results) > 1:
        figures = {"compare": compare_bars(list(results), allow_different)}
    elif first != Path(results[0]):
        raise click.UsageError("a single sweep point has no figures of its own; compare two "
                               "points (DIR@0 DIR@3) or plot the sweep (DIR)")
    else:
        figures = figures_for(first, list(kinds) or None, run=run)
    from sim.results import ResultsFolder

    target = out or ResultsFolder(first).plots_folder()
    for path in save_figures(figures, target, fmt, force=force):
        click.echo(f"wrote {path}")


@cli.command()
@click.argument("results", type=click.Path(path_type=Path))
@click.option("--run", "run", type=click.IntRange(min=0), default=None,
              help="Include this traced run's timeline.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="The HTML file [default: RESULTS/report.html].")
@click.option("--force", is_flag=True, help="Replace an existing report.")
@_handled
def report(results: Path, run: int | None, out: Path | None, force: bool) -> None:
    """Write a self-contained HTML report: scenario, cited assumptions, tables, figures."""
    from sim.report import write_report

    click.echo(f"wrote {write_report(results, out, run=run, force=force)}")


def _finite(value: float | None, flag: str) -> float | None:
    import math

    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"must be a finite number, got {value}", param_hint=flag)
    return value


#: Thread counts of the numerical libraries numpy may load; see :func:`one_blas_thread`.
BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def one_blas_thread(environ: MutableMapping[str, str]) -> None:
    """One BLAS thread per process, unless the user set a count (Dask's workers do the same).

    The engine does no linear algebra worth threads, and each process here is already one
    of several on the cores. Set before numpy loads, it is inherited by the workers' fork
    server. Without it OpenBLAS starts a thread per core in every process, and two processes
    starting at once (the command and the server) slow each other by about 0.1 s.
    ``OMP_NUM_THREADS`` is left alone: Arrow sizes its thread pool by it."""
    for name in BLAS_THREADS:
        environ.setdefault(name, "1")


#: Signals that stop the command as Ctrl-C does (chunks kept, the folder marked
#: interrupted, how to resume printed), exiting 128 + the signal's number.
STOP_SIGNALS = ("SIGTERM", "SIGHUP")
_stopped_by: list[int] = []


def _stop(signum: int, frame: object) -> None:
    """SIGTERM or SIGHUP: stop as Ctrl-C does."""
    _stopped_by.append(signum)
    raise KeyboardInterrupt


def handle_stop_signals() -> None:
    """Treat :data:`STOP_SIGNALS` as Ctrl-C, unless they are ignored (``nohup``)."""
    import signal

    for name in STOP_SIGNALS:
        sig = getattr(signal, name, None)
        if sig is not None and signal.getsignal(sig) == signal.SIG_DFL:
            signal.signal(sig, _stop)


def _release_multiprocessing() -> None:
    """Close multiprocessing's queues and unlink its named semaphores, as a normal exit
    does first (its finalizers with an exit priority of 0 or more; none of them waits).
    The later steps of a normal exit, which join worker processes and feeder threads and
    can wait for ever after an interruption, are what leaving with ``os._exit`` skips.
    Without this, the resource tracker warned of leaked semaphores."""
    util = sys.modules.get("multiprocessing.util")
    run_finalizers = getattr(util, "_run_finalizers", None)
    if callable(run_finalizers):
        with contextlib.suppress(Exception):
            run_finalizers(0)


def _leave(code: int) -> NoReturn:
    """End an interrupted command at once (see :func:`main`)."""
    import os

    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    _release_multiprocessing()
    os._exit(code)


def main() -> None:
    """Entry point of the ``escalation`` command.

    An interrupted command (exit 130; 143 for SIGTERM, 129 for SIGHUP) has kept its
    results and said how to resume by the time it gets here; it then leaves at once. A
    normal interpreter exit would wait for any thread still running, and a worker pool
    stopped in the middle of a task can leave one (its manager joining a worker blocked on
    a queue lock) that never ends. Worker processes end by themselves when this one does
    (see :mod:`sim.forkserver`), however it ends."""
    import os

    one_blas_thread(os.environ)
    handle_stop_signals()
    try:
        cli(prog_name="escalation")
    except SystemExit as exc:
        if _stopped_by:
            _leave(128 + _stopped_by[0])
        if exc.code == EXIT_INTERRUPTED:
            _leave(EXIT_INTERRUPTED)
        raise
    except BaseException:
        if _stopped_by:  # e.g. the message could not be printed: the terminal is gone
            _leave(128 + _stopped_by[0])
        raise
