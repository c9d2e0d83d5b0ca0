"""Hashprice from fundamentals (optimizer.hashprice): formula, halving hour, a published
figure, per-period means, the CSV an instance reads, and the command's exit codes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from optimizer.hashprice import (
    app,
    hashprice_path,
    hashrate_eh_s_from_difficulty,
    subsidy_btc,
)
from optimizer.instance import load_instance

QUICKSTART = Path(__file__).resolve().parent.parent / "instances" / "quickstart" / "instance.yaml"

# the example inputs
BASE = dict(btc_usd=100_000.0, hashrate_eh_s=800.0, fees_btc_per_block=0.05)


def test_hand_calculation_before_the_halving():
    """BTC 100,000 USD, hashrate 800 EH/s, fees 0.05 BTC/block, subsidy 3.125 BTC (2027):

    reward per block   3.125 + 0.05          = 3.175 BTC
    per day            3.175 x 144 blocks    = 457.2 BTC
    in USD             457.2 x 100,000       = 45,720,000 USD/day
    hashrate           800 EH/s x 1,000      = 800,000 PH/s
    hashprice          45,720,000 / 800,000  = 57.15 USD/PH/day
    """
    path = hashprice_path("2027-01-01", "month", 12, **BASE)
    assert len(path.hourly) == 8760
    assert (path.frame["subsidy_btc"] == 3.125).all()
    assert path.hourly.to_numpy() == pytest.approx(np.full(8760, 57.15), rel=1e-12)
    assert path.halvings == []


def test_subsidy_schedule_by_height():
    """50 BTC halved every 210,000 blocks, in whole satoshis: 0 from the 33rd halving."""
    heights = [0, 209_999, 210_000, 839_999, 840_000, 1_049_999, 1_050_000, 6_929_999,
               6_930_000]
    assert subsidy_btc(heights).tolist() == [50, 50, 25, 6.25, 3.125, 3.125, 1.5625,
                                             1e-8, 0]


def test_halving_falls_on_the_hour_derived_from_the_default_anchor():
    """Block 840,000 at 2024-04-20T00:09:27Z; block 1,050,000 is 210,000 x 600 s =
    126,000,000 s = 1458 days 8 h later: 2028-04-17T08:09:27Z. The hour 08:00 holds it, so
    it is the first hour at 1.5625 BTC: (1.5625 + 0.05) x 144 x 100,000 / 800,000 =
    29.025 USD/PH/day; the hour 07:00 still earns 57.15."""
    path = hashprice_path("2028-04-01", "month", 1, **BASE)
    (h,) = path.halvings
    assert (h.height, h.subsidy_before_btc, h.subsidy_after_btc) == (1_050_000, 3.125, 1.5625)
    assert h.block_time == pd.Timestamp("2028-04-17T08:09:27Z")
    assert h.hour == pd.Timestamp("2028-04-17T08:00Z")
    hp = path.hourly
    assert hp["2028-04-17T07:00Z"] == pytest.approx(57.15, rel=1e-12)
    assert hp["2028-04-17T08:00Z"] == pytest.approx(29.025, rel=1e-12)
    first_new = path.frame.index[path.frame["subsidy_btc"] == 1.5625][0]
    assert first_new == h.hour
    # the block heights of those two hours: the last block before 08:00 is 1,049,999
    assert path.frame.loc["2028-04-17T07:00Z", "block_height"] == 1_049_999
    assert path.frame.loc["2028-04-17T08:00Z", "block_height"] == 1_050_005


def test_halving_hour_follows_the_anchor_parameter():
    """Anchor 925,000 at 2025-11-20T00:00Z (the issue's example): 125,000 blocks x 600 s =
    75,000,000 s = 868 days 1 h 20 min later, i.e. 2028-04-06T01:20Z, in the hour 01:00.
    Anchor 1,049,994 at 2028-01-01T00:00Z: block 1,050,000 at 01:00:00 exactly, the start
    of the hour 01:00; the hour 00:00 only holds blocks 1,049,994 .. 1,049,999."""
    path = hashprice_path("2028-04-01", "month", 1, **BASE, anchor_height=925_000,
                          anchor_time="2025-11-20T00:00:00Z")
    assert path.halvings[0].block_time == pd.Timestamp("2028-04-06T01:20Z")
    sub = path.frame["subsidy_btc"]
    assert (sub["2028-04-06T00:00Z"], sub["2028-04-06T01:00Z"]) == (3.125, 1.5625)

    edge = hashprice_path("2028-01-01", "month", 1, **BASE, anchor_height=1_049_994,
                          anchor_time="2028-01-01T00:00:00Z")
    sub = edge.frame["subsidy_btc"]
    assert (sub["2028-01-01T00:00Z"], sub["2028-01-01T01:00Z"]) == (3.125, 1.5625)
    assert edge.halvings[0].hour == pd.Timestamp("2028-01-01T01:00Z")


def test_published_figure_luxor_november_2025():
    """CoinDesk (late November 2025), citing Luxor's Hashrate Index: hashprice at a
    five-year low of 38.2 USD/PH/day, with BTC at 91,000 USD and difficulty near 152 T
    (fees "extremely low", 2 sat/vB for high priority).

    Hashrate implied by the difficulty: 152e12 x 2^32 / 600 = 1088.06 EH/s. Fees are not
    in the article; 0.025 BTC/block (0.8 % of the subsidy) is assumed. Then
    (3.125 + 0.025) x 144 x 91,000 / 1,088,058 = 37.94 USD/PH/day.

    Tolerance 2 %: BTC rounded to 1,000 USD (up to 0.55 %), difficulty to 1 T (0.33 %),
    fees anywhere in 0 .. 0.05 BTC (0.8 %), and Luxor's 144-block fee average against one
    flat fee figure.
    """
    hashrate = hashrate_eh_s_from_difficulty(152e12)
    assert hashrate == pytest.approx(1088.058, rel=1e-6)
    path = hashprice_path("2025-11-01", "month", 1, btc_usd=91_000.0, hashrate_eh_s=hashrate,
                          fees_btc_per_block=0.025)
    assert path.per_period[0] == pytest.approx(37.937, rel=1e-4)
    assert path.per_period[0] == pytest.approx(38.2, rel=0.02)


def test_per_period_means_equal_the_hourly_means():
    """Quarter 2028-Q2 (91 days, 2,184 hours) holds the halving hour 2028-04-17T08:00Z:
    16 days x 24 + 8 = 392 hours at 57.15 and 1,792 at 29.025, so its mean is
    (392 x 57.15 + 1,792 x 29.025) / 2,184 = 74,415.6 / 2,184 = 34.0730769 USD/PH/day."""
    path = hashprice_path("2027-01-01", "quarter", 12, **BASE)
    assert path.per_period[5] == pytest.approx(74_415.6 / 2_184, rel=1e-12)
    # with prices and hashrate that move every hour, per quarter and per month
    for period, periods in (("quarter", 12), ("month", 36)):
        path = hashprice_path("2027-01-01", period, periods, btc_usd=90_000.0,
                              btc_growth_per_year=0.25, hashrate_eh_s=800.0,
                              hashrate_growth_per_year=0.35,
                              fees_btc_per_block=lambda h: 0.02 + 0.01 * np.sin(h.hour / 3.0))
        hp = path.hourly
        expected = [hp[(hp.index >= a) & (hp.index < b)].mean()
                    for a, b in zip(path.period_starts, path.period_starts[1:])]
        assert path.per_period == pytest.approx(expected, rel=1e-12)
        freq = "QS" if period == "quarter" else "MS"
        assert path.per_period == pytest.approx(hp.resample(freq).mean().tolist(), rel=1e-12)


def test_input_kinds_per_period_series_callable_and_growth():
    """A per-period list holds inside its period; growth compounds yearly from the start:
    800 EH/s at +30 %/y is 1,040 EH/s 8,766 hours (one Julian year) in."""
    path = hashprice_path("2027-01-01", "quarter", 4, btc_usd=[80e3, 90e3, 100e3, 110e3],
                          hashrate_eh_s=800.0, hashrate_growth_per_year=0.3,
                          fees_btc_per_block=0.0)
    f = path.frame
    assert f.loc["2027-03-31T23:00Z", "btc_usd"] == 80e3
    assert f.loc["2027-04-01T00:00Z", "btc_usd"] == 90e3
    hours = pd.date_range("2027-01-01", periods=8767, freq="h", tz="UTC")
    grown = hashprice_path("2027-01-01", "year", 2, btc_usd=1e5, hashrate_eh_s=800.0,
                           hashrate_growth_per_year=0.3, fees_btc_per_block=0.0)
    assert grown.frame.loc[hours[8766], "hashrate_eh_s"] == pytest.approx(1040.0, rel=1e-12)

    year = pd.date_range("2027-01-01", "2028-01-01", freq="h", tz="UTC", inclusive="left")
    btc = pd.Series(np.linspace(80e3, 120e3, len(year) + 24), index=year.append(
        pd.date_range("2028-01-01", periods=24, freq="h", tz="UTC")))
    from_series = hashprice_path("2027-01-01", "year", 1, btc_usd=btc, **{
        k: v for k, v in BASE.items() if k != "btc_usd"})
    assert from_series.frame["btc_usd"].to_numpy() == pytest.approx(btc.to_numpy()[:8760])
    from_callable = hashprice_path("2027-01-01", "year", 1, btc_usd=lambda h: btc[h].to_numpy(),
                                   hashrate_eh_s=800.0, fees_btc_per_block=0.05)
    assert from_callable.hourly.equals(from_series.hourly)


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(hashrate_eh_s=-800.0), "hashrate_eh_s: must be a finite number > 0, got -800.0"),
        (dict(period="week"), "period: must be one of month, quarter, year; got 'week'"),
        (dict(periods=0), "periods: must be a whole number >= 1, got 0"),
        (dict(start="2027-02-01"), "start: a path in quarters must start on Jan 1, Apr 1, "
                                   "Jul 1 or Oct 1 (the period boundaries of an instance "
                                   "horizon), got 2027-02-01"),
        (dict(btc_usd=[1e5, 1e5]), "btc_usd: expected one value per period (4) or per hour "
                                   "(8760), got 2 values"),
        (dict(btc_usd=[1e5, 1e5, 0.0, 1e5]), "btc_usd: must be a finite number > 0, got 0.0 "
                                             "at 2027-07-01T00:00:00Z"),
        (dict(fees_btc_per_block=float("nan")), "fees_btc_per_block: must be a finite number "
                                                ">= 0, got nan"),
        (dict(btc_usd=[1e5] * 4, btc_growth_per_year=0.1),
         "btc_growth_per_year: must be 0 when btc_usd is a path (the path carries its own "
         "growth), got 0.1"),
        (dict(hashrate_growth_per_year=-1.0), "hashrate_growth_per_year: must be a number > -1 "
                                              "(a yearly fraction: 0.3 = +30 % a year), got -1.0"),
        (dict(block_minutes=0), "block_minutes: must be a number > 0, got 0"),
        (dict(anchor_time="yesterday-ish"), "anchor_time: not a date/time, got 'yesterday-ish'"),
        (dict(start="2000-01-01"), "start: 2000-01-01 is before block 0, which the anchor "
                                   "(block 840000 at 2024-04-20T00:09:27Z, 10-minute blocks) "
                                   "puts at 2008-04-30T16:09:27Z"),
    ],
)
def test_bad_inputs_name_the_parameter_and_value(change, message):
    args = dict(start="2027-01-01", period="quarter", periods=4, **BASE) | change
    start, period, periods = args.pop("start"), args.pop("period"), args.pop("periods")
    with pytest.raises(ValueError) as exc:
        hashprice_path(start, period, periods, **args)
    assert str(exc.value) == message


def _quickstart_copy(tmp_path, column):
    data = yaml.safe_load(QUICKSTART.read_text())
    data["market"]["hashprice_usd_per_ph_day"] = {"column": column}
    (tmp_path / "series.csv").write_bytes((QUICKSTART.parent / "series.csv").read_bytes())
    path = tmp_path / "instance.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_column_written_into_an_instance_series_is_what_the_instance_reads(tmp_path):
    """Quickstart (January 2027) with its hashprice taken from a new column: the other
    columns keep their text, the instance loads, and its hourly values are the path's
    (written with 6 decimals)."""
    yaml_path = _quickstart_copy(tmp_path, "hp_fundamentals")
    before = pd.read_csv(tmp_path / "series.csv", dtype=str)
    path = hashprice_path("2027-01-01", "month", 1, btc_usd=95_000.0, hashrate_eh_s=1_100.0,
                          hashrate_growth_per_year=0.4, fees_btc_per_block=0.03)
    assert path.write_csv(tmp_path / "series.csv", "hp_fundamentals") == "added"
    assert path.write_csv(tmp_path / "series.csv", "hp_fundamentals") == "replaced"
    after = pd.read_csv(tmp_path / "series.csv", dtype=str)
    assert list(after.columns) == [*before.columns, "hp_fundamentals"]
    assert after[before.columns].equals(before)
    inst = load_instance(yaml_path)
    read = inst.series["hp_fundamentals"]
    assert read.to_numpy() == pytest.approx(path.hourly.to_numpy(), abs=5e-7)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["instance.yaml", "series.csv"]


def test_writing_into_a_series_that_misses_hours_is_refused(tmp_path):
    csv = tmp_path / "series.csv"
    csv.write_text("timestamp,x\n2027-01-01T00:00:00Z,1\n2027-01-01T01:00:00Z,2\n")
    path = hashprice_path("2027-01-01", "month", 1, **BASE)
    with pytest.raises(ValueError) as exc:
        path.write_csv(csv)
    assert str(exc.value) == (f"{csv}: has no row for 2027-01-01T02:00:00Z (742 hours of "
                              f"2027-01-01T00:00:00Z .. 2027-01-31T23:00:00Z missing)")
    assert csv.read_text() == "timestamp,x\n2027-01-01T00:00:00Z,1\n2027-01-01T01:00:00Z,2\n"


runner = CliRunner()


def test_cli_writes_into_the_instance_series_and_prints_the_halving(tmp_path):
    yaml_path = _quickstart_copy(tmp_path, "hp")
    res = runner.invoke(app, ["--instance", str(yaml_path), "--btc-usd", "100000",
                              "--hashrate-eh-s", "800", "--fees-btc", "0.05", "--column", "hp"])
    assert res.exit_code == 0, res.output
    assert "mean 57.15" in res.stdout
    assert "no halving inside the path" in res.stdout
    assert load_instance(yaml_path).series["hp"].to_numpy() == pytest.approx(57.15)

    out = tmp_path / "hp.csv"
    res = runner.invoke(app, ["--start", "2028-01-01", "--period", "quarter", "--periods", "2",
                              "--btc-usd", "100000", "--hashrate-eh-s", "800", "--fees-btc",
                              "0.05", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert ("halving: block 1,050,000 expected 2028-04-17T08:09:27Z; subsidy 3.125 -> 1.5625 "
            "BTC from the hour 2028-04-17T08:00:00Z; hashprice 57.15 -> 29.02") in res.stdout
    assert "per-period list: [57.15, 34.07]" in res.stdout
    assert out.read_text().splitlines()[:2] == ["timestamp,hashprice_usd_per_ph_day",
                                                "2028-01-01T00:00:00Z,57.150000"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--hashrate-eh-s", "-5"], "--hashrate-eh-s: must be a finite number > 0, got -5.0"),
        (["--period", "week"], "--period: must be one of month, quarter, year; got 'week'"),
        (["--btc-usd", "1e5,abc"], "--btc-usd: expected a number or comma-separated numbers "
                                   "(one per period), got '1e5,abc'"),
    ],
)
def test_cli_bad_input_exits_2_with_the_sentence(tmp_path, args, message):
    base = {"--start": "2027-01-01", "--period": "quarter", "--periods": "4",
            "--btc-usd": "100000", "--hashrate-eh-s": "800", "--fees-btc": "0.05",
            "--out": str(tmp_path / "hp.csv")}
    base.update(dict(zip(args[::2], args[1::2])))
    res = runner.invoke(app, [x for kv in base.items() for x in kv])
    assert res.exit_code == 2
    assert res.stderr.strip() == message
    assert "Traceback" not in res.output
    assert not (tmp_path / "hp.csv").exists()


def test_cli_instance_horizon_errors_name_the_file_and_key(tmp_path):
    yaml_path = _quickstart_copy(tmp_path, "hp")
    data = yaml.safe_load(yaml_path.read_text())
    data["horizon"]["period"] = "week"
    yaml_path.write_text(yaml.safe_dump(data, sort_keys=False))
    res = runner.invoke(app, ["--instance", str(yaml_path), "--btc-usd", "1e5",
                              "--hashrate-eh-s", "800", "--fees-btc", "0"])
    assert res.exit_code == 2
    assert res.stderr.strip() == (f"{yaml_path}: horizon.period: must be one of month, "
                                  f"quarter, year; got 'week'")
