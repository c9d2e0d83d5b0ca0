"""HiGHS through highspy: the model handed over in one ``passModel``, statuses mapped,
and a session that keeps the HiGHS object for follow-up solves.

The route was chosen by measurement (bench/README.md, bench/routes.py): the standard
form compiled once and passed as arrays translates permian-1y in 1.2-1.3 s, against
5.6-5.8 s for Pyomo's persistent interfaces (appsi and pyomo.contrib.solver's highs),
which add the model row by row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import highspy
import numpy as np
from scipy import sparse

from .config import SolveConfig
from .stdform import OBJECTIVE_SCALE, StandardForm

# values of HiGHS's simplex_dual_edge_weight_strategy
CHOOSE, DEVEX = -1, 1


def highs_version() -> str:
    h = highspy.Highs()
    return f"{h.versionMajor()}.{h.versionMinor()}.{h.versionPatch()}"


def reset_scheduler() -> None:
    """HiGHS keeps one thread pool per process, sized by its first run; a thread count
    that differs from it (an earlier solve in the same process, a notebook, a sweep worker)
    is refused unless the pool is rebuilt."""
    highspy.Highs.resetGlobalScheduler(True)


def status_of(h: highspy.Highs) -> tuple[str, bool]:
    """(status of results-format.md, whether a feasible incumbent exists)."""
    ms = h.getModelStatus()
    S = highspy.HighsModelStatus
    has_solution = h.getInfo().primal_solution_status == 2  # kSolutionStatusFeasible
    if ms == S.kOptimal:
        return "optimal", True
    if ms in (S.kInfeasible, S.kUnboundedOrInfeasible):
        return "infeasible", False
    if ms == S.kUnbounded:
        return "unbounded", False
    if ms in (S.kTimeLimit, S.kIterationLimit, S.kSolutionLimit, S.kInterrupt):
        return "time_limit", has_solution
    return "error", False


def new_highs(config: SolveConfig, log_path: Path | None = None, *,
              quiet: bool = False) -> highspy.Highs:
    h = highspy.Highs()
    h.setOptionValue("output_flag", not quiet)
    h.setOptionValue("log_to_console", bool(config.verbose) and not quiet)
    if log_path is not None and not quiet:
        h.setOptionValue("log_file", str(log_path))
    for k, v in config.highs_options().items():
        h.setOptionValue(k, v)
    return h


def highs_lp(A, cost, lb, ub, row_lo, row_hi, *, maximise: bool = True, offset: float = 0.0,
             integer: np.ndarray | None = None) -> highspy.HighsLp:
    """A HighsLp from arrays (A in any scipy sparse format)."""
    A = sparse.csc_matrix(A)
    lp = highspy.HighsLp()
    lp.num_col_ = A.shape[1]
    lp.num_row_ = A.shape[0]
    lp.col_cost_ = np.asarray(cost, float)
    lp.offset_ = float(offset)
    lp.col_lower_ = np.asarray(lb, float)
    lp.col_upper_ = np.asarray(ub, float)
    lp.row_lower_ = np.asarray(row_lo, float)
    lp.row_upper_ = np.asarray(row_hi, float)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = A.indptr.astype(np.int32)
    lp.a_matrix_.index_ = A.indices.astype(np.int32)
    lp.a_matrix_.value_ = A.data.astype(float)
    lp.a_matrix_.num_col_ = A.shape[1]
    lp.a_matrix_.num_row_ = A.shape[0]
    lp.sense_ = highspy.ObjSense.kMaximize if maximise else highspy.ObjSense.kMinimize
    if integer is not None and integer.any():
        lp.integrality_ = [highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous
                           for i in integer]
    return lp


def full_model_lp(sf: StandardForm) -> highspy.HighsLp:
    return highs_lp(sf.A, sf.cost, sf.lb, sf.ub, sf.scaled_row_lo, sf.scaled_row_hi,
                    maximise=sf.maximise, offset=sf.offset, integer=sf.integer)


def pass_full_model(h: highspy.Highs, sf: StandardForm) -> None:
    """The full model of ``sf`` into ``h``, its arrays handed over as they are: the CSR
    rows go in row-wise (HiGHS transposes them itself), with no CSC copy and no
    intermediate ``HighsLp`` (portfolio-3y hourly: ~0.1 GB less at hand-over)."""
    A = sf.A
    n_col, n_row = A.shape[1], A.shape[0]
    sense = highspy.ObjSense.kMaximize if sf.maximise else highspy.ObjSense.kMinimize
    # an all-continuous integrality is an LP for HiGHS, like an absent one
    integrality = sf.integer.astype(np.int32)  # kInteger == 1, kContinuous == 0
    status = h.passModel(
        n_col, n_row, int(A.nnz), int(highspy.MatrixFormat.kRowwise), int(sense),
        float(sf.offset), _f64(sf.cost), _f64(sf.lb), _f64(sf.ub), _f64(sf.scaled_row_lo),
        _f64(sf.scaled_row_hi), _i32(A.indptr), _i32(A.indices), _f64(A.data), integrality)
    if status == highspy.HighsStatus.kError:
        raise RuntimeError("HiGHS refused the standard form (passModel returned an error).")


def _f64(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float64)


def _i32(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.int32)


@dataclass
class Session:
    """A HiGHS object holding the full model (scaled copy) after a solve, with the
    incumbent; follow-up solves change it and ``restore`` puts the MILP back (a sweep
    re-solves the same object with other costs or bounds)."""

    h: highspy.Highs
    sf: StandardForm
    x: np.ndarray | None = None  # incumbent, unscaled, integers snapped
    followup_log: Path | None = None
    # the fixed-integer LP from scratch, not from the incumbent HiGHS keeps after a MIP:
    # permian-1y hourly 2.3 s against 3.7 s (bench/README.md; a decomposition's final LP,
    # on a fresh object, gains from the start instead)
    cold_lp: bool = False
    _changed: set = field(default_factory=set)

    def _followup(self) -> None:
        """Send the logs of follow-up solves to their own file, so that solver.log
        ends with the main solve's report (its run time is the one users compare)."""
        self.h.setOptionValue("log_file", str(self.followup_log) if self.followup_log else "")
        self.h.setOptionValue("output_flag", self.followup_log is not None)
        self.h.setOptionValue("log_to_console", False)

    def close_log(self) -> None:
        self.h.setOptionValue("log_file", "")

    def fix_integers_and_solve(self) -> bool:
        """Solve the LP with every integer column fixed at the incumbent, from the
        incumbent or (``cold_lp``) from scratch, whichever the caller measured faster;
        True if optimal."""
        h, sf = self.h, self.sf
        if self.x is None:
            return False
        idx = np.flatnonzero(sf.integer).astype(np.int32)
        if len(idx) and "integers" not in self._changed:
            h.changeColsIntegrality(len(idx), idx, np.zeros(len(idx), np.uint8))
            h.changeColsBounds(len(idx), idx, self.x[idx], self.x[idx])
            self._changed.add("integers")
            if self.cold_lp:
                h.clearSolver()
                # Devex pricing instead of HiGHS's choice (dual steepest edge here): the
                # LP takes as many iterations, each cheaper; permian-1y hourly 1.3-1.5 s
                # against 2.4-2.5 s, the same optimum (bench/README.md)
                h.setOptionValue("simplex_dual_edge_weight_strategy", DEVEX)
                self._changed.add("pricing")
            else:
                # set after the changes (HiGHS drops a start when the model changes): the
                # LP then starts from the incumbent (estate-10x5: 140k iterations, not 214k)
                start = highspy.HighsSolution()
                start.col_value = list(self.x)
                start.value_valid = True
                h.setSolution(start)
        h.run()
        return h.getModelStatus() == highspy.HighsModelStatus.kOptimal

    def fixed_integer_duals(self) -> np.ndarray | None:
        """Row duals of the LP with every integer column fixed at the incumbent, as
        d NPV / d (row bound), USD per row unit: positive when relaxing the row would
        raise the NPV."""
        self._followup()
        if not self.fix_integers_and_solve():
            return None
        dual = np.asarray(self.h.getSolution().row_dual, float)
        # HiGHS reports duals of the objective in its own sense; for a maximisation,
        # d obj / d rhs is the reported dual as is (checked against finite differences
        # in tests/test_marginals_infeasibility.py); undo the row and objective scaling
        return dual * self.sf.row_scale / OBJECTIVE_SCALE

    def elastic_slacks(self, penalty: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Minimise the penalised violation of the rows with ``penalty > 0`` (one value
        per row), integer decisions kept: (slack below the lower bound, slack above the
        upper bound) per row, in the row's own units; None if that LP/MIP fails."""
        h, sf = self.h, self.sf
        self._followup()
        n_rows = sf.n_rows
        rows = np.flatnonzero(penalty > 0).astype(np.int32)
        n_col = h.getNumCol()
        # the feasibility question ignores the NPV
        h.changeColsCost(n_col, np.arange(n_col, dtype=np.int32), np.zeros(n_col))
        h.changeObjectiveOffset(0.0)
        h.changeObjectiveSense(highspy.ObjSense.kMinimize)
        self._changed.add("elastic")
        # one slack column per side of every elastic row: +1 lifts the row activity above
        # its lower bound, -1 pulls it below its upper bound
        lo, hi = sf.row_lo[rows], sf.row_hi[rows]
        for sign, finite in ((1.0, np.isfinite(lo)), (-1.0, np.isfinite(hi))):
            sel = rows[finite]
            m = len(sel)
            if not m:
                continue
            # the slack enters the scaled row scaled too, so that it is in the row's units
            h.addCols(m, penalty[sel], np.zeros(m), np.full(m, math.inf), m,
                      np.arange(m, dtype=np.int32), sel, sign * sf.row_scale[sel])
        h.run()
        status, _ = status_of(h)
        if status != "optimal":
            return None
        x = np.asarray(h.getSolution().col_value)[n_col:]
        below = np.zeros(n_rows)
        above = np.zeros(n_rows)
        n_lo = int(np.isfinite(lo).sum())
        below[rows[np.isfinite(lo)]] = x[:n_lo]
        above[rows[np.isfinite(hi)]] = x[n_lo:n_lo + int(np.isfinite(hi).sum())]
        return below, above

    def restore(self) -> None:
        """Undo follow-up changes: the full MILP of ``sf`` again (costs, bounds, sense,
        integrality); a structural change (elastic columns) rebuilds the model."""
        if not self._changed:
            return
        if "pricing" in self._changed:
            self.h.setOptionValue("simplex_dual_edge_weight_strategy", CHOOSE)
        if "elastic" in self._changed:
            pass_full_model(self.h, self.sf)
        else:
            idx = np.flatnonzero(self.sf.integer).astype(np.int32)
            self.h.changeColsBounds(len(idx), idx, self.sf.lb[idx], self.sf.ub[idx])
            self.h.changeColsIntegrality(len(idx), idx, np.ones(len(idx), np.uint8))
        self._changed.clear()
