"""The labelled solution: column values with the labels of the standard form."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .stdform import StandardForm


@dataclass
class Solution:
    """What a solve returns. ``x`` holds one value per column of ``form`` (unscaled,
    integers snapped); ``form.columns`` / ``form.rows`` label them. ``session`` keeps
    the HiGHS object for follow-up solves (marginals, elastic, sweeps); it is dropped
    before a result is pickled."""

    status: str  # optimal | time_limit | infeasible | unbounded | error
    form: StandardForm | None = field(default=None, repr=False)
    x: np.ndarray | None = field(default=None, repr=False)
    npv_usd: float | None = None
    best_bound_usd: float | None = None
    mip_gap: float | None = None
    method: str = "monolithic"  # or "benders"
    timings_s: dict = field(default_factory=dict)
    highs_run_time_s: float | None = None
    message: str = ""
    log_prefix: str = ""  # lines of a decomposition that handed over, to head the log
    session: object = field(default=None, repr=False)  # highs.Session
    # the decomposition's state (master with its cuts, block LPs) when asked to keep it
    # (SolveConfig.keep_cuts): benders.resolve_benders re-solves it; dropped with session
    decomposition: object = field(default=None, repr=False)
    # row duals of the fixed-integer LP (USD per row unit)
    duals: np.ndarray | None = field(default=None, repr=False)

    @property
    def has_solution(self) -> bool:
        return self.x is not None

    def value(self, name: str) -> pd.Series:
        """The values of one variable, indexed by its index tuples (absent: empty)."""
        pos = self.form.columns.positions(name)
        keys = self.form.columns.keys(name)
        index = pd.MultiIndex.from_tuples(keys) if keys and len(keys[0]) > 1 else (
            pd.Index([k[0] for k in keys]) if keys else pd.Index([]))
        return pd.Series(self.x[pos], index=index, name=name)
