"""Cash-flow terms and capex.csv kinds, declared once (formulation.md, deals.md Results)."""

from __future__ import annotations

# every term a cash-flow table can hold; the module that declares it in brackets
TERMS = (
    "mining_revenue", "mining_opex",                       # mining (fleets and bought ASICs)
    "gpu_spot_revenue", "gpu_opex", "contract_revenue",   # compute
    "contract_revenue_tail",
    "lease_capacity_revenue", "lease_energy_revenue", "lease_rent_tail",
    "upfront",
    "ancillary_revenue", "grid_energy", "import_adder", "coincident_peak",   # power
    "demand_charge", "ppa_strike", "ppa_settlement", "ppa_export", "vppa_settlement",
    "gpu_capex", "conversion_capex", "ai_build_capex", "grid_upgrade_capex",  # capex
    "cooling_upgrade_capex", "asic_capex", "asic_salvage", "fixed_opex",
    "residual_value", "asic_terminal", "debt_service", "depreciation_shield",
    "tax",                                                  # objective (taxes)
)

REVENUE_TERMS = ("mining_revenue", "gpu_spot_revenue", "contract_revenue",
                 "contract_revenue_tail", "lease_capacity_revenue", "lease_energy_revenue",
                 "lease_rent_tail", "ancillary_revenue", "ppa_export", "ppa_settlement",
                 "vppa_settlement", "asic_salvage", "upfront")

# capex.csv kinds (results-format.md, deals.md)
CAPEX_KINDS = ("gpu", "asic", "conversion", "ai_build", "grid_upgrade", "cooling_upgrade",
               "retire", "contract", "lease", "ppa", "upfront")
# kinds that are money paid for an asset (the KPI total capex)
PAID_KINDS = ("gpu", "asic", "conversion", "ai_build", "grid_upgrade", "cooling_upgrade")
# the build/accept decisions compared between two plans
PLAN_KINDS = ("gpu", "asic", "conversion", "ai_build", "grid_upgrade", "cooling_upgrade",
              "contract", "lease", "ppa")
