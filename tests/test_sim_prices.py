"""The simulator's prices and sun (issue 16): the price and PV files, how a month is laid onto a
trace's days, the all-in formula, the export price, the entity the app is shown."""

from datetime import date, datetime, timedelta, timezone

import pytest

from balancer_prices import price_table
from tools.plant import QUARTER, TZ
from tools.prices import ExportPrice, PriceFormula, PriceSeries
from tools.pv import load_pv, with_pv
from tools.quarter_series import DayMap, QuarterSeries, parse_series
from tools.traces import Trace

HEADER = ["start", "eur_per_mwh"]


def at(day, hour=0, minute=0):
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=TZ).timestamp()


def q(day, hour=0, minute=0):
    return int(at(day, hour, minute) // QUARTER)


def csv(rows):
    return "start,eur_per_mwh\n" + "".join(f"{t},{v}\n" for t, v in rows)


def hourly_month(year, month, days, value=lambda day, hour: 100.0 * day + hour):
    """A month of hourly prices whose value says its day and hour."""
    out = {}
    ids = {}
    for d in range(1, days + 1):
        day = date(year, month, d)
        for h in range(24):
            k = q(day, h)
            for i in range(4):
                out[k + i] = value(d, h)
                ids[k + i] = k
    return QuarterSeries(f"BE_{year}-{month:02d}", out, ids, 3600.0)


def test_hourly_rows_give_four_quarters_and_a_missing_interval_holds_the_previous_price():
    text = csv([("2025-10-26T01:45:00+02:00", 9.88),        # a 15-minute file, then the gap of
                ("2025-10-26T02:00:00+01:00", 22.11),       # the repeated hour's first run
                ("2025-10-26T02:15:00+01:00", 1.09)])
    series = parse_series(text, "BE_2025-10.csv", HEADER, "price", steps=(900.0, 3600.0))
    gap = [(k, series.values[k], series.interval[k]) for k in sorted(series.values)]
    first = int(datetime.fromisoformat("2025-10-26T01:45:00+02:00").timestamp() // QUARTER)
    assert [v for _, v, _ in gap] == [9.88] * 5 + [22.11, 1.09]
    assert [i for _, _, i in gap][:5] == [first, first + 1, first + 2, first + 3, first + 4]
    assert series.notes == ["BE_2025-10.csv: 4 missing quarter(s) hold the previous row's price"]
    hourly = parse_series(csv([("2025-01-01T00:00:00+01:00", 10), ("2025-01-01T01:00:00+01:00", 20)]),
                          "h.csv", HEADER, "price")
    assert hourly.step_s == 3600.0 and list(hourly.values.values()) == [10.0] * 4 + [20.0] * 4
    assert set(hourly.interval.values()) == {min(hourly.values), min(hourly.values) + 4}


@pytest.mark.parametrize("text, message", [
    ("a,b\n", "p.csv: expected the header 'start,eur_per_mwh'"),
    (csv([("2025-01-01T00:10:00+01:00", 1), ("2025-01-01T01:10:00+01:00", 1)]), "p.csv line 2: 2025-01-01T00:10"),
    (csv([("2025-01-01T00:00:00+01:00", "x"), ("2025-01-01T01:00:00+01:00", 1)]), "p.csv line 2: eur_per_mwh 'x'"),
    (csv([("2025-01-01T01:00:00+01:00", 1), ("2025-01-01T00:00:00+01:00", 1)]), "p.csv line 3: timestamps not increasing"),
    (csv([("2025-01-01T00:00:00+01:00", 1), ("2025-01-01T00:30:00+01:00", 1)]), "p.csv: rows every 30 minutes"),
])
def test_a_bad_price_file_says_where(text, message):
    with pytest.raises(ValueError) as error:
        parse_series(text, "p.csv", HEADER, "price")
    assert str(error.value).startswith(message)


def test_days_are_matched_by_a_weekday_aligned_offset_from_the_first_of_the_months():
    same = DayMap(date(2025, 1, 1), date(2025, 1, 31), date(2025, 1, 1))
    assert [same.source_day(date(2025, 1, d)) for d in (1, 15, 31)] == [date(2025, 1, d) for d in (1, 15, 31)]
    november = DayMap(date(2025, 11, 1), date(2025, 11, 30), date(2025, 1, 1))   # Saturday onto Wednesday
    assert november.shift_days == 4 and november.source_day(date(2025, 1, 1)) == date(2025, 11, 5)
    for d in range(1, 32):
        day = date(2025, 1, d)
        source = november.source_day(day)
        assert source.weekday() == day.weekday() and date(2025, 11, 1) <= source <= date(2025, 11, 30)
    assert november.source_day(date(2025, 1, 31)) == date(2025, 11, 28)     # a week back from the 35th


def test_a_price_month_is_laid_on_the_trace_by_local_wall_time_across_a_clock_change():
    october = hourly_month(2025, 10, 31, value=lambda d, h: 100.0 * d + h)
    # a trace day in March 2025 with the spring change (30 March: 23 hours) takes an October day
    start = q(date(2025, 3, 30))
    values, ids = october.onto(start, 92)
    source = october.day_map(date(2025, 3, 1)).source_day(date(2025, 3, 30))
    assert source.weekday() == 6
    hours = [int(v) % 100 for v in values[::4]]
    assert hours == [0, 1] + list(range(3, 24))            # 02:00 does not exist: 03:00 follows 01:00
    assert {int(v) // 100 for v in values} == {source.day}
    assert len(set(ids)) == 23


def test_the_default_all_in_formula_and_the_export_price():
    f = PriceFormula()
    assert f.eur_per_kwh(0) == pytest.approx(0.132 * 1.06)
    assert f.eur_per_kwh(100) == pytest.approx(0.232 * 1.06)
    assert 0.20 <= f.eur_per_kwh(75) and f.eur_per_kwh(250) <= 0.41
    g = PriceFormula.parse("factor=1.1, adder=0.01,vat=21%")
    assert (g.factor, g.adder, g.network, g.vat) == (1.1, 0.01, 0.060, 21.0)
    assert ExportPrice.parse(None).eur_per_kwh(100) == pytest.approx(0.085)
    assert ExportPrice.parse("0.03").eur_per_kwh(500) == 0.03
    assert ExportPrice.parse("factor=0.9,fee=0").eur_per_kwh(-50) == pytest.approx(-0.045)
    for bad, option in (("factor=x", "--price-formula"), ("spot=1", "--price-formula"), ("vat=200", "--price-formula")):
        with pytest.raises(ValueError, match=option):
            PriceFormula.parse(bad)
    with pytest.raises(ValueError, match="--export-price 'tax=1'"):
        ExportPrice.parse("tax=1")


def test_the_entity_the_app_is_shown_is_custom_nord_pool_with_tomorrow_from_13_00():
    january = hourly_month(2025, 1, 31)
    day = date(2025, 1, 8)
    prices = PriceSeries(january, q(day), 96 * 3)
    state, attributes = prices.entity(at(day, 12, 59))
    assert attributes["raw_tomorrow"] == [] and attributes["tomorrow_valid"] is False
    assert len(attributes["raw_today"]) == 24                     # hourly months: hourly items
    assert float(state) == pytest.approx(PriceFormula().eur_per_kwh(812), abs=1e-5)
    now = datetime.fromtimestamp(at(day, 12, 59), timezone.utc)
    table = price_table(state, attributes, now)
    assert table.problem is None and table.known_until == datetime.fromtimestamp(at(day + timedelta(days=1)), timezone.utc)
    state, attributes = prices.entity(at(day, 13, 0))
    assert len(attributes["raw_tomorrow"]) == 24 and attributes["tomorrow_valid"] is True
    table = price_table(state, attributes, datetime.fromtimestamp(at(day, 13), timezone.utc))
    assert len(table.eur_per_kwh) == 192
    for k in range(q(day), q(day) + 192, 7):
        assert table.price(datetime.fromtimestamp(k * QUARTER, timezone.utc)) == pytest.approx(prices.import_at(k), abs=1e-5)
    assert PriceSeries.known_until(at(day, 12, 59)) == at(day + timedelta(days=1))
    assert PriceSeries.known_until(at(day, 13)) == at(day + timedelta(days=2))
    assert PriceSeries.next_publication(at(day, 13)) == at(day + timedelta(days=1), 13)
    export_state, export = prices.entity(at(day, 14), export=True)
    assert float(export_state) == pytest.approx(ExportPrice().eur_per_kwh(814), abs=1e-5)


def test_quarter_prices_give_quarter_items():
    quarters = QuarterSeries("q", {}, {}, 900.0)
    day = date(2025, 10, 8)
    for i in range(96 * 2):
        quarters.values[q(day) + i] = float(i)
        quarters.interval[q(day) + i] = q(day) + i
    prices = PriceSeries(quarters, q(day), 96)
    _, attributes = prices.entity(at(day, 13))
    assert len(attributes["raw_today"]) == 96 and len(attributes["raw_tomorrow"]) == 96
    item = attributes["raw_today"][5]
    assert item["end"] - item["start"] == timedelta(minutes=15) and item["start"].tzinfo is not None


def test_pv_is_spread_over_the_quarter_and_subtracted_from_the_house(tmp_path):
    path = tmp_path / "pv.csv"
    path.write_text("timestamp,pv_w\n2025-01-06T12:00:00+01:00,1200\n2025-01-06T12:15:00+01:00,300\n")
    pv = load_pv(str(path))
    t0 = at(date(2025, 1, 6), 12)
    trace = Trace("h", [t0, t0 + 600, t0 + 1200], [500.0, 800.0, 800.0], t0 + 1800)
    net = with_pv(trace, pv)
    # 12:00-12:10 500 - 1200; 12:10-12:15 800 - 1200; 12:15-12:20 (same house step) 800 - 300
    assert net.times == [t0, t0 + 600, t0 + 900] and net.power_w == [-700.0, -400.0, 500.0]
    assert net.name == "h+pv" and "pv: 0.4 kWh of PV" in net.notes[-1]
    path.write_text("timestamp,pv_w\n2025-01-06T12:00:00+01:00,-5\n2025-01-06T12:15:00+01:00,300\n")
    with pytest.raises(ValueError, match="negative"):
        load_pv(str(path))
