"""Capex decisions and the stocks they build (formulation.md: Capex decisions, Stocks;
deals.md sections 4-6, 8, 9, 11).

Orders are only created for periods whose delivery falls inside the horizon
(``p + lead <= P-1``), so the "0 unless" rule of the spec holds by construction.
Stocks are variables pinned by one equality per site and period (``stock_*``):
hourly rows then read one stock variable instead of a sum of past orders, which
keeps them short without changing the optimum.

Every asset order (GPUs, ASICs, hall conversions, new AI halls, grid and cooling
upgrades) declares its cash flows through ``asset_cash``: the equity paid at the start
of the order period, the debt service of a financing, the depreciation shields, and the
residual value (after tax when taxes apply) at its valuation date.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyomo.core as pyo

from .context import Context, checked
from .data import COOLING_TYPES, order_periods


def available_from(d, lead: int, life_years: float, p_order: int, p: int) -> bool:
    """avail(p', p): delivered by p and younger than its life at the start of p."""
    deliver = p_order + lead
    y = d.grid.periods["y_start"].to_numpy()
    return p >= deliver and (y[p] - y[deliver]) < float(life_years)


def gpu_available_from(d, g: str, p_order: int, p: int) -> bool:
    prod = d.products[g]
    return available_from(d, int(prod.lead_periods), float(prod.life_years), p_order, p)


@dataclass
class Asset:
    """One kind of orderable asset at a site: what its cash flows need to know."""

    kind: str  # gpu, asic, conversion, ai_build, grid_upgrade, cooling_upgrade
    term: str  # its capex term
    lead: int
    life_years: float
    residual_at: int | None  # valuation period (deals.md section 9), None: horizon end


def budget_usd(d, asset: Asset, site: str, price: float) -> float:
    """USD per unit that count against the capex budget: the equity share when the
    asset is financed (deals.md section 8), the price otherwise."""
    fin = d.financing_of(asset.kind, site)
    return (1.0 - float(fin.loan_to_cost)) * price if fin is not None else price


def asset_cash(cash, d, asset: Asset, site: str, p: int, price: float, var) -> None:
    """Declare the cash flows of ``var`` units of an asset ordered at ``site`` in ``p`` at
    ``price`` USD each."""
    grid = d.grid
    P = grid.n_periods
    if price == 0.0:
        return
    r = grid.discount_rate
    E_p = float(grid.periods["capex_discount"].iloc[p])
    y_p = float(grid.at("y_start", p))
    fin = d.financing_of(asset.kind, site)
    ltc = float(fin.loan_to_cost) if fin is not None else 0.0
    cash.capex(asset.term, site, -(1.0 - ltc) * price * _unit(P, p), var)
    if ltc > 0.0:
        # level annual instalments a * L * c at y_start(p) + 1 .. + n, every one counted
        n, rate = int(fin.tenor_years), float(fin.rate)
        a = rate / (1.0 - (1.0 + rate) ** -n) if rate > 0.0 else 1.0 / n
        instalment = a * ltc * price
        annuity = float(np.sum((1.0 + r) ** -np.arange(1, n + 1, dtype=float)))
        cash.entries("debt_service", site, [p], -n * instalment, -E_p * instalment * annuity,
                     var)
    # residual value at the valuation date: the horizon end or the start of period v
    v = asset.residual_at if asset.residual_at is not None else P
    y_val = float(grid.at("y_start", v))
    at_val = (1.0 + r) ** -y_val
    y_deliver = float(grid.at("y_start", p + asset.lead))
    residual = price * max(0.0, 1.0 - (y_val - y_deliver) / asset.life_years)
    cash.entries("residual_value", site, [p], residual, residual * at_val, var)
    taxes = d.taxes
    if taxes is not None and float(taxes.rate) > 0.0:
        tax = float(taxes.rate)
        years = (getattr(taxes, "depreciation_years", None) or {}).get(asset.kind)
        if years:
            N = int(years)
            # tax years j = 1..N that fall on or before the valuation date
            n_dep = int(np.sum(y_p + np.arange(1, N + 1) <= y_val + 1e-9))
            if n_dep:
                shield = tax * price / N
                disc = float(np.sum((1.0 + r) ** -np.arange(1, n_dep + 1, dtype=float)))
                cash.entries("depreciation_shield", site, [p], shield * n_dep,
                             E_p * shield * disc, var)
            basis = price * (N - n_dep) / N
        else:
            basis = price
        # sold at the valuation date: (1 - rate) R + rate B = R + rate (B - R)
        effect = tax * (basis - residual)
        cash.entries("tax", site, [p], effect, effect * at_val, var)


def _unit(P: int, p: int) -> np.ndarray:
    out = np.zeros(P)
    out[p] = 1.0
    return out


def build(ctx: Context) -> None:
    m, d, P = ctx.m, ctx.d, ctx.P
    periods = range(P)
    sites = list(d.sites)

    # --- order variables -------------------------------------------------------
    buy_keys = [(s, g, p) for s in sites for g, prod in d.products.items()
                for p in order_periods(int(prod.lead_periods), P)]
    m.buy = pyo.Var(buy_keys, domain=pyo.NonNegativeIntegers)

    asic_keys = [(s, a, p) for s in sites for a, prod in d.asic_products.items()
                 for p in order_periods(int(prod.lead_periods), P)]
    m.abuy = pyo.Var(asic_keys, domain=pyo.NonNegativeReals)  # continuous: thousands of units

    conv_sites = {s: sd.conversion for s, sd in d.sites.items() if sd.conversion is not None}
    conv_keys = [(s, p) for s, c in conv_sites.items()
                 for p in order_periods(int(c.lead_periods), P)]
    m.conv = pyo.Var(conv_keys, domain=pyo.NonNegativeIntegers)

    build_sites = {s: sd.ai_build for s, sd in d.sites.items() if sd.ai_build is not None}
    build_keys = [(s, p) for s, c in build_sites.items()
                  for p in order_periods(int(c.lead_periods), P)]
    m.build = pyo.Var(build_keys, domain=pyo.NonNegativeIntegers)

    upgrades = {(u.site, u.id): u for u in d.upgrades}
    upg_keys = [(s, u, p) for (s, u), up in upgrades.items() for p in order_periods(up.lead, P)]
    m.upg = pyo.Var(upg_keys, domain=pyo.NonNegativeIntegers)

    fleet_keys = [(s, f.id) for s, sd in d.sites.items() for f in sd.fleets]
    fleets = {(s, f.id): f for s, sd in d.sites.items() for f in sd.fleets}
    m.retire = pyo.Var(fleet_keys, periods, domain=pyo.NonNegativeReals)

    # --- limits ------------------------------------------------------------------
    capped = [(g, p) for g, prod in d.products.items() if prod.max_units_per_period is not None
              for p in order_periods(int(prod.lead_periods), P)]
    m.buy_limit = pyo.Constraint(capped, rule=checked(lambda m, g, p: sum(
        m.buy[s, g, p] for s in sites) <= float(d.products[g].max_units_per_period)))
    asic_capped = [(a, p) for a, prod in d.asic_products.items()
                   if prod.max_units_per_period is not None
                   for p in order_periods(int(prod.lead_periods), P)]
    m.asic_buy_limit = pyo.Constraint(asic_capped, rule=checked(lambda m, a, p: sum(
        m.abuy[s, a, p] for s in sites) <= float(d.asic_products[a].max_units_per_period)))
    m.conversion_limit = pyo.Constraint(list(conv_sites), rule=checked(lambda m, s: sum(
        m.conv[s, p] for p in order_periods(int(conv_sites[s].lead_periods), P))
        <= int(conv_sites[s].max_blocks)))
    m.ai_build_limit = pyo.Constraint(list(build_sites), rule=checked(lambda m, s: sum(
        m.build[s, p] for p in order_periods(int(build_sites[s].lead_periods), P))
        <= int(build_sites[s].max_blocks)))
    m.upgrade_limit = pyo.Constraint(list(upgrades), rule=checked(lambda m, s, u: sum(
        m.upg[s, u, p] for p in order_periods(upgrades[s, u].lead, P))
        <= upgrades[s, u].max_count))
    m.retire_limit = pyo.Constraint(fleet_keys, rule=lambda m, s, f: sum(
        m.retire[s, f, p] for p in periods) <= float(fleets[s, f].units))

    # --- stocks --------------------------------------------------------------------
    m.asics = pyo.Var(fleet_keys, periods, domain=pyo.Reals)  # A[s,f,p], units
    m.stock_asics = pyo.Constraint(fleet_keys, periods, rule=lambda m, s, f, p: m.asics[
        s, f, p] == float(fleets[s, f].units) - sum(m.retire[s, f, q] for q in range(p + 1)))

    gp_keys = [(s, g) for s in sites for g in d.products]
    m.gpus_installed = pyo.Var(gp_keys, periods, domain=pyo.Reals)  # I[s,g,p], units

    def stock_gpus(m, s, g, p):
        bought = [m.buy[s, g, q] for q in order_periods(int(d.products[g].lead_periods), P)
                  if gpu_available_from(d, g, q, p)]
        return m.gpus_installed[s, g, p] == d.sites[s].existing_gpus.get(g, 0.0) + sum(bought)

    m.stock_gpus = pyo.Constraint(gp_keys, periods, rule=stock_gpus)

    ap_keys = [(s, a) for s in sites for a in d.asic_products]
    m.asics_bought = pyo.Var(ap_keys, periods, domain=pyo.Reals)  # NA[s,a,p], units

    def stock_asics_bought(m, s, a, p):
        prod = d.asic_products[a]
        lead, life = int(prod.lead_periods), float(prod.life_years)
        bought = [m.abuy[s, a, q] for q in order_periods(lead, P)
                  if available_from(d, lead, life, q, p)]
        return m.asics_bought[s, a, p] == sum(bought)

    m.stock_asics_bought = pyo.Constraint(ap_keys, periods, rule=stock_asics_bought)

    def started(var, holder, s, upto: int):
        """Blocks whose order was placed in periods <= upto."""
        if holder is None:
            return 0.0
        return sum(var[s, q] for q in order_periods(int(holder.lead_periods), P) if q <= upto)

    def block_mw(holder) -> float:
        return float(holder.block_mw) if holder is not None else 0.0

    def ai_hall_mw(m, s, p):
        conv, new = conv_sites.get(s), build_sites.get(s)
        total = d.sites[s].ai_mw
        if conv is not None:
            total = total + block_mw(conv) * started(m.conv, conv, s, p - int(conv.lead_periods))
        if new is not None:
            total = total + block_mw(new) * started(m.build, new, s, p - int(new.lead_periods))
        return total

    # MH and AH enter only per-period rows, so expressions suffice; a block leaves
    # mining when its conversion starts, a new hall adds nothing to mining
    m.mining_hall_mw = pyo.Expression(sites, periods, rule=lambda m, s, p: d.sites[
        s].mining_mw - block_mw(conv_sites.get(s)) * started(m.conv, conv_sites.get(s), s, p))
    m.ai_hall_mw = pyo.Expression(sites, periods, rule=ai_hall_mw)

    def delivered(m, s, kind, cooling, p):
        """add_mw of upgrades of this kind delivered by period p."""
        return sum(up.add_mw * m.upg[s, u, q] for (s2, u), up in upgrades.items()
                   if s2 == s and up.kind == kind and up.cooling == cooling
                   for q in order_periods(up.lead, P) if q <= p - up.lead)

    m.grid_import_mw = pyo.Var(sites, periods, domain=pyo.Reals)  # GI[s,p]
    m.stock_grid = pyo.Constraint(sites, periods, rule=lambda m, s, p: m.grid_import_mw[
        s, p] == d.sites[s].import_limit_mw + delivered(m, s, "grid", None, p))
    m.cooling_mw = pyo.Var(sites, COOLING_TYPES, periods, domain=pyo.Reals)  # CC[s,q,p]
    m.stock_cooling = pyo.Constraint(sites, COOLING_TYPES, periods, rule=lambda m, s, q, p: m.
                                     cooling_mw[s, q, p] == d.sites[s].cooling[q].capacity_mw
                                     + delivered(m, s, "cooling", q, p))

    # --- the budget: capex ordered in p (the equity of financed items), salvage excluded
    budget = d.budget
    budget_periods = [] if budget is None else [p for p in periods if np.isfinite(budget[p])]
    ordered = {p: [] for p in budget_periods}
    for asset, s, p, price, key in orders(d):
        if p in ordered:
            ordered[p].append((budget_usd(d, asset, s, price), getattr(m, key[0])[key[1:]]))
    m.capex_budget = pyo.Constraint(budget_periods, rule=checked(
        lambda m, p: sum(usd * var for usd, var in ordered[p] if usd) <= float(budget[p])))


def orders(d):
    """Every orderable asset: (Asset, site, order period, price, (variable, *index))."""
    P = d.grid.n_periods
    for s in d.sites:
        for g, prod in d.products.items():
            asset = Asset("gpu", "gpu_capex", int(prod.lead_periods), float(prod.life_years),
                          getattr(prod, "residual_at_period", None))
            for p in order_periods(asset.lead, P):
                yield asset, s, p, float(d.product_capex[g][p]), ("buy", s, g, p)
        for a, prod in d.asic_products.items():
            asset = Asset("asic", "asic_capex", int(prod.lead_periods), float(prod.life_years),
                          None)
            for p in order_periods(asset.lead, P):
                yield asset, s, p, float(d.asic_capex[a][p]), ("abuy", s, a, p)
        sd = d.sites[s]
        for kind, holder, var in (("conversion", sd.conversion, "conv"),
                                  ("ai_build", sd.ai_build, "build")):
            if holder is None:
                continue
            asset = Asset(kind, f"{kind}_capex", int(holder.lead_periods),
                          float(holder.life_years), getattr(holder, "residual_at_period", None))
            for p in order_periods(asset.lead, P):
                yield asset, s, p, float(holder.capex_usd_per_block), (var, s, p)
    for up in d.upgrades:
        kind = "grid_upgrade" if up.kind == "grid" else "cooling_upgrade"
        asset = Asset(kind, f"{kind}_capex", up.lead, up.life_years, up.residual_at)
        for p in order_periods(up.lead, P):
            yield asset, up.site, p, up.capex_usd, ("upg", up.site, up.id, p)


def cash_flows(cash, d, V) -> None:
    """Asset orders (equity, debt service, shields, residual values), ASIC salvage and
    terminal values, fixed opex."""
    P = d.grid.n_periods
    for asset, s, p, price, key in orders(d):
        asset_cash(cash, d, asset, s, p, price, V.one(*key))
    D_end = d.grid.end_discount
    for s, sd in d.sites.items():
        for f in sd.fleets:
            for p in range(P):
                # salvage is not counted against the budget (formulation.md)
                cash.capex("asic_salvage", s, d.salvage[s, f.id][p] * _unit(P, p),
                           V.one("retire", s, f.id, p))
            terminal = float(getattr(f, "terminal_usd_per_unit", 0.0))
            if terminal:
                # an ASIC still active at the horizon end keeps its terminal value (deals.md 4)
                cash.entries("asic_terminal", s, [P - 1], terminal, terminal * D_end,
                             V.one("asics", s, f.id, P - 1))
    years = d.grid.periods["years"].to_numpy()
    for s, sd in d.sites.items():
        cash.period("fixed_opex", s, -sd.fixed_opex_usd_per_year * years)
