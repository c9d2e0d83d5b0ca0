"""Benders decomposition of the MILP: the plan in a master MILP, the hourly operation of
each site in each period in its own LP.

The columns split by block (``model/build.py::column_blocks``, from the column labels):
orders, stocks, acceptances and peaks form the plan; the operating variables of site
``s`` in period ``p`` form block ``(p, s)``. Every row holds plan columns and at most one
block's columns (checked; otherwise no decomposition). Given a plan ``x``, block ``b``'s
LP is

    v_b(x) = max c_b y  s.t.  row_lo - A_bx x <= A_by y <= row_hi - A_bx x

which is concave in ``x``; its row duals ``d`` give the cut
``theta_b <= v_b(x*) - d' A_bx (x - x*)``. The master maximises the plan's own cash
flows plus ``sum_b theta_b`` over the plan rows and the cuts: first as an LP (cheap
cuts around the relaxation), then as a MILP. Its bound is an upper bound on the NPV;
every plan it proposes, with the blocks' solutions, is a full solution whose NPV is a
lower bound. The loop stops when the two are within the MIP gap.

The block LPs carry elastic slack columns with a large penalty, so that every plan has
a (penalised) value and a cut; the penalised LP relaxes the block's rows, so the cuts
never remove a feasible plan. A plan counts as a solution only when no slack is used,
and the final solution is checked row by row against the full model. When no
certified solution comes out (an infeasible instance, a plan that needs slack, the
iteration limit), ``solve_benders`` returns None and the monolithic solve decides.

``--warm-start`` seeds the first master MILP with the earlier run's integer decisions.

Measured on portfolio-3y at K = 8 (bench/README.md): 36 blocks, 34 LP-phase and 3 MILP
iterations, 21 s against 62-88 s for the monolithic MILP, same NPV.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import highspy
import numpy as np
from scipy import sparse

from .config import SolveConfig
from .highs import Session, full_model_lp, highs_lp
from .monolithic import start_values
from .solution import Solution
from .stdform import OBJECTIVE_SCALE, StandardForm

THETA_BOUND = 1e7  # kUSD per block (10 bn USD); a block above it is refused (checked at the end)
SLACK_PENALTY = 100.0  # times the largest operating cost coefficient, per unit of slack
LP_PHASE_GAP = 1e-6
# absolute gap (kUSD, the scaled objective) at which the loop stops whatever relative gap
# is asked for: HiGHS's default absolute MIP gap, plus what its feasibility tolerance lets
# each block's theta exceed its cut by (the bound cannot be certified closer than that)
ABS_GAP = 1e-6
ABS_GAP_PER_BLOCK = 1e-6
# cuts whose largest coefficient exceeds this are divided by it (see the loop)
NORMALISE_ABOVE = 1e4
MAX_ITERATIONS = 500
FEASIBILITY_TOL = 1e-6  # row and bound violation allowed in the final check, relative
SLACK_TOL = 1e-6  # total slack of a plan's blocks (row units) for it to count as a solution


def _row_blocks(A: sparse.csr_matrix, col_block: np.ndarray) -> np.ndarray | None:
    """Block of each row (-1: plan rows), or None when a row spans two blocks."""
    row_of_nz = np.repeat(np.arange(A.shape[0]), np.diff(A.indptr))
    nz_block = col_block[A.indices]
    op = nz_block >= 0
    hi = np.full(A.shape[0], -1)
    lo = np.full(A.shape[0], np.iinfo(np.int64).max)
    np.maximum.at(hi, row_of_nz[op], nz_block[op])
    np.minimum.at(lo, row_of_nz[op], nz_block[op])
    if np.any((hi >= 0) & (lo != hi)):
        return None
    return hi


class _Log:
    def __init__(self, config: SolveConfig, log_path: Path | None):
        self.f = open(log_path, "w") if log_path is not None else None
        self.echo = config.verbose

    def __call__(self, line: str) -> None:
        if self.f is not None:
            self.f.write(line + "\n")
            self.f.flush()
        if self.echo:
            print(line, flush=True)

    def close(self) -> None:
        if self.f is not None:
            self.f.close()


def _quiet_highs(config: SolveConfig) -> highspy.Highs:
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("log_to_console", False)
    h.setOptionValue("threads", config.thread_count)
    return h


class _Block:
    """One site-period LP with elastic slacks; solve(x) gives value, cut and solution."""

    def __init__(self, sf: StandardForm, rows, cols, plan_cols, penalty: float,
                 config: SolveConfig):
        A = sf.A[rows]
        self.rows, self.cols = rows, cols
        self.A_plan = A[:, plan_cols].tocsr()
        self.lo = (sf.row_lo * sf.row_scale)[rows]
        self.hi = (sf.row_hi * sf.row_scale)[rows]
        self.h = _quiet_highs(config)
        self.h.passModel(highs_lp(A[:, cols], sf.cost[cols], sf.lb[cols], sf.ub[cols],
                                  self.lo, self.hi, maximise=True))
        # +1 lifts a row above its lower bound, -1 pulls it below its upper bound
        for sign, finite in ((1.0, np.isfinite(self.lo)), (-1.0, np.isfinite(self.hi))):
            sel = np.flatnonzero(finite).astype(np.int32)
            k = len(sel)
            self.h.addCols(k, np.full(k, -penalty), np.zeros(k), np.full(k, math.inf), k,
                           np.arange(k, dtype=np.int32), sel, np.full(k, sign))
        self.n = len(cols)
        self.all_rows = np.arange(len(rows), dtype=np.int32)

    def solve(self, x_plan: np.ndarray):
        shift = self.A_plan @ x_plan
        self.h.changeRowsBounds(len(self.rows), self.all_rows, self.lo - shift, self.hi - shift)
        self.h.run()
        if self.h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        sol = self.h.getSolution()
        value = float(self.h.getInfo().objective_function_value)
        dual = np.asarray(sol.row_dual)
        col = np.asarray(sol.col_value)
        return value, -(self.A_plan.T @ dual), col[:self.n], float(col[self.n:].sum())


def solve_benders(sf: StandardForm, config: SolveConfig, col_block: np.ndarray,
                  log_path: Path | None = None, warm_start: dict[int, float] | None = None,
                  time_budget_s: float | None = None) -> Solution | None:
    """The decomposition, or None when it cannot certify a plan (the caller then
    solves the monolithic MILP). ``col_block``: block of every column, -1 for the plan."""
    t_start = time.perf_counter()
    if not sf.maximise:
        return None
    row_block = _row_blocks(sf.A, col_block)
    # the blocks must be LPs (their duals make the cuts) and there must be some
    if row_block is None or col_block.max() < 0 or sf.integer[col_block >= 0].any():
        return None
    log = _Log(config, log_path)
    try:
        return _loop(sf, config, col_block, row_block, log, t_start, log_path, warm_start,
                     time_budget_s)
    finally:
        log.close()


def _loop(sf, config, col_block, row_block, log, t_start, log_path, warm_start, budget_s):
    plan = np.flatnonzero(col_block < 0)
    plan_rows = np.flatnonzero(row_block < 0)
    block_ids = np.unique(col_block[col_block >= 0])
    operating = col_block >= 0
    penalty = SLACK_PENALTY * max(1.0, float(np.abs(sf.cost[operating]).max(initial=0.0)))
    blocks = [_Block(sf, np.flatnonzero(row_block == b), np.flatnonzero(col_block == b), plan,
                     penalty, config) for b in block_ids]
    n_plan, n_blocks = len(plan), len(blocks)
    integer = sf.integer[plan]
    log(f"Hashpivot Benders decomposition: plan {n_plan} columns ({int(integer.sum())} "
        f"integer), {len(plan_rows)} rows; {n_blocks} site-period LPs, "
        f"{sf.n_cols - n_plan} columns, {sf.n_rows - len(plan_rows)} rows")

    master = _quiet_highs(config)
    master.passModel(highs_lp(sf.A[plan_rows][:, plan], sf.cost[plan], sf.lb[plan], sf.ub[plan],
                              (sf.row_lo * sf.row_scale)[plan_rows],
                              (sf.row_hi * sf.row_scale)[plan_rows], maximise=True))
    theta = n_plan + np.arange(n_blocks)
    master.addCols(n_blocks, np.ones(n_blocks), np.full(n_blocks, -math.inf),
                   np.full(n_blocks, THETA_BOUND), 0, np.zeros(0, np.int32),
                   np.zeros(0, np.int32), np.zeros(0))
    int_cols = np.flatnonzero(integer).astype(np.int32)
    # HighsVarType codes: 0 continuous, 1 integer
    master.changeColsIntegrality(len(int_cols), int_cols, np.zeros(len(int_cols), np.uint8))

    target = float(config.mip_gap)
    deadline = t_start + budget_s if budget_s is not None else math.inf
    phase = "lp"
    best_value, best_x, upper = -math.inf, None, math.inf
    previous = None  # the last plan of the MILP phase
    abs_gap = ABS_GAP + ABS_GAP_PER_BLOCK * n_blocks
    log(f"{'iter':>5} {'phase':>5} {'upper (kUSD)':>16} {'plan value':>16} "
        f"{'best':>16} {'gap':>9} {'cuts':>5} {'time':>7}")
    timed_out = False
    for it in range(1, MAX_ITERATIONS + 1):
        if time.perf_counter() >= deadline:
            timed_out = True
            break
        if phase == "mip":
            master.setOptionValue("mip_rel_gap", target / 10)
            if math.isfinite(deadline):
                master.setOptionValue("time_limit", max(0.0, deadline - time.perf_counter()))
            if best_x is not None:
                start = highspy.HighsSolution()
                start.col_value = list(np.concatenate([best_x[plan], np.zeros(n_blocks)]))
                start.value_valid = True
                master.setSolution(start)
        master.run()
        status = master.getModelStatus()
        S = highspy.HighsModelStatus
        if status == S.kTimeLimit and master.getInfo().primal_solution_status != 2:
            timed_out = True
            break
        # an optimal master is taken as it is (HiGHS may flag tiny residual infeasibilities
        # of a badly scaled cut as a solution that is not feasible)
        if status != S.kOptimal and (status != S.kTimeLimit
                                      or master.getInfo().primal_solution_status != 2):
            log(f"master: {master.modelStatusToString(status)}; handing over to the "
                "monolithic solve")
            return None
        info = master.getInfo()
        bound = info.objective_function_value if phase == "lp" else info.mip_dual_bound
        if phase == "mip":
            upper = min(upper, bound)
        x_all = np.asarray(master.getSolution().col_value)
        # snapped in the MILP phase, so that the blocks see whole units; the LP phase
        # values the fractional plan the master proposed
        x_plan = x_all[:n_plan]
        if phase == "mip":
            x_plan = np.where(integer, np.round(x_plan), x_plan)
        value = float(sf.cost[plan] @ x_plan)
        slack = 0.0
        cuts = 0
        y = [None] * n_blocks
        for k, blk in enumerate(blocks):
            res = blk.solve(x_plan)
            if res is None:
                log(f"site-period LP {k} did not solve; handing over to the monolithic solve")
                return None
            v, grad, y[k], s = res
            value += v
            slack += s
            if x_all[theta[k]] > v + 1e-7 * max(1.0, abs(v)):
                nz = np.flatnonzero(np.abs(grad) > 1e-12)
                idx = np.concatenate([nz, [theta[k]]]).astype(np.int32)
                coef = np.concatenate([-grad[nz], [1.0]])
                # a cut from a block that needed its penalised slacks carries coefficients of
                # the penalty's size: such a row is divided by its largest coefficient, which
                # keeps the master's LP well scaled (the cut is the same half-space); an
                # ordinary cut keeps theta's coefficient 1, so that the master's feasibility
                # tolerance stays a tolerance on theta
                biggest = float(np.abs(coef).max())
                norm = biggest if biggest > NORMALISE_ABOVE else 1.0
                master.addRow(-math.inf, (v - float(grad @ x_plan)) / norm, len(idx), idx,
                              coef / norm)
                cuts += 1
        # slack columns cost SLACK_PENALTY per unit: HiGHS uses them only when it must
        feasible = slack <= SLACK_TOL
        if phase == "mip" and feasible and value > best_value:
            best_value = value
            best_x = np.zeros(sf.n_cols)
            best_x[plan] = x_plan
            for blk, yk in zip(blocks, y):
                best_x[blk.cols] = yk
        ref = upper if phase == "mip" else bound
        gap = ((ref - best_value) / max(1.0, abs(best_value)) if phase == "mip"
               else (bound - value) / max(1.0, abs(bound)))
        log(f"{it:5d} {phase:>5} {ref + sf.offset:16.2f} {value + sf.offset:16.2f} "
            f"{best_value + sf.offset:16.2f} {gap:9.2e} {cuts:5d} "
            f"{time.perf_counter() - t_start:7.1f}")
        if phase == "lp":
            if (gap <= LP_PHASE_GAP or cuts == 0 or it >= MAX_ITERATIONS // 2
                    or time.perf_counter() >= deadline):
                phase = "mip"
                master.changeColsIntegrality(len(int_cols), int_cols,
                                             np.ones(len(int_cols), np.uint8))
                start = start_values(sf, warm_start)
                if start is not None:  # the full model's integer columns are the plan's
                    master.setSolution(len(int_cols), int_cols, start)
            continue
        stalled = previous is not None and np.array_equal(x_plan, previous)
        previous = x_plan
        if (gap <= target or upper - best_value <= abs_gap
                or ((cuts == 0 or stalled) and best_x is not None)):
            # (a master that proposes the same plan again adds nothing the cuts can use)
            break
        if time.perf_counter() >= deadline:
            timed_out = True
            break
    else:
        log("iteration limit; handing over to the monolithic solve")
        return None
    if best_x is None:
        if timed_out:
            log("time limit before a plan without slack")
            elapsed = time.perf_counter() - t_start
            return Solution("time_limit", form=sf, method="benders",
                            timings_s={"solve": elapsed}, highs_run_time_s=elapsed)
        log("no plan without slack; handing over to the monolithic solve")
        return None
    if np.any(x_all[theta] >= THETA_BOUND / 2) or not _feasible(sf, best_x):
        log("the decomposed solution failed the full-model check; handing over to the "
            "monolithic solve")
        return None
    # the full model with the plan's integers fixed: its LP re-optimises every continuous
    # variable at once (ASIC retirements included), never below the Benders solution;
    # the same object then gives the marginal values (Session.fixed_integer_duals)
    h = _quiet_highs(config)
    h.passModel(full_model_lp(sf))
    session = Session(h, sf, followup_log=log_path.with_name("solver-followup.log")
                      if log_path is not None else None)
    session.x = np.where(sf.integer, np.round(best_x), best_x)
    x, value = best_x, best_value
    if session.fix_integers_and_solve():
        polished = np.asarray(h.getSolution().col_value)
        polished_value = float(sf.cost @ polished)
        if polished_value >= value and _feasible(sf, polished):
            x, value = polished, polished_value
    gap = max(0.0, (upper - value) / max(1.0, abs(value)))
    status = "optimal" if gap <= target or upper - value <= abs_gap else "time_limit"
    solve_s = time.perf_counter() - t_start
    log(f"Benders {status}: NPV {value + sf.offset:.2f} kUSD (fixed-integer LP), bound "
        f"{upper + sf.offset:.2f} kUSD, gap {gap:.2e}")
    # every log ends with this line (bench/ and users compare it across methods)
    log("# Hashpivot: run time of the decomposition above (its HiGHS solves and cuts)")
    log(f"HiGHS run time      : {solve_s:14.2f}")
    x = np.where(sf.integer, np.round(x), x)
    session.x = x
    return Solution(status, form=sf, x=x, npv_usd=sf.npv_usd(x),
                    best_bound_usd=(upper + sf.offset) / OBJECTIVE_SCALE, mip_gap=gap,
                    method="benders", timings_s={"solve": solve_s}, highs_run_time_s=solve_s,
                    session=session)


def _feasible(sf: StandardForm, x: np.ndarray) -> bool:
    """Every row and bound of the full model holds at x (integers snapped)."""
    x = np.where(sf.integer, np.round(x), x)
    act = sf.A @ x
    lo = sf.scaled_row_lo
    hi = sf.scaled_row_hi
    tol_row = FEASIBILITY_TOL * np.maximum(1.0, np.abs(np.where(np.isfinite(lo), lo, hi)))
    ok_rows = np.all((act >= lo - tol_row) & (act <= hi + tol_row))
    tol_col = FEASIBILITY_TOL * np.maximum(1.0, np.abs(x))
    ok_cols = np.all((x >= sf.lb - tol_col) & (x <= sf.ub + tol_col))
    return bool(ok_rows and ok_cols)

