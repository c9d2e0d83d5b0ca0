"""AI compute: GPUs rented on the spot market, firm GPU-hour contracts, colocation
leases (groups gpu_available, spot_market, ai_hall, linked_acceptance); the deal terms
of deals.md sections 1-3, 7 and 10 (prices by period, escalators, upfront payments,
tails past the horizon, deals decided together)."""

from __future__ import annotations

import numpy as np
import pyomo.core as pyo

from .context import Context, checked, decision, var_list


def firm_units(ctx: Context, s: str, g: str, p: int):
    """firm_units[s,g,p]: units committed to accepted contracts active in p."""
    m = ctx.m
    return sum(float(k.units) * decision(m, "accept_contract", k.id, k.optional)
               for k in ctx.d.contracts.values()
               if k.site == s and k.product == g and k.start_period <= p < k.end_period)


def lease_mw(ctx: Context, s: str, p: int, cooling: str | None = None):
    """IT MW of accepted leases at s active in p (of one cooling type, if given)."""
    m = ctx.m
    return sum(float(lease.it_mw) * decision(m, "accept_lease", lease.id, lease.optional)
               for lease in ctx.d.leases.values()
               if lease.site == s and lease.start_period <= p < lease.end_period
               and (cooling is None or lease.cooling == cooling))


def build(ctx: Context) -> None:
    m, d, P = ctx.m, ctx.d, ctx.P
    T = range(ctx.n_steps)
    sites = list(d.sites)
    keys = [(s, g) for s in sites for g in d.products]

    m.accept_contract = pyo.Var([k.id for k in d.contracts.values() if k.optional],
                                domain=pyo.Binary)
    m.accept_lease = pyo.Var([lease.id for lease in d.leases.values() if lease.optional],
                             domain=pyo.Binary)
    m.spot = pyo.Var(keys, T, domain=pyo.NonNegativeReals)  # GPU units rented on spot

    firm = {(s, g, p): firm_units(ctx, s, g, p) for (s, g) in keys for p in range(P)}
    spot = {k: var_list(m.spot, k, ctx.n_steps) for k in keys}
    installed = {k: ctx.by_step([m.gpus_installed[k + (p,)] for p in range(P)]) for k in keys}
    period = ctx.step_period
    for (s, g) in keys:
        # gpu_available: spot + firm_units <= I, the units of accepted optional contracts
        # as terms (zero outside their periods), mandatory ones as a constant
        terms = [(1.0, spot[s, g]), (-1.0, installed[s, g])]
        mandatory = np.zeros(P)
        for k in d.contracts.values():
            if k.site == s and k.product == g:
                active = float(k.units) * ctx.active_steps(k.start_period, k.end_period)
                if k.optional:
                    terms.append((active, [m.accept_contract[k.id]] * ctx.n_steps))
                else:
                    mandatory[k.start_period:k.end_period] += float(k.units)
        ctx.rows("gpu_available", (s, g), terms, hi=-mandatory[period])
    # with full utilisation allowed the cap is implied by gpu_available (firm >= 0)
    for (s, g) in keys:
        cap = float(d.products[g].spot_max_utilization)
        if cap < 1.0:  # spot_market: spot <= u_max * I
            ctx.rows("spot_market", (s, g), [(1.0, spot[s, g]), (-cap, installed[s, g])],
                     hi=0.0)
    m.ai_hall = pyo.Constraint(sites, range(P), rule=checked(lambda m, s, p: sum(
        m.gpus_installed[s, g, p] * (float(prod.it_kw) / 1000.0)
        for g, prod in d.products.items()) + lease_mw(ctx, s, p) <= m.ai_hall_mw[s, p]))

    for (s, g) in keys:
        prod = d.products[g]
        mw = float(prod.it_kw) / 1000.0
        idle = float(prod.idle_fraction)
        ctx.it_hourly[s, prod.cooling].append((mw * (1.0 - idle), spot[s, g]))
        ctx.it_period[s, prod.cooling].append(
            lambda p, s=s, g=g, mw=mw, idle=idle: mw * (idle * m.gpus_installed[s, g, p]
                                                        + (1.0 - idle) * firm[s, g, p]))

    for s in sites:
        for q in ("air", "liquid"):
            ctx.it_period[s, q].append(lambda p, s=s, q=q: lease_mw(ctx, s, p, q))

    linked = [x for x in (*d.contracts.values(), *d.leases.values())
              if getattr(x, "linked_to", None) is not None]
    component = {**dict.fromkeys(d.contracts, "accept_contract"),
                 **dict.fromkeys(d.leases, "accept_lease")}

    def linked_acceptance(m, deal):
        x = next(x for x in linked if x.id == deal)
        return (getattr(m, component[deal])[deal]
                == getattr(m, component[x.linked_to])[x.linked_to])

    # two deals decided together (deals.md section 7); both are optional (validated)
    m.linked_acceptance = pyo.Constraint([x.id for x in linked], rule=linked_acceptance)


def cash_flows(cash, d, V) -> None:
    """Spot rentals, GPU opex, contracts and leases (tails and upfront payments too)."""
    P = d.grid.n_periods
    period_arr = d.grid.step_period
    years = d.grid.periods["years"].to_numpy()
    for s in d.sites:
        for g, prod in d.products.items():
            cash.hourly("gpu_spot_revenue", s, d.spot_price[g] * float(prod.gpus_per_unit),
                        V.steps("spot", s, g))
            opex = float(prod.opex_usd_per_unit_year)
            for p in range(P):
                cash.period("gpu_opex", s, -opex * years * (np.arange(P) == p),
                            V.one("gpus_installed", s, g, p))
    for k in d.contracts.values():
        prod = d.products[k.product]
        var = V.one("accept_contract", k.id) if k.optional else None
        gpus = float(k.units) * float(prod.gpus_per_unit)
        price = d.contract_price[k.id]
        cash.hourly("contract_revenue", k.site, gpus * price[period_arr]
                        * active_steps(d, k.start_period, k.end_period), var)
        # past the horizon: the last period's price, less the cost of serving it that the
        # model no longer sees hour by hour (deals.md section 10)
        tail = np.arange(P, int(k.end_period))
        if len(tail):
            u = gpus * (price[-1] - float(getattr(k, "opex_usd_per_gpu_hour", 0.0))) * \
                d.grid.at("hours", tail)
            cash.entries("contract_revenue_tail", k.site, tail, u,
                             u * d.grid.at("op_discount", tail), var, taxed=True)
        upfront(cash, d, k, var)
    for lease in d.leases.values():
        var = V.one("accept_lease", lease.id) if lease.optional else None
        mw = float(lease.it_mw)
        cash.hourly("lease_energy_revenue", lease.site,
                        mw * d.lease_energy_rate[lease.id]
                        * active_steps(d, lease.start_period, lease.end_period), var)
        opex = float(getattr(lease, "opex_usd_per_kw_month", 0.0))
        rent = d.lease_rent[lease.id]
        window = np.arange(int(lease.start_period), int(lease.end_period))
        u = mw * 1000.0 * (rent[window] - opex) * d.grid.at("months", window).astype(float)
        inside = window < P
        # inside the horizon the term of formulation.md; past it the tail (deals.md 3)
        cash.entries("lease_capacity_revenue", lease.site, window[inside], u[inside],
                         u[inside] * d.grid.at("op_discount", window[inside]), var, taxed=True)
        cash.entries("lease_rent_tail", lease.site, window[~inside], u[~inside],
                         u[~inside] * d.grid.at("op_discount", window[~inside]), var,
                         taxed=True)
        upfront(cash, d, lease, var)


def upfront(cash, d, deal, var) -> None:
    """Cash received at the start of start_period when the deal is accepted (a payment
    when negative), not counted against the budget (deals.md section 2)."""
    usd = float(getattr(deal, "upfront_usd", 0.0))
    if usd:
        coef = np.zeros(d.grid.n_periods)
        coef[int(deal.start_period)] = usd
        cash.capex("upfront", deal.site, coef, var)


def active_steps(d, start: int, end: int) -> np.ndarray:
    sp = d.grid.step_period
    return ((sp >= start) & (sp < end)).astype(float)
