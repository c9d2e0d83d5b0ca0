"""Many independent solves on dask.distributed: a ``LocalCluster`` of processes sized to
the cores by default, an existing scheduler by address (``tcp://HOST:PORT``) unchanged.

Sweeps and nightly batches run on it. Each task is one scenario or one instance, so a
worker that dies costs that task only: the engine runs it once more, then reports it
failed. The engine, not the scheduler, does the retry, and never has more tasks in
flight than live worker threads: a worker then holds one task, so no bystander dies
with it (the scheduler counts every task a dead worker held as suspect, and re-queued
on a busy worker, an innocent task could die twice beside a task that kills its worker
every time). Tasks are submitted in the order given: callers order scenarios by model
structure, and each worker keeps the models it built (a per-process cache), so
consecutive scenarios of one structure re-solve a kept model. Results come back as they
finish, so the caller writes every finished row at once.

Starting a cluster on several machines (the same Python environment on each)::

    dask scheduler --port 8786                              # on the head node
    dask worker tcp://HEAD:8786 --nworkers 8 --nthreads 1   # on every compute node
    hashpivot sweep ... --scheduler tcp://HEAD:8786

One thread per worker: each solve runs HiGHS with ``threads=1`` (its MIP search is
serial, and workers sharing a machine should not compete for cores).
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

RETRIES = 1  # a task whose worker dies is run once more, then reported failed
POLL_S = 1.0  # how often the engine looks for a restarted worker while every task runs


@dataclass
class Outcome:
    """One finished task: its value, or why it failed (a sentence)."""

    key: str
    value: object = None
    error: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.error


def usable_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class Engine:
    """``with Engine(workers=2) as engine: for outcome in engine.run(fn, tasks): ...``"""

    def __init__(self, workers: int | None = None, scheduler: str | None = None,
                 retries: int = RETRIES):
        self.n_workers = workers
        self.scheduler = scheduler
        self.retries = retries
        self.client = None
        self.cluster = None
        self._config = None

    def __enter__(self) -> Engine:
        import dask
        from distributed import Client, LocalCluster

        # the scheduler reads it when it starts: set before the LocalCluster exists. It
        # reports a task whose worker died at once (allowed-failures 0) and the engine
        # re-submits it, so the retry lands on an idle worker. An external scheduler keeps
        # its own setting (dask's default: 3 retries before the engine's one).
        environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}))
        environ.pop("MALLOC_TRIM_THRESHOLD_", None)
        self._config = dask.config.set({"distributed.scheduler.allowed-failures": 0,
                                        "distributed.scheduler.worker-saturation": 1.0,
                                        "distributed.worker.daemon": False,
                                        "distributed.nanny.pre-spawn-environ": environ})
        self._config.__enter__()
        if self.scheduler:
            self.client = Client(self.scheduler, timeout="30s")
        else:
            n = self.n_workers or usable_cores()
            with warnings.catch_warnings():
                # "Port 8787 is already in use": another cluster's dashboard; ours has none
                warnings.filterwarnings("ignore", message="Port .* is already in use")
                self.cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                            dashboard_address=None,
                                            silence_logs=logging.CRITICAL)
            self.client = Client(self.cluster)
        return self

    def __exit__(self, *exc) -> None:
        try:
            if self.client is not None:
                self.client.close()
            if self.cluster is not None:
                self.cluster.close()
        finally:
            if self._config is not None:
                self._config.__exit__(None, None, None)

    @property
    def worker_addresses(self) -> list[str]:
        return sorted(self.client.scheduler_info()["workers"])

    def run(self, fn: Callable, tasks: Iterable[tuple[str, tuple]]) -> Iterator[Outcome]:
        """Run ``fn(*args)`` for every ``(key, args)``, in this order; yield an Outcome
        as each finishes. A task whose worker died runs again (``retries`` times) before
        its Outcome says so."""
        from distributed import wait

        futures: dict = {}  # future -> (key, args, deaths so far)
        retry: deque = deque()  # tasks whose worker died, before the next new ones
        started = time.perf_counter()
        pending = iter(tasks)

        def submit_more() -> None:
            # no more tasks in flight than live worker threads: the scheduler queues only
            # "root-ish" tasks and hands every other one to a worker at once, and a worker
            # that dies takes all it was handed
            slots = max(1, sum(self.client.nthreads().values()))
            while len(futures) < slots:
                if retry:
                    key, args, deaths = retry.popleft()
                else:
                    nxt = next(pending, None)
                    if nxt is None:
                        return
                    (key, args), deaths = nxt, 0
                fut = self.client.submit(fn, *args, key=f"hashpivot-{key}-{time.time_ns()}",
                                         pure=False)
                futures[fut] = (key, args, deaths)

        while True:
            submit_more()
            if not futures:
                return
            try:
                # a timeout, not a block: a worker restarted meanwhile gets work at once
                done = wait(list(futures), timeout=POLL_S, return_when="FIRST_COMPLETED").done
            except TimeoutError:
                continue
            for fut in [f for f in futures if f in done]:
                key, args, deaths = futures.pop(fut)
                try:
                    value = fut.result()
                except Exception as exc:  # noqa: BLE001 - every failure becomes a row
                    if type(exc).__name__ == "KilledWorker" and deaths < self.retries:
                        retry.append((key, args, deaths + 1))
                        continue
                    outcome = Outcome(key, error=describe(exc, deaths + 1),
                                      seconds=time.perf_counter() - started)
                else:
                    outcome = Outcome(key, value=value, seconds=time.perf_counter() - started)
                finally:
                    fut.release()  # before the caller works on the row: the worker is free
                yield outcome


def describe(exc: BaseException, deaths: int = 1) -> str:
    name = type(exc).__name__
    if name == "KilledWorker":
        if deaths == 1:
            return "the worker process died while solving it (killed, or out of memory)"
        times = "twice" if deaths == 2 else f"{deaths} times"
        again = "once" if deaths == 2 else f"{deaths - 1} times"
        return (f"the worker process died while solving it, {times} (killed, or out of "
                f"memory); it was retried {again} on another worker")
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{name}: {text}"[:500]


class Progress:
    """A Rich progress bar (count, ETA, failures so far), or one line per finished item
    for cron logs (``quiet``)."""

    def __init__(self, total: int, label: str, quiet: bool = False, console=None):
        from rich.console import Console

        self.console = console or Console(stderr=True, soft_wrap=True, highlight=False)
        self.quiet = quiet or not self.console.is_terminal
        self.total, self.done, self.failed = total, 0, 0
        self.label = label
        self._bar = None
        if not self.quiet:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("failed {task.fields[failed]}"), TimeElapsedColumn(),
                TextColumn("ETA"), TimeRemainingColumn(), console=self.console, transient=True)
            self._task = self._bar.add_task(label, total=total, failed=0)

    def __enter__(self) -> Progress:
        if self._bar is not None:
            self._bar.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)

    def advance(self, line: str, ok: bool) -> None:
        self.done += 1
        self.failed += 0 if ok else 1
        if self._bar is not None:
            self._bar.update(self._task, advance=1, failed=self.failed)
            if not ok:
                self._bar.console.print(line, markup=False)
        else:
            self.console.print(f"[{self.done}/{self.total}] {line}", markup=False)
