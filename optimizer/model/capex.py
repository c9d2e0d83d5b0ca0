"""Capex decisions and the stocks they build (formulation.md: Capex decisions, Stocks).

Orders are only created for periods whose delivery falls inside the horizon
(``p + lead <= P-1``), so the "0 unless" rule of the spec holds by construction.
Stocks are variables pinned by one equality per site and period (``stock_*``):
hourly rows then read one stock variable instead of a sum of past orders, which
keeps them short without changing the optimum.
"""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo

from .context import Context, checked
from .data import COOLING_TYPES, order_periods


def gpu_available_from(d, g: str, p_order: int, p: int) -> bool:
    """avail(g, p', p): delivered by p and younger than its life at the start of p."""
    prod = d.products[g]
    deliver = p_order + int(prod.lead_periods)
    y = d.grid.periods["y_start"].to_numpy()
    return p >= deliver and (y[p] - y[deliver]) < float(prod.life_years)


def residual_fraction(d, deliver: int, life_years: float) -> float:
    y = d.grid.periods["y_start"].to_numpy()
    return max(0.0, 1.0 - (d.grid.y_end - y[deliver]) / life_years)


def build(ctx: Context) -> None:
    m, d, P = ctx.m, ctx.d, ctx.P
    periods = range(P)
    sites = list(d.sites)

    # --- order variables -------------------------------------------------------
    buy_keys = [(s, g, p) for s in sites for g, prod in d.products.items()
                for p in order_periods(int(prod.lead_periods), P)]
    m.buy = pyo.Var(buy_keys, domain=pyo.NonNegativeIntegers)

    conv_sites = {s: sd.conversion for s, sd in d.sites.items() if sd.conversion is not None}
    conv_keys = [(s, p) for s, c in conv_sites.items()
                 for p in order_periods(int(c.lead_periods), P)]
    m.conv = pyo.Var(conv_keys, domain=pyo.NonNegativeIntegers)

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
    m.conversion_limit = pyo.Constraint(list(conv_sites), rule=checked(lambda m, s: sum(
        m.conv[s, p] for p in order_periods(int(conv_sites[s].lead_periods), P))
        <= int(conv_sites[s].max_blocks)))
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

    def converted(m, s, upto: int):
        """Blocks whose conversion started in periods <= upto."""
        c = conv_sites.get(s)
        if c is None:
            return 0.0
        return sum(m.conv[s, q] for q in order_periods(int(c.lead_periods), P) if q <= upto)

    def block_mw(s) -> float:
        c = conv_sites.get(s)
        return float(c.block_mw) if c is not None else 0.0

    # MH and AH enter only per-period rows, so expressions suffice
    m.mining_hall_mw = pyo.Expression(sites, periods, rule=lambda m, s, p: d.sites[
        s].mining_mw - block_mw(s) * converted(m, s, p))
    m.ai_hall_mw = pyo.Expression(sites, periods, rule=lambda m, s, p: d.sites[s].ai_mw + (
        block_mw(s) * converted(m, s, p - int(conv_sites[s].lead_periods))
        if s in conv_sites else 0.0))

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

    # --- capex budget and cash flows ---------------------------------------------------
    def capex_ordered(m, p):
        """Capex ordered in p (USD, positive), salvage excluded."""
        return (sum(float(d.product_capex[g][p]) * m.buy[s, g, q] for (s, g, q) in buy_keys
                    if q == p)
                + sum(float(conv_sites[s].capex_usd_per_block) * m.conv[s, q]
                      for (s, q) in conv_keys if q == p)
                + sum(upgrades[s, u].capex_usd * m.upg[s, u, q] for (s, u, q) in upg_keys
                      if q == p))

    budget = d.budget
    budget_periods = [] if budget is None else [p for p in periods if np.isfinite(budget[p])]
    m.capex_budget = pyo.Constraint(budget_periods, rule=checked(
        lambda m, p: capex_ordered(m, p) <= float(budget[p])))

    cash = ctx.cash
    eye = np.eye(P)
    for (s, g, p) in buy_keys:
        price = float(d.product_capex[g][p])
        prod = d.products[g]
        cash.capex("gpu_capex", s, -price * eye[p], m.buy[s, g, p])
        frac = residual_fraction(d, p + int(prod.lead_periods), float(prod.life_years))
        cash.residual("residual_value", s, price * frac * eye[p], m.buy[s, g, p])
    for (s, p) in conv_keys:
        c = conv_sites[s]
        price = float(c.capex_usd_per_block)
        cash.capex("conversion_capex", s, -price * eye[p], m.conv[s, p])
        frac = residual_fraction(d, p + int(c.lead_periods), float(c.life_years))
        cash.residual("residual_value", s, price * frac * eye[p], m.conv[s, p])
    for (s, u, p) in upg_keys:
        up = upgrades[s, u]
        name = "grid_upgrade_capex" if up.kind == "grid" else "cooling_upgrade_capex"
        cash.capex(name, s, -up.capex_usd * eye[p], m.upg[s, u, p])
        frac = residual_fraction(d, p + up.lead, up.life_years)
        cash.residual("residual_value", s, up.capex_usd * frac * eye[p],
                        m.upg[s, u, p])
    for (s, f) in fleet_keys:
        for p in periods:
            cash.capex("asic_salvage", s, d.salvage[s, f][p] * eye[p],
                            m.retire[s, f, p])
    years = d.grid.periods["years"].to_numpy()
    for s, sd in d.sites.items():
        cash.period("fixed_opex", s, -sd.fixed_opex_usd_per_year * years)
