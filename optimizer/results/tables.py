"""Solution -> DataFrames (capex, dispatch, cash flows) and KPIs.

Cash flows are evaluated from the same registry the objective was built from, at
the incumbent written here, so ``cashflows.discounted_usd.sum() == npv_usd``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..model.build import BuiltModel
from ..model.cashflow import Term
from ..model.data import COOLING_TYPES
from ..model.objective import discount_weights

REVENUE_TERMS = ("mining_revenue", "gpu_spot_revenue", "contract_revenue",
                 "lease_capacity_revenue", "lease_energy_revenue", "ancillary_revenue",
                 "ppa_export", "ppa_settlement", "vppa_settlement", "asic_salvage")


def _val(var) -> float:
    return 1.0 if var is None else float(var.value or 0.0)


def _values(variables) -> np.ndarray:
    return np.fromiter((v.value or 0.0 for v in variables), float, len(variables))


def term_per_step(term: Term, n_steps: int) -> np.ndarray:
    """USD per hour at every step of an hourly term."""
    out = np.zeros(n_steps)
    for coef, variables in term.vector:
        out += coef * _values(variables)
    for coef, var in term.scalar:
        out += coef * _val(var)
    return out


def term_per_period(term: Term, built: BuiltModel, per_step: np.ndarray | None) -> np.ndarray:
    grid = built.data.grid
    if term.kind == "hourly":
        return np.bincount(grid.step_period, weights=grid.step_weight * per_step,
                           minlength=grid.n_periods)
    out = np.zeros(grid.n_periods)
    for coef, var in term.scalar:
        out += coef * _val(var)
    return out


@dataclass
class Tables:
    capex: pd.DataFrame
    dispatch: pd.DataFrame
    cashflows: pd.DataFrame
    kpis: dict
    npv_usd: float


def cashflow_tables(built: BuiltModel) -> tuple[pd.DataFrame, dict[tuple[str, str], np.ndarray]]:
    """The cash-flow table and, per (site, term), the hourly values (USD/h) per step."""
    grid = built.data.grid
    n = grid.n_steps
    rows = []
    hourly: dict[tuple[str, str], np.ndarray] = {}
    for term in built.cash.terms:
        per_step = None
        if term.kind == "hourly":
            per_step = term_per_step(term, n)
            key = (term.site, term.name)
            hourly[key] = hourly.get(key, 0.0) + per_step
        per_period = term_per_period(term, built, per_step)
        factor = discount_weights(grid, "period" if term.kind == "hourly" else term.kind)
        for p in range(grid.n_periods):
            rows.append((term.site, p, term.name, per_period[p], factor[p]))
    df = pd.DataFrame(rows, columns=["site", "period", "term", "undiscounted_usd",
                                     "discount_factor"])
    df = df.groupby(["site", "period", "term"], as_index=False, sort=False).agg(
        undiscounted_usd=("undiscounted_usd", "sum"), discount_factor=("discount_factor", "first"))
    df["discounted_usd"] = df["undiscounted_usd"] * df["discount_factor"]
    df = df[df["undiscounted_usd"] != 0.0].sort_values(["site", "period", "term"])
    return df.reset_index(drop=True), hourly


def capex_table(built: BuiltModel) -> pd.DataFrame:
    m, d = built.model, built.data
    starts = d.grid.periods["start"]
    rows = []

    def add(p, site, kind, item, qty, usd):
        if abs(qty) > 1e-9:
            rows.append((p, starts.iloc[p], site, kind, item, qty, usd))

    for (s, g, p), v in m.buy.items():
        add(p, s, "gpu", g, v.value, v.value * float(d.product_capex[g][p]))
    for (s, p), v in m.conv.items():
        add(p, s, "conversion", "block", v.value,
            v.value * float(d.sites[s].conversion.capex_usd_per_block))
    ups = {(u.site, u.id): u for u in d.upgrades}
    for (s, u, p), v in m.upg.items():
        up = ups[s, u]
        add(p, s, f"{up.kind}_upgrade", u, v.value, v.value * up.capex_usd)
    for (s, f, p), v in m.retire.items():
        add(p, s, "retire", f, v.value, -v.value * float(d.salvage[s, f][p]))
    for kind, items, comp, attr in (("contract", d.contracts, "accept_contract", "optional"),
                                    ("lease", d.leases, "accept_lease", "optional"),
                                    ("ppa", d.ppas, "sign_ppa", "optional")):
        for key, item in items.items():
            chosen = _val(getattr(m, comp)[key]) if getattr(item, attr) else 1.0
            add(int(item.start_period), item.site, kind, key, chosen, 0.0)
    df = pd.DataFrame(rows, columns=["period", "period_start", "site", "kind", "item",
                                     "quantity", "capex_usd"])
    return df.sort_values(["period", "site", "kind", "item"], kind="stable").reset_index(drop=True)


def _period_values(var, keys_prefix, P) -> np.ndarray:
    return np.array([var[keys_prefix + (p,)].value or 0.0 for p in range(P)])


def dispatch_table(built: BuiltModel, hourly_cash: dict) -> tuple[pd.DataFrame, dict]:
    """One row per site and step; also returns per-site load arrays for the KPIs."""
    m, d = built.model, built.data
    grid = d.grid
    n, P = grid.n_steps, grid.n_periods
    sp = grid.step_period
    T = range(n)
    frames = []
    loads = {}
    for s, sd in d.sites.items():
        col: dict[str, np.ndarray] = {}
        col["price_usd_per_mwh"] = sd.price
        col["import_adder_usd_per_mwh"] = sd.import_adder
        col["hashprice_usd_per_th_h"] = d.hashprice_per_th_h
        for q in COOLING_TYPES:
            col[f"derate_{q}"] = sd.cooling[q].derate
            col[f"pue_{q}"] = sd.cooling[q].pue
        uses = ("mining", "gpu", "lease")
        it_by = {(u, q): np.zeros(n) for u in uses for q in COOLING_TYPES}  # IT MW
        asic_avail = np.zeros(n)
        run_total = np.zeros(n)
        for f in sd.fleets:
            run = _values([m.run[s, f.id, t] for t in T])
            col[f"run_{f.id}"] = run
            it_by["mining", f.cooling] += run * float(f.power_kw) / 1000.0
            run_total += run
            asic_avail += _period_values(m.asics, (s, f.id), P)[sp]
        for g, prod in d.products.items():
            spot = _values([m.spot[s, g, t] for t in T])
            col[f"spot_{g}"] = spot
            installed = _period_values(m.gpus_installed, (s, g), P)[sp]
            col[f"installed_{g}"] = installed
            firm = np.zeros(P)
            for k in d.contracts.values():
                if k.site == s and k.product == g:
                    acc = _val(m.accept_contract[k.id]) if k.optional else 1.0
                    firm[k.start_period:k.end_period] += float(k.units) * acc
            col[f"firm_{g}"] = firm[sp]
            idle = float(prod.idle_fraction)
            it_by["gpu", prod.cooling] += float(prod.it_kw) / 1000.0 * (
                idle * installed + (1 - idle) * (spot + firm[sp]))
        for lease in d.leases.values():
            if lease.site == s:
                acc = _val(m.accept_lease[lease.id]) if lease.optional else 1.0
                active = (sp >= lease.start_period) & (sp < lease.end_period)
                it_by["lease", lease.cooling] += float(lease.it_mw) * acc * active
        col["imp_mw"] = _values([m.imp[s, t] for t in T])
        for c in d.ppas.values():
            if c.site == s and c.kind != "virtual":
                col[f"use_{c.id}"] = _values([m.use[c.id, t] for t in T])
                col[f"ppa_volume_{c.id}_mw"] = d.ppa_volume[c.id]
            if c.site == s and c.kind == "onsite":
                col[f"out_{c.id}"] = _values([m.out[c.id, t] for t in T])
        col["anc_mw"] = (_values([m.anc[s, t] for t in T]) if sd.anc_price is not None
                         else np.zeros(n))
        col["peak_mw"] = (_period_values(m.peak, (s,), P)[sp] if (s, 0) in m.peak
                          else np.zeros(n))
        for u in uses:
            col[f"{u}_it_mw"] = sum(it_by[u, q] for q in COOLING_TYPES)
        for q in COOLING_TYPES:
            col[f"it_{q}_mw"] = sum(it_by[u, q] for u in uses)
        # facility MW of each use: IT times the PUE of the cooling type it sits in
        facility = {u: sum(sd.cooling[q].pue * it_by[u, q] for q in COOLING_TYPES)
                    for u in uses}
        col["load_mw"] = sum(facility.values()) + sd.aux_load_mw
        for (site, name), values in hourly_cash.items():
            if site == s:
                col[f"cf_{name}_usd_per_h"] = values
        frame = pd.DataFrame(col)
        frame.insert(0, "weight", grid.step_weight)
        frame.insert(0, "timestamp", grid.steps["timestamp"].to_numpy())
        frame.insert(0, "period", sp)
        frame.insert(0, "site", s)
        for extra in ("represented_day", "day_count"):
            if extra in grid.steps:
                frame[extra] = grid.steps[extra].to_numpy()
        frames.append(frame)
        loads[s] = dict(facility=facility, run=run_total, asic_avail=asic_avail,
                        load=col["load_mw"], imp=col["imp_mw"])
    dispatch = pd.concat(frames, ignore_index=True).fillna(0.0)
    return dispatch, loads


def kpis(built: BuiltModel, cash: pd.DataFrame, capex: pd.DataFrame, loads: dict) -> dict:
    d = built.data
    w = d.grid.step_weight
    by_term = cash.groupby("term")["undiscounted_usd"].sum()
    revenue = {t: float(by_term[t]) for t in REVENUE_TERMS if t in by_term}
    paid = capex["kind"].isin(["gpu", "conversion", "grid_upgrade", "cooling_upgrade"])
    energy = dict.fromkeys(("mining_mwh", "gpu_mwh", "lease_mwh", "aux_mwh", "total_mwh",
                            "grid_import_mwh"), 0.0)
    run_h = avail_h = 0.0
    for s, ld in loads.items():
        for use in ("mining", "gpu", "lease"):
            energy[f"{use}_mwh"] += float(np.dot(w, ld["facility"][use]))
        energy["aux_mwh"] += d.sites[s].aux_load_mw * float(w.sum())
        energy["total_mwh"] += float(np.dot(w, ld["load"]))
        energy["grid_import_mwh"] += float(np.dot(w, ld["imp"]))
        run_h += float(np.dot(w, ld["run"]))
        avail_h += float(np.dot(w, ld["asic_avail"]))
    ai = energy["gpu_mwh"] + energy["lease_mwh"]
    bought = capex[capex["kind"] == "gpu"].groupby("item")["quantity"].sum()
    chosen = {kind: sorted(capex.loc[capex["kind"] == kind, "item"].tolist())
              for kind in ("contract", "lease", "ppa")}
    return {
        "npv_usd": float(cash["discounted_usd"].sum()),
        "total_capex_usd": float(capex.loc[paid, "capex_usd"].sum()),
        "capex_by_kind_usd": {k: float(v) for k, v in
                              capex[paid].groupby("kind")["capex_usd"].sum().items()},
        "revenue_usd": revenue,
        "energy_mwh": energy,
        "ai_share_of_site_energy": ai / energy["total_mwh"] if energy["total_mwh"] else 0.0,
        "mining_uptime": run_h / avail_h if avail_h else 0.0,
        "gpu_units_bought": {g: float(bought.get(g, 0.0)) for g in d.products},
        "accepted_contracts": chosen["contract"],
        "accepted_leases": chosen["lease"],
        "signed_ppas": chosen["ppa"],
        "asics_retired": float(capex.loc[capex["kind"] == "retire", "quantity"].sum()),
    }
