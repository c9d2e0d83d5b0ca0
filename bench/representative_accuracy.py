"""NPV error of representative days against hourly, on permian-1y and three variants.

    python bench/representative_accuracy.py                 # K = 6, 8, 10, 12
    python bench/representative_accuracy.py --days 4,8,16
    python bench/representative_accuracy.py --cluster shipped,fasterpam-build

One site-year is a thin test of a clustering: its error at one K is largely luck (which
days happen to be medoids). The variants put the same site (permian-1y's fleet, halls,
contracts and PPAs) on other real price years, so a change to the clustering is judged
on four price regimes at several K:

- ``permian-1y``        2027 on ERCOT LZ_WEST 2025 prices (the bundled instance)
- ``permian-2028``      2028 on LZ_WEST 2024 prices (portfolio-3y's series)
- ``permian-2029``      2029 on LZ_WEST 2023 prices (the August 2023 scarcity spikes)
- ``permian-rockdale``  2027 on the Rockdale column of portfolio-3y's series

Each is solved hourly once and with every K; the table (printed, and written to
``--out``) has the NPV error per instance and K and the mean |error| per instance.
``--cluster`` also solves every K with the days of other clustering methods of
``bench/clustering.py`` (``shipped`` is ``representative._cluster``), against the same
hourly solve. Figures, not asserts. About 8 minutes on 2 cores for one method (the
hourly solves dominate).
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from optimizer.api import plan_differences, solve  # noqa: E402
from optimizer.instance import load_instance  # noqa: E402
from optimizer.time import representative  # noqa: E402

PERMIAN = ROOT / "instances" / "permian-1y" / "instance.yaml"
PORTFOLIO_SERIES = ROOT / "instances" / "portfolio-3y" / "series.csv"
VARIANTS = {  # name: (horizon start, grid price column of portfolio-3y's series)
    "permian-2028": ("2028-01-01", "lz_west_usd_per_mwh"),
    "permian-2029": ("2029-01-01", "lz_west_usd_per_mwh"),
    "permian-rockdale": ("2027-01-01", "rockdale_usd_per_mwh"),
}


def variant(folder: Path, name: str, start: str, price_column: str) -> Path:
    """permian-1y's instance on portfolio-3y's series, from another start and price."""
    text = PERMIAN.read_text()
    text = re.sub(r"(horizon:\n\s+start:) \S+", rf"\1 {start}", text, count=1)
    text = text.replace("{column: lz_west_usd_per_mwh}", f"{{column: {price_column}}}")
    path = folder / f"{name}.yaml"
    path.write_text(text)
    return path


def cluster_methods(names: list[str]) -> dict:
    """name -> the ``_cluster`` function that chooses the days."""
    shipped = representative._cluster
    if names == ["shipped"]:
        return {"shipped": shipped}
    sys.path.insert(0, str(ROOT / "bench"))
    from clustering import METHODS

    return {name: shipped if name == "shipped" else METHODS[name] for name in names}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", default="6,8,10,12")
    ap.add_argument("--cluster", default="shipped",
                    help="comma-separated: shipped, or a method of bench/clustering.py")
    ap.add_argument("--out", default="representative_accuracy.csv")
    args = ap.parse_args()
    days = [int(k) for k in args.days.split(",")]
    methods = cluster_methods(args.cluster.split(","))
    shipped = representative._cluster
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        shutil.copy(PORTFOLIO_SERIES, folder / "series.csv")
        paths = {"permian-1y": PERMIAN}
        paths.update({name: variant(folder, name, *spec) for name, spec in VARIANTS.items()})
        for name, path in paths.items():
            inst = load_instance(path)
            hourly = solve(inst, resolution="hourly", marginals_wanted=False)
            for method, cluster in methods.items():
                representative._cluster = cluster
                representative._CACHE.clear()
                try:
                    for k in days:
                        res = solve(inst, representative_days=k, marginals_wanted=False)
                        diff, text = plan_differences(hourly.capex, res.capex)
                        rows.append({
                            "instance": name, "method": method, "days_per_period": k,
                            "npv_rel_error": abs(res.npv_usd / hourly.npv_usd - 1),
                            "signed_error_pct": 100 * (res.npv_usd / hourly.npv_usd - 1),
                            "max_plan_diff_units": diff, "plan_differences": text})
                finally:
                    representative._cluster = shipped
                    representative._CACHE.clear()
                print(f"{name} {method}: " + ", ".join(
                    f"K={row['days_per_period']} {row['signed_error_pct']:+.2f}%"
                    f"{'' if not row['max_plan_diff_units'] else ' (plan differs)'}"
                    for row in rows if row["instance"] == name and row["method"] == method),
                    flush=True)
    df = pd.DataFrame(rows)
    df.to_csv(args.out, index=False)
    mean = (df.groupby(["instance", "method"], sort=False)["npv_rel_error"].mean() * 100
            ).unstack()
    print("mean |NPV error| per instance (%):")
    print(mean.round(2).to_string())
    overall = ", ".join(f"{m} {v:.2f} %" for m, v in mean.mean().items())
    plans = int((df["max_plan_diff_units"] > 0).sum())
    print(f"all: {overall}; cells whose plan differs from hourly: {plans}   ({args.out})")


if __name__ == "__main__":
    main()
