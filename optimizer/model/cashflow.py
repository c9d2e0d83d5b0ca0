"""The registry of named cash-flow terms.

Each term of the objective (formulation.md, deals.md) is declared exactly once, by the
module that owns its variables, as entries on variables. An entry says: per unit of
this variable (or once, for a constant), the term gains ``u`` USD undiscounted in
report period ``period`` and ``d`` USD of NPV. The objective (``CashMatrix.cost``)
and every table (``CashMatrix.evaluate``) read the same entries, so the NPV rebuilt
from ``cashflows.csv`` equals the solver's objective by construction.

The declaring helpers fix ``u`` and ``d`` from the time grid:

- ``hourly``: USD per hour at every step; ``u = rate * w_t``, ``d = u * D_p``;
- ``period``: USD in period p, ``d = u * D_p``;
- ``capex``: USD paid at the start of p, ``d = u * E_p``;
- ``residual``: USD at the horizon end, reported in the order period, ``d = u * D_end``;
- ``entries``: anything else (lease tails past the horizon, debt service, depreciation
  shields, residuals valued at a later date), with ``u`` and ``d`` given.

A cash-flow row's discount factor is then ``discounted / undiscounted``: the plain
D_p, E_p or D_end for most terms, a blend where one row mixes dates (debt service).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# terms taxed by deals.md section 11 besides every hourly and period term
TAXED_ONE_OFF = ("upfront", "asic_salvage")


@dataclass
class Chunk:
    """Entries of one term on one variable (or list of variables, or none)."""

    term: int  # index into CashflowRegistry.terms
    step: np.ndarray | None  # step of each entry (hourly terms), else None
    period: np.ndarray  # report period of each entry (>= P for lease and contract tails)
    u: np.ndarray  # undiscounted USD per unit of the variable
    d: np.ndarray  # USD of NPV per unit of the variable
    # None: a constant; one variable (Pyomo VarData or column) for every entry; or one per
    # entry (a list of VarData, or an array of columns)
    var: object = None
    taxed: bool = False


@dataclass
class CashflowRegistry:
    grid: object  # TimeGrid
    terms: list[tuple[str, str]] = field(default_factory=list)  # (term name, site)
    chunks: list[Chunk] = field(default_factory=list)
    _ids: dict[tuple[str, str], int] = field(default_factory=dict)

    def _term(self, name: str, site: str) -> int:
        key = (name, site)
        if key not in self._ids:
            self._ids[key] = len(self.terms)
            self.terms.append(key)
        return self._ids[key]

    def entries(self, name: str, site: str, period, u, d, var=None, *, step=None,
                taxed: bool = False) -> None:
        """Entries with undiscounted ``u`` and discounted ``d`` USD per unit of ``var``."""
        period = np.asarray(period, dtype=np.int64)
        u = np.broadcast_to(np.asarray(u, float), period.shape)
        d = np.broadcast_to(np.asarray(d, float), period.shape)
        keep = (u != 0.0) | (d != 0.0)
        if not keep.any():
            return
        if isinstance(var, list):
            var = [v for v, k in zip(var, keep.tolist()) if k]
        elif isinstance(var, np.ndarray):
            var = var[keep]
        self.chunks.append(Chunk(self._term(name, site),
                                 None if step is None else np.asarray(step)[keep],
                                 period[keep], u[keep].copy(), d[keep].copy(), var, taxed))

    def hourly(self, name: str, site: str, rate, var=None) -> None:
        """``rate[t]`` USD per hour per unit of ``var`` (a list of one variable per step,
        one variable for every step, or None for a constant) at every step."""
        g = self.grid
        rate = np.broadcast_to(np.asarray(rate, float), (g.n_steps,))
        u = rate * g.step_weight
        self.entries(name, site, g.step_period, u, u * g.op_discount_per_step, var,
                     step=np.arange(g.n_steps), taxed=True)

    def period(self, name: str, site: str, coef, var=None) -> None:
        """``coef[p]`` USD in period p (operating: discounted by D_p)."""
        coef = np.asarray(coef, float)
        self.entries(name, site, np.arange(len(coef)), coef,
                     coef * self.grid.periods["op_discount"].to_numpy(), var, taxed=True)

    def capex(self, name: str, site: str, coef, var=None, *, taxed: bool | None = None) -> None:
        """``coef[p]`` USD at the start of period p (negative: a payment), by E_p."""
        coef = np.asarray(coef, float)
        self.entries(name, site, np.arange(len(coef)), coef,
                     coef * self.grid.periods["capex_discount"].to_numpy(), var,
                     taxed=name in TAXED_ONE_OFF if taxed is None else taxed)

    def residual(self, name: str, site: str, coef, var=None) -> None:
        """``coef[p]`` USD at the horizon end, reported in period p, by D_end."""
        coef = np.asarray(coef, float)
        self.entries(name, site, np.arange(len(coef)), coef, coef * self.grid.end_discount,
                     var)

    def apply_tax(self, rate: float) -> None:
        """deals.md section 11: every taxed entry gets a mirror in the term ``tax``
        (per site), ``-rate`` times it, undiscounted and discounted alike."""
        if not rate:
            return
        for chunk in [c for c in self.chunks if c.taxed]:
            _, site = self.terms[chunk.term]
            self.chunks.append(Chunk(self._term("tax", site), chunk.step, chunk.period,
                                     -rate * chunk.u, -rate * chunk.d, chunk.var, False))

    def compile(self, column_of) -> CashMatrix:
        """The entries on columns: ``column_of(VarData) -> int``."""
        parts = {k: [] for k in ("term", "step", "period", "u", "d", "col")}
        for c in self.chunks:
            n = len(c.period)
            if c.var is None:
                cols = np.full(n, -1, np.int64)
            elif isinstance(c.var, np.ndarray):  # columns already (ColumnVars)
                cols = c.var.astype(np.int64)
            elif isinstance(c.var, (int, np.integer)):
                cols = np.full(n, int(c.var), np.int64)
            elif isinstance(c.var, list):
                cols = np.fromiter((column_of(v) for v in c.var), np.int64, n)
            else:
                cols = np.full(n, column_of(c.var), np.int64)
            parts["term"].append(np.full(n, c.term, np.int64))
            parts["step"].append(np.full(n, -1, np.int64) if c.step is None else c.step)
            parts["period"].append(c.period)
            parts["u"].append(c.u)
            parts["d"].append(c.d)
            parts["col"].append(cols)
        cat = {k: (np.concatenate(v) if v else np.zeros(0, float if k in "ud" else np.int64))
               for k, v in parts.items()}
        return CashMatrix(names=[t for t, _ in self.terms], sites=[s for _, s in self.terms],
                          **cat)


@dataclass
class CashMatrix:
    """Every cash-flow entry on the columns of the standard form (col -1: a constant).

    Plain arrays: it pickles, and a sweep that changes a price rewrites ``u``/``d``
    of the entries it touches and recomputes the cost vector without Pyomo."""

    names: list[str]  # term name per term id
    sites: list[str]  # site per term id
    term: np.ndarray
    step: np.ndarray  # -1 for entries that are not hourly
    period: np.ndarray
    u: np.ndarray
    d: np.ndarray
    col: np.ndarray

    def cost(self, n_cols: int) -> tuple[np.ndarray, float]:
        """NPV = cost @ x + offset (USD)."""
        var = self.col >= 0
        cost = np.bincount(self.col[var], weights=self.d[var], minlength=n_cols)
        return cost, float(self.d[~var].sum())

    def evaluate(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(undiscounted, discounted) USD of every entry at the column values ``x``."""
        level = np.where(self.col >= 0, x[np.maximum(self.col, 0)], 1.0)
        return self.u * level, self.d * level


class MissingColumn(LookupError):
    """A cash flow needs a variable the compiled form has no column for: the scenario
    changes the model's structure."""


class PyomoVars:
    """Variables of a Pyomo model, as cash-flow declarations ask for them."""

    def __init__(self, model, n_steps: int):
        self.m, self.n = model, n_steps

    def one(self, name: str, *index):
        comp = getattr(self.m, name)
        return comp[index[0] if len(index) == 1 else index]

    def steps(self, name: str, *prefix) -> list:
        comp = getattr(self.m, name)
        return [comp[prefix + (t,)] for t in range(self.n)]


class ColumnVars:
    """The same variables as columns of a compiled form (``Labels``): cash flows declared
    through it compile without Pyomo (a sweep re-prices a kept model this way)."""

    def __init__(self, columns, n_steps: int):
        self.columns, self.n = columns, n_steps
        self._steps: dict[str, dict[tuple, np.ndarray]] = {}

    def one(self, name: str, *index) -> int:
        j = self.columns.lookup(name).get(tuple(index))
        if j is None:
            raise MissingColumn(f"{name}{list(index)}")
        return j

    def steps(self, name: str, *prefix) -> np.ndarray:
        if name not in self._steps:
            by_prefix: dict[tuple, np.ndarray] = {}
            pos = self.columns.positions(name)
            keys = self.columns.keys(name)
            for j, key in zip(pos.tolist(), keys):
                by_prefix.setdefault(key[:-1], np.full(self.n, -1, np.int64))[key[-1]] = j
            self._steps[name] = by_prefix
        cols = self._steps[name].get(tuple(prefix))
        if cols is None or (cols < 0).any():
            raise MissingColumn(f"{name}{list(prefix)}[t]")
        return cols
