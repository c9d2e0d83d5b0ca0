"""Benders decomposition of the MILP: the plan in a master MILP, the hourly operation of
each site in each period in its own LP.

The columns split by block (``model/build.py::column_blocks``, from the column labels):
orders, stocks, acceptances and peaks form the plan; the operating variables of site
``s`` in period ``p`` form block ``(p, s)``. Every row holds plan columns and at most one
block's columns (checked; otherwise no decomposition). Given a plan ``x``, block ``b``'s
LP is

    v_b(x) = max c_b y  s.t.  row_lo - A_bx x <= A_by y <= row_hi - A_bx x

which is concave in ``x``; its row duals ``d`` give the optimality cut
``theta_b <= v_b(x*) - d' A_bx (x - x*)``. When the block has no solution at ``x*``, its
phase-1 LP (the least total slack that makes the rows hold, ``-s_b(x) <= 0``, concave
too) gives the feasibility cut ``0 <= -s_b(x*) + g' (x - x*)``. Every cut holds for every
plan, so the master (the plan's own cash flows plus ``sum_b theta_b`` over the plan rows
and the cuts) is a relaxation: its bound is an upper bound on the NPV. Every plan it
proposes whose blocks all solve is, with their solutions, a full solution whose NPV is a
lower bound. The loop stops when the two are within the MIP gap.

The search (``Strategy``; measurements in bench/README.md, "Estates"):

1. **First plan**: an LP of the plan with a sample of each block's steps (the connected
   components of its rows, costs scaled up to the block), refined with the steps whose
   rows a block could not meet. Its plan is feasible and within ~1 % of the LP bound.
2. **LP phase**: cutting planes on the master LP inside a box around the best plan so far
   (a trust region; without it the first masters wander to plans worth nothing and half
   the phase repairs them); the box is dropped once it no longer binds, and the phase
   ends at the LP bound.
3. **Rounding**: the master MILP with every integer column restricted to the floor and
   ceiling of its LP value (RENS) gives the first incumbent and cuts at integer plans.
4. **MIP phase**: master MILPs warm-started from the best plan, with a gap schedule
   (loose first), integer columns whose LP values are large (hundreds of GPU servers)
   kept continuous while that still closes the gap, and an interrupt as soon as the
   master's bound certifies the best plan.

A certified plan is checked row by row against the full model; the full model's LP with
the plan's integers fixed then re-optimises every continuous column at once (and gives
the marginal values). When no certified solution comes out (an infeasible instance, the
iteration limit), ``solve_benders`` returns None and the monolithic solve decides.

``--warm-start`` seeds the first master MILP with the earlier run's integer decisions.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import highspy
import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from .config import SolveConfig
from .highs import Session, highs_lp, pass_full_model
from .monolithic import start_values
from .solution import Solution
from .stdform import OBJECTIVE_SCALE, StandardForm

THETA_BOUND = 1e7  # kUSD per block (10 bn USD); a block above it is refused (checked at the end)
LP_PHASE_GAP = 1e-5
MAX_ITERATIONS = 500
FEASIBILITY_TOL = 1e-6  # row and bound violation allowed in the final check, relative
CUT_TOL = 1e-7  # a cut is added when theta exceeds the block's value by this, relative
FIRST_PLAN_ROUNDS = 3  # first-plan LPs, each with the steps the last plan could not meet
BOX_SWITCH_GAP = 1e-3  # the trust region is dropped once it no longer binds within this gap
# the smallest gap the decomposition certifies: its cuts and LPs hold to ~1e-7 relative, so
# a bound closer than that to the best plan is noise (--mip-gap 0 then means 1e-7)
MIN_GAP = 1e-7
# absolute gap (kUSD, the scaled objective) at which the loop stops whatever relative gap
# is asked for: HiGHS's default absolute MIP gap, plus what its feasibility tolerance lets
# each block's theta exceed its cut by (the bound cannot be certified closer than that)
ABS_GAP = 1e-6
ABS_GAP_PER_BLOCK = 1e-6

S = highspy.HighsModelStatus


@dataclass(frozen=True)
class Strategy:
    """How the decomposition searches. Every choice keeps the bound certified; they
    change how fast it closes (bench/README.md, "Estates", has the measurements)."""

    start_steps: int = 8  # steps per block in the first-plan LP (0: no first plan)
    stabilise: Literal["box", "inout", "none"] = "box"  # LP phase around the best plan
    box: float = 0.3  # trust region: relative half-width around the best plan
    inout: float = 0.5  # in-out: cuts at this share of the way from the best plan
    cuts: Literal["multi", "aggregated"] = "multi"  # one theta per block, or one in all
    rounding: bool = False  # RENS rounding of the LP-phase plan
    relax_above: float = 20.0  # integer columns with larger LP values start continuous
    master_gaps: tuple[float, ...] = (1e-2,)  # gaps of the first master MILPs
    final_gap: float = 0.2  # then masters to this share of the target gap
    interrupt: bool = True  # stop a master as soon as its bound certifies the best plan
    pool: int = 3  # earlier incumbents of each master solve evaluated too
    corner_cuts: bool = True  # feasibility cuts at plans with nothing installed
    workers: int = 0  # block LPs solved at once in threads (0: the solve's thread count)


DEFAULT_STRATEGY = Strategy()
# Kelley's cutting planes and exact master MILPs, as before issue 14 (tests compare them)
KELLEY = Strategy(start_steps=0, stabilise="none", rounding=False, relax_above=math.inf,
                  master_gaps=(), interrupt=False, pool=0, corner_cuts=False)


@dataclass(frozen=True)
class Progress:
    """One iteration of the decomposition, for a progress line. USD include the
    objective's constant; ``bound_usd`` is None until the master's bound is certified
    (the LP phase inside its trust region has none), ``best_usd`` until a plan is found."""

    iteration: int
    phase: str  # start | lp | round | mip
    bound_usd: float | None
    best_usd: float | None
    gap: float | None
    elapsed_s: float

    def line(self) -> str:
        def usd(v):
            return "-" if v is None else f"{v / 1e6:,.2f} M$"

        gap = "-" if self.gap is None else f"{self.gap:.3%}"
        return (f"Benders {self.iteration:3d} {self.phase:>5}  bound {usd(self.bound_usd)}  "
                f"best plan {usd(self.best_usd)}  gap {gap}  {self.elapsed_s:.1f} s")


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
    # HiGHS keeps one thread pool per process: every object of a solve asks for the same
    h.setOptionValue("threads", config.thread_count)
    return h


class _HandOver(Exception):
    """The decomposition cannot go on; the message is logged and the monolithic solve
    decides."""


@dataclass
class _Eval:
    """A block's LP at one plan."""

    feasible: bool
    value: float  # kUSD: the block's value, or minus its least total slack (phase 1)
    grad: np.ndarray  # d value / d x over the block's plan columns (``_Block.reads``)
    y: np.ndarray | None  # the block's columns, when feasible
    short_rows: np.ndarray | None = None  # block rows phase 1 needed slack on


class _Block:
    """One site-period LP. Its columns are followed by one slack column per finite row
    side, fixed at 0 except in phase 1 (least total slack), which decides whether a plan
    leaves the block without a solution and gives the feasibility cut."""

    def __init__(self, sf: StandardForm, rows: np.ndarray, cols: np.ndarray,
                 plan: np.ndarray, config: SolveConfig):
        A = sf.A[rows]
        A_plan = A[:, plan]
        self.reads = np.flatnonzero(A_plan.getnnz(axis=0))  # positions in the plan
        self.A_plan = A_plan[:, self.reads].tocsr()
        self.rows, self.cols = rows, cols
        self.lo, self.hi = sf.scaled_row_lo[rows], sf.scaled_row_hi[rows]
        self.cost = sf.cost[cols]
        self.n = len(cols)
        self.h = _quiet_highs(config)
        self.h.passModel(highs_lp(A[:, cols], self.cost, sf.lb[cols], sf.ub[cols],
                                  self.lo, self.hi, maximise=True))
        # +1 lifts a row above its lower bound, -1 pulls it below its upper bound
        lo_side = np.flatnonzero(np.isfinite(self.lo))
        hi_side = np.flatnonzero(np.isfinite(self.hi))
        self.slack_row = np.concatenate([lo_side, hi_side]).astype(np.int32)
        k = self.k = len(self.slack_row)
        sign = np.concatenate([np.ones(len(lo_side)), -np.ones(len(hi_side))])
        self.h.addCols(k, np.zeros(k), np.zeros(k), np.zeros(k), k,
                       np.arange(k, dtype=np.int32), self.slack_row, sign)
        self.slack_cols = np.arange(self.n, self.n + k, dtype=np.int32)
        self.all_cols = np.arange(self.n + k, dtype=np.int32)
        self.all_rows = np.arange(len(rows), dtype=np.int32)
        self._key: np.ndarray | None = None
        self._last: _Eval | None = None
        self.cut_keys: set[bytes] = set()

    def solve(self, x_plan: np.ndarray) -> tuple[_Eval | None, bytes]:
        """The block at plan ``x_plan`` (every plan column); the result of the last plan
        is reused when the block's own plan columns did not change."""
        xr = x_plan[self.reads]
        key = xr.tobytes()
        if self._key is not None and np.array_equal(xr, self._key):
            return self._last, key
        shift = self.A_plan @ xr
        h = self.h
        h.changeRowsBounds(len(self.rows), self.all_rows, self.lo - shift, self.hi - shift)
        h.run()
        status = h.getModelStatus()
        if status == S.kOptimal:
            sol = h.getSolution()
            res = _Eval(True, float(h.getInfo().objective_function_value),
                        -(self.A_plan.T @ np.asarray(sol.row_dual)),
                        np.asarray(sol.col_value)[:self.n])
        elif status in (S.kInfeasible, S.kUnboundedOrInfeasible):
            res = self._phase1()
        else:
            res = None
        self._key, self._last = xr.copy(), res
        return res, key

    def _phase1(self) -> _Eval | None:
        h = self.h
        cost = np.zeros(self.n + self.k)
        cost[self.n:] = -1.0
        h.changeColsCost(len(cost), self.all_cols, cost)
        h.changeColsBounds(self.k, self.slack_cols, np.zeros(self.k), np.full(self.k, math.inf))
        h.run()
        res = None
        if h.getModelStatus() == S.kOptimal:
            sol = h.getSolution()
            slack = np.asarray(sol.col_value)[self.n:]
            res = _Eval(False, float(h.getInfo().objective_function_value),
                        -(self.A_plan.T @ np.asarray(sol.row_dual)), None,
                        np.unique(self.slack_row[slack > 1e-9]))
        h.changeColsCost(len(cost), self.all_cols, np.concatenate([self.cost, np.zeros(self.k)]))
        h.changeColsBounds(self.k, self.slack_cols, np.zeros(self.k), np.zeros(self.k))
        return res


class _Master:
    """The plan's rows and cash flows, one theta per block (or one for all) and the cuts."""

    def __init__(self, sf: StandardForm, plan: np.ndarray, plan_rows: np.ndarray,
                 n_theta: int, config: SolveConfig):
        self.h = _quiet_highs(config)
        self.h.passModel(highs_lp(sf.A[plan_rows][:, plan], sf.cost[plan], sf.lb[plan],
                                  sf.ub[plan], sf.scaled_row_lo[plan_rows],
                                  sf.scaled_row_hi[plan_rows], maximise=True))
        self.n = len(plan)
        self.h.addCols(n_theta, np.ones(n_theta), np.full(n_theta, -math.inf),
                       np.full(n_theta, THETA_BOUND), 0, np.zeros(0, np.int32),
                       np.zeros(0, np.int32), np.zeros(0))
        self.theta = self.n + np.arange(n_theta)
        self.lb, self.ub = sf.lb[plan].copy(), sf.ub[plan].copy()
        self.all_plan = np.arange(self.n, dtype=np.int32)
        self.cuts = 0

    def add_cut(self, theta: int | None, value: float, cols: np.ndarray, grad: np.ndarray,
                x_star: np.ndarray) -> None:
        """``theta <= value + grad' (x - x*)`` (``theta`` None: ``0 <= ...``) over the
        plan positions ``cols``."""
        keep = np.abs(grad) > 1e-12
        cols, grad = cols[keep], grad[keep]
        rhs = value - float(grad @ x_star[cols])
        idx, coef = cols.astype(np.int32), -grad
        if theta is not None:
            idx = np.append(idx, np.int32(theta))
            coef = np.append(coef, 1.0)
        if not len(idx):
            return
        # rows divided by their largest coefficient keep the master's LP well scaled
        norm = max(1.0, float(np.abs(coef).max()))
        self.h.addRow(-math.inf, rhs / norm, len(idx), idx, coef / norm)
        self.cuts += 1

    def set_box(self, lo: np.ndarray, hi: np.ndarray) -> None:
        self.h.changeColsBounds(self.n, self.all_plan, lo, hi)

    def clear_box(self) -> None:
        self.h.changeColsBounds(self.n, self.all_plan, self.lb, self.ub)

    def set_integer(self, cols: np.ndarray, on: bool) -> None:
        cols = cols.astype(np.int32)
        if len(cols):  # HighsVarType codes: 0 continuous, 1 integer
            self.h.changeColsIntegrality(len(cols), cols,
                                         np.full(len(cols), 1 if on else 0, np.uint8))


@dataclass
class _Point:
    """Every block at one plan."""

    feasible: bool
    value: float  # kUSD without the objective's constant; -inf unless feasible
    y: list | None
    cuts: int
    short: list = field(default_factory=list)  # (block, rows short) when infeasible
    theta: np.ndarray | None = None  # the master's theta values at this plan


class _Run:
    """State of one decomposition: blocks, master, incumbent, bound, clock."""

    def __init__(self, sf: StandardForm, config: SolveConfig, col_block: np.ndarray,
                 row_block: np.ndarray, log: _Log, t_start: float, budget_s: float | None,
                 strategy: Strategy, progress: Callable[[Progress], None] | None):
        self.sf, self.strategy = sf, strategy
        self._start(config, log, t_start, budget_s, progress)
        self.abs_gap = ABS_GAP + ABS_GAP_PER_BLOCK * int((np.unique(col_block) >= 0).sum())
        self.col_block, self.row_block = col_block, row_block
        self.plan = np.flatnonzero(col_block < 0)
        self.plan_rows = np.flatnonzero(row_block < 0)
        block_ids = np.unique(col_block[col_block >= 0])
        t = time.perf_counter()
        self.blocks = [_Block(sf, np.flatnonzero(row_block == b), np.flatnonzero(col_block == b),
                              self.plan, config) for b in block_ids]
        n_theta = len(self.blocks) if strategy.cuts == "multi" else 1
        self.master = _Master(sf, self.plan, self.plan_rows, n_theta, config)
        self.integer = np.flatnonzero(sf.integer[self.plan])
        self.plan_cost = sf.cost[self.plan]
        self.timings["setup"] = time.perf_counter() - t
        self.aggregated_keys: set[bytes] = set()

    def _start(self, config: SolveConfig, log: _Log, t_start: float, budget_s: float | None,
               progress: Callable[[Progress], None] | None) -> None:
        """A search's own state: options, clock, thread pool, no incumbent, no bound."""
        self.config, self.log, self.t_start, self.progress = config, log, t_start, progress
        self.deadline = t_start + budget_s if budget_s is not None else math.inf
        self.target = max(float(config.mip_gap), MIN_GAP)
        # highspy releases the GIL while HiGHS runs: the block LPs share the cores
        workers = self.strategy.workers or config.thread_count
        self.pool = ThreadPoolExecutor(workers) if workers > 1 else None
        self.timings: dict = {"setup": 0.0}
        self.iteration = 0
        self.best_value, self.best_x, self.best_y = -math.inf, None, None
        self.best_theta: np.ndarray | None = None
        self.upper = math.inf

    def restart(self, config: SolveConfig, log: _Log, t_start: float,
                budget_s: float | None, progress: Callable[[Progress], None] | None) -> None:
        """Take the form's new plan data (costs, column bounds, plan-row bounds) into the
        master, keep its cuts, and forget the incumbent and the bound: the cuts describe
        the blocks, which the caller guarantees unchanged (``blocks_unchanged``)."""
        sf, master = self.sf, self.master
        self._start(config, log, t_start, budget_s, progress)
        n = master.n
        master.h.changeColsCost(n, master.all_plan, sf.cost[self.plan])
        master.lb, master.ub = sf.lb[self.plan].copy(), sf.ub[self.plan].copy()
        master.h.changeColsBounds(n, master.all_plan, master.lb, master.ub)
        # the master's first rows are the plan rows, in order; the cuts follow them
        m = len(self.plan_rows)
        master.h.changeRowsBounds(m, np.arange(m, dtype=np.int32),
                                  sf.scaled_row_lo[self.plan_rows],
                                  sf.scaled_row_hi[self.plan_rows])
        self.plan_cost = sf.cost[self.plan]

    def blocks_unchanged(self, cost: np.ndarray, lb: np.ndarray, ub: np.ndarray,
                         row_lo: np.ndarray, row_hi: np.ndarray) -> bool:
        """The block LPs were built from these arrays' block parts (the form as it was
        when they were built): True if the form still has them."""
        sf = self.sf
        cols = self.col_block >= 0
        rows = self.row_block >= 0
        return bool(np.array_equal(sf.cost[cols], cost[cols])
                    and np.array_equal(sf.lb[cols], lb[cols])
                    and np.array_equal(sf.ub[cols], ub[cols])
                    and np.array_equal(sf.row_lo[rows], row_lo[rows])
                    and np.array_equal(sf.row_hi[rows], row_hi[rows]))

    # -- the blocks -------------------------------------------------------------------

    def evaluate(self, x: np.ndarray, theta: np.ndarray | None = None) -> _Point:
        """Every block at plan ``x``; cuts where ``theta`` (the master's values, None:
        always) exceeds a block's value, feasibility cuts where a block has no solution."""
        t = time.perf_counter()
        if self.pool is not None:
            results = list(self.pool.map(lambda b: b.solve(x), self.blocks))
        else:
            results = [b.solve(x) for b in self.blocks]
        self.timings["blocks"] = self.timings.get("blocks", 0.0) + time.perf_counter() - t
        cuts, short = 0, []
        for k, (res, _) in enumerate(results):
            if res is None:
                raise _HandOver(f"site-period LP {k} did not solve")
        feasible = all(res.feasible for res, _ in results)
        master = self.master
        for k, (res, key) in enumerate(results):
            blk = self.blocks[k]
            if not res.feasible:
                short.append((k, res.short_rows))
                if key not in blk.cut_keys:
                    blk.cut_keys.add(key)
                    master.add_cut(None, res.value, blk.reads, res.grad, x)
                    cuts += 1
            elif self.strategy.cuts == "multi" and key not in blk.cut_keys and (
                    theta is None or theta[k] > res.value + CUT_TOL * max(1.0, abs(res.value))):
                blk.cut_keys.add(key)
                master.add_cut(int(master.theta[k]), res.value, blk.reads, res.grad, x)
                cuts += 1
        value = -math.inf
        if feasible:
            values = [res.value for res, _ in results]
            value = float(self.plan_cost @ x) + sum(values)
            if self.strategy.cuts == "aggregated":
                total = sum(values)
                key = x.tobytes()
                if key not in self.aggregated_keys and (
                        theta is None or theta[0] > total + CUT_TOL * max(1.0, abs(total))):
                    self.aggregated_keys.add(key)
                    grad = np.zeros(len(x))
                    for blk, (res, _) in zip(self.blocks, results):
                        np.add.at(grad, blk.reads, res.grad)
                    cols = np.flatnonzero(grad)
                    master.add_cut(int(master.theta[0]), total, cols, grad[cols], x)
                    cuts += 1
        y, theta_at = None, None
        if feasible:
            y = [res.y for res, _ in results]
            # the blocks' values: every cut allows them, so they start the master here
            values = np.array([res.value for res, _ in results])
            theta_at = values if self.strategy.cuts == "multi" else np.array([values.sum()])
        return _Point(feasible, value, y, cuts, short, theta_at)

    def offer(self, x: np.ndarray, point: _Point) -> bool:
        """Take a plan with integer decisions whose blocks all solve as the incumbent if
        it is better."""
        if point.feasible and point.value > self.best_value:
            self.best_value, self.best_x, self.best_y = point.value, x.copy(), point.y
            self.best_theta = point.theta
            return True
        return False

    # -- reporting --------------------------------------------------------------------

    def elapsed(self) -> float:
        return time.perf_counter() - self.t_start

    def gap(self) -> float:
        """Relative gap of the NPV (the objective's constant included), as HiGHS's."""
        if self.best_x is None or not math.isfinite(self.upper):
            return math.inf
        return max(0.0, (self.upper - self.best_value) / self.scale())

    def certified(self) -> bool:
        """The bound is within the target gap of the best plan, or as close as the
        tolerances of the cuts allow."""
        return self.gap() <= self.target or self.upper - self.best_value <= self.abs_gap

    def scale(self) -> float:
        return max(1.0, abs(self.best_value + self.sf.offset))

    def report(self, phase: str, bound: float | None, value: float, cuts: int,
               note: str = "") -> None:
        """One log line and one progress call per iteration (``bound``: the master's
        objective, certified or not; the line shows the certified one)."""
        self.iteration += 1
        off = self.sf.offset
        best = self.best_value + off if self.best_x is not None else None
        upper = self.upper + off if math.isfinite(self.upper) else None
        gap = self.gap() if math.isfinite(self.gap()) else None

        def f(v):
            return f"{v:16.2f}" if v is not None and math.isfinite(v) else f"{'-':>16}"

        self.log(f"{self.iteration:5d} {phase:>5} {f(bound + off if bound is not None else None)} "
                 f"{f(upper)} {f(value + off)} {f(best)} "
                 f"{(f'{gap:9.2e}' if gap is not None else f'{chr(45):>9}')} {cuts:5d} "
                 f"{self.elapsed():7.1f}{note}")
        if self.progress is not None:
            self.progress(Progress(
                self.iteration, phase,
                upper / OBJECTIVE_SCALE if upper is not None else None,
                best / OBJECTIVE_SCALE if best is not None else None, gap, self.elapsed()))

    def out_of_time(self) -> bool:
        return time.perf_counter() >= self.deadline

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.perf_counter())

    # -- 1. the first plan ------------------------------------------------------------

    def first_plan(self) -> np.ndarray | None:
        """The plan of an LP with ``start_steps`` steps of each block (the connected
        components of its rows and columns), their cash flows scaled up to the block's;
        a block the plan leaves short adds the steps it was short in (as constraints) to
        the next round. None when the LP fails."""
        steps = self.strategy.start_steps
        if steps <= 0:
            return None
        t = time.perf_counter()
        sf = self.sf
        op_rows = np.flatnonzero(self.row_block >= 0)
        op_cols = np.flatnonzero(self.col_block >= 0)
        A = sf.A[op_rows][:, op_cols].tocoo()
        nr = len(op_rows)
        graph = sparse.coo_matrix((np.ones(A.nnz), (A.row, nr + A.col)),
                                  shape=(nr + len(op_cols),) * 2)
        n_comp, label = csgraph.connected_components(graph, directed=False)
        row_comp, col_comp = label[:nr], label[nr:]
        comp_block = np.full(n_comp, -1)
        comp_block[col_comp] = self.col_block[op_cols]
        scale = np.zeros(n_comp)  # cost multiplier of each sampled component
        for b in np.unique(comp_block[comp_block >= 0]):
            comps = np.flatnonzero(comp_block == b)
            if len(comps) <= 2 * steps:
                scale[comps] = 1.0
            else:
                pick = comps[np.linspace(0, len(comps) - 1, steps).round().astype(int)]
                scale[pick] = len(comps) / steps
        rule = np.zeros(n_comp, bool)  # components kept as constraints only
        comp_of_row = np.full(sf.n_rows, -1)
        comp_of_row[op_rows] = row_comp
        x0 = None
        for _ in range(FIRST_PLAN_ROUNDS):
            keep = (scale > 0) | rule
            cols = np.concatenate([self.plan, op_cols[keep[col_comp]]])
            rows = np.concatenate([self.plan_rows, op_rows[keep[row_comp]]])
            cost = sf.cost[cols].copy()
            cost[len(self.plan):] *= scale[col_comp[keep[col_comp]]]
            h = _quiet_highs(self.config)
            h.passModel(highs_lp(sf.A[rows][:, cols], cost, sf.lb[cols], sf.ub[cols],
                                 sf.scaled_row_lo[rows], sf.scaled_row_hi[rows]))
            h.run()
            if h.getModelStatus() != S.kOptimal:
                break
            x0 = np.asarray(h.getSolution().col_value)[:len(self.plan)].copy()
            point = self.evaluate(x0)
            self.report("start", None, point.value, point.cuts,
                        f"  steps {int(keep.sum())}, blocks short {len(point.short)}")
            if point.feasible:
                break
            for k, short in point.short:
                rule[comp_of_row[self.blocks[k].rows[short]]] = True
        self.timings["first_plan"] = time.perf_counter() - t
        return x0

    # -- 2. the LP phase --------------------------------------------------------------

    def lp_phase(self, x0: np.ndarray | None) -> np.ndarray:
        """Cutting planes on the master LP until it meets the best LP-feasible plan; the
        master's last plan."""
        t = time.perf_counter()
        st = self.strategy
        master, h = self.master, self.master.h
        core, core_value = None, -math.inf
        if x0 is not None:
            point = self.evaluate(x0)
            if point.feasible:
                core, core_value = x0, point.value
        boxed = st.stabilise == "box" and core is not None and st.box > 0
        rho = st.box
        if boxed:
            typical = self._typical(core)
        x_m = core if core is not None else np.zeros(master.n)
        while not self.out_of_time():
            if boxed:
                half = rho * np.maximum(np.abs(core), 0.1 * typical)
                box_lo = np.maximum(master.lb, core - half)
                box_hi = np.minimum(master.ub, core + half)
                master.set_box(box_lo, box_hi)
            h.run()
            if h.getModelStatus() != S.kOptimal:
                raise _HandOver(f"master LP: {h.modelStatusToString(h.getModelStatus())}")
            obj = float(h.getInfo().objective_function_value)
            sol = np.asarray(h.getSolution().col_value)
            x_m, theta = sol[:master.n].copy(), sol[master.theta]
            binding = boxed and bool(np.any(
                ((x_m <= box_lo + 1e-9) & (box_lo > master.lb))
                | ((x_m >= box_hi - 1e-9) & (box_hi < master.ub))))
            x_s = x_m
            if st.stabilise == "inout" and core is not None:
                x_s = st.inout * x_m + (1 - st.inout) * core
            point = self.evaluate(x_s, theta if x_s is x_m else None)
            if x_s is not x_m and point.cuts == 0:  # the in-out point cuts nothing: Kelley
                point = self.evaluate(x_m, theta)
                x_s = x_m
            improved = point.feasible and point.value > core_value
            if improved:
                core, core_value = x_s, point.value
            if not binding:
                self.upper = min(self.upper, obj)  # no trust region binds: a bound
            self.report("lp", obj, point.value, point.cuts, "  box" if binding else "")
            lp_gap = (obj - core_value) / max(1.0, abs(core_value))
            if boxed:
                if not binding and lp_gap <= BOX_SWITCH_GAP:
                    boxed = False
                    master.clear_box()
                elif (improved and binding) or point.cuts == 0:
                    rho *= 2  # the box held the step back: widen it
                    if rho > 10.0:
                        boxed = False
                        master.clear_box()
                elif not point.feasible:
                    rho = max(rho / 2, 1e-3)
                continue
            if lp_gap <= LP_PHASE_GAP or point.cuts == 0 or self.iteration >= MAX_ITERATIONS // 2:
                break
        if boxed:
            master.clear_box()
        self.lp_x, self.lp_bound = x_m, self.upper
        self._corner_cuts()
        self.timings["lp_phase"] = time.perf_counter() - t
        return x_m

    def _corner_cuts(self) -> None:
        """Feasibility cuts at plans with nothing installed, deals declined and then
        accepted: they tell the master what every site needs whatever the plan (its aux
        load needs a peak above zero, an accepted contract needs its servers), which it
        would otherwise learn one site and period per master MILP."""
        if not self.strategy.corner_cuts:
            return
        master = self.master
        zero = np.clip(0.0, master.lb, master.ub)
        deals = zero.copy()
        binary = self.integer[master.ub[self.integer] == 1]
        deals[binary] = 1.0
        for x in (zero, deals):
            point = self.evaluate(x)
            self.report("start", None, point.value, point.cuts,
                        f"  corner plan, blocks short {len(point.short)}")

    def _typical(self, x: np.ndarray) -> np.ndarray:
        """Scale of every plan column: the largest magnitude among the columns of its
        variable (1 at least), so that a column at 0 may still move."""
        names = self.sf.columns.code[self.plan]
        out = np.ones(len(x))
        for code in np.unique(names):
            sel = names == code
            out[sel] = max(1.0, float(np.abs(x[sel]).max()))
        return out

    # -- 3. rounding ------------------------------------------------------------------

    def round_plan(self, x_lp: np.ndarray) -> None:
        """RENS: the master MILP with each integer column between the floor and the
        ceiling of its LP value; its plan is evaluated (incumbent and cuts)."""
        if not self.strategy.rounding or not len(self.integer) or self.out_of_time():
            return
        t = time.perf_counter()
        master, h = self.master, self.master.h
        ints = self.integer
        lo, hi = master.lb.copy(), master.ub.copy()
        lo[ints] = np.maximum(lo[ints], np.floor(x_lp[ints] + 1e-6))
        hi[ints] = np.minimum(hi[ints], np.ceil(x_lp[ints] - 1e-6))
        master.set_box(lo, hi)
        master.set_integer(ints, True)
        h.setOptionValue("mip_rel_gap", max(self.target / 2, 1e-6))
        h.setOptionValue("time_limit", max(1.0, min(self.remaining(), 30.0)))
        h.run()
        ok = h.getInfo().primal_solution_status == 2
        x = None
        if ok:
            x = self._snap(np.asarray(h.getSolution().col_value)[:master.n])
        master.clear_box()
        master.set_integer(ints, False)
        h.setOptionValue("time_limit", math.inf)
        if x is not None:
            point = self.evaluate(x)
            self.offer(x, point)
            self.report("round", None, point.value, point.cuts,
                        "" if point.feasible else f"  blocks short {len(point.short)}")
        else:
            self.log(f"rounding: {h.modelStatusToString(h.getModelStatus())}, no plan")
        self.timings["rounding"] = time.perf_counter() - t

    def _snap(self, x: np.ndarray, cols: np.ndarray | None = None) -> np.ndarray:
        cols = self.integer if cols is None else cols
        x = x.copy()
        x[cols] = np.round(x[cols])
        return x

    # -- 4. the MIP phase -------------------------------------------------------------

    def mip_phase(self, warm_start: dict[int, float] | None) -> None:
        """Master MILPs until the bound certifies the best plan (or the time limit)."""
        t = time.perf_counter()
        st = self.strategy
        master, h = self.master, self.master.h
        relaxed = self._relaxed()
        exact = np.setdiff1d(self.integer, relaxed)
        master.set_integer(exact, True)
        h.setOptionValue("mip_improving_solution_save", self.strategy.pool > 0)
        start = start_values(self.sf, warm_start)
        gaps, final_gap, gap_i = list(st.master_gaps), st.final_gap * self.target, math.inf
        masters = self.timings.setdefault("masters", [])
        while not self.out_of_time() and self.iteration < MAX_ITERATIONS:
            gap_i = gaps.pop(0) if gaps else min(gap_i, final_gap)
            h.setOptionValue("mip_rel_gap", gap_i)
            h.setOptionValue("time_limit", self.remaining() if math.isfinite(self.deadline)
                             else math.inf)
            if self.best_x is not None:
                full = np.concatenate([self.best_x, self.best_theta])
                sol = highspy.HighsSolution()
                sol.col_value = list(full)
                sol.value_valid = True
                h.setSolution(sol)
            elif start is not None:  # the full model's integer columns are the plan's
                h.setSolution(len(self.integer), self.integer.astype(np.int32), start)
                start = None
            tm = time.perf_counter()
            self._run_master()
            masters.append(time.perf_counter() - tm)
            status = h.getModelStatus()
            info = h.getInfo()
            if info.primal_solution_status != 2:
                if status == S.kTimeLimit or self.out_of_time():
                    break
                raise _HandOver(f"master: {h.modelStatusToString(status)}")
            if status in (S.kOptimal, S.kTimeLimit, S.kInterrupt):
                self.upper = min(self.upper, float(info.mip_dual_bound))
            sol = np.asarray(h.getSolution().col_value)
            at_master, cuts, point = self._take(sol, exact, relaxed)
            # the master's earlier incumbents of this solve: more plans, more cuts
            for other in self._pool(sol):
                cuts += self._take(other, exact, relaxed)[1]
            self.report("mip", float(info.objective_function_value), point.value, cuts,
                        f"  master {masters[-1]:.1f} s, gap {gap_i:.0e}"
                        + (f", {len(relaxed)} relaxed" if len(relaxed) else ""))
            if self.certified():
                break
            if at_master == 0 and not gaps:
                # the master values its own plan exactly: only a master solved closer
                # (or whole units where it had fractions) can lower its bound
                if gap_i > self.target / 50:
                    gap_i /= 5
                elif len(relaxed):
                    master.set_integer(relaxed, True)
                    exact, relaxed = self.integer, relaxed[:0]
                elif status == S.kOptimal:
                    break
        master.set_integer(self.integer, False)
        self.timings["mip_phase"] = time.perf_counter() - t

    def _take(self, sol: np.ndarray, exact: np.ndarray,
              relaxed: np.ndarray) -> tuple[int, int, _Point]:
        """Evaluate a master solution (cuts where it is) and, made whole, offer it as
        the incumbent; (cuts at the master's plan, all cuts added, the whole plan's
        point)."""
        master = self.master
        x_m, theta = sol[:master.n], sol[master.theta]
        if not len(relaxed) or np.all(np.abs(x_m[relaxed] - np.round(x_m[relaxed])) <= 1e-6):
            x = self._snap(x_m)
            point = self.evaluate(x, theta)
            self.offer(x, point)
            return point.cuts, point.cuts, point
        x_m = self._snap(x_m, exact)
        at_master = cuts = self.evaluate(x_m, theta).cuts  # fractional units suit the LPs
        for _ in range(3):  # each plan a block cannot serve adds its feasibility cut
            x = self._repair(x_m, relaxed)
            point = self.evaluate(x)
            cuts += point.cuts
            if point.feasible or point.cuts == 0:
                break
        self.offer(x, point)
        return at_master, cuts, point

    def _pool(self, final: np.ndarray) -> list[np.ndarray]:
        """Up to ``pool`` earlier improving solutions of the last master solve, best
        first, whose integer columns differ from the final one's."""
        if self.strategy.pool <= 0:
            return []
        saved = self.master.h.getSavedMipSolutions()
        seen = {np.round(final[self.integer]).tobytes()}
        out = []
        for s in sorted(saved, key=lambda s: -s.objective):
            col = np.asarray(s.col_value)
            key = np.round(col[self.integer]).tobytes()
            if key not in seen:
                seen.add(key)
                out.append(col)
            if len(out) >= self.strategy.pool:
                break
        return out

    def _relaxed(self) -> np.ndarray:
        """Integer columns of the variables some of whose LP-phase values reach
        ``relax_above`` units (GPU servers by the hundred, against hall conversions by
        the unit): rounding them moves the NPV by little, branching on them costs most
        of a master's time (bench/README.md)."""
        if not math.isfinite(self.strategy.relax_above):
            return np.zeros(0, np.int64)
        code = self.sf.columns.code[self.plan][self.integer]
        big = np.abs(self.lp_x[self.integer]) >= self.strategy.relax_above
        return self.integer[np.isin(code, np.unique(code[big]))]

    def _run_master(self) -> None:
        """One master MILP; with ``interrupt``, it stops once its bound is within the
        target of the best plan's value."""
        h = self.master.h
        if not self.strategy.interrupt or self.best_x is None:
            h.run()
            return
        limit = self.best_value + self.target * self.scale()

        def stop(event) -> None:
            if event.data_out.mip_dual_bound <= limit:
                event.interrupt()

        h.cbMipInterrupt.subscribe(stop)
        try:
            h.run()
        finally:
            h.cbMipInterrupt.unsubscribe(stop)

    def _repair(self, x: np.ndarray, relaxed: np.ndarray) -> np.ndarray:
        """A whole-unit plan near a master plan whose relaxed columns are fractional: the
        master MILP with the other integer columns fixed and each relaxed column between
        its floor and ceiling."""
        master, h = self.master, self.master.h
        lo, hi = master.lb.copy(), master.ub.copy()
        fixed = np.setdiff1d(self.integer, relaxed)
        lo[fixed] = hi[fixed] = x[fixed]
        lo[relaxed] = np.maximum(lo[relaxed], np.floor(x[relaxed] + 1e-6))
        hi[relaxed] = np.minimum(hi[relaxed], np.ceil(x[relaxed] - 1e-6))
        master.set_box(lo, hi)
        master.set_integer(relaxed, True)
        h.run()
        out = x
        if h.getInfo().primal_solution_status == 2:
            out = self._snap(np.asarray(h.getSolution().col_value)[:master.n])
        master.set_integer(relaxed, False)
        master.clear_box()
        return out


def solve_benders(sf: StandardForm, config: SolveConfig, col_block: np.ndarray,
                  log_path: Path | None = None, warm_start: dict[int, float] | None = None,
                  time_budget_s: float | None = None, *,
                  progress: Callable[[Progress], None] | None = None,
                  strategy: Strategy | None = None) -> Solution | None:
    """The decomposition, or None when it cannot certify a plan (the caller then
    solves the monolithic MILP). ``col_block``: block of every column, -1 for the plan.
    ``progress`` is called once per iteration; ``strategy`` chooses the search."""
    t_start = time.perf_counter()
    if not sf.maximise:
        return None
    row_block = _row_blocks(sf.A, col_block)
    # the blocks must be LPs (their duals make the cuts) and there must be some
    if row_block is None or col_block.max() < 0 or sf.integer[col_block >= 0].any():
        return None
    log = _Log(config, log_path)
    run = None
    try:
        run = _Run(sf, config, col_block, row_block, log, t_start, time_budget_s,
                   strategy or DEFAULT_STRATEGY, progress)
        sol = _solve(run, warm_start, log_path)
        if sol is not None and config.keep_cuts:
            sol.decomposition = Kept(run, sf.cost.copy(), sf.lb.copy(), sf.ub.copy(),
                                     sf.row_lo.copy(), sf.row_hi.copy())
        return sol
    except _HandOver as exc:
        log(f"{exc}; handing over to the monolithic solve")
        return None
    finally:
        if run is not None and run.pool is not None:
            run.pool.shutdown()
            run.pool = None
        log.close()


@dataclass
class Kept:
    """A finished decomposition and the form's data its block LPs were built from."""

    run: _Run
    cost: np.ndarray
    lb: np.ndarray
    ub: np.ndarray
    row_lo: np.ndarray
    row_hi: np.ndarray

    def reusable(self, sf: StandardForm) -> bool:
        """The same form object, its blocks' data unchanged (only plan costs, plan column
        bounds and plan-row bounds may differ): the cuts still hold."""
        return self.run.sf is sf and self.run.blocks_unchanged(
            self.cost, self.lb, self.ub, self.row_lo, self.row_hi)


def resolve_benders(kept: Kept, config: SolveConfig, log_path: Path | None = None,
                    warm_start: dict[int, float] | None = None,
                    time_budget_s: float | None = None, *,
                    progress: Callable[[Progress], None] | None = None) -> Solution | None:
    """Re-solve a kept decomposition after the form's plan data changed in place
    (``kept.reusable(form)``): the master keeps every cut (they bound the blocks' values,
    which did not change), so the search starts at the MIP phase. None: hand over."""
    t_start = time.perf_counter()
    run = kept.run
    log = _Log(config, log_path)
    try:
        run.restart(config, log, t_start, time_budget_s, progress)
        log(f"Hashpivot Benders decomposition, re-solved with the {run.master.cuts} cuts "
            f"kept: plan {len(run.plan)} columns ({len(run.integer)} integer); "
            f"{len(run.blocks)} site-period LPs")
        log(f"{'iter':>5} {'phase':>5} {'master (kUSD)':>16} {'bound':>16} "
            f"{'plan value':>16} {'best':>16} {'gap':>9} {'cuts':>5} {'time':>7}")
        run.mip_phase(warm_start)
        sol = _finish(run, log_path)
        if sol is not None and config.keep_cuts:
            sol.decomposition = kept
        return sol
    except _HandOver as exc:
        log(f"{exc}; handing over to the monolithic solve")
        return None
    finally:
        if run.pool is not None:
            run.pool.shutdown()
            run.pool = None
        log.close()


def _solve(run: _Run, warm_start: dict[int, float] | None,
           log_path: Path | None) -> Solution | None:
    sf, log = run.sf, run.log
    n_plan = len(run.plan)
    log(f"Hashpivot Benders decomposition: plan {n_plan} columns ({len(run.integer)} "
        f"integer), {len(run.plan_rows)} rows; {len(run.blocks)} site-period LPs, "
        f"{sf.n_cols - n_plan} columns, {sf.n_rows - len(run.plan_rows)} rows")
    log(f"{'iter':>5} {'phase':>5} {'master (kUSD)':>16} {'bound':>16} {'plan value':>16} "
        f"{'best':>16} {'gap':>9} {'cuts':>5} {'time':>7}")
    x0 = run.first_plan()
    x_lp = run.lp_phase(x0)
    run.round_plan(x_lp)
    run.mip_phase(warm_start)
    return _finish(run, log_path)


def _finish(run: _Run, log_path: Path | None) -> Solution:
    """The best plan with its blocks' solutions, checked in the full model, then the
    final fixed-integer LP."""
    sf, log = run.sf, run.log
    if run.best_x is None:
        if run.out_of_time():
            log("time limit before a plan")
            elapsed = run.elapsed()
            return Solution("time_limit", form=sf, method="benders",
                            timings_s={"solve": elapsed}, highs_run_time_s=elapsed)
        raise _HandOver("no plan whose site-period LPs all solve")
    best_x = np.zeros(sf.n_cols)
    best_x[run.plan] = run.best_x
    for blk, yk in zip(run.blocks, run.best_y):
        best_x[blk.cols] = yk
    if np.any(run.best_theta >= THETA_BOUND / 2) or not _feasible(sf, best_x):
        raise _HandOver("the decomposed solution failed the full-model check")
    return _final(run, best_x, run.best_value, log_path)


def _final(run: _Run, best_x: np.ndarray, best_value: float,
           log_path: Path | None) -> Solution:
    """The full model with the plan's integers fixed: its LP re-optimises every
    continuous column at once (ASIC retirements included), never below the decomposed
    solution; the same object then gives the marginal values
    (Session.fixed_integer_duals)."""
    sf, log, config = run.sf, run.log, run.config
    t = time.perf_counter()
    h = _quiet_highs(config)
    pass_full_model(h, sf)
    session = Session(h, sf, followup_log=log_path.with_name("solver-followup.log")
                      if log_path is not None else None)
    session.x = np.where(sf.integer, np.round(best_x), best_x)
    x, value = best_x, best_value
    if session.fix_integers_and_solve():
        polished = np.asarray(h.getSolution().col_value)
        polished_value = float(sf.cost @ polished)
        if polished_value >= value and _feasible(sf, polished):
            x, value = polished, polished_value
    run.timings["final_lp"] = time.perf_counter() - t
    upper = max(run.upper, value)  # the bound is the LP's at worst, never below a plan
    gap = max(0.0, (upper - value) / max(1.0, abs(value + sf.offset)))
    status = ("optimal" if gap <= run.target or upper - value <= run.abs_gap  # target >= MIN_GAP
              else "time_limit")
    solve_s = run.elapsed()
    log(f"Benders {status}: NPV {value + sf.offset:.2f} kUSD (fixed-integer LP), bound "
        f"{upper + sf.offset:.2f} kUSD, gap {gap:.2e}")
    log(_timing_line(run.timings))
    # every log ends with this line (bench/ and users compare it across methods)
    log("# Hashpivot: run time of the decomposition above (its HiGHS solves and cuts)")
    log(f"HiGHS run time      : {solve_s:14.2f}")
    x = np.where(sf.integer, np.round(x), x)
    session.x = x
    timings = {"solve": solve_s}
    timings.update({f"benders_{k}": v for k, v in run.timings.items() if k != "masters"})
    return Solution(status, form=sf, x=x, npv_usd=sf.npv_usd(x),
                    best_bound_usd=(upper + sf.offset) / OBJECTIVE_SCALE, mip_gap=gap,
                    method="benders", timings_s=timings, highs_run_time_s=solve_s,
                    session=session)


def _timing_line(timings: dict) -> str:
    parts = [f"{k} {v:.1f}" for k, v in timings.items() if k != "masters"]
    masters = timings.get("masters", [])
    if masters:
        parts.append("masters " + " ".join(f"{m:.1f}" for m in masters))
    return "times (s): " + ", ".join(parts)


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
