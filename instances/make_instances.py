#!/usr/bin/env python
"""Generate the bundled instances of Hashpivot from templates (deterministic, seeded).

    python instances/make_instances.py                # every instance
    python instances/make_instances.py quickstart     # only the ones named

Every ``templates/<name>.yaml`` other than the two libraries becomes ``<name>/instance.yaml``
+ ``<name>/series.csv`` next to this script. A template is data: the instance as YAML, made
mostly of parts of ``templates/parts.yaml`` (sites, ASIC models, cooling classes, GPU
products, deals) taken with ``!use`` plus a few overrides, and a header comment. Its
``series.csv`` holds the columns the instance refers to; ``templates/columns.yaml`` declares
each column as a builder of this file (``BUILDERS``) and its parameters (price source,
scale and shift, random stream, place). Tags and rules are listed at the top of parts.yaml.

Grid and RRS prices are real ERCOT data read from ``data/ercot/`` (see
``data/ercot/README.md``); everything else that varies in time (hashprice, GPU spot prices,
temperatures, solar profiles, 4CP flags) is derived or synthesised here with a fixed seed.
``instances/README.md`` documents every assumption and its public source. Running the script
twice gives byte-identical files.
"""

from __future__ import annotations

import datetime as dt
import functools
import inspect
import math
import sys
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import yaml

HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / "ercot"
TEMPLATES = HERE / "templates"
SEED = 20270101  # master seed; each synthetic series draws from its own child stream
TZ = "America/Chicago"


class TemplateError(Exception):
    """A problem in a template, told as a sentence naming the file, key path and value."""


# --------------------------------------------------------------------------------------
# Real ERCOT data
# --------------------------------------------------------------------------------------


def _read(name: str) -> pd.DataFrame:
    df = pd.read_csv(DATA / name)
    df["timestamp"] = pd.to_datetime(df["timestamp"], utc=True)
    return df.set_index("timestamp")


@functools.cache
def load_sources() -> pd.DataFrame:
    """One gap-free UTC-hourly table 2023-01-01T06Z .. 2026-01-01T05Z of the real prices.

    Columns: ``lz_west`` (2023-2025), ``lz_lcra`` and ``lz_mean`` (2023 only),
    ``hb_west``, ``hubavg`` and ``rrs`` (2024-2025 only). NaN where a source has
    nothing; the documented fills are applied here. ``price_sources`` in
    ``templates/columns.yaml`` names which of these columns each year of a price reads.
    """
    a = _read("ercot_lz_rt_hourly_2023.csv")
    b = _read("ercot_west_rt_da_as_hourly_2024_2025.csv")
    c = _read("ercot_hubavg_rt_da_hourly_2024_2025.csv")
    idx = pd.date_range("2023-01-01T06:00:00Z", "2026-01-01T05:00:00Z", freq="h")
    out = pd.DataFrame(index=idx)

    zones = [col for col in a.columns if col.startswith("lz_") and col.endswith("_rt_usd_per_mwh")]
    # LZ_WEST: 2023 from source A; 2024-25 from source B, its one-week March holes
    # (2024-03-10 07Z.., 2025-03-09 07Z.., 169 h each) filled with HB_WEST of the same hour.
    lz_b = b["lz_west_rt_usd_per_mwh"].fillna(b["hb_west_rt_usd_per_mwh"])
    out["lz_west"] = pd.concat([a["lz_west_rt_usd_per_mwh"], lz_b]).reindex(idx)
    out["lz_lcra"] = a["lz_lcra_rt_usd_per_mwh"].reindex(idx)
    out["lz_mean"] = a[zones].mean(axis=1).reindex(idx)  # 2023 system-price proxy (8 zones)
    out["hb_west"] = b["hb_west_rt_usd_per_mwh"].reindex(idx)
    # RRS: the same March holes filled with the same hours one week earlier (repeated
    # until filled: the hole is 169 h, one hour longer than a week).
    rrs = b["as_rrs_mcpc_usd_per_mw_h"].copy()
    while rrs.isna().any():
        rrs = rrs.fillna(rrs.shift(168))
    out["rrs"] = rrs.reindex(idx)
    # HB_HUBAVG ends 2025-11-30 23Z: the rest of December 2025 is copied from the same
    # hours 364 days (52 weeks, same weekday) earlier, i.e. December 2024.
    hub = c["hb_hubavg_rt_usd_per_mwh"].reindex(
        pd.date_range("2024-01-01T00:00:00Z", idx[-1], freq="h")
    )
    hub = hub.fillna(hub.shift(364 * 24))
    out["hubavg"] = hub.reindex(idx)
    return out


def covered_days(src: pd.DataFrame, year: int, cols: list[str]) -> set:
    """UTC days of ``year`` whose 24 hours are all in ``src`` with no NaN in ``cols``."""
    ok = src.loc[str(year), cols].notna().all(axis=1)
    n = ok.groupby(ok.index.floor("D")).sum()
    return {d.date() for d, k in n.items() if k == 24}


def day_map(target_year: int, source_year: int, covered: set) -> dict:
    """Target UTC day -> source UTC day with the same weekday.

    The source day is the same calendar date in the source year (28 Feb for a 29 Feb
    without a counterpart), moved by at most 3 days to the same weekday; if that day is
    not fully covered by the source data of the source year, it moves by 7 days towards
    the middle of the year until it is. Within a year this is a constant whole-week shift.
    """
    out = {}
    d = dt.date(target_year, 1, 1)
    mid = dt.date(source_year, 7, 1)
    while d.year == target_year:
        try:
            c = dt.date(source_year, d.month, d.day)
        except ValueError:  # 29 Feb in a non-leap source year
            c = dt.date(source_year, 2, 28)
        k = (d.weekday() - c.weekday()) % 7
        if k > 3:
            k -= 7
        s = c + dt.timedelta(days=k)
        while s not in covered:
            s += dt.timedelta(days=7 if s < mid else -7)
        out[d] = s
        d += dt.timedelta(days=1)
    return out


def source_hours(
    target_year: int, source_year: int, src: pd.DataFrame, cols: list[str]
) -> pd.DatetimeIndex:
    """For every UTC hour of ``target_year``, the UTC hour of the source data it copies."""
    dm = day_map(target_year, source_year, covered_days(src, source_year, cols))
    starts = pd.DatetimeIndex([pd.Timestamp(s, tz="UTC") for s in dm.values()])
    return pd.DatetimeIndex(
        (starts.values[:, None] + np.arange(24) * np.timedelta64(1, "h")).ravel(), tz="UTC"
    )


# --------------------------------------------------------------------------------------
# Series builders: builder(table, **parameters from columns.yaml) -> one value per hour
# of table.index
# --------------------------------------------------------------------------------------


def utc(day: dt.date) -> pd.Timestamp:
    return pd.Timestamp(day).tz_localize("UTC")


def check_parameters(fn: Any, params: dict, what: str) -> None:
    """Refuse keys that ``fn`` (after its first argument) does not take or leaves unset."""
    accepted = list(inspect.signature(fn).parameters.values())[1:]
    unknown = sorted(set(params) - {p.name for p in accepted})
    missing = [p.name for p in accepted if p.default is p.empty and p.name not in params]
    if unknown or missing:
        raise TemplateError(
            f"{what} "
            + (f"does not take {', '.join(unknown)}" if unknown else "")
            + (" and " if unknown and missing else "")
            + (f"needs {', '.join(missing)}" if missing else "")
            + f" (it takes {', '.join(p.name for p in accepted)})"
        )


class SeriesTable:
    """The hourly columns of one calendar, each built once from its definition."""

    def __init__(self, catalogue: dict, calendar: dict) -> None:
        self.index = pd.date_range(
            utc(calendar["start"]), utc(calendar["end"]), freq="h", inclusive="left"
        )
        self.source_years = calendar["source_years"]
        self.price_sources = catalogue["price_sources"]
        self.places = catalogue["places"]
        self._built: dict[tuple[str, str], np.ndarray] = {}
        self._hours: dict[tuple[int, int], pd.DatetimeIndex] = {}

    def price_entry(self, source: str, year: int) -> tuple[int, str]:
        """(historical year, load_sources() column) that real price ``source`` reads for
        calendar year ``year``."""
        if year not in self.source_years:
            raise TemplateError(
                f"templates/columns.yaml: calendar.source_years has no historical year for {year}, "
                "which the calendar covers"
            )
        if source not in self.price_sources:
            raise TemplateError(
                f"templates/columns.yaml: price_sources has no price {source!r} "
                f"(known: {', '.join(self.price_sources)})"
            )
        from_year = self.source_years[year]
        entry = self.price_sources[source].get(from_year)
        if entry is None:
            raise TemplateError(
                f"templates/columns.yaml: price_sources.{source} names no column for {from_year}, "
                f"the historical year of {year}"
            )
        return (entry["year"], entry["column"]) if isinstance(entry, dict) else (from_year, entry)

    def source_hours(self, year: int, from_year: int) -> pd.DatetimeIndex:
        """The hours of ``from_year`` copied onto calendar year ``year``.

        All prices of a year copy the same days: the days on which every column that some
        price reads from ``from_year`` for ``year`` is complete.
        """
        if (year, from_year) not in self._hours:
            cover = set()
            for source in self.price_sources:
                entry_year, column = self.price_entry(source, year)
                if entry_year == from_year:
                    cover.add(column)
            # day_map() would look for a complete day for ever
            if not covered_days(load_sources(), from_year, sorted(cover)):
                raise TemplateError(
                    f"templates/columns.yaml: price_sources read {', '.join(sorted(cover))} "
                    f"from {from_year}, which has no day on which all of them are complete"
                )
            self._hours[year, from_year] = source_hours(
                year, from_year, load_sources(), sorted(cover)
            )
        return self._hours[year, from_year]

    def column(self, name: str, definition: dict, where: str) -> np.ndarray:
        key = (name, repr(definition))
        if key not in self._built:
            params = dict(definition)
            builder = BUILDERS.get(params.pop("builder", None))
            if builder is None:
                raise TemplateError(
                    f"{where}: builder {definition.get('builder')!r} is not one of "
                    f"{', '.join(BUILDERS)}"
                )
            check_parameters(builder, params, f"{where}: builder {builder.__name__}")
            self._built[key] = builder(self, **params)
        return self._built[key]


def real_price(
    table: SeriesTable, source: str, scale: float = 1.0, shift: float = 0.0
) -> np.ndarray:
    """Real ERCOT price ``source`` (see ``price_sources``) on the calendar hours, each
    calendar year copied weekday-aligned from its historical year, times ``scale`` plus
    ``shift`` (in the column's own unit)."""
    src = load_sources()
    parts = []
    for year in sorted(set(table.index.year)):
        from_year, column = table.price_entry(source, year)
        hours = table.source_hours(year, from_year)
        target = pd.date_range(f"{year}-01-01", periods=len(hours), freq="h", tz="UTC")
        parts.append(pd.Series(src.loc[hours, column].to_numpy(), index=target))
    values = pd.concat(parts).reindex(table.index).to_numpy()
    if np.isnan(values).any():
        raise TemplateError(
            f"templates/columns.yaml: price {source!r} has no real value for "
            f"{np.isnan(values).sum()} hours of the calendar"
        )
    return values * scale + shift


def cp_flags(table: SeriesTable, proxy: str) -> np.ndarray:
    """ERCOT 4CP proxy: in each of June-September, the single weekday hour starting at
    16:00 or 17:00 Central time with the highest price ``proxy`` (no load data)."""
    index = table.index
    price = real_price(table, proxy)
    local = index.tz_convert(TZ)
    flag = np.zeros(len(index), dtype=int)
    cand = (
        (local.month >= 6)
        & (local.month <= 9)
        & (local.weekday < 5)
        & np.isin(local.hour, [16, 17])
    )
    for y, m in sorted(set(zip(local.year[cand], local.month[cand]))):
        sel = cand & (local.year == y) & (local.month == m)
        flag[np.flatnonzero(sel)[np.argmax(price[sel])]] = 1
    return flag


def rng(stream: int) -> np.random.Generator:
    return np.random.default_rng([SEED, stream])


def ar1(g: np.random.Generator, n: int, phi: float, sd: float) -> np.ndarray:
    """Stationary AR(1) with lag-1 correlation ``phi`` and marginal std ``sd``."""
    e = g.normal(0.0, sd * np.sqrt(1.0 - phi**2), n)
    x = np.empty(n)
    x[0] = g.normal(0.0, sd)
    for i in range(1, n):
        x[i] = phi * x[i - 1] + e[i]
    return x


def daily_price(
    table: SeriesTable,
    stream: int,
    start_usd: float,
    phi: float,
    sd: float,
    drift_per_year: float | None = None,
    decline_per_year: float | None = None,
    halvings: tuple = (),
) -> np.ndarray:
    """One price per UTC day: ``start_usd`` on the first calendar day times a trend, either
    e^(drift_per_year * years) or (1 - decline_per_year)^years, times each halving's factor,
    times daily log-AR(1) noise (lag-1 correlation ``phi``, std ``sd``).

    A halving multiplies the trend from its ``date`` on by ``drop_to``, recovering by
    ``recover_by`` with an e-folding time of ``efold_days`` (hashrate leaves, fees and the
    price adjust).
    """
    if (drift_per_year is None) == (decline_per_year is None):
        raise TemplateError(
            f"templates/columns.yaml: a daily_price (stream {stream}) takes exactly one of "
            "drift_per_year and decline_per_year"
        )
    index = table.index
    days = pd.date_range(index[0].floor("D"), index[-1].floor("D"), freq="D")
    y = (days - index[0]).days.to_numpy() / 365.25
    if drift_per_year is not None:
        level = start_usd * np.exp(drift_per_year * y)
    else:
        level = start_usd * (1.0 - decline_per_year) ** y
    for h in halvings:
        after = (days - utc(h["date"])).days.to_numpy().astype(float)
        recovery = 1.0 - np.exp(-np.maximum(after, 0) / h["efold_days"])
        level = level * np.where(after < 0, 1.0, h["drop_to"] + h["recover_by"] * recovery)
    price = level * np.exp(ar1(rng(stream), len(days), phi, sd))
    return pd.Series(price, index=days).reindex(index.floor("D")).to_numpy()


REGIONAL_STREAM = 10  # weather noise shared by every site: one region, one synoptic pattern
REGIONAL_SHARE = 0.6  # of the weather-noise variance


def weather_noise(g: np.random.Generator, n: int) -> np.ndarray:
    """Synoptic (hourly phi 0.97, sd 2.0) plus multi-day (phi 0.995, sd 1.5) AR(1), deg C."""
    return ar1(g, n, 0.97, 2.0) + ar1(g, n, 0.995, 1.5)


def temperature(table: SeriesTable, place: str, stream: int) -> np.ndarray:
    """Hourly air temperature (deg C) at ``place``: seasonal cosine through its Jan/Jul
    normals (coldest ~15 Jan, warmest ~17 Jul), an asymmetric diurnal cycle (min ~06:00,
    max ~15:00 local solar time), and weather noise = the regional AR(1) shared by all
    sites (60 % of the variance) + the site's own from ``stream`` (total sd 2.5 deg C),
    scaled by 1.25 in mid-January (cold fronts) down to 0.75 in mid-July."""
    c = table.places[place]
    index = table.index
    n = len(index)
    doy = index.dayofyear.to_numpy() + index.hour.to_numpy() / 24.0
    season = np.cos(2 * np.pi * (doy - 15.0) / 365.25)
    common = weather_noise(rng(REGIONAL_STREAM), n)
    own = weather_noise(rng(stream), n)
    noise = (np.sqrt(REGIONAL_SHARE) * common + np.sqrt(1 - REGIONAL_SHARE) * own) * (
        1.0 + 0.25 * season
    )
    mean, amp = (c["jan_c"] + c["jul_c"]) / 2.0, (c["jul_c"] - c["jan_c"]) / 2.0
    seasonal = mean - amp * season
    solar_h = (index.hour.to_numpy() + c["lon"] / 15.0) % 24.0
    warm = (solar_h >= 6.0) & (solar_h < 15.0)
    diurnal = np.where(
        warm,
        -np.cos(np.pi * (solar_h - 6.0) / 9.0),
        np.cos(np.pi * ((solar_h - 15.0) % 24.0) / 15.0),
    )
    return seasonal + c["half_range_c"] * diurnal + noise


def solar_cf(table: SeriesTable, place: str, stream: int, mean_cf: float) -> np.ndarray:
    """Single-axis-tracking PV capacity factor (0..1, AC) at ``place``.

    Clear-sky shape sin(elevation)^0.45 from the solar position (declination, hour
    angle; equation of time ignored), times a daily clearness index (Beta, mean 0.80 in
    summer .. 0.72 in winter) and a small hourly cloud jitter, scaled (then clipped at 1,
    inverter clipping) so the mean of the first calendar year equals ``mean_cf``.
    """
    c = table.places[place]
    index = table.index
    doy = index.dayofyear.to_numpy()
    utc_h = index.hour.to_numpy() + 0.5
    decl = np.radians(23.44) * np.sin(2 * np.pi * (284 + doy) / 365.0)
    days = index.floor("D")
    g = rng(stream)
    lat = np.radians(c["lat"])
    omega = np.radians(15.0 * (utc_h + c["lon"] / 15.0 - 12.0))
    sin_e = np.sin(lat) * np.sin(decl) + np.cos(lat) * np.cos(decl) * np.cos(omega)
    clear = np.clip(sin_e, 0.0, None) ** 0.45
    uday, inv = np.unique(days, return_inverse=True)
    udoy = pd.DatetimeIndex(uday).dayofyear.to_numpy()
    mean_k = 0.76 + 0.04 * np.cos(2 * np.pi * (udoy - 180) / 365.25)
    conc = 12.0
    kd = g.beta(mean_k * conc, (1 - mean_k) * conc)[inv]
    jitter = np.clip(1.0 + g.normal(0.0, 0.08, len(index)), 0.6, 1.2)
    raw = clear * kd * jitter
    first_year = index.year == index[0].year
    lo, hi = 0.5, 3.0
    for _ in range(60):  # bisection on the scale so the first year's mean hits the target
        mid = (lo + hi) / 2
        if np.clip(mid * raw[first_year], 0, 1).mean() < mean_cf:
            lo = mid
        else:
            hi = mid
    return np.clip(hi * raw, 0.0, 1.0)


BUILDERS = {f.__name__: f for f in (real_price, cp_flags, daily_price, temperature, solar_cf)}


_TABLES: dict[str, SeriesTable] = {}


def series_table(catalogue: dict, calendar: dict) -> SeriesTable:
    """One table per calendar, so instances on the same calendar build each column once."""
    key = repr(calendar)
    if key not in _TABLES:
        _TABLES[key] = SeriesTable(catalogue, calendar)
    return _TABLES[key]


# --------------------------------------------------------------------------------------
# Templates: YAML with the tags of parts.yaml, expanded into one instance
# --------------------------------------------------------------------------------------

LIBRARIES = ("parts.yaml", "columns.yaml")  # every other templates/*.yaml is an instance
TEMPLATE_KEYS = {"header", "calendar", "columns", "instance"}
MONTHS_PER_PERIOD = {"month": 1, "quarter": 3, "year": 12}
COLUMN_KEYS = ("column", "flag_column", "profile_column")  # where instances name columns


class Flow(dict):
    """A mapping written in YAML flow style: {a: 1, b: 2}."""


class FlowList(list):
    """A list written in YAML flow style: [1, 2, 3]."""


class Use(NamedTuple):
    """``!use``: a copy of a part of parts.yaml with overrides at dotted key paths."""

    part: str
    overrides: dict
    omit: tuple


class Deferred(NamedTuple):
    """A tagged value that needs the horizon (``!horizon_end``, ``!per_period``, ...)."""

    tag: str
    args: Any


class _Loader(yaml.SafeLoader):
    """Keeps the style of every mapping and list as written (flow or block), so the template
    reads like the instance it makes; refuses a key written twice; reads the template tags."""


def _mapping(loader: _Loader, node: yaml.MappingNode) -> dict:
    loader.flatten_mapping(node)
    pairs = loader.construct_pairs(node, deep=True)
    keys = [k for k, _ in pairs]
    for k in keys:
        if keys.count(k) > 1:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {k!r} is written twice in one mapping", node.start_mark
            )
    return (Flow if node.flow_style else dict)(pairs)


def _sequence(loader: _Loader, node: yaml.SequenceNode) -> list:
    items = loader.construct_sequence(node, deep=True)
    return FlowList(items) if node.flow_style else items


def _use(loader: _Loader, node: yaml.Node) -> Use:
    if isinstance(node, yaml.ScalarNode):
        return Use(loader.construct_scalar(node), {}, ())
    spec = dict(_mapping(loader, node)) if isinstance(node, yaml.MappingNode) else {}
    part, omit = spec.pop("part", None), spec.pop("omit", [])
    if not isinstance(part, str) or not isinstance(omit, list):
        raise yaml.constructor.ConstructorError(
            None,
            None,
            "!use takes NAME or {part: NAME, omit: [PATH, ...], PATH: value, ...}",
            node.start_mark,
        )
    return Use(part, spec, tuple(omit))


def _deferred(loader: _Loader, tag_suffix: str, node: yaml.Node) -> Deferred:
    if isinstance(node, yaml.MappingNode):
        args = dict(_mapping(loader, node))
    elif isinstance(node, yaml.SequenceNode):
        args = list(loader.construct_sequence(node, deep=True))
    else:
        args = loader.construct_scalar(node)
    return Deferred(tag_suffix, args)


_Loader.add_constructor("tag:yaml.org,2002:map", _mapping)
_Loader.add_constructor("tag:yaml.org,2002:seq", _sequence)
_Loader.add_constructor("!use", _use)
_Loader.add_multi_constructor("!", _deferred)


@functools.cache
def read_template(name: str) -> Any:
    path = TEMPLATES / name
    try:
        with path.open() as stream:  # a stream, so YAML errors name the file
            return yaml.load(stream, Loader=_Loader)
    except OSError as exc:
        raise TemplateError(f"templates/{name} cannot be read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise TemplateError(f"templates/{name} is not valid template YAML: {exc}") from None


class Horizon(NamedTuple):
    start: dt.date
    months_per_period: int
    periods: int
    discount_rate: float

    @classmethod
    def of(cls, horizon: Any, where: str) -> Horizon:
        if not isinstance(horizon, dict):
            raise TemplateError(f"{where}: instance.horizon is missing or not a mapping")
        start, period, periods = (horizon.get(k) for k in ("start", "period", "periods"))
        if not isinstance(start, dt.date) or isinstance(start, dt.datetime):
            raise TemplateError(f"{where}: instance.horizon.start {start!r} is not a date")
        if period not in MONTHS_PER_PERIOD:
            raise TemplateError(
                f"{where}: instance.horizon.period {period!r} is not one of "
                f"{', '.join(MONTHS_PER_PERIOD)}"
            )
        if not isinstance(periods, int) or periods < 1:
            raise TemplateError(
                f"{where}: instance.horizon.periods {periods!r} is not a whole number >= 1"
            )
        return cls(start, MONTHS_PER_PERIOD[period], periods, horizon.get("discount_rate", 0.0))

    @property
    def period_years(self) -> float:
        return self.months_per_period / 12

    def hours(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        """First hour and the hour after the last."""
        start = utc(self.start)
        return start, start + pd.DateOffset(months=self.periods * self.months_per_period)


def horizon_end(h: Horizon, args: str) -> int:
    """``!horizon_end``: the number of periods, i.e. a window that lasts to the end."""
    if args:
        raise ValueError("takes no value")
    return h.periods


def per_period(
    h: Horizon, start_usd: float, factor_per_period: float, round_to_usd: int = 1000
) -> FlowList:
    """``!per_period``: start_usd * factor_per_period**p, rounded to ``round_to_usd``."""
    digits = -round(math.log10(round_to_usd))
    if 10**-digits != round_to_usd:
        raise ValueError(f"round_to_usd {round_to_usd} is not a power of ten")
    return FlowList(
        float(round(start_usd * factor_per_period**p, digits)) for p in range(h.periods)
    )


def per_year(h: Horizon, values: list) -> FlowList:
    """``!per_year [v0, v1, ...]``: for each period, the value of its calendar year (v0 for
    the year the horizon starts in)."""
    years = [(h.start.month - 1 + p * h.months_per_period) // 12 for p in range(h.periods)]
    if years[-1] >= len(values):
        raise ValueError(f"has {len(values)} values but the horizon spans {years[-1] + 1} years")
    return FlowList(values[y] for y in years)


def salvage(h: Horizon, market_usd: float, factor_per_period: float) -> FlowList:
    """``!salvage``: per-period ASIC salvage, net of the value the machine would still have
    at the end.

    ``market_p = market_usd * factor_per_period**p`` is an indicative used-machine price
    when selling at the start of period p. The formulation gives an ASIC kept to the horizon
    end no residual value, so offering the full market price would make "sell everything
    just before the end" optimal. The salvage offered is therefore the market price minus
    the discounted market price at the horizon end (what keeping the machine would still be
    worth there): selling then beats keeping exactly when the machine's margin over the rest
    of the horizon is below the fall in its resale price.
    """
    n = h.periods
    market = [market_usd * factor_per_period**p for p in range(n + 1)]
    return FlowList(
        float(
            round(market[p] - (1 + h.discount_rate) ** -((n - p) * h.period_years) * market[n], 0)
        )
        for p in range(n)
    )


DEFERRED = {f.__name__: f for f in (horizon_end, per_period, per_year, salvage)}


def _path(parent: str, key: Any) -> str:
    return f"{parent}[{key}]" if isinstance(key, int) else f"{parent}.{key}"


def _locate(tree: Any, dotted: str, where: str, path: str) -> tuple[Any, Any]:
    """The container holding the last key of ``dotted`` inside ``tree``, and that key."""
    keys: list[Any] = [int(k) if k.isdigit() else k for k in str(dotted).split(".")]
    node = tree
    for i, key in enumerate(keys):
        last = i == len(keys) - 1
        if isinstance(node, list) and isinstance(key, int) and key < len(node):
            pass
        elif isinstance(node, dict) and not isinstance(key, int) and (last or key in node):
            pass
        else:
            raise TemplateError(
                f"{where}: {path}: override path {dotted!r} does not lead into the part "
                f"(no {key!r} there)"
            )
        if last:
            return node, key
        node = node[key]
    raise AssertionError("unreachable: a dotted path has at least one key")


def expand(value: Any, where: str, path: str, using: tuple = ()) -> Any:
    """``value`` as new containers, with every ``!use`` replaced by its part."""
    if isinstance(value, Use):
        if value.part in using:
            raise TemplateError(f"{where}: {path}: part {value.part} uses itself")
        part: Any = read_template("parts.yaml")
        for key in value.part.split("."):
            if not isinstance(part, dict) or key not in part:
                raise TemplateError(f"{where}: {path}: parts.yaml has no part {value.part!r}")
            part = part[key]
        out = expand(part, "templates/parts.yaml", value.part, (*using, value.part))
        for dotted, v in value.overrides.items():
            node, key = _locate(out, dotted, where, path)
            node[key] = expand(v, where, _path(path, dotted), using)
        for dotted in value.omit:
            node, key = _locate(out, dotted, where, path)
            if key not in node:
                raise TemplateError(f"{where}: {path}: omit {dotted!r}: the part has no such key")
            del node[key]
        return out
    if isinstance(value, dict):
        return type(value)((k, expand(v, where, _path(path, k), using)) for k, v in value.items())
    if isinstance(value, list):
        return type(value)(expand(v, where, _path(path, i), using) for i, v in enumerate(value))
    return value


def finish(value: Any, h: Horizon, where: str, path: str) -> Any:
    """``value`` with every horizon-dependent tag computed; refuses a value left open."""
    if value is None:
        raise TemplateError(
            f"{where}: {path} has no value: the part it comes from leaves it (~) to each "
            "!use, so set it there"
        )
    if isinstance(value, Deferred):
        fn = DEFERRED.get(value.tag)
        if fn is None:
            raise TemplateError(
                f"{where}: {path}: unknown tag !{value.tag} (known: !use, "
                + ", ".join(f"!{t}" for t in DEFERRED)
                + ")"
            )
        try:
            if isinstance(value.args, dict):
                check_parameters(fn, value.args, f"{where}: {path}: !{value.tag}")
                return fn(h, **value.args)
            return fn(h, value.args)
        except ValueError as exc:
            raise TemplateError(f"{where}: {path}: !{value.tag} {value.args!r}: {exc}") from None
    if isinstance(value, dict):
        return type(value)((k, finish(v, h, where, _path(path, k))) for k, v in value.items())
    if isinstance(value, list):
        return type(value)(finish(v, h, where, _path(path, i)) for i, v in enumerate(value))
    return value


def referenced_columns(value: Any, path: str, found: dict[str, str]) -> dict[str, str]:
    """Every series column the instance names, with the key path of its first mention."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k in COLUMN_KEYS and isinstance(v, str):
                found.setdefault(v, _path(path, k))
            referenced_columns(v, _path(path, k), found)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            referenced_columns(v, _path(path, i), found)
    return found


def build(name: str) -> tuple[dict, pd.DataFrame, str]:
    """The instance, its series and its header comment from ``templates/<name>.yaml``."""
    where = f"templates/{name}.yaml"
    template = read_template(f"{name}.yaml")
    if not isinstance(template, dict) or not {"header", "instance"} <= set(template):
        raise TemplateError(f"{where} needs the keys header and instance")
    if not isinstance(template["header"], str) or not isinstance(template["instance"], dict):
        raise TemplateError(f"{where}: header must be text and instance a mapping")
    if set(template) - TEMPLATE_KEYS:
        raise TemplateError(
            f"{where}: unknown key {sorted(set(template) - TEMPLATE_KEYS)[0]!r} (known: "
            f"{', '.join(sorted(TEMPLATE_KEYS))})"
        )
    if "name" in template["instance"]:
        raise TemplateError(f"{where}: instance.name: leave it out, the file name gives it")
    inst = expand(template["instance"], where, "instance")
    h = Horizon.of(inst.get("horizon"), where)
    inst = {"name": name, **finish(inst, h, where, "instance")}
    return inst, instance_series(inst, template, h, where), template["header"]


def instance_series(inst: dict, template: dict, h: Horizon, where: str) -> pd.DataFrame:
    """The columns ``inst`` names, columns.yaml's first and then the template's own, in the
    order they are defined, over the hours of the horizon."""
    catalogue = read_template("columns.yaml")
    own = template.get("columns", {})
    for name in own:
        if name in catalogue["columns"]:
            raise TemplateError(
                f"{where}: columns.{name} is defined in columns.yaml already; pick another name"
            )
    definitions = {**catalogue["columns"], **own}
    used = referenced_columns(inst, "instance", {})
    for name, path in used.items():
        if name not in definitions:
            raise TemplateError(
                f"{where}: {path}: column {name!r} is defined neither in columns.yaml nor "
                "under columns: in this template"
            )
    for name in own:
        if name not in used:
            raise TemplateError(
                f"{where}: columns.{name} is defined but the instance never refers to it"
            )
    own_calendar = template.get("calendar", {})
    calendar = {
        **catalogue["calendar"],
        **own_calendar,
        "source_years": {
            **catalogue["calendar"]["source_years"],
            **own_calendar.get("source_years", {}),
        },
    }
    table = series_table(catalogue, calendar)
    start, end = h.hours()
    if start < table.index[0] or end > table.index[-1] + pd.Timedelta(hours=1):
        raise TemplateError(
            f"{where}: instance.horizon runs {start:%Y-%m-%d} .. {end:%Y-%m-%d}, outside the "
            f"series calendar {table.index[0]:%Y-%m-%d} .. {calendar['end']} (extend it with "
            "calendar: in the template)"
        )
    series = pd.DataFrame(index=table.index)
    for name, definition in definitions.items():
        if name in used:
            file = where if name in own else "templates/columns.yaml"
            series[name] = table.column(name, definition, f"{file}: columns.{name}")
    return series[(series.index >= start) & (series.index < end)]


# --------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(
    Flow, lambda d, v: d.represent_mapping("tag:yaml.org,2002:map", v.items(), flow_style=True)
)
_Dumper.add_representer(
    FlowList, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True)
)


def _float(dumper: yaml.SafeDumper, v: float) -> yaml.Node:
    """Whole numbers without '.0' (1.2e8 -> 120000000), others as Python's shortest repr."""
    if np.isfinite(v) and float(v).is_integer() and abs(v) < 1e15:
        return dumper.represent_int(int(v))
    return dumper.represent_float(v)


_Dumper.add_representer(float, _float)


def write_instance(folder: Path, inst: dict, series: pd.DataFrame, header: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    text = yaml.dump(inst, Dumper=_Dumper, sort_keys=False, width=150, allow_unicode=False)
    lines = "".join(f"# {line}\n" if line else "#\n" for line in header.strip().splitlines())
    (folder / "instance.yaml").write_text(
        f"# Generated by instances/make_instances.py (seed {SEED}). Do not edit by hand:\n"
        f"# change the script and re-run `python instances/make_instances.py`.\n#\n{lines}\n{text}"
    )
    out = series.copy()
    for c in out.columns:
        if out[c].dtype.kind == "f":  # integer columns (cp_flag) stay as they are
            out[c] = out[c].round(4) + 0.0  # + 0.0 turns -0.0 into 0.0
    out.insert(0, "timestamp", out.index.strftime("%Y-%m-%dT%H:%M:%SZ"))
    out.to_csv(folder / "series.csv", index=False, lineterminator="\n")


def main(names: list[str]) -> int:
    """Build the named instances (default: every template), then write them all."""
    every = sorted(p.stem for p in TEMPLATES.glob("*.yaml") if p.name not in LIBRARIES)
    try:
        for name in names:
            if name not in every:
                raise TemplateError(
                    f"there is no template templates/{name}.yaml (templates: {', '.join(every)})"
                )
        built = {name: build(name) for name in names or every}
    except TemplateError as exc:
        print(f"make_instances: {exc}", file=sys.stderr)
        return 2
    for name, (inst, series, header) in built.items():
        write_instance(HERE / name, inst, series, header)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
