"""Known-answer tests for the deal terms of deals.md (sections 1-11), and the equalities
that must hold when the new keys keep their defaults.

Each known answer is a tiny instance whose optimum is derived by hand in the docstring.
The terms are read with the reporting conventions chosen where deals.md leaves room:
the equity of a financed item in its capex term; debt service and depreciation shields
in the order period; residual values in the order period, with the discount factor of
their valuation date; the tails in periods >= P.

Conventions used in the derivations (as in test_known_answers.py): horizons start
2027-02-01 unless stated, and the calendar continues past the horizon month by month:

    period   0    1    2    3    4    5    6    7    8    9   10   11   12
    month   Feb  Mar  Apr  May  Jun  Jul  Aug  Sep  Oct  Nov  Dec  Jan  Feb 2028
    hours   672  744  720  744  720  744  744  720  744  720  744  744  696

so y_start(p) is the sum of the hours before p over 8760 (y_start(12) = 8760/8760 = 1
exactly) and y_mid(p) = y_start(p) + H_p / 2 / 8760. With a discount rate r:
D_p = (1+r)^-y_mid(p), E_p = (1+r)^-y_start(p), D_end = (1+r)^-y_end. The discount
rate is 0 unless a test needs discounting; with r = 0.1 the factors used below are
D_0 = 0.996350941, D_1 = 0.988705384, E_1 = 0.992715198, D_end(P=2) = 0.984711767.
The hashprice is 48 USD/PH/day, i.e. 0.002 USD per TH-hour.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import (
    alternating,
    base_instance,
    base_site,
    capex_qty,
    capex_rows,
    col,
    periods,
    solve_exact,
    term_total,
)

from optimizer.instance import Instance

REL = 1e-6
Y = 8760.0
# calendar hours of the monthly periods from 2027-02-01 (the table above)
MONTH_HOURS = [672, 744, 720, 744, 720, 744, 744, 720, 744, 720, 744, 744, 696]


pytestmark = pytest.mark.usefixtures("both_methods")


def approx(x: float):
    return pytest.approx(x, rel=REL, abs=1e-6)


def y_start(p: int) -> float:
    """Years from 2027-02-01 to the start of monthly period p."""
    return sum(MONTH_HOURS[:p]) / Y


def y_mid(p: int) -> float:
    return y_start(p) + MONTH_HOURS[p] / 2 / Y


def disc(r: float, years: float) -> float:
    return (1.0 + r) ** -years










def cash_row(result, term: str, period: int, site: str = "s") -> pd.Series:
    """The one cash-flow row of a term, site and period."""
    cf = result.cashflows
    rows = cf[(cf["term"] == term) & (cf["period"] == period) & (cf["site"] == site)]
    assert len(rows) == 1, (term, period, site, rows)
    return rows.iloc[0]


def site_term(result, term: str, site: str, discounted: bool = False) -> float:
    cf = result.cashflows
    rows = cf[(cf["term"] == term) & (cf["site"] == site)]
    return float(rows["discounted_usd" if discounted else "undiscounted_usd"].sum())


# a fleet of 1000 ASICs, 100 TH and 3 kW each: 3 MW of IT when all run
FLEET = {"id": "asic", "units": 1000, "hashrate_th": 100.0, "power_kw": 3.0,
         "cooling": "air"}
# an 8-GPU, 10 kW air-cooled server that draws nothing when idle
SERVER = {"gpus_per_unit": 8, "it_kw": 10.0, "cooling": "air", "lead_periods": 0,
          "life_years": 5.0, "spot_price_usd_per_gpu_hour": 0.0}


# ------------------------------------------------------------- 1. prices that change over time


def test_lease_price_by_period_escalator_opex_and_hourly_energy_rate(make_instance):
    """deals.md 1: a per-period lease price, an escalator that steps on the anniversary,
    the operator's opex, and an hourly energy rate; the opex declines a second lease.

    Five quarters from 2027-01-01: H = 2160, 2184, 2208, 2208, 2184 h (Q1 2028 has
    Feb 29), 3 months each; y_start = 0, 2160, 4344, 6552, 8760 h -> the anniversary
    falls exactly at the start of period 4 (floor(8760/8760 + 1e-9) = 1).
    Grid price alternates 30 / 60 (even / odd hours), PUE 1, ai_mw 2.
    - lease a (optional, 1 MW air): price [10, 10, 12, 12, 12] USD/kW-month, escalator
      5 %/y, opex 2 USD/kW-month, energy rate alternating 40 / 70 USD/MWh.
      rent = 10, 10, 12, 12, 12 x 1.05 = 12.6;
      capacity term = 1000 x (rent - 2) x 3 = 24 000, 24 000, 30 000, 30 000, 31 800
      (139 800); energy: 10 944 h, half even: rate 5472 x (40 + 70) = 601 920 against
      power 5472 x (30 + 60) = 492 480 (+10 USD/MWh every hour) -> +249 240: accepted.
    - lease b (optional, 1 MW air): price 5, opex 6, energy rate = the grid price
      (passed through at cost): 1000 x (5 - 6) x 3 x 5 = -15 000: declined (without
      the opex it would earn +75 000).
    NPV = 249 240.
    """
    data = base_instance(
        periods=5, start="2027-01-01", period="quarter",
        sites=[base_site(grid={"price_usd_per_mwh": {"column": "price"}},
                         halls={"mining_mw": 0.0, "ai_mw": 2.0})],
        leases=[
            {"id": "a", "site": "s", "it_mw": 1.0, "cooling": "air",
             "price_usd_per_kw_month": [10.0, 10.0, 12.0, 12.0, 12.0],
             "escalator_per_year": 0.05, "opex_usd_per_kw_month": 2.0,
             "energy_rate_usd_per_mwh": {"column": "rate"},
             "start_period": 0, "end_period": 5, "optional": True},
            {"id": "b", "site": "s", "it_mw": 1.0, "cooling": "air",
             "price_usd_per_kw_month": 5.0, "opex_usd_per_kw_month": 6.0,
             "energy_rate_usd_per_mwh": {"column": "price"},
             "start_period": 0, "end_period": 5, "optional": True}])
    r = solve_exact(make_instance(data, {"price": alternating(30.0, 60.0),
                                         "rate": alternating(40.0, 70.0)}))

    assert r.npv_usd == approx(249240.0)
    assert capex_qty(r, "lease", "a") == pytest.approx(1.0)
    assert capex_qty(r, "lease", "b") == pytest.approx(0.0)
    for p, usd in enumerate([24000.0, 24000.0, 30000.0, 30000.0, 31800.0]):
        assert term_total(r, "lease_capacity_revenue", period=p) == approx(usd)
    assert term_total(r, "lease_energy_revenue") == approx(601920.0)
    assert term_total(r, "grid_energy") == approx(-492480.0)
    h = np.arange(10944)
    rate = col(r, "cf_lease_energy_revenue_usd_per_h")
    assert rate[h % 2 == 0] == pytest.approx(40.0, abs=1e-9)
    assert rate[h % 2 == 1] == pytest.approx(70.0, abs=1e-9)
    assert col(r, "lease_it_mw") == pytest.approx(1.0, abs=1e-9)


def test_contract_price_by_period(make_instance):
    """deals.md 1: a contract's price_usd_per_gpu_hour per period applies in its period.

    Feb, Mar, Apr (672, 744, 720 h); price 50. Two products g and h (8 GPUs, 10 kW,
    idle 0, spot 0), 10 units of each already installed; ai_mw 0.2. A contract for 10
    units draws 0.1 MW (5 USD/h) and earns 10 x 8 x price per hour.
    - contract kg (optional, 10 x g): prices [0.1, 0.05, 0.1] -> 8, 4, 8 USD/h:
      (8 - 5) x 672 + (4 - 5) x 744 + (8 - 5) x 720 = 2 016 - 744 + 2 160 = 3 432:
      accepted; contract_revenue = 5 376, 2 976, 5 760.
    - contract kh (optional, 10 x h): prices [0.1, 0.02, 0.06] -> 8, 1.6, 4.8 USD/h:
      2 016 - 2 529.6 - 144 = -657.6: declined (at its first price it would pay).
    NPV = 3 432; grid_energy = -0.1 x 50 x 2136 = -10 680.
    """
    data = base_instance(
        periods=3,
        sites=[base_site(grid={"price_usd_per_mwh": 50.0},
                         halls={"mining_mw": 0.0, "ai_mw": 0.2},
                         gpus=[{"product": "g", "units": 10}, {"product": "h", "units": 10}])],
        gpu_products=[{**SERVER, "id": "g", "capex_usd": 1.0e6},
                      {**SERVER, "id": "h", "capex_usd": 1.0e6}],
        contracts=[
            {"id": "kg", "site": "s", "product": "g", "units": 10,
             "price_usd_per_gpu_hour": [0.1, 0.05, 0.1], "start_period": 0, "end_period": 3,
             "optional": True},
            {"id": "kh", "site": "s", "product": "h", "units": 10,
             "price_usd_per_gpu_hour": [0.1, 0.02, 0.06], "start_period": 0, "end_period": 3,
             "optional": True}])
    r = solve_exact(make_instance(data))

    assert r.npv_usd == approx(3432.0)
    assert capex_qty(r, "contract", "kg") == pytest.approx(1.0)
    assert capex_qty(r, "contract", "kh") == pytest.approx(0.0)
    for p, usd in enumerate([5376.0, 2976.0, 5760.0]):
        assert term_total(r, "contract_revenue", period=p) == approx(usd)
    assert term_total(r, "grid_energy") == approx(-10680.0)
    assert col(r, "firm_g") == pytest.approx(10.0, abs=1e-9)
    assert col(r, "firm_h") == pytest.approx(0.0, abs=1e-9)


# ------------------------------------------------------------------- 2. upfront payments


def test_upfront_receipt_flips_a_lease_and_a_payment_is_not_budgeted(make_instance):
    """deals.md 2: upfront_usd enters capex_{start_period} at E_p, outside the budget.

    Feb, Mar; r = 0.1; grid price 50; ai_mw 1; capex budget 0 in both periods.
    - lease la (optional, 1 MW air, Feb): rent 10 USD/kW-month, no energy rate:
      D_0 x (10 000 - 50 x 672) = -23 600 D_0 = -23 513.882 alone, declined without the
      receipt; upfront +30 000 at E_0 = 1 -> +6 486.118: accepted.
    - lease lb (optional, 1 MW air, Mar): rent 60, energy rate 50 (its power at cost):
      60 000 D_1 = 59 322.323; upfront -20 000 (a signing fee) at E_1: -19 854.304 ->
      +39 468.019: accepted although the budget is 0 (an upfront is not capex).
    NPV = 30 000 - 23 600 D_0 + 60 000 D_1 - 20 000 E_1 = 45 954.137.
    upfront rows: period 0 +30 000 (factor 1), period 1 -20 000 (factor E_1);
    capex.csv kind upfront: la capex_usd -30 000 (a receipt), lb +20 000.
    """
    data = base_instance(
        periods=2, discount_rate=0.1, capex_budget_usd=0.0,
        sites=[base_site(grid={"price_usd_per_mwh": 50.0},
                         halls={"mining_mw": 0.0, "ai_mw": 1.0})],
        leases=[
            {"id": "la", "site": "s", "it_mw": 1.0, "cooling": "air",
             "price_usd_per_kw_month": 10.0, "start_period": 0, "end_period": 1,
             "optional": True, "upfront_usd": 30000.0},
            {"id": "lb", "site": "s", "it_mw": 1.0, "cooling": "air",
             "price_usd_per_kw_month": 60.0, "energy_rate_usd_per_mwh": 50.0,
             "start_period": 1, "end_period": 2, "optional": True, "upfront_usd": -20000.0}])
    r = solve_exact(make_instance(data))

    d0, d1, e1 = disc(0.1, y_mid(0)), disc(0.1, y_mid(1)), disc(0.1, y_start(1))
    assert r.npv_usd == approx(30000.0 - 23600.0 * d0 + 60000.0 * d1 - 20000.0 * e1)
    assert r.npv_usd == approx(45954.137)
    assert capex_qty(r, "lease", "la") == pytest.approx(1.0)
    assert capex_qty(r, "lease", "lb") == pytest.approx(1.0)
    receipt, payment = cash_row(r, "upfront", 0), cash_row(r, "upfront", 1)
    assert receipt["undiscounted_usd"] == approx(30000.0)
    assert receipt["discounted_usd"] == approx(30000.0)
    assert payment["undiscounted_usd"] == approx(-20000.0)
    assert payment["discount_factor"] == pytest.approx(e1, rel=1e-12)
    up = capex_rows(r, "upfront").set_index("item")
    assert up.loc["la", "quantity"] == pytest.approx(1.0)
    assert up.loc["la", "capex_usd"] == approx(-30000.0)
    assert up.loc["la", "period"] == 0
    assert up.loc["lb", "capex_usd"] == approx(20000.0)
    assert up.loc["lb", "period"] == 1
    assert term_total(r, "lease_capacity_revenue") == approx(70000.0)
    assert term_total(r, "grid_energy") == approx(-50.0 * (672 + 744))

    del data["leases"][0]["upfront_usd"]  # without the receipt la loses 23 513.88
    r0 = solve_exact(make_instance(data))
    assert r0.npv_usd == approx(60000.0 * d1 - 20000.0 * e1)
    assert capex_qty(r0, "lease", "la") == pytest.approx(0.0)


# ------------------------------------------------------- 3. a lease that outlasts the horizon


def test_lease_tail_past_the_horizon_flips_the_decision(make_instance):
    """deals.md 3: rent past the horizon as lease_rent_tail, months_p and D_p of the
    continued calendar, the price of period P-1, no energy and no capacity rows.

    Feb, Mar (P = 2); r = 0.1; grid price 20; ai_mw 1. Lease (optional, 1 MW air):
    price [10, 12] USD/kW-month, opex 2, no energy rate, periods [0, 5): the tail is
    Apr, May, Jun (p = 2, 3, 4; 720, 744, 720 h; 1 month each) at the price of p1 (12).
    Inside: p0 1000 x (10 - 2) = 8 000 - 20 x 672 = 13 440 of power -> -5 440;
    p1 10 000 - 14 880 = -4 880; alone these would decline the lease.
    Tail: 1000 x (12 - 2) x 1 = 10 000 in each of p2, p3, p4, discounted at
    y_mid = 1776, 2508, 3240 h: D_2 = 0.980862, D_3 = 0.973082, D_4 = 0.965362.
    NPV = -5 440 D_0 - 4 880 D_1 + 10 000 (D_2 + D_3 + D_4) = 18 948.03: accepted.
    The tail has no hours: no dispatch rows, no grid energy, no hall row past p1.
    """
    data = base_instance(
        periods=2, discount_rate=0.1,
        sites=[base_site(grid={"price_usd_per_mwh": 20.0},
                         halls={"mining_mw": 0.0, "ai_mw": 1.0})],
        leases=[{"id": "l", "site": "s", "it_mw": 1.0, "cooling": "air",
                 "price_usd_per_kw_month": [10.0, 12.0], "opex_usd_per_kw_month": 2.0,
                 "start_period": 0, "end_period": 5, "optional": True}])
    r = solve_exact(make_instance(data))

    D = [disc(0.1, y_mid(p)) for p in range(5)]
    assert D[2:] == [pytest.approx(0.980862, abs=1e-6), pytest.approx(0.973082, abs=1e-6),
                     pytest.approx(0.965362, abs=1e-6)]
    assert r.npv_usd == approx(-5440 * D[0] - 4880 * D[1] + 10000 * sum(D[2:]))
    assert r.npv_usd == approx(18948.03)
    assert capex_qty(r, "lease", "l") == pytest.approx(1.0)
    assert term_total(r, "lease_capacity_revenue", period=0) == approx(8000.0)
    assert term_total(r, "lease_capacity_revenue", period=1) == approx(10000.0)
    for p in (2, 3, 4):
        row = cash_row(r, "lease_rent_tail", p)
        assert row["undiscounted_usd"] == approx(10000.0)
        assert row["discount_factor"] == pytest.approx(D[p], rel=1e-12)
    assert set(r.cashflows.loc[r.cashflows["term"] == "lease_rent_tail", "period"]) == {2, 3, 4}
    assert term_total(r, "grid_energy") == approx(-20.0 * (672 + 744))
    assert set(periods(r)) == {0, 1}
    assert col(r, "lease_it_mw") == pytest.approx(1.0, abs=1e-9)

    data["leases"][0]["end_period"] = 2  # the lease cut at the horizon: -10 245.03
    r0 = solve_exact(make_instance(data))
    assert r0.npv_usd == approx(0.0)
    assert capex_qty(r0, "lease", "l") == pytest.approx(0.0)


# ------------------------------------------------------------------ 4. ASIC terminal value


def test_asic_terminal_value_keeps_the_fleet_to_the_end(make_instance):
    """deals.md 4: A[s,f,P-1] x terminal_usd_per_unit at D_end, term asic_terminal.

    Feb, Mar; r = 0.1. Fleet 1000 x (100 TH, 3 kW), pool_fee 0.25 -> 0.15 USD/unit-h;
    price 30 -> margin 0.06 USD/unit-h: 40.32 in Feb, 44.64 in Mar per unit.
    Salvage [60, 50] USD/unit. Per unit:
    - sell at the start of Feb: 60;
    - sell at the start of Mar: 40.32 D_0 + 50 E_1 = 40.173 + 49.636 = 89.809;
    - keep to the end: 40.32 D_0 + 44.64 D_1 + T D_end = 84.309 + T D_end.
    Without a terminal value (T = 0) every ASIC is sold at the start of the last
    period (the end effect). With T = 20: 84.309 + 19.694 = 104.003 > 89.809: all kept.
    NPV = 1000 x (40.172870 + 44.135810 + 19.694235) = 104 002.91.
    asic_terminal = 20 000 in period 1, discount factor D_end; no salvage.
    """
    fleet = {**FLEET, "salvage_usd_per_unit": [60.0, 50.0]}
    data = base_instance(
        periods=2, discount_rate=0.1, market={"pool_fee": 0.25},
        sites=[base_site(grid={"price_usd_per_mwh": 30.0}, halls={"mining_mw": 3.0},
                         fleet=[{**fleet, "terminal_usd_per_unit": 20.0}])])
    r = solve_exact(make_instance(data))

    d0, d1, e1 = disc(0.1, y_mid(0)), disc(0.1, y_mid(1)), disc(0.1, y_start(1))
    d_end = disc(0.1, y_start(2))
    assert r.npv_usd == approx(1000 * (40.32 * d0 + 44.64 * d1 + 20.0 * d_end))
    assert r.npv_usd == approx(104002.91)
    assert capex_qty(r, "retire") == pytest.approx(0.0, abs=1e-6)
    assert col(r, "run_asic") == pytest.approx(1000.0, abs=1e-6)
    row = cash_row(r, "asic_terminal", 1)
    assert row["undiscounted_usd"] == approx(20000.0)
    assert row["discount_factor"] == pytest.approx(d_end, rel=1e-12)
    assert term_total(r, "asic_terminal") == approx(20000.0)
    assert term_total(r, "asic_salvage") == approx(0.0)

    data["sites"][0]["fleet"] = [fleet]  # today's model: no terminal value
    r0 = solve_exact(make_instance(data))
    assert r0.npv_usd == approx(1000 * (40.32 * d0 + 50.0 * e1))
    assert capex_qty(r0, "retire", "asic", 1) == pytest.approx(1000.0, abs=1e-6)
    assert col(r0, "run_asic")[periods(r0) == 1] == pytest.approx(0.0, abs=1e-6)


# ----------------------------------------------------------------------- 5. new AI halls


def test_new_ai_hall_built_with_lead_lets_a_lease_in(make_instance):
    """deals.md 5: build[s,p] adds block_mw to AH from p + lead; it takes nothing from
    the mining hall; capex ai_build_capex, capex.csv kind ai_build, a residual value.

    Feb, Mar, Apr; mining hall 3 MW holding a fleet of 1000 x (100 TH, 3 kW),
    pool_fee 0.25, price 0 -> 0.15 USD/unit-h; ai_mw 0. ai_build: block 1 MW,
    20 000 USD, lead 1, max 2 blocks, life 10 y.
    - lease a (optional, 1 MW air, Mar-Apr): 30 USD/kW-month -> 60 000; needs AH[1] >= 1
      -> a block ordered in p0 (delivered p1). Its residual: delivered at
      y_start(1) = 672 h, so 20 000 x (1 - 1464/8760/10) = 19 665.753425 (net cost
      334.246575).
    - lease b (optional, 1 MW air, Feb): 100 USD/kW-month, but AH[0] = 0 whatever is
      ordered (lead 1): declined.
    The fleet keeps its 3 MW hall (a new hall takes none of it): run 1000 throughout,
    mining 1000 x 0.15 x 2136 = 320 400.
    NPV = 320 400 + 60 000 - 20 000 + 19 665.753425 = 380 065.753425.
    """
    data = base_instance(
        periods=3, market={"pool_fee": 0.25},
        sites=[base_site(
            halls={"mining_mw": 3.0, "ai_mw": 0.0,
                   "ai_build": {"block_mw": 1.0, "capex_usd_per_block": 2.0e4,
                                "lead_periods": 1, "max_blocks": 2, "life_years": 10.0}},
            fleet=[FLEET])],
        leases=[
            {"id": "a", "site": "s", "it_mw": 1.0, "cooling": "air",
             "price_usd_per_kw_month": 30.0, "start_period": 1, "end_period": 3,
             "optional": True},
            {"id": "b", "site": "s", "it_mw": 1.0, "cooling": "air",
             "price_usd_per_kw_month": 100.0, "start_period": 0, "end_period": 1,
             "optional": True}])
    r = solve_exact(make_instance(data))

    residual = 2.0e4 * (1 - 1464 / Y / 10)
    assert r.npv_usd == approx(320400.0 + 60000.0 - 2.0e4 + residual)
    assert r.npv_usd == approx(380065.753425)
    block = capex_rows(r, "ai_build")
    assert block["item"].tolist() == ["block"]
    assert block["period"].tolist() == [0]
    assert block["quantity"].tolist() == [pytest.approx(1.0)]
    assert block["capex_usd"].tolist() == [approx(2.0e4)]
    assert capex_qty(r, "lease", "a") == pytest.approx(1.0)
    assert capex_qty(r, "lease", "b") == pytest.approx(0.0)
    assert capex_qty(r, "retire") == pytest.approx(0.0, abs=1e-6)
    assert col(r, "run_asic") == pytest.approx(1000.0, abs=1e-6)
    p = periods(r)
    assert col(r, "lease_it_mw")[p == 0] == pytest.approx(0.0, abs=1e-9)
    assert col(r, "lease_it_mw")[p >= 1] == pytest.approx(1.0, abs=1e-9)
    assert term_total(r, "ai_build_capex") == approx(-2.0e4)
    assert term_total(r, "residual_value", period=0) == approx(residual)
    assert term_total(r, "mining_revenue") == approx(320400.0)
    assert term_total(r, "lease_capacity_revenue") == approx(60000.0)


# ----------------------------------------------------------------------- 6. buying ASICs


def test_asic_purchases_continuous_with_lead_life_and_hall_space(make_instance):
    """deals.md 6: abuy continuous, NA with the lead and life rule of GPUs, bought units
    in the mining hall, their revenue and opex in mining_revenue / mining_opex,
    asic_capex, capex.csv kind asic, a straight-line residual value.

    Feb, Mar, Apr, May (672, 744, 720, 744 h; y_start 0, 672, 1416, 2136; y_end 2880).
    Mining hall 1 MW, no fleet. Product n: 200 TH, 3 kW, opex 5 USD/MWh, lead 1,
    life 0.1 y (876 h), capex [100, 120, 100, 100] USD (p3 cannot order: its delivery
    would fall after the horizon). pool_fee 0.25, price 30:
    0.3 - 0.09 - 0.015 = 0.195 USD/unit-h. Hall: 1 MW / 3 kW = 333.33 units.
    - ordered p0 (delivered p1): alive in p1, p2 (age 744 < 876 h), not p3 (1464);
      0.195 x 1464 - 100 = 185.48; residual max(0, 1 - 2208/876) = 0.
    - ordered p1 (delivered p2): alive p2, p3: 0.195 x 1464 - 120 = 165.48; residual 0.
    - ordered p2 (delivered p3): alive p3: 0.195 x 744 - 100 + 100 x (1 - 744/876)
      = 145.08 - 100 + 15.068493 = 60.148493.
    Hall rows: p1 x0 <= R, p2 x0 + x1 <= R, p3 x1 + x2 <= R with R = 1000/3: x0 = R
    (185.48 > 165.48), x1 = 0, x2 = R (the p0 units leave the hall when their life ends).
    NPV = R x (185.48 + 60.148493) = 81 876.164384.
    mining_revenue = 0.3 x R x 2208 = 220 800; mining_opex = -0.015 x R x 2208
    = -11 040; grid_energy = -66 240; asic_capex = -66 666.67; residual 5 022.83.
    """
    data = base_instance(
        periods=4, market={"pool_fee": 0.25},
        sites=[base_site(grid={"price_usd_per_mwh": 30.0}, halls={"mining_mw": 1.0})],
        asic_products=[{"id": "n", "hashrate_th": 200.0, "power_kw": 3.0, "cooling": "air",
                        "capex_usd": [100.0, 120.0, 100.0, 100.0], "lead_periods": 1,
                        "life_years": 0.1, "opex_usd_per_mwh": 5.0}])
    r = solve_exact(make_instance(data))

    R = 1000.0 / 3.0
    residual = 100.0 * (1 - 744 / 876)
    assert r.npv_usd == approx(R * (0.195 * 1464 - 100 + 0.195 * 744 - 100 + residual))
    assert r.npv_usd == approx(81876.164384)
    assert capex_qty(r, "asic", "n", 0) == pytest.approx(R, rel=1e-9)
    assert capex_qty(r, "asic", "n", 1) == pytest.approx(0.0, abs=1e-6)
    assert capex_qty(r, "asic", "n", 2) == pytest.approx(R, rel=1e-9)
    assert capex_rows(r, "asic")["capex_usd"].sum() == approx(200.0 * R)
    p = periods(r)
    arun = col(r, "arun_n")
    assert arun[p == 0] == pytest.approx(0.0, abs=1e-6)
    assert arun[p >= 1] == pytest.approx(R, rel=1e-9)
    assert col(r, "mining_it_mw")[p >= 1] == pytest.approx(1.0, rel=1e-9)
    assert term_total(r, "mining_revenue") == approx(0.3 * R * 2208)
    assert term_total(r, "mining_opex") == approx(-0.015 * R * 2208)
    assert term_total(r, "grid_energy") == approx(-0.09 * R * 2208)
    assert term_total(r, "asic_capex") == approx(-200.0 * R)
    assert term_total(r, "residual_value") == approx(R * residual)
    assert term_total(r, "residual_value", period=2) == approx(R * residual)


# ---------------------------------------------------------------------- 7. linked deals


def test_linked_deals_accepted_or_declined_together(make_instance):
    """deals.md 7: accept[x] = accept[y] (linked_acceptance), across contracts and leases.

    February (672 h); price 50 (a 1 MW lease's power costs 33 600); PUE 1; ai_mw 3.1.
    10 installed servers (8 GPUs, 10 kW, idle 0, spot 0).
    - contract ka (optional, 10 units at 0.05 USD/GPU-h) linked to lease lb:
      ka = 80 x 0.05 x 672 - 0.1 x 50 x 672 = 2 688 - 3 360 = -672 (loses alone);
      lb (1 MW air, 41.6 USD/kW-month) = 41 600 - 33 600 = +8 000;
      together +7 328: both accepted.
    - lease ld (1 MW, 39.6) = +6 000 linked to lease lc (1 MW, 24.6) = -9 000:
      together -3 000: both declined, ld too although it pays alone.
    NPV = 7 328 (without the links ka and lc would be declined: 14 000).
    """
    lease = {"site": "s", "it_mw": 1.0, "cooling": "air", "start_period": 0,
             "end_period": 1, "optional": True}
    data = base_instance(
        sites=[base_site(grid={"price_usd_per_mwh": 50.0},
                         halls={"mining_mw": 0.0, "ai_mw": 3.1},
                         gpus=[{"product": "g", "units": 10}])],
        gpu_products=[{**SERVER, "id": "g", "capex_usd": 1.0e6}],
        contracts=[{"id": "ka", "site": "s", "product": "g", "units": 10,
                    "price_usd_per_gpu_hour": 0.05, "start_period": 0, "end_period": 1,
                    "optional": True, "linked_to": "lb"}],
        leases=[{**lease, "id": "lb", "price_usd_per_kw_month": 41.6},
                {**lease, "id": "lc", "price_usd_per_kw_month": 24.6},
                {**lease, "id": "ld", "price_usd_per_kw_month": 39.6, "linked_to": "lc"}])
    r = solve_exact(make_instance(data))

    assert r.npv_usd == approx(7328.0)
    assert capex_qty(r, "contract", "ka") == pytest.approx(1.0)
    assert capex_qty(r, "lease", "lb") == pytest.approx(1.0)
    assert capex_qty(r, "lease", "lc") == pytest.approx(0.0)
    assert capex_qty(r, "lease", "ld") == pytest.approx(0.0)
    assert term_total(r, "contract_revenue") == approx(2688.0)
    assert term_total(r, "lease_capacity_revenue") == approx(41600.0)
    assert term_total(r, "grid_energy") == approx(-1.1 * 50 * 672)
    assert col(r, "lease_it_mw") == pytest.approx(1.0, abs=1e-9)
    assert len(r.solution.form.rows.lookup("linked_acceptance")) == 2

    for deal in (*data["contracts"], *data["leases"]):
        deal.pop("linked_to", None)
    r0 = solve_exact(make_instance(data))
    assert r0.npv_usd == approx(14000.0)
    assert capex_qty(r0, "contract", "ka") == pytest.approx(0.0)
    assert capex_qty(r0, "lease", "ld") == pytest.approx(1.0)


# ----------------------------------------------------------------- 8. project financing


def test_financing_multiplier_equity_budget_and_debt_service(make_instance):
    """deals.md 8: equity (1 - L) c at E_p in the capex term and in the budget; n level
    instalments a L c at y_start(p) + k, term debt_service; capex.csv at full price.

    Feb, Mar; r = 0.1; two sites a and b, price 0, ai_mw 0.01 each (one server).
    Server: 8 GPUs, 10 kW, 100 000 USD, lead 0, life 5 y, spot 1 USD/GPU-h. Budget
    [0, 30 000]: nothing can be ordered in p0, so orders fall in p1 (E_1).
    Financing (site a only, gpu): L = 0.8, rate 0.05, tenor 2:
    a = 0.05 / (1 - 1.05^-2) = 0.537804878; instalment a L c = 43 024.390244;
    sum_k 1.1^-k (k = 1, 2) = 1.735537190; m = 0.2 + 0.8 a x 1.735537190 = 0.946704.
    One server ordered in p1: spot 8 x 744 = 5 952 x D_1 = 5 884.77; residual
    100 000 x (1 - 744/8760/5) = 98 301.369863 x D_end = 96 798.52.
    - at a (financed): equity 20 000 <= 30 000; value 5 884.77 - E_1 m 100 000
      + 96 798.52 = 5 884.77 - 93 980.77 + 96 798.52 = 8 702.52;
    - at b (not financed): 100 000 > 30 000, although it would pay (+3 411.77).
    NPV = 8 702.52. debt_service (a, p1): undiscounted -2 x 43 024.39 = -86 048.78,
    discounted -E_1 x 43 024.39 x 1.735537 = -74 126.47, factor E_1 x 1.735537 / 2.
    """
    site = {"grid": {"price_usd_per_mwh": 0.0}, "halls": {"mining_mw": 0.0, "ai_mw": 0.01}}
    data = base_instance(
        periods=2, discount_rate=0.1, capex_budget_usd=[0.0, 3.0e4],
        sites=[base_site(id="a", **site), base_site(id="b", **site)],
        gpu_products=[{**SERVER, "id": "g", "capex_usd": 1.0e5,
                       "spot_price_usd_per_gpu_hour": 1.0}],
        financing=[{"id": "debt", "applies_to": ["gpu"], "sites": ["a"],
                    "loan_to_cost": 0.8, "rate": 0.05, "tenor_years": 2}])
    r = solve_exact(make_instance(data))

    d1, e1 = disc(0.1, y_mid(1)), disc(0.1, y_start(1))
    d_end = disc(0.1, y_start(2))
    a = 0.05 / (1 - 1.05 ** -2)
    annuity = 1 / 1.1 + 1 / 1.1 ** 2
    m = 0.2 + 0.8 * a * annuity
    assert a == pytest.approx(0.537804878)
    assert m == pytest.approx(0.946704, abs=1e-6)
    residual = 1.0e5 * (1 - 744 / Y / 5)
    assert r.npv_usd == approx(5952 * d1 - e1 * m * 1.0e5 + d_end * residual)
    assert r.npv_usd == approx(8702.52)
    assert capex_qty(r, "gpu", "g", 1, site="a") == pytest.approx(1.0)
    assert capex_qty(r, "gpu", site="a") == pytest.approx(1.0)
    assert capex_qty(r, "gpu", site="b") == pytest.approx(0.0)
    assert capex_rows(r, "gpu")["capex_usd"].sum() == approx(1.0e5)
    equity = cash_row(r, "gpu_capex", 1, site="a")
    assert equity["undiscounted_usd"] == approx(-2.0e4)
    assert equity["discounted_usd"] == approx(-2.0e4 * e1)
    debt = cash_row(r, "debt_service", 1, site="a")
    assert debt["undiscounted_usd"] == approx(-2 * a * 0.8 * 1.0e5)
    assert debt["discounted_usd"] == approx(-e1 * a * 0.8 * 1.0e5 * annuity)
    assert debt["discount_factor"] == pytest.approx(e1 * annuity / 2, rel=1e-12)
    assert site_term(r, "debt_service", "b") == 0.0
    assert term_total(r, "residual_value") == approx(residual)
    assert term_total(r, "gpu_spot_revenue") == approx(5952.0)


# ------------------------------------------------------ 9. residual value at a later date


def test_residual_at_the_lease_end_counts_the_building_once(make_instance):
    """deals.md 9: residual_at_period v moves a block's residual to the start of v,
    price x max(0, 1 - (y_start(v) - y_start(d)) / life) x (1 + r)^-y_start(v).

    February only (P = 1); r = 0.1. Mining hall 1 MW (empty), conversion: block 1 MW,
    100 000 USD, lead 0, max 1, life 10 y, residual_at_period 12 (Feb 2028:
    y_start(12) = 8760/8760 = 1). Lease (optional, 1 MW air, 10 USD/kW-month, no
    energy; price 0) for periods [0, 12): Feb 2027 inside, Mar 2027 - Jan 2028 as its
    tail: 10 000 x D_p for p = 0..11, sum_p D_p = 11.449998 (y_mid from the table).
    Residual: 100 000 x (1 - 1/10) = 90 000 at 1.1^-1 -> 81 818.18 (the horizon-end value
    100 000 x (1 - 672/87 600) x D_end = 98 509.98 would count the tail's years twice).
    NPV = 10 000 x 11.449998 - 100 000 + 81 818.18 = 96 318.16: converted and accepted.
    residual_value row: period 0 (the order period), 90 000, factor 1/1.1.
    """
    data = base_instance(
        discount_rate=0.1,
        sites=[base_site(halls={
            "mining_mw": 1.0, "ai_mw": 0.0,
            "conversion": {"block_mw": 1.0, "capex_usd_per_block": 1.0e5, "lead_periods": 0,
                           "max_blocks": 1, "life_years": 10.0, "residual_at_period": 12}})],
        leases=[{"id": "l", "site": "s", "it_mw": 1.0, "cooling": "air",
                 "price_usd_per_kw_month": 10.0, "start_period": 0, "end_period": 12,
                 "optional": True}])
    r = solve_exact(make_instance(data))

    D = [disc(0.1, y_mid(p)) for p in range(12)]
    assert sum(D) == pytest.approx(11.449998, abs=1e-6)
    assert r.npv_usd == approx(1.0e4 * sum(D) - 1.0e5 + 9.0e4 / 1.1)
    assert r.npv_usd == approx(96318.164608)
    assert capex_qty(r, "conversion", period=0) == pytest.approx(1.0)
    assert capex_qty(r, "lease", "l") == pytest.approx(1.0)
    row = cash_row(r, "residual_value", 0)
    assert row["undiscounted_usd"] == approx(9.0e4)
    assert row["discount_factor"] == pytest.approx(1 / 1.1, rel=1e-12)
    assert term_total(r, "conversion_capex") == approx(-1.0e5)
    assert term_total(r, "lease_capacity_revenue") == approx(1.0e4)
    assert term_total(r, "lease_rent_tail") == approx(11 * 1.0e4)
    assert term_total(r, "lease_rent_tail", discounted=True) == approx(1.0e4 * sum(D[1:]))


# -------------------------------------------------- 10. a GPU contract that outlasts the horizon


def test_contract_tail_with_opex_and_gpus_valued_at_the_contract_end(make_instance):
    """deals.md 10: contract_revenue_tail = units x gpus x (price_{P-1} - opex) x H_p x D_p;
    the GPUs that serve it keep a residual taken at the contract end.

    February only (P = 1); r = 0; price 50; ai_mw 0.1. Server: 8 GPUs, 10 kW, idle 0,
    10 000 USD, lead 0, life 1 y, spot 0, residual_at_period 4 (June:
    y_start(4) = 2880 h). Contract (optional, 10 servers, 0.5 USD/GPU-h, periods
    [0, 4), opex_usd_per_gpu_hour 0.2): it needs 10 servers bought in Feb.
    Inside: contract_revenue 80 x 0.5 x 672 = 26 880; power 0.1 x 50 x 672 = 3 360.
    Tail Mar, Apr, May (744 + 720 + 744 = 2 208 h): 80 x (0.5 - 0.2) x 2208 = 52 992
    (17 856, 17 280, 17 856); the tail has no capacity rows.
    Capex -100 000; residual at June 10 x 10 000 x (1 - 2880/8760) = 67 123.287671.
    NPV = 26 880 - 3 360 - 100 000 + 67 123.287671 + 52 992 = 43 635.287671: accepted.
    """
    data = base_instance(
        sites=[base_site(grid={"price_usd_per_mwh": 50.0},
                         halls={"mining_mw": 0.0, "ai_mw": 0.1})],
        gpu_products=[{**SERVER, "id": "g", "capex_usd": 1.0e4, "life_years": 1.0,
                       "residual_at_period": 4}],
        contracts=[{"id": "k", "site": "s", "product": "g", "units": 10,
                    "price_usd_per_gpu_hour": 0.5, "start_period": 0, "end_period": 4,
                    "optional": True, "opex_usd_per_gpu_hour": 0.2}])
    r = solve_exact(make_instance(data))

    residual = 1.0e5 * (1 - 2880 / Y)
    assert r.npv_usd == approx(26880.0 - 3360.0 - 1.0e5 + residual + 52992.0)
    assert r.npv_usd == approx(43635.287671)
    assert capex_qty(r, "contract", "k") == pytest.approx(1.0)
    assert capex_qty(r, "gpu", "g", 0) == pytest.approx(10.0)
    for p, usd in ((1, 17856.0), (2, 17280.0), (3, 17856.0)):
        row = cash_row(r, "contract_revenue_tail", p)
        assert row["undiscounted_usd"] == approx(usd)
        assert row["discount_factor"] == pytest.approx(1.0, rel=1e-12)
    assert term_total(r, "contract_revenue") == approx(26880.0)
    assert term_total(r, "grid_energy") == approx(-3360.0)
    assert term_total(r, "residual_value", period=0) == approx(residual)


# ----------------------------------------------------- 11. taxes and depreciation shields


def test_taxes_shields_before_the_valuation_date_and_residual_after_tax(make_instance):
    """deals.md 11: operating terms, tails, upfronts taxed at (1 - rate); shields
    rate x price / N for the tax years j with y_start(p) + j <= y_val; the residual
    valued as (1 - rate) R + rate B; the term tax.

    February only (P = 1); r = 0.1; tax rate 0.25; depreciation_years ai_build 3.
    Fixed opex 8 760 USD/y (-672 in Feb). New AI hall: block 1 MW, 120 000 USD, lead 0,
    life 10 y, residual_at_period 12 (y_val = y_start(12) = 1). Lease (optional,
    1 MW air, 10 USD/kW-month, periods [0, 12), upfront +20 000; price 0).
    - Taxed income: 10 000 x D_p for p = 0..11 (sum_p D_p = 11.449998), upfront 20 000,
      fixed opex -672 D_0 = -669.548 (a credit): x (1 - 0.25).
    - Shields: N = 3, tax years j = 1 (0 + 1 <= 1 + 1e-9) only: n = 1; 0.25 x 40 000 =
      10 000 at 1.1^-1 -> 9 090.91, term depreciation_shield (period 0, factor 1/1.1).
    - Residual R = 120 000 x (1 - 1/10) = 108 000; basis B = 120 000 x 2/3 = 80 000;
      tax effect 0.25 x (80 000 - 108 000) = -7 000, both at 1.1^-1.
    - Block: -120 000 + (10 000 + 108 000 - 7 000) / 1.1 = -19 090.909091.
    NPV = 0.75 x (114 499.983 + 20 000 - 669.548) - 19 090.909091 = 81 281.917127.
    tax rows: period 0 undiscounted -0.25 x (10 000 + 20 000 - 672) - 7 000 = -14 332;
    p = 1..11: -2 500 each; total -41 832.
    """
    data = base_instance(
        discount_rate=0.1,
        sites=[base_site(
            fixed_opex_usd_per_year=8760.0,
            halls={"mining_mw": 0.0, "ai_mw": 0.0,
                   "ai_build": {"block_mw": 1.0, "capex_usd_per_block": 1.2e5,
                                "lead_periods": 0, "max_blocks": 1, "life_years": 10.0,
                                "residual_at_period": 12}})],
        leases=[{"id": "l", "site": "s", "it_mw": 1.0, "cooling": "air",
                 "price_usd_per_kw_month": 10.0, "start_period": 0, "end_period": 12,
                 "optional": True, "upfront_usd": 2.0e4}],
        taxes={"rate": 0.25, "depreciation_years": {"ai_build": 3}})
    r = solve_exact(make_instance(data))

    D = [disc(0.1, y_mid(p)) for p in range(12)]
    block = -1.2e5 + (1.0e4 + 1.08e5 - 7.0e3) / 1.1
    assert block == pytest.approx(-19090.909091)
    assert r.npv_usd == approx(0.75 * (1.0e4 * sum(D) + 2.0e4 - 672 * D[0]) + block)
    assert r.npv_usd == approx(81281.917127)
    assert capex_qty(r, "ai_build", period=0) == pytest.approx(1.0)
    assert capex_qty(r, "lease", "l") == pytest.approx(1.0)
    shield = cash_row(r, "depreciation_shield", 0)
    assert shield["undiscounted_usd"] == approx(1.0e4)
    assert shield["discount_factor"] == pytest.approx(1 / 1.1, rel=1e-12)
    residual = cash_row(r, "residual_value", 0)
    assert residual["undiscounted_usd"] == approx(1.08e5)  # reported before tax
    assert residual["discount_factor"] == pytest.approx(1 / 1.1, rel=1e-12)
    assert term_total(r, "ai_build_capex") == approx(-1.2e5)
    assert term_total(r, "upfront") == approx(2.0e4)
    assert term_total(r, "tax", period=0) == approx(-0.25 * (1.0e4 + 2.0e4 - 672) - 7.0e3)
    assert term_total(r, "tax", period=0, discounted=True) == approx(
        -0.25 * (1.0e4 * D[0] + 2.0e4 - 672 * D[0]) - 7.0e3 / 1.1)
    for p in range(1, 12):
        assert term_total(r, "tax", period=p) == approx(-2500.0)
    assert term_total(r, "tax") == approx(-41832.0)


# -------------------------------------------------------------------------- equalities

# The tiny case for the equalities: the discount test of test_known_answers.py (Feb, Mar,
# r = 0.1; fleet, fixed opex, a mandatory contract that forces a server bought in p1,
# NPV 75 004.962464) plus a mandatory 1 MW lease for both months (end_period = P) at
# 40 USD/kW-month whose energy rate passes the flat price 30 through:
# + 40 000 x (D_0 + D_1) = 79 402.253. NPV = 154 407.215...
def equality_base() -> dict:
    return base_instance(
        periods=2, discount_rate=0.1, market={"pool_fee": 0.25},
        sites=[base_site(
            fixed_opex_usd_per_year=87600.0, grid={"price_usd_per_mwh": 30.0},
            halls={"mining_mw": 3.0, "ai_mw": 1.01}, fleet=[FLEET])],
        gpu_products=[{"id": "g", "gpus_per_unit": 8, "it_kw": 10.0, "cooling": "air",
                       "capex_usd": 1.0e4, "lead_periods": 0, "life_years": 1.0,
                       "spot_price_usd_per_gpu_hour": 0.0}],
        contracts=[{"id": "k", "site": "s", "product": "g", "units": 1,
                    "price_usd_per_gpu_hour": 1.0, "start_period": 1, "end_period": 2}],
        leases=[{"id": "l", "site": "s", "it_mw": 1.0, "cooling": "air",
                 "price_usd_per_kw_month": 40.0, "energy_rate_usd_per_mwh": 30.0,
                 "start_period": 0, "end_period": 2}])


ALL_KINDS = ["gpu", "asic", "conversion", "ai_build", "grid_upgrade", "cooling_upgrade"]


def with_default_deal_keys(data: dict) -> dict:
    """Every new key of deals.md written out at a value that must leave the NPV as it
    is: escalator, opex and upfront 0, prices as per-period lists, no links, leases and
    contracts ending at P, terminal values 0, residuals valued at P, no purchases."""
    out = copy.deepcopy(data)
    P = out["horizon"]["periods"]
    for lease in out.get("leases", []):
        price = lease["price_usd_per_kw_month"]
        if not isinstance(price, (dict, list)):
            lease["price_usd_per_kw_month"] = [price] * P
        lease.update(escalator_per_year=0.0, opex_usd_per_kw_month=0.0, upfront_usd=0.0)
        assert lease["end_period"] == P
    for k in out.get("contracts", []):
        k.update(upfront_usd=0.0, opex_usd_per_gpu_hour=0.0)
    for site in out["sites"]:
        for f in site.get("fleet", []):
            f["terminal_usd_per_unit"] = 0.0
        for u in site["grid"].get("upgrades", []) + site["cooling"].get("upgrades", []):
            u["residual_at_period"] = P
        if site["halls"].get("conversion"):
            site["halls"]["conversion"]["residual_at_period"] = P
    for g in out.get("gpu_products", []):
        g["residual_at_period"] = P
    out.update(asic_products=[], financing=[])
    return out


def financed(data: dict, loan_to_cost: float, rate: float) -> dict:
    return {**copy.deepcopy(data), "financing": [
        {"id": "debt", "applies_to": ALL_KINDS, "loan_to_cost": loan_to_cost, "rate": rate,
         "tenor_years": 10}]}


def untaxed(data: dict) -> dict:
    return {**copy.deepcopy(data), "taxes": {"rate": 0.0,
                                             "depreciation_years": dict.fromkeys(ALL_KINDS, 5)}}


def financing_multipliers(result) -> list[float]:
    """m of every (site, order period) with financed orders, from the tables alone:
    (equity discounted + debt service discounted) / (full price x E_p)."""
    cf, capex = result.cashflows, result.capex
    paid = capex[capex["kind"].isin(ALL_KINDS)].groupby(["site", "period"])["capex_usd"].sum()
    out = []
    for (site, p), full_usd in paid.items():
        if full_usd == 0.0:
            continue
        rows = cf[(cf["site"] == site) & (cf["period"] == p)]
        equity = rows[rows["term"].isin([f"{k}_capex" for k in ALL_KINDS])]
        e_p = float(equity["discount_factor"].iloc[0])
        total = equity["discounted_usd"].sum() + rows.loc[
            rows["term"] == "debt_service", "discounted_usd"].sum()
        out.append(float(-total / (full_usd * e_p)))
    return out


def test_equalities_on_a_tiny_case(make_instance):
    """Defaults leave today's NPV: deal keys written at their defaults (a lease with
    end_period = P); financing with loan_to_cost 0; taxes with rate 0; and financing at
    the discount rate (m = 1: the equity 0.15 c plus ten instalments of
    0.85 c x 0.1 / (1 - 1.1^-10), each worth 1.1^-k, sum to c).

    The base NPV, by hand (see equality_base): 75 004.962464 + 40 000 (D_0 + D_1)
    = 75 004.962464 + 79 402.253005 = 154 407.215469.
    """
    base = equality_base()
    r = solve_exact(make_instance(base))
    d0, d1 = disc(0.1, y_mid(0)), disc(0.1, y_mid(1))
    assert r.npv_usd == approx(75004.962464 + 4.0e4 * (d0 + d1))
    for variant in (with_default_deal_keys(base), financed(base, 0.0, 0.07), untaxed(base)):
        other = solve_exact(make_instance(variant))
        assert other.npv_usd == pytest.approx(r.npv_usd, rel=1e-12)
        assert set(other.cashflows["term"]) == set(r.cashflows["term"])
    at_r = solve_exact(make_instance(financed(base, 0.85, 0.1)))
    assert at_r.npv_usd == pytest.approx(r.npv_usd, rel=1e-12)
    m = financing_multipliers(at_r)
    assert len(m) == 1  # the server ordered in p1
    assert m[0] == pytest.approx(1.0, abs=1e-12)
    assert term_total(at_r, "gpu_capex") == approx(-0.15 * 1.0e4)
    assert term_total(at_r, "debt_service") == approx(-0.85 * 1.0e4 * 0.1 / (1 - 1.1 ** -10)
                                                      * 10)


# ---- the same equalities on a bundled instance, at 2 representative days per period

BUNDLED = Path(__file__).resolve().parent.parent / "instances" / "permian-1y"
BUNDLED_OPTIONS = {"resolution": "representative", "representative_days": 2}


@pytest.fixture(scope="module")
def bundled_base():
    """permian-1y as a dict, and its solve per method (each solved once per module)."""
    data = yaml.safe_load((BUNDLED / "instance.yaml").read_text())
    solved: dict = {}

    def get(method: str):
        if method not in solved:
            solved[method] = bundled_solve(data, method)
        return solved[method]

    return data, get


def bundled_solve(data: dict, method: str):
    from optimizer.api import solve

    inst = Instance.from_dict(data, BUNDLED, file_label="permian-1y/instance.yaml")
    r = solve(inst, method=method, **BUNDLED_OPTIONS)
    assert r.status == "optimal", r.message
    assert float(r.cashflows["discounted_usd"].sum()) == pytest.approx(r.npv_usd, rel=1e-9)
    return r


@pytest.mark.parametrize("variant", ["default_deal_keys", "loan_to_cost_0", "tax_rate_0"])
def test_defaults_give_todays_npv_on_permian(bundled_base, both_methods, variant):
    """permian-1y (two leases ending at P, contracts, PPAs, GPU orders, conversions,
    upgrades, a budget): the deal keys written at their defaults, financing of every kind
    with loan_to_cost 0, and taxes at rate 0 each give the same model, so the same NPV
    and the same plan as the instance without them."""
    data, get = bundled_base
    base = get(both_methods)
    changed = {"default_deal_keys": with_default_deal_keys,
               "loan_to_cost_0": lambda d: financed(d, 0.0, 0.07),
               "tax_rate_0": untaxed}[variant](data)
    r = bundled_solve(changed, both_methods)
    assert r.npv_usd == pytest.approx(base.npv_usd, rel=1e-12)
    cols = ["period", "site", "kind", "item", "quantity"]
    pd.testing.assert_frame_equal(r.capex[cols], base.capex[cols])
    assert set(r.cashflows["term"]) == set(base.cashflows["term"])


def test_financing_at_the_discount_rate_has_multiplier_one_on_permian(bundled_base, both_methods):
    """permian-1y with every kind financed at 85 % loan-to-cost, 10 years, at the
    instance's discount rate 0.1: m = 1 within 1e-12 for every site and order period,
    rebuilt from cashflows.csv and capex.csv (the budget now counts the equity only, so
    the plan may differ from the unfinanced one)."""
    data, _ = bundled_base
    assert data["horizon"]["discount_rate"] == 0.1
    r = bundled_solve(financed(data, 0.85, 0.1), both_methods)
    m = financing_multipliers(r)
    assert m, "no financed order: the check would test nothing"
    assert m == [pytest.approx(1.0, abs=1e-12)] * len(m)
