"""Plotly figures of a run, a sweep and a resolution comparison.

Every run figure takes a ``Result`` (``optimizer.api.solve``) or a run folder
(``hashpivot solve ... --out DIR``); ``load_run`` turns either into a ``RunData``, and
passing a ``RunData`` saves reading the folder once per figure:

    from optimizer import plots
    run = plots.load_run("runs/quickstart")
    plots.dispatch_figure(run).show()
    plots.waterfall_figure(run)            # discounted, the total bar is the NPV

The sweep figures take a sweep table (DataFrame) or the sweep folder / file
(``sweep.parquet`` or ``sweep.csv``); ``resolution_figure`` takes the table of
``compare-resolution`` or its CSV. A figure that cannot be drawn raises ``ValueError``
with a sentence naming the file, the column and the value.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

__all__ = [
    "RunData",
    "capex_figure",
    "dispatch_figure",
    "dispatch_stack",
    "heatmap_table",
    "infeasibility_figure",
    "load_run",
    "marginals_figure",
    "override_columns",
    "read_resolution_table",
    "read_sweep",
    "resolution_figure",
    "run_figures",
    "sweep_base",
    "sweep_heatmap",
    "sweep_levels",
    "tornado_figure",
    "tornado_table",
    "value_columns",
    "waterfall_figure",
]

# the uses stacked in the dispatch figure, bottom to top, with their legend names; they
# sum to the facility load (load_mw). Resale/export is drawn below zero.
USES = {
    "mining_mw": ("mining", "#f2a900"),
    "reserve_mw": ("mining offered as reserve", "#c77c02"),
    "gpu_spot_mw": ("GPU spot", "#1f77b4"),
    "gpu_contract_mw": ("GPU contracts", "#17becf"),
    "gpu_idle_mw": ("GPU idle draw", "#aec7e8"),
    "lease_mw": ("colocation leases", "#9467bd"),
    "cooling_mw": ("cooling overhead (PUE - 1)", "#7fb77e"),
    "aux_mw": ("auxiliary load", "#8c8c8c"),
}
EXPORT = ("export_mw", "resale / export", "#d62728")
CAPEX_COLOURS = {"gpu": "#1f77b4", "asic": "#f2a900", "conversion": "#9467bd",
                 "ai_build": "#e377c2", "grid_upgrade": "#8c564b",
                 "cooling_upgrade": "#7fb77e", "retire": "#d62728", "upfront": "#2ca02c"}
# sweep columns that are neither overrides nor decisions (the sweep table's contract)
SWEEP_OUTPUTS = ("scenario", "status", "exit_code", "npv_usd", "best_bound_usd", "mip_gap")
RESOLUTION_COLUMNS = ("resolution", "status", "npv_usd", "npv_rel_error", "total_s")
_LAYOUT = dict(template="plotly_white", margin=dict(l=70, r=30, t=70, b=60),
               legend=dict(orientation="h", yanchor="top", y=-0.15, x=0))


# ---------------------------------------------------------------------------- run data

@dataclass
class RunData:
    """The tables of one run, from a ``Result`` or a run folder (``origin`` names it)."""

    origin: str
    name: str
    status: str
    exit_code: int
    npv_usd: float | None
    best_bound_usd: float | None
    mip_gap: float | None
    mode: str  # hourly | representative
    days_per_period: int | None
    kpis: dict
    capex: pd.DataFrame | None = None
    dispatch: pd.DataFrame | None = None
    cashflows: pd.DataFrame | None = None
    marginals: pd.DataFrame | None = None
    infeasibility: pd.DataFrame | None = None
    explanation: list[str] = field(default_factory=list)
    message: str = ""
    summary: dict = field(default_factory=dict)  # summary.json as a dict
    folder: Path | None = None
    _instance: Any = field(default=None, repr=False)

    @property
    def has_solution(self) -> bool:
        return self.capex is not None

    @property
    def instance(self):
        """The instance as solved (read from the folder's instance.yaml on first use)."""
        if self._instance is None:
            from .instance import InstanceError, load_instance

            path = self.folder / "instance.yaml"
            try:
                self._instance = load_instance(path)
            except InstanceError as exc:
                raise ValueError(f"{path}: cannot be read back: {exc}") from None
        return self._instance

    def period_starts(self) -> list[pd.Timestamp]:
        """The start of every horizon period, UTC."""
        return self.instance.horizon.period_starts()[:-1]

    def sites(self) -> list[str]:
        return [] if self.dispatch is None else list(pd.unique(self.dispatch["site"]))


def _read_table(path: Path, what: str) -> pd.DataFrame:
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: cannot read the {what}: {exc}") from None


def load_run(source) -> RunData:
    """A ``RunData`` from a ``Result``, a run folder (str or Path) or a ``RunData``."""
    if isinstance(source, RunData):
        return source
    if isinstance(source, str | os.PathLike):
        return _run_from_folder(Path(source))
    if hasattr(source, "solution") and hasattr(source, "grid"):
        return _run_from_result(source)
    raise ValueError(f"expected a Result, a run folder or a RunData, got "
                     f"{type(source).__name__}")


def _run_from_result(result) -> RunData:
    grid = result.grid
    return RunData(
        origin=f"the result of {result.instance.name}", name=result.instance.name,
        status=result.status, exit_code=result.exit_code, npv_usd=result.npv_usd,
        best_bound_usd=result.best_bound_usd, mip_gap=result.mip_gap, mode=grid.mode,
        days_per_period=grid.extra.get("days_per_period"), kpis=dict(result.kpis),
        capex=result.capex, dispatch=result.dispatch, cashflows=result.cashflows,
        marginals=result.marginals, infeasibility=result.infeasibility,
        explanation=list(result.explanation), message=result.message,
        _instance=result.instance)


def _labels(frame: pd.DataFrame | None) -> pd.DataFrame | None:
    """A CSV reads an empty site or item (a portfolio-wide row) back as NaN: make it ''."""
    if frame is not None:
        for col in ("site", "item"):
            if col in frame:
                frame[col] = frame[col].fillna("").astype(str)
    return frame


def _run_from_folder(folder: Path) -> RunData:
    summary_path = folder / "summary.json"
    if not summary_path.is_file():
        raise ValueError(f"{folder}: not a run folder (no summary.json)")
    from pydantic import ValidationError

    from .results.summary import RunSummary

    try:
        summary = RunSummary.model_validate_json(summary_path.read_bytes())
    except OSError as exc:
        raise ValueError(f"{summary_path}: cannot read: {exc.strerror or exc}") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "<root>"
        raise ValueError(f"{summary_path}: {where}: {err['msg']} (got "
                         f"{str(err.get('input'))[:80]!r})") from None

    def table(name: str, what: str) -> pd.DataFrame | None:
        path = folder / name
        return _read_table(path, what) if path.is_file() else None

    capex = table("capex.csv", "capex table")
    capex = _labels(table("capex.csv", "capex table"))
    if capex is not None:
        capex["period_start"] = pd.to_datetime(capex["period_start"], utc=True)
    marginals = _labels(table("marginals.csv", "marginal values"))
    infeasibility = _labels(table("infeasibility.csv", "infeasibility table"))
    if infeasibility is not None:
        infeasibility["period_start"] = pd.to_datetime(infeasibility["period_start"], utc=True)
    res = summary.resolution
    return RunData(
        origin=str(folder), name=summary.instance, status=summary.status,
        exit_code=summary.exit_code, npv_usd=summary.npv_usd,
        best_bound_usd=summary.best_bound_usd, mip_gap=summary.mip_gap, mode=res.mode,
        days_per_period=res.days_per_period,
        kpis=summary.kpis.model_dump() if summary.kpis is not None else {},
        capex=capex, dispatch=table("dispatch.parquet", "dispatch table"),
        cashflows=table("cashflows.csv", "cash-flow table"), marginals=marginals,
        infeasibility=infeasibility, explanation=list(summary.infeasibility or []),
        message=summary.message, summary=json.loads(summary.model_dump_json()),
        folder=folder)


def _need(run: RunData, attr: str, what: str) -> pd.DataFrame:
    frame = getattr(run, attr)
    if frame is None:
        raise ValueError(f"{run.origin}: no {what}: the run has no solution (status "
                         f"{run.status})" if not run.has_solution else
                         f"{run.origin}: no {what}")
    return frame


# ---------------------------------------------------------------------------- dispatch

def _signed_ppas(run: RunData) -> set[str]:
    capex = run.capex
    rows = capex[(capex["kind"] == "ppa") & (capex["quantity"] > 0.5)]
    return set(rows["item"])


def dispatch_stack(source, site: str | None = None) -> pd.DataFrame:
    """MW by use at every step of one site: the columns of ``USES`` (summing to
    ``load_mw``), ``export_mw`` (<= 0: onsite PPA energy exported plus the unused
    volume of take-or-pay physical PPAs sold back), ``load_mw``, ``price_usd_per_mwh``
    and the step columns (``timestamp``, ``period``, ``weight`` and, on representative
    days, ``represented_day`` and ``day_count``).

    Mining is split into the part offered as reserve (``anc_mw``, which the model bounds
    by the ASICs hashing) and the rest; each GPU product's IT draw into spot, contract
    and idle parts with its ``it_kw`` and ``idle_fraction``; cooling is the sum over the
    cooling types of (PUE - 1) x IT MW; the auxiliary load is the site's ``aux_load_mw``.
    """
    run = load_run(source)
    dispatch = _need(run, "dispatch", "dispatch table")
    sites = run.sites()
    if site is None:
        site = sites[0]
    elif site not in sites:
        raise ValueError(f"{run.origin}: site: no site {site!r} in the dispatch table "
                         f"(sites: {', '.join(sites)})")
    d = dispatch[dispatch["site"] == site].reset_index(drop=True)
    inst = run.instance
    n = len(d)
    zeros = np.zeros(n)

    def col(name: str) -> np.ndarray:
        return d[name].to_numpy(dtype=float) if name in d else zeros

    out = pd.DataFrame({k: d[k] for k in ("timestamp", "period", "weight", "represented_day",
                                          "day_count") if k in d})
    anc = col("anc_mw")
    out["mining_mw"] = col("mining_it_mw") - anc
    out["reserve_mw"] = anc
    spot = contract = idle = zeros
    for prod in inst.gpu_products:
        mw_per_unit = float(prod.it_kw) / 1000.0
        busy = 1.0 - float(prod.idle_fraction)
        spot = spot + mw_per_unit * busy * col(f"spot_{prod.id}")
        contract = contract + mw_per_unit * busy * col(f"firm_{prod.id}")
        idle = idle + mw_per_unit * float(prod.idle_fraction) * col(f"installed_{prod.id}")
    out["gpu_spot_mw"], out["gpu_contract_mw"], out["gpu_idle_mw"] = spot, contract, idle
    out["lease_mw"] = col("lease_it_mw")
    cooling = zeros
    for pue in (c for c in d.columns if c.startswith("pue_")):
        q = pue[len("pue_"):]
        cooling = cooling + (d[pue].to_numpy(dtype=float) - 1.0) * col(f"it_{q}_mw")
    out["cooling_mw"] = cooling
    aux = next(float(s.aux_load_mw) for s in inst.sites if s.id == site)
    out["aux_mw"] = np.full(n, aux)
    signed = _signed_ppas(run)
    export = zeros
    for ppa in inst.ppas:
        if ppa.site != site:
            continue
        if ppa.kind == "onsite":
            export = export + col(f"out_{ppa.id}")
        elif ppa.kind == "physical" and ppa.take_or_pay and ppa.id in signed:
            unused = col(f"ppa_volume_{ppa.id}_mw") - col(f"use_{ppa.id}")
            export = export + np.maximum(unused, 0.0)
    out["export_mw"] = -export
    out["load_mw"] = col("load_mw")
    out["price_usd_per_mwh"] = col("price_usd_per_mwh")
    return out


def dispatch_figure(source, site: str | None = None) -> go.Figure:
    """Stacked area of the facility load by use (MW) with the grid price (USD/MWh) on a
    second axis. Hourly runs are drawn on a time axis; representative-day runs show the
    medoid days one after another in calendar order (the title says so, and the hover
    says how many days each stands for)."""
    run = load_run(source)
    site = site or (run.sites()[0] if run.dispatch is not None else None)
    stack = dispatch_stack(run, site)
    representative = run.mode == "representative" and "represented_day" in stack
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    if representative:
        x = np.arange(len(stack))
        day = pd.to_datetime(stack["represented_day"]).dt.strftime("%Y-%m-%d")
        hour = pd.to_datetime(stack["timestamp"], utc=True).dt.strftime("%H:00")
        custom = np.stack([day + " " + hour, stack["day_count"].astype(int).astype(str)],
                          axis=1)
        hover = "%{customdata[0]} (stands for %{customdata[1]} days)<br>"
    else:
        x = pd.to_datetime(stack["timestamp"], utc=True)
        custom = None
        hover = "%{x|%Y-%m-%d %H:00} UTC<br>"
    for key, (label, colour) in USES.items():
        y = stack[key].to_numpy()
        if not np.any(np.abs(y) > 1e-9):
            continue
        fig.add_trace(go.Scatter(
            x=x, y=y, name=label, stackgroup="load", mode="lines", line=dict(width=0.5),
            fillcolor=colour, line_color=colour, customdata=custom,
            hovertemplate=hover + label + ": %{y:,.2f} MW<extra></extra>"))
    key, label, colour = EXPORT
    if np.any(stack[key].to_numpy() < -1e-9):
        fig.add_trace(go.Scatter(
            x=x, y=stack[key], name=label, stackgroup="export", mode="lines",
            line=dict(width=0.5), fillcolor=colour, line_color=colour, customdata=custom,
            hovertemplate=hover + label + ": %{y:,.2f} MW<extra></extra>"))
    fig.add_trace(go.Scatter(
        x=x, y=stack["price_usd_per_mwh"], name="grid price", mode="lines",
        line=dict(color="#222222", width=1), customdata=custom,
        hovertemplate=hover + "grid price: %{y:,.2f} USD/MWh<extra></extra>"),
        secondary_y=True)
    if representative:
        k = run.days_per_period
        days = stack.drop_duplicates("represented_day")
        per = f", K = {k} per period" if k else ""
        title = (f"{run.name} · {site}: dispatch on representative days ({len(days)} medoid "
                 f"days{per})<br><sub>the represented days in calendar order, one after "
                 f"another; each stands for the days of its cluster (× days)</sub>")
        ticks = days.index.to_numpy()
        labels = [f"{pd.Timestamp(r):%b %d} ×{int(c)}" for r, c in
                  zip(days["represented_day"], days["day_count"])]
        axis = "representative hours, in calendar order (tick: medoid day × days it stands for)"
        if len(ticks) > 31:  # too many days to label: one tick per period
            first = days.drop_duplicates("period")
            ticks = first.index.to_numpy()
            labels = [f"{pd.Timestamp(r):%b %d %Y}" for r in first["represented_day"]]
            axis = "representative hours, in calendar order (tick: first medoid day of a period)"
        fig.update_xaxes(title_text=axis, tickmode="array", tickvals=ticks, ticktext=labels)
    else:
        title = f"{run.name} · {site}: hourly dispatch by use"
        fig.update_xaxes(title_text="time (UTC)")
    fig.update_yaxes(title_text="power (MW)", secondary_y=False)
    fig.update_yaxes(title_text="grid price (USD/MWh)", secondary_y=True, showgrid=False)
    fig.update_layout(title=dict(text=title, font=dict(size=15)), hovermode="x unified",
                      **_LAYOUT)
    return fig


# ---------------------------------------------------------------------------- capex

def capex_figure(source) -> go.Figure:
    """Capex ordered per period, stacked by kind (USD; salvage of retired ASICs and
    upfront receipts below zero). Accepted contracts, leases and PPAs cost nothing here;
    they are listed in the hover of the period's bars and in the plan table."""
    run = load_run(source)
    capex = _need(run, "capex", "capex table")
    starts = run.period_starts()
    periods = list(range(len(starts)))
    x = [f"{s:%Y-%m-%d}" for s in starts]
    deals = capex[capex["kind"].isin(("contract", "lease", "ppa"))]
    starting = {p: ", ".join(f"{r.kind} {r.item}" for r in grp.itertuples())
                for p, grp in deals.groupby("period")}
    fig = go.Figure()
    money = capex[capex["capex_usd"] != 0.0]
    for kind in [k for k in CAPEX_COLOURS if k in set(money["kind"])] + sorted(
            set(money["kind"]) - set(CAPEX_COLOURS)):
        rows = money[money["kind"] == kind]
        by_period = rows.groupby("period")["capex_usd"].sum().reindex(periods, fill_value=0.0)
        items = {p: "<br>".join(f"{r.site} {r.item}: {r.quantity:,.1f} units, "
                                f"{r.capex_usd / 1e6:,.2f} M USD" for r in g.itertuples())
                 for p, g in rows.groupby("period")}
        listed = [items.get(p, "") for p in periods]
        extra = [f"<br>starting: {starting[p]}" if p in starting else "" for p in periods]
        fig.add_trace(go.Bar(
            x=x, y=by_period.to_numpy(), name=kind.replace("_", " "), showlegend=True,
            marker_color=CAPEX_COLOURS.get(kind),
            customdata=np.array(list(zip(listed, extra)), dtype=object),
            hovertemplate="%{x}: %{y:,.0f} USD<br>%{customdata[0]}%{customdata[1]}"
                          "<extra>" + kind + "</extra>"))
    if not fig.data:  # nothing bought: an empty axis says so rather than a blank page
        fig.add_trace(go.Bar(x=x, y=[0.0] * len(x), name="no capex", showlegend=True))
    fig.update_layout(barmode="relative",
                      title=dict(text=f"{run.name}: capex by period and kind", font=dict(size=15)),
                      xaxis_title="period start", yaxis_title="capex ordered (USD)", **_LAYOUT)
    fig.update_xaxes(type="category")
    return fig


# ---------------------------------------------------------------------------- cash flows

def waterfall_figure(source) -> go.Figure:
    """Discounted cash flows by term (USD, over sites and periods), revenues first, then
    costs, ending in the NPV: the bars sum to ``npv_usd``."""
    from .model.terms import REVENUE_TERMS, TERMS

    run = load_run(source)
    cash = _need(run, "cashflows", "cash-flow table")
    by_term = cash.groupby("term")["discounted_usd"].sum()
    order = {t: i for i, t in enumerate(TERMS)}
    terms = sorted(by_term.index, key=lambda t: (t not in REVENUE_TERMS, by_term[t] < 0,
                                                 order.get(t, len(order)), t))
    values = [float(by_term[t]) for t in terms]
    npv = float(sum(values))
    fig = go.Figure(go.Waterfall(
        x=[t.replace("_", " ") for t in terms] + ["NPV"],
        y=values + [npv], measure=["relative"] * len(terms) + ["total"],
        text=[f"{v / 1e6:+,.2f}M" for v in values] + [f"{npv / 1e6:,.2f}M"],
        textposition="auto", connector=dict(line=dict(color="#999999", width=1)),
        increasing=dict(marker_color="#2ca02c"), decreasing=dict(marker_color="#d62728"),
        totals=dict(marker_color="#1f77b4"),
        hovertemplate="%{x}: %{y:,.0f} USD<extra></extra>"))
    fig.update_layout(title=dict(text=f"{run.name}: discounted cash flow by term (NPV "
                                      f"{npv / 1e6:,.2f} M USD)", font=dict(size=15)),
                      yaxis_title="discounted cash flow (USD)", xaxis_title="cash-flow term",
                      showlegend=False, **_LAYOUT)
    return fig


# ---------------------------------------------------------------------------- marginals

_UNIT_TEXT = {"usd_per_mw": "USD per MW", "usd_per_unit": "USD per unit",
              "usd_per_mwh": "USD per MWh", "usd_per_usd": "USD per USD"}
_UNIT_SHORT = {"usd_per_mw": "USD/MW", "usd_per_unit": "USD/unit", "usd_per_mwh": "USD/MWh",
               "usd_per_usd": "USD/USD"}


def marginals_figure(source, include_zero: bool = False) -> go.Figure:
    """Marginal values (the fixed-integer LP's duals) by period, one line per constraint
    group, site and item, one panel per unit. Lines that are zero in every period are
    left out unless ``include_zero`` (the title counts them)."""
    run = load_run(source)
    marg = _need(run, "marginals", "marginal values (marginals.csv)")
    if not len(marg):
        why = run.message or "the fixed-integer LP gave none"
        raise ValueError(f"{run.origin}: the marginal values table is empty ({why})")
    starts = run.period_starts()
    keys = ["group", "site", "item", "unit"]
    nonzero = marg.groupby(keys)["marginal_value"].transform(lambda v: (v.abs() > 1e-9).any())
    shown = marg if include_zero else marg[nonzero]
    hidden = marg[~nonzero].groupby(keys).ngroups if not include_zero else 0
    units = sorted(shown["unit"].unique()) or sorted(marg["unit"].unique())
    fig = make_subplots(rows=len(units), cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=[f"marginal value in {_UNIT_TEXT.get(u, u)}" for u in units])
    for i, unit in enumerate(units, start=1):
        for (group, site, item), grp in shown[shown["unit"] == unit].groupby(
                ["group", "site", "item"]):
            grp = grp.sort_values("period")
            label = " ".join(x for x in (group, site, item) if x)
            fig.add_trace(go.Scatter(
                x=[f"{starts[p]:%Y-%m-%d}" for p in grp["period"]], y=grp["marginal_value"],
                mode="lines+markers", marker=dict(size=8), name=label, legendgroup=unit,
                hovertemplate=label + " %{x}: %{y:,.2f} " + _UNIT_TEXT.get(unit, unit)
                              + "<extra></extra>"), row=i, col=1)
        fig.update_yaxes(title_text=_UNIT_SHORT.get(unit, unit), row=i, col=1)
    if not fig.data:
        fig.add_trace(go.Scatter(x=[f"{s:%Y-%m-%d}" for s in starts], y=[0.0] * len(starts),
                                 mode="lines+markers", name="every marginal value is 0"))
    note = f" ({hidden} all-zero lines left out)" if hidden else ""
    fig.update_xaxes(type="category")
    fig.update_xaxes(title_text="period start", row=len(units), col=1)
    fig.update_layout(title=dict(text=f"{run.name}: marginal values by period{note}",
                                 font=dict(size=15)),
                      height=max(420, 320 * len(units)), **_LAYOUT)
    return fig


def infeasibility_figure(source) -> go.Figure:
    """Why there is no plan: the largest shortfall of each short resource per period
    (elastic re-solve), one panel per unit."""
    run = load_run(source)
    table = _need(run, "infeasibility", "infeasibility table")
    if not len(table):
        raise ValueError(f"{run.origin}: the infeasibility table is empty")
    units = sorted(table["unit"].unique())
    fig = make_subplots(rows=len(units), cols=1, vertical_spacing=0.12,
                        subplot_titles=[f"shortfall in {u}" for u in units])
    for i, unit in enumerate(units, start=1):
        for (group, site, item), grp in table[table["unit"] == unit].groupby(
                ["group", "site", "item"]):
            label = " ".join(x for x in (group, site, item) if x)
            fig.add_trace(go.Bar(
                x=[f"{pd.Timestamp(s):%Y-%m-%d}" for s in grp["period_start"]],
                y=grp["max_slack"], name=label,
                hovertemplate=label + " %{x}: short by up to %{y:,.3f} " + unit
                              + "<extra></extra>"), row=i, col=1)
        fig.update_yaxes(title_text=f"largest shortfall ({unit})", row=i, col=1)
        fig.update_xaxes(type="category", title_text="period start", row=i, col=1)
    fig.update_layout(title=dict(text=f"{run.name}: what the instance lacks (elastic "
                                      f"re-solve)", font=dict(size=15)),
                      height=max(400, 320 * len(units)), barmode="group", **_LAYOUT)
    return fig


def run_figures(source) -> dict[str, go.Figure]:
    """Every figure a run has data for, by name: capex, waterfall, dispatch (one per
    site: ``dispatch:<site>``), marginals; infeasibility for a run without a plan."""
    run = load_run(source)
    figs: dict[str, go.Figure] = {}
    if run.has_solution:
        figs["capex"] = capex_figure(run)
        figs["waterfall"] = waterfall_figure(run)
        for site in run.sites():
            figs[f"dispatch:{site}"] = dispatch_figure(run, site)
        if run.marginals is not None and len(run.marginals):
            figs["marginals"] = marginals_figure(run)
    if run.infeasibility is not None and len(run.infeasibility):
        figs["infeasibility"] = infeasibility_figure(run)
    return figs


# ---------------------------------------------------------------------------- sweeps

def read_sweep(source) -> pd.DataFrame:
    """The sweep table from a DataFrame, a sweep folder (``sweep.parquet``) or a
    ``.parquet`` / ``.csv`` file."""
    if isinstance(source, pd.DataFrame):
        return source
    path = Path(source)
    if path.is_dir():
        if (path / "sweep.parquet").is_file():
            path = path / "sweep.parquet"
        elif (path / "sweep.csv").is_file():
            path = path / "sweep.csv"
        else:
            raise ValueError(f"{path}: not a sweep folder (no sweep.parquet)")
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    table = _read_table(path, "sweep table")
    table.attrs["origin"] = str(path)
    return table


def _origin(table: pd.DataFrame, default: str = "the sweep table") -> str:
    return table.attrs.get("origin", default)


def override_columns(table: pd.DataFrame) -> list[str]:
    """The override columns of a sweep table: those between ``scenario`` and ``status``
    (the sweep table's column order); failing that, every column named by a dotted path
    (``market.x``, ``gpu_products[id].y``) that is not an output."""
    cols = list(table.columns)
    if "scenario" in cols and "status" in cols:
        # the scenario's hash (sweep.parquet) sits beside its id, not among the overrides
        between = [c for c in cols[cols.index("scenario") + 1:cols.index("status")]
                   if c != "hash"]
        if between:
            return between
    return [c for c in cols if c not in SWEEP_OUTPUTS and ("." in c or "[" in c)]


def value_columns(table: pd.DataFrame) -> list[str]:
    """Numeric columns a heatmap can show: ``npv_usd`` first, then the decision columns
    (numeric columns that are neither overrides nor run bookkeeping)."""
    overrides = set(override_columns(table))
    skip = overrides | {"scenario", "status", "exit_code"}
    out = [c for c in table.columns if c not in skip
           and pd.api.types.is_numeric_dtype(table[c])]
    return sorted(out, key=lambda c: c != "npv_usd")


def sweep_levels(series: pd.Series) -> list:
    """The distinct values of an override column, sorted (empty cells left out)."""
    values = series.dropna().unique().tolist()
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=str)


def sweep_base(table: pd.DataFrame, overrides: Sequence[str] | None = None) -> dict:
    """The base value of every override: the scenario named ``base`` if there is one
    (NaN where it leaves the instance value), else each override's middle level (the
    lower of the two middle ones for an even count)."""
    overrides = list(overrides if overrides is not None else override_columns(table))
    if "scenario" in table:
        named = table[table["scenario"].astype(str).str.lower() == "base"]
        if len(named):
            row = named.iloc[0]
            return {c: row[c] for c in overrides}
    base = {}
    for c in overrides:
        levels = sweep_levels(table[c])
        base[c] = levels[(len(levels) - 1) // 2] if levels else np.nan
    return base


def _at(series: pd.Series, value) -> pd.Series:
    """Rows holding ``value``; an empty cell means the instance's own value, which a base
    left empty (or any base, for a one-at-a-time sweep) stands for."""
    empty = series.isna()
    if isinstance(value, float) and np.isnan(value):
        return empty
    return empty | (series == value)


def _show(value) -> str:
    """A cell as the user would write it: 50.0, 'air' (no numpy type names)."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _check_columns(table: pd.DataFrame, names: dict[str, str | None]) -> None:
    for key, name in names.items():
        if name is not None and name not in table.columns:
            raise ValueError(f"{_origin(table)}: {key}: no column {name!r} (columns: "
                             f"{', '.join(map(str, table.columns))})")


def heatmap_table(sweep, x: str | None = None, y: str | None = None,
                  value: str = "npv_usd", fixed: dict | None = None) -> pd.DataFrame:
    """The pivot a heatmap draws: ``value`` by ``y`` (rows) and ``x`` (columns), over
    the scenarios whose other overrides sit at ``fixed`` (default: their base values,
    ``sweep_base``). Two scenarios in one cell are an error (name a ``fixed`` value)."""
    table = read_sweep(sweep)
    overrides = override_columns(table)
    if x is None or y is None:
        if len(overrides) < 2:
            raise ValueError(f"{_origin(table)}: a heatmap needs two override columns; the "
                             f"table has {len(overrides)} ({', '.join(overrides) or 'none'})")
        x, y = x or overrides[0], y or (overrides[1] if overrides[0] != x else overrides[0])
    _check_columns(table, {"x": x, "y": y, "value": value})
    if x == y:
        raise ValueError(f"{_origin(table)}: x and y: the same column {x!r}")
    base = sweep_base(table, [c for c in overrides if c not in (x, y)])
    base.update(fixed or {})
    keep = table[x].notna() & table[y].notna()
    for c, v in base.items():
        keep &= _at(table[c], v)
    rows = table[keep]
    dup = rows.duplicated([x, y], keep=False)
    if dup.any():
        first = rows[dup].iloc[0]
        names = rows[dup & (rows[x] == first[x]) & (rows[y] == first[y])]
        who = ", ".join(map(str, names["scenario"])) if "scenario" in rows else \
            f"{len(names)} rows"
        raise ValueError(f"{_origin(table)}: {x}={_show(first[x])}, {y}={_show(first[y])}: "
                         f"several scenarios ({who}); fix the other overrides with "
                         f"fixed={{...}}")
    pivot = rows.pivot(index=y, columns=x, values=value)
    return pivot.reindex(index=sweep_levels(rows[y]), columns=sweep_levels(rows[x]))


def _unit(name: str) -> str:
    """'market.hashprice_usd_per_ph_day' -> 'USD per PH per day'; '' if none is named."""
    last = re.split(r"[.\]]", name)[-1] or name
    fixed = {"mip_gap": "fraction", "npv_rel_error": "fraction"}
    if last in fixed:
        return fixed[last]
    m = re.search(r"_usd(_per_(.+))?$", last)
    if m:
        rest = m.group(2)
        if rest is None:
            return "USD"
        words = rest.replace("gpu_hour", "GPU-hour").split("_")
        upper = {"mw": "MW", "mwh": "MWh", "kw": "kW", "ph": "PH", "th": "TH", "eh": "EH"}
        return "USD per " + " per ".join(upper.get(w, w) for w in words)
    for suffix, unit in (("_mwh", "MWh"), ("_mw", "MW"), ("_kw", "kW"), ("_s", "s"),
                         ("_units", "units"), ("_fraction", "fraction")):
        if last.endswith(suffix):
            return unit
    return ""


def _titled(name: str) -> str:
    unit = _unit(name)
    return f"{name} ({unit})" if unit else name


def sweep_heatmap(sweep, x: str | None = None, y: str | None = None,
                  value: str = "npv_usd", fixed: dict | None = None) -> go.Figure:
    """Heatmap of ``value`` over two override axes (``heatmap_table``); the default axes
    are the first two override columns. Empty cells: scenarios without a solution."""
    table = read_sweep(sweep)
    pivot = heatmap_table(table, x, y, value, fixed)
    x, y = pivot.columns.name, pivot.index.name
    z = pivot.to_numpy(dtype=float)
    finite = z[np.isfinite(z)]
    diverging = finite.size and finite.min() < 0 < finite.max()
    scale = 1e6 if value.endswith("_usd") else 1.0
    text = [[("" if not np.isfinite(v) else f"{v / scale:,.2f}" + ("M" if scale > 1 else ""))
             for v in row] for row in z]
    overrides = override_columns(table)
    others = [c for c in overrides if c not in (x, y)]
    base = sweep_base(table, others)
    base.update(fixed or {})
    held = ", ".join(f"{c} = {v}" for c, v in base.items())
    fig = go.Figure(go.Heatmap(
        x=[str(v) for v in pivot.columns], y=[str(v) for v in pivot.index], z=z,
        text=text, texttemplate="%{text}", colorscale="RdBu" if diverging else "Viridis",
        zmid=0 if diverging else None, colorbar=dict(title=dict(text=_titled(value))),
        hovertemplate=f"{x} = %{{x}}<br>{y} = %{{y}}<br>{value} = %{{z:,.4g}}<extra></extra>"))
    fig.update_layout(
        title=dict(text=f"{value} over {x} × {y}" + (f"<br><sub>other overrides at {held}</sub>"
                                                      if held else ""), font=dict(size=15)),
        xaxis_title=_titled(x), yaxis_title=_titled(y), **_LAYOUT)
    fig.update_xaxes(type="category")
    fig.update_yaxes(type="category")
    return fig


def tornado_table(sweep, value: str = "npv_usd", base: dict | None = None) -> pd.DataFrame:
    """One row per override: ``value`` at its lowest and highest setting, the smallest
    and largest over all its settings and the swing (largest - smallest), each over the
    scenarios holding the other overrides at their base values (``sweep_base``); sorted
    by swing, largest first. Overrides no such scenario varies are left out."""
    table = read_sweep(sweep)
    _check_columns(table, {"value": value})
    overrides = override_columns(table)
    if not overrides:
        raise ValueError(f"{_origin(table)}: no override column (expected columns between "
                         f"'scenario' and 'status', named by their dotted path)")
    base = {**sweep_base(table, overrides), **(base or {})}
    rows = []
    for c in overrides:
        keep = table[c].notna()
        for other in overrides:
            if other != c:
                keep &= _at(table[other], base[other])
        sub = table[keep].dropna(subset=[value])
        if sub[c].nunique() < 2:
            continue
        dup = sub.duplicated([c], keep=False)
        if dup.any():
            level = sub[dup].iloc[0][c]
            raise ValueError(f"{_origin(table)}: {c}={_show(level)}: several scenarios with "
                             f"the other overrides at their base values; pass base={{...}}")
        levels = sweep_levels(sub[c])
        by = sub.set_index(c)[value]
        rows.append({"override": c, "low_setting": levels[0], "high_setting": levels[-1],
                     "value_at_low": float(by[levels[0]]),
                     "value_at_high": float(by[levels[-1]]),
                     "min_value": float(by.min()), "max_value": float(by.max()),
                     "swing": float(by.max() - by.min()), "scenarios": len(sub)})
    if not rows:
        raise ValueError(f"{_origin(table)}: no override varies while the others sit at "
                         f"their base values ({base}); a tornado needs a one-at-a-time or "
                         f"a grid sweep")
    out = pd.DataFrame(rows).sort_values("swing", ascending=False, kind="stable")
    return out.reset_index(drop=True)


def tornado_figure(sweep, value: str = "npv_usd", base: dict | None = None) -> go.Figure:
    """Tornado of ``value``: per override, a bar from its smallest to its largest value
    over the override's settings with the others at base (``tornado_table``), widest
    on top, with markers at the lowest and highest setting and a line at the base
    scenario's value when the sweep holds it."""
    table = read_sweep(sweep)
    tor = tornado_table(table, value, base)
    overrides = override_columns(table)
    base_values = {**sweep_base(table, overrides), **(base or {})}
    at_base = pd.Series(True, index=table.index)
    for c, v in base_values.items():
        at_base &= _at(table[c], v)
    base_value = table.loc[at_base, value].dropna()
    scale, unit = (1e6, "M USD") if value.endswith("_usd") else (1.0, _unit(value))
    names = tor["override"].tolist()[::-1]  # plotly draws the first category at the bottom
    tor = tor.iloc[::-1]
    fig = go.Figure()
    fig.add_trace(go.Bar(
        y=names, x=tor["swing"] / scale, base=tor["min_value"] / scale, orientation="h",
        marker_color="#9ecae1", name="range over the settings",
        customdata=np.stack([tor["swing"] / scale, tor["scenarios"]], axis=1),
        hovertemplate="%{y}: swing %{customdata[0]:,.3f} " + unit
                      + " over %{customdata[1]} scenarios<extra></extra>"))
    for col, setting, colour, label in (("value_at_low", "low_setting", "#d62728",
                                         "lowest setting"),
                                        ("value_at_high", "high_setting", "#2ca02c",
                                         "highest setting")):
        fig.add_trace(go.Scatter(
            y=names, x=tor[col] / scale, mode="markers", name=label,
            marker=dict(color=colour, size=18, symbol="line-ns", line=dict(width=4,
                                                                            color=colour)),
            customdata=tor[setting].astype(str),
            hovertemplate="%{y} = %{customdata}: %{x:,.3f} " + unit + "<extra></extra>"))
    if len(base_value):
        fig.add_vline(x=float(base_value.iloc[0]) / scale, line_dash="dash",
                      line_color="#444444", annotation_text="base",
                      annotation_position="top")
    fig.update_layout(
        title=dict(text=f"{value}: swing per override, the others at their base values",
                   font=dict(size=15)),
        xaxis_title=f"{value} ({unit})" if unit else value, yaxis_title="override",
        height=max(380, 120 + 50 * len(names)), **_LAYOUT)
    fig.update_layout(margin=dict(l=max(70, 7 * max(len(n) for n in names))))
    return fig


# ---------------------------------------------------------------------------- resolution

def read_resolution_table(source) -> pd.DataFrame:
    """The ``compare-resolution`` table from a DataFrame or its CSV file."""
    if isinstance(source, pd.DataFrame):
        table = source
    else:
        path = Path(source)
        if not path.is_file():
            raise ValueError(f"{path}: no such file")
        table = _read_table(path, "compare-resolution table")
        table.attrs["origin"] = str(path)
    missing = [c for c in RESOLUTION_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{_origin(table, 'the compare-resolution table')}: missing column "
                         f"{missing[0]!r} (a compare-resolution table has "
                         f"{', '.join(RESOLUTION_COLUMNS)}, ...)")
    return table


def resolution_figure(source) -> go.Figure:
    """``compare-resolution``: NPV error against hourly (%, bars) and the time of each
    solve (s, line on a second axis), by resolution; the hover gives the NPV and the
    plan differences."""
    table = read_resolution_table(source)
    labels = table["resolution"].astype(str).tolist()
    err = table["npv_rel_error"].astype(float) * 100.0
    plan = table.get("plan_differences", pd.Series([""] * len(table))).fillna("").astype(str)
    npv = table["npv_usd"].astype(float)
    custom = np.stack([(npv / 1e6).map(lambda v: f"{v:,.3f}" if np.isfinite(v) else "none"),
                       table["status"].astype(str),
                       plan.map(lambda s: s if s else "same plan as hourly")], axis=1)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Bar(
        x=labels, y=err, name="NPV error against hourly", marker_color="#1f77b4",
        customdata=custom, text=[f"{v:.2f}%" if np.isfinite(v) else "" for v in err],
        textposition="outside",
        hovertemplate="%{x}: error %{y:.3f} %<br>NPV %{customdata[0]} M USD "
                      "(%{customdata[1]})<br>%{customdata[2]}<extra></extra>"))
    fig.add_trace(go.Scatter(
        x=labels, y=table["total_s"], name="total time", mode="lines+markers",
        marker_color="#ff7f0e", hovertemplate="%{x}: %{y:.1f} s<extra></extra>"),
        secondary_y=True)
    if "solve_s" in table:
        fig.add_trace(go.Scatter(
            x=labels, y=table["solve_s"], name="solve time", mode="lines+markers",
            line=dict(dash="dot"), marker_color="#8c564b",
            hovertemplate="%{x}: %{y:.1f} s<extra></extra>"), secondary_y=True)
    fig.update_yaxes(title_text="NPV error against hourly (%)", secondary_y=False)
    fig.update_yaxes(title_text="time (s)", secondary_y=True, showgrid=False,
                     rangemode="tozero")
    fig.update_xaxes(title_text="resolution", type="category")
    fig.update_layout(title=dict(text="Representative days against hourly: NPV error and "
                                      "solve time", font=dict(size=15)), **_LAYOUT)
    return fig
