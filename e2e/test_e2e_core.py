"""End-to-end checks in real Home Assistant 2025.12.1 + pyscript 1.7.0 (../shared/harness).

Run: ../shared/harness/run.sh . e2e/
The app runs with pyscript's defaults (allow_all_imports: false, hass_is_global: false). The plant the
stub tests use (tests/plant.py) plays the charger (the core Wallbox integration: number + pause switch
updated after a successful write and the switch written again at its 90 s poll; or a charger whose
entities report on change, or one set through a service: CHARGER_PLANTS) and the meter (grid = house +
car, published every 5 s).
"""

import logging
import sys
from pathlib import Path

import pytest
from homeassistant.core import State

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # the plant the stub tests use too
from plant import CHARGER_PLANTS, GRID, LIMIT, NUMBER, PEAK, QUARTER, SETPOINT, SWITCH, Plant, config_for  # noqa: E402

README_APP = {  # the README's example, with this test's entity names
    "grid_power": GRID,
    "current_number": NUMBER,
    "pause_switch": SWITCH,
    "target_peak": 4000,
    "margin": 150,
    "voltage": 230,
    "phases": 1,
    "min_current": 6,
    "max_current": 32,
    "min_command_interval": 60,
    "stale_after": 60,
}
DEFAULTS = {"allow_all_imports": False, "hass_is_global": False}


def app_for(charger, **overrides):
    """The README's configuration for that plant's charger (CHARGER_PLANTS)."""
    kw = CHARGER_PLANTS[charger]
    app = dict(README_APP, **config_for(kw.get("charger", "wallbox"), kw.get("power_unit")))
    if kw.get("charger") == "service":
        del app["current_number"]
    app.update(overrides)
    return app


async def started(ps, app=None, house_w=1000, amps=16, restore=None, charger="wallbox"):
    """A plant with the charger and meter published, and the app started with pyscript's defaults."""
    plant = Plant(ps, house_w=house_w, amps=amps, unit="kW", **CHARGER_PLANTS[charger])
    await plant.publish_all()
    await ps.start(apps={"wallbox_balancer": app or app_for(charger)}, restore=restore, **DEFAULTS)
    return plant


def writes(plant):
    return plant.current_writes()


def all_writes(plant):
    return len(plant.write_log)


@pytest.mark.parametrize("charger", CHARGER_PLANTS)
@pytest.mark.freeze_time("2025-06-02 12:00:00")
async def test_readme_config_loads_and_a_load_step_keeps_the_quarter_under_the_limit(pyscript_ha, charger):
    ps = pyscript_ha
    plant = await started(ps, house_w=1000, amps=6, charger=charger)
    await plant.run(450)
    given = writes(plant)[1:] if charger == "service" else writes(plant)  # the service form starts blind at 6 A
    assert given[0] > 6  # the car was given more than the minimum
    plant.house_w = 3500  # an oven starts mid-quarter
    await plant.run(450)
    [quarter_avg] = plant.averages().values()  # 12:00-12:15, every second of it
    assert quarter_avg <= 4000, quarter_avg
    # the app's own figures agree with the plant's
    assert abs(int(ps.state(PEAK)) - quarter_avg) < 60
    assert ps.attrs(PEAK)["month"] == "2025-06"
    assert ps.state(LIMIT) == "4000"
    assert ps.attrs(QUARTER)["unit_of_measurement"] == "W"
    assert ps.attrs(SETPOINT)["reason"]
    # one write a minute at most
    assert all_writes(plant) <= 900 / 60 + 1
    ps.assert_no_errors()
    ps.assert_no_errors(logging.WARNING, logger="homeassistant.core")


@pytest.mark.parametrize("charger", CHARGER_PLANTS)
@pytest.mark.freeze_time("2025-06-02 12:00:00")
async def test_pauses_when_the_house_leaves_no_room_and_resumes_later(pyscript_ha, charger):
    ps = pyscript_ha
    plant = await started(ps, house_w=1000, amps=16, charger=charger)
    await plant.run(60)
    plant.house_w = 3900
    await plant.run(120)
    assert len(plant.turn_off) == 1 and plant.switch() == "off"
    assert ps.attrs(SETPOINT)["paused"] is True
    plant.house_w = 500
    await plant.run(900)
    assert len(plant.turn_on) == 1 and plant.switch() == "on"
    ps.assert_no_errors()


@pytest.mark.freeze_time("2025-06-02 12:00:00")
async def test_service_actuator_form(pyscript_ha):
    ps = pyscript_ha
    calls = ps.mock_service("wallbox", "set_max_charging_current", description={"fields": {}})
    await ps.set_state(GRID, "800", unit_of_measurement="W")
    app = {
        "grid_power": GRID,
        "current_service": "wallbox.set_max_charging_current",
        "current_service_data": {"entity_id": "switch.wallbox_laden"},
        "target_peak": 4000,
    }
    await ps.start(apps={"wallbox_balancer": app}, **DEFAULTS)
    for _ in range(36):  # a steady meter: the same value reported every 5 s (only last_reported moves)
        await ps.advance(5)
        await ps.set_state(GRID, "800", unit_of_measurement="W")
    assert calls[0].data == {"entity_id": "switch.wallbox_laden", "charging_current": 13}
    amps = [c.data["charging_current"] for c in calls]
    assert all(a != b for a, b in zip(amps, amps[1:])), amps  # never the value it already has
    assert len(calls) <= 180 / 60 + 1
    assert "fail-safe" not in ps.attrs(SETPOINT)["reason"]
    ps.assert_no_errors()


async def test_bad_config_logs_one_error_per_problem_and_commands_nothing(pyscript_ha):
    ps = pyscript_ha
    plant = Plant(ps, house_w=1000, unit="kW")
    await plant.publish_all()
    bad = dict(README_APP, max_current="32A", min_current=40)
    await ps.start(apps={"wallbox_balancer": bad}, **DEFAULTS)
    await ps.advance(30)
    errors = ps.errors(logging.ERROR)
    assert len(errors) == 2, errors
    assert any("'max_current' must be a number in A, got '32A'" in e for e in errors)
    assert plant.numbers == [] and plant.turn_off == []


@pytest.mark.freeze_time("2025-06-02 12:00:00")
async def test_a_missing_entity_is_reported_and_control_starts_once_it_appears(pyscript_ha):
    ps = pyscript_ha
    numbers = ps.mock_service("number", "set_value")
    await ps.set_state(GRID, "1000", unit_of_measurement="W")
    app = {"grid_power": GRID, "current_number": NUMBER, "target_peak": 4000}
    await ps.start(apps={"wallbox_balancer": app}, **DEFAULTS)
    await ps.advance(10)
    assert [e for e in ps.errors(logging.ERROR) if NUMBER in e]
    assert numbers == []
    await ps.set_state(NUMBER, "6.0", min=6, max=32, step=1)
    await ps.advance(70)
    assert numbers and numbers[0].data["entity_id"] == NUMBER


@pytest.mark.freeze_time("2025-06-02 12:07:00")
async def test_restart_keeps_this_months_peak_and_drops_last_months(pyscript_ha):
    ps = pyscript_ha
    restore = [
        State(PEAK, "5200", {"month": "2025-06", "quarter_start": "2025-06-01T19:00:00+02:00"}),
    ]
    await started(ps, house_w=1000, amps=6, restore=restore)
    await ps.advance(6)
    assert ps.state(PEAK) == "5200" and ps.state(LIMIT) == "5200"
    ps.assert_no_errors()


@pytest.mark.freeze_time("2025-06-02 12:07:00")
async def test_restart_drops_a_peak_of_last_month(pyscript_ha):
    ps = pyscript_ha
    restore = [State(PEAK, "7000", {"month": "2025-05", "quarter_start": "2025-05-20T19:00:00+02:00"})]
    await started(ps, house_w=1000, amps=6, restore=restore)
    await ps.advance(6)
    assert ps.state(PEAK) == "0" and ps.state(LIMIT) == "4000"
    assert ps.attrs(PEAK)["month"] == "2025-06"


@pytest.mark.freeze_time("2025-06-02 12:00:00")
async def test_reloads_leave_one_controller(pyscript_ha):
    ps = pyscript_ha
    plant = await started(ps, house_w=1000, amps=16)
    await plant.run(30)
    for _ in range(3):
        ps.write_config(apps={"wallbox_balancer": dict(README_APP, margin=160 + _)}, **DEFAULTS)
        await ps.reload()
    before = len(plant.numbers)
    plant.house_w = 3000
    await plant.run(300)
    sent = plant.numbers[before:]
    # one controller: never two writes within a minute
    assert len(sent) <= 300 / 60 + 1
    ps.assert_no_errors()
