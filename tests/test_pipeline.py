"""The seams of the pipeline: a picklable SolveConfig, a labelled solution that needs no
Pyomo after the compile, a kept HiGHS model re-solved into tables, RunSummary."""

from __future__ import annotations

import json
import pickle
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from optimizer import pipeline
from optimizer.api import solve
from optimizer.cli import app
from optimizer.instance import load_instance
from optimizer.results.summary import RunSummary
from optimizer.results.tables import tables
from optimizer.solver.config import ConfigError, SolveConfig, make_config

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "instances" / "quickstart" / "instance.yaml"


def test_solve_config_pickles_and_fingerprints_what_changes_a_result():
    config = SolveConfig(mip_gap=1e-6, time_limit=30, method="benders", representative_days=4)
    again = pickle.loads(pickle.dumps(config))
    assert again == config and again.mode == "representative"
    assert config.fingerprint() == again.fingerprint()
    # threads and verbosity change how fast, not what: same fingerprint
    assert config.model_copy(update={"threads": 1, "verbose": True}).fingerprint() == \
        config.fingerprint()
    assert config.model_copy(update={"mip_gap": 1e-4}).fingerprint() != config.fingerprint()


@pytest.mark.parametrize(("options", "message"), [
    ({"mip_gap": 2.0}, "--mip-gap: input should be less than 1 (got 2.0)"),
    ({"mip_gap": -0.1}, "--mip-gap: input should be greater than or equal to 0 (got -0.1)"),
    ({"time_limit": -1.0}, "--time-limit: input should be greater than or equal to 0 (got -1.0)"),
    ({"threads": 0}, "--threads: input should be greater than or equal to 1 (got 0)"),
    ({"method": "fast"},
     "--method: input should be 'auto', 'monolithic' or 'benders' (got 'fast')"),
])
def test_bad_options_are_refused_naming_the_option_and_value(options, message):
    with pytest.raises(ConfigError) as err:
        make_config(**options)
    assert str(err.value) == message


def test_a_gap_of_2_exits_2_before_anything_is_solved(tmp_path):
    res = CliRunner().invoke(app, ["solve", str(QUICKSTART), "--out", str(tmp_path / "r"),
                                   "--mip-gap", "2"])
    assert res.exit_code == 2
    assert "--mip-gap: input should be less than 1 (got 2.0)" in res.output
    assert not (tmp_path / "r").exists()


def test_schema_summary_is_the_schema_of_summary_json(tmp_path):
    res = CliRunner().invoke(app, ["schema", "--summary"])
    assert res.exit_code == 0
    schema = json.loads(res.output)
    assert schema["title"] == "RunSummary"
    assert {"npv_usd", "instance_sha256", "config_sha256", "kpis"} <= set(schema["properties"])
    out = solve(load_instance(QUICKSTART)).write(tmp_path / "run")
    summary = RunSummary.model_validate_json((out / "summary.json").read_text())
    assert summary.status == "optimal" and summary.exit_code == 0


def test_the_stages_compose_to_api_solve():
    inst = pipeline.load(QUICKSTART)
    config = SolveConfig()
    data = pipeline.prepare(inst, pipeline.time_grid(inst, config))
    compiled = pipeline.compile(pipeline.build(data))
    sol = pipeline.solve(compiled, data, config)
    table = pipeline.tabulate(sol, data)
    assert table.npv_usd == pytest.approx(solve(inst, config).npv_usd, rel=1e-9)
    assert sol.value("buy").sum() == table.capex.query("kind == 'gpu'")["quantity"].sum()


def test_a_result_pickles_without_its_solver_session():
    res = solve(load_instance(QUICKSTART))
    assert res.solution.session is not None
    again = pickle.loads(pickle.dumps(res))
    assert again.solution.session is None and again.built is None
    assert again.npv_usd == res.npv_usd
    assert again.capex.equals(res.capex)


def test_a_kept_highs_model_is_resolved_and_tabulated_without_pyomo(monkeypatch):
    """Halving the hashprice, pushed into the kept HiGHS model as new costs of the
    mining_revenue entries, gives the plan and NPV of a fresh solve of the instance with
    half the hashprice. Pyomo is made unusable first: nothing after the compile needs it."""
    inst = load_instance(QUICKSTART)
    res = solve(inst, mip_gap=1e-9)
    sol = res.solution
    form = sol.form
    import pyomo.environ as pyo

    monkeypatch.setattr(pyo, "ConcreteModel", None)  # any Pyomo build would fail now
    sol.session.restore()  # the marginals LP fixed the integers; the MILP again
    cash = form.cash
    mining = np.flatnonzero(np.isin(np.asarray(cash.names)[cash.term], ["mining_revenue"]))
    u, d = cash.u.copy(), cash.d.copy()
    u[mining] *= 0.5
    d[mining] *= 0.5
    repriced = replace(cash, u=u, d=d)
    form2 = replace(form, columns=form.columns, rows=form.rows)
    form2.set_cash(repriced)
    h = sol.session.h
    n = form2.n_cols
    h.changeColsCost(n, np.arange(n, dtype=np.int32), form2.cost)
    h.changeObjectiveOffset(form2.offset)
    h.setOptionValue("mip_rel_gap", 1e-9)
    h.run()
    x = np.asarray(h.getSolution().col_value)
    x = np.where(form2.integer, np.round(x), x)
    table = tables(res.data, form2, x)
    monkeypatch.undo()

    hp = inst.market.hashprice_usd_per_ph_day  # a series column: scale it by half
    half = inst.model_copy(update={"market": inst.market.model_copy(
        update={"hashprice_usd_per_ph_day": hp.model_copy(update={"scale": hp.scale * 0.5})})})
    fresh = solve(half, mip_gap=1e-9)
    assert table.npv_usd == pytest.approx(fresh.npv_usd, rel=1e-9)
    assert table.capex[["kind", "item", "period", "quantity"]].equals(
        fresh.capex[["kind", "item", "period", "quantity"]])


def test_a_kept_pyomo_model_holds_the_solution_and_the_npv_objective():
    """keep_model=True: the assign stage writes x into the Pyomo variables and the NPV
    into model.npv, which evaluates to the tables' NPV."""
    import pyomo.environ as pyo

    res = solve(load_instance(QUICKSTART), keep_model=True)
    m = res.built.model
    assert pyo.value(m.npv) == pytest.approx(res.npv_usd, rel=1e-9)
    bought = sum(v.value for v in m.buy.values())
    assert bought == res.capex.query("kind == 'gpu'")["quantity"].sum()
