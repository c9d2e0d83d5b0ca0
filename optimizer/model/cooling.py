"""Cooling: IT load of each cooling type within the derated capacity (group cooling).

This module also sums the IT loads that the other modules registered, per site,
cooling type and step; the power balance reads the same sums (times PUE).
"""

from __future__ import annotations

import pyomo.environ as pyo

from .context import Context, linear, var_list
from .data import COOLING_TYPES


def build(ctx: Context) -> None:
    m, d, P = ctx.m, ctx.d, ctx.P
    T = range(ctx.n_steps)
    period = ctx.period_of()
    sites = list(d.sites)

    # IT MW drawn all period long (idle GPUs, firm contracts, leases), one variable per
    # site, type and period so that hourly rows stay short
    m.period_it_mw = pyo.Var(sites, COOLING_TYPES, range(P), domain=pyo.Reals)
    m.period_it_def = pyo.Constraint(
        sites, COOLING_TYPES, range(P),
        rule=lambda m, s, q, p: m.period_it_mw[s, q, p] == sum(
            part(p) for part in ctx.it_period.get((s, q), [])))

    n = ctx.n_steps
    parts = {(s, q): [(c, var_list(var, prefix, n))
                      for c, var, prefix in ctx.it_hourly.get((s, q), [])]
             for s in sites for q in COOLING_TYPES}
    period_it = {(s, q): [m.period_it_mw[s, q, p] for p in range(P)]
                 for s in sites for q in COOLING_TYPES}

    def it_terms(s: str, q: str, t: int) -> tuple[list, list]:
        """IT_q at site s, step t (MW), as coefficient and variable lists."""
        ps = parts[s, q]
        return ([c[t] for c, _ in ps] + [1.0],
                [v[t] for _, v in ps] + [period_it[s, q][period[t]]])

    ctx.it_terms = it_terms
    derate = {(s, q): d.sites[s].cooling[q].derate.tolist() for s in sites for q in COOLING_TYPES}
    capacity = {(s, q): [m.cooling_mw[s, q, p] for p in range(P)]
                for s in sites for q in COOLING_TYPES}

    def cooling(m, s, q, t):
        coefs, variables = it_terms(s, q, t)
        coefs.append(-derate[s, q][t])
        variables.append(capacity[s, q][period[t]])
        return (None, linear(coefs, variables), 0.0)

    m.cooling = pyo.Constraint(sites, COOLING_TYPES, T, rule=cooling)
