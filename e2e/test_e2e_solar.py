"""End-to-end check in real Home Assistant + pyscript of the mode `solar` (issue 16): the car starts
on the panels' export and pauses when it stops.

Run: ../shared/harness/run.sh . e2e/test_e2e_solar.py
"""

import logging
from datetime import datetime, timedelta, timezone

import pytest
from homeassistant.core import State

from test_e2e_core import DEFAULTS, README_APP

from plant import MODE, SETPOINT, Plant


@pytest.mark.freeze_time("2025-06-02 12:00:00")
async def test_mode_solar_starts_the_car_at_the_minimum_on_the_export_and_pauses_it_when_the_export_stops(pyscript_ha):
    ps = pyscript_ha
    plant = Plant(ps, house_w=-1600, amps=6, switch="off", unit="kW")  # the panels export 1.6 kW, the car paused
    await plant.publish_all()
    # the mode solar chosen before a restart (in auto the first step would resume the car at once)
    await ps.start(apps={"wallbox_balancer": README_APP}, restore=[State(MODE, "solar")], **DEFAULTS)
    await plant.run(60)
    assert ps.state(MODE) == "solar" and plant.switch() == "off"
    assert ps.attrs(SETPOINT)["reason"].startswith("solar: 1.6 kW surplus, covers the 1.4 kW minimum")
    await plant.run(240)
    assert plant.switch() == "on" and plant.amps() == 6  # 1.6 kW covers 6 A (1.38 kW), not 7 A
    assert ps.attrs(SETPOINT)["reason"] == "solar: 1.6 kW surplus, 6 A"
    plant.house_w = 300  # the export stops: the car at 6 A takes 1.7 kW from the grid
    await plant.run(240)
    assert plant.switch() == "on"  # not yet: a cloud passes in a few minutes
    await plant.run(180)
    assert plant.switch() == "off"
    assert ps.attrs(SETPOINT)["reason"].startswith("solar: 0.0 kW surplus, below the 1.4 kW minimum: paused")
    assert [entry[1] for entry in plant.write_log] == ["turn_on", "turn_off"]
    ps.assert_no_errors()


@pytest.mark.freeze_time("2025-06-02 12:00:00")
async def test_a_solcast_forecast_with_datetimes_in_its_attributes_is_read_without_a_warning(pyscript_ha):
    """Solcast keeps period_start as datetime objects in the state's attributes; a list of text is refused once."""
    ps = pyscript_ha
    forecast = "sensor.solcast_pv_forecast_forecast_today"
    start = datetime(2025, 6, 2, 12, 0, tzinfo=timezone.utc)
    items = [{"period_start": start + timedelta(minutes=30 * k), "pv_estimate": 2.0, "pv_estimate10": 1.2,
              "pv_estimate90": 2.4} for k in range(8)]
    await ps.set_state(forecast, "12.3", detailedForecast=items, unit_of_measurement="kWh")
    plant = Plant(ps, house_w=1000, amps=6, unit="kW")
    await plant.publish_all()
    await ps.start(apps={"wallbox_balancer": dict(README_APP, solar_forecast=forecast)}, **DEFAULTS)
    await plant.run(30)
    assert not [w for w in ps.errors(logging.WARNING) if "solar_forecast" in w]
    await ps.set_state(forecast, "12.4", detailedForecast="not a list")
    await plant.run(30)
    warnings = [w for w in ps.errors(logging.WARNING) if "solar_forecast" in w]
    assert len(warnings) == 1 and "no detailedForecast list in its attributes" in warnings[0]
