"""Power: grid imports, PPAs, the site power balance, peaks and the reserve market.

Groups power_balance, import_limit, ppa_volume, export_limit, ppa_min_take,
ancillary and demand_peak. The power balance is where the other modules' loads
meet (through ``ctx.it_terms``). The hourly groups are row blocks (``Context.rows``).
"""

from __future__ import annotations

import math

import numpy as np
import pyomo.core as pyo
from pyomo.core.expr.numeric_expr import LinearExpression

from .context import Context, checked, var_list
from .data import COOLING_TYPES


def build(ctx: Context) -> None:
    m, d, P = ctx.m, ctx.d, ctx.P
    T = range(ctx.n_steps)
    w = d.grid.step_weight
    sites = list(d.sites)
    ppas = d.ppas
    energy = [c for c in ppas.values() if c.kind in ("physical", "onsite")]
    onsite = [c for c in ppas.values() if c.kind == "onsite"]
    physical_at = {s: [c.id for c in energy if c.site == s and c.kind == "physical"]
                   for s in sites}
    energy_at = {s: [c.id for c in energy if c.site == s] for s in sites}
    onsite_at = {s: [c.id for c in onsite if c.site == s] for s in sites}

    m.sign_ppa = pyo.Var([c.id for c in ppas.values() if c.optional], domain=pyo.Binary)
    m.imp = pyo.Var(sites, T, domain=pyo.NonNegativeReals)  # MW bought from the grid
    m.use = pyo.Var([c.id for c in energy], T, domain=pyo.NonNegativeReals)
    m.out = pyo.Var([c.id for c in onsite], T, domain=pyo.NonNegativeReals)
    anc_sites = [s for s in sites if d.sites[s].anc_price is not None]
    m.anc = pyo.Var(anc_sites, T, bounds=lambda m, s, t: (0.0, d.sites[s].anc_max_mw))
    peak_sites = [s for s in sites if d.sites[s].demand_charge_usd_per_kw_month > 0]
    m.peak = pyo.Var(peak_sites, range(P), domain=pyo.NonNegativeReals)

    def sign(c):
        return m.sign_ppa[c.id] if c.optional else 1.0

    n = ctx.n_steps
    imp = {s: var_list(m.imp, (s,), n) for s in sites}
    use = {c.id: var_list(m.use, (c.id,), n) for c in energy}
    out = {c.id: var_list(m.out, (c.id,), n) for c in onsite}
    grid_mw = {s: ctx.by_step([m.grid_import_mw[s, p] for p in range(P)]) for s in sites}
    for s in sites:  # power_balance: sum_q pue_q * IT_q - imp - sum use = -aux
        pue = {q: d.sites[s].cooling[q].pue for q in COOLING_TYPES}
        terms = [(pue[q] * np.asarray(c, float), v)
                 for q in COOLING_TYPES for c, v in ctx.it_terms[s, q]]
        terms += [(-1.0, imp[s])] + [(-1.0, use[c]) for c in energy_at[s]]
        aux = -d.sites[s].aux_load_mw
        ctx.rows("power_balance", (s,), terms, lo=aux, hi=aux)
    for s in sites:  # import_limit: imp + sum use (physical) <= grid import limit
        ctx.rows("import_limit", (s,), [(1.0, imp[s])] + [(1.0, use[c]) for c in physical_at[s]]
                 + [(-1.0, grid_mw[s])], hi=0.0)

    vol = {c.id: d.ppa_volume[c.id] for c in energy}
    for c in energy:
        # ppa_volume: use + out <= sign * vol (= for an onsite PPA that is not curtailable)
        terms = [(1.0, use[c.id])] + ([(1.0, out[c.id])] if c.kind == "onsite" else [])
        if c.optional:
            terms.append((-vol[c.id], [m.sign_ppa[c.id]] * n))
            rhs = np.zeros(n)
        else:
            rhs = vol[c.id]
        exact = c.kind == "onsite" and not c.curtailable
        ctx.rows("ppa_volume", (c.id,), terms, lo=rhs if exact else -math.inf, hi=rhs)
    for s in sites:
        if onsite_at[s]:  # export_limit: sum out <= export limit
            ctx.rows("export_limit", (s,), [(1.0, out[c]) for c in onsite_at[s]],
                     hi=d.sites[s].export_limit_mw)

    min_take = [(c.id, p) for c in energy if not c.take_or_pay and c.min_take_fraction > 0
                for p in range(P) if c.start_period <= p < c.end_period]
    steps_of = [np.flatnonzero(d.grid.step_period == p) for p in range(P)]

    def ppa_min_take(m, c, p):
        ppa = ppas[c]
        steps = steps_of[p]
        weight = w[steps].tolist()
        # a flat expression (use, then out, step by step), not a tree for the compiler to walk
        parts = [use[c]] + ([out[c]] if ppa.kind == "onsite" else [])
        taken = LinearExpression(
            linear_coefs=[k for k in weight for _ in parts],
            linear_vars=[v[t] for t in steps for v in parts])
        # summed step by step, as the rows always were
        offered = float(sum((w[steps] * vol[c][steps]).tolist()))
        return taken >= float(ppa.min_take_fraction) * offered * sign(ppa)

    m.ppa_min_take = pyo.Constraint(min_take, rule=checked(ppa_min_take))

    mining = ctx.mining_mw
    for s in anc_sites:  # ancillary: anc <= the IT MW of the ASICs hashing
        ctx.rows("ancillary", (s,), [(1.0, var_list(m.anc, (s,), n))]
                 + [(-mw, v) for mw, v in mining.get(s, [])], hi=0.0)
    for s in peak_sites:  # demand_peak: imp + sum use (physical) <= peak of the period
        ctx.rows("demand_peak", (s,), [(1.0, imp[s])] + [(1.0, use[c]) for c in physical_at[s]]
                 + [(-1.0, ctx.by_step([m.peak[s, p] for p in range(P)]))], hi=0.0)


def cash_flows(cash, d, V) -> None:
    """Grid energy, delivery and peak charges, reserve revenue, PPA payments."""
    n, P = d.grid.n_steps, d.grid.n_periods
    months = d.grid.periods["months"].to_numpy(dtype=float)
    for s, sd in d.sites.items():
        imp = V.steps("imp", s)
        cash.hourly("grid_energy", s, -sd.price, imp)
        physical = [c.id for c in d.ppas.values() if c.site == s and c.kind == "physical"]
        for vars_ in [imp] + [V.steps("use", c) for c in physical]:
            cash.hourly("import_adder", s, -sd.import_adder, vars_)
            cash.hourly("coincident_peak", s, -sd.cp_cost_per_mwh, vars_)
        if sd.anc_price is not None:
            cash.hourly("ancillary_revenue", s, sd.anc_price, V.steps("anc", s))
        if sd.demand_charge_usd_per_kw_month > 0:
            for p in range(P):
                cash.period("demand_charge", s,
                            -1000.0 * sd.demand_charge_usd_per_kw_month * months
                            * (np.arange(P) == p), V.one("peak", s, p))

    for c in d.ppas.values():
        sd = d.sites[c.site]
        vol = d.ppa_volume[c.id]
        sign = V.one("sign_ppa", c.id) if c.optional else None
        strike = float(c.strike_usd_per_mwh)
        net_price = sd.price - sd.export_fee_usd_per_mwh
        if c.kind == "virtual":
            cash.hourly("vppa_settlement", c.site, vol * (sd.price - strike), sign)
            continue
        use = V.steps("use", c.id)
        out = V.steps("out", c.id) if c.kind == "onsite" else None
        if c.take_or_pay:
            cash.hourly("ppa_strike", c.site, -strike * vol, sign)
        else:
            for vars_ in (use, out):
                if vars_ is not None:
                    cash.hourly("ppa_strike", c.site, np.full(n, -strike), vars_)
        if c.kind == "physical" and c.take_or_pay:
            # unused volume is sold back at the site price, also when that is negative
            cash.hourly("ppa_settlement", c.site, vol * net_price, sign)
            cash.hourly("ppa_settlement", c.site, -net_price, use)
        if out is not None:
            cash.hourly("ppa_export", c.site, net_price, out)
