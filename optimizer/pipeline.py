"""The run as a chain of plain functions, each from one typed value to the next:

    load -> time_grid -> prepare -> build -> compile -> solve -> assign -> diagnose
         -> tabulate -> summarise -> write (Result.write)

``api.solve`` composes them; sweeps and batches call the same stages (a sweep keeps the
compiled form and its HiGHS session, and repeats only solve -> tabulate). No stage
reaches into an earlier one's internals: each reads the value the previous returned.
"""

from __future__ import annotations

import ctypes
import gc
import hashlib
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from .instance import Instance, load_instance
from .model.build import BuiltModel, build_model, column_blocks
from .model.data import ModelData
from .model.data import prepare as prepare_data
from .results.infeasibility import elastic_penalty, explain, infeasibility_table
from .results.marginals import marginal_table
from .results.summary import Kpis, Marginal, Resolution, RunSummary, SolverInfo
from .results.tables import Tables, tables
from .results.warmstart import integer_start, start_columns
from .results.writer import instance_files, write_run_folder
from .solver import run as solver_run
from .solver.config import SolveConfig
from .solver.highs import highs_version
from .solver.solution import Solution
from .solver.stdform import RowInfeasible, StandardForm, compile_standard_form
from .time.grid import TimeGrid, build_time_grid, tail_periods

EXIT_CODES = {"optimal": 0, "time_limit": 0, "infeasible": 3, "unbounded": 3, "error": 1}


def load(path: str | Path) -> Instance:
    """Load and validate an instance (raises InstanceError)."""
    return load_instance(path)


def time_grid(instance: Instance, config: SolveConfig) -> TimeGrid:
    mode = config.mode or instance.horizon.resolution.mode
    features = None
    if mode == "representative":
        from .time.representative import features_of

        features = features_of(instance)
    return build_time_grid(instance.horizon, mode=mode, features=features,
                           days_per_period=config.representative_days,
                           tail_periods=tail_periods(instance))


def prepare(instance: Instance, grid: TimeGrid) -> ModelData:
    return prepare_data(instance, grid)


def build(data: ModelData) -> BuiltModel:
    # Pyomo builds hundreds of thousands of small objects that hold no reference cycles
    # worth collecting mid-build; the cyclic collector would walk them again and again
    enabled = gc.isenabled()
    gc.disable()
    try:
        return build_model(data)
    finally:
        if enabled:
            gc.enable()


@dataclass
class Compiled:
    """The standard form and, while the Pyomo model is kept, its column objects."""

    form: StandardForm | None
    columns: list | None = None  # Pyomo VarData per column (None once freed)
    infeasible_row: str = ""  # a row no value can satisfy (Pyomo's compiler found it)


def compile(built: BuiltModel) -> Compiled:  # noqa: A001 - the stage's name
    enabled = gc.isenabled()
    gc.disable()
    try:
        form, columns = compile_standard_form(built)
    except RowInfeasible as exc:
        return Compiled(None, infeasible_row=str(exc))
    finally:
        if enabled:
            gc.enable()
    return Compiled(form, columns)


# columns + rows above which the freed Pyomo model is worth releasing before the solve:
# portfolio-3y hourly (1.97M) keeps ~1 GB less through the solve for ~2 s; permian-1y
# hourly (0.23M) is below and left to the collector as before
RELEASE_ABOVE_POSITIONS = 1_000_000


def release_model(model, compiled: Compiled) -> dict[str, float]:
    """Free a big Pyomo model before the solve: ``model`` is ``built.model``, emptied in
    place, its ``BuiltModel`` already dropped (the cash registry holds the variables).
    With the cyclic collector off (``run``), the model's reference cycles (rules that
    close over the model) would hold it through the solve next to HiGHS's copies. Its
    components are deleted first, so that reference counting frees most of it and the
    collection walks ~0.7M objects instead of ~14M (portfolio-3y hourly: 1.0 s against
    3.5 s); the labels are then re-created so that the model's memory arenas go back to
    the system (``StandardForm.repack_labels``). Returns the time taken (``release``);
    a small model is left to the collector, as before."""
    compiled.columns = None
    form = compiled.form
    if form is None or form.n_cols + form.n_rows < RELEASE_ABOVE_POSITIONS:
        return {}
    t0 = time.perf_counter()
    for component in list(model.component_objects(descend_into=False)):
        model.del_component(component)
    component = None
    gc.collect()
    # millions of new tuples would trigger collections of their own (outside ``run``)
    enabled = gc.isenabled()
    gc.disable()
    try:
        form.repack_labels()
    finally:
        if enabled:
            gc.enable()
    _return_free_heap()
    return {"release": time.perf_counter() - t0}


def _return_free_heap() -> None:
    """glibc keeps the freed heap pages of the model resident (~0.4 GB on portfolio-3y
    hourly) until asked; elsewhere there is nothing to ask."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def warm_start_columns(form: StandardForm, config: SolveConfig) -> dict[int, float] | None:
    if config.warm_start is None:
        return None
    return start_columns(integer_start(config.warm_start), form.columns)


def solve(compiled: Compiled, data: ModelData, config: SolveConfig,
          log_path: Path | None = None, progress: Callable | None = None) -> Solution:
    """``progress``: called with a ``solver.benders.Progress`` per iteration of the
    decomposition (``Progress.line()`` is a progress line)."""
    if compiled.form is None:
        return Solution("infeasible", message=compiled.infeasible_row)
    form = compiled.form
    return solver_run.solve(
        form, config, col_block=column_blocks(data, form.columns),
        decompose_by_default=data.grid.mode == "representative", log_path=log_path,
        warm_start=warm_start_columns(form, config), progress=progress)


def assign(built: BuiltModel | None, compiled: Compiled, solution: Solution) -> None:
    """Write the solution into the Pyomo model, when the caller keeps it (its variables
    get their values and ``model.npv`` the objective); the tables never need it."""
    if built is None or compiled.columns is None or not solution.has_solution:
        return
    from .model.objective import attach
    from .solver.stdform import OBJECTIVE_SCALE
    from .solver.stdform import assign as assign_columns

    assign_columns(compiled.columns, solution.x)
    attach(built.model, compiled.columns, solution.form.cost / OBJECTIVE_SCALE,
           solution.form.offset / OBJECTIVE_SCALE)


@dataclass
class Diagnostics:
    marginals: pd.DataFrame | None = None
    infeasibility: pd.DataFrame | None = None
    explanation: list[str] = field(default_factory=list)
    message: str = ""
    timings_s: dict = field(default_factory=dict)


def diagnose(solution: Solution, data: ModelData, config: SolveConfig) -> Diagnostics:
    """Marginal values of a solution (fixed-integer LP) or why there is none (the
    elastic re-solve), from the solve's HiGHS session."""
    out = Diagnostics()
    session = solution.session
    if session is None:
        return out
    t = time.perf_counter()
    if solution.has_solution and config.marginals:
        dual = session.fixed_integer_duals()
        solution.duals = dual
        out.marginals = marginal_table(solution.form, dual, data)
        if dual is None:  # the file still exists, empty, and the summary says why
            out.message = ("marginal values unavailable: the fixed-integer LP did not solve "
                           "to optimality.")
        out.timings_s["marginals"] = time.perf_counter() - t
    elif solution.status == "infeasible" and config.explain_infeasibility:
        elastic = session.elastic_slacks(elastic_penalty(solution.form, data))
        if elastic is not None:
            below, above = elastic
            out.infeasibility = infeasibility_table(solution.form, below + above, data)
            out.explanation = explain(out.infeasibility, data)
        out.timings_s["explain"] = time.perf_counter() - t
    return out


def tabulate(solution: Solution, data: ModelData) -> Tables | None:
    if not solution.has_solution:
        return None
    return tables(data, solution.form, solution.x)


def instance_sha256(files: dict[str, bytes]) -> str:
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + files[name])
    return digest.hexdigest()


def exit_code(status: str, has_solution: bool) -> int:
    if status == "time_limit" and not has_solution:
        return 4
    return EXIT_CODES.get(status, 1)


def summarise(*, instance: Instance, files: dict[str, bytes], solution: Solution,
              grid: TimeGrid, config: SolveConfig, timings_s: dict, table: Tables | None,
              diagnostics: Diagnostics, message: str) -> RunSummary:
    from . import __version__

    marginals = diagnostics.marginals
    return RunSummary(
        instance=instance.name, instance_sha256=instance_sha256(files),
        status=solution.status, exit_code=exit_code(solution.status, solution.has_solution),
        npv_usd=table.npv_usd if table is not None else None,
        best_bound_usd=solution.best_bound_usd, mip_gap=solution.mip_gap,
        resolution=Resolution(mode=grid.mode, steps=int(grid.n_steps),
                              periods=int(grid.n_periods),
                              days_per_period=grid.extra.get("days_per_period")),
        timings_s={k: round(v, 4) for k, v in timings_s.items()},
        highs_run_time_s=solution.highs_run_time_s,
        solver=SolverInfo(version=highs_version(), options=config.highs_options(),
                          method=solution.method),
        config=config.model_dump(mode="json"), config_sha256=config.fingerprint(),
        kpis=Kpis(**table.kpis) if table is not None else None,
        marginals=([Marginal(**r) for r in marginals.to_dict(orient="records")]
                   if marginals is not None else None),
        infeasibility=diagnostics.explanation or None, message=message,
        hashpivot_version=__version__)


def solver_log_text(solution: Solution, log_path: Path | None) -> str:
    """HiGHS's log of the main solve (headed by a decomposition that handed over); every
    log ends with HiGHS's run time, which a MIP log reports only as "Timing"."""
    text = solution.log_prefix + (log_path.read_text(errors="replace")
                                  if log_path is not None and log_path.exists() else "")
    if (solution.highs_run_time_s is not None and solution.method == "monolithic"
            and "HiGHS run time" not in text):
        text += ("# Hashpivot: run time of the solve above, from Highs.getRunTime()\n"
                 f"HiGHS run time      : {solution.highs_run_time_s:14.2f}\n")
    return text


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
        return exit_code(self.status, self.has_solution)

    def __getstate__(self):
        # the HiGHS session and the Pyomo model stay in the process that solved
        state = dict(self.__dict__)
        if self.solution.session is not None:
            state["solution"] = replace(self.solution, session=None, decomposition=None)
        state["built"] = None
        return state

    def summary(self, files: dict[str, bytes] | None = None) -> RunSummary:
        files = files if files is not None else instance_files(self.instance)
        table = None
        if self.has_solution:
            table = Tables(self.capex, self.dispatch, self.cashflows, self.kpis)
        diag = Diagnostics(self.marginals, self.infeasibility, self.explanation)
        return summarise(instance=self.instance, files=files, solution=self.solution,
                         grid=self.grid, config=self.config, timings_s=self.timings_s,
                         table=table, diagnostics=diag, message=self.message)

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


def run(instance: Instance, config: SolveConfig, *, load_time_s: float = 0.0,
        progress: Callable | None = None) -> Result:
    """Every stage, composed: the result holds the tables as DataFrames. ``progress``:
    see ``solve``."""
    # The Pyomo model is a graph of millions of objects held together by reference
    # cycles: a full collection over it costs seconds. The cyclic collector stays off
    # while the run works (it is back on when the run returns, so a notebook reclaims the
    # model later; the CLI exits without tearing it down).
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _run(instance, config, load_time_s, progress)
    finally:
        if enabled:
            gc.enable()


def _run(instance: Instance, config: SolveConfig, load_time_s: float,
         progress: Callable | None = None) -> Result:
    timings = {"load": load_time_s}
    t0 = time.perf_counter()
    grid = time_grid(instance, config)
    data = prepare(instance, grid)
    built = build(data)
    timings["build"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    compiled = compile(built)
    timings["translate"] = time.perf_counter() - t0
    if not config.keep_model:
        # the form holds no Pyomo object: free the model
        model, built = built.model, None
        timings.update(release_model(model, compiled))
        model = None
    with tempfile.TemporaryDirectory(prefix="hashpivot-") as tmp:
        log = Path(tmp) / "solver.log"
        solution = solve(compiled, data, config, log, progress)
        timings.update({k: v for k, v in solution.timings_s.items() if k != "translate"})
        diag = diagnose(solution, data, config)
        timings.update(diag.timings_s)
        if solution.session is not None:
            solution.session.close_log()
        solver_log = solver_log_text(solution, log)
        followup = log.with_name("solver-followup.log")
        followup_log = followup.read_text(errors="replace") if followup.exists() else ""
    t1 = time.perf_counter()
    table = tabulate(solution, data)
    timings["results"] = time.perf_counter() - t1
    assign(built, compiled, solution)
    message = " ".join(m for m in (solution.message, diag.message) if m)
    return Result(
        instance=instance, config=config, solution=solution, grid=grid, data=data,
        capex=table.capex if table else None, dispatch=table.dispatch if table else None,
        cashflows=table.cashflows if table else None, kpis=table.kpis if table else {},
        marginals=diag.marginals, infeasibility=diag.infeasibility,
        explanation=diag.explanation, timings_s=timings, message=message,
        solver_log=solver_log, followup_log=followup_log, built=built)
