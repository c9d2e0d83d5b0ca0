"""The independent checker (optimizer/check.py): it passes on untouched run folders of
the bundled instances and fails, naming the group or term, on tampered copies."""

from __future__ import annotations

import ast
import datetime as dt
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import base_instance, base_site, horizon_hours, write_series

from optimizer.check import CASHFLOW_TERMS, CONSTRAINT_GROUPS, DEAL_GROUPS, check_run
from optimizer.check.deal_math import (
    annuity_factor,
    depreciation_years_counted,
    discount_sum,
    escalation_steps,
    extended_calendar,
    financing_multiplier,
)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def quickstart_run(bundled_run) -> Path:
    return bundled_run("quickstart")[2]


@pytest.fixture(scope="module")
def permian_run(bundled_run) -> Path:
    return bundled_run("permian-1y")[2]


def copy_of(run: Path, tmp_path: Path) -> Path:
    out = tmp_path / "copy"
    shutil.copytree(run, out)
    return out


def assert_fails(report, name: str) -> None:
    assert not report.ok
    assert name in report.failed(), report.to_text()
    line = next(ln for ln in report.to_text().splitlines() if ln.strip().startswith(name + " "))
    assert "FAIL" in line


# --------------------------------------------------------------------------- independence


def test_the_checker_imports_nothing_of_the_model_or_the_solver():
    imported = set()
    for path in (ROOT / "optimizer" / "check").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                imported.add(("." * node.level) + (node.module or ""))
    # the checker's own modules (.run, .deal_math) and the instance layer, nothing else
    allowed = {"__future__", "json", "math", "collections", "collections.abc", "dataclasses",
               "datetime", "pathlib", "typing", "numpy", "pandas", "..instance", ".run",
               ".deal_math"}
    assert imported <= allowed, imported


# --------------------------------------------------------------------------- untouched runs


def test_quickstart_run_passes(quickstart_run):
    report = check_run(quickstart_run)
    assert report.ok, report.to_text()
    assert report.npv_relative_difference <= 1e-9
    summary = json.loads((quickstart_run / "summary.json").read_text())
    assert report.npv_recomputed == pytest.approx(summary["npv_usd"], rel=1e-9)
    for name in ("power_balance", "import_limit", "gpu_available", "cooling", "fleet_available"):
        assert report.groups[name].rows > 0
        assert report.groups[name].max_violation <= 1e-6


def test_permian_run_passes_with_every_group_evaluated(permian_run):
    report = check_run(permian_run)
    assert report.ok, report.to_text()
    # permian-1y uses every element of the format: every group has rows to check
    for name, _, _ in CONSTRAINT_GROUPS:
        if name not in ("undefined_decisions",):
            assert report.groups[name].rows > 0, name
    for term in ("ppa_strike", "ppa_settlement", "ppa_export", "demand_charge",
                 "coincident_peak", "ancillary_revenue", "residual_value", "asic_salvage"):
        assert report.terms[term].rows > 0 and report.terms[term].ok, term


def test_portfolio_run_passes(bundled_run):
    report = check_run(bundled_run("portfolio-3y")[2])
    assert report.ok, report.to_text()
    assert report.mode == "representative"
    assert report.npv_relative_difference <= 1e-9


# --------------------------------------------------------------------------- report API


def test_report_text_and_frame_name_every_group_and_term(quickstart_run):
    report = check_run(quickstart_run)
    text = report.to_text()
    assert text.splitlines()[0].endswith(": OK")
    for name, _, _ in CONSTRAINT_GROUPS:
        assert name in text
    assert "NPV: recomputed" in text
    frame = report.to_frame()
    assert set(frame["name"]) >= {g for g, _, _ in CONSTRAINT_GROUPS} | set(CASHFLOW_TERMS)
    assert {"section", "max_violation", "max_relative", "ok", "where"} <= set(frame.columns)
    assert frame["ok"].all()
    assert (frame["max_violation"].dropna() >= 0).all()
    assert report.max_violations["power_balance"] >= 0
    assert set(report.max_term_differences) >= set(CASHFLOW_TERMS)


def test_a_folder_without_tables_is_not_ok(quickstart_run, tmp_path):
    run = copy_of(quickstart_run, tmp_path)
    (run / "dispatch.parquet").unlink()
    report = check_run(run)
    assert not report.ok
    assert "problems" in report.failed()
    assert "dispatch.parquet" in report.to_text()


# --------------------------------------------------------------------------- tampering


def test_altered_grid_import_fails_power_balance(quickstart_run, tmp_path):
    run = copy_of(quickstart_run, tmp_path)
    disp = pd.read_parquet(run / "dispatch.parquet")
    i = int(disp["imp_mw"].idxmax())  # an hour at the import limit
    disp.loc[i, "imp_mw"] += 5.0
    disp.to_parquet(run / "dispatch.parquet", index=False)
    report = check_run(run)
    assert_fails(report, "power_balance")
    assert report.groups["power_balance"].max_violation == pytest.approx(5.0, abs=1e-6)
    assert disp.loc[i, "timestamp"].strftime("%Y-%m-%dT%H:%MZ") in \
        report.groups["power_balance"].where
    assert_fails(report, "import_limit")
    # the tables' grid_energy no longer matches the altered decision either
    assert_fails(report, "grid_energy")


def test_changed_cash_flow_row_fails_its_term(quickstart_run, tmp_path):
    run = copy_of(quickstart_run, tmp_path)
    cash = pd.read_csv(run / "cashflows.csv")
    i = int(cash.index[cash["term"] == "mining_revenue"][0])
    cash.loc[i, "undiscounted_usd"] += 1000.0
    cash.loc[i, "discounted_usd"] = cash.loc[i, "undiscounted_usd"] * cash.loc[
        i, "discount_factor"]
    cash.to_csv(run / "cashflows.csv", index=False)
    report = check_run(run)
    assert_fails(report, "mining_revenue")
    assert report.terms["mining_revenue"].max_diff_undiscounted == pytest.approx(1000.0)
    assert [t for t in report.terms if not report.terms[t].ok] == ["mining_revenue"]
    # the recomputed NPV still matches summary.json; the table no longer adds up to it
    assert report.npv_ok
    assert_fails(report, "cashflows_sum")


def test_removed_gpu_purchase_fails_gpu_available(quickstart_run, tmp_path):
    run = copy_of(quickstart_run, tmp_path)
    capex = pd.read_csv(run / "capex.csv")
    assert (capex["kind"] == "gpu").any()
    capex[capex["kind"] != "gpu"].to_csv(run / "capex.csv", index=False)
    report = check_run(run)
    assert_fails(report, "gpu_available")
    assert_fails(report, "stock_gpus")
    assert_fails(report, "gpu_capex")
    assert_fails(report, "residual_value")
    assert not report.npv_ok


def test_fractional_contract_acceptance_fails_binaries(quickstart_run, tmp_path):
    run = copy_of(quickstart_run, tmp_path)
    capex = pd.read_csv(run / "capex.csv")
    capex.loc[capex["kind"] == "contract", "quantity"] = 0.5
    capex.to_csv(run / "capex.csv", index=False)
    assert_fails(check_run(run), "binaries")


def test_fractional_gpu_order_fails_integrality(quickstart_run, tmp_path):
    run = copy_of(quickstart_run, tmp_path)
    capex = pd.read_csv(run / "capex.csv")
    capex.loc[capex["kind"] == "gpu", "quantity"] -= 0.25
    capex.to_csv(run / "capex.csv", index=False)
    assert_fails(check_run(run), "integrality")


def test_changed_npv_fails(quickstart_run, tmp_path):
    run = copy_of(quickstart_run, tmp_path)
    summary = json.loads((run / "summary.json").read_text())
    summary["npv_usd"] *= 1.001
    (run / "summary.json").write_text(json.dumps(summary))
    report = check_run(run)
    assert not report.npv_ok
    assert "npv_usd" in report.failed()
    assert report.npv_relative_difference == pytest.approx(0.001 / 1.001, rel=1e-6)


def test_lowered_demand_peak_fails(permian_run, tmp_path):
    run = copy_of(permian_run, tmp_path)
    disp = pd.read_parquet(run / "dispatch.parquet")
    disp.loc[disp["period"] == 1, "peak_mw"] -= 3.0
    disp.to_parquet(run / "dispatch.parquet", index=False)
    report = check_run(run)
    assert_fails(report, "demand_peak")
    assert report.groups["demand_peak"].max_violation == pytest.approx(3.0, abs=1e-6)
    assert_fails(report, "demand_charge")


def test_shifted_ppa_energy_fails_min_take_or_volume(permian_run, tmp_path):
    run = copy_of(permian_run, tmp_path)
    disp = pd.read_parquet(run / "dispatch.parquet")
    capex = pd.read_csv(run / "capex.csv")
    signed = set(capex.loc[capex["kind"] == "ppa", "item"])
    if "gas-flex" in signed:  # flexible PPA with a minimum take: take none of it
        disp["imp_mw"] += disp["use_gas-flex"]
        disp["use_gas-flex"] = 0.0
        group = "ppa_min_take"
    else:  # take energy from a PPA that is not signed
        disp.loc[disp["period"] == 2, "use_gas-flex"] = 1.0
        disp.loc[disp["period"] == 2, "imp_mw"] -= 1.0
        group = "ppa_volume"
    disp.to_parquet(run / "dispatch.parquet", index=False)
    report = check_run(run)
    assert_fails(report, group)
    assert report.groups["power_balance"].ok


def test_retired_asics_still_running_fail_fleet_available(permian_run, tmp_path):
    run = copy_of(permian_run, tmp_path)
    capex = pd.read_csv(run / "capex.csv")
    disp = pd.read_parquet(run / "dispatch.parquet")
    # retire every S19 XP in period 0: any later hour hashing with them is a violation
    row = {"period": 0, "period_start": capex["period_start"].iloc[0], "site": "permian",
           "kind": "retire", "item": "s19xp", "quantity": 40000.0, "capex_usd": -40000 * 134.0}
    capex = pd.concat([capex, pd.DataFrame([row])], ignore_index=True)
    capex.to_csv(run / "capex.csv", index=False)
    assert (disp["run_s19xp"] > 1.0).any()
    report = check_run(run)
    assert_fails(report, "fleet_available")
    assert_fails(report, "retire_limit")
    assert_fails(report, "asic_salvage")
    assert np.isfinite(report.npv_recomputed)


# --------------------------------------------------------------------------- deal terms

TAX_RATE = 0.21
LEASE_END = 18  # P + 14: the tenant lease's tail runs p = 4..17
CONTRACT_END = 9  # P + 5: the contract's tail runs p = 4..8


def deal_instance() -> tuple[dict, dict]:
    """A 4-month horizon (Nov 2027 - Feb 2028, hourly, 10 %) on one site that uses every
    key of deals.md, priced so that the optimum takes every kind of decision.

    - an optional GPU contract ``lab`` (100 units of 8 GPUs, per-period price, upfront
      +500,000, tail to p8 at 0.4 USD/GPU-hour opex) linked to an optional 3 MW liquid
      lease ``tenant`` (per-period price, 3 % escalator, 10 USD/kW-month opex, energy at
      1.1 x the grid price, upfront -200,000, tail to p17); a mandatory 0.5 MW lease;
    - a fleet with salvage and a terminal value; bought ASICs (lead 1, life 0.2 y, at
      most 800 per period); GPUs valued at p6; conversion valued at p30, new AI halls at
      p18, a grid upgrade at p7 and a liquid cooling upgrade at p6;
    - project debt (85 %, 7 %, 10 years) on conversion, ai_build and gpu, vendor credit on
      ASICs at the discount rate (50 %, 2 years); taxes at 21 % with depreciation for
      gpu, asic, conversion and ai_build (none for the upgrades); a capex budget of
      20 M USD per period, which full prices exceed but the equity does not;
    - a reserve market that the bought ASICs' load serves too.
    """
    P = 4
    site = base_site(
        fixed_opex_usd_per_year=1.0e5,
        grid={"import_limit_mw": 7.0, "price_usd_per_mwh": {"column": "lmp"},
              "import_adder_usd_per_mwh": 2.0,
              "ancillary": {"price_usd_per_mw_h": 8.0, "max_mw": 5.0},
              "upgrades": [{"id": "sub", "add_mw": 10.0, "capex_usd": 2.0e6,
                            "lead_periods": 1, "max_count": 1, "life_years": 20,
                            "residual_at_period": P + 3}]},
        cooling={"air": {"capacity_mw": 30.0, "pue": 1.1},
                 "liquid": {"capacity_mw": 0.0, "pue": 1.05},
                 "upgrades": [{"id": "dlc", "type": "liquid", "add_mw": 3.0,
                               "capex_usd": 1.5e6, "lead_periods": 1, "max_count": 2,
                               "life_years": 10, "residual_at_period": P + 2}]},
        halls={"mining_mw": 8.0, "ai_mw": 0.5,
               "conversion": {"block_mw": 1.0, "capex_usd_per_block": 1.0e6,
                              "lead_periods": 1, "max_blocks": 2, "life_years": 15,
                              "residual_at_period": P + 26},
               "ai_build": {"block_mw": 2.0, "capex_usd_per_block": 3.0e6,
                            "lead_periods": 1, "max_blocks": 2, "life_years": 20,
                            "residual_at_period": LEASE_END}},
        fleet=[{"id": "old", "units": 1500, "hashrate_th": 100, "power_kw": 3.0,
                "cooling": "air", "opex_usd_per_mwh": 2.0,
                "salvage_usd_per_unit": [300, 290, 280, 270],
                "terminal_usd_per_unit": 150.0}],
    )
    data = base_instance(
        periods=P, start="2027-11-01", period="month", discount_rate=0.10,
        market={"hashprice_usd_per_ph_day": 60.0, "pool_fee": 0.02},
        capex_budget_usd=2.0e7,
        sites=[site],
        gpu_products=[{"id": "h100", "gpus_per_unit": 8, "it_kw": 10.0, "cooling": "air",
                       "idle_fraction": 0.2, "capex_usd": [2.0e5, 1.9e5, 1.8e5, 1.7e5],
                       "lead_periods": 1, "life_years": 4, "opex_usd_per_unit_year": 5000.0,
                       "spot_price_usd_per_gpu_hour": 1.0, "spot_max_utilization": 0.5,
                       "residual_at_period": P + 2}],
        asic_products=[{"id": "s21", "hashrate_th": 200, "power_kw": 3.5, "cooling": "air",
                        "capex_usd": [600, 580, 560, 540], "lead_periods": 1,
                        "life_years": 0.2, "max_units_per_period": 800,
                        "opex_usd_per_mwh": 3.0}],
        contracts=[{"id": "lab", "site": "s", "product": "h100", "units": 100,
                    "price_usd_per_gpu_hour": [3.0, 3.0, 2.9, 2.8], "start_period": 1,
                    "end_period": CONTRACT_END, "optional": True, "upfront_usd": 5.0e5,
                    "linked_to": "tenant", "opex_usd_per_gpu_hour": 0.4}],
        leases=[{"id": "tenant", "site": "s", "it_mw": 3.0, "cooling": "liquid",
                 "price_usd_per_kw_month": [150.0, 150.0, 155.0, 160.0],
                 "energy_rate_usd_per_mwh": {"column": "lmp", "scale": 1.1},
                 "escalator_per_year": 0.03, "opex_usd_per_kw_month": 10.0,
                 "upfront_usd": -2.0e5, "start_period": 1, "end_period": LEASE_END,
                 "optional": True},
                {"id": "small", "site": "s", "it_mw": 0.5, "cooling": "air",
                 "price_usd_per_kw_month": 100.0, "energy_rate_usd_per_mwh": 20.0,
                 "start_period": 0, "end_period": P}],
        financing=[{"id": "debt", "applies_to": ["conversion", "ai_build", "gpu"],
                    "loan_to_cost": 0.85, "rate": 0.07, "tenor_years": 10},
                   {"id": "vendor", "applies_to": ["asic"], "sites": ["s"],
                    "loan_to_cost": 0.5, "rate": 0.10, "tenor_years": 2}],
        taxes={"rate": TAX_RATE, "depreciation_years": {"gpu": 5, "asic": 3,
                                                         "conversion": 15, "ai_build": 2}},
    )

    def lmp(h):
        return 30 + 20 * np.sin(h * 2 * np.pi / 24) + 5 * np.sin(h * 2 * np.pi / (24 * 37))

    return data, {"lmp": lmp}


def solve_to_folder(folder: Path, data: dict, series: dict | None = None) -> Path:
    """``python -m optimizer solve`` of ``data`` at a zero MIP gap; the run folder."""
    if series:
        write_series(folder, horizon_hours(data), series)
        data = {**data, "series": {"file": "series.csv"}}
    (folder / "instance.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    proc = subprocess.run([sys.executable, "-m", "optimizer", "solve",
                           str(folder / "instance.yaml"), "--out", str(folder / "run"),
                           "--mip-gap", "0"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return folder / "run"


@pytest.fixture(scope="module")
def deal_run(tmp_path_factory) -> Path:
    return solve_to_folder(tmp_path_factory.mktemp("deal"), *deal_instance())


@pytest.fixture(scope="module")
def deal_report(deal_run):
    return check_run(deal_run)


def orders(run: Path, kind: str) -> pd.Series:
    """capex.csv quantities of one kind, summed per period (0 where absent)."""
    cap = pd.read_csv(run / "capex.csv")
    return cap[cap["kind"] == kind].groupby("period")["quantity"].sum().reindex(
        range(4), fill_value=0.0)


def recomputed(report, term: str, period: int) -> tuple[float, float]:
    rows = report.recomputed
    row = rows[(rows["term"] == term) & (rows["period"] == period)]
    return (float(row["undiscounted_usd"].sum()), float(row["discounted_usd"].sum()))


NEW_TERMS = ("upfront", "lease_rent_tail", "contract_revenue_tail", "asic_terminal",
             "ai_build_capex", "asic_capex", "debt_service", "depreciation_shield", "tax")


def test_deal_run_passes_with_every_deal_group_and_term(deal_report, deal_run):
    report = deal_report
    assert report.ok, report.to_text()
    assert report.npv_relative_difference <= 1e-9
    for name, _, _ in DEAL_GROUPS:
        assert report.groups[name].rows > 0, name
    for name in ("mining_hall", "ai_hall", "capex_budget", "ancillary", "lead_time"):
        assert report.groups[name].rows > 0, name
    for term in NEW_TERMS + ("contract_revenue", "lease_capacity_revenue",
                             "lease_energy_revenue", "residual_value", "gpu_capex",
                             "conversion_capex", "grid_upgrade_capex",
                             "cooling_upgrade_capex", "asic_salvage"):
        assert report.terms[term].rows > 0 and report.terms[term].ok, term
        assert report.terms[term].recomputed_discounted != 0, term
    # the tails are rows past the horizon, up to each deal's end
    cash = pd.read_csv(deal_run / "cashflows.csv")
    tails = cash[cash["period"] >= 4]
    assert set(tails["term"]) == {"lease_rent_tail", "contract_revenue_tail", "tax"}
    assert tails.loc[tails["term"] == "lease_rent_tail", "period"].max() == LEASE_END - 1
    assert tails.loc[tails["term"] == "contract_revenue_tail", "period"].max() == \
        CONTRACT_END - 1
    assert (pd.read_csv(deal_run / "capex.csv")["kind"].isin(["asic", "ai_build", "upfront"])
            ).sum() >= 3
    assert "arun_s21" in pd.read_parquet(deal_run / "dispatch.parquet").columns


def test_deal_terms_recomputed_by_hand(deal_report, deal_run):
    """Months: Nov 2027 720 h, Dec 744, Jan 2028 744, Feb 696 (leap); the tail continues
    with Mar 744, Apr 720, ... Discount rate 10 %.

    - lease ``tenant`` (accepted): 3 MW, last price 160, opex 10, so a tail month is
      3000 * (160 - 10) = 450,000 USD until the first anniversary of its start (Dec 2027),
      p13 = Dec 2028, from which it is 3000 * (160 * 1.03 - 10) = 464,400 USD; inside the
      horizon p2 (Jan 2028): 3000 * (155 - 10) + the mandatory 0.5 MW at 100: 485,000.
    - contract ``lab`` tail in p4 (March, 744 h): 100 * 8 * (2.8 - 0.4) * 744 = 1,428,480.
    - upfront in p1: +500,000 - 200,000 = 300,000, discounted by E_1 = 1.1^-(720/8760).
    - asic_terminal in p3: (1500 - retired) * 150, discounted by 1.1^-(2904/8760).
    - gpu_capex in p0: the equity (1 - 0.85) * 200,000 per unit ordered.
    - depreciation_shield in p0: ai_build valued at p18 (2029-05-01, 1.496 y): one year of
      2, 0.21 * 3e6 / 2 per block; conversion valued at p30 (2.496 y): two years of 15,
      0.21 * 1e6 / 15 * 2 per block; GPUs (p6, 0.50 y) and ASICs (p4) none.
    """
    rep = deal_report
    assert orders(deal_run, "lease").sum() == 2 and orders(deal_run, "contract").sum() == 1
    for p in (4, 12):
        assert recomputed(rep, "lease_rent_tail", p)[0] == pytest.approx(450_000, abs=1e-6)
    for p in (13, 17):
        assert recomputed(rep, "lease_rent_tail", p)[0] == pytest.approx(464_400, abs=1e-6)
    assert recomputed(rep, "lease_rent_tail", 18) == (0.0, 0.0)
    assert recomputed(rep, "lease_capacity_revenue", 2)[0] == pytest.approx(485_000)
    assert recomputed(rep, "contract_revenue_tail", 4)[0] == pytest.approx(1_428_480)
    assert recomputed(rep, "contract_revenue_tail", 9) == (0.0, 0.0)
    u, d = recomputed(rep, "upfront", 1)
    assert (u, d) == pytest.approx((300_000, 300_000 * 1.1 ** -(720 / 8760)), rel=1e-12)
    u, d = recomputed(rep, "asic_terminal", 3)
    retired = orders(deal_run, "retire").sum()
    assert u == pytest.approx((1500 - retired) * 150.0, rel=1e-12)
    assert d == pytest.approx(u * 1.1 ** -(2904 / 8760), rel=1e-12)
    assert recomputed(rep, "gpu_capex", 0)[0] == pytest.approx(
        -0.15 * 200_000 * orders(deal_run, "gpu")[0], rel=1e-12)
    shield = (orders(deal_run, "ai_build")[0] * 0.21 * 3e6 / 2
              + orders(deal_run, "conversion")[0] * 0.21 * 1e6 / 15 * 2)
    assert shield > 0
    assert recomputed(rep, "depreciation_shield", 0)[0] == pytest.approx(shield, rel=1e-12)
    # and the model's table says the same
    cash = pd.read_csv(deal_run / "cashflows.csv").set_index(["period", "term"])
    assert cash.loc[(13, "lease_rent_tail"), "undiscounted_usd"] == pytest.approx(464_400)
    assert cash.loc[(0, "depreciation_shield"), "undiscounted_usd"] == pytest.approx(shield)


def test_debt_service_recomputed_by_hand(deal_report, deal_run):
    """p2 orders are financed: GPUs at 180,000 and new AI halls at 3e6 by ``debt`` (85 %,
    7 %, 10 years: a = 0.07 / (1 - 1.07^-10) = 0.14237750), ASICs at 560 by ``vendor``
    (50 %, 10 %, 2 years: a = 0.1 / (1 - 1.1^-2) = 0.57619048). Undiscounted, the
    instalments sum to -(10 * a * 0.85 * debt_price + 2 * a' * 0.5 * vendor_price); the
    discounted value of the vendor's is exactly its loan at E_2 (rate = discount rate)."""
    gpu, build, asic = (orders(deal_run, k)[2] for k in ("gpu", "ai_build", "asic"))
    debt_price = gpu * 180_000 + build * 3e6
    vendor_price = asic * 560
    a_debt, a_vendor = 0.07 / (1 - 1.07 ** -10), 0.1 / (1 - 1.1 ** -2)
    assert a_debt == pytest.approx(0.14237750, abs=1e-8)
    assert a_vendor == pytest.approx(0.57619048, abs=1e-8)
    u, d = recomputed(deal_report, "debt_service", 2)
    assert u == pytest.approx(-(10 * a_debt * 0.85 * debt_price
                                + 2 * a_vendor * 0.5 * vendor_price), rel=1e-12)
    E2 = 1.1 ** -((720 + 744) / 8760)
    sum10 = sum(1.1 ** -k for k in range(1, 11))
    assert d == pytest.approx(-E2 * (a_debt * 0.85 * debt_price * sum10
                                     + 0.5 * vendor_price), rel=1e-12)


def test_financing_multiplier_is_one_at_the_discount_rate():
    for loan in (0.0, 0.3, 0.85, 1.0):
        for rate in (0.0, 0.04, 0.1, 0.25):
            for tenor in (1, 2, 10, 30):
                assert financing_multiplier(loan, rate, tenor, rate) == pytest.approx(
                    1.0, abs=1e-12), (loan, rate, tenor)


def test_financing_multiplier_by_hand():
    """85 % at 7 % for 10 years, discounted at 10 %: a = 0.07 / (1 - 1.07^-10) = 0.1423775,
    sum_{k=1..10} 1.1^-k = 6.1445671, m = 0.15 + 0.85 * 0.1423775 * 6.1445671 = 0.8936209.
    50 % interest-free over 4 years at 10 %: a = 1/4, sum = 3.1698654,
    m = 0.5 + 0.5 * 0.25 * 3.1698654 = 0.8962332."""
    assert annuity_factor(0.07, 10) == pytest.approx(0.1423775, abs=1e-7)
    assert discount_sum(0.10, 10) == pytest.approx(6.1445671, abs=1e-7)
    assert financing_multiplier(0.85, 0.07, 10, 0.10) == pytest.approx(0.8936209, abs=1e-7)
    assert financing_multiplier(0.5, 0.0, 4, 0.10) == pytest.approx(0.8962332, abs=1e-7)
    assert financing_multiplier(0.0, 0.07, 10, 0.10) == 1.0


def test_financing_at_the_discount_rate_costs_the_price_in_a_run(tmp_path):
    """ASICs (300 USD each, lead 0) financed 60 % at 8 % over 3 years, discounted at 8 %:
    m = 1, so in each order period the equity (asic_capex) and the instalments
    (debt_service) are together worth the price paid at E_p, to 1e-12."""
    data = base_instance(
        periods=2, start="2027-01-01", period="month", discount_rate=0.08,
        sites=[base_site(halls={"mining_mw": 1.0})],
        asic_products=[{"id": "s21", "hashrate_th": 200, "power_kw": 3.5, "cooling": "air",
                        "capex_usd": 300.0, "lead_periods": 0, "life_years": 4}],
        financing=[{"id": "vendor", "applies_to": ["asic"], "loan_to_cost": 0.6,
                    "rate": 0.08, "tenor_years": 3}])
    run = solve_to_folder(tmp_path, data)
    report = check_run(run)
    assert report.ok, report.to_text()
    cap = pd.read_csv(run / "capex.csv")
    cash = pd.read_csv(run / "cashflows.csv")
    bought = cap[cap["kind"] == "asic"]
    assert len(bought) and (bought["capex_usd"] > 0).all()
    for row in bought.itertuples():
        here = cash[(cash["period"] == row.period)
                    & cash["term"].isin(["asic_capex", "debt_service"])]
        E_p = 1.08 ** -(0 if row.period == 0 else 744 / 8760)
        m = -float(here["discounted_usd"].sum()) / (E_p * row.capex_usd)
        assert m == pytest.approx(1.0, abs=1e-12)
        mine = recomputed(report, "asic_capex", row.period)[1] + recomputed(
            report, "debt_service", row.period)[1]
        assert -mine / (E_p * row.capex_usd) == pytest.approx(1.0, abs=1e-12)


def test_deal_math_counts_by_hand():
    """Depreciation years j = 1..N with y_order + j <= y_val (+1e-9): ordered at 0,
    valued at 3.0027 y: 3 of 5; ordered at 1.0: 2; valued 1e-12 y before a whole year:
    the year counts. Escalation: floor(y - y_first + 1e-9)."""
    assert depreciation_years_counted(0.0, 3.0027, 5) == 3
    assert depreciation_years_counted(1.0, 3.0027, 5) == 2
    assert depreciation_years_counted(0.0, 2.0 - 1e-12, 5) == 2
    assert depreciation_years_counted(0.5, 1.4, 5) == 0
    assert depreciation_years_counted(0.0, 30.0, 15) == 15
    assert escalation_steps(1.0 - 1e-12, 0.0) == 1
    assert escalation_steps(0.99, 0.0) == 0
    assert escalation_steps(3.2, 1.1) == 2


def test_extended_calendar_continues_past_the_horizon():
    """Monthly from 2027-11-01, 4 periods: 720, 744, 744, 696 h (February 2028 is a leap
    month), y_end = 2904 / 8760; the tail goes on with March (744 h). Yearly from 2199 with
    a 400-year tail: the last start is 2601-01-01, past what nanosecond timestamps hold."""
    cal = extended_calendar(dt.date(2027, 11, 1), 1, 4, 401)
    assert list(cal.hours[:6]) == [720, 744, 744, 696, 744, 720]
    assert cal.y_end == 2904 / 8760
    assert cal.y_start[13] == (720 + 744 + 744 + 696 + 744 + 720 + 744 + 720 + 744 + 744
                               + 720 + 744 + 720) / 8760  # 2028-12-01
    cal = extended_calendar(dt.date(2199, 1, 1), 12, 1, 401)
    assert cal.starts[-1] == dt.date(2601, 1, 1)
    assert len(cal.hours) == 402 and set(cal.months) == {12.0}


# ---- the checker fails on tampered deal tables


def tamper_cash(run: Path, term: str, delta: float, tail: bool = False) -> None:
    cash = pd.read_csv(run / "cashflows.csv")
    rows = cash.index[(cash["term"] == term) & (cash["undiscounted_usd"] != 0)
                      & ((cash["period"] >= 4) if tail else True)]
    i = int(rows[0])
    cash.loc[i, "undiscounted_usd"] += delta
    cash.loc[i, "discounted_usd"] += delta * cash.loc[i, "discount_factor"]
    cash.to_csv(run / "cashflows.csv", index=False)


@pytest.mark.parametrize("term", NEW_TERMS + ("contract_revenue", "lease_capacity_revenue",
                                              "lease_energy_revenue", "residual_value"))
def test_changed_deal_term_fails_that_term(deal_run, tmp_path, term):
    run = copy_of(deal_run, tmp_path)
    tamper_cash(run, term, 1000.0, tail=term.endswith("_tail"))
    report = check_run(run)
    assert_fails(report, term)
    assert [t for t in report.terms if not report.terms[t].ok] == [term]
    assert report.terms[term].max_diff_undiscounted == pytest.approx(1000.0, abs=1e-6)
    assert_fails(report, "cashflows_sum")


def test_changed_tail_rows_fail(deal_run, tmp_path):
    run = copy_of(deal_run, tmp_path)
    tamper_cash(run, "tax", 50.0, tail=True)
    assert_fails(check_run(run), "tax")
    # a month of rent after the lease has ended
    run = copy_of(deal_run, tmp_path / "past")
    cash = pd.read_csv(run / "cashflows.csv")
    extra = {"site": "s", "period": LEASE_END, "term": "lease_rent_tail",
             "undiscounted_usd": 464_400.0, "discount_factor": 0.9,
             "discounted_usd": 417_960.0}
    pd.concat([cash, pd.DataFrame([extra])]).to_csv(run / "cashflows.csv", index=False)
    report = check_run(run)
    assert_fails(report, "lease_rent_tail")
    assert f"s p{LEASE_END}" in report.terms["lease_rent_tail"].where
    # past the longest tail the instance allows: a structural problem
    run = copy_of(deal_run, tmp_path / "beyond")
    extra["period"] = 4 + 401
    pd.concat([cash, pd.DataFrame([extra])]).to_csv(run / "cashflows.csv", index=False)
    report = check_run(run)
    assert "problems" in report.failed()
    assert "period 405" in report.to_text()


def test_changed_blended_discount_factor_fails(deal_run, tmp_path):
    run = copy_of(deal_run, tmp_path)
    cash = pd.read_csv(run / "cashflows.csv")
    i = int(cash.index[cash["term"] == "debt_service"][0])
    cash.loc[i, "discount_factor"] += 0.01
    cash.to_csv(run / "cashflows.csv", index=False)
    report = check_run(run)
    assert_fails(report, "discount_factor")
    assert report.groups["discount_factor"].max_violation == pytest.approx(0.01, abs=1e-9)
    assert report.npv_ok and not [t for t in report.terms if not report.terms[t].ok]


def edit_capex(run: Path, kind: str, period: int, quantity: float | None) -> None:
    """Set (None: remove) the quantity of capex.csv's row of ``kind`` in ``period``;
    capex_usd follows at the row's unit price, so only the decision changes."""
    cap = pd.read_csv(run / "capex.csv")
    rows = cap.index[(cap["kind"] == kind) & (cap["period"] == period)]
    assert len(rows) == 1, (kind, period)
    i = int(rows[0])
    if quantity is None:
        cap = cap.drop(index=i)
    else:
        unit = cap.loc[i, "capex_usd"] / cap.loc[i, "quantity"]
        cap.loc[i, ["quantity", "capex_usd"]] = [quantity, quantity * unit]
    cap.to_csv(run / "capex.csv", index=False)


def test_more_bought_asics_fail_the_supply_limit_and_the_mining_hall(deal_run, tmp_path):
    """800 ASICs at most per period: 900 in p2 fails asic_buy_limit. In p0, 100 more units
    (0.35 MW) than the 1.5 MW the mining hall had left after the fleet (4.5 MW) and the two
    converted blocks (8 - 2 MW) fail mining_hall; the orders' cash terms change too."""
    assert orders(deal_run, "asic")[2] == pytest.approx(800)
    run = copy_of(deal_run, tmp_path)
    edit_capex(run, "asic", 2, 900.0)
    report = check_run(run)
    assert_fails(report, "asic_buy_limit")
    assert report.groups["asic_buy_limit"].max_violation == pytest.approx(100.0)
    for term in ("asic_capex", "debt_service", "residual_value", "tax"):
        assert_fails(report, term)
    run = copy_of(deal_run, tmp_path / "hall")
    edit_capex(run, "asic", 0, orders(deal_run, "asic")[0] + 100.0)
    report = check_run(run)
    assert_fails(report, "mining_hall")
    assert report.groups["mining_hall"].max_violation == pytest.approx(0.35, abs=1e-6)
    assert report.groups["asic_buy_limit"].ok


def test_removed_ai_build_fails_the_ai_hall_and_its_terms(deal_run, tmp_path):
    run = copy_of(deal_run, tmp_path)
    edit_capex(run, "ai_build", 2, None)
    report = check_run(run)
    assert_fails(report, "ai_hall")
    assert report.groups["ai_hall"].max_violation == pytest.approx(2.0, abs=1e-6)
    for term in ("ai_build_capex", "debt_service", "residual_value", "tax"):
        assert_fails(report, term)
    assert not report.npv_ok


def test_ai_build_beyond_max_blocks_fails(deal_run, tmp_path):
    run = copy_of(deal_run, tmp_path)
    edit_capex(run, "ai_build", 2, 2.0)  # 1 + 2 blocks, 2 allowed
    report = check_run(run)
    assert_fails(report, "ai_build_limit")
    assert report.groups["ai_build_limit"].max_violation == pytest.approx(1.0)


def test_changed_upfront_row_fails_the_capex_table(deal_run, tmp_path):
    run = copy_of(deal_run, tmp_path)
    cap = pd.read_csv(run / "capex.csv")
    i = int(cap.index[(cap["kind"] == "upfront") & (cap["item"] == "lab")][0])
    assert cap.loc[i, "capex_usd"] == -5.0e5  # a receipt is negative
    cap.loc[i, "capex_usd"] = 5.0e5
    cap.to_csv(run / "capex.csv", index=False)
    assert_fails(check_run(run), "capex_table")
    run = copy_of(deal_run, tmp_path / "gone")
    cap = cap.drop(index=i)
    cap.to_csv(run / "capex.csv", index=False)
    report = check_run(run)
    assert_fails(report, "capex_table")
    assert "upfront rows of lab at s" in report.groups["capex_table"].where


def test_declined_linked_contract_fails_linked_acceptance(deal_run, tmp_path):
    run = copy_of(deal_run, tmp_path)
    cap = pd.read_csv(run / "capex.csv")
    cap = cap[~((cap["item"] == "lab") & cap["kind"].isin(["contract", "upfront"]))]
    cap.to_csv(run / "capex.csv", index=False)
    report = check_run(run)
    assert_fails(report, "linked_acceptance")
    assert "contract lab accepted 0, linked tenant accepted 1" in \
        report.groups["linked_acceptance"].where
    assert report.groups["binaries"].ok  # an optional deal may be declined on its own


def test_bought_asics_hashing_beyond_delivery_fail_asic_available(deal_run, tmp_path):
    """ASICs ordered in p2 arrive in p3 (lead 1): hashing more of them in p2 than the p0
    order (alive until 0.2 y) fails asic_available by the excess."""
    run = copy_of(deal_run, tmp_path)
    disp = pd.read_parquet(run / "dispatch.parquet")
    i = int(disp.index[disp["period"] == 2][0])
    disp.loc[i, "arun_s21"] += 50.0
    disp.to_parquet(run / "dispatch.parquet", index=False)
    report = check_run(run)
    assert_fails(report, "asic_available")
    assert report.groups["asic_available"].max_violation == pytest.approx(50.0, abs=1e-6)
    assert_fails(report, "mining_revenue")


def test_arun_of_an_unknown_product_is_undefined(deal_run, tmp_path):
    run = copy_of(deal_run, tmp_path)
    disp = pd.read_parquet(run / "dispatch.parquet")
    disp["arun_s19"] = 1.0
    disp.to_parquet(run / "dispatch.parquet", index=False)
    assert_fails(check_run(run), "undefined_decisions")


def test_reserve_is_bounded_by_bought_asics_too(deal_run, tmp_path):
    """In some hours the reserve offered exceeds the fleet's IT load alone: only the bought
    ASICs hashing make it feasible. Without them the ancillary group fails."""
    disp = pd.read_parquet(deal_run / "dispatch.parquet")
    fleet_mw = disp["run_old"] * 3.0 / 1000
    assert (disp["anc_mw"] > fleet_mw + 1e-3).any()
    run = copy_of(deal_run, tmp_path)
    disp["arun_s21"] = 0.0
    disp.to_parquet(run / "dispatch.parquet", index=False)
    assert_fails(check_run(run), "ancillary")


def test_budget_counts_the_financed_equity_only(deal_run, deal_report, tmp_path):
    """p2 orders cost 36e6 (GPUs) + 3e6 (a hall block) + 448,000 (ASICs) at full price,
    above the 20e6 budget; their equity 0.15 * 39e6 + 0.5 * 448,000 = 6.07e6 is within
    it. Without the financing the same orders break the budget."""
    cap = pd.read_csv(deal_run / "capex.csv")
    paid = cap[(cap["period"] == 2) & cap["kind"].isin(["gpu", "asic", "ai_build"])]
    assert paid["capex_usd"].sum() > 2.0e7
    assert deal_report.groups["capex_budget"].ok
    run = copy_of(deal_run, tmp_path)
    inst = yaml.safe_load((run / "instance.yaml").read_text())
    del inst["financing"]
    (run / "instance.yaml").write_text(yaml.safe_dump(inst, sort_keys=False))
    report = check_run(run)
    assert_fails(report, "capex_budget")
    assert "p2" in report.groups["capex_budget"].where


def test_changed_hourly_tax_column_fails(deal_run, tmp_path):
    run = copy_of(deal_run, tmp_path)
    disp = pd.read_parquet(run / "dispatch.parquet")
    disp.loc[3, "cf_tax_usd_per_h"] += 1.0
    disp.to_parquet(run / "dispatch.parquet", index=False)
    assert_fails(check_run(run), "dispatch_cashflows")
