"""Representative days (formulation.md, section Time, mode ``representative``).

Per period, the period's UTC days are clustered by k-medoids on every series column the
instance uses: each day is a vector of 24 hours per column, each column clipped to its
5-95 % quantiles over the days clustered and min-max scaled to [0, 1] (``_day_features``),
and days are compared by Euclidean distance. The medoids minimise the total distance of
the days to their nearest medoid: the best of ``RESTARTS`` FasterPAM runs from seeded
random starts (``_medoids``), which found the exact optimum in every period measured
(bench/clustering.py, docs/representative-days.md). Each cluster is represented by its
medoid, a real day of the period (``_clusters``), whose 24 hours become steps weighted by
the cluster's size. With ``keep_peak_days`` the days holding a coincident-peak flag and
the day holding the period's highest hourly grid price (over all sites) are kept as
clusters of their own (weight 1) and the remaining days form ``days_per_period``
clusters. When at most ``days_per_period`` days remain, every day is its own cluster, so
K = days in the period reproduces the hourly model exactly.
"""

from __future__ import annotations

import hashlib
import sys
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


def used_columns(instance) -> list[str]:
    """Every series column the instance refers to, in first-use order, each once:
    ``{column:}`` values anywhere, PPA profiles and coincident-peak flags."""
    from pydantic import BaseModel

    from ..instance import ColumnRef

    found: dict[str, None] = {}

    def walk(obj) -> None:
        if isinstance(obj, ColumnRef):
            found[obj.column] = None
        elif isinstance(obj, BaseModel):
            for name in type(obj).model_fields:
                value = getattr(obj, name)
                if name in ("profile_column", "flag_column") and isinstance(value, str):
                    found[value] = None
                else:
                    walk(value)
        elif isinstance(obj, (list, tuple)):
            for item in obj:
                walk(item)

    walk(instance)
    return list(found)


def features_of(instance) -> Features:
    """The clustering features: the series columns the instance uses (each once, raw:
    ``_day_features`` scales them per period), and the hours that force a peak day."""
    from .values import hourly_values

    hours = instance.series.index
    starts = pd.DatetimeIndex(instance.horizon.period_starts())
    hour_period = starts.searchsorted(hours, side="right") - 1
    series = instance.series
    values = series[used_columns(instance)].astype(float)
    peak = np.zeros(len(hours), bool)
    prices = []
    for s in instance.sites:
        prices.append(hourly_values(s.grid.price_usd_per_mwh, series, hour_period))
        if s.grid.coincident_peak is not None:
            peak |= series[s.grid.coincident_peak.flag_column].to_numpy(float) > 0
    return Features(values=values, peak_flag=peak, max_price=np.max(prices, axis=0))


def _cluster(days: np.ndarray, profiles: pd.DataFrame, k: int) -> list[tuple[int, int]]:
    """(medoid day, cluster size) for the given day numbers, k clusters."""
    if len(days) <= k:
        return [(int(day), 1) for day in days]
    dist = _distances(_day_features(days, profiles))
    return [(int(days[m]), size) for m, size in _clusters(dist, _medoids(dist, k))]


CLIP_QUANTILE = 0.05


def _day_features(days: np.ndarray, profiles: pd.DataFrame) -> np.ndarray:
    """One row per day: the day's 24 hours of every column, each column clipped to its
    [5 %, 95 %] quantiles over the hours clustered and min-max scaled to [0, 1]; columns
    then constant are dropped.

    Plain min-max scaling lets the largest price spike set a column's range: on ERCOT
    prices the bulk of the hours, where the mining break-even lies, is squeezed into a
    few hundredths and the days are grouped by temperature or by the drift of the
    hashprice. Clipping keeps the spread of the bulk. Measured NPV error against hourly
    at K = 6, 8, 10, 12 (mean of |error|): permian-1y 1.1 % -> 0.4 %; the same site on
    2023 prices 18 % -> 1.9 %, on 2024 prices 1.2 % -> 3.0 %, on Rockdale prices
    1.6 % -> 1.5 % (docs/representative-days.md, bench/representative_accuracy.py)."""
    hours = (np.asarray(days)[:, None] * 24 + np.arange(24)).ravel()
    raw = profiles.to_numpy(float)[hours]
    lo, hi = np.quantile(raw, [CLIP_QUANTILE, 1.0 - CLIP_QUANTILE], axis=0)
    values = np.clip(raw, lo, hi)
    if not (values.max(axis=0) > values.min(axis=0)).any():
        # every column flat within its quantiles (a rare spike only): scale the raw values
        values = raw
    low, span = values.min(axis=0), values.max(axis=0) - values.min(axis=0)
    varying = span > 0
    scaled = (values[:, varying] - low[varying]) / span[varying]
    return scaled.reshape(len(days), -1)


def _distances(features: np.ndarray) -> np.ndarray:
    """Euclidean distance between every two days (rows)."""
    from scipy.spatial.distance import pdist, squareform

    return squareform(pdist(features, "euclidean"))


# FasterPAM is a local search. Over 112 periods (5 instances, K = 4..16) one run stopped
# above the optimum (HiGHS on the same distances) in 53, up to 3.0 % more total distance;
# the best of 20 in 3 (0.15 %); of 50 and of 100 in none. Local optima cost accuracy: on
# the four price years of bench/representative_accuracy.py one run's days gave a mean NPV
# error of 2.5-3.7 % (up to 22 %) against 1.7 % (at most 3.6 %) for the optimum's days.
# 100 keeps a margin over 50 at 15-30 ms a period (bench/clustering.py)
RESTARTS = 100
SEED = 0


def _medoids(dist: np.ndarray, k: int) -> np.ndarray:
    """The k medoid rows (ascending) of the lowest total distance over ``RESTARTS``
    FasterPAM runs from random starts drawn by one generator seeded with ``SEED``; the
    first run wins a tie, so the same distances give the same medoids."""
    fasterpam = _fasterpam()
    # one generator for all runs: a RandomState built per run costs more than the run
    state = np.random.RandomState(SEED)
    best = None
    for _ in range(RESTARTS):
        # one thread: the parallel variant's result depends on the thread timing
        run = fasterpam(dist, k, init="random", random_state=state, n_cpu=1)
        if best is None or run.loss < best.loss:
            best = run
    return np.sort(np.asarray(best.medoids, dtype=int))


def _clusters(dist: np.ndarray, medoids: np.ndarray) -> list[tuple[int, int]]:
    """(medoid row, size) of the clusters the medoids found: every day joins its nearest
    medoid (the first on a tie; a medoid stays in its own cluster even if another is an
    identical day), and each cluster is represented by its member with the lowest total
    distance to the others, the earliest day on a tie. Which of a two-day cluster's days
    the search returned depends on its random starts; this rule does not."""
    nearest = np.argmin(dist[:, medoids], axis=1)
    nearest[medoids] = np.arange(len(medoids))
    out = []
    for c in range(len(medoids)):
        members = np.flatnonzero(nearest == c)
        centre = members[np.argmin(dist[np.ix_(members, members)].sum(axis=0))]
        out.append((int(centre), len(members)))
    return out


def _fasterpam():
    """``kmedoids.fasterpam``, imported without scikit-learn: the package imports it
    (1-2 s) only to derive its estimator class, and falls back to ``object`` when the
    import fails; the function used here does not need it."""
    if "kmedoids" not in sys.modules and "sklearn.base" not in sys.modules:
        sys.modules["sklearn.base"] = None  # makes ``from sklearn.base import`` fail
        try:
            import kmedoids  # noqa: F401
        except ImportError:
            pass  # a release that needs scikit-learn: the plain import below
        finally:
            del sys.modules["sklearn.base"]
    import kmedoids

    return kmedoids.fasterpam


_CACHE: dict[str, pd.DataFrame] = {}
_CACHE_SIZE = 32


def _fingerprint(periods, hours, features: Features, k: int, keep_peak_days: bool) -> str:
    h = hashlib.sha256()
    h.update(f"{hours[0].isoformat()}|{len(hours)}".encode())
    h.update(np.ascontiguousarray(periods["hours"].to_numpy(np.int64)).tobytes())
    h.update(repr((list(features.values.columns), k, keep_peak_days)).encode())
    for arr in (features.values.to_numpy(float), features.peak_flag.astype(np.int8),
                features.max_price.astype(float)):
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def representative_steps(periods: pd.DataFrame, hours: pd.DatetimeIndex,
                         features: Features, k: int, keep_peak_days: bool) -> pd.DataFrame:
    """The steps of the representative days; the same inputs give the same days, so
    they are computed once per process (sweeps re-solve with other prices or costs,
    but cluster the same series)."""
    key = _fingerprint(periods, hours, features, k, keep_peak_days)
    if key not in _CACHE:
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = _representative_steps(periods, hours, features, k, keep_peak_days)
    return _CACHE[key].copy()


def _representative_steps(periods: pd.DataFrame, hours: pd.DatetimeIndex,
                          features: Features, k: int, keep_peak_days: bool) -> pd.DataFrame:
    profiles = _profiles(features, hours)
    frames = []
    for p, kept, rest in _period_days(periods, features, keep_peak_days):
        clusters = [(d, 1) for d in kept] + (_cluster(rest, profiles, k) if len(rest) else [])
        for day, size in sorted(clusters):
            pos = np.arange(day * 24, day * 24 + 24)
            frames.append(pd.DataFrame({
                "period": p, "hour_pos": pos, "timestamp": hours[pos],
                "weight": float(size), "represented_day": hours[day * 24].date(),
                "day_count": size}))
    return pd.concat(frames, ignore_index=True)


def _profiles(features: Features, hours: pd.DatetimeIndex) -> pd.DataFrame:
    if features.values.shape[1]:
        return features.values
    return pd.DataFrame({"flat": np.zeros(len(hours))}, index=hours)


def _period_days(periods: pd.DataFrame, features: Features, keep_peak_days: bool):
    """Per period: (period, the day numbers kept as clusters of one, the day numbers
    left to cluster), days counted from the horizon start."""
    bounds = np.concatenate([[0], np.cumsum(periods["hours"].to_numpy())])
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
        yield p, kept, rest
