"""End-to-end checks in real Home Assistant 2025.12.1 + pyscript 1.7.0 (../shared/harness).

Run: ../shared/harness/run.sh . e2e/
"""

import logging

import pytest

GRID = "sensor.electricity_meter_power_consumption"
NUMBER = "number.wallbox_pulsar_maximum_charging_current"
SWITCH = "switch.wallbox_pulsar_pause_resume"

APP = {
    "grid_power": GRID,
    "current_number": NUMBER,
    "pause_switch": SWITCH,
    "target_peak": 4000,
    "max_current": 32,
}


async def setup_plant(ps, amps=16, switch="on"):
    numbers = ps.mock_service("number", "set_value")
    switches_off = ps.mock_service("switch", "turn_off")
    switches_on = ps.mock_service("switch", "turn_on")
    await ps.set_state(NUMBER, amps, min=6, max=32, step=1)
    await ps.set_state(SWITCH, switch)
    await ps.set_state(GRID, "1.0", unit_of_measurement="kW", device_class="power")
    return numbers, switches_off, switches_on


@pytest.mark.freeze_time("2025-06-02 12:00:02")
async def test_app_loads_with_defaults_and_sets_current(pyscript_ha):
    ps = pyscript_ha
    numbers, _, _ = await setup_plant(ps, amps=6)
    await ps.start(apps={"wallbox_balancer": APP}, allow_all_imports=False, hass_is_global=False)
    await ps.advance(10)
    ps.assert_no_errors()
    # 1.0 kW on the grid and the car (6 A offered) draws at most that, so the house is taken as 0 W.
    # Almost the whole quarter's 3850 W x 900 s is left: 17 A (3910 W) until the quarter nears its end.
    assert [c.data for c in numbers] == [{"entity_id": NUMBER, "value": 17}]
    assert ps.state("pyscript.wallbox_balancer_capacity_limit") == "4000"
    assert ps.attrs("pyscript.wallbox_balancer_quarter_average")["unit_of_measurement"] == "W"
    assert ps.state("pyscript.wallbox_balancer_setpoint") == "17"
