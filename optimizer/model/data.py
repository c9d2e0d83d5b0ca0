"""Everything the model modules read, as numpy arrays prepared before the build.

The build walks no calendar and resolves no YAML value: it reads the arrays here,
indexed by step (``[n_steps]``), by period (``[P]``) or by site / item id. Derived
hourly data of formulation.md (hashprice per TH-hour, cooling derate and PUE, PPA
volumes) are computed here once, vectorised.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..time.grid import TimeGrid
from ..time.values import hourly_values, per_period

COOLING_TYPES = ("air", "liquid")


def order_periods(lead: int, n_periods: int) -> list[int]:
    """Periods in which an order can be placed: delivery no later than the last period."""
    return [p for p in range(n_periods) if p + lead <= n_periods - 1]


@dataclass
class CoolingData:
    capacity_mw: float
    derate: np.ndarray  # f_{s,q,t} per step
    pue: np.ndarray  # pue_{s,q,t} per step


@dataclass
class Upgrade:
    site: str
    id: str
    kind: str  # "grid" or "cooling"
    cooling: str | None  # cooling type of a cooling upgrade
    add_mw: float
    capex_usd: float
    lead: int
    max_count: int
    life_years: float
    residual_at: int | None = None  # valuation period (deals.md section 9)


@dataclass
class SiteData:
    id: str
    aux_load_mw: float
    fixed_opex_usd_per_year: float
    import_limit_mw: float
    export_limit_mw: float
    export_fee_usd_per_mwh: float
    demand_charge_usd_per_kw_month: float
    price: np.ndarray  # grid price per step, USD/MWh
    import_adder: np.ndarray  # USD/MWh per step
    cp_cost_per_mwh: np.ndarray  # coincident-peak charge per MWh imported, per step
    anc_price: np.ndarray | None  # USD/MW-h per step, None without ancillary
    anc_max_mw: float
    cooling: dict[str, CoolingData]
    mining_mw: float
    ai_mw: float
    conversion: object | None  # schema Conversion
    ai_build: object | None  # schema Conversion-like block of new AI halls (deals.md 5)
    fleets: list = field(default_factory=list)  # schema Fleet objects
    existing_gpus: dict[str, float] = field(default_factory=dict)


@dataclass
class ModelData:
    grid: TimeGrid
    sites: dict[str, SiteData]
    products: dict  # id -> schema GpuProduct
    product_capex: dict[str, np.ndarray]  # per period
    spot_price: dict[str, np.ndarray]  # per step, USD per GPU-hour
    salvage: dict[tuple[str, str], np.ndarray]  # (site, fleet) -> per period
    hashprice_per_th_h: np.ndarray  # per step, USD per TH-hour
    pool_fee: float
    contracts: dict
    leases: dict
    ppas: dict
    ppa_volume: dict[str, np.ndarray]  # per step, MW, 0 outside the window
    upgrades: list[Upgrade]
    budget: np.ndarray | None  # per period
    taxes: object | None = None  # schema Taxes (deals.md section 11)
    asic_products: dict = field(default_factory=dict)  # id -> schema AsicProduct
    asic_capex: dict[str, np.ndarray] = field(default_factory=dict)  # per period
    contract_price: dict[str, np.ndarray] = field(default_factory=dict)  # USD/GPU-h, per period
    # USD per kW-month in every calendar period 0 .. end_period - 1 (escalated), 0 before
    # the start; periods past the horizon take the last period's price (deals.md 1, 3)
    lease_rent: dict[str, np.ndarray] = field(default_factory=dict)
    lease_energy_rate: dict[str, np.ndarray] = field(default_factory=dict)  # USD/MWh per step
    financing: dict[tuple[str, str], object] = field(default_factory=dict)  # (kind, site) ->

    def financing_of(self, kind: str, site: str):
        """The schema Financing covering an asset kind at a site, or None."""
        return self.financing.get((kind, site))

    @property
    def n_periods(self) -> int:
        return self.grid.n_periods


def _cooling(block, ambient: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    hot = np.maximum(0.0, ambient - block.rated_ambient_c)
    derate = np.clip(1.0 - block.derate_per_c * hot, block.min_factor, 1.0)
    pue = block.pue + block.pue_per_c * np.maximum(0.0, ambient - block.pue_ref_c)
    return derate, pue


def prepare(instance, grid: TimeGrid) -> ModelData:
    """Resolve every value of a validated instance onto the time grid."""
    series = instance.series
    hp = grid.hour_period()
    at = grid.step_hour
    P = grid.n_periods

    def hourly(value) -> np.ndarray:
        return hourly_values(value, series, hp)[at]

    sites: dict[str, SiteData] = {}
    upgrades: list[Upgrade] = []
    salvage: dict[tuple[str, str], np.ndarray] = {}
    for site in instance.sites:
        g = site.grid
        ambient = hourly(site.ambient_c)
        cooling = {}
        for q in COOLING_TYPES:
            block = getattr(site.cooling, q)
            derate, pue = _cooling(block, ambient)
            cooling[q] = CoolingData(float(block.capacity_mw), derate, pue)
        cp = g.coincident_peak
        if cp is not None:
            flag = series[cp.flag_column].to_numpy(dtype=float)[at]
            cp_cost = flag * cp.charge_usd_per_kw_year * 1000.0 / cp.intervals_per_year
        else:
            cp_cost = np.zeros(grid.n_steps)
        anc = g.ancillary
        existing: dict[str, float] = {}
        for gpu in site.gpus:
            existing[gpu.product] = existing.get(gpu.product, 0.0) + float(gpu.units)
        sites[site.id] = SiteData(
            id=site.id,
            aux_load_mw=float(site.aux_load_mw),
            fixed_opex_usd_per_year=float(site.fixed_opex_usd_per_year),
            import_limit_mw=float(g.import_limit_mw),
            export_limit_mw=float(g.export_limit_mw),
            export_fee_usd_per_mwh=float(g.export_fee_usd_per_mwh),
            demand_charge_usd_per_kw_month=float(g.demand_charge_usd_per_kw_month),
            price=hourly(g.price_usd_per_mwh),
            import_adder=hourly(g.import_adder_usd_per_mwh),
            cp_cost_per_mwh=cp_cost,
            anc_price=hourly(anc.price_usd_per_mw_h) if anc is not None else None,
            anc_max_mw=float(anc.max_mw) if anc is not None else 0.0,
            cooling=cooling,
            mining_mw=float(site.halls.mining_mw),
            ai_mw=float(site.halls.ai_mw),
            conversion=site.halls.conversion,
            ai_build=getattr(site.halls, "ai_build", None),
            fleets=list(site.fleet),
            existing_gpus=existing,
        )
        for f in site.fleet:
            salvage[site.id, f.id] = per_period(f.salvage_usd_per_unit, P)
        for u in g.upgrades:
            upgrades.append(Upgrade(site.id, u.id, "grid", None, float(u.add_mw),
                                    float(u.capex_usd), int(u.lead_periods),
                                    int(u.max_count), float(u.life_years),
                                    getattr(u, "residual_at_period", None)))
        for u in site.cooling.upgrades:
            upgrades.append(Upgrade(site.id, u.id, "cooling", u.type, float(u.add_mw),
                                    float(u.capex_usd), int(u.lead_periods),
                                    int(u.max_count), float(u.life_years),
                                    getattr(u, "residual_at_period", None)))

    step_period = grid.step_period
    ppa_volume: dict[str, np.ndarray] = {}
    for c in instance.ppas:
        if c.baseload_mw is not None:
            vol = np.full(grid.n_steps, float(c.baseload_mw))
        else:
            vol = series[c.profile_column].to_numpy(dtype=float)[at] * float(c.capacity_mw)
        active = (step_period >= c.start_period) & (step_period < c.end_period)
        ppa_volume[c.id] = np.where(active, vol, 0.0)

    products = {g.id: g for g in instance.gpu_products}
    budget = instance.capex_budget_usd
    asic_products = {a.id: a for a in getattr(instance, "asic_products", [])}
    financing = {}
    for fin in getattr(instance, "financing", []):
        for kind in fin.applies_to:
            for site in (fin.sites if fin.sites is not None else list(sites)):
                financing[kind, site] = fin
    return ModelData(
        grid=grid,
        sites=sites,
        products=products,
        product_capex={g: per_period(p.capex_usd, P) for g, p in products.items()},
        spot_price={g: hourly(p.spot_price_usd_per_gpu_hour) for g, p in products.items()},
        salvage=salvage,
        hashprice_per_th_h=hourly(instance.market.hashprice_usd_per_ph_day) / 1000.0 / 24.0,
        pool_fee=float(instance.market.pool_fee),
        contracts={k.id: k for k in instance.contracts},
        leases={lease.id: lease for lease in instance.leases},
        ppas={c.id: c for c in instance.ppas},
        ppa_volume=ppa_volume,
        upgrades=upgrades,
        budget=None if budget is None else per_period(budget, P),
        taxes=getattr(instance, "taxes", None),
        asic_products=asic_products,
        asic_capex={a: per_period(x.capex_usd, P) for a, x in asic_products.items()},
        contract_price={k.id: per_period(k.price_usd_per_gpu_hour, P) for k in instance.contracts},
        lease_rent={lease.id: lease_rent(lease, grid) for lease in instance.leases},
        lease_energy_rate={lease.id: hourly(lease.energy_rate_usd_per_mwh)
                           for lease in instance.leases},
        financing=financing,
    )


def lease_rent(lease, grid: TimeGrid) -> np.ndarray:
    """rent_{l,p} = price_{l,p} * (1 + escalator)^floor(y_start(p) - y_start(start) + 1e-9)
    for every calendar period 0 .. max(P, end_period) - 1 (deals.md section 1), 0 outside
    the lease's window; ``price_{l,p}`` past the horizon is that of period P-1."""
    P = grid.n_periods
    start, end = int(lease.start_period), int(lease.end_period)
    n = max(end, P)
    price = per_period(lease.price_usd_per_kw_month, P)
    price = np.concatenate([price, np.full(n - P, price[-1])])
    y = grid.at("y_start", np.arange(n))
    escalator = float(getattr(lease, "escalator_per_year", 0.0))
    rent = price * (1.0 + escalator) ** np.floor(y - y[start] + 1e-9)
    p = np.arange(n)
    return np.where((p >= start) & (p < end), rent, 0.0)
