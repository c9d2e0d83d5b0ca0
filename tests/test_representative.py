"""Representative days: exactness at K = all days, weights, peak days, determinism."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from optimizer.api import build, solve
from optimizer.instance import load_instance

ROOT = Path(__file__).resolve().parent.parent
PERMIAN = ROOT / "instances" / "permian-1y" / "instance.yaml"
QUICKSTART = ROOT / "instances" / "quickstart" / "instance.yaml"


@pytest.fixture(scope="module")
def permian():
    return load_instance(PERMIAN)


def test_every_day_its_own_cluster_equals_hourly():
    """With K = the days of the period every day is a cluster of one, so the model is
    the hourly model with its steps in another order: same NPV to 1e-9."""
    inst = load_instance(QUICKSTART)
    hourly = solve(inst, resolution="hourly", mip_gap=1e-9)
    rep = solve(inst, representative_days=31, mip_gap=1e-9)
    assert rep.grid.mode == "representative" and rep.grid.n_steps == 744
    assert rep.npv_usd == pytest.approx(hourly.npv_usd, rel=1e-9)


def test_weights_sum_to_period_hours_and_steps_are_whole_days(permian):
    grid = build(permian, representative_days=8).data.grid
    per_period = grid.steps.groupby("period")["weight"].sum()
    assert per_period.tolist() == grid.periods["hours"].tolist()
    days = grid.steps.groupby(["period", "represented_day"])
    assert (days.size() == 24).all()
    # every represented day lies in its period
    for (p, day), _ in days:
        start, end = grid.periods.loc[p, ["start", "end"]]
        assert start.date() <= day < end.date()


def test_peak_days_are_kept_with_weight_one(permian):
    grid = build(permian, representative_days=4).data.grid
    flags = permian.series["cp_flag"]
    peak_days = {ts.date() for ts in flags[flags > 0].index}
    assert peak_days, "permian-1y has coincident-peak hours"
    kept = grid.steps.drop_duplicates("represented_day").set_index("represented_day")
    for day in peak_days:
        assert kept.loc[day, "day_count"] == 1
    # the day of each period's highest price is kept too
    price = permian.series["lz_west_usd_per_mwh"]
    for _p, row in grid.periods.iterrows():
        in_p = price[(price.index >= row["start"]) & (price.index < row["end"])]
        top = in_p.idxmax().date()
        assert kept.loc[top, "day_count"] == 1


def test_same_instance_gives_the_same_days(permian):
    from optimizer.time import representative

    a = build(permian, representative_days=6).data.grid.steps
    representative._CACHE.clear()  # recluster from scratch, not from the cache
    b = build(permian, representative_days=6).data.grid.steps
    assert a.equals(b)
    c = build(permian, representative_days=6).data.grid.steps  # from the cache
    assert c.equals(a) and c is not b


def test_weighted_mwh_and_cash_flows_use_the_weights(permian):
    """KPIs and the cash-flow table weight each represented hour by its cluster size."""
    res = solve(permian, representative_days=4, mip_gap=1e-3)
    d = res.dispatch
    w = d["weight"]
    assert res.kpis["energy_mwh"]["total_mwh"] == pytest.approx(float((w * d["load_mw"]).sum()))
    cash = res.cashflows
    grid_energy = cash[cash["term"] == "grid_energy"]["undiscounted_usd"].sum()
    assert grid_energy == pytest.approx(float((w * d["cf_grid_energy_usd_per_h"]).sum()))
    assert cash["discounted_usd"].sum() == pytest.approx(res.npv_usd, rel=1e-9)
    assert np.isclose(w.groupby(d["site"]).sum(), 8760).all()


@pytest.mark.parametrize("k", ["0", "32"])
def test_representative_days_out_of_range_is_rejected(k, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "optimizer", "solve", str(QUICKSTART), "--out",
                           str(tmp_path / "r"), "--representative-days", k],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2
    assert "--representative-days" in proc.stderr and "Traceback" not in proc.stderr


def test_thread_count_can_differ_from_the_clustering_solves():
    """tsam's k-medoids runs HiGHS first and sizes HiGHS's per-process thread pool; a
    different --threads must still solve (HiGHS refuses it unless the pool is reset)."""
    inst = load_instance(QUICKSTART)
    for threads in (2, 1):
        res = solve(inst, representative_days=4, threads=threads)
        assert res.status == "optimal", res.solver_log[-500:]


def test_a_price_spike_does_not_hide_the_price_levels_from_the_clustering():
    """20 days at two sites: days 0-11 cost 20 USD/MWh all day, days 12-19 cost 80; day 5
    has a one-hour spike of 5,000 at both sites; the temperature alternates 10 / 30 C from
    day to day. Min-max scaling alone would squeeze the 20/80 levels into 0 / 0.012 of the
    spike's range and split the days by temperature (even / odd: 10 and 10). Clipped to
    the 5-95 % quantiles, the two price columns span 0..1 each and outweigh the one
    temperature column: the two clusters of K = 2 are the 12 cheap and the 8 dear days."""
    import pandas as pd

    from optimizer.time.representative import _cluster

    days = np.arange(20)
    level = np.repeat(np.where(days < 12, 20.0, 80.0), 24)
    level[5 * 24 + 18] = 5000.0
    temp = np.repeat(np.where(days % 2 == 0, 10.0, 30.0), 24)
    profiles = pd.DataFrame({"price_a": level, "price_b": level, "temp": temp})
    clusters = _cluster(days, profiles, 2)
    (cheap, n_cheap), (dear, n_dear) = sorted(clusters)
    assert (n_cheap, n_dear) == (12, 8)
    assert cheap < 12 <= dear and cheap != 5


def test_default_thread_count_is_every_usable_core():
    """Without --threads HiGHS gets every core this process may use (its own default is
    half, which leaves the analytic centre on the main thread); its log says so."""
    from optimizer.solver.config import default_threads

    res = solve(load_instance(QUICKSTART), representative_days=4, method="monolithic")
    n = default_threads()
    assert f"Thread count {n} (of {n} threads)" in res.solver_log
