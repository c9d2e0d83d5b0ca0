"""``summary.json`` as a pydantic model: its JSON Schema is ``hashpivot schema --summary``.

results-format.md fixes the keys it must hold at least; the rest (KPIs, marginal values,
the infeasibility explanation, the solve options and their fingerprint) is what the
CLI prints, what nightly batches resume and diff on, and what reports are drawn from.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Resolution(_Model):
    mode: Literal["hourly", "representative"]
    steps: int = Field(description="time steps per site")
    periods: int
    days_per_period: int | None = Field(None, description="representative mode only")


class SolverInfo(_Model):
    name: Literal["highs"] = "highs"
    version: str
    options: dict[str, float | int | str] = Field(description="options passed to HiGHS")
    method: Literal["monolithic", "benders"] = Field(
        description="one MILP, or the Benders decomposition (solver/benders.py)")


class Energy(_Model):
    mining_mwh: float
    gpu_mwh: float
    lease_mwh: float
    aux_mwh: float
    total_mwh: float
    grid_import_mwh: float


class Kpis(_Model):
    npv_usd: float
    total_capex_usd: float = Field(description="assets ordered (GPUs, ASICs, halls, upgrades)")
    capex_by_kind_usd: dict[str, float]
    revenue_usd: dict[str, float] = Field(description="undiscounted, by cash-flow term")
    energy_mwh: Energy
    ai_share_of_site_energy: float
    mining_uptime: float = Field(description="ASIC unit-hours hashing / unit-hours active")
    gpu_units_bought: dict[str, float]
    accepted_contracts: list[str]
    accepted_leases: list[str]
    signed_ppas: list[str]
    asics_retired: float
    asics_bought: dict[str, float] = Field(default_factory=dict,
                                           description="ASIC units ordered, by product")


class Marginal(_Model):
    group: str
    site: str
    item: str
    period: int
    marginal_value: float
    unit: str


class RunSummary(_Model):
    """Everything ``summary.json`` holds."""

    instance: str = Field(description="the instance's name")
    instance_sha256: str = Field(description="SHA-256 of the instance files as solved")
    status: Literal["optimal", "time_limit", "infeasible", "unbounded", "error"]
    exit_code: int = Field(description="0 solution, 2 invalid, 3 infeasible, 4 limit, 1 other")
    npv_usd: float | None = Field(description="NPV of the incumbent written in the tables")
    best_bound_usd: float | None
    mip_gap: float | None
    resolution: Resolution
    timings_s: dict[str, float]
    highs_run_time_s: float | None = Field(description="HiGHS's own run time of the main solve")
    solver: SolverInfo
    config: dict = Field(description="the SolveConfig of the run")
    config_sha256: str = Field(description="fingerprint of the options that change a result")
    kpis: Kpis | None = None
    marginals: list[Marginal] | None = None
    infeasibility: list[str] | None = Field(None, description="one sentence per short resource")
    message: str = ""
    hashpivot_version: str = ""
