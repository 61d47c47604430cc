"""End-to-end checks in real Home Assistant + pyscript 1.7.0 for faults (issue 4) and features (issue 5).

Run: ../shared/harness/run.sh . e2e/
"""

import logging

import pytest
from homeassistant.exceptions import HomeAssistantError

from test_e2e_core import DEFAULTS, README_APP, all_writes, app_for, started

from plant import CHARGER_PLANTS, GRID, LIMIT, MODE, PEAK, QUARTER, SETPOINT, Plant


@pytest.mark.parametrize("charger", CHARGER_PLANTS)
@pytest.mark.freeze_time("2025-06-02 12:00:00")
async def test_set_mode_service_and_each_mode(pyscript_ha, charger):
    ps = pyscript_ha
    plant = await started(ps, charger=charger)
    await plant.run(30)
    assert ps.state(MODE) == "auto"
    await ps.call("pyscript", "wallbox_balancer_set_mode", {"mode": "fast"})
    await plant.run(70 + plant.lag)
    if charger == "service":  # blind at its first step (nothing reads the current back), it paused
        await plant.run(60)  # resumed, then 32 A
    assert plant.amps() == 32 and "fast" in ps.attrs(SETPOINT)["reason"]
    await ps.call("pyscript", "wallbox_balancer_set_mode", {"mode": "paused"})
    await plant.run(70 + plant.lag)
    assert plant.switch() == "off"
    await ps.call("pyscript", "wallbox_balancer_set_mode", {"mode": "off"})
    writes = all_writes(plant)
    plant.house_w = 3900
    await plant.run(200)
    assert all_writes(plant) == writes
    assert ps.state(MODE) == "off"
    # the mode is persisted: a reload keeps it
    ps.write_config(apps={"wallbox_balancer": app_for(charger, margin=151)}, **DEFAULTS)
    await ps.reload()
    assert ps.state(MODE) == "off"
    plant.house_w = 1000
    await ps.call("pyscript", "wallbox_balancer_set_mode", {"mode": "auto"})
    await plant.run(300)
    assert plant.switch() == "on"
    ps.assert_no_errors()


@pytest.mark.freeze_time("2025-06-02 12:00:00")
async def test_set_mode_with_a_target_and_the_modes_state_set_by_hand(pyscript_ha):
    """Real pyscript passes trigger_type and context to a service function that takes **fields; a
    UI adds entity_id. The mode's state written by hand fires the app's state trigger on its own
    pyscript variable: a mode is taken, anything else written back."""
    ps = pyscript_ha
    plant = await started(ps)
    await plant.run(30)
    await ps.call("pyscript", "wallbox_balancer_set_mode", {"mode": "paused", "entity_id": MODE})
    await plant.run(70)
    assert ps.state(MODE) == "paused" and plant.switch() == "off"
    ps.assert_no_errors()
    await ps.set_state(MODE, "auto")
    await plant.run(300)
    assert ps.state(MODE) == "auto" and plant.switch() == "on"
    await ps.set_state(MODE, "pause")
    await plant.run(5)
    assert ps.state(MODE) == "auto"
    warnings = ps.errors()
    assert len(warnings) == 1 and "the mode's state was set to pause, which is no mode" in warnings[0]


@pytest.mark.freeze_time("2025-06-02 12:00:00")
async def test_input_number_tuning_without_reload(pyscript_ha):
    ps = pyscript_ha
    await ps.set_state("input_number.ev_max_current", "10.0", min=6, max=32, step=1)
    await ps.set_state("input_number.ev_target_peak", "4000.0", min=2500, max=10000, step=100)
    app = dict(README_APP, max_current="input_number.ev_max_current", target_peak="input_number.ev_target_peak")
    plant = await started(ps, app=app, house_w=500, amps=6)
    await plant.run(70)
    assert max(c.data["value"] for c in plant.numbers) == 10
    await ps.set_state("input_number.ev_max_current", "14.0", min=6, max=32, step=1)
    await plant.run(70)
    assert plant.amps() == 14
    await ps.set_state("input_number.ev_target_peak", "5000.0", min=2500, max=10000, step=100)
    await plant.run(5)
    assert ps.state(LIMIT) == "5000"
    # unavailable: the last good value holds, one warning
    await ps.set_state("input_number.ev_max_current", "unavailable")
    await plant.run(70)
    assert plant.amps() == 14
    warnings = ps.errors(logging.WARNING)
    assert len(warnings) == 1 and "max_current is unavailable: using 14" in warnings[0]


@pytest.mark.freeze_time("2025-06-02 12:00:00")
async def test_meter_registers_raise_the_peak_and_publish_the_difference(pyscript_ha):
    ps = pyscript_ha
    await ps.set_state("sensor.electricity_meter_maximum_demand_current_month", "4.6", unit_of_measurement="kW")
    await ps.set_state("sensor.electricity_meter_current_average_demand", "0.4", unit_of_measurement="kW")
    app = dict(README_APP, monthly_peak_meter="sensor.electricity_meter_maximum_demand_current_month",
               average_demand="sensor.electricity_meter_current_average_demand")
    plant = await started(ps, app=app)
    await plant.run(10)
    assert ps.state(PEAK) == "4600" and ps.state(LIMIT) == "4600"
    assert ps.attrs(PEAK)["meter_peak"] == 4600
    assert "meter_average" in ps.attrs(QUARTER) and "meter_difference" in ps.attrs(QUARTER)
    ps.assert_no_errors()


@pytest.mark.freeze_time("2025-06-02 12:00:00")
async def test_a_429_from_a_blocking_write_is_caught_and_reported(pyscript_ha):
    ps = pyscript_ha
    plant = Plant(ps, house_w=1000, amps=6, unit="kW")
    await plant.publish_all()
    ps.hass.services.async_remove("number", "set_value")
    refused = ps.mock_service("number", "set_value", raise_exception=HomeAssistantError("too_many_requests"))
    await ps.start(apps={"wallbox_balancer": README_APP}, **DEFAULTS)
    await plant.run(130)
    assert 2 <= len(refused) <= 3  # once per slot, no storm
    assert ps.attrs(SETPOINT)["last_result"].startswith("failed: current")
    warnings = ps.errors(logging.WARNING)
    assert len(warnings) == 1 and "too_many_requests" in warnings[0]


@pytest.mark.freeze_time("2025-06-02 12:05:00")
async def test_reload_mid_quarter_keeps_the_quarters_energy(pyscript_ha):
    ps = pyscript_ha
    plant = await started(ps, house_w=3000, amps=6)
    await plant.run(300)
    energy = ps.attrs(QUARTER)["energy_wh"]
    assert energy > 200
    ps.write_config(apps={"wallbox_balancer": dict(README_APP, margin=160)}, **DEFAULTS)
    await ps.reload()
    await plant.run(5)
    assert ps.attrs(QUARTER)["energy_wh"] >= energy
    ps.assert_no_errors()


@pytest.mark.freeze_time("2025-06-02 12:05:00")
async def test_on_stop_sets_the_configured_current_when_the_config_breaks(pyscript_ha):
    ps = pyscript_ha
    plant = await started(ps, app=dict(README_APP, on_stop=8), house_w=500, amps=6)
    await plant.run(130)
    assert plant.amps() > 8
    ps.write_config(apps={"wallbox_balancer": dict(README_APP, on_stop=8, max_current="many")}, **DEFAULTS)
    await ps.reload()
    await plant.run(5)
    assert plant.numbers[-1].data["value"] == 8
    assert any("'max_current' must be a number" in e for e in ps.errors(logging.ERROR))


@pytest.mark.parametrize("charger", CHARGER_PLANTS)
@pytest.mark.freeze_time("2025-06-02 12:00:00")
async def test_grid_unavailable_fail_safe_and_recovery(pyscript_ha, charger):
    ps = pyscript_ha
    plant = await started(ps, house_w=1000, amps=16, charger=charger)
    await plant.run(60)
    plant.meter_on = False
    await ps.set_state(GRID, "unavailable")
    await plant.run(80 + plant.lag)
    assert plant.switch() == "off" and "fail-safe" in ps.attrs(SETPOINT)["reason"]
    plant.meter_on = True
    await plant.run(300)
    assert "fail-safe" not in ps.attrs(SETPOINT)["reason"]
    assert plant.switch() == "on"  # resumed
    warnings = ps.errors(logging.WARNING)
    assert len(warnings) == 1 and "unavailable" in warnings[0]
