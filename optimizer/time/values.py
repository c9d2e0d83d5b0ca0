"""Instance values resolved onto the calendar: hourly and per-period values as arrays."""

from __future__ import annotations

import numpy as np


def is_column(value) -> bool:
    return hasattr(value, "column") and hasattr(value, "scale")


def hourly_values(value, series, hour_period: np.ndarray) -> np.ndarray:
    """An **hourly** value resolved to one float per calendar hour of the horizon."""
    if is_column(value):
        return series[value.column].to_numpy(dtype=float) * float(value.scale)
    if isinstance(value, (list, tuple)):
        return np.asarray(value, dtype=float)[hour_period]
    return np.full(len(hour_period), float(value))


def per_period(value, n_periods: int) -> np.ndarray:
    """A **per-period** value as one float per period."""
    if isinstance(value, (list, tuple)):
        return np.asarray(value, dtype=float)
    return np.full(n_periods, float(value))
