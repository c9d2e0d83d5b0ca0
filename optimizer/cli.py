"""Command line: parse, call the API, print with Rich, map exit codes.

Exit codes (results-format.md): 0 solution found, 2 invalid instance, 3 infeasible
or unbounded, 4 limit hit with no feasible solution, 1 anything unexpected.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from . import options

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Hashpivot: plan a Bitcoin miner's pivot to AI compute (Pyomo + HiGHS).")
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _check_method(method: str) -> None:
    from .solver.config import METHODS

    if method not in METHODS:
        _fail(f"--method: expected one of {', '.join(METHODS)}, got {method!r}", 2)


def _solve_config(**options):
    """One SolveConfig from the command's options; a bad value exits 2."""
    from .solver.config import ConfigError, make_config

    if "method" in options:
        _check_method(options["method"])
    try:
        return make_config(**options)
    except ConfigError as exc:
        _fail(str(exc), 2)


def _progress_line(progress) -> None:
    err.print(progress.line(), markup=False, highlight=False)


def _fail(message: str, code: int) -> None:
    err.print(message, markup=False, highlight=False)
    raise typer.Exit(code)


def _load(path: Path):
    from .instance import InstanceError, load_instance

    try:
        return load_instance(path)
    except InstanceError as exc:
        n = len(exc.problems)
        _fail(f"{path}: invalid instance ({n} problem{'s' if n != 1 else ''}):\n{exc}", 2)


@app.command()
def validate(instance: Path = typer.Argument(..., help="instance YAML file")) -> None:
    """Load and check an instance only; print every problem found."""
    inst = _load(instance)
    out.print(f"{instance}: valid ({len(inst.sites)} site(s), {inst.horizon.periods} "
              f"{inst.horizon.period}(s) from {inst.horizon.start})", highlight=False)


@app.command()
def schema(
    summary: bool = typer.Option(False, "--summary",
                                 help="the schema of a run folder's summary.json instead"),
) -> None:
    """Print the JSON Schema of the instance format (or of summary.json)."""
    if summary:
        from .results.summary import RunSummary

        sys.stdout.write(json.dumps(RunSummary.model_json_schema(), indent=2) + "\n")
        return
    from .instance import Instance

    sys.stdout.write(json.dumps(Instance.model_json_schema(), indent=2) + "\n")


@app.command()
def solve(
    instance: Path = typer.Argument(..., help="instance YAML file"),
    out_dir: Path = typer.Option(None, "--out", help="run folder (default runs/<name>)"),
    time_limit: float | None = options.time_limit(),
    mip_gap: float = options.mip_gap(),
    threads: int | None = typer.Option(None, "--threads"),
    resolution: str | None = options.resolution(),
    representative_days: int | None = options.representative_days(),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="stream HiGHS's log"),
    warm_start: Path | None = typer.Option(
        None, "--warm-start", help="run folder whose integer decisions start HiGHS"),
    method: str = options.method(),
    marginals: bool = options.marginals(),
) -> None:
    """Validate, build, solve and write a run folder."""
    from .api import solve as api_solve

    if resolution not in (None, "hourly", "representative"):
        _fail(f"--resolution: expected 'hourly' or 'representative', got {resolution!r}", 2)
    config = _solve_config(mip_gap=mip_gap, time_limit=time_limit, threads=threads,
                           resolution=resolution, representative_days=representative_days,
                           verbose=verbose, warm_start=warm_start, method=method,
                           marginals=marginals)
    if warm_start is not None and not (warm_start / "capex.csv").is_file():
        _fail(f"--warm-start: {warm_start} is not a run folder with a capex.csv", 2)
    t0 = time.perf_counter()
    inst = _load(instance)
    load_s = time.perf_counter() - t0
    if representative_days is not None and resolution != "hourly":
        shortest = min(inst.horizon.period_days())
        if representative_days > shortest:
            _fail(f"--representative-days: {representative_days} is more than the {shortest} "
                  f"days of the shortest period of {instance}", 2)
    target = out_dir or Path("runs") / inst.name
    from .results.writer import RunFolderError, check_target

    try:  # before the solve: a long solve must not end in "cannot write there"
        check_target(target)
    except RunFolderError as exc:
        _fail(str(exc), 2)
    try:
        with err.status("building and solving…") if not verbose and err.is_terminal else \
                _nullcontext():
            # one line per Benders iteration (bound, best plan, gap, time): a long solve
            # shows where it stands; --verbose streams the decomposition's own log instead
            result = api_solve(inst, config, load_time_s=load_s,
                               progress=None if verbose else _progress_line)
        written = result.write(target)
    except typer.Exit:
        raise
    except Exception as exc:  # noqa: BLE001 - the CLI reports, never dumps a traceback
        if os.environ.get("HASHPIVOT_DEBUG"):
            raise
        _fail(f"error: {type(exc).__name__}: {exc}", 1)
    _print_summary(result, written)
    if result.exit_code:
        for line in result.explanation:
            err.print(line, markup=False, highlight=False)
        reason = {3: "the model is infeasible or unbounded",
                  4: "a limit was hit before any feasible solution was found"}.get(
            result.exit_code, f"the solver ended with status {result.status}")
        _fail(f"{instance}: {reason}; see {written / 'solver.log'}", result.exit_code)


@app.command()
def check(
    run_dir: Path = typer.Argument(..., help="run folder written by solve"),
    tolerance: float = typer.Option(1e-6, "--tolerance", min=0,
                                    help="relative tolerance of every check"),
) -> None:
    """Recompute every constraint and cash flow of a run folder (no model, no solver)."""
    from .check import check_run

    if not (run_dir / "summary.json").is_file():
        _fail(f"{run_dir}: not a run folder (no summary.json)", 2)
    try:
        report = check_run(run_dir, tolerance=tolerance)
    except Exception as exc:  # noqa: BLE001 - report, never dump a traceback
        if os.environ.get("HASHPIVOT_DEBUG"):
            raise
        _fail(f"{run_dir}: cannot check: {type(exc).__name__}: {exc}", 1)
    out.print(report.to_text(), markup=False, highlight=False)
    if not report.ok:
        _fail(f"{run_dir}: check failed: {', '.join(report.failed())}", 1)


@app.command("compare-resolution")
def compare_resolution(
    instance: Path = typer.Argument(..., help="instance YAML file"),
    days: str = typer.Option("4,8,12", "--days", help="comma-separated K values"),
    out_csv: Path = typer.Option(None, "--out",
                                 help="CSV file (default runs/<name>-resolution.csv)"),
    time_limit: float | None = options.time_limit("each solve"),
    mip_gap: float = options.mip_gap(),
    threads: int | None = typer.Option(None, "--threads"),
    method: str = options.method(),
) -> None:
    """Solve hourly and with K representative days per period; report the error."""
    from .api import compare_resolution as api_compare

    try:
        ks = [int(k) for k in days.split(",") if k.strip()]
    except ValueError:
        _fail(f"--days: expected comma-separated whole numbers, got {days!r}", 2)
    if not ks or min(ks) < 1:
        _fail(f"--days: expected numbers >= 1, got {days!r}", 2)
    config = _solve_config(mip_gap=mip_gap, time_limit=time_limit, threads=threads,
                           method=method)
    inst = _load(instance)
    shortest = min(inst.horizon.period_days())
    too_big = [k for k in ks if k > shortest]
    if too_big:
        _fail(f"--days: {too_big[0]} is more than the {shortest} days of the shortest period", 2)
    table = api_compare(inst, ks, config)
    target = out_csv or Path("runs") / f"{inst.name}-resolution.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    table.to_csv(tmp, index=False)
    os.replace(tmp, target)
    view = Table(title=f"{inst.name}: representative days against hourly")
    for col in ("resolution", "steps", "NPV", "rel. error", "plan diff", "solve s", "total s"):
        view.add_column(col, justify="left" if col == "resolution" else "right")
    for r in table.itertuples():
        view.add_row(r.resolution, f"{r.steps:,}",
                     _usd(r.npv_usd) if r.npv_usd is not None else r.status,
                     f"{r.npv_rel_error:.3%}", f"{r.max_plan_diff_units:g}",
                     f"{r.solve_s:.1f}", f"{r.total_s:.1f}")
    out.print(view)
    out.print(f"written: {target}", highlight=False)


def _mount() -> None:
    """Commands that live beside the tools they run (each imports its heavy parts only
    when it runs)."""
    from .batch import batch_command
    from .hashprice import hashprice_command
    from .report import report_command
    from .sweep import sweep_command

    app.command("sweep")(sweep_command)
    app.command("batch")(batch_command)
    app.command("hashprice")(hashprice_command)
    app.command("report")(report_command)


_mount()


class _nullcontext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _usd(x: float) -> str:
    return f"{x / 1e6:,.2f} M$"


def _print_summary(result, written: Path) -> None:
    out.print(f"[bold]{result.instance.name}[/]: status [bold]{result.status}[/]")
    if not result.has_solution:
        return
    cap = result.capex
    table = Table(title="Plan: capex ordered by period and kind")
    table.add_column("period")
    table.add_column("start")
    table.add_column("kind")
    table.add_column("item")
    table.add_column("quantity", justify="right")
    table.add_column("capex", justify="right")
    for (p, start, kind, item), grp in cap.groupby(["period", "period_start", "kind", "item"],
                                                   sort=True):
        table.add_row(str(p), str(start.date()), kind, item, f"{grp['quantity'].sum():,.1f}",
                      _usd(grp["capex_usd"].sum()))
    if len(cap):
        out.print(table)
    t = result.timings_s
    k = result.kpis
    out.print(
        f"NPV [bold]{_usd(result.npv_usd)}[/]  best bound {_usd(result.best_bound_usd)}  "
        f"gap {result.mip_gap:.2e}  capex {_usd(k['total_capex_usd'])}  "
        f"AI share of energy {k['ai_share_of_site_energy']:.1%}  "
        f"mining uptime {k['mining_uptime']:.1%}", highlight=False)
    out.print("times (s): " + "  ".join(f"{name} {v:.2f}" for name, v in t.items())
              + (f"  (HiGHS run time {result.highs_run_time_s or 0:.2f}"
                 + (", Benders decomposition)" if result.method == "benders" else ")")),
              highlight=False)
    out.print(f"run folder: {written}", highlight=False)


def main() -> None:  # pragma: no cover - console entry
    """The console script: run the command, then leave without tearing down what the run
    built (Python would otherwise free every Pyomo object one by one at exit)."""
    code = 0
    try:
        app(prog_name="hashpivot")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
