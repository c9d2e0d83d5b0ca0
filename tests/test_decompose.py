"""The Benders decomposition (optimizer/solver/benders.py) against the monolithic MILP.

Its answers are also checked by every known-answer test (test_known_answers.py runs each
through both methods) and by the checker on the bundled portfolio-3y run, which takes
the decomposition by default (test_check.py)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import BUNDLED_ROOT, mandatory_contract
from scipy import sparse

from optimizer.api import load_instance, solve
from optimizer.solver.benders import _row_blocks


def test_rows_take_the_block_of_their_operating_columns_and_plan_rows_minus_one():
    A = sparse.csr_matrix(np.array([
        [1.0, 1.0, 0.0, 0.0],   # plan column 0 with block 0: block 0
        [1.0, 0.0, 0.0, 0.0],   # plan only: -1
        [0.0, 0.0, 2.0, 1.0],   # block 1 twice: block 1
        [0.0, 0.0, 0.0, 0.0],   # empty: -1
    ]))
    blocks = np.array([-1, 0, 1, 1])
    assert _row_blocks(A, blocks).tolist() == [0, -1, 1, -1]


def test_a_row_over_two_blocks_refuses_the_decomposition():
    A = sparse.csr_matrix(np.array([[0.0, 1.0, 1.0]]))
    assert _row_blocks(A, np.array([-1, 0, 1])) is None


@pytest.mark.parametrize("days", [3, 6])
def test_benders_and_the_monolithic_milp_agree_within_the_gap(days):
    """permian-1y with K representative days: both methods are optimal at the 1e-4 gap,
    so their NPVs differ by at most 1e-4 of either, and each method's bound is at least
    the other's NPV (a bound below a feasible NPV would be wrong)."""
    inst = load_instance(BUNDLED_ROOT / "permian-1y" / "instance.yaml")
    mono = solve(inst, representative_days=days, method="monolithic", marginals=False)
    bend = solve(inst, representative_days=days, method="benders", marginals=False)
    assert (mono.status, bend.status) == ("optimal", "optimal")
    assert bend.method == "benders"
    assert bend.npv_usd == pytest.approx(mono.npv_usd, rel=1e-4)
    assert bend.best_bound_usd >= mono.npv_usd * (1 - 1e-9)
    assert mono.best_bound_usd >= bend.npv_usd * (1 - 1e-9)
    assert bend.mip_gap <= 1e-4
    assert bend.summary().solver.method == "benders"
    assert bend.solver_log.splitlines()[-1].startswith("HiGHS run time")


def test_auto_decomposes_representative_grids_only():
    inst = load_instance(BUNDLED_ROOT / "quickstart" / "instance.yaml")
    assert solve(inst, representative_days=2, marginals=False).method == "benders"
    assert solve(inst, marginals=False).method == "monolithic"


def test_an_infeasible_instance_hands_over_to_the_monolithic_solve_and_is_explained(
        make_instance):
    """A mandatory contract needs 2.5 M USD of GPUs in period 0 against a 1 M USD budget
    (the case of test_marginals_infeasibility.py): the master has no plan, so the
    monolithic solve decides (infeasible, exit 3) and the explanation names the budget."""
    inst = make_instance(mandatory_contract(10, halls={"mining_mw": 0.0, "ai_mw": 50.0},
                                            capex_budget_usd=1.0e6))
    res = solve(inst, method="benders")
    assert res.exit_code == 3 and res.method == "monolithic"
    assert list(res.infeasibility["group"]) == ["capex_budget"]
    assert "handing over to the monolithic solve" in res.solver_log


def test_a_plan_that_needs_slack_in_the_hours_is_not_a_solution(make_instance):
    """A mandatory contract for 100 units (1 MW) at a site without AI hall space: every
    plan leaves gpu_available short in the hours (or breaks ai_hall), so no plan
    without slack exists; the monolithic solve then reports infeasible."""
    inst = make_instance(mandatory_contract(100, halls={"mining_mw": 10.0, "ai_mw": 0.0}))
    res = solve(inst, method="benders")
    assert res.status == "infeasible" and res.method == "monolithic"
    assert "handing over to the monolithic solve" in res.solver_log
    assert res.solver_log.splitlines()[-1].startswith("HiGHS run time")


def test_no_time_at_all_stops_the_decomposition_without_a_plan():
    """--time-limit 0 on representative days: status time_limit, no solution (exit 4),
    as with the monolithic solve."""
    inst = load_instance(BUNDLED_ROOT / "permian-1y" / "instance.yaml")
    res = solve(inst, representative_days=3, method="benders", time_limit=0.0)
    assert (res.status, res.exit_code, res.npv_usd) == ("time_limit", 4, None)



def test_an_unknown_method_is_refused_whatever_the_grid():
    inst = load_instance(BUNDLED_ROOT / "quickstart" / "instance.yaml")
    with pytest.raises(ValueError, match="--method: input should be 'auto', 'monolithic' or "
                                         "'benders' \\(got 'fast'\\)"):
        solve(inst, method="fast")
