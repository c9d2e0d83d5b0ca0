"""Pydantic models of the instance format (see docs/instance-format.md).

Field names are exactly the YAML keys of the normative spec, with one exception
forced by the interface: the top-level ``series`` key is stored in the field
``Instance.series_ref`` (alias ``series``), because ``Instance.series`` is the
validated hourly DataFrame. Dumps use the alias, so ``model_dump()`` gives back
``series``.

The models check everything that can be checked on one object (types, ranges,
unknown keys, PPA kinds, contract windows, the horizon calendar). Cross-object
rules (unique ids, references, list lengths, series columns) live in
``load.py``; always build an ``Instance`` with ``load_instance`` or
``Instance.from_dict``, never with ``Instance.model_validate`` alone.
"""

from __future__ import annotations

import datetime as dt
import itertools
import numbers
import reprlib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union

import pandas as pd
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    StrictBool,
    StrictStr,
    StringConstraints,
    Tag,
    model_validator,
)
from pydantic_core import PydanticCustomError

__all__ = [
    "MISSING",
    "Ancillary",
    "CoincidentPeak",
    "ColumnRef",
    "Contract",
    "Conversion",
    "Cooling",
    "CoolingType",
    "CoolingUpgrade",
    "Fleet",
    "GpuProduct",
    "Grid",
    "GridUpgrade",
    "Halls",
    "Horizon",
    "Instance",
    "InstanceError",
    "Lease",
    "Market",
    "Ppa",
    "Problem",
    "Resolution",
    "SeriesRef",
    "Site",
    "SiteGpu",
    "ValueKind",
]

# --------------------------------------------------------------------------- problems


class _Missing:
    """Value of a Problem about a key that is absent (the single instance is MISSING)."""

    def __repr__(self) -> str:
        return "<missing>"

    def __reduce__(self) -> str:
        return "MISSING"


MISSING = _Missing()

_repr = reprlib.Repr()
_repr.maxstring = 80
_repr.maxother = 80
_repr.maxlist = _repr.maxtuple = _repr.maxset = _repr.maxdict = 8
_repr.maxlevel = 3


def safe_repr(value: object) -> str:
    """A short, never failing repr (values may be huge or deeply nested)."""
    try:
        return _repr.repr(value)
    except Exception:  # noqa: BLE001 - a repr must never break error reporting
        return f"<{type(value).__name__}>"


@dataclass
class Problem:
    """One validation problem: which file, which key, which value, what is wrong."""

    file: str
    path: str
    value: object
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.path}: {self.message} (got {safe_repr(self.value)})"


class InstanceError(Exception):
    """An instance failed to load; ``problems`` lists every problem found."""

    def __init__(self, problems: list[Problem]):
        self.problems: list[Problem] = list(problems)
        super().__init__(self.problems)

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


def rule_error(problems: list[tuple[tuple[str | int, ...], str, object]]) -> PydanticCustomError:
    """A model-level error carrying one or more (sub-path, message, value) problems.

    ``load.py`` expands it into one Problem per entry, with the sub-path appended to
    the model's own path (pydantic would otherwise report the whole object).
    """
    summary = "; ".join(f"{'.'.join(map(str, sub))}: {msg}" for sub, msg, _ in problems)
    return PydanticCustomError(
        "instance_rule", "{summary}", {"summary": summary, "problems": problems}
    )


# --------------------------------------------------------------------------- value kinds


def _number_guard(value: Any) -> Any:
    # pydantic's lax float/int would take True -> 1.0 and "3" -> 3.0: refuse both.
    if isinstance(value, (bool, str, bytes, bytearray)):
        raise PydanticCustomError("number_type", "expected a number")
    return value


def _int_guard(value: Any) -> Any:
    if isinstance(value, (bool, str, bytes, bytearray)):
        raise PydanticCustomError("int_type", "expected a whole number")
    return value


def num(**bounds: float) -> Any:
    """A finite float (ints are accepted and stored as floats) with optional bounds."""
    return Annotated[float, Field(**bounds), BeforeValidator(_number_guard)]


MAX_INT = 2**53  # every count must be exactly representable as a float


def integer(**bounds: int) -> Any:
    """An int (a float with no fractional part such as 2.0e4 is accepted), at most 2**53."""
    bounds.setdefault("le", MAX_INT)
    return Annotated[int, Field(**bounds), BeforeValidator(_int_guard)]


Slug = Annotated[StrictStr, StringConstraints(pattern=r"^[a-z0-9-]+$")]
SLUG_PATTERN = r"^[a-z0-9-]+$"
Name = Annotated[StrictStr, StringConstraints(min_length=1)]  # a reference or a column name
CoolingName = Literal["air", "liquid"]

TAG_NUMBER = "<number>"
TAG_LIST = "<list>"
TAG_COLUMN = "<column>"
TAG_NONE = "<none>"
VALUE_TAGS = (TAG_NUMBER, TAG_LIST, TAG_COLUMN, TAG_NONE)

HOURLY_MESSAGE = "expected a number, a list of one number per period, or {column: NAME}"
PER_PERIOD_MESSAGE = "expected a number or a list of one number per period"


@dataclass(frozen=True)
class ValueKind:
    """Marker on hourly / per-period fields; the bounds apply to every resolved value."""

    kind: Literal["hourly", "per-period"]
    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None

    def bounds_text(self) -> str:
        parts = []
        for op, b in (("> ", self.gt), (">= ", self.ge), ("< ", self.lt), ("<= ", self.le)):
            if b is not None:
                parts.append(f"{op}{b:g}")
        return " and ".join(parts)

    def violated(self, values):  # numpy array -> boolean mask
        import numpy as np

        bad = np.zeros(len(values), dtype=bool)
        if self.gt is not None:
            bad |= ~(values > self.gt)
        if self.ge is not None:
            bad |= ~(values >= self.ge)
        if self.lt is not None:
            bad |= ~(values < self.lt)
        if self.le is not None:
            bad |= ~(values <= self.le)
        return bad


def _value_tag(value: Any) -> str | None:
    if value is None:
        return TAG_NONE
    if isinstance(value, (dict, ColumnRef)):
        return TAG_COLUMN
    if isinstance(value, (list, tuple)):
        return TAG_LIST
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return TAG_NUMBER
    return None


def _kind_type(kind: Literal["hourly", "per-period"], optional: bool, bounds: dict) -> Any:
    item = num(**bounds)
    branches: list[Any] = [Annotated[item, Tag(TAG_NUMBER)], Annotated[list[item], Tag(TAG_LIST)]]
    if kind == "hourly":
        branches.append(Annotated[ColumnRef, Tag(TAG_COLUMN)])
    if optional:
        branches.append(Annotated[None, Tag(TAG_NONE)])
    message = HOURLY_MESSAGE if kind == "hourly" else PER_PERIOD_MESSAGE
    return Annotated[
        Union[tuple(branches)],  # noqa: UP007 - a runtime-built union
        Discriminator(_value_tag, custom_error_type="value_kind", custom_error_message=message),
        ValueKind(kind, **bounds),
    ]


def hourly(optional: bool = False, **bounds: float) -> Any:
    """An **hourly** value: number, list of one number per period, or {column: NAME}."""
    return _kind_type("hourly", optional, bounds)


def per_period(optional: bool = False, **bounds: float) -> Any:
    """A **per-period** value: number or list of one number per period."""
    return _kind_type("per-period", optional, bounds)


# --------------------------------------------------------------------------- models


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, validate_default=False)


class ColumnRef(_Model):
    """``{column: NAME, scale: 1.0}``: a series column, times scale, hour by hour."""

    column: Name = Field(description="name of a column of the series CSV")
    scale: num() = Field(1.0, description="factor applied to every value of the column")


class Resolution(_Model):
    mode: Literal["hourly", "representative"] = Field(
        description="hourly: every hour is a step; representative: days_per_period clustered days"
    )
    days_per_period: integer(ge=1) = Field(
        8, description="representative only: 1 .. days in the shortest period"
    )
    keep_peak_days: StrictBool = Field(
        True, description="representative only: keep coincident-peak and price-peak days"
    )


def _parse_start(value: Any) -> Any:
    """horizon.start -> datetime.date (a YAML date, or a datetime/ISO string at UTC midnight)."""
    if isinstance(value, str):
        text = value.strip()
        try:
            parsed = (
                dt.date.fromisoformat(text) if len(text) == 10 else dt.datetime.fromisoformat(text)
            )
        except ValueError:
            raise PydanticCustomError(
                "horizon_start", "expected a date such as 2027-01-01 (UTC midnight)"
            ) from None
        return _parse_start(parsed)
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            try:
                value = value.astimezone(dt.UTC).replace(tzinfo=None)
            except (OverflowError, ValueError):
                raise PydanticCustomError("horizon_start", "date out of range") from None
        if value.time() != dt.time(0, 0):
            raise PydanticCustomError("horizon_start", "must be at UTC midnight (00:00:00Z)")
        return value.date()
    if isinstance(value, dt.date):
        return value
    raise PydanticCustomError("horizon_start", "expected a date such as 2027-01-01 (UTC midnight)")


MONTHS_PER_PERIOD = {"month": 1, "quarter": 3, "year": 12}
EARLIEST_START = dt.date(1900, 1, 1)
LATEST_END = dt.date(2200, 1, 1)


class Horizon(_Model):
    start: Annotated[dt.date, BeforeValidator(_parse_start)] = Field(
        description="UTC midnight on a period boundary"
    )
    period: Literal["month", "quarter", "year"]
    periods: integer(ge=1) = Field(description="number of periods P")
    discount_rate: num(ge=0) = Field(0.0, description="annual discount rate, >= 0")
    resolution: Resolution = Field(default_factory=lambda: Resolution(mode="hourly"))

    def months_per_period(self) -> int:
        """1, 3 or 12."""
        return MONTHS_PER_PERIOD[self.period]

    def period_starts(self) -> list[pd.Timestamp]:
        """P + 1 tz-aware UTC timestamps; the last one is the horizon end (exclusive)."""
        t0 = pd.Timestamp(self.start.year, self.start.month, self.start.day, tz="UTC")
        m = self.months_per_period()
        return [t0 + pd.DateOffset(months=k * m) for k in range(self.periods + 1)]

    def hours(self) -> pd.DatetimeIndex:
        """Every hour of the horizon [start, end), tz-aware UTC, named ``timestamp``."""
        starts = self.period_starts()
        return pd.date_range(starts[0], starts[-1], freq="h", inclusive="left", name="timestamp")

    def period_days(self) -> list[int]:
        """Calendar days in each period."""
        starts = self.period_starts()
        return [int((b - a) / pd.Timedelta(days=1)) for a, b in itertools.pairwise(starts)]

    @model_validator(mode="after")
    def _calendar(self) -> Horizon:
        problems: list[tuple[tuple[str | int, ...], str, object]] = []
        s = self.start
        if self.period == "month" and s.day != 1:
            problems.append(
                (("start",), "a monthly horizon must start on the 1st of a month", s.isoformat())
            )
        elif self.period == "quarter" and (s.day != 1 or s.month not in (1, 4, 7, 10)):
            problems.append(
                (
                    ("start",),
                    "a quarterly horizon must start on Jan 1, Apr 1, Jul 1 or Oct 1",
                    s.isoformat(),
                )
            )
        elif self.period == "year" and (s.day, s.month) != (1, 1):
            problems.append((("start",), "a yearly horizon must start on Jan 1", s.isoformat()))
        if s < EARLIEST_START:
            problems.append((("start",), f"must be on or after {EARLIEST_START}", s.isoformat()))
        months = (s.month - 1) + self.periods * self.months_per_period()
        end_year = s.year + months // 12
        if end_year > LATEST_END.year or (end_year == LATEST_END.year and months % 12 > 0):
            problems.append(
                (
                    ("periods",),
                    f"the horizon would end after {LATEST_END}; use fewer periods",
                    self.periods,
                )
            )
        if not problems and self.resolution.mode == "representative":
            shortest = min(self.period_days())
            if self.resolution.days_per_period > shortest:
                problems.append(
                    (
                        ("resolution", "days_per_period"),
                        f"must be at most {shortest}, the days in the shortest period",
                        self.resolution.days_per_period,
                    )
                )
        if problems:
            raise rule_error(problems)
        return self


class SeriesRef(_Model):
    file: Name = Field(description="CSV path relative to the YAML file's folder, inside it")


class Market(_Model):
    hashprice_usd_per_ph_day: hourly(gt=0) = Field(description="hourly; USD per PH/s per day; > 0")
    pool_fee: num(ge=0, lt=1) = Field(0.0, description="0 <= x < 1")


class CoincidentPeak(_Model):
    flag_column: Name = Field(description="series column: 1 in coincident-peak hours, else 0")
    charge_usd_per_kw_year: num(ge=0)
    intervals_per_year: integer(gt=0)


class Ancillary(_Model):
    price_usd_per_mw_h: hourly(ge=0) = Field(description="hourly; USD per MW per hour; >= 0")
    max_mw: num(ge=0)


class GridUpgrade(_Model):
    id: Slug
    add_mw: num(gt=0)
    capex_usd: num(ge=0)
    lead_periods: integer(ge=0)
    max_count: integer(ge=0)
    life_years: num(gt=0)


class Grid(_Model):
    import_limit_mw: num(gt=0)
    export_limit_mw: num(ge=0) = 0.0
    price_usd_per_mwh: hourly() = Field(description="hourly; USD/MWh; may be negative")
    import_adder_usd_per_mwh: hourly(ge=0) = Field(0.0, description="hourly; USD/MWh; >= 0")
    export_fee_usd_per_mwh: num(ge=0) = 0.0
    demand_charge_usd_per_kw_month: num(ge=0) = 0.0
    coincident_peak: Optional[CoincidentPeak] = None  # noqa: UP045 - pydantic-friendly
    ancillary: Optional[Ancillary] = None  # noqa: UP045
    upgrades: list[GridUpgrade] = Field(default_factory=list)


class CoolingType(_Model):
    capacity_mw: num(ge=0)
    pue: num(ge=1) = 1.0
    pue_per_c: num(ge=0) = 0.0
    pue_ref_c: num() = 25.0
    rated_ambient_c: num() = 35.0
    derate_per_c: num(ge=0) = 0.0
    min_factor: num(ge=0, le=1) = 0.0


class CoolingUpgrade(_Model):
    id: Slug
    type: CoolingName
    add_mw: num(gt=0)
    capex_usd: num(ge=0)
    lead_periods: integer(ge=0)
    max_count: integer(ge=0)
    life_years: num(gt=0)


class Cooling(_Model):
    air: CoolingType
    liquid: CoolingType = Field(
        default_factory=lambda: CoolingType(capacity_mw=0.0),
        description="absent: capacity_mw 0 with the cooling defaults",
    )
    upgrades: list[CoolingUpgrade] = Field(default_factory=list)


class Conversion(_Model):
    block_mw: num(gt=0)
    capex_usd_per_block: num(ge=0)
    lead_periods: integer(ge=0)
    max_blocks: integer(ge=0)
    life_years: num(gt=0)


class Halls(_Model):
    mining_mw: num(ge=0)
    ai_mw: num(ge=0) = 0.0
    conversion: Optional[Conversion] = None  # noqa: UP045


class Fleet(_Model):
    id: Slug
    units: integer(ge=0)
    hashrate_th: num(gt=0)
    power_kw: num(gt=0)
    cooling: CoolingName
    opex_usd_per_mwh: num(ge=0) = 0.0
    salvage_usd_per_unit: per_period(ge=0) = Field(0.0, description="per-period; USD per unit")


class SiteGpu(_Model):
    product: Name
    units: integer(ge=0)


class Site(_Model):
    id: Slug
    ambient_c: hourly() = Field(20.0, description="hourly; deg C")
    aux_load_mw: num(ge=0) = 0.0
    fixed_opex_usd_per_year: num(ge=0) = 0.0
    grid: Grid
    cooling: Cooling
    halls: Halls
    fleet: list[Fleet] = Field(default_factory=list)
    gpus: list[SiteGpu] = Field(default_factory=list)


class GpuProduct(_Model):
    id: Slug
    gpus_per_unit: integer(gt=0)
    it_kw: num(gt=0)
    idle_fraction: num(ge=0, le=1) = 0.0
    cooling: CoolingName
    capex_usd: per_period(ge=0) = Field(description="per-period; USD per unit ordered")
    lead_periods: integer(ge=0)
    life_years: num(gt=0)
    max_units_per_period: Optional[integer(ge=0)] = None  # noqa: UP045
    opex_usd_per_unit_year: num(ge=0) = 0.0
    spot_price_usd_per_gpu_hour: hourly(ge=0) = Field(description="hourly; USD per GPU-hour")
    spot_max_utilization: num(ge=0, le=1) = 1.0


def _window_problems(model: Any) -> list[tuple[tuple[str | int, ...], str, object]]:
    if model.end_period <= model.start_period:
        return [
            (
                ("end_period",),
                f"must be greater than start_period ({model.start_period}); end_period is exclusive",
                model.end_period,
            )
        ]
    return []


class Contract(_Model):
    id: Slug
    site: Name
    product: Name
    units: integer(ge=0)
    price_usd_per_gpu_hour: num(ge=0)
    start_period: integer(ge=0)
    end_period: integer() = Field(description="exclusive, at most horizon.periods")
    optional: StrictBool = False

    @model_validator(mode="after")
    def _window(self) -> Contract:
        if problems := _window_problems(self):
            raise rule_error(problems)
        return self


class Lease(_Model):
    id: Slug
    site: Name
    it_mw: num(ge=0)
    cooling: CoolingName
    price_usd_per_kw_month: num(ge=0)
    energy_rate_usd_per_mwh: num(ge=0) = 0.0
    start_period: integer(ge=0)
    end_period: integer() = Field(description="exclusive, at most horizon.periods")
    optional: StrictBool = False

    @model_validator(mode="after")
    def _window(self) -> Lease:
        if problems := _window_problems(self):
            raise rule_error(problems)
        return self


class Ppa(_Model):
    id: Slug
    site: Name
    kind: Literal["physical", "onsite", "virtual"]
    baseload_mw: Optional[num(ge=0)] = None  # noqa: UP045
    profile_column: Optional[Name] = None  # noqa: UP045
    capacity_mw: Optional[num(ge=0)] = None  # noqa: UP045
    strike_usd_per_mwh: num(ge=0)
    take_or_pay: StrictBool = Field(
        False, description="required for physical and onsite PPAs; virtual: false (the default)"
    )
    min_take_fraction: num(ge=0, le=1) = 0.0
    curtailable: StrictBool = True
    start_period: integer(ge=0)
    end_period: integer() = Field(description="exclusive, at most horizon.periods")
    optional: StrictBool = False

    @model_validator(mode="after")
    def _rules(self) -> Ppa:
        problems = _window_problems(self)
        has_base = self.baseload_mw is not None
        has_prof = self.profile_column is not None
        has_cap = self.capacity_mw is not None
        if has_base and (has_prof or has_cap):
            problems.append(
                (
                    ("baseload_mw",),
                    "give either baseload_mw or profile_column with capacity_mw, not both",
                    self.baseload_mw,
                )
            )
        elif not has_base and not has_prof and not has_cap:
            problems.append(
                (
                    ("baseload_mw",),
                    "missing volume: give baseload_mw, or profile_column with capacity_mw",
                    MISSING,
                )
            )
        elif has_prof and not has_cap:
            problems.append((("capacity_mw",), "required with profile_column", MISSING))
        elif has_cap and not has_prof:
            problems.append((("profile_column",), "required with capacity_mw", MISSING))
        given_top = "take_or_pay" in self.model_fields_set
        if self.kind == "virtual":
            if self.take_or_pay:
                problems.append(
                    (
                        ("take_or_pay",),
                        (
                            "a virtual PPA (contract for differences) takes no energy: "
                            "take_or_pay must be false or absent"
                        ),
                        True,
                    )
                )
            if self.min_take_fraction > 0:
                problems.append(
                    (
                        ("min_take_fraction",),
                        (
                            "a virtual PPA (contract for differences) takes no energy: "
                            "min_take_fraction must be 0"
                        ),
                        self.min_take_fraction,
                    )
                )
        else:
            if not given_top:
                problems.append(
                    (("take_or_pay",), f"required for a {self.kind} PPA (true or false)", MISSING)
                )
            elif self.take_or_pay and self.min_take_fraction > 0:
                problems.append(
                    (
                        ("min_take_fraction",),
                        "only allowed without take_or_pay (take_or_pay takes the whole volume)",
                        self.min_take_fraction,
                    )
                )
        if problems:
            raise rule_error(problems)
        return self


class Instance(_Model):
    """A whole instance. Build it with ``load_instance`` or ``Instance.from_dict``."""

    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        validate_by_name=False,  # only the YAML key `series`, never `series_ref`
        validate_by_alias=True,
        serialize_by_alias=True,
        title="Hashpivot instance",
    )

    name: Slug
    description: StrictStr = ""
    horizon: Horizon
    series_ref: Optional[SeriesRef] = Field(  # noqa: UP045
        None,
        alias="series",
        description="needed when any {column: ...} is used; `Instance.series` is the data",
    )
    market: Market
    capex_budget_usd: per_period(optional=True, ge=0) = Field(
        None, description="per-period cap on capex ordered in each period; none: no cap"
    )
    sites: list[Site] = Field(min_length=1)
    gpu_products: list[GpuProduct] = Field(default_factory=list)
    contracts: list[Contract] = Field(default_factory=list)
    leases: list[Lease] = Field(default_factory=list)
    ppas: list[Ppa] = Field(default_factory=list)

    _source_path: Optional[Path] = PrivateAttr(default=None)  # noqa: UP045
    _series: Optional[pd.DataFrame] = PrivateAttr(default=None)  # noqa: UP045
    _series_path: Optional[Path] = PrivateAttr(default=None)  # noqa: UP045

    def __eq__(self, other: object) -> bool:
        # pydantic would compare the private DataFrame with ==, which is ambiguous.
        if not isinstance(other, Instance):
            return NotImplemented
        if self.__dict__ != other.__dict__:
            return False
        if (self._source_path, self._series_path) != (other._source_path, other._series_path):
            return False
        a, b = self._series, other._series
        if a is None or b is None:
            return a is b
        return a.equals(b) and list(a.columns) == list(b.columns)

    __hash__ = None  # type: ignore[assignment]  # mutable, like every pydantic model

    @property
    def source_path(self) -> Path | None:
        """Absolute path of the YAML file (None for ``from_dict``)."""
        return self._source_path

    @property
    def series(self) -> pd.DataFrame:
        """Hourly series over exactly the horizon hours: float64 columns, UTC index."""
        if self._series is None:
            return pd.DataFrame(index=self.horizon.hours())
        return self._series

    @property
    def series_path(self) -> Path | None:
        """Absolute path of the series CSV, or None without a series file."""
        return self._series_path

    @classmethod
    def from_dict(cls, data: dict, base_dir: Path, file_label: str = "<dict>") -> Instance:
        """Validate an in-memory dict exactly as ``load_instance`` validates a YAML file.

        ``series.file`` is resolved relative to ``base_dir``. Raises InstanceError.
        """
        from .load import validate_data

        return validate_data(data, Path(base_dir), file_label, source_path=None)


def field_kind(model: type[BaseModel], name: str) -> ValueKind | None:
    """The ValueKind marker of a field, if it is hourly or per-period."""
    for meta in model.model_fields[name].metadata:
        if isinstance(meta, ValueKind):
            return meta
    return None


def sub_model(model: type[BaseModel], name: str) -> tuple[type[BaseModel], bool] | None:
    """(model class, is_list) when the field holds a model or a list of models."""
    from typing import get_args, get_origin

    ann = model.model_fields[name].annotation
    origin = get_origin(ann)
    if origin is list:
        (item,) = get_args(ann)
        if isinstance(item, type) and issubclass(item, BaseModel):
            return item, True
        return None
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann, False
    for arg in get_args(ann):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg, False
    return None


def field_by_key(model: type[BaseModel], key: object) -> str | None:
    """The Python field name of a YAML key (aliases resolved)."""
    if not isinstance(key, str):
        return None
    for name, info in model.model_fields.items():
        if (info.alias or name) == key:
            return name
    return None


def yaml_keys(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]
