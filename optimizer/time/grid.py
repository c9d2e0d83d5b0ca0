"""Periods, time steps, weights and discount factors (formulation.md, section Time).

The model never sees calendar hours directly: it sees *steps*, each pointing at one
hour of the horizon (``hour_pos``) and carrying a weight (hours represented). Hourly
mode has one step per hour with weight 1; representative mode has the 24 hours of
each medoid day, weighted by the size of its cluster. Everything downstream reads
inputs through ``hour_pos`` and multiplies by ``weight``, so both modes share one
model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

HOURS_PER_YEAR = 8760.0


@dataclass(frozen=True)
class TimeGrid:
    """The horizon's periods and steps.

    ``periods`` columns: ``period, start, end, hours, months, years, y_start, y_mid,
    op_discount`` (D_p) and ``capex_discount`` (E_p).
    ``steps`` columns: ``period, hour_pos, timestamp, weight``, plus in representative
    mode ``represented_day`` (the medoid day's date) and ``day_count``.
    """

    hours: pd.DatetimeIndex  # every calendar hour of the horizon, UTC
    periods: pd.DataFrame
    steps: pd.DataFrame
    mode: str
    y_end: float
    end_discount: float  # D_end, for residual values
    discount_rate: float
    extra: dict = field(default_factory=dict)
    # the periods' calendar continued past the horizon (deals.md section 3): rows
    # 0 .. P + tail, same columns as ``periods``; row P starts at the horizon end
    calendar: pd.DataFrame | None = None

    def at(self, column: str, period) -> np.ndarray | float:
        """A column of the calendar (``y_start``, ``op_discount``, ``months``, ``hours``…)
        at periods that may lie past the horizon."""
        return self.calendar[column].to_numpy()[period]

    @property
    def n_periods(self) -> int:
        return len(self.periods)

    @property
    def n_steps(self) -> int:
        return len(self.steps)

    @property
    def step_period(self) -> np.ndarray:
        return self.steps["period"].to_numpy()

    @property
    def step_weight(self) -> np.ndarray:
        return self.steps["weight"].to_numpy(dtype=float)

    @property
    def step_hour(self) -> np.ndarray:
        return self.steps["hour_pos"].to_numpy()

    @property
    def op_discount_per_step(self) -> np.ndarray:
        """D_p of the period of every step."""
        return self.periods["op_discount"].to_numpy()[self.step_period]

    def hour_period(self) -> np.ndarray:
        """Period of every calendar hour of the horizon."""
        bounds = np.concatenate([[0], np.cumsum(self.periods["hours"].to_numpy())])
        return np.repeat(np.arange(self.n_periods), np.diff(bounds))


def period_table(
    starts: list[pd.Timestamp], months: int, discount_rate: float
) -> tuple[pd.DataFrame, float, float]:
    """Periods with their hours and discount factors, from the P+1 boundaries."""
    start = np.array([s.value for s in starts[:-1]], dtype=np.int64)
    end = np.array([s.value for s in starts[1:]], dtype=np.int64)
    hours = ((end - start) // 3_600_000_000_000).astype(np.int64)
    h_before = np.concatenate([[0], np.cumsum(hours)[:-1]])
    y_start = h_before / HOURS_PER_YEAR
    y_mid = (h_before + hours / 2.0) / HOURS_PER_YEAR
    y_end = float(hours.sum()) / HOURS_PER_YEAR
    base = 1.0 + discount_rate
    periods = pd.DataFrame(
        {
            "period": np.arange(len(hours)),
            "start": pd.DatetimeIndex(starts[:-1]),
            "end": pd.DatetimeIndex(starts[1:]),
            "hours": hours,
            "months": months,
            "years": hours / HOURS_PER_YEAR,
            "y_start": y_start,
            "y_mid": y_mid,
            "op_discount": base ** (-y_mid),
            "capex_discount": base ** (-y_start),
        }
    )
    return periods, y_end, base ** (-y_end)


def hourly_steps(periods: pd.DataFrame, hours: pd.DatetimeIndex) -> pd.DataFrame:
    period = np.repeat(periods["period"].to_numpy(), periods["hours"].to_numpy())
    return pd.DataFrame(
        {
            "period": period,
            "hour_pos": np.arange(len(hours)),
            "timestamp": hours,
            "weight": np.ones(len(hours)),
        }
    )


def calendar_starts(horizon, n_periods: int) -> list[pd.Timestamp]:
    """The n_periods + 1 period boundaries of the horizon's calendar, continued with
    the horizon's period length past its end."""
    t0 = pd.Timestamp(horizon.start.year, horizon.start.month, horizon.start.day, tz="UTC")
    m = horizon.months_per_period()
    return [t0 + pd.DateOffset(months=k * m) for k in range(n_periods + 1)]


def build_time_grid(horizon, mode: str | None = None, features: pd.DataFrame | None = None,
                    days_per_period: int | None = None, tail_periods: int = 0) -> TimeGrid:
    """Time grid of a validated ``Horizon``.

    ``mode`` overrides ``horizon.resolution.mode``. Representative mode needs
    ``features``: every time-varying input, one column each, over the horizon hours.
    ``tail_periods``: how far the calendar must run past the horizon (lease and
    contract tails, residual values taken at a later date).
    """
    P = int(horizon.periods)
    all_starts = calendar_starts(horizon, P + tail_periods + 1)
    calendar, _, _ = period_table(all_starts, horizon.months_per_period(),
                                  float(horizon.discount_rate))
    starts = all_starts[:P + 1]
    periods, y_end, d_end = period_table(starts, horizon.months_per_period(),
                                         float(horizon.discount_rate))
    hours = pd.date_range(starts[0], starts[-1], freq="h", inclusive="left")
    mode = mode or horizon.resolution.mode
    if mode == "hourly":
        steps = hourly_steps(periods, hours)
    elif mode == "representative":
        from .representative import representative_steps

        k = days_per_period or horizon.resolution.days_per_period
        steps = representative_steps(periods, hours, features, k,
                                     horizon.resolution.keep_peak_days)
    else:  # pragma: no cover - the schema admits only the two modes
        raise ValueError(f"unknown resolution mode {mode!r}")
    extra = {"days_per_period": int(k)} if mode == "representative" else {}
    return TimeGrid(hours=hours, periods=periods, steps=steps, mode=mode, y_end=y_end,
                    end_discount=d_end, discount_rate=float(horizon.discount_rate),
                    extra=extra, calendar=calendar)


def tail_periods(instance) -> int:
    """Periods past the horizon the calendar must cover: lease and contract ends and
    residual values taken at a later date (deals.md sections 3, 9, 10)."""
    P = int(instance.horizon.periods)
    ends = [int(x.end_period) for x in (*instance.contracts, *instance.leases)]
    holders = list(instance.gpu_products)
    for site in instance.sites:
        holders += [site.halls.conversion, getattr(site.halls, "ai_build", None),
                    *site.grid.upgrades, *site.cooling.upgrades]
    ends += [int(v) for h in holders if h is not None
             and (v := getattr(h, "residual_at_period", None)) is not None]
    return max([0] + [e - P for e in ends])
