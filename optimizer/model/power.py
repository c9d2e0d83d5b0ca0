"""Power: grid imports, PPAs, the site power balance, peaks and the reserve market.

Groups power_balance, import_limit, ppa_volume, export_limit, ppa_min_take,
ancillary and demand_peak. The power balance is where the other modules' loads
meet (through ``ctx.it_terms``).
"""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo

from .context import Context, checked, linear, var_list
from .data import COOLING_TYPES


def build(ctx: Context) -> None:
    m, d, P = ctx.m, ctx.d, ctx.P
    T = range(ctx.n_steps)
    period = ctx.period_of()
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
    pue = {(s, q): d.sites[s].cooling[q].pue.tolist() for s in sites for q in COOLING_TYPES}
    imp = {s: var_list(m.imp, (s,), n) for s in sites}
    use = {c.id: var_list(m.use, (c.id,), n) for c in energy}
    grid_mw = {s: [m.grid_import_mw[s, p] for p in range(P)] for s in sites}
    it_terms = ctx.it_terms

    def power_balance(m, s, t):
        """sum_q pue_q * IT_q - imp - sum use = -aux"""
        coefs, variables = [], []
        for q in COOLING_TYPES:
            c, v = it_terms(s, q, t)
            k = pue[s, q][t]
            coefs += [k * x for x in c]
            variables += v
        coefs += [-1.0] * (1 + len(energy_at[s]))
        variables += [imp[s][t]] + [use[c][t] for c in energy_at[s]]
        rhs = -d.sites[s].aux_load_mw
        return (rhs, linear(coefs, variables), rhs)

    m.power_balance = pyo.Constraint(sites, T, rule=power_balance)

    def import_limit(m, s, t):
        k = len(physical_at[s])
        return (None, linear([1.0] * (k + 1) + [-1.0],
                             [imp[s][t]] + [use[c][t] for c in physical_at[s]]
                             + [grid_mw[s][period[t]]]), 0.0)

    m.import_limit = pyo.Constraint(sites, T, rule=import_limit)

    vol = {c.id: d.ppa_volume[c.id].tolist() for c in energy}

    out = {c.id: var_list(m.out, (c.id,), n) for c in onsite}

    def ppa_volume(m, c, t):
        """use + out <= sign * vol (= for an onsite PPA that is not curtailable)"""
        ppa = ppas[c]
        coefs, variables = [1.0], [use[c][t]]
        if ppa.kind == "onsite":
            coefs.append(1.0)
            variables.append(out[c][t])
        if ppa.optional:
            coefs.append(-vol[c][t])
            variables.append(m.sign_ppa[c])
            rhs = 0.0
        else:
            rhs = vol[c][t]
        body = linear(coefs, variables)
        if ppa.kind == "onsite" and not ppa.curtailable:
            return (rhs, body, rhs)
        return (None, body, rhs)

    m.ppa_volume = pyo.Constraint([c.id for c in energy], T, rule=ppa_volume)
    export_sites = [s for s in sites if onsite_at[s]]
    m.export_limit = pyo.Constraint(export_sites, T, rule=lambda m, s, t: (None, linear(
        [1.0] * len(onsite_at[s]), [out[c][t] for c in onsite_at[s]]),
        d.sites[s].export_limit_mw))

    min_take = [(c.id, p) for c in energy if not c.take_or_pay and c.min_take_fraction > 0
                for p in range(P) if c.start_period <= p < c.end_period]
    steps_of = [np.flatnonzero(d.grid.step_period == p).tolist() for p in range(P)]

    def ppa_min_take(m, c, p):
        ppa = ppas[c]
        out = ppa.kind == "onsite"
        taken = sum(w[t] * (m.use[c, t] + (m.out[c, t] if out else 0.0)) for t in steps_of[p])
        offered = float(sum(w[t] * vol[c][t] for t in steps_of[p]))
        return taken >= float(ppa.min_take_fraction) * offered * sign(ppa)

    m.ppa_min_take = pyo.Constraint(min_take, rule=checked(ppa_min_take))

    mining = ctx.mining_mw
    anc = {s: var_list(m.anc, (s,), n) for s in anc_sites}

    def ancillary(m, s, t):
        """anc <= the IT MW of the ASICs hashing (fleets and bought units)."""
        parts = mining.get(s, [])
        return (None, linear([1.0] + [-mw for mw, _ in parts],
                             [anc[s][t]] + [v[t] for _, v in parts]), 0.0)

    m.ancillary = pyo.Constraint(anc_sites, T, rule=ancillary)
    peak = {s: [m.peak[s, p] for p in range(P)] for s in peak_sites}
    m.demand_peak = pyo.Constraint(peak_sites, T, rule=lambda m, s, t: (None, linear(
        [1.0] * (1 + len(physical_at[s])) + [-1.0],
        [imp[s][t]] + [use[c][t] for c in physical_at[s]] + [peak[s][period[t]]]), 0.0))



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
