"""The solve options that the solving commands (solve, compare-resolution, sweep, batch)
share, declared once so that their flags, defaults and help read alike."""

from __future__ import annotations

import typer

METHOD_HELP = "auto (Benders on representative days, one MILP hourly) | monolithic | benders"


def mip_gap():
    return typer.Option(1e-4, "--mip-gap", help="relative MIP gap, 0 <= gap < 1")


def method():
    return typer.Option("auto", "--method", help=METHOD_HELP)


def resolution():
    return typer.Option(None, "--resolution",
                        help="hourly | representative (overrides the instance's)")


def representative_days():
    return typer.Option(None, "--representative-days", help="representative days per period")


def time_limit(each: str = "the solve"):
    return typer.Option(None, "--time-limit", help=f"seconds for {each}")


def marginals(default: bool = True, help: str = "marginal values from the fixed-integer LP"):  # noqa: A002 - Typer's name
    return typer.Option(default, "--marginals/--no-marginals", help=help)
