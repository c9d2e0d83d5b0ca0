"""The notebook-facing surface: load an instance, solve it, get tables back.

    from optimizer.api import load_instance, solve
    inst = load_instance("instances/quickstart/instance.yaml")
    result = solve(inst, mip_gap=1e-4)            # or solve(inst, SolveConfig(...))
    result.cashflows.groupby("term").discounted_usd.sum()
    cheaper = inst.model_copy(update={"market": ...})  # then solve again
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from . import pipeline
from .batch import BatchResult, batch
from .instance import Instance, load_instance
from .model.build import BuiltModel
from .pipeline import Result
from .results.tables import plan_differences
from .solver.config import SolveConfig, make_config
from .sweep import sweep

__all__ = ["load_instance", "solve", "Result", "build", "Instance", "SolveConfig",
           "compare_resolution", "sweep", "batch", "BatchResult"]


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
          progress: Callable | None = None, **options) -> Result:
    """Build and solve an instance; the result holds the tables as DataFrames.

    ``config`` (a SolveConfig) and/or its fields as keyword arguments: ``mip_gap``,
    ``time_limit``, ``threads``, ``method`` ("auto": Benders on representative days,
    one MILP hourly; "monolithic"; "benders"), ``resolution``, ``representative_days``,
    ``warm_start`` (a run folder), ``marginals``, ``verbose``, ``keep_model``.
    ``progress`` is called with a ``Progress`` per iteration of the decomposition
    (``Progress.line()``: bound, best plan, gap and time as one line)."""
    return pipeline.run(instance, _config(config, options), load_time_s=load_time_s,
                        progress=progress)


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
