"""Prices in real Home Assistant + pyscript (issue 16): a price sensor in two formats (custom Nord
Pool, hourly; ENTSO-e, 15-minute) and a day/night meter, each moving the session's charging into
the cheap quarters, as pyscript.wallbox_balancer_session's attributes show; and a plan waiting
for the night taking the panels' thin export meanwhile.

Run: ../shared/harness/run.sh . e2e/test_e2e_prices.py
The house: a learnt profile (restored) that is busy on weekday evenings 17:00-21:00 (3-4 kW) and
quiet otherwise (300 W), limit 4000 W; the car plugged in, 10 kWh by 07:30.
"""

import logging
from datetime import datetime, timedelta, timezone

import pytest
from homeassistant.core import State

from test_e2e_core import DEFAULTS, README_APP

from plant import SETPOINT, Plant

STATUS = "sensor.wallbox_pulsar_status_description"
SESSION = "pyscript.wallbox_balancer_session"
PROFILE = "pyscript.wallbox_balancer_profile"
NORDPOOL = "sensor.nordpool_kwh_be_eur_3_10_06"
ENTSOE = "sensor.entsoe_average_electricity_price"
CET = timezone(timedelta(hours=1))


def busy_evening_profile():
    """The saved form of balancer_profile.LoadProfile (weekday quarters 0-95, weekend 96-191),
    fully learnt: weekday evenings 17:00-21:00 local a 3.3 kW house that jumps 600 W, 300 W
    otherwise (as tests/test_controller.py's busy_evening_profile learns it)."""
    busy = range(17 * 4, 21 * 4)
    return {"format": 1, "mean_w": [3300 if q in busy else 300 for q in range(96)] + [300] * 96,
            "jump_w": [600 if q in busy else 30 for q in range(96)] + [30] * 96, "count": [10] * 192,
            "learnt_until": "2025-01-14T23:00:00+00:00", "history_quarters": 0}


async def plugged_in(ps, **app):
    plant = Plant(ps, house_w=300, amps=16, unit="kW")
    await plant.publish_all()
    await ps.set_state(STATUS, "Charging")
    config = dict(README_APP, charger_status=STATUS, departure="07:30", energy_needed=10, **app)
    await ps.start(apps={"wallbox_balancer": config}, restore=[State(PROFILE, "14", busy_evening_profile())], **DEFAULTS)
    return plant


def nordpool_day(day, cheap_hours):
    """custom Nord Pool: 24 hourly {start, end, value} items, aware datetimes, EUR/kWh."""
    start = datetime(2025, 1, day, tzinfo=CET)
    return [{"start": start + timedelta(hours=h), "end": start + timedelta(hours=h + 1),
             "value": 0.10 if h in cheap_hours else 0.30} for h in range(24)]


async def wednesday_before_tomorrows_prices(ps):
    """The Nord Pool sensor on Wednesday 15 January before 13:00: 0.30 EUR/kWh, 0.22 from 22:00,
    tomorrow not published yet. Returns today's items."""
    today = nordpool_day(15, ())
    for item in today[22:]:
        item["value"] = 0.22
    await ps.set_state(NORDPOOL, "0.30", unit_of_measurement="EUR/kWh", raw_today=today, raw_tomorrow=[], tomorrow_valid=False)
    return today


@pytest.mark.freeze_time("2025-01-15 12:04:00")  # 13:04 local, a Wednesday
async def test_nordpool_hourly_tomorrow_at_13_moves_the_charging_into_the_cheap_night_hours(pyscript_ha):
    ps = pyscript_ha
    today = await wednesday_before_tomorrows_prices(ps)
    plant = await plugged_in(ps, price=NORDPOOL)
    await plant.run(30)
    attrs = ps.attrs(SESSION)
    assert ps.state(SESSION) == "waiting", attrs
    assert attrs["next_window_start"] == "2025-01-15T22:00:00+01:00" and attrs["windows"][0]["price_eur_per_kwh"] < 0.25
    assert "turn_off" in [w[1] for w in plant.write_log]  # the car waits: the afternoon is dear
    # 13:05 (mid-quarter): tomorrow's prices, 02:00-05:00 at 0.10 EUR/kWh
    await ps.set_state(NORDPOOL, "0.30", unit_of_measurement="EUR/kWh", raw_today=today,
                       raw_tomorrow=nordpool_day(16, (2, 3, 4)), tomorrow_valid=True)
    await plant.run(10)
    attrs = ps.attrs(SESSION)
    assert attrs["next_window_start"] == "2025-01-16T02:00:00+01:00", attrs
    assert attrs["windows"] == [{"start": "2025-01-16T02:00:00+01:00", "end": attrs["windows"][0]["end"], "price_eur_per_kwh": 0.1}]
    assert attrs["planned_cost_eur"] == 1.0 and attrs["cost_now_eur"] > 2.5 and attrs["saving_eur"] == round(attrs["cost_now_eur"] - 1.0, 2)
    assert attrs["prices_known_until"] == "2025-01-16T07:30:00+01:00"
    assert "cheapest safe" in attrs["reason"]
    ps.assert_no_errors()
    # the integration goes unavailable for a while: the prices it gave still hold, one WARNING
    await ps.set_state(NORDPOOL, "unavailable")
    await plant.run(60)
    warnings = ps.errors(logging.WARNING)
    assert len(warnings) == 1 and "planning with the prices it gave before (known until 2025-01-17 00:00)" in warnings[0], warnings
    assert ps.attrs(SESSION)["next_window_start"] == "2025-01-16T02:00:00+01:00"


def entsoe_day(day, cheap):
    """ENTSO-e: 96 quarter items {time, price} with the time as text, EUR/kWh; `cheap` maps a
    local 'HH:MM' to its price, 0.25 elsewhere."""
    start = datetime(2025, 1, day, tzinfo=CET)
    items = []
    for k in range(96):
        at = start + timedelta(minutes=15 * k)
        items.append({"time": at.strftime("%Y-%m-%d %H:%M:%S+01:00"), "price": cheap.get(at.strftime("%H:%M"), 0.25)})
    return items


@pytest.mark.freeze_time("2025-01-15 17:00:00")  # 18:00 local: the busy evening
async def test_entsoe_quarters_take_the_cheap_quarters_of_the_night(pyscript_ha):
    ps = pyscript_ha
    # 15-minute prices: from 03:15 to 06:15 local at 0.12 (12 quarters, the 10 kWh's 11.3); one
    # dearer quarter inside (04:30 at 0.13, no reason to split the window for it)
    cheap = {}
    for k in range(12):
        at = datetime(2025, 1, 16, 3, 15) + timedelta(minutes=15 * k)
        cheap[at.strftime("%H:%M")] = 0.13 if at.strftime("%H:%M") == "04:30" else 0.12
    today, tomorrow = entsoe_day(15, {}), entsoe_day(16, cheap)
    await ps.set_state(ENTSOE, "0.25", unit_of_measurement="€/kWh", prices_today=today, prices_tomorrow=tomorrow,
                       prices=today + tomorrow)
    plant = await plugged_in(ps, price=ENTSOE, export_price=0.03)
    await plant.run(30)
    attrs = ps.attrs(SESSION)
    assert ps.state(SESSION) == "waiting", attrs
    assert attrs["windows"][0]["start"] == "2025-01-16T03:15:00+01:00", attrs["windows"]
    assert len(attrs["windows"]) == 1 and 0.12 <= attrs["windows"][0]["price_eur_per_kwh"] <= 0.13
    assert attrs["planned_cost_eur"] <= 1.25 and attrs["saving_eur"] >= 1.2
    ps.assert_no_errors()


@pytest.mark.freeze_time("2025-01-15 17:00:00")  # 18:00 local
async def test_a_day_night_meter_waits_for_the_night_rate(pyscript_ha):
    ps = pyscript_ha
    plant = await plugged_in(ps, day_price=0.32, night_price=0.22, night_hours="23:00-07:00")
    await plant.run(30)
    attrs = ps.attrs(SESSION)
    # without prices the quiet 21:00 would start it; the night rate starts at 23:00
    assert attrs["next_window_start"] == "2025-01-15T23:00:00+01:00", attrs
    assert attrs["windows"][0]["price_eur_per_kwh"] == 0.22 and attrs["planned_cost_eur"] == 2.2
    ps.assert_no_errors()


@pytest.mark.freeze_time("2025-01-15 12:04:00")  # 13:04 local
async def test_an_unavailable_price_sensor_is_one_warning_and_the_car_charges_the_safe_way(pyscript_ha):
    ps = pyscript_ha
    await ps.set_state(NORDPOOL, "unavailable")
    plant = await plugged_in(ps, price=NORDPOOL)
    await plant.run(60)
    warnings = ps.errors(logging.WARNING)
    assert len(warnings) == 1 and "the price entity is unavailable; planning with the prices known" in warnings[0], warnings
    assert ps.state(SESSION) == "charging" and "safest quarters" in ps.attrs(SESSION)["reason"]
    await plant.run(60)
    assert len(ps.errors(logging.WARNING)) == 1


@pytest.mark.freeze_time("2025-01-15 12:04:00")  # 13:04 local, a Wednesday
async def test_a_waiting_price_plan_takes_a_thin_surplus_at_the_minimum_meanwhile(pyscript_ha):
    """0.5 kW exported, a third of the 1.4 kW minimum: at 0.30 EUR/kWh now and 0.22 from 22:00
    the car's minimum costs (0.88 kW x 0.30) / 1.38 kW = 0.19 EUR/kWh, below the night's: the plan
    waits for the night and meanwhile the car takes the sun at 6 A."""
    ps = pyscript_ha
    await wednesday_before_tomorrows_prices(ps)
    plant = await plugged_in(ps, price=NORDPOOL)
    await plant.run(30)
    assert plant.switch() == "off" and ps.state(SESSION) == "waiting"  # the afternoon is dear
    plant.house_w = -500  # the panels: 0.5 kW exported
    for _ in range(20):  # the Wallbox's status follows its switch (this plant does not show it)
        await ps.set_state(STATUS, "Charging" if plant.switch() == "on" else "Paused")
        await plant.run(30)
    assert plant.switch() == "on" and plant.amps() == 6, plant.write_log
    assert "; meanwhile solar: 0.5 kW surplus, 6 A" in ps.attrs(SETPOINT)["reason"], ps.attrs(SETPOINT)["reason"]
    # (the plan for 13:15 counts the sun seen now for the next hour: the car at its minimum there)
    assert ps.state(SESSION) == "charging" and ps.attrs(SESSION)["reason"].startswith("waiting: ")
    ps.assert_no_errors()
