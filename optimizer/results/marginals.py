"""Marginal values of the capacity groups, from the duals of the fixed-integer LP.

With every integer decision fixed at the incumbent, the LP's row duals say how much
the NPV would rise per unit of extra capacity. Hourly rows are summed over the
period's steps, so every figure reads "USD of NPV per extra MW (GPU or ASIC unit, USD)
available through the whole period", positive when more would help:

| group | per | unit |
| --- | --- | --- |
| import_limit | site, period | USD per MW of import limit |
| cooling | site, cooling type, period | USD per MW of nameplate cooling (derated hour by hour) |
| ai_hall, mining_hall | site, period | USD per MW of hall IT capacity |
| gpu_available | site, product, period | USD per GPU unit installed |
| asic_available | site, ASIC product, period | USD per bought ASIC unit in service |
| capex_budget | period | USD of NPV per USD of budget |
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .rows import locate_rows

GROUPS = ("import_limit", "cooling", "ai_hall", "mining_hall", "gpu_available",
          "asic_available", "capex_budget")
UNITS = {"import_limit": "usd_per_mw", "cooling": "usd_per_mw", "ai_hall": "usd_per_mw",
         "mining_hall": "usd_per_mw", "gpu_available": "usd_per_unit",
         "asic_available": "usd_per_unit", "capex_budget": "usd_per_usd"}
COLUMNS = ["group", "site", "item", "period", "marginal_value", "unit"]


def marginal_table(form, dual: np.ndarray | None, data) -> pd.DataFrame:
    """Row duals of the capacity groups summed per group, site, item and period."""
    if dual is None:
        return pd.DataFrame(columns=COLUMNS)
    rows = locate_rows(form, data, GROUPS)
    if not len(rows):
        return pd.DataFrame(columns=COLUMNS)
    value = dual[rows["row"].to_numpy()]
    # a cooling row holds IT <= CC * derate: per MW of nameplate, the dual times the derate
    cool = (rows["group"] == "cooling").to_numpy()
    if cool.any():
        derate = np.ones(len(rows))
        for (s, q), idx in rows[cool].groupby(["site", "item"]).groups.items():
            derate[idx] = data.sites[s].cooling[q].derate[rows.loc[idx, "step"].to_numpy()]
        value = value * derate
    rows = rows.assign(marginal_value=value)
    df = rows.groupby(["group", "site", "item", "period"], as_index=False, sort=True)[
        "marginal_value"].sum()
    df["unit"] = df["group"].map(UNITS)
    return df[COLUMNS].reset_index(drop=True)
