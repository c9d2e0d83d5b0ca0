"""Kept Benders cuts in a sweep: the same scenarios re-solved on one kept model with the
master's cuts kept (``keep_cuts``, the sweep's default) and without.

    python bench/sweep_cuts.py                       # portfolio-3y, capex budget x 0.9, 0.8, 1.2
    python bench/sweep_cuts.py lease-offer --vary "capex_budget_usd*=0.9,1.1"

One process, one HiGHS thread (a sweep worker's setting), scenarios in order on one kept
model; figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from optimizer.instance import load_instance  # noqa: E402
from optimizer.sweep.kept import kept_models, run_scenario  # noqa: E402
from optimizer.sweep.runner import plan, sweep_config  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("instance", nargs="?", default="portfolio-3y")
    ap.add_argument("--vary", default="capex_budget_usd*=0.9,0.8,1.2",
                    help="one PATH=v1,v2,... or PATH*=f1,f2,...")
    ap.add_argument("--gap", type=float, default=1e-4)
    args = ap.parse_args()
    inst = load_instance(ROOT / "instances" / args.instance / "instance.yaml")
    path, values = args.vary.split("=", 1)
    key = f"{path}=" if path.endswith("*") else path  # "PATH*=" scales, "PATH" sets
    scenarios = [{}] + [{key: float(v)} for v in values.split(",")]
    for keep in (True, False):
        config = sweep_config(mip_gap=args.gap).model_copy(update={"keep_cuts": keep})
        kept_models().clear()
        for s in plan(inst, scenarios, config):
            t = time.perf_counter()
            row = run_scenario(s.task, inst).row
            print(f"keep_cuts={keep!s:5} {s.id} {row['model']:8} {row['status']} "
                  f"NPV {row['npv_usd'] / 1e6:,.4f} M$  solve {row['solve_s']:.1f} s  "
                  f"wall {time.perf_counter() - t:.1f} s", flush=True)


if __name__ == "__main__":
    main()
