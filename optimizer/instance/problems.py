"""Validation problems (file, key path, value, message) and their conversion from pydantic.

The bottom of ``optimizer.instance``: it imports nothing from the package. Every text
that comes from the user (values, keys, column names) goes through ``safe_repr`` before
it reaches a message, so a 100 KB key is never echoed whole.
"""

from __future__ import annotations

import difflib
import numbers
import reprlib
from dataclasses import dataclass
from typing import Any, get_args

from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticCustomError

__all__ = [
    "MISSING",
    "InstanceError",
    "Loc",
    "Problem",
    "count",
    "cut",
    "format_path",
    "listing",
    "problems_from_validation",
    "rule_error",
    "safe_repr",
]

Loc = tuple[Any, ...]


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


def cut(text: str, limit: int = 80) -> str:
    """``text`` itself when short, else its start and end around '...'."""
    half = (limit - 3) // 2
    return text if len(text) <= limit else f"{text[:half]}...{text[-half:]}"


def listing(names: list[str], limit: int = 12) -> str:
    """'a, b, c' of at most ``limit`` (short) names, then 'and N more'."""
    shown = ", ".join(
        safe_repr(n)[1:-1] if isinstance(n, str) else safe_repr(n) for n in names[:limit]
    )
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def count(n: int, what: str) -> str:
    """'1 row', '3 rows'."""
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


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


def format_path(parts: Loc) -> str:
    """``('sites', 0, 'grid')`` -> ``sites[0].grid``."""
    out = ""
    for seg in parts:
        if isinstance(seg, int) and not isinstance(seg, bool):
            out += f"[{seg}]"
        elif isinstance(seg, str):
            seg = cut(seg)  # an unknown key may be 100 KB long
            out += f".{seg}" if out else seg
        else:
            out += f"[{safe_repr(seg)}]"
    return out or "<root>"


def rule_error(problems: list[tuple[Loc, str, object]]) -> PydanticCustomError:
    """A validator's error carrying one or more (sub-path, message, value) problems.

    Each becomes its own Problem at the validated object's path plus the sub-path, with
    its own value (pydantic alone would report the whole object as the value).
    """
    summary = "; ".join(f"{format_path(sub)}: {msg}" for sub, msg, _ in problems)
    return PydanticCustomError(
        "instance_rule", "{summary}", {"summary": summary, "problems": problems}
    )


# Loc segments that are not YAML keys: the tags of the hourly / per-period unions
# (values.py) and pydantic's marker of a dict key.
TAG_NUMBER = "<number>"
TAG_LIST = "<list>"
TAG_COLUMN = "<column>"
TAG_NONE = "<none>"
LOC_MARKERS = frozenset({TAG_NUMBER, TAG_LIST, TAG_COLUMN, TAG_NONE, "[key]"})

# pydantic's built-in error types, in the words of the docs; ctx fills the braces.
# Errors raised by our own validators (PydanticCustomError) carry their own message.
MESSAGES = {
    "missing": "missing required key",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "int_from_float": "must be a whole number",
    "finite_number": "must be a finite number",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "string_type": "expected a string",
    "string_too_short": "must not be empty",
    "list_type": "expected a list",
    "tuple_type": "expected a list",
    "model_type": "expected a mapping (key: value pairs)",
    "model_attributes_type": "expected a mapping (key: value pairs)",
    "dict_type": "expected a mapping (key: value pairs)",
    "literal_error": "expected one of {expected}",
    "greater_than": "must be > {gt}",
    "greater_than_equal": "must be >= {ge}",
    "less_than": "must be < {lt}",
    "less_than_equal": "must be <= {le}",
    "too_short": "must have at least {min_length} item(s)",
}


def _g(value: object) -> object:
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, numbers.Integral)):
        return f"{value:g}"
    return value


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model class inside a field's annotation (list[X], X | None, a union holding X)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        if (found := _model_in(arg)) is not None:
            return found
    return None


def _keys_of(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def _model_at(root: type[BaseModel], path: Loc) -> type[BaseModel] | None:
    """The model whose keys the mapping at ``path`` (a cleaned loc) holds."""
    model = root
    for seg in path:
        if isinstance(seg, int):
            continue
        field = next(
            (f for name, f in model.model_fields.items() if (f.alias or name) == seg), None
        )
        model = _model_in(field.annotation) if field is not None else None
        if model is None:
            return None
    return model


def _unknown_key(root: type[BaseModel], path: Loc) -> str:
    key = path[-1]
    message = f"unknown key {safe_repr(key)}"
    owner = _model_at(root, path[:-1])
    if owner is None or not isinstance(key, str):
        return message
    allowed = _keys_of(owner)
    close = difflib.get_close_matches(key, allowed, n=1) if len(key) <= 200 else []
    if close:
        return f"{message}; did you mean {close[0]!r}?"
    return f"{message}; allowed keys: {', '.join(allowed)}"


def problems_from_validation(
    e: ValidationError, file_label: str, root: type[BaseModel]
) -> list[Problem]:
    """One Problem per pydantic error (or per entry of a ``rule_error``)."""
    out: list[Problem] = []
    for err in e.errors(include_url=False):
        loc = tuple(seg for seg in err["loc"] if seg not in LOC_MARKERS)
        kind = err["type"]
        if kind == "instance_rule":
            for sub, message, value in err["ctx"]["problems"]:
                out.append(Problem(file_label, format_path(loc + tuple(sub)), value, message))
            continue
        if kind == "extra_forbidden":
            message = _unknown_key(root, loc)
        elif kind == "literal_error" and err["loc"][-1:] == ("[key]",):
            message = f"unknown key {safe_repr(loc[-1])}: expected one of {err['ctx']['expected']}"
        elif kind in MESSAGES:
            ctx = {k: _g(v) for k, v in (err.get("ctx") or {}).items()}
            message = MESSAGES[kind].format(**ctx)
        else:
            message = err["msg"]
        value = MISSING if kind == "missing" else err.get("input")
        out.append(Problem(file_label, format_path(loc), value, message))
    return out
