"""Cooling: IT load of each cooling type within the derated capacity (group cooling).

This module also sums the IT loads that the other modules registered, per site,
cooling type and step; the power balance reads the same sums (times PUE).
"""

from __future__ import annotations

import pyomo.core as pyo

from .context import Context
from .data import COOLING_TYPES


def build(ctx: Context) -> None:
    m, d, P = ctx.m, ctx.d, ctx.P
    sites = list(d.sites)

    # IT MW drawn all period long (idle GPUs, firm contracts, leases), one variable per
    # site, type and period so that hourly rows stay short
    m.period_it_mw = pyo.Var(sites, COOLING_TYPES, range(P), domain=pyo.Reals)
    m.period_it_def = pyo.Constraint(
        sites, COOLING_TYPES, range(P),
        rule=lambda m, s, q, p: m.period_it_mw[s, q, p] == sum(
            part(p) for part in ctx.it_period.get((s, q), [])))

    for s in sites:
        for q in COOLING_TYPES:
            # IT_q at every step: the registered hourly loads and the period's draw
            ctx.it_terms[s, q] = ctx.it_hourly.get((s, q), []) + [
                (1.0, ctx.by_step([m.period_it_mw[s, q, p] for p in range(P)]))]
    for s in sites:
        for q in COOLING_TYPES:  # cooling: IT_q <= derate * CC
            ctx.rows("cooling", (s, q), ctx.it_terms[s, q] + [
                (-d.sites[s].cooling[q].derate, ctx.by_step(
                    [m.cooling_mw[s, q, p] for p in range(P)]))], hi=0.0)
