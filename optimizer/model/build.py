"""Assemble the MILP from its modules; only power_balance and the objective link them."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyomo.core as pyo

from . import capex, compute, cooling, mining, objective, power
from .cashflow import CashflowRegistry, ColumnVars, PyomoVars
from .context import Context, add_always_zero
from .data import ModelData
from .groups import OPERATING, VARIABLES


@dataclass
class BuiltModel:
    model: pyo.ConcreteModel
    data: ModelData
    cash: CashflowRegistry
    # the hourly constraint groups, as arrays over the model's variables (context.RowBlock)
    row_blocks: list = field(default_factory=list)


def build_model(data: ModelData) -> BuiltModel:
    m = pyo.ConcreteModel(name="hashpivot")
    cash = CashflowRegistry(data.grid)
    ctx = Context(m=m, d=data, cash=cash)
    add_always_zero(m)
    capex.build(ctx)     # orders, stocks, budget
    mining.build(ctx)    # registers ASIC IT load
    compute.build(ctx)   # registers GPU and lease IT load
    cooling.build(ctx)   # sums IT load per cooling type
    power.build(ctx)     # power balance over the summed loads
    declare_cash_flows(cash, data, PyomoVars(m, data.grid.n_steps))
    return BuiltModel(model=m, data=data, cash=cash, row_blocks=ctx.row_blocks)


def declare_cash_flows(cash: CashflowRegistry, data: ModelData, V) -> None:
    """Every cash-flow term, declared by the module of its concern, then taxed
    (objective.py). ``V`` gives the variables: Pyomo's while building, the columns of a
    compiled form when a sweep re-prices it (``reprice``)."""
    capex.cash_flows(cash, data, V)
    mining.cash_flows(cash, data, V)
    compute.cash_flows(cash, data, V)
    power.cash_flows(cash, data, V)
    objective.cash_flows(cash, data)


def reprice(data: ModelData, columns):
    """The cash matrix of ``data`` on the columns of an already compiled form, without
    Pyomo; raises cashflow.MissingColumn when ``data`` needs a variable the form has no
    column for (a structural change: rebuild)."""
    cash = CashflowRegistry(data.grid)
    declare_cash_flows(cash, data, ColumnVars(columns, data.grid.n_steps))
    return cash.compile(lambda v: v)


def column_blocks(data: ModelData, columns) -> np.ndarray:
    """Block of every column for the decomposition (solver/benders.py): the operating
    variables (groups.OPERATING) of one site in one period form block
    ``period * n_sites + site``; every other column (orders, stocks, acceptances,
    peaks) belongs to the plan, -1. ``columns``: the standard form's column labels."""
    site_no = {s: i for i, s in enumerate(data.sites)}
    ppa_site = {c.id: site_no[c.site] for c in data.ppas.values()}
    period = data.grid.step_period
    out = np.full(len(columns), -1, np.int64)
    for name in OPERATING:
        pos = columns.positions(name)
        if not len(pos):
            continue
        keys = columns.keys(name)
        owner = ppa_site if VARIABLES[name][0] == "ppa" else site_no
        site = np.fromiter((owner[k[0]] for k in keys), np.int64, len(keys))
        step = np.fromiter((k[-1] for k in keys), np.int64, len(keys))
        out[pos] = period[step] * len(site_no) + site
    return out
