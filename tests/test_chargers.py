"""Any charger, not only the Wallbox cloud (issue 14): the app on each plant of tests/plant.py, the
polled Wallbox and chargers whose entities report on change (a local one, with a lag of 0-20 s,
with or without a power sensor; one set through a service, with nothing to read the current back).

Each test is one defect measured on a charger that reports on change; all run on every plant.
"""

import pytest
from freezegun import freeze_time

import stubs
from home import Home
from plant import CHARGER_PLANTS, SETPOINT, config_for

LIMIT_W, MARGIN_W, AMP_W = 4000, 150, 230
RESUME_AFTER_S, SLOT_S = 120, 60


@pytest.fixture
def frozen():
    with freeze_time("2025-01-15 17:00:00") as frozen_time:  # 18:00 Brussels, a quarter start
        yield frozen_time


def writes_after(home, since, kind=None):
    return [w for w in home.write_log if w[0] >= since and (kind is None or w[1] == kind)]


@pytest.mark.parametrize("charger", CHARGER_PLANTS)
@pytest.mark.parametrize("cause", ["failsafe", "load", "mode"])
def test_after_any_pause_the_car_is_resumed_within_resume_after_and_two_slots(frozen, charger, cause):
    """Measured: after a fail-safe pause, a pause for a load that went away, or paused -> auto, a
    charger that reports on change stayed paused for good (the resume waited for a poll)."""
    home = Home(frozen, house_w=1000, amps=16, **CHARGER_PLANTS[charger])
    home.run(120)
    if cause == "failsafe":
        home.meter_on = False
        home.publish_grid("unavailable")
    elif cause == "load":
        home.house_w = 3900
    else:
        home.env.call_service("pyscript", "wallbox_balancer_set_mode", mode="paused")
    home.run(300)
    assert home.switch() == "off", home.write_log
    allowed_at = home.env.now()  # the budget allows from here on
    if cause == "failsafe":
        home.meter_on = True
    elif cause == "load":
        home.house_w = 1000
    else:
        home.env.call_service("pyscript", "wallbox_balancer_set_mode", mode="auto")
    home.run(600)
    resumes = writes_after(home, allowed_at, "turn_on")
    assert resumes, home.write_log
    assert (resumes[0][0] - allowed_at).total_seconds() <= RESUME_AFTER_S + 2 * SLOT_S
    assert home.switch() == "on" and home.amps() > 6  # and raised after it
    assert home.env.errors("ERROR") == []


@pytest.mark.parametrize("charger", CHARGER_PLANTS)
def test_a_steady_house_lets_the_car_use_the_budget(frozen, charger):
    """Measured: closed quarters averaged 3000-3270 W against a 4000 W limit with a 150 W margin:
    after a decrease, the increases waited for a read that never came."""
    home = Home(frozen, house_w=2600, amps=16, **CHARGER_PLANTS[charger])
    home.run(300)  # a busy start lowers the car
    home.house_w = 1000
    home.run(3300)
    averages = home.closed_averages()
    assert len(averages) == 3
    assert all(LIMIT_W - MARGIN_W - 2 * AMP_W <= a <= LIMIT_W for a in averages), averages
    assert home.attrs(SETPOINT)["charger_reports"] == ("polled" if charger == "wallbox" else "on_change")


@pytest.mark.parametrize("charger", CHARGER_PLANTS)
@pytest.mark.parametrize("change", ["decrease", "increase"])
def test_a_failed_write_is_retried_at_the_next_slot(frozen, charger, change):
    """Measured: after a failed current write the retry went out 105 s later, not at the next
    60 s slot (a needed decrease was put off; an increase waited for a read)."""
    refuse = []

    def number(entity_id, value):
        if refuse:
            refuse.pop()
            raise stubs.HomeAssistantError("the charger did not answer")

    home = Home(frozen, house_w=2000 if change == "increase" else 1000, amps=6, number_handler=number,
                **CHARGER_PLANTS[charger])
    home.run(240)
    changed_at = home.env.now()
    refuse.append(True)
    home.house_w = 1000 if change == "increase" else 2200
    home.run(300)
    attempts = writes_after(home, changed_at, "current")
    assert len(attempts) >= 2 and not refuse, home.write_log
    failed, retry = attempts[0], attempts[1]
    assert (retry[0] - failed[0]).total_seconds() <= SLOT_S + 15, home.write_log
    assert (retry[2] > 6) if change == "increase" else (retry[2] < 12)
    assert home.attrs(SETPOINT)["last_result"].startswith("ok: ")


@pytest.mark.parametrize("charger", CHARGER_PLANTS)
def test_no_warning_about_the_limit_when_no_quarter_went_over_it(frozen, charger):
    """Measured: without a pause switch, a late load step right after a command logged "holding
    6 A, the 4000 W limit may be exceeded" although no quarter went over it."""
    config = config_for(CHARGER_PLANTS[charger].get("charger", "wallbox"), CHARGER_PLANTS[charger].get("power_unit"))
    del config["pause_switch"]
    home = Home(frozen, config=config, house_w=1000, amps=6, **CHARGER_PLANTS[charger])
    home.run(775)
    home.house_w = 3000  # a kettle in the quarter's last two minutes, for 30 s
    home.run(30)
    home.house_w = 1000
    home.run(995)
    assert max(home.averages().values()) <= LIMIT_W
    assert home.env.errors("WARNING") == []
