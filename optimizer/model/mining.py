"""Bitcoin mining: ASIC fleets hashing hour by hour (groups fleet_available, mining_hall)."""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo

from .context import Context, checked, linear, var_list


def build(ctx: Context) -> None:
    m, d = ctx.m, ctx.d
    T = range(ctx.n_steps)
    fleets = {(s, f.id): f for s, sd in d.sites.items() for f in sd.fleets}
    keys = list(fleets)
    m.run = pyo.Var(keys, T, domain=pyo.NonNegativeReals)  # ASIC units hashing
    period = ctx.period_of()

    run = {k: var_list(m.run, k, ctx.n_steps) for k in keys}
    asics = {k: [m.asics[k + (p,)] for p in range(ctx.P)] for k in keys}
    m.fleet_available = pyo.Constraint(keys, T, rule=lambda m, s, f, t: (
        None, linear([1.0, -1.0], [run[s, f][t], asics[s, f][period[t]]]), 0.0))
    m.mining_hall = pyo.Constraint(
        list(d.sites), range(ctx.P),
        rule=checked(lambda m, s, p: sum(m.asics[s, f.id, p] * (f.power_kw / 1000.0)
                                         for f in d.sites[s].fleets) <= m.mining_hall_mw[s, p]))

    revenue_per_th_h = d.hashprice_per_th_h * (1.0 - d.pool_fee)
    for (s, fid), f in fleets.items():
        mw_per_unit = float(f.power_kw) / 1000.0
        ctx.it_hourly[s, f.cooling].append(([mw_per_unit] * ctx.n_steps, m.run, (s, fid)))
        run = [m.run[s, fid, t] for t in T]
        ctx.cash.hourly("mining_revenue", s, revenue_per_th_h * float(f.hashrate_th), run)
        ctx.cash.hourly("mining_opex", s,
                            np.full(ctx.n_steps, -mw_per_unit * float(f.opex_usd_per_mwh)), run)
