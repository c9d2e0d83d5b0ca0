"""--warm-start feeds an earlier run's integer decisions to HiGHS."""

from __future__ import annotations

from pathlib import Path

import pytest

from optimizer.api import solve
from optimizer.instance import load_instance
from optimizer.results.warmstart import integer_start

QUICKSTART = Path(__file__).resolve().parent.parent / "instances" / "quickstart" / "instance.yaml"


def test_warm_start_is_accepted_by_highs_and_keeps_the_optimum(tmp_path):
    inst = load_instance(QUICKSTART)
    first = solve(inst)
    run = first.write(tmp_path / "first")
    start = integer_start(run)
    bought = first.capex[first.capex["kind"] == "gpu"]
    assert start == {**{("buy", (r.site, r.item, r.period)): r.quantity
                        for r in bought.itertuples()},
                     **{("accept_contract", (k,)): 1.0
                        for k in first.capex.loc[first.capex["kind"] == "contract", "item"]}}
    again = solve(inst, warm_start=run)
    assert "MIP start solution is feasible" in again.solver_log
    assert again.npv_usd == pytest.approx(first.npv_usd, rel=1e-9)
