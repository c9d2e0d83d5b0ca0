"""End-to-end time, stage times and peak memory of `hashpivot solve`, against a baseline
checkout in the same run.

    python bench/bench.py                                   # every bundled instance
    python bench/bench.py permian-1y --days 8               # also at K = 8
    python bench/bench.py permian-1y --baseline /work/baseline --repeat 3
    python bench/bench.py portfolio-3y --methods benders,monolithic

Each solve runs in its own process (`python -m optimizer solve`, with the tree under test
first on sys.path), timed from process start to exit, so imports, start-up and teardown
count. The CLI prints its stage times (load, build, translate, solve, marginals, results,
write) and HiGHS's own run time; ``outside`` is the wall time minus HiGHS's run time:
everything the tool spends around the solver. Peak RSS comes from /usr/bin/time. Figures
are printed, never asserted: machines are noisy; compare rows of the same run.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = ("quickstart", "permian-1y", "portfolio-3y")
TIMES = re.compile(r"times \(s\): (.*?)\s+\(HiGHS run time ([0-9.]+)")
NPV = re.compile(r"NPV (-?[0-9.,]+) M\$")


def run_cli(tree: Path, instance: str, extra: list[str]) -> dict:
    """One `solve` in a fresh process with ``tree`` first on sys.path."""
    path = ROOT / "instances" / instance / "instance.yaml"
    with tempfile.TemporaryDirectory() as tmp:
        code = (f"import sys; sys.path.insert(0, {str(tree)!r}); "
                "from optimizer.cli import main; main()")
        cmd = ["/usr/bin/time", "-f", "__peak_kb %M", sys.executable, "-c", code, "solve",
               str(path), "--out", str(Path(tmp) / "run"), *extra]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp)
        wall = time.perf_counter() - t0
    out = proc.stdout + proc.stderr
    row = {"instance": instance, "tree": tree.name, "exit": proc.returncode,
           "wall_s": round(wall, 2)}
    m = TIMES.search(out.replace("\n", " "))
    if m:
        for part in re.findall(r"([a-z_]+) ([0-9.]+)", m.group(1)):
            row[part[0]] = float(part[1])
        row["highs_s"] = float(m.group(2))
        row["outside_s"] = round(wall - row["highs_s"], 2)
    npv = NPV.search(out)
    row["npv_musd"] = npv.group(1) if npv else None
    peak = re.search(r"__peak_kb (\d+)", out)
    row["peak_mb"] = round(int(peak.group(1)) / 1024) if peak else None
    if proc.returncode not in (0,):
        row["error"] = out.strip().splitlines()[-1][:160] if out.strip() else ""
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("instances", nargs="*", default=list(BUNDLED))
    ap.add_argument("--baseline", type=Path, default=None,
                    help="another checkout of the project, measured in the same run")
    ap.add_argument("--methods", default="auto", help="comma-separated: auto,monolithic,benders")
    ap.add_argument("--days", default="", help="also solve with these K (comma-separated)")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--extra", default="", help="more solve options, e.g. '--threads 1'")
    args = ap.parse_args()
    trees = [ROOT] + ([args.baseline.resolve()] if args.baseline else [])
    variants = [[]] + [["--representative-days", k] for k in args.days.split(",") if k]
    rows = []
    for name in args.instances:
        for variant in variants:
            for method in args.methods.split(","):
                for _ in range(args.repeat):
                    for tree in trees:  # interleaved, so that load drifts hit both alike
                        extra = [*variant, "--method", method, *args.extra.split()]
                        row = run_cli(tree, name, extra)
                        row["variant"] = " ".join(variant) or "as given"
                        row["method"] = method
                        rows.append(row)
                        print(row, flush=True)
    cols = ["instance", "variant", "method", "tree", "exit", "wall_s", "highs_s", "outside_s",
            "load", "build", "translate", "solve", "marginals", "results", "write", "peak_mb",
            "npv_musd"]
    print("\n| " + " | ".join(cols) + " |")
    print("|" + " --- |" * len(cols))
    for r in rows:
        print("| " + " | ".join(str(r.get(c, "")) for c in cols) + " |")


if __name__ == "__main__":
    main()
