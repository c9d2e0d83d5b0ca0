"""Pydantic models of the instance format (see docs/instance-format.md) and
``Instance.from_dict``, which validates a dict with a ``Context``.

Field names are exactly the YAML keys of the normative spec, with one exception
forced by the interface: the top-level ``series`` key is stored in the field
``Instance.series_ref`` (alias ``series``), because ``Instance.series`` is the
validated hourly DataFrame. Dumps use the alias, so ``model_dump()`` gives back
``series``.

Every rule is a pydantic validator: the models check types, ranges, unknown keys, PPA
kinds and windows; with the validation ``Context`` built by ``from_dict`` they also
check per-period list lengths, series columns, periods against the horizon and ids
(``Keyed`` entries), and record references, resolved once the whole instance is read.
Always build an ``Instance`` with ``load_instance`` or ``Instance.from_dict``, never
with ``Instance.model_validate`` alone.
"""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Optional

import pandas as pd
from annotated_types import MinLen
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    StrictStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from .problems import (
    MISSING,
    InstanceError,
    Loc,
    Problem,
    format_path,
    listing,
    problems_from_validation,
    rule_error,
    safe_repr,
)
from .series import read_series
from .values import (
    MAX_INT,
    ColumnRef,
    Context,
    CoolingName,
    Keyed,
    Keys,
    Name,
    SeriesView,
    Slug,
    StrictModel,
    ValueKind,
    column_problem,
    context_of,
    flag_problem,
    hourly,
    integer,
    num,
    per_period,
    period,
)

__all__ = [
    "AiBuild",
    "Ancillary",
    "AsicProduct",
    "CoincidentPeak",
    "ColumnRef",
    "Contract",
    "Conversion",
    "Cooling",
    "CoolingType",
    "CoolingUpgrade",
    "FinancedKind",
    "Financing",
    "Fleet",
    "GpuProduct",
    "Grid",
    "GridUpgrade",
    "Halls",
    "Horizon",
    "Instance",
    "Lease",
    "Market",
    "Ppa",
    "Resolution",
    "SeriesRef",
    "Site",
    "SiteGpu",
    "Taxes",
]

_Model = StrictModel


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

    @field_validator("flag_column")
    @classmethod
    def _flags(cls, col: str, info: ValidationInfo) -> str:
        ctx = context_of(info)
        if ctx is not None:
            if why := ctx.missing_column(col):
                raise rule_error([((), why, col)])
            if found := flag_problem(ctx, col):
                raise rule_error([((), *found)])
        return col


class Ancillary(_Model):
    price_usd_per_mw_h: hourly(ge=0) = Field(description="hourly; USD per MW per hour; >= 0")
    max_mw: num(ge=0)


class GridUpgrade(Keyed):
    NAMESPACE: ClassVar[str] = "upgrades"
    LIST: ClassVar[tuple[str, ...]] = ("grid", "upgrades")
    WHAT: ClassVar[str] = "upgrade id (grid and cooling upgrades of a site share ids)"
    NESTED: ClassVar[bool] = True

    id: Slug
    add_mw: num(gt=0)
    capex_usd: num(ge=0)
    lead_periods: integer(ge=0)
    max_count: integer(ge=0)
    life_years: num(gt=0)
    residual_at_period: Optional[period("residual")] = Field(  # noqa: UP045
        None, description="residual valued at the start of this period; none: horizon.periods"
    )


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


class CoolingUpgrade(Keyed):
    NAMESPACE: ClassVar[str] = "upgrades"
    LIST: ClassVar[tuple[str, ...]] = ("cooling", "upgrades")
    WHAT: ClassVar[str] = "upgrade id (grid and cooling upgrades of a site share ids)"
    NESTED: ClassVar[bool] = True

    id: Slug
    type: CoolingName
    add_mw: num(gt=0)
    capex_usd: num(ge=0)
    lead_periods: integer(ge=0)
    max_count: integer(ge=0)
    life_years: num(gt=0)
    residual_at_period: Optional[period("residual")] = Field(  # noqa: UP045
        None, description="residual valued at the start of this period; none: horizon.periods"
    )


class Cooling(_Model):
    air: CoolingType
    liquid: CoolingType = Field(
        default_factory=lambda: CoolingType(capacity_mw=0.0),
        description="absent: capacity_mw 0 with the cooling defaults",
    )
    upgrades: list[CoolingUpgrade] = Field(default_factory=list)


class Conversion(_Model):
    """Mining hall -> AI hall, in blocks."""

    block_mw: num(gt=0)
    capex_usd_per_block: num(ge=0)
    lead_periods: integer(ge=0)
    max_blocks: integer(ge=0)
    life_years: num(gt=0)
    residual_at_period: Optional[period("residual")] = Field(  # noqa: UP045
        None, description="residual valued at the start of this period; none: horizon.periods"
    )


class AiBuild(Conversion):
    """A new AI hall, in blocks: the keys of ``Conversion``; it takes no mining hall."""


class Halls(_Model):
    mining_mw: num(ge=0)
    ai_mw: num(ge=0) = 0.0
    conversion: Optional[Conversion] = None  # noqa: UP045
    ai_build: Optional[AiBuild] = None  # noqa: UP045


class Fleet(Keyed):
    NAMESPACE: ClassVar[str] = "fleet"
    LIST: ClassVar[tuple[str, ...]] = ("fleet",)
    WHAT: ClassVar[str] = "fleet id"
    NESTED: ClassVar[bool] = True

    id: Slug
    units: integer(ge=0)
    hashrate_th: num(gt=0)
    power_kw: num(gt=0)
    cooling: CoolingName
    opex_usd_per_mwh: num(ge=0) = 0.0
    salvage_usd_per_unit: per_period(ge=0) = Field(0.0, description="per-period; USD per unit")
    terminal_usd_per_unit: num(ge=0) = Field(
        0.0, description="USD per unit still active at the horizon end"
    )


class SiteGpu(Keyed):
    NAMESPACE: ClassVar[str] = "gpus"
    LIST: ClassVar[tuple[str, ...]] = ("gpus",)
    WHAT: ClassVar[str] = "installed product"
    KEY: ClassVar[str] = "product"
    NESTED: ClassVar[bool] = True

    product: Name
    units: integer(ge=0)

    @field_validator("product")
    @classmethod
    def _product(cls, value: str, info: ValidationInfo) -> str:
        refer(info, "product", "gpu_products", value, "GPU product")
        return value


class Site(Keyed):
    NAMESPACE: ClassVar[str] = "sites"
    LIST: ClassVar[tuple[str, ...]] = ("sites",)
    WHAT: ClassVar[str] = "site id"

    id: Slug
    ambient_c: hourly() = Field(20.0, description="hourly; deg C")
    aux_load_mw: num(ge=0) = 0.0
    fixed_opex_usd_per_year: num(ge=0) = 0.0
    grid: Grid
    cooling: Cooling
    halls: Halls
    fleet: list[Fleet] = Field(default_factory=list)
    gpus: list[SiteGpu] = Field(default_factory=list)


class GpuProduct(Keyed):
    NAMESPACE: ClassVar[str] = "gpu_products"
    LIST: ClassVar[tuple[str, ...]] = ("gpu_products",)
    WHAT: ClassVar[str] = "product id"

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
    residual_at_period: Optional[period("residual")] = Field(  # noqa: UP045
        None, description="residual valued at the start of this period; none: horizon.periods"
    )


class AsicProduct(Keyed):
    """An ASIC model that can be bought (units are continuous)."""

    NAMESPACE: ClassVar[str] = "asic_products"
    LIST: ClassVar[tuple[str, ...]] = ("asic_products",)
    WHAT: ClassVar[str] = "ASIC product id"

    id: Slug
    hashrate_th: num(gt=0)
    power_kw: num(gt=0)
    cooling: CoolingName
    capex_usd: per_period(ge=0) = Field(description="per-period; USD per unit ordered")
    lead_periods: integer(ge=0)
    life_years: num(gt=0)
    max_units_per_period: Optional[num(ge=0)] = Field(  # noqa: UP045
        None, description="supply cap on units ordered per period, all sites; none: no cap"
    )
    opex_usd_per_mwh: num(ge=0) = 0.0


def refer(info: ValidationInfo, key: str, namespace: str, value: Any, what: str) -> None:
    """Record that the entry being validated names ``value`` of a top-level list at ``key``."""
    if (ctx := context_of(info)) is not None:
        ctx.keys.refer((key,), (namespace,), value, what)


def _window_problems(model: Any) -> list[tuple[Loc, str, object]]:
    if model.end_period <= model.start_period:
        return [
            (
                ("end_period",),
                f"must be greater than start_period ({model.start_period}); end_period is exclusive",
                model.end_period,
            )
        ]
    return []


class _Deal(Keyed):
    """What contracts, leases and PPAs share: an id, a site and a window of periods."""

    id: Slug
    site: Name

    @field_validator("site")
    @classmethod
    def _site(cls, value: str, info: ValidationInfo) -> str:
        refer(info, "site", "sites", value, "site")
        return value

    @model_validator(mode="after")
    def _window(self) -> Any:
        if problems := self._rules():
            raise rule_error(problems)
        return self

    def _rules(self) -> list[tuple[Loc, str, object]]:
        return _window_problems(self)


class _LinkedDeal(_Deal):
    """Contracts and leases: signed terms that may outlast the horizon and be linked."""

    @field_validator("linked_to", check_fields=False)
    @classmethod
    def _link(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and (ctx := context_of(info)) is not None:
            ctx.keys.note("linked_to", ("linked_to",), value)
        return value


def _linked_to() -> Any:
    return Field(
        None, description="id of another optional contract or lease, accepted or declined with it"
    )


def _upfront() -> Any:
    return Field(
        0.0, description="USD received at the start of start_period if accepted; < 0: paid"
    )


def _start() -> Any:
    return Field(description="< horizon.periods")


def _end_tail() -> Any:
    return Field(description="exclusive; at most horizon.periods + 400 (a tail past the horizon)")


class Contract(_LinkedDeal):
    NAMESPACE: ClassVar[str] = "contracts"
    LIST: ClassVar[tuple[str, ...]] = ("contracts",)
    WHAT: ClassVar[str] = "contract id"

    product: Name
    units: integer(ge=0)
    price_usd_per_gpu_hour: per_period(ge=0) = Field(description="per-period; USD per GPU-hour")
    start_period: period("start", ge=0) = _start()
    end_period: period("end_tail") = _end_tail()
    optional: StrictBool = False
    upfront_usd: num() = _upfront()
    linked_to: Optional[Name] = _linked_to()  # noqa: UP045
    opex_usd_per_gpu_hour: num(ge=0) = Field(
        0.0, description="USD per GPU-hour served after the horizon (power, staff, upkeep)"
    )

    @field_validator("product")
    @classmethod
    def _product(cls, value: str, info: ValidationInfo) -> str:
        refer(info, "product", "gpu_products", value, "GPU product")
        return value


class Lease(_LinkedDeal):
    NAMESPACE: ClassVar[str] = "leases"
    LIST: ClassVar[tuple[str, ...]] = ("leases",)
    WHAT: ClassVar[str] = "lease id"

    it_mw: num(ge=0)
    cooling: CoolingName
    price_usd_per_kw_month: per_period(ge=0) = Field(description="per-period; USD per kW-month")
    # any sign: deals.md passes the grid price through with {column: <price>}, and grid
    # prices may be negative
    energy_rate_usd_per_mwh: hourly() = Field(
        0.0, description="hourly; USD per MWh of the tenant's IT energy; may be negative"
    )
    start_period: period("start", ge=0) = _start()
    end_period: period("end_tail") = _end_tail()
    optional: StrictBool = False
    escalator_per_year: num(ge=0) = Field(
        0.0, description="rent steps up by this fraction on each anniversary of the start"
    )
    opex_usd_per_kw_month: num(ge=0) = Field(
        0.0, description="the operator's own cost of the leased capacity, USD per kW-month"
    )
    upfront_usd: num() = _upfront()
    linked_to: Optional[Name] = _linked_to()  # noqa: UP045


class Ppa(_Deal):
    NAMESPACE: ClassVar[str] = "ppas"
    LIST: ClassVar[tuple[str, ...]] = ("ppas",)
    WHAT: ClassVar[str] = "PPA id"

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
    end_period: period("end") = Field(description="exclusive, at most horizon.periods")
    optional: StrictBool = False

    @field_validator("profile_column")
    @classmethod
    def _profile(cls, col: str | None, info: ValidationInfo) -> str | None:
        ctx = context_of(info)
        if ctx is not None and col is not None:
            if why := ctx.missing_column(col):
                raise rule_error([((), why, col)])
            bounds = ValueKind("hourly", ge=0, le=1)
            if found := column_problem(ctx, col, bounds, what="capacity factors"):
                raise rule_error([((), *found)])
        return col

    def _rules(self) -> list[tuple[Loc, str, object]]:
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
        return problems


FinancedKind = Literal["gpu", "asic", "conversion", "ai_build", "grid_upgrade", "cooling_upgrade"]


def _distinct(values: list) -> list:
    first: dict[Any, int] = {}
    problems = []
    for i, v in enumerate(values):
        if v in first:
            problems.append(((i,), f"listed twice (first at [{first[v]}])", v))
        first.setdefault(v, i)
    if problems:
        raise rule_error(problems)
    return values


class Financing(Keyed):
    """Project debt on the items of some kinds at some sites."""

    NAMESPACE: ClassVar[str] = "financing"
    LIST: ClassVar[tuple[str, ...]] = ("financing",)
    WHAT: ClassVar[str] = "financing id"

    id: Slug
    applies_to: Annotated[list[FinancedKind], MinLen(1), AfterValidator(_distinct)] = Field(
        description="kinds of capex items financed"
    )
    sites: Optional[Annotated[list[Name], MinLen(1), AfterValidator(_distinct)]] = Field(  # noqa: UP045
        None, description="site ids; none: every site"
    )
    loan_to_cost: num(ge=0, le=1) = Field(description="debt share of an item's price")
    rate: num(ge=0) = Field(description="annual interest rate")
    tenor_years: integer(ge=1) = Field(
        description="level annual instalments, the first a year after the order"
    )

    @field_validator("sites")
    @classmethod
    def _sites(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        if value is not None and (ctx := context_of(info)) is not None:
            for j, site in enumerate(value):
                ctx.keys.refer(("sites", j), ("sites",), site, "site")
        return value


class Taxes(_Model):
    rate: num(ge=0, le=1) = Field(description="on operating income and receipts")
    depreciation_years: dict[FinancedKind, integer(ge=1)] = Field(
        default_factory=dict, description="years of straight-line tax depreciation, by kind"
    )


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
    asic_products: list[AsicProduct] = Field(default_factory=list)
    financing: list[Financing] = Field(default_factory=list)
    taxes: Optional[Taxes] = Field(None, description="none: no taxes")  # noqa: UP045

    _source_path: Optional[Path] = PrivateAttr(default=None)  # noqa: UP045
    _series: Optional[pd.DataFrame] = PrivateAttr(default=None)  # noqa: UP045
    _series_path: Optional[Path] = PrivateAttr(default=None)  # noqa: UP045

    @field_validator(
        "sites",
        "gpu_products",
        "contracts",
        "leases",
        "ppas",
        "asic_products",
        "financing",
        mode="before",
    )
    @classmethod
    def _list_of_entries(cls, value: Any, info: ValidationInfo) -> Any:
        # not a list: no entry is read, so references into it cannot be checked
        if (ctx := context_of(info)) is not None and not isinstance(value, list):
            ctx.keys.broken.add((info.field_name,))
        return value

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
    def from_dict(cls, data: Any, base_dir: Path, file_label: str = "<dict>") -> Instance:
        """Validate an in-memory dict exactly as ``load_instance`` validates a YAML file.

        ``series.file`` is resolved relative to ``base_dir``. Raises InstanceError only,
        listing every problem found.
        """
        try:
            return _validate(cls, data, Path(base_dir), file_label)
        except InstanceError:
            raise
        except RecursionError:
            raise InstanceError(
                [Problem(file_label, "<root>", None, "the data is nested too deeply")]
            ) from None
        except Exception as e:
            raise InstanceError(
                [
                    Problem(
                        file_label,
                        "<root>",
                        None,
                        f"internal error while validating (please report): {type(e).__name__}: {e}",
                    )
                ]
            ) from e


def _try(model: type[BaseModel], raw: Any) -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError:
        return None


def _context(data: dict, base_dir: Path, file_label: str) -> tuple[Context, Any, list[Problem]]:
    """The validation context: horizon.periods and the series read against the horizon
    hours (validated on their own first, since every other key is checked against them)."""
    horizon = _try(Horizon, data.get("horizon"))
    if horizon is not None:
        periods = horizon.periods
    else:  # the list lengths only need a usable horizon.periods
        raw = data.get("horizon")
        p = raw.get("periods") if isinstance(raw, dict) else None
        periods = _try_int(p)
    ctx = Context(periods=periods, series_declared=data.get("series") is not None)
    result = None
    ref = _try(SeriesRef, data.get("series")) if ctx.series_declared else None
    if ref is not None:
        hours = horizon.hours() if horizon is not None else None
        result = read_series(ref.file, base_dir, hours, file_label)
        ctx.series = SeriesView(ref.file, result.columns, result.frame)
    return ctx, result, result.problems if result is not None else []


def _try_int(value: Any) -> int | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_INT
    return value if ok else None


def _validate(cls: type[Instance], data: Any, base_dir: Path, file_label: str) -> Instance:
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else f"a {type(data).__name__}"
        raise InstanceError(
            [
                Problem(
                    file_label,
                    "<root>",
                    data,
                    f"the instance must be a mapping of keys (name, horizon, market, sites, ...), not {kind}",
                )
            ]
        )
    ctx, series, problems = _context(data, base_dir, file_label)
    model: Instance | None = None
    try:
        model = cls.model_validate(data, context=ctx)
    except ValidationError as e:
        problems += problems_from_validation(e, file_label, cls)
    problems += [
        Problem(file_label, format_path(path), value, message)
        for path, message, value in ctx.keys.resolve() + _links(ctx.keys) + _overlaps(ctx.keys)
    ]
    if problems or model is None:
        raise InstanceError(problems)
    if series is not None:
        assert series.complete
        model._series, model._series_path = series.frame, series.path
    else:
        model._series = pd.DataFrame(index=model.horizon.hours())
    return model


def _links(keys: Keys) -> list[tuple[Loc, str, Any]]:
    """linked_to names one other optional contract or lease; the deal itself is optional."""
    deals = {"contract": keys.known(("contracts",)), "lease": keys.known(("leases",))}
    if None in deals.values():
        return []  # an id problem, reported instead
    out: list[tuple[Loc, str, Any]] = []
    for path, target in keys.notes["linked_to"]:
        own = path[:-1]
        found = [(kind, known[target]) for kind, known in deals.items() if target in known]
        if not found:
            ids = "; ".join(f"{k}s: {listing(list(v)) or 'none'}" for k, v in deals.items())
            message = (
                f"unknown deal {safe_repr(target)}: not the id of a contract or a lease ({ids})"
            )
            out.append((path, message, target))
        elif len(found) == 2:
            message = (
                f"{safe_repr(target)} is the id of a contract and of a lease: linked_to cannot "
                "tell which; give them different ids"
            )
            out.append((path, message, target))
        elif found[0][1] == own:
            out.append((path, "a deal cannot be linked to itself", target))
        else:
            own_kind = "contract" if own[0] == "contracts" else "lease"
            for kind, entry in ((own_kind, own), found[0]):
                key, model = keys.entry(entry)
                if model is not None and not model.optional:
                    message = (
                        f"{kind} {safe_repr(key)} is not optional: only optional deals can be "
                        "linked (set optional: true)"
                    )
                    out.append((path, message, target))
    return out


def _overlaps(keys: Keys) -> list[tuple[Loc, str, Any]]:
    """At most one financing per (kind, site)."""
    sites = keys.known(("sites",))
    if sites is None:
        return []
    first: dict[tuple[str, str], str] = {}  # (kind, site) -> id of the financing covering it
    out: list[tuple[Loc, str, Any]] = []
    for path in sorted(p for p in keys.models if p[0] == "financing" and len(p) == 2):
        fin = keys.models[path]
        clashes: dict[str, tuple[str, str]] = {}  # earlier financing -> first (kind, site)
        for kind in fin.applies_to:
            for site in fin.sites or list(sites):
                earlier = first.setdefault((kind, site), fin.id)
                if earlier != fin.id:
                    clashes.setdefault(earlier, (kind, site))
        for earlier, (kind, site) in clashes.items():
            message = (
                f"financing {safe_repr(fin.id)} applies to {kind} at site {safe_repr(site)}, "
                f"already financed by {safe_repr(earlier)}: at most one financing may apply "
                "to a kind at a site"
            )
            out.append((path + ("applies_to",), message, fin.applies_to))
    return out
