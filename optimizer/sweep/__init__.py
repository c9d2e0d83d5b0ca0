"""Sensitivity sweeps: hundreds of what-ifs on kept models, on the Dask engine.

``sweep(instance, scenarios, ...) -> DataFrame`` is the API (runner.py);
``sweep_command`` is the ``hashpivot sweep`` command (command.py). See docs/sweeps.md.
The names are imported on first use, so that mounting the command costs nothing.
"""

from __future__ import annotations

import importlib

_WHERE = {"Rebuild": "changes", "sweep_command": "command", "Override": "overrides",
          "OverrideError": "overrides", "SweepError": "runner", "exit_code": "runner",
          "failures": "runner", "sweep": "runner"}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
