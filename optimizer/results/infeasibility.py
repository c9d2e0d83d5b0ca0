"""Why an instance has no plan: the elastic re-solve, in sentences and a table.

Every row of the hard groups below that data can violate gets a non-negative slack
on each finite side; the elastic model minimises the penalised total slack (integer
decisions kept). The rows that still need slack at the optimum are where the instance
asks for more than it can have. Slacks are reported in the row's own unit.

Penalties put the groups on one scale, energy: an hourly MW row costs its step's
weight (MWh), a per-period MW row the period's hours, a GPU unit its IT MW times the
hours, a MWh of minimum take 1; a USD of capex budget costs 1e-6, so that when money
would fix the instance (buying what a mandatory item needs), the budget is named
rather than the shortage it causes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# the elastic groups and the unit of their slack
UNITS = {"power_balance": "MW", "import_limit": "MW", "cooling": "MW",
         "gpu_available": "GPU units", "ai_hall": "MW", "mining_hall": "MW", "ppa_volume": "MW",
         "export_limit": "MW", "ppa_min_take": "MWh", "capex_budget": "USD"}
HOURLY = {"power_balance", "import_limit", "cooling", "gpu_available", "ppa_volume",
          "export_limit"}
COLUMNS = ["group", "site", "item", "period", "period_start", "hours", "max_slack",
           "total_slack", "unit", "first_timestamp"]
TOLERANCE = 1e-6
USD_PENALTY = 1e-6  # per USD of budget overrun, against 1 per MWh


def elastic_penalty(row_names, data) -> np.ndarray:
    """Penalty per row of its slack (0: the row stays hard)."""
    w = data.grid.step_weight
    hours = data.grid.periods["hours"].to_numpy(dtype=float)
    out = np.zeros(len(row_names))
    for i, (group, idx) in enumerate(row_names):
        if group not in UNITS:
            continue
        if group == "capex_budget":
            out[i] = USD_PENALTY
        elif group in ("ai_hall", "mining_hall"):
            out[i] = hours[idx[1]]
        elif group == "ppa_min_take":
            out[i] = 1.0
        elif group == "gpu_available":
            out[i] = w[idx[2]] * float(data.products[idx[1]].it_kw) / 1000.0
        else:
            out[i] = w[idx[-1]]
    return out


def _locate(group: str, idx: tuple, data) -> tuple[str, str, int | None, int | None]:
    """(site, item, period, step) of a row."""
    period = data.grid.step_period
    if group == "capex_budget":
        return "", "", idx[0], None
    if group in ("ai_hall", "mining_hall"):
        return idx[0], "", idx[1], None
    if group in ("power_balance", "import_limit", "export_limit"):
        return idx[0], "", int(period[idx[1]]), idx[1]
    if group in ("cooling", "gpu_available"):
        return idx[0], idx[1], int(period[idx[2]]), idx[2]
    if group == "ppa_volume":
        return data.ppas[idx[0]].site, idx[0], int(period[idx[1]]), idx[1]
    if group == "ppa_min_take":
        return data.ppas[idx[0]].site, idx[0], idx[1], None
    return "", "", None, None


def infeasibility_table(row_names, slack: np.ndarray, data) -> pd.DataFrame:
    grid = data.grid
    starts = grid.periods["start"]
    recs = []
    for i in np.flatnonzero(slack > TOLERANCE):
        group, idx = row_names[i]
        site, item, p, t = _locate(group, idx, data)
        w = float(grid.step_weight[t]) if t is not None else 1.0
        recs.append((group, site, item, p, t, float(slack[i]), w))
    if not recs:
        return pd.DataFrame(columns=COLUMNS)
    raw = pd.DataFrame(recs, columns=["group", "site", "item", "period", "step", "slack", "w"])
    rows = []
    for (g, s, item, p), grp in raw.groupby(["group", "site", "item", "period"], sort=True):
        hourly = g in HOURLY
        first = grid.steps["timestamp"].iloc[int(grp["step"].min())] if hourly else None
        rows.append((g, s, item, int(p), starts.iloc[int(p)],
                     float(grp["w"].sum()) if hourly else np.nan, float(grp["slack"].max()),
                     float((grp["slack"] * grp["w"]).sum()) if hourly else float(
                         grp["slack"].sum()), UNITS[g], first))
    return pd.DataFrame(rows, columns=COLUMNS)


def _what(g: str, site: str, item: str) -> str:
    at = f"site {site}" if site else "the portfolio"
    return {
        "power_balance": f"{at} cannot balance its power: the load exceeds what the grid and "
                         "PPAs can supply",
        "import_limit": f"{at} needs more grid import capacity than its interconnect "
                        "(with upgrades) allows",
        "cooling": f"{at} needs more {item} cooling than is available (derated on hot hours)",
        "gpu_available": f"{at} needs more {item} units than can be installed for its "
                         "firm contracts",
        "ai_hall": f"{at} needs more AI hall space than it has (GPUs and leases)",
        "mining_hall": f"{at} needs more mining hall space than it has",
        "ppa_volume": f"PPA {item} at {at} cannot take its volume",
        "export_limit": f"{at} must export more onsite PPA energy than its export limit",
        "ppa_min_take": f"PPA {item} at {at} cannot take its minimum volume",
        "capex_budget": "the mandatory capex exceeds the capex budget",
    }[g]


def firm_items(data, site: str, periods: list[int], group: str, item: str) -> list[str]:
    """The mandatory contracts and leases at a site, active in the given periods, that
    load the resource of a group: what the planner committed to and cannot serve."""
    def active(x) -> bool:
        return any(x.start_period <= p < x.end_period for p in periods)

    out = []
    if group in ("cooling", "ai_hall", "import_limit", "power_balance"):
        for lease in data.leases.values():
            if (lease.site == site and not lease.optional and active(lease)
                    and (group != "cooling" or lease.cooling == item)):
                out.append(f"lease {lease.id} {float(lease.it_mw):g} MW")
    if group in ("cooling", "ai_hall", "gpu_available", "import_limit", "power_balance",
                 "capex_budget"):
        for k in data.contracts.values():
            prod = data.products[k.product]
            if ((k.site == site or group == "capex_budget") and not k.optional and active(k)
                    and (group != "cooling" or prod.cooling == item)
                    and (group != "gpu_available" or k.product == item)):
                out.append(f"contract {k.id} {int(k.units)} {k.product} units")
    return out


def explain(table: pd.DataFrame, data=None) -> list[str]:
    """One sentence per group, site and item (naming the firm items involved when
    ``data`` is given)."""
    lines = []
    for (g, s, item), grp in table.groupby(["group", "site", "item"], sort=False):
        first = grp.iloc[0]
        periods = sorted(set(grp["period"]))
        when = f"from period {periods[0]} ({first['period_start']:%Y-%m-%d})"
        if len(periods) > 1:
            when += f" through period {periods[-1]}"
        amount = f"short by up to {grp['max_slack'].max():,.4g} {UNITS[g]}"
        if g in HOURLY:
            amount += f" in {grp['hours'].sum():,.0f} hours"
        firm = firm_items(data, s, periods, g, item) if data is not None else []
        because = f" (committed: {', '.join(firm)})" if firm else ""
        lines.append(f"{g}: {_what(g, s, item)}{because}; {amount} {when}.")
    return lines
