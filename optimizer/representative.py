"""Representative days (formulation.md, section Time, mode ``representative``).

Per period, the period's UTC days are clustered (tsam, hierarchical, medoid
representation) on every time-varying input, each column min-max normalised over
the horizon. Each cluster is represented by its medoid, a real day of the period,
whose 24 hours become steps weighted by the cluster's size. With ``keep_peak_days``
the days holding a coincident-peak flag and the day holding the period's highest
hourly grid price (over all sites) are kept as clusters of their own (weight 1) and
the remaining days form ``days_per_period`` clusters. When at most
``days_per_period`` days remain, every day is its own cluster, so K = days in the
period reproduces the hourly model exactly.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class Features:
    """Time-varying inputs over the horizon hours (one column each) and the hours
    that force a peak day."""

    values: pd.DataFrame
    peak_flag: np.ndarray  # any coincident-peak flag, per hour
    max_price: np.ndarray  # highest grid price over all sites, per hour


def features_of(instance) -> Features:
    from .model.data import hourly_values

    hours = instance.series.index
    starts = pd.DatetimeIndex(instance.horizon.period_starts())
    hour_period = starts.searchsorted(hours, side="right") - 1
    series = instance.series
    cols: dict[str, np.ndarray] = {}

    def add(name, value):
        if value is not None:
            cols[name] = hourly_values(value, series, hour_period)

    add("hashprice", instance.market.hashprice_usd_per_ph_day)
    for g in instance.gpu_products:
        add(f"spot:{g.id}", g.spot_price_usd_per_gpu_hour)
    peak = np.zeros(len(hours), bool)
    prices = []
    for s in instance.sites:
        add(f"ambient:{s.id}", s.ambient_c)
        add(f"price:{s.id}", s.grid.price_usd_per_mwh)
        prices.append(cols[f"price:{s.id}"])
        add(f"adder:{s.id}", s.grid.import_adder_usd_per_mwh)
        if s.grid.ancillary is not None:
            add(f"anc:{s.id}", s.grid.ancillary.price_usd_per_mw_h)
        if s.grid.coincident_peak is not None:
            flag = series[s.grid.coincident_peak.flag_column].to_numpy(float)
            cols[f"cp:{s.id}"] = flag
            peak |= flag > 0
    for c in instance.ppas:
        if c.profile_column is not None:
            cols[f"profile:{c.id}"] = series[c.profile_column].to_numpy(float)
    values = pd.DataFrame(cols, index=hours)
    # constant columns carry no information and only dilute the distances
    values = values.loc[:, values.nunique() > 1]
    return Features(values=values, peak_flag=peak,
                    max_price=np.max(prices, axis=0) if prices else np.zeros(len(hours)))


def _normalised(values: pd.DataFrame) -> pd.DataFrame:
    lo, hi = values.min(), values.max()
    span = (hi - lo).replace(0.0, 1.0)
    return (values - lo) / span


def _cluster(days: np.ndarray, profiles: pd.DataFrame, k: int) -> list[tuple[int, int]]:
    """(medoid day, cluster size) for the given day numbers, k clusters."""
    if len(days) <= k:
        return [(int(day), 1) for day in days]
    import tsam

    hours = np.concatenate([np.arange(d * 24, d * 24 + 24) for d in days])
    data = profiles.iloc[hours].copy()
    # tsam wants a regular index; the days need not be consecutive
    data.index = pd.date_range("2000-01-01", periods=len(data), freq="h")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = tsam.aggregate(data, n_clusters=k, preserve_column_means=False)
    assign = np.asarray(res.cluster_assignments)
    centers = list(res.clustering.cluster_centers)
    return [(int(days[centers[c]]), int((assign == c).sum())) for c in range(len(centers))]


def representative_steps(periods: pd.DataFrame, hours: pd.DatetimeIndex,
                         features: Features, k: int, keep_peak_days: bool) -> pd.DataFrame:
    profiles = _normalised(features.values) if features.values.shape[1] else pd.DataFrame(
        {"flat": np.zeros(len(hours))}, index=hours)
    bounds = np.concatenate([[0], np.cumsum(periods["hours"].to_numpy())])
    frames = []
    for p in range(len(periods)):
        first_day, n_days = bounds[p] // 24, (bounds[p + 1] - bounds[p]) // 24
        days = np.arange(first_day, first_day + n_days)
        kept: list[int] = []
        if keep_peak_days:
            span = slice(bounds[p], bounds[p + 1])
            flagged = np.flatnonzero(features.peak_flag[span]) // 24 + first_day
            top = int(np.argmax(features.max_price[span])) // 24 + first_day
            kept = sorted(set(flagged.tolist()) | {top})
        rest = np.array([d for d in days if d not in set(kept)], dtype=int)
        clusters = [(d, 1) for d in kept] + (_cluster(rest, profiles, k) if len(rest) else [])
        for day, size in sorted(clusters):
            pos = np.arange(day * 24, day * 24 + 24)
            frames.append(pd.DataFrame({
                "period": p, "hour_pos": pos, "timestamp": hours[pos],
                "weight": float(size), "represented_day": hours[day * 24].date(),
                "day_count": size}))
    return pd.concat(frames, ignore_index=True)
