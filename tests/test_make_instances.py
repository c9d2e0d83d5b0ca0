"""The template mechanism of instances/make_instances.py: parts with overrides, the
horizon-dependent tags, and the regeneration of a bundled instance byte for byte."""

from __future__ import annotations

import datetime as dt
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location(
    "make_instances", ROOT / "instances" / "make_instances.py"
)
mi = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mi)

QUARTERS_2027 = mi.Horizon(dt.date(2027, 1, 1), 3, 4, 0.1)


@pytest.fixture
def templates(tmp_path, monkeypatch):
    """Templates read from tmp_path instead of instances/templates."""
    monkeypatch.setattr(mi, "TEMPLATES", tmp_path)
    mi.read_template.cache_clear()
    yield tmp_path
    mi.read_template.cache_clear()


def test_salvage_nets_out_the_discounted_end_price():
    """market_p = 420 * 0.93^p: 420, 390.6, 363.258, 337.830 and 314.182 at the end.
    Salvage_p = market_p - 1.1^-(years left) * 314.182: p0 420 - 314.182/1.1 = 134.38;
    p1 390.6 - 314.182/1.1^0.75 = 98.09; p2 363.258 - 314.182/1.1^0.5 = 63.70;
    p3 337.830 - 314.182/1.1^0.25 = 31.05; rounded to whole dollars."""
    assert mi.salvage(QUARTERS_2027, 420, 0.93) == [134, 98, 64, 31]


def test_per_period_rounds_to_the_given_step():
    """3.3M * 0.965^p = 3 300 000, 3 184 500, 3 073 043, 2 965 486 -> nearest $10 000."""
    want = [3_300_000, 3_180_000, 3_070_000, 2_970_000]
    assert mi.per_period(QUARTERS_2027, 3_300_000, 0.965, 10_000) == want


def test_per_year_takes_the_value_of_each_periods_calendar_year():
    """Quarters from July 2027: Jul, Oct in 2027, Jan, Apr in 2028. Months from November
    2027: Nov in 2027, Dec in 2027, Jan in 2028."""
    from_july = mi.Horizon(dt.date(2027, 7, 1), 3, 4, 0.1)
    assert mi.per_year(from_july, [10, 20]) == [10, 10, 20, 20]
    from_november = mi.Horizon(dt.date(2027, 11, 1), 1, 3, 0.1)
    assert mi.per_year(from_november, [10, 20]) == [10, 10, 20]


def test_use_overrides_in_place_appends_new_keys_and_omits(templates):
    """An overridden key keeps its place, a new one goes last, an omitted one goes; the
    style of the part (flow) is kept, and the part itself is not changed by a use."""
    (templates / "parts.yaml").write_text("m: {a: 1, b: ~, c: {d: 2}}\n")
    (templates / "t.yaml").write_text(
        "x: !use {part: m, b: 5, c.d: 3, e: 4, omit: [a]}\ny: !use {part: m, b: 6}\n"
    )
    t = mi.read_template("t.yaml")
    x = mi.expand(t["x"], "t.yaml", "x")
    assert list(x.items()) == [("b", 5), ("c", {"d": 3}), ("e", 4)]
    assert isinstance(x, mi.Flow)
    assert mi.expand(t["y"], "t.yaml", "y") == {"a": 1, "b": 6, "c": {"d": 2}}


def test_a_value_left_open_by_a_part_is_refused_with_its_key_path(templates):
    (templates / "parts.yaml").write_text("m: {a: 1, b: ~}\n")
    (templates / "t.yaml").write_text("x: [!use m]\n")
    value = mi.expand(mi.read_template("t.yaml")["x"], "templates/t.yaml", "instance.x")
    with pytest.raises(mi.TemplateError) as err:
        mi.finish(value, QUARTERS_2027, "templates/t.yaml", "instance.x")
    assert str(err.value) == (
        "templates/t.yaml: instance.x[0].b has no value: the part it comes from leaves it (~) "
        "to each !use, so set it there"
    )


def test_an_override_path_outside_the_part_is_refused(templates):
    (templates / "parts.yaml").write_text("m: {a: 1}\n")
    (templates / "t.yaml").write_text("x: !use {part: m, grid.import_limit_mw: 5}\n")
    with pytest.raises(mi.TemplateError) as err:
        mi.expand(mi.read_template("t.yaml")["x"], "templates/t.yaml", "instance.x")
    assert str(err.value) == (
        "templates/t.yaml: instance.x: override path 'grid.import_limit_mw' does not lead "
        "into the part (no 'grid' there)"
    )


def test_quickstart_regenerates_byte_identical(tmp_path):
    """The committed quickstart files are exactly what its template makes (same numpy and
    pandas versions: the synthetic draws may change with another numpy)."""
    inst, series, header = mi.build("quickstart")
    mi.write_instance(tmp_path, inst, series, header)
    for name in ("instance.yaml", "series.csv"):
        assert (tmp_path / name).read_bytes() == (ROOT / "instances/quickstart" / name).read_bytes()
