"""Known-answer tests: tiny instances whose optimum is derived by hand from
formulation.md; each docstring holds the derivation, step by step.

Conventions used in the derivations: horizons start 2027-02-01 (February 2027 has
672 hours, March 744, April 720) unless stated; the discount rate is 0 unless stated,
so every discount factor is 1; "even hours" are hours 0, 2, 4, ... of the horizon
(series built by ``alternating``), so every month splits its hours half and half.
The default hashprice is 48 USD/PH/day, i.e. hp = 48 / 1000 / 24 = 0.002 USD per
TH-hour.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import (
    alternating,
    base_instance,
    base_site,
    capex_qty,
    col,
    mining_known_answer,
    periods,
    solve_exact,
    term_total,
)

REL = 1e-6
FEB, MAR, APR = 672, 744, 720
Y = 8760.0


pytestmark = pytest.mark.usefixtures("both_methods")


def approx(x: float):
    return pytest.approx(x, rel=REL, abs=1e-6)








def even_odd(n: int) -> tuple[np.ndarray, np.ndarray]:
    h = np.arange(n)
    return h % 2 == 0, h % 2 == 1


# a fleet of 1000 ASICs, 100 TH and 3 kW each: 3 MW of IT when all run
FLEET = {"id": "asic", "units": 1000, "hashrate_th": 100.0, "power_kw": 3.0,
         "cooling": "air"}


# --------------------------------------------------------------------------------- mining


def test_mining_runs_only_when_hashprice_beats_price_adder_and_opex(make_instance):
    """Mining vs price, with pool fee, ASIC opex, import adder and aux load.

    February (672 h). Fleet 1000 x (100 TH, 3 kW), opex 5 USD/MWh; pool_fee 0.25.
    Revenue per unit-hour = 100 TH x 0.002 x (1 - 0.25) = 0.15 USD, i.e. per MWh of
    IT = 0.15 / 0.003 = 50 USD/MWh. Price alternates 20 (even h) / 45 (odd h); import
    adder 5; PUE 1; aux load 0.5 MW.
    - even hours: 50 > 20 + 5 + 5 = 30  -> run all 1000 units, margin 20 USD/MWh;
    - odd hours:  50 < 45 + 5 + 5 = 55  -> run 0 (although 50 > 45 alone).
    Mining: 336 h x 3 MW x 20 = 20 160.  Aux: 0.5 MW x 336 x (20+5 + 45+5) = 12 600.
    NPV = 20 160 - 12 600 = 7 560.
    Terms: mining_revenue 336 x 1000 x 0.15 = 50 400; mining_opex -336 x 3 x 5 = -5 040;
    grid_energy -(336 x 3.5 x 20 + 336 x 0.5 x 45) = -(23 520 + 7 560) = -31 080;
    import_adder -(336 x 3.5 + 336 x 0.5) x 5 = -6 720.
    """
    r = solve_exact(make_instance(*mining_known_answer()))

    assert r.npv_usd == approx(7560.0)
    even, odd = even_odd(FEB)
    run = col(r, "run_asic")
    assert run[even] == pytest.approx(1000.0, abs=1e-6)
    assert run[odd] == pytest.approx(0.0, abs=1e-6)
    assert col(r, "imp_mw")[even] == pytest.approx(3.5, abs=1e-6)
    assert col(r, "imp_mw")[odd] == pytest.approx(0.5, abs=1e-6)
    assert term_total(r, "mining_revenue") == approx(50400.0)
    assert term_total(r, "mining_opex") == approx(-5040.0)
    assert term_total(r, "grid_energy") == approx(-31080.0)
    assert term_total(r, "import_adder") == approx(-6720.0)


def test_cooling_derate_limits_it_on_hot_hours_and_pue_rises(make_instance):
    """Cooling derate binding on hot hours (with min_factor floor), PUE rising.

    February (672 h), ambient cycles 20, 36, 50 C (224 h each). Air cooling:
    capacity 3 MW, rated_ambient 30, derate_per_c 0.05, min_factor 0.5, pue 1.1,
    pue_per_c 0.01, pue_ref 25.
      f = clamp(1 - 0.05 x max(0, T - 30), 0.5, 1):  20 -> 1;  36 -> 0.7;  50 -> 0 -> 0.5
      pue = 1.1 + 0.01 x max(0, T - 25):               20 -> 1.1; 36 -> 1.21; 50 -> 1.35
    Fleet 1000 x (100 TH, 3 kW), pool_fee 0: revenue 0.2 USD/unit-h (66.7 USD/MWh IT);
    price 20 -> even at PUE 1.35 the margin is positive, so IT = cooling limit 3 f:
      run = 1000, 700, 500 units; IT = 3, 2.1, 1.5 MW;
      load = 3.3, 2.541, 2.025 MW.
    mining_revenue = 224 x 0.2 x (1000 + 700 + 500) = 98 560
    grid_energy = -224 x 20 x (3.3 + 2.541 + 2.025) = -35 239.68
    NPV = 63 320.32
    """
    data = base_instance(sites=[base_site(
        ambient_c={"column": "ambient"},
        grid={"price_usd_per_mwh": 20.0},
        cooling={"air": {"capacity_mw": 3.0, "rated_ambient_c": 30.0, "derate_per_c": 0.05,
                         "min_factor": 0.5, "pue": 1.1, "pue_per_c": 0.01,
                         "pue_ref_c": 25.0}},
        halls={"mining_mw": 3.0},
        fleet=[FLEET])])
    r = solve_exact(make_instance(data, {"ambient": alternating(20.0, 36.0, 50.0)}))

    assert r.npv_usd == approx(63320.32)
    h = np.arange(FEB) % 3
    run, it, load = col(r, "run_asic"), col(r, "it_air_mw"), col(r, "load_mw")
    for k, (units, it_mw, load_mw) in enumerate([(1000, 3.0, 3.3), (700, 2.1, 2.541),
                                                 (500, 1.5, 2.025)]):
        assert run[h == k] == pytest.approx(units, abs=1e-6)
        assert it[h == k] == pytest.approx(it_mw, abs=1e-9)
        assert load[h == k] == pytest.approx(load_mw, abs=1e-9)
        assert col(r, "imp_mw")[h == k] == pytest.approx(load_mw, abs=1e-6)
    assert term_total(r, "mining_revenue") == approx(98560.0)
    assert term_total(r, "grid_energy") == approx(-35239.68)


def test_ancillary_reserve_needs_running_asics_and_is_capped(make_instance):
    """Reserve revenue: anc <= IT MW of ASICs running, anc <= max_mw.

    February. Fleet 3 MW, pool_fee 0.25 -> 50 USD/MWh IT; price alternates 30 / 60;
    ancillary price 15 USD/MW-h, max_mw 2.
    - even hours (margin +20/MWh): run 3 MW, anc = min(3, 2) = 2   -> 60 + 30 = 90 USD/h
    - odd hours (margin -10/MWh): running x MW earns -10 x + 15 min(x, 2), best x = 2
      (anc = 2, run = 2 / 0.003 = 666.67 units) -> -20 + 30 = 10 USD/h.
    NPV = 336 x 90 + 336 x 10 = 33 600.
    ancillary_revenue = 672 x 2 x 15 = 20 160; mining_revenue = 336 x (3 + 2) x 50 = 84 000;
    grid_energy = -336 x (3 x 30 + 2 x 60) = -70 560.
    """
    data = base_instance(
        market={"pool_fee": 0.25},
        sites=[base_site(
            grid={"price_usd_per_mwh": {"column": "price"},
                  "ancillary": {"price_usd_per_mw_h": 15.0, "max_mw": 2.0}},
            halls={"mining_mw": 3.0}, fleet=[FLEET])])
    r = solve_exact(make_instance(data, {"price": alternating(30.0, 60.0)}))

    assert r.npv_usd == approx(33600.0)
    even, odd = even_odd(FEB)
    assert col(r, "run_asic")[even] == pytest.approx(1000.0, abs=1e-6)
    assert col(r, "run_asic")[odd] == pytest.approx(2000.0 / 3.0, abs=1e-6)
    assert col(r, "anc_mw") == pytest.approx(2.0, abs=1e-6)
    assert term_total(r, "ancillary_revenue") == approx(20160.0)
    assert term_total(r, "mining_revenue") == approx(84000.0)
    assert term_total(r, "grid_energy") == approx(-70560.0)


# ------------------------------------------------------------------------- grid charges


def test_demand_charge_is_peak_times_months_and_stops_mining(make_instance):
    """Demand charge = peak MW x 1000 x USD/kW-month x months (a quarter: 3 months);
    lease capacity revenue is also paid per month.

    One quarter, 2027-01-01..04-01: 90 days = 2160 h (1080 even, 1080 odd). Aux 1 MW;
    mandatory lease 0.5 MW (air, 10 USD/kW-month, no energy rate), ai_mw 0.5; fleet
    3 MW, pool_fee 0.25 -> 50 USD/MWh IT; price alternates 30 / 60; demand charge
    8 USD/kW-month -> 8 x 1000 x 3 = 24 000 USD per MW of period peak.
    Mining the even hours earns 1080 x 20 = 21 600 USD per MW but raises the peak by
    that MW (24 000 USD): mining does not pay (with months = 1 it would: 8 000 < 21 600).
    So run = 0, peak = aux + lease = 1.5 MW.
    grid_energy = -1.5 x 1080 x (30 + 60) = -145 800; demand_charge = -1.5 x 24 000
    = -36 000; lease_capacity_revenue = 0.5 x 1000 x 10 x 3 = 15 000;
    NPV = -166 800.
    """
    data = base_instance(
        start="2027-01-01", period="quarter",
        market={"pool_fee": 0.25},
        sites=[base_site(
            aux_load_mw=1.0,
            grid={"price_usd_per_mwh": {"column": "price"},
                  "demand_charge_usd_per_kw_month": 8.0},
            halls={"mining_mw": 3.0, "ai_mw": 0.5}, fleet=[FLEET])],
        leases=[{"id": "l", "site": "s", "it_mw": 0.5, "cooling": "air",
                 "price_usd_per_kw_month": 10.0, "start_period": 0, "end_period": 1}])
    r = solve_exact(make_instance(data, {"price": alternating(30.0, 60.0)}))

    assert r.npv_usd == approx(-166800.0)
    assert col(r, "run_asic") == pytest.approx(0.0, abs=1e-6)
    assert col(r, "imp_mw") == pytest.approx(1.5, abs=1e-6)
    assert term_total(r, "demand_charge") == approx(-36000.0)
    assert term_total(r, "grid_energy") == approx(-145800.0)
    assert term_total(r, "lease_capacity_revenue") == approx(15000.0)


def test_coincident_peak_charge_on_flagged_hours(make_instance):
    """Coincident peak: - flag x charge x 1000 / intervals x (imp + physical use).

    February. Aux 1 MW; fleet 3 MW at 50 USD/MWh IT (pool_fee 0.25); price alternates
    30 / 60. CP: 60 USD/kW-year over 4 intervals -> 15 000 USD per MW metered in a
    flagged hour; flags on 4 even (cheap) hours: 16, 18, 40, 42.
    A physical PPA (no take-or-pay, baseload 0.5 MW, strike 10 < every price) is always
    used in full, and its energy is metered too.
    - even unflagged hours (332): mine 3 MW, margin 20 -> 19 920;
    - flagged hours: mining would pay 15 000 per MW -> run 0;
    - odd hours: margin -10 -> run 0.
    Aux: imp 0.5 MW all hours -> 0.5 x 336 x (30 + 60) = 15 120; PPA 0.5 x 10 x 672 = 3 360.
    coincident_peak = -4 x (0.5 + 0.5) x 15 000 = -60 000.
    NPV = 19 920 - 15 120 - 3 360 - 60 000 = -58 560.
    mining_revenue = 332 x 1000 x 0.15 = 49 800; grid_energy = -(332 x 3 x 30 + 15 120)
    = -45 000; ppa_strike = -3 360.
    """
    flags = np.zeros(FEB)
    flags[[16, 18, 40, 42]] = 1.0
    data = base_instance(
        market={"pool_fee": 0.25},
        sites=[base_site(
            aux_load_mw=1.0,
            grid={"price_usd_per_mwh": {"column": "price"},
                  "coincident_peak": {"flag_column": "cp", "charge_usd_per_kw_year": 60.0,
                                      "intervals_per_year": 4}},
            halls={"mining_mw": 3.0}, fleet=[FLEET])],
        ppas=[{"id": "p", "site": "s", "kind": "physical", "baseload_mw": 0.5,
               "strike_usd_per_mwh": 10.0, "take_or_pay": False,
               "start_period": 0, "end_period": 1}])
    r = solve_exact(make_instance(data, {"price": alternating(30.0, 60.0), "cp": flags}))

    assert r.npv_usd == approx(-58560.0)
    even, odd = even_odd(FEB)
    flagged = flags == 1
    run = col(r, "run_asic")
    assert run[even & ~flagged] == pytest.approx(1000.0, abs=1e-6)
    assert run[flagged | odd] == pytest.approx(0.0, abs=1e-6)
    assert col(r, "use_p") == pytest.approx(0.5, abs=1e-6)
    assert term_total(r, "coincident_peak") == approx(-60000.0)
    assert term_total(r, "mining_revenue") == approx(49800.0)
    assert term_total(r, "grid_energy") == approx(-45000.0)
    assert term_total(r, "ppa_strike") == approx(-3360.0)


# ----------------------------------------------------------------------------------- PPAs


def test_physical_take_or_pay_settles_unused_volume_back_even_below_zero(make_instance):
    """Physical take-or-pay PPA: strike x vol paid; (vol - use) x (price - fee) settled.

    February. Aux 4 MW; physical PPA baseload 10 MW, strike 30, take_or_pay; price
    alternates 50 / -10; export fee 2; import adder 3.
    Per MWh, using PPA energy instead of importing changes the objective by
    -(price - fee) - adder - (-price - adder) = +fee > 0: use = 4 MW every hour, imp = 0,
    6 MW settled back at price - fee = 48 (even) and -12 (odd: a payment).
    ppa_strike = -30 x 10 x 672 = -201 600
    ppa_settlement = 6 x 336 x 48 + 6 x 336 x (-12) = 96 768 - 24 192 = 72 576
    import_adder = -4 x 3 x 672 = -8 064
    NPV = -137 088.
    """
    data = base_instance(
        sites=[base_site(
            aux_load_mw=4.0,
            grid={"price_usd_per_mwh": {"column": "price"}, "import_adder_usd_per_mwh": 3.0,
                  "export_fee_usd_per_mwh": 2.0})],
        ppas=[{"id": "p", "site": "s", "kind": "physical", "baseload_mw": 10.0,
               "strike_usd_per_mwh": 30.0, "take_or_pay": True,
               "start_period": 0, "end_period": 1}])
    r = solve_exact(make_instance(data, {"price": alternating(50.0, -10.0)}))

    assert r.npv_usd == approx(-137088.0)
    even, odd = even_odd(FEB)
    assert col(r, "use_p") == pytest.approx(4.0, abs=1e-6)
    assert col(r, "imp_mw") == pytest.approx(0.0, abs=1e-6)
    settle = col(r, "cf_ppa_settlement_usd_per_h")
    assert settle[even] == pytest.approx(6 * 48.0, abs=1e-6)
    assert settle[odd] == pytest.approx(6 * -12.0, abs=1e-6)
    assert term_total(r, "ppa_strike") == approx(-201600.0)
    assert term_total(r, "ppa_settlement") == approx(72576.0)
    assert term_total(r, "import_adder") == approx(-8064.0)
    assert term_total(r, "grid_energy") == approx(0.0)


def _onsite(curtailable: bool, take_or_pay: bool, export_limit: float) -> dict:
    return base_instance(
        sites=[base_site(
            aux_load_mw=3.0,
            grid={"price_usd_per_mwh": {"column": "price"}, "export_fee_usd_per_mwh": 2.0,
                  "import_adder_usd_per_mwh": 1.0, "export_limit_mw": export_limit})],
        ppas=[{"id": "sol", "site": "s", "kind": "onsite", "profile_column": "cf",
               "capacity_mw": 10.0, "strike_usd_per_mwh": 20.0, "take_or_pay": take_or_pay,
               "curtailable": curtailable, "start_period": 0, "end_period": 1}])


def test_onsite_curtailable_export_limit_binds(make_instance):
    """Onsite curtailable PPA (no take-or-pay): strike on energy taken, export at
    price - fee up to export_limit, the rest curtailed.

    February. Aux 3 MW; onsite PPA capacity 10 MW x profile 1.0 = 10 MW, strike 20;
    export limit 4 MW; export fee 2; import adder 1 (on imports only: onsite energy
    does not pass the meter); price alternates 40 / -10.
    - even hours (price 40): use 3 (20 < 40 + 1), export margin 40 - 2 - 20 = 18 > 0 ->
      out = 4 (limit binding), 3 MW curtailed: -20 x 7 + 4 x 38 = 12 USD/h;
    - odd hours (price -10): importing earns 10 - 1 = 9/MWh, using costs 20 -> imp 3,
      use 0; export margin -32 -> out 0; all 10 MW curtailed: +27 USD/h.
    ppa_strike = -7 x 20 x 336 = -47 040; ppa_export = 4 x 38 x 336 = 51 072;
    grid_energy = +3 x 10 x 336 = 10 080; import_adder = -3 x 1 x 336 = -1 008;
    NPV = 13 104.
    """
    r = solve_exact(make_instance(_onsite(True, False, 4.0),
                                  {"price": alternating(40.0, -10.0), "cf": np.ones(FEB)}))

    assert r.npv_usd == approx(13104.0)
    even, odd = even_odd(FEB)
    use, out, imp = col(r, "use_sol"), col(r, "out_sol"), col(r, "imp_mw")
    assert use[even] == pytest.approx(3.0, abs=1e-6)
    assert out[even] == pytest.approx(4.0, abs=1e-6)
    assert imp[even] == pytest.approx(0.0, abs=1e-6)
    assert use[odd] == pytest.approx(0.0, abs=1e-6)
    assert out[odd] == pytest.approx(0.0, abs=1e-6)
    assert imp[odd] == pytest.approx(3.0, abs=1e-6)
    assert term_total(r, "ppa_strike") == approx(-47040.0)
    assert term_total(r, "ppa_export") == approx(51072.0)
    assert term_total(r, "grid_energy") == approx(10080.0)
    assert term_total(r, "import_adder") == approx(-1008.0)


def test_onsite_non_curtailable_takes_whole_volume(make_instance):
    """Onsite non-curtailable take-or-pay PPA: use + out = vol (equality), strike x vol.

    Same data as the curtailable test but curtailable false, take_or_pay true and
    export limit 8 MW. Every hour use + out = 10, use <= load = 3, out <= 8.
    - even (price 40): use 3, out 7 beats use 2, out 8, imp 1 (266 vs 304 - 41 = 263);
    - odd (price -10): out must be >= 7; out 7 at -12 each = -84 beats out 8 + imp 1
      (-96 + 10 - 1 = -87): use 3, out 7, imp 0.
    ppa_strike = -20 x 10 x 672 = -134 400;
    ppa_export = 7 x 336 x 38 + 7 x 336 x (-12) = 61 152; NPV = -73 248.
    """
    r = solve_exact(make_instance(_onsite(False, True, 8.0),
                                  {"price": alternating(40.0, -10.0), "cf": np.ones(FEB)}))

    assert r.npv_usd == approx(-73248.0)
    assert col(r, "use_sol") == pytest.approx(3.0, abs=1e-6)
    assert col(r, "out_sol") == pytest.approx(7.0, abs=1e-6)
    assert col(r, "imp_mw") == pytest.approx(0.0, abs=1e-6)
    assert term_total(r, "ppa_strike") == approx(-134400.0)
    assert term_total(r, "ppa_export") == approx(61152.0)
    assert term_total(r, "import_adder") == approx(0.0)


def test_physical_ppa_is_metered_onsite_is_not(make_instance):
    """import_limit and demand_peak count grid imports plus physical PPA energy, not
    onsite PPA energy.

    February. Fleet 2000 x 3 kW = 6 MW, pool_fee 0.25 -> 50 USD/MWh IT; price 30;
    import limit 3 MW; demand charge 1 USD/kW-month. Physical PPA 2 MW and onsite PPA
    2 MW (curtailable, export limit 0), both strike 10, no take-or-pay.
    Cheapest first: onsite 2 + physical 2 (10/MWh) + grid; metered = imp + physical
    <= 3 -> imp <= 1, load <= 5 MW. Every MW earns at least 50 - 30 = 20/MWh x 672 h =
    13 440 > 1 000 of demand charge: run 5 MW = 1 666.67 units; peak 3 MW.
    mining_revenue = 5 x 50 x 672 = 168 000; grid_energy = -1 x 30 x 672 = -20 160;
    ppa_strike = -4 x 10 x 672 = -26 880; demand_charge = -3 x 1000 x 1 = -3 000.
    NPV = 117 960.
    """
    energy = {"site": "s", "baseload_mw": 2.0, "strike_usd_per_mwh": 10.0,
              "take_or_pay": False, "start_period": 0, "end_period": 1}
    data = base_instance(
        market={"pool_fee": 0.25},
        sites=[base_site(
            grid={"import_limit_mw": 3.0, "price_usd_per_mwh": 30.0,
                  "demand_charge_usd_per_kw_month": 1.0},
            halls={"mining_mw": 6.0}, fleet=[{**FLEET, "units": 2000}])],
        ppas=[{**energy, "id": "phys", "kind": "physical"},
              {**energy, "id": "onsite", "kind": "onsite", "curtailable": True}])
    r = solve_exact(make_instance(data))

    assert r.npv_usd == approx(117960.0)
    assert col(r, "run_asic") == pytest.approx(5000.0 / 3.0, abs=1e-6)
    assert col(r, "use_phys") == pytest.approx(2.0, abs=1e-6)
    assert col(r, "use_onsite") == pytest.approx(2.0, abs=1e-6)
    assert col(r, "out_onsite") == pytest.approx(0.0, abs=1e-6)
    assert col(r, "imp_mw") == pytest.approx(1.0, abs=1e-6)
    assert term_total(r, "mining_revenue") == approx(168000.0)
    assert term_total(r, "grid_energy") == approx(-20160.0)
    assert term_total(r, "ppa_strike") == approx(-26880.0)
    assert term_total(r, "demand_charge") == approx(-3000.0)


def test_ppa_min_take_forces_expensive_energy(make_instance):
    """ppa_min_take for a physical PPA without take-or-pay.

    February. Aux 8 MW; physical PPA baseload 10 MW, strike 40, min_take 0.5; price
    alternates 20 / 60. Unconstrained the site would use the PPA only in odd hours
    (40 < 60): 8 x 336 = 2 688 MWh < 0.5 x 10 x 672 = 3 360 MWh required, so 672 MWh
    more are taken in even hours (cost 40 - 20 = 20 extra per MWh).
    ppa_strike = -3 360 x 40 = -134 400; grid_energy = -(8 x 336 - 672) x 20 = -40 320;
    NPV = -174 720 (unconstrained it would be -161 280 = -174 720 + 672 x 20).
    """
    data = base_instance(
        sites=[base_site(aux_load_mw=8.0, grid={"price_usd_per_mwh": {"column": "price"}})],
        ppas=[{"id": "p", "site": "s", "kind": "physical", "baseload_mw": 10.0,
               "strike_usd_per_mwh": 40.0, "take_or_pay": False, "min_take_fraction": 0.5,
               "start_period": 0, "end_period": 1}])
    r = solve_exact(make_instance(data, {"price": alternating(20.0, 60.0)}))

    assert r.npv_usd == approx(-174720.0)
    even, odd = even_odd(FEB)
    use = col(r, "use_p")
    assert use[odd] == pytest.approx(8.0, abs=1e-6)
    assert use[even].sum() == pytest.approx(672.0, abs=1e-5)
    assert use.sum() == pytest.approx(3360.0, abs=1e-5)
    assert term_total(r, "ppa_strike") == approx(-134400.0)
    assert term_total(r, "grid_energy") == approx(-40320.0)


# ------------------------------------------------------------------------------ capex


def test_mandatory_contract_forces_gpu_purchase_through_lead_time(make_instance):
    """A mandatory contract in periods 1-2 forces buying in period 0 (lead 1).

    Feb, Mar, Apr (672, 744, 720 h). Product: 8 GPUs/unit, 10 kW, idle 0, capex
    [100 000, 200 000, 300 000], lead 1, life 5 y, spot price 0. Contract (mandatory):
    10 units at 0.2 USD/GPU-h, periods [1, 3). ai_mw 0.1; price 50.
    Units are usable from p + 1, so all 10 must be ordered in period 0: I = 0, 10, 10.
    Contract revenue = 10 x 8 x 0.2 x (744 + 720) = 23 424; energy 0.1 MW x 1464 x 50
    = 7 320; capex -1 000 000; residual (delivery p1, y_end - y_start(1) = 1464/8760):
    1 000 000 x (1 - 1464/43 800) = 966 575.342466.
    NPV = 23 424 - 7 320 - 1 000 000 + 966 575.342466 = -17 320.657534 (a loss the
    mandatory contract imposes).
    """
    data = base_instance(
        periods=3,
        sites=[base_site(grid={"price_usd_per_mwh": 50.0}, halls={"mining_mw": 0.0,
                                                                  "ai_mw": 0.1})],
        gpu_products=[{"id": "g", "gpus_per_unit": 8, "it_kw": 10.0, "cooling": "air",
                       "capex_usd": [1.0e5, 2.0e5, 3.0e5], "lead_periods": 1,
                       "life_years": 5.0, "spot_price_usd_per_gpu_hour": 0.0}],
        contracts=[{"id": "k", "site": "s", "product": "g", "units": 10,
                    "price_usd_per_gpu_hour": 0.2, "start_period": 1, "end_period": 3}])
    r = solve_exact(make_instance(data))

    residual = 1.0e6 * (1 - 1464 / (5 * Y))
    assert r.npv_usd == approx(23424.0 - 7320.0 - 1.0e6 + residual)
    assert capex_qty(r, "gpu", "g", 0) == pytest.approx(10.0)
    assert capex_qty(r, "gpu", "g") == pytest.approx(10.0)
    assert capex_qty(r, "contract", "k") == pytest.approx(1.0)
    inst = col(r, "installed_g")
    p = periods(r)
    assert inst[p == 0] == pytest.approx(0.0, abs=1e-9)
    assert inst[p >= 1] == pytest.approx(10.0, abs=1e-9)
    assert term_total(r, "gpu_capex") == approx(-1.0e6)
    assert term_total(r, "residual_value") == approx(residual)
    assert term_total(r, "contract_revenue") == approx(23424.0)
    assert term_total(r, "grid_energy") == approx(-7320.0)


def test_capex_budget_and_supply_cap_bind(make_instance):
    """capex_budget (per period) and max_units_per_period limit profitable GPU orders.

    Feb, Mar. Product: 8 GPUs/unit, 10 kW, lead 0, life 1 y, capex 10 000, spot
    1 USD/GPU-h, max 40 units per period; price 50; ai_mw 1 (room for 100 units).
    Spot margin per unit-hour = 8 x 1 - 0.01 x 50 = 7.5 USD.
    - unit ordered in p0: 7.5 x 1416 - 10 000 + 10 000 x (1 - 1416/8760)
      = 10 620 - 1 616.438356 = 9 003.561644;
    - unit ordered in p1: 7.5 x 744 - 10 000 x 744/8760 = 5 580 - 849.315068 = 4 730.684932.
    Budget [250 000, 1e9]: p0 buys 250 000 / 10 000 = 25 (budget binding); p1 buys 40
    (supply cap binding). spot = installed = 25 in Feb, 65 in Mar.
    NPV = 25 x 9 003.561644 + 40 x 4 730.684932 = 414 316.438356.
    """
    data = base_instance(
        periods=2, capex_budget_usd=[2.5e5, 1.0e9],
        sites=[base_site(grid={"price_usd_per_mwh": 50.0}, halls={"mining_mw": 0.0,
                                                                  "ai_mw": 1.0})],
        gpu_products=[{"id": "g", "gpus_per_unit": 8, "it_kw": 10.0, "cooling": "air",
                       "capex_usd": 1.0e4, "lead_periods": 0, "life_years": 1.0,
                       "max_units_per_period": 40, "spot_price_usd_per_gpu_hour": 1.0}])
    r = solve_exact(make_instance(data))

    per_p0 = 7.5 * 1416 - 1.0e4 * 1416 / Y
    per_p1 = 7.5 * 744 - 1.0e4 * 744 / Y
    assert r.npv_usd == approx(25 * per_p0 + 40 * per_p1)
    assert capex_qty(r, "gpu", "g", 0) == pytest.approx(25.0)
    assert capex_qty(r, "gpu", "g", 1) == pytest.approx(40.0)
    p = periods(r)
    assert col(r, "spot_g")[p == 0] == pytest.approx(25.0, abs=1e-6)
    assert col(r, "spot_g")[p == 1] == pytest.approx(65.0, abs=1e-6)
    assert term_total(r, "gpu_capex", period=0) == approx(-2.5e5)
    assert term_total(r, "gpu_capex", period=1) == approx(-4.0e5)
    assert term_total(r, "gpu_spot_revenue") == approx(8 * (25 * 1416 + 40 * 744))
    assert term_total(r, "residual_value") == approx(
        2.5e5 * (1 - 1416 / Y) + 4.0e5 * (1 - 744 / Y))


def test_hall_conversion_forces_asic_retirement_with_salvage(make_instance):
    """A mandatory lease in period 1 needs a converted block (lead 1), started in
    period 0; the mining hall shrinks at once, so ASICs are retired (salvage earned).

    Feb, Mar. mining_mw 3, ai_mw 0; conversion: block 1 MW, 50 000 USD, lead 1, max 1,
    life 10 y. Fleet 1000 x (100 TH, 3 kW), pool_fee 0.25 -> 0.15 USD/unit-h; price 30 ->
    margin 0.06 USD/unit-h; salvage [50, 20] USD/unit. Lease: 1 MW air, 10 USD/kW-month,
    energy rate 40 USD/MWh, periods [1, 2), mandatory.
    AH[1] = 1 x conv[0] >= 1 -> conv[0] = 1 -> MH[0] = MH[1] = 2 MW -> A <= 666.67:
    retire 333.33 units in period 0. Retiring more does not pay (50 < 0.06 x 1416 = 84.96
    in p0; 20 < 0.06 x 744 = 44.64 in p1).
    mining: 666.67 x 0.06 x 1416 = 56 640; salvage 333.33 x 50 = 16 666.67;
    conversion -50 000, residual 50 000 x (1 - (744/8760)/10) = 49 575.342466;
    lease capacity 1 x 1000 x 10 = 10 000, lease energy 40 x 744 = 29 760, its power
    -1 x 30 x 744 = -22 320.
    NPV = 56 640 + 16 666.666667 - 424.657534 + 10 000 + 29 760 - 22 320 = 90 322.009132.
    """
    data = base_instance(
        periods=2, market={"pool_fee": 0.25},
        sites=[base_site(
            grid={"price_usd_per_mwh": 30.0},
            halls={"mining_mw": 3.0, "ai_mw": 0.0,
                   "conversion": {"block_mw": 1.0, "capex_usd_per_block": 5.0e4,
                                  "lead_periods": 1, "max_blocks": 1, "life_years": 10.0}},
            fleet=[{**FLEET, "salvage_usd_per_unit": [50.0, 20.0]}])],
        leases=[{"id": "l", "site": "s", "it_mw": 1.0, "cooling": "air",
                 "price_usd_per_kw_month": 10.0, "energy_rate_usd_per_mwh": 40.0,
                 "start_period": 1, "end_period": 2}])
    r = solve_exact(make_instance(data))

    residual = 5.0e4 * (1 - 744 / Y / 10)
    assert r.npv_usd == approx(56640 + 1e6 / 3 * 0.05 - 5.0e4 + residual + 10000 + 29760
                               - 22320)
    assert capex_qty(r, "conversion", period=0) == pytest.approx(1.0)
    assert capex_qty(r, "retire", "asic", 0) == pytest.approx(1000 / 3, abs=1e-6)
    assert capex_qty(r, "retire", "asic") == pytest.approx(1000 / 3, abs=1e-6)
    assert col(r, "run_asic") == pytest.approx(2000 / 3, abs=1e-6)
    assert col(r, "lease_it_mw")[periods(r) == 1] == pytest.approx(1.0, abs=1e-9)
    assert term_total(r, "asic_salvage") == approx(50 * 1000 / 3)
    assert term_total(r, "conversion_capex") == approx(-5.0e4)
    assert term_total(r, "residual_value") == approx(residual)
    assert term_total(r, "mining_revenue") == approx(2000 / 3 * 0.15 * 1416)
    assert term_total(r, "lease_capacity_revenue") == approx(10000.0)
    assert term_total(r, "lease_energy_revenue") == approx(29760.0)
    assert term_total(r, "grid_energy") == approx(-(2 * 1416 + 744) * 30.0)


def test_salvage_is_not_counted_against_the_budget(make_instance):
    """capex_budget caps capex ordered before salvage.

    The conversion test's data with the lease optional and a budget of 40 000 per
    period. Converting costs 50 000 > 40 000, so no block is converted even though
    retiring the 333.33 ASICs it forces would bring 16 667 of salvage (50 000 - 16 667
    = 33 333 would fit, and the plan would be worth 90 322.01). Without a converted
    block the lease cannot be hosted (AH = 0): declined. No ASIC is retired (salvage 50
    < 84.96 of mining per unit).
    mining_revenue = 1000 x 0.15 x 1416 = 212 400; grid_energy = -3 x 30 x 1416
    = -127 440; NPV = 84 960.
    """
    data = base_instance(
        periods=2, market={"pool_fee": 0.25}, capex_budget_usd=4.0e4,
        sites=[base_site(
            grid={"price_usd_per_mwh": 30.0},
            halls={"mining_mw": 3.0, "ai_mw": 0.0,
                   "conversion": {"block_mw": 1.0, "capex_usd_per_block": 5.0e4,
                                  "lead_periods": 1, "max_blocks": 1, "life_years": 10.0}},
            fleet=[{**FLEET, "salvage_usd_per_unit": [50.0, 20.0]}])],
        leases=[{"id": "l", "site": "s", "it_mw": 1.0, "cooling": "air",
                 "price_usd_per_kw_month": 10.0, "energy_rate_usd_per_mwh": 40.0,
                 "start_period": 1, "end_period": 2, "optional": True}])
    r = solve_exact(make_instance(data))

    assert r.npv_usd == approx(84960.0)
    assert capex_qty(r, "conversion") == pytest.approx(0.0)
    assert capex_qty(r, "retire") == pytest.approx(0.0)
    assert capex_qty(r, "lease", "l") == pytest.approx(0.0)
    assert col(r, "run_asic") == pytest.approx(1000.0, abs=1e-6)
    assert term_total(r, "mining_revenue") == approx(212400.0)
    assert term_total(r, "grid_energy") == approx(-127440.0)


def test_gpu_life_ends_availability_and_residual_value(make_instance):
    """GPU life: units ordered in p are unavailable once y_start(p') - y_start(p + lead)
    >= life; residual = price x max(0, 1 - (y_end - y_start(delivery)) / life).

    Feb, Mar, Apr (y_start = 0, 672/8760, 1416/8760; y_end = 2136/8760). Product:
    8 GPUs/unit, 10 kW, lead 0, life 0.1 y (876 h), capex 1 000, spot 0.25 USD/GPU-h
    (2 USD/unit-h), price 0; ai_mw 0.1 (10 units).
    A unit ordered in p0 serves p0, p1 (p2 starts 1416 h >= 876 h after delivery) and
    keeps max(0, 1 - 2136/876) = 0; ordered in p1 it serves p1, p2 (744 < 876), keeps 0;
    ordered in p2 it serves p2 and keeps 1 - 720/876 = 0.178082 (178.082192 USD).
    Value per unit: x0 = 2 x 1416 - 1000 = 1 832; x1 = 2 x 1464 - 1000 = 1 928;
    x2 = 2 x 720 - 1000 + 178.082192 = 618.082192. Hall: x0 <= 10, x0 + x1 <= 10,
    x1 + x2 <= 10. With x0 = 10 - t, x2 = 10 - t the value falls with t: buy 10 in p0
    and 10 again in p2.
    NPV = 10 x 1 832 + 10 x 618.082192 = 24 500.821918.
    """
    data = base_instance(
        periods=3,
        sites=[base_site(halls={"mining_mw": 0.0, "ai_mw": 0.1})],
        gpu_products=[{"id": "g", "gpus_per_unit": 8, "it_kw": 10.0, "cooling": "air",
                       "capex_usd": 1000.0, "lead_periods": 0, "life_years": 0.1,
                       "spot_price_usd_per_gpu_hour": 0.25}])
    r = solve_exact(make_instance(data))

    residual = 1000.0 * (1 - 720 / 876)
    assert r.npv_usd == approx(10 * 1832 + 10 * (1440 - 1000 + residual))
    assert capex_qty(r, "gpu", "g", 0) == pytest.approx(10.0)
    assert capex_qty(r, "gpu", "g", 1) == pytest.approx(0.0)
    assert capex_qty(r, "gpu", "g", 2) == pytest.approx(10.0)
    assert col(r, "installed_g") == pytest.approx(10.0, abs=1e-9)
    assert col(r, "spot_g") == pytest.approx(10.0, abs=1e-6)
    assert term_total(r, "residual_value", period=0) == approx(0.0)
    assert term_total(r, "residual_value", period=2) == approx(10 * residual)
    assert term_total(r, "gpu_capex") == approx(-20000.0)
    assert term_total(r, "gpu_spot_revenue") == approx(2 * 10 * 2136)


def test_gpu_life_counts_from_delivery(make_instance):
    """With a lead time, a unit's age counts from its delivery period p + lead.

    Feb, Mar, Apr; same product as the life test (life 0.1 y = 876 h, capex 1 000,
    2 USD/unit-h, ai_mw 0.1) but lead 1. Ordered in p0, delivered in p1: in p2 its age
    is y_start(2) - y_start(1) = 744 h < 876 h, so it serves p1 and p2 (1 464 h); its
    residual is max(0, 1 - 1464/876) = 0: value x0 = 2 x 1464 - 1000 = 1 928. Ordered
    in p1 (delivered p2): 2 x 720 - 1000 + 1000 x (1 - 720/876) = 618.082192. Hall in
    p2: x0 + x1 <= 10 -> x0 = 10, x1 = 0 (counting age from the order date would
    instead expire the p0 units in p2 and buy 10 more in p1).
    NPV = 10 x 1 928 = 19 280; installed 0, 10, 10.
    """
    data = base_instance(
        periods=3,
        sites=[base_site(halls={"mining_mw": 0.0, "ai_mw": 0.1})],
        gpu_products=[{"id": "g", "gpus_per_unit": 8, "it_kw": 10.0, "cooling": "air",
                       "capex_usd": 1000.0, "lead_periods": 1, "life_years": 0.1,
                       "spot_price_usd_per_gpu_hour": 0.25}])
    r = solve_exact(make_instance(data))

    assert r.npv_usd == approx(19280.0)
    assert capex_qty(r, "gpu", "g", 0) == pytest.approx(10.0)
    assert capex_qty(r, "gpu", "g") == pytest.approx(10.0)
    p = periods(r)
    assert col(r, "installed_g")[p == 0] == pytest.approx(0.0, abs=1e-9)
    assert col(r, "installed_g")[p >= 1] == pytest.approx(10.0, abs=1e-9)
    assert col(r, "spot_g")[p >= 1] == pytest.approx(10.0, abs=1e-6)
    assert term_total(r, "residual_value") == approx(0.0)
    assert term_total(r, "gpu_spot_revenue") == approx(2 * 10 * 1464)


def test_grid_and_cooling_upgrades_with_lead(make_instance):
    """import_limit and cooling bind; upgrades are usable from p + lead.

    Feb, Mar, Apr. Fleet 2000 x (100 TH, 3 kW) = 6 MW, pool_fee 0.25 -> 50 USD/MWh IT;
    price 30 -> margin 20 USD/MWh. Import limit 3 MW; air cooling 4 MW.
    Grid upgrade +3 MW, 30 000, lead 1, life 1 y; cooling upgrade (air) +2 MW, 20 000,
    lead 0, life 1 y; max one each.
    Grid ordered in p0 is usable in p1, p2 (1464 h) and keeps 1 - 1464/8760 of its price
    (net cost 30 000 x 1464/8760 = 5 013.70); ordered in p1 it serves p2 only.
    With the grid upgrade from p1 the cooling limit (4 MW) binds; the cooling upgrade
    ordered in p1 (net 20 000 x 1464/8760 = 3 342.47) lifts it to 6 MW for p1, p2; in p0
    it would be useless (import-limited to 3 MW) and cost more (2136/8760 of its price).
    p0 grid + p1 cooling: +3 MW x 1464 h x 20 = 87 840 - 8 356.16 (best; p1 grid + p2
    cooling gives 43 200 - 2 465.75 - 1 643.84).
    run = 1000 units in Feb, 2000 in Mar and Apr.
    NPV = 20 x (3 x 672 + 6 x 1464) - 50 000 x 1464/8760 = 216 000 - 8 356.164384
    = 207 643.835616.
    """
    fleet = {**FLEET, "units": 2000}
    data = base_instance(
        periods=3, market={"pool_fee": 0.25},
        sites=[base_site(
            grid={"import_limit_mw": 3.0, "price_usd_per_mwh": 30.0,
                  "upgrades": [{"id": "sub", "add_mw": 3.0, "capex_usd": 3.0e4,
                                "lead_periods": 1, "max_count": 1, "life_years": 1.0}]},
            cooling={"air": {"capacity_mw": 4.0},
                     "upgrades": [{"id": "chill", "type": "air", "add_mw": 2.0,
                                   "capex_usd": 2.0e4, "lead_periods": 0, "max_count": 1,
                                   "life_years": 1.0}]},
            halls={"mining_mw": 6.0}, fleet=[fleet])])
    r = solve_exact(make_instance(data))

    assert r.npv_usd == approx(20 * (3 * 672 + 6 * 1464) - 5.0e4 * 1464 / Y)
    assert capex_qty(r, "grid_upgrade", "sub", 0) == pytest.approx(1.0)
    assert capex_qty(r, "grid_upgrade", "sub") == pytest.approx(1.0)
    assert capex_qty(r, "cooling_upgrade", "chill", 1) == pytest.approx(1.0)
    assert capex_qty(r, "cooling_upgrade", "chill") == pytest.approx(1.0)
    p = periods(r)
    run, imp = col(r, "run_asic"), col(r, "imp_mw")
    assert run[p == 0] == pytest.approx(1000.0, abs=1e-6)
    assert run[p >= 1] == pytest.approx(2000.0, abs=1e-6)
    assert imp[p == 0] == pytest.approx(3.0, abs=1e-6)
    assert term_total(r, "grid_upgrade_capex") == approx(-3.0e4)
    assert term_total(r, "cooling_upgrade_capex") == approx(-2.0e4)
    assert term_total(r, "residual_value") == approx(5.0e4 * (1 - 1464 / Y))


# ------------------------------------------------------------------------- AI compute


def test_spot_utilisation_gpu_availability_idle_power_and_opex(make_instance):
    """gpu_available, spot_market, idle_fraction, gpu opex, fixed opex, existing GPUs,
    an optional contract accepted and one declined.

    Feb, Mar. 10 units already installed (no capex); ai_mw 0.1 (full: no purchase).
    Product: 8 GPUs/unit, 10 kW, idle 0.3, spot_max_utilization 0.6, opex 8 760
    USD/unit-year (1 USD/unit-h), spot price alternates 1.0 / 0.01 USD/GPU-h; price 50.
    Life 0.05 y (438 h): installed units do not age, so they still serve March.
    Fixed opex 100 000 USD/year. Busy unit power 0.7 x 0.01 MW x 50 = 0.35 USD/h.
    - odd hours: spot margin 8 x 0.01 - 0.35 < 0 -> spot 0;
    - even hours: margin 8 - 0.35 = 7.65 -> spot as high as allowed.
    Contract k1 (optional, 5 units at 0.5 USD/GPU-h, period 0): +20 - 1.75 = 18.25 USD/h
    for 672 h = 12 264, costs one spot unit in 336 even hours (spot <= 10 - 5 = 5 < 0.6 x
    10 = 6): -2 570.4 -> accepted. Contract k2 (optional, 2 units at 0.02, periods 0-1):
    0.32 - 0.7 < 0 USD/h -> declined.
    Feb: spot 5 (gpu_available binds), IT = 0.01 x (0.3 x 10 + 0.7 x (5 + 5)) = 0.1 MW
    (even), 0.01 x (3 + 3.5) = 0.065 (odd). Mar: spot 6 (spot_market binds), IT 0.072 /
    0.03.
    gpu_spot_revenue = 5 x 8 x 336 + 6 x 8 x 372 = 13 440 + 17 856 = 31 296
    contract_revenue = 5 x 8 x 0.5 x 672 = 13 440
    grid_energy = -50 x (336 x (0.1 + 0.065) + 372 x (0.072 + 0.03)) = -2 772 - 1 897.2
    gpu_opex = -10 x 1416 = -14 160; fixed_opex = -100 000 x 1416/8760 = -16 164.383562
    NPV = 9 742.416438.
    """
    data = base_instance(
        periods=2,
        sites=[base_site(
            fixed_opex_usd_per_year=1.0e5, grid={"price_usd_per_mwh": 50.0},
            halls={"mining_mw": 0.0, "ai_mw": 0.1}, gpus=[{"product": "g", "units": 10}])],
        gpu_products=[{"id": "g", "gpus_per_unit": 8, "it_kw": 10.0, "idle_fraction": 0.3,
                       "cooling": "air", "capex_usd": 1.0e6, "lead_periods": 0,
                       "life_years": 0.05, "opex_usd_per_unit_year": 8760.0,
                       "spot_price_usd_per_gpu_hour": {"column": "spot"},
                       "spot_max_utilization": 0.6}],
        contracts=[
            {"id": "k1", "site": "s", "product": "g", "units": 5,
             "price_usd_per_gpu_hour": 0.5, "start_period": 0, "end_period": 1,
             "optional": True},
            {"id": "k2", "site": "s", "product": "g", "units": 2,
             "price_usd_per_gpu_hour": 0.02, "start_period": 0, "end_period": 2,
             "optional": True}])
    r = solve_exact(make_instance(data, {"spot": alternating(1.0, 0.01)}))

    fixed = -1.0e5 * 1416 / Y
    assert r.npv_usd == approx(31296 + 13440 - 2772 - 1897.2 - 14160 + fixed)
    assert capex_qty(r, "contract", "k1") == pytest.approx(1.0)
    assert capex_qty(r, "contract", "k2") == pytest.approx(0.0)
    assert capex_qty(r, "gpu") == pytest.approx(0.0)
    p = periods(r)
    even, odd = even_odd(FEB + MAR)
    spot, it = col(r, "spot_g"), col(r, "it_air_mw")
    assert spot[even & (p == 0)] == pytest.approx(5.0, abs=1e-6)
    assert spot[even & (p == 1)] == pytest.approx(6.0, abs=1e-6)
    assert spot[odd] == pytest.approx(0.0, abs=1e-6)
    assert col(r, "installed_g") == pytest.approx(10.0, abs=1e-9)
    assert it[even & (p == 0)] == pytest.approx(0.1, abs=1e-9)
    assert it[odd & (p == 0)] == pytest.approx(0.065, abs=1e-9)
    assert it[even & (p == 1)] == pytest.approx(0.072, abs=1e-9)
    assert it[odd & (p == 1)] == pytest.approx(0.03, abs=1e-9)
    assert term_total(r, "gpu_spot_revenue") == approx(31296.0)
    assert term_total(r, "contract_revenue") == approx(13440.0)
    assert term_total(r, "grid_energy") == approx(-4669.2)
    assert term_total(r, "gpu_opex") == approx(-14160.0)
    assert term_total(r, "gpu_opex", period=0) == approx(-6720.0)
    assert term_total(r, "fixed_opex") == approx(fixed)


def test_optional_leases_and_virtual_ppas(make_instance):
    """Optional leases and virtual PPAs, accepted when they pay, declined otherwise.

    Feb, Mar (1416 h, half even). Price alternates 30 / 70 (mean 50). ai_mw 2;
    liquid cooling 1 MW with PUE 1.2.
    - lease A (optional, 1 MW liquid, 20 USD/kW-month, energy rate 40, periods 0-1):
      capacity 1 x 1000 x 20 x 2 months = 40 000, energy 40 x 1416 = 56 640, power
      -1.2 x 50 x 1416 = -84 960 -> +11 680: accepted.
    - lease B (optional, 1 MW air, 5 USD/kW-month, period 1): 5 000 - 50 x 744 < 0:
      declined.
    - virtual PPA a (optional, 2 MW, strike 40): 2 x (50 - 40) x 1416 = 28 320: signed.
    - virtual PPA b (optional, 2 MW, strike 55): 2 x (50 - 55) x 1416 < 0: declined.
    NPV = 11 680 + 28 320 = 40 000.
    """
    vppa = {"site": "s", "kind": "virtual", "baseload_mw": 2.0, "start_period": 0,
            "end_period": 2, "optional": True}
    data = base_instance(
        periods=2,
        sites=[base_site(
            grid={"price_usd_per_mwh": {"column": "price"}},
            cooling={"liquid": {"capacity_mw": 1.0, "pue": 1.2}},
            halls={"mining_mw": 0.0, "ai_mw": 2.0})],
        leases=[
            {"id": "la", "site": "s", "it_mw": 1.0, "cooling": "liquid",
             "price_usd_per_kw_month": 20.0, "energy_rate_usd_per_mwh": 40.0,
             "start_period": 0, "end_period": 2, "optional": True},
            {"id": "lb", "site": "s", "it_mw": 1.0, "cooling": "air",
             "price_usd_per_kw_month": 5.0, "start_period": 1, "end_period": 2,
             "optional": True}],
        ppas=[{**vppa, "id": "va", "strike_usd_per_mwh": 40.0},
              {**vppa, "id": "vb", "strike_usd_per_mwh": 55.0}])
    r = solve_exact(make_instance(data, {"price": alternating(30.0, 70.0)}))

    assert r.npv_usd == approx(40000.0)
    assert capex_qty(r, "lease", "la") == pytest.approx(1.0)
    assert capex_qty(r, "lease", "lb") == pytest.approx(0.0)
    assert capex_qty(r, "ppa", "va") == pytest.approx(1.0)
    assert capex_qty(r, "ppa", "vb") == pytest.approx(0.0)
    assert col(r, "it_liquid_mw") == pytest.approx(1.0, abs=1e-9)
    assert col(r, "it_air_mw") == pytest.approx(0.0, abs=1e-9)
    assert col(r, "load_mw") == pytest.approx(1.2, abs=1e-9)
    assert term_total(r, "lease_capacity_revenue") == approx(40000.0)
    assert term_total(r, "lease_capacity_revenue", period=0) == approx(20000.0)
    assert term_total(r, "lease_energy_revenue") == approx(56640.0)
    assert term_total(r, "grid_energy") == approx(-84960.0)
    assert term_total(r, "vppa_settlement") == approx(28320.0)
    even, odd = even_odd(FEB + MAR)
    settle = col(r, "cf_vppa_settlement_usd_per_h")
    assert settle[even] == pytest.approx(2 * (30.0 - 40.0), abs=1e-9)
    assert settle[odd] == pytest.approx(2 * (70.0 - 40.0), abs=1e-9)


# ------------------------------------------------------------------------- discounting


def test_discount_factors_mid_start_and_end(make_instance):
    """D_p = 1.1^-y_mid(p) (operations), E_p = 1.1^-y_start(p) (capex),
    D_end = 1.1^-y_end (residual), with y in hours / 8760.

    Feb, Mar; r = 0.1. y_mid = 336/8760, 1044/8760; y_start(1) = 672/8760;
    y_end = 1416/8760:
      D_0 = 0.996350941, D_1 = 0.988705384, E_1 = 0.992715198, D_end = 0.984711767.
    Fleet 3 MW, pool_fee 0.25, price 30 -> mining margin 60 USD/h: 40 320 (p0), 44 640
    (p1). Fixed opex 87 600 USD/y = 10 USD/h: -6 720, -7 440.
    Mandatory contract: 1 unit x 8 GPUs x 1 USD/GPU-h in period 1 only = 5 952; its
    power 0.01 MW x 30 x 744 = 223.2. Product lead 0, life 1 y, capex 10 000, spot 0:
    bought in p1 (in p0 it would cost more and keep less): capex -10 000 x E_1, residual
    10 000 x (1 - 744/8760) = 9 150.684932 x D_end.
    NPV = D_0 x 33 600 + D_1 x 42 928.8 - E_1 x 10 000 + D_end x 9 150.684932
        = 33 477.391622 + 42 443.935694 - 9 927.151979 + 9 010.787128 = 75 004.962464.
    """
    data = base_instance(
        periods=2, discount_rate=0.1, market={"pool_fee": 0.25},
        sites=[base_site(
            fixed_opex_usd_per_year=87600.0, grid={"price_usd_per_mwh": 30.0},
            halls={"mining_mw": 3.0, "ai_mw": 0.01}, fleet=[FLEET])],
        gpu_products=[{"id": "g", "gpus_per_unit": 8, "it_kw": 10.0, "cooling": "air",
                       "capex_usd": 1.0e4, "lead_periods": 0, "life_years": 1.0,
                       "spot_price_usd_per_gpu_hour": 0.0}],
        contracts=[{"id": "k", "site": "s", "product": "g", "units": 1,
                    "price_usd_per_gpu_hour": 1.0, "start_period": 1, "end_period": 2}])
    r = solve_exact(make_instance(data))

    d0, d1 = 1.1 ** (-336 / Y), 1.1 ** (-1044 / Y)
    e0, e1, dend = 1.0, 1.1 ** (-672 / Y), 1.1 ** (-1416 / Y)
    assert (d0, d1, e1, dend) == (pytest.approx(0.996350941), pytest.approx(0.988705384),
                                  pytest.approx(0.992715198), pytest.approx(0.984711767))
    residual = 1.0e4 * (1 - 744 / Y)
    expected = d0 * (40320 - 6720) + d1 * (44640 - 7440 + 5952 - 223.2) - e1 * 1.0e4 \
        + dend * residual
    assert r.npv_usd == approx(expected)
    assert r.npv_usd == approx(75004.962464)
    assert capex_qty(r, "gpu", "g", 1) == pytest.approx(1.0)
    assert capex_qty(r, "gpu", "g") == pytest.approx(1.0)
    cf = r.cashflows
    factor = {(row.term, row.period): row.discount_factor for row in cf.itertuples()}
    assert factor["mining_revenue", 0] == pytest.approx(d0, rel=1e-12)
    assert factor["mining_revenue", 1] == pytest.approx(d1, rel=1e-12)
    assert factor["fixed_opex", 0] == pytest.approx(d0, rel=1e-12)
    assert factor["contract_revenue", 1] == pytest.approx(d1, rel=1e-12)
    assert factor["gpu_capex", 1] == pytest.approx(e1, rel=1e-12)
    assert factor["residual_value", 1] == pytest.approx(dend, rel=1e-12)
    assert term_total(r, "gpu_capex", discounted=True) == approx(-e1 * 1.0e4)
    assert term_total(r, "residual_value", discounted=True) == approx(dend * residual)
    assert term_total(r, "fixed_opex", period=1, discounted=True) == approx(-7440 * d1)
    assert term_total(r, "contract_revenue", discounted=True) == approx(5952 * d1)
    assert e0 == 1.0
