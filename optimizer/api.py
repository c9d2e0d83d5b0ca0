"""The notebook-facing surface: load an instance, solve it, get tables back.

    from optimizer.api import load_instance, solve
    inst = load_instance("instances/quickstart/instance.yaml")
    result = solve(inst, mip_gap=1e-4)
    result.cashflows.groupby("term").discounted_usd.sum()
    cheaper = inst.model_copy(update={"discount_rate": ...})  # then solve again
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .instance import Instance, load_instance
from .model.build import BuiltModel, build_model, dispatch_blocks
from .model.data import prepare
from .results.infeasibility import elastic_penalty, explain, infeasibility_table
from .results.marginals import marginal_table
from .results.tables import capex_table, cashflow_tables, dispatch_table, kpis
from .results.warmstart import integer_start
from .results.writer import instance_files, to_json, write_run_folder
from .solver.highs import SolveOptions, SolveOutcome, close_log, highs_version, solve_model
from .time.grid import TimeGrid, build_time_grid

__all__ = ["load_instance", "solve", "Result", "build", "Instance"]

EXIT_CODES = {"optimal": 0, "time_limit": 0, "infeasible": 3, "unbounded": 3, "error": 1}


@dataclass
class Result:
    instance: Instance
    status: str
    npv_usd: float | None
    best_bound_usd: float | None
    mip_gap: float | None
    grid: TimeGrid
    capex: pd.DataFrame | None
    dispatch: pd.DataFrame | None
    cashflows: pd.DataFrame | None
    kpis: dict
    timings_s: dict
    solver_options: dict
    solver_log: str = ""
    highs_run_time_s: float | None = None
    message: str = ""
    marginals: pd.DataFrame | None = None
    infeasibility: pd.DataFrame | None = None
    explanation: list[str] = field(default_factory=list)
    followup_log: str = ""  # HiGHS's log of the fixed-integer LP / elastic re-solve
    built: BuiltModel | None = field(default=None, repr=False)
    method: str = "monolithic"  # how the MILP was solved: monolithic or benders

    @property
    def has_solution(self) -> bool:
        return self.capex is not None

    @property
    def exit_code(self) -> int:
        if self.status == "time_limit" and not self.has_solution:
            return 4
        return EXIT_CODES.get(self.status, 1)

    def summary(self, files: dict[str, bytes] | None = None) -> dict:
        files = files if files is not None else instance_files(self.instance)
        digest = hashlib.sha256()
        for name in sorted(files):
            digest.update(name.encode() + b"\0" + files[name])
        return {
            "instance": self.instance.name,
            "instance_sha256": digest.hexdigest(),
            "status": self.status,
            "npv_usd": self.npv_usd,
            "best_bound_usd": self.best_bound_usd,
            "mip_gap": self.mip_gap,
            "resolution": {"mode": self.grid.mode, "steps": int(self.grid.n_steps),
                           "periods": int(self.grid.n_periods),
                           **({"days_per_period": self.grid.extra["days_per_period"]}
                              if "days_per_period" in self.grid.extra else {})},
            "timings_s": {k: round(v, 4) for k, v in self.timings_s.items()},
            "highs_run_time_s": self.highs_run_time_s,
            "solver": {"name": "highs", "version": highs_version(),
                       "options": self.solver_options, "method": self.method},
            "kpis": self.kpis,
            "marginals": (self.marginals.to_dict(orient="records")
                          if self.marginals is not None else None),
            "infeasibility": self.explanation or None,
            "message": self.message,
        }

    def write(self, out_dir: str | Path) -> Path:
        """Write the run folder of results-format.md (atomically)."""
        t0 = time.perf_counter()
        files = instance_files(self.instance)
        frames = {}
        if self.has_solution:
            frames = {"capex.csv": self.capex, "cashflows.csv": self.cashflows,
                      "dispatch.parquet": self.dispatch}
        if self.marginals is not None:
            frames["marginals.csv"] = self.marginals
        if self.infeasibility is not None:
            frames["infeasibility.csv"] = self.infeasibility
        written = {**files, "solver.log": self.solver_log}
        if self.followup_log:
            written["solver-followup.log"] = self.followup_log
        # the write time is measured up to here; the summary records it
        self.timings_s["write"] = time.perf_counter() - t0
        written["summary.json"] = to_json(self.summary(files))
        out = write_run_folder(out_dir, written, frames)
        self.timings_s["write"] = time.perf_counter() - t0
        return out


def build(instance: Instance, *, resolution: str | None = None,
          representative_days: int | None = None) -> BuiltModel:
    """Time grid + data + Pyomo model of an instance (no solve)."""
    mode = resolution
    if representative_days is not None and resolution is None:
        mode = "representative"
    features = None
    if (mode or instance.horizon.resolution.mode) == "representative":
        from .time.representative import features_of

        features = features_of(instance)
    grid = build_time_grid(instance.horizon, mode=mode, features=features,
                           days_per_period=representative_days)
    return build_model(prepare(instance, grid))


def solve(instance: Instance, *, mip_gap: float = 1e-4, time_limit: float | None = None,
          threads: int | None = None, resolution: str | None = None,
          representative_days: int | None = None, verbose: bool = False,
          route: str = "stdform", keep_model: bool = False, marginals_wanted: bool = True,
          warm_start: str | Path | None = None, load_time_s: float = 0.0,
          method: str = "auto") -> Result:
    """Build and solve an instance; the result holds the tables as DataFrames.

    ``method``: "monolithic" (one HiGHS MIP), "benders" (optimizer/decompose.py) or
    "auto" (benders on representative days, where it is measured faster; monolithic
    on hourly grids)."""
    timings = {"load": load_time_s}
    t0 = time.perf_counter()
    built = build(instance, resolution=resolution, representative_days=representative_days)
    timings["build"] = time.perf_counter() - t0
    with tempfile.TemporaryDirectory(prefix="hashpivot-") as tmp:
        log = Path(tmp) / "solver.log"
        options = SolveOptions(mip_gap=mip_gap, time_limit=time_limit, threads=threads,
                               verbose=verbose, log_path=log, route=route,
                               warm_start=integer_start(warm_start) if warm_start else None,
                               method=method, column_block=dispatch_blocks(built),
                               decompose_by_default=built.data.grid.mode == "representative")
        outcome: SolveOutcome = solve_model(built.model, options)
        timings.update(outcome.timings_s)
        marginals = infeasible = None
        explanation: list[str] = []
        session = outcome.session
        if session is not None and outcome.has_solution and marginals_wanted:
            t = time.perf_counter()
            dual = session.fixed_integer_duals()
            if dual is not None:
                marginals = marginal_table(session.row_names(), dual, built.data)
            else:  # the file still exists, empty, and the summary says why
                marginals = marginal_table([], np.zeros(0), built.data)
                outcome.message = (outcome.message + " marginal values unavailable: the "
                                   "fixed-integer LP did not solve to optimality.").strip()
            timings["marginals"] = time.perf_counter() - t
        elif session is not None and outcome.status == "infeasible":
            t = time.perf_counter()
            names = session.row_names()
            elastic = session.elastic_slacks(elastic_penalty(names, built.data))
            if elastic is not None:
                _, below, above = elastic
                infeasible = infeasibility_table(names, below + above, built.data)
                explanation = explain(infeasible, built.data)
            timings["explain"] = time.perf_counter() - t
        close_log(outcome)
        solver_log = outcome.log_prefix + (log.read_text(errors="replace") if log.exists()
                                           else "")
        if (outcome.highs_run_time_s is not None and outcome.method == "monolithic"
                and "HiGHS run time" not in solver_log):
            # a MIP log reports its time as "Timing" in the solving report; end the log
            # with the LP-style line too, so every log ends with HiGHS's run time
            solver_log += ("# Hashpivot: run time of the solve above, from Highs.getRunTime()\n"
                           f"HiGHS run time      : {outcome.highs_run_time_s:14.2f}\n")
        followup = log.with_name("solver-followup.log")
        followup_log = followup.read_text(errors="replace") if followup.exists() else ""
    t1 = time.perf_counter()
    capex = dispatch = cash = None
    kpi: dict = {}
    npv = None
    if outcome.has_solution:
        cash, hourly = cashflow_tables(built)
        capex = capex_table(built)
        dispatch, loads = dispatch_table(built, hourly)
        kpi = kpis(built, cash, capex, loads)
        npv = float(cash["discounted_usd"].sum())
    timings["results"] = time.perf_counter() - t1
    return Result(
        instance=instance, status=outcome.status, npv_usd=npv,
        best_bound_usd=outcome.best_bound, mip_gap=outcome.mip_gap, grid=built.data.grid,
        capex=capex, dispatch=dispatch, cashflows=cash, kpis=kpi, timings_s=timings,
        solver_options=options.highs_options(), solver_log=solver_log,
        highs_run_time_s=outcome.highs_run_time_s, message=outcome.message,
        method=outcome.method,
        marginals=marginals, infeasibility=infeasible, explanation=explanation,
        followup_log=followup_log,
        built=built if keep_model else None,
    )


PLAN_KINDS = ("gpu", "conversion", "grid_upgrade", "cooling_upgrade", "contract", "lease", "ppa")


def plan_differences(reference: pd.DataFrame, other: pd.DataFrame) -> tuple[float, str]:
    """Largest absolute quantity difference of the build/accept decisions (per kind, item
    and period) between two capex tables, and the differences as text."""
    def keyed(df):
        df = df[df["kind"].isin(PLAN_KINDS)]
        return df.groupby(["kind", "item", "period"])["quantity"].sum()

    a, b = keyed(reference), keyed(other)
    diff = b.sub(a, fill_value=0.0)
    diff = diff[diff.abs() > 1e-6]
    text = "; ".join(f"{k}/{i}@p{p}:{d:+g}" for (k, i, p), d in diff.items())
    return (float(diff.abs().max()) if len(diff) else 0.0), text


def compare_resolution(instance: Instance, days: list[int], **solve_kw) -> pd.DataFrame:
    """Solve hourly and with each K representative days; one row per resolution with
    NPV, relative NPV error against hourly, plan differences, steps and times."""
    rows = []
    hourly = solve(instance, resolution="hourly", **solve_kw)
    runs = [("hourly", None, hourly)] + [
        (f"K={k}", k, solve(instance, representative_days=k, **solve_kw))
        for k in days]
    for label, k, res in runs:
        diff, text = (plan_differences(hourly.capex, res.capex)
                      if res.has_solution and hourly.has_solution else (float("nan"), ""))
        err = (abs(res.npv_usd - hourly.npv_usd) / abs(hourly.npv_usd)
               if res.has_solution and hourly.has_solution and hourly.npv_usd else float("nan"))
        t = res.timings_s
        rows.append({
            "resolution": label, "days_per_period": k, "steps": res.grid.n_steps,
            "status": res.status, "npv_usd": res.npv_usd, "npv_rel_error": err,
            "max_plan_diff_units": diff, "plan_differences": text,
            "build_s": t.get("build", 0.0), "solve_s": t.get("solve", 0.0),
            "total_s": sum(t.values()),
        })
    return pd.DataFrame(rows)
