"""What the model modules share while the model is built."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyomo.environ as pyo
from pyomo.core.expr.numeric_expr import LinearExpression

from .cashflow import CashflowRegistry
from .data import ModelData


@dataclass
class Context:
    m: pyo.ConcreteModel
    d: ModelData
    cash: CashflowRegistry
    # IT load (MW) of cooling type q at site s: hourly parts are (coef per step as a
    # list, indexed Var, index prefix) meaning coef[t] * var[prefix + (t,)]; period
    # parts are callables p -> Pyomo expression (or float) of MW drawn all period.
    it_hourly: dict = field(default_factory=lambda: defaultdict(list))
    it_period: dict = field(default_factory=lambda: defaultdict(list))
    # set by cooling.py once every load is registered: (s, q, t) -> (coefs, variables)
    # of IT_q at step t; the power balance reads the same terms
    it_terms: Callable[[str, str, int], tuple[list, list]] | None = None
    # ASIC IT MW that can be offered as reserve, per site: (MW per unit, variables per step)
    mining_mw: dict = field(default_factory=lambda: defaultdict(list))

    @property
    def n_steps(self) -> int:
        return self.d.grid.n_steps

    @property
    def P(self) -> int:
        return self.d.grid.n_periods

    @property
    def step_period(self) -> np.ndarray:
        return self.d.grid.step_period

    def period_of(self) -> list[int]:
        """Period of every step, as a Python list for fast lookups in rules."""
        return self.d.grid.step_period.tolist()

    def active_steps(self, start: int, end: int) -> np.ndarray:
        sp = self.step_period
        return ((sp >= start) & (sp < end)).astype(float)



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


def linear(coefs: list, variables: list, constant: float = 0.0) -> LinearExpression:
    """A flat linear expression: hourly rows are built this way because Pyomo's
    standard-form compiler reads it without walking an expression tree."""
    return LinearExpression(constant=constant, linear_coefs=coefs, linear_vars=variables)


def var_list(var, prefix: tuple, n: int) -> list:
    """The VarData of ``var[prefix + (t,)]`` for every step t, fetched once."""
    return [var[prefix + (t,)] for t in range(n)]
