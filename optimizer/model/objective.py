"""The objective: NPV assembled from the cash-flow registry (formulation.md: Objective)."""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo
from pyomo.core.expr.numeric_expr import LinearExpression

from ..time.grid import TimeGrid
from .cashflow import CashflowRegistry


def discount_weights(grid: TimeGrid, kind: str) -> np.ndarray:
    """Factor turning a term's coefficient into NPV: per step (hourly) or per period."""
    periods = grid.periods
    if kind == "hourly":
        return periods["op_discount"].to_numpy()[grid.step_period] * grid.step_weight
    if kind == "period":
        return periods["op_discount"].to_numpy()
    if kind == "capex":
        return periods["capex_discount"].to_numpy()
    return np.full(grid.n_periods, grid.end_discount)


def npv_linear(cash: CashflowRegistry, grid: TimeGrid) -> tuple[float, dict]:
    """The NPV as (constant USD, {id(variable): (variable, USD per unit)})."""
    constant = 0.0
    coefs: dict[int, float] = {}  # keyed by id(): Pyomo's VarData is not hashable
    variables: dict[int, object] = {}

    def add(v, c):
        k = id(v)
        if k in coefs:
            coefs[k] += c
        else:
            coefs[k] = c
            variables[k] = v

    for term in cash.terms:
        factor = discount_weights(grid, term.kind)
        for coef, vars_ in term.vector:
            for v, c in zip(vars_, (coef * factor).tolist()):
                if c:
                    add(v, c)
        for coef, var in term.scalar:
            total = float(np.dot(coef, factor))
            if var is None:
                constant += total
            elif total:
                add(var, total)
    return constant, {k: (variables[k], c) for k, c in coefs.items()}


def build(m: pyo.ConcreteModel, cash: CashflowRegistry, grid: TimeGrid) -> None:
    constant, coefs = npv_linear(cash, grid)
    # the constant (fixed opex, mandatory contracts, take-or-pay payments) is part of
    # the NPV the spec reports, so it stays in the objective as its offset
    m.npv = pyo.Objective(
        expr=LinearExpression(constant=constant, linear_coefs=[c for _, c in coefs.values()],
                              linear_vars=[v for v, _ in coefs.values()]),
        sense=pyo.maximize)
