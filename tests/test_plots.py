"""optimizer.plots: the data each figure holds, against the run folder's own tables.

Run figures read the quickstart run (solved once per session, ``bundled_run``) and a small
February instance with every use of power (reserve, GPU spot / contract / idle, a lease,
an onsite PPA and a take-or-pay physical PPA); sweep figures read a sweep table built
here, with values given by a formula so that every swing and cell is known by hand.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import base_instance, base_site, horizon_hours, write_series

from optimizer import plots
from optimizer.instance import Instance

HP = "market.hashprice_usd_per_ph_day"
SPOT = "gpu_products[h100-hgx].spot_price_usd_per_gpu_hour"
FEE = "market.pool_fee"


def stacked_total(fig, group: str = "load") -> np.ndarray:
    return sum(np.asarray(t.y, dtype=float) for t in fig.data
               if getattr(t, "stackgroup", None) == group)


# --------------------------------------------------------------------------- a rich run

PRICE_LOW, PRICE_HIGH = 20.0, 200.0


@pytest.fixture(scope="module")
def rich(tmp_path_factory):
    """One February site: 3000 ASICs of 3 kW (9 MW) that earn 66.7 USD/MWh at 48
    USD/PH/day (100 TH x 48 / 1000 / 24 = 0.2 USD/h per 3 kW), a 4 MW reserve market
    at 5 USD/MW-h, 100 installed 10 kW GPU servers (30 % idle draw, 40 of them under
    contract; none can be bought), a 3 MW lease, a 30 MW onsite solar PPA and a 10 MW
    take-or-pay wind PPA. Prices alternate 20 / 200 USD/MWh hour by hour."""
    from optimizer.api import solve

    folder = tmp_path_factory.mktemp("rich")
    site = base_site(
        aux_load_mw=1.0,
        grid={"import_limit_mw": 100.0, "price_usd_per_mwh": {"column": "price"},
              "export_limit_mw": 20.0,
              "ancillary": {"price_usd_per_mw_h": 5.0, "max_mw": 4.0}},
        cooling={"air": {"capacity_mw": 100.0, "pue": 1.1},
                 "liquid": {"capacity_mw": 50.0, "pue": 1.05}},
        halls={"mining_mw": 20.0, "ai_mw": 20.0},
        fleet=[{"id": "s19", "units": 3000, "hashrate_th": 100, "power_kw": 3.0,
                "cooling": "air"}],
        gpus=[{"product": "h100-hgx", "units": 100}])
    data = base_instance(
        name="rich", sites=[site],
        gpu_products=[{"id": "h100-hgx", "gpus_per_unit": 8, "it_kw": 10.0,
                       "idle_fraction": 0.3, "cooling": "liquid", "capex_usd": 250000,
                       "lead_periods": 0, "life_years": 5, "max_units_per_period": 0,
                       "spot_price_usd_per_gpu_hour": 3.0}],
        contracts=[{"id": "lab", "site": "s", "product": "h100-hgx", "units": 40,
                    "price_usd_per_gpu_hour": 2.0, "start_period": 0, "end_period": 1}],
        leases=[{"id": "colo", "site": "s", "it_mw": 3.0, "cooling": "air",
                 "price_usd_per_kw_month": 100, "energy_rate_usd_per_mwh": 40,
                 "start_period": 0, "end_period": 1}],
        ppas=[{"id": "solar", "site": "s", "kind": "onsite", "profile_column": "solar",
               "capacity_mw": 30.0, "strike_usd_per_mwh": 20, "take_or_pay": True,
               "curtailable": True, "start_period": 0, "end_period": 1},
              {"id": "wind", "site": "s", "kind": "physical", "baseload_mw": 10.0,
               "strike_usd_per_mwh": 30, "take_or_pay": True, "start_period": 0,
               "end_period": 1}])
    hours = horizon_hours(data)
    write_series(folder, hours, {
        "price": lambda h: np.where(h % 2 == 0, PRICE_LOW, PRICE_HIGH),
        "solar": lambda h: np.clip(np.sin((h % 24 - 6) / 12 * np.pi), 0.0, None)})
    data["series"] = {"file": "series.csv"}
    inst = Instance.from_dict(data, folder, file_label="<rich>")
    result = solve(inst)
    assert result.status == "optimal", result.message
    return result, result.write(folder / "run")


def test_the_dispatch_areas_sum_to_the_facility_load(rich):
    """Every step: the stacked uses equal load_mw of dispatch.parquet, and each use is
    the hand-derived share: reserve = anc_mw; the three GPU bands = gpu_it_mw; cooling
    = (1.1 - 1) x air IT + (1.05 - 1) x liquid IT; auxiliary = 1 MW."""
    _, run_dir = rich
    fig = plots.dispatch_figure(run_dir)
    dispatch = pd.read_parquet(run_dir / "dispatch.parquet")
    np.testing.assert_allclose(stacked_total(fig), dispatch["load_mw"], rtol=0, atol=1e-9)

    stack = plots.dispatch_stack(run_dir)
    np.testing.assert_allclose(stack["reserve_mw"], dispatch["anc_mw"], atol=1e-12)
    gpu = stack[["gpu_spot_mw", "gpu_contract_mw", "gpu_idle_mw"]].sum(axis=1)
    np.testing.assert_allclose(gpu, dispatch["gpu_it_mw"], atol=1e-9)
    # contract: 40 units x 10 kW x (1 - 0.3) = 0.28 MW; idle: 100 x 10 kW x 0.3 = 0.3 MW
    np.testing.assert_allclose(stack["gpu_contract_mw"], 0.28, atol=1e-12)
    np.testing.assert_allclose(stack["gpu_idle_mw"], 0.3, atol=1e-12)
    cooling = 0.1 * dispatch["it_air_mw"] + 0.05 * dispatch["it_liquid_mw"]
    np.testing.assert_allclose(stack["cooling_mw"], cooling, atol=1e-9)
    np.testing.assert_allclose(stack["aux_mw"], 1.0)
    np.testing.assert_allclose(stack["lease_mw"], 3.0)
    # cheap hours: all 9 MW hashing, 4 MW of it offered as reserve; dear hours without
    # sun: none (with sun, solar beyond the 20 MW export limit can run them)
    cheap = dispatch["price_usd_per_mwh"] == PRICE_LOW
    dark = ~cheap & (dispatch["ppa_volume_solar_mw"] == 0)
    np.testing.assert_allclose(stack.loc[cheap, "reserve_mw"], 4.0, atol=1e-6)
    np.testing.assert_allclose(stack.loc[cheap, "mining_mw"], 5.0, atol=1e-6)
    assert dark.sum() > 100
    np.testing.assert_allclose(stack.loc[dark, "mining_mw"] + stack.loc[dark, "reserve_mw"],
                               0.0, atol=1e-6)


def test_resale_and_export_are_drawn_below_zero(rich):
    """export = onsite PPA energy exported + unused take-or-pay physical volume (sold
    back), negative, in its own stack group."""
    _, run_dir = rich
    dispatch = pd.read_parquet(run_dir / "dispatch.parquet")
    expected = -(dispatch["out_solar"] + dispatch["ppa_volume_wind_mw"] - dispatch["use_wind"])
    stack = plots.dispatch_stack(run_dir)
    np.testing.assert_allclose(stack["export_mw"], expected, atol=1e-9)
    fig = plots.dispatch_figure(run_dir)
    if (expected < -1e-9).any():
        np.testing.assert_allclose(stacked_total(fig, "export"), expected, atol=1e-9)


def test_dispatch_figure_overlays_the_price_on_a_second_axis_with_units(rich):
    _, run_dir = rich
    fig = plots.dispatch_figure(run_dir)
    price = [t for t in fig.data if t.name == "grid price"]
    assert len(price) == 1 and price[0].yaxis == "y2"
    np.testing.assert_allclose(np.asarray(price[0].y, dtype=float)[:4],
                               [PRICE_LOW, PRICE_HIGH, PRICE_LOW, PRICE_HIGH])
    assert fig.layout.yaxis.title.text == "power (MW)"
    assert fig.layout.yaxis2.title.text == "grid price (USD/MWh)"
    assert fig.layout.xaxis.title.text == "time (UTC)"
    assert "hourly dispatch" in fig.layout.title.text
    names = {t.name for t in fig.data}
    assert {"mining", "mining offered as reserve", "GPU spot", "GPU contracts", "GPU idle draw",
            "colocation leases", "cooling overhead (PUE - 1)", "auxiliary load"} <= names


def test_a_result_and_its_run_folder_give_the_same_figures(rich):
    result, run_dir = rich
    for make in (plots.dispatch_figure, plots.waterfall_figure, plots.capex_figure):
        a, b = make(result), make(run_dir)
        assert [t.name for t in a.data] == [t.name for t in b.data]
        for ta, tb in zip(a.data, b.data):
            np.testing.assert_allclose(np.asarray(ta.y, dtype=float),
                                       np.asarray(tb.y, dtype=float), rtol=1e-12)


def test_an_unknown_site_is_named_with_the_sites_there_are(rich):
    _, run_dir = rich
    with pytest.raises(ValueError) as exc:
        plots.dispatch_figure(run_dir, site="nowhere")
    assert str(exc.value) == f"{run_dir}: site: no site 'nowhere' in the dispatch table (sites: s)"


# --------------------------------------------------------------------------- quickstart

@pytest.fixture(scope="module")
def quickstart(bundled_run):
    return bundled_run("quickstart")[2]


def test_the_waterfall_ends_in_the_npv_of_summary_json(quickstart):
    """The relative bars are the discounted cash flows by term (cashflows.csv), they sum
    to summary.npv_usd, and the last bar is that total."""
    import json

    npv = json.loads((quickstart / "summary.json").read_text())["npv_usd"]
    cash = pd.read_csv(quickstart / "cashflows.csv").groupby("term")["discounted_usd"].sum()
    fig = plots.waterfall_figure(quickstart)
    (trace,) = fig.data
    measure = list(trace.measure)
    assert measure[-1] == "total" and set(measure[:-1]) == {"relative"}
    y = np.asarray(trace.y, dtype=float)
    assert y[:-1].sum() == pytest.approx(npv, rel=1e-9)
    assert y[-1] == pytest.approx(npv, rel=1e-9)
    by_name = dict(zip(trace.x[:-1], y[:-1]))
    assert by_name == pytest.approx({t.replace("_", " "): v for t, v in cash.items()})
    # revenues come first: mining, GPU spot and contract revenue before any cost
    first_cost = min(i for i, v in enumerate(y[:-1]) if v < 0)
    assert {"mining revenue", "gpu spot revenue", "contract revenue"} <= set(trace.x[:first_cost])
    assert fig.layout.yaxis.title.text == "discounted cash flow (USD)"


def test_the_capex_bars_are_capex_csv_by_period_and_kind(quickstart):
    """quickstart buys 294 H100 servers at 250,000 USD in January: one gpu bar of
    73.5 M USD; the contract it accepts costs nothing and is named in the hover."""
    capex = pd.read_csv(quickstart / "capex.csv")
    fig = plots.capex_figure(quickstart)
    bars = {t.name: np.asarray(t.y, dtype=float) for t in fig.data}
    money = capex[capex["capex_usd"] != 0].groupby("kind")["capex_usd"].sum()
    assert {k.replace("_", " "): v.sum() for k, v in bars.items()} == pytest.approx(
        money.to_dict())
    assert bars["gpu"][0] == pytest.approx(294 * 250_000)
    (gpu,) = [t for t in fig.data if t.name == "gpu"]
    assert "starting: contract lab-a" in gpu.customdata[0][1]
    assert fig.layout.yaxis.title.text == "capex ordered (USD)"
    assert fig.layout.barmode == "relative"


def test_marginal_values_are_drawn_by_period_and_unit_without_the_zero_lines(quickstart):
    marg = pd.read_csv(quickstart / "marginals.csv", keep_default_na=False)
    fig = plots.marginals_figure(quickstart)
    nonzero = marg[marg["marginal_value"].abs() > 1e-9]
    assert len(fig.data) == len(nonzero.groupby(["group", "site", "item"]))
    for row in nonzero.itertuples():
        label = " ".join(x for x in (row.group, row.site, row.item) if x)
        (trace,) = [t for t in fig.data if t.name == label]
        assert list(trace.x) == ["2027-01-01"]
        assert trace.y[0] == pytest.approx(row.marginal_value)
    zero = len(marg) - len(nonzero)  # one period: one row per line
    assert f"({zero} all-zero lines left out)" in fig.layout.title.text
    assert len(plots.marginals_figure(quickstart, include_zero=True).data) == len(marg)


def test_representative_days_are_shown_in_calendar_order_and_say_so(bundled_run):
    """K = 4 representative days of January: the steps are the medoid days, dates
    non-decreasing; the ticks name each day with the days it stands for, 31 in all."""
    from optimizer.api import solve

    inst = bundled_run("quickstart")[0]
    result = solve(inst, resolution="representative", representative_days=4)
    fig = plots.dispatch_figure(result)
    assert "representative days" in fig.layout.title.text
    assert "calendar order" in fig.layout.title.text
    area = fig.data[0]
    assert list(area.x) == list(range(len(result.dispatch)))
    days = [c[0][:10] for c in area.customdata]
    assert days == sorted(days)
    ticks = fig.layout.xaxis.ticktext
    assert len(ticks) == len(set(days))
    assert sum(int(t.split("×")[1]) for t in ticks) == 31
    np.testing.assert_allclose(stacked_total(fig), result.dispatch["load_mw"], atol=1e-9)


def test_a_run_without_a_plan_has_no_dispatch_and_says_why(tmp_path, make_instance):
    from conftest import mandatory_contract

    from optimizer.api import solve

    result = solve(make_instance(mandatory_contract(100, capex_usd=1000)))
    run_dir = result.write(tmp_path / "run")
    with pytest.raises(ValueError) as exc:
        plots.dispatch_figure(run_dir)
    assert str(exc.value) == (f"{run_dir}: no dispatch table: the run has no solution "
                              f"(status infeasible)")
    figs = plots.run_figures(run_dir)
    assert list(figs) == ["infeasibility"]
    infeasible = pd.read_csv(run_dir / "infeasibility.csv")
    bars = figs["infeasibility"].data
    assert sum(len(t.y) for t in bars) == len(infeasible)


def test_a_folder_that_is_not_a_run_is_refused(tmp_path):
    with pytest.raises(ValueError) as exc:
        plots.capex_figure(tmp_path)
    assert str(exc.value) == f"{tmp_path}: not a run folder (no summary.json)"


# --------------------------------------------------------------------------- sweeps

def npv_of(hp: float, spot: float, fee: float) -> float:
    """The sweep's made-up NPV (USD): linear, so every swing is known by hand."""
    return 1e6 * (2.0 * hp + 30.0 * spot - 500.0 * fee - 100.0)


@pytest.fixture
def sweep() -> pd.DataFrame:
    """A 3 x 3 grid of hashprice x spot price at pool fee 0.02, and a pool-fee line at
    (50, 2.5); the scenario (60, 3.5) is infeasible. Columns in the sweep contract's
    order: scenario, overrides, status, exit_code, npv_usd, best_bound_usd, mip_gap,
    decisions."""
    rows = []
    for hp in (40.0, 50.0, 60.0):
        for spot in (1.5, 2.5, 3.5):
            rows.append((hp, spot, 0.02))
    rows += [(50.0, 2.5, 0.0), (50.0, 2.5, 0.04)]
    out = []
    for i, (hp, spot, fee) in enumerate(rows):
        infeasible = (hp, spot) == (60.0, 3.5)
        npv = np.nan if infeasible else npv_of(hp, spot, fee)
        out.append({"scenario": f"s{i:02d}", HP: hp, SPOT: spot, FEE: fee,
                    "status": "infeasible" if infeasible else "optimal",
                    "exit_code": 3 if infeasible else 0, "npv_usd": npv,
                    "best_bound_usd": npv, "mip_gap": 0.0,
                    "gpus_bought.h100-hgx": np.nan if infeasible else (0.0 if spot < 2 else 100.0)})
    return pd.DataFrame(out)


def test_override_columns_are_those_between_scenario_and_status(sweep):
    assert plots.override_columns(sweep) == [HP, SPOT, FEE]
    assert plots.value_columns(sweep) == ["npv_usd", "best_bound_usd", "mip_gap",
                                          "gpus_bought.h100-hgx"]
    # without the contract's column order, the dotted names are the overrides
    shuffled = sweep[["npv_usd", HP, "status", SPOT, "scenario", FEE]]
    assert plots.override_columns(shuffled) == [HP, SPOT, FEE]


def test_the_scenario_hash_beside_its_id_is_not_an_override(sweep):
    """sweep.parquet puts each scenario's hash right after its id: it is not an axis."""
    hashed = sweep.copy()
    hashed.insert(1, "hash", [f"{i:016x}" for i in range(len(hashed))])
    assert plots.override_columns(hashed) == [HP, SPOT, FEE]
    assert plots.heatmap_table(hashed, x=SPOT, y=HP).equals(
        plots.heatmap_table(sweep, x=SPOT, y=HP))


def test_the_base_is_the_middle_level_or_the_scenario_named_base(sweep):
    assert plots.sweep_base(sweep) == {HP: 50.0, SPOT: 2.5, FEE: 0.02}
    named = sweep.copy()
    named.loc[0, "scenario"] = "base"  # (40, 1.5, 0.02)
    assert plots.sweep_base(named) == {HP: 40.0, SPOT: 1.5, FEE: 0.02}


def test_the_heatmap_z_is_the_pivot_of_the_sweep_table(sweep):
    """z[row = spot][column = hashprice] = the value at pool fee 0.02 (its base); the
    infeasible corner is empty."""
    fig = plots.sweep_heatmap(sweep, x=HP, y=SPOT)
    (trace,) = fig.data
    expected = [[npv_of(hp, spot, 0.02) for hp in (40.0, 50.0, 60.0)] for spot in (1.5, 2.5, 3.5)]
    expected[2][2] = np.nan
    np.testing.assert_allclose(np.asarray(trace.z, dtype=float), expected, rtol=1e-12)
    assert list(trace.x) == ["40.0", "50.0", "60.0"]
    assert list(trace.y) == ["1.5", "2.5", "3.5"]
    assert fig.layout.xaxis.title.text == f"{HP} (USD per PH per day)"
    assert fig.layout.yaxis.title.text == f"{SPOT} (USD per GPU-hour)"
    assert trace.colorbar.title.text == "npv_usd (USD)"
    assert f"{FEE} = 0.02" in fig.layout.title.text
    decisions = plots.heatmap_table(sweep, HP, SPOT, "gpus_bought.h100-hgx")
    assert decisions.loc[1.5].tolist() == [0.0, 0.0, 0.0]
    assert decisions.loc[2.5].tolist() == [100.0, 100.0, 100.0]


def test_a_heatmap_cell_with_two_scenarios_is_refused(sweep):
    doubled = pd.concat([sweep, sweep.iloc[[4]].assign(scenario="again")], ignore_index=True)
    with pytest.raises(ValueError) as exc:
        plots.heatmap_table(doubled, HP, SPOT)
    assert str(exc.value) == (f"the sweep table: {HP}=50.0, {SPOT}=2.5: several scenarios "
                              "(s04, again); fix the other overrides with fixed={...}")


def test_a_heatmap_of_a_missing_column_names_the_columns(sweep):
    with pytest.raises(ValueError) as exc:
        plots.sweep_heatmap(sweep, x=HP, y=SPOT, value="irr")
    assert str(exc.value).startswith("the sweep table: value: no column 'irr' (columns: "
                                     "scenario, market.hashprice_usd_per_ph_day, ")


def test_the_tornado_swings_are_the_hand_derived_ones(sweep):
    """Others at base (50, 2.5, 0.02): hashprice 40..60 swings 2 x 20 = 40 M USD; spot
    1.5..3.5 swings 30 x 2 = 60 M USD; pool fee 0..0.04 swings 500 x 0.04 = 20 M USD.
    Widest on top (plotly draws the last category at the top)."""
    table = plots.tornado_table(sweep)
    assert table["override"].tolist() == [SPOT, HP, FEE]
    assert table["swing"].tolist() == pytest.approx([60e6, 40e6, 20e6])
    fee = table.set_index("override").loc[FEE]
    assert fee["value_at_low"] == pytest.approx(npv_of(50, 2.5, 0.0))
    assert fee["value_at_high"] == pytest.approx(npv_of(50, 2.5, 0.04))
    fig = plots.tornado_figure(sweep)
    bars = fig.data[0]
    assert list(bars.y) == [FEE, HP, SPOT]
    np.testing.assert_allclose(bars.x, [20.0, 40.0, 60.0])
    np.testing.assert_allclose(np.asarray(bars.base, dtype=float), [npv_of(50, 2.5, 0.04) / 1e6,
                                           npv_of(40, 2.5, 0.02) / 1e6,
                                           npv_of(50, 1.5, 0.02) / 1e6])
    assert fig.layout.xaxis.title.text == "npv_usd (M USD)"
    assert fig.layout.shapes[0].x0 == pytest.approx(npv_of(50, 2.5, 0.02) / 1e6)


def test_a_tornado_of_a_one_at_a_time_sweep_reads_empty_cells_as_base():
    """One-at-a-time: each scenario sets one override, the others empty (instance
    value); the base scenario sets none."""
    rows = [{"scenario": "base", HP: np.nan, SPOT: np.nan, "status": "optimal", "npv_usd": 10.0},
            {"scenario": "hp-", HP: 40.0, SPOT: np.nan, "status": "optimal", "npv_usd": 4.0},
            {"scenario": "hp+", HP: 60.0, SPOT: np.nan, "status": "optimal", "npv_usd": 13.0},
            {"scenario": "spot-", HP: np.nan, SPOT: 1.0, "status": "optimal", "npv_usd": 9.0},
            {"scenario": "spot+", HP: np.nan, SPOT: 4.0, "status": "optimal", "npv_usd": 12.0}]
    table = plots.tornado_table(pd.DataFrame(rows))
    assert table["override"].tolist() == [HP, SPOT]
    assert table["swing"].tolist() == [9.0, 3.0]
    assert table["scenarios"].tolist() == [2, 2]


def test_a_sweep_folder_is_read_from_sweep_parquet(sweep, tmp_path):
    sweep.to_parquet(tmp_path / "sweep.parquet")
    table = plots.read_sweep(tmp_path)
    assert table.attrs["origin"] == str(tmp_path / "sweep.parquet")
    pd.testing.assert_frame_equal(table, sweep)
    with pytest.raises(ValueError) as exc:
        plots.read_sweep(tmp_path / "nothing")
    assert str(exc.value) == f"{tmp_path / 'nothing'}: no such file"


# --------------------------------------------------------------------------- resolution

def test_the_resolution_chart_draws_the_error_in_percent_and_the_times():
    table = pd.DataFrame({
        "resolution": ["hourly", "K=4", "K=8"], "days_per_period": [None, 4, 8],
        "steps": [744, 96, 192], "status": ["optimal"] * 3,
        "npv_usd": [2.0e6, 2.05e6, 1.99e6], "npv_rel_error": [0.0, 0.025, 0.005],
        "max_plan_diff_units": [0.0, 3.0, 0.0], "plan_differences": ["", "gpu/h100@p0:+3", ""],
        "build_s": [1.0, 0.2, 0.3], "solve_s": [5.0, 0.5, 0.9], "total_s": [6.5, 0.8, 1.3]})
    fig = plots.resolution_figure(table)
    bars, total, solve = fig.data
    np.testing.assert_allclose(bars.y, [0.0, 2.5, 0.5])
    np.testing.assert_allclose(total.y, [6.5, 0.8, 1.3])
    np.testing.assert_allclose(solve.y, [5.0, 0.5, 0.9])
    assert total.yaxis == "y2"
    assert bars.customdata[1][2] == "gpu/h100@p0:+3"
    assert bars.customdata[0][2] == "same plan as hourly"
    assert fig.layout.yaxis.title.text == "NPV error against hourly (%)"
    assert fig.layout.yaxis2.title.text == "time (s)"


def test_a_resolution_table_without_its_columns_is_refused(tmp_path):
    path = tmp_path / "res.csv"
    pd.DataFrame({"resolution": ["hourly"], "npv_usd": [1.0]}).to_csv(path, index=False)
    with pytest.raises(ValueError) as exc:
        plots.resolution_figure(path)
    assert str(exc.value) == (f"{path}: missing column 'status' (a compare-resolution table "
                              "has resolution, status, npv_usd, npv_rel_error, total_s, ...)")
