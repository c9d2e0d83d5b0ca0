#!/usr/bin/env python
"""Generate the example instances of Hashpivot (deterministic, seeded).

    python instances/make_instances.py

writes, next to this script:

* ``quickstart/``    1 site, January 2027 (1 monthly period, 744 hourly steps)
* ``permian-1y/``    1 West-Texas site, 2027 (4 quarters, 8760 hourly steps), every spec element
* ``portfolio-3y/``  3 sites, 2027-2029 (12 quarters, 26 304 hours, representative days)

each as ``instance.yaml`` + ``series.csv``. Every series column is declared as data in
``templates/columns.yaml`` and built by one of the shared builders below (``BUILDERS``).
Grid prices and RRS prices are real ERCOT data read from ``data/ercot/`` (see
``data/ercot/README.md``); everything else that varies in time (hashprice, GPU spot prices,
temperatures, solar profiles, 4CP flags) is derived or synthesised here with a fixed seed.
``instances/README.md`` documents every assumption and its public source. Running the script
twice gives byte-identical files.
"""

from __future__ import annotations

import datetime as dt
import functools
import inspect
from pathlib import Path
from typing import Any

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


def read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise TemplateError(f"{path.relative_to(HERE)}: cannot be read as YAML: {exc}") from None


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
                f"columns.yaml: calendar.source_years has no historical year for {year}, "
                "which the calendar covers"
            )
        if source not in self.price_sources:
            raise TemplateError(
                f"columns.yaml: price_sources has no price {source!r} "
                f"(known: {', '.join(self.price_sources)})"
            )
        from_year = self.source_years[year]
        entry = self.price_sources[source].get(from_year)
        if entry is None:
            raise TemplateError(
                f"columns.yaml: price_sources.{source} names no column for {from_year}, "
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
            accepted = list(inspect.signature(builder).parameters.values())[1:]
            unknown = sorted(set(params) - {p.name for p in accepted})
            missing = [p.name for p in accepted if p.default is p.empty and p.name not in params]
            if unknown or missing:
                raise TemplateError(
                    f"{where}: builder {builder.__name__} "
                    + (f"does not take {', '.join(unknown)}" if unknown else "")
                    + (" and " if unknown and missing else "")
                    + (f"needs {', '.join(missing)}" if missing else "")
                )
            self._built[key] = builder(self, **params)
        return self._built[key]


def real_price(table: SeriesTable, source: str, scale: float = 1.0, shift: float = 0.0):
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
            f"columns.yaml: price {source!r} has no real value for {np.isnan(values).sum()} "
            "hours of the calendar"
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
            f"columns.yaml: a daily_price (stream {stream}) takes exactly one of "
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


def master_series() -> pd.DataFrame:
    """Every column of columns.yaml, hourly over its calendar (instances take slices)."""
    catalogue = read_yaml(TEMPLATES / "columns.yaml")
    table = SeriesTable(catalogue, catalogue["calendar"])
    df = pd.DataFrame(index=table.index)
    for name, definition in catalogue["columns"].items():
        df[name] = table.column(name, definition, f"columns.yaml: columns.{name}")
    return df


# --------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------


class Flow(dict):
    """A mapping written in YAML flow style: {a: 1, b: 2}."""


class FlowList(list):
    """A list written in YAML flow style: [1, 2, 3]."""


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


def col(name: str, scale: float | None = None) -> Flow:
    return Flow(column=name) if scale is None else Flow(column=name, scale=scale)


def per_period(start: float, factor: float, n: int, digits: int = -3) -> FlowList:
    """start * factor**p, rounded (to $1000 by default)."""
    return FlowList(float(round(start * factor**p, digits)) for p in range(n))


DISCOUNT_RATE = 0.10


def salvage(market0: float, factor: float, n: int, period_years: float = 0.25) -> FlowList:
    """Per-period ASIC salvage, net of the value the machine would still have at the end.

    ``market_p = market0 * factor**p`` is an indicative used-machine price when selling at
    the start of period p. The formulation gives an ASIC kept to the horizon end no
    residual value, so offering the full market price would make "sell everything just
    before the end" optimal. The salvage offered is therefore the market price minus the
    discounted market price at the horizon end (what keeping the machine would still be
    worth there): selling then beats keeping exactly when the machine's margin over the
    rest of the horizon is below the fall in its resale price.
    """
    market = [market0 * factor**p for p in range(n + 1)]
    return FlowList(
        float(round(market[p] - (1 + DISCOUNT_RATE) ** -((n - p) * period_years) * market[n], 0))
        for p in range(n)
    )


def write_instance(name: str, inst: dict, series: pd.DataFrame, header: str) -> None:
    folder = HERE / name
    folder.mkdir(parents=True, exist_ok=True)
    text = yaml.dump(inst, Dumper=_Dumper, sort_keys=False, width=150, allow_unicode=False)
    lines = "".join(f"# {line}\n" if line else "#\n" for line in header.strip().splitlines())
    (folder / "instance.yaml").write_text(
        f"# Generated by instances/make_instances.py (seed {SEED}). Do not edit by hand:\n"
        f"# change the script and re-run `python instances/make_instances.py`.\n#\n{lines}\n{text}"
    )
    out = series.copy()
    for c in out.columns:
        if c != "cp_flag":
            out[c] = out[c].round(4) + 0.0  # + 0.0 turns -0.0 into 0.0
    out.insert(0, "timestamp", out.index.strftime("%Y-%m-%dT%H:%M:%SZ"))
    out.to_csv(folder / "series.csv", index=False, lineterminator="\n")


# --------------------------------------------------------------------------------------
# Shared building blocks
# --------------------------------------------------------------------------------------

S19XP = {"hashrate_th": 141, "power_kw": 3.01}  # Antminer S19 XP: 141 TH/s, 3010 W (21.3 J/TH)
S21 = {"hashrate_th": 200, "power_kw": 3.5}  # Antminer S21: 200 TH/s, 3500 W (17.5 J/TH)
S21_HYD = {"hashrate_th": 335, "power_kw": 5.36}  # Antminer S21 Hydro: 335 TH/s, 5360 W (16 J/TH)
S19JPRO = {"hashrate_th": 104, "power_kw": 3.068}  # Antminer S19j Pro: 104 TH/s, 3068 W (29.5 J/TH)

AIR = {
    "pue": 1.05,
    "pue_per_c": 0.003,
    "pue_ref_c": 25,
    "rated_ambient_c": 35,
    "derate_per_c": 0.015,
    "min_factor": 0.7,
}
LIQUID = {
    "pue": 1.10,
    "pue_per_c": 0.0015,
    "pue_ref_c": 25,
    "rated_ambient_c": 40,
    "derate_per_c": 0.01,
    "min_factor": 0.8,
}


def h100(n: int, lead: int, max_units: int) -> dict:
    """HGX H100 8-GPU air-cooled server: ~10.2 kW max (DGX H100 spec), ~$250k in 2027."""
    return {
        "id": "h100-hgx",
        "gpus_per_unit": 8,
        "it_kw": 10.2,
        "idle_fraction": 0.3,
        "cooling": "air",
        "capex_usd": per_period(250_000, 0.955, n),
        "lead_periods": lead,
        "life_years": 5,
        "max_units_per_period": max_units,
        "opex_usd_per_unit_year": 15_000,
        "spot_price_usd_per_gpu_hour": col("h100_spot_usd_per_gpu_hour"),
        "spot_max_utilization": 0.7,
    }


def gb200(n: int, lead: int, max_units: int) -> dict:
    """GB200 NVL72 liquid-cooled rack: 72 GPUs, ~125 kW, ~$3.3M in 2027."""
    return {
        "id": "gb200-nvl72",
        "gpus_per_unit": 72,
        "it_kw": 125.0,
        "idle_fraction": 0.25,
        "cooling": "liquid",
        "capex_usd": per_period(3_300_000, 0.965, n, -4),
        "lead_periods": lead,
        "life_years": 5,
        "max_units_per_period": max_units,
        "opex_usd_per_unit_year": 170_000,
        "spot_price_usd_per_gpu_hour": col("gb200_spot_usd_per_gpu_hour"),
        "spot_max_utilization": 0.8,
    }


def b200(n: int, lead: int, max_units: int) -> dict:
    """HGX B200 8-GPU air-cooled server: ~14.3 kW max (DGX B200 spec), ~$420k in 2027."""
    return {
        "id": "b200-hgx",
        "gpus_per_unit": 8,
        "it_kw": 14.3,
        "idle_fraction": 0.3,
        "cooling": "air",
        "capex_usd": per_period(420_000, 0.96, n),
        "lead_periods": lead,
        "life_years": 5,
        "max_units_per_period": max_units,
        "opex_usd_per_unit_year": 22_000,
        "spot_price_usd_per_gpu_hour": col("b200_spot_usd_per_gpu_hour"),
        "spot_max_utilization": 0.75,
    }


def permian_site(n: int, price_col: str) -> dict:
    """The West-Texas site of permian-1y (and of portfolio-3y)."""
    return {
        "id": "permian",
        "ambient_c": col("permian_temp_c"),
        "aux_load_mw": 2.0,
        "fixed_opex_usd_per_year": 6.0e6,
        "grid": {
            "import_limit_mw": 190.0,
            "export_limit_mw": 40.0,
            "price_usd_per_mwh": col(price_col),
            "import_adder_usd_per_mwh": 3.5,
            "export_fee_usd_per_mwh": 1.5,
            "demand_charge_usd_per_kw_month": 1.8,
            "coincident_peak": {
                "flag_column": "cp_flag",
                "charge_usd_per_kw_year": 55.0,
                "intervals_per_year": 4,
            },
            "ancillary": {"price_usd_per_mw_h": col("rrs_usd_per_mw_h"), "max_mw": 50.0},
            "upgrades": [
                Flow(
                    id="sub-40",
                    add_mw=40.0,
                    capex_usd=1.2e7,
                    lead_periods=2,
                    max_count=1,
                    life_years=30,
                )
            ],
        },
        "cooling": {
            "air": dict(capacity_mw=132.0, **AIR),
            "liquid": dict(capacity_mw=56.0, **LIQUID),
            "upgrades": [
                Flow(
                    id="dlc-20",
                    type="liquid",
                    add_mw=20.0,
                    capex_usd=3.0e7,
                    lead_periods=1,
                    max_count=2,
                    life_years=15,
                )
            ],
        },
        "halls": {
            "mining_mw": 200.0,
            "ai_mw": 10.0,
            "conversion": Flow(
                block_mw=10.0,
                capex_usd_per_block=2.5e7,
                lead_periods=1,
                max_blocks=4,
                life_years=20,
            ),
        },
        "fleet": [
            Flow(
                id="s19xp",
                units=40_000,
                **S19XP,
                cooling="air",
                opex_usd_per_mwh=3.0,
                salvage_usd_per_unit=salvage(420, 0.93, n),
            ),
            Flow(
                id="s21-hydro",
                units=10_000,
                **S21_HYD,
                cooling="liquid",
                opex_usd_per_mwh=3.5,
                salvage_usd_per_unit=salvage(2_350, 0.955, n),
            ),
        ],
        "gpus": [Flow(product="h100-hgx", units=200)],
    }


# --------------------------------------------------------------------------------------
# The three instances
# --------------------------------------------------------------------------------------


def quickstart(master: pd.DataFrame) -> None:
    series = master.loc[
        "2027-01-01":"2027-01-31",
        ["lz_west_usd_per_mwh", "hashprice_usd_per_ph_day", "h100_spot_usd_per_gpu_hour"],
    ]
    inst = {
        "name": "quickstart",
        "description": (
            "A 45 MW West-Texas Bitcoin miner in January 2027 (real ERCOT LZ_WEST prices, mapped "
            "from January 2025). It runs 14 000 S19 XP-class ASICs and has a 3 MW hall already "
            "converted for AI. Should it fill that hall with H100 servers and rent them out, sign "
            "a lab's one-month contract, and when should the ASICs stop hashing? The GPUs share "
            "the 45 MW interconnect with the miners, so every GPU displaces some hashing."
        ),
        "horizon": {
            "start": dt.date(2027, 1, 1),
            "period": "month",
            "periods": 1,
            "discount_rate": DISCOUNT_RATE,
        },
        "series": {"file": "series.csv"},
        "market": {"hashprice_usd_per_ph_day": col("hashprice_usd_per_ph_day"), "pool_fee": 0.02},
        "sites": [
            {
                "id": "midland",
                "aux_load_mw": 0.5,
                "grid": {
                    "import_limit_mw": 45.0,
                    "price_usd_per_mwh": col("lz_west_usd_per_mwh"),
                    "import_adder_usd_per_mwh": 3.5,
                },
                "cooling": {"air": Flow(capacity_mw=48.0, pue=1.04)},
                "halls": {"mining_mw": 45.0, "ai_mw": 3.0},
                # No salvage: over one month an ASIC's resale price barely moves, so the net
                # salvage of salvage() would be ~$3; omitted (default 0) to keep the story clean.
                "fleet": [
                    Flow(id="s19xp", units=14_000, **S19XP, cooling="air", opex_usd_per_mwh=3.0)
                ],
            }
        ],
        "gpu_products": [
            {
                "id": "h100-hgx",
                "gpus_per_unit": 8,
                "it_kw": 10.2,
                "idle_fraction": 0.3,
                "cooling": "air",
                "capex_usd": 250_000.0,
                "lead_periods": 0,
                "life_years": 5,
                "max_units_per_period": 400,
                "opex_usd_per_unit_year": 15_000.0,
                "spot_price_usd_per_gpu_hour": col("h100_spot_usd_per_gpu_hour"),
                "spot_max_utilization": 0.7,
            }
        ],
        "contracts": [
            Flow(
                id="lab-a",
                site="midland",
                product="h100-hgx",
                units=150,
                price_usd_per_gpu_hour=2.0,
                start_period=0,
                end_period=1,
                optional=True,
            ),
        ],
    }
    write_instance(
        "quickstart",
        inst,
        series,
        """
quickstart: 1 site, 1 monthly period (January 2027), 744 hourly steps.
Real data: lz_west_usd_per_mwh = ERCOT LZ_WEST real-time price of January 2025,
mapped onto 2027 by whole weeks (same weekday). Synthetic: hashprice, H100 spot price.
See instances/README.md.""",
    )


def permian(master: pd.DataFrame) -> None:
    n = 4
    series = master.loc[
        "2027",
        [
            "lz_west_usd_per_mwh",
            "rrs_usd_per_mw_h",
            "cp_flag",
            "hashprice_usd_per_ph_day",
            "h100_spot_usd_per_gpu_hour",
            "gb200_spot_usd_per_gpu_hour",
            "permian_temp_c",
            "permian_solar_cf",
        ],
    ]
    inst = {
        "name": "permian-1y",
        "description": (
            "One West-Texas (Permian basin, LZ_WEST) site through 2027 in quarters, hourly. 174 MW"
            " of ASICs (S19 XP air, S21 Hydro liquid) in a 200 MW mining hall, a 10 MW AI hall "
            "with 200 H100 servers serving a mandatory lab contract and a colocation tenant. "
            "Options: buy H100 servers and GB200 NVL72 racks, convert mining blocks to AI, add a "
            "substation and direct-liquid cooling, take an optional GPU contract and a liquid "
            "colocation lease, sign onsite solar / flexible gas / virtual PPAs; dispatch against "
            "real ERCOT prices with 4CP, RRS, hot-summer cooling derates. Uses every element of "
            "the instance format."
        ),
        "horizon": {
            "start": dt.date(2027, 1, 1),
            "period": "quarter",
            "periods": n,
            "discount_rate": DISCOUNT_RATE,
            "resolution": {"mode": "hourly"},
        },
        "series": {"file": "series.csv"},
        "market": {"hashprice_usd_per_ph_day": col("hashprice_usd_per_ph_day"), "pool_fee": 0.02},
        "capex_budget_usd": FlowList([1.2e8, 1.0e8, 8.0e7, 5.0e7]),
        "sites": [permian_site(n, "lz_west_usd_per_mwh")],
        "gpu_products": [h100(n, lead=1, max_units=400), gb200(n, lead=2, max_units=16)],
        "contracts": [
            Flow(
                id="lab-a",
                site="permian",
                product="h100-hgx",
                units=120,
                price_usd_per_gpu_hour=1.95,
                start_period=0,
                end_period=4,
                optional=False,
            ),
            Flow(
                id="lab-b",
                site="permian",
                product="h100-hgx",
                units=150,
                price_usd_per_gpu_hour=2.1,
                start_period=1,
                end_period=4,
                optional=True,
            ),
        ],
        "leases": [
            Flow(
                id="colo-a",
                site="permian",
                it_mw=6.0,
                cooling="air",
                price_usd_per_kw_month=115.0,
                energy_rate_usd_per_mwh=45.0,
                start_period=0,
                end_period=4,
                optional=False,
            ),
            Flow(
                id="tenant-b",
                site="permian",
                it_mw=10.0,
                cooling="liquid",
                price_usd_per_kw_month=145.0,
                energy_rate_usd_per_mwh=0.0,
                start_period=2,
                end_period=4,
                optional=True,
            ),
        ],
        "ppas": [
            {
                "id": "wind-firm",
                "site": "permian",
                "kind": "physical",
                "baseload_mw": 40.0,
                "strike_usd_per_mwh": 34.0,
                "take_or_pay": True,
                "start_period": 0,
                "end_period": 4,
                "optional": False,
            },
            {
                "id": "solar-onsite",
                "site": "permian",
                "kind": "onsite",
                "profile_column": "permian_solar_cf",
                "capacity_mw": 60.0,
                "strike_usd_per_mwh": 24.0,
                "take_or_pay": True,
                "curtailable": True,
                "start_period": 1,
                "end_period": 4,
                "optional": True,
            },
            {
                "id": "gas-flex",
                "site": "permian",
                "kind": "physical",
                "baseload_mw": 25.0,
                "strike_usd_per_mwh": 45.0,
                "take_or_pay": False,
                "min_take_fraction": 0.5,
                "start_period": 2,
                "end_period": 4,
                "optional": True,
            },
            # A risk-neutral NPV values a contract for differences by its expected settlement
            # only: at $44 (above the mapped 2027 LZ_WEST mean of ~$42) the hedge is declined.
            {
                "id": "vppa-hedge",
                "site": "permian",
                "kind": "virtual",
                "baseload_mw": 30.0,
                "strike_usd_per_mwh": 44.0,
                "start_period": 0,
                "end_period": 4,
                "optional": True,
            },
        ],
    }
    write_instance(
        "permian-1y",
        inst,
        series,
        """
permian-1y: 1 site, 4 quarterly periods (2027), 8760 hourly steps; every element of the spec.
Real data: lz_west_usd_per_mwh (ERCOT LZ_WEST RT), rrs_usd_per_mw_h (ERCOT DAM RRS MCPC), both
from 2025 mapped onto 2027 by whole weeks; cp_flag derived from real HB_HUBAVG prices.
Synthetic: hashprice, GPU spot prices, temperature, solar profile. See instances/README.md.""",
    )


def portfolio(master: pd.DataFrame) -> None:
    n = 12
    sites = [
        permian_site(n, "lz_west_usd_per_mwh"),
        {
            "id": "rockdale",
            "ambient_c": col("rockdale_temp_c"),
            "aux_load_mw": 3.0,
            "fixed_opex_usd_per_year": 9.0e6,
            "grid": {
                "import_limit_mw": 250.0,
                "export_limit_mw": 60.0,
                "price_usd_per_mwh": col("rockdale_usd_per_mwh"),
                "import_adder_usd_per_mwh": 3.0,
                "export_fee_usd_per_mwh": 1.0,
                "demand_charge_usd_per_kw_month": 1.5,
                "coincident_peak": {
                    "flag_column": "cp_flag",
                    "charge_usd_per_kw_year": 55.0,
                    "intervals_per_year": 4,
                },
                "ancillary": {"price_usd_per_mw_h": col("rrs_usd_per_mw_h"), "max_mw": 100.0},
                "upgrades": [
                    Flow(
                        id="sub-100",
                        add_mw=100.0,
                        capex_usd=3.0e7,
                        lead_periods=4,
                        max_count=1,
                        life_years=30,
                    )
                ],
            },
            "cooling": {
                "air": dict(capacity_mw=245.0, **AIR),
                "upgrades": [
                    Flow(
                        id="dlc-40",
                        type="liquid",
                        add_mw=40.0,
                        capex_usd=5.2e7,
                        lead_periods=2,
                        max_count=3,
                        life_years=15,
                    ),
                ],
            },
            "halls": {
                "mining_mw": 250.0,
                "ai_mw": 0.0,
                "conversion": Flow(
                    block_mw=20.0,
                    capex_usd_per_block=4.4e7,
                    lead_periods=2,
                    max_blocks=6,
                    life_years=20,
                ),
            },
            "fleet": [
                Flow(
                    id="s19jpro",
                    units=30_000,
                    **S19JPRO,
                    cooling="air",
                    opex_usd_per_mwh=3.0,
                    salvage_usd_per_unit=salvage(160, 0.92, n),
                ),
                Flow(
                    id="s21",
                    units=40_000,
                    **S21,
                    cooling="air",
                    opex_usd_per_mwh=3.0,
                    salvage_usd_per_unit=salvage(1_300, 0.955, n),
                ),
            ],
        },
        {
            "id": "panhandle",
            "ambient_c": col("panhandle_temp_c"),
            "aux_load_mw": 1.0,
            "fixed_opex_usd_per_year": 3.0e6,
            "grid": {
                "import_limit_mw": 80.0,
                "export_limit_mw": 0.0,
                "price_usd_per_mwh": col("panhandle_usd_per_mwh"),
                "import_adder_usd_per_mwh": 4.0,
                "demand_charge_usd_per_kw_month": 2.0,
                "coincident_peak": {
                    "flag_column": "cp_flag",
                    "charge_usd_per_kw_year": 55.0,
                    "intervals_per_year": 4,
                },
                "ancillary": {"price_usd_per_mw_h": col("rrs_usd_per_mw_h"), "max_mw": 30.0},
            },
            "cooling": {
                "air": dict(capacity_mw=80.0, **AIR),
                "upgrades": [
                    Flow(
                        id="air-10",
                        type="air",
                        add_mw=10.0,
                        capex_usd=8.0e6,
                        lead_periods=1,
                        max_count=2,
                        life_years=15,
                    ),
                ],
            },
            "halls": {
                "mining_mw": 80.0,
                "ai_mw": 0.0,
                "conversion": Flow(
                    block_mw=10.0,
                    capex_usd_per_block=2.4e7,
                    lead_periods=1,
                    max_blocks=3,
                    life_years=20,
                ),
            },
            "fleet": [
                Flow(
                    id="s19xp",
                    units=15_000,
                    **S19XP,
                    cooling="air",
                    opex_usd_per_mwh=3.0,
                    salvage_usd_per_unit=salvage(420, 0.93, n),
                ),
                Flow(
                    id="s21",
                    units=8_000,
                    **S21,
                    cooling="air",
                    opex_usd_per_mwh=3.0,
                    salvage_usd_per_unit=salvage(1_300, 0.955, n),
                ),
            ],
        },
    ]
    series = master[
        [
            "lz_west_usd_per_mwh",
            "rockdale_usd_per_mwh",
            "panhandle_usd_per_mwh",
            "rrs_usd_per_mw_h",
            "cp_flag",
            "hashprice_usd_per_ph_day",
            "h100_spot_usd_per_gpu_hour",
            "b200_spot_usd_per_gpu_hour",
            "gb200_spot_usd_per_gpu_hour",
            "permian_temp_c",
            "rockdale_temp_c",
            "panhandle_temp_c",
            "permian_solar_cf",
            "rockdale_solar_cf",
        ]
    ]
    inst = {
        "name": "portfolio-3y",
        "description": (
            "Three Texas mining sites (Permian/LZ_WEST, Rockdale-like central Texas, "
            "Panhandle/West hub) over 2027-2029 in quarters, through the April-2028 halving. "
            "Several GPU generations (H100, B200, GB200 NVL72), firm contracts, colocation leases "
            "and PPAs compete for a capped capex budget. Representative days (8 per quarter plus "
            "peak days)."
        ),
        "horizon": {
            "start": dt.date(2027, 1, 1),
            "period": "quarter",
            "periods": n,
            "discount_rate": DISCOUNT_RATE,
            "resolution": {"mode": "representative", "days_per_period": 8, "keep_peak_days": True},
        },
        "series": {"file": "series.csv"},
        "market": {"hashprice_usd_per_ph_day": col("hashprice_usd_per_ph_day"), "pool_fee": 0.02},
        "capex_budget_usd": FlowList([2.0e8] * 4 + [1.6e8] * 4 + [1.2e8] * 4),
        "sites": sites,
        "gpu_products": [
            h100(n, lead=1, max_units=600),
            b200(n, lead=2, max_units=400),
            gb200(n, lead=2, max_units=24),
        ],
        "contracts": [
            Flow(
                id="lab-a",
                site="permian",
                product="h100-hgx",
                units=120,
                price_usd_per_gpu_hour=1.95,
                start_period=0,
                end_period=8,
                optional=False,
            ),
            Flow(
                id="lab-b",
                site="permian",
                product="h100-hgx",
                units=150,
                price_usd_per_gpu_hour=2.1,
                start_period=1,
                end_period=8,
                optional=True,
            ),
            Flow(
                id="lab-c",
                site="rockdale",
                product="gb200-nvl72",
                units=24,
                price_usd_per_gpu_hour=4.6,
                start_period=4,
                end_period=12,
                optional=True,
            ),
            Flow(
                id="lab-d",
                site="panhandle",
                product="b200-hgx",
                units=150,
                price_usd_per_gpu_hour=3.1,
                start_period=3,
                end_period=11,
                optional=True,
            ),
        ],
        "leases": [
            Flow(
                id="colo-a",
                site="permian",
                it_mw=6.0,
                cooling="air",
                price_usd_per_kw_month=115.0,
                energy_rate_usd_per_mwh=45.0,
                start_period=0,
                end_period=12,
                optional=False,
            ),
            Flow(
                id="tenant-b",
                site="permian",
                it_mw=10.0,
                cooling="liquid",
                price_usd_per_kw_month=145.0,
                energy_rate_usd_per_mwh=0.0,
                start_period=2,
                end_period=12,
                optional=True,
            ),
            Flow(
                id="hyperscaler-c",
                site="rockdale",
                it_mw=40.0,
                cooling="liquid",
                price_usd_per_kw_month=155.0,
                energy_rate_usd_per_mwh=0.0,
                start_period=6,
                end_period=12,
                optional=True,
            ),
        ],
        "ppas": [
            {
                "id": "wind-firm",
                "site": "permian",
                "kind": "physical",
                "baseload_mw": 40.0,
                "strike_usd_per_mwh": 34.0,
                "take_or_pay": True,
                "start_period": 0,
                "end_period": 12,
                "optional": False,
            },
            {
                "id": "solar-onsite",
                "site": "permian",
                "kind": "onsite",
                "profile_column": "permian_solar_cf",
                "capacity_mw": 60.0,
                "strike_usd_per_mwh": 24.0,
                "take_or_pay": True,
                "curtailable": True,
                "start_period": 1,
                "end_period": 12,
                "optional": True,
            },
            {
                "id": "gas-flex",
                "site": "permian",
                "kind": "physical",
                "baseload_mw": 25.0,
                "strike_usd_per_mwh": 45.0,
                "take_or_pay": False,
                "min_take_fraction": 0.5,
                "start_period": 2,
                "end_period": 10,
                "optional": True,
            },
            {
                "id": "rockdale-solar",
                "site": "rockdale",
                "kind": "onsite",
                "profile_column": "rockdale_solar_cf",
                "capacity_mw": 80.0,
                "strike_usd_per_mwh": 28.0,
                "take_or_pay": True,
                "curtailable": False,
                "start_period": 4,
                "end_period": 12,
                "optional": True,
            },
            {
                "id": "vppa-panhandle",
                "site": "panhandle",
                "kind": "virtual",
                "baseload_mw": 30.0,
                "strike_usd_per_mwh": 30.0,
                "start_period": 0,
                "end_period": 12,
                "optional": True,
            },
        ],
    }
    write_instance(
        "portfolio-3y",
        inst,
        series,
        """
portfolio-3y: 3 sites, 12 quarterly periods (2027-2029), 26 304 hours, representative days
(8 per quarter + coincident-peak and price-peak days). Real data: ERCOT prices of 2025 / 2024 /
2023 mapped onto 2027 / 2028 / 2029 by whole weeks; see instances/README.md for the per-year
source of each price column. Synthetic: hashprice (with the April-2028 halving), GPU spot
prices, temperatures, solar profiles.""",
    )


def main() -> None:
    master = master_series()
    quickstart(master)
    permian(master)
    portfolio(master)


if __name__ == "__main__":
    main()
