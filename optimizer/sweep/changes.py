"""What a scenario changes in a built model, decided statically from the instance paths.

Every leaf of the instance (a value at a path such as ``sites[permian].grid.price_usd_per_mwh``)
is one of three kinds:

- **cost**: it changes objective coefficients only (prices, fees, opex, salvage, rents,
  strikes, the discount rate). The kept model is re-priced: ``model.build.reprice``
  gives the new cash matrix on the kept columns.
- **bound**: it changes the right-hand side of rows (capacities, limits, budgets, order
  caps, unit counts) or a column bound (the reserve's maximum MW). The rows are found by
  label and shifted by the change of the value (``bound_changes``).
- **structure**: anything else (a new product, a lease's window, a PUE, a lead time):
  the model is rebuilt.

Capex prices and financing terms are costs while the instance has no capex budget; with
one they are coefficients of the budget rows, so structure. A path that is in no table
is structure: a rebuild is always correct, only slower.

The *structure key* of a scenario hashes everything a kept model cannot absorb: scenarios
with the same key can re-solve one model. It is a grouping hint; the worker still checks
each change against the model it holds (``KeptModel.update``), and rebuilds when the grid
or the columns differ after all.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

import numpy as np

COST, BOUND, CAPEX, STRUCTURE = "cost", "bound", "capex", "structure"

_TABLE: dict[str, list[str]] = {
    COST: [
        "name", "description", "horizon.discount_rate", "market",
        "sites[].fixed_opex_usd_per_year",
        "sites[].grid.price_usd_per_mwh", "sites[].grid.import_adder_usd_per_mwh",
        "sites[].grid.export_fee_usd_per_mwh", "sites[].grid.demand_charge_usd_per_kw_month",
        "sites[].grid.coincident_peak", "sites[].grid.ancillary.price_usd_per_mw_h",
        # life_years of these assets sets only their residual value (capex.asset_cash)
        "sites[].grid.upgrades[].life_years", "sites[].cooling.upgrades[].life_years",
        "sites[].halls.conversion.life_years", "sites[].halls.ai_build.life_years",
        "sites[].fleet[].hashrate_th", "sites[].fleet[].opex_usd_per_mwh",
        "sites[].fleet[].salvage_usd_per_unit", "sites[].fleet[].terminal_usd_per_unit",
        "gpu_products[].gpus_per_unit", "gpu_products[].opex_usd_per_unit_year",
        "gpu_products[].spot_price_usd_per_gpu_hour",
        "asic_products[].hashrate_th", "asic_products[].opex_usd_per_mwh",
        "contracts[].price_usd_per_gpu_hour", "contracts[].upfront_usd",
        "contracts[].opex_usd_per_gpu_hour",
        "leases[].price_usd_per_kw_month", "leases[].energy_rate_usd_per_mwh",
        "leases[].escalator_per_year", "leases[].opex_usd_per_kw_month", "leases[].upfront_usd",
        "ppas[].strike_usd_per_mwh",
        "taxes",
    ],
    CAPEX: [
        "sites[].grid.upgrades[].capex_usd", "sites[].cooling.upgrades[].capex_usd",
        "sites[].halls.conversion.capex_usd_per_block",
        "sites[].halls.ai_build.capex_usd_per_block",
        "gpu_products[].capex_usd", "asic_products[].capex_usd", "financing",
    ],
    BOUND: [
        "capex_budget_usd", "sites[].aux_load_mw", "sites[].grid.import_limit_mw",
        "sites[].grid.export_limit_mw", "sites[].grid.ancillary.max_mw",
        "sites[].grid.upgrades[].max_count", "sites[].cooling.upgrades[].max_count",
        "sites[].cooling.air.capacity_mw", "sites[].cooling.liquid.capacity_mw",
        "sites[].halls.mining_mw", "sites[].halls.ai_mw", "sites[].halls.conversion.max_blocks",
        "sites[].halls.ai_build.max_blocks", "sites[].fleet[].units", "sites[].gpus[].units",
        "gpu_products[].max_units_per_period", "asic_products[].max_units_per_period",
    ],
}
ENTRY = "[]"  # a list entry, whatever its id


def _pattern(text: str) -> tuple[str, ...]:
    out: list[str] = []
    for part in text.split("."):
        if part.endswith(ENTRY):
            out += [part[: -len(ENTRY)], ENTRY]
        else:
            out.append(part)
    return tuple(out)


PATTERNS: dict[tuple[str, ...], str] = {_pattern(p): kind for kind, ps in _TABLE.items()
                                        for p in ps}
# keys that identify a list entry (sites[].gpus entries are keyed by product)
ENTRY_KEYS = ("id", "product")
MISSING = "<missing>"


def entry_id(entry: Any) -> str | None:
    if isinstance(entry, dict):
        for k in ENTRY_KEYS:
            if isinstance(entry.get(k), str):
                return entry[k]
    return None


def leaves(obj: Any, path: tuple = ()) -> dict[tuple, Any]:
    """Every leaf of an instance dict by path; a list entry is the segment ``("[]", id)``
    and the ids of a list are a leaf of their own (``"#ids"``: entries added or removed)."""
    out: dict[tuple, Any] = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(leaves(v, path + (k,)))
    elif isinstance(obj, list) and obj and all(entry_id(e) is not None for e in obj):
        ids = [entry_id(e) for e in obj]
        out[path + ("#ids",)] = json.dumps(ids)
        for ident, e in zip(ids, obj):
            out.update(leaves(e, path + ((ENTRY, ident),)))
    else:
        out[path] = obj
    return out


def generic(path: tuple) -> tuple[str, ...]:
    return tuple(ENTRY if isinstance(p, tuple) else p for p in path)


def shown(path: tuple) -> str:
    """``('sites', ('[]', 'permian'), 'grid')`` -> ``sites[permian].grid``."""
    text = ""
    for p in path:
        if isinstance(p, tuple):
            text += f"[{p[1]}]"
        else:
            text += f".{p}" if text else p
    return text


def kind_of(path: tuple, has_budget: bool) -> str:
    """The kind of a leaf: the longest pattern that is a prefix of its path decides."""
    g = generic(path)
    if g and g[-1] == "#ids":
        return STRUCTURE
    for n in range(len(g), 0, -1):
        kind = PATTERNS.get(g[:n])
        if kind is not None:
            if kind == CAPEX:
                return STRUCTURE if has_budget else COST
            return kind
    return STRUCTURE


def has_budget(data: dict) -> bool:
    return data.get("capex_budget_usd") is not None


def diff(old: dict[tuple, Any], new: dict[tuple, Any], budget: bool) -> dict[str, list[str]]:
    """Changed leaves by kind: ``{"cost": [paths], "bound": [...], "structure": [...]}``.
    A bound that appears or disappears (an order cap set where there was none) adds or
    removes rows: structure."""
    out: dict[str, list[str]] = {COST: [], BOUND: [], STRUCTURE: []}
    for path in sorted(set(old) | set(new), key=str):
        a, b = old.get(path, MISSING), new.get(path, MISSING)
        if _same(a, b):
            continue
        kind = kind_of(path, budget)
        if kind == BOUND and (a is MISSING or b is MISSING or a is None or b is None):
            kind = STRUCTURE
        out[kind].append(shown(path))
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b or (
        isinstance(a, (int, float)) and isinstance(b, (int, float))
        and not isinstance(a, bool) and not isinstance(b, bool) and a == b)


def structure_key(instance, data: dict, config) -> str:
    """SHA-256 of everything a kept model cannot absorb: structural leaves, which bounds
    and costs exist at all, the grid's inputs and the solve options."""
    budget = has_budget(data)
    parts: dict[str, Any] = {}
    for path, value in leaves(data).items():
        kind = kind_of(path, budget)
        g = generic(path)
        if g[-1:] == ("demand_charge_usd_per_kw_month",):
            value = ["present", bool(value and value > 0)]  # peak variables exist if > 0
        elif kind in (COST, BOUND):
            value = "present"
        parts[shown(path)] = value
    blob = {"leaves": parts, "grid": grid_inputs(instance, config),
            "config": config.fingerprint()}
    return hashlib.sha256(json.dumps(blob, sort_keys=True, default=str).encode()).hexdigest()


def grid_inputs(instance, config) -> Any:
    """What the time grid is made of: the horizon and resolution and, for representative
    days, the clustering's inputs (the series columns used, the grid prices, which set
    the peak days, and the coincident-peak flags)."""
    from ..time.grid import tail_periods
    from ..time.representative import used_columns

    mode = config.mode or instance.horizon.resolution.mode
    horizon = instance.horizon.model_dump(mode="json", exclude={"discount_rate"})
    out: list[Any] = [horizon, mode, config.representative_days, tail_periods(instance)]
    if mode == "representative":
        out.append(used_columns(instance))
        for s in instance.sites:
            g = s.grid
            out.append([s.id, _dump(g.price_usd_per_mwh),
                        g.coincident_peak.flag_column if g.coincident_peak else None])
    return out


def _dump(value: Any) -> Any:
    return value.model_dump(mode="json") if hasattr(value, "model_dump") else value


def same_steps(a, b) -> bool:
    """Two time grids with the same steps (period, hour, weight) and periods."""
    if a.mode != b.mode or a.n_steps != b.n_steps or a.n_periods != b.n_periods:
        return False
    return all(np.array_equal(a.steps[c].to_numpy(), b.steps[c].to_numpy())
               for c in ("period", "hour_pos", "weight"))


# --------------------------------------------------------------------------- bounds

class Rebuild(Exception):
    """The kept model cannot take this scenario; the sentence says why."""


class _Shifts:
    """Row bound shifts and column upper bounds collected against a compiled form."""

    def __init__(self, form):
        self.form = form
        self.rows: dict[int, float] = {}
        self.cols: dict[int, float] = {}

    def row(self, group: str, key: tuple, delta: float, ref=None, *,
            folded_ok: bool = False) -> None:
        """Move the constant of row ``group[key]`` by ``delta`` as written in the model
        (``... <= value``, ``... == value``). ``ref``: (column, index, written sign) of a
        column of the row whose sign shows whether the compiled row kept the written
        orientation; None when every written coefficient is positive. ``folded_ok``: a
        row without variables was folded into ``0 <= value`` at the build (model/context.py
        ``checked``), which every valid value keeps true: nothing to move."""
        if delta == 0.0:
            return
        r = self.form.rows.lookup(group).get(key)
        if r is None:
            if folded_ok:
                return
            raise Rebuild(f"the kept model has no row {group}{list(key)}")
        self.rows[r] = self.rows.get(r, 0.0) + self._orientation(r, ref) * delta

    def _orientation(self, r: int, ref) -> float:
        A = self.form.A
        lo, hi = A.indptr[r], A.indptr[r + 1]
        cols, vals = A.indices[lo:hi], A.data[lo:hi]
        if ref is None:
            if not len(vals):
                raise Rebuild(f"row {self.form.rows.label(r)} has no coefficient")
            return float(np.sign(vals[0]))
        for name, key, written in ref:
            j = self.form.columns.lookup(name).get(key)
            if j is None:
                continue
            hit = np.flatnonzero(cols == j)
            if len(hit) and vals[hit[0]] != 0.0:
                return float(np.sign(vals[hit[0]])) * written
        raise Rebuild(f"row {self.form.rows.label(r)} has none of its reference columns")

    def col_upper(self, name: str, key: tuple, value: float) -> None:
        j = self.form.columns.lookup(name).get(key)
        if j is None:
            raise Rebuild(f"the kept model has no column {name}{list(key)}")
        self.cols[j] = value


def bound_changes(form, built, new) -> _Shifts:
    """Row shifts and column bounds that turn the model built from ``built`` (ModelData)
    into the model of ``new`` (ModelData on the same grid, same structure). Raises
    Rebuild when a row the change needs is not in the model."""
    from ..model.data import COOLING_TYPES, order_periods

    s_ = _Shifts(form)
    P, n = new.grid.n_periods, new.grid.n_steps
    for s, nd in new.sites.items():
        od = built.sites[s]
        d = nd.import_limit_mw - od.import_limit_mw
        for p in range(P):  # grid_import_mw == import_limit + upgrades delivered
            s_.row("stock_grid", (s, p), d, [("grid_import_mw", (s, p), 1.0)])
        for q in COOLING_TYPES:
            d = nd.cooling[q].capacity_mw - od.cooling[q].capacity_mw
            for p in range(P):
                s_.row("stock_cooling", (s, q, p), d, [("cooling_mw", (s, q, p), 1.0)])
        d = nd.mining_mw - od.mining_mw
        for p in range(P):  # ASIC MW + converted blocks <= mining_mw
            s_.row("mining_hall", (s, p), d, folded_ok=True)
        d = nd.ai_mw - od.ai_mw
        for p in range(P):  # GPU MW + lease MW - new blocks <= ai_mw - mandatory lease MW
            ref = ([("gpus_installed", (s, g, p), 1.0) for g in new.products]
                   + [("accept_lease", (x,), 1.0) for x in new.leases]
                   + [(v, (s, q), -1.0) for v in ("conv", "build") for q in range(P)])
            s_.row("ai_hall", (s, p), d, ref)
        d = nd.aux_load_mw - od.aux_load_mw
        if d:  # sum of pue * IT - imports - PPA energy == -aux
            for t in range(n):
                s_.row("power_balance", (s, t), -d, [("imp", (s, t), -1.0)])
        d = nd.export_limit_mw - od.export_limit_mw
        if d:  # the rows exist only where an onsite PPA can export
            for t in range(n):
                s_.row("export_limit", (s, t), d, folded_ok=True)
        if nd.anc_max_mw != od.anc_max_mw and nd.anc_price is not None:
            for t in range(n):
                s_.col_upper("anc", (s, t), nd.anc_max_mw)
        for name, group in (("conversion", "conversion_limit"), ("ai_build", "ai_build_limit")):
            a, b = getattr(od, name), getattr(nd, name)
            if a is not None and b is not None:
                s_.row(group, (s,), float(b.max_blocks) - float(a.max_blocks),
                       folded_ok=True)
        for g in set(nd.existing_gpus) | set(od.existing_gpus):
            d = nd.existing_gpus.get(g, 0.0) - od.existing_gpus.get(g, 0.0)
            for p in range(P):
                s_.row("stock_gpus", (s, g, p), d, [("gpus_installed", (s, g, p), 1.0)])
        old_fleet = {f.id: f for f in od.fleets}
        for f in nd.fleets:
            d = float(f.units) - float(old_fleet[f.id].units)
            s_.row("retire_limit", (s, f.id), d)
            for p in range(P):  # asics + retired so far == units
                s_.row("stock_asics", (s, f.id, p), d, [("asics", (s, f.id, p), 1.0)])
    old_up = {(u.site, u.id): u for u in built.upgrades}
    for u in new.upgrades:
        s_.row("upgrade_limit", (u.site, u.id),
               float(u.max_count - old_up[u.site, u.id].max_count), folded_ok=True)
    for group, products, old in (("buy_limit", new.products, built.products),
                                 ("asic_buy_limit", new.asic_products, built.asic_products)):
        for g, prod in products.items():
            a, b = old[g].max_units_per_period, prod.max_units_per_period
            if (a is None) != (b is None):
                raise Rebuild(f"an order cap of {g} appears or disappears")
            if a is not None and a != b:
                for p in order_periods(int(prod.lead_periods), P):
                    s_.row(group, (g, p), float(b) - float(a))
    if (built.budget is None) != (new.budget is None):
        raise Rebuild("the capex budget appears or disappears")
    if new.budget is not None:
        for p in range(P):
            # a period in which nothing can be ordered has no budget row
            s_.row("capex_budget", (p,), float(new.budget[p] - built.budget[p]),
                   folded_ok=True)
    return s_
