"""Freeing a big Pyomo model before the solve (pipeline.release_model) changes no result:
quickstart, released as if it were big, gives the plan and NPV of a run that keeps its
model, and its labels are equal tuples made anew."""

from __future__ import annotations

from pathlib import Path

import highspy
import numpy as np
import pytest

from optimizer import pipeline
from optimizer.api import solve
from optimizer.instance import load_instance
from optimizer.solver.config import SolveConfig
from optimizer.solver.highs import pass_full_model
from optimizer.solver.stdform import Labels, StandardForm

QUICKSTART = Path(__file__).resolve().parent.parent / "instances" / "quickstart" / "instance.yaml"


def test_a_released_model_solves_to_the_plan_of_a_kept_one(monkeypatch):
    monkeypatch.setattr(pipeline, "RELEASE_ABOVE_POSITIONS", 0)
    inst = load_instance(QUICKSTART)
    config = SolveConfig()
    data = pipeline.prepare(inst, pipeline.time_grid(inst, config))
    built = pipeline.build(data)
    compiled = pipeline.compile(built)
    columns_before = list(compiled.form.columns.index)
    model, built = built.model, None
    timings = pipeline.release_model(model, compiled)
    assert list(timings) == ["release"]
    assert list(model.component_objects()) == [] and compiled.columns is None
    after = compiled.form.columns.index
    assert after == columns_before
    assert not any(a is b for a, b in zip(after, columns_before) if a)  # new tuples

    released = solve(inst)  # the full run, released as well
    kept = solve(inst, keep_model=True)
    assert "release" in released.timings_s and "release" not in kept.timings_s
    assert released.npv_usd == pytest.approx(kept.npv_usd, rel=1e-9)
    assert released.capex.equals(kept.capex)
    assert released.marginals.equals(kept.marginals)


def test_a_repacked_label_answers_lookups_again():
    """The caches built before a repack are dropped with the old tuples."""
    labels = Labels(["x", "y"], np.array([0, 1, 0], np.int32), [("a", 1), ("b",), ("a", 2)])
    assert labels.lookup("x") == {("a", 1): 0, ("a", 2): 2}
    labels.repack()
    assert labels.lookup("x") == {("a", 1): 0, ("a", 2): 2}
    assert labels.label(1) == ("y", ("b",))


def test_the_form_goes_to_highs_row_wise_as_it_is():
    """max x + y  s.t.  x + 2y <= 4 (row scaled by 10), 0 <= x <= 3, y >= 0, x integer:
    x = 3, y = 0.5, objective 3.5 + offset 1; an LP (no integer column) gives the same."""
    from scipy import sparse

    A = sparse.csr_matrix(np.array([[10.0, 20.0]]))
    one = Labels(["v"], np.zeros(2, np.int32), [(0,), (1,)])
    for integer in (np.array([True, False]), np.zeros(2, bool)):
        sf = StandardForm(A=A, cost=np.ones(2), offset=1.0, lb=np.zeros(2),
                          ub=np.array([3.0, np.inf]), integer=integer,
                          row_lo=np.array([-np.inf]), row_hi=np.array([4.0]),
                          row_scale=np.array([10.0]), columns=one,
                          rows=Labels(["r"], np.zeros(1, np.int32), [()]), cash=None)
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        pass_full_model(h, sf)
        h.run()
        assert h.getModelStatus() == highspy.HighsModelStatus.kOptimal
        assert h.getInfo().objective_function_value == pytest.approx(4.5, abs=1e-9)
        assert np.allclose(h.getSolution().col_value, [3.0, 0.5])
        assert h.getSolution().dual_valid == (not integer.any())
