"""One HiGHS MILP over the whole standard form."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .config import SolveConfig
from .highs import Session, new_highs, pass_full_model, status_of
from .solution import Solution
from .stdform import OBJECTIVE_SCALE, StandardForm


def start_values(sf: StandardForm, warm_start: dict[int, float] | None) -> np.ndarray | None:
    """A value for every integer column (0 where the start is silent), or None."""
    if warm_start is None or not sf.integer.any():
        return None
    cols = np.flatnonzero(sf.integer)
    return np.array([warm_start.get(int(j), 0.0) for j in cols], float)


def solve_monolithic(sf: StandardForm, config: SolveConfig, log_path: Path | None = None,
                     warm_start: dict[int, float] | None = None) -> Solution:
    t0 = time.perf_counter()
    h = new_highs(config, log_path)
    pass_full_model(h, sf)
    start = start_values(sf, warm_start)
    if start is not None:
        cols = np.flatnonzero(sf.integer).astype(np.int32)
        h.setSolution(len(cols), cols, start)
    t1 = time.perf_counter()
    h.run()
    t2 = time.perf_counter()
    session = Session(h, sf, followup_log=log_path.with_name("solver-followup.log")
                      if log_path is not None else None, cold_lp=True)
    return read_solution(session, {"translate": t1 - t0, "solve": t2 - t1},
                         float(h.getRunTime()))


def read_solution(session: Session, timings_s: dict, highs_run_time_s: float) -> Solution:
    """The Solution of the MILP (or LP) the session's HiGHS object just solved: status,
    the incumbent with integers snapped (also the session's), NPV, bound and gap."""
    h, sf = session.h, session.sf
    status, has_solution = status_of(h)
    sol = Solution(status, form=sf, method="monolithic", session=session,
                   timings_s=timings_s, highs_run_time_s=highs_run_time_s)
    session.x = None
    if has_solution:
        info = h.getInfo()
        x = np.asarray(h.getSolution().col_value)
        sol.x = session.x = np.where(sf.integer, np.round(x), x)
        mip = bool(sf.integer.any())
        sol.npv_usd = sf.npv_usd(sol.x)
        sol.best_bound_usd = (float(info.mip_dual_bound) if mip else
                              float(info.objective_function_value)) / OBJECTIVE_SCALE
        sol.mip_gap = float(info.mip_gap) if mip else 0.0
    return sol
