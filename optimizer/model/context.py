"""What the model modules share while the model is built."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import pyomo.core as pyo

from .cashflow import CashflowRegistry
from .data import ModelData


@dataclass
class RowBlock:
    """Rows ``name[prefix + (t,)]`` of a constraint group, one per step t, built as
    arrays instead of Pyomo constraints: row t reads
    ``lo[t] <= sum_k coef_k[t] * variables_k[t] <= hi[t]``. The hourly groups are
    written this way because a Pyomo constraint per row cost a rule call to build and an
    expression walk to compile (permian-1y: ~1.5 s for its 140k rows); the standard form
    (solver/stdform.py) appends the blocks to Pyomo's rows under the same labels."""

    name: str
    prefix: tuple
    terms: list  # (coefficient per step, VarData per step)
    lo: np.ndarray
    hi: np.ndarray
    # Pyomo constraint components declared before the block: the compile puts the rows
    # (and the columns, by first use) where a Pyomo constraint declared here would be
    after: int = 0

    @property
    def n_rows(self) -> int:
        return len(self.lo)


@dataclass
class Context:
    m: pyo.ConcreteModel
    d: ModelData
    cash: CashflowRegistry
    # IT load (MW) of cooling type q at site s: hourly parts are terms (coef per step,
    # VarData per step); period parts are callables p -> Pyomo expression (or float) of
    # MW drawn all period.
    it_hourly: dict = field(default_factory=lambda: defaultdict(list))
    it_period: dict = field(default_factory=lambda: defaultdict(list))
    # set by cooling.py once every load is registered: (s, q) -> the terms of IT_q at
    # every step; the power balance reads the same terms
    it_terms: dict = field(default_factory=dict)
    # ASIC IT MW that can be offered as reserve, per site: (MW per unit, variables per step)
    mining_mw: dict = field(default_factory=lambda: defaultdict(list))
    row_blocks: list = field(default_factory=list)

    @property
    def n_steps(self) -> int:
        return self.d.grid.n_steps

    @property
    def P(self) -> int:
        return self.d.grid.n_periods

    @property
    def step_period(self) -> np.ndarray:
        return self.d.grid.step_period

    def active_steps(self, start: int, end: int) -> np.ndarray:
        sp = self.step_period
        return ((sp >= start) & (sp < end)).astype(float)

    def by_step(self, per_period: list) -> np.ndarray:
        """The item of each step's period, for every step (a period variable as a term)."""
        return np.fromiter(per_period, object, len(per_period))[self.step_period]

    def rows(self, name: str, prefix: tuple, terms: list, lo=-math.inf, hi=math.inf) -> None:
        """Add the rows ``name[prefix + (t,)]`` for every step t: ``lo <= sum of terms <=
        hi``, each term a (coefficient: scalar or per step, variables: one per step)
        pair; ``lo`` and ``hi`` scalars or per step."""
        n = self.n_steps
        after = sum(1 for _ in self.m.component_objects(pyo.Constraint, descend_into=False))
        self.row_blocks.append(RowBlock(
            name, prefix,
            [(np.broadcast_to(np.asarray(c, float), (n,)), v) for c, v in terms],
            np.broadcast_to(np.asarray(lo, float), (n,)),
            np.broadcast_to(np.asarray(hi, float), (n,)), after))



def decision(m: pyo.ConcreteModel, component: str, key, optional: bool):
    """A binary decision of an optional item, or the constant 1 of a mandatory one."""
    return getattr(m, component)[key] if optional else 1.0


def checked(rule):
    """Wrap a constraint rule whose expression may fold to a constant (no variable
    left, e.g. an empty hall or a budget with nothing to order): a true constant
    is skipped, a false one becomes a row no solution satisfies, so the solver
    reports the instance infeasible instead of Pyomo raising mid-build."""

    def wrapped(m, *index):
        result = rule(m, *index)
        if result is True:
            return pyo.Constraint.Skip
        if result is False:
            return m.always_zero >= 1.0
        return result

    return wrapped


def add_always_zero(m: pyo.ConcreteModel) -> None:
    m.always_zero = pyo.Var(bounds=(0.0, 0.0))


def var_list(var, prefix: tuple, n: int) -> list:
    """The VarData of ``var[prefix + (t,)]`` for every step t, fetched once."""
    return [var[prefix + (t,)] for t in range(n)]
