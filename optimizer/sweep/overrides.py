"""Overrides: dotted paths into an instance, ``=`` to set a value and ``*=`` to scale one.

    market.pool_fee=0.03
    market.hashprice_usd_per_ph_day*=0.7          # a {column:, scale:} value: its scale
    sites[permian].grid.import_limit_mw=140
    gpu_products[h100-hgx].capex_usd*=0.9         # a per-period list: every item
    leases[tenant-b].start_period=3

``[id]`` selects a list entry by its id (``product`` for ``sites[].gpus``). A path is
checked once against the instance and its schema (``locate``); a bad one raises
``OverrideError`` naming the path, the nearest valid key and the value. Applied to the
instance's dict, a scenario is then validated exactly like an instance file
(``Instance.from_dict``).
"""

from __future__ import annotations

import copy
import difflib
import numbers
import re
import typing
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from ..instance import Instance, InstanceError
from ..instance.load import parse_yaml_text
from ..instance.problems import safe_repr

# a path: key or key[id] segments joined by dots; ids are the instance's slugs
_SEGMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\[([^\[\]]+)\])?$")
# keys a sweep may not vary: every scenario reads the instance's own series file
FIXED = {"series": "every scenario reads the instance's series file; vary a "
                   "{column:, scale:} value instead"}


class OverrideError(ValueError):
    """An override that cannot apply to the instance (a usage error: exit 2)."""


@dataclass(frozen=True)
class KeyPath:
    """A parsed override path: ``(key, id or None)`` per segment."""

    text: str
    segments: tuple[tuple[str, str | None], ...]

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Override:
    """One change of a scenario: ``path op value``."""

    path: KeyPath
    op: str  # "=" or "*="
    value: Any

    @property
    def column(self) -> str:
        """Its column in the sweep's output (and in a scenarios CSV)."""
        return column_name(self.path.text, self.op)


def column_name(path: str, op: str) -> str:
    return path if op == "=" else f"{path}{op}"


def split_column(header: str) -> tuple[str, str]:
    """``"market.pool_fee"`` -> (path, "="); ``"x*="`` -> (x, "*="); ``"x="`` -> (x, "=")."""
    text = header.strip()
    for op in ("*=", "="):
        if text.endswith(op):
            return text[: -len(op)].strip(), op
    return text, "="


def parse_path(text: str, source: str, value: Any = None) -> KeyPath:
    segments = []
    for part in text.split("."):
        found = _SEGMENT.match(part)
        if found is None:
            raise OverrideError(
                f"{source}: {text}: not a path (expected keys joined by dots, a list entry "
                f"selected by its id in brackets, e.g. sites[permian].grid.import_limit_mw) "
                f"(got {safe_repr(value)})")
        segments.append((found.group(1), found.group(2)))
    return KeyPath(text, tuple(segments))


def parse_value(text: str, source: str) -> Any:
    """A value as YAML reads it in an instance file (``4.0e8`` a number, ``[1, 2]`` a
    list, ``{column: x, scale: 2}`` a mapping, anything else a string)."""
    try:
        return parse_yaml_text(text, source)
    except InstanceError as exc:
        raise OverrideError(f"{source}: cannot read the value {text!r}: "
                            f"{exc.problems[0].message}") from None


def split_values(text: str) -> list[str]:
    """``"1,2,[3, 4],{column: a, scale: 2}"`` -> its four values (commas inside brackets
    or braces do not split)."""
    out, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(text[start:i])
            start = i + 1
    out.append(text[start:])
    return [v.strip() for v in out]


def parse_vary(option: str) -> tuple[KeyPath, str, list[Any]]:
    """``--vary PATH=v1,v2`` or ``--vary PATH*=f1,f2`` -> (path, op, values)."""
    source = "--vary"
    found = re.match(r"^\s*([^=*]+?)\s*(\*=|=)(.*)$", option, re.S)
    if found is None:
        raise OverrideError(f"{source}: {option!r}: expected PATH=v1,v2,... or PATH*=f1,f2,...")
    path_text, op, rest = found.groups()
    raw = split_values(rest)
    if not rest.strip() or any(not v for v in raw):
        raise OverrideError(f"{source}: {path_text}: an empty value in {rest.strip()!r}")
    values = [parse_value(v, f"{source} {path_text}{op}") for v in raw]
    return parse_path(path_text, source, values if len(values) != 1 else values[0]), op, values


# --------------------------------------------------------------------------- the schema

def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    out: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        out += _models_in(arg)
    return out


def keys_of(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def nested(model: type[BaseModel] | None, key: str) -> type[BaseModel] | None:
    """The model of the mapping (or list entries) under ``key``, if one."""
    if model is None:
        return None
    for name, f in model.model_fields.items():
        if (f.alias or name) == key:
            found = _models_in(f.annotation)
            return found[0] if found else None
    return None


def entry_key(model: type[BaseModel] | None) -> str:
    return getattr(model, "KEY", "id") if model is not None else "id"


def _suggest(word: str, choices: list[str], what: str) -> str:
    close = difflib.get_close_matches(word, choices, n=1) or [
        c for c in choices if c.startswith(word)][:1]  # a unit-less key: hashprice
    if close:
        return f"did you mean {close[0]!r}?"
    return f"{what}: {', '.join(choices)}" if choices else f"there are no {what}"


def _where(segments) -> str:
    return ".".join(k + (f"[{i}]" if i is not None else "") for k, i in segments) or "the instance"


# --------------------------------------------------------------------------- resolve, apply

def locate(data: dict, path: KeyPath, source: str, value: Any) -> tuple[Any, Any]:
    """(container, key) of ``path`` in the instance dict ``data``: ``container[key]`` is
    the value to set (the key may be absent: an optional key not given). Raises
    OverrideError naming the path, the nearest valid key and the value."""

    def bad(reason: str) -> OverrideError:
        return OverrideError(f"{source}: {path}: {reason} (got {safe_repr(value)})")

    node: Any = data
    model: type[BaseModel] | None = Instance
    segments = path.segments
    if segments[0][0] in FIXED:
        raise bad(f"{segments[0][0]} cannot be varied: {FIXED[segments[0][0]]}")
    for n, (key, ident) in enumerate(segments):
        last = n == len(segments) - 1
        where = _where(segments[:n])
        if not isinstance(node, dict):
            raise bad(f"{where} is {safe_repr(node)}, not a mapping of keys")
        allowed = keys_of(model) if model is not None else sorted(node)
        if key not in allowed and key not in node:
            raise bad(f"unknown key {key!r} in {where}; {_suggest(key, allowed, 'keys')}")
        here = _where(segments[: n + 1])
        if ident is None:
            if last:
                return node, key
            if key not in node:
                raise bad(f"{here} is not set in this instance; set the whole of it with '='")
            node, model = node[key], nested(model, key)
            continue
        entries = node.get(key)
        inner = nested(model, key)
        field = entry_key(inner)
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise bad(f"{_where(segments[:n])}.{key} is not a list of entries with ids")
        ids = [e.get(field) for e in entries]
        if ident not in ids:
            raise bad(f"no entry {ident!r} in {key}; "
                      f"{_suggest(ident, [str(i) for i in ids], 'its entries')}")
        at = ids.index(ident)
        if last:
            return entries, at
        node, model = entries[at], inner
    raise AssertionError("unreachable")  # pragma: no cover


def _scaled(current: Any, factor: float, path: KeyPath, source: str, shown: Any = None) -> Any:
    def number(x: Any) -> bool:
        return isinstance(x, numbers.Real) and not isinstance(x, bool)

    def times(x: Any) -> Any:
        y = x * factor
        # an integer key (units, counts) stays an integer when the product is whole
        return int(round(y)) if isinstance(x, int) and float(y).is_integer() else y

    if number(current):
        return times(current)
    if isinstance(current, list) and current and all(number(x) for x in current):
        return [times(x) for x in current]
    if isinstance(current, dict) and "column" in current:
        return {**current, "scale": times(current.get("scale", 1.0))}
    raise OverrideError(
        f"{source}: {path}: cannot scale {safe_repr(current)}: '*=' scales a number, a "
        f"per-period list or a {{column:, scale:}} value (got "
        f"{safe_repr(factor if shown is None else shown)})")


def apply(data: dict, overrides: list[Override], source: str = "scenario") -> dict:
    """A copy of the instance dict with the overrides applied, in order."""
    out = copy.deepcopy(data)
    for o in overrides:
        container, key = locate(out, o.path, source, o.value)
        if o.op == "=":
            container[key] = copy.deepcopy(o.value)
            continue
        if not isinstance(o.value, numbers.Real) or isinstance(o.value, bool):
            raise OverrideError(f"{source}: {o.path}: '*=' needs a number (got "
                                f"{safe_repr(o.value)})")
        container[key] = _scaled(_current(container, key, o.path, source, o.value),
                                 float(o.value), o.path, source)
    return out


def _current(container: Any, key: Any, path: KeyPath, source: str, shown: Any) -> Any:
    if isinstance(container, dict) and key not in container:
        raise OverrideError(f"{source}: {path}: not set in this instance, so there is "
                            f"nothing to scale; set it with '=' (got {safe_repr(shown)})")
    return container[key]


def check_paths(data: dict, columns: dict[str, list[Any]], source: str
                ) -> list[tuple[KeyPath, str]]:
    """Parse and locate every column (``path`` or ``path*=``) against the instance before
    anything runs; (path, op) per column, in order."""
    out = []
    for header, values in columns.items():
        text, op = split_column(header)
        shown = values if len(values) != 1 else values[0]
        path = parse_path(text, source, shown)
        container, key = locate(data, path, source, shown)
        if op == "*=":
            factors = [v for v in values if not isinstance(v, numbers.Real)
                       or isinstance(v, bool)]
            if factors:
                raise OverrideError(f"{source}: {path}: '*=' needs a number (got "
                                    f"{safe_repr(factors[0])})")
            _scaled(_current(container, key, path, source, shown), 1.0, path, source, shown)
        out.append((path, op))
    return out


def plain(value: Any) -> Any:
    """A value as it appears in the output tables: numbers and strings as they are,
    anything else as its YAML flow text."""
    if value is None or isinstance(value, (str, bool)) or (
            isinstance(value, numbers.Real)):
        return value
    import yaml

    return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()

