"""A nightly batch of the three bundled instances against three sequential ``hashpivot
solve`` commands: the same NPVs, and the wall time of each.

    python bench/batch.py                     # 2 workers (the cores), default options
    python bench/batch.py --workers 1 --out /tmp/bench-batch

Each side runs as the operator would run it, in fresh processes: three ``python -m
optimizer solve`` commands one after the other (HiGHS on every core), then one batch
(``optimizer.batch.app``, until the CLI mounts it as ``hashpivot batch``) whose workers
solve one instance each with one thread. The wall time of the batch includes starting
its Dask cluster and the forkserver of each worker. Both sides solve to the default
relative gap (1e-4), so their NPVs agree within it, not to the last digit.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
INSTANCES = ["quickstart", "permian-1y", "portfolio-3y"]
BATCH_CLI = "from optimizer.batch import app; app()"


def timed(args: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    return time.perf_counter() - t0, proc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=None,
                        help="batch workers (default: the cores)")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for the runs (default: a temporary one, removed)")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="bench-batch-"))
    out.mkdir(parents=True, exist_ok=True)
    print(f"cores {len(os.sched_getaffinity(0))}, load average "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}", flush=True)
    try:
        solve_rows = {}
        for name in INSTANCES:
            run = out / "solve" / name
            wall, proc = timed([sys.executable, "-m", "optimizer", "solve",
                                str(ROOT / "instances" / name / "instance.yaml"),
                                "--out", str(run)])
            if proc.returncode:
                sys.exit(f"hashpivot solve {name} exited {proc.returncode}: {proc.stderr}")
            summary = json.loads((run / "summary.json").read_text())
            solve_rows[name] = (wall, summary["npv_usd"], summary["mip_gap"])
            print(f"solve {name}: {wall:.1f} s", flush=True)
        command = [sys.executable, "-c", BATCH_CLI, str(ROOT / "instances"), "--out",
                   str(out / "batch"), "--quiet"]
        if args.workers:
            command += ["--workers", str(args.workers)]
        batch_wall, proc = timed(command)
        if proc.returncode:
            sys.exit(f"batch exited {proc.returncode}: {proc.stderr}")
        rows = pd.read_csv(out / "batch" / "batch.csv").set_index("instance")
        print(f"batch: {batch_wall:.1f} s\n")
        print("| instance | NPV, solve (USD) | NPV, batch (USD) | relative difference | "
              "solve wall (s) | batch row (s) |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for name in INSTANCES:
            wall, npv, _ = solve_rows[name]
            other = float(rows.loc[name, "npv_usd"])
            print(f"| {name} | {npv:,.2f} | {other:,.2f} | {abs(other - npv) / abs(npv):.1e} "
                  f"| {wall:.1f} | {rows.loc[name, 'seconds']:.1f} |")
        sequential = sum(w for w, _, _ in solve_rows.values())
        print(f"| **total** | | | | **{sequential:.1f}** (one after the other) | "
              f"**{batch_wall:.1f}** (the batch, wall) |")
    finally:
        if args.out is None:
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
