"""The replay simulator (tools/): trace parsing, plant model, event loop, metrics, oracle, baselines."""

import os
from dataclasses import replace
from datetime import datetime, timezone

import pytest

from tools.controllers import OriginalAutomation, Uncontrolled
from tools.metrics import (
    evaluate,
    oracle_ev_j,
    quarter_energy,
    quarter_months,
    quarters_of,
    running_limits,
)
from tools.plant import TZ, Controller, Plant, PlantParams, plug_intervals
from tools.traces import Trace, parse_csv, parse_ha_history

T0 = datetime(2025, 1, 6, 0, 0, tzinfo=TZ).timestamp()   # a Monday, local midnight
ALWAYS = (((0, 1, 2, 3, 4, 5, 6), "00:00", "00:00"),)    # the car never leaves
REF = PlantParams(plug_windows=ALWAYS)


def flat_trace(watts, seconds, step=60.0, start=T0):
    """A trace from a list of per-step powers (one per `step` s), or a constant over `seconds`."""
    if not isinstance(watts, list):
        watts = [float(watts)] * int(seconds // step)
    times = [start + i * step for i in range(len(watts))]
    return Trace("flat", times, watts, start + len(watts) * step)


class Scripted(Controller):
    """Sends the given writes at the given times; records what it was shown."""

    name = "scripted"

    def __init__(self, script):
        self.script = script          # [(t offset, 'current'|'pause'|'resume', value)]
        self.results = []
        self.meter = []
        self.charger = []

    def on_start(self, plant, t):
        super().on_start(plant, t)
        for dt, kind, value in self.script:
            plant.call_at(T0 + dt, lambda t, k=kind, v=value: self._send(t, k, v))

    def _send(self, t, kind, value):
        if kind == "current":
            ok = self.plant.write_current(t, value)
        else:
            ok = self.plant.set_paused(t, kind == "pause")
        self.results.append((t - T0, ok))

    def on_meter(self, t, grid_w):
        self.meter.append((t - T0, grid_w))

    def on_charger(self, t, power_kw, switch, fresh):
        self.charger.append((t - T0, power_kw, switch, fresh))


# ---- traces ----------------------------------------------------------------------------------

def test_project_csv_keeps_offsets_and_the_last_minute():
    trace = parse_csv("timestamp,power_w\n2025-03-30T01:59:00+01:00,100.0\n"
                      "2025-03-30T03:00:00+02:00,200.5\n")
    # 01:59+01:00 and 03:00+02:00 are one minute apart across the DST jump
    assert trace.times[1] - trace.times[0] == 60
    assert trace.power_w == [100.0, 200.5]
    assert trace.end == trace.times[1] + 60


HISTORY = """entity_id,state,last_changed
sensor.p1,unknown,2025-01-07T16:59:00.000Z
sensor.p1,1.250,2025-01-07T17:00:00.000Z
sensor.other,300,2025-01-07T17:00:30.000Z
sensor.p1,unavailable,2025-01-07T17:01:00.500Z
sensor.p1,2.5,2025-01-07T17:03:00.500Z
sensor.p1,unknown,2025-01-07T17:04:00+00:00
sensor.p1,0.75,2025-01-07T17:05:00+00:00
sensor.p1,0.75,2025-01-07T17:06:00+00:00
"""


def test_ha_history_kw_autodetect_and_gaps_hold_the_last_value():
    trace = parse_ha_history(HISTORY, entity="sensor.p1")
    t = datetime(2025, 1, 7, 17, 0, tzinfo=timezone.utc).timestamp()
    # the leading `unknown` row is dropped; values all < 50 -> kW; gaps hold the last value
    assert trace.times == [t, t + 180.5, t + 300]
    assert trace.power_w == [1250.0, 2500.0, 750.0]
    assert trace.end == t + 360
    assert trace.gaps == [(t + 60.5, t + 180.5), (t + 240, t + 300)]
    assert any("as kW" in note for note in trace.notes)


def test_ha_history_explicit_unit_and_entity_choice():
    trace = parse_ha_history(HISTORY, entity="sensor.p1", unit="W")
    assert trace.power_w == [1.25, 2.5, 0.75]
    assert not any("as kW" in note for note in trace.notes)
    with pytest.raises(ValueError, match="--entity"):
        parse_ha_history(HISTORY)
    watts = "entity_id,state,last_changed\ns.x,1200,2025-01-07T17:00:00Z\ns.x,60,2025-01-07T17:01:00Z\n"
    trace = parse_ha_history(watts)
    assert trace.power_w == [1200.0] and trace.end - trace.times[0] == 60
    assert any("as W" in note for note in trace.notes)


# ---- plant -----------------------------------------------------------------------------------

def run_script(script, trace=None, params=REF):
    trace = trace or flat_trace(1000.0, 1800)
    ctl = Scripted(script)
    result = Plant(trace, params).run(ctl)
    return ctl, result


def test_cloud_rate_limit_429_within_60_s_and_rejections_do_not_extend_it():
    ctl, run = run_script([(100, "current", 10), (130, "current", 12), (159.5, "pause", None),
                           (160, "current", 14), (200, "resume", None), (230, "current", 16)])
    assert ctl.results == [(100, True), (130, False), (159.5, False), (160, True), (200, False),
                           (230, True)]
    assert [w[3] for w in run.writes] == ["ok", "429", "429", "ok", "429", "ok"]
    assert [(w[0] - T0, w[2]) for w in run.writes if w[3] == "ok"] == [(100, 10), (160, 14),
                                                                         (230, 16)]


def test_rejected_writes_can_be_made_to_restart_the_window():
    params = replace(REF, reject_resets_window=True)
    ctl, _ = run_script([(100, "current", 10), (130, "current", 12), (170, "current", 14),
                         (230, "current", 16)], params=params)
    assert ctl.results == [(100, True), (130, False), (170, False), (230, True)]


def test_charger_responds_after_its_delay_and_the_meter_lags():
    ctl, run = run_script([(100, "current", 10), (200, "pause", None), (300, "resume", None)])
    steps = [(t - T0, w) for t, w in zip(run.ev_times, run.ev_w)]
    assert steps == [(0, 7360.0), (120, 2300.0), (220, 0.0), (320, 2300.0)]
    meter = dict(ctl.meter)
    assert meter[121] == 1000 + 7360   # shows t=119: not yet
    assert meter[126] == 1000 + 2300   # shows t=124
    assert meter[221] == 1000 + 2300 and meter[226] == 1000


def test_charger_power_sensor_polls_and_write_answers_restart_the_timer():
    ctl, _ = run_script([(100, "current", 10), (200, "pause", None)], trace=flat_trace(1000.0, 900))
    assert ctl.charger[:8] == [
        (0, 7.36, "on", True), (90, 7.36, "on", True),
        # the write's answer re-writes the old reading and restarts the 90 s poll timer
        (100, 7.36, "on", False), (190, 2.3, "on", True),
        # the pause's refresh reads the charger before it reacted (it pauses at 220)
        (200, 2.3, "on", True), (290, 0.0, "off", True), (380, 0.0, "off", True),
        (470, 0.0, "off", True)]


def test_a_local_charger_reports_each_change_once_and_its_energy_on_a_period():
    local = replace(REF, charger_reports="on_change", charger_delay=5.0)
    ctl, run = run_script([(100, "current", 10), (200, "pause", None), (300, "resume", None)],
                          trace=flat_trace(1000.0, 360), params=local)
    changes = [c for c in ctl.charger if c[0] in (0, 105, 205, 305)]
    # at start what it shows; then each change when the car's draw changed (5 s after the write),
    # nothing at the write itself (no echo, no refresh) and no poll
    assert changes == [(0, 7.36, "on", True), (105, 2.3, "on", True), (205, 0.0, "off", True), (305, 2.3, "on", True)]
    energy = [c[0] for c in ctl.charger if c[0] not in (0, 105, 205, 305)]
    assert energy == [30, 60, 90, 120, 150, 180, 210, 330]  # every 30 s while the added energy changes
    steps = [(t - T0, w) for t, w in zip(run.ev_times, run.ev_w)]
    assert steps == [(0, 7360.0), (105, 2300.0), (205, 0.0), (305, 2300.0)]


def test_the_real_app_learns_a_local_charger_and_keeps_the_quarter():
    """Three evening hours of a local charger through the real app: it recognises on-change reports
    and the car alone never pushes a quarter over the limit (own fault 0 W), as on the Wallbox plant."""
    pytest.importorskip("stubs")
    from tools.app_controller import AppController
    trace = flat_trace([1500.0] * 90 + [5500.0] * 20 + [1500.0] * 70, 0, start=T0 + 17 * 3600)
    ctl = AppController()
    run = Plant(trace, replace(PlantParams(), charger_reports="on_change", charger_delay=5.0)).run(ctl)
    assert ctl.notes == []
    assert ctl.env._get("pyscript.wallbox_balancer_setpoint").attributes["charger_reports"] == "on_change"
    m = evaluate(run)
    assert m.ev_kwh > 0 and m.own_fault_w == 0 and all(w[3] == "ok" for w in run.writes if w[3] in ("ok", "429"))


def test_plug_windows_and_pause_skipped_without_a_car():
    params = PlantParams()  # Mon-Fri 18:00-07:30, Sat/Sun 12:00-18:00
    mon = T0
    spans = plug_intervals(params, mon, mon + 7 * 86400)
    # Sunday evening is no weekday evening: Monday starts unplugged
    assert spans[0] == (mon + 18 * 3600, mon + 86400 + 7.5 * 3600)
    sat = mon + 5 * 86400
    assert (sat + 12 * 3600, sat + 18 * 3600) in spans
    trace = flat_trace(500.0, 10 * 3600)                  # Monday 00:00-10:00
    ctl, run = run_script([(9 * 3600, "pause", None), (9 * 3600 + 100, "current", 8)],
                          trace=trace, params=params)
    assert ctl.results == [(9 * 3600, False), (9 * 3600 + 100, True)]
    assert run.writes[0][3] == "skipped"
    assert [(t - T0, w) for t, w in zip(run.ev_times, run.ev_w)] == [(0, 0.0)]


# ---- metrics ---------------------------------------------------------------------------------

def test_quarter_energy_is_exact_on_a_hand_case():
    # house: 1000 W for 450 s, 3000 W for 450 s, 500 W for a quarter (steps off the minute grid)
    trace = Trace("hand", [T0, T0 + 450, T0 + 900], [1000.0, 3000.0, 500.0], T0 + 1800)
    # EV: 7360 W from the start, 10 A from 120 s (write at 100), paused from 620 s (write at 600)
    ctl, run = run_script([(100, "current", 10), (600, "pause", None)], trace=trace)
    q = quarters_of(run)
    assert q.house_j == [1000 * 450 + 3000 * 450, 500 * 900]
    assert q.ev_j == [7360 * 120 + 2300 * (620 - 120), 0]
    assert q.plugged_s == [900, 900]
    assert q.total_w[0] == (1000 * 450 + 3000 * 450 + 7360 * 120 + 2300 * 500) / 900
    k0 = int(T0 // 900)
    assert quarter_energy([T0 + 800, T0 + 1000], [100.0, 0.0], T0 + 1800, k0, 2) == [10000, 10000]


def test_oracle_on_a_hand_computed_case():
    house_w = [1000, 5000, 3000, 4500, 3000]
    house_j = [w * 900.0 for w in house_w]
    plugged = [900, 900, 200, 900, 0]
    months = [(2025, 1)] * 4 + [(2025, 2)]
    ev = oracle_ev_j(house_j, plugged, [0.0] * 5, months, 4000, 7360)
    assert ev == [3000 * 900,          # limit 4000 (target)
                  0,                   # the house alone breaks 4000: nothing
                  7360 * 200,          # limit 5000 now, but only 200 s plugged
                  500 * 900,           # limit 5000
                  0]                   # new month, unplugged
    assert running_limits([1000, 5000, 3000, 6000, 100], months, 4000) == [4000, 4000, 5000, 5000,
                                                                            4000]


def test_months_are_local():
    k = int(datetime(2025, 2, 1, 0, 0, tzinfo=TZ).timestamp() // 900)   # 2025-01-31 23:00 UTC
    assert quarter_months(k - 1, 2) == [(2025, 1), (2025, 2)]


def test_metrics_own_fault_and_exposure():
    # house 3000 W then a 6000 W quarter; uncontrolled 7360 W all along
    trace = flat_trace([3000.0] * 15 + [6000.0] * 15 + [3000.0] * 15, 0)
    run = Plant(trace, REF).run(Uncontrolled())
    m = evaluate(run)
    assert m.peak_house_w == 6000 and m.peak_ev_w == 13360
    assert m.ev_increase_w == 7360
    # q0: house 3000 <= 4000: own fault 10360 - 4000; q1: house 6000 > limit 10360? no:
    # limit at q1 = 10360 (the peak with EV of q0), house within -> own fault 13360 - 10360
    assert m.own_fault_w == pytest.approx(6360)
    assert m.exposure_max_w == 0
    assert m.ev_kwh == pytest.approx(7.36 * 0.75)
    assert m.oracle_kwh == pytest.approx((1000 * 900 + 0 + 1000 * 900) / 3.6e6 + 2000 * 900 / 3.6e6)


# ---- baselines -------------------------------------------------------------------------------

def test_uncontrolled_charges_at_max_while_plugged_and_sends_nothing():
    params = PlantParams()
    trace = flat_trace(800.0, 20 * 3600)                 # Monday 00:00-20:00
    run = Plant(trace, params).run(Uncontrolled())
    assert run.writes == []
    # plugged in at 18:00, the car draws 20 s later, at the held maximum
    assert [(t - T0, w) for t, w in zip(run.ev_times, run.ev_w)] == [(0, 0.0),
                                                                     (18 * 3600 + 20, 7360.0)]
    assert evaluate(run).ev_kwh == pytest.approx(7.36 * (2 * 3600 - 20) / 3600)


def test_original_automation_waits_10_s_writes_every_firing_and_never_pauses():
    trace = flat_trace([1000.0] * 10 + [6000.0] * 5 + [1000.0] * 5, 0)
    run = Plant(trace, REF).run(OriginalAutomation())
    writes = [(w[0] - T0, w[2], w[3]) for w in run.writes]
    # meter at 1 s shows 1000 + 7360: fires at 11 s -> 6 A (accepted), effective at 31 s;
    # meter at 36 s shows 2380 W: fires at 46 s -> int(1620/230) = 7 A, 429 (within 60 s)
    assert writes[:2] == [(11, 6, "ok"), (46, 7, "429")]
    # the house steps to 6000 W at 600 s; the meter shows 7380 W at 606 s: fires at 616 s -> 6 A
    assert writes[2] == (616, 6, "ok")
    # the quarter ends at 900 s above 4000 W: the limit sensor changes and fires 10 s later; the
    # house is back at 1000 W (meter 2380 W from 906 s), whose own firing at 916 s is a 429
    q0 = (1000 * 600 + 6000 * 300 + 7360 * 31 + 1380 * (900 - 31)) / 900
    assert q0 > 4000
    amps = int((q0 - 2380) / 230)
    assert writes[3:5] == [(910, amps, "ok"), (916, amps, "429")]
    assert all(w[1] == "current" for w in run.writes)
    assert min(run.ev_w) == 6 * 230


# ---- the real app through the stubs --------------------------------------------------------

def test_the_real_app_replays_through_the_stubs():
    pytest.importorskip("stubs")
    from tools.app_controller import APP_PATH, AppController
    if not os.path.exists(APP_PATH):
        pytest.skip("the app is not there yet")
    # Monday 17:00-20:00: the car plugs in at 18:00 into a 1.5 kW house with a 4 kW hob at 18:30
    trace = flat_trace([1500.0] * 90 + [5500.0] * 20 + [1500.0] * 70, 0, start=T0 + 17 * 3600)
    ctl = AppController()
    run = Plant(trace, PlantParams()).run(ctl)
    assert ctl.notes == []                                   # nothing at WARNING or above
    sent = [w for w in run.writes if w[3] in ("ok", "429")]
    assert sent and all(w[3] == "ok" for w in sent)          # it commands, and never into a 429
    assert ctl.env.calls                                     # ... through Home Assistant services
    m = evaluate(run)
    assert m.ev_kwh > 0
