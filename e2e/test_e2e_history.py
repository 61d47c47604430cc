"""The load profile and the month's peak from the REAL recorder (issue 15), in real Home Assistant
2025.12.1 + pyscript (../shared/harness, "The real recorder in a test").

Run: ../shared/harness/run.sh . e2e/test_e2e_history.py -q -p no:cacheprovider
     PYSCRIPT_SRC=/work/pyscript-master ../shared/harness/run.sh . e2e/test_e2e_history.py -q -p no:cacheprovider

The recorder runs on SQLite with its statistics compiler on. The grid sensor (kW, state_class
measurement) and the charger's power sensor get 5-minute and hourly statistics compiled by the
recorder itself over the hour before the app starts; the two weeks before come in as hourly
statistics imported the way an integration imports them (recorder.statistics.async_import_statistics).
"""

import logging
from datetime import datetime, timedelta, timezone

import pytest
from homeassistant.components.recorder.models import StatisticMeanType
from homeassistant.components.recorder.statistics import async_import_statistics
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.components.recorder.common import async_wait_recording_done
from real_recorder import *  # noqa: E402,F401,F403  (the real recorder's fixtures)

GRID = "sensor.electricity_meter_power_consumption"
CAR = "sensor.wallbox_pulsar_charging_power"
NUMBER = "number.wallbox_pulsar_maximum_charging_current"
SWITCH = "switch.wallbox_pulsar_pause_resume"
PEAK = "pyscript.wallbox_balancer_monthly_peak"
PROFILE = "pyscript.wallbox_balancer_profile"
APP = {"grid_power": GRID, "charger_power": CAR, "current_number": NUMBER, "pause_switch": SWITCH, "target_peak": 2500}
POWER = {"unit_of_measurement": "kW", "device_class": "power", "state_class": "measurement"}
START = datetime(2025, 6, 2, 10, 0, tzinfo=timezone.utc)  # a Monday, 12:00 in Brussels (summer time)



async def import_two_weeks_of_hours(hass):
    """Hourly statistics of the grid sensor from 19 May to 1 June (local days): 0.5 kW, and one
    hour of 3.5 kW mean (9 kW max: a kettle) on Sunday 1 June 18:00-19:00."""
    first = datetime(2025, 5, 18, 22, 0, tzinfo=timezone.utc)
    big = datetime(2025, 6, 1, 16, 0, tzinfo=timezone.utc)
    rows = []
    for k in range(14 * 24):
        start = first + timedelta(hours=k)
        mean, high = (3.5, 9.0) if start == big else (0.5, 0.9)
        rows.append({"start": start, "mean": mean, "min": 0.2, "max": high})
    metadata = {"has_sum": False, "mean_type": StatisticMeanType.ARITHMETIC, "name": None, "source": "recorder",
                "statistic_id": GRID, "unit_class": "power", "unit_of_measurement": "kW"}
    async_import_statistics(hass, metadata, rows)
    await async_wait_recording_done(hass)


async def meter_reports(ps, seconds, grid_kw=0.8):
    """The meter reports every 5 s (an unchanged value only moves last_reported)."""
    for _ in range(int(seconds // 5)):
        await ps.advance(5)
        await ps.set_state(GRID, grid_kw, **POWER)


async def set_power(ps, grid_kw, car_kw):
    await ps.set_state(GRID, grid_kw, **POWER)
    await ps.set_state(CAR, car_kw, **POWER)
    await async_wait_recording_done(ps.hass)


@pytest.mark.freeze_time(START)
@pytest.mark.parametrize("allow_all_imports", [False, True])
async def test_the_profile_and_the_months_peak_come_from_the_recorders_statistics(pyscript_ha, recorder_mock, allow_all_imports):
    ps = pyscript_ha
    logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    assert await async_setup_component(ps.hass, "sensor", {})  # its recorder platform compiles the statistics
    await import_two_weeks_of_hours(ps.hass)
    # The hour before the app starts, as the recorder compiles it: 0.8 kW, and 12:15-12:30 local
    # the car draws 4 kW with the house at 1.2 kW (a 5.2 kW quarter at the grid).
    await set_power(ps, 0.8, 0.0)
    await ps.advance(15 * 60, step=10)
    await set_power(ps, 5.2, 4.0)
    await ps.advance(15 * 60, step=10)
    await set_power(ps, 0.8, 0.0)
    await ps.advance(30 * 60 + 30, step=10)  # past 11:00:10 UTC: the last 5 minutes and the hour compiled
    await async_wait_recording_done(ps.hass)

    numbers = ps.mock_service("number", "set_value", description={"fields": {}})
    for service in ("turn_on", "turn_off"):
        ps.mock_service("switch", service, description={"fields": {}})
    await ps.set_state(NUMBER, "6.0", min=6, max=32, step=1)
    await ps.set_state(SWITCH, "on")
    await ps.set_state(GRID, 0.81, **POWER)  # the meter reports on
    await ps.start(apps={"wallbox_balancer": APP}, allow_all_imports=allow_all_imports, hass_is_global=False)
    await meter_reports(ps, 90)

    # the month's peak: the exact 5.2 kW quarter (three 5-minute means), car included; not the
    # 9 kW max of Sunday's hour, whose 3.5 kW mean is only a lower bound
    assert ps.state(PEAK) == "5200"
    assert ps.attrs(PEAK)["quarter_start"] == "2025-06-02T12:15:00+02:00"
    profile = ps.attrs(PROFILE)
    assert profile["history_days"] == 14.0  # 1344 hourly quarters and 4 exact ones
    assert profile["learnt_until"] == "2025-06-02T11:00:00+00:00"
    # Monday 12:15 had the car's 4 kW taken off: 1.2 kW learnt where 12:00 learnt 0.8 kW, after the
    # same ten weekdays of 0.5 kW hours (one EWMA step of 0.1: 40 W apart; 440 W with the car in)
    assert 30 <= profile["mean_w"][49] - profile["mean_w"][48] <= 50
    assert min(profile["count"]) >= 4 and ps.state(PROFILE) == str(min(profile["count"]))
    lines = [r.getMessage() for r in ps.log_records(logging.INFO) if "recorder's statistics" in r.getMessage()]
    assert len(lines) == 1, lines
    assert "4 quarters exact from 5-minute means, 1344 from hourly means" in lines[0]
    assert "the car's draw taken off with the statistics of %s" % CAR in lines[0]
    assert "this month's peak so far 5200 W (the quarter from 2025-06-02T12:15:00+02:00)" in lines[0]
    assert numbers  # and the balancer runs on
    ps.assert_no_errors()


@pytest.mark.freeze_time(START)
async def test_a_grid_sensor_without_statistics_gives_one_info_line_and_the_neutral_start(pyscript_ha, recorder_mock):
    ps = pyscript_ha
    logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    assert await async_setup_component(ps.hass, "sensor", {})
    await ps.set_state(GRID, 0.8, unit_of_measurement="kW", device_class="power")  # no state_class
    await ps.advance(20 * 60, step=10)
    await async_wait_recording_done(ps.hass)
    ps.mock_service("number", "set_value", description={"fields": {}})
    await ps.set_state(NUMBER, "6.0", min=6, max=32, step=1)
    await ps.set_state(GRID, 0.81, unit_of_measurement="kW", device_class="power")  # the meter reports on
    await ps.start(apps={"wallbox_balancer": {"grid_power": GRID, "current_number": NUMBER}}, allow_all_imports=False, hass_is_global=False)
    for _ in range(6):
        await ps.advance(5)
        await ps.set_state(GRID, 0.8, unit_of_measurement="kW", device_class="power")
    lines = [r.getMessage() for r in ps.log_records(logging.INFO) if "recorder" in r.getMessage()]
    assert lines == ["wallbox_balancer: no statistics for %s in the recorder (it needs a state_class such as measurement): "
                     "the load profile starts from what it has learnt so far" % GRID]
    assert ps.attrs(PROFILE)["history_days"] == 0 and ps.state(PEAK) == "0"
    ps.assert_no_errors()
