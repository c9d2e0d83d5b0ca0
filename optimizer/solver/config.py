"""One validated, picklable object holds every option of a run (as Calliope's config does).

The CLI builds one from its options, the API from keyword arguments, a sweep or a batch
ships it to its workers unchanged; ``fingerprint`` identifies the options that change a
result (a nightly batch resumes a run folder only when they match).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

METHODS = ("auto", "monolithic", "benders")

# the CLI option of each field, for error messages
OPTION_NAMES = {
    "mip_gap": "--mip-gap", "time_limit": "--time-limit", "threads": "--threads",
    "method": "--method", "resolution": "--resolution",
    "representative_days": "--representative-days", "warm_start": "--warm-start",
    "marginals": "--no-marginals", "verbose": "--verbose",
}


class SolveConfig(BaseModel):
    """How to solve an instance. Every field has the CLI's default."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    mip_gap: float = Field(1e-4, ge=0.0, lt=1.0, description="relative MIP gap, 0 <= gap < 1")
    time_limit: float | None = Field(None, ge=0.0, description="seconds for the solve")
    threads: int | None = Field(None, ge=1, description="HiGHS threads (default: every core)")
    method: Literal["auto", "monolithic", "benders"] = Field(
        "auto", description="auto: Benders on representative days, one MILP hourly")
    resolution: Literal["hourly", "representative"] | None = Field(
        None, description="override the instance's horizon.resolution.mode")
    representative_days: int | None = Field(
        None, ge=1, description="override days_per_period (implies representative)")
    warm_start: Path | None = Field(
        None, description="run folder whose integer decisions start HiGHS")
    marginals: bool = Field(True, description="marginal values from the fixed-integer LP")
    explain_infeasibility: bool = Field(True, description="elastic re-solve when infeasible")
    verbose: bool = Field(False, description="stream HiGHS's log")
    keep_model: bool = Field(False, description="keep the Pyomo model on the result")
    keep_cuts: bool = Field(False, description="keep the decomposition's master and cuts on "
                            "the solution (a sweep re-solves it when only plan data change)")

    @property
    def thread_count(self) -> int:
        return int(self.threads) if self.threads is not None else default_threads()

    @property
    def mode(self) -> str | None:
        """The resolution mode the options ask for (None: the instance's)."""
        if self.resolution is None and self.representative_days is not None:
            return "representative"
        return self.resolution

    def highs_options(self) -> dict:
        opts: dict = {"mip_rel_gap": float(self.mip_gap)}
        if self.time_limit is not None:
            opts["time_limit"] = float(self.time_limit)
        opts["threads"] = self.thread_count
        return opts

    def fingerprint(self) -> str:
        """SHA-256 of the options that change a result (not verbosity, threads or the
        warm start, which change only how fast it is found)."""
        keep = self.model_dump(mode="json", include={"mip_gap", "time_limit", "method",
                                                     "resolution", "representative_days",
                                                     "marginals", "explain_infeasibility"})
        return hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()


class ConfigError(ValueError):
    """Options that do not validate; ``str()`` is one sentence per problem."""


def make_config(base: SolveConfig | None = None, **options) -> SolveConfig:
    """A SolveConfig from ``base`` with ``options`` changed (None values are ignored, so
    that CLI defaults do not override); raises ConfigError with CLI-style messages."""
    data = base.model_dump() if base is not None else {}
    data.update({k: v for k, v in options.items() if v is not None})
    try:
        return SolveConfig(**data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors(include_url=False):
            name = str(err["loc"][0]) if err["loc"] else "?"
            option = OPTION_NAMES.get(name, name)
            lines.append(f"{option}: {err['msg'].lower()} (got {err.get('input')!r})")
        raise ConfigError("\n".join(lines)) from None


def default_threads() -> int:
    """Every core this process may use. HiGHS's MIP search is serial either way, but its
    default (half the cores) leaves the analytic centre, computed alongside the root
    LP, to be run by the main thread at the join (on 2 cores: portfolio-3y 93 s -> 80 s)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)
