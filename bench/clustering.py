"""Clustering of representative days: seconds and total distance per method, and the NPV
error each method's days give.

    python bench/clustering.py                          # K = 4, 8, 12, 16; five instances
    python bench/clustering.py --days 8 --instances permian-1y
    python bench/clustering.py --npv permian-1y         # also solve each method's days

The same days are clustered (per period, the days left after the kept peak days), on the
same features (``_day_features``: clipped to the 5-95 % quantiles, min-max scaled) by:

- ``tsam``            the previous release: tsam's exact k-medoids, a MILP built through
                      Pyomo and solved by HiGHS, on the same clipped data (tsam scales it)
- ``exact``           the same MILP (strong formulation, medoid columns integer) passed to
                      highspy directly, ``mip_rel_gap`` 0
- ``fasterpam-build`` one FasterPAM run from the BUILD start (``kmedoids`` package)
- ``fasterpam xN``    ``representative._cluster``: the best of N FasterPAM runs from random
                      starts of one seeded generator (N = ``representative.RESTARTS`` ships)

For each: seconds per period (features and distances included), the periods whose total
distance of the days to their medoids is above the exact optimum, and the largest excess.
Instances: permian-1y, portfolio-3y and the three permian variants of
``representative_accuracy.py`` (other price years). ``--npv`` solves an instance hourly
once and with every method's days at every K: NPV error against hourly and plan
differences. Figures, not asserts.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from representative_accuracy import PERMIAN, PORTFOLIO_SERIES, VARIANTS, variant  # noqa: E402

from optimizer.api import plan_differences, solve  # noqa: E402
from optimizer.instance import load_instance  # noqa: E402
from optimizer.time import representative as rep  # noqa: E402
from optimizer.time.grid import period_table  # noqa: E402

SHIPPED_RESTARTS = rep.RESTARTS
SHIPPED_CLUSTER = rep._cluster  # npv_table swaps rep._cluster


def cluster_tsam(days: np.ndarray, profiles: pd.DataFrame, k: int) -> list[tuple[int, int]]:
    """The previous release's ``_cluster``, verbatim but for the clipping, done here."""
    if len(days) <= k:
        return [(int(day), 1) for day in days]
    import tsam

    hours = np.concatenate([np.arange(d * 24, d * 24 + 24) for d in days])
    data = profiles.iloc[hours]
    lo, hi = data.quantile(rep.CLIP_QUANTILE), data.quantile(1.0 - rep.CLIP_QUANTILE)
    clipped = data.clip(lower=lo, upper=hi, axis=1)
    varying = [c for c in clipped.columns if clipped[c].max() > clipped[c].min()]
    data = clipped[varying].copy() if varying else data.copy()
    data.index = pd.date_range("2000-01-01", periods=len(data), freq="h")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = tsam.aggregate(data, n_clusters=k, preserve_column_means=False,
                             cluster=tsam.ClusterConfig(method="kmedoids"))
    assign = np.asarray(res.cluster_assignments)
    centers = list(res.clustering.cluster_centers)
    return [(int(days[centers[c]]), int((assign == c).sum())) for c in range(len(centers))]


def exact_medoids(dist: np.ndarray, k: int) -> np.ndarray:
    """Exact k-medoids by HiGHS: z[i, j] = day j in the cluster of medoid i, z[i, i]
    integer (the medoids), the rest continuous (nearest-medoid assignment is integral);
    sum_i z[i, j] = 1, sum_i z[i, i] = k, z[i, j] <= z[i, i]. The thread count is left
    alone: HiGHS keeps one pool per process and the main solve resets it."""
    import highspy
    from scipy import sparse

    n = len(dist)
    medoid_i = np.repeat(np.arange(n), n)
    day_j = np.tile(np.arange(n), n)
    column = medoid_i * n + day_j
    off = medoid_i != day_j
    n_link = int(off.sum())
    link_rows = n + 1 + np.arange(n_link)
    diagonal = np.arange(n) * (n + 1)
    rows = np.concatenate([day_j, np.full(n, n), link_rows, link_rows])
    cols = np.concatenate([column, diagonal, column[off], medoid_i[off] * (n + 1)])
    vals = np.concatenate([np.ones(n * n + n + n_link), -np.ones(n_link)])
    a = sparse.csc_matrix((vals, (rows, cols)), shape=(n + 1 + n_link, n * n))
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n * n, a.shape[0]
    lp.col_cost_ = dist.ravel().astype(float)
    lp.col_lower_, lp.col_upper_ = np.zeros(n * n), np.ones(n * n)
    lp.row_lower_ = np.concatenate([np.ones(n), [k], np.full(n_link, -np.inf)])
    lp.row_upper_ = np.concatenate([np.ones(n), [k], np.zeros(n_link)])
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = a.indptr, a.indices, a.data
    integer = np.zeros(n * n, bool)
    integer[diagonal] = True
    lp.integrality_ = [highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous
                       for i in integer]
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("mip_rel_gap", 0.0)
    h.passModel(lp)
    h.run()
    z = np.asarray(h.getSolution().col_value).reshape(n, n)
    return np.flatnonzero(np.diag(z) > 0.5)


def cluster_exact(days: np.ndarray, profiles: pd.DataFrame, k: int) -> list[tuple[int, int]]:
    if len(days) <= k:
        return [(int(day), 1) for day in days]
    dist = rep._distances(rep._day_features(days, profiles))
    medoids = exact_medoids(dist, k)
    return [(int(days[m]), size) for m, size in rep._clusters(dist, medoids)]


def cluster_fasterpam_build(days: np.ndarray, profiles: pd.DataFrame,
                            k: int) -> list[tuple[int, int]]:
    if len(days) <= k:
        return [(int(day), 1) for day in days]
    dist = rep._distances(rep._day_features(days, profiles))
    run = rep._fasterpam()(dist, k, init="build", n_cpu=1)
    medoids = np.sort(np.asarray(run.medoids, dtype=int))
    return [(int(days[m]), size) for m, size in rep._clusters(dist, medoids)]


def cluster_restarts(n: int):
    def cluster(days: np.ndarray, profiles: pd.DataFrame, k: int) -> list[tuple[int, int]]:
        rep.RESTARTS = n
        try:
            return SHIPPED_CLUSTER(days, profiles, k)
        finally:
            rep.RESTARTS = SHIPPED_RESTARTS
    return cluster


METHODS = {"tsam": cluster_tsam, "exact": cluster_exact,
           "fasterpam-build": cluster_fasterpam_build}
for _n in sorted({1, 20, 50, SHIPPED_RESTARTS}):
    METHODS[f"fasterpam x{_n}"] = cluster_restarts(_n)


def total_distance(days: np.ndarray, profiles: pd.DataFrame,
                   clusters: list[tuple[int, int]]) -> float:
    """Sum over the days of the distance to the nearest medoid."""
    dist = rep._distances(rep._day_features(days, profiles))
    rows = np.searchsorted(days, [d for d, _ in clusters])
    return float(dist[:, rows].min(axis=1).sum())


def instances(folder: Path, names: list[str]) -> dict[str, Path]:
    shutil.copy(PORTFOLIO_SERIES, folder / "series.csv")
    paths = {"permian-1y": PERMIAN,
             "portfolio-3y": ROOT / "instances" / "portfolio-3y" / "instance.yaml"}
    paths.update({name: variant(folder, name, *spec) for name, spec in VARIANTS.items()})
    return {name: paths[name] for name in names}


def period_day_sets(inst) -> tuple[pd.DataFrame, list[np.ndarray]]:
    features = rep.features_of(inst)
    starts = list(inst.horizon.period_starts())
    periods, _, _ = period_table(starts, inst.horizon.months_per_period(),
                                 float(inst.horizon.discount_rate))
    keep = inst.horizon.resolution.keep_peak_days
    profiles = rep._profiles(features, features.values.index)
    return profiles, [rest for _, _, rest in rep._period_days(periods, features, keep)]


def import_seconds() -> dict[str, float]:
    """First-use import cost, each in a fresh interpreter."""
    snippets = {
        "import kmedoids": "import kmedoids",
        "representative._fasterpam()": "from optimizer.time.representative import "
                                       "_fasterpam; t0 = time.perf_counter(); _fasterpam()",
        "import tsam (after pyomo)": "import pyomo.environ; t0 = time.perf_counter(); "
                                     "import tsam",
    }
    out = {}
    for label, code in snippets.items():
        script = ("import time; t0 = time.perf_counter(); " + code +
                  "; print(time.perf_counter() - t0)")
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              cwd=ROOT, check=True)
        out[label] = float(proc.stdout.split()[-1])
    return out


def build_seconds(path: Path, k: int, method: str) -> dict[str, float]:
    """Seconds of ``api.build`` (time grid + data + Pyomo model) and of the time grid
    alone, in a fresh interpreter (imports paid as in a CLI run), clustering by
    ``method`` ("tsam" or "shipped")."""
    swap = "C.rep._cluster = C.cluster_tsam; " if method == "tsam" else ""
    script = (
        "import sys, time; sys.path.insert(0, 'bench'); import clustering as C; " + swap +
        "from optimizer.api import build; from optimizer.instance import load_instance; "
        f"inst = load_instance({str(path)!r}); t0 = time.perf_counter(); "
        "f = C.rep.features_of(inst); from optimizer.time.grid import build_time_grid; "
        f"build_time_grid(inst.horizon, mode='representative', features=f, "
        f"days_per_period={k}); t1 = time.perf_counter(); C.rep._CACHE.clear(); "
        f"build(inst, representative_days={k}); "
        "print(t1 - t0, time.perf_counter() - t1)")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=ROOT, check=True)
    grid_s, build_s = (float(x) for x in proc.stdout.split()[-2:])
    return {"time grid (first, imports included)": grid_s,
            "build (time grid + data + model)": build_s}


def clustering_table(paths: dict[str, Path], ks: list[int]) -> pd.DataFrame:
    # first calls pay imports (tsam, Pyomo, kmedoids, highspy): not per-period figures
    warm_days = np.arange(30)
    warm = pd.DataFrame({"x": np.sin(np.arange(30 * 24) / 7.0)})
    for method in METHODS.values():
        method(warm_days, warm, 3)
    rows = []
    for name, path in paths.items():
        profiles, day_sets = period_day_sets(load_instance(path))
        for k in ks:
            for p, days in enumerate(day_sets):
                if len(days) <= k:
                    continue
                for label, method in METHODS.items():
                    t0 = time.perf_counter()
                    clusters = method(days, profiles, k)
                    seconds = time.perf_counter() - t0
                    rows.append({"instance": name, "k": k, "period": p, "method": label,
                                 "seconds": seconds, "medoids": tuple(sorted(clusters)),
                                 "total": total_distance(days, profiles, clusters)})
            print(f"  {name} K={k}: {len(day_sets)} periods", flush=True)
    df = pd.DataFrame(rows)
    optimum = df[df.method == "exact"].set_index(["instance", "k", "period"])["total"]
    df["excess"] = df["total"].to_numpy() / optimum.loc[
        list(zip(df.instance, df.k, df.period))].to_numpy() - 1.0
    return df


def summary(df: pd.DataFrame) -> pd.DataFrame:
    def one(g: pd.DataFrame) -> pd.Series:
        return pd.Series({
            "periods": len(g), "mean_ms": 1e3 * g.seconds.mean(),
            "max_ms": 1e3 * g.seconds.max(),
            "above_optimum": int((g.excess > 1e-9).sum()),
            "max_excess_pct": 100 * g.excess.max()})
    return df.groupby("method", sort=False)[["seconds", "excess"]].apply(one)


def npv_table(path: Path, ks: list[int], methods: list[str]) -> pd.DataFrame:
    inst = load_instance(path)
    hourly = solve(inst, resolution="hourly", marginals_wanted=False)
    rows = []
    try:
        for k in ks:
            for label in methods:
                rep._cluster = METHODS[label]
                rep._CACHE.clear()
                t0 = time.perf_counter()
                res = solve(inst, representative_days=k, marginals_wanted=False)
                diff, text = plan_differences(hourly.capex, res.capex)
                rows.append({"k": k, "method": label,
                             "npv_error_pct": 100 * (res.npv_usd / hourly.npv_usd - 1),
                             "max_plan_diff_units": diff, "plan_differences": text,
                             "build_s": res.timings_s.get("build", 0.0),
                             "end_to_end_s": time.perf_counter() - t0})
                print(f"  K={k} {label}: {rows[-1]['npv_error_pct']:+.3f} % "
                      f"plan diff {diff:g}", flush=True)
    finally:
        rep._cluster = SHIPPED_CLUSTER
        rep._CACHE.clear()
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", default="4,8,12,16")
    ap.add_argument("--instances",
                    default="permian-1y,portfolio-3y," + ",".join(VARIANTS))
    ap.add_argument("--npv", default="", help="instances to solve with every method's days")
    ap.add_argument("--npv-methods", default=",".join(METHODS))
    ap.add_argument("--out", default="clustering.csv")
    args = ap.parse_args()
    ks = [int(k) for k in args.days.split(",")]
    pd.set_option("display.width", 200)

    print("first-use import time (fresh interpreter):")
    for label, seconds in import_seconds().items():
        print(f"  {label:32s} {1e3 * seconds:8.1f} ms")
    with tempfile.TemporaryDirectory() as tmp:
        paths = instances(Path(tmp), args.instances.split(","))
        df = clustering_table(paths, ks)
        df.to_csv(args.out, index=False)
        print(f"\nclustering per period, K = {args.days}, {df.instance.nunique()} instances "
              f"({args.out}):")
        print(summary(df).round(3).to_string())
        k8 = df[df.k == 8].groupby(["instance", "method"], sort=False).seconds.sum().unstack()
        if len(k8):
            print("\nseconds of clustering per instance at K = 8 (all periods):")
            print(k8.round(3).to_string())
            new = k8[f"fasterpam x{SHIPPED_RESTARTS}"]
            print("tsam / shipped: " + ", ".join(
                f"{name} {k8.loc[name, 'tsam'] / new[name]:.0f}x" for name in k8.index))
        print("\nfresh interpreter at K = 8, seconds:")
        for name in [n for n in ("permian-1y", "portfolio-3y") if n in paths]:
            for method in ("tsam", "shipped"):
                figures = build_seconds(paths[name], 8, method)
                print(f"  {name:13s} {method:8s} " + ", ".join(
                    f"{label} {value:.2f}" for label, value in figures.items()), flush=True)
        for name in filter(None, args.npv.split(",")):
            print(f"\n{name}: NPV error against hourly per clustering method")
            table = npv_table(paths[name], ks, args.npv_methods.split(","))
            print(table.drop(columns="plan_differences").round(3).to_string(index=False))


if __name__ == "__main__":
    main()
