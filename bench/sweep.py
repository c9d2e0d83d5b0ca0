"""Sweep figures: time outside HiGHS per re-solved scenario, and throughput by workers.

    python bench/sweep.py                          # permian-1y, hourly and K = 8, 1 and 2 workers
    python bench/sweep.py --resolutions 8 --grid 3 --workers 2

A grid of hashprice x GPU spot price factors (every product's spot price scaled alike),
``--grid`` values each (5 x 5 = 25 scenarios by default), run through ``sweep()`` on a
fresh LocalCluster per worker count. Printed per run:

- ``outside/HiGHS``: the mean over re-solved scenarios of the time outside HiGHS (the
  worker's task time minus HiGHS's run time, plus the main process's rewrite of
  sweep.parquet and sweep.csv for that row) over the mean HiGHS re-solve time
  (target <= 0.2); the built scenarios are shown apart;
- throughput: scenarios per minute over the whole ``sweep()`` call (cluster start-up
  included), and the ratio of 2 workers to 1 (target >= 1.8).

The 1-minute load average is printed before and after each run: other processes on the
machine take cores from the workers. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from optimizer.instance import load_instance  # noqa: E402
from optimizer.sweep import sweep  # noqa: E402

HASHPRICE = "market.hashprice_usd_per_ph_day*="


def factors(n: int) -> list[float]:
    return [round(float(f), 4) for f in np.linspace(0.7, 1.3, n)]


def grid(instance, n: int) -> pd.DataFrame:
    rows = []
    for hp in factors(n):
        for spot in factors(n):
            row = {HASHPRICE: hp}
            for g in instance.gpu_products:
                row[f"gpu_products[{g.id}].spot_price_usd_per_gpu_hour*="] = spot
            rows.append(row)
    return pd.DataFrame(rows)


def load() -> str:
    return f"{os.getloadavg()[0]:.2f}"


def one(instance, scenarios: pd.DataFrame, workers: int, days: int | None,
        gap: float) -> dict:
    options = {"mip_gap": gap}
    if days is not None:
        options.update(resolution="representative", representative_days=days)
    before = load()
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        t = time.perf_counter()
        frame = sweep(instance, scenarios, out=Path(tmp) / "sweep", workers=workers,
                      quiet=True, **options)
        wall = time.perf_counter() - t
    write_per_row = frame.attrs["write_s"] / max(1, frame.attrs["writes"])
    frame["outside_s"] = frame["task_s"] - frame["highs_s"] + write_per_row
    resolved = frame[frame["model"] == "resolved"]
    built = frame[frame["model"] == "built"]
    return {
        "resolution": "hourly" if days is None else f"K={days}", "workers": workers,
        "scenarios": len(frame), "built": len(built), "resolved": len(resolved),
        "failed": int(frame["npv_usd"].isna().sum()), "wall_s": wall,
        "per_min": 60.0 * len(frame) / wall,
        "resolve_highs_s": resolved["highs_s"].mean(),
        "resolve_outside_s": resolved["outside_s"].mean(),
        "outside_over_highs": resolved["outside_s"].mean() / resolved["highs_s"].mean(),
        "build_outside_s": built["outside_s"].mean(), "build_highs_s": built["highs_s"].mean(),
        "write_per_row_s": write_per_row,
        "worker_peak_rss_mb": frame["worker_peak_rss_mb"].max(),
        "load_before": before, "load_after": load(),
        "npv_range_musd": f"{frame['npv_usd'].min() / 1e6:.2f}..{frame['npv_usd'].max() / 1e6:.2f}",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instance", default="permian-1y")
    ap.add_argument("--resolutions", default="hourly,8",
                    help="comma-separated: hourly and/or K values")
    ap.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    ap.add_argument("--grid", type=int, default=5, help="values per factor")
    ap.add_argument("--mip-gap", type=float, default=1e-4)
    args = ap.parse_args()
    instance = load_instance(ROOT / "instances" / args.instance / "instance.yaml")
    scenarios = grid(instance, args.grid)
    print(f"{args.instance}: {len(scenarios)} scenarios (hashprice x GPU spot factors "
          f"{factors(args.grid)}), {os.cpu_count()} cores, mip gap {args.mip_gap:g}",
          flush=True)
    results = []
    for res in args.resolutions.split(","):
        days = None if res.strip() == "hourly" else int(res)
        for w in (int(x) for x in args.workers.split(",")):
            r = one(instance, scenarios, w, days, args.mip_gap)
            results.append(r)
            print(pd.Series(r).to_string(), flush=True)
            print(flush=True)
    table = pd.DataFrame(results)
    cols = ["resolution", "workers", "scenarios", "built", "failed", "wall_s", "per_min",
            "resolve_highs_s", "resolve_outside_s", "outside_over_highs", "load_before",
            "load_after"]
    print(table[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    for res, part in table.groupby("resolution", sort=False):
        by = part.set_index("workers")["per_min"]
        if 1 in by and 2 in by:
            print(f"{res}: throughput 2 workers / 1 worker = {by[2] / by[1]:.2f}")


if __name__ == "__main__":
    main()
