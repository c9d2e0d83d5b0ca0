"""The built model as arrays with labels: the one form every solve method reads.

Pyomo's ``LinearStandardFormCompiler`` turns the constraints into CSC arrays once; the
objective comes from the compiled cash-flow registry (``CashMatrix``), not from a Pyomo
expression. Every column and row carries a label, (component name, index), so that
tables, marginal values, the infeasibility explanation, warm starts and the
decomposition read the solution by name, never by position and never through Pyomo.
Once compiled, the form holds no Pyomo object: the model can be freed, and the form (with
a kept HiGHS model) re-solved and turned into tables without Pyomo.

HiGHS works on a scaled copy: the objective in kUSD and every row whose largest
coefficient exceeds 1e5 (in practice the capex budget rows, 1e7-1e8 USD per unit)
divided by a power of ten that brings that coefficient into [10, 100) (MUSD for the
budget). Unscaled, the coefficients spread over 10 orders of magnitude, HiGHS warns
about them and its cut rounds are slower. On exported copies of portfolio-3y (2
threads) this scaling took 52-63 s against 80-81 s unscaled; scaling the MWh rows of
ppa_min_take as well (73-74 s) or every large row to ~1 (79-84 s) did not help
(bench/README.md). ``A``, ``cost`` and ``offset`` below are the scaled copy; bounds,
``row_lo``/``row_hi`` and the cash matrix are in the model's own units.
"""

from __future__ import annotations

import math
import pickle
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse

OBJECTIVE_SCALE = 1e-3
ROW_SCALE_ABOVE = 1e5


@dataclass
class Labels:
    """(component name, index tuple) of every position (column or row)."""

    names: list[str]
    code: np.ndarray  # index into names, per position
    index: list[tuple]
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.index)

    def __getstate__(self):  # the caches are rebuilt on demand
        state = dict(self.__dict__)
        state["_cache"] = {}
        return state

    def positions(self, name: str) -> np.ndarray:
        """Positions of one component, in the order of ``keys(name)``."""
        key = ("pos", name)
        if key not in self._cache:
            try:
                k = self.names.index(name)
            except ValueError:
                self._cache[key] = np.zeros(0, np.int64)
            else:
                self._cache[key] = np.flatnonzero(self.code == k)
        return self._cache[key]

    def keys(self, name: str) -> list[tuple]:
        return [self.index[j] for j in self.positions(name)]

    def lookup(self, name: str) -> dict[tuple, int]:
        """index tuple -> position, for one component."""
        key = ("lookup", name)
        if key not in self._cache:
            pos = self.positions(name)
            self._cache[key] = dict(zip(self.keys(name), pos.tolist()))
        return self._cache[key]

    def frame(self, name: str, dims: tuple[str, ...]) -> pd.DataFrame:
        """One row per position of a component: its index split into ``dims`` and ``pos``."""
        key = ("frame", name, dims)
        if key not in self._cache:
            pos = self.positions(name)
            keys = self.keys(name)
            if dims:
                df = pd.DataFrame(keys, columns=list(dims)) if keys else pd.DataFrame(
                    {d: [] for d in dims})
            else:
                df = pd.DataFrame(index=range(len(pos)))
            df["pos"] = pos
            self._cache[key] = df
        return self._cache[key]

    def repack(self) -> None:
        """Re-create the index tuples as new objects. The tuples the compiler read from
        Pyomo were allocated among the model's millions of objects; once the model is
        freed they still pin CPython's memory arenas (portfolio-3y hourly: ~0.85 GB of
        arenas for ~0.14 GB of tuples). Fresh copies, made after the model is freed,
        fill new arenas and let the old ones go back to the system."""
        blob = pickle.dumps(self.index, protocol=pickle.HIGHEST_PROTOCOL)
        # the old tuples go first: copies made while they live would fill their arenas
        self.index = []
        self._cache.clear()
        self.index = pickle.loads(blob)

    def extended(self, other: Labels) -> Labels:
        """These labels followed by ``other``'s."""
        names = list(self.names)
        for name in other.names:
            if name not in names:
                names.append(name)
        recode = np.array([names.index(name) for name in other.names], np.int32)
        return Labels(names, np.concatenate([self.code, recode[other.code]
                                             if len(other.code) else other.code]),
                      self.index + other.index)

    def subset(self, positions: np.ndarray) -> Labels:
        """The labels at ``positions``."""
        return Labels(list(self.names), self.code[positions],
                      [self.index[j] for j in positions.tolist()])

    def name_of(self, position: int) -> str:
        return self.names[int(self.code[position])]

    def label(self, position: int) -> tuple[str, tuple]:
        return self.name_of(position), self.index[position]


def _labels(objects) -> Labels:
    """Labels of Pyomo VarData / ConstraintData objects."""
    names: list[str] = []
    seen: dict[int, int] = {}
    code = np.empty(len(objects), np.int32)
    index: list[tuple] = [()] * len(objects)
    for j, obj in enumerate(objects):
        comp = obj.parent_component()
        k = seen.get(id(comp))
        if k is None:
            k = seen[id(comp)] = len(names)
            names.append(comp.local_name)
        code[j] = k
        idx = obj.index()
        index[j] = () if idx is None else idx if isinstance(idx, tuple) else (idx,)
    return Labels(names, code, index)


@dataclass
class StandardForm:
    """max cost @ x + offset  s.t.  row_lo <= A x <= row_hi (A's rows scaled by
    row_scale), lb <= x <= ub, x integer where ``integer``."""

    A: sparse.csr_matrix  # scaled rows
    cost: np.ndarray  # kUSD per unit (OBJECTIVE_SCALE)
    offset: float  # kUSD
    lb: np.ndarray
    ub: np.ndarray
    integer: np.ndarray
    row_lo: np.ndarray  # unscaled
    row_hi: np.ndarray
    row_scale: np.ndarray
    columns: Labels
    rows: Labels
    cash: object  # model.cashflow.CashMatrix, on these columns
    maximise: bool = True

    @property
    def n_cols(self) -> int:
        return self.A.shape[1]

    @property
    def n_rows(self) -> int:
        return self.A.shape[0]

    @property
    def scaled_row_lo(self) -> np.ndarray:
        return self.row_lo * self.row_scale

    @property
    def scaled_row_hi(self) -> np.ndarray:
        return self.row_hi * self.row_scale

    def npv_usd(self, x: np.ndarray) -> float:
        """The objective at x, in USD."""
        return float(self.cost @ x + self.offset) / OBJECTIVE_SCALE

    def repack_labels(self) -> None:
        """See ``Labels.repack``: call once the Pyomo model is freed."""
        self.columns.repack()
        self.rows.repack()

    def set_cash(self, cash) -> None:
        """Costs from a (re-priced) cash matrix on the same columns."""
        cost, offset = cash.cost(self.n_cols)
        self.cash = cash
        self.cost = cost * OBJECTIVE_SCALE
        self.offset = offset * OBJECTIVE_SCALE


def row_scale_of(A) -> np.ndarray:
    """Factor per row of a CSR matrix: a power of ten for rows whose largest
    coefficient exceeds ROW_SCALE_ABOVE, bringing it into [10, 100); 1 elsewhere."""
    biggest = abs(A).max(axis=1).toarray().ravel() if A.shape[1] else np.zeros(A.shape[0])
    scale = np.ones(A.shape[0])
    big = biggest > ROW_SCALE_ABOVE
    scale[big] = 10.0 ** (1 - np.floor(np.log10(biggest[big])))
    return scale


class RowInfeasible(Exception):
    """A row that no value of the variables can satisfy (Pyomo's compiler found it)."""


def compile_standard_form(built) -> tuple[StandardForm, list]:
    """The standard form of a built model, and the Pyomo column objects (to write the
    solution back into the model when it is kept). Raises RowInfeasible.

    Pyomo's compiler reads the Pyomo constraints; the model's row blocks (the hourly
    groups, ``model.context.RowBlock``) follow as arrays, under the same labels."""
    from pyomo.common.errors import InfeasibleConstraintException
    from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler

    try:
        form = LinearStandardFormCompiler().write(built.model, mixed_form=True,
                                                  set_sense=None)
    except InfeasibleConstraintException as exc:
        raise RowInfeasible(str(exc)) from None
    columns = list(form.columns)
    col_of = {id(v): j for j, v in enumerate(columns)}

    def column_of(v) -> int:
        # a variable in no Pyomo row (an hourly one, or one that only earns or costs
        # money, as a virtual PPA's signature) becomes a column of its own
        j = col_of.get(id(v))
        if j is None:
            j = col_of[id(v)] = len(columns)
            columns.append(v)
        return j

    blocks = _block_rows(built.row_blocks, column_of)
    cash = built.cash.compile(column_of)
    n = len(columns)
    pyomo_A = sparse.csr_matrix(form.A)
    A = sparse.vstack([_with_columns(pyomo_A, n), _with_columns(blocks.A, n)], format="csr")
    lb = np.fromiter(((-math.inf if v.lb is None else v.lb) for v in columns), float, n)
    ub = np.fromiter(((math.inf if v.ub is None else v.ub) for v in columns), float, n)
    integer = np.fromiter((v.is_integer() or v.is_binary() for v in columns), bool, n)
    sense = np.fromiter((s for _, s in form.rows), np.int8, len(form.rows))
    rhs = np.asarray(form.rhs, float)
    row_lo = np.concatenate([np.where(sense >= 0, np.where(sense == 0, rhs, -math.inf), rhs),
                             blocks.lo])
    row_hi = np.concatenate([np.where(sense <= 0, np.where(sense == 0, rhs, math.inf), rhs),
                             blocks.hi])
    scale = row_scale_of(A)
    cost, offset = cash.cost(n)
    sf = StandardForm(
        A=(sparse.diags(scale) @ A).tocsr(), cost=cost * OBJECTIVE_SCALE,
        offset=offset * OBJECTIVE_SCALE, lb=lb, ub=ub, integer=integer, row_lo=row_lo,
        row_hi=row_hi, row_scale=scale, columns=_labels(columns),
        rows=_labels([c for c, _ in form.rows]).extended(blocks.labels), cash=cash)
    return sf, columns


def _with_columns(A: sparse.csr_matrix, n: int) -> sparse.csr_matrix:
    """``A`` with as many columns as ``n`` (the columns added after it are empty in it)."""
    return sparse.csr_matrix((A.data, A.indices, A.indptr), shape=(A.shape[0], n))


@dataclass
class _Blocks:
    A: sparse.csr_matrix
    lo: np.ndarray
    hi: np.ndarray
    labels: Labels


def _block_rows(blocks: list, column_of) -> _Blocks:
    """The rows of the row blocks, as Pyomo's compiler would write them: coefficients of
    the same variable summed, zeros dropped, rows without bounds dropped, and a row left
    without variables dropped when 0 satisfies it, else RowInfeasible."""
    columns_of: dict[int, np.ndarray] = {}  # id of a variable list -> its columns
    rows, cols, vals, lo, hi, names, code, index = [], [], [], [], [], [], [], []
    start = 0
    for block in blocks:
        n = block.n_rows
        at = np.arange(start, start + n)
        for coef, variables in block.terms:
            # the lists live in the blocks through the compile, so their ids are unique
            c = columns_of.get(id(variables))
            if c is None:
                c = columns_of[id(variables)] = np.fromiter(map(column_of, variables),
                                                            np.int64, n)
            rows.append(at)
            cols.append(c)
            vals.append(coef)
        lo.append(block.lo)
        hi.append(block.hi)
        if block.name not in names:
            names.append(block.name)
        code.append(np.full(n, names.index(block.name), np.int32))
        index += [block.prefix + (t,) for t in range(n)]
        start += n

    def cat(parts, dtype):
        return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype)

    A = sparse.csr_matrix((cat(vals, float), (cat(rows, np.int64), cat(cols, np.int64))),
                          shape=(start, _n_columns(cols)))
    A.sum_duplicates()
    A.eliminate_zeros()
    lo_a, hi_a = cat(lo, float), cat(hi, float)
    labels = Labels(names, cat(code, np.int32), index)
    empty = np.diff(A.indptr) == 0
    bad = empty & ((lo_a > 0) | (hi_a < 0))
    if bad.any():
        name, idx = labels.label(int(np.flatnonzero(bad)[0]))
        raise RowInfeasible("model contains a trivially infeasible constraint, "
                            f"'{name}[{','.join(map(str, idx))}]'")
    keep = ~empty & (np.isfinite(lo_a) | np.isfinite(hi_a))
    if keep.all():
        return _Blocks(A, lo_a, hi_a, labels)
    at = np.flatnonzero(keep)
    return _Blocks(A[at], lo_a[at], hi_a[at], labels.subset(at))


def _n_columns(cols: list) -> int:
    return int(max((c.max() for c in cols if len(c)), default=-1)) + 1


def assign(columns: list, x: np.ndarray) -> None:
    """Write column values into the Pyomo variables (for users who keep the model)."""
    for v, val in zip(columns, x.tolist()):
        v.set_value(val, skip_validation=True)
