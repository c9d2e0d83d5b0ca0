"""Nightly batches (optimizer/batch.py) on real Dask worker processes: one row per
instance whatever happens to it, the wall-time guard, resume after the batch is killed
outright, the diff against last night, the warm start, the lock.

Tiny one-month instances (February 2027, 672 hours, discount rate 0); the NPVs are
derived by hand in the docstrings.
"""

from __future__ import annotations

import copy
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest
import yaml
from conftest import (
    base_instance,
    base_site,
    horizon_hours,
    mandatory_contract,
    mining_known_answer,
    write_series,
)
from rich.console import Console
from typer.testing import CliRunner

from optimizer.batch import (
    KILL_HOOK,
    LOCK_NAME,
    STALL_HOOK,
    BatchError,
    BatchLocked,
    acquire_lock,
    app,
    batch,
    release_lock,
    report,
    structure_difference,
)
from optimizer.engine import Engine

ROOT = Path(__file__).resolve().parent.parent
CLI = "from optimizer.batch import app; app()"


def write_instance(folder: Path, data: dict, series: dict | None = None) -> Path:
    """``folder/instance.yaml`` (+ ``series.csv``) from an instance dict."""
    folder.mkdir(parents=True, exist_ok=True)
    data = copy.deepcopy(data)
    if series:
        write_series(folder, horizon_hours(data), series)
        data["series"] = {"file": "series.csv"}
    path = folder / "instance.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def rows_by_instance(result) -> dict[str, dict]:
    return {r["instance"]: r for r in result.rows.to_dict(orient="records")}


@pytest.fixture(scope="module")
def engine():
    """Two workers shared by the tests of this file. The hooks are read by the workers,
    so they are in the environment before the workers start: the worker that picks up
    the instance ``crash`` kills itself (every time), and the process solving
    ``stalled`` sleeps for an hour before loading it."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(KILL_HOOK, "crash")
        mp.setenv(STALL_HOOK, "stalled")
        with Engine(workers=2) as eng:
            yield eng


def test_four_instances_four_rows_whatever_happens_to_each(tmp_path, engine):
    """ok solves (NPV 7 560 USD, see ``mining_known_answer``); bad is invalid (0 periods, no site:
    exit 2, nothing written); infeasible has a mandatory contract for 100 servers of
    10 kW (1 MW) at a site without an AI hall (exit 3, explained in its folder); crash
    kills its worker, is retried once on the other, kills that one too (exit 1). The
    failed exit codes differ (2, 3, 1), so the batch exits 1."""
    source = tmp_path / "in"
    write_instance(source / "ok", *mining_known_answer())
    write_instance(source / "crash", *mining_known_answer())
    write_instance(source / "bad", base_instance(horizon={"periods": 0}, sites=[]))
    write_instance(source / "infeasible", mandatory_contract(100, capex_usd=1000))
    out = tmp_path / "out"

    result = batch(source, out, engine=engine, quiet=True, mip_gap=1e-9)

    rows = rows_by_instance(result)
    assert sorted(rows) == ["bad", "crash", "infeasible", "ok"]
    assert {k: (r["status"], r["exit_code"]) for k, r in rows.items()} == {
        "ok": ("optimal", 0), "bad": ("invalid", 2), "infeasible": ("infeasible", 3),
        "crash": ("crashed", 1)}
    assert result.exit_code == 1
    assert rows["ok"]["npv_usd"] == pytest.approx(7560.0, rel=1e-9)
    assert rows["ok"]["run_folder"] == "runs/ok"
    assert json.loads((out / "runs/ok/summary.json").read_text())["npv_usd"] == \
        pytest.approx(7560.0, rel=1e-9)
    bad_file = source / "bad" / "instance.yaml"
    assert rows["bad"]["error"] == (f"{bad_file}: horizon.periods: must be >= 1 (got 0); "
                                    f"{bad_file}: sites: must have at least 1 item(s) (got [])")
    assert not (out / "runs" / "bad").exists()
    assert (out / "runs/infeasible/infeasibility.csv").is_file()
    assert rows["infeasible"]["error"].startswith("the model is infeasible: ")
    assert "site s" in rows["infeasible"]["error"]
    assert rows["crash"]["error"].startswith("the worker process died while solving it, twice")
    assert not (out / "runs" / "crash").exists()
    # the tables on disk are the rows returned; the lock is gone
    table = pd.read_csv(out / "batch.csv", dtype={"instance": str})
    assert dict(zip(table["instance"], table["exit_code"])) == {
        "bad": 2, "crash": 1, "infeasible": 3, "ok": 0}
    md = (out / "batch.md").read_text()
    assert "1 of 4 instances have a solution; 3 failed" in md
    assert "- `crash`: crashed (exit 1): the worker process died" in md
    assert not (out / LOCK_NAME).exists()
    # what the command prints: failures on stderr, by instance, with why
    stdout, stderr = Console(file=io.StringIO(), width=400), Console(file=io.StringIO(),
                                                                      width=400)
    report(result, stdout, stderr)
    assert stderr.file.getvalue().splitlines() == [
        "3 of 4 instances failed:",
        f"  bad: invalid (exit 2): {rows['bad']['error']}",
        f"  crash: crashed (exit 1): {rows['crash']['error']}",
        f"  infeasible: infeasible (exit 3): {rows['infeasible']['error']}"]
    assert stdout.file.getvalue().startswith("batch: 1 of 4 instances have a solution (0 "
                                             "resumed, 0 warm-started) in ")


def test_an_instance_that_outlives_its_wall_time_guard_is_killed(tmp_path, engine):
    """The process solving ``stalled`` sleeps an hour; with a 1 s time limit and a 2 s
    margin the worker kills it 3 s after it started; ``ok`` is solved meanwhile."""
    source = tmp_path / "in"
    write_instance(source / "stalled", *mining_known_answer())
    write_instance(source / "ok", *mining_known_answer())

    result = batch(source, tmp_path / "out", engine=engine, quiet=True, time_limit=1.0,
                   wall_margin_s=2.0)

    rows = rows_by_instance(result)
    assert rows["stalled"]["status"] == "overran"
    assert rows["stalled"]["exit_code"] == 1
    assert rows["stalled"]["error"] == ("still running 3 s after it started (time limit 1 s "
                                        "+ wall margin 2 s): the solving process was killed")
    assert rows["ok"]["exit_code"] == 0
    assert result.exit_code == 1


def forked_by_forkserver(proc: psutil.Process) -> bool:
    try:
        parent = proc.parent()
        return parent is not None and "forkserver" in " ".join(parent.cmdline())
    except psutil.Error:  # gone meanwhile
        return False


def test_a_solving_process_that_dies_is_a_row(tmp_path, engine):
    """The process solving ``stalled`` (forked by a worker's forkserver, without the
    malloc setting Dask gives its workers) is SIGKILLed from outside, as the kernel's
    out-of-memory killer would: its row says so and the worker lives on."""
    write_instance(tmp_path / "in" / "stalled", *mining_known_answer())
    # an earlier test's ``crash`` kills workers: wait until both are back before the count
    engine.client.wait_for_workers(2, timeout=60)
    workers = set(engine.client.run(os.getpid).values())
    assert len(workers) == 2
    done: dict = {}
    thread = threading.Thread(target=lambda: done.update(
        result=batch(tmp_path / "in", tmp_path / "out", engine=engine, quiet=True)))
    thread.start()
    deadline = time.monotonic() + 120
    solving: list = []
    while not solving:
        assert time.monotonic() < deadline, "no solving process appeared"
        time.sleep(0.1)
        solving = [p for w in workers for p in psutil.Process(w).children(recursive=True)
                   if forked_by_forkserver(p)]
    # Dask starts its workers with it; it would slow HiGHS down 2.4 times (batch.py)
    assert [p.environ().get("MALLOC_TRIM_THRESHOLD_") for p in solving] == [None]
    for p in solving:
        p.kill()
    thread.join(120)

    row = rows_by_instance(done["result"])["stalled"]
    assert (row["status"], row["exit_code"], row["error"]) == (
        "crashed", 1, "the process solving it died of SIGKILL (killed, perhaps out of memory)")
    assert set(engine.client.run(os.getpid).values()) == workers


# ------------------------------------------------------------------------------- diff

def plan_night(gpu_capex_usd: float, price_usd_per_mwh: float) -> tuple[dict, dict]:
    """One site with a 1.1 MW AI hall, a flat power price, and three choices:
    - GPU g (8 GPUs, 10 kW, spot 1 USD/GPU-h, life 5 y, at most 10 units): a unit earns
      672 h x (8 - 0.01 x price) and loses capex x 672 / (5 x 8760) of value (the
      residual value is kept);
    - lease la (optional, 1 MW air, 5 USD/kW-month, energy at 40 USD/MWh): 5 000 +
      672 x (40 - price);
    - virtual PPA va (optional, 2 MW, strike 40): 2 x 672 x (price - 40).
    Last night (capex 1 000 000, price 50): GPU 5 040 - 15 342.47 < 0: none; lease
    -1 720: declined; PPA +13 440: signed. NPV 13 440.
    Tonight (capex 200 000, price 20): GPU 5 241.6 - 3 068.49 = 2 173.11 per unit: 10
    units (capex 2 000 000); lease 18 440: accepted; PPA -26 880: dropped.
    NPV 10 x 2 173.106849 + 18 440 = 40 171.068493; change +26 731.068493 (+198.89 %)."""
    data = base_instance(
        sites=[base_site(grid={"price_usd_per_mwh": {"column": "price"}},
                         halls={"mining_mw": 0.0, "ai_mw": 1.1})],
        gpu_products=[{"id": "g", "gpus_per_unit": 8, "it_kw": 10.0, "cooling": "air",
                       "capex_usd": gpu_capex_usd, "lead_periods": 0, "life_years": 5,
                       "max_units_per_period": 10, "spot_price_usd_per_gpu_hour": 1.0}],
        leases=[{"id": "la", "site": "s", "it_mw": 1.0, "cooling": "air",
                 "price_usd_per_kw_month": 5.0, "energy_rate_usd_per_mwh": 40.0,
                 "start_period": 0, "end_period": 1, "optional": True}],
        ppas=[{"id": "va", "site": "s", "kind": "virtual", "baseload_mw": 2.0,
               "strike_usd_per_mwh": 40.0, "start_period": 0, "end_period": 1,
               "optional": True}])
    return data, {"price": lambda h: 0.0 * h + price_usd_per_mwh}


def test_diff_finds_and_attributes_the_plan_change(tmp_path, engine):
    """Two nights whose inputs differ by one price series and one GPU price (see
    ``plan_night``); ``gone`` exists last night only, ``new`` tonight only."""
    night1, night2 = tmp_path / "in1", tmp_path / "in2"
    write_instance(night1 / "site", *plan_night(1.0e6, 50.0))
    write_instance(night1 / "gone", *mining_known_answer())
    write_instance(night2 / "site", *plan_night(2.0e5, 20.0))
    write_instance(night2 / "new", *mining_known_answer())
    # the first night has no predecessor: noted, not refused; every instance is new
    first = batch(night1, tmp_path / "out1", engine=engine, quiet=True, mip_gap=1e-9,
                  compare=tmp_path / "none", warm_start_from=tmp_path / "none")
    assert first.exit_code == 0
    assert first.notes == [
        f"--compare: {tmp_path / 'none'} does not exist; tonight is compared with nothing "
        "and starts cold",
        f"--warm-start-from: {tmp_path / 'none'} does not exist; tonight is compared with "
        "nothing and starts cold"]
    assert sorted(zip(first.diff["instance"], first.diff["change"])) == [
        ("gone", "instance_new"), ("site", "instance_new")]

    result = batch(night2, tmp_path / "out2", engine=engine, quiet=True, mip_gap=1e-9,
                   compare=tmp_path / "out1", warm_start_from=tmp_path / "out1")

    assert result.exit_code == 0
    rows = rows_by_instance(result)
    assert (rows["site"]["warm_started"], rows["site"]["warm_start_note"]) == (True, "used")
    assert (rows["new"]["warm_started"], rows["new"]["warm_start_note"]) == (
        False, "not used: no run folder last night")
    diff = pd.read_csv(tmp_path / "out2" / "diff.csv")
    site = diff[diff["instance"] == "site"]
    npv = site[site["change"] == "npv"].iloc[0]
    assert (npv["before"], npv["after"]) == (pytest.approx(13440.0, rel=1e-9),
                                            pytest.approx(40171.068493, rel=1e-9))
    assert npv["delta"] == pytest.approx(26731.068493, rel=1e-9)
    assert npv["delta_pct"] == pytest.approx(26731.068493 / 13440.0 * 100, rel=1e-9)
    plan = site[site["change"].str.startswith(("plan_", "deal_"))]
    assert sorted(zip(plan["change"], plan["period"], plan["site"], plan["kind"],
                      plan["item"], plan["before"], plan["after"], plan["capex_delta_usd"])) \
        == [("deal_accepted", 0, "s", "lease", "la", 0.0, 1.0, 0.0),
            ("deal_dropped", 0, "s", "ppa", "va", 1.0, 0.0, 0.0),
            ("plan_added", 0, "s", "gpu", "g", 0.0, 10.0, 2.0e6)]
    inputs = site[site["change"] == "input"].set_index("item")
    assert sorted(inputs.index) == ["gpu_products[g].capex_usd", "series.price"]
    assert (inputs.loc["gpu_products[g].capex_usd", "before"],
            inputs.loc["gpu_products[g].capex_usd", "after"]) == (1.0e6, 2.0e5)
    assert inputs.loc["series.price", "note"] == "672 of 672 hours differ; mean 50 -> 20"
    # the terms account for the whole NPV change
    terms = site[site["change"] == "npv_term"].set_index("item")["delta"]
    assert terms.sum() == pytest.approx(npv["delta"], rel=1e-9)
    assert terms["gpu_capex"] == pytest.approx(-2.0e6)
    assert set(diff.loc[diff["instance"] == "new", "change"]) == {"instance_new"}
    assert set(diff.loc[diff["instance"] == "gone", "change"]) == {"instance_gone"}
    md = (tmp_path / "out2" / "diff.md").read_text()
    # new and gone first, then the instance with the largest NPV change
    assert md.index("| `gone`") < md.index("| `site`") and md.index("| `new`") < \
        md.index("| `site`")
    assert "## `site`: NPV +26,731 USD (+198.89 %)" in md
    assert "- accepted lease `la` (site s, period 0)" in md
    assert "- dropped ppa `va` (site s, period 0)" in md
    assert "| 0 | s | gpu | g | added | 0 | 10 | +2,000,000 |" in md
    assert "- `gpu_products[g].capex_usd`: 1000000.0 -> 200000.0" in md


def test_warm_start_needs_the_same_horizon_and_ids():
    night = plan_night(1.0e6, 50.0)[0]
    assert structure_difference(night, plan_night(2.0e5, 20.0)[0]) == ""
    other = copy.deepcopy(night)
    other["ppas"][0]["id"] = "vb"
    assert structure_difference(night, other) == "the ids changed: new ppas[vb]; gone ppas[va]"
    later = copy.deepcopy(night)
    later["horizon"]["start"] = "2027-03-01"
    assert structure_difference(night, later) == (
        "the horizon changed (start 2027-02-01 -> 2027-03-01)")


# ------------------------------------------------------------------------------- resume

def flat_mining() -> dict:
    """``mining`` at a flat 20 USD/MWh (no series file): every hour mines, margin 50 -
    30 = 20 USD/MWh. NPV = 672 h x 3 MW x 20 - 0.5 MW x 672 x 25 = 40 320 - 8 400 =
    31 920 USD."""
    data, _ = mining_known_answer()
    data["sites"][0]["grid"]["price_usd_per_mwh"] = 20.0
    return data


def test_resume_after_the_batch_is_killed(tmp_path, engine):
    """A batch on one worker (its own process) solves ``a`` and ``b`` (largest files
    first) and is SIGKILLed while the process solving ``slow`` sleeps; every process it
    started goes with it, batch.csv keeps the two finished rows, the lock stays behind.
    Resumed after ``b``'s input changed (price 20 -> 10 on even hours: NPV 7 560 + 336 h
    x 3.5 MW x 10 = 19 320), the batch takes the stale lock over, keeps ``a`` as it was,
    solves ``b`` and ``slow`` (31 920, ``flat_mining``), and ``bad`` is invalid."""
    source, out = tmp_path / "in", tmp_path / "out"
    for name in ("a", "b"):
        write_instance(source / name, *mining_known_answer())
    write_instance(source / "slow", flat_mining())
    write_instance(source / "bad", base_instance(horizon={"periods": 0}))
    env = {**os.environ, STALL_HOOK: "slow"}
    env.pop(KILL_HOOK, None)
    proc = subprocess.Popen([sys.executable, "-c", CLI, str(source), "--out", str(out),
                             "--workers", "1", "--quiet", "--mip-gap", "1e-9"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        finished: set = set()
        deadline = time.monotonic() + 300
        while finished != {"a", "b"}:
            assert proc.poll() is None, f"the batch ended with {proc.returncode}"
            assert time.monotonic() < deadline, f"only {finished} finished"
            time.sleep(0.2)
            if (out / "batch.csv").exists():  # replaced atomically: never half written
                table = pd.read_csv(out / "batch.csv")
                finished = set(table.loc[table["status"] != "pending", "instance"])
        family = psutil.Process(proc.pid).children(recursive=True)
        assert len(family) >= 3  # the worker, its forkserver, the sleeping solve, ...
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    _, alive = psutil.wait_procs(family, timeout=60)
    assert alive == []
    table = pd.read_csv(out / "batch.csv").set_index("instance")
    assert dict(table["status"]) == {"a": "optimal", "b": "optimal", "bad": "pending",
                                     "slow": "pending"}
    assert json.loads((out / LOCK_NAME).read_text())["pid"] == proc.pid
    a_summary = (out / "runs/a/summary.json").read_bytes()
    assert not (out / "runs/slow").exists()
    write_instance(source / "b", *mining_known_answer(price_even=10.0))

    result = batch(source, out, resume=True, engine=engine, quiet=True, mip_gap=1e-9)

    assert result.exit_code == 2
    rows = rows_by_instance(result)
    assert {k: (r["status"], r["resumed"]) for k, r in rows.items()} == {
        "a": ("optimal", True), "b": ("optimal", False), "bad": ("invalid", False),
        "slow": ("optimal", False)}
    assert rows["a"]["npv_usd"] == pytest.approx(7560.0, rel=1e-9)
    assert rows["b"]["npv_usd"] == pytest.approx(19320.0, rel=1e-9)
    assert rows["slow"]["npv_usd"] == pytest.approx(31920.0, rel=1e-9)
    assert (out / "runs/a/summary.json").read_bytes() == a_summary
    assert not (out / LOCK_NAME).exists()


# ------------------------------------------------------------------------------- lock

def test_a_second_batch_on_the_same_folder_is_refused_until_the_first_is_gone(tmp_path):
    """Another process holds the lock: the batch is refused before anything starts,
    naming that process. Once it is killed, its lock is stale and is taken over."""
    out = tmp_path / "out"
    out.mkdir()
    write_instance(tmp_path / "in" / "a", *mining_known_answer())
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from optimizer.batch import acquire_lock; "
         "acquire_lock(sys.argv[1]); print('locked', flush=True); time.sleep(600)", str(out)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        record = json.loads((out / LOCK_NAME).read_text())
        refused = CliRunner().invoke(app, [str(tmp_path / "in"), "--out", str(out)])
        assert refused.exit_code == 2
        assert refused.stderr.replace("\n", "") == (
            f"{out}: another batch is writing there: pid {holder.pid} on host "
            f"{socket.gethostname()}, started {record['started_at']} ({record['command']}). "
            f"Wait for it to end, or remove the lock file {out / LOCK_NAME} if that process "
            "is gone.")
        assert not (out / "batch.csv").exists()
    finally:
        holder.kill()
        holder.wait()
    mine = acquire_lock(out)
    assert json.loads((out / LOCK_NAME).read_text())["pid"] == os.getpid()
    with pytest.raises(BatchLocked):  # held by this very process now
        acquire_lock(out)
    release_lock(out, mine)
    assert sorted(p.name for p in out.iterdir()) == []


def test_nested_instance_folders_are_refused_before_anything_starts(tmp_path):
    write_instance(tmp_path / "in" / "a", *mining_known_answer())
    write_instance(tmp_path / "in" / "a" / "b", *mining_known_answer())
    with pytest.raises(BatchError) as refused:
        batch(tmp_path / "in", tmp_path / "out")
    assert str(refused.value) == (
        f"{tmp_path / 'in/a/b/instance.yaml'}: is inside the instance folder "
        f"{tmp_path / 'in/a'}; their run folders would nest (runs/a/b inside runs/a): move "
        "one of them")
