"""A worker's kept models: build a scenario once, then re-solve it for the next ones.

Each worker process keeps a few built scenarios (``KeptModel``), keyed by their
structure key (changes.py). A scenario whose structure a kept model shares is applied
to it without Pyomo: new data on the kept time grid (``pipeline.prepare``), the cash
matrix re-priced on the kept columns (``model.build.reprice``), row and column bounds
shifted by label (``changes.bound_changes``), pushed into the kept HiGHS model
(``changeColsCost``, ``changeRowsBounds``, ``changeColsBounds``, in HiGHS's scaled units)
and solved from the previous scenario's solution. Anything the kept model cannot take
(``changes.Rebuild``) is rebuilt with ``pipeline.run``, and that model is kept instead.

On a representative grid with ``method=auto`` (or ``benders``), the re-solve runs the
decomposition on the updated standard form, warm-started with the previous plan's
integers. When a scenario changes only plan data (capex, budgets, plan costs and bounds:
nothing a site-period LP holds), the master keeps its cuts and the search starts at its
MIP phase (``benders.resolve_benders``); otherwise it starts afresh.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import tempfile
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import highspy
import numpy as np

from .. import pipeline
from ..instance import Instance
from ..model.build import column_blocks, reprice
from ..model.cashflow import MissingColumn
from ..results.tables import SolutionView
from ..solver import run as solver_run
from ..solver.config import SolveConfig
from ..solver.monolithic import read_solution
from ..solver.solution import Solution
from .changes import (
    BOUND,
    COST,
    STRUCTURE,
    Rebuild,
    bound_changes,
    diff,
    grid_inputs,
    has_budget,
    leaves,
    same_steps,
)

MODELS_PER_WORKER = 2  # built scenarios a worker keeps (least recently used goes first)
KILL_ENV = "HASHPIVOT_SWEEP_KILL"  # test hook: a folder of kill orders, one file per scenario


def instance_dict(instance: Instance) -> dict:
    return instance.model_dump(mode="json", by_alias=True, exclude_none=True)


@dataclass
class Task:
    """One scenario as shipped to a worker: its instance dict (validated already by the
    sweep) or, when its horizon differs from the base's, the whole instance."""

    scenario: str
    hash: str
    structure: str
    config: SolveConfig
    data: dict | None = None
    instance: Instance | None = None
    keep_run: bool = False


@dataclass
class Done:
    """What a worker sends back: the row, and the run (without its model) to write."""

    row: dict
    result: pipeline.Result | None = None


def scenario_instance(task: Task, base: Instance) -> Instance:
    """The scenario's Instance. The sweep validated its dict with ``Instance.from_dict``
    already; here it is only rebuilt, with the base's series (same horizon, same file)."""
    if task.instance is not None:
        return task.instance
    inst = Instance.model_validate(task.data)
    inst._series, inst._series_path = base._series, base._series_path
    inst._source_path = base._source_path
    return inst


@dataclass
class KeptModel:
    """A built scenario: its compiled form, HiGHS session and the data it was built from."""

    instance: Instance
    config: SolveConfig
    grid: object  # TimeGrid
    built_data: object  # ModelData of the build: bound shifts are taken from it
    data: object  # ModelData of the scenario last applied
    form: object  # StandardForm, updated in place
    session: object | None  # highs.Session of the last solve
    col_block: np.ndarray | None
    benders: bool
    x: np.ndarray | None = None
    decomposition: object = None  # benders.Kept of the last decomposed solve
    row_lo0: np.ndarray = field(default=None, repr=False)
    row_hi0: np.ndarray = field(default=None, repr=False)
    ub0: np.ndarray = field(default=None, repr=False)

    @classmethod
    def from_result(cls, result: pipeline.Result) -> KeptModel | None:
        sol = result.solution
        form = sol.form
        if form is None or sol.session is None:
            return None
        sol.session.followup_log = None  # the run's temporary folder is gone
        data = result.data
        col_block = column_blocks(data, form.columns)
        decompose = data.grid.mode == "representative"
        return cls(instance=result.instance, config=result.config, grid=result.grid,
                   built_data=data, data=data, form=form, session=sol.session,
                   col_block=col_block,
                   benders=solver_run.uses_benders(form, result.config, col_block, decompose),
                   x=sol.x, decomposition=sol.decomposition, row_lo0=form.row_lo.copy(),
                   row_hi0=form.row_hi.copy(), ub0=form.ub.copy())

    # ----------------------------------------------------------------- apply a scenario
    def update(self, inst: Instance) -> str:
        """Apply a scenario of the same structure; returns what changed ("cost",
        "bound", "cost+bound" or "none"). Raises Rebuild, leaving the model as it was."""
        old, new = instance_dict(self.instance), instance_dict(inst)
        changed = diff(leaves(old), leaves(new), has_budget(old) or has_budget(new))
        if changed[STRUCTURE]:
            raise Rebuild(f"{changed[STRUCTURE][0]} changes the model's structure")
        grid = self.grid
        if (grid_inputs(inst, self.config) != grid_inputs(self.instance, self.config)
                or inst.horizon.discount_rate != self.instance.horizon.discount_rate):
            grid = pipeline.time_grid(inst, self.config)
            if not same_steps(grid, self.grid):
                raise Rebuild("the time grid changes (other representative days)")
        data = pipeline.prepare(inst, grid)
        try:
            cash = reprice(data, self.form.columns)
        except MissingColumn as exc:
            raise Rebuild(f"a cash flow needs {exc}, which the kept model has no column "
                          "for") from None
        shifts = bound_changes(self.form, self.built_data, data)
        lo, hi, ub = self.row_lo0.copy(), self.row_hi0.copy(), self.ub0.copy()
        if shifts.rows:
            r = np.fromiter(shifts.rows, np.int64, len(shifts.rows))
            d = np.fromiter(shifts.rows.values(), float, len(shifts.rows))
            lo[r] = np.where(np.isfinite(lo[r]), lo[r] + d, lo[r])
            hi[r] = np.where(np.isfinite(hi[r]), hi[r] + d, hi[r])
        for j, v in shifts.cols.items():
            ub[j] = v
        self._push(cash, lo, hi, ub)
        self.instance, self.grid, self.data = inst, grid, data
        kinds = [k for k in (COST, BOUND) if changed[k]]
        return "+".join(kinds) or "none"

    def _push(self, cash, lo: np.ndarray, hi: np.ndarray, ub: np.ndarray) -> None:
        form = self.form
        session = None if self.benders else self.session
        if session is not None:
            session.restore()  # the marginals LP or the elastic re-solve changed it
        old_cost = form.cost.copy()
        form.set_cash(cash)
        rows = np.flatnonzero((lo != form.row_lo) | (hi != form.row_hi)).astype(np.int32)
        cols = np.flatnonzero(ub != form.ub).astype(np.int32)
        form.row_lo, form.row_hi, form.ub = lo, hi, ub
        if session is None:
            return
        h = session.h
        costs = np.flatnonzero(form.cost != old_cost).astype(np.int32)
        if len(costs):
            h.changeColsCost(len(costs), costs, form.cost[costs])
        h.changeObjectiveOffset(form.offset)
        if len(rows):
            scale = form.row_scale[rows]
            h.changeRowsBounds(len(rows), rows, lo[rows] * scale, hi[rows] * scale)
        if len(cols):
            h.changeColsBounds(len(cols), cols, form.lb[cols], ub[cols])

    # ----------------------------------------------------------------- solve it
    def solve(self, log_path: Path | None) -> Solution:
        form, config = self.form, self.config
        if self.benders:
            warm = None
            if self.x is not None:
                warm = {int(j): float(self.x[j]) for j in np.flatnonzero(form.integer)}
            sol = solver_run.solve(form, config, col_block=self.col_block,
                                   decompose_by_default=self.grid.mode == "representative",
                                   log_path=log_path, warm_start=warm,
                                   kept=self.decomposition)
            if sol.session is not None:
                sol.session.followup_log = None
            self.session = sol.session
            self.decomposition = sol.decomposition
        else:
            sol = self._solve_session(log_path)
        if sol.has_solution:
            self.x = sol.x
        return sol

    def _solve_session(self, log_path: Path | None) -> Solution:
        session = self.session
        h = session.h
        h.setOptionValue("output_flag", log_path is not None)
        h.setOptionValue("log_file", str(log_path) if log_path is not None else "")
        if self.x is not None:  # the previous scenario's plan: HiGHS repairs or drops it
            start = highspy.HighsSolution()
            start.col_value = list(self.x)
            start.value_valid = True
            h.setSolution(start)
        before = h.getRunTime()  # HiGHS's run clock runs on across runs
        t = time.perf_counter()
        h.run()
        wall = time.perf_counter() - t
        h.setOptionValue("log_file", "")
        return read_solution(session, {"solve": wall}, float(h.getRunTime() - before))


# --------------------------------------------------------------------------- the worker

_models: OrderedDict[str, KeptModel] = OrderedDict()


def kept_models() -> OrderedDict[str, KeptModel]:
    """This process's kept models, by structure key (tests inspect it)."""
    return _models


def _keep(key: str, model: KeptModel | None) -> None:
    _models.pop(key, None)
    if model is None:
        return
    _models[key] = model
    while len(_models) > MODELS_PER_WORKER:
        _models.popitem(last=False)


def _kill_order(scenario: str) -> None:
    """Test hook: with HASHPIVOT_SWEEP_KILL naming a folder, a file named after the
    scenario makes its worker kill itself (SIGKILL) before solving: "once" (the file is
    removed first) or "always"."""
    folder = os.environ.get(KILL_ENV)
    if not folder:
        return
    order = Path(folder) / scenario
    try:
        text = order.read_text().strip()
    except OSError:
        return
    if text == "once":
        order.unlink()
    os.kill(os.getpid(), signal.SIGKILL)


def run_scenario(task: Task, base: Instance) -> Done:
    """Solve one scenario on this worker, re-solving a kept model when one fits."""
    t0 = time.perf_counter()
    _kill_order(task.scenario)
    inst = scenario_instance(task, base)
    kept = _models.get(task.structure)
    if kept is not None and kept.config != task.config:
        kept = None  # another sweep's options on the same worker
    reason = "new structure"
    try:
        if kept is not None:
            t = time.perf_counter()
            try:
                change = kept.update(inst)
            except Rebuild as exc:
                reason, kept = f"rebuilt: {exc}", None
            else:
                _models.move_to_end(task.structure)
                return _resolved(task, kept, change, time.perf_counter() - t, t0)
        return _built(task, inst, reason, t0)
    except BaseException:
        _models.pop(task.structure, None)  # a model left half-updated is not reused
        raise


def _built(task: Task, inst: Instance, reason: str, t0: float) -> Done:
    result = pipeline.run(inst, task.config)
    _keep(task.structure, KeptModel.from_result(result))
    t = result.timings_s
    solve_s = t.get("solve", 0.0) + t.get("benders", 0.0)
    row = _row(task, result.solution, result.data, "built", reason,
               build_s=t.get("build", 0.0) + t.get("translate", 0.0), solve_s=solve_s,
               message=result.message, explanation=result.explanation, t0=t0)
    return Done(row, _shippable(result) if task.keep_run else None)


def _resolved(task: Task, kept: KeptModel, change: str, build_s: float, t0: float) -> Done:
    config = task.config
    with tempfile.TemporaryDirectory(prefix="hashpivot-sweep-") as tmp:
        log = Path(tmp) / "solver.log" if task.keep_run else None
        sol = kept.solve(log)
        diag = pipeline.diagnose(sol, kept.data, config)
        solver_log = pipeline.solver_log_text(sol, log) if log is not None else ""
    solve_s = sol.timings_s.get("solve", 0.0)
    message = " ".join(m for m in (sol.message, diag.message) if m)
    row = _row(task, sol, kept.data, "resolved", change, build_s=build_s, solve_s=solve_s,
               message=message, explanation=diag.explanation, t0=t0)
    result = None
    if task.keep_run:
        t = time.perf_counter()
        table = pipeline.tabulate(sol, kept.data)
        timings = {"build": build_s, "solve": solve_s, **diag.timings_s,
                   "results": time.perf_counter() - t}
        result = pipeline.Result(
            instance=kept.instance, config=config, solution=sol, grid=kept.grid,
            data=kept.data, capex=table.capex if table else None,
            dispatch=table.dispatch if table else None,
            cashflows=table.cashflows if table else None, kpis=table.kpis if table else {},
            marginals=diag.marginals, infeasibility=diag.infeasibility,
            explanation=diag.explanation, timings_s=timings, message=message,
            solver_log=solver_log)
        result = _shippable(result)
    return Done(row, result)


def _shippable(result: pipeline.Result) -> pipeline.Result:
    """The run without what only this worker needs (form, session, model data)."""
    return replace(result, solution=replace(result.solution, form=None, session=None),
                   data=None, built=None)


def _row(task: Task, sol: Solution, data, model: str, change: str, *, build_s: float,
         solve_s: float, message: str, explanation: list[str], t0: float) -> dict:
    has = sol.has_solution
    npv = None
    if has:  # the NPV as the cash-flow table sums it (pipeline.Result.npv_usd)
        npv = float(sol.form.cash.evaluate(sol.x)[1].sum())
    if explanation:
        message = " ".join([message, *explanation]).strip()
    row = {
        "scenario": task.scenario, "hash": task.hash, "status": sol.status,
        "exit_code": pipeline.exit_code(sol.status, has), "npv_usd": npv,
        "best_bound_usd": sol.best_bound_usd, "mip_gap": sol.mip_gap,
        "build_s": build_s, "solve_s": solve_s, "highs_s": sol.highs_run_time_s,
        "task_s": time.perf_counter() - t0, "model": model, "change": change,
        "method": sol.method, "worker": f"{socket.gethostname()}:{os.getpid()}",
        "worker_peak_rss_mb": peak_rss_mb(),
        "finished_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "message": message,
    }
    if has and data is not None:
        row.update(decisions(data, sol.form, sol.x))
    return row


def peak_rss_mb() -> float | None:
    """Peak resident memory of this worker process so far (its kept models included)."""
    try:
        import resource
    except ImportError:  # not on POSIX
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # kilobytes on Linux, bytes on macOS
    return round(peak / (1024.0 * 1024.0 if sys.platform == "darwin" else 1024.0), 1)


def decisions(data, form, x: np.ndarray) -> dict[str, float]:
    """The plan in a few columns: GPU units ordered by product and period, MW converted,
    upgrades ordered, ASICs retired and bought, deals accepted (1) or not (0)."""
    view = SolutionView(form, x, data)
    P = data.grid.n_periods
    out: dict[str, float] = {}
    for g in data.products:
        for p in range(P):
            out[f"gpus.{g}.p{p}"] = 0.0
    for (_, g, p), q in view.items("buy"):
        out[f"gpus.{g}.p{p}"] += q
    out["converted_mw"] = sum(q * float(data.sites[s].conversion.block_mw)
                              for (s, _), q in view.items("conv"))
    for u in data.upgrades:
        out[f"upgrades.{u.id}"] = 0.0
    for (_, u, _), q in view.items("upg"):
        out[f"upgrades.{u}"] += q
    for sd in data.sites.values():
        for f in sd.fleets:
            out[f"retired.{f.id}"] = 0.0
    for (_, f, _), q in view.items("retire"):
        out[f"retired.{f}"] += q
    for a in data.asic_products:
        out[f"asics_bought.{a}"] = 0.0
    for (_, a, _), q in view.items("abuy"):
        out[f"asics_bought.{a}"] += q
    for kind, items, comp in (("contract", data.contracts, "accept_contract"),
                              ("lease", data.leases, "accept_lease"),
                              ("ppa", data.ppas, "sign_ppa")):
        for key, item in items.items():
            out[f"{kind}.{key}"] = float(round(view.accepted(comp, item)))
    return out
