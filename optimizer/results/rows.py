"""Rows of the standard form located by their labels: group, site, item, period, step."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..model.data import ModelData
from ..model.groups import CONSTRAINTS, ITEM_DIMS

ROW_COLUMNS = ["row", "group", "site", "item", "period", "step"]


def locate_rows(form, data: ModelData, groups) -> pd.DataFrame:
    """One row per row of the given constraint groups: its position in the form, the
    site it belongs to ("" for the portfolio), its item (cooling type, product, PPA…,
    "" if none), its period and its step (-1 for per-period rows)."""
    ppa_site = {c.id: c.site for c in data.ppas.values()}
    step_period = data.grid.step_period
    frames = []
    for group in groups:
        dims = CONSTRAINTS[group]
        frame = form.rows.frame(group, dims)
        if not len(frame):
            continue
        n = len(frame)
        out = pd.DataFrame({"row": frame["pos"].to_numpy(), "group": group})
        if "site" in dims:
            out["site"] = frame["site"].to_numpy()
        elif "ppa" in dims:
            out["site"] = frame["ppa"].map(ppa_site).to_numpy()
        else:
            out["site"] = ""
        items = [d for d in dims if d in ITEM_DIMS]
        out["item"] = frame[items[0]].to_numpy() if items else ""
        if "step" in dims:
            step = frame["step"].to_numpy(np.int64)
            out["step"] = step
            out["period"] = step_period[step]
        else:
            out["step"] = np.full(n, -1)
            out["period"] = frame["period"].to_numpy(np.int64) if "period" in dims else -1
        frames.append(out[ROW_COLUMNS])
    if not frames:
        return pd.DataFrame(columns=ROW_COLUMNS)
    return pd.concat(frames, ignore_index=True)
