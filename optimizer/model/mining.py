"""Bitcoin mining: ASIC fleets and bought ASICs hashing hour by hour (groups
fleet_available, asic_available, mining_hall; deals.md section 6)."""

from __future__ import annotations

import numpy as np
import pyomo.core as pyo

from .context import Context, checked, var_list


def build(ctx: Context) -> None:
    m, d = ctx.m, ctx.d
    T = range(ctx.n_steps)
    n = ctx.n_steps
    fleets = {(s, f.id): f for s, sd in d.sites.items() for f in sd.fleets}
    keys = list(fleets)
    m.run = pyo.Var(keys, T, domain=pyo.NonNegativeReals)  # ASIC units hashing
    bought = {(s, a): prod for s in d.sites for a, prod in d.asic_products.items()}
    akeys = list(bought)
    m.arun = pyo.Var(akeys, T, domain=pyo.NonNegativeReals)  # bought ASIC units hashing

    run = {k: var_list(m.run, k, n) for k in keys}
    for k in keys:  # fleet_available: run <= asics
        ctx.rows("fleet_available", k, [(1.0, run[k]), (-1.0, ctx.by_step(
            [m.asics[k + (p,)] for p in range(ctx.P)]))], hi=0.0)
    arun = {k: var_list(m.arun, k, n) for k in akeys}
    for k in akeys:  # asic_available: arun <= asics_bought
        ctx.rows("asic_available", k, [(1.0, arun[k]), (-1.0, ctx.by_step(
            [m.asics_bought[k + (p,)] for p in range(ctx.P)]))], hi=0.0)
    m.mining_hall = pyo.Constraint(
        list(d.sites), range(ctx.P),
        rule=checked(lambda m, s, p: sum(m.asics[s, f.id, p] * (f.power_kw / 1000.0)
                                         for f in d.sites[s].fleets)
                     + sum(m.asics_bought[s, a, p] * (float(prod.power_kw) / 1000.0)
                           for a, prod in d.asic_products.items())
                     <= m.mining_hall_mw[s, p]))

    for (s, fid), f in fleets.items():
        ctx.it_hourly[s, f.cooling].append((float(f.power_kw) / 1000.0, run[s, fid]))
        ctx.mining_mw[s].append((float(f.power_kw) / 1000.0, run[s, fid]))
    for (s, a), prod in bought.items():
        ctx.it_hourly[s, prod.cooling].append((float(prod.power_kw) / 1000.0, arun[s, a]))
        ctx.mining_mw[s].append((float(prod.power_kw) / 1000.0, arun[s, a]))


def cash_flows(cash, d, V) -> None:
    """Mining revenue and ASIC opex of fleets and bought ASICs, hour by hour."""
    n = d.grid.n_steps
    revenue_per_th_h = d.hashprice_per_th_h * (1.0 - d.pool_fee)
    units = [(s, f, V.steps("run", s, f.id)) for s, sd in d.sites.items() for f in sd.fleets]
    units += [(s, prod, V.steps("arun", s, a)) for s in d.sites
              for a, prod in d.asic_products.items()]
    for s, spec, variables in units:
        mw_per_unit = float(spec.power_kw) / 1000.0
        cash.hourly("mining_revenue", s, revenue_per_th_h * float(spec.hashrate_th), variables)
        cash.hourly("mining_opex", s,
                    np.full(n, -mw_per_unit * float(getattr(spec, "opex_usd_per_mwh", 0.0))),
                    variables)
