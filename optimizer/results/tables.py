"""Labelled solution -> DataFrames (capex, dispatch, cash flows) and KPIs.

Everything here reads the column values ``x`` by their labels (``StandardForm.columns``)
and the prepared data; no Pyomo object is touched, so a kept HiGHS model re-solved with
other costs turns into tables the same way. Cash flows are evaluated from the same
compiled registry the objective was built from, so ``cashflows.discounted_usd.sum()``
equals the solver's objective at ``x``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..model.data import COOLING_TYPES, ModelData
from ..model.groups import VARIABLES
from ..model.terms import PAID_KINDS, PLAN_KINDS, REVENUE_TERMS

CAPEX_COLUMNS = ["period", "period_start", "site", "kind", "item", "quantity", "capex_usd"]
CASHFLOW_COLUMNS = ["site", "period", "term", "undiscounted_usd", "discount_factor",
                    "discounted_usd"]


class SolutionView:
    """The values of a labelled solution, by variable name and index."""

    def __init__(self, form, x: np.ndarray, data: ModelData):
        self.form, self.x, self.data = form, x, data
        self.n = data.grid.n_steps
        self.P = data.grid.n_periods

    def scalar(self, name: str, key: tuple, default: float = 0.0) -> float:
        j = self.form.columns.lookup(name).get(key)
        return default if j is None else float(self.x[j])

    def items(self, name: str) -> list[tuple[tuple, float]]:
        pos = self.form.columns.positions(name)
        return list(zip(self.form.columns.keys(name), self.x[pos].tolist()))

    def _by_prefix(self, name: str, length: int) -> dict[tuple, np.ndarray]:
        """{index prefix: values over the last index (steps or periods)}, 0 where a
        column does not exist (a variable in no row and no cash flow)."""
        frame = self.form.columns.frame(name, VARIABLES[name])
        out: dict[tuple, np.ndarray] = {}
        if not len(frame):
            return out
        dims = list(VARIABLES[name])
        last = frame[dims[-1]].to_numpy(np.int64)
        values = self.x[frame["pos"].to_numpy()]
        if len(dims) == 1:
            arr = np.zeros(length)
            arr[last] = values
            return {(): arr}
        for key, rows in frame.groupby(dims[:-1], sort=False).indices.items():
            arr = np.zeros(length)
            arr[last[rows]] = values[rows]
            out[key if isinstance(key, tuple) else (key,)] = arr
        return out

    def per_step(self, name: str) -> dict[tuple, np.ndarray]:
        return self._by_prefix(name, self.n)

    def per_period(self, name: str) -> dict[tuple, np.ndarray]:
        return self._by_prefix(name, self.P)

    def accepted(self, component: str, item) -> float:
        """1 for a mandatory item, the decision of an optional one."""
        optional = getattr(item, "optional", False)
        return self.scalar(component, (item.id,)) if optional else 1.0


@dataclass
class Tables:
    capex: pd.DataFrame
    dispatch: pd.DataFrame
    cashflows: pd.DataFrame
    kpis: dict
    hourly_cash: dict = field(default_factory=dict, repr=False)

    @property
    def npv_usd(self) -> float:
        return float(self.cashflows["discounted_usd"].sum())


def cashflow_tables(data: ModelData, cash, x: np.ndarray
                    ) -> tuple[pd.DataFrame, dict[tuple[str, str], np.ndarray]]:
    """The cash-flow table and, per (site, term), the hourly values (USD/h) per step."""
    grid = data.grid
    u, d = cash.evaluate(x)
    n_terms = len(cash.names)
    # one row per (term id, period); periods past the horizon (tails) included
    n_per = int(cash.period.max(initial=grid.n_periods - 1)) + 1
    key = cash.term * n_per + cash.period
    und = np.bincount(key, weights=u, minlength=n_terms * n_per)
    dis = np.bincount(key, weights=d, minlength=n_terms * n_per)
    any_entry = np.bincount(key, minlength=n_terms * n_per) > 0
    keep = any_entry & ((und != 0.0) | (dis != 0.0))
    idx = np.flatnonzero(keep)
    term, period = idx // n_per, idx % n_per
    names = np.asarray(cash.names, dtype=object)
    sites = np.asarray(cash.sites, dtype=object)
    df = pd.DataFrame({"site": sites[term], "period": period, "term": names[term],
                       "undiscounted_usd": und[idx], "discounted_usd": dis[idx]})
    # one row per site, period and term (a term declared by several modules is summed)
    df = df.groupby(["site", "period", "term"], as_index=False, sort=True).agg(
        undiscounted_usd=("undiscounted_usd", "sum"), discounted_usd=("discounted_usd", "sum"))
    with np.errstate(invalid="ignore", divide="ignore"):
        df["discount_factor"] = np.where(df["undiscounted_usd"] != 0.0,
                                         df["discounted_usd"] / df["undiscounted_usd"], 0.0)
    df = df[CASHFLOW_COLUMNS].reset_index(drop=True)

    hourly: dict[tuple[str, str], np.ndarray] = {}
    step = cash.step >= 0
    if step.any():
        w = grid.step_weight
        rate = u[step] / w[cash.step[step]]
        tkey = cash.term[step]
        for t in np.unique(tkey):
            sel = tkey == t
            values = np.bincount(cash.step[step][sel], weights=rate[sel], minlength=grid.n_steps)
            k = (cash.sites[t], cash.names[t])
            hourly[k] = hourly.get(k, 0.0) + values
    return df, hourly


def capex_table(view: SolutionView) -> pd.DataFrame:
    d = view.data
    starts = d.grid.periods["start"]
    rows = []

    def add(p, site, kind, item, qty, usd):
        if abs(qty) > 1e-9:
            rows.append((p, starts.iloc[p], site, kind, item, qty, usd))

    for (s, g, p), q in view.items("buy"):
        add(p, s, "gpu", g, q, q * float(d.product_capex[g][p]))
    for (s, a, p), q in view.items("abuy"):
        add(p, s, "asic", a, q, q * float(d.asic_capex[a][p]))
    for (s, p), q in view.items("conv"):
        add(p, s, "conversion", "block", q, q * float(d.sites[s].conversion.capex_usd_per_block))
    for (s, p), q in view.items("build"):
        add(p, s, "ai_build", "block", q, q * float(d.sites[s].ai_build.capex_usd_per_block))
    ups = {(u.site, u.id): u for u in d.upgrades}
    for (s, u, p), q in view.items("upg"):
        up = ups[s, u]
        add(p, s, f"{up.kind}_upgrade", u, q, q * up.capex_usd)
    for (s, f, p), q in view.items("retire"):
        add(p, s, "retire", f, q, -q * float(d.salvage[s, f][p]))
    for kind, items, comp in (("contract", d.contracts, "accept_contract"),
                              ("lease", d.leases, "accept_lease"),
                              ("ppa", d.ppas, "sign_ppa")):
        for key, item in items.items():
            chosen = view.accepted(comp, item)
            add(int(item.start_period), item.site, kind, key, chosen, 0.0)
            usd = float(getattr(item, "upfront_usd", 0.0))
            if usd:  # a receipt is a negative capex, as salvage is (deals.md section 2)
                add(int(item.start_period), item.site, "upfront", key, chosen, -chosen * usd)
    df = pd.DataFrame(rows, columns=CAPEX_COLUMNS)
    return df.sort_values(["period", "site", "kind", "item"], kind="stable").reset_index(drop=True)


def dispatch_table(view: SolutionView, hourly_cash: dict) -> tuple[pd.DataFrame, dict]:
    """One row per site and step; also returns per-site load arrays for the KPIs."""
    d = view.data
    grid = d.grid
    n, P = grid.n_steps, grid.n_periods
    sp = grid.step_period
    run, arun, spot = view.per_step("run"), view.per_step("arun"), view.per_step("spot")
    bought = view.per_period("asics_bought")
    imp, anc = view.per_step("imp"), view.per_step("anc")
    use, out = view.per_step("use"), view.per_step("out")
    asics, installed = view.per_period("asics"), view.per_period("gpus_installed")
    peak = view.per_period("peak")
    zeros = np.zeros(n)
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
            r = run.get((s, f.id), zeros)
            col[f"run_{f.id}"] = r
            it_by["mining", f.cooling] += r * float(f.power_kw) / 1000.0
            run_total += r
            asic_avail += asics.get((s, f.id), np.zeros(P))[sp]
        for a, prod in d.asic_products.items():
            r = arun.get((s, a), zeros)
            col[f"arun_{a}"] = r
            it_by["mining", prod.cooling] += r * float(prod.power_kw) / 1000.0
            run_total += r
            asic_avail += bought.get((s, a), np.zeros(P))[sp]
        for g, prod in d.products.items():
            sp_g = spot.get((s, g), zeros)
            col[f"spot_{g}"] = sp_g
            inst = installed.get((s, g), np.zeros(P))[sp]
            col[f"installed_{g}"] = inst
            firm = np.zeros(P)
            for k in d.contracts.values():
                if k.site == s and k.product == g:
                    firm[k.start_period:k.end_period] += float(k.units) * view.accepted(
                        "accept_contract", k)
            col[f"firm_{g}"] = firm[sp]
            idle = float(prod.idle_fraction)
            it_by["gpu", prod.cooling] += float(prod.it_kw) / 1000.0 * (
                idle * inst + (1 - idle) * (sp_g + firm[sp]))
        for lease in d.leases.values():
            if lease.site == s:
                acc = view.accepted("accept_lease", lease)
                active = (sp >= lease.start_period) & (sp < lease.end_period)
                it_by["lease", lease.cooling] += float(lease.it_mw) * acc * active
        col["imp_mw"] = imp.get((s,), zeros)
        for c in d.ppas.values():
            if c.site == s and c.kind != "virtual":
                col[f"use_{c.id}"] = use.get((c.id,), zeros)
                col[f"ppa_volume_{c.id}_mw"] = d.ppa_volume[c.id]
            if c.site == s and c.kind == "onsite":
                col[f"out_{c.id}"] = out.get((c.id,), zeros)
        col["anc_mw"] = anc.get((s,), zeros) if sd.anc_price is not None else zeros
        col["peak_mw"] = peak[(s,)][sp] if (s,) in peak else zeros
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


def kpis(data: ModelData, cash: pd.DataFrame, capex: pd.DataFrame, loads: dict) -> dict:
    w = data.grid.step_weight
    by_term = cash.groupby("term")["undiscounted_usd"].sum()
    revenue = {t: float(by_term[t]) for t in REVENUE_TERMS if t in by_term}
    paid = capex["kind"].isin(PAID_KINDS)
    energy = dict.fromkeys(("mining_mwh", "gpu_mwh", "lease_mwh", "aux_mwh", "total_mwh",
                            "grid_import_mwh"), 0.0)
    run_h = avail_h = 0.0
    for s, ld in loads.items():
        for use in ("mining", "gpu", "lease"):
            energy[f"{use}_mwh"] += float(np.dot(w, ld["facility"][use]))
        energy["aux_mwh"] += data.sites[s].aux_load_mw * float(w.sum())
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
        "gpu_units_bought": {g: float(bought.get(g, 0.0)) for g in data.products},
        "accepted_contracts": chosen["contract"],
        "accepted_leases": chosen["lease"],
        "signed_ppas": chosen["ppa"],
        "asics_retired": float(capex.loc[capex["kind"] == "retire", "quantity"].sum()),
        "asics_bought": {a: float(capex.loc[(capex["kind"] == "asic") & (capex["item"] == a),
                                            "quantity"].sum()) for a in data.asic_products},
    }


def tables(data: ModelData, form, x: np.ndarray) -> Tables:
    """Every table of a run folder from a labelled solution."""
    view = SolutionView(form, x, data)
    cash, hourly = cashflow_tables(data, form.cash, x)
    capex = capex_table(view)
    dispatch, loads = dispatch_table(view, hourly)
    return Tables(capex=capex, dispatch=dispatch, cashflows=cash,
                  kpis=kpis(data, cash, capex, loads), hourly_cash=hourly)


def plan_differences(reference: pd.DataFrame, other: pd.DataFrame) -> tuple[float, str]:
    """Largest absolute quantity difference of the build/accept decisions (per kind, item
    and period) between two capex tables, and the differences as text."""
    def keyed(df):
        df = df[df["kind"].isin(PLAN_KINDS)]
        return df.groupby(["kind", "item", "period"])["quantity"].sum()

    a, b = keyed(reference), keyed(other)
    diff = b.sub(a, fill_value=0.0)
    diff = diff[diff.abs() > 1e-6]
    text = "; ".join(f"{k}/{i}@p{p}:{d:+g}" for (k, i, p), d in diff.items())
    return (float(diff.abs().max()) if len(diff) else 0.0), text
