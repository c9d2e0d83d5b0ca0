"""Nightly batch re-planning: every instance under a folder re-solved, each in isolation,
resumable, with a diff against last night (issue 12; docs/nightly.md).

    hashpivot batch INPUT_DIR --out DIR [--compare PREV_DIR] [--warm-start-from PREV_DIR]
                    [--time-limit S] [--workers N] [--scheduler ADDRESS] [--resume] [--quiet]

``batch(...)`` is the library function (re-exported by ``optimizer.api``);
``batch_command`` is the Typer command the CLI mounts as ``hashpivot batch``, and ``app``
runs it alone (``python -m optimizer.batch``).

How one instance runs. Every ``INPUT_DIR/**/instance.yaml`` is one task of the engine
(``optimizer/engine.py``), in order of expected run time (longest first, from last
night's seconds, else the size of the instance's files), so the long ones do not start
last. On its Dask worker the task forks a fresh process (``multiprocessing`` forkserver,
with the package preloaded, so a fork costs milliseconds rather than an import) that
loads, validates, solves with ``SolveConfig(threads=1, ...)`` and writes
``DIR/runs/<relative path>/`` itself, then sends back a small row. The worker waits for
that row at most the wall-time guard: the time limit plus ``wall_margin_s`` (loading,
building, the marginal-value LP and writing are outside HiGHS's time limit); a process
still running then is killed and its row says so, so no instance holds the batch
forever. Without a time limit there is no guard. A solving process dies with its worker
(Linux: ``PR_SET_PDEATHSIG``), so a batch killed outright leaves no solve behind.
Workers of an external Dask cluster are daemonic by default and may not fork: there the
instance is solved in the worker process itself, guarded by HiGHS's time limit only
(start such workers with ``DASK_DISTRIBUTED__WORKER__DAEMON=False``).

Rows. Exit codes are those of ``hashpivot solve``: 0 a solution, 2 an invalid instance
(the loader's sentences; nothing is written), 3 infeasible or unbounded (the run folder
keeps ``infeasibility.csv`` and the summary's explanation), 4 a limit without a
solution, 1 a crash, a killed worker (after the engine's one retry) or the wall-time
guard. ``DIR/batch.csv`` and ``DIR/batch.md`` are rewritten atomically after every
finished instance, so a batch killed midway keeps its finished rows.

Resume. With ``resume``, an instance whose run folder holds a ``summary.json`` (written
last, so the folder is complete) whose ``instance_sha256`` and ``config_sha256`` equal
this run's is not solved again; its row is read from that summary. A lock file in
``DIR`` refuses a second batch there, naming the process that holds it; a lock whose
process is gone (same host) is taken over.

Warm start. An instance starts from last night's plan (``PREV_DIR/runs/<relative
path>``) when that run has a plan and the same structure: the same horizon (start,
period, number of periods) and the same ids of everything that carries one (sites,
fleets, products, upgrades, contracts, leases, PPAs, ...), so every decision of last
night's plan names a decision of tonight's model. Values (prices, capex, limits) may
differ.

Diff. ``compare`` writes ``DIR/diff.csv`` (one row per change) and ``DIR/diff.md`` (per
instance: the NPV change, the inputs that changed, deals accepted or dropped, plan
changes from ``capex.csv``, the NPV change by cash-flow term).
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import json
import math
import multiprocessing
import os
import secrets
import signal
import socket
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import typer

from . import options
from .results.writer import process_alive, process_start

__all__ = [
    "BatchError",
    "BatchLocked",
    "BatchResult",
    "LOCK_NAME",
    "acquire_lock",
    "app",
    "batch",
    "batch_command",
    "batch_exit_code",
    "diff_batches",
    "find_instances",
    "release_lock",
    "report",
    "structure_difference",
]

LOCK_NAME = ".hashpivot-batch.lock"
RUNS = "runs"
WALL_MARGIN_S = 600.0
# test hooks (tests/test_batch.py): the instance (relative path) whose Dask worker kills
# itself every time it picks it up, and the one whose solving process sleeps first
KILL_HOOK = "HASHPIVOT_TEST_KILL_WORKER"
STALL_HOOK = "HASHPIVOT_TEST_STALL"
STALL_S = 3600.0

COLUMNS = ["instance", "name", "status", "exit_code", "npv_usd", "mip_gap", "seconds",
           "run_folder", "error", "warm_started", "warm_start_note", "resumed"]
DIFF_COLUMNS = ["instance", "change", "period", "site", "kind", "item", "before", "after",
                "delta", "delta_pct", "capex_delta_usd", "note"]
DEAL_KINDS = ("contract", "lease", "ppa")
SOLVED = "solution"  # label of exit code 0 in summaries


class BatchError(ValueError):
    """A batch that cannot start (bad folder or option); ``str()`` is the sentence."""


class BatchLocked(BatchError):
    """Another batch holds ``DIR``'s lock file."""


# --------------------------------------------------------------------------- discovery

def find_instances(input_dir: str | Path, exclude: Iterable[str | Path] = ()) -> list[
        tuple[str, Path]]:
    """``(relative folder, instance.yaml)`` of every instance below ``input_dir``, sorted.
    Hidden folders, run folders (they hold a copy of their instance) and the folders in
    ``exclude`` (the batch's own output) are not searched."""
    root = Path(input_dir).absolute()
    skip = {os.path.realpath(p) for p in exclude}
    found = []
    for folder, dirs, files in os.walk(root):
        if os.path.realpath(folder) in skip or "summary.json" in files:
            dirs[:] = []
            continue
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        if "instance.yaml" in files and Path(folder) != root:
            found.append((Path(folder).relative_to(root).as_posix(),
                          Path(folder) / "instance.yaml"))
    return sorted(found)


# --------------------------------------------------------------------------- the lock

def _read_lock(path: Path) -> dict | None:
    """The lock's holder; None if there is no lock; {} if it cannot be read."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _holder_text(holder: dict) -> str:
    return (f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')}, started "
            f"{holder.get('started_at', '?')}"
            + (f" ({holder['command']})" if holder.get("command") else ""))


def _locked_message(out: Path, path: Path, holder: dict) -> str:
    if not holder:
        return (f"{out}: holds a lock file that hashpivot cannot read ({path}); another "
                "batch may be writing there. Remove the lock file if none is.")
    where = "" if holder.get("host") == socket.gethostname() else (
        "; it runs on another host, so hashpivot cannot tell whether it is still alive")
    return (f"{out}: another batch is writing there: {_holder_text(holder)}{where}. Wait "
            f"for it to end, or remove the lock file {path} if that process is gone.")


def acquire_lock(out_dir: str | Path) -> dict:
    """Take ``DIR``'s lock (the holder record); BatchLocked naming the holder if another
    live process has it. The record is written beside the lock and hard-linked into
    place, so the lock appears complete or not at all (and ``link`` is atomic on NFS,
    where ``O_EXCL`` has not always been)."""
    out = Path(out_dir).absolute()
    path = out / LOCK_NAME
    me = {"pid": os.getpid(), "host": socket.gethostname(),
          "start_ticks": process_start(os.getpid()),
          "started_at": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
          "command": " ".join(Path(sys.argv[0]).name if i == 0 else a
                              for i, a in enumerate(sys.argv))[:300]}
    for _ in range(5):
        if _place_lock(path, me):
            return me
        holder = _read_lock(path)
        if holder is None:
            continue  # released meanwhile
        stale = (holder and holder.get("host") == socket.gethostname()
                 and isinstance(holder.get("pid"), int)
                 and not process_alive(holder["pid"], int(holder.get("start_ticks") or 0)))
        if not stale:
            raise BatchLocked(_locked_message(out, path, holder))
        # taken aside under a name of ours first: of two processes breaking the same
        # stale lock, only one moves it; if what was moved is not the stale lock read
        # above (someone broke it and locked meanwhile), it is put back
        aside = out / f"{LOCK_NAME}.stale-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            os.rename(path, aside)
        except FileNotFoundError:
            continue
        moved = _read_lock(aside)
        if moved != holder:
            with contextlib.suppress(OSError):
                os.link(aside, path)
            aside.unlink(missing_ok=True)
            raise BatchLocked(_locked_message(out, path, moved or {}))
        aside.unlink(missing_ok=True)
    raise BatchLocked(f"{out}: could not take the lock file {path}: other processes kept "
                      "taking it; is another batch starting there?")


def _place_lock(path: Path, me: dict) -> bool:
    text = json.dumps(me, indent=2) + "\n"
    tmp = path.with_name(f"{LOCK_NAME}.new-{os.getpid()}-{secrets.token_hex(4)}")
    tmp.write_text(text)
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    except OSError:  # no hard links on this file system (FAT, some FUSE)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        return True
    finally:
        tmp.unlink(missing_ok=True)


def release_lock(out_dir: str | Path, me: dict) -> None:
    path = Path(out_dir).absolute() / LOCK_NAME
    holder = _read_lock(path)
    if holder and holder.get("pid") == me["pid"] and holder.get("host") == me["host"] \
            and holder.get("start_ticks") == me["start_ticks"]:
        path.unlink(missing_ok=True)


# --------------------------------------------------------------------------- one instance

@dataclass(frozen=True)
class Job:
    """What a worker needs to run one instance (pickled to it)."""

    key: str  # the instance folder relative to INPUT_DIR
    instance_path: str
    run_dir: str
    config: object  # SolveConfig
    resume: bool = False
    warm_from: str | None = None  # last night's run folder of this instance
    wall_limit_s: float | None = None


def solve_job(job: Job) -> dict:
    """The engine's task: one instance, in a fresh process on this worker, its row back."""
    if os.environ.get(KILL_HOOK) == job.key:
        os.kill(os.getpid(), signal.SIGKILL)
    if multiprocessing.current_process().daemon:
        return run_job(job)  # no children allowed here (see the module docstring)
    # Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536 (its
    # pre-spawn-environ), so that idle workers hand memory back; glibc reads it when a
    # process starts, and under it HiGHS solves permian-1y in 2.4 times the time (66.6 s
    # against 27.4 s). The forkserver, and so every solving process, starts without it.
    os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    ctx = multiprocessing.get_context(
        "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn")
    if ctx.get_start_method() == "forkserver":
        ctx.set_forkserver_preload(["optimizer.batch", "optimizer.pipeline"])
    t0 = time.perf_counter()
    receive, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(send, job), name=f"hashpivot {job.key}")
    proc.start()
    send.close()
    try:
        if not receive.poll(job.wall_limit_s):
            proc.kill()
            proc.join()
            limit = job.config.time_limit
            return _row(job.key, status="overran", exit_code=1, seconds=time.perf_counter() - t0,
                        error=(f"still running {job.wall_limit_s:.0f} s after it started "
                               f"(time limit {limit:g} s + wall margin "
                               f"{job.wall_limit_s - limit:g} s): the solving process was "
                               "killed"))
        try:
            row = receive.recv()
        except EOFError:
            proc.join()
            return _row(job.key, status="crashed", exit_code=1,
                        seconds=time.perf_counter() - t0, error=_death(proc.exitcode))
    finally:
        receive.close()
    proc.join()
    return row


def _death(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        hint = " (killed, perhaps out of memory)" if -exitcode == signal.SIGKILL else ""
        return f"the process solving it died of {name}{hint}"
    return f"the process solving it ended with code {exitcode} and no result"


def _child(send, job: Job) -> None:
    _die_with_parent()
    _release_forkserver()
    try:
        row = run_job(job)
    except BaseException as exc:  # noqa: BLE001 - the row says what happened
        row = _row(job.key, status="crashed", exit_code=1, error=_sentence(exc))
    send.send(row)
    send.close()


def _die_with_parent() -> None:
    """SIGKILL this process when its parent (the forkserver, which ends with its Dask
    worker) ends, so no solve outlives a killed batch. Linux only."""
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _release_forkserver() -> None:
    """A process forked by a forkserver holds the write end of the server's "alive"
    pipe (so that it could fork through the same server), and the server ends only
    when every holder has closed it: held here, a server whose worker died would wait
    for this process, which waits for the server to die. Closed, the server ends with
    its worker and this process with the server."""
    from multiprocessing import forkserver

    server = getattr(forkserver, "_forkserver", None)
    fd = getattr(server, "_forkserver_alive_fd", None)
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)
        server._forkserver_alive_fd = None


def _sentence(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"error: {type(exc).__name__}: {text}"[:500]


def _row(key: str, **values) -> dict:
    row = dict.fromkeys(COLUMNS)
    row.update(instance=key, error="", warm_started=False, warm_start_note="", resumed=False)
    row.update(values)
    return row


def run_job(job: Job) -> dict:
    """Load, validate, (resume or) solve and write one instance; its row. Runs in the
    process that solves."""
    from .instance import InstanceError, load_instance
    from .pipeline import instance_sha256
    from .pipeline import run as run_pipeline
    from .results.writer import RunFolderError, check_target, instance_files

    t0 = time.perf_counter()
    if os.environ.get(STALL_HOOK) == job.key:
        time.sleep(STALL_S)
    try:
        instance = load_instance(job.instance_path)
    except InstanceError as exc:
        return _row(job.key, status="invalid", exit_code=2, seconds=time.perf_counter() - t0,
                    error="; ".join(str(exc).splitlines()))
    load_s = time.perf_counter() - t0
    config = job.config
    run_dir = Path(job.run_dir)
    files = instance_files(instance)
    if job.resume:
        done = complete_summary(run_dir, instance_sha256(files), config.fingerprint())
        if done is not None:
            return _resumed_row(job.key, done, run_dir)
    try:
        check_target(run_dir)
    except RunFolderError as exc:
        return _row(job.key, name=instance.name, status="unwritable", exit_code=2,
                    seconds=time.perf_counter() - t0, error=str(exc))
    warm, note = warm_start_decision(job.warm_from, files)
    if warm is not None:
        config = config.model_copy(update={"warm_start": warm})
    result = run_pipeline(instance, config, load_time_s=load_s)
    written = result.write(run_dir)
    return _row(job.key, name=instance.name, status=result.status,
                exit_code=result.exit_code, npv_usd=result.npv_usd, mip_gap=result.mip_gap,
                seconds=time.perf_counter() - t0, run_folder=str(written),
                error=_failure(result.status, result.exit_code, result.explanation,
                               result.message, written, result.infeasibility is not None),
                warm_started=warm is not None, warm_start_note=note)


def _failure(status: str, code: int, explanation: list[str] | None, message: str,
             run_dir: Path, explained: bool) -> str:
    if code == 0:
        return ""
    if code == 3:
        why = "; ".join(explanation or []) or message or "no explanation was found"
        where = f" ({run_dir / 'infeasibility.csv'})" if explained else ""
        return f"the model is {status}: {why}{where}"
    if code == 4:
        return ("a limit was hit before any feasible solution was found "
                f"({run_dir / 'solver.log'})")
    return f"the solver ended with status {status}: {message or 'no message'}"


def complete_summary(run_dir: Path, instance_sha: str, config_sha: str) -> dict | None:
    """The run folder's summary if it is complete (summary.json is written last) and
    was solved from these instance files with options of this fingerprint."""
    try:
        summary = json.loads((Path(run_dir) / "summary.json").read_text())
    except (OSError, ValueError):
        return None
    if (isinstance(summary, dict) and summary.get("instance_sha256") == instance_sha
            and summary.get("config_sha256") == config_sha):
        return summary
    return None


def _resumed_row(key: str, summary: dict, run_dir: Path) -> dict:
    code = int(summary.get("exit_code", 1))
    warm = (summary.get("config") or {}).get("warm_start")
    explained = (run_dir / "infeasibility.csv").is_file()
    return _row(key, name=summary.get("instance"), status=summary.get("status"),
                exit_code=code, npv_usd=summary.get("npv_usd"), mip_gap=summary.get("mip_gap"),
                seconds=float(sum((summary.get("timings_s") or {}).values())),
                run_folder=str(run_dir),
                error=_failure(summary.get("status", "error"), code,
                               summary.get("infeasibility"), summary.get("message", ""),
                               run_dir, explained),
                warm_started=warm is not None,
                warm_start_note=f"from {warm}" if warm else "", resumed=True)


# --------------------------------------------------------------------------- warm start

def structure(data: dict) -> dict[str, object]:
    """What a plan's decisions are indexed by: the horizon, and every id in the instance
    under its path (``sites[s].fleet[asic]``, ``contracts[lab]``, ...)."""
    ids: set[str] = set()

    def walk(value, path: str) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{path}.{k}" if path else str(k))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, dict) and "id" in item:
                    ids.add(f"{path}[{item['id']}]")
                    walk(item, f"{path}[{item['id']}]")
                else:
                    walk(item, f"{path}[{i}]")

    walk(data, "")
    horizon = data.get("horizon") or {}
    return {"horizon": {k: horizon.get(k) for k in ("start", "period", "periods")},
            "ids": ids}


def structure_difference(before: dict, after: dict) -> str:
    """Why last night's plan does not fit tonight's model ("" when it does)."""
    a, b = structure(before), structure(after)
    if a["horizon"] != b["horizon"]:
        changed = [f"{k} {a['horizon'][k]} -> {b['horizon'][k]}" for k in a["horizon"]
                   if a["horizon"][k] != b["horizon"][k]]
        return "the horizon changed (" + ", ".join(changed) + ")"
    gone, new = sorted(a["ids"] - b["ids"]), sorted(b["ids"] - a["ids"])
    if not gone and not new:
        return ""
    parts = ([f"new {_few(new)}"] if new else []) + ([f"gone {_few(gone)}"] if gone else [])
    return "the ids changed: " + "; ".join(parts)


def _few(names: list[str], limit: int = 4) -> str:
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more"
                                       if len(names) > limit else "")


def warm_start_decision(previous: str | None, files: dict[str, bytes]) -> tuple[
        Path | None, str]:
    """(run folder to warm-start from or None, the note for batch.csv)."""
    import yaml

    if previous is None:
        return None, ""
    prev = Path(previous)
    if not (prev / "summary.json").is_file():
        return None, "not used: no run folder last night"
    if not (prev / "capex.csv").is_file():
        return None, "not used: last night's run has no plan"
    try:
        before = yaml.safe_load((prev / "instance.yaml").read_text())
    except (OSError, yaml.YAMLError) as exc:
        return None, f"not used: last night's instance.yaml cannot be read ({exc})"
    why = structure_difference(before or {}, yaml.safe_load(files["instance.yaml"]))
    if why:
        return None, f"not used: {why}"
    return prev, "used"


# --------------------------------------------------------------------------- tables

def batch_exit_code(rows: Iterable[dict]) -> int:
    """0 when every instance has a solution; else the exit code the failed instances
    share, or 1 when they differ (or one never finished)."""
    codes = {1 if r.get("exit_code") is None else int(r["exit_code"]) for r in rows}
    codes.discard(0)
    if not codes:
        return 0
    return codes.pop() if len(codes) == 1 else 1


def _atomic_write(path: Path, text: str) -> None:
    """Readers (and a kill) see the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _usd(x) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    return f"{x:,.0f}"


def _md(text) -> str:
    return str(text if text is not None else "").replace("|", "\\|").replace("\n", " ")


def write_tables(out: Path, rows: list[dict], header: dict) -> None:
    """batch.csv (one row per instance, COLUMNS) and batch.md, each atomically."""
    import pandas as pd

    frame = pd.DataFrame(rows, columns=COLUMNS)
    # blank, not 0.0, while an instance is pending
    frame["exit_code"] = frame["exit_code"].astype("Int64")
    frame["seconds"] = frame["seconds"].astype(float).round(3)
    _atomic_write(out / "batch.csv", frame.to_csv(index=False))
    _atomic_write(out / "batch.md", _batch_markdown(rows, header))


def _batch_markdown(rows: list[dict], header: dict) -> str:
    done = [r for r in rows if r["status"] != "pending"]
    solved = sum(r["exit_code"] == 0 for r in done)
    failed = [r for r in done if r["exit_code"] != 0]
    lines = [f"# Batch {header['out']}", "",
             f"- input: `{header['input']}`",
             f"- started {header['started_at']}; "
             + (f"finished {header['finished_at']}" if header.get("finished_at")
                else f"running ({len(done)} of {len(rows)} finished)"),
             f"- options: {header['options']}",
             f"- {solved} of {len(rows)} instances have a solution; {len(failed)} failed; "
             f"{sum(bool(r['resumed']) for r in done)} resumed, "
             f"{sum(bool(r['warm_started']) for r in done)} warm-started"]
    lines += [f"- note: {_md(n)}" for n in header.get("notes", [])] + [""]
    if failed:
        lines += ["## Failed", ""]
        lines += [f"- `{r['instance']}`: {r['status']} (exit {r['exit_code']}): "
                  f"{_md(r['error'])}" for r in failed]
        lines.append("")
    lines += ["## Instances", "",
              "| instance | status | exit | NPV (USD) | gap | seconds | warm start | run folder |",
              "| --- | --- | ---: | ---: | ---: | ---: | --- | --- |"]
    for r in rows:
        gap = "" if r["mip_gap"] is None else f"{r['mip_gap']:.2e}"
        secs = "" if r["seconds"] is None else f"{r['seconds']:.1f}"
        warm = "yes" if r["warm_started"] else _md(r["warm_start_note"])
        status = r["status"] + (" (resumed)" if r["resumed"] else "")
        code = "" if r["exit_code"] is None else r["exit_code"]
        lines.append(f"| `{r['instance']}` | {status} | {code} | {_usd(r['npv_usd'])} | {gap} "
                     f"| {secs} | {warm} | {_md(r['run_folder'] or '')} |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- the diff

@dataclass
class _Side:
    """One instance in one batch folder."""

    status: str = ""
    exit_code: int | None = None
    npv_usd: float | None = None
    run: Path | None = None

    @property
    def has_plan(self) -> bool:
        return self.run is not None and (self.run / "capex.csv").is_file()


def _run_folders(runs: Path, prefix: str = "") -> Iterable[tuple[str, Path]]:
    """(relative key, folder) of every run folder under ``runs`` (a run folder may be a
    link written by the run-folder writer; staging siblings are hidden)."""
    try:
        entries = sorted(os.scandir(runs), key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        if entry.name.startswith(".") or not entry.is_dir():
            continue
        path = Path(entry.path)
        key = f"{prefix}{entry.name}"
        if (path / "summary.json").is_file():
            yield key, path
        elif not entry.is_symlink():
            yield from _run_folders(path, key + "/")


def _read_side(folder: Path) -> dict[str, _Side]:
    """Every instance of a batch folder: the finished rows of its batch.csv (failed ones
    too) with the run folders they name; without a batch.csv, every run folder under
    runs/. (A folder under runs/ that batch.csv does not name is an older batch's.)"""
    import pandas as pd

    sides: dict[str, _Side] = {}
    table = folder / "batch.csv"
    if not table.is_file():
        for key, run in _run_folders(folder / RUNS):
            summary = json.loads((run / "summary.json").read_text())
            sides[key] = _Side(summary.get("status", ""), summary.get("exit_code"),
                               summary.get("npv_usd"), run)
        return sides
    frame = pd.read_csv(table, dtype={"instance": str, "run_folder": str})
    for r in frame.to_dict(orient="records"):
        if r.get("status") == "pending":
            continue
        code, npv, run = r.get("exit_code"), r.get("npv_usd"), r.get("run_folder")
        run_dir = folder / run if isinstance(run, str) and run else None
        sides[r["instance"]] = _Side(
            status=str(r.get("status")),
            exit_code=None if code is None or pd.isna(code) else int(code),
            npv_usd=None if npv is None or pd.isna(npv) else float(npv),
            run=run_dir if run_dir is not None and (run_dir / "summary.json").is_file()
            else None)
    return sides


def _plan(run: Path):
    import pandas as pd

    capex = pd.read_csv(run / "capex.csv")
    if not len(capex):
        return pd.DataFrame(columns=["quantity", "capex_usd"])
    return capex.groupby(["period", "site", "kind", "item"])[["quantity", "capex_usd"]].sum()


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-6 * max(1.0, abs(a), abs(b))


def _plan_changes(key: str, before: Path, after: Path) -> list[dict]:
    a, b = _plan(before), _plan(after)
    rows = []
    for idx in sorted(set(a.index) | set(b.index), key=str):
        qa = float(a.loc[idx, "quantity"]) if idx in a.index else 0.0
        qb = float(b.loc[idx, "quantity"]) if idx in b.index else 0.0
        if _close(qa, qb):
            continue
        period, site, kind, item = idx
        ca = float(a.loc[idx, "capex_usd"]) if idx in a.index else 0.0
        cb = float(b.loc[idx, "capex_usd"]) if idx in b.index else 0.0
        if kind in DEAL_KINDS:
            change = "deal_accepted" if qb > qa else "deal_dropped"
        else:
            change = ("plan_added" if idx not in a.index or _close(qa, 0.0) else
                      "plan_removed" if idx not in b.index or _close(qb, 0.0) else
                      "plan_quantity")
        rows.append(dict(instance=key, change=change, period=int(period), site=site,
                         kind=kind, item=item, before=qa, after=qb, delta=qb - qa,
                         capex_delta_usd=cb - ca))
    return rows


def _term_changes(key: str, before: Path, after: Path) -> list[dict]:
    import pandas as pd

    def by_term(run: Path):
        path = run / "cashflows.csv"
        if not path.is_file():
            return pd.Series(dtype=float)
        return pd.read_csv(path).groupby("term")["discounted_usd"].sum()

    a, b = by_term(before), by_term(after)
    rows = []
    for term in sorted(set(a.index) | set(b.index)):
        va, vb = float(a.get(term, 0.0)), float(b.get(term, 0.0))
        if abs(vb - va) > 0.005:  # half a cent
            rows.append(dict(instance=key, change="npv_term", item=term, before=va, after=vb,
                             delta=vb - va))
    return rows


def _value_changes(a, b, path: str = "") -> list[tuple[str, object, object]]:
    """(key path, before, after) of every value that differs between two YAML trees;
    lists of items with ids are matched by id."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in list(a) + [k for k in b if k not in a]:
            sub = f"{path}.{k}" if path else str(k)
            if k not in b:
                out.append((sub, a[k], None))
            elif k not in a:
                out.append((sub, None, b[k]))
            else:
                out += _value_changes(a[k], b[k], sub)
        return out
    keyed = (isinstance(a, list) and isinstance(b, list)
             and all(isinstance(x, dict) and "id" in x for x in a + b))
    if keyed and (a or b):
        return _keyed_changes({x["id"]: x for x in a}, {x["id"]: x for x in b}, path)
    if a != b:
        return [(path, a, b)]
    return []


def _keyed_changes(ia: dict, ib: dict, path: str) -> list[tuple[str, object, object]]:
    out = []
    for k in list(ia) + [k for k in ib if k not in ia]:
        sub = f"{path}[{k}]"
        if k not in ib:
            out.append((sub, "present", None))
        elif k not in ia:
            out.append((sub, None, "present"))
        else:
            out += _value_changes(ia[k], ib[k], sub)
    return out


def _short(value) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return text if len(text) <= 60 else text[:57] + "..."


def _series_changes(key: str, before: Path, after: Path, ya: dict, yb: dict) -> list[dict]:
    import numpy as np
    import pandas as pd

    def frame(run: Path, data: dict):
        ref = (data.get("series") or {}).get("file")
        if not ref or not (run / ref).is_file():
            return None
        return pd.read_csv(run / ref)

    fa, fb = frame(before, ya), frame(after, yb)
    if fa is None or fb is None:
        return []
    rows = []
    same_hours = len(fa) == len(fb) and (
        "timestamp" not in fa or fa["timestamp"].equals(fb["timestamp"]))
    for col in [c for c in fa.columns if c != "timestamp"] + [
            c for c in fb.columns if c not in fa.columns and c != "timestamp"]:
        item = f"series.{col}"
        if col not in fb or col not in fa:
            rows.append(dict(instance=key, change="input", item=item,
                             note="column removed" if col not in fb else "column added"))
            continue
        va = pd.to_numeric(fa[col], errors="coerce").to_numpy(float)
        vb = pd.to_numeric(fb[col], errors="coerce").to_numpy(float)
        if same_hours:
            differ = int((~((va == vb) | (np.isnan(va) & np.isnan(vb)))).sum())
            if not differ:
                continue
            note = f"{differ} of {len(va)} hours differ"
        else:  # another horizon: the hours cannot be paired
            note = f"the hours differ ({len(va)} -> {len(vb)} rows)"
        ma, mb = float(np.nanmean(va)), float(np.nanmean(vb))
        rows.append(dict(instance=key, change="input", item=item, before=ma, after=mb,
                         delta=mb - ma, note=f"{note}; mean {ma:g} -> {mb:g}"))
    return rows


def _input_changes(key: str, before: Path, after: Path) -> list[dict]:
    import yaml

    try:
        ya = yaml.safe_load((before / "instance.yaml").read_text()) or {}
        yb = yaml.safe_load((after / "instance.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        return []
    rows = []
    for path, a, b in _value_changes(ya, yb):
        if path == "series.file" or path == "description":
            continue
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (a, b))
        rows.append(dict(instance=key, change="input", item=path,
                         before=a if numeric else None, after=b if numeric else None,
                         delta=(b - a) if numeric else None,
                         note=f"{_short(a)} -> {_short(b)}"))
    return rows + _series_changes(key, before, after, ya, yb)


def diff_batches(prev_dir: str | Path, out_dir: str | Path):
    """One row per change between last night's batch folder and tonight's (DIFF_COLUMNS):
    ``npv`` (every instance present both nights), ``status``, ``instance_new``,
    ``instance_gone``, ``plan_added``, ``plan_removed``, ``plan_quantity``,
    ``deal_accepted``, ``deal_dropped``, ``npv_term`` (the NPV change by cash-flow term)
    and ``input`` (instance keys and series columns that differ)."""
    import pandas as pd

    before, after = _read_side(Path(prev_dir)), _read_side(Path(out_dir))
    rows: list[dict] = []
    for key in sorted(set(before) | set(after)):
        a, b = before.get(key), after.get(key)
        if a is None:
            rows.append(dict(instance=key, change="instance_new", after=b.npv_usd,
                             note=f"new tonight ({b.status})"))
            continue
        if b is None:
            rows.append(dict(instance=key, change="instance_gone", before=a.npv_usd,
                             note=f"gone tonight (last night {a.status})"))
            continue
        delta = pct = None
        if a.npv_usd is not None and b.npv_usd is not None:
            delta = b.npv_usd - a.npv_usd
            pct = delta / abs(a.npv_usd) * 100.0 if a.npv_usd else None
        rows.append(dict(instance=key, change="npv", before=a.npv_usd, after=b.npv_usd,
                         delta=delta, delta_pct=pct))
        if a.status != b.status:
            rows.append(dict(instance=key, change="status", note=f"{a.status} -> {b.status}"))
        if a.run is not None and b.run is not None:
            rows += _input_changes(key, a.run, b.run)
        if a.has_plan and b.has_plan:
            rows += _plan_changes(key, a.run, b.run)
            rows += _term_changes(key, a.run, b.run)
    frame = pd.DataFrame(rows, columns=DIFF_COLUMNS)
    frame["period"] = frame["period"].astype("Int64")  # blank where a row has no period
    return frame


def _instance_order(diff) -> list[str]:
    """Instances with the largest change first: new, gone and those whose status changed
    come first, then the rest by the size of their NPV change in USD."""
    order = []
    for key, group in diff.groupby("instance", sort=False):
        changes = set(group["change"])
        first = 0 if changes & {"instance_new", "instance_gone", "status"} else 1
        npv = group.loc[group["change"] == "npv", "delta"]
        size = abs(float(npv.iloc[0])) if len(npv) and npv.notna().iloc[0] else 0.0
        order.append((first, -size, -len(group), key))
    return [key for *_, key in sorted(order)]


def _num(x, unit: str = "") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    text = f"{x:,.0f}" if abs(x) >= 1000 else f"{x:,.6g}"
    return text + unit


def _signed(x) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    return ("+" if x > 0 else "") + _num(x)


def diff_markdown(diff, prev_dir: Path, out_dir: Path) -> str:
    lines = [f"# Changes since last night: {out_dir}", "",
             f"Compared with `{prev_dir}`. Instances with the largest change come first (new, "
             "gone, or a changed status; then by the size of the NPV change). Plan changes "
             "are read from `capex.csv`, largest capex change first.", ""]
    if not len(diff):
        return "\n".join(lines + ["No instance on either night.", ""])
    order = _instance_order(diff)
    lines += ["| instance | NPV last night | NPV tonight | change (USD) | change (%) | plan "
              "changes | deals | inputs changed |",
              "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |"]
    for key in order:
        g = diff[diff["instance"] == key]
        kinds = list(g["change"])
        if "instance_new" in kinds or "instance_gone" in kinds:
            r = g.iloc[0]
            lines.append(f"| `{key}` | {_num(r['before'])} | {_num(r['after'])} | | | | "
                         f"{_md(r['note'])} | |")
            continue
        n = g[g["change"] == "npv"].iloc[0]
        deals = g[g["change"].isin(["deal_accepted", "deal_dropped"])]
        deal_text = ", ".join(
            f"{'+' if c == 'deal_accepted' else '-'}{k} {i}"
            for c, k, i in zip(deals["change"], deals["kind"], deals["item"]))
        plan = g["change"].str.startswith("plan_").sum()
        pct = "" if n["delta_pct"] is None or _missing(n["delta_pct"]) else \
            f"{n['delta_pct']:+.2f} %"
        lines.append(f"| `{key}` | {_num(n['before'])} | {_num(n['after'])} | "
                     f"{_signed(n['delta'])} | {pct} | {plan} | {_md(deal_text)} | "
                     f"{(g['change'] == 'input').sum()} |")
    lines.append("")
    for key in order:
        lines += _instance_section(key, diff[diff["instance"] == key])
    return "\n".join(lines) + "\n"


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def _instance_section(key: str, g) -> list[str]:
    kinds = set(g["change"])
    if kinds & {"instance_new", "instance_gone"}:
        return []
    n = g[g["change"] == "npv"].iloc[0]
    head = f"## `{key}`: NPV {_signed(n['delta'])} USD" if not _missing(n["delta"]) else \
        f"## `{key}`"
    if not _missing(n["delta_pct"]):
        head += f" ({n['delta_pct']:+.2f} %)"
    lines = [head, ""]
    rest = g[g["change"] != "npv"]
    if not len(rest):
        return lines + ["Nothing changed.", ""]
    status = g[g["change"] == "status"]
    if len(status):
        lines += [f"Status: {status.iloc[0]['note']}.", ""]
    inputs = g[g["change"] == "input"]
    if len(inputs):
        lines += ["Inputs changed:", ""]
        lines += [f"- `{r['item']}`: {_md(r['note'])}" for r in inputs.to_dict("records")[:20]]
        if len(inputs) > 20:
            lines.append(f"- and {len(inputs) - 20} more (diff.csv)")
        lines.append("")
    deals = g[g["change"].isin(["deal_accepted", "deal_dropped"])]
    if len(deals):
        lines += ["Deals:", ""]
        lines += [f"- {'accepted' if r['change'] == 'deal_accepted' else 'dropped'} "
                  f"{r['kind']} `{r['item']}` (site {r['site']}, period {r['period']})"
                  for r in deals.to_dict("records")]
        lines.append("")
    plan = g[g["change"].str.startswith("plan_")]
    if len(plan):
        plan = plan.assign(size=plan["capex_delta_usd"].abs()).sort_values(
            ["size", "period"], ascending=[False, True], kind="stable")
        lines += ["Plan changes (capex.csv), largest capex change first:", "",
                  "| period | site | kind | item | change | last night | tonight | capex "
                  "change (USD) |", "| ---: | --- | --- | --- | --- | ---: | ---: | ---: |"]
        for r in plan.to_dict("records"):
            what = r["change"].removeprefix("plan_")
            lines.append(f"| {r['period']} | {r['site']} | {r['kind']} | {r['item']} | {what} "
                         f"| {_num(r['before'])} | {_num(r['after'])} | "
                         f"{_signed(r['capex_delta_usd'])} |")
        lines.append("")
    terms = g[g["change"] == "npv_term"]
    if len(terms):
        terms = terms.assign(size=terms["delta"].abs()).sort_values("size", ascending=False)
        lines += ["NPV change by cash-flow term (discounted USD), largest first:", "",
                  "| term | last night | tonight | change |", "| --- | ---: | ---: | ---: |"]
        lines += [f"| {r['item']} | {_num(r['before'])} | {_num(r['after'])} | "
                  f"{_signed(r['delta'])} |" for r in terms.to_dict("records")]
        lines.append("")
    return lines


def write_diff(prev_dir: Path, out_dir: Path):
    """diff.csv and diff.md in ``out_dir``; the diff frame."""
    diff = diff_batches(prev_dir, out_dir)
    _atomic_write(out_dir / "diff.csv", diff.to_csv(index=False))
    _atomic_write(out_dir / "diff.md", diff_markdown(diff, prev_dir, out_dir))
    return diff


# --------------------------------------------------------------------------- the batch

@dataclass
class BatchResult:
    out_dir: Path
    rows: object  # DataFrame, COLUMNS, one row per instance
    diff: object | None = None  # DataFrame (DIFF_COLUMNS) with compare
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)  # said once, not about one instance

    @property
    def exit_code(self) -> int:
        return batch_exit_code(self.rows.to_dict(orient="records"))

    @property
    def failed(self):
        return self.rows[self.rows["exit_code"] != 0]


def _batch_folder(path: str | Path | None, option: str, notes: list[str]) -> Path | None:
    """Last night's batch folder. Missing, it is a night without a predecessor (the
    first one, or one whose batch did not run): noted, not refused, so that the night's
    plans are still made."""
    if path is None:
        return None
    p = Path(path).absolute()
    if not os.path.lexists(p):
        notes.append(f"{option}: {path} does not exist; tonight is compared with nothing "
                     "and starts cold")
        return p
    if not p.is_dir():
        raise BatchError(f"{option}: {path} is not a folder")
    if not (p / "batch.csv").is_file() and not (p / RUNS).is_dir():
        raise BatchError(f"{option}: {path} is not a batch folder (no batch.csv, no runs/)")
    return p


def _expected_seconds(key: str, path: Path, known: dict[str, float]) -> float:
    """Last night's seconds when known; else a guess from the size of the instance's
    files (the series dominates), comparable only among guesses."""
    if key in known:
        return known[key]
    return sum(f.stat().st_size for f in path.parent.iterdir() if f.is_file()) / 1e6


def _known_seconds(folders: Iterable[Path | None]) -> dict[str, float]:
    import pandas as pd

    known: dict[str, float] = {}
    for folder in folders:
        if folder is None or not (folder / "batch.csv").is_file():
            continue
        try:
            frame = pd.read_csv(folder / "batch.csv", dtype={"instance": str})
            triples = list(zip(frame["instance"], frame["seconds"], frame["resumed"]))
        except (OSError, ValueError, KeyError):
            continue  # an unreadable history only costs the order
        for key, secs, resumed in triples:
            if not pd.isna(secs) and not resumed:
                known.setdefault(key, float(secs))
    return known


def _line(row: dict) -> str:
    if row["status"] == "pending":
        return f"{row['instance']}: pending"
    text = f"{row['instance']}: {row['status']} (exit {row['exit_code']})"
    if row["npv_usd"] is not None:
        text += f", NPV {row['npv_usd']:,.0f} USD"
    if row["mip_gap"] is not None:
        text += f", gap {row['mip_gap']:.1e}"
    if row["seconds"] is not None:
        text += f", {row['seconds']:.1f} s"
    if row["resumed"]:
        text += ", resumed"
    elif row["warm_started"]:
        text += ", warm-started"
    if row["error"]:
        text += f": {row['error']}"
    return text


def batch(input_dir: str | Path, out_dir: str | Path, config=None, *,
          compare: str | Path | None = None, warm_start_from: str | Path | None = None,
          resume: bool = False, workers: int | None = None, scheduler: str | None = None,
          wall_margin_s: float = WALL_MARGIN_S, quiet: bool = False, engine=None,
          console=None, **options) -> BatchResult:
    """Solve every ``INPUT_DIR/**/instance.yaml`` into ``out_dir/runs/<relative path>/``,
    each in its own process; write ``batch.csv`` / ``batch.md`` (and ``diff.csv`` /
    ``diff.md`` with ``compare``). ``config`` (a SolveConfig) and/or its fields as
    keyword arguments, as ``api.solve``; ``threads`` defaults to 1 per instance.
    ``engine``: an entered ``Engine`` to run on (else one is started from ``workers`` /
    ``scheduler``). Raises BatchError (BatchLocked) when the batch cannot start; a
    failing instance is a row, never an exception."""
    import pandas as pd

    from .engine import Engine, Progress
    from .solver.config import ConfigError, make_config

    t_start = time.perf_counter()
    started_at = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    try:
        config = make_config(config, **options)
    except ConfigError as exc:
        raise BatchError(str(exc)) from None
    if config.threads is None:  # workers share the machine's cores
        config = config.model_copy(update={"threads": 1})
    if config.warm_start is not None:
        raise BatchError("warm_start: a batch warm-starts each instance from its own run "
                         "folder; give warm_start_from (--warm-start-from PREV_DIR)")
    if wall_margin_s < 0:
        raise BatchError(f"--wall-margin: must be >= 0, got {wall_margin_s:g}")
    source = Path(input_dir).absolute()
    if not source.is_dir():
        raise BatchError(f"{input_dir}: not a folder (INPUT_DIR holds one folder per "
                         "instance, each with an instance.yaml)")
    out = Path(out_dir).absolute()
    if out.exists() and not out.is_dir():
        raise BatchError(f"--out: {out_dir} exists and is not a folder")
    notes: list[str] = []
    previous = _batch_folder(compare, "--compare", notes)
    warm_dir = _batch_folder(warm_start_from, "--warm-start-from", notes)
    if previous is not None and os.path.realpath(previous) == os.path.realpath(out):
        raise BatchError(f"--compare: {compare} is the batch's own --out folder; compare "
                         "with last night's folder")
    found = find_instances(source, exclude=[out])
    keys = {key for key, _ in found}
    for key, path in found:
        outer = next((k for k in keys if key.startswith(k + "/")), None)
        if outer is not None:
            raise BatchError(f"{path}: is inside the instance folder {source / outer}; their "
                             f"run folders would nest (runs/{key} inside runs/{outer}): move "
                             "one of them")
    if not found:
        hint = (" (it holds an instance.yaml itself: batch takes the instance folders below "
                "INPUT_DIR; solve one instance with hashpivot solve)"
                if (source / "instance.yaml").is_file() else "")
        raise BatchError(f"{input_dir}: no */instance.yaml below it{hint}")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BatchError(f"--out: {out_dir} cannot be created ({exc.strerror})") from None
    lock = acquire_lock(out)
    try:
        wall = (None if config.time_limit is None else config.time_limit + wall_margin_s)
        known = _known_seconds([out if resume else None, warm_dir, previous])
        jobs = [Job(key, str(path), str(out / RUNS / key), config, resume,
                    str(warm_dir / RUNS / key) if warm_dir is not None else None, wall)
                for key, path in found]
        jobs.sort(key=lambda j: (-_expected_seconds(j.key, Path(j.instance_path), known),
                                 j.key))
        rows = {key: _row(key, status="pending") for key, _ in found}
        header = {"out": str(out), "input": str(source), "started_at": started_at,
                  "options": _options_text(config, wall_margin_s, compare, warm_start_from,
                                           resume), "notes": notes}
        write_tables(out, list(rows.values()), header)
        with contextlib.ExitStack() as stack:
            if engine is None:
                engine = stack.enter_context(Engine(workers=workers, scheduler=scheduler))
            progress = stack.enter_context(
                Progress(len(jobs), f"batch of {len(jobs)}", quiet=quiet, console=console))
            for outcome in engine.run(solve_job, [(job.key, (job,)) for job in jobs]):
                if outcome.ok:
                    row = outcome.value
                else:
                    row = _row(outcome.key, status="crashed", exit_code=1, error=outcome.error)
                if row["run_folder"]:
                    row["run_folder"] = os.path.relpath(row["run_folder"], out)
                rows[outcome.key] = row
                write_tables(out, list(rows.values()), header)
                progress.advance(_line(row), ok=row["exit_code"] == 0)
        header["finished_at"] = dt.datetime.now().astimezone().isoformat(timespec="seconds")
        write_tables(out, list(rows.values()), header)
        diff = write_diff(previous, out) if previous is not None else None
    finally:
        release_lock(out, lock)
    return BatchResult(out, pd.DataFrame(list(rows.values()), columns=COLUMNS), diff,
                       time.perf_counter() - t_start, notes)


def _options_text(config, wall_margin_s: float, compare, warm, resume: bool) -> str:
    parts = [f"mip_gap {config.mip_gap:g}",
             f"time_limit {config.time_limit:g} s" if config.time_limit is not None
             else "no time limit (no wall-time guard)",
             f"threads {config.threads}", f"method {config.method}"]
    if config.time_limit is not None:
        parts.append(f"wall margin {wall_margin_s:g} s")
    if config.mode:
        parts.append(f"resolution {config.mode}")
    if config.representative_days:
        parts.append(f"representative days {config.representative_days}")
    if not config.marginals:
        parts.append("no marginals")
    if compare:
        parts.append(f"compare {compare}")
    if warm:
        parts.append(f"warm start from {warm}")
    if resume:
        parts.append("resume")
    return ", ".join(parts)


# --------------------------------------------------------------------------- command

def batch_command(
    input_dir: Path = typer.Argument(..., help="folder of instance folders (each "
                                               "*/instance.yaml, recursively)"),
    out_dir: Path = typer.Option(..., "--out", help="batch folder: runs/, batch.csv, "
                                                    "batch.md (and diff.csv, diff.md)"),
    compare: Path | None = typer.Option(None, "--compare",
                                        help="last night's batch folder: write diff.csv and "
                                             "diff.md"),
    warm_start_from: Path | None = typer.Option(
        None, "--warm-start-from", help="last night's batch folder: start each instance from "
                                        "its plan when the structure matches"),
    time_limit: float | None = options.time_limit("each instance's solve"),
    workers: int | None = typer.Option(None, "--workers", min=1,
                                       help="local worker processes (default: the cores)"),
    scheduler: str | None = typer.Option(None, "--scheduler",
                                         help="a Dask scheduler, tcp://HOST:8786"),
    resume: bool = typer.Option(False, "--resume",
                                help="skip instances whose run folder is complete and "
                                     "current"),
    quiet: bool = typer.Option(False, "--quiet", "-q",
                               help="one line per instance (cron logs), no progress bar"),
    wall_margin: float = typer.Option(
        WALL_MARGIN_S, "--wall-margin",
        help="seconds past --time-limit after which a still running instance is killed"),
    mip_gap: float = options.mip_gap(),
    threads: int = typer.Option(1, "--threads", help="HiGHS threads per instance"),
    resolution: str | None = options.resolution(),
    representative_days: int | None = options.representative_days(),
    method: str = options.method(),
    marginals: bool = options.marginals(),
) -> None:
    """Re-plan every instance under INPUT_DIR, each in its own process; resumable; with a
    diff against last night. Exit 0 when every instance has a solution."""
    from rich.console import Console

    from .solver.config import METHODS

    err = Console(stderr=True, soft_wrap=True, highlight=False)
    out = Console(soft_wrap=True, highlight=False)

    def fail(message: str, code: int) -> None:
        err.print(message, markup=False)
        raise typer.Exit(code)

    if resolution not in (None, "hourly", "representative"):
        fail(f"--resolution: expected 'hourly' or 'representative', got {resolution!r}", 2)
    if method not in METHODS:
        fail(f"--method: expected one of {', '.join(METHODS)}, got {method!r}", 2)
    try:
        result = batch(input_dir, out_dir, compare=compare, warm_start_from=warm_start_from,
                       resume=resume, workers=workers, scheduler=scheduler,
                       wall_margin_s=wall_margin, quiet=quiet, console=err,
                       time_limit=time_limit, mip_gap=mip_gap, threads=threads,
                       resolution=resolution, representative_days=representative_days,
                       method=method, marginals=marginals)
    except BatchError as exc:
        fail(str(exc), 2)
    except Exception as exc:  # noqa: BLE001 - the CLI reports, never dumps a traceback
        if os.environ.get("HASHPIVOT_DEBUG"):
            raise
        fail(f"batch: error: {type(exc).__name__}: {exc}", 1)
    report(result, out, err)
    code = result.exit_code
    if code:
        raise typer.Exit(code)


def report(result: BatchResult, out, err) -> None:
    """The command's last words: a summary line on ``out``; on ``err`` every instance
    that failed, and why (Rich consoles)."""
    rows = result.rows
    solved = int((rows["exit_code"] == 0).sum())
    for note in result.notes:
        err.print(f"note: {note}", markup=False)
    out.print(f"batch: {solved} of {len(rows)} instances have a solution "
              f"({int(rows['resumed'].sum())} resumed, {int(rows['warm_started'].sum())} "
              f"warm-started) in {result.seconds:.1f} s; {result.out_dir / 'batch.md'}",
              markup=False)
    if result.diff is not None:
        changed = result.diff.loc[result.diff["change"] != "npv", "instance"].nunique()
        out.print(f"changes since last night: {changed} instance(s) changed; "
                  f"{result.out_dir / 'diff.md'}", markup=False)
    failed = result.failed
    if len(failed):
        err.print(f"{len(failed)} of {len(rows)} instances failed:", markup=False)
        for r in failed.to_dict(orient="records"):
            err.print(f"  {r['instance']}: {r['status']} (exit {r['exit_code']}): "
                      f"{r['error']}", markup=False)


app = typer.Typer(add_completion=False, pretty_exceptions_enable=False,
                  help="Nightly batch re-planning.")
app.command(name="batch")(batch_command)
# no ``python -m optimizer.batch``: multiprocessing would re-run this module as the main
# module of every process the workers fork; run ``python -m optimizer batch`` (or
# ``python -c "from optimizer.batch import app; app()"``)
