"""hashpivot report: the pages of a run, an infeasible run, a sweep and a batch, written
by the command and rendered in a real headless Chromium (Debian's ``chromium``).

The browser is driven over the Chrome DevTools Protocol (``websocket-client``): each
page must load with no console error and no request but the page file itself (plotly.js
is inlined), every figure div must have drawn its SVG, and the screenshot of every
figure must hold many colours (a blank or failed plot is one or two).
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import mandatory_contract
from typer.testing import CliRunner

from optimizer import report
from optimizer.instance import Instance

ROOT = Path(__file__).resolve().parent.parent
HP = "market.hashprice_usd_per_ph_day"
SPOT = "gpu_products[h100-hgx].spot_price_usd_per_gpu_hour"
INSTALL_HINT = ("install Debian's chromium (apt-get install -y chromium; .ci/run does this "
                "in CI)")
# the launch flags that work in a container without a display, a GPU or a network
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                  "--remote-debugging-port=0"]
WIDTH_PX = 1280
# a plot draws axes, labels, antialiased lines and fills: hundreds of colours; a blank
# div is one colour and an error message a handful
MIN_COLOURS_PER_FIGURE = 40
MIN_INK_SHARE = 0.005  # share of a figure's pixels that are not white (a blank div: 0)


# --------------------------------------------------------------------------- Chromium

def chromium_path() -> str:
    found = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.access(found, os.X_OK):
        pytest.fail(f"chromium not found (looked on PATH and at /usr/bin/chromium): "
                    f"{INSTALL_HINT}", pytrace=False)
    return found


class Tab:
    """One page target over the DevTools websocket; events are kept as they arrive."""

    def __init__(self, ws_url: str):
        import websocket

        self._timeout = websocket.WebSocketTimeoutException
        self.ws = websocket.create_connection(ws_url, timeout=60, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict] = []

    def send(self, method: str, **params) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def pump(self, seconds: float) -> None:
        """Read events for ``seconds``."""
        self.ws.settimeout(seconds)
        try:
            while True:
                msg = json.loads(self.ws.recv())
                if "method" in msg:
                    self.events.append(msg)
        except self._timeout:
            pass
        finally:
            self.ws.settimeout(60)

    def evaluate(self, expression: str):
        out = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in out:
            raise RuntimeError(f"{expression}: {out['exceptionDetails']}")
        return out["result"].get("value")

    def close(self) -> None:
        self.ws.close()


class Chromium:
    def __init__(self):
        try:
            import websocket  # noqa: F401 - the driver needs it; say so before launching
        except ImportError:
            pytest.fail("the browser test needs websocket-client (pip install "
                        "'hashpivot[test]')", pytrace=False)
        self.profile = tempfile.TemporaryDirectory(prefix="hashpivot-chromium-")
        self.proc = subprocess.Popen(
            [chromium_path(), *CHROMIUM_FLAGS, f"--user-data-dir={self.profile.name}",
             "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        port_file = Path(self.profile.name) / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.is_file() and port_file.read_text().strip()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                pytest.fail(f"chromium did not start: "
                            f"{self.proc.stderr.read().decode(errors='replace')[-2000:]}",
                            pytrace=False)
            time.sleep(0.05)
        self.port = int(port_file.read_text().split()[0])

    def tab(self) -> Tab:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/json/new?about:blank",
                                         method="PUT")
        with urllib.request.urlopen(request, timeout=30) as response:
            target = json.load(response)
        return Tab(target["webSocketDebuggerUrl"])

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.profile.cleanup()


@pytest.fixture(scope="module")
def chromium():
    browser = Chromium()
    yield browser
    browser.close()


FIGURES_JS = """
Array.from(document.querySelectorAll('.plotly-graph-div')).map(d => {
  const r = d.getBoundingClientRect();
  return {id: d.id, svgs: d.querySelectorAll('.main-svg').length,
          traces: (d._fullData || []).length, x: r.left + window.scrollX,
          y: r.top + window.scrollY, width: r.width, height: r.height};
})
"""


def render(browser: Chromium, page: Path, expected_figures: int) -> dict:
    """Open ``page``; wait until every figure div has its SVG; return the figures, the
    console errors, the URLs requested and a screenshot of each figure."""
    from PIL import Image

    tab = browser.tab()
    try:
        for domain in ("Page", "Runtime", "Log", "Network"):
            tab.send(f"{domain}.enable")
        tab.send("Emulation.setDeviceMetricsOverride", width=WIDTH_PX, height=900,
                 deviceScaleFactor=1, mobile=False)
        url = page.resolve().as_uri()
        tab.send("Page.navigate", url=url)
        deadline = time.monotonic() + 60
        figures: list[dict] = []
        while time.monotonic() < deadline:
            tab.pump(0.25)
            loaded = any(e["method"] == "Page.loadEventFired" for e in tab.events)
            figures = tab.evaluate(FIGURES_JS) if loaded else []
            if loaded and len(figures) >= expected_figures and all(f["svgs"] for f in figures):
                break
        tab.pump(0.5)  # errors raised while the last plot settles
        errors = []
        for e in tab.events:
            p = e["params"]
            if e["method"] == "Runtime.exceptionThrown":
                errors.append(p["exceptionDetails"].get("exception", {}).get(
                    "description", p["exceptionDetails"].get("text")))
            elif e["method"] == "Runtime.consoleAPICalled" and p["type"] in ("error", "assert"):
                errors.append(" ".join(str(a.get("value", a.get("description")))
                                       for a in p["args"]))
            elif e["method"] == "Log.entryAdded" and p["entry"]["level"] == "error":
                errors.append(f"{p['entry'].get('url', '')}: {p['entry']['text']}")
        requests = [e["params"]["request"]["url"] for e in tab.events
                    if e["method"] == "Network.requestWillBeSent"]
        shots = []
        for f in figures:
            shot = tab.send("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                            clip={"x": f["x"], "y": f["y"], "width": f["width"],
                                  "height": f["height"], "scale": 1})
            shots.append(Image.open(io.BytesIO(base64.b64decode(shot["data"]))).convert("RGB"))
        return {"url": url, "figures": figures, "errors": errors, "requests": requests,
                "shots": shots}
    finally:
        tab.close()


def colours_and_ink(image) -> tuple[int, float]:
    """Distinct colours, and the share of pixels that are not (near) white."""
    pixels = np.asarray(image).astype(np.uint32)
    distinct = len(np.unique(pixels[..., 0] << 16 | pixels[..., 1] << 8 | pixels[..., 2]))
    ink = float((pixels.min(axis=2) < 235).mean())
    return distinct, ink


# --------------------------------------------------------------------------- the folders

def sweep_table() -> pd.DataFrame:
    """3 x 3 hashprice x spot price; NPV = 1e6 x (2 hp + 30 spot - 100); (60, 3.5)
    infeasible; a decision column that flips at spot 2."""
    rows = []
    for i, (hp, spot) in enumerate((h, s) for h in (40.0, 50.0, 60.0) for s in (1.5, 2.5, 3.5)):
        infeasible = (hp, spot) == (60.0, 3.5)
        npv = np.nan if infeasible else 1e6 * (2 * hp + 30 * spot - 100)
        rows.append({"scenario": f"s{i}", HP: hp, SPOT: spot,
                     "status": "infeasible" if infeasible else "optimal",
                     "exit_code": 3 if infeasible else 0, "npv_usd": npv,
                     "best_bound_usd": npv, "mip_gap": 0.0,
                     "gpus_bought.h100-hgx": np.nan if infeasible else (0.0 if spot < 2
                                                                         else 120.0)})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def folders(bundled_run, tmp_path_factory) -> dict[str, Path]:
    """A run (quickstart), an infeasible run (100 mandatory GPU servers and no AI hall),
    a sweep folder and a batch folder over the two runs, with a diff."""
    from optimizer.api import solve

    root = tmp_path_factory.mktemp("report")
    run = root / "quickstart"
    shutil.copytree(bundled_run("quickstart")[2], run)
    inst = Instance.from_dict(mandatory_contract(100, capex_usd=1000), root, "<infeasible>")
    result = solve(inst)
    assert result.exit_code == 3
    infeasible = result.write(root / "infeasible")
    sweep = root / "sweep"
    sweep.mkdir()
    sweep_table().to_parquet(sweep / "sweep.parquet")
    batch = root / "batch"
    batch.mkdir()
    npv = json.loads((run / "summary.json").read_text())["npv_usd"]
    pd.DataFrame([
        {"instance": "quickstart", "status": "optimal", "exit_code": 0, "npv_usd": npv,
         "mip_gap": 0.0, "seconds": 4.2, "run_folder": "../quickstart", "error": ""},
        {"instance": "known-answer", "status": "infeasible", "exit_code": 3,
         "npv_usd": np.nan, "mip_gap": np.nan, "seconds": 0.8, "run_folder": "../infeasible",
         "error": ""},
        {"instance": "broken", "status": "error", "exit_code": 2, "npv_usd": np.nan,
         "mip_gap": np.nan, "seconds": 0.1, "run_folder": "",
         "error": "broken.yaml: sites[0].grid: missing"},
    ]).to_csv(batch / "batch.csv", index=False)
    pd.DataFrame([{"instance": "quickstart", "what": "npv_usd", "before": npv - 1e5,
                   "after": npv}]).to_csv(batch / "diff.csv", index=False)
    (batch / "diff.md").write_text("# quickstart\n\nNPV <up> by 0.10 M USD\n")
    return {"run": run, "infeasible": infeasible, "sweep": sweep, "batch": batch}


@pytest.fixture(scope="module")
def pages(folders, tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("pages")
    return {kind: report.write_report(folder, out / f"{kind}.html")
            for kind, folder in folders.items()}


def figure_ids(page: Path) -> list[str]:
    """The ids of the figure divs, from the HTML."""
    return re.findall(r'<div id="([^"]+)" class="plotly-graph-div"',
                      page.read_text(encoding="utf-8"))


EXPECTED_FIGURES = {
    "run": ["fig-1-capex", "fig-2-waterfall", "fig-3-dispatch-midland", "fig-4-marginals"],
    "infeasible": ["fig-1-infeasibility"],
    "sweep": ["fig-1-heatmap-npv-usd", "fig-2-heatmap-gpus-bought-h100-hgx", "fig-3-tornado"],
    "batch": ["fig-1-batch"],
}


# --------------------------------------------------------------------------- in Chromium

@pytest.mark.parametrize("kind", list(EXPECTED_FIGURES))
def test_the_page_renders_in_chromium(kind, pages, chromium):
    path = pages[kind]
    assert figure_ids(path) == EXPECTED_FIGURES[kind]
    seen = render(chromium, path, len(EXPECTED_FIGURES[kind]))
    assert seen["errors"] == []
    # offline: the page file is the only thing the page asks for
    assert [u for u in seen["requests"] if not u.startswith("data:")] == [seen["url"]]
    assert [f["id"] for f in seen["figures"]] == EXPECTED_FIGURES[kind]
    for fig, shot in zip(seen["figures"], seen["shots"]):
        assert fig["svgs"] >= 1, fig
        assert fig["traces"] >= 1, fig
        assert fig["width"] > 600 and fig["height"] > 300, fig
        colours, ink = colours_and_ink(shot)
        assert colours >= MIN_COLOURS_PER_FIGURE, (fig["id"], colours)
        assert ink >= MIN_INK_SHARE, (fig["id"], ink)


# --------------------------------------------------------------------------- the HTML

def test_plotly_js_is_inlined_once_and_nothing_is_loaded_from_elsewhere(pages):
    from plotly.offline import get_plotlyjs

    page = pages["run"].read_text(encoding="utf-8")
    assert page.count(get_plotlyjs()) == 1
    tags = re.findall(r"<(?:script|link|img|iframe)\b[^>]*>", page)
    assert tags and not [t for t in tags if "src=" in t or "href=" in t]


def test_the_run_page_holds_the_plan_the_kpis_and_the_marginal_values(pages, folders):
    page = pages["run"].read_text(encoding="utf-8")
    summary = json.loads((folders["run"] / "summary.json").read_text())
    assert f"{summary['npv_usd'] / 1e6:,.2f} M USD" in page
    capex = pd.read_csv(folders["run"] / "capex.csv")
    for row in capex.itertuples():
        assert f"<td>{row.item}</td>" in page
        assert f"{row.capex_usd:,.0f}" in page
    assert f"{summary['kpis']['mining_uptime']:.1%}" in page
    marg = pd.read_csv(folders["run"] / "marginals.csv", keep_default_na=False)
    for row in marg[marg["marginal_value"].abs() > 1e-9].itertuples():
        assert f"{row.marginal_value:,.2f}" in page
    assert "Why there is no plan" not in page


def test_a_result_gives_the_same_figures_as_its_run_folder(bundled_run):
    built = report.run_report(bundled_run("quickstart")[1])
    assert built.figures == EXPECTED_FIGURES["run"]
    assert "quickstart" in built.title


def test_a_sweep_with_one_override_says_why_it_has_no_heatmap(tmp_path):
    table = sweep_table()
    table = table[table[SPOT] == 2.5].drop(columns=[SPOT])
    table.to_parquet(tmp_path / "sweep.parquet")
    built = report.build_report(tmp_path)
    assert built.figures == ["fig-1-tornado"]
    assert "<li>a heatmap needs two override columns; this sweep has 1</li>" in built.html


def test_the_infeasible_page_explains_why(pages, folders):
    page = pages["infeasible"].read_text(encoding="utf-8")
    summary = json.loads((folders["infeasible"] / "summary.json").read_text())
    assert summary["infeasibility"]
    import html

    for sentence in summary["infeasibility"]:
        assert f"<li>{html.escape(sentence)}</li>" in page
    assert "Why there is no plan" in page and 'id="plan"' not in page


def test_the_batch_page_shows_the_table_and_the_diff(pages):
    page = pages["batch"].read_text(encoding="utf-8")
    assert "broken.yaml: sites[0].grid: missing" in page
    assert "NPV &lt;up&gt; by 0.10 M USD" in page  # diff.md, escaped
    assert "<td>npv_usd</td>" in page  # diff.csv


def test_the_batch_links_point_at_the_run_folders(folders, tmp_path):
    built = report.batch_report(folders["batch"], tmp_path / "page.html")
    quickstart = os.path.relpath(folders["run"], tmp_path)
    infeasible = os.path.relpath(folders["infeasible"], tmp_path)
    assert f'href="{quickstart}"' in built.html
    assert f'href="{infeasible}"' in built.html


# --------------------------------------------------------------------------- the command

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(report.app, [*map(str, args)])


def test_the_default_out_is_report_html_in_the_folder(folders, tmp_path):
    run = tmp_path / "sweep"
    shutil.copytree(folders["sweep"], run)
    proc = subprocess.run([sys.executable, "-m", "optimizer.report", str(run)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"report: {run / 'report.html'} (")
    assert (run / "report.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    # atomic: no temporary file is left beside the page
    assert not [p.name for p in run.iterdir() if p.name.startswith(".")]


def test_an_existing_page_is_replaced_whole(folders, tmp_path):
    out = tmp_path / "page.html"
    out.write_text("old")
    result = invoke(folders["sweep"], "--out", out)
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8").endswith("</html>\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["page.html"]


def test_a_folder_that_is_no_run_sweep_or_batch_exits_2_with_a_sentence(tmp_path):
    result = invoke(tmp_path)
    assert result.exit_code == 2
    assert result.stderr == (f"{tmp_path}: not a run, sweep or batch folder (it holds no "
                             f"summary.json, sweep.parquet or batch.csv)\n")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("case", ["missing", "file"])
def test_a_path_that_is_not_a_folder_exits_2(case, tmp_path):
    path = tmp_path / "nothing"
    if case == "file":
        path.write_text("x")
    result = invoke(path)
    assert result.exit_code == 2
    assert result.stderr == {"missing": f"{path}: no such folder\n",
                             "file": f"{path}: not a folder; give a run, sweep or batch "
                                     f"folder\n"}[case]


def test_out_that_is_a_folder_exits_2(folders, tmp_path):
    result = invoke(folders["sweep"], "--out", tmp_path)
    assert result.exit_code == 2
    assert result.stderr == (f"--out: {tmp_path} is a folder; give a file name such as "
                             f"{tmp_path / 'report.html'}\n")


def test_a_broken_summary_exits_2_naming_the_key_and_value(folders, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(folders["run"], run)
    summary = json.loads((run / "summary.json").read_text())
    summary["status"] = "solved"
    (run / "summary.json").write_text(json.dumps(summary))
    result = invoke(run, "--out", tmp_path / "page.html")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{run / 'summary.json'}: status: Input should be ")
    assert result.stderr.endswith("(got 'solved')\n")
    assert not (tmp_path / "page.html").exists()
