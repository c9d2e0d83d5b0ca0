"""Marginal values derived by hand, and infeasible instances explained."""

from __future__ import annotations

import pytest
from conftest import base_instance, base_site, deep_update, mandatory_contract, solve_exact

from optimizer.api import solve

HOURS_FEB_2027 = 28 * 24  # 672
# 100 TH at 50 USD/PH/day earns 100 * 50 / 1000 / 24 = 0.208333 USD/h on 3 kW:
# 69.444 USD/MWh of mining revenue
REVENUE_PER_MWH = 100 * 50 / 1000 / 24 / 0.003
PRICE = 20.0


def mining_site(**overrides) -> dict:
    return deep_update(base_site(
        grid={"import_limit_mw": 2.0, "price_usd_per_mwh": PRICE},
        halls={"mining_mw": 10.0},
        fleet=[{"id": "m", "units": 1000, "hashrate_th": 100, "power_kw": 3.0,
                "cooling": "air"}]), overrides)


def test_import_limit_marginal_is_the_mining_margin(make_instance):
    """1000 ASICs want 3 MW, the interconnect gives 2 MW, so mining runs at 2 MW every
    hour and one more MW of import limit is worth the mining margin for the whole
    period: (69.444 - 20) USD/MWh * 672 h = 33,226.67 USD (discount rate 0). Cooling
    (100 MW) and the mining hall (10 MW) are slack, so their marginal values are 0."""
    inst = make_instance(base_instance(market={"hashprice_usd_per_ph_day": 50.0},
                                       sites=[mining_site()]))
    res = solve_exact(inst)
    m = res.marginals.set_index(["group", "site", "item", "period"])["marginal_value"]
    expected = (REVENUE_PER_MWH - PRICE) * HOURS_FEB_2027
    assert m["import_limit", "s", "", 0] == pytest.approx(expected, rel=1e-9)
    assert m["cooling", "s", "air", 0] == pytest.approx(0.0, abs=1e-6)
    assert m["mining_hall", "s", "", 0] == pytest.approx(0.0, abs=1e-6)
    assert set(res.marginals["unit"]) <= {"usd_per_mw", "usd_per_unit", "usd_per_usd"}


def test_cooling_marginal_counts_the_derate(make_instance):
    """Now air cooling (2 MW nameplate) binds instead of the 10 MW interconnect, and the
    site is hot: ambient 45 C against a 35 C rating with 2 %/C derate gives a factor of
    0.8, so 2 MW of cooling carries 1.6 MW of ASICs. One more MW of nameplate cooling
    carries 0.8 MW more mining in every hour: 0.8 * 49.444 * 672 = 26,581.33 USD."""
    site = mining_site(grid={"import_limit_mw": 10.0, "price_usd_per_mwh": PRICE},
                       ambient_c=45.0,
                       cooling={"air": {"capacity_mw": 2.0, "derate_per_c": 0.02,
                                        "rated_ambient_c": 35.0}})
    inst = make_instance(base_instance(market={"hashprice_usd_per_ph_day": 50.0},
                                       sites=[site]))
    res = solve_exact(inst)
    m = res.marginals.set_index(["group", "site", "item", "period"])["marginal_value"]
    assert res.dispatch["run_m"].iloc[0] == pytest.approx(1.6 / 0.003, rel=1e-9)
    assert m["cooling", "s", "air", 0] == pytest.approx(
        0.8 * (REVENUE_PER_MWH - PRICE) * HOURS_FEB_2027, rel=1e-9)
    assert m["import_limit", "s", "", 0] == pytest.approx(0.0, abs=1e-6)


def test_marginals_file_is_written(make_instance, tmp_path):
    inst = make_instance(base_instance(market={"hashprice_usd_per_ph_day": 50.0},
                                       sites=[mining_site()]))
    out = solve(inst).write(tmp_path / "run")
    assert (out / "marginals.csv").read_text().startswith(
        "group,site,item,period,marginal_value,unit")


def lease_instance(make_instance, import_limit_mw: float, lease: dict):
    """A site with a 50 MW AI hall, air cooling only, and one mandatory lease."""
    site = base_site(halls={"mining_mw": 0.0, "ai_mw": 50.0},
                     grid={"import_limit_mw": import_limit_mw, "price_usd_per_mwh": 30.0})
    lease = {"site": "s", "price_usd_per_kw_month": 130, "start_period": 0, "end_period": 1,
             **lease}
    return make_instance(base_instance(sites=[site], leases=[lease]))


def test_firm_lease_without_liquid_cooling_is_explained(make_instance, tmp_path):
    """A mandatory 40 MW liquid-cooled lease at a site with no liquid cooling: the model
    is infeasible (exit status infeasible) and the explanation names the cooling group,
    the site and the 40 MW shortfall in every hour of the lease."""
    inst = lease_instance(make_instance, 100.0,
                          {"id": "tenant-b", "it_mw": 40, "cooling": "liquid"})
    res = solve(inst)
    assert res.status == "infeasible" and res.exit_code == 3
    table = res.infeasibility
    assert list(table["group"]) == ["cooling"]
    row = table.iloc[0]
    assert (row["site"], row["item"], row["max_slack"], row["hours"]) == (
        "s", "liquid", pytest.approx(40.0), HOURS_FEB_2027)
    assert res.explanation == [
        "cooling: site s needs more liquid cooling than is available (derated on hot hours)"
        " (committed: lease tenant-b 40 MW); short by up to 40 MW in 672 hours from period 0"
        " (2027-02-01)."]
    out = res.write(tmp_path / "run")
    assert (out / "infeasibility.csv").exists()


def test_firm_load_above_import_limit_is_explained(make_instance):
    """A mandatory 30 MW air lease behind a 20 MW interconnect: import_limit short by
    10 MW in every hour."""
    inst = lease_instance(make_instance, 20.0, {"id": "big", "it_mw": 30, "cooling": "air"})
    res = solve(inst)
    assert res.exit_code == 3
    row = res.infeasibility.set_index("group").loc["import_limit"]
    assert row["max_slack"] == pytest.approx(10.0)
    assert any(line.startswith("import_limit: site s") for line in res.explanation)


def test_budget_too_small_for_a_mandatory_purchase_is_explained(make_instance):
    """A mandatory contract for 10 units of a 250k USD server with lead 0 needs 2.5 M USD
    of capex in period 0; the budget is 1 M USD. Money fixes it: 1.5 M USD over budget
    costs 1.5 in the elastic objective (1e-6 per USD), against 6 missing units * 10 kW
    * 672 h = 40.3 MWh for buying only 4, so the explanation names capex_budget and the
    1.5 M USD overrun."""
    inst = make_instance(mandatory_contract(10, halls={"mining_mw": 0.0, "ai_mw": 50.0},
                                            capex_budget_usd=1.0e6))
    res = solve(inst)
    assert res.exit_code == 3
    assert list(res.infeasibility["group"]) == ["capex_budget"]
    assert res.infeasibility["max_slack"].iloc[0] == pytest.approx(1.5e6)
    assert any(line.startswith("capex_budget:") and "1.5e+06 USD" in line
               for line in res.explanation), res.explanation


def test_contract_without_hall_space_is_explained(make_instance):
    """A mandatory contract for 100 units (1 MW of IT) at a site with no AI hall and no
    conversion: the units cannot be installed (ai_hall, 1 MW * 672 h = 672 MWh) or, if
    not bought, are missing hour by hour (gpu_available, 100 units * 10 kW * 672 h =
    672 MWh). Both cost the same; either way the site and a group at fault are named."""
    inst = make_instance(mandatory_contract(100, capex_usd=1000))
    res = solve(inst)
    assert res.exit_code == 3
    assert set(res.infeasibility["group"]) <= {"ai_hall", "gpu_available"}
    assert res.infeasibility["site"].eq("s").all()
    assert any("site s" in line for line in res.explanation)
