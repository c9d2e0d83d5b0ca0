"""The scaled copy HiGHS solves (optimizer/solver/highs.py): which rows are scaled and by what.
That the scaling changes no answer is checked by every known-answer test (objective),
tests/test_marginals_infeasibility.py (duals, elastic slacks of the scaled budget row)."""

import numpy as np
from scipy import sparse

from optimizer.solver.stdform import ROW_SCALE_ABOVE
from optimizer.solver.stdform import row_scale_of as _row_scale


def test_only_rows_with_large_coefficients_are_scaled_into_10_to_100():
    A = sparse.csr_matrix(np.array([
        [1.0, 2.0, 0.0],        # MW row: kept
        [3.0e7, -5.0e5, 1.0],   # a budget row in USD: largest 3e7 -> 30
        [0.0, 0.0, 0.0],        # empty row
        [0.0, -2.0e5, 0.5],     # largest 2e5 -> 20
        [0.0, 2.76e4, 1.0],     # MWh of a minimum take: kept
        [ROW_SCALE_ABOVE, 0.0, 0.0],  # at the threshold: kept
    ]))
    scale = _row_scale(A)
    np.testing.assert_array_equal(scale, [1.0, 1e-6, 1.0, 1e-4, 1.0, 1.0])
    scaled_max = abs(sparse.diags(scale) @ A).max(axis=1).toarray().ravel()
    assert 10.0 <= scaled_max[1] < 100.0 and 10.0 <= scaled_max[3] < 100.0


def test_matrix_without_columns_has_unit_scale():
    assert _row_scale(sparse.csr_matrix((3, 0))).tolist() == [1.0, 1.0, 1.0]

