"""Assemble the MILP from its modules; only power_balance and the objective link them."""

from __future__ import annotations

from dataclasses import dataclass

import pyomo.environ as pyo

from . import capex, compute, cooling, mining, objective, power
from .cashflow import CashflowRegistry
from .context import Context, add_always_zero
from .data import ModelData


@dataclass
class BuiltModel:
    model: pyo.ConcreteModel
    data: ModelData
    cash: CashflowRegistry


def build_model(data: ModelData) -> BuiltModel:
    m = pyo.ConcreteModel(name="hashpivot")
    cash = CashflowRegistry(data.grid.n_steps, data.grid.n_periods)
    ctx = Context(m=m, d=data, cash=cash)
    add_always_zero(m)
    capex.build(ctx)     # orders, stocks, budget
    mining.build(ctx)    # registers ASIC IT load
    compute.build(ctx)   # registers GPU and lease IT load
    cooling.build(ctx)   # sums IT load per cooling type
    power.build(ctx)     # power balance over the summed loads
    objective.build(m, cash, data.grid)
    return BuiltModel(model=m, data=data, cash=cash)
