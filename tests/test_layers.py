"""The package's layers, read from its imports (AST): data walks one way.

Every import of a project module, at the top of a file or inside a function, is an edge.
The test fails on an import cycle between modules and on an edge that runs upward
(from a lower layer to a higher one). Modules of one package may import each other as
long as no cycle forms.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "optimizer"

# lowest first; a module may import its own layer (no cycle) and the layers below
LAYERS = [
    ["optimizer"],  # the package root: only __version__
    ["optimizer.instance"],
    ["optimizer.time", "optimizer.hashprice"],
    ["optimizer.model"],
    ["optimizer.solver"],
    ["optimizer.results"],
    ["optimizer.check"],
    ["optimizer.pipeline"],
    ["optimizer.engine", "optimizer.options"],
    ["optimizer.sweep", "optimizer.batch"],
    ["optimizer.api"],
    ["optimizer.plots"],
    ["optimizer.report"],
    ["optimizer.cli", "optimizer.__main__"],
]
# the checker recomputes everything from a run folder: only the instance layer below it
ONLY = {"optimizer.check": {"optimizer.instance", "optimizer"}}


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in ROOT.rglob("*.py")}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """Project modules imported anywhere in one file."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            # "from . import capex" imports the module optimizer.model.capex
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in known else mod
                       for a in node.names]
        for t in targets:
            while t and t not in known:  # optimizer.instance.schema.X -> the module
                t = t.rsplit(".", 1)[0] if "." in t else ""
            if t and t != name:
                out.add(t)
    return out


def layer_of(name: str) -> int:
    best, level = -1, -1
    for i, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > best:
                best, level = len(prefix), i
    if level < 0:
        raise AssertionError(f"{name} is in no layer of tests/test_layers.py")
    return level


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: imports_of(name, path, known) for name, path in mods.items()}


def test_every_module_is_in_a_layer():
    for name in modules():
        layer_of(name)


def test_no_edge_runs_upward():
    upward = [f"{a} -> {b}" for a, deps in graph().items() for b in deps
              if layer_of(b) > layer_of(a)]
    assert not upward, "imports that run upward:\n" + "\n".join(sorted(upward))


def test_the_checker_imports_only_the_instance_layer():
    g = graph()
    for prefix, allowed in ONLY.items():
        for name, deps in g.items():
            if name == prefix or name.startswith(prefix + "."):
                outside = {d for d in deps if not d.startswith(prefix)
                           and not any(d == a or d.startswith(a + ".") for a in allowed)}
                assert not outside, f"{name} imports {sorted(outside)}"


def test_no_import_cycle():
    g = graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(g.get(node, ())):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(g):
        if node not in state:
            visit(node)


def test_the_layer_test_sees_cycles_and_upward_edges(tmp_path, monkeypatch):
    """The graph reader itself: a two-module cycle and an upward edge are found."""
    pkg = tmp_path / "optimizer"
    (pkg / "model").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "model" / "__init__.py").write_text("")
    (pkg / "model" / "a.py").write_text("from . import b\n")
    (pkg / "model" / "b.py").write_text("def f():\n    from .a import x\n    from ..api import y\n")
    (pkg / "api.py").write_text("")
    monkeypatch.setattr(__import__(__name__), "ROOT", pkg)
    g = graph()
    assert g["optimizer.model.a"] == {"optimizer.model.b"}
    assert g["optimizer.model.b"] == {"optimizer.model.a", "optimizer.api"}
    assert layer_of("optimizer.api") > layer_of("optimizer.model.b")
