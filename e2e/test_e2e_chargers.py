"""Any charger, not only the Wallbox cloud (issue 14), in real Home Assistant + pyscript: the defects
measured with a charger whose entities report on change, on every plant of tests/plant.py.

Run: ../shared/harness/run.sh . e2e/test_e2e_chargers.py
"""

import logging

import pytest
from homeassistant.exceptions import HomeAssistantError

from test_e2e_core import app_for, started

from plant import CHARGER_PLANTS, SERVICE, SETPOINT, utc_now

LIMIT_W, MARGIN_W, AMP_W = 4000, 150, 230
RESUME_AFTER_S, SLOT_S = 120, 60


@pytest.mark.parametrize("charger", CHARGER_PLANTS)
@pytest.mark.parametrize("cause", ["failsafe", "load", "mode"])
@pytest.mark.freeze_time("2025-06-02 12:00:00")
async def test_after_any_pause_the_car_is_resumed_within_resume_after_and_two_slots(pyscript_ha, charger, cause):
    ps = pyscript_ha
    plant = await started(ps, charger=charger)
    await plant.run(120)
    if cause == "failsafe":
        plant.meter_on = False
        await plant.publish_grid("unavailable")
    elif cause == "load":
        plant.house_w = 3900
    else:
        await ps.call("pyscript", "wallbox_balancer_set_mode", {"mode": "paused"})
    await plant.run(300)
    assert plant.switch() == "off", plant.write_log
    allowed_at = utc_now()  # the budget allows from here on
    if cause == "failsafe":
        plant.meter_on = True
    elif cause == "load":
        plant.house_w = 1000
    else:
        await ps.call("pyscript", "wallbox_balancer_set_mode", {"mode": "auto"})
    await plant.run(600)
    resumes = [w[0] for w in plant.write_log if w[1] == "turn_on" and w[0] >= allowed_at]
    assert resumes and (resumes[0] - allowed_at).total_seconds() <= RESUME_AFTER_S + 2 * SLOT_S, plant.write_log
    assert plant.switch() == "on" and plant.amps() > 6
    assert ps.errors(logging.ERROR) == []


@pytest.mark.parametrize("charger", CHARGER_PLANTS)
@pytest.mark.freeze_time("2025-06-02 12:00:00")
async def test_a_steady_house_lets_the_car_use_the_budget(pyscript_ha, charger):
    ps = pyscript_ha
    plant = await started(ps, house_w=2600, amps=16, charger=charger)
    await plant.run(300)
    plant.house_w = 1000
    await plant.run(2400)
    averages = plant.closed_averages()
    assert len(averages) == 2
    assert all(LIMIT_W - MARGIN_W - 2 * AMP_W <= a <= LIMIT_W for a in averages), averages
    assert ps.attrs(SETPOINT)["charger_reports"] == ("polled" if charger == "wallbox" else "on_change")
    ps.assert_no_errors()


@pytest.mark.parametrize("charger", CHARGER_PLANTS)
@pytest.mark.freeze_time("2025-06-02 12:00:00")
async def test_a_failed_write_is_retried_at_the_next_slot(pyscript_ha, charger):
    """The charger's current service answers one call with an error (blocking: into the app)."""
    ps = pyscript_ha
    plant = await started(ps, amps=6, charger=charger)
    await plant.run(240)
    domain, service = SERVICE if charger == "service" else ("number", "set_value")
    ps.hass.services.async_remove(domain, service)
    refused = ps.mock_service(domain, service, description={"fields": {}},
                              raise_exception=HomeAssistantError("the charger did not answer"))
    plant.house_w = 2200  # the car must come down
    while not refused:
        await plant.run(1)
    failed_at = utc_now()
    ps.hass.services.async_remove(domain, service)
    if charger == "service":
        plant.services = plant.use_service(*SERVICE)
    else:
        plant.numbers = plant._mock("number", "set_value", plant._land)
    await plant.run(120)
    retries = [w for w in plant.write_log if w[1] == "current" and w[0] > failed_at]
    assert retries, plant.write_log
    assert (retries[0][0] - failed_at).total_seconds() <= SLOT_S + 15
    assert ps.attrs(SETPOINT)["last_result"].startswith("ok: ")
    warnings = ps.errors(logging.WARNING)
    assert len(warnings) == 1 and "did not answer" in warnings[0]


@pytest.mark.parametrize("charger", CHARGER_PLANTS)
@pytest.mark.freeze_time("2025-06-02 12:00:00")
async def test_no_warning_about_the_limit_when_no_quarter_went_over_it(pyscript_ha, charger):
    ps = pyscript_ha
    app = app_for(charger)
    del app["pause_switch"]
    plant = await started(ps, app=app, house_w=1000, amps=6, charger=charger)
    await plant.run(775)
    plant.house_w = 3000  # a kettle in the quarter's last two minutes, for 30 s
    await plant.run(30)
    plant.house_w = 1000
    await plant.run(995)
    assert max(plant.averages().values()) <= LIMIT_W
    ps.assert_no_errors()
