"""The closed forms of deals.md that the checker needs, written from the spec alone.

Pure functions of numbers (no model, no instance objects), so that each can be tested
against a hand derivation:

- ``extended_calendar``: periods of the horizon continued past its end with the same
  period length (deals.md section 3), with ``y_start``, ``y_mid`` and hours;
- ``discount_sum``, ``annuity_factor``, ``financing_multiplier``: project financing
  (section 8);
- ``escalation_steps``: the anniversaries a lease rent has stepped up (section 1);
- ``depreciation_years_counted``: the tax depreciation years that fall on or before the
  valuation date (section 11).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "Calendar",
    "annuity_factor",
    "depreciation_years_counted",
    "discount_sum",
    "escalation_steps",
    "extended_calendar",
    "financing_multiplier",
]

HOURS_PER_YEAR = 8760.0
# deals.md writes both floor(...) and "<= y_val" with a 1e-9 year slack, so that a date
# that is a whole number of years away up to float rounding counts as reached
YEAR_SLACK = 1e-9


@dataclass(frozen=True)
class Calendar:
    """Periods 0 .. n-1 from the horizon start; the first ``periods`` are the horizon."""

    periods: int  # P, the periods of the horizon
    starts: tuple[dt.date, ...]  # n + 1 (UTC) starts: every period's, then the last end
    hours: np.ndarray  # H_p, calendar hours of each period (n)
    months: np.ndarray  # months_p (n)
    y_start: np.ndarray  # years from the horizon start to the start of p (n + 1)
    y_mid: np.ndarray  # years to the middle of p (n)

    @property
    def y_end(self) -> float:
        """Years from the horizon start to its end (= y_start(P))."""
        return float(self.y_start[self.periods])


def extended_calendar(start, months_per_period: int, periods: int, extra: int) -> Calendar:
    """The horizon's ``periods`` periods and ``extra`` more of the same length in months.

    ``start`` is the horizon start (a date, at UTC midnight). Period ``p`` starts
    ``p * months_per_period`` calendar months after it, inside the horizon and past it
    alike, so a tail period has its calendar hours (a leap February has 696). Python
    dates, not pandas timestamps: a tail of 400 yearly periods ends past the year 2262
    that nanosecond timestamps reach.
    """
    first = dt.date(start.year, start.month, start.day)
    n = periods + extra
    starts = []
    for k in range(n + 1):
        months = first.month - 1 + k * months_per_period
        starts.append(dt.date(first.year + months // 12, months % 12 + 1, first.day))
    # whole hours since the start, as exact integers before the one division
    since_h = np.array([(d - first).days * 24 for d in starts], dtype=np.int64)
    hours = np.diff(since_h).astype(float)
    y_start = since_h.astype(float) / HOURS_PER_YEAR
    y_mid = (since_h[:-1] + hours / 2.0) / HOURS_PER_YEAR
    return Calendar(periods=periods, starts=tuple(starts), hours=hours,
                    months=np.full(n, float(months_per_period)), y_start=y_start, y_mid=y_mid)


def discount_sum(discount_rate: float, years: int) -> float:
    """``sum_{k=1..years} (1 + r)^-k``: today's value of 1 USD at each of the next years."""
    base = 1.0 + float(discount_rate)
    return float(sum(base ** -k for k in range(1, int(years) + 1)))


def annuity_factor(rate: float, tenor_years: int) -> float:
    """Level annual instalment per USD borrowed: ``rate / (1 - (1 + rate)^-n)``, ``1/n``
    at rate 0 (deals.md section 8)."""
    n = int(tenor_years)
    if rate == 0:
        return 1.0 / n
    return float(rate) / (1.0 - (1.0 + float(rate)) ** -n)


def financing_multiplier(loan_to_cost: float, rate: float, tenor_years: int,
                         discount_rate: float) -> float:
    """``m = (1 - L) + L * a * sum_{k=1..n} (1 + r)^-k`` (deals.md section 8): what one USD
    of price costs at the order date when a share L is borrowed at ``rate`` for n years and
    repaid in level instalments, valued at the discount rate r. At ``rate == r`` the
    instalments are worth exactly the loan, so m = 1."""
    a = annuity_factor(rate, tenor_years)
    return (1.0 - loan_to_cost) + loan_to_cost * a * discount_sum(discount_rate, tenor_years)


def escalation_steps(y_start_p: float, y_start_first: float) -> int:
    """Anniversaries of a lease start reached at the start of period p:
    ``floor(y_start(p) - y_start(start_period) + 1e-9)`` (deals.md section 1)."""
    return int(math.floor(y_start_p - y_start_first + YEAR_SLACK))


def depreciation_years_counted(y_order: float, y_val: float, years: int) -> int:
    """Years j = 1..N with ``y_order + j <= y_val + 1e-9`` (deals.md section 11): the tax
    depreciation years of an item ordered at ``y_order`` that fall on or before its
    valuation date."""
    return sum(1 for j in range(1, int(years) + 1) if y_order + j <= y_val + YEAR_SLACK)
