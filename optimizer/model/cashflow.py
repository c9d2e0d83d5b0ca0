"""The registry of named cash-flow terms.

Each term of formulation.md's objective is declared exactly once, by the module
that owns its variables, as coefficients on variables. The objective
(objective.py) and the result tables (results/tables.py) both read this registry,
so the NPV rebuilt from ``cashflows.csv`` equals the solver's objective by
construction.

A term has a *kind* that fixes its time base and discount factor:

- ``hourly``: USD per hour at every step; weighted by ``w_t`` and discounted by D_p;
- ``period``: USD per period, discounted by D_p;
- ``capex``: USD paid at the start of the period, discounted by E_p;
- ``residual``: USD at the horizon end, discounted by D_end (reported in the
  period the item was ordered).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

KINDS = ("hourly", "period", "capex", "residual")


@dataclass
class Term:
    name: str
    site: str
    kind: str
    # coef[n_steps] times one variable per step (hourly kind only)
    vector: list[tuple[np.ndarray, list]] = field(default_factory=list)
    # coef[n_steps] (hourly) or coef[P] (other kinds) times one scalar variable, or
    # times 1 when the variable is None (a constant: mandatory items, fixed opex)
    scalar: list[tuple[np.ndarray, object]] = field(default_factory=list)


class CashflowRegistry:
    def __init__(self, n_steps: int, n_periods: int):
        self.n_steps = n_steps
        self.n_periods = n_periods
        self.terms: list[Term] = []

    def term(self, name: str, site: str, kind: str) -> Term:
        assert kind in KINDS
        t = Term(name, site, kind)
        self.terms.append(t)
        return t

    def add_vector(self, name: str, site: str, coef: np.ndarray, variables: list) -> None:
        """``coef[t] * variables[t]`` USD per hour at every step."""
        if not np.any(coef):
            return
        self.term(name, site, "hourly").vector.append((np.asarray(coef, float), variables))

    def add_scalar(self, name: str, site: str, kind: str, coef: np.ndarray, var=None) -> None:
        """``coef[i] * var`` per step (hourly) or per period (other kinds)."""
        coef = np.asarray(coef, float)
        expected = self.n_steps if kind == "hourly" else self.n_periods
        assert coef.shape == (expected,), (name, coef.shape, expected)
        if not np.any(coef):
            return
        self.term(name, site, kind).scalar.append((coef, var))
