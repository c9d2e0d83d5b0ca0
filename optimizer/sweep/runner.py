"""The sweep: scenarios from a grid of values or a table, validated here, solved on the
Dask engine, one row each written as soon as it finishes.

    from optimizer.sweep import sweep
    rows = sweep(inst, {"market.hashprice_usd_per_ph_day*=": [0.7, 1.0, 1.3],
                        "sites[permian].grid.import_limit_mw": [150, 190]},
                 out="runs/what-if", mip_gap=1e-4)

Scenarios are given as a mapping ``{column: [values]}`` (their cartesian product, as
``--vary``), or as a DataFrame or a list of mappings (one scenario per row, as
``--scenarios FILE.csv``; an empty cell leaves that path as the instance has it). A
column is a path (``=``, set) or a path followed by ``*=`` (scale).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..engine import Engine, Progress
from ..instance import Instance, InstanceError, load_instance
from ..solver.config import SolveConfig, make_config
from .changes import structure_key
from .kept import Done, Task, instance_dict, run_scenario
from .overrides import (
    Override,
    OverrideError,
    check_paths,
    parse_value,
    plain,
)
from .overrides import apply as apply_overrides

FILES = ("sweep.parquet", "sweep.csv")
ROW_COLUMNS = ["status", "exit_code", "npv_usd", "best_bound_usd", "mip_gap", "build_s",
               "solve_s", "highs_s", "task_s", "model", "change", "method", "worker",
               "worker_peak_rss_mb", "finished_utc", "message"]
NO_SOLUTION_EXIT = 1  # the sweep's exit code when a scenario has no solution
INVALID_EXIT = 2  # ... when a scenario's values do not validate (the others still run)


class SweepError(ValueError):
    """A sweep that cannot start (bad path, unreadable scenarios, output refused): one
    sentence, a usage error (exit 2)."""


@dataclass
class Scenario:
    id: str
    values: dict[str, Any]  # output column -> value as given
    hash: str
    task: Task | None  # None: invalid
    problem: str = ""

    @property
    def structure(self) -> str:
        return self.task.structure if self.task is not None else ""


def sweep_config(config: SolveConfig | None = None, **options) -> SolveConfig:
    """The sweep's options: one HiGHS thread per worker and no marginal values unless
    asked (a SolveConfig given is taken as it is, with threads=1 if it has none); a
    decomposition keeps its cuts for the next scenario of its structure."""
    if config is None:
        config = SolveConfig(threads=1, marginals=False)
    elif config.threads is None:
        config = config.model_copy(update={"threads": 1})
    return make_config(config, **options).model_copy(update={"keep_cuts": True})


# --------------------------------------------------------------------------- scenarios

def _rows_of(scenarios: Any, source: str) -> tuple[list[str] | None, list[dict[str, Any]]]:
    """(scenario ids or None, one {column: value} per scenario)."""
    if isinstance(scenarios, Mapping):
        columns = {str(k): list(v) if isinstance(v, (list, tuple)) else [v]
                   for k, v in scenarios.items()}
        for header, values in columns.items():
            if not values:
                raise SweepError(f"{source}: {header}: no values")
        keys = list(columns)
        return None, [dict(zip(keys, combo)) for combo in
                      itertools.product(*(columns[k] for k in keys))]
    if isinstance(scenarios, pd.DataFrame):
        frame = scenarios
    elif isinstance(scenarios, list) and all(isinstance(r, Mapping) for r in scenarios):
        frame = pd.DataFrame(scenarios)
    else:
        raise SweepError(f"{source}: expected a mapping of paths to values, a DataFrame or "
                         f"a list of mappings, got {type(scenarios).__name__}")
    ids = None
    if "scenario" in frame.columns:
        ids = [str(x).strip() for x in frame["scenario"]]
        if any(not x for x in ids) or len(set(ids)) != len(ids):
            raise SweepError(f"{source}: the scenario column must name every row once")
        frame = frame.drop(columns=["scenario"])
    rows = []
    for i, rec in enumerate(frame.to_dict(orient="records")):
        row = {}
        for header, cell in rec.items():
            if cell is None or (isinstance(cell, float) and math.isnan(cell)):
                continue
            if isinstance(cell, str):
                if not cell.strip():
                    continue
                cell = parse_value(cell, f"{source} row {i + 1}, column {header}")
            row[str(header)] = cell
        rows.append(row)
    return ids, rows


def read_scenarios_csv(path: str | Path) -> pd.DataFrame:
    """A scenarios CSV: one column per path, one row per scenario (cells as text)."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise SweepError(f"--scenarios: cannot read {path}: {exc}") from None
    if frame.empty or not len(frame.columns):
        raise SweepError(f"--scenarios: {path} has no scenario rows")
    frame.columns = [c.strip() for c in frame.columns]
    return frame


def _base_dir(instance: Instance) -> Path:
    if instance.source_path is not None:
        return instance.source_path.parent
    if instance.series_path is not None and instance.series_ref is not None:
        depth = len(Path(instance.series_ref.file).parts)
        return instance.series_path.parents[depth - 1]
    return Path.cwd()


def series_digest(instance: Instance) -> str:
    if instance.series_path is None:
        return ""
    return hashlib.sha256(Path(instance.series_path).read_bytes()).hexdigest()


def plan(instance: Instance, scenarios: Any, config: SolveConfig, *, source: str = "scenarios",
         keep_runs: bool = False) -> list[Scenario]:
    """Every scenario, validated: a bad path raises OverrideError (nothing runs); a
    scenario whose values do not validate is kept with its problem (it gets a row)."""
    ids, rows = _rows_of(scenarios, source)
    base = instance_dict(instance)
    columns: dict[str, list[Any]] = {}
    for row in rows:
        for header, value in row.items():
            columns.setdefault(header, []).append(value)
    if not columns:
        raise SweepError(f"{source}: no path to vary")
    parsed = dict(zip(columns, check_paths(base, columns, source)))
    width = max(4, len(str(len(rows))))
    ids = ids or [f"s{i + 1:0{width}d}" for i in range(len(rows))]
    label = str(instance.source_path or instance.name)
    base_dir = _base_dir(instance)
    salt = series_digest(instance) + config.fingerprint()
    out = []
    for sid, row in zip(ids, rows):
        overrides = [Override(parsed[h][0], parsed[h][1], v) for h, v in row.items()]
        values = {h: plain(v) for h, v in row.items()}
        try:
            data = apply_overrides(base, overrides, source=f"scenario {sid}")
        except OverrideError as exc:
            digest = _digest({"overrides": [[o.column, plain(o.value)] for o in overrides]},
                             salt)
            out.append(Scenario(sid, values, digest, None, str(exc)))
            continue
        digest = _digest(data, salt)
        try:
            inst = Instance.from_dict(data, base_dir, f"{label} (scenario {sid})")
        except InstanceError as exc:
            out.append(Scenario(sid, values, digest, None, "; ".join(map(str, exc.problems))))
            continue
        same_horizon = data.get("horizon") == base.get("horizon")
        task = Task(sid, digest, structure_key(inst, data, config), config,
                    data=data if same_horizon else None,
                    instance=None if same_horizon else inst, keep_run=keep_runs)
        out.append(Scenario(sid, values, digest, task))
    return out


def _digest(data: Any, salt: str) -> str:
    blob = json.dumps(data, sort_keys=True, default=str) + salt
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def by_structure(scenarios: list[Scenario]) -> list[Scenario]:
    """Scenarios of one structure together (groups in order of first appearance), so
    that a worker re-solves the model it keeps."""
    first: dict[str, int] = {}
    for i, s in enumerate(scenarios):
        first.setdefault(s.structure, i)
    return sorted(scenarios, key=lambda s: first[s.structure])


# --------------------------------------------------------------------------- output

def frame_of(rows: dict[str, dict], order: list[str], value_columns: list[str]) -> pd.DataFrame:
    """The sweep table: finished scenarios in scenario order, fixed columns first."""
    records = [rows[s] for s in order if s in rows]
    df = pd.DataFrame.from_records(records)
    head = ["scenario", "hash", *value_columns, *ROW_COLUMNS]
    for c in head:
        if c not in df.columns:
            df[c] = None
    rest = [c for c in df.columns if c not in head]
    df = df[head + rest]
    for c in value_columns:  # one type per column, for parquet
        col = df[c]
        if not all(v is None or isinstance(v, (int, float)) and not isinstance(v, bool)
                   for v in col):
            df[c] = [None if v is None else str(v) for v in col]
    return df


def write_frame(out: Path, frame: pd.DataFrame) -> None:
    """DIR/sweep.parquet and DIR/sweep.csv, each replaced whole (a reader, or a crash,
    sees the old file or the new one, never half of one)."""
    out.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        target = out / name
        tmp = out / f".{name}.{os.getpid()}.tmp"
        if name.endswith(".parquet"):
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_csv(tmp, index=False)
        os.replace(tmp, target)


def finished_rows(out: Path) -> pd.DataFrame | None:
    path = out / FILES[0]
    if not path.exists():
        return None
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise SweepError(f"--resume: cannot read {path}: {exc}") from None


def check_out(out: Path, resume: bool) -> None:
    if out.exists() and not out.is_dir():
        raise SweepError(f"--out: {out} is a file, not a folder")
    if not resume and any((out / f).exists() for f in FILES):
        raise SweepError(f"--out: {out} holds a sweep already; pass --resume to continue it, "
                         "or choose another --out")


def _clean(row: dict) -> dict:
    """A row read back from parquet: numpy scalars and NaN as plain values."""
    out = {}
    for k, v in row.items():
        if hasattr(v, "item"):
            v = v.item()
        if isinstance(v, float) and math.isnan(v):
            v = None
        out[k] = v
    return out


# --------------------------------------------------------------------------- the API

def sweep(instance: Instance | str | Path, scenarios: Any, config: SolveConfig | None = None,
          *, out: str | Path | None = None, workers: int | None = None,
          scheduler: str | None = None, resume: bool = False, keep_runs: bool = False,
          quiet: bool = False, console=None, source: str = "scenarios",
          **options) -> pd.DataFrame:
    """Solve every scenario of ``instance``; one row per scenario (see docs/sweeps.md).

    ``scenarios``: ``{column: [values]}`` (cartesian product) or a DataFrame / list of
    mappings (one scenario each); a column is ``PATH`` (set) or ``PATH*=`` (scale).
    ``config`` and ``**options`` as for ``api.solve`` (default here: ``threads=1``,
    ``marginals=False``). ``out``: a folder for sweep.parquet and sweep.csv, rewritten as
    each scenario finishes (``keep_runs``: every run folder under ``out/runs/``).
    ``workers``: processes of the local cluster (default: the cores); ``scheduler``: the
    address of an existing Dask scheduler instead. ``resume``: skip the scenarios ``out``
    holds a finished row for (any status but ``error``). ``source`` names the scenarios
    in messages (the CLI passes ``--vary`` or ``--scenarios FILE``).

    Raises OverrideError or SweepError (nothing has run) for a bad path or a refused
    ``out``; every scenario that runs gets a row, whatever happens to it."""
    if not isinstance(instance, Instance):
        instance = load_instance(instance)
    config = sweep_config(config, **options)
    if keep_runs and out is None:
        raise SweepError("--keep-runs: needs --out, the folder the run folders go under")
    out_dir = Path(out) if out is not None else None
    if out_dir is not None:
        check_out(out_dir, resume)
    scenarios_ = plan(instance, scenarios, config, source=source, keep_runs=keep_runs)
    order = [s.id for s in scenarios_]
    value_columns = list(dict.fromkeys(c for s in scenarios_ for c in s.values))
    rows: dict[str, dict] = {}
    stats = {"write_s": 0.0, "writes": 0}

    def save() -> pd.DataFrame:
        frame = frame_of(rows, order, value_columns)
        if out_dir is not None:
            t = time.perf_counter()
            write_frame(out_dir, frame)
            stats["write_s"] += time.perf_counter() - t
            stats["writes"] += 1
        return frame

    done_hashes: dict[str, dict] = {}
    if resume and out_dir is not None:
        previous = finished_rows(out_dir)
        if previous is not None:
            for rec in previous.to_dict(orient="records"):
                if rec.get("status") != "error":
                    done_hashes[str(rec.get("hash"))] = _clean(rec)
    todo = []
    for s in scenarios_:
        if s.hash in done_hashes:
            rows[s.id] = {**done_hashes[s.hash], "scenario": s.id, **s.values}
        elif s.task is None:
            rows[s.id] = {"scenario": s.id, "hash": s.hash, **s.values, "status": "invalid",
                          "exit_code": INVALID_EXIT, "message": s.problem}
        else:
            todo.append(s)
    frame = save()
    if todo:
        frame = _run(instance, by_structure(todo), rows, save, out_dir, workers, scheduler,
                     quiet, console)
    frame.attrs.update(stats)
    return frame


def _run(instance, todo, rows, save, out_dir, workers, scheduler, quiet, console):
    by_id = {s.id: s for s in todo}
    frame = None
    with Progress(len(todo), f"sweep {instance.name}", quiet=quiet, console=console) as bar, \
            Engine(workers, scheduler) as engine:
        # every task carries the base instance (0.6 MB pickled for a 1-site hourly year,
        # 3 MB for 3 sites x 3 years): a task with a dependency would be placed next to
        # the worker holding it, beside a running task, and die with that one
        tasks = [(s.id, (s.task, instance)) for s in todo]
        for outcome in engine.run(run_scenario, tasks):
            s = by_id[outcome.key]
            if outcome.ok:
                done: Done = outcome.value
                row = {**done.row, **s.values}
                if done.result is not None and out_dir is not None:
                    try:
                        done.result.write(out_dir / "runs" / s.id)
                    except Exception as exc:  # noqa: BLE001 - the row still counts
                        row["message"] = (f"{row.get('message') or ''} run folder not "
                                          f"written: {type(exc).__name__}: {exc}").strip()
            else:
                row = {"scenario": s.id, "hash": s.hash, **s.values, "status": "error",
                       "exit_code": 1, "message": outcome.error}
            rows[s.id] = row
            frame = save()
            bar.advance(progress_line(row), ok=row.get("npv_usd") is not None)
    return frame


def progress_line(row: dict) -> str:
    npv = row.get("npv_usd")
    money = f"NPV {npv / 1e6:,.2f} M$" if npv is not None else (row.get("message") or "")[:120]
    how = f" ({row['model']}, {row.get('task_s') or 0.0:.1f} s)" if row.get("model") else ""
    return f"{row['scenario']} {row['status']} {money}{how}"


def failures(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows without a solution."""
    return frame[frame["npv_usd"].isna()]


def exit_code(frame: pd.DataFrame) -> int:
    """0 when every scenario has a solution; 2 when some scenario's values are invalid
    (the others ran); otherwise 1."""
    failed = failures(frame)
    if not len(failed):
        return 0
    return INVALID_EXIT if (failed["status"] == "invalid").any() else NO_SOLUTION_EXIT
