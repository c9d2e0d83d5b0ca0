"""NPV error of representative days against hourly, on permian-1y and three variants.

    python bench/representative_accuracy.py                 # K = 6, 8, 10, 12
    python bench/representative_accuracy.py --days 4,8,16

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
Figures, not asserts. About 6 minutes on 2 cores (the hourly solves dominate).
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

from optimizer.api import compare_resolution  # noqa: E402
from optimizer.instance import load_instance  # noqa: E402

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", default="6,8,10,12")
    ap.add_argument("--out", default="representative_accuracy.csv")
    args = ap.parse_args()
    days = [int(k) for k in args.days.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        shutil.copy(PORTFOLIO_SERIES, folder / "series.csv")
        paths = {"permian-1y": PERMIAN}
        paths.update({name: variant(folder, name, *spec) for name, spec in VARIANTS.items()})
        for name, path in paths.items():
            table = compare_resolution(load_instance(path), days, marginals_wanted=False)
            hourly_npv = table.npv_usd.iloc[0]  # row 0 is the hourly solve
            for r in table.iloc[1:].itertuples():
                rows.append({"instance": name, "days_per_period": int(r.days_per_period),
                             "npv_rel_error": r.npv_rel_error,
                             "signed_error_pct": 100 * (r.npv_usd / hourly_npv - 1),
                             "plan_differences": r.plan_differences})
            print(f"{name}: " + ", ".join(
                f"K={row['days_per_period']} {row['signed_error_pct']:+.2f}%"
                for row in rows if row["instance"] == name), flush=True)
    df = pd.DataFrame(rows)
    df.to_csv(args.out, index=False)
    mean = df.groupby("instance", sort=False)["npv_rel_error"].mean() * 100
    print("mean |NPV error| per instance (%):")
    print(mean.round(2).to_string())
    print(f"all: {mean.mean():.2f} %   ({args.out})")


if __name__ == "__main__":
    main()
