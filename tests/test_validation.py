"""Instance loading and validation (optimizer/instance, docs/instance-format.md).

Every case starts from one small valid instance (one site, two monthly periods from
2027-01-01, a series CSV written next to it), mutates it, and checks the key path
and the message of the problem reported.
"""

from __future__ import annotations

import copy
import datetime as dt
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optimizer.instance import (
    ColumnRef,
    CoolingType,
    Horizon,
    Instance,
    InstanceError,
    Problem,
    load_instance,
)
from optimizer.instance.load import MAX_YAML_BYTES
from optimizer.instance.problems import MISSING
from optimizer.instance.values import HOURLY_MESSAGE, PER_PERIOD_MESSAGE

# --------------------------------------------------------------------------- base case

CSV_START = pd.Timestamp("2026-12-31T22:00:00Z")  # two rows before the horizon
CSV_END = pd.Timestamp("2027-03-01T02:00:00Z")  # three rows after it (inclusive)
HORIZON_HOURS = (31 + 28) * 24
FIRST_LINE = 4  # line of 2027-01-01T00:00Z: header is line 1, then 22:00 and 23:00


def base_frame() -> pd.DataFrame:
    idx = pd.date_range(CSV_START, CSV_END, freq="h")
    i = np.arange(len(idx))
    return pd.DataFrame(
        {
            "timestamp": idx.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "hashprice": 50.0 + i % 7,
            "lmp": (i % 50) - 10.0,  # negative prices are allowed
            "temp": 10.0 + i % 20,
            "cp_flag": (i % 500 == 7).astype(float),
            "wind_cf": (i % 11) / 10.0,
            "rrs": (i % 5) * 1.0,
            "spot": 2.0 + (i % 3) / 10.0,
        }
    )


BASE_CSV = base_frame().to_csv(index=False)


def csv_lines() -> list[str]:
    return BASE_CSV.splitlines()


def base() -> dict:
    return {
        "name": "test-pivot",
        "description": "validation tests",
        "horizon": {
            "start": dt.date(2027, 1, 1),
            "period": "month",
            "periods": 2,
            "discount_rate": 0.08,
        },
        "series": {"file": "series.csv"},
        "market": {"hashprice_usd_per_ph_day": {"column": "hashprice"}, "pool_fee": 0.02},
        "capex_budget_usd": [4.0e8, 3.0e8],
        "sites": [
            {
                "id": "rockdale",
                "ambient_c": {"column": "temp"},
                "aux_load_mw": 2,
                "grid": {
                    "import_limit_mw": 300,
                    "price_usd_per_mwh": {"column": "lmp"},
                    "import_adder_usd_per_mwh": 4.0,
                    "export_limit_mw": 50,
                    "coincident_peak": {
                        "flag_column": "cp_flag",
                        "charge_usd_per_kw_year": 55.0,
                        "intervals_per_year": 4,
                    },
                    "ancillary": {
                        "price_usd_per_mw_h": {"column": "rrs", "scale": 1.5},
                        "max_mw": 100,
                    },
                    "upgrades": [
                        {
                            "id": "sub-2",
                            "add_mw": 100,
                            "capex_usd": 4.0e7,
                            "lead_periods": 1,
                            "max_count": 1,
                            "life_years": 30,
                        }
                    ],
                },
                "cooling": {
                    "air": {
                        "capacity_mw": 320,
                        "pue": 1.04,
                        "pue_per_c": 0.002,
                        "derate_per_c": 0.015,
                        "min_factor": 0.6,
                    },
                    "upgrades": [
                        {
                            "id": "dlc-20",
                            "type": "liquid",
                            "add_mw": 20,
                            "capex_usd": 3.0e7,
                            "lead_periods": 0,
                            "max_count": 5,
                            "life_years": 15,
                        }
                    ],
                },
                "halls": {
                    "mining_mw": 300,
                    "conversion": {
                        "block_mw": 10,
                        "capex_usd_per_block": 2.5e7,
                        "lead_periods": 1,
                        "max_blocks": 20,
                        "life_years": 20,
                    },
                },
                "fleet": [
                    {
                        "id": "s19xp",
                        "units": 20000,
                        "hashrate_th": 141,
                        "power_kw": 3.01,
                        "cooling": "air",
                        "opex_usd_per_mwh": 3.0,
                        "salvage_usd_per_unit": [400, 380],
                    },
                    {
                        "id": "s21",
                        "units": 100,
                        "hashrate_th": 200,
                        "power_kw": 3.5,
                        "cooling": "air",
                    },
                ],
                "gpus": [{"product": "h100-hgx", "units": 4}],
            }
        ],
        "gpu_products": [
            {
                "id": "h100-hgx",
                "gpus_per_unit": 8,
                "it_kw": 10.2,
                "idle_fraction": 0.3,
                "cooling": "air",
                "capex_usd": [2.6e5, 2.4e5],
                "lead_periods": 1,
                "life_years": 5,
                "max_units_per_period": 2000,
                "opex_usd_per_unit_year": 15000,
                "spot_price_usd_per_gpu_hour": {"column": "spot", "scale": 0.9},
                "spot_max_utilization": 0.7,
            }
        ],
        "contracts": [
            {
                "id": "lab-a",
                "site": "rockdale",
                "product": "h100-hgx",
                "units": 5,
                "price_usd_per_gpu_hour": 2.1,
                "start_period": 0,
                "end_period": 2,
                "optional": True,
            }
        ],
        "leases": [
            {
                "id": "tenant-b",
                "site": "rockdale",
                "it_mw": 4,
                "cooling": "liquid",
                "price_usd_per_kw_month": 130,
                "start_period": 1,
                "end_period": 2,
            }
        ],
        "ppas": [
            {
                "id": "wind-1",
                "site": "rockdale",
                "kind": "physical",
                "profile_column": "wind_cf",
                "capacity_mw": 150,
                "strike_usd_per_mwh": 38,
                "take_or_pay": True,
                "start_period": 0,
                "end_period": 2,
            },
            {
                "id": "vppa",
                "site": "rockdale",
                "kind": "virtual",
                "baseload_mw": 20,
                "strike_usd_per_mwh": 40,
                "start_period": 0,
                "end_period": 1,
            },
            {
                "id": "solar",
                "site": "rockdale",
                "kind": "onsite",
                "baseload_mw": 10,
                "strike_usd_per_mwh": 30,
                "take_or_pay": False,
                "min_take_fraction": 0.5,
                "curtailable": False,
                "start_period": 0,
                "end_period": 2,
            },
        ],
    }


def write_case(folder: Path, data, csv: str | None = BASE_CSV, name: str = "instance.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if csv is not None:
        (folder / "series.csv").write_text(csv)
    path = folder / name
    if isinstance(data, (bytes, str)):
        path.write_bytes(data if isinstance(data, bytes) else data.encode())
    else:
        path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def problems_of(folder: Path, data, csv: str | None = BASE_CSV) -> list[Problem]:
    with pytest.raises(InstanceError) as info:
        load_instance(write_case(folder, data, csv))
    problems = info.value.problems
    assert problems, "InstanceError without problems"
    for p in problems:
        assert "internal error" not in p.message, str(p)
    return problems


def at(problems: list[Problem], path: str) -> Problem:
    found = [p for p in problems if p.path == path]
    assert found, f"no problem at {path!r}; got:\n" + "\n".join(map(str, problems))
    return found[0]


DELETE = object()
_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def mutate(data: dict, path: str, value) -> dict:
    data = copy.deepcopy(data)
    keys = [int(i) if i else k for k, i in _TOKEN.findall(path)]
    node = data
    for k in keys[:-1]:
        node = node[k]
    if value is DELETE:
        del node[keys[-1]]
    else:
        node[keys[-1]] = value
    return data


# --------------------------------------------------------------------------- valid base


def test_base_loads(tmp_path):
    inst = load_instance(write_case(tmp_path, base()))
    assert isinstance(inst, Instance)
    assert inst.source_path == (tmp_path / "instance.yaml").absolute()
    assert inst.series_path == (tmp_path / "series.csv").resolve()
    s = inst.series
    assert list(s.columns) == ["hashprice", "lmp", "temp", "cp_flag", "wind_cf", "rrs", "spot"]
    assert (s.dtypes == np.float64).all()
    assert isinstance(s.index, pd.DatetimeIndex) and str(s.index.tz) == "UTC"
    assert len(s) == HORIZON_HOURS  # rows outside the horizon dropped
    assert s.index[0] == pd.Timestamp("2027-01-01T00:00Z")
    assert s.index[-1] == pd.Timestamp("2027-02-28T23:00Z")
    assert (s.index[1:] - s.index[:-1] == pd.Timedelta(hours=1)).all()
    assert s["hashprice"].iloc[0] == 50.0 + 2 % 7  # row 2 of the file is the first hour


def test_defaults_and_types(tmp_path):
    data = base()
    inst = load_instance(write_case(tmp_path, data))
    site = inst.sites[0]
    assert site.cooling.liquid == CoolingType(capacity_mw=0.0)
    liquid = site.cooling.liquid
    assert (
        liquid.pue,
        liquid.pue_per_c,
        liquid.pue_ref_c,
        liquid.rated_ambient_c,
        liquid.derate_per_c,
        liquid.min_factor,
    ) == (1.0, 0.0, 25.0, 35.0, 0.0, 0.0)
    assert site.cooling.air.rated_ambient_c == 35.0
    assert inst.ppas[1].take_or_pay is False and inst.ppas[0].take_or_pay is True
    assert inst.ppas[1].curtailable is True and inst.ppas[2].curtailable is False
    assert inst.horizon.resolution.mode == "hourly"
    assert inst.horizon.resolution.days_per_period == 8
    assert inst.horizon.resolution.keep_peak_days is True
    assert site.aux_load_mw == 2.0 and isinstance(site.aux_load_mw, float)
    assert isinstance(site.grid.import_limit_mw, float)
    assert site.fleet[0].salvage_usd_per_unit == [400.0, 380.0]
    assert all(isinstance(x, float) for x in site.fleet[0].salvage_usd_per_unit)
    assert site.fleet[1].salvage_usd_per_unit == 0.0 and site.fleet[1].opex_usd_per_mwh == 0.0
    assert isinstance(site.fleet[0].units, int)
    assert inst.market.hashprice_usd_per_ph_day == ColumnRef(column="hashprice", scale=1.0)
    assert isinstance(inst.horizon.start, dt.date) and not isinstance(
        inst.horizon.start, dt.datetime
    )
    assert inst.contracts[0].optional is True and inst.leases[0].optional is False
    assert inst.leases[0].energy_rate_usd_per_mwh == 0.0
    assert (
        site.grid.export_fee_usd_per_mwh == 0.0 and site.grid.demand_charge_usd_per_kw_month == 0.0
    )
    assert site.halls.ai_mw == 0.0 and site.fixed_opex_usd_per_year == 0.0
    assert inst.gpu_products[0].max_units_per_period == 2000


def test_minimal_instance_without_series(tmp_path):
    data = {
        "name": "mini",
        "horizon": {"start": "2027-01-01", "period": "year", "periods": 1},
        "market": {"hashprice_usd_per_ph_day": 45},
        "sites": [
            {
                "id": "a",
                "grid": {"import_limit_mw": 10, "price_usd_per_mwh": -5},
                "cooling": {"air": {"capacity_mw": 10}},
                "halls": {"mining_mw": 10},
            }
        ],
    }
    inst = load_instance(write_case(tmp_path, data, csv=None))
    assert inst.series_path is None
    assert inst.series.shape == (8760, 0)
    assert str(inst.series.index.tz) == "UTC"
    assert inst.description == "" and inst.capex_budget_usd is None and inst.series_ref is None
    assert inst.sites[0].ambient_c == 20.0 and inst.market.pool_fee == 0.0
    assert inst.horizon.discount_rate == 0.0
    assert inst.sites[0].fleet == [] and inst.gpu_products == [] and inst.ppas == []
    assert inst.sites[0].grid.coincident_peak is None and inst.sites[0].halls.conversion is None


def test_yaml_floats_with_exponent_and_ints(tmp_path):
    text = write_case(tmp_path, base()).read_text()
    text = text.replace(
        "capex_budget_usd:\n- 400000000.0\n- 300000000.0", "capex_budget_usd: 4.0e8"
    )
    text = text.replace("aux_load_mw: 2", "aux_load_mw: 2e0")
    assert "capex_budget_usd: 4.0e8" in text
    (tmp_path / "instance.yaml").write_text(text)
    inst = load_instance(tmp_path / "instance.yaml")
    assert inst.capex_budget_usd == 4.0e8 and inst.sites[0].aux_load_mw == 2.0
    # a whole float is a valid integer
    inst = load_instance(write_case(tmp_path, mutate(base(), "sites[0].fleet[0].units", 2.0e4)))
    assert inst.sites[0].fleet[0].units == 20000


def test_model_copy_keeps_private_attributes(tmp_path):
    inst = load_instance(write_case(tmp_path, base()))
    copy_ = inst.model_copy(update={"name": "other"})
    assert copy_.name == "other"
    assert copy_.series is inst.series
    assert copy_.source_path == inst.source_path and copy_.series_path == inst.series_path
    deep = inst.model_copy(deep=True)
    assert deep.series.equals(inst.series)
    assert deep == inst


def test_from_dict_and_round_trip(tmp_path):
    write_case(tmp_path, base())
    inst = Instance.from_dict(base(), tmp_path)
    assert inst.source_path is None
    assert inst.series.shape == (HORIZON_HOURS, 7)
    dumped = inst.model_dump(mode="json", exclude_none=True)
    assert dumped["series"] == {"file": "series.csv"}
    again = Instance.from_dict(dumped, tmp_path, file_label="dump")
    assert again.model_dump() == inst.model_dump()
    with pytest.raises(InstanceError) as info:
        Instance.from_dict(mutate(base(), "name", "Bad Name"), tmp_path, file_label="nb")
    assert info.value.problems[0].file == "nb" and info.value.problems[0].path == "name"


def test_json_schema():
    schema = Instance.model_json_schema()
    assert schema["type"] == "object" and "series" in schema["properties"]
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"name", "horizon", "market", "sites"}
    import json

    json.dumps(schema)


def test_horizon_helpers():
    h = Horizon(start=dt.date(2028, 1, 1), period="month", periods=3)
    assert h.months_per_period() == 1
    starts = h.period_starts()
    assert [str(t.date()) for t in starts] == [
        "2028-01-01",
        "2028-02-01",
        "2028-03-01",
        "2028-04-01",
    ]
    assert all(str(t.tz) == "UTC" for t in starts)
    assert len(h.hours()) == (31 + 29 + 31) * 24  # leap year
    q = Horizon(start="2027-10-01T00:00:00Z", period="quarter", periods=2)
    assert q.months_per_period() == 3 and q.period_starts()[-1] == pd.Timestamp(
        "2028-04-01", tz="UTC"
    )
    y = Horizon(
        start=dt.datetime(2027, 1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=1))),
        period="year",
        periods=2,
    )
    assert y.start == dt.date(2027, 1, 1) and y.months_per_period() == 12
    assert y.period_starts()[-1] == pd.Timestamp("2029-01-01", tz="UTC")


def test_problem_and_error_strings(tmp_path):
    problems = problems_of(tmp_path, mutate(mutate(base(), "market.pool_fee", 1.5), "name", "X"))
    p = at(problems, "market.pool_fee")
    label = str(tmp_path / "instance.yaml")
    assert str(p) == f"{label}: market.pool_fee: must be < 1 (got 1.5)"
    err = InstanceError(problems)
    assert str(err).splitlines() == [str(q) for q in problems]
    assert all(q.file == label for q in problems)


# --------------------------------------------------------------------------- rule table

HOURLY = HOURLY_MESSAGE
PERIOD = PER_PERIOD_MESSAGE

CASES = [
    # unknown keys
    ("top-unknown", "colour", "blue", "colour", "unknown key 'colour'"),
    (
        "typo-suggestion",
        "sites[0].grid.import_limt_mw",
        5,
        "sites[0].grid.import_limt_mw",
        "did you mean 'import_limit_mw'",
    ),
    (
        "unknown-in-columnref",
        "market.hashprice_usd_per_ph_day",
        {"column": "hashprice", "scal": 2},
        "market.hashprice_usd_per_ph_day.scal",
        "did you mean 'scale'",
    ),
    (
        "unknown-in-list-item",
        "gpu_products[0].vram_gb",
        80,
        "gpu_products[0].vram_gb",
        "unknown key",
    ),
    (
        "unknown-in-cooling",
        "sites[0].cooling.immersion",
        {"capacity_mw": 1},
        "sites[0].cooling.immersion",
        "unknown key",
    ),
    # missing / types
    (
        "missing-import-limit",
        "sites[0].grid.import_limit_mw",
        DELETE,
        "sites[0].grid.import_limit_mw",
        "missing required key",
    ),
    ("missing-name", "name", DELETE, "name", "missing required key"),
    ("missing-sites", "sites", DELETE, "sites", "missing required key"),
    ("missing-air", "sites[0].cooling.air", DELETE, "sites[0].cooling.air", "missing required key"),
    (
        "missing-capex",
        "gpu_products[0].capex_usd",
        DELETE,
        "gpu_products[0].capex_usd",
        "missing required key",
    ),
    (
        "missing-resolution-mode",
        "horizon.resolution",
        {"days_per_period": 4},
        "horizon.resolution.mode",
        "missing required key",
    ),
    ("periods-string", "horizon.periods", "twelve", "horizon.periods", "expected a whole number"),
    ("periods-fraction", "horizon.periods", 2.5, "horizon.periods", "must be a whole number"),
    ("bool-as-number", "sites[0].aux_load_mw", True, "sites[0].aux_load_mw", "expected a number"),
    ("string-as-number", "market.pool_fee", "0.02", "market.pool_fee", "expected a number"),
    ("nan", "sites[0].cooling.air.pue", float("nan"), "sites[0].cooling.air.pue", "finite"),
    (
        "inf-hashprice",
        "market.hashprice_usd_per_ph_day",
        float("inf"),
        "market.hashprice_usd_per_ph_day",
        "finite",
    ),
    (
        "bool-type",
        "contracts[0].optional",
        "yes please",
        "contracts[0].optional",
        "expected true or false",
    ),
    ("string-type", "description", 42, "description", "expected a string"),
    ("list-type", "sites[0].fleet", {"id": "x"}, "sites[0].fleet", "expected a list"),
    ("mapping-type", "sites[0].grid", 300, "sites[0].grid", "expected a mapping"),
    ("literal", "horizon.period", "week", "horizon.period", "'month', 'quarter' or 'year'"),
    (
        "cooling-literal",
        "sites[0].fleet[0].cooling",
        "water",
        "sites[0].fleet[0].cooling",
        "'air' or 'liquid'",
    ),
    ("ppa-kind", "ppas[0].kind", "financial", "ppas[0].kind", "'physical', 'onsite' or 'virtual'"),
    ("hourly-kind", "sites[0].ambient_c", "warm", "sites[0].ambient_c", HOURLY),
    (
        "hourly-kind-bool",
        "sites[0].grid.price_usd_per_mwh",
        True,
        "sites[0].grid.price_usd_per_mwh",
        HOURLY,
    ),
    (
        "per-period-kind",
        "gpu_products[0].capex_usd",
        {"column": "spot"},
        "gpu_products[0].capex_usd",
        PERIOD,
    ),
    ("per-period-kind-str", "capex_budget_usd", "lots", "capex_budget_usd", PERIOD),
    (
        "list-item-type",
        "sites[0].fleet[0].salvage_usd_per_unit",
        [400, "x"],
        "sites[0].fleet[0].salvage_usd_per_unit[1]",
        "expected a number",
    ),
    (
        "columnref-missing-column",
        "market.hashprice_usd_per_ph_day",
        {"scale": 2},
        "market.hashprice_usd_per_ph_day.column",
        "missing required key",
    ),
    (
        "columnref-scale-type",
        "sites[0].ambient_c",
        {"column": "temp", "scale": "x"},
        "sites[0].ambient_c.scale",
        "expected a number",
    ),
    ("sites-empty", "sites", [], "sites", "at least 1"),
    # per-period lists of the wrong length
    ("len-capex", "gpu_products[0].capex_usd", [1, 2, 3], "gpu_products[0].capex_usd", "3 values"),
    (
        "len-salvage",
        "sites[0].fleet[0].salvage_usd_per_unit",
        [1],
        "sites[0].fleet[0].salvage_usd_per_unit",
        "horizon.periods is 2",
    ),
    (
        "len-hourly",
        "gpu_products[0].spot_price_usd_per_gpu_hour",
        [2.0],
        "gpu_products[0].spot_price_usd_per_gpu_hour",
        "one value per period",
    ),
    ("len-budget", "capex_budget_usd", [1.0, 2.0, 3.0], "capex_budget_usd", "one value per period"),
    (
        "len-empty",
        "sites[0].grid.price_usd_per_mwh",
        [],
        "sites[0].grid.price_usd_per_mwh",
        "0 values",
    ),
    # slugs
    ("slug-name", "name", "Permian Pivot", "name", "slug"),
    ("slug-site", "sites[0].id", "Rock_dale", "sites[0].id", "slug"),
    ("slug-fleet", "sites[0].fleet[0].id", "S19", "sites[0].fleet[0].id", "slug"),
    (
        "slug-upgrade",
        "sites[0].grid.upgrades[0].id",
        "sub 2",
        "sites[0].grid.upgrades[0].id",
        "slug",
    ),
    ("slug-product", "gpu_products[0].id", "H100", "gpu_products[0].id", "slug"),
    ("slug-contract", "contracts[0].id", "lab.a", "contracts[0].id", "slug"),
    ("slug-empty", "leases[0].id", "", "leases[0].id", "slug"),
    # duplicates
    (
        "dup-fleet",
        "sites[0].fleet[1].id",
        "s19xp",
        "sites[0].fleet[1].id",
        "duplicate fleet id 's19xp'",
    ),
    (
        "dup-upgrade",
        "sites[0].cooling.upgrades[0].id",
        "sub-2",
        "sites[0].cooling.upgrades[0].id",
        "duplicate upgrade id",
    ),
    (
        "dup-gpus",
        "sites[0].gpus",
        [{"product": "h100-hgx", "units": 1}, {"product": "h100-hgx", "units": 2}],
        "sites[0].gpus[1].product",
        "duplicate installed product",
    ),
    # references
    (
        "ref-contract-site",
        "contracts[0].site",
        "nowhere",
        "contracts[0].site",
        "unknown site 'nowhere'",
    ),
    ("ref-lease-site", "leases[0].site", "nowhere", "leases[0].site", "unknown site"),
    ("ref-ppa-site", "ppas[1].site", "nowhere", "ppas[1].site", "unknown site"),
    (
        "ref-contract-product",
        "contracts[0].product",
        "b200",
        "contracts[0].product",
        "unknown GPU product 'b200'",
    ),
    (
        "ref-site-gpu",
        "sites[0].gpus[0].product",
        "b200",
        "sites[0].gpus[0].product",
        "unknown GPU product",
    ),
    (
        "ref-column",
        "market.hashprice_usd_per_ph_day.column",
        "hashprize",
        "market.hashprice_usd_per_ph_day.column",
        "did you mean 'hashprice'",
    ),
    (
        "ref-column-list-item",
        "gpu_products[0].spot_price_usd_per_gpu_hour.column",
        "spt",
        "gpu_products[0].spot_price_usd_per_gpu_hour.column",
        "unknown series column 'spt'",
    ),
    (
        "ref-column-timestamp",
        "sites[0].ambient_c.column",
        "timestamp",
        "sites[0].ambient_c.column",
        "time column",
    ),
    (
        "ref-profile",
        "ppas[0].profile_column",
        "solar_cf",
        "ppas[0].profile_column",
        "unknown series column",
    ),
    (
        "ref-flag",
        "sites[0].grid.coincident_peak.flag_column",
        "4cp",
        "sites[0].grid.coincident_peak.flag_column",
        "unknown series column '4cp'",
    ),
    # windows
    (
        "window-empty",
        "contracts[0].end_period",
        0,
        "contracts[0].end_period",
        "greater than start_period (0)",
    ),
    (
        "window-reversed",
        "leases[0].end_period",
        0,
        "leases[0].end_period",
        "greater than start_period (1)",
    ),
    (
        "window-beyond",
        "leases[0].end_period",
        403,
        "leases[0].end_period",
        "at most horizon.periods + 400 = 402",
    ),
    (
        "window-contract-beyond",
        "contracts[0].end_period",
        403,
        "contracts[0].end_period",
        "beyond the horizon tail: end_period (exclusive) must be at most "
        "horizon.periods + 400 = 402",
    ),
    ("window-ppa-beyond", "ppas[2].end_period", 5, "ppas[2].end_period", "beyond the horizon"),
    ("window-negative", "ppas[0].start_period", -1, "ppas[0].start_period", ">= 0"),
    # ranges
    ("pool-fee-one", "market.pool_fee", 1.0, "market.pool_fee", "< 1"),
    ("pool-fee-negative", "market.pool_fee", -0.01, "market.pool_fee", ">= 0"),
    (
        "hashprice-zero",
        "market.hashprice_usd_per_ph_day",
        0,
        "market.hashprice_usd_per_ph_day",
        "> 0",
    ),
    (
        "hashprice-list",
        "market.hashprice_usd_per_ph_day",
        [40, -1],
        "market.hashprice_usd_per_ph_day[1]",
        "> 0",
    ),
    (
        "hashprice-scale",
        "market.hashprice_usd_per_ph_day.scale",
        -1.0,
        "market.hashprice_usd_per_ph_day",
        "must be > 0 in every hour",
    ),
    (
        "hashprice-scale-zero",
        "market.hashprice_usd_per_ph_day.scale",
        0,
        "market.hashprice_usd_per_ph_day",
        "times scale 0",
    ),
    ("discount-negative", "horizon.discount_rate", -0.1, "horizon.discount_rate", ">= 0"),
    ("pue-below-one", "sites[0].cooling.air.pue", 0.95, "sites[0].cooling.air.pue", ">= 1"),
    (
        "pue-liquid",
        "sites[0].cooling.liquid",
        {"capacity_mw": 5, "pue": 0.5},
        "sites[0].cooling.liquid.pue",
        ">= 1",
    ),
    (
        "min-factor",
        "sites[0].cooling.air.min_factor",
        1.2,
        "sites[0].cooling.air.min_factor",
        "<= 1",
    ),
    ("pue-per-c", "sites[0].cooling.air.pue_per_c", -0.1, "sites[0].cooling.air.pue_per_c", ">= 0"),
    (
        "idle-fraction",
        "gpu_products[0].idle_fraction",
        1.5,
        "gpu_products[0].idle_fraction",
        "<= 1",
    ),
    (
        "spot-util",
        "gpu_products[0].spot_max_utilization",
        -0.1,
        "gpu_products[0].spot_max_utilization",
        ">= 0",
    ),
    ("min-take-range", "ppas[2].min_take_fraction", 1.2, "ppas[2].min_take_fraction", "<= 1"),
    ("life-product", "gpu_products[0].life_years", 0, "gpu_products[0].life_years", "> 0"),
    (
        "life-upgrade",
        "sites[0].grid.upgrades[0].life_years",
        -3,
        "sites[0].grid.upgrades[0].life_years",
        "> 0",
    ),
    (
        "life-conversion",
        "sites[0].halls.conversion.life_years",
        0,
        "sites[0].halls.conversion.life_years",
        "> 0",
    ),
    (
        "life-cooling-upgrade",
        "sites[0].cooling.upgrades[0].life_years",
        0,
        "sites[0].cooling.upgrades[0].life_years",
        "> 0",
    ),
    (
        "import-limit-zero",
        "sites[0].grid.import_limit_mw",
        0,
        "sites[0].grid.import_limit_mw",
        "> 0",
    ),
    ("export-limit", "sites[0].grid.export_limit_mw", -1, "sites[0].grid.export_limit_mw", ">= 0"),
    ("aux-load", "sites[0].aux_load_mw", -2, "sites[0].aux_load_mw", ">= 0"),
    (
        "fixed-opex",
        "sites[0].fixed_opex_usd_per_year",
        -1,
        "sites[0].fixed_opex_usd_per_year",
        ">= 0",
    ),
    ("mining-mw", "sites[0].halls.mining_mw", -1, "sites[0].halls.mining_mw", ">= 0"),
    (
        "capacity",
        "sites[0].cooling.air.capacity_mw",
        -1,
        "sites[0].cooling.air.capacity_mw",
        ">= 0",
    ),
    (
        "ancillary-price",
        "sites[0].grid.ancillary.price_usd_per_mw_h",
        -1.0,
        "sites[0].grid.ancillary.price_usd_per_mw_h",
        ">= 0",
    ),
    (
        "ancillary-price-column",
        "sites[0].grid.ancillary.price_usd_per_mw_h.scale",
        -1.0,
        "sites[0].grid.ancillary.price_usd_per_mw_h",
        "column 'rrs' times scale -1 must be >= 0",
    ),
    (
        "spot-price-list",
        "gpu_products[0].spot_price_usd_per_gpu_hour",
        [2.0, -2.0],
        "gpu_products[0].spot_price_usd_per_gpu_hour[1]",
        ">= 0",
    ),
    ("capex-list", "gpu_products[0].capex_usd", [-1, 2], "gpu_products[0].capex_usd[0]", ">= 0"),
    (
        "capex-upgrade",
        "sites[0].grid.upgrades[0].capex_usd",
        -5,
        "sites[0].grid.upgrades[0].capex_usd",
        ">= 0",
    ),
    (
        "capex-block",
        "sites[0].halls.conversion.capex_usd_per_block",
        -5,
        "sites[0].halls.conversion.capex_usd_per_block",
        ">= 0",
    ),
    ("budget-negative", "capex_budget_usd", -1, "capex_budget_usd", ">= 0"),
    ("units-negative", "sites[0].fleet[0].units", -1, "sites[0].fleet[0].units", ">= 0"),
    ("units-fraction", "sites[0].gpus[0].units", 1.5, "sites[0].gpus[0].units", "whole number"),
    ("contract-units", "contracts[0].units", -5, "contracts[0].units", ">= 0"),
    (
        "max-count",
        "sites[0].grid.upgrades[0].max_count",
        1.5,
        "sites[0].grid.upgrades[0].max_count",
        "whole number",
    ),
    (
        "max-blocks",
        "sites[0].halls.conversion.max_blocks",
        -1,
        "sites[0].halls.conversion.max_blocks",
        ">= 0",
    ),
    (
        "max-units",
        "gpu_products[0].max_units_per_period",
        2.5,
        "gpu_products[0].max_units_per_period",
        "whole number",
    ),
    (
        "lead-negative",
        "sites[0].cooling.upgrades[0].lead_periods",
        -1,
        "sites[0].cooling.upgrades[0].lead_periods",
        ">= 0",
    ),
    (
        "intervals-zero",
        "sites[0].grid.coincident_peak.intervals_per_year",
        0,
        "sites[0].grid.coincident_peak.intervals_per_year",
        "> 0",
    ),
    ("gpus-per-unit", "gpu_products[0].gpus_per_unit", 0, "gpu_products[0].gpus_per_unit", "> 0"),
    ("hashrate", "sites[0].fleet[0].hashrate_th", 0, "sites[0].fleet[0].hashrate_th", "> 0"),
    ("power-kw", "sites[0].fleet[0].power_kw", -3, "sites[0].fleet[0].power_kw", "> 0"),
    ("it-kw", "gpu_products[0].it_kw", 0, "gpu_products[0].it_kw", "> 0"),
    (
        "block-mw",
        "sites[0].halls.conversion.block_mw",
        0,
        "sites[0].halls.conversion.block_mw",
        "> 0",
    ),
    (
        "add-mw",
        "sites[0].cooling.upgrades[0].add_mw",
        0,
        "sites[0].cooling.upgrades[0].add_mw",
        "> 0",
    ),
    (
        "lease-price",
        "leases[0].price_usd_per_kw_month",
        -1,
        "leases[0].price_usd_per_kw_month",
        ">= 0",
    ),
    (
        "contract-price",
        "contracts[0].price_usd_per_gpu_hour",
        -1,
        "contracts[0].price_usd_per_gpu_hour",
        ">= 0",
    ),
    ("strike", "ppas[0].strike_usd_per_mwh", -1, "ppas[0].strike_usd_per_mwh", ">= 0"),
    (
        "cp-charge",
        "sites[0].grid.coincident_peak.charge_usd_per_kw_year",
        -1,
        "sites[0].grid.coincident_peak.charge_usd_per_kw_year",
        ">= 0",
    ),
    (
        "import-adder",
        "sites[0].grid.import_adder_usd_per_mwh",
        -1,
        "sites[0].grid.import_adder_usd_per_mwh",
        ">= 0",
    ),
    # PPAs
    ("virtual-take-or-pay", "ppas[1].take_or_pay", True, "ppas[1].take_or_pay", "virtual PPA"),
    (
        "virtual-min-take",
        "ppas[1].min_take_fraction",
        0.1,
        "ppas[1].min_take_fraction",
        "virtual PPA",
    ),
    (
        "physical-needs-top",
        "ppas[0].take_or_pay",
        DELETE,
        "ppas[0].take_or_pay",
        "required for a physical PPA",
    ),
    (
        "onsite-needs-top",
        "ppas[2].take_or_pay",
        DELETE,
        "ppas[2].take_or_pay",
        "required for a onsite PPA",
    ),
    (
        "min-take-with-top",
        "ppas[0].min_take_fraction",
        0.3,
        "ppas[0].min_take_fraction",
        "only allowed without",
    ),
    ("ppa-both-volumes", "ppas[0].baseload_mw", 10, "ppas[0].baseload_mw", "not both"),
    ("ppa-no-volume", "ppas[1].baseload_mw", DELETE, "ppas[1].baseload_mw", "missing volume"),
    (
        "ppa-profile-no-capacity",
        "ppas[0].capacity_mw",
        DELETE,
        "ppas[0].capacity_mw",
        "required with profile_column",
    ),
    (
        "ppa-capacity-no-profile",
        "ppas[0].profile_column",
        DELETE,
        "ppas[0].profile_column",
        "required with capacity_mw",
    ),
    ("top-type", "ppas[0].take_or_pay", 1, "ppas[0].take_or_pay", "expected true or false"),
    # horizon
    ("start-mid-month", "horizon.start", dt.date(2027, 1, 15), "horizon.start", "1st of a month"),
    (
        "start-not-midnight",
        "horizon.start",
        "2027-01-01T05:00:00Z",
        "horizon.start",
        "UTC midnight",
    ),
    ("start-garbage", "horizon.start", "next year", "horizon.start", "expected a date"),
    ("start-number", "horizon.start", 20270101, "horizon.start", "expected a date"),
    (
        "start-too-early",
        "horizon.start",
        dt.date(1850, 1, 1),
        "horizon.start",
        "on or after 1900-01-01",
    ),
    ("periods-zero", "horizon.periods", 0, "horizon.periods", ">= 1"),
    ("periods-huge", "horizon.periods", 10**7, "horizon.periods", "end after 2200-01-01"),
    (
        "days-zero",
        "horizon.resolution",
        {"mode": "representative", "days_per_period": 0},
        "horizon.resolution.days_per_period",
        ">= 1",
    ),
    (
        "days-too-many",
        "horizon.resolution",
        {"mode": "representative", "days_per_period": 29},
        "horizon.resolution.days_per_period",
        "at most 28",
    ),
    (
        "resolution-mode",
        "horizon.resolution",
        {"mode": "daily"},
        "horizon.resolution.mode",
        "'hourly' or 'representative'",
    ),
    # series file
    ("series-absolute", "series.file", "/etc/passwd", "series.file", "not an absolute path"),
    ("series-escape", "series.file", "../series.csv", "series.file", "'..' escapes it"),
    ("series-escape-deep", "series.file", "data/../../x.csv", "series.file", "'..' escapes it"),
    ("series-missing", "series.file", "nope.csv", "series.file", "not found"),
    ("series-directory", "series.file", ".", "series.file", "not a regular file"),
    (
        "series-key",
        "series",
        {"path": "series.csv"},
        "series.path",
        "unknown key 'path'; allowed keys: file",
    ),
    ("series-empty-name", "series.file", "", "series.file", "must not be empty"),
    (
        "series-ref-name",
        "series_ref",
        {"file": "series.csv"},
        "series_ref",
        "did you mean 'series'",
    ),
    # robustness of values
    ("start-offset", "horizon.start", "2027-01-01T00:00:00+05:00", "horizon.start", "UTC midnight"),
    (
        "units-huge",
        "sites[0].fleet[0].units",
        10**20,
        "sites[0].fleet[0].units",
        "<= 9007199254740992",
    ),
    (
        "scale-overflow",
        "market.hashprice_usd_per_ph_day.scale",
        1e308,
        "market.hashprice_usd_per_ph_day",
        "overflows",
    ),
    ("optional-number", "ppas[1].baseload_mw", "x", "ppas[1].baseload_mw", "expected a number"),
    ("list-null-item", "capex_budget_usd", [1, None], "capex_budget_usd[1]", "expected a number"),
    ("null-list", "sites[0].fleet", None, "sites[0].fleet", "expected a list"),
]


@pytest.mark.parametrize(
    "path,value,expected_path,fragment", [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_rule(tmp_path, path, value, expected_path, fragment):
    problems = problems_of(tmp_path, mutate(base(), path, value))
    problem = at(problems, expected_path)
    assert fragment in problem.message, str(problem)


def test_case_ids_unique():
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids))


def test_problem_values(tmp_path):
    problems = problems_of(tmp_path, mutate(base(), "sites[0].grid.import_limit_mw", DELETE))
    assert at(problems, "sites[0].grid.import_limit_mw").value is MISSING
    assert "(got <missing>)" in str(at(problems, "sites[0].grid.import_limit_mw"))
    problems = problems_of(tmp_path, mutate(base(), "sites[0].cooling.air.pue", 0.9))
    assert at(problems, "sites[0].cooling.air.pue").value == 0.9
    problems = problems_of(tmp_path, mutate(base(), "contracts[0].site", "elsewhere"))
    assert at(problems, "contracts[0].site").value == "elsewhere"
    problems = problems_of(
        tmp_path, mutate(base(), "sites[0].fleet[0].salvage_usd_per_unit", [1, 2, 3])
    )
    assert at(problems, "sites[0].fleet[0].salvage_usd_per_unit").value == [1, 2, 3]


@pytest.mark.parametrize("key", ["sites", "gpu_products", "contracts", "leases", "ppas"])
def test_duplicate_top_level_ids(tmp_path, key):
    data = base()
    data[key].append(copy.deepcopy(data[key][0]))
    problems = problems_of(tmp_path, data)
    n = len(data[key]) - 1
    p = at(problems, f"{key}[{n}].id")
    assert "duplicate" in p.message and f"{key}[0].id" in p.message


def test_valid_variants(tmp_path):
    """Things that look odd but are valid."""
    data = base()
    data["sites"][0]["grid"]["price_usd_per_mwh"] = [-20.0, 35.0]  # negative price
    data["sites"][0]["fleet"] = []  # empty fleet
    data["sites"][0]["gpus"][0]["units"] = 0
    data["sites"][0]["grid"]["upgrades"][0]["lead_periods"] = 0
    data["horizon"]["resolution"] = {"mode": "hourly", "days_per_period": 40}  # ignored when hourly
    data["ppas"][1]["take_or_pay"] = False  # explicit false on a virtual PPA
    data["ppas"][0]["curtailable"] = False  # curtailable only matters for onsite: accepted
    data["horizon"]["start"] = "2027-01-01T00:00:00Z"
    data["contracts"][0]["end_period"] = 2  # == periods
    load_instance(write_case(tmp_path, data))
    data["horizon"]["resolution"] = {
        "mode": "representative",
        "days_per_period": 28,
        "keep_peak_days": False,
    }
    data["series"]["file"] = "./data/../series.csv"  # '..' that stays inside
    (tmp_path / "data").mkdir()
    inst = load_instance(write_case(tmp_path, data))
    assert inst.horizon.resolution.days_per_period == 28


def test_quarter_and_year_boundaries(tmp_path):
    data = mutate(
        base(), "horizon", {"start": dt.date(2027, 2, 1), "period": "quarter", "periods": 1}
    )
    assert (
        "Jan 1, Apr 1, Jul 1 or Oct 1" in at(problems_of(tmp_path, data), "horizon.start").message
    )
    data = mutate(base(), "horizon", {"start": dt.date(2027, 7, 1), "period": "year", "periods": 1})
    assert "Jan 1" in at(problems_of(tmp_path, data), "horizon.start").message


def test_representative_days_quarter(tmp_path):
    # shortest quarter of 2027 is Jan-Mar: 90 days
    data = mutate(
        base(),
        "horizon",
        {
            "start": dt.date(2027, 1, 1),
            "period": "quarter",
            "periods": 1,
            "resolution": {"mode": "representative", "days_per_period": 91},
        },
    )
    p = at(problems_of(tmp_path, data), "horizon.resolution.days_per_period")
    assert "at most 90" in p.message and p.value == 91


def test_column_without_series(tmp_path):
    data = mutate(base(), "series", DELETE)
    problems = problems_of(tmp_path, data, csv=None)
    for path in (
        "market.hashprice_usd_per_ph_day.column",
        "sites[0].ambient_c.column",
        "sites[0].grid.price_usd_per_mwh.column",
        "sites[0].grid.coincident_peak.flag_column",
        "ppas[0].profile_column",
    ):
        assert "no `series" in at(problems, path).message


def test_several_problems_at_once(tmp_path):
    data = base()
    data["name"] = "Bad Name"
    data["market"]["pool_fee"] = 2
    data["sites"][0]["cooling"]["air"]["pue"] = 0.5
    data["sites"][0]["grid"]["import_limt_mw"] = 3
    data["contracts"][0]["site"] = "elsewhere"
    data["gpu_products"][0]["capex_usd"] = [1, 2, 3]
    data["leases"][0]["end_period"] = 999
    data["ppas"][1]["take_or_pay"] = True
    data["ppas"][0]["profile_column"] = "nope"
    problems = problems_of(tmp_path, data)
    paths = {p.path for p in problems}
    assert {
        "name",
        "market.pool_fee",
        "sites[0].cooling.air.pue",
        "sites[0].grid.import_limt_mw",
        "contracts[0].site",
        "gpu_products[0].capex_usd",
        "leases[0].end_period",
        "ppas[1].take_or_pay",
        "ppas[0].profile_column",
    } <= paths


def test_several_model_rules_in_one_object(tmp_path):
    data = base()
    data["ppas"][1].update(take_or_pay=True, min_take_fraction=0.2, start_period=1, end_period=1)
    problems = problems_of(tmp_path, data)
    assert {"ppas[1].take_or_pay", "ppas[1].min_take_fraction", "ppas[1].end_period"} <= {
        p.path for p in problems
    }


def test_series_problems_reported_with_model_problems(tmp_path):
    lines = csv_lines()
    lines[FIRST_LINE + 5 - 1] = (
        lines[FIRST_LINE + 5 - 1].replace(",", ",oops,", 1).rsplit(",", 1)[0]
    )
    problems = problems_of(
        tmp_path, mutate(base(), "market.pool_fee", 3), csv="\n".join(lines) + "\n"
    )
    assert {"market.pool_fee", "series.csv column 'hashprice'"} <= {p.path for p in problems}


# --------------------------------------------------------------------------- series CSV


def edit_line(line_no: int, column: str, text: str) -> str:
    lines = csv_lines()
    header = lines[0].split(",")
    cells = lines[line_no - 1].split(",")
    cells[header.index(column)] = text
    lines[line_no - 1] = ",".join(cells)
    return "\n".join(lines) + "\n"


def test_series_nonnumeric_cell(tmp_path):
    p = at(
        problems_of(tmp_path, base(), csv=edit_line(FIRST_LINE + 3, "lmp", "n/a")),
        "series.csv column 'lmp'",
    )
    assert "non-numeric cell at line 7 (2027-01-01T03:00:00Z)" in p.message and p.value == "n/a"


def test_series_blank_cell(tmp_path):
    p = at(
        problems_of(tmp_path, base(), csv=edit_line(FIRST_LINE, "temp", "")),
        "series.csv column 'temp'",
    )
    assert "blank cell at line 4 (2027-01-01T00:00:00Z)" in p.message


@pytest.mark.parametrize("text", ["inf", "-inf", "nan", "NaN", "1e999"])
def test_series_nonfinite_cell(tmp_path, text):
    p = at(
        problems_of(tmp_path, base(), csv=edit_line(FIRST_LINE + 10, "rrs", text)),
        "series.csv column 'rrs'",
    )
    assert "non-finite cell at line 14" in p.message


def test_series_bad_cells_outside_horizon_are_ignored(tmp_path):
    csv = edit_line(2, "lmp", "n/a")  # 2026-12-31T22:00Z, before the horizon
    inst = load_instance(write_case(tmp_path, base(), csv=csv))
    assert len(inst.series) == HORIZON_HOURS


def test_series_unused_column_checked(tmp_path):
    frame = base_frame()
    frame["notes"] = "x"
    p = at(
        problems_of(tmp_path, base(), csv=frame.to_csv(index=False)), "series.csv column 'notes'"
    )
    assert "non-numeric" in p.message


def test_series_no_timestamp_column(tmp_path):
    csv = BASE_CSV.replace("timestamp,", "time,", 1)
    p = at(problems_of(tmp_path, base(), csv=csv), "series.csv header")
    assert "no 'timestamp' column" in p.message


def test_series_duplicate_column_name(tmp_path):
    csv = BASE_CSV.replace(",spot", ",lmp", 1)
    p = at(problems_of(tmp_path, base(), csv=csv), "series.csv header")
    assert "'lmp' appears twice" in p.message


@pytest.mark.parametrize(
    "text,fragment",
    [
        ("yesterday", "not a valid date and time in ISO 8601"),
        ("2027-01-01T03:00:00", "no UTC designator"),
        ("2027-01-01T05:00:00+02:00", "not in UTC"),
        ("2027-01-01T03:30:00Z", "not on the hour"),
        ("2027-02-30T03:00:00Z", "not a valid date and time in ISO 8601"),
        ("", "not a valid date and time in ISO 8601"),
    ],
)
def test_series_bad_timestamp(tmp_path, text, fragment):
    p = at(
        problems_of(tmp_path, base(), csv=edit_line(FIRST_LINE + 3, "timestamp", text)),
        "series.csv column 'timestamp'",
    )
    assert fragment in p.message and "line 7" in p.message


def test_series_timestamp_formats_accepted(tmp_path):
    frame = base_frame()
    stamps = pd.to_datetime(frame["timestamp"])
    frame["timestamp"] = stamps.dt.strftime("%Y-%m-%d %H:%M:%S+00:00")  # pandas' own to_csv style
    load_instance(write_case(tmp_path, base(), csv=frame.to_csv(index=False)))


def test_series_duplicate_timestamp(tmp_path):
    lines = csv_lines()
    lines.insert(FIRST_LINE + 2, lines[FIRST_LINE + 1])
    p = at(problems_of(tmp_path, base(), csv="\n".join(lines)), "series.csv column 'timestamp'")
    assert "duplicate timestamp" in p.message and "line 7" in p.message


def test_series_not_increasing(tmp_path):
    lines = csv_lines()
    lines[FIRST_LINE + 2], lines[FIRST_LINE + 3] = lines[FIRST_LINE + 3], lines[FIRST_LINE + 2]
    p = at(problems_of(tmp_path, base(), csv="\n".join(lines)), "series.csv column 'timestamp'")
    assert "not strictly increasing" in p.message


def test_series_gap(tmp_path):
    lines = csv_lines()
    del lines[FIRST_LINE + 100]
    p = at(problems_of(tmp_path, base(), csv="\n".join(lines)), "series.csv column 'timestamp'")
    assert "gap in the hourly series: no rows between 2027-01-05T04:00:00Z" in p.message
    assert "line 105" in p.message


def test_series_gap_outside_horizon_is_still_an_error(tmp_path):
    lines = csv_lines()
    del lines[2]  # 2026-12-31T23:00Z
    p = at(problems_of(tmp_path, base(), csv="\n".join(lines)), "series.csv column 'timestamp'")
    assert "gap" in p.message


@pytest.mark.parametrize("cut", ["start", "end"])
def test_series_horizon_not_covered(tmp_path, cut):
    lines = csv_lines()
    lines = [lines[0]] + lines[FIRST_LINE + 1 :] if cut == "start" else lines[:-10]
    p = at(problems_of(tmp_path, base(), csv="\n".join(lines)), "series.csv column 'timestamp'")
    assert "the horizon needs every hour 2027-01-01T00:00:00Z .. 2027-02-28T23:00:00Z" in p.message


def test_series_blank_lines_and_bom_tolerated(tmp_path):
    csv = "\ufeff" + BASE_CSV.replace("\n", "\n\n", 3) + "\n\n"
    assert load_instance(write_case(tmp_path, base(), csv=csv)).series.shape == (HORIZON_HOURS, 7)


RAGGED_CSV = "\n".join(line + (",9" if i == 5 else "") for i, line in enumerate(csv_lines()))


@pytest.mark.parametrize(
    "content,fragment",
    [
        (b"", "empty"),
        (b"\xff\xfe\x00t\x00i", "not UTF-8"),
        (RAGGED_CSV.encode(), "not a readable CSV"),
        (b"timestamp,a\n", "no data rows"),
    ],
    ids=["empty", "utf16", "ragged", "header-only"],
)
def test_series_unreadable(tmp_path, content, fragment):
    (tmp_path / "series.csv").write_bytes(content)
    with pytest.raises(InstanceError) as info:
        load_instance(write_case(tmp_path, base(), csv=None))
    paths = [p for p in info.value.problems if fragment in p.message]
    assert paths and paths[0].path.startswith("series.csv"), str(info.value)


def test_series_profile_and_flag_values(tmp_path):
    frame = base_frame()
    frame.loc[FIRST_LINE - 2 + 30, "wind_cf"] = 1.5
    frame.loc[FIRST_LINE - 2 + 40, "cp_flag"] = 0.5
    problems = problems_of(tmp_path, base(), csv=frame.to_csv(index=False))
    p = at(problems, "ppas[0].profile_column")
    assert ">= 0 and <= 1" in p.message and "2027-01-02T06:00:00Z" in p.message and p.value == 1.5
    p = at(problems, "sites[0].grid.coincident_peak.flag_column")
    assert "only 0 or 1" in p.message and "2027-01-02T16:00:00Z" in p.message and p.value == 0.5


def test_series_hashprice_column_values(tmp_path):
    frame = base_frame()
    frame.loc[0, "hashprice"] = -1.0  # outside the horizon: ignored
    frame.loc[FIRST_LINE - 2 + 5, "hashprice"] = 0.0
    p = at(
        problems_of(tmp_path, base(), csv=frame.to_csv(index=False)),
        "market.hashprice_usd_per_ph_day",
    )
    assert "must be > 0 in every hour" in p.message and "1 hour not" in p.message and p.value == 0.0
    assert "2027-01-01T05:00:00Z" in p.message


def test_series_symlink_outside(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "real.csv").write_text(BASE_CSV)
    inst_dir = tmp_path / "inst"
    inst_dir.mkdir()
    os.symlink(outside / "real.csv", inst_dir / "series.csv")
    with pytest.raises(InstanceError) as info:
        load_instance(write_case(inst_dir, base(), csv=None))
    assert "outside the instance file's folder" in at(info.value.problems, "series.file").message


def test_series_symlink_inside_is_fine(tmp_path):
    (tmp_path / "real.csv").write_text(BASE_CSV)
    os.symlink(tmp_path / "real.csv", tmp_path / "series.csv")
    load_instance(write_case(tmp_path, base(), csv=None))


# --------------------------------------------------------------------------- hostile YAML


def yaml_problems(tmp_path: Path, content: bytes | str) -> list[Problem]:
    return problems_of(tmp_path, content, csv=None)


@pytest.mark.parametrize(
    "content,path,fragment",
    [
        ("name: [unclosed\n", "<yaml>", "line 2"),
        ("name: a\nname: b\n", "<yaml>", "duplicate key 'name'"),
        ("a: !!python/object/apply:os.system ['echo hi']\n", "<yaml>", "python/object"),
        ("!!python/name:os.system\n", "<yaml>", "could not determine a constructor"),
        ("a: !custom 3\n", "<yaml>", "could not determine a constructor"),
        ("- 1\n- 2\n", "<root>", "not a list"),
        ("just text\n", "<root>", "not a str"),
        ("", "<yaml>", "empty"),
        ("# only a comment\n", "<yaml>", "empty"),
        ("a: 1\n---\nb: 2\n", "<yaml>", "single document"),
        ("1: x\n", "<yaml>", "keys must be strings"),
        ("yes: x\n", "<yaml>", "keys must be strings"),
        ("? [a, b]\n: x\n", "<yaml>", "keys must be strings"),
        ("a: &x [*x]\n", "<yaml>", "cycle"),
        ("a: " + "[" * 200 + "]" * 200 + "\n", "<yaml>", "nested"),
        ("a: 1" + "0" * 5000 + "\n", "<yaml>", "invalid YAML value"),
        (b"name: caf\xe9\n", "<file>", "not UTF-8"),
        ("name: a\tb\n\t- x", "<yaml>", "invalid YAML"),
    ],
)
def test_hostile_yaml(tmp_path, content, path, fragment):
    problems = yaml_problems(tmp_path, content)
    assert len(problems) == 1
    assert problems[0].path == path and fragment in problems[0].message, str(problems[0])


def test_yaml_duplicate_key_reports_line(tmp_path):
    text = yaml.safe_dump(base(), sort_keys=False)
    text = text.replace("  pool_fee: 0.02\n", "  pool_fee: 0.02\n  pool_fee: 0.03\n")
    p = yaml_problems(tmp_path, text)[0]
    assert "duplicate key 'pool_fee'" in p.message and re.search(r"line \d+", p.message)


def test_yaml_alias_bomb(tmp_path):
    lines = ['a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for i in range(1, 9):
        prev = chr(ord("a") + i - 1)
        cur = chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [{', '.join(['*' + prev] * 10)}]")
    p = yaml_problems(tmp_path, "\n".join(lines) + "\n")[0]
    assert "aliases are expanded" in p.message


def test_yaml_anchors_and_merge_keys_allowed(tmp_path):
    text = yaml.safe_dump(base(), sort_keys=False)
    text = text.replace("  air:\n", "  air: &aircool\n", 1)
    text += "x-unused: *aircool\n"
    problems = problems_of(tmp_path, text)
    assert [p.path for p in problems] == ["x-unused"]  # the alias itself is fine, the key is not
    merged = (
        "name: m\nhorizon: {start: 2027-01-01, period: year, periods: 1}\n"
        "market: {hashprice_usd_per_ph_day: 45}\n"
        "base: &b {import_limit_mw: 10, price_usd_per_mwh: 30}\n"
    )
    problems = yaml_problems(tmp_path, merged)
    assert "base" in {p.path for p in problems}
    ok = (
        "name: m\nhorizon: {start: 2027-01-01, period: year, periods: 1}\n"
        "market: {hashprice_usd_per_ph_day: 45}\n"
        "sites:\n- id: a\n  grid: &g {import_limit_mw: 10, price_usd_per_mwh: 30}\n"
        "  cooling: {air: {capacity_mw: 5}}\n  halls: {mining_mw: 5}\n"
        "- id: b\n  grid: {<<: *g, import_limit_mw: 20}\n"
        "  cooling: {air: {capacity_mw: 5}}\n  halls: {mining_mw: 5}\n"
    )
    inst = load_instance(write_case(tmp_path, ok, csv=None))
    assert (
        inst.sites[1].grid.import_limit_mw == 20.0 and inst.sites[1].grid.price_usd_per_mwh == 30.0
    )


def test_yaml_too_large(tmp_path):
    path = tmp_path / "big.yaml"
    with open(path, "wb") as fh:
        fh.write(b"name: x\n")
        fh.seek(MAX_YAML_BYTES + 10)
        fh.write(b"\n")
    with pytest.raises(InstanceError) as info:
        load_instance(path)
    assert "larger than 50 MB" in info.value.problems[0].message


def test_yaml_missing_and_directory(tmp_path):
    with pytest.raises(InstanceError) as info:
        load_instance(tmp_path / "nope.yaml")
    assert info.value.problems[0].path == "<file>" and "not found" in info.value.problems[0].message
    with pytest.raises(InstanceError) as info:
        load_instance(tmp_path)
    assert "not a regular file" in info.value.problems[0].message


def test_from_dict_not_a_mapping(tmp_path):
    with pytest.raises(InstanceError) as info:
        Instance.from_dict([1, 2], tmp_path)  # type: ignore[arg-type]
    assert info.value.problems[0].path == "<root>"


# --------------------------------------------------------------------------- corpus of bad inputs


@pytest.mark.parametrize("cell", ["17\x005", "17.5\x00", "\x0017", "\x00", "1e\x003"])
def test_series_nul_in_cell_is_refused(tmp_path, cell):
    """pandas' C parser and to_numeric end a cell at a NUL: '17<NUL>5' loaded as 17.0."""
    p = at(
        problems_of(tmp_path, base(), csv=edit_line(FIRST_LINE + 3, "lmp", cell)),
        "series.csv column 'lmp'",
    )
    assert (
        p.message == "non-numeric cell at line 7 (2027-01-01T03:00:00Z); 1 such cell in the horizon"
    )
    assert p.value == cell and p.file == str(tmp_path / "instance.yaml")


def test_series_nul_in_timestamp_is_refused(tmp_path):
    csv = edit_line(FIRST_LINE + 3, "timestamp", "2027-01-01T03:00:00Z\x00")
    p = at(problems_of(tmp_path, base(), csv=csv), "series.csv column 'timestamp'")
    assert "line 7: not a valid date and time" in p.message
    assert p.value == "2027-01-01T03:00:00Z\x00"


@pytest.mark.parametrize("cell", ["1_000", "0x10", "\u0661\u0667", "TRUE", "17 5", "1.5e", "--1"])
def test_series_cell_that_is_not_entirely_a_number_is_refused(tmp_path, cell):
    p = at(
        problems_of(tmp_path, base(), csv=edit_line(FIRST_LINE + 3, "lmp", cell)),
        "series.csv column 'lmp'",
    )
    assert "non-numeric cell at line 7 (2027-01-01T03:00:00Z)" in p.message and p.value == cell


@pytest.mark.parametrize(
    "cell,value", [(" 17 ", 17.0), ("+17", 17.0), ("1.7E+01", 17.0), (".5", 0.5), ("5.", 5.0)]
)
def test_series_number_forms_accepted(tmp_path, cell, value):
    inst = load_instance(write_case(tmp_path, base(), csv=edit_line(FIRST_LINE + 3, "lmp", cell)))
    assert inst.series["lmp"].iloc[3] == value


@pytest.mark.parametrize(
    "content,where,fragment",
    [
        (
            "name: x\na: 1" + "0" * 5000 + "\n",
            "line 2, column 4",
            "integer of more than 4300 digits",
        ),
        ("name: x\nb: a\x00b\n", "line 2, column 5", "character U+0000"),
        # libyaml counts bytes: the column must count characters (é is two bytes)
        ("\u00e9: x\nb: \u00e9\u00e9\x00\n", "line 2, column 6", "character U+0000"),
        ("a: 2027-02-30\n", "line 1, column 4", "day is out of range for month"),
        ("a: !!float x\n", "line 1, column 4", "could not convert"),
        ("a: &x [*x]\n", "line 1, column 4", "cycle"),
        ("a: " + "[" * 200 + "]" * 200 + "\n", "line 1, column 67", "nested more than 64"),
        # 100,000 levels overflowed libyaml's recursive composer (a crash, no message)
        ("a: " + "[" * 100_000 + "]" * 100_000 + "\n", "line 1, column 67", "nested more than 64"),
    ],
    ids=["long-int", "nul", "nul-after-utf8", "bad-date", "bad-float", "cycle", "deep", "deeper"],
)
def test_yaml_errors_give_line_and_column(tmp_path, content, where, fragment):
    (p,) = yaml_problems(tmp_path, content)
    assert p.path == "<yaml>" and where in p.message and fragment in p.message, str(p)


def test_yaml_nul_deep_in_the_file_gives_its_line(tmp_path):
    """The reported case: a NUL at character 435 was reported as 'position 435' only."""
    text = yaml.safe_dump(base(), sort_keys=False)
    lines = text.splitlines()
    lines[9] = lines[9] + "\x00"
    (p,) = yaml_problems(tmp_path, "\n".join(lines) + "\n")
    assert f"line 10, column {len(lines[9])}: character U+0000" in p.message
    assert "position" not in p.message and p.value == lines[9]


HUGE = "x" * 100_000


@pytest.mark.parametrize(
    "path,value,expected_path",
    [
        ("market.hashprice_usd_per_ph_day.column", HUGE, "market.hashprice_usd_per_ph_day.column"),
        (HUGE, 1, None),  # an unknown top-level key
        ("contracts[0].site", HUGE, "contracts[0].site"),
        ("contracts[0].product", HUGE, "contracts[0].product"),
        ("sites[0].grid.coincident_peak.flag_column", HUGE, None),
        ("ppas[0].profile_column", HUGE, "ppas[0].profile_column"),
        ("series.file", HUGE + ".csv", "series.file"),
    ],
    ids=["column", "key", "site", "product", "flag", "profile", "series-file"],
)
def test_no_unbounded_user_text_in_messages(tmp_path, path, value, expected_path):
    data = base()
    if path == HUGE:
        data[HUGE] = value
    else:
        data = mutate(data, path, value)
    problems = problems_of(tmp_path, data)
    if expected_path is not None:
        at(problems, expected_path)
    for p in problems:
        assert len(str(p)) < 1000 and "x" * 100 not in str(p), str(p)[:300]
    assert any("xxx...xxx" in str(p) for p in problems)


def test_no_unbounded_series_column_names(tmp_path):
    frame = base_frame()
    frame[HUGE] = 1.0
    csv = frame.to_csv(index=False).replace(",spot", "," + HUGE, 1)  # and a duplicate name
    problems = problems_of(
        tmp_path, mutate(base(), "market.hashprice_usd_per_ph_day.column", "nope"), csv=csv
    )
    assert "appears twice" in at(problems, "series.csv header").message
    assert (
        "unknown series column 'nope'"
        in at(problems, "market.hashprice_usd_per_ph_day.column").message
    )
    for p in problems:
        assert len(str(p)) < 1000, str(p)[:300]


def test_no_unbounded_yaml_keys(tmp_path):
    (p,) = yaml_problems(
        tmp_path, f"? {HUGE}\n: 1\n? {HUGE}\n: 2\n"
    )  # explicit keys: no length limit
    assert "duplicate key" in p.message and len(str(p)) < 1000


# --------------------------------------------------------------------------- package structure


def test_instance_modules_import_only_downwards():
    """problems <- values <- series <- schema <- load: no cycle, not even a lazy import."""
    import ast

    import optimizer.instance as pkg

    order = ["problems", "values", "series", "schema", "load"]
    folder = Path(pkg.__file__).parent
    assert sorted(p.stem for p in folder.glob("*.py")) == sorted(order + ["__init__"])
    for i, name in enumerate(order):
        tree = ast.parse((folder / f"{name}.py").read_text())
        inside = {
            node.module or ""
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.level > 0
        }
        assert inside <= set(order[:i]), (name, inside)


# --------------------------------------------------------------------------- fuzzing

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    (folder / "series.csv").write_text(BASE_CSV)
    return folder


def _load_bytes(folder: Path, content: bytes) -> None:
    path = folder / "fuzz.yaml"
    path.write_bytes(content)
    try:
        load_instance(path)
    except InstanceError as e:
        assert e.problems
        for p in e.problems:
            assert "internal error" not in p.message, str(p)
            if p.path == "<yaml>" and "is empty" not in p.message:
                assert re.search(r"line \d+, column \d+", p.message), str(p)
            str(p)


@FUZZ
@given(st.binary(max_size=400))
def test_fuzz_bytes(fuzz_dir, content):
    _load_bytes(fuzz_dir, content)


@FUZZ
@given(
    st.text(
        alphabet=st.sampled_from(
            list("abc:-[]{}!&*?|>'\"#%@`,. \n\t0123456789e") + ["\u00e9", "\x00"]
        ),
        max_size=200,
    )
)
def test_fuzz_yaml_text(fuzz_dir, text):
    _load_bytes(fuzz_dir, text.encode("utf-8"))


KEYS = [
    "name",
    "horizon",
    "series",
    "market",
    "sites",
    "id",
    "grid",
    "column",
    "file",
    "start",
    "periods",
    "period",
    "scale",
    "ppas",
    "kind",
    "x",
]
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=10)
    | st.sampled_from(["month", "rockdale", "series.csv", "../x", "/etc/passwd"])
    | st.dates(min_value=dt.date(1, 1, 1))
)
structures = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=5), children, max_size=5)
    ),
    max_leaves=25,
)


@FUZZ
@given(structures)
def test_fuzz_yaml_structures(fuzz_dir, data):
    _load_bytes(fuzz_dir, yaml.safe_dump(data).encode())


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


BASE_PATHS = list(_paths(base()))[1:]


def _load_mutated(folder: Path, data: dict, path: tuple, value) -> None:
    node = data
    for k in path[:-1]:
        node = node[k]
    if value is DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    try:
        inst = Instance.from_dict(data, folder)
    except InstanceError as e:
        assert e.problems
        for p in e.problems:
            assert "internal error" not in p.message, str(p)
            assert isinstance(p.path, str) and p.path
            str(p)
    else:
        assert len(inst.series) == len(inst.horizon.hours())


@FUZZ
@given(st.sampled_from(BASE_PATHS), structures | st.just(DELETE), st.integers(0, 3))
def test_fuzz_mutated_base(fuzz_dir, path, value, extra):
    _load_mutated(fuzz_dir, base(), path, value)


# --------------------------------------------------------------------------- deal terms (deals.md)


def deals() -> dict:
    """base() with every deal-term key of deals.md at a valid value. Links: lab-a <-> tenant-b
    (a cycle) and lab-b -> lab-a (a chain); every contract and lease is optional."""
    data = base()
    site = data["sites"][0]
    site["fleet"][0]["terminal_usd_per_unit"] = 150
    site["halls"]["conversion"]["residual_at_period"] = 2
    site["halls"]["ai_build"] = {
        "block_mw": 20,
        "capex_usd_per_block": 6.0e7,
        "lead_periods": 1,
        "max_blocks": 4,
        "life_years": 25,
        "residual_at_period": 402,
    }
    site["grid"]["upgrades"][0]["residual_at_period"] = 10
    site["cooling"]["upgrades"][0]["residual_at_period"] = 2
    data["gpu_products"][0]["residual_at_period"] = 40
    data["contracts"][0].update(
        price_usd_per_gpu_hour=[2.1, 2.2],
        upfront_usd=-5.0e5,
        opex_usd_per_gpu_hour=0.4,
        end_period=40,
        linked_to="tenant-b",
    )
    data["contracts"].append(
        {
            "id": "lab-b",
            "site": "rockdale",
            "product": "h100-hgx",
            "units": 2,
            "price_usd_per_gpu_hour": 2.5,
            "start_period": 1,
            "end_period": 2,
            "optional": True,
            "linked_to": "lab-a",
        }
    )
    data["leases"][0].update(
        price_usd_per_kw_month=[130, 135],
        energy_rate_usd_per_mwh={"column": "spot", "scale": 1.1},
        escalator_per_year=0.03,
        opex_usd_per_kw_month=12.5,
        upfront_usd=2.0e6,
        end_period=402,
        optional=True,
        linked_to="lab-a",
    )
    data["asic_products"] = [
        {
            "id": "s21xp",
            "hashrate_th": 270,
            "power_kw": 3.645,
            "cooling": "air",
            "capex_usd": [5200, 5000],
            "lead_periods": 1,
            "life_years": 4,
            "max_units_per_period": 30000.5,
            "opex_usd_per_mwh": 3.0,
        }
    ]
    data["financing"] = [
        {
            "id": "hyperscaler-debt",
            "applies_to": ["conversion", "ai_build", "gpu"],
            "sites": ["rockdale"],
            "loan_to_cost": 0.85,
            "rate": 0.07,
            "tenor_years": 10.0,
        },
        {
            "id": "equipment",
            "applies_to": ["asic", "grid_upgrade", "cooling_upgrade"],
            "loan_to_cost": 0.5,
            "rate": 0,
            "tenor_years": 3,
        },
    ]
    data["taxes"] = {"rate": 0.21, "depreciation_years": {"gpu": 5, "asic": 3, "conversion": 15}}
    return data


def test_deal_keys_default_to_todays_meaning(tmp_path):
    """An instance without the new keys validates to the values it had before them."""
    inst = load_instance(write_case(tmp_path, base()))
    c, lease, site = inst.contracts[0], inst.leases[0], inst.sites[0]
    assert c.price_usd_per_gpu_hour == 2.1 and isinstance(c.price_usd_per_gpu_hour, float)
    assert (c.upfront_usd, c.linked_to, c.opex_usd_per_gpu_hour) == (0.0, None, 0.0)
    assert lease.price_usd_per_kw_month == 130.0 and isinstance(lease.price_usd_per_kw_month, float)
    assert lease.energy_rate_usd_per_mwh == 0.0
    assert (lease.escalator_per_year, lease.opex_usd_per_kw_month, lease.upfront_usd) == (0, 0, 0)
    assert lease.linked_to is None
    assert [f.terminal_usd_per_unit for f in site.fleet] == [0.0, 0.0]
    assert site.halls.ai_build is None and site.halls.conversion.residual_at_period is None
    assert site.grid.upgrades[0].residual_at_period is None
    assert site.cooling.upgrades[0].residual_at_period is None
    assert inst.gpu_products[0].residual_at_period is None
    assert (inst.asic_products, inst.financing, inst.taxes) == ([], [], None)


@pytest.mark.parametrize("name", ["quickstart", "permian-1y", "portfolio-3y"])
def test_bundled_instances_still_validate(name):
    root = Path(__file__).resolve().parent.parent / "instances"
    inst = load_instance(root / name / "instance.yaml")
    assert (inst.asic_products, inst.financing, inst.taxes) == ([], [], None)


def test_deal_keys_valid_values_and_types(tmp_path):
    inst = load_instance(write_case(tmp_path, deals()))
    lab_a, lab_b = inst.contracts
    assert lab_a.price_usd_per_gpu_hour == [2.1, 2.2] and lab_b.price_usd_per_gpu_hour == 2.5
    assert (lab_a.upfront_usd, lab_a.opex_usd_per_gpu_hour, lab_a.end_period) == (-5.0e5, 0.4, 40)
    assert (lab_a.linked_to, lab_b.linked_to) == ("tenant-b", "lab-a")
    lease = inst.leases[0]
    assert lease.price_usd_per_kw_month == [130.0, 135.0]
    assert all(isinstance(x, float) for x in lease.price_usd_per_kw_month)
    assert lease.energy_rate_usd_per_mwh == ColumnRef(column="spot", scale=1.1)
    assert (lease.escalator_per_year, lease.opex_usd_per_kw_month, lease.upfront_usd) == (
        0.03,
        12.5,
        2.0e6,
    )
    assert (lease.end_period, lease.linked_to) == (402, "lab-a")  # periods + 400 is allowed
    site = inst.sites[0]
    assert site.fleet[0].terminal_usd_per_unit == 150.0
    assert site.halls.ai_build.block_mw == 20.0 and site.halls.ai_build.residual_at_period == 402
    assert site.halls.conversion.residual_at_period == 2  # = periods is allowed
    assert site.grid.upgrades[0].residual_at_period == 10
    assert inst.gpu_products[0].residual_at_period == 40
    (asic,) = inst.asic_products
    assert asic.capex_usd == [5200.0, 5000.0] and asic.max_units_per_period == 30000.5
    assert (asic.opex_usd_per_mwh, asic.lead_periods, asic.life_years) == (3.0, 1, 4.0)
    debt, equipment = inst.financing
    assert debt.tenor_years == 10 and isinstance(debt.tenor_years, int)  # 10.0 is whole
    assert debt.sites == ["rockdale"] and equipment.sites is None
    assert equipment.applies_to == ["asic", "grid_upgrade", "cooling_upgrade"]
    assert inst.taxes.rate == 0.21
    assert inst.taxes.depreciation_years == {"gpu": 5, "asic": 3, "conversion": 15}
    again = Instance.from_dict(inst.model_dump(mode="json", exclude_none=True), tmp_path)
    assert again.model_dump() == inst.model_dump()


def test_deal_keys_in_json_schema():
    schema = Instance.model_json_schema()
    assert {"asic_products", "financing", "taxes"} <= set(schema["properties"])
    defs = schema["$defs"]
    assert {"AiBuild", "AsicProduct", "Financing", "Taxes"} <= set(defs)
    assert {"upfront_usd", "linked_to", "opex_usd_per_gpu_hour"} <= set(
        defs["Contract"]["properties"]
    )
    assert {"escalator_per_year", "opex_usd_per_kw_month", "upfront_usd", "linked_to"} <= set(
        defs["Lease"]["properties"]
    )
    assert "residual_at_period" in defs["AiBuild"]["properties"]
    for model in ("Conversion", "GridUpgrade", "CoolingUpgrade", "GpuProduct"):
        assert "residual_at_period" in defs[model]["properties"], model
    assert "terminal_usd_per_unit" in defs["Fleet"]["properties"]


RESIDUAL = "must be between horizon.periods = 2 and horizon.periods + 400 = 402"
START = "must be less than horizon.periods = 2: a deal starts inside the horizon"

DEAL_CASES = [
    # contracts
    (
        "c-price-len",
        "contracts[0].price_usd_per_gpu_hour",
        [2.0],
        None,
        "1 values but horizon.periods is 2",
    ),
    (
        "c-price-item",
        "contracts[0].price_usd_per_gpu_hour",
        [2.0, -1],
        "contracts[0].price_usd_per_gpu_hour[1]",
        "must be >= 0",
    ),
    (
        "c-price-column",
        "contracts[0].price_usd_per_gpu_hour",
        {"column": "spot"},
        None,
        PER_PERIOD_MESSAGE,
    ),
    ("c-upfront-type", "contracts[0].upfront_usd", "a lot", None, "expected a number"),
    ("c-upfront-inf", "contracts[0].upfront_usd", float("inf"), None, "must be a finite number"),
    ("c-opex", "contracts[0].opex_usd_per_gpu_hour", -0.1, None, "must be >= 0"),
    ("c-link-empty", "contracts[0].linked_to", "", None, "must not be empty"),
    ("c-link-type", "contracts[0].linked_to", 7, None, "expected a string"),
    ("c-start", "contracts[0].start_period", 2, None, START),
    ("c-end", "contracts[0].end_period", 403, None, "must be at most horizon.periods + 400 = 402"),
    ("c-unknown", "contracts[0].upfront", 1, None, "did you mean 'upfront_usd'"),
    # leases
    (
        "l-price-len",
        "leases[0].price_usd_per_kw_month",
        [1, 2, 3],
        None,
        "3 values but horizon.periods is 2",
    ),
    ("l-price-neg", "leases[0].price_usd_per_kw_month", -1, None, "must be >= 0"),
    (
        "l-energy-unknown",
        "leases[0].energy_rate_usd_per_mwh",
        {"column": "lz_west"},
        "leases[0].energy_rate_usd_per_mwh.column",
        "unknown series column 'lz_west'",
    ),
    ("l-energy-kind", "leases[0].energy_rate_usd_per_mwh", "grid", None, HOURLY_MESSAGE),
    ("l-escalator", "leases[0].escalator_per_year", -0.01, None, "must be >= 0"),
    ("l-opex", "leases[0].opex_usd_per_kw_month", -1, None, "must be >= 0"),
    ("l-upfront", "leases[0].upfront_usd", None, None, "expected a number"),
    ("l-link-type", "leases[0].linked_to", ["lab-a"], None, "expected a string"),
    ("l-start", "leases[0].start_period", 5, None, START),
    ("l-end", "leases[0].end_period", 1000, None, "beyond the horizon tail"),
    (
        "ppa-end",
        "ppas[0].end_period",
        3,
        None,
        "beyond the horizon: end_period (exclusive) must be at most horizon.periods = 2",
    ),
    # fleet, halls, residual values
    ("terminal", "sites[0].fleet[0].terminal_usd_per_unit", -1, None, "must be >= 0"),
    ("ai-build-missing", "sites[0].halls.ai_build.block_mw", DELETE, None, "missing required key"),
    ("ai-build-unknown", "sites[0].halls.ai_build.blocks", 3, None, "did you mean 'max_blocks'"),
    ("ai-build-type", "sites[0].halls.ai_build", 20, None, "expected a mapping"),
    ("ai-build-life", "sites[0].halls.ai_build.life_years", 0, None, "must be > 0"),
    ("residual-ai-build-high", "sites[0].halls.ai_build.residual_at_period", 403, None, RESIDUAL),
    ("residual-conversion-low", "sites[0].halls.conversion.residual_at_period", 1, None, RESIDUAL),
    ("residual-grid", "sites[0].grid.upgrades[0].residual_at_period", 0, None, RESIDUAL),
    ("residual-cooling", "sites[0].cooling.upgrades[0].residual_at_period", 500, None, RESIDUAL),
    ("residual-product", "gpu_products[0].residual_at_period", -1, None, RESIDUAL),
    (
        "residual-fraction",
        "gpu_products[0].residual_at_period",
        2.5,
        None,
        "must be a whole number",
    ),
    # asic_products
    ("asic-slug", "asic_products[0].id", "S21", None, "must be a slug"),
    ("asic-hashrate", "asic_products[0].hashrate_th", 0, None, "must be > 0"),
    ("asic-power", "asic_products[0].power_kw", -3, None, "must be > 0"),
    (
        "asic-cooling",
        "asic_products[0].cooling",
        "immersion",
        None,
        "expected one of 'air' or 'liquid'",
    ),
    (
        "asic-capex-len",
        "asic_products[0].capex_usd",
        [1, 2, 3],
        None,
        "3 values but horizon.periods is 2",
    ),
    ("asic-capex-neg", "asic_products[0].capex_usd", -1, None, "must be >= 0"),
    ("asic-lead", "asic_products[0].lead_periods", 0.5, None, "must be a whole number"),
    ("asic-life", "asic_products[0].life_years", 0, None, "must be > 0"),
    ("asic-max-units", "asic_products[0].max_units_per_period", -1, None, "must be >= 0"),
    ("asic-opex", "asic_products[0].opex_usd_per_mwh", -1, None, "must be >= 0"),
    ("asic-missing", "asic_products[0].capex_usd", DELETE, None, "missing required key"),
    ("asic-list", "asic_products", {"id": "s21"}, None, "expected a list"),
    # financing
    ("fin-empty", "financing[0].applies_to", [], None, "must have at least 1 item(s)"),
    (
        "fin-twice",
        "financing[0].applies_to",
        ["gpu", "conversion", "gpu"],
        "financing[0].applies_to[2]",
        "listed twice (first at [0])",
    ),
    (
        "fin-kind",
        "financing[0].applies_to",
        ["gpu", "solar"],
        "financing[0].applies_to[1]",
        "expected one of 'gpu', 'asic', 'conversion', 'ai_build', 'grid_upgrade' or "
        "'cooling_upgrade'",
    ),
    (
        "fin-site",
        "financing[0].sites",
        ["rockdale", "nowhere"],
        "financing[0].sites[1]",
        "unknown site 'nowhere' (sites: rockdale)",
    ),
    ("fin-sites-empty", "financing[0].sites", [], None, "must have at least 1 item(s)"),
    (
        "fin-sites-twice",
        "financing[0].sites",
        ["rockdale", "rockdale"],
        "financing[0].sites[1]",
        "listed twice",
    ),
    ("fin-ltc", "financing[0].loan_to_cost", 1.5, None, "must be <= 1"),
    ("fin-rate", "financing[0].rate", -0.1, None, "must be >= 0"),
    ("fin-tenor-fraction", "financing[0].tenor_years", 10.5, None, "must be a whole number"),
    ("fin-tenor-zero", "financing[0].tenor_years", 0, None, "must be >= 1"),
    ("fin-tenor-string", "financing[0].tenor_years", "10", None, "expected a whole number"),
    ("fin-slug", "financing[1].id", "Equipment", None, "must be a slug"),
    (
        "fin-dup",
        "financing[1].id",
        "hyperscaler-debt",
        None,
        "duplicate financing id 'hyperscaler-debt' (first at financing[0].id)",
    ),
    ("fin-missing", "financing[0].loan_to_cost", DELETE, None, "missing required key"),
    # taxes
    ("tax-rate", "taxes.rate", 1.5, None, "must be <= 1"),
    ("tax-missing-rate", "taxes.rate", DELETE, None, "missing required key"),
    (
        "tax-kind",
        "taxes.depreciation_years",
        {"gpu": 5, "solar": 20},
        "taxes.depreciation_years.solar",
        "unknown key 'solar': expected one of 'gpu', 'asic'",
    ),
    (
        "tax-years-fraction",
        "taxes.depreciation_years",
        {"gpu": 2.5},
        "taxes.depreciation_years.gpu",
        "must be a whole number",
    ),
    (
        "tax-years-zero",
        "taxes.depreciation_years",
        {"gpu": 0},
        "taxes.depreciation_years.gpu",
        "must be >= 1",
    ),
    ("tax-unknown", "taxes.depreciation", {}, None, "did you mean 'depreciation_years'"),
    # linked deals
    (
        "link-unknown",
        "contracts[0].linked_to",
        "nobody",
        None,
        "unknown deal 'nobody': not the id of a contract or a lease "
        "(contracts: lab-a, lab-b; leases: tenant-b)",
    ),
    ("link-self", "contracts[1].linked_to", "lab-b", None, "a deal cannot be linked to itself"),
    (
        "link-self-lease",
        "leases[0].linked_to",
        "tenant-b",
        None,
        "a deal cannot be linked to itself",
    ),
    (
        "link-own-not-optional",
        "contracts[1].optional",
        False,
        "contracts[1].linked_to",
        "contract 'lab-b' is not optional: only optional deals can be linked (set optional: true)",
    ),
    (
        "link-target-not-optional",
        "leases[0].optional",
        False,
        "contracts[0].linked_to",
        "lease 'tenant-b' is not optional: only optional deals can be linked",
    ),
]


@pytest.mark.parametrize(
    "path,value,expected_path,fragment",
    [c[1:] for c in DEAL_CASES],
    ids=[c[0] for c in DEAL_CASES],
)
def test_deal_rule(tmp_path, path, value, expected_path, fragment):
    problems = problems_of(tmp_path, mutate(deals(), path, value))
    problem = at(problems, expected_path or path)
    assert fragment in problem.message, str(problem)


def test_deal_case_ids_unique():
    ids = [c[0] for c in DEAL_CASES]
    assert len(ids) == len(set(ids))


def test_deal_problem_values(tmp_path):
    """Each problem carries the offending value (printed as 'got ...')."""
    problems = problems_of(tmp_path, mutate(deals(), "contracts[0].linked_to", "nobody"))
    assert at(problems, "contracts[0].linked_to").value == "nobody"
    problems = problems_of(tmp_path, mutate(deals(), "financing[0].tenor_years", 10.5))
    assert str(at(problems, "financing[0].tenor_years")).endswith(
        "financing[0].tenor_years: must be a whole number (got 10.5)"
    )
    problems = problems_of(tmp_path, mutate(deals(), "taxes.depreciation_years", {"solar": 20}))
    assert at(problems, "taxes.depreciation_years.solar").value == "solar"


def test_link_target_not_optional_names_the_target(tmp_path):
    """lab-a is the target of lab-b and of tenant-b, and links tenant-b itself: three deals
    name it, and each problem says that it is lab-a that is not optional."""
    problems = problems_of(tmp_path, mutate(deals(), "contracts[0].optional", False))
    message = "contract 'lab-a' is not optional: only optional deals can be linked"
    linked = [p for p in problems if p.path.endswith("linked_to")]
    assert sorted(p.path for p in linked) == [
        "contracts[0].linked_to",
        "contracts[1].linked_to",
        "leases[0].linked_to",
    ]
    assert all(message in p.message for p in linked), linked


def test_link_to_an_id_of_both_a_contract_and_a_lease(tmp_path):
    data = mutate(deals(), "leases[0].id", "lab-b")
    data = mutate(data, "contracts[0].linked_to", "lab-b")
    p = at(problems_of(tmp_path, data), "contracts[0].linked_to")
    assert p.message == (
        "'lab-b' is the id of a contract and of a lease: linked_to cannot tell which; "
        "give them different ids"
    )


def test_links_may_chain_and_cycle(tmp_path):
    data = deals()
    data["contracts"][1]["linked_to"] = "tenant-b"  # lab-b -> tenant-b -> lab-a -> tenant-b
    inst = load_instance(write_case(tmp_path, data))
    assert [c.linked_to for c in inst.contracts] == ["tenant-b", "tenant-b"]


def test_financing_overlap_names_kind_site_and_first(tmp_path):
    data = mutate(deals(), "financing[1].applies_to", ["asic", "gpu"])  # every site
    p = at(problems_of(tmp_path, data), "financing[1].applies_to")
    assert p.message == (
        "financing 'equipment' applies to gpu at site 'rockdale', already financed by "
        "'hyperscaler-debt': at most one financing may apply to a kind at a site"
    )


def test_financing_on_different_sites_or_kinds_is_fine(tmp_path):
    data = deals()
    data["sites"].append(copy.deepcopy(data["sites"][0]))
    data["sites"][1]["id"] = "odessa"
    data["sites"][1]["gpus"] = []
    data["financing"][1]["applies_to"] = ["gpu", "asic"]
    data["financing"][1]["sites"] = ["odessa"]
    inst = load_instance(write_case(tmp_path, data))
    assert [f.sites for f in inst.financing] == [["rockdale"], ["odessa"]]
    data["financing"][1]["sites"] = None  # every site: gpu at rockdale is financed twice
    p = at(problems_of(tmp_path, data), "financing[1].applies_to")
    assert "applies to gpu at site 'rockdale', already financed by 'hyperscaler-debt'" in p.message


DEAL_PATHS = list(_paths(deals()))[1:]
DEAL_VALUES = st.sampled_from(["lab-a", "tenant-b", "rockdale", "gpu", 402, 403, ["gpu", "gpu"]])


@FUZZ
@given(st.sampled_from(DEAL_PATHS), structures | DEAL_VALUES | st.just(DELETE))
def test_fuzz_mutated_deals(fuzz_dir, path, value):
    _load_mutated(fuzz_dir, deals(), path, value)


def test_a_lease_energy_rate_may_pass_a_negative_grid_price_through(make_instance):
    """deals.md section 1: `{column: <grid price>}` passes the price through, and grid
    prices may be negative, so the energy rate takes any sign (a list too)."""
    from conftest import base_instance

    lease = {"id": "t", "site": "s", "it_mw": 1.0, "cooling": "air",
             "price_usd_per_kw_month": 100, "start_period": 0, "end_period": 1,
             "energy_rate_usd_per_mwh": {"column": "lmp", "scale": 1.15}}
    inst = make_instance(base_instance(leases=[lease]), {"lmp": lambda h: (h % 3) - 1.0})
    assert inst.leases[0].energy_rate_usd_per_mwh.scale == 1.15
    listed = make_instance(base_instance(leases=[{**lease, "energy_rate_usd_per_mwh": [-4.0]}]))
    assert listed.leases[0].energy_rate_usd_per_mwh == [-4.0]
