"""Hand a built model to HiGHS, map its status, and load the incumbent back.

Three Pyomo -> HiGHS routes are implemented so that ``bench/`` can compare them on
the same model:

- ``stdform`` (default): Pyomo's ``LinearStandardFormCompiler`` turns the model into
  CSC arrays once, and highspy receives them in a single ``passModel``;
- ``appsi``: ``pyomo.contrib.appsi`` persistent HiGHS interface;
- ``highs``: the persistent HiGHS interface of ``pyomo.contrib.solver``.

The default is the fastest measured (see bench/README.md for the figures).
"""

from __future__ import annotations

import math
import os
import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import highspy
import numpy as np
import pyomo.environ as pyo
from scipy import sparse

ROUTES = ("stdform", "appsi", "highs")
METHODS = ("auto", "monolithic", "benders")


@dataclass
class SolveOptions:
    mip_gap: float = 1e-4
    time_limit: float | None = None
    threads: int | None = None
    verbose: bool = False
    log_path: Path | None = None
    route: str = "stdform"
    # {(variable name, index tuple): value} of integer decisions to start from
    warm_start: dict | None = None
    # "monolithic": one HiGHS MIP; "benders": optimizer/decompose.py; "auto": benders
    # when ``decompose_by_default`` (representative grids) and a block map is given
    method: str = "auto"
    column_block: object = None  # callable: Pyomo variable -> block (-1: the plan)
    decompose_by_default: bool = False

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; choose one of {', '.join(METHODS)}")

    def uses_benders(self, sf) -> bool:
        if self.route != "stdform" or self.column_block is None or not sf.integer.any():
            return False
        return self.method == "benders" or (self.method == "auto" and self.decompose_by_default)

    def highs_options(self) -> dict:
        opts: dict = {"mip_rel_gap": float(self.mip_gap)}
        if self.time_limit is not None:
            opts["time_limit"] = float(self.time_limit)
        opts["threads"] = self.thread_count
        return opts

    @property
    def thread_count(self) -> int:
        return int(self.threads) if self.threads is not None else default_threads()


def default_threads() -> int:
    """Every core this process may use. HiGHS's MIP search is serial either way, but its
    default (half the cores) leaves the analytic centre, computed alongside the root
    LP, to be run by the main thread at the join (on 2 cores: portfolio-3y 93 s -> 80 s)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@dataclass
class SolveOutcome:
    status: str  # optimal | time_limit | infeasible | unbounded | error
    has_solution: bool
    objective: float | None = None
    best_bound: float | None = None
    mip_gap: float | None = None
    timings_s: dict = field(default_factory=dict)
    highs_run_time_s: float | None = None
    message: str = ""
    session: StdformSession | None = None  # for duals and the elastic re-solve
    method: str = "monolithic"  # or "benders" (optimizer/decompose.py)
    log_prefix: str = ""  # lines of a decomposition that handed over, to head the log


def highs_version() -> str:
    h = highspy.Highs()
    return f"{h.versionMajor()}.{h.versionMinor()}.{h.versionPatch()}"


# an LP ends its log with "HiGHS run time : X"; a MIP with a "Timing  X" summary line
_RUN_TIME = re.compile(r"^(?:HiGHS run time\s*:|\s*Timing)\s+([0-9.eE+-]+)\s*$", re.M)


def highs_run_time(log_path: Path | None) -> float | None:
    """The run time HiGHS prints on the last lines of its log."""
    if log_path is None or not Path(log_path).exists():
        return None
    found = _RUN_TIME.findall(Path(log_path).read_text(errors="replace"))
    return float(found[-1]) if found else None


def solve_model(model: pyo.ConcreteModel, options: SolveOptions) -> SolveOutcome:
    # HiGHS keeps one thread pool per process, sized by the first run (tsam's k-medoids
    # solves run HiGHS before us); a thread count that differs from it is refused
    # unless the pool is rebuilt
    highspy.Highs.resetGlobalScheduler(True)
    if options.route == "stdform":
        return _solve_stdform(model, options)
    if options.route in ("appsi", "highs"):
        return _solve_pyomo_interface(model, options)
    raise ValueError(f"unknown route {options.route!r}; choose one of {', '.join(ROUTES)}")


# --- route: standard form + highspy ---------------------------------------------------


def _status_from_highs(h: highspy.Highs) -> tuple[str, bool]:
    ms = h.getModelStatus()
    S = highspy.HighsModelStatus
    has_solution = h.getInfo().primal_solution_status == 2  # kSolutionStatusFeasible
    if ms == S.kOptimal:
        return "optimal", True
    if ms == S.kInfeasible:
        return "infeasible", False
    if ms == S.kUnbounded:
        return "unbounded", False
    if ms == S.kUnboundedOrInfeasible:
        return "infeasible", False
    if ms in (S.kTimeLimit, S.kIterationLimit, S.kSolutionLimit, S.kInterrupt):
        return "time_limit", has_solution
    return "error", False


@dataclass
class StandardForm:
    """The model as arrays, in HiGHS's scaled copy (see OBJECTIVE_SCALE below): rows
    multiplied by ``row_scale``, costs and offset by OBJECTIVE_SCALE; bounds as built."""

    form: object  # Pyomo's standard form (columns, rows) for the maps back
    A: sparse.csr_matrix
    cost: np.ndarray
    offset: float
    lb: np.ndarray
    ub: np.ndarray
    integer: np.ndarray
    row_lo: np.ndarray  # unscaled
    row_hi: np.ndarray
    row_scale: np.ndarray
    maximise: bool

    @property
    def columns(self):
        return self.form.columns


def compile_standard_form(model: pyo.ConcreteModel) -> StandardForm:
    """Raises pyomo's InfeasibleConstraintException for a row that is infeasible on its own."""
    from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler

    form = LinearStandardFormCompiler().write(model, mixed_form=True, set_sense=None)
    columns = form.columns
    n = len(columns)
    lb = np.fromiter(((-math.inf if v.lb is None else v.lb) for v in columns), float, n)
    ub = np.fromiter(((math.inf if v.ub is None else v.ub) for v in columns), float, n)
    integer = np.fromiter((v.is_integer() or v.is_binary() for v in columns), bool, n)
    sense = np.fromiter((s for _, s in form.rows), np.int8, len(form.rows))
    rhs = np.asarray(form.rhs, float)
    row_lo = np.where(sense >= 0, np.where(sense == 0, rhs, -math.inf), rhs)
    row_hi = np.where(sense <= 0, np.where(sense == 0, rhs, math.inf), rhs)
    A = form.A.tocsr()
    row_scale = _row_scale(A)
    cost = np.asarray(form.c.toarray()[0] if form.c.shape[0] else np.zeros(n), float)
    return StandardForm(
        form=form, A=(sparse.diags(row_scale) @ A).tocsr(), cost=cost * OBJECTIVE_SCALE,
        offset=(float(form.c_offset[0]) if len(form.c_offset) else 0.0) * OBJECTIVE_SCALE,
        lb=lb, ub=ub, integer=integer, row_lo=row_lo, row_hi=row_hi, row_scale=row_scale,
        maximise=form.objectives[0].sense == pyo.maximize)


def highs_lp(A, cost, lb, ub, row_lo, row_hi, *, maximise: bool, offset: float = 0.0,
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
    return highs_lp(sf.A, sf.cost, sf.lb, sf.ub, sf.row_lo * sf.row_scale,
                    sf.row_hi * sf.row_scale, maximise=sf.maximise, offset=sf.offset,
                    integer=sf.integer)


def full_model_highs(sf: StandardForm, options: SolveOptions) -> highspy.Highs:
    h = _new_highs(options)
    h.passModel(full_model_lp(sf))
    return h


def load_solution(model: pyo.ConcreteModel, sf: StandardForm, x: np.ndarray) -> np.ndarray:
    """Integers snapped (the tables report units), values set on the Pyomo variables."""
    x = np.where(sf.integer, np.round(x), x)
    for v, val in zip(sf.columns, x.tolist()):
        v.set_value(val, skip_validation=True)
    return x


def _solve_stdform(model: pyo.ConcreteModel, options: SolveOptions) -> SolveOutcome:
    from pyomo.common.errors import InfeasibleConstraintException

    t0 = time.perf_counter()
    try:
        sf = compile_standard_form(model)
    except InfeasibleConstraintException as exc:
        return SolveOutcome("infeasible", False, message=str(exc),
                            timings_s={"translate": time.perf_counter() - t0})
    log_prefix, benders_s = "", 0.0
    if options.uses_benders(sf):
        from .benders import solve_benders

        out = solve_benders(model, sf, options, translate_s=time.perf_counter() - t0)
        if out is not None:
            return out
        # no certified plan (an infeasible instance, a limit): the monolithic solve
        # decides, and diagnoses infeasibility; HiGHS rewrites the log file, so the
        # decomposition's lines are kept to head it
        if options.log_path is not None and options.log_path.exists():
            log_prefix = options.log_path.read_text(errors="replace")
        benders_s = time.perf_counter() - t0
        if options.time_limit is not None:  # the limit covers both attempts
            options = replace(options, time_limit=max(0.0, options.time_limit - benders_s))
        t0 = time.perf_counter()
    integer = sf.integer
    h = full_model_highs(sf, options)
    if options.warm_start is not None and integer.any():
        cols = np.flatnonzero(integer)
        values = [options.warm_start.get(_var_key(sf.columns[j]), 0.0) for j in cols]
        h.setSolution(len(cols), cols.astype(np.int32), np.asarray(values, float))
    t1 = time.perf_counter()
    h.run()
    t2 = time.perf_counter()
    status, has_solution = _status_from_highs(h)
    info = h.getInfo()
    out = SolveOutcome(status, has_solution,
                       timings_s={"translate": t1 - t0, "solve": t2 - t1})
    out.log_prefix = log_prefix
    if benders_s:
        out.timings_s["benders"] = benders_s  # the decomposition that handed over
    # the HiGHS run time printed at the end of the log is that of this first run; later
    # runs (duals, elastic) append to the same log
    out.highs_run_time_s = float(h.getRunTime())
    out.session = StdformSession(h, sf, followup_log=_followup_log(options))
    if has_solution:
        out.session.x = load_solution(model, sf, np.asarray(h.getSolution().col_value))
        out.objective = float(info.objective_function_value) / OBJECTIVE_SCALE
        out.best_bound = (float(info.mip_dual_bound) / OBJECTIVE_SCALE if integer.any()
                          else out.objective)
        out.mip_gap = float(info.mip_gap) if integer.any() else 0.0
    _zero_unreferenced(model)
    return out


def _followup_log(options: SolveOptions) -> Path | None:
    return options.log_path.with_name("solver-followup.log") if options.log_path else None


@dataclass
class StdformSession:
    """The HiGHS object and the row/column maps of a solved standard form, kept for the
    follow-up solves (fixed-integer LP for duals, elastic LP for infeasibility)."""

    h: highspy.Highs
    sf: StandardForm
    x: np.ndarray | None = None
    followup_log: Path | None = None

    @property
    def form(self):
        return self.sf.form

    @property
    def integer(self) -> np.ndarray:
        return self.sf.integer

    @property
    def row_lo(self) -> np.ndarray:  # bounds as built (unscaled)
        return self.sf.row_lo

    @property
    def row_hi(self) -> np.ndarray:
        return self.sf.row_hi

    @property
    def row_scale(self) -> np.ndarray:  # HiGHS holds row i multiplied by row_scale[i]
        return self.sf.row_scale

    def _followup(self) -> None:
        """Send the logs of follow-up solves to their own file, so that solver.log
        ends with the main solve's report (its run time is the one users compare)."""
        self.h.setOptionValue("log_file", str(self.followup_log) if self.followup_log else "")
        self.h.setOptionValue("output_flag", self.followup_log is not None)

    def row_names(self) -> list[tuple[str, tuple]]:
        """(group, index) of every row."""
        out = []
        for con, _ in self.form.rows:
            idx = con.index()
            out.append((con.parent_component().local_name,
                        idx if isinstance(idx, tuple) else (idx,)))
        return out

    def fix_integers_and_solve(self) -> bool:
        """Solve the LP with every integer column fixed at the incumbent; True if optimal."""
        h, idx = self.h, np.flatnonzero(self.integer)
        if self.x is None:
            return False
        if len(idx):
            cont = np.zeros(len(idx), np.uint8)  # HighsVarType.kContinuous
            h.changeColsIntegrality(len(idx), idx.astype(np.int32), cont)
            h.changeColsBounds(len(idx), idx.astype(np.int32), self.x[idx], self.x[idx])
        h.run()
        return h.getModelStatus() == highspy.HighsModelStatus.kOptimal

    def fixed_integer_duals(self) -> np.ndarray | None:
        """Row duals of the LP with every integer column fixed at the incumbent, as
        d NPV / d (row bound): positive when relaxing the row would raise the NPV."""
        h = self.h
        if self.x is None:
            return None
        self._followup()
        if not self.fix_integers_and_solve():
            return None
        dual = np.asarray(h.getSolution().row_dual, float)
        # HiGHS reports duals of the objective in its own sense; for a maximisation,
        # d obj / d rhs is the reported dual as is (checked against finite differences
        # in tests/test_marginals_infeasibility.py); undo the row and objective scaling
        return dual * self.row_scale / OBJECTIVE_SCALE

    def elastic_slacks(self, penalty: np.ndarray) -> tuple[str, np.ndarray, np.ndarray] | None:
        """Minimise the penalised violation of the rows with ``penalty > 0`` (one value
        per row): returns (status, slack below the lower bound, slack above the upper
        bound) per row."""
        h = self.h
        self._followup()
        n_rows = len(self.form.rows)
        rows = np.flatnonzero(penalty > 0).astype(np.int32)
        n_col = h.getNumCol()
        # the feasibility question ignores the NPV
        h.changeColsCost(n_col, np.arange(n_col, dtype=np.int32), np.zeros(n_col))
        h.changeObjectiveOffset(0.0)
        h.changeObjectiveSense(highspy.ObjSense.kMinimize)
        # one slack column per side of every elastic row: +1 lifts the row activity above
        # its lower bound, -1 pulls it below its upper bound
        lo = self.row_lo[rows]
        hi = self.row_hi[rows]
        for sign, finite in ((1.0, np.isfinite(lo)), (-1.0, np.isfinite(hi))):
            sel = rows[finite]
            m = len(sel)
            if not m:
                continue
            # the slack enters the scaled row scaled too, so that it is in the row's units
            h.addCols(m, penalty[sel], np.zeros(m), np.full(m, math.inf), m,
                      np.arange(m, dtype=np.int32), sel, sign * self.row_scale[sel])
        h.run()
        status, _ = _status_from_highs(h)
        if status != "optimal":
            return None
        x = np.asarray(h.getSolution().col_value)[n_col:]
        below = np.zeros(n_rows)
        above = np.zeros(n_rows)
        n_lo = int(np.isfinite(lo).sum())
        below[rows[np.isfinite(lo)]] = x[:n_lo]
        above[rows[np.isfinite(hi)]] = x[n_lo:n_lo + int(np.isfinite(hi).sum())]
        return status, below, above


# HiGHS works on a scaled copy: the objective in kUSD and every row whose largest
# coefficient exceeds 1e5 (in practice the capex budget rows, 1e7-1e8 USD per unit)
# divided by a power of ten that brings that coefficient into [10, 100) (MUSD for the
# budget). Unscaled, the coefficients spread over 10 orders of magnitude, HiGHS warns
# about them and its cut rounds are slower. On exported copies of portfolio-3y (2
# threads) this scaling took 52-63 s against 80-81 s unscaled; scaling the MWh rows of
# ppa_min_take as well (73-74 s) or every large row to ~1 (79-84 s) did not help.
# In the pipeline: bench/README.md.
OBJECTIVE_SCALE = 1e-3
ROW_SCALE_ABOVE = 1e5


def _row_scale(A) -> np.ndarray:
    """Factor per row of a CSR matrix: a power of ten for rows whose largest
    coefficient exceeds ROW_SCALE_ABOVE, bringing it into [10, 100); 1 elsewhere."""
    biggest = abs(A).max(axis=1).toarray().ravel() if A.shape[1] else np.zeros(A.shape[0])
    scale = np.ones(A.shape[0])
    big = biggest > ROW_SCALE_ABOVE
    scale[big] = 10.0 ** (1 - np.floor(np.log10(biggest[big])))
    return scale


def _var_key(v) -> tuple[str, tuple]:
    idx = v.index()
    return v.parent_component().local_name, idx if isinstance(idx, tuple) else (idx,)


def close_log(outcome: SolveOutcome) -> None:
    """Close HiGHS's log file so that it can be read and moved."""
    if outcome.session is not None:
        outcome.session.h.setOptionValue("log_file", "")


def _new_highs(options: SolveOptions) -> highspy.Highs:
    h = highspy.Highs()
    h.setOptionValue("output_flag", True)
    h.setOptionValue("log_to_console", bool(options.verbose))
    if options.log_path is not None:
        h.setOptionValue("log_file", str(options.log_path))
    for k, v in options.highs_options().items():
        h.setOptionValue(k, v)
    return h


def _zero_unreferenced(model: pyo.ConcreteModel) -> None:
    """Variables in no row and no objective have no value; they are 0 in any optimum
    (a variable with no cost and no constraint is free to be anything, and 0 is
    inside the bounds of every such variable this model creates)."""
    for v in model.component_data_objects(pyo.Var, descend_into=True):
        if v.value is None:
            v.set_value(0.0, skip_validation=True)


# --- routes through Pyomo's solver interfaces (for comparison) --------------------------


def _solve_pyomo_interface(model: pyo.ConcreteModel, options: SolveOptions) -> SolveOutcome:
    t0 = time.perf_counter()
    if options.route == "appsi":
        from pyomo.contrib.appsi.solvers.highs import Highs

        solver = Highs()
        solver.config.stream_solver = options.verbose
        solver.config.load_solution = False
        if options.time_limit is not None:
            solver.config.time_limit = options.time_limit
        solver.config.mip_gap = options.mip_gap
        solver.highs_options["threads"] = options.thread_count
        if options.log_path is not None:
            solver.highs_options["log_file"] = str(options.log_path)
        solver.set_instance(model)
        t1 = time.perf_counter()
        res = solver.solve(model)
        t2 = time.perf_counter()
        h = solver._solver_model
    else:
        from pyomo.contrib.solver.solvers.highs import Highs

        solver = Highs()
        solver.config.tee = options.verbose
        solver.config.load_solutions = False
        solver.config.raise_exception_on_nonoptimal_result = False
        if options.time_limit is not None:
            solver.config.time_limit = options.time_limit
        solver.config.rel_gap = options.mip_gap
        extra = {"threads": options.thread_count}
        if options.log_path is not None:
            extra["log_file"] = str(options.log_path)
        solver.config.solver_options = extra
        solver.set_instance(model)
        t1 = time.perf_counter()
        res = solver.solve(model)
        t2 = time.perf_counter()
        h = solver._solver_model
    status, has_solution = _status_from_highs(h)
    out = SolveOutcome(status, has_solution, timings_s={"translate": t1 - t0, "solve": t2 - t1})
    if has_solution:
        res.solution_loader.load_vars()
        info = h.getInfo()
        out.objective = float(info.objective_function_value)
        out.best_bound = float(info.mip_dual_bound)
        out.mip_gap = float(info.mip_gap)
        for v in model.component_data_objects(pyo.Var):
            if v.is_integer() and v.value is not None:
                v.set_value(round(v.value), skip_validation=True)
    _zero_unreferenced(model)
    h.setOptionValue("log_file", "")
    out.highs_run_time_s = highs_run_time(options.log_path)
    return out
