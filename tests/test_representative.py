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
    """The first HiGHS run of a process sizes its thread pool; a later solve with a
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


def test_hand_made_days_give_the_medians_of_the_three_price_groups():
    """Eleven days of one flat price each (USD/MWh), day 4 not clustered (a kept peak day):

        day    0   1   2   3   4     5   6   7   8   9   10
        price  52  10  90  12  1000  50  17  11  53  14  92

    The 10 x 24 hours clustered have their 5 % quantile at 10 and their 95 % one at 92
    (240 values, 24 per day: positions 11.95 and 227.05), so nothing is clipped and the
    distance between two days is proportional to their price difference. With K = 3 the
    clusters are the three groups split by the gaps 17 -> 50 and 53 -> 90; in one
    dimension a medoid is a median: 12 (day 3; distances 2+1+2+5 = 10, against 11 from
    11 and 12 from 14) for {10, 11, 12, 14, 17}, 52 (day 0) for {50, 52, 53}, and for
    {90, 92} both days are 2 from the other: the earlier, day 2. The constant
    temperature column is dropped."""
    import pandas as pd

    from optimizer.time.representative import _cluster

    price = np.repeat([52.0, 10, 90, 12, 1000, 50, 17, 11, 53, 14, 92], 24)
    profiles = pd.DataFrame({"price": price, "temp": np.full(len(price), 25.0)})
    days = np.array([0, 1, 2, 3, 5, 6, 7, 8, 9, 10])
    assert sorted(_cluster(days, profiles, 3)) == [(0, 3), (2, 2), (3, 5)]


def test_a_two_day_cluster_is_represented_by_its_earlier_day():
    """Days at 5, 6 and 20 on one axis, medoids handed over as rows 1 and 2: the cluster
    {5, 6} has both days 1 from the other, so its representative is the earlier row 0,
    whichever of the two the search returned; row 2 is alone."""
    from optimizer.time.representative import _clusters, _distances

    dist = _distances(np.array([[5.0], [6.0], [20.0]]))
    assert _clusters(dist, np.array([1, 2])) == [(0, 2), (2, 1)]


def _random_profiles(n_days: int, seed: int):
    import pandas as pd

    rng = np.random.default_rng(seed)
    return pd.DataFrame({"price": rng.gamma(2.0, 30.0, n_days * 24),
                         "temp": np.repeat(rng.normal(20, 8, n_days), 24)})


def test_clusters_minimise_the_total_distance_to_the_medoids():
    """16 random days at K = 4: the total distance of the days to their medoids is the
    minimum over all 1,820 medoid sets (brute force; 22.2611, days 0, 7, 8, 12). One
    FasterPAM run from the first start stops at a local optimum 0.29 % above it
    (days 0, 3, 10, 12); the restarts reach the optimum."""
    from itertools import combinations

    from optimizer.time.representative import _cluster, _day_features, _distances

    profiles = _random_profiles(16, seed=6)
    days = np.arange(16)
    dist = _distances(_day_features(days, profiles))
    best = min(dist[:, list(m)].min(axis=1).sum() for m in combinations(range(16), 4))
    clusters = sorted(_cluster(days, profiles, 4))
    medoids = [d for d, _ in clusters]
    assert dist[:, medoids].min(axis=1).sum() == pytest.approx(best, rel=1e-12)
    assert medoids == [0, 7, 8, 12] and sum(n for _, n in clusters) == 16


def _repeated_shapes():
    """90 days, each a copy of one of 6 random day shapes (15 copies each, shuffled):
    every set of 8 medoids that holds the 6 shapes has total distance 0, so which
    copies become medoids, and the cluster sizes, depend on the random starts alone."""
    import pandas as pd

    rng = np.random.default_rng(5)
    shapes = rng.gamma(2.0, 30.0, (6, 24))
    order = rng.permutation(np.repeat(np.arange(6), 15))
    return pd.DataFrame({"price": shapes[order].ravel()})


def test_clustering_is_the_same_in_another_process():
    """The random starts are seeded: on days with many optimal clusterings the same
    medoids and sizes come out here, again here, and in a fresh interpreter."""
    from optimizer.time.representative import _cluster

    days = np.arange(90)
    here = sorted(_cluster(days, _repeated_shapes(), 8))
    assert sorted(_cluster(days, _repeated_shapes(), 8)) == here
    code = ("import numpy as np; from tests.test_representative import _repeated_shapes; "
            "from optimizer.time.representative import _cluster; "
            "print(sorted(_cluster(np.arange(90), _repeated_shapes(), 8)))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, check=True)
    assert proc.stdout.strip() == str(here)
    assert len(here) == 8 and sum(n for _, n in here) == 90


def test_default_thread_count_is_every_usable_core():
    """Without --threads HiGHS gets every core this process may use (its own default is
    half, which leaves the analytic centre on the main thread); its log says so."""
    from optimizer.solver.config import default_threads

    res = solve(load_instance(QUICKSTART), representative_days=4, method="monolithic")
    n = default_threads()
    assert f"Thread count {n} (of {n} threads)" in res.solver_log
