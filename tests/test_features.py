"""Meter registers, runtime tuning, modes and notifications (issue 5), through the real app file."""

import pytest
from freezegun import freeze_time

from home import Home
from plant import CHARGER_PLANTS, CONFIG, LIMIT, MODE, PEAK, QUARTER, SETPOINT

AVERAGE = "sensor.electricity_meter_current_average_demand"
MONTH_PEAK = "sensor.electricity_meter_maximum_demand_current_month"


@pytest.fixture
def frozen():
    with freeze_time("2025-01-15 17:00:00") as frozen_time:
        yield frozen_time


def started(frozen, config, setup=None, **kw):
    home = Home(frozen, config=config, start=False, **kw)
    if setup:
        setup(home.env)
    home.env.load_app()
    home.env.start()
    return home


# -- modes -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("charger", CHARGER_PLANTS)
def test_mode_fast_gives_max_current_and_ignores_the_limit(frozen, charger):
    home = Home(frozen, house_w=3000, amps=6, **CHARGER_PLANTS[charger])
    home.env.call_service("pyscript", "wallbox_balancer_set_mode", mode="fast")
    home.run(70)
    if charger == "service":  # blind at its first step (nothing reads the current back), it paused
        home.run(60)  # resumed, then 32 A
    assert home.amps() == 32 and home.state(MODE) == "fast"
    assert "fast" in home.attrs(SETPOINT)["reason"]


@pytest.mark.parametrize("charger", CHARGER_PLANTS)
def test_mode_paused_pauses_and_auto_resumes(frozen, charger):
    home = Home(frozen, house_w=1000, amps=10, **CHARGER_PLANTS[charger])
    home.run(65)
    home.env.call_service("pyscript", "wallbox_balancer_set_mode", mode="paused")
    home.run(70 + home.lag)
    assert home.switch() == "off" and "paused by the user" in home.attrs(SETPOINT)["reason"]
    home.env.call_service("pyscript", "wallbox_balancer_set_mode", mode="auto")
    home.run(400)
    assert home.switch() == "on"


def test_set_mode_with_a_target_added_by_the_ui_still_sets_the_mode(frozen):
    """A UI action or automation may add entity_id: pyscript raised a TypeError into its log."""
    home = Home(frozen, house_w=1000, amps=10)
    home.run(65)
    home.env.call_service("pyscript", "wallbox_balancer_set_mode", mode="paused", entity_id="pyscript.wallbox_balancer_mode")
    home.run(70)
    assert home.state(MODE) == "paused" and home.switch() == "off"
    assert home.env.errors("WARNING") == []
    assert any("set_mode: entity_id ignored, only mode is read" in m for _, _, m in home.env.logs)


def test_the_modes_state_set_by_hand_is_the_mode_or_is_written_back(frozen):
    """Developer Tools writes the mode's state: it showed 'paused' for good while the app ran auto."""
    home = Home(frozen, house_w=1000, amps=10)
    home.run(65)
    home.env.set_state(MODE, "paused")
    home.run(70)
    assert home.state(MODE) == "paused" and home.switch() == "off" and "paused by the user" in home.attrs(SETPOINT)["reason"]
    home.env.set_state(MODE, "pause")
    home.run(5)
    assert home.state(MODE) == "paused"
    warnings = home.env.errors("WARNING")
    assert len(warnings) == 1 and "the mode's state was set to pause, which is no mode" in warnings[0]


def test_a_saved_mode_that_is_no_mode_is_auto_and_said(frozen):
    home = Home(frozen, house_w=1000, restore={MODE: ("Paused", {})})
    home.run(10)
    assert home.state(MODE) == "auto"
    assert "the saved mode Paused is no mode" in home.env.errors("WARNING")[0]


@pytest.mark.parametrize("charger", CHARGER_PLANTS)
def test_mode_off_leaves_the_charger_alone_but_keeps_metering(frozen, charger):
    home = Home(frozen, house_w=1000, amps=10, **CHARGER_PLANTS[charger])
    home.run(65)
    writes = len(home.write_log)
    home.env.call_service("pyscript", "wallbox_balancer_set_mode", mode=False)  # YAML's unquoted off
    home.house_w = 3950
    home.run(900)
    assert len(home.write_log) == writes
    assert float(home.state(PEAK)) > 4000  # still measured
    assert "off:" in home.attrs(SETPOINT)["reason"]


def test_mode_solar_starts_on_the_panels_export_follows_it_and_pauses_when_it_stops(frozen):
    home = Home(frozen, house_w=-2000, amps=6)  # the house net of its panels: 2 kW surplus, 0.6 kW exported beside the car's 6 A
    home.env.call_service("pyscript", "wallbox_balancer_set_mode", mode="solar")
    home.run(60)
    assert home.state(MODE) == "solar" and home.switch() == "on" and home.amps() == 6  # no pause for a start that is coming
    assert home.attrs(SETPOINT)["reason"].startswith("solar: 2.0 kW surplus, covers the 1.4 kW minimum")
    home.run(400)
    assert home.switch() == "on" and home.amps() == 8  # 1.84 kW of the 2 kW
    assert "turn_off" not in [entry[1] for entry in home.write_log]
    assert home.attrs(SETPOINT)["reason"] == "solar: 2.0 kW surplus, 8 A"
    home.house_w = 400  # a cloud that stays: the car at 6 A would take 1.8 kW from the grid
    home.run(500)
    assert home.switch() == "off"
    assert home.attrs(SETPOINT)["reason"].startswith("solar: 0.0 kW surplus, below the 1.4 kW minimum: paused")
    assert home.min_write_spacing_s() >= 60


def test_mode_survives_a_restart_and_a_bad_mode_is_refused(frozen):
    home = Home(frozen, house_w=1000)
    home.env.call_service("pyscript", "wallbox_balancer_set_mode", mode="fast")
    home.env.call_service("pyscript", "wallbox_balancer_set_mode", mode="turbo")
    assert any("mode must be one of auto, solar, paused, fast, off, got turbo" in e for e in home.env.errors("ERROR"))
    home.env.restart()
    assert home.state(MODE) == "fast"


# -- runtime tuning ------------------------------------------------------------------------------------

def tuned(frozen, **values):
    config = dict(CONFIG)
    states = {}
    for key, value in values.items():
        entity = "input_number.ev_" + key
        config[key] = entity
        states[entity] = value
    return started(frozen, config, lambda env: [env.set_state(e, v, min=0, max=20000) for e, v in states.items()], house_w=500)


def test_input_number_max_current_takes_effect_without_reload(frozen):
    home = tuned(frozen, max_current="10")
    home.run(70)
    assert home.amps() == 10
    home.env.set_state("input_number.ev_max_current", "13", min=6, max=32)
    home.run(70)
    assert home.amps() == 13


def test_input_number_target_peak(frozen):
    home = tuned(frozen, target_peak="3000")
    home.run(10)
    assert home.state(LIMIT) == "3000"
    home.env.set_state("input_number.ev_target_peak", "5000", min=0, max=20000)
    home.run(10)
    assert home.state(LIMIT) == "5000"


def test_input_number_min_current_above_max_gives_way(frozen):
    home = tuned(frozen, min_current="20", max_current="16")
    home.house_w = 0
    home.run(130)
    assert home.amps() == 16


def test_a_max_current_below_the_chargers_lowest_pauses_the_car_once_and_says_so(frozen):
    """A max_current slider at 5 A beside a charger that takes 6 A at least: a 5 A write is
    refused at every slot and the charger kept 16 A. Now one pause, one WARNING, and the car back
    at the slider's value once it fits."""
    home = tuned(frozen, max_current="5")
    home.house_w = 0
    home.run(300)
    assert home.switch() == "off" and home.current_writes() == []
    assert [w[1] for w in home.write_log] == ["turn_off"]
    warnings = home.env.errors("WARNING")
    assert len(warnings) == 1 and "takes 6 A at the least, above max_current: no allowed current can be written, the car is paused" in warnings[0]
    assert "max_current is below the charger's lowest current (6 A): paused" in home.attrs(SETPOINT)["reason"]
    home.env.set_state("input_number.ev_max_current", "10", min=0, max=20000)
    home.run(400)
    assert home.switch() == "on" and home.amps() == 10


def test_the_number_entitys_own_range_counts_only_where_it_is_a_finite_number():
    from balancer_runtime import entity_range
    assert entity_range(6, 32, 6, 16) == (6, 16, True)
    assert entity_range(6, 32, float("inf"), 32) == (6, 32, True)  # int(ceil(inf)) raised OverflowError at every step
    assert entity_range(6, 32, 6, float("-inf")) == (6, 32, True)
    assert entity_range(6, 32, "abc", None) == (6, 32, True)
    assert entity_range(1, 5, 6, 32) == (6, 6, False)  # nothing allowed fits
    assert entity_range(6, 32, 32, 6) == (6, 6, True)  # a min above the max: the old way, the max


def test_input_number_unavailable_before_any_good_value_uses_the_safe_fallback(frozen):
    home = tuned(frozen, max_current="unavailable")
    home.run(70)
    assert home.amps() == 6
    assert "max_current is unavailable: using 6" in home.env.errors("WARNING")[0]


def test_input_number_unavailable_later_keeps_the_last_good_value_and_recovers(frozen):
    home = tuned(frozen, max_current="12")
    home.run(70)
    home.env.set_state("input_number.ev_max_current", "unavailable")
    home.run(70)
    assert home.amps() == 12
    home.env.set_state("input_number.ev_max_current", "14")
    home.run(70)
    assert home.amps() == 14
    assert len(home.env.errors("WARNING")) == 1
    assert any("usable again" in m for _, _, m in home.env.logs)


def test_input_number_out_of_range_is_clamped(frozen):
    home = tuned(frozen, max_current="200")
    home.env.call_service("pyscript", "wallbox_balancer_set_mode", mode="fast")
    home.run(70)
    assert home.amps() == 32  # the number entity's own max
    assert "outside 1-80" in home.env.errors("WARNING")[0]


def test_a_notice_warns_once_per_problem_and_tells_the_end_only_when_it_has_words_for_it():
    from balancer_runtime import INFO, WARNING, Notice
    notice = Notice()
    assert notice.lines(None, "w", "r") == []
    assert notice.lines("unavailable", "w1", "r") == [(WARNING, "w1")]
    assert notice.lines("unavailable", "w2", "r") == []
    assert notice.lines("unknown", "w3", "r") == [(WARNING, "w3")]  # another problem: told too
    assert notice.lines(None, "w", "r") == [(INFO, "r")]
    assert notice.lines(True, "w4", "r") == [(WARNING, "w4")]
    assert notice.lines(True, "w5", "r") == []  # True: once, however the wording changes
    assert notice.lines(False, "w", None) == []  # no words for the end: a silent one
    assert notice.lines(None, "w", "r") == []


# -- the meter's own registers ---------------------------------------------------------------------------

def with_meter(frozen, peak_kw, average_kw="0.5", peak_changed_at=None, **kw):
    config = dict(CONFIG, average_demand=AVERAGE, monthly_peak_meter=MONTH_PEAK)

    def setup(env):
        if peak_changed_at is not None:
            now = env.now()
            frozen.move_to(peak_changed_at)
            env.set_state(MONTH_PEAK, peak_kw, unit_of_measurement="kW")
            frozen.move_to(now)
        else:
            env.set_state(MONTH_PEAK, peak_kw, unit_of_measurement="kW")
        env.set_state(AVERAGE, average_kw, unit_of_measurement="kW")

    return started(frozen, config, setup, **kw)


def test_meter_peak_raises_the_limit_and_the_difference_is_published(frozen):
    home = with_meter(frozen, "4.8", house_w=1000)
    home.run(10)
    assert home.state(PEAK) == "4800" and home.state(LIMIT) == "4800"
    assert home.attrs(PEAK)["meter_peak"] == 4800 and home.attrs(PEAK)["meter_difference"] == -4800


def test_meter_running_average_makes_the_budget_more_careful(frozen):
    frozen.move_to("2025-01-15 17:07:30")
    plain = Home(frozen, house_w=1000, amps=6)
    plain.run(5)
    frozen.move_to("2025-01-15 17:07:30")
    metered = with_meter(frozen, "3.0", average_kw="2.5", house_w=1000, amps=6)  # the meter saw 2.5 kW x 450 s already
    metered.run(5)
    assert metered.current_writes()[0] < plain.current_writes()[0]
    assert "meter_difference" in metered.attrs(QUARTER)


def test_meter_shows_last_months_peak_after_midnight_and_it_is_not_carried_over(frozen):
    frozen.move_to("2025-01-31 22:50:00")  # 23:50 local
    home = with_meter(frozen, "6.5", house_w=1000, peak_changed_at="2025-01-20 18:00:00")
    home.run(60)
    assert home.state(LIMIT) == "6500"
    home.run(600)  # 00:01 local on 1 February; the meter still says 6.5 kW
    assert home.attrs(PEAK)["month"] == "2025-02"
    assert home.state(LIMIT) == "4000"
    frozen.move_to("2025-02-01 00:00:30")  # 01:00:30 local: the meter resets
    home.env.set_state(MONTH_PEAK, "0.0", unit_of_measurement="kW")
    home.run(10)
    assert home.state(LIMIT) == "4000"


# -- notification -----------------------------------------------------------------------------------------------

def test_notification_only_when_the_peak_rises_above_the_target(frozen):
    home = Home(frozen, house_w=3000, switch="unavailable")
    home.run(900)
    assert home.notifications == []  # a 3 kW quarter is below the 4 kW target: routine
    home.house_w = 5200
    home.run(900)
    assert len(home.notifications) == 1
    message = home.notifications[0].data["message"]
    assert "5.20 kW" in message and "target 4.00 kW" in message


def test_no_notification_when_the_meters_month_peak_was_already_higher(frozen):
    """A quarter above the app's own peak but below the meter's 1.6.0 does not raise the bill."""
    home = with_meter(frozen, "5.6", house_w=5200, switch="unavailable")
    home.run(1800)
    assert home.notifications == []
    assert home.state(PEAK) == "5600"


def test_notification_can_be_turned_off(frozen):
    home = Home(frozen, config=dict(CONFIG, notify=False), house_w=5200, switch="unavailable")
    home.run(1800)
    assert home.notifications == []
