"""Sensitivity sweeps (issue 11): overrides, kept-model re-solves against fresh solves,
a sweep derived by hand, a killed worker of a real LocalCluster, resume, bad overrides."""

from __future__ import annotations

import json
from dataclasses import replace

import pandas as pd
import pytest
from conftest import BUNDLED_ROOT, base_instance, base_site
from distributed import LocalCluster
from typer.testing import CliRunner

from optimizer import pipeline
from optimizer.api import solve
from optimizer.check import check_run
from optimizer.instance import Instance, load_instance
from optimizer.results.tables import plan_differences
from optimizer.sweep import OverrideError, Rebuild, sweep
from optimizer.sweep.changes import BOUND, COST, STRUCTURE, kind_of, leaves
from optimizer.sweep.command import app
from optimizer.sweep.kept import KILL_ENV, kept_models, run_scenario
from optimizer.sweep.overrides import Override, apply, parse_vary
from optimizer.sweep.runner import plan, sweep_config

QUICKSTART = BUNDLED_ROOT / "quickstart" / "instance.yaml"


def scenario_instance(inst: Instance, data: dict) -> Instance:
    """A scenario's dict as an Instance with the base's series, for a fresh solve."""
    out = Instance.model_validate(data)
    out._series, out._series_path = inst._series, inst._series_path
    return out


# --------------------------------------------------------------------------- overrides

def test_overrides_set_and_scale_scalars_lists_and_series_columns():
    inst = load_instance(QUICKSTART)
    data = inst.model_dump(mode="json", by_alias=True, exclude_none=True)

    def o(text: str) -> Override:
        path, op, values = parse_vary(text)
        return Override(path, op, values[0])

    out = apply(data, [o("market.pool_fee=0.05"), o("market.hashprice_usd_per_ph_day*=0.5"),
                       o("gpu_products[h100-hgx].capex_usd=[200000]"),
                       o("gpu_products[h100-hgx].capex_usd*=1.5"),
                       o("sites[midland].fleet[s19xp].units*=0.5"),
                       o("contracts[lab-a].units=100")])
    assert out["market"] == {"hashprice_usd_per_ph_day": {"column": "hashprice_usd_per_ph_day",
                                                          "scale": 0.5}, "pool_fee": 0.05}
    assert out["gpu_products"][0]["capex_usd"] == [300000.0]
    # an integer key stays an integer when the product is whole (7000, not 7000.0)
    assert out["sites"][0]["fleet"][0]["units"] == 7000
    assert type(out["sites"][0]["fleet"][0]["units"]) is int
    assert out["contracts"][0]["units"] == 100
    assert data["market"]["pool_fee"] == 0.02  # the instance's dict is untouched


def test_paths_are_classified_by_the_static_table():
    data = {"sites": [{"id": "x", "grid": {"import_limit_mw": 1, "price_usd_per_mwh": 2,
                                           "upgrades": [{"id": "u", "add_mw": 3,
                                                         "capex_usd": 4}]}}]}
    named = {".".join(x if isinstance(x, str) else f"[{x[1]}]" for x in p): kind_of(p, False)
             for p in leaves(data)}
    assert named == {"sites.#ids": STRUCTURE, "sites.[x].id": STRUCTURE,
                     "sites.[x].grid.import_limit_mw": BOUND,
                     "sites.[x].grid.price_usd_per_mwh": COST,
                     "sites.[x].grid.upgrades.#ids": STRUCTURE,
                     "sites.[x].grid.upgrades.[u].id": STRUCTURE,
                     "sites.[x].grid.upgrades.[u].add_mw": STRUCTURE,
                     "sites.[x].grid.upgrades.[u].capex_usd": COST}
    # with a capex budget an asset's price is a coefficient of the budget rows
    capex = next(p for p in leaves(data) if p[-1] == "capex_usd")
    assert kind_of(capex, True) == STRUCTURE


# --------------------------------------------------------------------------- by hand

def test_npv_is_linear_in_hashprice_and_grid_price_with_slopes_derived_by_hand(
        make_instance, tmp_path):
    """One site, February 2027 (672 hours), 1000 ASICs of 100 TH/s at 3 kW, pool fee 2 %,
    no discounting, a flat grid price p USD/MWh and a flat hashprice h USD/PH/day.
    Each ASIC earns h / 24 / 1000 * 100 * 0.98 = 0.0040833 h USD per hour and pays
    0.003 p; for h >= 30 and p <= 40 that margin is positive, so every ASIC runs every
    hour and none is retired (no salvage): the plan does not change over the grid, and

        NPV = 672 * 1000 * (0.0040833 h - 0.003 p) = 2744 h - 2016 p  USD,

    slope 2744 USD per USD/PH/day of hashprice and -2016 USD per USD/MWh of grid price
    (e.g. h = 40, p = 20: 109,760 - 40,320 = 69,440 USD). The six scenarios run on an
    existing cluster (its scheduler's address, as ``--scheduler`` takes it) of one worker
    process: one build, five re-solves of the kept model, whose run folders
    (``keep_runs``) pass the independent checker."""
    site = base_site(id="s", halls={"mining_mw": 5.0},
                     fleet=[{"id": "a", "units": 1000, "hashrate_th": 100.0, "power_kw": 3.0,
                             "cooling": "air"}])
    inst = make_instance(base_instance(market={"hashprice_usd_per_ph_day": 40.0,
                                               "pool_fee": 0.02}, sites=[site]))
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        rows = sweep(inst, {"market.hashprice_usd_per_ph_day": [30.0, 40.0, 50.0],
                            "sites[s].grid.price_usd_per_mwh": [20.0, 40.0]},
                     out=tmp_path / "sweep", scheduler=cluster.scheduler_address, quiet=True,
                     keep_runs=True, mip_gap=0.0)
    h = rows["market.hashprice_usd_per_ph_day"]
    p = rows["sites[s].grid.price_usd_per_mwh"]
    assert list(zip(h, p)) == [(30, 20), (30, 40), (40, 20), (40, 40), (50, 20), (50, 40)]
    assert rows["npv_usd"].tolist() == pytest.approx((2744 * h - 2016 * p).tolist(),
                                                     rel=1e-9)
    assert rows["retired.a"].tolist() == [0.0] * 6
    assert rows["model"].tolist() == ["built"] + ["resolved"] * 5
    on_disk = pd.read_parquet(tmp_path / "sweep" / "sweep.parquet")
    assert on_disk["npv_usd"].tolist() == rows["npv_usd"].tolist()
    assert pd.read_csv(tmp_path / "sweep" / "sweep.csv")["scenario"].tolist() == [
        "s0001", "s0002", "s0003", "s0004", "s0005", "s0006"]
    run = tmp_path / "sweep" / "runs" / "s0006"  # h = 50, p = 40, a re-solve
    report = check_run(run)
    assert report.ok, report.failed()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["npv_usd"] == pytest.approx(2744 * 50 - 2016 * 40, rel=1e-9)
    assert load_instance(run / "instance.yaml").market.hashprice_usd_per_ph_day == 50


# --------------------------------------------------------------------------- kept = fresh

QUICKSTART_SCENARIOS = [
    {},
    {"market.hashprice_usd_per_ph_day*=": 0.7, "market.pool_fee": 0.03},
    {"gpu_products[h100-hgx].spot_price_usd_per_gpu_hour*=": 0.8,
     "gpu_products[h100-hgx].capex_usd*=": 0.9, "contracts[lab-a].price_usd_per_gpu_hour": 2.4},
    {"sites[midland].grid.import_limit_mw": 40, "sites[midland].aux_load_mw": 1.5,
     "sites[midland].fleet[s19xp].units": 12000},
    {"sites[midland].halls.ai_mw": 2, "sites[midland].cooling.air.capacity_mw": 44,
     "gpu_products[h100-hgx].max_units_per_period": 150,
     "market.hashprice_usd_per_ph_day*=": 1.1},
    {"contracts[lab-a].units": 100},
]


def test_a_kept_model_resolved_equals_a_fresh_solve_of_every_scenario(monkeypatch):
    """Six quickstart scenarios through one worker's kept models (in this process):
    cost changes (hashprice, pool fee, spot and capex prices, a contract price), bound
    changes (interconnect, auxiliary load, fleet units, AI hall, cooling, order cap) and
    a structural one (the contract's units). Each equals a fresh solve of the same
    scenario at gap 0: NPV to 1e-9 relative and the same plan. Pyomo builds twice: the
    first scenario and the structural one."""
    inst = load_instance(QUICKSTART)
    config = sweep_config(mip_gap=0.0)
    scenarios = plan(inst, QUICKSTART_SCENARIOS, config)
    kept_models().clear()
    builds = []
    real_build = pipeline.build
    monkeypatch.setattr(pipeline, "build", lambda data: builds.append(1) or real_build(data))
    done = [run_scenario(replace(s.task, keep_run=True), inst) for s in scenarios]
    monkeypatch.undo()
    rows = [d.row for d in done]
    assert len(builds) == 2
    assert [r["model"] for r in rows] == ["built", "resolved", "resolved", "resolved",
                                          "resolved", "built"]
    assert [r["change"] for r in rows][1:5] == ["cost", "cost", "cost+bound", "cost+bound"]
    fresh = [solve(scenario_instance(inst, s.task.data), config) for s in scenarios]
    npvs = [f.npv_usd for f in fresh]
    assert len(set(round(v) for v in npvs)) == 6  # every change moves the optimum
    for row, d, f in zip(rows, done, fresh):
        assert f.status == row["status"] == "optimal"
        assert row["npv_usd"] == pytest.approx(f.npv_usd, rel=1e-9)
        assert d.result.npv_usd == pytest.approx(f.npv_usd, rel=1e-9)
        assert plan_differences(f.capex, d.result.capex) == (0.0, "")
        ordered = f.capex.query("kind == 'gpu'").groupby("period")["quantity"].sum()
        assert row["gpus.h100-hgx.p0"] == ordered.get(0, 0.0)
        assert row["contract.lab-a"] == (1.0 if "lab-a" in f.kpis["accepted_contracts"] else 0)
    kept = kept_models()
    assert len(kept) == 2
    # the worker's own check, behind the structure key: the first structure's model
    # refuses the sixth scenario and stays as it was
    model = kept[scenarios[0].structure]
    before = model.form.cost.copy()
    with pytest.raises(Rebuild) as why:
        model.update(scenario_instance(inst, scenarios[5].task.data))
    assert str(why.value) == "contracts[lab-a].units changes the model's structure"
    assert (model.form.cost == before).all()


def test_each_bound_change_alone_equals_a_fresh_solve():
    """The bound changes one at a time from the base (each moves the NPV, so a change
    the kept model missed would show); then an auxiliary load above the interconnect
    (infeasible, explained by the elastic re-solve, which changes the HiGHS model), and
    back to the base: the kept model returns to the base's optimum."""
    inst = load_instance(QUICKSTART)
    config = sweep_config(mip_gap=0.0)
    singles = [{"sites[midland].grid.import_limit_mw": 40}, {"sites[midland].aux_load_mw": 3},
               {"sites[midland].fleet[s19xp].units": 9000}, {"sites[midland].halls.ai_mw": 2},
               {"sites[midland].cooling.air.capacity_mw": 40},
               {"gpu_products[h100-hgx].max_units_per_period": 150},
               {"sites[midland].aux_load_mw": 50}, {}]
    scenarios = plan(inst, [{}, *singles], config)
    kept_models().clear()
    rows = [run_scenario(s.task, inst).row for s in scenarios]
    assert [r["model"] for r in rows] == ["built"] + ["resolved"] * len(singles)
    assert (rows[-2]["status"], rows[-2]["exit_code"], rows[-2]["npv_usd"]) == (
        "infeasible", 3, None)
    assert "power_balance" in rows[-2]["message"], rows[-2]["message"]
    base = rows[0]["npv_usd"]
    for s, row in zip(scenarios[1:-2], rows[1:-2]):
        fresh = solve(scenario_instance(inst, s.task.data), config)
        assert row["npv_usd"] == pytest.approx(fresh.npv_usd, rel=1e-9), s.values
        assert row["npv_usd"] != pytest.approx(base, rel=1e-6), s.values
    assert rows[-1]["npv_usd"] == pytest.approx(base, rel=1e-12)


def test_a_capex_budget_is_a_bound_and_capex_prices_under_it_rebuild(make_instance):
    """GPUs that pay for themselves (spot revenue over a month above the month's loss of
    residual value, free power), and a capex budget: the optimum orders
    floor(budget / 250,000) units. Budgets of 1.0, 1.6 and 2.6 M USD are bound changes of
    the kept model (the budget row is scaled to MUSD in HiGHS): 4, 6 and 10 units, the
    NPVs of fresh solves. A capex price is a coefficient of the budget row: another
    structure, built anew (200,000 USD: 5 units)."""
    product = {"id": "h100", "gpus_per_unit": 8, "it_kw": 10.0, "cooling": "air",
               "capex_usd": 250000, "lead_periods": 0, "life_years": 5,
               "spot_price_usd_per_gpu_hour": 2.0}
    inst = make_instance(base_instance(sites=[base_site(halls={"mining_mw": 0, "ai_mw": 5})],
                                       gpu_products=[product], capex_budget_usd=1.0e6))
    config = sweep_config(mip_gap=0.0)
    scenarios = plan(inst, [{}, {"capex_budget_usd": 1.6e6}, {"capex_budget_usd*=": 2.6},
                            {"gpu_products[h100].capex_usd": 200000}], config)
    kept_models().clear()
    rows = [run_scenario(s.task, inst).row for s in scenarios]
    assert [r["gpus.h100.p0"] for r in rows] == [4, 6, 10, 5]
    assert [r["model"] for r in rows] == ["built", "resolved", "resolved", "built"]
    # the static table puts it in another structure group before any worker sees it
    assert rows[3]["change"] == "new structure"
    assert len({s.structure for s in scenarios[:3]}) == 1
    assert scenarios[3].structure != scenarios[0].structure
    for s, row in zip(scenarios[1:3], rows[1:3]):
        fresh = solve(scenario_instance(inst, s.task.data), config)
        assert row["npv_usd"] == pytest.approx(fresh.npv_usd, rel=1e-9)


def test_a_representative_grid_resolves_through_the_decomposition():
    """On 2 representative days ``method=auto`` decomposes; a kept model re-solved with
    another hashprice and interconnect equals a fresh solve (monolithic, gap 1e-9)."""
    inst = load_instance(QUICKSTART)
    config = sweep_config(mip_gap=1e-9, representative_days=2)
    scenarios = plan(inst, [{}, {"market.hashprice_usd_per_ph_day*=": 0.8,
                                 "sites[midland].grid.import_limit_mw": 40}], config)
    kept_models().clear()
    rows = [run_scenario(s.task, inst).row for s in scenarios]
    assert [r["model"] for r in rows] == ["built", "resolved"]
    assert rows[1]["method"] == "benders"
    fresh = solve(scenario_instance(inst, scenarios[1].task.data),
                  config.model_copy(update={"method": "monolithic"}))
    assert rows[1]["npv_usd"] == pytest.approx(fresh.npv_usd, rel=1e-9)
    assert rows[1]["gpus.h100-hgx.p0"] == fresh.capex.query("kind == 'gpu'")["quantity"].sum()


def test_plan_cost_changes_keep_the_benders_cuts_and_equal_fresh_solves():
    """quickstart on 2 representative days decomposes (294 H100 servers). GPU capex at 2.5
    times (no GPU bought: the plan flips) and at 0.7 times (the 294 again) changes only
    the plan's costs, nothing a site-period LP holds: the kept decomposition is re-solved
    with its cuts (the same master object, its cuts only growing), and each NPV and plan
    equals a fresh monolithic solve of the scenario (gap 1e-9). A hashprice change
    reaches every block: the decomposition starts afresh (a new master)."""
    inst = load_instance(QUICKSTART)
    config = sweep_config(mip_gap=1e-9, representative_days=2)
    scenarios = plan(inst, [{}, {"gpu_products[h100-hgx].capex_usd*=": 2.5},
                            {"gpu_products[h100-hgx].capex_usd*=": 0.7},
                            {"market.hashprice_usd_per_ph_day*=": 0.8}], config)
    assert len({s.structure for s in scenarios}) == 1
    kept_models().clear()
    rows, masters, cuts = [], [], []
    for s in scenarios:
        rows.append(run_scenario(s.task, inst).row)
        (model,) = kept_models().values()
        masters.append(model.decomposition.run.master)
        cuts.append(model.decomposition.run.master.cuts)
    assert [r["model"] for r in rows] == ["built", "resolved", "resolved", "resolved"]
    assert [r["gpus.h100-hgx.p0"] for r in rows[:3]] == [294, 0, 294]
    assert masters[1] is masters[0] and masters[2] is masters[0]
    assert cuts[0] <= cuts[1] <= cuts[2]
    assert masters[3] is not masters[0]
    for s, row in zip(scenarios[1:], rows[1:]):
        fresh = solve(scenario_instance(inst, s.task.data),
                      config.model_copy(update={"method": "monolithic"}))
        assert row["npv_usd"] == pytest.approx(fresh.npv_usd, rel=1e-9)
        assert row["gpus.h100-hgx.p0"] == fresh.capex.query("kind == 'gpu'")["quantity"].sum()


# --------------------------------------------------------------------------- faults, resume

def test_a_killed_worker_costs_its_scenario_only_and_resume_finishes_the_sweep(
        tmp_path, monkeypatch):
    """Four scenarios on a LocalCluster of two processes. The worker solving s0002 kills
    itself once (retried: solved), the one solving s0003 every time (retried once, then
    an ``error`` row); the sweep goes on, exits 1 and names s0003. ``--resume`` then
    solves s0003 only: the other rows are kept as they were."""
    orders = tmp_path / "kill"
    orders.mkdir()
    (orders / "s0002").write_text("once")
    (orders / "s0003").write_text("always")
    monkeypatch.setenv(KILL_ENV, str(orders))
    scenarios = tmp_path / "scenarios.csv"
    scenarios.write_text("market.hashprice_usd_per_ph_day*=,market.pool_fee\n"
                         "0.8,0.02\n1.0,\n1.2,0.03\n, 0.01\n")
    out = tmp_path / "sweep"
    args = [str(QUICKSTART), "--scenarios", str(scenarios), "--out", str(out), "--workers",
            "2", "--quiet"]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 1, first.output
    assert ("s0003: error: the worker process died while solving it, twice (killed, or out "
            "of memory); it was retried once on another worker") in first.stderr
    assert "1 of 4 scenarios have no solution: s0003" in first.stderr
    rows = pd.read_parquet(out / "sweep.parquet").set_index("scenario")
    assert rows["status"].tolist() == ["optimal", "optimal", "error", "optimal"]
    assert rows["market.pool_fee"].isna().tolist() == [False, True, False, False]

    (orders / "s0003").unlink()
    again = CliRunner().invoke(app, [*args, "--resume"])
    assert again.exit_code == 0, again.output
    resumed = pd.read_parquet(out / "sweep.parquet").set_index("scenario")
    assert resumed["status"].tolist() == ["optimal"] * 4
    kept = ["s0001", "s0002", "s0004"]
    same = ["hash", "npv_usd", "task_s", "worker", "finished_utc"]
    assert resumed.loc[kept, same].equals(rows.loc[kept, same])
    assert resumed.loc["s0003", "hash"] == rows.loc["s0003", "hash"]
    hp = load_instance(QUICKSTART)
    fresh = solve(hp.model_copy(update={"market": hp.market.model_copy(update={
        "pool_fee": 0.03, "hashprice_usd_per_ph_day": hp.market.hashprice_usd_per_ph_day
        .model_copy(update={"scale": 1.2})})}), mip_gap=1e-4)
    assert resumed.loc["s0003", "npv_usd"] == pytest.approx(fresh.npv_usd, rel=1e-4)


# --------------------------------------------------------------------------- bad overrides

@pytest.mark.parametrize(("option", "message"), [
    ("market.pool_fe=0.01,0.02",
     "--vary: market.pool_fe: unknown key 'pool_fe' in market; did you mean 'pool_fee'? "
     "(got [0.01, 0.02])"),
    ("sites[midlnd].grid.import_limit_mw=40",
     "--vary: sites[midlnd].grid.import_limit_mw: no entry 'midlnd' in sites; did you mean "
     "'midland'? (got 40)"),
    ("sites[midland].grid.import_limt_mw*=0.9",
     "--vary: sites[midland].grid.import_limt_mw: unknown key 'import_limt_mw' in "
     "sites[midland].grid; did you mean 'import_limit_mw'? (got 0.9)"),
    ("gpu_products[h100-hgx].cooling*=2",
     "--vary: gpu_products[h100-hgx].cooling: cannot scale 'air': '*=' scales a number, a "
     "per-period list or a {column:, scale:} value (got 2)"),
    ("sites[midland].halls.conversion.max_blocks=3",
     "--vary: sites[midland].halls.conversion.max_blocks: sites[midland].halls.conversion is "
     "not set in this instance; set the whole of it with '=' (got 3)"),
    ("series.file=other.csv",
     "--vary: series.file: series cannot be varied: every scenario reads the instance's "
     "series file; vary a {column:, scale:} value instead (got 'other.csv')"),
    ("market..pool_fee=0.1",
     "--vary: market..pool_fee: not a path (expected keys joined by dots, a list entry "
     "selected by its id in brackets, e.g. sites[permian].grid.import_limit_mw) (got 0.1)"),
])
def test_a_bad_path_exits_2_naming_the_path_the_nearest_key_and_the_value(
        tmp_path, option, message):
    out = tmp_path / "sweep"
    res = CliRunner().invoke(app, [str(QUICKSTART), "--vary", option, "--out", str(out)])
    assert res.exit_code == 2, res.output
    assert res.stderr.strip() == message
    assert not out.exists()  # nothing ran


def test_an_invalid_value_gets_its_row_and_exits_2(tmp_path):
    """Values are validated exactly like an instance file: an out-of-range pool fee is
    a row with status ``invalid`` and the validator's sentence; nothing is solved."""
    out = tmp_path / "sweep"
    res = CliRunner().invoke(app, [str(QUICKSTART), "--vary", "market.pool_fee=1.5,-0.1",
                                   "--out", str(out)])
    assert res.exit_code == 2, res.output
    rows = pd.read_csv(out / "sweep.csv")
    assert rows["status"].tolist() == ["invalid", "invalid"]
    assert rows["message"].tolist() == [
        f"{QUICKSTART} (scenario s0001): market.pool_fee: must be < 1 (got 1.5)",
        f"{QUICKSTART} (scenario s0002): market.pool_fee: must be >= 0 (got -0.1)"]
    assert "2 of 2 scenarios have no solution: s0001, s0002" in res.stderr


def test_the_api_refuses_a_bad_path_before_anything_runs():
    with pytest.raises(OverrideError) as err:
        sweep(load_instance(QUICKSTART), {"market.hashprice*=": [0.5]}, quiet=True)
    assert str(err.value) == ("scenarios: market.hashprice: unknown key 'hashprice' in market; "
                              "did you mean 'hashprice_usd_per_ph_day'? (got 0.5)")


def test_an_existing_sweep_is_not_overwritten_without_resume(tmp_path):
    out = tmp_path / "sweep"
    out.mkdir()
    (out / "sweep.parquet").write_bytes(b"")
    res = CliRunner().invoke(app, [str(QUICKSTART), "--vary", "market.pool_fee=0.01",
                                   "--out", str(out)])
    assert res.exit_code == 2
    assert res.stderr.strip() == (f"--out: {out} holds a sweep already; pass --resume to "
                                  "continue it, or choose another --out")
