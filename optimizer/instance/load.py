"""Loading an instance: safe YAML, pydantic validation, series, cross-checks.

``load_instance`` returns a valid, cross-checked ``Instance`` or raises
``InstanceError`` listing every problem found; no other exception escapes.
"""

from __future__ import annotations

import difflib
import math
import numbers
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ValidationError
from yaml.constructor import ConstructorError

from .schema import (
    HOURLY_MESSAGE,
    MAX_INT,
    MISSING,
    PER_PERIOD_MESSAGE,
    SLUG_PATTERN,
    TAG_COLUMN,
    VALUE_TAGS,
    ColumnRef,
    Horizon,
    Instance,
    InstanceError,
    Problem,
    SeriesRef,
    ValueKind,
    field_by_key,
    field_kind,
    sub_model,
    yaml_keys,
)
from .series import TIMESTAMP, SeriesResult, count, read_series

__all__ = ["MAX_YAML_BYTES", "MAX_YAML_DEPTH", "MAX_YAML_NODES", "load_instance", "validate_data"]

MAX_YAML_BYTES = 50 * 1024 * 1024
MAX_YAML_NODES = 1_000_000  # after alias expansion
MAX_YAML_DEPTH = 64

Loc = tuple[Any, ...]

# --------------------------------------------------------------------------- YAML

_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# YAML 1.1 (PyYAML) reads 4.0e8 as a string: accept YAML 1.2 style floats too.
_FLOAT = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |[-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.VERBOSE,
)
_FLOAT_TAG = "tag:yaml.org,2002:float"
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _YamlLimit(Exception):
    pass


class InstanceLoader(_BaseLoader):  # type: ignore[misc, valid-type]
    """SafeLoader that rejects duplicate and non-string keys and reads 1e6 as a float."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, Any] = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE_TAG:
                    continue
                key = self.construct_object(key_node, deep=True)
                if not isinstance(key, str):
                    raise ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        f"keys must be strings, found {key!r} (quote it)",
                        key_node.start_mark,
                    )
                if key in seen:
                    raise ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        f"duplicate key {key!r} (first on line {seen[key].line + 1})",
                        key_node.start_mark,
                    )
                seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


InstanceLoader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != _FLOAT_TAG]
    for ch, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
}
InstanceLoader.add_implicit_resolver(_FLOAT_TAG, _FLOAT, list("-+0123456789."))


def _check_node_tree(root: yaml.Node) -> None:
    """Reject alias cycles, alias bombs (expanded size) and absurd nesting, iteratively."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    state: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]

    def children(n: yaml.Node) -> list[yaml.Node]:
        if isinstance(n, yaml.SequenceNode):
            return list(n.value)
        if isinstance(n, yaml.MappingNode):
            return [x for pair in n.value for x in pair]
        return []

    while stack:
        n, done = stack.pop()
        key = id(n)
        if done:
            kids = children(n)
            size[key] = 1 + sum(size[id(k)] for k in kids)
            depth[key] = 1 + max((depth[id(k)] for k in kids), default=0)
            state[key] = 1
            if size[key] > MAX_YAML_NODES:
                raise _YamlLimit(
                    f"the document has more than {MAX_YAML_NODES} values once aliases are expanded"
                )
            if depth[key] > MAX_YAML_DEPTH:
                raise _YamlLimit(f"the document is nested more than {MAX_YAML_DEPTH} levels deep")
            continue
        st = state.get(key)
        if st == 1:
            continue
        if st == 0:
            raise _YamlLimit("an alias refers to the mapping or list that contains it (a cycle)")
        state[key] = 0
        stack.append((n, True))
        stack.extend((k, False) for k in reversed(children(n)))


def _mark_text(err: yaml.MarkedYAMLError) -> str:
    mark = err.problem_mark or err.context_mark
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    parts = [p for p in (err.context, err.problem) if p]
    if err.context_mark is not None and err.problem_mark is not None and err.context:
        parts[0] = f"{err.context} (line {err.context_mark.line + 1})"
    return where + "; ".join(parts)


def _source_line(text: str, err: yaml.MarkedYAMLError) -> str | None:
    mark = err.problem_mark or err.context_mark
    if mark is None:
        return None
    lines = text.splitlines()
    return lines[mark.line][:200] if 0 <= mark.line < len(lines) else None


def parse_yaml_text(text: str, file_label: str) -> Any:
    """Parse YAML text with InstanceLoader; raise InstanceError on any problem."""

    def fail(message: str, value: object = None) -> InstanceError:
        return InstanceError([Problem(file_label, "<yaml>", value, message)])

    loader = InstanceLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise fail("the file is empty (expected a mapping with name, horizon, market, sites)")
        _check_node_tree(node)
        return loader.construct_document(node)
    except InstanceError:
        raise
    except _YamlLimit as e:
        raise fail(str(e)) from None
    except yaml.MarkedYAMLError as e:
        raise fail(f"invalid YAML: {_mark_text(e)}", _source_line(text, e)) from None
    except yaml.YAMLError as e:
        raise fail(f"invalid YAML: {e}") from None
    except RecursionError:
        raise fail(f"the document is nested more than {MAX_YAML_DEPTH} levels deep") from None
    except (ValueError, TypeError, OverflowError) as e:  # e.g. an int with too many digits
        raise fail(f"invalid YAML value: {e}") from None
    finally:
        loader.dispose()


def _read_yaml(path: Path, file_label: str) -> Any:
    def fail(message: str, value: object) -> InstanceError:
        return InstanceError([Problem(file_label, "<file>", value, message)])

    try:
        if not path.exists():
            raise fail("file not found", str(path))
        if not path.is_file():
            raise fail("not a regular file", str(path))
        with open(path, "rb") as fh:
            raw = fh.read(MAX_YAML_BYTES + 1)
    except InstanceError:
        raise
    except (OSError, ValueError) as e:
        raise fail(
            f"cannot read the file: {getattr(e, 'strerror', None) or e}", str(path)
        ) from None
    if len(raw) > MAX_YAML_BYTES:
        raise fail(f"file is larger than {MAX_YAML_BYTES // 2**20} MB", str(path))
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise fail(
            f"not UTF-8 text: byte {raw[e.start]:#04x} on line {line}", raw[e.start : e.start + 8]
        ) from None
    return parse_yaml_text(text, file_label)


# --------------------------------------------------------------------------- pydantic errors


def format_path(parts: Loc) -> str:
    out = ""
    for seg in parts:
        if isinstance(seg, int) and not isinstance(seg, bool):
            out += f"[{seg}]"
        elif isinstance(seg, str):
            out += f".{seg}" if out else seg
        else:
            out += f"[{seg!r}]"
    return out or "<root>"


_NOISE = re.compile(r"^(function-(after|before|wrap|plain)\[.*\]|[a-z-]+\[.*\])$")


def clean_loc(loc: Loc) -> tuple[Loc, type[BaseModel] | None]:
    """YAML key path of a pydantic loc, and the model holding its last key (if any)."""
    out: list[Any] = []
    state: tuple[str, Any] = ("model", Instance)
    owner: type[BaseModel] | None = None
    for seg in loc:
        tag, obj = state
        if tag == "kind":
            if seg in VALUE_TAGS:
                state = ("model", ColumnRef) if seg == TAG_COLUMN else ("leaf", None)
                continue
            out.append(seg)
            state = ("leaf", None)
        elif tag == "model":
            out.append(seg)
            owner = obj
            name = field_by_key(obj, seg)
            state = ("leaf", None)
            if name is not None:
                kind = field_kind(obj, name)
                sub = sub_model(obj, name)
                if kind is not None:
                    state = ("kind", kind)
                elif sub is not None:
                    state = ("list", sub[0]) if sub[1] else ("model", sub[0])
        elif tag == "list":
            out.append(seg)
            state = ("model", obj) if isinstance(seg, int) else ("leaf", None)
        else:
            if isinstance(seg, str) and _NOISE.match(seg):
                continue
            out.append(seg)
    return tuple(out), owner


def _kind_at(loc: Loc) -> ValueKind | None:
    state: tuple[str, Any] = ("model", Instance)
    kind = None
    for seg in loc:
        tag, obj = state
        kind = None
        if tag == "model":
            name = field_by_key(obj, seg)
            if name is None:
                return None
            kind = field_kind(obj, name)
            sub = sub_model(obj, name)
            state = ("leaf", None)
            if sub is not None:
                state = ("list", sub[0]) if sub[1] else ("model", sub[0])
        elif tag == "list":
            state = ("model", obj)
        else:
            return None
    return kind


def _g(bound: object) -> str:
    if _is_int(bound):
        return str(bound)
    return f"{bound:g}" if _is_real(bound) else str(bound)


def _message(err: dict, owner: type[BaseModel] | None, key: object) -> str:
    t = err["type"]
    ctx = err.get("ctx") or {}
    if t == "missing":
        return "missing required key"
    if t == "extra_forbidden":
        msg = f"unknown key {key!r}"
        if owner is not None and isinstance(key, str):
            close = difflib.get_close_matches(key, yaml_keys(owner), n=1)
            if close:
                msg += f"; did you mean {close[0]!r}?"
            else:
                msg += f"; allowed keys: {', '.join(yaml_keys(owner))}"
        return msg
    if t in ("float_type", "float_parsing", "number_type"):
        return "expected a number"
    if t in ("int_type", "int_parsing", "int_from_float"):
        return "expected a whole number"
    if t == "finite_number":
        return "must be a finite number"
    if t in ("bool_type", "bool_parsing"):
        return "expected true or false"
    if t in ("string_type", "str_type"):
        return "expected a string"
    if t == "string_pattern_mismatch":
        if ctx.get("pattern") == SLUG_PATTERN:
            return "must be a slug: lowercase letters, digits and '-' only ([a-z0-9-]+)"
        return f"must match {ctx.get('pattern')}"
    if t == "string_too_short":
        return "must not be empty"
    if t in ("list_type", "tuple_type"):
        return "expected a list"
    if t in ("model_type", "model_attributes_type", "dict_type"):
        return "expected a mapping (key: value pairs)"
    if t == "literal_error":
        return f"expected one of {ctx.get('expected', '')}"
    if t == "greater_than":
        return f"must be > {_g(ctx.get('gt'))}"
    if t == "greater_than_equal":
        return f"must be >= {_g(ctx.get('ge'))}"
    if t == "less_than":
        return f"must be < {_g(ctx.get('lt'))}"
    if t == "less_than_equal":
        return f"must be <= {_g(ctx.get('le'))}"
    if t == "too_short":
        return f"must have at least {ctx.get('min_length')} item(s)"
    if t == "invalid_key":
        return "keys must be strings"
    if t == "value_kind":
        return err["msg"]
    return str(err.get("msg", t))


def problems_from_validation(
    e: ValidationError, file_label: str, prefix: Loc = ()
) -> list[Problem]:
    out: list[Problem] = []
    for err in e.errors(include_url=False):
        loc = prefix + tuple(err["loc"])
        if err["type"] == "instance_rule":
            for sub, message, value in err["ctx"]["problems"]:
                path, _ = clean_loc(loc + tuple(sub))
                out.append(Problem(file_label, format_path(path), value, message))
            continue
        path, owner = clean_loc(loc)
        key = path[-1] if path else None
        message = _message(err, owner, key)
        if err["type"] in ("value_kind", "union_tag_invalid", "union_tag_not_found"):
            kind = _kind_at(path)
            if kind is not None:
                message = HOURLY_MESSAGE if kind.kind == "hourly" else PER_PERIOD_MESSAGE
        value = MISSING if err["type"] == "missing" else err.get("input")
        out.append(Problem(file_label, format_path(path), value, message))
    return out


# --------------------------------------------------------------------------- cross-checks


def _is_int(v: object) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_real(v: object) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _entries(data: Any, key: str) -> list[tuple[int, dict]]:
    items = data.get(key) if isinstance(data, dict) else None
    if not isinstance(items, list):
        return []
    return [(i, x) for i, x in enumerate(items) if isinstance(x, dict)]


def _walk_values(
    model: type[BaseModel], raw: Any, path: Loc
) -> Iterator[tuple[Loc, ValueKind, Any]]:
    """Every hourly / per-period value present in ``raw``, with its path and kind."""
    if not isinstance(raw, dict):
        return
    for name, info in model.model_fields.items():
        key = info.alias or name
        if key not in raw:
            continue
        value = raw[key]
        kind = field_kind(model, name)
        if kind is not None:
            yield path + (key,), kind, value
            continue
        sub = sub_model(model, name)
        if sub is None:
            continue
        cls, is_list = sub
        if is_list:
            if isinstance(value, list):
                for i, item in enumerate(value):
                    yield from _walk_values(cls, item, path + (key, i))
        else:
            yield from _walk_values(cls, value, path + (key,))


class _Checker:
    def __init__(self, data: dict, file_label: str, periods: int | None, series: SeriesContext):
        self.data = data
        self.file = file_label
        self.P = periods
        self.series = series
        self.problems: list[Problem] = []

    def add(self, path: Loc, message: str, value: object) -> None:
        self.problems.append(Problem(self.file, format_path(path), value, message))

    # ---- ids
    def unique(self, entries: list[tuple[Loc, Any]], what: str, key: str = "id") -> None:
        first: dict[str, Loc] = {}
        for path, value in entries:
            if not isinstance(value, str):
                continue
            if value in first:
                self.add(
                    path + (key,),
                    f"duplicate {what} {value!r} (first at {format_path(first[value] + (key,))})",
                    value,
                )
            else:
                first[value] = path

    def ids(self, key: str) -> set[str] | None:
        """The ids of a top-level list, or None when one is unusable (avoid cascades)."""
        raw = self.data.get(key, [])
        if not isinstance(raw, list):
            return None
        ids = set()
        for x in raw:
            if not isinstance(x, dict) or not isinstance(x.get("id"), str):
                return None
            ids.add(x["id"])
        return ids

    def run(self) -> list[Problem]:
        d = self.data
        for key, what in (
            ("sites", "site id"),
            ("gpu_products", "product id"),
            ("contracts", "contract id"),
            ("leases", "lease id"),
            ("ppas", "PPA id"),
        ):
            self.unique([((key, i), x.get("id")) for i, x in _entries(d, key)], what)
        for i, site in _entries(d, "sites"):
            sp = ("sites", i)
            self.unique(
                [(sp + ("fleet", j), f.get("id")) for j, f in _entries(site, "fleet")], "fleet id"
            )
            ups = []
            grid = site.get("grid")
            cooling = site.get("cooling")
            ups += [
                (sp + ("grid", "upgrades", j), u.get("id")) for j, u in _entries(grid, "upgrades")
            ]
            ups += [
                (sp + ("cooling", "upgrades", j), u.get("id"))
                for j, u in _entries(cooling, "upgrades")
            ]
            self.unique(ups, "upgrade id (grid and cooling upgrades of a site share ids)")
            self.unique(
                [(sp + ("gpus", j), g.get("product")) for j, g in _entries(site, "gpus")],
                "installed product",
                key="product",
            )

        sites = self.ids("sites")
        products = self.ids("gpu_products")
        for key in ("contracts", "leases", "ppas"):
            for i, x in _entries(d, key):
                ref = x.get("site")
                if sites is not None and isinstance(ref, str) and ref not in sites:
                    self.add(
                        (key, i, "site"),
                        f"unknown site {ref!r} (sites: {', '.join(sorted(sites))})",
                        ref,
                    )
                end = x.get("end_period")
                if self.P is not None and _is_int(end) and end > self.P:
                    self.add(
                        (key, i, "end_period"),
                        f"beyond the horizon: end_period (exclusive) must be at most horizon.periods = {self.P}",
                        end,
                    )
        refs = [(("contracts", i), x.get("product")) for i, x in _entries(d, "contracts")]
        for i, site in _entries(d, "sites"):
            refs += [(("sites", i, "gpus", j), g.get("product")) for j, g in _entries(site, "gpus")]
        for path, ref in refs:
            if products is not None and isinstance(ref, str) and ref not in products:
                known = ", ".join(sorted(products)) or "none defined"
                self.add(
                    path + ("product",), f"unknown GPU product {ref!r} (gpu_products: {known})", ref
                )

        for path, kind, value in _walk_values(Instance, d, ()):
            if isinstance(value, list):
                if self.P is not None and len(value) != self.P:
                    self.add(
                        path,
                        f"a per-period list needs one value per period: {len(value)} values "
                        f"but horizon.periods is {self.P}",
                        value,
                    )
            elif isinstance(value, dict) and isinstance(value.get("column"), str):
                scale = value.get("scale", 1.0)
                self.column(path, value["column"], path + ("column",), kind, scale)

        for i, x in _entries(d, "ppas"):
            col = x.get("profile_column")
            if isinstance(col, str) and col:
                self.column(
                    ("ppas", i, "profile_column"),
                    col,
                    ("ppas", i, "profile_column"),
                    ValueKind("hourly", ge=0, le=1),
                    1.0,
                    what="capacity factors",
                )
        for i, site in _entries(d, "sites"):
            grid = site.get("grid")
            cp = grid.get("coincident_peak") if isinstance(grid, dict) else None
            col = cp.get("flag_column") if isinstance(cp, dict) else None
            if isinstance(col, str) and col:
                path = ("sites", i, "grid", "coincident_peak", "flag_column")
                if self.exists(path, col):
                    self.flags(path, col)
        return self.problems

    # ---- columns
    def exists(self, ref_path: Loc, col: str) -> bool:
        s = self.series
        if not s.declared:
            self.add(
                ref_path,
                f"uses series column {col!r} but the instance has no `series: {{file: ...}}`",
                col,
            )
            return False
        if s.columns is None:
            return False  # the series file itself failed; already reported
        if col == TIMESTAMP:
            self.add(ref_path, f"{TIMESTAMP!r} is the time column, not a data column", col)
            return False
        if col not in s.columns:
            known = ", ".join(s.columns) or "none"
            close = difflib.get_close_matches(col, s.columns, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            self.add(
                ref_path, f"unknown series column {col!r}{hint} (columns of {s.ref}: {known})", col
            )
            return False
        return True

    def column(
        self, path: Loc, col: str, ref_path: Loc, kind: ValueKind, scale: Any, what: str = "values"
    ) -> None:
        if not self.exists(ref_path, col):
            return
        frame = self.series.frame
        if (
            frame is None
            or col not in frame
            or not _is_real(scale)
            or not math.isfinite(float(scale))
        ):
            return
        with np.errstate(over="ignore", invalid="ignore"):
            values = frame[col].to_numpy(dtype=float) * float(scale)
        bad = ~np.isfinite(values)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            self.add(
                path,
                f"column {col!r} times scale {float(scale):g} overflows (not finite) at "
                f"{frame.index[i].strftime('%Y-%m-%dT%H:%M:%SZ')}",
                float(values[i]),
            )
            return
        bad = kind.violated(values)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            scaled = f" times scale {float(scale):g}" if float(scale) != 1.0 else ""
            self.add(
                path,
                f"column {col!r}{scaled} must be {kind.bounds_text()} in every hour of the horizon "
                f"({what}); {count(int(bad.sum()), 'hour')} not, the first at "
                f"{frame.index[i].strftime('%Y-%m-%dT%H:%M:%SZ')}",
                float(values[i]),
            )

    def flags(self, path: Loc, col: str) -> None:
        frame = self.series.frame
        if frame is None or col not in frame:
            return
        values = frame[col].to_numpy(dtype=float)
        bad = (values != 0.0) & (values != 1.0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            self.add(
                path,
                f"column {col!r} must hold only 0 or 1 in every hour of the horizon; "
                f"{count(int(bad.sum()), 'hour')} not, the first at "
                f"{frame.index[i].strftime('%Y-%m-%dT%H:%M:%SZ')}",
                float(values[i]),
            )


class SeriesContext:
    def __init__(self, declared: bool, ref: str | None, result: SeriesResult | None):
        self.declared = declared
        self.ref = ref
        self.columns = result.columns if result is not None else None
        self.frame = result.frame if result is not None else None


# --------------------------------------------------------------------------- entry points


def _try_model(cls: type[BaseModel], raw: Any) -> Any:
    try:
        return cls.model_validate(raw)
    except ValidationError:
        return None


def _raw_periods(raw: Any) -> int | None:
    """horizon.periods when it is usable although the horizon as a whole is not."""
    p = raw.get("periods") if isinstance(raw, dict) else None
    return p if _is_int(p) and 1 <= p <= MAX_INT else None


def _validate(data: Any, base_dir: Path, file_label: str, source_path: Path | None) -> Instance:
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
    problems: list[Problem] = []
    model: Instance | None = None
    try:
        model = Instance.model_validate(data)
    except ValidationError as e:
        problems += problems_from_validation(e, file_label)

    horizon = model.horizon if model is not None else _try_model(Horizon, data.get("horizon"))
    raw_series = data.get("series")
    declared = raw_series is not None
    if model is not None:
        ref = model.series_ref
    else:
        ref = _try_model(SeriesRef, raw_series) if declared else None
    result: SeriesResult | None = None
    hours = horizon.hours() if horizon is not None else None
    if ref is not None:
        result = read_series(ref.file, base_dir, hours, file_label)
        problems += result.problems
    ctx = SeriesContext(declared, ref.file if ref is not None else None, result)
    periods = horizon.periods if horizon is not None else _raw_periods(data.get("horizon"))
    problems += _Checker(data, file_label, periods, ctx).run()
    if problems or model is None:
        raise InstanceError(problems)
    assert hours is not None
    if result is not None:
        assert result.complete
        model._series = result.frame
        model._series_path = result.path
    else:
        model._series = pd.DataFrame(index=hours)
        model._series_path = None
    model._source_path = source_path
    return model


def _internal(file_label: str, e: BaseException) -> InstanceError:
    return InstanceError(
        [
            Problem(
                file_label,
                "<root>",
                None,
                f"internal error while validating (please report): {type(e).__name__}: {e}",
            )
        ]
    )


def validate_data(
    data: Any, base_dir: Path, file_label: str = "<dict>", source_path: Path | None = None
) -> Instance:
    """Validate parsed instance data (a dict). Raises InstanceError only."""
    try:
        return _validate(data, Path(base_dir), file_label, source_path)
    except InstanceError:
        raise
    except RecursionError:
        raise InstanceError(
            [Problem(file_label, "<root>", None, "the data is nested too deeply")]
        ) from None
    except Exception as e:
        raise _internal(file_label, e) from e


def load_instance(path: str | Path) -> Instance:
    """Load, validate and cross-check an instance YAML file (and its series CSV).

    Returns a valid ``Instance``; raises ``InstanceError`` with every problem found.
    """
    file_label = str(path)
    try:
        p = Path(os.path.abspath(os.fspath(path)))
        data = _read_yaml(p, file_label)
        return validate_data(data, p.parent, file_label, source_path=p)
    except InstanceError:
        raise
    except Exception as e:
        raise _internal(file_label, e) from e
