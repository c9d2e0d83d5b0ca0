"""The model's names, declared once: the index dimensions of every variable and
constraint group, and which variables are the hourly operation (the rest is the plan).

Results read the solution by these labels (a row of ``power_balance`` is at (site,
step); a column of ``use`` at (ppa, step)), never by position; the decomposition
splits the columns into the plan and one block per site and period with them.
"""

from __future__ import annotations

# dimension names: site, fleet, product, asic, upgrade, cooling, ppa, contract, lease,
# deal (a contract or a lease), period, step
VARIABLES: dict[str, tuple[str, ...]] = {
    "buy": ("site", "product", "period"),
    "conv": ("site", "period"),
    "build": ("site", "period"),
    "upg": ("site", "upgrade", "period"),
    "retire": ("site", "fleet", "period"),
    "abuy": ("site", "asic", "period"),
    "asics": ("site", "fleet", "period"),
    "asics_bought": ("site", "asic", "period"),
    "gpus_installed": ("site", "product", "period"),
    "grid_import_mw": ("site", "period"),
    "cooling_mw": ("site", "cooling", "period"),
    "accept_contract": ("contract",),
    "accept_lease": ("lease",),
    "sign_ppa": ("ppa",),
    "period_it_mw": ("site", "cooling", "period"),
    "peak": ("site", "period"),
    "run": ("site", "fleet", "step"),
    "arun": ("site", "asic", "step"),
    "spot": ("site", "product", "step"),
    "imp": ("site", "step"),
    "use": ("ppa", "step"),
    "out": ("ppa", "step"),
    "anc": ("site", "step"),
    "always_zero": (),
}

# the hourly operation: one block per site and period in the decomposition
OPERATING = ("run", "arun", "spot", "imp", "anc", "use", "out")

CONSTRAINTS: dict[str, tuple[str, ...]] = {
    "buy_limit": ("product", "period"),
    "asic_buy_limit": ("asic", "period"),
    "conversion_limit": ("site",),
    "ai_build_limit": ("site",),
    "upgrade_limit": ("site", "upgrade"),
    "retire_limit": ("site", "fleet"),
    "stock_asics": ("site", "fleet", "period"),
    "stock_asics_bought": ("site", "asic", "period"),
    "stock_gpus": ("site", "product", "period"),
    "stock_grid": ("site", "period"),
    "stock_cooling": ("site", "cooling", "period"),
    "capex_budget": ("period",),
    "linked_acceptance": ("deal",),
    "fleet_available": ("site", "fleet", "step"),
    "asic_available": ("site", "asic", "step"),
    "mining_hall": ("site", "period"),
    "gpu_available": ("site", "product", "step"),
    "spot_market": ("site", "product", "step"),
    "ai_hall": ("site", "period"),
    "period_it_def": ("site", "cooling", "period"),
    "cooling": ("site", "cooling", "step"),
    "power_balance": ("site", "step"),
    "import_limit": ("site", "step"),
    "ppa_volume": ("ppa", "step"),
    "export_limit": ("site", "step"),
    "ppa_min_take": ("ppa", "period"),
    "ancillary": ("site", "step"),
    "demand_peak": ("site", "step"),
    "always_infeasible": (),
}

# the item a row or column is about (for tables: site, item, period)
ITEM_DIMS = ("fleet", "product", "asic", "upgrade", "cooling", "ppa", "contract", "lease",
             "deal")
