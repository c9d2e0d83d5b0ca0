"""Value types of the instance format and the validation context they check against.

- ``num`` / ``integer``: finite numbers with bounds; ``hourly`` / ``per_period``: the
  value kinds of docs/instance-format.md (number, list per period, ``{column: NAME}``);
- ``Context``: what the validators need beyond the value itself (pydantic's validation
  context): ``horizon.periods``, the series columns and frame, and the ``Keys`` of the
  instance (ids seen so far, references to resolve once every list is read).

A model validated without a ``Context`` (``Horizon(...)`` in code) checks each value on
its own; ``Instance.from_dict`` always passes one.
"""

from __future__ import annotations

import difflib
import numbers
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal, Union

import numpy as np
import pandas as pd
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StrictStr,
    Tag,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from .problems import (
    TAG_COLUMN,
    TAG_LIST,
    TAG_NONE,
    TAG_NUMBER,
    Loc,
    count,
    format_path,
    listing,
    rule_error,
    safe_repr,
)

__all__ = [
    "HOURLY_MESSAGE",
    "MAX_INT",
    "PER_PERIOD_MESSAGE",
    "TAIL_PERIODS",
    "ColumnRef",
    "Context",
    "Keyed",
    "Keys",
    "SeriesView",
    "StrictModel",
    "ValueKind",
    "context_of",
    "period",
    "hourly",
    "integer",
    "num",
    "per_period",
]

MAX_INT = 2**53  # every count must be exactly representable as a float
TAIL_PERIODS = 400  # how far past the horizon a deal or a residual date may reach
TIMESTAMP = "timestamp"  # the series' time column, never a data column

HOURLY_MESSAGE = "expected a number, a list of one number per period, or {column: NAME}"
PER_PERIOD_MESSAGE = "expected a number or a list of one number per period"


# --------------------------------------------------------------------------- scalars


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


def integer(**bounds: int) -> Any:
    """An int (a float with no fractional part such as 2.0e4 is accepted), at most 2**53."""
    bounds.setdefault("le", MAX_INT)
    return Annotated[int, Field(**bounds), BeforeValidator(_int_guard)]


SLUG_PATTERN = r"^[a-z0-9-]+$"


def _slug(value: str) -> str:
    if not value or not set(value) <= set("abcdefghijklmnopqrstuvwxyz0123456789-"):
        raise PydanticCustomError(
            "slug", "must be a slug: lowercase letters, digits and '-' only ([a-z0-9-]+)"
        )
    return value


Slug = Annotated[
    StrictStr, AfterValidator(_slug), WithJsonSchema({"type": "string", "pattern": SLUG_PATTERN})
]
Name = Annotated[StrictStr, Field(min_length=1)]  # a reference or a column name
CoolingName = Literal["air", "liquid"]


class StrictModel(BaseModel):
    """Unknown keys, NaN and infinities are errors; defaults are taken as written."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, validate_default=False)


class ColumnRef(StrictModel):
    """``{column: NAME, scale: 1.0}``: a series column, times scale, hour by hour."""

    column: Name = Field(description="name of a column of the series CSV")
    scale: num() = Field(1.0, description="factor applied to every value of the column")


# --------------------------------------------------------------------------- context


@dataclass
class SeriesView:
    """The series as far as it could be read, for the column checks."""

    file: str  # series.file as written
    columns: list[str] | None  # data columns; None when the file itself failed
    frame: pd.DataFrame | None  # horizon rows of the columns whose cells are all valid


@dataclass
class Context:
    """The validation context of one instance (see the module docstring)."""

    periods: int | None = None  # horizon.periods, when usable
    series: SeriesView | None = None  # None: the instance has no `series` key
    series_declared: bool = False  # a `series` key is present (even if it is invalid)
    keys: Keys = field(default_factory=lambda: Keys())

    def missing_column(self, col: str) -> str | None:
        """Why ``col`` cannot be used as a data column, or None."""
        if not self.series_declared:
            return (
                f"uses series column {safe_repr(col)} but the instance has no "
                "`series: {file: ...}`"
            )
        s = self.series
        if s is None or s.columns is None:
            return None  # the series key or file failed; reported there
        if col == TIMESTAMP:
            return f"{TIMESTAMP!r} is the time column, not a data column"
        if col in s.columns:
            return None
        close = _close_match(col, s.columns)
        hint = f"; did you mean {safe_repr(close)}?" if close else ""
        known = listing(s.columns) or "none"
        return f"unknown series column {safe_repr(col)}{hint} (columns of {s.file}: {known})"

    def column(self, col: str) -> np.ndarray | None:
        """The horizon values of a valid column, or None (absent, or its cells failed)."""
        frame = self.series.frame if self.series is not None else None
        if frame is None or col not in frame or self.missing_column(col):
            return None
        return frame[col].to_numpy(dtype=float)


def _close_match(word: str, choices: list[str]) -> str | None:
    if len(word) > 200:  # a typo is short; a huge name gets no hint (and no slow match)
        return None
    close = difflib.get_close_matches(word, choices, n=1)
    return close[0] if close else None


def context_of(info: ValidationInfo) -> Context | None:
    ctx = info.context
    return ctx if isinstance(ctx, Context) else None


def _first_hour(ctx: Context, mask: np.ndarray) -> tuple[int, str]:
    assert ctx.series is not None and ctx.series.frame is not None
    i = int(np.flatnonzero(mask)[0])
    return i, ctx.series.frame.index[i].strftime("%Y-%m-%dT%H:%M:%SZ")


def column_problem(
    ctx: Context, col: str, kind: ValueKind, scale: float = 1.0, what: str = "values"
) -> tuple[str, float] | None:
    """(message, first bad value) when column ``col`` times ``scale`` leaves ``kind``'s range."""
    raw = ctx.column(col)
    if raw is None:
        return None
    with np.errstate(over="ignore", invalid="ignore"):
        values = raw * scale
    bad = ~np.isfinite(values)
    if bad.any():
        i, when = _first_hour(ctx, bad)
        return (
            f"column {safe_repr(col)} times scale {scale:g} overflows (not finite) at {when}",
            float(values[i]),
        )
    bad = kind.violated(values)
    if not bad.any():
        return None
    i, when = _first_hour(ctx, bad)
    scaled = f" times scale {scale:g}" if scale != 1.0 else ""
    return (
        f"column {safe_repr(col)}{scaled} must be {kind.bounds_text()} in every hour of the "
        f"horizon ({what}); {count(int(bad.sum()), 'hour')} not, the first at {when}",
        float(values[i]),
    )


def flag_problem(ctx: Context, col: str) -> tuple[str, float] | None:
    """(message, first bad value) when column ``col`` holds anything but 0 and 1."""
    values = ctx.column(col)
    if values is None:
        return None
    bad = (values != 0.0) & (values != 1.0)
    if not bad.any():
        return None
    i, when = _first_hour(ctx, bad)
    return (
        f"column {safe_repr(col)} must hold only 0 or 1 in every hour of the horizon; "
        f"{count(int(bad.sum()), 'hour')} not, the first at {when}",
        float(values[i]),
    )


# --------------------------------------------------------------------------- value kinds


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

    def violated(self, values: np.ndarray) -> np.ndarray:
        """Boolean mask of the values outside the bounds."""
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

    def check(self, value: Any, info: ValidationInfo) -> Any:
        """Per-period list length and, for {column:}, the column's values (needs a context)."""
        ctx = context_of(info)
        if ctx is None:
            return value
        if isinstance(value, list):
            if ctx.periods is not None and len(value) != ctx.periods:
                raise PydanticCustomError(
                    "period_list",
                    "a per-period list needs one value per period: {n} values but "
                    "horizon.periods is {periods}",
                    {"n": len(value), "periods": ctx.periods},
                )
        elif isinstance(value, ColumnRef):
            if why := ctx.missing_column(value.column):
                raise rule_error([(("column",), why, value.column)])
            if found := column_problem(ctx, value.column, self, value.scale):
                raise rule_error([((), *found)])
        return value


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
    marker = ValueKind(kind, **bounds)
    return Annotated[
        Union[tuple(branches)],  # noqa: UP007 - a runtime-built union
        Discriminator(_value_tag, custom_error_type="value_kind", custom_error_message=message),
        marker,
        AfterValidator(marker.check),
    ]


def hourly(optional: bool = False, **bounds: float) -> Any:
    """An **hourly** value: number, list of one number per period, or {column: NAME}."""
    return _kind_type("hourly", optional, bounds)


def per_period(optional: bool = False, **bounds: float) -> Any:
    """A **per-period** value: number or list of one number per period."""
    return _kind_type("per-period", optional, bounds)


def _period_rule(rule: Literal["start", "end", "end_tail", "residual"]) -> Any:
    def check(value: int, info: ValidationInfo) -> int:
        ctx = context_of(info)
        if ctx is None or ctx.periods is None:
            return value
        p, tail = ctx.periods, ctx.periods + TAIL_PERIODS
        if rule == "start" and value >= p:
            message = (
                "must be less than horizon.periods = {p}: a deal starts inside the horizon "
                "(only its end may pass it)"
            )
        elif rule == "end" and value > p:
            message = (
                "beyond the horizon: end_period (exclusive) must be at most horizon.periods = {p}"
            )
        elif rule == "end_tail" and value > tail:
            message = (
                "beyond the horizon tail: end_period (exclusive) must be at most "
                "horizon.periods + {n} = {tail}"
            )
        elif rule == "residual" and not p <= value <= tail:
            message = "must be between horizon.periods = {p} and horizon.periods + {n} = {tail}"
        else:
            return value
        raise PydanticCustomError(
            "period_range", message, {"p": p, "n": TAIL_PERIODS, "tail": tail}
        )

    return AfterValidator(check)


def period(rule: Literal["start", "end", "end_tail", "residual"], **bounds: int) -> Any:
    """A period index checked against P = horizon.periods (with a context): ``start`` < P,
    ``end`` <= P, ``end_tail`` <= P + 400, ``residual`` in P .. P + 400."""
    return Annotated[integer(**bounds), _period_rule(rule)]


# --------------------------------------------------------------------------- keys


class Keys:
    """Ids and references of one instance, gathered while pydantic validates it.

    Every keyed list item (a ``Keyed`` model) takes a slot on entry, so its key path is
    known; its key is registered when its key field validates (a second use of the key
    in the same namespace is an error there). References are resolved at the end
    (``resolve``), once every list has been read: a site's ``gpus`` names products
    defined after the sites.
    """

    def __init__(self) -> None:
        self._stack: list[Loc] = []
        self._count: Counter[Loc] = Counter()  # list path -> entries seen
        self._registered: Counter[Loc] = Counter()  # namespace -> keys registered
        self._registered_before: list[int] = []
        self.first: defaultdict[Loc, dict[Any, Loc]] = defaultdict(dict)  # ns -> key -> path
        self.broken: set[Loc] = set()  # namespaces where some entry has no usable key
        self.refs: list[tuple[Loc, Loc, Any, str]] = []  # (path, namespace, key, what)
        self.models: dict[Loc, BaseModel] = {}  # path -> the entry, when it validated
        self.key_at: dict[Loc, Any] = {}  # path -> the entry's key
        self.notes: defaultdict[str, list[tuple[Loc, Any]]] = defaultdict(list)

    # ---- entries
    def enter(self, cls: type[Keyed]) -> None:
        """A list entry of class ``cls`` starts validating (pydantic goes in list order)."""
        enclosing = self._stack[-1] if cls.NESTED and self._stack else ()
        where = enclosing + cls.LIST
        self._stack.append(where + (self._count[where],))
        self._count[where] += 1
        self._registered_before.append(self._registered[self.namespace(cls)])

    def leave(self, cls: type[Keyed], model: BaseModel | None) -> None:
        """The entry is done; ``model`` is None when it failed."""
        if model is not None:
            self.models[self.here] = model
        if self._registered[self.namespace(cls)] == self._registered_before.pop():
            self.broken.add(self.namespace(cls))
        self._stack.pop()

    @property
    def here(self) -> Loc:
        """Key path of the entry being validated."""
        return self._stack[-1] if self._stack else ()

    def namespace(self, cls: type[Keyed]) -> Loc:
        enclosing = self._stack[-2] if cls.NESTED and len(self._stack) > 1 else ()
        return enclosing + (cls.NAMESPACE,)

    def register(self, cls: type[Keyed], key: Any) -> None:
        ns = self.namespace(cls)
        self._registered[ns] += 1
        self.key_at[self.here] = key
        first = self.first[ns].get(key)
        if first is not None:
            raise PydanticCustomError(
                "duplicate",
                "duplicate {what} {key} (first at {first})",
                {"what": cls.WHAT, "key": safe_repr(key), "first": format_path(first + (cls.KEY,))},
            )
        self.first[ns][key] = self.here

    def refer(self, sub: Loc, namespace: Loc, key: Any, what: str) -> None:
        """Record that the entry being validated names ``key`` of ``namespace`` at ``sub``."""
        self.refs.append((self.here + sub, namespace, key, what))

    def note(self, rule: str, sub: Loc, value: Any) -> None:
        """Record a value of the entry being validated (at ``sub``) for an instance-wide
        ``rule``, checked once the whole instance is read."""
        self.notes[rule].append((self.here + sub, value))

    def entry(self, path: Loc) -> tuple[Any, BaseModel | None]:
        """(key, validated model or None) of the entry at ``path``."""
        return self.key_at.get(path), self.models.get(path)

    def known(self, namespace: Loc) -> dict[Any, Loc] | None:
        """key -> path of the namespace's entries, or None when one entry has no usable key
        (its references are then not checked: the id problem is reported instead)."""
        return None if namespace in self.broken else self.first[namespace]

    def resolve(self) -> list[tuple[Loc, str, Any]]:
        """Unknown references, as (path, message, value)."""
        out: list[tuple[Loc, str, Any]] = []
        for path, ns, key, what in self.refs:
            known = self.known(ns)
            if known is not None and key not in known:
                names = listing(list(known)) or "none defined"
                out.append((path, f"unknown {what} {safe_repr(key)} ({ns[-1]}: {names})", key))
        return out


class Keyed(StrictModel):
    """A list entry with a key (``id``, or ``product`` for ``sites[].gpus``) unique in its
    namespace. ``LIST`` is the key path of the list relative to the enclosing entry (for
    ``NESTED`` entries, which live inside a site) or to the root; ``NAMESPACE`` names the
    set of keys that must differ (grid and cooling upgrades of a site share one)."""

    NAMESPACE: ClassVar[str]
    LIST: ClassVar[tuple[str, ...]]
    WHAT: ClassVar[str]  # "site id", used in messages
    KEY: ClassVar[str] = "id"
    NESTED: ClassVar[bool] = False

    @model_validator(mode="wrap")
    @classmethod
    def _entry(cls, data: Any, handler: Any, info: ValidationInfo) -> Any:
        ctx = context_of(info)
        if ctx is None:
            return handler(data)
        ctx.keys.enter(cls)
        model = None
        try:
            model = handler(data)
            return model
        finally:
            ctx.keys.leave(cls, model)

    @field_validator("id", "product", check_fields=False)
    @classmethod
    def _key(cls, value: Any, info: ValidationInfo) -> Any:
        ctx = context_of(info)
        if ctx is not None and info.field_name == cls.KEY:
            ctx.keys.register(cls, value)
        return value
