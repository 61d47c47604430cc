"""The real app file, through the stubs: the balancer core working end to end (issue 2)."""

from datetime import datetime, timezone

import pytest
from freezegun import freeze_time

from home import Home
from plant import CHARGER_PLANTS, CONFIG, GRID, LIMIT, NUMBER, PEAK, QUARTER, SETPOINT, SWITCH


@pytest.fixture
def frozen():
    with freeze_time("2025-01-15 11:00:00") as frozen_time:  # 12:00 Brussels, a quarter start
        yield frozen_time


@pytest.mark.parametrize("charger", CHARGER_PLANTS)
def test_full_quarter_with_a_load_step_stays_under_the_limit(frozen, charger):
    home = Home(frozen, house_w=800, **CHARGER_PLANTS[charger])
    home.run(420)
    assert max(home.current_writes()) >= 12
    home.house_w = 3200  # an oven at 12:07
    home.run(480)
    quarter = datetime(2025, 1, 15, 11, 0, tzinfo=timezone.utc)
    assert home.averages()[quarter] <= 4000
    assert abs(float(home.state(PEAK)) - home.averages()[quarter]) < 30
    assert home.attrs(PEAK)["month"] == "2025-01"
    assert home.attrs(PEAK)["quarter_start"] == "2025-01-15T12:00:00+01:00"
    home.env.assert_no_errors()


@pytest.mark.parametrize("charger", CHARGER_PLANTS)
def test_the_car_fills_the_budget(frozen, charger):
    home = Home(frozen, house_w=1000, **CHARGER_PLANTS[charger])
    home.run(3600)
    averages = list(home.averages().values())
    assert all(3500 <= a <= 4000 for a in averages), averages


@pytest.mark.parametrize("charger", CHARGER_PLANTS)
def test_command_spacing_is_never_under_a_minute(frozen, charger):
    home = Home(frozen, house_w=1000, **CHARGER_PLANTS[charger])
    for house in (500, 3000, 800, 2500, 200, 3500, 1000):
        home.house_w = house
        home.run(97)
    assert len(home.write_log) >= 5
    assert home.min_write_spacing_s() >= 60


@pytest.mark.parametrize("charger", CHARGER_PLANTS)
def test_never_sends_what_the_charger_already_has(frozen, charger):
    home = Home(frozen, house_w=1000, **CHARGER_PLANTS[charger])
    home.run(1800)
    values = home.current_writes()
    assert all(a != b for a, b in zip(values, values[1:]))


@pytest.mark.parametrize("charger", CHARGER_PLANTS)
def test_pause_and_resume(frozen, charger):
    home = Home(frozen, house_w=1000, amps=16, **CHARGER_PLANTS[charger])
    home.run(60)
    home.house_w = 3900  # nothing left for the car
    home.run(90)
    assert "turn_off" in [w[1] for w in home.write_log]
    assert home.switch() == "off"
    assert home.attrs(SETPOINT)["paused"] is True
    assert "paused: budget below the minimum current" in home.attrs(SETPOINT)["reason"]
    home.house_w = 500
    home.run(1200)
    kinds = [w[1] for w in home.write_log]
    assert kinds.count("turn_off") == 1 and kinds.count("turn_on") == 1
    assert home.switch() == "on"
    # while paused the charger was set to the minimum, so the resume started at 6 A; then raised
    resume_at = kinds.index("turn_on")
    assert home.write_log[resume_at - 1][1:] == ("current", 6)
    assert home.write_log[resume_at + 1][1] == "current" and home.write_log[resume_at + 1][2] > 6


def test_without_a_pause_switch_it_holds_the_minimum_and_warns_once_per_quarter(frozen):
    config = dict(CONFIG)
    del config["pause_switch"]
    home = Home(frozen, config=config, house_w=3950)
    home.run(890)
    assert home.amps() == 6
    warnings = home.env.errors("WARNING")
    assert len(warnings) == 1 and "cannot be paused: holding 6 A" in warnings[0]
    home.run(910)
    # the first quarter raised the limit to its own average: the same load now stays at the limit
    assert len(home.env.errors("WARNING")) == 1
    home.house_w = 4500  # from 12:30
    home.run(890)
    assert len(home.env.errors("WARNING")) == 2
    # the house + 6 A broke the 4000 W target: the user is told once per new peak
    assert len(home.notifications) >= 1 and "peak rose to" in home.notifications[0].data["message"]


@pytest.mark.parametrize("unit", ["W", "kW"])
def test_w_and_kw_sensors_give_the_same_control(frozen, unit):
    home = Home(frozen, house_w=1500, unit=unit)
    home.run(600)
    assert home.current_writes()[0] == 9  # (3850 - 1500 - 115 W hysteresis) / 230 = 9.7
    assert abs(float(home.state(QUARTER)) - home.averages()[datetime(2025, 1, 15, 11, 0, tzinfo=timezone.utc)] * 900 / 600) < 40


def test_a_grid_sensor_without_a_unit_is_read_as_w_and_said_once(frozen):
    """A template sensor without unit_of_measurement: read as W (most are), with one WARNING, since
    a figure in kW would be read 1000 times too low and nothing else could tell."""
    home = Home(frozen, house_w=1500, unit=None)
    home.run(600)
    assert home.current_writes()[0] == 9  # as with W
    warnings = home.env.errors("WARNING")
    assert len(warnings) == 1 and "sensor.electricity_meter_power_consumption: no unit_of_measurement, read as W" in warnings[0]


def test_service_actuator_form(frozen):
    config = {
        "grid_power": GRID,
        "current_service": "wallbox.set_max_charging_current",
        "current_service_data": {"entity_id": "switch.wallbox_laden"},
        "target_peak": 4000,
    }
    home = Home(frozen, config=config, house_w=1000, start=False)
    calls = home.use_service("wallbox", "set_max_charging_current")
    home.env.load_app()
    home.env.start()
    home.run(300)
    # At start the app cannot read back what the charger holds, so it counts all grid power as
    # house load (6 A); once its own write is known it gives the car the real budget (12 A).
    assert calls[0].data == {"entity_id": "switch.wallbox_laden", "charging_current": 6}
    amps = [c.data["charging_current"] for c in calls]
    assert amps[1] >= 12
    assert all(a != b for a, b in zip(amps, amps[1:]))
    assert [c for c in home.env.calls if c["domain"] == "number"] == []  # the number was not used
    assert len(calls) <= 3  # no 12/13 A flapping
    home.env.assert_no_errors()


def test_month_rollover_at_brussels_midnight(frozen):
    frozen.move_to("2025-01-31 22:30:00")  # 23:30 on 31 January in Brussels
    home = Home(frozen, house_w=4600)  # the house alone sets a January peak
    home.run(1795)
    assert home.attrs(PEAK)["month"] == "2025-01" and float(home.state(PEAK)) > 4600
    assert float(home.state(LIMIT)) > 4600
    home.run(10)  # 00:00:05 on 1 February
    assert home.attrs(PEAK)["month"] == "2025-02"
    assert home.state(PEAK) == "0" and home.state(LIMIT) == "4000"
    home.run(900)
    assert home.attrs(PEAK)["month"] == "2025-02" and float(home.state(PEAK)) > 4000
    assert home.attrs(PEAK)["quarter_start"] == "2025-02-01T00:00:00+01:00"


def test_restart_keeps_this_months_peak(frozen):
    home = Home(frozen, house_w=1000, restore={PEAK: ("5200", {"month": "2025-01", "quarter_start": "2025-01-14T19:00:00+01:00"})})
    home.run(10)
    assert home.state(PEAK) == "5200" and home.state(LIMIT) == "5200"


def test_restart_drops_last_months_peak(frozen):
    home = Home(frozen, house_w=1000, restore={PEAK: ("7000", {"month": "2024-12", "quarter_start": "2024-12-20T19:00:00+01:00"})})
    home.run(10)
    assert home.state(PEAK) == "0" and home.state(LIMIT) == "4000"


def test_restart_with_a_peak_no_household_makes_says_so_and_keeps_the_target(frozen):
    home = Home(frozen, house_w=1000, restore={PEAK: ("3500000", {"month": "2025-01", "own_peak": 3500000})})
    home.run(10)
    assert home.state(PEAK) == "0" and home.state(LIMIT) == "4000"
    warnings = home.env.errors("WARNING")
    assert len(warnings) == 1 and "the saved monthly peak is not restored (3500000 W is not a figure from 0 to 100000 W)" in warnings[0]


def test_restart_through_the_stubs_keeps_the_peak(frozen):
    home = Home(frozen, house_w=4800)
    home.run(960)
    peak = float(home.state(PEAK))
    assert peak > 4000
    home.env.restart()
    home.publish_grid()
    home.env.set_state(NUMBER, "6.0", min=6, max=32, step=1)
    home.env.set_state(SWITCH, "on")
    home.run(10)
    assert float(home.state(PEAK)) == pytest.approx(peak, abs=1)


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"max_current": "32A"}, "'max_current' must be a number in A"),
        ({"grid_power": None}, "'grid_power' is required"),
        ({"current_service": "wallbox.set_max_charging_current"}, "give exactly one of"),
        ({"min_current": 20, "max_current": 10}, "'min_current' (20 A) must not be above"),
        ({"target_peak": 4.5}, "4.5 kW is 4500"),
    ],
)
def test_bad_config_logs_an_error_and_commands_nothing(frozen, change, expected):
    config = dict(CONFIG)
    for key, value in change.items():
        if value is None:
            config.pop(key)
        else:
            config[key] = value
    home = Home(frozen, config=config, amps=16)
    home.run(120)
    errors = home.env.errors("ERROR")
    assert len(errors) == 1 and expected in errors[0]
    assert home.write_log == []


def test_empty_config_is_one_clear_error(frozen):
    home = Home(frozen, config={}, amps=16)
    home.run(30)
    errors = home.env.errors("ERROR")
    assert len(errors) == 1 and "no configuration found" in errors[0]
    assert home.write_log == []
