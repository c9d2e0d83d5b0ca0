"""``hashpivot sweep``: the command around ``sweep()`` (mounted by the CLI).

Exit codes: 0 every scenario has a solution; 1 some scenario has none (infeasible,
error, a limit hit before any solution; named on stderr); 2 a usage error (a bad path,
option or output folder: nothing is run) or a scenario whose values do not validate
(its row says why; the others ran); 130 interrupted (the finished rows are on disk).
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

from .. import options

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False,
                  help="Sensitivity sweeps on kept models.")


def sweep_command(
    instance: Path = typer.Argument(..., help="instance YAML file"),
    vary: list[str] = typer.Option(
        None, "--vary", help="PATH=v1,v2,... or PATH*=f1,f2,... (repeat: cartesian product)"),
    scenarios: Path | None = typer.Option(
        None, "--scenarios", help="CSV: one column per PATH (or PATH*=), one row per scenario"),
    out: Path = typer.Option(..., "--out", help="folder for sweep.parquet and sweep.csv"),
    workers: int | None = typer.Option(
        None, "--workers", min=1, help="worker processes of the local cluster (default: cores)"),
    scheduler: str | None = typer.Option(
        None, "--scheduler", help="tcp://HOST:PORT of a running Dask scheduler instead"),
    resume: bool = typer.Option(False, "--resume",
                                help="skip scenarios with a finished row in --out"),
    keep_runs: bool = typer.Option(False, "--keep-runs",
                                   help="also write each run folder under OUT/runs/"),
    quiet: bool = typer.Option(False, "--quiet", help="one line per scenario, no bar"),
    time_limit: float | None = options.time_limit("each scenario's solve"),
    mip_gap: float = options.mip_gap(),
    threads: int | None = typer.Option(None, "--threads",
                                       help="HiGHS threads per worker (default 1)"),
    resolution: str | None = options.resolution(),
    representative_days: int | None = options.representative_days(),
    method: str = options.method(),
    warm_start: Path | None = typer.Option(
        None, "--warm-start", help="run folder whose integer decisions start each build"),
    marginals: bool = options.marginals(False, "marginal values (only written with --keep-runs)"),
) -> None:
    """Solve an instance under many overrides; one row per scenario in OUT/sweep.parquet."""
    from rich.console import Console

    from ..instance import InstanceError, load_instance
    from ..solver.config import ConfigError
    from .overrides import OverrideError, parse_vary
    from .runner import SweepError, exit_code, failures, read_scenarios_csv, sweep

    err = Console(stderr=True, soft_wrap=True, highlight=False)
    said = Console(soft_wrap=True, highlight=False)

    def fail(message: str, code: int) -> None:
        err.print(message, markup=False)
        raise typer.Exit(code)

    if bool(vary) == (scenarios is not None):
        fail("give --vary PATH=v1,v2,... (repeatable) or --scenarios FILE.csv, one of the two",
             2)
    if resolution not in (None, "hourly", "representative"):
        fail(f"--resolution: expected 'hourly' or 'representative', got {resolution!r}", 2)
    try:
        if vary:
            table: object = {}
            for option in vary:
                path, op, values = parse_vary(option)
                column = f"{path}{op}" if op != "=" else str(path)
                if column in table:
                    fail(f"--vary: {column} is given twice", 2)
                table[column] = values
        else:
            table = read_scenarios_csv(scenarios)
        inst = load_instance(instance)
        frame = sweep(inst, table, out=out, workers=workers, scheduler=scheduler,
                      resume=resume, keep_runs=keep_runs, quiet=quiet, console=err,
                      source="--vary" if vary else f"--scenarios {scenarios}",
                      time_limit=time_limit, mip_gap=mip_gap, threads=threads,
                      resolution=resolution, representative_days=representative_days,
                      method=method, warm_start=warm_start, marginals=marginals)
    except typer.Exit:
        raise
    except InstanceError as exc:
        n = len(exc.problems)
        fail(f"{instance}: invalid instance ({n} problem{'s' if n != 1 else ''}):\n{exc}", 2)
    except (OverrideError, SweepError, ConfigError) as exc:
        fail(str(exc), 2)
    except KeyboardInterrupt:
        fail(f"interrupted: the finished scenarios are in {out}", 130)
    except Exception as exc:  # noqa: BLE001 - the CLI reports, never dumps a traceback
        if os.environ.get("HASHPIVOT_DEBUG"):
            raise
        fail(f"error: {type(exc).__name__}: {exc}", 1)
    failed = failures(frame)
    counts = frame["status"].value_counts()
    said.print(f"{len(frame)} scenarios: " + ", ".join(f"{n} {s}" for s, n in counts.items())
               + f"; written: {out / 'sweep.parquet'}, {out / 'sweep.csv'}")
    code = exit_code(frame)
    if code:
        for r in failed.itertuples():
            err.print(f"{r.scenario}: {r.status}: {r.message}", markup=False)
        fail(f"{len(failed)} of {len(frame)} scenarios have no solution: "
             + ", ".join(failed["scenario"]), code)


app.command(name="sweep")(sweep_command)
