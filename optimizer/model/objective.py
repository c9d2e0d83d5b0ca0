"""The objective: maximise the NPV, the sum of every registered cash-flow entry
(formulation.md: Objective; deals.md section 11 for taxes).

The NPV is not written as a Pyomo expression before the solve: the compiled registry
(``CashMatrix``) gives the cost vector on the standard form's columns directly, the
same entries the cash-flow table is evaluated from. ``attach`` writes it into the
Pyomo model afterwards for users who keep the model.
"""

from __future__ import annotations

import numpy as np
import pyomo.core as pyo
from pyomo.core.expr.numeric_expr import LinearExpression


def cash_flows(cash, d) -> None:
    """The objective concern: income taxes mirror every taxed entry (called after every
    module has declared its terms, so that none is missed)."""
    if d.taxes is not None:
        cash.apply_tax(float(d.taxes.rate))


def attach(model: pyo.ConcreteModel, columns: list, cost: np.ndarray, offset: float) -> None:
    """``model.npv`` as a Pyomo objective over the standard form's columns."""
    nz = np.flatnonzero(cost)
    model.npv = pyo.Objective(
        expr=LinearExpression(constant=float(offset), linear_coefs=cost[nz].tolist(),
                              linear_vars=[columns[j] for j in nz]),
        sense=pyo.maximize)
