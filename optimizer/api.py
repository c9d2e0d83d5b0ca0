"""The notebook-facing surface: load an instance, solve it, get tables back.

    from optimizer.api import load_instance, solve
    inst = load_instance("instances/quickstart/instance.yaml")
    result = solve(inst, mip_gap=1e-4)            # or solve(inst, SolveConfig(...))
    result.cashflows.groupby("term").discounted_usd.sum()
    cheaper = inst.model_copy(update={"market": ...})  # then solve again
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from . import pipeline
from .instance import Instance, load_instance
from .model.build import BuiltModel
from .model.data import ModelData
from .results.summary import RunSummary
from .results.tables import plan_differences
from .results.writer import instance_files, write_run_folder
from .solver.config import SolveConfig, make_config
from .solver.solution import Solution
from .time.grid import TimeGrid

__all__ = ["load_instance", "solve", "Result", "build", "Instance", "SolveConfig",
           "compare_resolution"]


@dataclass
class Result:
    """One solved (or failed) instance: the labelled solution, every table, the logs."""

    instance: Instance
    config: SolveConfig
    solution: Solution
    grid: TimeGrid
    data: ModelData | None = field(default=None, repr=False)
    capex: pd.DataFrame | None = None
    dispatch: pd.DataFrame | None = None
    cashflows: pd.DataFrame | None = None
    kpis: dict = field(default_factory=dict)
    marginals: pd.DataFrame | None = None
    infeasibility: pd.DataFrame | None = None
    explanation: list[str] = field(default_factory=list)
    timings_s: dict = field(default_factory=dict)
    message: str = ""
    solver_log: str = ""
    followup_log: str = ""  # HiGHS's log of the fixed-integer LP / elastic re-solve
    built: BuiltModel | None = field(default=None, repr=False)

    @property
    def status(self) -> str:
        return self.solution.status

    @property
    def has_solution(self) -> bool:
        return self.capex is not None

    @property
    def npv_usd(self) -> float | None:
        return float(self.cashflows["discounted_usd"].sum()) if self.has_solution else None

    @property
    def best_bound_usd(self) -> float | None:
        return self.solution.best_bound_usd

    @property
    def mip_gap(self) -> float | None:
        return self.solution.mip_gap

    @property
    def method(self) -> str:
        return self.solution.method

    @property
    def highs_run_time_s(self) -> float | None:
        return self.solution.highs_run_time_s

    @property
    def solver_options(self) -> dict:
        return self.config.highs_options()

    @property
    def exit_code(self) -> int:
        return pipeline.exit_code(self.status, self.has_solution)

    def __getstate__(self):
        # the HiGHS session and the Pyomo model stay in the process that solved
        state = dict(self.__dict__)
        if self.solution.session is not None:
            from dataclasses import replace

            state["solution"] = replace(self.solution, session=None)
        state["built"] = None
        return state

    def summary(self, files: dict[str, bytes] | None = None) -> RunSummary:
        files = files if files is not None else instance_files(self.instance)
        table = None
        if self.has_solution:
            from .results.tables import Tables

            table = Tables(self.capex, self.dispatch, self.cashflows, self.kpis)
        diag = pipeline.Diagnostics(self.marginals, self.infeasibility, self.explanation)
        return pipeline.summarise(instance=self.instance, files=files,
                                  solution=self.solution, grid=self.grid, config=self.config,
                                  timings_s=self.timings_s, table=table, diagnostics=diag,
                                  message=self.message)

    def write(self, out_dir: str | Path) -> Path:
        """Write the run folder of results-format.md (atomically; summary.json last)."""
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
        written: dict[str, bytes | str] = {**files, "solver.log": self.solver_log}
        if self.followup_log:
            written["solver-followup.log"] = self.followup_log
        # the write time is measured up to here; the summary records it
        self.timings_s["write"] = time.perf_counter() - t0
        written["summary.json"] = self.summary(files).model_dump_json(indent=2) + "\n"
        out = write_run_folder(out_dir, written, frames)
        self.timings_s["write"] = time.perf_counter() - t0
        return out


def _config(config: SolveConfig | None, options: dict) -> SolveConfig:
    if config is not None and not options:
        return config
    return make_config(config, **options)


def build(instance: Instance, config: SolveConfig | None = None, **options) -> BuiltModel:
    """Time grid + data + Pyomo model of an instance (no solve)."""
    config = _config(config, options)
    grid = pipeline.time_grid(instance, config)
    return pipeline.build(pipeline.prepare(instance, grid))


def solve(instance: Instance, config: SolveConfig | None = None, *, load_time_s: float = 0.0,
          **options) -> Result:
    """Build and solve an instance; the result holds the tables as DataFrames.

    ``config`` (a SolveConfig) and/or its fields as keyword arguments: ``mip_gap``,
    ``time_limit``, ``threads``, ``method`` ("auto": Benders on representative days,
    one MILP hourly; "monolithic"; "benders"), ``resolution``, ``representative_days``,
    ``warm_start`` (a run folder), ``marginals``, ``verbose``, ``keep_model``."""
    config = _config(config, options)
    timings = {"load": load_time_s}
    t0 = time.perf_counter()
    grid = pipeline.time_grid(instance, config)
    data = pipeline.prepare(instance, grid)
    built = pipeline.build(data)
    timings["build"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    compiled = pipeline.compile(built)
    timings["translate"] = time.perf_counter() - t0
    if not config.keep_model:
        built = compiled.columns = None  # the form holds no Pyomo object: free the model
    with tempfile.TemporaryDirectory(prefix="hashpivot-") as tmp:
        log = Path(tmp) / "solver.log"
        solution = pipeline.solve(compiled, data, config, log)
        timings.update({k: v for k, v in solution.timings_s.items() if k != "translate"})
        diag = pipeline.diagnose(solution, data, config)
        timings.update(diag.timings_s)
        if solution.session is not None:
            solution.session.close_log()
        solver_log = pipeline.solver_log_text(solution, log)
        followup = log.with_name("solver-followup.log")
        followup_log = followup.read_text(errors="replace") if followup.exists() else ""
    t1 = time.perf_counter()
    table = pipeline.tabulate(solution, data)
    timings["results"] = time.perf_counter() - t1
    if built is not None and compiled.columns is not None and solution.has_solution:
        from .model.objective import attach
        from .solver.stdform import OBJECTIVE_SCALE, assign

        assign(compiled.columns, solution.x)
        attach(built.model, compiled.columns, solution.form.cost / OBJECTIVE_SCALE,
               solution.form.offset / OBJECTIVE_SCALE)
    message = " ".join(m for m in (solution.message, diag.message) if m)
    return Result(
        instance=instance, config=config, solution=solution, grid=grid, data=data,
        capex=table.capex if table else None, dispatch=table.dispatch if table else None,
        cashflows=table.cashflows if table else None, kpis=table.kpis if table else {},
        marginals=diag.marginals, infeasibility=diag.infeasibility,
        explanation=diag.explanation, timings_s=timings, message=message,
        solver_log=solver_log, followup_log=followup_log, built=built)


def compare_resolution(instance: Instance, days: list[int], config: SolveConfig | None = None,
                       **options) -> pd.DataFrame:
    """Solve hourly and with each K representative days; one row per resolution with
    NPV, relative NPV error against hourly, plan differences, steps and times."""
    config = _config(config, options)
    rows = []
    hourly = solve(instance, config.model_copy(update={"resolution": "hourly",
                                                        "representative_days": None}))
    runs = [("hourly", None, hourly)] + [
        (f"K={k}", k, solve(instance, config.model_copy(
            update={"resolution": "representative", "representative_days": k})))
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
