"""Shared helpers for tests that build tiny instances in memory.

- ``make_instance`` (fixture): dict (+ hourly series columns) -> validated ``Instance``,
  with the series CSV written into the test's tmp_path;
- ``base_instance`` / ``base_site``: the smallest valid instance and site, to update;
- ``mining_known_answer``: the hand-derived mining instance (NPV 7 560 USD);
- ``solve_exact``: solve to a 1e-9 gap, check optimality and that the cash-flow table
  rebuilds the NPV;
- ``term_total``: one cash-flow term summed from ``Result.cashflows``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from optimizer.instance import Instance, load_instance

# a series column: one value per horizon hour, or a function of the hour index h
# (0 at the horizon start) returning one value per hour
Column = np.ndarray | list | Callable[[np.ndarray], np.ndarray]


def deep_update(base: dict, *overrides: dict) -> dict:
    """A deep copy of ``base`` with nested dicts of ``overrides`` merged in."""
    out = copy.deepcopy(base)
    for over in overrides:
        for key, value in over.items():
            if isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key] = deep_update(out[key], value)
            else:
                out[key] = copy.deepcopy(value)
    return out


def base_site(**overrides) -> dict:
    """One site, no fleet, no halls, ample grid and cooling, price 0."""
    site = {
        "id": "s",
        "grid": {"import_limit_mw": 100.0, "price_usd_per_mwh": 0.0},
        "cooling": {"air": {"capacity_mw": 100.0}},
        "halls": {"mining_mw": 0.0},
    }
    return deep_update(site, overrides)


def base_instance(periods: int = 1, start: str = "2027-02-01", period: str = "month",
                  discount_rate: float = 0.0, **overrides) -> dict:
    """A valid instance dict with one ``base_site``; ``overrides`` are deep-merged."""
    data = {
        "name": "known-answer",
        "horizon": {"start": start, "period": period, "periods": periods,
                    "discount_rate": discount_rate},
        "market": {"hashprice_usd_per_ph_day": 48.0},
        "sites": [base_site()],
    }
    return deep_update(data, overrides)


def horizon_hours(data: dict) -> pd.DatetimeIndex:
    h = data["horizon"]
    months = {"month": 1, "quarter": 3, "year": 12}[h["period"]] * h["periods"]
    t0 = pd.Timestamp(h["start"], tz="UTC")
    return pd.date_range(t0, t0 + pd.DateOffset(months=months), freq="h", inclusive="left")


def alternating(*values: float) -> Callable[[np.ndarray], np.ndarray]:
    """A series cycling through ``values`` hour by hour (hour 0 takes values[0])."""
    arr = np.asarray(values, dtype=float)
    return lambda h: arr[h % len(arr)]


def mining_known_answer(price_even: float = 20.0) -> tuple[dict, dict]:
    """The mining known answer (test_known_answers.py, derived there): 1000 ASICs (100 TH,
    3 kW, opex 5 USD/MWh), pool fee 0.25, hashprice 48 USD/PH/day, so mining earns 50 USD
    per MWh of IT; import adder 5, aux load 0.5 MW; the price alternates ``price_even`` /
    45. With 20: even hours mine (50 > 20 + 5 + 5), odd hours do not (50 < 55).
    NPV = 336 h x 3 MW x 20 - 0.5 MW x 336 x (25 + 50) = 20 160 - 12 600 = 7 560 USD.
    Returns the instance dict and its series columns."""
    data = base_instance(
        market={"hashprice_usd_per_ph_day": 48.0, "pool_fee": 0.25},
        sites=[base_site(
            aux_load_mw=0.5,
            grid={"price_usd_per_mwh": {"column": "price"}, "import_adder_usd_per_mwh": 5.0},
            halls={"mining_mw": 3.0},
            fleet=[{"id": "asic", "units": 1000, "hashrate_th": 100.0, "power_kw": 3.0,
                    "cooling": "air", "opex_usd_per_mwh": 5.0}])])
    return data, {"price": alternating(price_even, 45.0)}


def write_series(folder: Path, hours: pd.DatetimeIndex, columns: dict[str, Column]) -> Path:
    h = np.arange(len(hours))
    frame = pd.DataFrame({"timestamp": hours.strftime("%Y-%m-%dT%H:%M:%SZ")})
    for name, col in columns.items():
        values = col(h) if callable(col) else np.asarray(col, dtype=float)
        assert len(values) == len(hours), (name, len(values), len(hours))
        frame[name] = values
    path = folder / "series.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture
def make_instance(tmp_path: Path):
    """``make_instance(data, series=None) -> Instance``; series columns go to series.csv."""

    def make(data: dict, series: dict[str, Column] | None = None) -> Instance:
        data = copy.deepcopy(data)
        if series:
            write_series(tmp_path, horizon_hours(data), series)
            data["series"] = {"file": "series.csv"}
        if hasattr(Instance, "from_dict"):
            return Instance.from_dict(data, tmp_path, file_label="<test>")
        import yaml  # fallback while from_dict is not available

        path = tmp_path / "instance.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return load_instance(path)

    return make


def mandatory_contract(units: int, *, capex_usd: float = 250000, halls: dict | None = None,
                       **instance_keys) -> dict:
    """One site ``s`` and one mandatory contract ("lab", February) for ``units`` of an
    8-GPU, 10 kW air-cooled server with lead 0 (the infeasible cases of
    test_marginals_infeasibility.py and test_decompose.py)."""
    product = {"id": "h100", "gpus_per_unit": 8, "it_kw": 10.0, "cooling": "air",
               "capex_usd": capex_usd, "lead_periods": 0, "life_years": 5,
               "spot_price_usd_per_gpu_hour": 2.0}
    site = base_site(halls=halls) if halls is not None else base_site()
    return base_instance(
        sites=[site], gpu_products=[product],
        contracts=[{"id": "lab", "site": "s", "product": "h100", "units": units,
                    "price_usd_per_gpu_hour": 2.0, "start_period": 0, "end_period": 1}],
        **instance_keys)


# set by tests that run the same cases through each solve method (test_known_answers.py)
SOLVE_METHOD = {"method": "auto"}


def solve_exact(instance: Instance, **kwargs):
    """Solve to a 1e-9 relative gap and check the result's consistency: the status is
    optimal; the discounted cash flows sum to ``npv_usd`` and to the objective of the
    standard form evaluated at the incumbent (1e-9 relative); the best bound agrees
    (1e-6)."""
    from optimizer.api import solve

    kwargs.setdefault("mip_gap", 1e-9)
    kwargs.setdefault("method", SOLVE_METHOD["method"])
    result = solve(instance, **kwargs)
    assert result.status == "optimal", result.message
    form = result.solution.form
    if kwargs["method"] == "benders" and form.integer.any():
        # a decomposition that handed over to the monolithic solve would test nothing
        assert result.method == "benders", result.solver_log[-2000:]
    total = float(result.cashflows["discounted_usd"].sum())
    assert total == pytest.approx(result.npv_usd, rel=1e-9, abs=1e-6)
    assert total == pytest.approx(form.npv_usd(result.solution.x), rel=1e-9, abs=1e-6)
    if result.best_bound_usd is not None:
        assert result.best_bound_usd == pytest.approx(total, rel=1e-6, abs=1e-4)
    return result


@pytest.fixture(params=["monolithic", "benders"])
def both_methods(request, monkeypatch):
    """Solve through one HiGHS MILP and through the Benders decomposition (models without
    integers always take the monolithic solve); a module opts in with
    ``pytestmark = pytest.mark.usefixtures("both_methods")``."""
    monkeypatch.setitem(SOLVE_METHOD, "method", request.param)
    return request.param


def col(result, name: str, site: str = "s") -> np.ndarray:
    """A dispatch column of one site, step by step."""
    d = result.dispatch
    return d.loc[d["site"] == site, name].to_numpy(dtype=float)


def periods(result, site: str = "s") -> np.ndarray:
    d = result.dispatch
    return d.loc[d["site"] == site, "period"].to_numpy()


def capex_rows(result, kind: str, item: str | None = None) -> pd.DataFrame:
    c = result.capex
    rows = c[c["kind"] == kind]
    return rows if item is None else rows[rows["item"] == item]


def capex_qty(result, kind: str, item: str | None = None, period: int | None = None,
              site: str | None = None) -> float:
    """Quantity of one capex.csv kind (and item, period, site), summed."""
    rows = capex_rows(result, kind, item)
    if period is not None:
        rows = rows[rows["period"] == period]
    if site is not None:
        rows = rows[rows["site"] == site]
    return float(rows["quantity"].sum())


def term_total(result, term: str, period: int | None = None, discounted: bool = False) -> float:
    """A cash-flow term summed over sites (and periods unless ``period`` is given)."""
    cf = result.cashflows
    rows = cf[cf["term"] == term]
    if period is not None:
        rows = rows[rows["period"] == period]
    return float(rows["discounted_usd" if discounted else "undiscounted_usd"].sum())


def terms_present(result) -> set[str]:
    return set(result.cashflows["term"])


# --------------------------------------------------------------------------- bundled runs

BUNDLED_ROOT = Path(__file__).resolve().parent.parent / "instances"


@pytest.fixture(scope="session")
def bundled_run(tmp_path_factory):
    """``bundled_run(name) -> (instance, result, run_dir)``: each bundled instance is
    solved (default options) and written once per test session; tests that change the
    folder must work on a copy."""
    from optimizer.api import solve

    cache: dict = {}

    def get(name: str):
        if name not in cache:
            inst = load_instance(BUNDLED_ROOT / name / "instance.yaml")
            result = solve(inst)
            assert result.status == "optimal", result.message
            run = result.write(tmp_path_factory.mktemp(name) / "run")
            cache[name] = (inst, result, run)
        return cache[name]

    return get
