"""Time and size of every stage on the bundled instances, and the Pyomo -> HiGHS routes.

    python bench/bench.py                       # all bundled instances, default route
    python bench/bench.py permian-1y --routes stdform,appsi,highs
    python bench/bench.py portfolio-3y --resolution hourly
    python bench/bench.py portfolio-3y --methods monolithic,benders

Prints, per instance and route: load, build, translate, HiGHS (wall and as printed
in its log), results, write seconds; rows, columns, integers, non-zeros; peak RSS;
and the ratio (everything outside HiGHS) / (HiGHS run time). Figures, not asserts:
machines are noisy.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import pyomo.environ as pyo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from optimizer.api import solve  # noqa: E402
from optimizer.instance import load_instance  # noqa: E402

BUNDLED = ("quickstart", "permian-1y", "portfolio-3y")


def model_size(model) -> dict:
    from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler

    form = LinearStandardFormCompiler().write(model, mixed_form=True, set_sense=None)
    ints = sum(1 for v in form.columns if v.is_integer() or v.is_binary())
    return {"rows": form.A.shape[0], "cols": form.A.shape[1], "ints": ints, "nnz": form.A.nnz}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run(name: str, route: str, method: str, args) -> dict:
    path = ROOT / "instances" / name / "instance.yaml"
    t0 = time.perf_counter()
    inst = load_instance(path)
    load_s = time.perf_counter() - t0
    res = solve(inst, mip_gap=args.mip_gap, time_limit=args.time_limit, threads=args.threads,
                resolution=args.resolution, route=route, keep_model=True, load_time_s=load_s,
                method=method)
    with tempfile.TemporaryDirectory() as tmp:
        res.write(Path(tmp) / "run")
    t = res.timings_s
    highs = res.highs_run_time_s or t.get("solve", 0.0)
    outside = t["load"] + t["build"] + t["translate"] + t["results"] + t["write"]
    row = {"instance": name, "route": route, "method": res.method, "status": res.status,
           "npv_usd": res.npv_usd, "gap": res.mip_gap,
           **{k: round(v, 3) for k, v in t.items()}, "highs_log_s": highs,
           "outside/highs": round(outside / highs, 3) if highs else None,
           "peak_rss_mb": round(peak_rss_mb(), 1)}
    if args.size:
        row.update(model_size(res.built.model))
    del res
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("instances", nargs="*", default=list(BUNDLED))
    ap.add_argument("--routes", default="stdform")
    ap.add_argument("--methods", default="auto",
                    help="comma-separated: auto | monolithic | benders")
    ap.add_argument("--mip-gap", type=float, default=1e-4)
    ap.add_argument("--time-limit", type=float, default=None)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--resolution", default=None)
    ap.add_argument("--no-size", dest="size", action="store_false")
    args = ap.parse_args()
    pyo.SolverFactory  # noqa: B018 - import Pyomo plugins before timing
    for name in args.instances:
        for route in args.routes.split(","):
            for method in args.methods.split(","):
                row = run(name, route, method, args)
                print("  ".join(f"{k}={v}" for k, v in row.items()), flush=True)


if __name__ == "__main__":
    main()
