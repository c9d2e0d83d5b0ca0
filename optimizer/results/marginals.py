"""Marginal values of the capacity groups, from the duals of the fixed-integer LP.

With every integer decision fixed at the incumbent, the LP's row duals say how much
the NPV would rise per unit of extra capacity. Hourly rows are summed over the
period's steps, so every figure reads "USD of NPV per extra MW (GPU unit, USD)
available through the whole period", positive when more would help:

| group | per | unit |
| --- | --- | --- |
| import_limit | site, period | USD per MW of import limit |
| cooling | site, cooling type, period | USD per MW of nameplate cooling (derated hour by hour) |
| ai_hall, mining_hall | site, period | USD per MW of hall IT capacity |
| gpu_available | site, product, period | USD per GPU unit installed |
| capex_budget | period | USD of NPV per USD of budget |
"""

from __future__ import annotations

import numpy as np
import pandas as pd

GROUPS = ("import_limit", "cooling", "ai_hall", "mining_hall", "gpu_available", "capex_budget")
UNITS = {"import_limit": "usd_per_mw", "cooling": "usd_per_mw", "ai_hall": "usd_per_mw",
         "mining_hall": "usd_per_mw", "gpu_available": "usd_per_unit",
         "capex_budget": "usd_per_usd"}
COLUMNS = ["group", "site", "item", "period", "marginal_value", "unit"]


def marginal_table(row_names: list[tuple[str, tuple]], dual: np.ndarray, data) -> pd.DataFrame:
    """Aggregate row duals of the capacity groups per site and period."""
    period = data.grid.step_period
    acc: dict[tuple, float] = {}
    for (group, idx), y in zip(row_names, dual.tolist()):
        if group not in GROUPS:
            continue
        if group == "capex_budget":
            key, value = ("", "", idx[0]), y
        elif group in ("ai_hall", "mining_hall"):
            key, value = (idx[0], "", idx[1]), y
        elif group == "import_limit":
            key, value = (idx[0], "", int(period[idx[1]])), y
        elif group == "cooling":
            s, q, t = idx
            key, value = (s, q, int(period[t])), y * float(data.sites[s].cooling[q].derate[t])
        else:  # gpu_available
            s, g, t = idx
            key, value = (s, g, int(period[t])), y
        acc[(group,) + key] = acc.get((group,) + key, 0.0) + value
    rows = [(g, s, item, p, v, UNITS[g]) for (g, s, item, p), v in acc.items()]
    df = pd.DataFrame(rows, columns=COLUMNS)
    # a row absent from the model (e.g. no budget) has no marginal value to report
    return df.sort_values(["group", "site", "item", "period"]).reset_index(drop=True)
