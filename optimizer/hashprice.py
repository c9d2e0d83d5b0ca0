"""Hashprice from fundamentals: an hourly or per-period path in USD per PH/s per day.

    hashprice = (subsidy + fees) per block x 144 blocks/day x BTC price / hashrate in PH/s

The subsidy follows the block height: 50 BTC halved every 210,000 blocks, with blocks
projected at a fixed pace from an anchor block (default: the April 2024 halving,
block 840,000). Each hour takes the subsidy of the last block mined before the hour
ends, so the halving hour is the one holding the projected time of block 1,050,000.
See docs/hashprice.md for the anchor, the sources and how an instance uses the result.

``hashprice_path(...)`` is the library function; ``hashprice_command`` (mounted by the
CLI as ``hashpivot hashprice``) and ``app`` (``python -m optimizer.hashprice``) wrap it.
"""

from __future__ import annotations

import csv
import datetime as dt
import numbers
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import typer

__all__ = [
    "ANCHOR_HEIGHT",
    "ANCHOR_TIME",
    "Halving",
    "HashpricePath",
    "app",
    "hashprice_command",
    "hashprice_path",
    "hashrate_eh_s_from_difficulty",
    "subsidy_btc",
    "write_column",
]

# Block 840,000 (the fourth halving): header timestamp 2024-04-20 00:09:27 UTC. An
# exactly known block; pass a recent tip's height and time to project from today's pace.
ANCHOR_HEIGHT = 840_000
ANCHOR_TIME = "2024-04-20T00:09:27Z"
BLOCK_MINUTES = 10.0
HALVING_INTERVAL_BLOCKS = 210_000
INITIAL_SUBSIDY_SAT = 50 * 100_000_000
SAT_PER_BTC = 100_000_000
# Revenue per unit of hash uses the 600 s target, not the projected block pace: network
# hashrate figures are difficulty x 2^32 / 600, so the two must use the same interval.
BLOCKS_PER_DAY = 144
HOURS_PER_YEAR = 8766.0  # 365.25 days: growth rates are per Julian year
PERIOD_MONTHS = {"month": 1, "quarter": 3, "year": 12}
LATEST_END = pd.Timestamp("2200-01-01", tz="UTC")  # the instance format's last horizon end
COLUMN = "hashprice_usd_per_ph_day"
_HOUR_NS = 3_600_000_000_000

# a hashprice input: scalar, one value per period, one per hour (array or UTC-indexed
# Series) or a function of the hours returning one value per hour
Value = float | Sequence[float] | np.ndarray | pd.Series | Callable[[pd.DatetimeIndex], object]


@dataclass(frozen=True)
class Halving:
    height: int  # first block with the new subsidy
    block_time: pd.Timestamp  # projected time of that block (UTC)
    hour: pd.Timestamp  # start of the first hour with the new subsidy
    subsidy_before_btc: float
    subsidy_after_btc: float


@dataclass
class HashpricePath:
    """One hashprice path: hourly frame, per-period means and the halvings it crosses.

    ``frame`` is indexed by the hour starts (tz-aware UTC, named ``timestamp``) with
    columns block_height, subsidy_btc, fees_btc_per_block, btc_usd, hashrate_eh_s and
    hashprice_usd_per_ph_day.
    """

    frame: pd.DataFrame
    period: str
    period_starts: list[pd.Timestamp]  # P + 1 UTC timestamps, the last one the end
    per_period: list[float]  # mean of the hours of each period, USD/PH/day
    halvings: list[Halving]

    @property
    def hourly(self) -> pd.Series:
        """USD per PH/s per day, hour by hour."""
        return self.frame[COLUMN]

    def write_csv(self, path: str | os.PathLike, column: str = COLUMN) -> str:
        """Create ``path`` or add (replace) ``column`` in it; see ``write_column``."""
        return write_column(path, column, self.hourly)


def subsidy_btc(height: np.ndarray | int) -> np.ndarray:
    """Block subsidy in BTC at ``height``: 50 BTC shifted right once per 210,000 blocks.

    Integer satoshis as in Bitcoin Core's GetBlockSubsidy, so 1.5625 is exact and the
    subsidy reaches 0 at the 33rd halving.
    """
    h = np.asarray(height, dtype=np.int64)
    epoch = np.minimum(h // HALVING_INTERVAL_BLOCKS, 63)
    return np.right_shift(np.int64(INITIAL_SUBSIDY_SAT), epoch) / SAT_PER_BTC


def hashrate_eh_s_from_difficulty(difficulty: float) -> float:
    """Network hashrate (EH/s) implied by a difficulty: difficulty x 2^32 hashes per 600 s."""
    if not (isinstance(difficulty, numbers.Real) and np.isfinite(difficulty) and difficulty > 0):
        raise ValueError(f"difficulty: must be a number > 0, got {difficulty!r}")
    return float(difficulty) * 2.0**32 / 600.0 / 1e18


def _fmt(ts: pd.Timestamp) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def _utc(name: str, value: object) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: not a date/time, got {value!r}") from None
    if ts is pd.NaT:
        raise ValueError(f"{name}: not a date/time, got {value!r}")
    ts = ts.tz_localize("UTC") if ts.tz is None else ts.tz_convert("UTC")
    return ts.as_unit("ns")


def _start(start: object, period: str, periods: object) -> list[pd.Timestamp]:
    if period not in PERIOD_MONTHS:
        raise ValueError(f"period: must be one of month, quarter, year; got {period!r}")
    if isinstance(periods, bool) or not isinstance(periods, numbers.Integral) or periods < 1:
        raise ValueError(f"periods: must be a whole number >= 1, got {periods!r}")
    t0 = _utc("start", start)
    if t0 != t0.normalize():
        raise ValueError(f"start: must be a UTC midnight, got {_fmt(t0)}")
    day = t0.strftime("%Y-%m-%d")
    if t0.day != 1 or (t0.month - 1) % PERIOD_MONTHS[period]:
        first = {"month": "the 1st of a month", "quarter": "Jan 1, Apr 1, Jul 1 or Oct 1",
                 "year": "Jan 1"}[period]
        raise ValueError(f"start: a path in {period}s must start on {first} (the period "
                         f"boundaries of an instance horizon), got {day}")
    months = PERIOD_MONTHS[period] * int(periods)
    if (t0.year - LATEST_END.year) * 12 + t0.month - 1 + months > 0:
        raise ValueError(f"periods: {periods} {period}s from {day} end after "
                         f"{LATEST_END:%Y-%m-%d}, the latest horizon end")
    step = PERIOD_MONTHS[period]
    return [(t0 + pd.DateOffset(months=k * step)).as_unit("ns") for k in range(int(periods) + 1)]


def _as_hourly(name: str, value: Value, hours: pd.DatetimeIndex, period_of_hour: np.ndarray,
               periods: int, growth: float, growth_name: str) -> np.ndarray:
    """One float per hour from a scalar, a per-period list, an hourly array/Series or a
    callable; a growth rate applies to a scalar only (a path carries its own growth)."""
    n = len(hours)
    scalar = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if isinstance(value, bool) or isinstance(value, str | bytes):
        raise ValueError(f"{name}: expected a number, a list or a series, got {value!r}")
    if scalar:
        arr = np.full(n, float(value))
    elif isinstance(value, pd.Series):
        index = value.index
        if not isinstance(index, pd.DatetimeIndex) or index.tz is None:
            raise ValueError(f"{name}: a series needs a tz-aware UTC DatetimeIndex, got an index "
                             f"of {index.dtype}")
        if index.has_duplicates:
            raise ValueError(f"{name}: the series has duplicate timestamps, e.g. "
                             f"{_fmt(index[index.duplicated()][0])}")
        index = index.tz_convert("UTC").as_unit("ns")
        missing = hours.difference(index)
        if len(missing):
            raise ValueError(f"{name}: the series has no value for {_fmt(missing[0])} "
                             f"({len(missing)} hours of the path missing)")
        try:
            arr = pd.Series(value.to_numpy(dtype=float), index=index).reindex(hours).to_numpy()
        except (TypeError, ValueError):
            raise ValueError(f"{name}: the series is not numeric ({value.dtype})") from None
    else:
        if callable(value):
            try:
                value = value(hours)
            except Exception as exc:  # noqa: BLE001 - the user's function: name it, not trace it
                raise ValueError(f"{name}: the function failed on the path hours: "
                                 f"{type(exc).__name__}: {exc}") from None
        try:
            seq = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            raise ValueError(f"{name}: expected numbers, got {value!r:.80}") from None
        if seq.ndim != 1 or len(seq) not in (periods, n):
            shape = seq.shape if seq.ndim != 1 else f"{len(seq)} values"
            raise ValueError(f"{name}: expected one value per period ({periods}) or per hour "
                             f"({n}), got {shape}")
        arr = seq[period_of_hour] if len(seq) == periods else seq
    if not (isinstance(growth, numbers.Real) and np.isfinite(growth) and growth > -1):
        raise ValueError(f"{growth_name}: must be a number > -1 (a yearly fraction: 0.3 = "
                         f"+30 % a year), got {growth!r}")
    if growth and not scalar:
        raise ValueError(f"{growth_name}: must be 0 when {name} is a path (the path carries its "
                         f"own growth), got {growth!r}")
    if growth:
        years = (hours.asi8 - hours.asi8[0]) / _HOUR_NS / HOURS_PER_YEAR
        arr = arr * (1.0 + float(growth)) ** years
    return arr


def _check(name: str, arr: np.ndarray, hours: pd.DatetimeIndex, rule: str, scalar: bool) -> None:
    ok = np.isfinite(arr) & ((arr > 0) if rule == "> 0" else (arr >= 0))
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        where = "" if scalar else f" at {_fmt(hours[i])}"
        raise ValueError(f"{name}: must be a finite number {rule}, got {float(arr[i])!r}{where}")


def hashprice_path(
    start: str | dt.date | pd.Timestamp,
    period: str,
    periods: int,
    *,
    btc_usd: Value,
    hashrate_eh_s: Value,
    fees_btc_per_block: Value,
    btc_growth_per_year: float = 0.0,
    hashrate_growth_per_year: float = 0.0,
    anchor_height: int = ANCHOR_HEIGHT,
    anchor_time: str | pd.Timestamp = ANCHOR_TIME,
    block_minutes: float = BLOCK_MINUTES,
) -> HashpricePath:
    """Hourly hashprice (USD per PH/s per day) over ``periods`` periods from ``start``.

    ``btc_usd``, ``hashrate_eh_s`` and ``fees_btc_per_block`` each take a number, one
    value per period, one per hour (array, or Series on UTC hours) or a function of the
    hours. A number grows by ``*_growth_per_year`` (0.3 = +30 % a year, compounded
    from ``start``). Heights advance one block per ``block_minutes`` from block
    ``anchor_height`` at ``anchor_time``. Raises ValueError naming the bad parameter and
    its value.
    """
    starts = _start(start, period, periods)
    if (isinstance(anchor_height, bool) or not isinstance(anchor_height, numbers.Integral)
            or anchor_height < 0):
        raise ValueError(f"anchor_height: must be a whole number >= 0, got {anchor_height!r}")
    anchor = _utc("anchor_time", anchor_time)
    if not (isinstance(block_minutes, numbers.Real) and np.isfinite(block_minutes)
            and block_minutes > 0):
        raise ValueError(f"block_minutes: must be a number > 0, got {block_minutes!r}")
    block_ns = round(float(block_minutes) * 60e9)

    hours = pd.date_range(starts[0], starts[-1], freq="h", inclusive="left", name="timestamp",
                          unit="ns")
    bounds = np.array([s.value for s in starts], dtype=np.int64)
    period_of_hour = np.searchsorted(bounds, hours.asi8, side="right") - 1
    btc = _as_hourly("btc_usd", btc_usd, hours, period_of_hour, periods, btc_growth_per_year,
                     "btc_growth_per_year")
    hashrate = _as_hourly("hashrate_eh_s", hashrate_eh_s, hours, period_of_hour, periods,
                          hashrate_growth_per_year, "hashrate_growth_per_year")
    fees = _as_hourly("fees_btc_per_block", fees_btc_per_block, hours, period_of_hour, periods,
                      0.0, "fees")
    for name, arr, rule, value in (("btc_usd", btc, "> 0", btc_usd),
                                   ("hashrate_eh_s", hashrate, "> 0", hashrate_eh_s),
                                   ("fees_btc_per_block", fees, ">= 0", fees_btc_per_block)):
        _check(name, arr, hours, rule, isinstance(value, numbers.Real))

    # the last block mined before the hour ends: block k of the anchor is mined at
    # anchor + k x interval, so k = ceil((hour end - anchor) / interval) - 1
    since_anchor_ns = hours.asi8 + _HOUR_NS - anchor.value
    height = anchor_height + (-(-since_anchor_ns // block_ns)) - 1
    if height[0] < 0:
        genesis = anchor - pd.Timedelta(anchor_height * block_ns, unit="ns")
        raise ValueError(f"start: {starts[0]:%Y-%m-%d} is before block 0, which the anchor "
                         f"(block {anchor_height} at {_fmt(anchor)}, {block_minutes:g}-minute "
                         f"blocks) puts at {_fmt(genesis)}")
    subsidy = subsidy_btc(height)
    hashprice = (subsidy + fees) * BLOCKS_PER_DAY * btc / (hashrate * 1000.0)

    frame = pd.DataFrame({"block_height": height, "subsidy_btc": subsidy,
                          "fees_btc_per_block": fees, "btc_usd": btc,
                          "hashrate_eh_s": hashrate, COLUMN: hashprice}, index=hours)
    sums = np.bincount(period_of_hour, weights=hashprice, minlength=periods)
    counts = np.bincount(period_of_hour, minlength=periods)
    return HashpricePath(frame=frame, period=period, period_starts=starts,
                         per_period=(sums / counts).tolist(),
                         halvings=_halvings(anchor_height, anchor, block_ns, starts))


def _halvings(anchor_height: int, anchor: pd.Timestamp, block_ns: int,
              starts: list[pd.Timestamp]) -> list[Halving]:
    """The halvings whose first block falls inside [start, end), at most ~1 per 4 years."""
    def height_before(t_ns: int) -> int:  # the last block mined strictly before t
        return anchor_height + (-(-(t_ns - anchor.value) // block_ns)) - 1

    first_epoch = max(height_before(starts[0].value), 0) // HALVING_INTERVAL_BLOCKS + 1
    last_epoch = max(height_before(starts[-1].value), 0) // HALVING_INTERVAL_BLOCKS
    out = []
    for epoch in range(first_epoch, last_epoch + 1):
        h = epoch * HALVING_INTERVAL_BLOCKS
        block_time = anchor + pd.Timedelta((h - anchor_height) * block_ns, unit="ns")
        before, after = subsidy_btc([h - 1, h])
        out.append(Halving(h, block_time, block_time.floor("h"), float(before), float(after)))
    return out


def write_column(path: str | os.PathLike, column: str, values: pd.Series) -> str:
    """Write ``values`` (indexed by UTC hours) as ``column`` of the series CSV ``path``.

    A new file gets ``timestamp`` (2027-01-01T00:00:00Z) and the column. An existing
    file keeps every other cell as written; it must have a row for every hour of
    ``values``; its rows outside them get an empty cell (the loader ignores rows outside
    the horizon). The file is replaced atomically. Returns "created", "added" or
    "replaced".
    """
    path = Path(path)
    if not isinstance(column, str) or not column.strip() or column.strip() != column:
        raise ValueError(f"column: must be a non-empty name without surrounding spaces, "
                         f"got {column!r}")
    if column == "timestamp" or any(c in column for c in ",\"\r\n"):
        raise ValueError(f"column: cannot be 'timestamp' nor hold a comma, quote or line "
                         f"break, got {column!r}")
    if path.is_dir():
        raise ValueError(f"{path}: is a folder, not a CSV file")
    if path.exists():
        try:
            table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            raise ValueError(f"{path}: not a readable CSV: {exc}") from None
        table.columns = [str(c).strip() for c in table.columns]
        if "timestamp" not in table.columns:
            raise ValueError(f"{path}: no 'timestamp' column (columns: "
                             f"{', '.join(table.columns)})")
        stamps = pd.to_datetime(table["timestamp"].str.strip(), format="ISO8601", utc=True,
                                errors="coerce")
        if stamps.isna().any():
            i = int(np.flatnonzero(stamps.isna().to_numpy())[0])
            raise ValueError(f"{path}: line {i + 2}: not an ISO 8601 timestamp, got "
                             f"{table['timestamp'].iloc[i]!r}")
        stamps = pd.DatetimeIndex(stamps).as_unit("ns")
        missing = values.index.difference(stamps)
        if len(missing):
            raise ValueError(f"{path}: has no row for {_fmt(missing[0])} ({len(missing)} hours "
                             f"of {_fmt(values.index[0])} .. {_fmt(values.index[-1])} missing)")
        what = "replaced" if column in table.columns else "added"
        table[column] = values.reindex(stamps).to_numpy()
    else:
        table = pd.DataFrame({"timestamp": values.index.strftime("%Y-%m-%dT%H:%M:%SZ"),
                              column: values.to_numpy()})
        what = "created"
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        table.to_csv(tmp, index=False, float_format="%.6f", na_rep="", lineterminator="\n",
                     quoting=csv.QUOTE_MINIMAL)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return what


# ---- command line ---------------------------------------------------------------

# library parameter -> CLI option, so that a message names what the user typed
_OPTION = {"btc_usd": "--btc-usd", "hashrate_eh_s": "--hashrate-eh-s",
           "fees_btc_per_block": "--fees-btc", "btc_growth_per_year": "--btc-growth",
           "hashrate_growth_per_year": "--hashrate-growth", "anchor_height": "--anchor-height",
           "anchor_time": "--anchor-time", "block_minutes": "--block-minutes",
           "start": "--start", "period": "--period", "periods": "--periods",
           "column": "--column"}


def _numbers(option: str, text: str) -> float | list[float]:
    """'100000' -> 100000.0; '90000,95000' -> a per-period list."""
    parts = [p.strip() for p in text.split(",")]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ValueError(f"{option}: expected a number or comma-separated numbers (one per "
                         f"period), got {text!r}") from None
    return values[0] if len(values) == 1 else values


def _instance_horizon(path: Path) -> tuple[dict, Path | None]:
    """(horizon keys, series file or None) read from an instance YAML."""
    import yaml

    from .instance.series import resolve_series_path

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not readable YAML: {exc}") from None
    horizon = data.get("horizon") if isinstance(data, dict) else None
    if not isinstance(horizon, dict):
        raise ValueError(f"{path}: horizon: missing (expected start, period and periods)")
    for key in ("start", "period", "periods"):
        if key not in horizon:
            raise ValueError(f"{path}: horizon.{key}: missing")
    series = data.get("series")
    if not series:
        return horizon, None
    ref = series.get("file") if isinstance(series, dict) else None
    if not isinstance(ref, str):
        raise ValueError(f"{path}: series.file: expected a relative path, got {ref!r}")
    target, why = resolve_series_path(ref, path.parent)
    if target is None:
        raise ValueError(f"{path}: series.file: {why}, got {ref!r}")
    return horizon, target


def hashprice_command(
    btc_usd: str = typer.Option(..., "--btc-usd",
                                help="BTC price, USD: a number, or one per period (a,b,c)"),
    hashrate_eh_s: str = typer.Option(..., "--hashrate-eh-s",
                                      help="network hashrate, EH/s: a number or one per period"),
    fees_btc: str = typer.Option(..., "--fees-btc",
                                 help="fees per block, BTC: a number or one per period"),
    btc_growth: float = typer.Option(0.0, "--btc-growth",
                                     help="yearly growth of a single BTC price (0.1 = +10 %/y)"),
    hashrate_growth: float = typer.Option(
        0.0, "--hashrate-growth", help="yearly growth of a single hashrate (0.3 = +30 %/y)"),
    instance: Path | None = typer.Option(
        None, "--instance", help="take the horizon from this instance YAML; write into its "
                                 "series CSV"),
    start: str | None = typer.Option(None, "--start", help="first day, YYYY-MM-DD (UTC)"),
    period: str | None = typer.Option(None, "--period", help="month | quarter | year"),
    periods: int | None = typer.Option(None, "--periods", help="number of periods"),
    out: Path | None = typer.Option(
        None, "--out", help="CSV to create or add the column to (default with --instance: "
                            "its series file)"),
    column: str = typer.Option(COLUMN, "--column", help="name of the series column"),
    anchor_height: int = typer.Option(ANCHOR_HEIGHT, "--anchor-height",
                                      help="height of a known block"),
    anchor_time: str = typer.Option(ANCHOR_TIME, "--anchor-time",
                                    help="UTC time of that block"),
    block_minutes: float = typer.Option(BLOCK_MINUTES, "--block-minutes",
                                        help="projected minutes per block"),
) -> None:
    """Hashprice path (USD/PH/day) from BTC price, hashrate, fees and the halving schedule."""
    from rich.console import Console

    err = Console(stderr=True, soft_wrap=True, highlight=False)
    origin = ""
    hint = None  # the series key an instance without a series file needs
    try:
        if instance is not None:
            if start is not None or period is not None or periods is not None:
                raise ValueError("--instance: gives the horizon; drop --start, --period and "
                                 "--periods")
            horizon, series_file = _instance_horizon(instance)
            start, period, periods = horizon["start"], horizon["period"], horizon["periods"]
            origin = f"{instance}: horizon."
            if out is None:
                out = series_file or instance.parent / "series.csv"
            if series_file is None:
                hint = os.path.relpath(out, instance.parent)
        else:
            lacking = [o for o, v in (("--start", start), ("--period", period),
                                      ("--periods", periods)) if v is None]
            if lacking:
                raise ValueError(f"{lacking[0]}: missing; give --start, --period and "
                                 f"--periods, or --instance")
        path = hashprice_path(
            start, period, periods,
            btc_usd=_numbers("--btc-usd", btc_usd),
            hashrate_eh_s=_numbers("--hashrate-eh-s", hashrate_eh_s),
            fees_btc_per_block=_numbers("--fees-btc", fees_btc),
            btc_growth_per_year=btc_growth, hashrate_growth_per_year=hashrate_growth,
            anchor_height=anchor_height, anchor_time=anchor_time, block_minutes=block_minutes)
        written = path.write_csv(out, column) if out is not None else None
    except ValueError as exc:
        name, sep, rest = str(exc).partition(": ")
        if sep and name in ("start", "period", "periods") and origin:
            message = f"{origin}{name}: {rest}"
        elif sep and name in _OPTION:
            message = f"{_OPTION[name]}: {rest}"
        else:
            message = str(exc)
        err.print(message, markup=False)
        raise typer.Exit(2) from None
    except OSError as exc:
        err.print(f"{out}: cannot write: {exc.strerror or exc}", markup=False)
        raise typer.Exit(1) from None
    _print_summary(path, out, column, written, hint)


def _print_summary(path: HashpricePath, out: Path | None, column: str, written: str | None,
                   series_hint: str | None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(soft_wrap=True, highlight=False)
    hp = path.hourly
    first, end = path.period_starts[0], path.period_starts[-1]
    console.print(f"hashprice {first:%Y-%m-%d} .. {end:%Y-%m-%d} ({len(hp):,} hours, "
                  f"{len(path.per_period)} {path.period}s): mean {hp.mean():.2f}, min "
                  f"{hp.min():.2f}, max {hp.max():.2f} USD/PH/day")
    if not path.halvings:
        console.print("no halving inside the path")
    for h in path.halvings:
        step = ""
        if h.hour != hp.index[0]:
            before = hp.loc[h.hour - pd.Timedelta(hours=1)]
            step = f"; hashprice {before:.2f} -> {hp.loc[h.hour]:.2f} USD/PH/day"
        console.print(f"halving: block {h.height:,} expected {_fmt(h.block_time)}; subsidy "
                      f"{h.subsidy_before_btc:g} -> {h.subsidy_after_btc:g} BTC from the hour "
                      f"{_fmt(h.hour)}{step}")
    table = Table(title=f"mean hashprice per {path.period}, USD/PH/day")
    table.add_column(path.period)
    table.add_column("start")
    table.add_column("hashprice", justify="right")
    shown = range(len(path.per_period))
    if len(path.per_period) > 24:  # a long path: the first and last years only
        shown = [*range(12), *range(len(path.per_period) - 12, len(path.per_period))]
    for k in shown:
        table.add_row(str(k), f"{path.period_starts[k]:%Y-%m-%d}", f"{path.per_period[k]:.2f}")
    console.print(table)
    console.print("per-period list: [" + ", ".join(f"{v:.2f}" for v in path.per_period) + "]")
    if out is not None:
        console.print(f"{out}: column {column!r} {written}; in the instance: "
                      f"market.hashprice_usd_per_ph_day: {{column: {column}}}")
        if series_hint is not None:
            console.print(f"the instance has no series file yet: add series: {{file: "
                          f"{series_hint}}}")


app = typer.Typer(add_completion=False, pretty_exceptions_enable=False,
                  help="Hashprice path from fundamentals.")
app.command(name="hashprice")(hashprice_command)

if __name__ == "__main__":
    app()
