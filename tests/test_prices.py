"""Price tables (balancer_prices, issue 16): every integration's format, units, DST days, a day/night
meter and an export price, read into UTC quarter -> EUR/kWh."""

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import balancer_prices
from balancer_prices import price_table, schedule_table, unit_eur_per_kwh

TZ = ZoneInfo("Europe/Brussels")
NOW = datetime(2025, 1, 28, 10, 5, tzinfo=TZ)  # a Tuesday morning


def local(year, month, day, hour=0, minute=0):
    return datetime(year, month, day, hour, minute, tzinfo=TZ)


def utc(dt):
    return dt.astimezone(timezone.utc)


def starts(day, step_min, count):
    """Local aware starts from local midnight of `day`, stepping in UTC (so DST days come out right)."""
    first = utc(day)
    return [(first + timedelta(minutes=step_min * k)).astimezone(TZ) for k in range(count)]


def hourly_price(start):
    return round(0.10 + 0.01 * start.hour, 4)


def day_quarters(table, day):
    """The table's quarters on one local day."""
    return sorted([q for q in table.eur_per_kwh if q.astimezone(TZ).date() == day.date()])


def test_custom_nord_pool_hourly_datetimes_become_four_equal_quarters_and_tomorrow_may_be_missing():
    today = starts(local(2025, 1, 28), 60, 24)
    raw = [{"start": s, "end": s + timedelta(hours=1), "value": hourly_price(s)} for s in today]
    t = price_table("0.2", {"raw_today": raw, "raw_tomorrow": [], "today": [0.1] * 24,
                            "unit_of_measurement": "EUR/kWh"}, NOW)
    assert t.problem is None and t.source == "raw_today/raw_tomorrow"
    assert len(t.eur_per_kwh) == 96
    eight = utc(local(2025, 1, 28, 8))
    assert [t.price(eight + timedelta(minutes=m)) for m in (0, 15, 30, 45)] == [0.18] * 4
    assert t.known_until == utc(local(2025, 1, 29))  # tomorrow is not published yet
    assert t.price(utc(local(2025, 1, 29, 8))) is None


def test_nord_pool_in_cents_per_kwh():
    raw = [{"start": s, "end": s + timedelta(hours=1), "value": 25.0} for s in starts(local(2025, 1, 28), 60, 24)]
    t = price_table("25", {"raw_today": raw, "raw_tomorrow": [], "unit_of_measurement": "c/kWh"}, NOW)
    assert abs(t.price(utc(local(2025, 1, 28, 12))) - 0.25) < 1e-12


def test_entsoe_quarter_prices_as_strings_today_and_tomorrow():
    items = [{"time": str(s), "price": 0.08 + 0.001 * (k % 4)} for k, s in enumerate(starts(local(2025, 1, 28), 15, 192))]
    t = price_table("0.09", {"prices_today": items[:96], "prices_tomorrow": items[96:], "prices": items,
                             "unit_of_measurement": "€/kWh"}, NOW)
    assert t.problem is None and len(t.eur_per_kwh) == 192
    assert t.price(utc(local(2025, 1, 29, 23, 45))) == 0.083  # each quarter its own price
    assert t.known_until == utc(local(2025, 1, 30))


def test_entsoe_in_eur_per_mwh_from_the_prices_list_alone():
    items = [{"time": str(s), "price": 85.0} for s in starts(local(2025, 1, 28), 60, 48)]
    t = price_table("85", {"prices": items, "unit_of_measurement": "EUR/MWh"}, NOW)
    assert len(t.eur_per_kwh) == 192 and abs(t.price(utc(local(2025, 1, 29, 5))) - 0.085) < 1e-12


def test_epex_spot_ct_per_kwh_and_eur_per_mwh_keys_name_their_unit():
    days = starts(local(2025, 1, 28), 60, 24)
    older = [{"start_time": s.isoformat(), "end_time": (s + timedelta(hours=1)).isoformat(),
              "price_eur_per_mwh": 120.0, "price_ct_per_kwh": 12.0} for s in days]
    net = [{"start_time": utc(s).isoformat(), "end_time": utc(s + timedelta(hours=1)).isoformat(),
            "price_ct_per_kwh": 31.5} for s in days]
    market_mwh = [{"start_time": s.isoformat(), "price_eur_per_mwh": 120.0} for s in days]
    current = [{"start_time": s.isoformat(), "end_time": (s + timedelta(hours=1)).isoformat(), "price_per_kwh": 0.12}
               for s in days]
    noon = utc(local(2025, 1, 28, 12))
    for attributes, expected in (({"data": older, "unit_of_measurement": "ct/kWh"}, 0.12),
                                 ({"data": net}, 0.315),
                                 ({"data": market_mwh, "unit_of_measurement": "EUR/MWh"}, 0.12),
                                 ({"data": current, "unit_of_measurement": "€/kWh"}, 0.12)):
        t = price_table("x", attributes, NOW)
        assert t.problem is None and len(t.eur_per_kwh) == 96
        assert abs(t.price(noon) - expected) < 1e-12


def test_frank_energie_from_till():
    items = [{"from": s.isoformat(), "till": (s + timedelta(minutes=15)).isoformat(), "price": 0.2}
             for s in starts(local(2025, 1, 28), 15, 96)]
    t = price_table("0.2", {"prices": items, "unit_of_measurement": "€/kWh"}, NOW)
    assert t.problem is None and len(t.eur_per_kwh) == 96


def test_engie_belgium_lean_quarter_items_and_full_items():
    lean = [{"start": s.isoformat(), "value": 0.11} for s in starts(local(2025, 1, 28), 15, 192)]
    t = price_table("0.11", {"today": lean[:96], "tomorrow": lean[96:], "slot_duration_minutes": 15,
                             "unit_of_measurement": "EUR/kWh"}, NOW)
    assert t.problem is None and len(t.eur_per_kwh) == 192
    full = [{"start": s.isoformat(), "end": (s + timedelta(hours=1)).isoformat(), "value": 0.11,
             "value_eur_per_mwh": 110.0, "slot_duration_minutes": 60} for s in starts(local(2025, 1, 28), 60, 24)]
    t = price_table("0.11", {"today": full, "tomorrow": [], "unit_of_measurement": "EUR/kWh"}, NOW)
    assert len(t.eur_per_kwh) == 96 and t.price(utc(local(2025, 1, 28, 3, 45))) == 0.11


def test_belgian_all_in_prices_use_all_in_not_the_energy_part():
    rows = [{"start": s.isoformat(), "energy": 0.09, "network": 0.08, "taxes": 0.05, "all_in": 0.2332}
            for s in starts(local(2025, 1, 28), 60, 48)]
    t = price_table("0.2332", {"today": rows[:24], "tomorrow": rows[24:], "cheapest_4h_today": rows[:4],
                               "unit_of_measurement": "EUR/kWh"}, NOW)
    assert t.problem is None and len(t.eur_per_kwh) == 192
    assert t.price(utc(local(2025, 1, 29, 23, 45))) == 0.2332  # the last hour lasts an hour too


def test_spring_day_has_92_quarters_from_hourly_datetimes():
    spring = local(2025, 3, 30)  # 23 hours: 02:00 does not exist
    raw = [{"start": s, "end": s + timedelta(hours=1), "value": hourly_price(s)} for s in starts(spring, 60, 23)]
    t = price_table("x", {"raw_today": raw, "raw_tomorrow": [], "unit_of_measurement": "EUR/kWh"},
                    local(2025, 3, 30, 12))
    assert t.problem is None and len(day_quarters(t, spring)) == 92 and len(t.eur_per_kwh) == 92
    assert t.price(utc(local(2025, 3, 30, 3))) == 0.13  # 03:00 summer time follows 01:45 winter time


def test_autumn_day_has_100_quarters_and_the_repeated_hour_keeps_both_prices():
    autumn = local(2025, 10, 26)  # 25 hours: 02:00-03:00 twice
    items = [{"start_time": s.isoformat(), "price_per_kwh": 0.05 + 0.0001 * k}
             for k, s in enumerate(starts(autumn, 15, 100))]
    t = price_table("x", {"data": items, "unit_of_measurement": "€/kWh"}, local(2025, 10, 26, 12))
    assert t.problem is None and len(day_quarters(t, autumn)) == 100
    first = datetime.fromisoformat("2025-10-26T02:00:00+02:00")
    second = datetime.fromisoformat("2025-10-26T02:00:00+01:00")
    assert t.price(utc(first)) != t.price(utc(second))


def test_stale_prices_give_an_empty_table_and_say_so():
    old = [{"start": s, "end": s + timedelta(hours=1), "value": 0.2} for s in starts(local(2025, 1, 24), 60, 48)]
    t = price_table("0.2", {"raw_today": old[:24], "raw_tomorrow": old[24:]}, NOW)
    assert t.eur_per_kwh == {} and t.known_until is None and not t.knows_any()
    assert t.problem.startswith("stale: none of the 48 prices")


def test_garbage_items_are_skipped_with_one_problem_line_and_the_rest_is_read():
    good = [{"start": s.isoformat(), "value": 0.2} for s in starts(local(2025, 1, 28), 60, 24)]
    bad = [None, 3, "x", {"value": 0.2}, {"start": "yesterday", "value": 0.2},
           {"start": "2025-01-28T05:00:00", "value": 0.2},  # no offset: UTC or local?
           {"start": "2025-01-28T05:10:00+01:00", "value": 0.2},  # not a clock quarter
           {"start": "2025-01-28T05:00:00+01:00", "value": None},
           {"start": "2025-01-28T05:00:00+01:00", "value": "abc"},
           {"start": "2025-01-28T05:00:00+01:00", "value": float("nan")},
           {"start": "2025-01-28T05:00:00+01:00", "value": True},
           {"start": "2025-01-28T05:00:00+01:00", "value": 95.0}]  # EUR/MWh in a EUR/kWh list
    t = price_table("0.2", {"today": good + bad, "tomorrow": "not a list", "unit_of_measurement": "EUR/kWh"}, NOW)
    assert len(t.eur_per_kwh) == 96
    assert t.problem.startswith("12 of 36 items in today skipped (first: not a price item: None)")
    assert "\n" not in t.problem


def test_no_usable_entity_never_raises():
    for state, attributes in (("unavailable", {"raw_today": []}), ("unknown", None), (None, None),
                              ("abc", {"friendly_name": "x"}), ("0.2", {"unit_of_measurement": "SEK/kWh"}),
                              ("0.2", {"raw_today": [], "raw_tomorrow": []}), ("0.2", "not a dict"),
                              ("250", {"unit_of_measurement": "EUR/kWh"})):
        t = price_table(state, attributes, NOW)
        assert not t.knows_any() or t.flat_eur_per_kwh == 0.2
        assert t.problem is not None or t.flat_eur_per_kwh == 0.2
    assert price_table("unavailable", {}, NOW).problem == "the price entity is unavailable"
    assert price_table("250", {"unit_of_measurement": "EUR/kWh"}, NOW).problem.startswith("250.000 EUR/kWh is not a plausible")


def test_an_export_price_is_a_number_or_an_entity():
    q = utc(local(2025, 1, 29, 13))
    t = price_table(0.035, None, NOW)
    assert t.price(q) == 0.035 and t.problem is None and t.known_until is None and t.knows_any()
    assert price_table(3.5, None, NOW, unit="c/kWh").price(q) == 0.035
    assert price_table("0.04", {"unit_of_measurement": "EUR/kWh"}, NOW).price(q) == 0.04  # an input_number
    items = [{"time": str(s), "price": 30.0} for s in starts(local(2025, 1, 28), 60, 48)]
    assert abs(price_table("30", {"prices": items, "unit_of_measurement": "EUR/MWh"}, NOW).price(q) - 0.03) < 1e-12


def test_units():
    for unit, scale in (("EUR/kWh", 1.0), ("€/kWh", 1.0), ("eur / kwh", 1.0), ("c€/kWh", 0.01), ("ct/kWh", 0.01),
                        ("c/kWh", 0.01), ("cent/kWh", 0.01), ("EUR/MWh", 0.001), ("€/MWh", 0.001), ("EUR/Wh", 1000.0)):
        assert abs(unit_eur_per_kwh(unit) - scale) < 1e-12, unit
    for unit in ("SEK/kWh", "Øre/kWh", "W", "€", "EUR/kW", ""):
        assert unit_eur_per_kwh(unit) is None, unit


def rate_at(table, *args):
    return table.price(utc(local(*args)))


def test_day_night_schedule_with_weekends_all_night():
    t = schedule_table(0.32, 0.24, None, NOW)  # default 22:00-07:00
    assert t.problem is None and t.source == "day/night schedule"
    assert rate_at(t, 2025, 1, 28, 21, 45) == 0.32 and rate_at(t, 2025, 1, 28, 22, 0) == 0.24
    assert rate_at(t, 2025, 1, 29, 6, 45) == 0.24 and rate_at(t, 2025, 1, 29, 7, 0) == 0.32
    assert t.known_until >= utc(NOW) + timedelta(hours=48)  # the planner's horizon is covered
    friday = schedule_table(0.32, 0.24, "22:00-07:00", local(2025, 1, 31, 18))
    assert rate_at(friday, 2025, 1, 31, 21, 45) == 0.32
    assert rate_at(friday, 2025, 2, 1, 12, 0) == 0.24 and rate_at(friday, 2025, 2, 2, 18, 0) == 0.24  # weekend
    sunday = schedule_table(0.32, 0.24, "22:00-07:00", local(2025, 2, 2, 18))
    assert rate_at(sunday, 2025, 2, 3, 6, 45) == 0.24 and rate_at(sunday, 2025, 2, 3, 7, 0) == 0.32  # Monday


def test_a_schedule_with_21_to_06_and_across_the_spring_change():
    t = schedule_table("0.30", "0.20", "21:00-06:00", NOW)
    assert rate_at(t, 2025, 1, 28, 20, 45) == 0.30 and rate_at(t, 2025, 1, 28, 21, 0) == 0.20
    assert rate_at(t, 2025, 1, 29, 5, 45) == 0.20 and rate_at(t, 2025, 1, 29, 6, 0) == 0.30
    spring = schedule_table(0.30, 0.20, "21:00-06:00", local(2025, 3, 31, 1))  # Monday after the change
    assert rate_at(spring, 2025, 3, 31, 5, 45) == 0.20 and rate_at(spring, 2025, 3, 31, 6, 0) == 0.30
    assert len(day_quarters(spring, local(2025, 3, 31))) == 96


def test_a_schedule_without_a_night_price_is_one_price_and_bad_settings_say_why():
    t = schedule_table(0.28, None, None, NOW)
    assert rate_at(t, 2025, 1, 28, 23) == 0.28 and rate_at(t, 2025, 1, 28, 12) == 0.28
    for day, night, hours, problem in ((None, 0.2, None, "day_price None is not a price in EUR/kWh"),
                                       (0.3, "cheap", None, "night_price cheap is not a price in EUR/kWh"),
                                       (0.3, 0.2, "22h", "night_hours 22h is not like 22:00-07:00"),
                                       (0.3, 0.2, "07:00-07:00", "night_hours 07:00-07:00 is not like 22:00-07:00"),
                                       (30, 20, None, "day_price 30 is not a price in EUR/kWh")):
        t = schedule_table(day, night, hours, NOW)
        assert t.problem == problem and not t.knows_any()


def test_is_night():
    night = (22 * 60, 7 * 60)
    assert balancer_prices.is_night(local(2025, 1, 28, 23), night)
    assert not balancer_prices.is_night(local(2025, 1, 28, 12), night)
    assert balancer_prices.is_night(local(2025, 2, 1, 12), night)  # Saturday
    assert balancer_prices.is_night(local(2025, 1, 28, 2), (1 * 60, 6 * 60))  # a window inside one day
