"""Estates (issue 14): the decomposition's search strategies against the monolithic MILP on
small cuts of instances/estate-10x5 (its sites, products, deals and prices; fewer sites,
quarters and representative days).

Every strategy of ``solver.benders.Strategy`` changes how the decomposition searches, never
what it certifies: at ``--mip-gap 0`` each must return the monolithic optimum, with a bound
no lower than it (a bound below a feasible NPV would be wrong).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml

from optimizer import pipeline
from optimizer.api import solve
from optimizer.instance import Instance
from optimizer.model.build import column_blocks
from optimizer.solver import benders
from optimizer.solver.config import SolveConfig
from optimizer.solver.monolithic import solve_monolithic

ESTATE = Path(__file__).resolve().parent.parent / "instances" / "estate-10x5"

D = benders.DEFAULT_STRATEGY
STRATEGIES = {
    "default": D,
    "kelley": benders.KELLEY,
    "inout": replace(D, stabilise="inout"),
    "no-trust-region": replace(D, stabilise="none"),
    "no-first-plan": replace(D, start_steps=0),
    "aggregated-cuts": replace(D, cuts="aggregated"),
    "rounding": replace(D, rounding=True),
    "exact-masters": replace(D, relax_above=math.inf),
    "one-gap": replace(D, master_gaps=()),
    "no-interrupt-pool-corners": replace(D, interrupt=False, pool=0, corner_cuts=False),
    "serial-blocks": replace(D, workers=1),
}


def small_estate(sites: list[str], periods: int, days: int,
                 edit: Callable[[dict], None] | None = None) -> Instance:
    """estate-10x5 cut to ``sites`` and the first ``periods`` quarters at ``days``
    representative days: per-period lists keep their first values, deals at other sites
    or starting later are dropped, the others end with the horizon; ``edit`` changes the
    instance's dict last."""
    data = yaml.safe_load((ESTATE / "instance.yaml").read_text())
    full = data["horizon"]["periods"]
    data["horizon"]["periods"] = periods
    data["horizon"]["resolution"]["days_per_period"] = days
    data["sites"] = [s for s in data["sites"] if s["id"] in sites]
    for key in ("contracts", "leases"):
        data[key] = [d for d in data[key] if d["site"] in sites and d["start_period"] < periods]
        for deal in data[key]:
            deal["end_period"] = min(deal["end_period"], periods)

    def cut(value):
        if isinstance(value, dict):
            return {k: cut(v) for k, v in value.items()}
        if isinstance(value, list):
            if len(value) == full and all(isinstance(v, int | float) for v in value):
                return value[:periods]
            return [cut(v) for v in value]
        return value

    data = cut(data)
    if edit is not None:
        edit(data)
    return Instance.from_dict(data, ESTATE, file_label="<small estate>")


def compiled(instance: Instance, config: SolveConfig):
    grid = pipeline.time_grid(instance, config)
    data = pipeline.prepare(instance, grid)
    form = pipeline.compile(pipeline.build(data)).form
    return form, column_blocks(data, form.columns)


EXACT = SolveConfig(mip_gap=0.0)


@pytest.fixture(scope="module")
def two_sites():
    """permian and rockdale, 4 quarters of 2027, 2 representative days: 8 site-period
    LPs, 22 integer plan columns, and the monolithic optimum at gap 0."""
    form, blocks = compiled(small_estate(["permian", "rockdale"], 4, 2), EXACT)
    return form, blocks, solve_monolithic(form, EXACT)


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_every_strategy_finds_the_monolithic_optimum_at_gap_zero(two_sites, name):
    """At --mip-gap 0 (which the decomposition certifies to benders.MIN_GAP = 1e-7) the
    decomposed NPV equals the monolithic optimum to 1e-7, and its bound is at least that
    optimum."""
    form, blocks, mono = two_sites
    assert mono.status == "optimal"
    sol = benders.solve_benders(form, EXACT, blocks, strategy=STRATEGIES[name])
    assert sol is not None and sol.method == "benders"
    assert sol.status == "optimal"
    assert sol.npv_usd == pytest.approx(mono.npv_usd, rel=1e-7)
    assert sol.best_bound_usd >= mono.npv_usd * (1 - 1e-9)
    assert sol.mip_gap <= benders.MIN_GAP


@pytest.mark.parametrize("name", ["default", "kelley"])
def test_three_sites_over_six_quarters_agree_with_the_monolithic_optimum(name):
    """permian, temple and amarillo over 6 quarters (the leases hyperscaler-t and the
    contract lab-b200-a start inside; 64 integer plan columns): same optimum, bound above
    it."""
    form, blocks = compiled(small_estate(["permian", "temple", "amarillo"], 6, 2), EXACT)
    mono = solve_monolithic(form, EXACT)
    sol = benders.solve_benders(form, EXACT, blocks, strategy=STRATEGIES[name])
    assert (mono.status, sol.status) == ("optimal", "optimal")
    assert sol.npv_usd == pytest.approx(mono.npv_usd, rel=1e-7)
    assert sol.best_bound_usd >= mono.npv_usd * (1 - 1e-9)


def test_progress_reports_a_falling_bound_and_a_rising_best_plan(two_sites):
    """One Progress per iteration: iterations count 1, 2, ...; the certified bound never
    rises and the best plan never falls once they exist; the last call carries the
    solution's bound, NPV and gap; ``line()`` names them."""
    form, blocks, _ = two_sites
    calls: list[benders.Progress] = []
    sol = benders.solve_benders(form, SolveConfig(mip_gap=1e-3), blocks, progress=calls.append)
    assert [p.iteration for p in calls] == list(range(1, len(calls) + 1))
    bounds = [p.bound_usd for p in calls if p.bound_usd is not None]
    bests = [p.best_usd for p in calls if p.best_usd is not None]
    assert bounds and bests
    assert all(a >= b for a, b in zip(bounds, bounds[1:]))
    assert all(a <= b for a, b in zip(bests, bests[1:]))
    last = calls[-1]
    assert last.best_usd <= sol.npv_usd * (1 + 1e-9)  # the final LP may polish the NPV up
    assert last.bound_usd >= sol.npv_usd * (1 - 1e-9)
    assert last.gap <= 1e-3
    assert last.line().startswith(f"Benders {last.iteration:3d}   mip  bound ")
    assert " M$  best plan " in last.line() and last.line().endswith(" s")


def test_an_estate_whose_site_cannot_cover_its_aux_load_hands_over():
    """rockdale's grid import capped at 2 MW against its 3 MW aux load (no PPA to cover
    the rest): no plan leaves a rockdale block a solution, so the blocks' phase-1
    feasibility cuts leave the master LP without a plan; the monolithic MILP decides
    (infeasible, exit 3) and the explanation names the import limit and the power
    balance at rockdale (1 MW short)."""
    def cap_rockdale_import(data: dict) -> None:
        grid = next(s for s in data["sites"] if s["id"] == "rockdale")["grid"]
        grid["import_limit_mw"], grid["upgrades"] = 2, []

    res = solve(small_estate(["permian", "rockdale"], 4, 2, cap_rockdale_import),
                method="benders")
    assert (res.status, res.exit_code, res.method) == ("infeasible", 3, "monolithic")
    assert "master LP: Infeasible; handing over to the monolithic solve" in res.solver_log
    assert set(res.infeasibility["group"]) == {"import_limit", "power_balance"}
    assert all("site rockdale" in line for line in res.explanation)


def test_the_first_plan_samples_every_block_and_is_feasible(two_sites):
    """The step-sample LP's plan (8 steps of each of the 8 site-period LPs, refined with
    the steps a block could not meet) leaves every block a solution, and its value lies
    below the LP bound the LP phase then reaches (a feasible plan of the relaxation)."""
    form, blocks, _ = two_sites
    config = SolveConfig(mip_gap=1e-3)
    row_block = benders._row_blocks(form.A, blocks)
    log = benders._Log(config, None)
    run = benders._Run(form, config, blocks, row_block, log, 0.0, None, D, None)
    x0 = run.first_plan()
    point = run.evaluate(x0)
    assert point.feasible
    run.lp_phase(x0)
    run.pool.shutdown()
    assert np.isfinite(run.upper)
    assert point.value <= run.upper * (1 + 1e-9)


def test_the_solve_command_prints_a_progress_line_per_benders_iteration(tmp_path):
    """``hashpivot solve`` on representative days (the decomposition by default) prints one
    line per iteration on stderr, numbered 1, 2, ..., each with the bound, the best plan,
    the gap and the time; the last one's best plan is within the 1e-4 gap of the NPV in
    summary.json, its bound no lower. ``--verbose`` prints the log instead."""
    import json
    import re

    from typer.testing import CliRunner

    from optimizer.cli import app

    quickstart = ESTATE.parent / "quickstart" / "instance.yaml"
    out = tmp_path / "run"
    res = CliRunner().invoke(app, ["solve", str(quickstart), "--representative-days", "2",
                                   "--out", str(out)])
    assert res.exit_code == 0, res.output
    pattern = re.compile(r"Benders +(\d+) +(start|lp|round|mip)  bound (-|[\d,.-]+ M\$)  "
                         r"best plan (-|[\d,.-]+ M\$)  gap (-|[\d.]+%)  [\d.]+ s")
    lines = [m for m in map(pattern.fullmatch, res.stderr.splitlines()) if m]
    assert [int(m[1]) for m in lines] == list(range(1, len(lines) + 1))
    assert len(lines) >= 2 and lines[-1][2] == "mip"
    npv = json.loads((out / "summary.json").read_text())["npv_usd"]
    best = float(lines[-1][4].removesuffix(" M$").replace(",", "")) * 1e6
    bound = float(lines[-1][3].removesuffix(" M$").replace(",", "")) * 1e6
    assert abs(best - npv) <= 1e-4 * abs(npv) + 5e3  # 2 decimals of M$
    assert bound >= npv - 5e3
    verbose = CliRunner().invoke(app, ["solve", str(quickstart), "--representative-days", "2",
                                       "--out", str(tmp_path / "v"), "--verbose"])
    assert not any(map(pattern.fullmatch, verbose.stderr.splitlines()))
