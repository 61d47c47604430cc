"""Prices through the app file (issue 16): the glue reads the price entity, the Reader builds the
table only when it changed, and the session plan follows it. Through the stubs."""

from datetime import datetime, timedelta, timezone

import pytest
from freezegun import freeze_time

import balancer_prices
from home import Home
from plant import CONFIG

STATUS = "sensor.wallbox_pulsar_status_description"
PRICE = "sensor.nordpool_kwh_be_eur_3_10_06"
SESSION = "pyscript.wallbox_balancer_session"
CET = timezone(timedelta(hours=1))


def day_items(day, cheap_hours, cheap=0.10, dear=0.30):
    """A custom Nord Pool day: 24 hourly {start, end, value} items, datetimes with their offset."""
    start = datetime(2025, 1, day, tzinfo=CET)
    return [{"start": start + timedelta(hours=h), "end": start + timedelta(hours=h + 1),
             "value": cheap if h in cheap_hours else dear} for h in range(24)]


def nordpool(home, tomorrow=(), state="0.30"):
    home.env.set_state(PRICE, state, unit_of_measurement="EUR/kWh", raw_today=day_items(15, (22, 23), cheap=0.22),
                       raw_tomorrow=list(tomorrow))


@pytest.fixture
def frozen():
    with freeze_time("2025-01-15 11:50:00") as frozen_time:  # 12:50 Brussels, a Wednesday
        yield frozen_time


def plugged_in(frozen, **config):
    from test_controller import busy_evening_profile
    config = dict(dict(CONFIG, charger_status=STATUS, departure="07:30", energy_needed=10, price=PRICE), **config)
    config = {key: value for key, value in config.items() if value is not None}
    home = Home(frozen, config=config, house_w=500, amps=16, start=False,
                restore={"pyscript.wallbox_balancer_profile": ("14", busy_evening_profile())})
    home.env.set_state(STATUS, "Charging")
    nordpool(home)
    return home


def test_tomorrows_prices_at_13_move_the_plan_at_once_and_the_table_is_built_only_on_change(frozen, monkeypatch):
    calls = []
    real = balancer_prices.price_table

    def counted(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(balancer_prices, "price_table", counted)
    home = plugged_in(frozen)
    home.env.load_app()
    home.env.start()
    home.run(600)  # to 13:00: today's 22:00-24:00 at 0.22 is the cheapest known
    attrs = home.attrs(SESSION)
    # (the window runs on past midnight into quarters not priced yet, counted at the known mean)
    assert attrs["next_window_start"].startswith("2025-01-15T22:00") and attrs["windows"][0]["price_eur_per_kwh"] < 0.25
    assert home.state(SESSION) == "waiting"
    assert attrs["prices_known_until"] == "2025-01-16T00:00:00+01:00"
    nordpool(home, state="0.29")  # the hourly price now: the state changes, the lists do not
    home.run(300)
    assert len(calls) == 1
    nordpool(home, tomorrow=day_items(16, (2, 3, 4)))  # 13:05: tomorrow's prices, 02:00-05:00 at 0.10
    home.run(5)
    attrs = home.attrs(SESSION)
    assert len(calls) == 2
    assert attrs["next_window_start"].startswith("2025-01-16T02:00"), attrs  # within the same quarter
    assert attrs["windows"][0]["price_eur_per_kwh"] == 0.1 and attrs["planned_cost_eur"] == 1.0
    assert attrs["saving_eur"] > 0 and attrs["prices_known_until"] == "2025-01-16T07:30:00+01:00"  # (to departure)
    assert home.state(SESSION) == "waiting"
    home.env.assert_no_errors()
    assert home.env.errors("WARNING") == []


def test_an_unavailable_price_entity_is_one_warning_and_the_car_is_planned_the_safe_way(frozen):
    home = plugged_in(frozen)
    home.env.set_state(PRICE, "unavailable")
    home.env.load_app()
    home.env.start()
    home.run(900)
    warnings = home.env.errors("WARNING")
    assert len(warnings) == 1, warnings
    assert "price %s: the price entity is unavailable; planning with the prices known and the safest quarters" % PRICE in warnings[0]
    attrs = home.attrs(SESSION)  # the afternoon is quiet: the safest plan charges now
    assert home.state(SESSION) == "charging" and attrs["on_track"] and "planned_cost_eur" not in attrs
    assert "safest quarters" in attrs["reason"]
    nordpool(home)
    home.run(30)
    assert "cheapest safe" in home.attrs(SESSION)["reason"] and home.state(SESSION) == "waiting"
    assert any("prices read again (known until 2025-01-16 00:00)" in msg for msg in home.env.errors("INFO"))
    home.env.set_state(PRICE, "unknown")
    home.run(900)
    assert len(home.env.errors("WARNING")) == 2
    home.env.assert_no_errors("ERROR")


def test_a_missing_price_entity_warns_once_and_the_balancer_still_commands(frozen):
    """A price integration that is not there (yet) must not stop the balancer: one WARNING."""
    home = plugged_in(frozen)
    home.env.remove_state(PRICE)
    home.env.load_app()
    home.env.start()
    home.run(120)
    warnings = home.env.errors("WARNING")
    assert len(warnings) == 1 and "does not exist in Home Assistant" in warnings[0]
    assert home.write_log and home.state(SESSION) == "charging"  # the safest plan: the quiet afternoon
    home.env.assert_no_errors("ERROR")


def test_a_day_night_meter_plans_into_the_night_rate(frozen):
    """day_price/night_price without a price entity: from 23:00 (night_hours) the cheaper rate."""
    home = plugged_in(frozen, day_price=0.32, night_price=0.22, night_hours="23:00-07:00", price=None)
    home.env.load_app()
    home.env.start()
    home.run(60)
    attrs = home.attrs(SESSION)
    assert attrs["next_window_start"].startswith("2025-01-15T23:00") and attrs["windows"][0]["price_eur_per_kwh"] == 0.22
    home.env.assert_no_errors()


def test_the_table_moves_on_at_local_midnight_and_prices_left_behind_are_stale():
    """A price integration that stopped updating: at midnight yesterday's tomorrow is today, and a
    day later nothing is left: one WARNING (stale), the table rebuilt once per local day only."""
    from balancer_read import PriceFeed
    from stubs.ha import HState, StateVal
    attributes = {"unit_of_measurement": "EUR/kWh", "raw_today": day_items(15, ()), "raw_tomorrow": day_items(16, (2,))}
    written = datetime(2025, 1, 15, 12, 0, tzinfo=timezone.utc)
    value = StateVal(HState(PRICE, "0.30", attributes, written, written, written))
    feed, said = PriceFeed("price", entity_id=PRICE), []

    def table(hour, day=15):
        now = datetime(2025, 1, day, hour, 0, tzinfo=timezone.utc) - timedelta(hours=1)  # local hour
        return feed.table_at(now, value, lambda entity_id: dict(attributes), said)

    first = table(22)
    assert table(23) is first and said == []
    second = table(1, day=16)
    assert second is not first and second.price(datetime(2025, 1, 16, 1, tzinfo=timezone.utc)) == 0.10 and said == []
    assert table(12, day=17).price(datetime(2025, 1, 17, 11, tzinfo=timezone.utc)) is None
    assert len(said) == 1 and "stale: none of the 48 prices in raw_today/raw_tomorrow is for today or tomorrow" in said[0][1]
    table(13, day=17)
    assert len(said) == 1


def test_prices_read_before_hold_while_the_entity_is_unavailable(frozen):
    """Day-ahead prices do not change once published: a price integration that goes unavailable
    for a while (a cloud hiccup, a reload) leaves the plan as it was, with one WARNING."""
    home = plugged_in(frozen)
    home.env.load_app()
    home.env.start()
    home.run(60)
    before = home.attrs(SESSION)
    assert before["next_window_start"].startswith("2025-01-15T22:00") and home.state(SESSION) == "waiting"
    home.env.set_state(PRICE, "unavailable", friendly_name="Nord Pool")
    home.run(900)
    warnings = home.env.errors("WARNING")
    assert len(warnings) == 1 and ("the price entity is unavailable; planning with the prices it gave before "
                                   "(known until 2025-01-16 00:00) and the safest quarters beyond them") in warnings[0]
    attrs = home.attrs(SESSION)
    assert home.state(SESSION) == "waiting" and attrs["next_window_start"] == before["next_window_start"]
    # (the quarters not priced yet count at the mean of the known ones still ahead: it moves a little)
    assert attrs["planned_cost_eur"] == pytest.approx(before["planned_cost_eur"], abs=0.05)
    nordpool(home)
    home.run(5)
    assert any("prices read again (known until 2025-01-16 00:00)" in msg for msg in home.env.errors("INFO"))
    assert len(home.env.errors("WARNING")) == 1
