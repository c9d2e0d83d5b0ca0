"""Row blocks (the hourly constraint groups built as arrays) compile to exactly the rows
Pyomo's standard-form compiler writes for the same constraints: the same labels,
coefficients (repeated variables summed, zeros dropped), bounds, and the same handling of
rows left without variables or without bounds."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pyomo.core as pyo
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer.model.context import RowBlock
from optimizer.solver.stdform import RowInfeasible, compile_standard_form

N = 5  # steps


class _NoCash:
    def compile(self, column_of):
        return self

    def cost(self, n_cols):
        return np.zeros(n_cols), 0.0


@dataclass
class _Built:
    model: pyo.ConcreteModel
    row_blocks: list = field(default_factory=list)
    cash: _NoCash = field(default_factory=_NoCash)


def _model() -> pyo.ConcreteModel:
    m = pyo.ConcreteModel()
    m.x = pyo.Var(["a", "b"], range(N), bounds=(0, 10))
    m.y = pyo.Var(range(N), bounds=(-5, 5))
    m.z = pyo.Var(domain=pyo.Binary)
    # one ordinary Pyomo row, so that block rows follow Pyomo's
    m.plan = pyo.Constraint(expr=m.z + m.y[0] <= 1)
    return m


def _terms(m, coefs, s="a"):
    """Terms over x[s], x[s] again (summed), y and z, with the given coefficients."""
    xs = [m.x[s, t] for t in range(N)]
    return [(coefs[0], xs), (coefs[1], xs), (coefs[2], [m.y[t] for t in range(N)]),
            (coefs[3], [m.z] * N)]


def _by_label(form) -> dict:
    cols = [form.columns.label(j) for j in range(form.n_cols)]
    out = {}
    for i in range(form.n_rows):
        lo, hi = form.A.indptr[i], form.A.indptr[i + 1]
        terms = sorted((cols[j], float(v) / form.row_scale[i])
                       for j, v in zip(form.A.indices[lo:hi], form.A.data[lo:hi]))
        out.setdefault(form.rows.label(i), []).append(
            (terms, float(form.row_lo[i]), float(form.row_hi[i])))
    return out


PREFIXES = ["b", "a"]  # declared out of order: Pyomo writes a component's rows sorted


def _both(coefs, lo, hi):
    """The same rows g[s, t] as row blocks (declared after the Pyomo row ``plan``, as a
    module would) and as a Pyomo constraint per step."""
    m1 = _model()
    blocks = [RowBlock("g", (s,), [(np.broadcast_to(np.asarray(c, float), (N,)), v)
                                   for c, v in _terms(m1, coefs, s)], lo, hi, after=1)
              for s in PREFIXES]
    m2 = _model()

    def rule(m, s, t):
        body = sum(float(np.broadcast_to(c, (N,))[t]) * v[t] for c, v in _terms(m, coefs, s))
        low = None if math.isinf(lo[t]) else float(lo[t])
        high = None if math.isinf(hi[t]) else float(hi[t])
        if low is None and high is None:  # Pyomo refuses a free row; its compiler drops it
            return pyo.Constraint.Skip
        return (low, body, high)

    m2.g = pyo.Constraint(PREFIXES, range(N), rule=rule)
    return _Built(m1, blocks), _Built(m2)


coef = st.sampled_from([0.0, 1.0, -1.0, 2.5, -0.5])
coefs = st.lists(st.lists(coef, min_size=N, max_size=N), min_size=4, max_size=4)
bound = st.sampled_from([-math.inf, -1.0, 0.0, 2.0])


@settings(max_examples=60, deadline=None)
@given(coefs=coefs, lo=st.lists(bound, min_size=N, max_size=N),
       width=st.lists(st.sampled_from([0.0, 1.0, math.inf]), min_size=N, max_size=N))
def test_row_blocks_compile_as_pyomo_constraints(coefs, lo, width):
    """Random coefficients (zeros, and x[s] twice so that some cancel) and bounds
    (equalities, one-sided, free, and rows that cancel to no variable): the block's rows
    equal Pyomo's, label by label; a row whose variables all cancel is dropped when 0
    satisfies it and makes both raise RowInfeasible naming it otherwise. Without two-sided
    rows (which Pyomo splits in two), the rows, columns and matrix are also in the same
    order."""
    lo, width = np.asarray(lo), np.asarray(width)
    free_below = np.isinf(lo)
    hi = np.where(free_below, np.where(width == 0.0, 3.0, math.inf),
                  np.where(free_below, 0.0, lo) + width)
    blocks, pyomo_rows = _both(coefs, lo, hi)
    try:
        reference = compile_standard_form(pyomo_rows)[0]
    except RowInfeasible as exc:
        with pytest.raises(RowInfeasible) as got:
            compile_standard_form(blocks)
        assert str(got.value) == str(exc)
        return
    form = compile_standard_form(blocks)[0]
    expected = _by_label(reference)
    # Pyomo writes a two-sided row as two one-sided ones; a block keeps one ranged row
    merged = {}
    for label, rows in expected.items():
        terms = rows[0][0]
        merged[label] = [(terms, max(r[1] for r in rows), min(r[2] for r in rows))]
    assert _by_label(form) == merged
    # and in Pyomo's order: rows sorted within the group, columns by first use
    if not any(len(rows) > 1 for rows in expected.values()):
        assert _labels_of(form.rows) == _labels_of(reference.rows)
        assert _labels_of(form.columns) == _labels_of(reference.columns)
        assert (form.A != reference.A).nnz == 0


def _labels_of(labels) -> list:
    return [labels.label(i) for i in range(len(labels))]


def test_an_empty_infeasible_block_row_is_named():
    """0 >= 1 at step 3 only (every coefficient is zero there): the message names
    g[a,3], as Pyomo's compiler names a constant row it cannot satisfy."""
    m = _model()
    c = np.ones(N)
    c[3] = 0.0
    lo = np.where(np.arange(N) == 3, 1.0, -math.inf)
    block = RowBlock("g", ("a",), [(c, [m.x["a", t] for t in range(N)])], lo, np.full(N, 4.0))
    with pytest.raises(RowInfeasible, match=r"^model contains a trivially infeasible "
                                            r"constraint, 'g\[a,3\]'$"):
        compile_standard_form(_Built(m, [block]))
