"""The independent checker (optimizer/check.py): it passes on untouched run folders of
the bundled instances and fails, naming the group or term, on tampered copies."""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from optimizer.check import CASHFLOW_TERMS, CONSTRAINT_GROUPS, check_run

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
    tree = ast.parse((ROOT / "optimizer" / "check" / "run.py").read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(("." * node.level) + (node.module or ""))
    allowed = {"__future__", "json", "math", "collections", "collections.abc", "dataclasses",
               "pathlib", "typing", "numpy", "pandas", "..instance"}
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
