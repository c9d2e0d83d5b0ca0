"""The estate figures of issue 14: one solve, stage by stage, with every iteration of the
decomposition (each LP round, each master MILP), the final fixed-integer LP and the peak
memory after each stage.

    python bench/estate.py                                   # estate-10x5 at --mip-gap 1e-3
    python bench/estate.py --strategy kelley --time-limit 900
    python bench/estate.py estate-10x5 --strategy "master_gaps=(1e-2,2e-3)"
    python bench/estate.py portfolio-3y --resolution hourly --method monolithic --gap 1e-4

The stages are those of ``pipeline.run`` (load, time grid + data, Pyomo build, compile to
the standard form, release of the Pyomo model, solve, marginals, tables), run in this
process with the tree of this file first on sys.path. Peak memory is the process's peak
RSS so far (``ru_maxrss``), printed after each stage, so the stage where it jumps is the
one that sets it; ``now`` is the resident memory at the stage's end (what it keeps). The
load average of the machine is printed at the start and the end: on a shared machine,
compare runs of the same load. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from optimizer import pipeline  # noqa: E402
from optimizer.model.build import column_blocks  # noqa: E402
from optimizer.solver import benders  # noqa: E402
from optimizer.solver import run as solver_run  # noqa: E402
from optimizer.solver.config import SolveConfig  # noqa: E402

STRATEGIES = {
    "default": benders.DEFAULT_STRATEGY,
    "kelley": benders.KELLEY,
    "inout": dataclasses.replace(benders.DEFAULT_STRATEGY, stabilise="inout"),
    "no-trust-region": dataclasses.replace(benders.DEFAULT_STRATEGY, stabilise="none"),
    "aggregated": dataclasses.replace(benders.DEFAULT_STRATEGY, cuts="aggregated"),
    "exact-masters": dataclasses.replace(benders.DEFAULT_STRATEGY, relax_above=float("inf")),
}
ITERATION = re.compile(r"^\s*(\d+)\s+(start|lp|round|mip)\s")


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # kB on Linux


def rss_gb() -> float:
    """The resident memory now (Linux), to tell what a stage keeps from what it peaks at."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**30
    except OSError:
        return float("nan")


def strategy_of(text: str) -> benders.Strategy:
    """A named strategy, or ``field=value,...`` changes to the default one."""
    if text in STRATEGIES:
        return STRATEGIES[text]
    changes = {}
    for part in re.split(r",(?![^()]*\))", text):
        key, value = part.split("=", 1)
        field = {f.name: f for f in dataclasses.fields(benders.Strategy)}[key.strip()]
        changes[field.name] = value if field.type.startswith("Literal") else eval(value)
    return dataclasses.replace(benders.DEFAULT_STRATEGY, **changes)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("instance", nargs="?", default="estate-10x5",
                    help="a bundled instance's name or an instance.yaml path")
    ap.add_argument("--gap", type=float, default=1e-3)
    ap.add_argument("--time-limit", type=float, default=None)
    ap.add_argument("--method", default="auto")
    ap.add_argument("--resolution", default=None)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--strategy", default="default",
                    help=f"{', '.join(STRATEGIES)}, or field=value,... (benders.Strategy)")
    ap.add_argument("--no-marginals", action="store_true")
    args = ap.parse_args()
    path = Path(args.instance)
    if not path.suffix:
        path = ROOT / "instances" / args.instance / "instance.yaml"
    config = SolveConfig(mip_gap=args.gap, time_limit=args.time_limit, method=args.method,
                         resolution=args.resolution, threads=args.threads,
                         marginals=not args.no_marginals)
    strategy = strategy_of(args.strategy)
    print(f"{path.parent.name}: --mip-gap {args.gap:g}, method {args.method}, "
          f"threads {config.thread_count}, strategy {args.strategy}; "
          f"load average {os.getloadavg()[0]:.2f}", flush=True)
    stages: list[tuple[str, float, float]] = []

    def stage(name: str, t0: float) -> None:
        stages.append((name, time.perf_counter() - t0, peak_gb()))
        print(f"  {name:<10} {stages[-1][1]:7.2f} s   peak {stages[-1][2]:5.2f} GB   "
              f"now {rss_gb():5.2f} GB", flush=True)

    t_all = t = time.perf_counter()
    instance = pipeline.load(path)
    stage("load", t)
    t = time.perf_counter()
    grid = pipeline.time_grid(instance, config)
    data = pipeline.prepare(instance, grid)
    built = pipeline.build(data)
    stage("build", t)
    t = time.perf_counter()
    compiled = pipeline.compile(built)
    stage("compile", t)
    t = time.perf_counter()
    model, built = built.model, None  # as pipeline.run: the form holds no Pyomo object
    pipeline.release_model(model, compiled)
    model = None
    stage("release", t)
    form = compiled.form
    print(f"  model: {form.n_rows:,} rows, {form.n_cols:,} columns "
          f"({int(form.integer.sum())} integer), {form.A.nnz:,} non-zeros", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        log_path = Path(tmp) / "solver.log"
        t = time.perf_counter()
        solution = solver_run.solve(
            form, config, col_block=column_blocks(data, form.columns),
            decompose_by_default=data.grid.mode == "representative", log_path=log_path,
            strategy=strategy)
        stage("solve", t)
        log = log_path.read_text() if log_path.exists() else ""
        t = time.perf_counter()
        pipeline.diagnose(solution, data, config)
        stage("marginals", t)
    t = time.perf_counter()
    pipeline.tabulate(solution, data)
    stage("tables", t)
    total = time.perf_counter() - t_all
    if solution.method == "benders":
        print("\n  decomposition (solver.log):")
        for line in log.splitlines():
            if ITERATION.match(line) or line.lstrip().startswith(("iter", "times (s)",
                                                                  "Benders ", "Hashpivot")):
                print("   ", line)
    print(f"\n{path.parent.name}: status {solution.status}, method {solution.method}, NPV "
          f"{(solution.npv_usd or float('nan')) / 1e6:,.2f} M$, bound "
          f"{(solution.best_bound_usd or float('nan')) / 1e6:,.2f} M$, gap "
          f"{solution.mip_gap if solution.mip_gap is not None else float('nan'):.2e}")
    print(f"end to end (in process, imports excluded) {total:.1f} s, peak {peak_gb():.2f} GB, "
          f"load average {os.getloadavg()[0]:.2f}")
    print("| " + " | ".join(name for name, _, _ in stages) + " | total | peak GB |")
    print("|" + " --- |" * (len(stages) + 2))
    print("| " + " | ".join(f"{s:.1f}" for _, s, _ in stages) + f" | {total:.1f} | "
          f"{peak_gb():.2f} |")


if __name__ == "__main__":
    main()
