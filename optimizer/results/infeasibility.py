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

from .rows import locate_rows

# the elastic groups and the unit of their slack
# (linked_acceptance is not among them: it links two optional deals, and declining
# both always satisfies it)
UNITS = {"power_balance": "MW", "import_limit": "MW", "cooling": "MW",
         "gpu_available": "GPU units", "asic_available": "ASIC units", "ai_hall": "MW",
         "mining_hall": "MW", "ppa_volume": "MW", "export_limit": "MW", "ppa_min_take": "MWh",
         "capex_budget": "USD"}
HOURLY = {"power_balance", "import_limit", "cooling", "gpu_available", "asic_available",
          "ppa_volume", "export_limit"}
COLUMNS = ["group", "site", "item", "period", "period_start", "hours", "max_slack",
           "total_slack", "unit", "first_timestamp"]
TOLERANCE = 1e-6
USD_PENALTY = 1e-6  # per USD of budget overrun, against 1 per MWh


def elastic_penalty(form, data) -> np.ndarray:
    """Penalty per row of its slack (0: the row stays hard)."""
    out = np.zeros(form.n_rows)
    rows = locate_rows(form, data, UNITS)
    if not len(rows):
        return out
    w = data.grid.step_weight
    hours = data.grid.periods["hours"].to_numpy(dtype=float)
    group = rows["group"].to_numpy()
    step = rows["step"].to_numpy()
    period = rows["period"].to_numpy()
    pen = np.where(step >= 0, w[np.maximum(step, 0)], 0.0)
    halls = np.isin(group, ("ai_hall", "mining_hall"))
    pen[halls] = hours[period[halls]]
    pen[group == "ppa_min_take"] = 1.0
    pen[group == "capex_budget"] = USD_PENALTY
    # a GPU or ASIC unit short costs its IT MW in every hour it is short
    for name, spec in (("gpu_available", lambda g: float(data.products[g].it_kw)),
                       ("asic_available", lambda a: float(data.asic_products[a].power_kw))):
        sel = group == name
        if sel.any():
            pen[sel] *= rows["item"][sel].map(spec).to_numpy() / 1000.0
    out[rows["row"].to_numpy()] = pen
    return out


def infeasibility_table(form, slack: np.ndarray, data) -> pd.DataFrame:
    grid = data.grid
    starts = grid.periods["start"]
    rows = locate_rows(form, data, UNITS)
    rows = rows.assign(slack=slack[rows["row"].to_numpy()]) if len(rows) else rows
    raw = rows[rows["slack"] > TOLERANCE] if len(rows) else rows
    if not len(raw):
        return pd.DataFrame(columns=COLUMNS)
    w = grid.step_weight
    raw = raw.assign(w=np.where(raw["step"] >= 0, w[np.maximum(raw["step"], 0)], 1.0))
    out = []
    for (g, s, item, p), grp in raw.groupby(["group", "site", "item", "period"], sort=True):
        hourly = g in HOURLY
        first = grid.steps["timestamp"].iloc[int(grp["step"].min())] if hourly else None
        out.append((g, s, item, int(p), starts.iloc[int(p)],
                    float(grp["w"].sum()) if hourly else np.nan, float(grp["slack"].max()),
                    float((grp["slack"] * grp["w"]).sum()) if hourly else float(
                        grp["slack"].sum()), UNITS[g], first))
    return pd.DataFrame(out, columns=COLUMNS)


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
        "asic_available": f"{at} needs more {item} ASIC units than it has bought",
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
