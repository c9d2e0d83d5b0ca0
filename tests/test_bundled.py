"""Equalities that must hold on every bundled instance, and the run folder contract."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from optimizer.api import solve
from optimizer.instance import load_instance

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = ["quickstart", "permian-1y", "portfolio-3y"]


@pytest.fixture(params=BUNDLED)
def solved(request, bundled_run):
    return bundled_run(request.param)


def test_npv_is_the_sum_of_discounted_cash_flows(solved):
    """The discounted column of cashflows.csv rebuilds npv_usd, and npv_usd is the
    objective HiGHS reported for the incumbent (up to its tolerances)."""
    _, res, out = solved
    assert res.status == "optimal"
    cash = pd.read_csv(out / "cashflows.csv")
    assert cash["discounted_usd"].sum() == pytest.approx(res.npv_usd, rel=1e-9)
    assert np.allclose(cash["undiscounted_usd"] * cash["discount_factor"],
                       cash["discounted_usd"], rtol=1e-12)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["npv_usd"] == pytest.approx(res.npv_usd, rel=1e-12)
    # the solver's own objective and bound bracket the tables' NPV within the gap
    assert summary["best_bound_usd"] >= res.npv_usd - 1e-6 * abs(res.npv_usd)
    assert summary["mip_gap"] <= 1e-4 + 1e-12


def test_hourly_cash_flows_in_dispatch_match_the_table(solved):
    """Weighted hourly cash-flow columns of dispatch.parquet add up to the hourly terms
    of cashflows.csv, per site and period."""
    _, res, out = solved
    disp = pd.read_parquet(out / "dispatch.parquet")
    cash = pd.read_csv(out / "cashflows.csv")
    for col in [c for c in disp.columns if c.startswith("cf_")]:
        term = col[3:-len("_usd_per_h")]
        got = (disp[col] * disp["weight"]).groupby([disp["site"], disp["period"]]).sum()
        want = cash[cash["term"] == term].set_index(["site", "period"])["undiscounted_usd"]
        got = got[got.abs() > 0]
        pd.testing.assert_series_equal(got.sort_index(), want.sort_index(), check_names=False,
                                       rtol=1e-9)


def test_run_folder_has_every_file(solved):
    inst, res, out = solved
    names = {p.name for p in out.iterdir()}
    assert {"summary.json", "capex.csv", "dispatch.parquet", "cashflows.csv", "instance.yaml",
            "solver.log"} <= names
    assert inst.series_path.name in names
    disp = pd.read_parquet(out / "dispatch.parquet")
    assert len(disp) == len(inst.sites) * res.grid.n_steps
    # weights of each site's steps add up to the horizon's hours
    hours = res.grid.periods["hours"].sum()
    assert disp.groupby("site")["weight"].sum().eq(hours).all()
    summary = json.loads((out / "summary.json").read_text())
    for key in ("instance", "instance_sha256", "status", "npv_usd", "best_bound_usd", "mip_gap",
                "resolution", "timings_s", "solver", "kpis"):
        assert key in summary
    assert summary["resolution"]["steps"] == res.grid.n_steps
    log_lines = (out / "solver.log").read_text().splitlines()
    assert log_lines[-1].startswith("HiGHS run time")
    assert float(log_lines[-1].split(":")[1]) == pytest.approx(summary["highs_run_time_s"],
                                                               abs=0.01)


def test_run_folder_replays_to_the_same_npv(bundled_run):
    """The instance copy in the run folder (canonical YAML + series) is enough to replay
    the run: solving it again gives the same NPV (quickstart: seconds to solve)."""
    _, res, out = bundled_run("quickstart")
    again = solve(load_instance(out / "instance.yaml"), mip_gap=1e-4)
    assert again.npv_usd == pytest.approx(res.npv_usd, rel=1e-9)
