"""Integer decisions of an earlier run folder, as a starting solution for HiGHS.

Only the stdform route passes a start (highspy's sparse ``setSolution``): HiGHS
completes the integer values it is given into a feasible incumbent when it can, and
ignores them otherwise. Decisions absent from ``capex.csv`` are 0 there, so every
integer column gets a value.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

KIND_TO_VAR = {"gpu": "buy", "conversion": "conv", "ai_build": "build", "grid_upgrade": "upg",
               "cooling_upgrade": "upg", "contract": "accept_contract",
               "lease": "accept_lease", "ppa": "sign_ppa"}


def integer_start(run_dir: str | Path) -> dict[tuple[str, tuple], float]:
    """{(variable name, index): value} for the integer decisions of a run folder."""
    capex = pd.read_csv(Path(run_dir) / "capex.csv")
    start: dict[tuple[str, tuple], float] = {}
    for r in capex.itertuples():
        var = KIND_TO_VAR.get(r.kind)
        if var is None:
            continue
        if var == "buy" or var == "upg":
            key = (r.site, r.item, int(r.period))
        elif var in ("conv", "build"):
            key = (r.site, int(r.period))
        else:
            key = (r.item,)
        start[var, key] = start.get((var, key), 0.0) + float(r.quantity)
    return start


def start_columns(start: dict[tuple[str, tuple], float], columns) -> dict[int, float]:
    """The start on the columns of a standard form (decisions it does not have are
    dropped: the instance changed since the earlier run)."""
    out: dict[int, float] = {}
    for (var, key), value in start.items():
        j = columns.lookup(var).get(key)
        if j is not None:
            out[j] = value
    return out
