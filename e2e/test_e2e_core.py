"""End-to-end checks in real Home Assistant 2025.12.1 + pyscript 1.7.0 (../shared/harness).

Run: ../shared/harness/run.sh . e2e/
The app runs with pyscript's defaults (allow_all_imports: false, hass_is_global: false). A small plant
in the test plays the charger (number + pause switch updated as the core Wallbox integration does
after a successful write, and the switch written again at its 90 s poll) and the meter (grid = house + car, published every 5 s).
"""

import logging

import pytest
from homeassistant.core import State

GRID = "sensor.electricity_meter_power_consumption"
NUMBER = "number.wallbox_pulsar_maximum_charging_current"
SWITCH = "switch.wallbox_pulsar_pause_resume"
PEAK = "pyscript.wallbox_balancer_monthly_peak"
SETPOINT = "pyscript.wallbox_balancer_setpoint"
QUARTER = "pyscript.wallbox_balancer_quarter_average"
LIMIT = "pyscript.wallbox_balancer_capacity_limit"

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


class Plant:
    """Charger + meter: applies the app's writes, publishes grid = house + car in kW every 5 s."""

    def __init__(self, ps, house_w, amps=6, switch="on"):
        self.ps = ps
        self.house_w = house_w
        self.amps = amps
        self.switch = switch
        self.numbers = ps.mock_service("number", "set_value")
        self.turn_off = ps.mock_service("switch", "turn_off")
        self.turn_on = ps.mock_service("switch", "turn_on")
        self.seen = {"number": 0, "off": 0, "on": 0}
        self.quarter_energy_j = 0.0
        self.since_poll_s = 0  # the Wallbox integration polls 90 s after its last poll or write

    async def publish_all(self):
        await self.ps.set_state(NUMBER, float(self.amps), min=6, max=32, step=1)
        await self.ps.set_state(SWITCH, self.switch)
        await self.publish_grid()

    def car_w(self):
        return self.amps * 230 if self.switch == "on" else 0

    async def publish_grid(self):
        kw = (self.house_w + self.car_w()) / 1000.0
        await self.ps.set_state(GRID, "%.3f" % kw, unit_of_measurement="kW", device_class="power")

    async def apply_writes(self):
        changed = False
        for call in self.numbers[self.seen["number"]:]:
            self.amps = int(call.data["value"])
            changed = True
        for call in self.turn_off[self.seen["off"]:]:
            self.switch = "off"
            changed = True
        for call in self.turn_on[self.seen["on"]:]:
            self.switch = "on"
            changed = True
        self.seen = {"number": len(self.numbers), "off": len(self.turn_off), "on": len(self.turn_on)}
        if changed:
            self.since_poll_s = 0
            await self.ps.set_state(NUMBER, float(self.amps), min=6, max=32, step=1)
            await self.ps.set_state(SWITCH, self.switch)

    async def run(self, seconds):
        for _ in range(int(seconds)):
            self.quarter_energy_j += self.house_w + self.car_w()
            await self.ps.advance(1)
            await self.apply_writes()
            self.since_poll_s += 1
            if self.since_poll_s >= 90:  # the poll writes the switch again (last_reported moves)
                self.since_poll_s = 0
                await self.ps.set_state(SWITCH, self.switch)
            if _now_second(self.ps) % 5 == 0:
                await self.publish_grid()


async def started(ps, app=None, house_w=1000, amps=16, restore=None):
    """A plant with the charger and meter published, and the app started with pyscript's defaults."""
    plant = Plant(ps, house_w=house_w, amps=amps)
    await plant.publish_all()
    await ps.start(apps={"wallbox_balancer": app or README_APP}, restore=restore, **DEFAULTS)
    return plant


def _now_second(ps):
    from homeassistant.util import dt as dt_util

    return dt_util.utcnow().second


def writes(plant):
    return [c.data["value"] for c in plant.numbers]


@pytest.mark.freeze_time("2025-06-02 12:00:00")
async def test_readme_config_loads_and_a_load_step_keeps_the_quarter_under_the_limit(pyscript_ha):
    ps = pyscript_ha
    plant = await started(ps, house_w=1000, amps=6)
    await plant.run(450)
    assert writes(plant)[0] > 6  # the car was given more than the minimum
    plant.house_w = 3500  # an oven starts mid-quarter
    await plant.run(450)
    quarter_avg = plant.quarter_energy_j / 900
    assert quarter_avg <= 4000, quarter_avg
    # the app's own figures agree with the plant's
    assert abs(int(ps.state(PEAK)) - quarter_avg) < 60
    assert ps.attrs(PEAK)["month"] == "2025-06"
    assert ps.state(LIMIT) == "4000"
    assert ps.attrs(QUARTER)["unit_of_measurement"] == "W"
    assert ps.attrs(SETPOINT)["reason"]
    # one write a minute at most
    assert len(plant.numbers) + len(plant.turn_off) + len(plant.turn_on) <= 900 / 60 + 1
    ps.assert_no_errors()
    ps.assert_no_errors(logging.WARNING, logger="homeassistant.core")


@pytest.mark.freeze_time("2025-06-02 12:00:00")
async def test_pauses_when_the_house_leaves_no_room_and_resumes_later(pyscript_ha):
    ps = pyscript_ha
    plant = await started(ps, house_w=1000, amps=16)
    await plant.run(60)
    plant.house_w = 3900
    await plant.run(120)
    assert len(plant.turn_off) == 1 and plant.switch == "off"
    assert ps.attrs(SETPOINT)["paused"] is True
    plant.house_w = 500
    await plant.run(900)
    assert len(plant.turn_on) == 1 and plant.switch == "on"
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
    plant = Plant(ps, house_w=1000)
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
