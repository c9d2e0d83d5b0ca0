"""An independent checker of a run folder against the normative spec (formulation.md and
its deal-terms addendum deals.md).

``check_run(run_dir)`` re-reads a run folder (``capex.csv``, ``dispatch.parquet``,
``cashflows.csv``, ``summary.json`` and the instance copy ``instance.yaml`` + series)
and recomputes, with pandas and numpy only, everything the spec defines:

- the time grid (periods, hours, y_start / y_mid / y_end, discount factors D_p, E_p,
  D_end) from ``instance.horizon`` alone, continued past the horizon for the tails of
  leases and contracts and for residual values taken at a later period;
- the decisions (orders, bought ASICs, new AI halls, retirements, accepted items from
  ``capex.csv``; operating variables from ``dispatch.parquet``), the stocks A, I, NA,
  MH, AH, GI, CC, the loads, PUE, derates and PPA volumes;
- every constraint group of the spec (plus the order limits, the lead rule, the domains)
  as its largest violation, in the group's unit;
- every cash-flow term per site and period (tails included), undiscounted and
  discounted: financing (equity, debt service), residual values, depreciation shields
  and taxes included, compared with ``cashflows.csv``; and the NPV, compared with
  ``summary.json``.

It deliberately imports nothing from the model, the solver, the result writer or the
time grid of the project (only the instance loader): a bug there cannot hide here.
See docs/check.md for what is checked, the tolerances and how to read the output.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..instance import ColumnRef, InstanceError, load_instance
from .deal_math import (
    annuity_factor,
    depreciation_years_counted,
    discount_sum,
    escalation_steps,
    extended_calendar,
)

__all__ = [
    "CASHFLOW_TERMS",
    "CONSTRAINT_GROUPS",
    "DEAL_GROUPS",
    "CheckReport",
    "GroupCheck",
    "TermCheck",
    "check_run",
]

HOURS_PER_YEAR = 8760.0
COOLING_TYPES = ("air", "liquid")

# (group, unit, what it checks); the order is the order of the report
CONSTRAINT_GROUPS: list[tuple[str, str, str]] = [
    ("time_grid", "hours", "sum of step weights = period hours; steps inside their period"),
    ("nonnegativity", "units", "every decision >= 0 (orders, retirements, operating variables)"),
    ("undefined_decisions", "units", "no value on a variable that does not exist"),
    ("integrality", "units", "buy, conv, build, upg are integers"),
    ("binaries", "units", "accept/sign in {0,1}, mandatory items = 1, row in start_period"),
    ("lead_time", "units", "buy/abuy/conv/build/upg are 0 unless p + lead <= P-1"),
    ("buy_limit", "units", "sum_s buy[s,g,p] <= max_units_per_period"),
    ("conversion_limit", "blocks", "sum_p conv[s,p] <= max_blocks"),
    ("upgrade_limit", "units", "sum_p upg[s,u,p] <= max_count"),
    ("retire_limit", "units", "sum_p retire[s,f,p] <= units"),
    ("stock_gpus", "units", "installed_<g> column = existing + available orders (I)"),
    ("fleet_available", "units", "run <= A"),
    ("mining_hall", "MW", "sum_f A * power + sum_a NA * power <= MH"),
    ("gpu_available", "units", "spot + firm <= I"),
    ("spot_market", "units", "spot <= spot_max_utilization * I"),
    ("ai_hall", "MW", "sum_g I * it_kw + leases <= AH (conversions and new halls)"),
    ("cooling", "MW", "IT_q <= CC_q * derate"),
    ("power_balance", "MW", "imp + PPA use = load"),
    ("import_limit", "MW", "imp + physical use <= GI"),
    ("ppa_volume", "MW", "use + out <= sign * vol (= onsite not curtailable)"),
    ("export_limit", "MW", "sum onsite out <= export_limit_mw"),
    ("ppa_min_take", "MWh", "taken >= min_take_fraction * sign * volume"),
    ("ancillary", "MW", "anc <= mining IT (fleets and bought ASICs), anc <= max_mw"),
    ("demand_peak", "MW", "peak >= imp + physical use (peak constant per period)"),
    ("capex_budget", "USD", "equity of the capex ordered in p <= capex_budget_usd_p"),
]

# the groups that deals.md adds (rows = 0: the instance uses no such key)
DEAL_GROUPS: list[tuple[str, str, str]] = [
    ("asic_buy_limit", "units", "sum_s abuy[s,a,p] <= max_units_per_period"),
    ("ai_build_limit", "blocks", "sum_p build[s,p] <= max_blocks"),
    ("linked_acceptance", "units", "accept[x] = accept[linked_to]"),
    ("asic_available", "units", "arun <= NA (bought ASICs delivered and in their life)"),
]

# consistency checks of the tables among themselves (not spec constraints)
CONSISTENCY_CHECKS: list[tuple[str, str, str]] = [
    ("capex_table", "USD", "capex.csv capex_usd = quantity * price (retire: - salvage; "
                           "upfront: - upfront_usd, quantity = accept)"),
    ("dispatch_derived", "mixed", "derived dispatch columns (prices, PUE, loads...) = recomputed"),
    ("dispatch_cashflows", "USD/h", "cf_<term>_usd_per_h columns = recomputed hourly terms"),
    ("discount_factor", "1", "cashflows.csv discount_factor = D_p, E_p, D_end, or "
                             "discounted / undiscounted where a row blends dates"),
    ("cashflows_sum", "USD", "sum of cashflows.csv discounted_usd = summary npv_usd"),
]

HOURLY_TERMS = ("mining_revenue", "mining_opex", "gpu_spot_revenue", "contract_revenue",
                "lease_energy_revenue", "ancillary_revenue", "grid_energy", "import_adder",
                "coincident_peak", "ppa_strike", "ppa_settlement", "ppa_export",
                "vppa_settlement")
PERIOD_TERMS = ("lease_capacity_revenue", "demand_charge", "gpu_opex", "fixed_opex")
TAIL_TERMS = ("lease_rent_tail", "contract_revenue_tail")
CAPEX_TERMS = ("gpu_capex", "asic_capex", "conversion_capex", "ai_build_capex",
               "grid_upgrade_capex", "cooling_upgrade_capex", "asic_salvage", "upfront")
FINANCE_TERMS = ("debt_service",)
RESIDUAL_TERMS = ("residual_value", "asic_terminal")
TAX_TERMS = ("depreciation_shield", "tax")
CASHFLOW_TERMS = (HOURLY_TERMS + PERIOD_TERMS + TAIL_TERMS + CAPEX_TERMS + FINANCE_TERMS
                  + RESIDUAL_TERMS + TAX_TERMS)
TERM_KIND = {**dict.fromkeys(HOURLY_TERMS, "hourly"), **dict.fromkeys(PERIOD_TERMS, "period"),
             **dict.fromkeys(TAIL_TERMS, "tail"), **dict.fromkeys(CAPEX_TERMS, "capex"),
             **dict.fromkeys(FINANCE_TERMS, "debt"), **dict.fromkeys(RESIDUAL_TERMS, "residual"),
             **dict.fromkeys(TAX_TERMS, "tax")}
# terms discounted by one factor of their period; the others blend dates (debt
# instalments, shields, residuals at several valuation dates, the tax of all of them)
FIXED_FACTOR = {**dict.fromkeys(HOURLY_TERMS + PERIOD_TERMS + TAIL_TERMS, "D"),
                **dict.fromkeys(CAPEX_TERMS, "E"), "asic_terminal": "D_end"}
# deals.md section 11 and the reporting choices: the terms mirrored into `tax`
TAXED_TERMS = HOURLY_TERMS + PERIOD_TERMS + TAIL_TERMS + ("upfront", "asic_salvage")

CAPEX_KINDS = ("gpu", "asic", "conversion", "ai_build", "grid_upgrade", "cooling_upgrade",
               "retire", "contract", "lease", "ppa", "upfront")
# the asset orders: each has a price, a residual value, and may be financed and depreciated
ASSET_KINDS = ("gpu", "asic", "conversion", "ai_build", "grid_upgrade", "cooling_upgrade")
# the periods a deal or a residual valuation may reach past the horizon (deals.md 3, 9)
TAIL_PERIODS = 400


# --------------------------------------------------------------------------- report


@dataclass
class GroupCheck:
    """Largest violation of one group (constraint or consistency check).

    ``max_violation`` is absolute, in ``unit``; ``max_relative`` is the largest
    violation / scale over the rows (scale = max(1, |right-hand side|) for most groups),
    which the tolerance applies to. ``rows`` = rows evaluated (0: not applicable).
    """

    name: str
    unit: str
    description: str
    section: str = "constraint"
    rows: int = 0
    max_violation: float = 0.0
    max_relative: float = 0.0
    where: str = ""  # row of the largest absolute violation
    where_relative: str = ""  # row of the largest relative violation
    ok: bool = True


@dataclass
class TermCheck:
    """One cash-flow term: recomputed vs cashflows.csv, per site and period."""

    name: str
    kind: str
    rows: int = 0
    max_diff_undiscounted: float = 0.0
    max_diff_discounted: float = 0.0
    max_relative: float = 0.0
    recomputed_discounted: float = 0.0
    reported_discounted: float = 0.0
    where: str = ""
    ok: bool = True


@dataclass
class CheckReport:
    run_dir: Path
    tolerance: float
    npv_tolerance: float
    instance: str = ""
    mode: str = ""
    steps: int = 0
    groups: dict[str, GroupCheck] = field(default_factory=dict)
    terms: dict[str, TermCheck] = field(default_factory=dict)
    npv_recomputed: float | None = None
    npv_reported: float | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # the checker's own cash-flow table: site, period, term, undiscounted_usd,
    # discount_factor, discounted_usd (rows that are not zero), as cashflows.csv has them
    recomputed: pd.DataFrame | None = None

    # ---- NPV
    @property
    def npv_difference(self) -> float | None:
        """|recomputed NPV - summary.json npv_usd| (USD)."""
        if self.npv_recomputed is None or self.npv_reported is None:
            return None
        return abs(self.npv_recomputed - self.npv_reported)

    @property
    def npv_relative_difference(self) -> float | None:
        diff = self.npv_difference
        if diff is None:
            return None
        return diff / max(1.0, abs(self.npv_reported))

    @property
    def npv_ok(self) -> bool:
        rel = self.npv_relative_difference
        return rel is not None and rel <= self.npv_tolerance

    # ---- verdict
    @property
    def max_violations(self) -> dict[str, float]:
        """Largest absolute violation per group (constraints and consistency checks)."""
        return {name: g.max_violation for name, g in self.groups.items()}

    @property
    def max_term_differences(self) -> dict[str, float]:
        """Largest |recomputed - reported| per cash-flow term, undiscounted or discounted."""
        return {name: max(t.max_diff_undiscounted, t.max_diff_discounted)
                for name, t in self.terms.items()}

    def failed(self) -> list[str]:
        """Names of the failed groups and terms (and ``npv_usd``, ``problems``)."""
        out = [n for n, g in self.groups.items() if not g.ok]
        out += [n for n, t in self.terms.items() if not t.ok]
        if not self.npv_ok:
            out.append("npv_usd")
        if self.problems:
            out.append("problems")
        return out

    @property
    def ok(self) -> bool:
        return not self.failed()

    # ---- output
    def to_frame(self) -> pd.DataFrame:
        """One row per check: section, name, unit, rows, max_violation (absolute),
        max_relative (what the tolerance applies to), tolerance, ok, where."""
        rows = []
        for g in self.groups.values():
            rows.append({"section": g.section, "name": g.name, "unit": g.unit, "rows": g.rows,
                         "max_violation": g.max_violation, "max_relative": g.max_relative,
                         "max_diff_discounted": np.nan, "tolerance": self.tolerance,
                         "ok": g.ok, "where": g.where, "where_relative": g.where_relative})
        for t in self.terms.values():
            rows.append({"section": "cashflow", "name": t.name, "unit": "USD", "rows": t.rows,
                         "max_violation": t.max_diff_undiscounted,
                         "max_relative": t.max_relative,
                         "max_diff_discounted": t.max_diff_discounted,
                         "tolerance": self.tolerance, "ok": t.ok, "where": t.where,
                         "where_relative": t.where})
        diff, rel = self.npv_difference, self.npv_relative_difference
        rows.append({"section": "npv", "name": "npv_usd", "unit": "USD", "rows": 1,
                     "max_violation": np.nan if diff is None else diff,
                     "max_relative": np.nan if rel is None else rel,
                     "max_diff_discounted": np.nan, "tolerance": self.npv_tolerance,
                     "ok": self.npv_ok, "where": "", "where_relative": ""})
        return pd.DataFrame(rows)

    def to_text(self) -> str:
        verdict = "OK" if self.ok else "FAILED (" + ", ".join(self.failed()) + ")"
        lines = [f"Check of {self.run_dir}: {verdict}",
                 (f"instance {self.instance or '?'}, {self.mode or '?'} resolution, "
                  f"{self.steps} steps per site; tolerance {self.tolerance:g} relative "
                  f"(violation / max(1, |rhs|)), NPV {self.npv_tolerance:g} relative")]
        if self.problems:
            lines.append("")
            lines.append("Problems:")
            lines += [f"  - {p}" for p in self.problems]

        def table(title: str, header: list[str], body: list[list[str]]) -> None:
            lines.append("")
            lines.append(title)
            widths = [max(len(r[i]) for r in [header] + body) for i in range(len(header))]
            for r in [header] + body:
                lines.append("  " + "  ".join(c.ljust(w) if i in (0, 1, len(r) - 2, len(r) - 1)
                                              else c.rjust(w)
                                              for i, (c, w) in enumerate(zip(r, widths))).rstrip())

        def status(ok: bool, rows: int) -> str:
            return "n/a" if rows == 0 else ("ok" if ok else "FAIL")

        for section, title in (("constraint", "Constraints (largest violation per group)"),
                               ("consistency", "Consistency of the tables")):
            body = [[g.name, g.unit, str(g.rows), f"{g.max_violation:.3g}",
                     f"{g.max_relative:.3g}", status(g.ok, g.rows), g.where]
                    for g in self.groups.values() if g.section == section]
            if body:
                table(title, ["group", "unit", "rows", "max violation", "relative", "status",
                              "worst at"], body)
        body = [[t.name, t.kind, str(t.rows), f"{t.max_diff_undiscounted:.3g}",
                 f"{t.max_diff_discounted:.3g}", f"{t.max_relative:.3g}",
                 f"{t.recomputed_discounted:,.0f}", status(t.ok, t.rows), t.where]
                for t in self.terms.values()]
        if body:
            lines.append("")
            lines.append("Cash-flow terms (|recomputed - cashflows.csv| per site and period, USD)")
            header = ["term", "kind", "rows", "undiscounted", "discounted", "relative",
                      "recomputed NPV part", "status", "worst at"]
            widths = [max(len(r[i]) for r in [header] + body) for i in range(len(header))]
            for r in [header] + body:
                lines.append("  " + "  ".join(
                    c.ljust(w) if i in (0, 1, 7, 8) else c.rjust(w)
                    for i, (c, w) in enumerate(zip(r, widths))).rstrip())
        if self.notes:
            lines.append("")
            lines.append("Notes:")
            lines += [f"  - {n}" for n in self.notes]
        lines.append("")
        if self.npv_recomputed is None or self.npv_reported is None:
            lines.append(f"NPV: recomputed {self.npv_recomputed}, summary.json "
                         f"{self.npv_reported}: FAIL")
        else:
            lines.append(
                f"NPV: recomputed {self.npv_recomputed:,.2f} USD, summary.json "
                f"{self.npv_reported:,.2f} USD, difference {self.npv_difference:.3g} USD "
                f"(relative {self.npv_relative_difference:.3g}): "
                f"{'ok' if self.npv_ok else 'FAIL'}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- accumulators


class _Groups:
    """Collects violations row by row, keeping the largest per group."""

    def __init__(self, report: CheckReport, specs, section: str):
        self.report = report
        for name, unit, desc in specs:
            report.groups[name] = GroupCheck(name, unit, desc, section=section)

    def add(self, name: str, violation, scale=1.0, where: Callable[[int], str] | None = None
            ) -> None:
        """``violation`` >= 0 where violated (negative values count as 0, NaN as +inf)."""
        g = self.report.groups[name]
        v = np.atleast_1d(np.asarray(violation, dtype=float))
        if v.size == 0:
            return
        v = np.where(np.isnan(v), np.inf, np.maximum(v, 0.0))
        s = np.broadcast_to(np.maximum(1.0, np.abs(np.asarray(scale, dtype=float))), v.shape)
        s = np.where(np.isnan(s), 1.0, s)
        rel = v / s
        g.rows += int(v.size)
        i = int(np.argmax(rel))
        if rel[i] > g.max_relative:
            g.max_relative = float(rel[i])
            g.where_relative = where(i) if where is not None else ""
        j = int(np.argmax(v))
        if v[j] > g.max_violation:
            g.max_violation = float(v[j])
            g.where = where(j) if where is not None else ""

    def touch(self, name: str, rows: int = 1) -> None:
        """Mark a group as evaluated with no violation."""
        self.report.groups[name].rows += rows


class _Cash:
    """Recomputed cash flows per (site, term) and period, undiscounted and discounted.

    Periods run past the horizon (tails and residual valuations, deals.md section 3):
    arrays have ``n`` entries, the first ``P`` being the horizon. ``gross_*`` sums the
    absolute values of the parts, the scale a row's difference is judged against.
    """

    def __init__(self, n_periods: int, n_total: int, D: np.ndarray):
        self.P = n_periods
        self.n = n_total
        self.D = D  # D_p over all n periods
        self.value: dict[tuple[str, str], np.ndarray] = {}  # undiscounted
        self.disc: dict[tuple[str, str], np.ndarray] = {}
        self.gross: dict[tuple[str, str], np.ndarray] = {}
        self.gross_disc: dict[tuple[str, str], np.ndarray] = {}
        self.hourly: dict[tuple[str, str], np.ndarray] = {}  # USD/h per step of the site

    def _slot(self, site, term):
        key = (site, term)
        if key not in self.value:
            for store in (self.value, self.disc, self.gross, self.gross_disc):
                store[key] = np.zeros(self.n)
        return key

    def _pad(self, arr) -> np.ndarray:
        arr = np.asarray(arr, dtype=float)
        out = np.zeros(self.n)
        out[:len(arr)] = arr
        return out

    def add_hourly(self, site, term, per_step, weight, period) -> None:
        """A USD/h term per step; weighted by w_t, summed per period, discounted by D_p."""
        per_step = np.asarray(per_step, dtype=float)
        value = np.bincount(period, weights=weight * per_step, minlength=self.P)
        gross = np.bincount(period, weights=weight * np.abs(per_step), minlength=self.P)
        self.add_pair(site, term, value, value * self.D[:len(value)],
                      gross, gross * self.D[:len(gross)])
        key = (site, term)
        self.hourly[key] = self.hourly.get(key, 0.0) + per_step

    def add_period(self, site, term, per_period, factor=None) -> None:
        """A USD amount per period, discounted by ``factor`` per period (default D_p)."""
        u = self._pad(per_period)
        f = self.D if factor is None else self._pad(factor)
        self.add_pair(site, term, u, u * f)

    def add_pair(self, site, term, undiscounted, discounted, gross=None, gross_disc=None
                 ) -> None:
        """Undiscounted and discounted amounts per period, as computed by the caller
        (a blend of dates: instalments, shields, residuals valued later)."""
        key = self._slot(site, term)
        u, d = self._pad(undiscounted), self._pad(discounted)
        self.value[key] += u
        self.disc[key] += d
        self.gross[key] += np.abs(u) if gross is None else self._pad(gross)
        self.gross_disc[key] += np.abs(d) if gross_disc is None else self._pad(gross_disc)


# --------------------------------------------------------------------------- helpers


def _per_period(value, n: int) -> np.ndarray:
    if value is None:
        return np.full(n, np.inf)
    if isinstance(value, (list, tuple)):
        return np.asarray(value, dtype=float)
    return np.full(n, float(value))


def _fmt_ts(ts) -> str:
    return pd.Timestamp(ts).strftime("%Y-%m-%dT%H:%MZ")


def _col(frame: pd.DataFrame, name: str) -> np.ndarray | None:
    return frame[name].to_numpy(dtype=float) if name in frame.columns else None


# --------------------------------------------------------------------------- main


def check_run(run_dir: Path | str, tolerance: float = 1e-6, *,
              npv_tolerance: float | None = None) -> CheckReport:
    """Check a run folder against the spec; see the module docstring and docs/check.md.

    ``tolerance`` applies to every group as violation / scale (scale = max(1, |rhs|),
    or 1 for integrality); ``npv_tolerance`` (default: ``tolerance``) is relative to
    ``max(1, |npv_usd|)``.
    """
    run_dir = Path(run_dir)
    report = CheckReport(run_dir=run_dir, tolerance=float(tolerance),
                         npv_tolerance=float(tolerance if npv_tolerance is None
                                             else npv_tolerance))
    groups = _Groups(report, CONSTRAINT_GROUPS + DEAL_GROUPS, "constraint")
    consistency = _Groups(report, CONSISTENCY_CHECKS, "consistency")

    # ---- files
    try:
        summary = json.loads((run_dir / "summary.json").read_text())
    except (OSError, ValueError) as e:
        report.problems.append(f"cannot read summary.json: {e}")
        summary = {}
    report.instance = str(summary.get("instance", ""))
    status = summary.get("status")
    if summary and status not in ("optimal", "time_limit"):
        report.problems.append(f"summary.json status is {status!r}: the run has no solution")
    npv = summary.get("npv_usd")
    report.npv_reported = float(npv) if isinstance(npv, (int, float)) else None
    try:
        inst = load_instance(run_dir / "instance.yaml")
    except InstanceError as e:
        report.problems.append(f"instance.yaml does not load: {e}")
        return report
    except OSError as e:
        report.problems.append(f"cannot read instance.yaml: {e}")
        return report
    report.instance = inst.name
    tables = {}
    for name, reader in (("capex.csv", pd.read_csv), ("cashflows.csv", pd.read_csv),
                         ("dispatch.parquet", pd.read_parquet)):
        try:
            tables[name] = reader(run_dir / name)
        except Exception as e:  # noqa: BLE001 - any unreadable table is a problem
            report.problems.append(f"cannot read {name}: {e}")
    if len(tables) < 3:
        return report
    capex, cash_table, dispatch = (tables["capex.csv"], tables["cashflows.csv"],
                                   tables["dispatch.parquet"])
    _Checker(inst, capex, cash_table, dispatch, summary, report, groups, consistency).run()
    return report


class _Checker:
    def __init__(self, inst, capex, cash_table, dispatch, summary, report, groups,
                 consistency):
        self.inst = inst
        self.capex = capex
        self.cash_table = cash_table
        self.dispatch = dispatch
        self.summary = summary
        self.report = report
        self.g = groups
        self.c = consistency

    # ------------------------------------------------------------------ time
    def time(self) -> None:
        hz = self.inst.horizon
        starts = list(hz.period_starts())
        self.P = P = hz.periods
        self.starts = pd.DatetimeIndex(starts)
        start_ns = np.array([s.value for s in starts], dtype=np.int64)
        self.start_ns = start_ns
        # the calendar continued past the horizon (deals.md section 3): tails and residual
        # values at a later period; inside the horizon it is the horizon's calendar
        cal = extended_calendar(hz.start, hz.months_per_period(), P, TAIL_PERIODS + 1)
        self.NX = len(cal.hours)
        self.Hx = cal.hours
        self.months_x = cal.months
        self.yx_start = cal.y_start
        self.H = cal.hours[:P]
        self.months = cal.months[:P]
        self.years = self.H / HOURS_PER_YEAR
        self.y_start = cal.y_start[:P]
        self.y_mid = cal.y_mid[:P]
        self.y_end = cal.y_end
        self.rate = float(hz.discount_rate)
        base = 1.0 + self.rate
        self.Dx = base ** (-cal.y_mid)
        self.Ex = base ** (-cal.y_start[:-1])
        self.D = self.Dx[:P]
        self.E = self.Ex[:P]
        self.D_end = base ** (-self.y_end)
        self.horizon_hours = pd.date_range(starts[0], starts[-1], freq="h", inclusive="left")
        self.series = self.inst.series.reindex(self.horizon_hours.as_unit("ns")) \
            if len(self.inst.series.columns) else None

    # ------------------------------------------------------------------ decisions
    def decisions(self) -> None:
        inst, P, rep = self.inst, self.P, self.report
        cap = self.capex
        need = {"period", "site", "kind", "item", "quantity"}
        if not need <= set(cap.columns):
            rep.problems.append(f"capex.csv lacks columns {sorted(need - set(cap.columns))}")
            cap = pd.DataFrame(columns=sorted(need))
        self.sites = {s.id: s for s in inst.sites}
        self.products = {g.id: g for g in inst.gpu_products}
        self.asics = {a.id: a for a in inst.asic_products}
        self.contracts = {k.id: k for k in inst.contracts}
        self.leases = {lease.id: lease for lease in inst.leases}
        self.ppas = {c.id: c for c in inst.ppas}
        self.buy = defaultdict(lambda: np.zeros(P))  # (s, g)
        self.abuy = defaultdict(lambda: np.zeros(P))  # (s, a)
        self.conv = defaultdict(lambda: np.zeros(P))  # s
        self.build = defaultdict(lambda: np.zeros(P))  # s
        self.upg = defaultdict(lambda: np.zeros(P))  # (s, kind, u)
        self.retire = defaultdict(lambda: np.zeros(P))  # (s, f)
        # capex.csv upfront rows: (site, deal id) -> [(row, period, quantity, capex_usd)]
        self.upfront_rows: dict[tuple[str, str], list[tuple[int, int, float]]] = \
            defaultdict(list)
        chosen = defaultdict(float)  # (kind, id) -> sum of quantities
        self.upgrades = {}
        for s in inst.sites:
            for u in s.grid.upgrades:
                self.upgrades[s.id, "grid_upgrade", u.id] = u
            for u in s.cooling.upgrades:
                self.upgrades[s.id, "cooling_upgrade", u.id] = u
        items = {"contract": self.contracts, "lease": self.leases, "ppa": self.ppas}
        for i, row in enumerate(cap.itertuples(index=False)):
            where = f"capex.csv row {i + 2} ({row.kind} {row.item} at {row.site}, p{row.period})"
            try:
                p = int(row.period)
                q = float(row.quantity)
            except (TypeError, ValueError):
                rep.problems.append(f"{where}: period or quantity is not a number")
                continue
            if not 0 <= p < P or p != row.period:
                rep.problems.append(f"{where}: period outside 0..{P - 1}")
                continue
            if not np.isfinite(q):
                rep.problems.append(f"{where}: quantity is not finite")
                continue
            s, kind, item = str(row.site), str(row.kind), str(row.item)
            if kind not in CAPEX_KINDS:
                rep.problems.append(f"{where}: unknown kind {kind!r}")
                continue
            if s not in self.sites:
                rep.problems.append(f"{where}: unknown site {s!r}")
                continue
            site = self.sites[s]
            if kind == "upfront":  # a report of accept * upfront_usd, checked in capex_cash
                if item not in self.contracts and item not in self.leases:
                    rep.problems.append(f"{where}: unknown contract or lease {item!r}")
                    continue
                self.upfront_rows[s, item].append((i, p, q))
                continue
            self.g.add("nonnegativity", -q, 1.0, lambda _i, w=where: w)
            if kind == "gpu":
                if item not in self.products:
                    rep.problems.append(f"{where}: unknown GPU product {item!r}")
                    continue
                self.buy[s, item][p] += q
            elif kind == "asic":
                if item not in self.asics:
                    rep.problems.append(f"{where}: unknown ASIC product {item!r}")
                    continue
                self.abuy[s, item][p] += q
            elif kind in ("conversion", "ai_build"):
                if getattr(site.halls, kind) is None:
                    self.g.add("undefined_decisions", abs(q), 1.0,
                               lambda _i, w=where, k=kind: f"{w}: site has no {k}")
                    continue
                (self.conv if kind == "conversion" else self.build)[s][p] += q
            elif kind in ("grid_upgrade", "cooling_upgrade"):
                if (s, kind, item) not in self.upgrades:
                    rep.problems.append(f"{where}: unknown {kind} {item!r} at site {s}")
                    continue
                self.upg[s, kind, item][p] += q
            elif kind == "retire":
                if item not in {f.id for f in site.fleet}:
                    rep.problems.append(f"{where}: unknown fleet {item!r} at site {s}")
                    continue
                self.retire[s, item][p] += q
            else:
                obj = items[kind].get(item)
                if obj is None:
                    rep.problems.append(f"{where}: unknown {kind} {item!r}")
                    continue
                if obj.site != s:
                    rep.problems.append(f"{where}: {kind} {item!r} belongs to site {obj.site}")
                if p != obj.start_period:
                    self.g.add("binaries", 1.0, 1.0,
                               lambda _i, w=where, o=obj: f"{w}: not in its start_period "
                                                          f"{o.start_period}")
                chosen[kind, item] += q
        # binaries: accept / sign in {0, 1}; mandatory = 1
        self.accept: dict[tuple[str, str], float] = {}
        for kind, objs in items.items():
            for key, obj in objs.items():
                v = chosen.get((kind, key), 0.0)
                viol = min(abs(v), abs(v - 1.0))
                if not obj.optional:
                    viol = abs(v - 1.0)
                self.g.add("binaries", viol, 1.0,
                           lambda _i, k=kind, n=key, v=v, o=obj:
                           f"{k} {n} = {v:g}" + ("" if o.optional else " (mandatory)"))
                self.accept[kind, key] = v
        # linked deals are accepted together (deals.md section 7); linked_to names a
        # contract or a lease (validation makes sure it is exactly one of them)
        for kind, objs in (("contract", self.contracts), ("lease", self.leases)):
            for key, obj in objs.items():
                target = getattr(obj, "linked_to", None)
                if target is None:
                    continue
                other = ("contract", target) if target in self.contracts else ("lease", target)
                a, b = self.accept[kind, key], self.accept.get(other, 0.0)
                self.g.add("linked_acceptance", abs(a - b), 1.0,
                           lambda _i, k=kind, n=key, t=target, a=a, b=b:
                           f"{k} {n} accepted {a:g}, linked {t} accepted {b:g}")
        # integrality and lead rule of orders (bought ASICs are continuous)
        for (s, g), arr in self.buy.items():
            self._order_checks(arr, int(self.products[g].lead_periods), f"buy {g} at {s}")
        for (s, a), arr in self.abuy.items():
            self._order_checks(arr, int(self.asics[a].lead_periods), f"abuy {a} at {s}",
                               integer=False)
        for s, arr in self.conv.items():
            self._order_checks(arr, int(self.sites[s].halls.conversion.lead_periods),
                               f"conv at {s}")
        for s, arr in self.build.items():
            self._order_checks(arr, int(self.sites[s].halls.ai_build.lead_periods),
                               f"build at {s}")
        for (s, kind, u), arr in self.upg.items():
            self._order_checks(arr, int(self.upgrades[s, kind, u].lead_periods),
                               f"{kind} {u} at {s}")
        # order limits
        for group, products, orders in (("buy_limit", self.products, self.buy),
                                        ("asic_buy_limit", self.asics, self.abuy)):
            for g, prod in products.items():
                if prod.max_units_per_period is None:
                    continue
                total = sum((arr for (s, gg), arr in orders.items() if gg == g), np.zeros(P))
                cap_ = float(prod.max_units_per_period)
                self.g.add(group, total - cap_, cap_,
                           lambda p, g=g, t=total, c=cap_: f"{g} p{p}: {t[p]:g} > {c:g}")
        for s, site in self.sites.items():
            for kind, group, orders in (("conversion", "conversion_limit", self.conv),
                                        ("ai_build", "ai_build_limit", self.build)):
                block = getattr(site.halls, kind)
                if block is not None:
                    tot = float(orders[s].sum()) if s in orders else 0.0
                    self.g.add(group, tot - block.max_blocks, block.max_blocks,
                               lambda _i, s=s, t=tot: f"{s}: {t:g} blocks")
            for f in site.fleet:
                tot = float(self.retire[s, f.id].sum()) if (s, f.id) in self.retire else 0.0
                self.g.add("retire_limit", tot - f.units, f.units,
                           lambda _i, s=s, f=f.id, t=tot: f"{s} {f}: {t:g} retired")
        for (s, kind, u), up in self.upgrades.items():
            tot = float(self.upg[s, kind, u].sum()) if (s, kind, u) in self.upg else 0.0
            self.g.add("upgrade_limit", tot - up.max_count, up.max_count,
                       lambda _i, s=s, u=u, t=tot: f"{s} {u}: {t:g}")

    def _order_checks(self, arr: np.ndarray, lead: int, label: str, integer: bool = True
                      ) -> None:
        P = self.P
        if integer:
            self.g.add("integrality", np.abs(arr - np.round(arr)), 1.0,
                       lambda p: f"{label} p{p} = {arr[p]!r}")
        late = np.array([abs(arr[p]) if p + lead > P - 1 else 0.0 for p in range(P)])
        self.g.add("lead_time", late, 1.0,
                   lambda p: f"{label} p{p} (lead {lead}, last period {P - 1})")

    # ------------------------------------------------------------------ stocks
    def stocks(self) -> None:
        P = self.P
        self.A = {}
        self.I = {}
        self.NA = {}
        self.MH = {}
        self.AH = {}
        self.GI = {}
        self.CC = {}

        def delivered(arr, lead):
            """Sum of orders placed in p' <= p - lead, per p."""
            out = np.zeros(P)
            cum = np.cumsum(arr)
            for p in range(P):
                if p - lead >= 0:
                    out[p] = cum[p - lead]
            return out

        for s, site in self.sites.items():
            for f in site.fleet:
                r = self.retire[s, f.id] if (s, f.id) in self.retire else np.zeros(P)
                self.A[s, f.id] = float(f.units) - np.cumsum(r)
            existing = defaultdict(float)
            for gpu in site.gpus:
                existing[gpu.product] += float(gpu.units)
            for g, prod in self.products.items():
                buy = self.buy[s, g] if (s, g) in self.buy else np.zeros(P)
                self.I[s, g] = existing[g] + self._available(buy, int(prod.lead_periods),
                                                             float(prod.life_years))
            # bought ASICs follow the GPU rule: delivered and younger than their life
            for a, prod in self.asics.items():
                abuy = self.abuy[s, a] if (s, a) in self.abuy else np.zeros(P)
                self.NA[s, a] = self._available(abuy, int(prod.lead_periods),
                                                float(prod.life_years))
            mh = np.full(P, float(site.halls.mining_mw))
            ah = np.full(P, float(site.halls.ai_mw))
            conv = site.halls.conversion
            if conv is not None:
                c = self.conv[s] if s in self.conv else np.zeros(P)
                mh -= conv.block_mw * np.cumsum(c)  # a block leaves mining when started
                ah += conv.block_mw * delivered(c, int(conv.lead_periods))
            build = site.halls.ai_build
            if build is not None:  # a new building: it takes nothing from the mining hall
                b = self.build[s] if s in self.build else np.zeros(P)
                ah += build.block_mw * delivered(b, int(build.lead_periods))
            self.MH[s], self.AH[s] = mh, ah
            gi = np.full(P, float(site.grid.import_limit_mw))
            for u in site.grid.upgrades:
                key = (s, "grid_upgrade", u.id)
                if key in self.upg:
                    gi += u.add_mw * delivered(self.upg[key], int(u.lead_periods))
            self.GI[s] = gi
            for q in COOLING_TYPES:
                cc = np.full(P, float(getattr(site.cooling, q).capacity_mw))
                for u in site.cooling.upgrades:
                    key = (s, "cooling_upgrade", u.id)
                    if u.type == q and key in self.upg:
                        cc += u.add_mw * delivered(self.upg[key], int(u.lead_periods))
                self.CC[s, q] = cc
        # per-period groups
        for s, site in self.sites.items():
            mining = sum((self.A[s, f.id] * f.power_kw / 1000.0 for f in site.fleet),
                         np.zeros(P))
            mining = mining + sum((self.NA[s, a] * prod.power_kw / 1000.0
                                   for a, prod in self.asics.items()), np.zeros(P))
            self.g.add("mining_hall", mining - self.MH[s], self.MH[s],
                       lambda p, s=s, m=mining: f"{s} p{p}: {m[p]:.6g} MW > MH "
                                                f"{self.MH[s][p]:.6g}")
            lease = self._lease_mw(s)
            ai = sum((self.I[s, g] * prod.it_kw / 1000.0 for g, prod in self.products.items()),
                     np.zeros(P)) + lease
            self.g.add("ai_hall", ai - self.AH[s], self.AH[s],
                       lambda p, s=s, a=ai: f"{s} p{p}: {a[p]:.6g} MW > AH {self.AH[s][p]:.6g}")
        # capex budget (all sites; the equity of each asset order, salvage and upfronts
        # excluded)
        budget = _per_period(self.inst.capex_budget_usd, P)
        spent = self._capex_spent()
        if self.inst.capex_budget_usd is not None:
            self.g.add("capex_budget", spent - budget, budget,
                       lambda p: f"p{p}: {spent[p]:,.0f} > {budget[p]:,.0f} USD")

    def _available(self, orders: np.ndarray, lead: int, life: float) -> np.ndarray:
        """Units usable per period: ordered in p', usable from d = p' + lead while
        y_start(p) - y_start(d) < life_years (the ``avail`` rule)."""
        P, y = self.P, self.y_start
        stock = np.zeros(P)
        for p_order in range(P):
            d = p_order + lead
            if orders[p_order] == 0 or d > P - 1:
                continue
            for p in range(d, P):
                if y[p] - y[d] < life:
                    stock[p] += orders[p_order]
        return stock

    def _lease_mw(self, s: str, cooling: str | None = None) -> np.ndarray:
        P = self.P
        out = np.zeros(P)
        for key, lease in self.leases.items():
            if lease.site != s or (cooling is not None and lease.cooling != cooling):
                continue
            act = (np.arange(P) >= lease.start_period) & (np.arange(P) < lease.end_period)
            out += lease.it_mw * self.accept["lease", key] * act
        return out

    def _firm(self, s: str, g: str) -> np.ndarray:
        P = self.P
        out = np.zeros(P)
        for key, k in self.contracts.items():
            if k.site == s and k.product == g:
                act = (np.arange(P) >= k.start_period) & (np.arange(P) < k.end_period)
                out += float(k.units) * self.accept["contract", key] * act
        return out

    def _capex_spent(self) -> np.ndarray:
        """Per period, the equity ``(1 - loan_to_cost) * price`` of every asset order."""
        spent = np.zeros(self.P)
        for s, kind, _item, qty, price, _block in self._asset_orders():
            loan = self._financing(kind, s)
            share = 1.0 - (loan.loan_to_cost if loan is not None else 0.0)
            spent += share * qty * price
        return spent

    def _financing(self, kind: str, site: str):
        """The financing of (kind, site), or None (validation allows at most one)."""
        for fin in self.inst.financing:
            if kind in fin.applies_to and (fin.sites is None or site in fin.sites):
                return fin
        return None

    def _asset_orders(self):
        """(site, kind, item, quantity per period, price per period, block) of every
        asset order; ``block`` holds lead_periods, life_years and residual_at_period."""
        P = self.P
        for (s, g), arr in self.buy.items():
            prod = self.products[g]
            yield s, "gpu", g, arr, _per_period(prod.capex_usd, P), prod
        for (s, a), arr in self.abuy.items():
            prod = self.asics[a]
            yield s, "asic", a, arr, _per_period(prod.capex_usd, P), prod
        for kind, orders in (("conversion", self.conv), ("ai_build", self.build)):
            for s, arr in orders.items():
                block = getattr(self.sites[s].halls, kind)
                yield s, kind, "block", arr, np.full(P, float(block.capex_usd_per_block)), block
        for (s, kind, u), arr in self.upg.items():
            up = self.upgrades[s, kind, u]
            yield s, kind, u, arr, np.full(P, float(up.capex_usd)), up

    # ------------------------------------------------------------------ hourly inputs
    def _hourly(self, value, pos, tperiod) -> np.ndarray:
        n = len(pos)
        if isinstance(value, ColumnRef):
            if self.series is None or value.column not in self.series.columns:
                self.report.problems.append(f"series column {value.column!r} not available")
                return np.full(n, np.nan)
            col = self.series[value.column].to_numpy(dtype=float)
            out = np.where(pos >= 0, col[np.clip(pos, 0, None)], np.nan)
            return out * float(value.scale)
        if isinstance(value, (list, tuple)):
            arr = np.asarray(value, dtype=float)
            return np.where(tperiod >= 0, arr[np.clip(tperiod, 0, None)], np.nan)
        return np.full(n, float(value))

    def _column(self, name: str, pos) -> np.ndarray:
        if self.series is None or name not in self.series.columns:
            self.report.problems.append(f"series column {name!r} not available")
            return np.full(len(pos), np.nan)
        col = self.series[name].to_numpy(dtype=float)
        return np.where(pos >= 0, col[np.clip(pos, 0, None)], np.nan)

    # ------------------------------------------------------------------ dispatch
    def operations(self) -> None:
        disp, rep, P = self.dispatch, self.report, self.P
        need = {"site", "period", "timestamp", "weight", "imp_mw"}
        if not need <= set(disp.columns):
            rep.problems.append(
                f"dispatch.parquet lacks columns {sorted(need - set(disp.columns))}")
            return
        self.cash = _Cash(P, self.NX, self.Dx)
        steps = None
        for s in self.sites:
            rows = disp[disp["site"] == s]
            if len(rows) == 0:
                rep.problems.append(f"dispatch.parquet has no rows for site {s}")
                continue
            key = (rows["period"].to_numpy().astype(np.int64), pd.DatetimeIndex(rows["timestamp"]).as_unit("ns")
                   .asi8, rows["weight"].to_numpy(dtype=float))
            if steps is None:
                steps = key
                self.report.steps = len(rows)
            elif not (len(key[0]) == len(steps[0]) and all(np.array_equal(a, b)
                                                          for a, b in zip(key, steps))):
                self.g.add("time_grid", 1.0, 1.0,
                           lambda _i, s=s: f"site {s} has other steps than the first site")
            self._site(s, rows.reset_index(drop=True))
        if steps is not None:
            self._representative(*steps)
        unknown = sorted(set(disp["site"].astype(str)) - set(self.sites))
        if unknown:
            rep.problems.append(f"dispatch.parquet has rows of unknown sites {unknown}")
        steps_summary = (self.summary.get("resolution") or {}).get("steps")
        if steps_summary is not None and steps is not None and steps_summary != len(steps[0]):
            rep.problems.append(f"summary.json resolution.steps = {steps_summary} but "
                                f"dispatch.parquet has {len(steps[0])} steps per site")
        mode = (self.summary.get("resolution") or {}).get("mode")
        if not mode and steps is not None:
            mode = "hourly" if np.all(steps[2] == 1.0) else "representative"
        self.report.mode = str(mode or "")

    def _representative(self, period, ts_ns, w) -> None:
        """Representative mode (some weight != 1): the coincident-peak days and the day of
        each period's highest grid price (over all sites) are steps of weight 1 when
        ``keep_peak_days``; reports the number of clustered days per period as a note."""
        if np.all(w == 1.0):
            return
        hz, P = self.inst.horizon, self.P
        day_ns = 86_400 * 10**9
        step_day = ts_ns // day_ns
        weight_of = dict(zip(step_day.tolist(), w.tolist()))
        hours = self.horizon_hours.as_unit("ns").asi8
        pos = np.arange(len(hours))
        hperiod = np.searchsorted(self.start_ns, hours, side="right") - 1
        hday = hours // day_ns
        flag = np.zeros(len(hours), dtype=bool)
        prices = []
        for site in self.inst.sites:
            cp = site.grid.coincident_peak
            if cp is not None:
                flag |= self._column(cp.flag_column, pos) > 0
            prices.append(self._hourly(site.grid.price_usd_per_mwh, pos, hperiod))
        top_price = np.max(prices, axis=0)
        k_seen = set()
        for p in range(P):
            inp = hperiod == p
            n_days = len(np.unique(hday[inp]))
            chosen = set(np.unique(step_day[period == p]).tolist())
            single = {d for d in chosen if weight_of[d] == 1.0}
            peak_days: set[int] = set()
            if hz.resolution.keep_peak_days:
                for d in sorted(set(np.unique(hday[inp & flag]).tolist())):
                    peak_days.add(d)
                    self.g.add("time_grid", 0.0 if d in single else 1.0, 1.0,
                               lambda _i, p=p, d=d: f"p{p}: coincident-peak day "
                               f"{pd.Timestamp(d * day_ns, tz='UTC').date()} is not a "
                               f"step day of weight 1")
                top = top_price[inp].max()
                top_days = set(np.unique(hday[inp & (top_price == top)]).tolist())
                kept = top_days & single
                self.g.add("time_grid", 0.0 if kept else 1.0, 1.0,
                           lambda _i, p=p, top=top: f"p{p}: the day of the highest grid "
                                                    f"price ({top:g} USD/MWh) is not a step "
                                                    f"day of weight 1")
                peak_days.add(min(kept) if kept else min(top_days))
            clustered = len(chosen - peak_days)
            if n_days - len(peak_days) > clustered:  # the remaining days were clustered
                k_seen.add(clustered)
        solved_k = (self.summary.get("resolution") or {}).get("days_per_period")
        if solved_k is not None:
            # the run records the K it was solved with: clustered days must match it
            wrong = sorted(k_seen - {int(solved_k)})
            self.g.add("time_grid", float(len(wrong)), 1.0,
                       lambda _i: f"{wrong} clustered days per period, summary.json says "
                                  f"days_per_period = {solved_k}")
            return
        k = hz.resolution.days_per_period
        if k_seen and k_seen != {k}:
            self.report.notes.append(
                f"representative days: {sorted(k_seen)} clustered days per period, the "
                f"instance says days_per_period = {k} (a solve option may override it)")

    def _site(self, s: str, rows: pd.DataFrame) -> None:
        site, P, g_ = self.sites[s], self.P, self.g
        n = len(rows)
        ts = pd.DatetimeIndex(rows["timestamp"]).as_unit("ns")
        if ts.tz is None:
            ts = ts.tz_localize("UTC")
        ts = ts.tz_convert("UTC")
        ts_ns = ts.asi8
        period = rows["period"].to_numpy().astype(np.int64)
        w = rows["weight"].to_numpy(dtype=float)

        def at(i):
            return f"{s} {_fmt_ts(ts[i])}"

        # ---- time grid
        tperiod = np.searchsorted(self.start_ns, ts_ns, side="right") - 1
        tperiod = np.where(ts_ns >= self.start_ns[-1], -1, tperiod)
        g_.add("time_grid", (tperiod != period).astype(float) * 1.0, 1.0,
               lambda i: f"{at(i)}: step of period {period[i]} is in period {tperiod[i]}")
        bad_period = (period < 0) | (period >= P)
        if bad_period.any():
            self.report.problems.append(f"dispatch.parquet: site {s} has periods outside "
                                        f"0..{P - 1}")
            period = np.clip(period, 0, P - 1)
        wsum = np.bincount(period, weights=w, minlength=P)
        g_.add("time_grid", np.abs(wsum - self.H), self.H,
               lambda p: f"{s} p{p}: weights sum to {wsum[p]:g}, period has {self.H[p]:g} h")
        g_.add("time_grid", -w, 1.0, lambda i: f"{at(i)}: weight {w[i]:g}")
        pos = self.horizon_hours.as_unit("ns").get_indexer(ts)
        dup = pd.Index(ts_ns).duplicated()
        g_.add("time_grid", dup.astype(float), 1.0, lambda i: f"{at(i)}: duplicate timestamp")
        if (w != 1.0).any():  # representative days: 24 hours of one day, one weight
            day = ts.floor("D")
            frame = pd.DataFrame({"day": day, "w": w})
            per_day = frame.groupby("day")["w"].agg(["count", "min", "max"])
            bad = np.abs(per_day["count"].to_numpy() - 24.0) + (per_day["max"] - per_day["min"]
                                                                 ).to_numpy()
            days = per_day.index
            g_.add("time_grid", bad, 1.0,
                   lambda i: f"{s} day {days[i].date()}: {per_day['count'].iloc[i]} steps, "
                             f"weights {per_day['min'].iloc[i]:g}..{per_day['max'].iloc[i]:g}")

        # ---- inputs
        price = self._hourly(site.grid.price_usd_per_mwh, pos, tperiod)
        adder = self._hourly(site.grid.import_adder_usd_per_mwh, pos, tperiod)
        ambient = self._hourly(site.ambient_c, pos, tperiod)
        hp = self._hourly(self.inst.market.hashprice_usd_per_ph_day, pos, tperiod) / 1000 / 24
        fee = float(site.grid.export_fee_usd_per_mwh)
        derate, pue = {}, {}
        for q in COOLING_TYPES:
            b = getattr(site.cooling, q)
            derate[q] = np.clip(1.0 - b.derate_per_c * np.maximum(0.0, ambient
                                                                 - b.rated_ambient_c),
                                b.min_factor, 1.0)
            pue[q] = b.pue + b.pue_per_c * np.maximum(0.0, ambient - b.pue_ref_c)
        derived = {"price_usd_per_mwh": price, "import_adder_usd_per_mwh": adder,
                   "hashprice_usd_per_th_h": hp}
        for q in COOLING_TYPES:
            derived[f"derate_{q}"] = derate[q]
            derived[f"pue_{q}"] = pue[q]

        def decision(name: str, required: bool = True) -> np.ndarray:
            v = _col(rows, name)
            if v is None:
                if required:
                    self.report.problems.append(f"dispatch.parquet lacks column {name!r}")
                return np.zeros(n)
            g_.add("nonnegativity", -v, 1.0, lambda i: f"{name} at {at(i)} = {v[i]:g}")
            return v

        # ---- decisions of variables that do not exist at this site must be 0
        own = {f"run_{f.id}" for f in site.fleet} | {f"spot_{g}" for g in self.products}
        own |= {f"arun_{a}" for a in self.asics}
        own |= {f"use_{c.id}" for c in self.ppas.values()
                if c.site == s and c.kind in ("physical", "onsite")}
        own |= {f"out_{c.id}" for c in self.ppas.values() if c.site == s and c.kind == "onsite"}
        for col in rows.columns:
            if col.startswith(("run_", "arun_", "spot_", "use_", "out_")) and col not in own:
                v = rows[col].to_numpy(dtype=float)
                g_.add("undefined_decisions", np.abs(v), 1.0,
                       lambda i, col=col, v=v: f"{col} at {at(i)} = {v[i]:g}")
        anc_block = site.grid.ancillary
        anc = decision("anc_mw", required=anc_block is not None)
        charge = float(site.grid.demand_charge_usd_per_kw_month)
        peak = decision("peak_mw", required=charge > 0)

        # ---- mining
        it = {q: np.zeros(n) for q in COOLING_TYPES}
        mine = np.zeros(n)
        # the fleets (A) and the bought ASICs (NA, deals.md section 6) hash alike
        hashing = ([("fleet_available", f, "run", "A", self.A[s, f.id]) for f in site.fleet]
                   + [("asic_available", prod, "arun", "NA", self.NA[s, a])
                      for a, prod in self.asics.items()])
        for group, spec, var, name, stock in hashing:
            run = decision(f"{var}_{spec.id}")
            cap = stock[period]
            g_.add(group, run - cap, cap,
                   lambda i, k=spec.id, v=var, r=run, c=cap, nm=name:
                   f"{k} at {at(i)}: {v} {r[i]:.6g} > {nm} {c[i]:.6g}")
            mw = run * spec.power_kw / 1000.0
            it[spec.cooling] += mw
            mine += mw
            self.cash.add_hourly(s, "mining_revenue",
                                 run * spec.hashrate_th * hp * (1 - self.inst.market.pool_fee),
                                 w, period)
            self.cash.add_hourly(s, "mining_opex", -mw * spec.opex_usd_per_mwh, w, period)
        derived["mining_it_mw"] = mine.copy()

        # ---- GPUs and contracts
        gpu_it = np.zeros(n)
        for g, prod in self.products.items():
            spot = decision(f"spot_{g}")
            I_ = self.I[s, g][period]
            firm_p = self._firm(s, g)
            firm = firm_p[period]
            derived[f"installed_{g}"] = I_
            derived[f"firm_{g}"] = firm
            g_.add("gpu_available", spot + firm - I_, I_,
                   lambda i, g=g, sp=spot, fi=firm, I_=I_:
                   f"{g} at {at(i)}: spot {sp[i]:.6g} + firm {fi[i]:.6g} > I {I_[i]:.6g}")
            u = float(prod.spot_max_utilization)
            g_.add("spot_market", spot - u * I_, u * I_,
                   lambda i, g=g, sp=spot, I_=I_, u=u:
                   f"{g} at {at(i)}: spot {sp[i]:.6g} > {u:g} * {I_[i]:.6g}")
            mw = prod.it_kw / 1000.0 * (prod.idle_fraction * I_
                                        + (1 - prod.idle_fraction) * (spot + firm))
            it[prod.cooling] += mw
            gpu_it += mw
            spot_price = self._hourly(prod.spot_price_usd_per_gpu_hour, pos, tperiod)
            self.cash.add_hourly(s, "gpu_spot_revenue", spot * prod.gpus_per_unit * spot_price,
                                 w, period)
            self.cash.add_period(s, "gpu_opex",
                                 -self.I[s, g] * prod.opex_usd_per_unit_year * self.years)
            col = _col(rows, f"installed_{g}")
            if col is not None:
                g_.add("stock_gpus", np.abs(col - I_), I_,
                       lambda i, g=g, c=col, I_=I_:
                       f"installed_{g} at {at(i)} = {c[i]:.9g}, I = {I_[i]:.9g}")
        derived["gpu_it_mw"] = gpu_it
        for key, k in self.contracts.items():
            if k.site != s:
                continue
            prod = self.products[k.product]
            act = ((period >= k.start_period) & (period < k.end_period)).astype(float)
            price_k = _per_period(k.price_usd_per_gpu_hour, P)[period]
            self.cash.add_hourly(s, "contract_revenue",
                                 self.accept["contract", key] * k.units * prod.gpus_per_unit
                                 * price_k * act, w, period)

        # ---- leases
        lease_it = np.zeros(n)
        for key, lease in self.leases.items():
            if lease.site != s:
                continue
            acc = self.accept["lease", key]
            act = ((period >= lease.start_period) & (period < lease.end_period)).astype(float)
            mw = lease.it_mw * acc * act
            it[lease.cooling] += mw
            lease_it += mw
            # the tenant pays the hourly rate per MWh of its IT energy (deals.md 1, 3)
            rate = self._hourly(lease.energy_rate_usd_per_mwh, pos, tperiod)
            self.cash.add_hourly(s, "lease_energy_revenue", mw * rate, w, period)
        derived["lease_it_mw"] = lease_it
        load = sum(pue[q] * it[q] for q in COOLING_TYPES) + site.aux_load_mw
        for q in COOLING_TYPES:
            derived[f"it_{q}_mw"] = it[q]
            cap = self.CC[s, q][period] * derate[q]
            g_.add("cooling", it[q] - cap, cap,
                   lambda i, q=q, it_=it[q], c=cap:
                   f"{q} at {at(i)}: IT {it_[i]:.6g} > {c[i]:.6g} MW")
        derived["load_mw"] = load

        # ---- power
        imp = decision("imp_mw")
        energy_in = imp.copy()  # imp + use of physical and onsite PPAs
        metered = imp.copy()  # imp + use of physical PPAs
        out_total = np.zeros(n)
        has_onsite = False
        for key, c in self.ppas.items():
            if c.site != s:
                continue
            sign = self.accept["ppa", key]
            if c.baseload_mw is not None:
                vol = np.full(n, float(c.baseload_mw))
            else:
                vol = self._column(c.profile_column, pos) * float(c.capacity_mw)
            act = (period >= c.start_period) & (period < c.end_period)
            vol = np.where(act, vol, 0.0)
            offered = sign * vol
            strike = float(c.strike_usd_per_mwh)
            if c.kind == "virtual":
                self.cash.add_hourly(s, "vppa_settlement", offered * (price - strike), w, period)
                for col in (f"use_{key}", f"out_{key}"):
                    v = _col(rows, col)
                    if v is not None:  # counted in undefined_decisions; ppa_volume too
                        g_.add("ppa_volume", np.abs(v), 1.0,
                               lambda i, col=col, v=v: f"{col} at {at(i)} = {v[i]:g} (virtual)")
                continue
            derived[f"ppa_volume_{key}_mw"] = vol
            use = decision(f"use_{key}")
            out = decision(f"out_{key}", required=c.kind == "onsite")
            if c.kind != "onsite":
                g_.add("ppa_volume", np.abs(out), 1.0,
                       lambda i, key=key, o=out: f"out_{key} at {at(i)} = {o[i]:g} (not onsite)")
                out = np.zeros(n)
            else:
                has_onsite = True
                out_total += out
            energy_in += use
            if c.kind == "physical":
                metered += use
            taken = use + out
            if c.kind == "onsite" and not c.curtailable:
                viol = np.abs(taken - offered)
            else:
                viol = taken - offered
            g_.add("ppa_volume", viol, offered,
                   lambda i, key=key, t=taken, o=offered:
                   f"{key} at {at(i)}: taken {t[i]:.6g}, sign*vol {o[i]:.6g}")
            if not c.take_or_pay:
                for p in range(max(0, c.start_period), min(P, c.end_period)):
                    m = period == p
                    got = float(np.dot(w[m], taken[m]))
                    need = float(c.min_take_fraction) * float(np.dot(w[m], offered[m]))
                    g_.add("ppa_min_take", need - got, need,
                           lambda _i, key=key, p=p, got=got, need=need:
                           f"{key} p{p}: {got:,.6g} MWh < {need:,.6g}")
            # cash
            if c.take_or_pay:
                self.cash.add_hourly(s, "ppa_strike", -strike * offered, w, period)
            else:
                self.cash.add_hourly(s, "ppa_strike", -strike * use, w, period)
                if c.kind == "onsite":
                    self.cash.add_hourly(s, "ppa_strike", -strike * out, w, period)
            if c.kind == "physical" and c.take_or_pay:
                self.cash.add_hourly(s, "ppa_settlement", offered * (price - fee), w, period)
                self.cash.add_hourly(s, "ppa_settlement", -use * (price - fee), w, period)
            if c.kind == "onsite":
                self.cash.add_hourly(s, "ppa_export", out * (price - fee), w, period)
        g_.add("power_balance", np.abs(energy_in - load), load,
               lambda i: f"{at(i)}: supply {energy_in[i]:.6g} MW, load {load[i]:.6g} MW")
        GI = self.GI[s][period]
        g_.add("import_limit", metered - GI, GI,
               lambda i: f"{at(i)}: imp + physical use {metered[i]:.6g} > GI {GI[i]:.6g} MW")
        if has_onsite:
            lim = float(site.grid.export_limit_mw)
            g_.add("export_limit", out_total - lim, lim,
                   lambda i: f"{at(i)}: out {out_total[i]:.6g} > {lim:g} MW")
        if anc_block is not None:
            g_.add("ancillary", anc - mine, mine,
                   lambda i: f"{at(i)}: anc {anc[i]:.6g} > mining IT {mine[i]:.6g} MW")
            g_.add("ancillary", anc - anc_block.max_mw, anc_block.max_mw,
                   lambda i: f"{at(i)}: anc {anc[i]:.6g} > max {anc_block.max_mw:g} MW")
            anc_price = self._hourly(anc_block.price_usd_per_mw_h, pos, tperiod)
            self.cash.add_hourly(s, "ancillary_revenue", anc * anc_price, w, period)
        else:
            g_.add("undefined_decisions", np.abs(anc), 1.0,
                   lambda i: f"anc_mw at {at(i)} = {anc[i]:g} (no ancillary block)")
        if charge > 0:
            pk = np.zeros(P)
            for p in range(P):
                m = period == p
                if m.any():
                    vals = peak[m]
                    pk[p] = float(vals.max())
                    g_.add("demand_peak", vals.max() - vals.min(), vals.max(),
                           lambda _i, p=p: f"{s} p{p}: peak_mw not constant in the period")
            g_.add("demand_peak", metered - pk[period], pk[period],
                   lambda i: f"{at(i)}: metered {metered[i]:.6g} > peak {pk[period[i]]:.6g} MW")
            self.cash.add_period(s, "demand_charge", -pk * 1000.0 * charge * self.months)
        self.cash.add_hourly(s, "grid_energy", -imp * price, w, period)
        self.cash.add_hourly(s, "import_adder", -metered * adder, w, period)
        cp = site.grid.coincident_peak
        if cp is not None:
            flag = self._column(cp.flag_column, pos)
            self.cash.add_hourly(s, "coincident_peak",
                                 -flag * cp.charge_usd_per_kw_year * 1000.0
                                 / cp.intervals_per_year * metered, w, period)
        self.cash.add_period(s, "fixed_opex", -site.fixed_opex_usd_per_year * self.years)

        # ---- derived columns of dispatch.parquet vs recomputed (extra check)
        for name, mine_ in derived.items():
            col = _col(rows, name)
            if col is None:
                continue
            ref = np.asarray(mine_, dtype=float)
            self.c.add("dispatch_derived", np.abs(col - ref), ref,
                       lambda i, name=name, c=col, r=ref:
                       f"{name} at {at(i)}: {c[i]:.9g} vs {r[i]:.9g}")
        self._site_rows = getattr(self, "_site_rows", {})
        self._site_rows[s] = (rows, at)

    # ------------------------------------------------------------------ capex cash
    def deal_cash(self) -> None:
        """Period terms of leases and contracts inside the horizon and in their tails,
        and upfront payments (deals.md sections 1-3, 10)."""
        P, NX = self.P, self.NX
        last = P - 1
        for key, lease in self.leases.items():
            acc = self.accept["lease", key]
            if acc == 0:
                continue
            price = _per_period(lease.price_usd_per_kw_month, P)
            first = int(lease.start_period)
            inside = np.zeros(NX)
            tail = np.zeros(NX)
            for p in range(first, min(int(lease.end_period), NX)):
                steps = escalation_steps(self.yx_start[p], self.yx_start[first])
                rent = price[min(p, last)] * (1.0 + lease.escalator_per_year) ** steps
                usd = (acc * lease.it_mw * 1000.0 * (rent - lease.opex_usd_per_kw_month)
                       * self.months_x[p])
                (inside if p < P else tail)[p] = usd
            self.cash.add_period(lease.site, "lease_capacity_revenue", inside)
            if lease.end_period > P:
                self.cash.add_period(lease.site, "lease_rent_tail", tail)
        for key, k in self.contracts.items():
            acc = self.accept["contract", key]
            if acc == 0 or k.end_period <= P:
                continue
            # only the tail: inside the horizon the contract is paid hour by hour
            price = _per_period(k.price_usd_per_gpu_hour, P)[last]
            gpus = k.units * self.products[k.product].gpus_per_unit
            tail = np.zeros(NX)
            for p in range(P, min(int(k.end_period), NX)):
                tail[p] = acc * gpus * (price - k.opex_usd_per_gpu_hour) * self.Hx[p]
            self.cash.add_period(k.site, "contract_revenue_tail", tail)
        for kind, deals in (("contract", self.contracts), ("lease", self.leases)):
            for key, deal in deals.items():
                usd = float(deal.upfront_usd)
                acc = self.accept[kind, key]
                if usd == 0 or acc == 0:
                    continue
                cash = np.zeros(NX)
                cash[int(deal.start_period)] = acc * usd
                self.cash.add_period(deal.site, "upfront", cash, self.Ex)
        self._upfront_rows_check()

    def _upfront_rows_check(self) -> None:
        """capex.csv reports each accepted upfront as kind ``upfront``, item = the deal,
        quantity = accept, in the deal's start_period (the price check is in capex_table).
        A contract and a lease of one id at one site cannot be told apart: their rows are
        checked together."""
        want: dict[tuple[str, str], float] = defaultdict(float)
        starts: dict[tuple[str, str], set[int]] = defaultdict(set)
        for kind, deals in (("contract", self.contracts), ("lease", self.leases)):
            for key, deal in deals.items():
                if float(deal.upfront_usd) != 0:
                    want[deal.site, key] += self.accept[kind, key]
                starts[deal.site, key].add(int(deal.start_period))
        for sk in sorted(set(want) | set(self.upfront_rows)):
            rows = self.upfront_rows.get(sk, [])
            got = sum(q for _i, _p, q in rows)
            self.c.add("capex_table", abs(got - want.get(sk, 0.0)), 1.0,
                       lambda _i, sk=sk, g=got, w=want.get(sk, 0.0):
                       f"capex.csv upfront rows of {sk[1]} at {sk[0]}: quantity {g:g}, "
                       f"accepted {w:g}")
            for i, p, _q in rows:
                self.c.add("capex_table", float(p not in starts.get(sk, ())), 1.0,
                           lambda _i, i=i, p=p, sk=sk:
                           f"capex.csv row {i + 2}: upfront of {sk[1]} in p{p}, not in its "
                           f"start_period")

    def capex_cash(self) -> None:
        P, NX, r = self.P, self.NX, self.rate
        taxes = self.inst.taxes
        tax_rate = float(taxes.rate) if taxes is not None else 0.0
        dep_years = dict(taxes.depreciation_years) if taxes is not None else {}
        base = 1.0 + r
        for s, kind, _item, qty, price, block in self._asset_orders():
            lead, life = int(block.lead_periods), float(block.life_years)
            v = getattr(block, "residual_at_period", None)
            v = P if v is None else int(v)
            y_val = float(self.yx_start[v])
            f_val = base ** -y_val
            loan = self._financing(kind, s)
            N = dep_years.get(kind)
            equity, debt_u, debt_d = np.zeros(P), np.zeros(P), np.zeros(P)
            res_u, res_d = np.zeros(P), np.zeros(P)
            shield_u, shield_d = np.zeros(P), np.zeros(P)
            tax_u, tax_d = np.zeros(P), np.zeros(P)
            for p in range(P):
                amount = qty[p] * price[p]  # the full price of the order
                if amount == 0:  # nothing ordered, or a free item: no cash flows
                    continue
                share = loan.loan_to_cost if loan is not None else 0.0
                equity[p] = -(1.0 - share) * amount
                if loan is not None and share > 0:
                    n = int(loan.tenor_years)
                    inst_usd = annuity_factor(loan.rate, n) * share * amount
                    debt_u[p] = -n * inst_usd
                    debt_d[p] = -self.E[p] * inst_usd * discount_sum(r, n)
                d = p + lead
                resid = 0.0
                if d <= P - 1:  # a later delivery is a lead_time violation, valued 0
                    age = y_val - float(self.yx_start[d])
                    resid = amount * max(0.0, 1.0 - age / life)
                res_u[p], res_d[p] = resid, resid * f_val
                if taxes is None:
                    continue
                n_dep = 0
                if N is not None:
                    n_dep = depreciation_years_counted(float(self.y_start[p]), y_val, N)
                    shield_u[p] = tax_rate * amount / N * n_dep
                    shield_d[p] = (self.E[p] * tax_rate * amount / N
                                   * discount_sum(r, n_dep))
                basis = amount * (N - n_dep) / N if N is not None else amount
                # sold at the valuation date: (1 - rate) * R + rate * B, reported as R
                # in residual_value and rate * (B - R) in tax
                tax_u[p] = tax_rate * (basis - resid)
                tax_d[p] = tax_u[p] * f_val
            self.cash.add_period(s, f"{kind}_capex", equity, self.Ex)
            if loan is not None:
                self.cash.add_pair(s, "debt_service", debt_u, debt_d)
            self.cash.add_pair(s, "residual_value", res_u, res_d)
            if taxes is not None:
                if N is not None:
                    self.cash.add_pair(s, "depreciation_shield", shield_u, shield_d)
                self.cash.add_pair(s, "tax", tax_u, tax_d)
        for (s, f), arr in self.retire.items():
            fleet = next(x for x in self.sites[s].fleet if x.id == f)
            self.cash.add_period(s, "asic_salvage",
                                 arr * _per_period(fleet.salvage_usd_per_unit, P), self.Ex)
        # ASICs still active at the horizon end (deals.md section 4), in period P-1
        for s, site in self.sites.items():
            terminal = np.zeros(NX)
            for f in site.fleet:
                terminal[P - 1] += self.A[s, f.id][P - 1] * float(f.terminal_usd_per_unit)
            if terminal.any():
                self.cash.add_period(s, "asic_terminal", terminal, np.full(NX, self.D_end))
        self._capex_table()

    def tax_cash(self) -> None:
        """``tax`` = -rate * every taxed term, per site and period, discounted as each
        term is (deals.md section 11); the residual's tax effect is added in capex_cash."""
        taxes = self.inst.taxes
        if taxes is None:
            return
        rate = float(taxes.rate)
        for s in self.sites:
            for term in TAXED_TERMS:
                key = (s, term)
                if key not in self.cash.value:
                    continue
                c = self.cash
                c.add_pair(s, "tax", -rate * c.value[key], -rate * c.disc[key],
                           rate * c.gross[key], rate * c.gross_disc[key])
                if key in c.hourly:
                    c.hourly[s, "tax"] = c.hourly.get((s, "tax"), 0.0) - rate * c.hourly[key]

    def _capex_table(self) -> None:
        P = self.P
        # capex.csv capex_usd column vs quantity * price
        cap = self.capex
        if {"capex_usd", "quantity", "kind", "item", "site", "period"} <= set(cap.columns):
            for i, row in enumerate(cap.itertuples(index=False)):
                try:
                    p, q, usd = int(row.period), float(row.quantity), float(row.capex_usd)
                except (TypeError, ValueError):
                    continue
                if not 0 <= p < P:
                    continue
                price = self._unit_price(str(row.site), str(row.kind), str(row.item), p)
                if price is None:
                    continue
                want = q * price
                self.c.add("capex_table", abs(usd - want), want,
                           lambda _i, i=i, usd=usd, want=want:
                           f"capex.csv row {i + 2}: {usd:,.2f} vs {want:,.2f}")
        if "period_start" in cap.columns and len(cap):
            try:
                got = pd.DatetimeIndex(pd.to_datetime(cap["period_start"], utc=True))
                per = cap["period"].to_numpy(dtype=int)
                ok = (per >= 0) & (per < P)
                want = self.starts[np.clip(per, 0, P - 1)]
                bad = (~ok) | (np.asarray(got.asi8) != np.asarray(
                    want.as_unit(got.unit).asi8))
                self.c.add("capex_table", bad.astype(float), 1.0,
                           lambda i: f"capex.csv row {i + 2}: period_start {got[i]} is not "
                                     f"the start of period {per[i]}")
            except (TypeError, ValueError) as e:
                self.report.problems.append(f"capex.csv period_start unreadable: {e}")

    def _unit_price(self, s, kind, item, p) -> float | None:
        site = self.sites.get(s)
        if site is None:
            return None
        if kind == "gpu" and item in self.products:
            return float(_per_period(self.products[item].capex_usd, self.P)[p])
        if kind == "asic" and item in self.asics:
            return float(_per_period(self.asics[item].capex_usd, self.P)[p])
        if kind in ("conversion", "ai_build") and getattr(site.halls, kind) is not None:
            return float(getattr(site.halls, kind).capex_usd_per_block)
        if (s, kind, item) in self.upgrades:
            return float(self.upgrades[s, kind, item].capex_usd)
        if kind == "retire":
            for f in site.fleet:
                if f.id == item:
                    return -float(_per_period(f.salvage_usd_per_unit, self.P)[p])
            return None
        if kind == "upfront":  # a receipt is negative, as salvage is
            deals = [d for d in (self.contracts.get(item), self.leases.get(item))
                     if d is not None and d.site == s]
            return -float(deals[0].upfront_usd) if len(deals) == 1 else None
        if kind in ("contract", "lease", "ppa"):
            return 0.0
        return None

    # ------------------------------------------------------------------ cash compare
    def compare_cash(self) -> None:
        rep, P, NX = self.report, self.P, self.NX
        table = self.cash_table
        need = {"site", "period", "term", "undiscounted_usd", "discount_factor",
                "discounted_usd"}
        if not need <= set(table.columns):
            rep.problems.append(f"cashflows.csv lacks columns {sorted(need - set(table.columns))}")
            return
        fixed = {"D": self.Dx, "E": self.Ex, "D_end": np.full(NX, self.D_end)}
        cash = self.cash
        reported: dict[tuple[str, int, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
        factors: list[tuple[int, tuple[str, int, str], float]] = []
        for i, row in enumerate(table.itertuples(index=False)):
            key = (str(row.site), int(row.period), str(row.term))
            reported[key][0] += float(row.undiscounted_usd)
            reported[key][1] += float(row.discounted_usd)
            factors.append((i, key, float(row.discount_factor)))
        for i, key, got in factors:
            s, p, t = key
            if t not in TERM_KIND or not 0 <= p < NX:
                continue
            if t in FIXED_FACTOR:
                want = float(fixed[FIXED_FACTOR[t]][p])
            elif (s, t) in cash.value:
                # a row that blends dates: its factor is discounted / undiscounted, well
                # defined only where the parts do not cancel out
                u, gross = float(cash.value[s, t][p]), float(cash.gross[s, t][p])
                if abs(u) <= 1e-6 * max(1.0, gross):
                    continue
                want = float(cash.disc[s, t][p]) / u
            else:
                continue
            self.c.add("discount_factor", abs(got - want), 1.0,
                       lambda _i, i=i, key=key, got=got, want=want:
                       f"cashflows.csv row {i + 2} ({key[2]} {key[0]} p{key[1]}): "
                       f"{got!r} vs {want!r}")
        terms = {t: TermCheck(t, TERM_KIND[t]) for t in CASHFLOW_TERMS}
        for key in reported:
            if key[2] not in terms:
                terms[key[2]] = TermCheck(key[2], "unknown")
            if key[0] not in self.sites or not 0 <= key[1] < NX:
                rep.problems.append(f"cashflows.csv has a row for site {key[0]!r}, "
                                    f"period {key[1]}, term {key[2]!r} outside the instance")
        npv = 0.0
        worst: dict[str, float] = {}
        keys = set(reported)
        for (s, t), u in cash.value.items():
            # every horizon period; past it, the periods with a recomputed amount
            live = np.flatnonzero((np.arange(NX) < P) | (u != 0) | (cash.disc[s, t] != 0))
            keys |= {(s, int(p), t) for p in live}
        for key in sorted(keys):
            s, p, t = key
            tc = terms[t]
            if (s, t) in cash.value and 0 <= p < NX:
                val, disc = float(cash.value[s, t][p]), float(cash.disc[s, t][p])
                gross, gross_d = float(cash.gross[s, t][p]), float(cash.gross_disc[s, t][p])
            else:
                val, disc, gross, gross_d = 0.0, 0.0, 0.0, 0.0
            npv += disc
            got_u, got_d = reported.get(key, (0.0, 0.0))
            du, dd = abs(got_u - val), abs(got_d - disc)
            rel = max(du / max(1.0, gross), dd / max(1.0, gross_d))
            tc.rows += 1
            tc.recomputed_discounted += disc
            tc.reported_discounted += got_d
            tc.max_relative = max(tc.max_relative, rel)
            if max(du, dd) > worst.get(t, 0.0):
                worst[t] = max(du, dd)
                tc.where = (f"{s} p{p}: reported {got_u:,.4f} vs recomputed {val:,.4f} "
                            f"(discounted {got_d:,.4f} vs {disc:,.4f})")
            tc.max_diff_undiscounted = max(tc.max_diff_undiscounted, du)
            tc.max_diff_discounted = max(tc.max_diff_discounted, dd)
        for tc in terms.values():
            tc.ok = tc.max_relative <= rep.tolerance
        rep.terms = {n: tc for n, tc in terms.items() if tc.rows or n in CASHFLOW_TERMS}
        rep.npv_recomputed = npv
        rows = []
        for (s, t), u in cash.value.items():
            d = cash.disc[s, t]
            for p in np.flatnonzero((u != 0) | (d != 0)):
                rows.append((s, int(p), t, float(u[p]),
                             float(d[p] / u[p]) if u[p] != 0 else np.nan, float(d[p])))
        rep.recomputed = pd.DataFrame(rows, columns=["site", "period", "term",
                                                     "undiscounted_usd", "discount_factor",
                                                     "discounted_usd"]
                                      ).sort_values(["site", "period", "term"],
                                                    ignore_index=True)
        if rep.npv_reported is not None:
            total = float(table["discounted_usd"].sum())
            self.c.add("cashflows_sum", abs(total - rep.npv_reported), rep.npv_reported,
                       lambda _i: f"sum {total:,.4f} vs npv_usd {rep.npv_reported:,.4f}")

    def compare_hourly_columns(self) -> None:
        for s, (rows, at) in getattr(self, "_site_rows", {}).items():
            for col in rows.columns:
                if not (col.startswith("cf_") and col.endswith("_usd_per_h")):
                    continue
                term = col[3:-len("_usd_per_h")]
                got = rows[col].to_numpy(dtype=float)
                ref = self.cash.hourly.get((s, term))
                ref = np.zeros(len(rows)) if ref is None else np.asarray(ref, dtype=float)
                self.c.add("dispatch_cashflows", np.abs(got - ref), ref,
                           lambda i, col=col, g=got, r=ref, at=at:
                           f"{col} at {at(i)}: {g[i]:.9g} vs {r[i]:.9g}")

    # ------------------------------------------------------------------ run
    def run(self) -> None:
        self.time()
        self.decisions()
        self.stocks()
        self.operations()
        if not hasattr(self, "cash"):
            return
        self.deal_cash()
        self.capex_cash()
        self.tax_cash()
        self.compare_cash()
        self.compare_hourly_columns()
        tol = self.report.tolerance
        for g in self.report.groups.values():
            g.ok = g.max_relative <= tol and math.isfinite(g.max_violation)
