"""Sensitivity sweeps: hundreds of what-ifs on kept models, on the Dask engine.

``sweep(instance, scenarios, ...) -> DataFrame`` is the API (runner.py);
``sweep_command`` is the ``hashpivot sweep`` command (command.py). See docs/sweeps.md.
"""

from .changes import Rebuild
from .command import sweep_command
from .overrides import Override, OverrideError
from .runner import SweepError, exit_code, failures, sweep

__all__ = ["Override", "OverrideError", "Rebuild", "SweepError", "exit_code", "failures",
           "sweep", "sweep_command"]
