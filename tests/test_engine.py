"""The Dask engine under faults, on a real LocalCluster of two worker processes."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from optimizer.engine import Engine


def flaky(i: int, folder: str) -> int:
    """Task 2 kills its worker the first time only, task 3 every time, task 4 raises."""
    marker = Path(folder) / f"killed-{i}"
    if i == 2 and not marker.exists():
        marker.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    if i == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    if i == 4:
        raise ValueError("a scenario that fails")
    return 10 * i


def test_a_killed_worker_costs_its_task_only_and_is_retried_once(tmp_path):
    with Engine(workers=2) as engine:
        outcomes = {o.key: o for o in engine.run(flaky, [(str(i), (i, str(tmp_path)))
                                                         for i in range(6)])}
    assert {k: o.value for k, o in outcomes.items() if o.ok} == {"0": 0, "1": 10, "2": 20,
                                                                  "5": 50}
    assert outcomes["3"].error.startswith("the worker process died while solving it, twice")
    assert outcomes["4"].error == "ValueError: a scenario that fails"


def killer_or_sleeper(name: str) -> str:
    """The task "killer" kills its worker every time; the others take 3 s."""
    if name == "killer":
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(3.0)
    return name


def test_tasks_waiting_for_a_worker_do_not_die_with_it():
    """Four tasks on two workers, each its own group (as a batch's instances are): the
    scheduler queues only groups of more than twice the threads, so sent to the workers
    at once, the tasks waiting behind "killer" would die with each worker it kills and,
    twice, fail."""
    names = ["killer", "one", "two", "three"]
    with Engine(workers=2) as engine:
        outcomes = {o.key: o for o in engine.run(killer_or_sleeper, [(n, (n,)) for n in names])}
    assert {k: o.value for k, o in outcomes.items() if o.ok} == {n: n for n in names[1:]}
    assert outcomes["killer"].error.startswith("the worker process died while solving it, "
                                               "twice")
