"""Cooling: IT load of each cooling type within the derated capacity (group cooling).

This module also sums the IT loads that the other modules registered, per site,
cooling type and step; the power balance reads the same sums (times PUE).
"""

from __future__ import annotations

import pyomo.environ as pyo

from .context import Context
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

    parts = {(s, q): ctx.it_hourly.get((s, q), []) for s in sites for q in COOLING_TYPES}

    def it_load(s: str, q: str, t: int):
        """IT_q at site s, step t (MW)."""
        return sum(c[t] * var[prefix + (t,)] for c, var, prefix in parts[s, q]) \
            + m.period_it_mw[s, q, period[t]]

    ctx.it_load = it_load
    derate = {(s, q): d.sites[s].cooling[q].derate.tolist() for s in sites for q in COOLING_TYPES}
    m.cooling = pyo.Constraint(
        sites, COOLING_TYPES, T,
        rule=lambda m, s, q, t: it_load(s, q, t) <= m.cooling_mw[s, q, period[t]] * derate[
            s, q][t])
