"""``hashpivot report PATH [--out FILE.html]``: one self-contained HTML page per folder.

A run folder (``summary.json``) gives the plan, the KPIs, the figures of
``optimizer.plots``, the marginal values and, for a run without a plan, the
infeasibility explanation; a sweep folder (``sweep.parquet``) its heatmaps, tornado and
scenario table; a batch folder (``batch.csv``) its table, an NPV chart and the diff.
plotly.js is inlined once in the page's head, so the page opens offline and loads
nothing. The page is written atomically (a temporary file, then a rename).

``write_report(path, out)`` is the library function; ``report_command`` (mounted by the
CLI as ``hashpivot report``) and ``app`` (``python -m optimizer.report``) wrap it.
"""

from __future__ import annotations

import html
import math
import numbers
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import typer

from . import __version__

__all__ = ["Report", "ReportError", "app", "batch_report", "build_report", "folder_kind",
           "report_command", "run_report", "sweep_report", "write_report"]

# figures fill the page width; the modebar keeps zoom and the PNG download, which work
# offline, and drops the logo link
PLOT_CONFIG = {"displaylogo": False, "responsive": True}
MAX_TABLE_ROWS = 500


class ReportError(ValueError):
    """A path or a file the report cannot be made from; the message is for the user."""


@dataclass
class Report:
    kind: str  # run | sweep | batch
    title: str
    html: str
    figures: list[str] = field(default_factory=list)  # the ids of the figure divs


def folder_kind(path: str | os.PathLike) -> str:
    """'run', 'sweep' or 'batch', from the file that marks the folder."""
    path = Path(path)
    if not path.exists():
        raise ReportError(f"{path}: no such folder")
    if not path.is_dir():
        raise ReportError(f"{path}: not a folder; give a run, sweep or batch folder")
    for marker, kind in (("sweep.parquet", "sweep"), ("batch.csv", "batch"),
                         ("summary.json", "run")):
        if (path / marker).is_file():
            return kind
    raise ReportError(f"{path}: not a run, sweep or batch folder (it holds no summary.json, "
                      f"sweep.parquet or batch.csv)")


# ---------------------------------------------------------------------------- page

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2733;
background:#f6f7f9}
header{background:#1d2733;color:#fff;padding:18px 32px}
header h1{margin:0;font-size:1.5em}
header p{margin:4px 0 0;color:#c9d1dc}
nav{padding:8px 32px;background:#e8ecf1;font-size:.95em}
nav a{margin-right:18px;color:#1d4f91;text-decoration:none}
main{padding:8px 32px 32px;max-width:1400px}
section{background:#fff;border:1px solid #dde3ea;border-radius:6px;margin:18px 0;
padding:8px 20px 16px}
h2{font-size:1.2em;border-bottom:1px solid #e4e8ee;padding-bottom:6px}
table{border-collapse:collapse;font-size:.9em;margin:8px 0;display:block;overflow-x:auto;
max-width:100%}
th,td{border:1px solid #dde3ea;padding:4px 9px;text-align:left;vertical-align:top}
th{background:#eef2f6}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.status-ok{color:#1a7f37;font-weight:600}.status-bad{color:#b42318;font-weight:600}
.figure{margin:12px 0 24px}
.note{color:#5b6675;font-size:.9em}
pre{background:#f3f5f8;padding:10px;overflow-x:auto;font-size:.85em}
footer{padding:12px 32px;color:#5b6675;font-size:.85em}
"""


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _num(value, fmt: str = ",.2f") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return format(value, fmt)


def _musd(value) -> str:
    return "–" if value is None or (isinstance(value, float) and not math.isfinite(value)) \
        else f"{value / 1e6:,.2f} M USD"


def _status(status: str) -> str:
    cls = "status-ok" if status in ("optimal", "time_limit") else "status-bad"
    return f'<span class="{cls}">{_e(status)}</span>'


def _kv_table(rows: list[tuple[str, str]]) -> str:
    """Two-column table; values are HTML already."""
    body = "".join(f"<tr><th>{_e(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<table class="kv">{body}</table>'


def _cell(column: str, value) -> str:
    """Default text of a cell: USD columns in millions, large numbers without exponent."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        if column.endswith("_usd"):
            return _musd(float(value))
        if isinstance(value, float):
            return f"{value:,.0f}" if abs(value) >= 1e4 else f"{value:,.6g}"
    return str(value)


def _table(frame: pd.DataFrame, formats: dict | None = None, links: dict | None = None,
           limit: int = MAX_TABLE_ROWS) -> str:
    """A DataFrame as an HTML table, escaped, numbers right-aligned; ``formats`` maps a
    column to a function of the cell giving text, ``links`` a column to hrefs by row."""
    formats = formats or {}
    links = links or {}
    shown = frame.head(limit)
    head = "".join(f"<th>{_e(c)}</th>" for c in shown.columns)
    cols = [(c, shown[c].tolist()) for c in shown.columns]  # native Python values
    rows = []
    for i in range(len(shown)):
        cells = []
        for c, values in cols:
            v = values[i]
            missing = v is None or (isinstance(v, float) and math.isnan(v))
            text = "" if missing else formats[c](v) if c in formats else _cell(c, v)
            numeric = isinstance(v, numbers.Real) and not isinstance(v, bool)
            href = links.get(c, {}).get(i)
            inner = f'<a href="{_e(href)}">{_e(text)}</a>' if href else _e(text)
            cells.append(f'<td class="num">{inner}</td>' if numeric else f"<td>{inner}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    more = (f'<p class="note">{len(frame) - limit:,} more rows not shown (of {len(frame):,}).'
            f"</p>" if len(frame) > limit else "")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>{more}"


class _Page:
    """Sections and figures of one page, in order."""

    def __init__(self, kind: str, title: str, subtitle: str):
        self.kind, self.title, self.subtitle = kind, title, subtitle
        self.sections: list[tuple[str, str, str]] = []  # (anchor, heading, html)
        self.figures: list[str] = []

    def section(self, anchor: str, heading: str, body: str) -> None:
        self.sections.append((anchor, heading, body))

    def figure(self, name: str, fig) -> str:
        import plotly.io as pio

        div_id = f"fig-{len(self.figures) + 1}-" + "".join(
            ch if ch.isalnum() else "-" for ch in name)
        self.figures.append(div_id)
        height = int(fig.layout.height or 520)
        return ('<div class="figure">' + pio.to_html(
            fig, full_html=False, include_plotlyjs=False, div_id=div_id, config=PLOT_CONFIG,
            default_width="100%", default_height=f"{height}px") + "</div>")

    def render(self) -> Report:
        from plotly.offline import get_plotlyjs

        nav = "".join(f'<a href="#{_e(a)}">{_e(h)}</a>' for a, h, _ in self.sections)
        body = "".join(f'<section id="{_e(a)}"><h2>{_e(h)}</h2>{b}</section>'
                       for a, h, b in self.sections)
        page = (
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<meta name=\"generator\" content=\"hashpivot {_e(__version__)}\">"
            f"<title>{_e(self.title)}</title><style>{_CSS}</style>"
            # plotly.js itself, once, so that the page needs no network
            "<script type=\"text/javascript\">window.PlotlyConfig = {MathJaxConfig: 'local'};"
            "</script>\n<script type=\"text/javascript\">" + get_plotlyjs() + "</script>\n"
            f"</head><body><header><h1>{_e(self.title)}</h1><p>{_e(self.subtitle)}</p>"
            f"</header><nav>{nav}</nav><main>{body}</main>"
            f"<footer>hashpivot {_e(__version__)} · {self.kind} report · "
            f"{len(self.figures)} figures</footer></body></html>\n")
        return Report(self.kind, self.title, page, list(self.figures))


# ---------------------------------------------------------------------------- run page

def _kpi_rows(run) -> list[tuple[str, str]]:
    rows = [("status", f"{_status(run.status)} (exit code {run.exit_code})"),
            ("NPV", _e(_musd(run.npv_usd))), ("best bound", _e(_musd(run.best_bound_usd))),
            ("MIP gap", _e(_num(run.mip_gap, ".2e")))]
    res = run.summary.get("resolution", {})
    steps = res.get("steps")
    k = f", {run.days_per_period} representative days per period" if run.days_per_period \
        else ""
    rows.append(("resolution", _e(f"{run.mode}{k}" + (f", {steps:,} steps per site"
                                                      if steps else ""))))
    kp = run.kpis
    if kp:
        rows += [
            ("capex ordered", _e(_musd(kp.get("total_capex_usd")))),
            ("capex by kind", _e(", ".join(f"{k} {_musd(v)}" for k, v in
                                           kp.get("capex_by_kind_usd", {}).items()) or "none")),
            ("revenue by term (undiscounted)",
             _e(", ".join(f"{k.replace('_', ' ')} {_musd(v)}" for k, v in
                          kp.get("revenue_usd", {}).items()) or "none")),
            ("AI share of site energy", _e(f"{kp.get('ai_share_of_site_energy', 0):.1%}")),
            ("mining uptime", _e(f"{kp.get('mining_uptime', 0):.1%}")),
            ("energy (MWh)", _e(", ".join(f"{k.removesuffix('_mwh')} {v:,.0f}" for k, v in
                                          kp.get("energy_mwh", {}).items()))),
            ("GPU units bought", _e(", ".join(f"{k} {v:,.0f}" for k, v in
                                              kp.get("gpu_units_bought", {}).items()) or "none")),
            ("ASICs bought", _e(", ".join(f"{k} {v:,.0f}" for k, v in
                                          kp.get("asics_bought", {}).items()) or "none")),
            ("ASICs retired", _e(f"{kp.get('asics_retired', 0):,.0f}")),
            ("contracts accepted", _e(", ".join(kp.get("accepted_contracts", [])) or "none")),
            ("leases accepted", _e(", ".join(kp.get("accepted_leases", [])) or "none")),
            ("PPAs signed", _e(", ".join(kp.get("signed_ppas", [])) or "none")),
        ]
    timings = run.summary.get("timings_s")
    if timings:
        rows.append(("times (s)", _e("  ".join(f"{k} {v:.2f}" for k, v in timings.items()))))
    solver = run.summary.get("solver")
    if solver:
        rows.append(("solver", _e(f"HiGHS {solver.get('version', '')}, "
                                  f"{solver.get('method', '')}")))
    if run.message:
        rows.append(("message", _e(run.message)))
    return rows


def run_report(source) -> Report:
    """The page of one run, from a run folder or a ``Result``."""
    from . import plots

    try:
        run = plots.load_run(source)
    except ValueError as exc:
        raise ReportError(str(exc)) from None
    page = _Page("run", f"Hashpivot run: {run.name}",
                 f"{run.origin} · status {run.status} · NPV {_musd(run.npv_usd)}")
    page.section("kpis", "Key figures", _kv_table(_kpi_rows(run)))
    try:
        figs = plots.run_figures(run)
    except ValueError as exc:
        raise ReportError(str(exc)) from None
    if run.has_solution:
        cap = run.capex.copy()
        body = '<p class="note">Every build, purchase, retirement and accepted deal, by period ' \
               '(capex in USD; salvage and upfront receipts are negative).</p>'
        if len(cap):
            cap["period_start"] = pd.to_datetime(cap["period_start"]).dt.strftime("%Y-%m-%d")
            body += _table(cap, {"quantity": lambda v: f"{v:,.2f}",
                                 "capex_usd": lambda v: f"{v:,.0f}"})
        else:
            body += "<p>Nothing is bought, converted, retired or signed.</p>"
        body += page.figure("capex", figs.pop("capex"))
        page.section("plan", "Plan", body)
        page.section("cashflows", "Cash flows",
                     '<p class="note">Discounted cash flows by term over every site and '
                     'period; the last bar is their sum, the NPV.</p>'
                     + page.figure("waterfall", figs.pop("waterfall")))
        dispatch = [page.figure(name, fig) for name, fig in list(figs.items())
                    if name.startswith("dispatch:")]
        note = ('<p class="note">The facility load by use, stacked (MW; cooling overhead is '
                '(PUE - 1) times the IT load); energy sold back or exported is drawn below '
                'zero; the grid price on the right axis.'
                + (" The run uses representative days: the medoid days are drawn one after "
                   "another in calendar order, and the hover says how many days each stands "
                   "for." if run.mode == "representative" else "") + "</p>")
        page.section("dispatch", "Dispatch", note + "".join(dispatch))
    if run.marginals is not None:
        marg = run.marginals
        nonzero = marg[marg["marginal_value"].abs() > 1e-9].copy()
        body = ('<p class="note">What one more unit of each resource would add to the NPV, '
                'from the LP with the integer decisions fixed (USD per unit of the '
                f'resource). {len(marg) - len(nonzero):,} of {len(marg):,} values are zero '
                '(slack resources) and are not listed.</p>')
        if "marginals" in figs:
            body += page.figure("marginals", figs.pop("marginals"))
        if len(nonzero):
            starts = run.period_starts()
            nonzero.insert(4, "period_start",
                           [f"{starts[p]:%Y-%m-%d}" for p in nonzero["period"]])
            body += _table(nonzero, {"marginal_value": lambda v: f"{v:,.2f}"})
        page.section("marginals", "Marginal values", body)
    if run.explanation or (run.infeasibility is not None and len(run.infeasibility)):
        body = "<p>The solver found no plan. An elastic re-solve lets each hard limit be " \
               "exceeded at a cost and reports what it had to exceed:</p>"
        body += "<ul>" + "".join(f"<li>{_e(s)}</li>" for s in run.explanation) + "</ul>"
        if "infeasibility" in figs:
            body += page.figure("infeasibility", figs.pop("infeasibility"))
        if run.infeasibility is not None and len(run.infeasibility):
            table = run.infeasibility.copy()
            table["period_start"] = pd.to_datetime(table["period_start"]).dt.strftime("%Y-%m-%d")
            body += _table(table)
        page.section("infeasibility", "Why there is no plan", body)
    elif not run.has_solution:
        page.section("infeasibility", "No plan",
                     f"<p>The run has no solution (status {_e(run.status)}). "
                     f"{_e(run.message)}</p>")
    return page.render()


# ---------------------------------------------------------------------------- sweep page

SKIP_HEATMAP = ("best_bound_usd", "mip_gap")
MAX_HEATMAPS = 6


def sweep_report(source) -> Report:
    """The page of a sweep: a heatmap of the NPV and of each decision column that varies
    over the first two overrides, the tornado of the NPV, the scenario table."""
    from . import plots

    try:
        table = plots.read_sweep(source)
    except ValueError as exc:
        raise ReportError(str(exc)) from None
    origin = table.attrs.get("origin", "sweep table")
    overrides = plots.override_columns(table)
    page = _Page("sweep", f"Hashpivot sweep: {Path(origin).parent.name or origin}",
                 f"{origin} · {len(table):,} scenarios")
    status = table["status"].value_counts().to_dict() if "status" in table else {}
    base = plots.sweep_base(table, overrides)
    rows = [("scenarios", _e(f"{len(table):,}")),
            ("status", _e(", ".join(f"{k} {v}" for k, v in status.items()) or "–"))]
    for c in overrides:
        levels = plots.sweep_levels(table[c])
        rows.append((f"override {c}", _e(f"{len(levels)} values: "
                                         + ", ".join(map(str, levels[:20]))
                                         + (" …" if len(levels) > 20 else "")
                                         + f" (base {base[c]})")))
    if "npv_usd" in table and table["npv_usd"].notna().any():
        npv = table["npv_usd"]
        rows.append(("NPV", _e(f"{_musd(npv.min())} to {_musd(npv.max())}")))
    page.section("overview", "Overview", _kv_table(rows))
    notes = []
    if len(overrides) < 2:
        notes.append(f"a heatmap needs two override columns; this sweep has "
                     f"{len(overrides)}")
    else:
        values = [c for c in plots.value_columns(table) if c not in SKIP_HEATMAP
                  and table[c].nunique(dropna=True) > 1]
        if "npv_usd" in table and "npv_usd" not in values:
            values.insert(0, "npv_usd")
        if len(values) > MAX_HEATMAPS:
            notes.append(f"{len(values) - MAX_HEATMAPS} more value columns have no heatmap "
                         f"here: {', '.join(values[MAX_HEATMAPS:])}")
        try:
            heatmaps = [(v, plots.sweep_heatmap(table, overrides[0], overrides[1], v))
                        for v in values[:MAX_HEATMAPS]]
        except ValueError as exc:  # e.g. a random design: no grid at the base values
            heatmaps = []
            notes.append(f"no heatmap: {exc}")
        if heatmaps:
            others = ", the other overrides at their base values" if len(overrides) > 2 else ""
            page.section("heatmaps", "Heatmaps",
                         f'<p class="note">Over {_e(overrides[0])} and {_e(overrides[1])}'
                         f"{others}; an empty cell is a scenario without a solution.</p>"
                         + "".join(page.figure(f"heatmap-{v}", fig) for v, fig in heatmaps))
    if overrides and "npv_usd" in table:
        try:
            fig = plots.tornado_figure(table)
            tornado = plots.tornado_table(table)
        except ValueError as exc:
            notes.append(f"no tornado: {exc}")
        else:
            page.section("tornado", "Tornado",
                         '<p class="note">The range of the NPV as each override moves over '
                         'its values with the others at their base values.</p>'
                         + page.figure("tornado", fig) + _table(tornado, {
                             c: _musd for c in ("value_at_low", "value_at_high", "min_value",
                                                "max_value", "swing")}))
    if notes:
        page.section("notes", "Notes", "<ul>" + "".join(f"<li>{_e(n)}</li>" for n in notes)
                     + "</ul>")
    page.section("scenarios", "Scenarios", _table(table))
    return page.render()


# ---------------------------------------------------------------------------- batch page

BATCH_COLUMNS = ("instance", "status", "exit_code", "npv_usd", "mip_gap", "seconds",
                 "run_folder", "error")
RUN_COLUMN = "run_folder"  # batch.csv: the run folder, relative to the batch folder


def _batch_figure(batch: pd.DataFrame):
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    names = batch["instance"].astype(str).tolist()
    npv = pd.to_numeric(batch["npv_usd"], errors="coerce")
    seconds = pd.to_numeric(batch["seconds"], errors="coerce")
    colours = ["#1f77b4" if s in ("optimal", "time_limit") else "#d62728"
               for s in batch["status"].astype(str)]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("NPV (USD)", "wall time (s)"),
                        horizontal_spacing=0.12)
    fig.add_trace(go.Bar(x=names, y=npv, marker_color=colours, name="NPV",
                         customdata=batch["status"].astype(str),
                         hovertemplate="%{x}: %{y:,.0f} USD (%{customdata})<extra></extra>"),
                  row=1, col=1)
    unsolved = npv.isna()
    if unsolved.any():  # no bar to see: the status says why
        fig.add_trace(go.Scatter(
            x=[n for n, u in zip(names, unsolved) if u], y=[0.0] * int(unsolved.sum()),
            mode="text", text=batch.loc[unsolved, "status"].astype(str).tolist(),
            textposition="top center", textfont=dict(color="#d62728"), hoverinfo="skip"),
            row=1, col=1)
    fig.add_trace(go.Bar(x=names, y=seconds, marker_color="#8c8c8c", name="time",
                         hovertemplate="%{x}: %{y:,.1f} s<extra></extra>"), row=1, col=2)
    fig.update_yaxes(title_text="NPV (USD)", row=1, col=1)
    fig.update_yaxes(title_text="time (s)", row=1, col=2)
    fig.update_xaxes(title_text="instance", type="category")
    fig.update_layout(title=dict(text="NPV and time per instance (red: no solution)",
                                 font=dict(size=15)), showlegend=False,
                      template="plotly_white", margin=dict(l=70, r=30, t=80, b=60))
    return fig


def batch_report(folder: str | os.PathLike, out: str | os.PathLike | None = None) -> Report:
    """The page of a batch folder: the batch table (each run linked when its folder
    exists, relative to ``out``), NPV and time per instance, and the diff."""
    folder = Path(folder)
    path = folder / "batch.csv"
    try:
        batch = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise ReportError(f"{path}: cannot read the batch table: {exc}") from None
    missing = [c for c in ("instance", "status", "npv_usd", "seconds") if c not in batch]
    if missing:
        raise ReportError(f"{path}: missing column {missing[0]!r} (a batch table has "
                          f"{', '.join(BATCH_COLUMNS)})")
    here = Path(out).resolve().parent if out is not None else folder.resolve()
    links = {}
    if RUN_COLUMN in batch:
        for i, rd in enumerate(batch[RUN_COLUMN]):
            if isinstance(rd, str) and rd:
                target = Path(rd) if Path(rd).is_absolute() else folder / rd
                if target.is_dir():
                    page_file = target / "report.html"
                    links[i] = os.path.relpath(page_file if page_file.is_file() else target,
                                               here)
    status = batch["status"].astype(str).value_counts().to_dict()
    page = _Page("batch", f"Hashpivot batch: {folder.resolve().name}",
                 f"{folder} · {len(batch):,} instances")
    page.section("overview", "Overview", _kv_table([
        ("instances", _e(f"{len(batch):,}")),
        ("status", _e(", ".join(f"{k} {v}" for k, v in status.items()))),
        ("total time", _e(f"{pd.to_numeric(batch['seconds'], errors='coerce').sum():,.1f} s"))]))
    page.section("runs", "Runs", page.figure("batch", _batch_figure(batch)) + _table(
        batch, {"npv_usd": _musd, "mip_gap": lambda v: _num(v, ".2e"),
                "seconds": lambda v: _num(v, ",.1f")}, links={RUN_COLUMN: links}))
    diff_csv, diff_md = folder / "diff.csv", folder / "diff.md"
    body = ""
    if diff_csv.is_file():
        try:
            body += _table(pd.read_csv(diff_csv))
        except (OSError, ValueError) as exc:
            raise ReportError(f"{diff_csv}: cannot read the diff: {exc}") from None
    if diff_md.is_file():
        body += f"<pre>{_e(diff_md.read_text(encoding='utf-8', errors='replace'))}</pre>"
    page.section("diff", "Diff against the previous batch",
                 body or '<p class="note">No diff.csv or diff.md in this folder.</p>')
    return page.render()


# ---------------------------------------------------------------------------- writing

def build_report(path: str | os.PathLike, out: str | os.PathLike | None = None) -> Report:
    """The page of a run, sweep or batch folder (``folder_kind``)."""
    kind = folder_kind(path)
    if kind == "run":
        return run_report(Path(path))
    if kind == "sweep":
        return sweep_report(Path(path))
    return batch_report(path, out)


def default_out(path: str | os.PathLike) -> Path:
    return Path(path) / "report.html"


def write_report(path: str | os.PathLike, out: str | os.PathLike | None = None) -> Path:
    """Write the page of ``path`` to ``out`` (default ``<path>/report.html``), atomically:
    an existing page is replaced only by a complete one."""
    out = Path(out) if out is not None else default_out(path)
    if out.is_dir():
        raise ReportError(f"--out: {out} is a folder; give a file name such as "
                          f"{out / 'report.html'}")
    report = build_report(path, out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(report.html)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def report_command(
    path: Path = typer.Argument(..., help="run, sweep or batch folder"),
    out: Path | None = typer.Option(None, "--out",
                                    help="HTML file (default <PATH>/report.html)"),
) -> None:
    """Write a self-contained HTML report (plan, KPIs, figures) of a run, sweep or batch."""
    from rich.console import Console

    err = Console(stderr=True, soft_wrap=True, highlight=False)
    try:
        written = write_report(path, out)
    except ValueError as exc:  # ReportError, and the sentences of optimizer.plots
        err.print(str(exc), markup=False)
        raise typer.Exit(2) from None
    except OSError as exc:
        target = out if out is not None else default_out(path)
        err.print(f"{target}: cannot write: {exc.strerror or exc}", markup=False)
        raise typer.Exit(1) from None
    except Exception as exc:  # noqa: BLE001 - the CLI reports, never dumps a traceback
        if os.environ.get("HASHPIVOT_DEBUG"):
            raise
        err.print(f"{path}: cannot make the report: {type(exc).__name__}: {exc}", markup=False)
        raise typer.Exit(1) from None
    size_mb = written.stat().st_size / 1e6
    Console(soft_wrap=True, highlight=False).print(f"report: {written} ({size_mb:.1f} MB)",
                                                   markup=False)


app = typer.Typer(add_completion=False, pretty_exceptions_enable=False,
                  help="HTML report of a run, sweep or batch folder.")
app.command(name="report")(report_command)

if __name__ == "__main__":
    app()
