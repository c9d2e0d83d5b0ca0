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
    groups, ``model.context.RowBlock``) are compiled as arrays under the same labels.
    Rows and columns are then put in the order Pyomo's compiler would give a model with
    every group declared as a Pyomo constraint (``_declaration_order``): HiGHS's path
    depends on that order, and the forms (and solves) stay those of that model."""
    from pyomo.common.errors import InfeasibleConstraintException
    from pyomo.core import Constraint
    from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler

    try:
        form = LinearStandardFormCompiler().write(built.model, mixed_form=True,
                                                  set_sense=None)
    except InfeasibleConstraintException as exc:
        raise RowInfeasible(str(exc)) from None
    columns = list(form.columns)
    col_of = {id(v): j for j, v in enumerate(columns)}

    def column_of(v) -> int:
        # a variable in no row so far (an hourly one, or one that only earns or costs
        # money, as a virtual PPA's signature) becomes a column of its own
        j = col_of.get(id(v))
        if j is None:
            j = col_of[id(v)] = len(columns)
            columns.append(v)
        return j

    blocks = _block_rows(built.row_blocks, column_of)
    n = len(columns)
    A = sparse.vstack([_with_columns(sparse.csr_matrix(form.A), n),
                       _with_columns(blocks.A, n)], format="csr")
    sense = np.fromiter((s for _, s in form.rows), np.int8, len(form.rows))
    rhs = np.asarray(form.rhs, float)
    row_lo = np.concatenate([np.where(sense >= 0, np.where(sense == 0, rhs, -math.inf), rhs),
                             blocks.lo])
    row_hi = np.concatenate([np.where(sense <= 0, np.where(sense == 0, rhs, math.inf), rhs),
                             blocks.hi])
    rank = {id(c): k for k, c in enumerate(
        built.model.component_objects(Constraint, descend_into=False))}
    pyomo_major = np.fromiter((2 * rank[id(c.parent_component())] + 1 for c, _ in form.rows),
                              np.int64, len(form.rows))
    row_order, col_order = _declaration_order(
        A, np.concatenate([pyomo_major, blocks.major]), len(form.rows), blocks, columns,
        built.model)
    A = A[row_order][:, col_order]
    rows = _labels([c for c, _ in form.rows]).extended(blocks.labels).subset(row_order)
    row_lo, row_hi = row_lo[row_order], row_hi[row_order]
    columns = [columns[j] for j in col_order.tolist()]
    col_of.clear()
    col_of.update((id(v), j) for j, v in enumerate(columns))
    cash = built.cash.compile(column_of)  # columns only the cash flows use come last
    n = len(columns)
    A = _with_columns(A, n)
    lb = np.fromiter(((-math.inf if v.lb is None else v.lb) for v in columns), float, n)
    ub = np.fromiter(((math.inf if v.ub is None else v.ub) for v in columns), float, n)
    integer = np.fromiter((v.is_integer() or v.is_binary() for v in columns), bool, n)
    scale = row_scale_of(A)
    cost, offset = cash.cost(n)
    sf = StandardForm(
        A=(sparse.diags(scale) @ A).tocsr(), cost=cost * OBJECTIVE_SCALE,
        offset=offset * OBJECTIVE_SCALE, lb=lb, ub=ub, integer=integer, row_lo=row_lo,
        row_hi=row_hi, row_scale=scale, columns=_labels(columns), rows=rows, cash=cash)
    return sf, columns


def _declaration_order(A: sparse.csr_matrix, major: np.ndarray, n_pyomo: int, blocks,
                       columns: list, model) -> tuple[np.ndarray, np.ndarray]:
    """(row order, column order) that Pyomo's compiler gives the model with each row
    block declared as a Pyomo constraint where it was built. ``major`` per row: 2k+1 for
    a row of the k-th Pyomo constraint component, 2k for a block row built after k of
    them. Rows: by ``major``, stable. Columns: Pyomo numbers all indices of a variable
    component when a row first uses one of them, walking rows in order (and a row's
    variables in its order): components by first use, each in its own index order.
    Columns no row uses are left out (the cash flows add back those they need)."""
    row_order = np.argsort(major, kind="stable")
    labels = _labels(columns)
    code = labels.code
    # first uses: Pyomo rows (in row order, then by Pyomo's column order, which within a
    # row is the order its new components were met), and each block's terms by the first
    # step with a nonzero coefficient, then term order
    nnz_rows = np.repeat(np.arange(n_pyomo), np.diff(A.indptr[:n_pyomo + 1]))
    n_pyomo_nnz = len(nnz_rows)
    # one use per row: (major, block, step or non-zero, term, column)
    uses = np.array([(blocks.block_major[b], b, step, k, col)
                     for b, first in enumerate(blocks.first_use)
                     for k, (step, col) in enumerate(first)], np.int64).reshape(-1, 5)
    zero = np.zeros(n_pyomo_nnz, np.int64)
    major_of, block, step, term, col = (np.concatenate(p) for p in zip(
        (major[nnz_rows], zero, np.arange(n_pyomo_nnz), zero, A.indices[:n_pyomo_nnz]),
        uses.T))
    met = code[col[np.lexsort((term, step, block, major_of))]]
    _, first_at = np.unique(met, return_index=True)
    comp_rank = np.full(len(labels.names), len(labels.names), np.int64)
    comp_rank[np.unique(met)] = np.argsort(np.argsort(first_at))
    from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler
    from pyomo.repn.util import FileDeterminism_to_SortComponents

    sorter = FileDeterminism_to_SortComponents(
        LinearStandardFormCompiler.CONFIG().file_determinism)
    position = np.empty(len(columns), np.int64)
    for name in labels.names:
        at = labels.positions(name)
        index_of = {id(v): i for i, v in enumerate(
            getattr(model, name).values(sorter))} if len(at) else {}
        position[at] = np.fromiter((index_of[id(columns[j])] for j in at.tolist()),
                                   np.int64, len(at))
    used = np.bincount(A.indices, minlength=len(columns)) > 0
    col_order = np.lexsort((position, comp_rank[code]))
    return row_order, col_order[used[col_order]]


def _with_columns(A: sparse.csr_matrix, n: int) -> sparse.csr_matrix:
    """``A`` with as many columns as ``n`` (the columns added after it are empty in it)."""
    return sparse.csr_matrix((A.data, A.indices, A.indptr), shape=(A.shape[0], n))


@dataclass
class _Blocks:
    A: sparse.csr_matrix
    lo: np.ndarray
    hi: np.ndarray
    labels: Labels
    major: np.ndarray  # per row: 2 * (Pyomo constraint components declared before it)
    block_major: list  # the same per block
    first_use: list  # per block: (first step with a nonzero coefficient, column) per term


def _block_rows(blocks: list, column_of) -> _Blocks:
    """The rows of the row blocks, as Pyomo's compiler would write them: coefficients of
    the same variable summed, zeros dropped, rows without bounds dropped, and a row left
    without variables dropped when 0 satisfies it, else RowInfeasible."""
    from pyomo.common.sorting import sorted_robust

    # Pyomo writes a component's rows in sorted index order: the blocks of a group
    # (declared at one place, under one name) go by their prefix
    group = {}
    for b in blocks:
        group.setdefault((b.after, b.name), []).append(b)
    blocks = [b for members in group.values() for b in _by_prefix(members, sorted_robust)]
    columns_of: dict[int, np.ndarray] = {}  # id of a variable list -> its columns
    rows, cols, vals, lo, hi, names, code, index = [], [], [], [], [], [], [], []
    major, first_use = [], []
    start = 0
    for block in blocks:
        n = block.n_rows
        at = np.arange(start, start + n)
        first = []
        for coef, variables in block.terms:
            # the lists live in the blocks through the compile, so their ids are unique
            c = columns_of.get(id(variables))
            if c is None:
                c = columns_of[id(variables)] = np.fromiter(map(column_of, variables),
                                                            np.int64, n)
            rows.append(at)
            cols.append(c)
            vals.append(coef)
            nonzero = np.flatnonzero(coef)
            if len(nonzero):
                first.append((int(nonzero[0]), int(c[nonzero[0]])))
        first_use.append(first)
        major.append(np.full(n, 2 * block.after, np.int64))
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
    major_a = cat(major, np.int64)
    block_major = [2 * b.after for b in blocks]
    if keep.all():
        return _Blocks(A, lo_a, hi_a, labels, major_a, block_major, first_use)
    at = np.flatnonzero(keep)
    return _Blocks(A[at], lo_a[at], hi_a[at], labels.subset(at), major_a[at], block_major,
                   first_use)


def _by_prefix(blocks: list, sort) -> list:
    at = {b.prefix: b for b in blocks}
    return [at[prefix] for prefix in sort(at)]


def _n_columns(cols: list) -> int:
    return int(max((c.max() for c in cols if len(c)), default=-1)) + 1


def assign(columns: list, x: np.ndarray) -> None:
    """Write column values into the Pyomo variables (for users who keep the model)."""
    for v, val in zip(columns, x.tolist()):
        v.set_value(val, skip_validation=True)
