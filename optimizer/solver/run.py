"""Choose the solve method and hand over between them.

``auto`` decomposes representative grids (measured faster there, bench/README.md) and
solves hourly grids as one MILP; ``benders`` decomposes whenever the model allows it.
A decomposition that cannot certify a plan hands over to the monolithic MILP, which
decides (and lets an infeasible instance be explained); the time limit covers both.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .benders import Kept, Progress, Strategy, resolve_benders, solve_benders
from .config import SolveConfig
from .highs import reset_scheduler
from .monolithic import solve_monolithic
from .solution import Solution
from .stdform import StandardForm


def uses_benders(sf: StandardForm, config: SolveConfig, col_block: np.ndarray | None,
                 decompose_by_default: bool) -> bool:
    if col_block is None or not sf.integer.any():
        return False
    return config.method == "benders" or (config.method == "auto" and decompose_by_default)


def solve(sf: StandardForm, config: SolveConfig, *, col_block: np.ndarray | None = None,
          decompose_by_default: bool = False, log_path: Path | None = None,
          warm_start: dict[int, float] | None = None,
          progress: Callable[[Progress], None] | None = None,
          strategy: Strategy | None = None, kept: Kept | None = None) -> Solution:
    """``progress`` is called once per iteration of the decomposition (a progress line
    for the CLI); ``strategy`` chooses how it searches (default: benders.DEFAULT_STRATEGY).
    ``kept``: a decomposition of this form kept by an earlier solve (``keep_cuts``); when
    only plan data changed since, it is re-solved with its cuts."""
    reset_scheduler()
    t0 = time.perf_counter()
    prefix, benders_s = "", 0.0
    if uses_benders(sf, config, col_block, decompose_by_default):
        if kept is not None and kept.reusable(sf):
            sol = resolve_benders(kept, config, log_path, warm_start,
                                  time_budget_s=config.time_limit, progress=progress)
        else:
            sol = solve_benders(sf, config, col_block, log_path, warm_start,
                                time_budget_s=config.time_limit, progress=progress,
                                strategy=strategy)
        if sol is not None:
            return sol
        # no certified plan: the decomposition's lines head the log of the MILP that
        # decides (HiGHS appends to the file, so it starts empty again)
        if log_path is not None and log_path.exists():
            prefix = log_path.read_text(errors="replace")
            log_path.write_text("")
        benders_s = time.perf_counter() - t0
        if config.time_limit is not None:
            config = config.model_copy(
                update={"time_limit": max(0.0, config.time_limit - benders_s)})
    sol = solve_monolithic(sf, config, log_path, warm_start)
    sol.log_prefix = prefix
    if benders_s:
        sol.timings_s["benders"] = benders_s  # the decomposition that handed over
    return sol
