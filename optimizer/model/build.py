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


# Operating variables: indexed (..., t) with the step last; the site they belong to is
# their first index, or the site of the PPA for use/out.
_OPERATING_VARS = ("run", "spot", "imp", "anc", "use", "out")


def dispatch_blocks(built: BuiltModel):
    """Column -> block map for the decomposition (optimizer/decompose.py): the operating
    variables of one site in one period form block ``period * n_sites + site``; every
    other variable (orders, stocks, acceptances, peaks) belongs to the plan, -1."""
    data = built.data
    site_no = {s: i for i, s in enumerate(data.sites)}
    ppa_site = {c.id: c.site for c in data.ppas.values()}
    period = data.grid.step_period
    n_sites = len(site_no)

    def block_of(var) -> int:
        name = var.parent_component().local_name
        if name not in _OPERATING_VARS:
            return -1
        idx = var.index()
        site = ppa_site[idx[0]] if name in ("use", "out") else idx[0]
        return int(period[idx[-1]]) * n_sites + site_no[site]

    return block_of
