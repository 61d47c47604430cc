"""Faults, restarts, time edges and bad input (issue 4), through the real app file and the stubs.

Each test is named after a row of the README's fault table.
"""

from datetime import datetime, timedelta, timezone

import pytest
from freezegun import freeze_time

import stubs
from home import Home
from plant import CHARGER_PLANTS, CONFIG, GRID, LIMIT, NUMBER, PEAK, QUARTER, SETPOINT, SWITCH, config_for


@pytest.fixture
def frozen():
    with freeze_time("2025-01-15 17:00:00") as frozen_time:  # 18:00 Brussels, the car is home
        yield frozen_time


def kinds(home):
    return [w[1] for w in home.write_log]


# -- 1. grid sensor faults -----------------------------------------------------------------------

@pytest.mark.parametrize("charger", CHARGER_PLANTS)
@pytest.mark.parametrize("bad", ["unavailable", "unknown", "abc"])
def test_grid_unusable_gives_failsafe_pause_one_warning_and_one_info(frozen, bad, charger):
    home = Home(frozen, house_w=1000, amps=16, **CHARGER_PLANTS[charger])
    home.run(120)
    home.meter_on = False
    home.publish_grid(bad)
    home.run(5)
    assert "fail-safe" not in home.attrs(SETPOINT)["reason"]  # a gap is not a fault yet (issue 8, 7)
    home.run(60)
    assert "fail-safe" in home.attrs(SETPOINT)["reason"]
    home.run(70)
    assert home.switch() == "off"  # paused within a command slot
    warnings = home.env.errors("WARNING")
    assert len(warnings) == 1 and bad in warnings[0]
    home.meter_on = True
    home.run(400)
    infos = [m for lvl, _, m in home.env.logs if lvl == "INFO" and "reports again" in m]
    assert len(infos) == 1
    assert home.switch() == "on"  # normal control resumed
    assert len(home.env.errors("WARNING")) == 1


@pytest.mark.parametrize("charger", CHARGER_PLANTS)
@pytest.mark.parametrize("gap_s", [7, 35])
def test_a_grid_gap_shorter_than_stale_after_writes_nothing(frozen, gap_s, charger):
    """Issue 8, defect 7: a HomeWizard poll that failed once (7 s) or DSMR's 30 s throttle paused
    the car at once and resumed it minutes later."""
    home = Home(frozen, house_w=1000, amps=16, **CHARGER_PLANTS[charger])
    home.run(300)
    writes = len(home.write_log)
    home.meter_on = False
    home.publish_grid("unavailable")
    home.run(gap_s)
    home.meter_on = True
    home.run(60)
    assert len(home.write_log) == writes or home.switch() == "on"
    assert [w for w in home.write_log[writes:] if w[1] == "turn_off"] == []
    home.env.assert_no_errors()


def test_no_grid_reading_yet_after_a_restart_writes_nothing_for_stale_after(frozen):
    """Issue 8, defect 7: after a Home Assistant restart DSMR is unavailable until its first
    telegram (about 30 s); the app paused, set 6 A, resumed and set 14 A for it."""
    home = Home(frozen, house_w=1000, amps=16, start=False)
    home.meter_on = False
    home.publish_grid("unavailable")
    home.env.load_app()
    home.env.start()
    home.run(31)
    assert home.write_log == []
    assert "waiting for the first grid reading" in home.attrs(SETPOINT)["reason"]
    home.meter_on = True
    home.run(30)
    assert [w for w in home.write_log if w[1] == "turn_off"] == []
    home.env.assert_no_errors()


@pytest.mark.parametrize("charger", CHARGER_PLANTS)
def test_grid_missing_entity_gives_failsafe(frozen, charger):
    home = Home(frozen, house_w=1000, amps=16, **CHARGER_PLANTS[charger])
    home.run(60)
    home.meter_on = False
    home.env.remove_state(GRID)
    home.run(70 + home.lag)
    assert "fail-safe" in home.attrs(SETPOINT)["reason"] and home.switch() == "off"
    assert len(home.env.errors("WARNING")) == 1


def test_grid_silent_longer_than_stale_after_gives_failsafe(frozen):
    home = Home(frozen, house_w=1000, amps=16)
    home.run(60)
    home.meter_on = False  # no update at all, not even last_reported
    home.run(55)
    assert "fail-safe" not in home.attrs(SETPOINT)["reason"]
    home.run(10)
    assert "fail-safe" in home.attrs(SETPOINT)["reason"]
    assert "silent for" in home.env.errors("WARNING")[0]


@pytest.mark.parametrize("charger", CHARGER_PLANTS)
def test_failsafe_min_current_without_pause_switch(frozen, charger):
    config = config_for(CHARGER_PLANTS[charger].get("charger", "wallbox"), CHARGER_PLANTS[charger].get("power_unit"))
    del config["pause_switch"]
    home = Home(frozen, config=config, house_w=1000, amps=20, **CHARGER_PLANTS[charger])
    home.run(120)
    home.meter_on = False
    home.publish_grid("unavailable")
    home.run(70 + home.lag)
    assert home.amps() == 6 and "fail-safe" in home.attrs(SETPOINT)["reason"]


def test_a_steady_meter_is_still_counted(frozen):
    home = Home(frozen, house_w=2000, switch="unavailable")  # car paused; the grid value never changes
    home.run(900)
    state_changes_only = [m for m in home.env.logs if "reports again" in m[2]]
    assert state_changes_only == []
    assert float(home.state(PEAK)) == pytest.approx(2000, abs=15)


def test_stale_charger_sensor_falls_back_to_the_estimate(frozen):
    config = dict(CONFIG, charger_power="sensor.wallbox_pulsar_charging_power")
    home = Home(frozen, config=config, house_w=1000, amps=16, start=False)
    home.env.set_state("sensor.wallbox_pulsar_charging_power", "0.0", unit_of_measurement="kW")
    home.env.load_app()
    home.env.start()
    home.run(600)  # the sensor says 0 kW for ten minutes (it stopped refreshing)
    quarter = datetime(2025, 1, 15, 17, 0, tzinfo=timezone.utc)
    assert home.averages()[quarter] <= 4000
    home.env.assert_no_errors()


def test_charger_sensor_unavailable_falls_back_with_one_warning_and_one_info(frozen):
    sensor = "sensor.wallbox_pulsar_charging_power"
    config = dict(CONFIG, charger_power=sensor)
    home = Home(frozen, config=config, house_w=1000, amps=10, start=False)
    home.env.set_state(sensor, "2.3", unit_of_measurement="kW")
    home.env.load_app()
    home.env.start()
    home.run(60)
    for _ in range(3):  # every failed poll of the Wallbox integration makes it unavailable again
        home.env.set_state(sensor, "unavailable")
        home.run(30)
        home.env.set_state(sensor, "unknown")
        home.run(30)
    quarter = datetime(2025, 1, 15, 17, 0, tzinfo=timezone.utc)
    assert home.averages()[quarter] <= 4000
    warnings = home.env.errors("WARNING")
    assert len(warnings) == 1 and "estimating the car's draw" in warnings[0]
    home.env.set_state(sensor, "2.3", unit_of_measurement="kW")
    home.run(10)
    assert len([m for _, _, m in home.env.logs if "charger power" in m and "reports again" in m]) == 1


# -- 2. charger command faults --------------------------------------------------------------------

class Cloud:
    """The Wallbox cloud: one write a minute, 429 (HomeAssistantError) within it; can be broken."""

    def __init__(self, interval=60):
        self.interval = interval
        self.last_ok = None
        self.broken = False
        self.rejected = 0

    def handler(self, env):
        def number(entity_id, value):
            now = env.now()
            if self.broken or (self.last_ok is not None and (now - self.last_ok).total_seconds() < self.interval):
                self.rejected += 1
                raise stubs.HomeAssistantError("Error communicating with Wallbox API, too many requests")
            self.last_ok = now
        return number


@pytest.mark.parametrize("charger", CHARGER_PLANTS)
def test_429_is_caught_reported_and_retried_at_the_next_slot_only(frozen, charger):
    cloud = Cloud()
    home = Home(frozen, house_w=1000, amps=6, start=False, **CHARGER_PLANTS[charger])
    home.number_handler = cloud.handler(home.env)
    home.env.load_app()
    home.env.start()
    home.run(130)  # the car got its budget (the service form starts blind at 6 A, then raises)
    broken_at = home.env.now()
    cloud.broken = True
    home.house_w = 2200  # the app wants to lower the current, the cloud refuses
    home.run(200)
    attempts = [w for w in home.write_log if w[1] == "current" and w[0] >= broken_at]
    gaps_s = [(b[0] - a[0]).total_seconds() for a, b in zip(attempts, attempts[1:])]
    assert len(attempts) >= 2 and all(60 <= g <= 75 for g in gaps_s), attempts  # one per slot: no storm, no wait
    assert home.attrs(SETPOINT)["last_result"].startswith("failed: current")
    assert "too many requests" in home.attrs(SETPOINT)["last_result"]
    assert len(home.env.errors("WARNING")) == 1  # said once, not per attempt
    cloud.broken = False
    home.run(70)
    assert home.attrs(SETPOINT)["last_result"].startswith("ok: ")
    assert any("charger commands work again" in m for _, _, m in home.env.logs)


def test_a_write_the_charger_answers_lower_is_not_repeated_until_its_maximum_changes(frozen):
    """Issue 8, defect 5: the cloud clamps a current above the charger's maximum, while the
    number's max attribute is refreshed only at the next poll: the app re-sent 32 A every minute."""
    home = Home(frozen, house_w=1000, amps=6, number_handler=lambda entity_id, value: False)  # accepted, no effect
    home.run(600)
    assert home.amps() == 6
    assert len(home.current_writes()) == 1
    home.env.set_state(NUMBER, "6.0", min=6, max=16, step=1)  # the next poll shows the new maximum
    home.run(120)
    assert home.current_writes()[1:] == [16]
    home.run(900)
    assert len(home.current_writes()) == 3  # after 15 min it tries once more: 16 A, once


def test_unavailable_number_is_not_written_and_said_once(frozen):
    home = Home(frozen, house_w=1000, amps=6, start=False)
    home.env.set_state(NUMBER, "unavailable", min=6, max=32)
    home.env.load_app()
    home.env.start()
    home.run(200)
    assert home.write_log == []
    assert "is unavailable" in home.attrs(SETPOINT)["last_result"]
    assert len(home.env.errors("WARNING")) == 1


def test_value_outside_the_numbers_range_is_never_sent(frozen):
    home = Home(frozen, house_w=0, amps=6)
    home.env.set_state(NUMBER, "6.0", min=6, max=16, step=1)  # a 16 A charger, config says 32
    home.run(300)
    assert max(home.current_writes()) == 16
    home.env.assert_no_errors()


@pytest.mark.parametrize("charger", CHARGER_PLANTS)
def test_blocking_failure_of_the_pause_switch_is_caught(frozen, charger):
    def refuse(service, entity_id):
        raise stubs.HomeAssistantError("too_many_requests")

    home = Home(frozen, house_w=1000, amps=16, switch_handler=refuse, **CHARGER_PLANTS[charger])
    home.run(30)
    home.house_w = 3950
    home.run(200)
    assert "failed: pause" in home.attrs(SETPOINT)["last_result"]
    assert home.switch() == "on"


# -- 3. restart and reload ---------------------------------------------------------------------------

def test_restart_mid_quarter_keeps_the_quarters_energy(frozen):
    home = Home(frozen, house_w=3000, switch="unavailable")
    home.run(420)
    energy_before = home.attrs(QUARTER)["energy_wh"]
    home.env.restart()
    home.env.set_state(NUMBER, "6.0", min=6, max=32, step=1)
    home.env.set_state(SWITCH, "unavailable")
    home.publish_grid()
    home.run(5)
    assert home.attrs(QUARTER)["energy_wh"] >= energy_before
    assert any("restored this quarter's" in m for _, _, m in home.env.logs)


def restart_after(frozen, home, down, amps, switch):
    """Home Assistant down for `down` (nothing runs), then started with the charger showing these."""
    frozen.tick(down)
    home.env.restart(start=False)
    home.env.set_state(NUMBER, "%.1f" % amps, min=6, max=32, step=1)
    home.env.set_state(SWITCH, switch)
    home.publish_grid()
    home.env.start()


def test_restart_after_a_long_outage_does_not_restore_an_old_quarter(frozen):
    home = Home(frozen, house_w=3000, switch="unavailable")
    home.run(420)
    restart_after(frozen, home, timedelta(minutes=20), 6, "unavailable")
    home.run(5)
    assert not any("restored this quarter's" in m for _, _, m in home.env.logs)


@pytest.mark.parametrize("down_min, kept", [(5, True), (14 * 60, False)])
def test_a_restart_keeps_the_session_unless_its_departure_passed_while_home_assistant_was_down(frozen, down_min, kept):
    session = "pyscript.wallbox_balancer_session"
    home = Home(frozen, config=config_for("wallbox", departure="07:00", energy_needed=40), house_w=800)
    home.run(3600)
    plugged_at = home.attrs(session)["plugged_at"]
    restart_after(frozen, home, timedelta(minutes=down_min), 16, "on")  # from 19:00 local: 07:00 passes in the long one
    home.run(60)
    assert (home.attrs(session)["plugged_at"] == plugged_at) is kept, home.attrs(session)


def test_a_charging_car_writes_the_session_at_most_every_30_s_and_a_new_state_at_once(frozen):
    """Every state write is also a recorder write: the session's delivered energy grows at every
    5 s step while the car charges (720 writes an hour, up to 8 kB each with a plan's windows)."""
    session = "pyscript.wallbox_balancer_session"
    home = Home(frozen, config=config_for("wallbox", departure="07:00", energy_needed=40), house_w=800)
    changes = []
    set_state = home.env._async_set

    def counting(entity_id, value, attributes):
        old = home.env._get(entity_id)
        if entity_id == session and (old is None or (old.state, old.attributes) != (value, attributes)):
            changes.append((home.env.now(), value))
        set_state(entity_id, value, attributes)

    home.env._async_set = counting
    home.run(3600)
    assert home.state(session) == "short"  # 40 kWh by 07:00: charging all the time
    assert 100 <= len(changes) <= 3600 / 30 + 2, len(changes)
    home.env.set_state(SWITCH, "unavailable")  # the Wallbox's poll: the car is gone
    gone_at = home.env.now()
    home.run(10)
    assert changes[-1][1] == "no_car" and (changes[-1][0] - gone_at).total_seconds() <= 6, changes[-3:]


def test_the_session_is_written_at_once_when_its_state_or_plan_changes_not_when_only_its_figures_move():
    import balancer_publish as pub
    window = {"start": "2025-01-16T02:00:00+01:00", "end": "2025-01-16T05:00:00+01:00", "price_eur_per_kwh": 0.1}
    old = ("waiting", {"delivered_estimate_kwh": 1.0, "reason": "1.0 kWh", "windows": [window]})
    assert not pub.session_news(old, ("waiting", {"delivered_estimate_kwh": 1.1, "reason": "1.1 kWh", "windows": [window]}))
    assert pub.session_news(old, ("charging", old[1]))
    assert pub.session_news(old, ("waiting", dict(old[1], windows=[dict(window, price_eur_per_kwh=0.2)])))
    assert pub.session_news(old, ("waiting", dict(old[1], next_window_start="2025-01-16T02:00:00+01:00")))
    assert pub.session_news(None, old)


def test_any_number_of_reloads_leaves_one_controller(frozen):
    home = Home(frozen, house_w=1000, amps=16)
    home.run(30)
    for margin in (160, 170, 180, 190, 200):
        home.env.reload(dict(CONFIG, margin=margin))
    assert len([t for t in home.env.trigger_functions() if t[2] == "wallbox_balancer_tick"]) == 1
    home.house_w = 3000
    home.run(600)
    assert home.min_write_spacing_s() >= 60
    assert home.attrs(LIMIT)["margin"] == 200  # the new config took effect
    home.env.assert_no_errors()


def test_reload_keeps_the_command_slot(frozen):
    home = Home(frozen, house_w=1000, amps=6)
    home.run(3)
    assert len(home.write_log) == 1
    home.env.reload()
    home.house_w = 3000
    home.run(30)
    assert len(home.write_log) == 1  # the new context knows a write went out seconds ago


# -- 4. month rollover and DST --------------------------------------------------------------------------

def test_month_rollover_while_home_assistant_was_down(frozen):
    frozen.move_to("2025-01-31 22:00:00")  # 23:00 local
    home = Home(frozen, house_w=5000, switch="unavailable")
    home.run(1800)
    assert float(home.state(PEAK)) > 4900 and home.attrs(PEAK)["month"] == "2025-01"
    home.env.restart(start=False)
    frozen.move_to("2025-01-31 23:40:00")  # 00:40 on 1 February
    home.env.set_state(NUMBER, "6.0", min=6, max=32, step=1)
    home.env.set_state(SWITCH, "unavailable")
    home.house_w = 1000
    home.publish_grid()
    home.env.start()
    home.run(5)
    assert home.state(PEAK) == "0" and home.attrs(PEAK)["month"] == "2025-02"
    assert home.state(LIMIT) == "4000"


@pytest.mark.parametrize("start", ["2025-03-30 00:30:00", "2025-10-26 00:30:00"])
def test_dst_days_keep_quarters_clock_aligned(frozen, start):
    frozen.move_to(start)
    home = Home(frozen, house_w=1500, switch="unavailable")
    home.run(3600)
    quarter_start = home.attrs(QUARTER)["quarter_start"]
    assert quarter_start.endswith(("00:00+00:00", "15:00+00:00", "30:00+00:00", "45:00+00:00"))
    assert float(home.state(PEAK)) == pytest.approx(1500, abs=15)
    assert home.attrs(PEAK)["quarter_start"][-6:] in ("+01:00", "+02:00")


# -- 5. clock jumps and bursts -----------------------------------------------------------------------------

def test_clock_jumping_back_does_not_count_twice_or_crash(frozen):
    home = Home(frozen, house_w=2000, switch="unavailable")
    home.run(300)
    frozen.tick(timedelta(seconds=-60))
    home.run(660)
    assert float(home.state(PEAK)) <= 2000 + 1
    home.env.assert_no_errors()


def test_clock_jumping_forward_fabricates_no_energy(frozen):
    home = Home(frozen, house_w=2000, switch="unavailable")
    home.run(100)
    frozen.tick(timedelta(hours=1))
    home.run(1800)
    assert float(home.state(PEAK)) <= 2000 + 1
    # the last reading looked an hour old: one fail-safe warning until the next report, no error
    assert len(home.env.errors("WARNING")) == 1 and home.env.errors("ERROR") == []
    assert "fail-safe" not in home.attrs(SETPOINT)["reason"]


def test_bursts_every_100_ms_send_no_extra_commands(frozen):
    home = Home(frozen, house_w=1000, amps=16)
    home.run(30)
    steps_before = len([c for c in home.env.calls])
    for i in range(600):  # one minute of 10 Hz updates with a changing value
        frozen.tick(timedelta(milliseconds=100))
        home.env.set_state(GRID, str(3000 + (i % 7)), unit_of_measurement="W")
        home.env.run_time_triggers()
    assert home.min_write_spacing_s() is None or home.min_write_spacing_s() >= 60
    assert len(home.env.calls) - steps_before <= 2


# -- 6. units -----------------------------------------------------------------------------------------------

def test_unit_changes_at_runtime(frozen):
    home = Home(frozen, house_w=1500, switch="unavailable", unit="W")
    home.run(300)
    home.unit = "kW"
    home.run(600)
    assert float(home.state(PEAK)) == pytest.approx(1500, abs=15)


def test_negative_grid_and_an_export_sensor(frozen):
    config = dict(CONFIG, grid_export_power="sensor.electricity_meter_power_production")
    home = Home(frozen, config=config, house_w=0, switch="unavailable", start=False)
    home.env.set_state(GRID, "0.0", unit_of_measurement="kW")
    home.env.set_state("sensor.electricity_meter_power_production", "2.5", unit_of_measurement="kW")
    home.meter_on = False
    home.env.load_app()
    home.env.start()
    for _ in range(180):
        frozen.tick(timedelta(seconds=5))
        home.env.set_state(GRID, "0.0", unit_of_measurement="kW")
        home.env.set_state("sensor.electricity_meter_power_production", "2.5", unit_of_measurement="kW")
        home.env.run_time_triggers()
    assert home.state(PEAK) == "0"  # export is not offtake
    home.env.assert_no_errors()


# -- 7. config -----------------------------------------------------------------------------------------------

def test_broken_config_on_reload_stops_commands_and_a_fix_restarts_them(frozen):
    home = Home(frozen, house_w=1000, amps=6)
    home.run(30)
    writes = len(home.write_log)
    home.env.reload(dict(CONFIG, max_current="lots"))
    home.house_w = 200
    home.run(300)
    assert len(home.write_log) == writes
    assert any("'max_current' must be a number" in e for e in home.env.errors("ERROR"))
    home.env.reload(dict(CONFIG, max_current=20))
    home.run(300)
    assert len(home.write_log) > writes and max(home.current_writes()) <= 20


# -- 8. stopping ------------------------------------------------------------------------------------------------

def test_on_stop_sets_the_configured_current(frozen):
    home = Home(frozen, config=dict(CONFIG, on_stop=10), house_w=500, amps=6)
    home.run(120)
    assert home.amps() > 10
    home.env.reload(dict(CONFIG, max_current="broken"))  # the old context stops
    assert home.amps() == 10
    assert home.current_writes()[-1] == 10


def test_park_and_on_stop_currents_stay_inside_a_tuned_max_current(frozen):
    """max_current from an input_number at 10 A: park_current 16 and on_stop 32 pass the config
    (the range is not known then) and are held to 10 A when sent."""
    config = dict(CONFIG, max_current="input_number.ev_max_current", park_current=16, on_stop=32)
    home = Home(frozen, config=config, house_w=500, amps=6, switch="unavailable", start=False)
    home.env.set_state("input_number.ev_max_current", "10", min=6, max=32, step=1)
    home.env.load_app()
    home.env.start()
    home.run(120)
    assert home.current_writes() == [10]  # parked at the tuned maximum, not 16 A
    home.env.reload(dict(CONFIG, max_current="broken"))  # the old context stops
    assert home.current_writes()[-1] == 10  # on_stop held to it too, not 32 A


def test_on_stop_leave_sends_nothing(frozen):
    home = Home(frozen, house_w=500, amps=6)
    home.run(120)
    writes = len(home.write_log)
    home.env.restart(start=False)
    assert len(home.write_log) == writes
