"""Loading an instance file: safe YAML, then ``Instance.from_dict``.

``load_instance`` returns a valid, cross-checked ``Instance`` or raises
``InstanceError`` listing every problem found; no other exception escapes.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError

from .problems import InstanceError, Problem, safe_repr
from .schema import Instance

__all__ = ["MAX_YAML_BYTES", "MAX_YAML_DEPTH", "MAX_YAML_NODES", "load_instance", "parse_yaml_text"]

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
    """A safety limit of the YAML reader, at ``mark`` (a yaml.Mark)."""

    def __init__(self, message: str, mark: Any):
        super().__init__(message)
        self.mark = mark


class _ValueError(ConstructorError):
    """A scalar that has the form of a YAML int, date, ... but no such value."""


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
                        f"keys must be strings, found {safe_repr(key)} (quote it)",
                        key_node.start_mark,
                    )
                if key in seen:
                    raise ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        f"duplicate key {safe_repr(key)} (first on line {seen[key].line + 1})",
                        key_node.start_mark,
                    )
                seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)

    def construct_object(self, node, deep=False):
        # Python's int(), date() ... raise without a position (a 5,000-digit integer,
        # 2027-02-30): give the node's, like every other YAML error.
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, OverflowError) as e:
            reason = str(e)
            if node.tag.endswith(":int") and "digits" in reason:
                reason = f"an integer of more than {sys.get_int_max_str_digits()} digits"
            raise _ValueError(None, None, reason, node.start_mark) from None


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
                    f"the document has more than {MAX_YAML_NODES} values once aliases are expanded",
                    n.start_mark,
                )
            if depth[key] > MAX_YAML_DEPTH:
                raise _YamlLimit(
                    f"the document is nested more than {MAX_YAML_DEPTH} levels deep", n.start_mark
                )
            continue
        st = state.get(key)
        if st == 1:
            continue
        if st == 0:
            raise _YamlLimit(
                "an alias refers to the mapping or list that contains it (a cycle)", n.start_mark
            )
        state[key] = 0
        stack.append((n, True))
        stack.extend((k, False) for k in reversed(children(n)))


def _check_depth(text: str) -> None:
    """Reject nesting deeper than MAX_YAML_DEPTH from the event stream, before libyaml's
    recursive composer (which overflows the C stack, a crash, near 50,000 levels)."""
    depth = 0
    for event in yaml.parse(text, Loader=InstanceLoader):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_YAML_DEPTH:
                raise _YamlLimit(
                    f"the document is nested more than {MAX_YAML_DEPTH} levels deep",
                    event.start_mark,
                )
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1


def _position(text: str, index: int, in_utf8: bool) -> tuple[int, int]:
    """(line, column), from 1, of a character index (a byte index into UTF-8 if ``in_utf8``)."""
    if in_utf8:
        text = text.encode("utf-8", "surrogatepass")[:index].decode("utf-8", "replace")
        index = len(text)
    line_start = text.rfind("\n", 0, index) + 1
    return text.count("\n", 0, index) + 1, index - line_start + 1


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
    """Parse YAML text with InstanceLoader; raise InstanceError on any problem.

    Every problem of the YAML itself names its line and column.
    """

    def fail(message: str, value: object = None) -> InstanceError:
        return InstanceError([Problem(file_label, "<yaml>", value, message)])

    loader = None
    try:
        loader = InstanceLoader(text)
        _check_depth(text)
        node = loader.get_single_node()
        if node is None:
            raise fail("the file is empty (expected a mapping with name, horizon, market, sites)")
        _check_node_tree(node)
        return loader.construct_document(node)
    except InstanceError:
        raise
    except _YamlLimit as e:
        raise fail(f"line {e.mark.line + 1}, column {e.mark.column + 1}: {e}") from None
    except yaml.reader.ReaderError as e:
        # libyaml counts the position in bytes of the UTF-8 text, PyYAML in characters
        in_utf8 = isinstance(loader, getattr(getattr(yaml, "cyaml", None), "CParser", ()))
        char = e.character if isinstance(e.character, int) else ord(e.character)
        line, column = _position(text, e.position, in_utf8)
        raise fail(
            f"invalid YAML: line {line}, column {column}: character U+{char:04X}: {e.reason}",
            text.split("\n")[line - 1][:200],
        ) from None
    except _ValueError as e:
        raise fail(f"invalid YAML value: {_mark_text(e)}", _source_line(text, e)) from None
    except yaml.MarkedYAMLError as e:
        raise fail(f"invalid YAML: {_mark_text(e)}", _source_line(text, e)) from None
    except UnicodeEncodeError as e:  # a lone surrogate, only in a str given by a caller
        line, column = _position(text, e.start, in_utf8=False)
        raise fail(
            f"invalid YAML: line {line}, column {column}: not a Unicode character ({e.reason})"
        ) from None
    except RecursionError:  # pragma: no cover - _check_depth stops nesting long before
        raise fail(f"the document is nested more than {MAX_YAML_DEPTH} levels deep") from None
    finally:
        if loader is not None:
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
        column = e.start - (raw.rfind(b"\n", 0, e.start) + 1) + 1
        raise fail(
            f"not UTF-8 text: byte {raw[e.start]:#04x} on line {line}, column {column}",
            raw[e.start : e.start + 8],
        ) from None
    return parse_yaml_text(text, file_label)


# --------------------------------------------------------------------------- entry point


def load_instance(path: str | Path) -> Instance:
    """Load, validate and cross-check an instance YAML file (and its series CSV).

    Returns a valid ``Instance``; raises ``InstanceError`` with every problem found.
    """
    file_label = str(path)
    try:
        p = Path(os.path.abspath(os.fspath(path)))
        data = _read_yaml(p, file_label)
        instance = Instance.from_dict(data, p.parent, file_label)
    except InstanceError:
        raise
    except Exception as e:  # noqa: BLE001 - no traceback ever reaches the user
        raise InstanceError(
            [
                Problem(
                    file_label,
                    "<root>",
                    None,
                    f"internal error while loading (please report): {type(e).__name__}: {e}",
                )
            ]
        ) from e
    instance._source_path = p
    return instance
