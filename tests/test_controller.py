"""Controller.step tested directly, evcc-style: a Reading and a clock in, a Decision out.

No stubs, no Home Assistant: each case builds the settings, steps the controller through a short
script of readings, and checks the decision. The stubs-level tests keep what only the glue shows.
"""

from datetime import datetime, timedelta, timezone

import pytest

import balancer_drift
import balancer_history
from balancer_charger import ChargerObservation
from balancer_commands import CURRENT, PAUSE, RESUME
from balancer_config import validate
from balancer_controller import (
    GRID_FAILSAFE,
    GRID_GAP,
    GRID_OK,
    GRID_WAITING,
    MODE_FAST,
    MODE_OFF,
    MODE_PAUSED,
    Controller,
    Reading,
)

T0 = datetime(2025, 1, 15, 17, 0, tzinfo=timezone.utc)  # 18:00 local, a quarter start
SWITCH = "switch.wb_pause_resume"
BASE = {"grid_power": "sensor.grid", "current_number": "number.wb_current", "pause_switch": SWITCH,
        "target_peak": 4000, "charger_power": "sensor.wb_power"}


def at(seconds):
    return T0 + timedelta(seconds=seconds)


def controller(**config):
    settings, errors = validate(dict(BASE, **config))
    assert not errors, errors
    return Controller(settings)


def reading(seconds, grid_w=1000.0, amps=16, switch="on", status=None, power_w=None, polled=0, mode="auto",
            target=4000, min_a=6, max_a=32, reported=None, repeated=True, **meter):
    """A Reading at `seconds`: the grid reported at `reported` (default: now), the charger's
    entities last written at `polled`, by default as a polled charger writes them (again, changed
    or not)."""
    charger = ChargerObservation(amps=amps, number_max=32, switch=switch, status=status, power_w=power_w,
                                 reported_at=at(polled), repeated=repeated)
    grid_at = at(seconds if reported is None else reported) if grid_w is not None else None
    return Reading(grid_w, grid_at, charger, target, min_a, max_a, mode, **meter)


def run(ctrl, seconds, **fields):
    return ctrl.step(at(seconds), reading(seconds, **fields))


class Car:
    """The charger and car as the controller sees them: paused or drawing amps x 230 V. Every write
    is sent, accepted and applied at once."""

    def __init__(self, amps=6, paused=True):
        self.amps, self.paused = amps, paused
        self.writes = []  # (seconds, write)

    def draw_w(self):
        return 0.0 if self.paused else self.amps * 230.0

    def switch(self):
        return "off" if self.paused else "on"

    def step(self, ctrl, seconds, r):
        """ctrl.step on the reading r; its write, if any, applied to the car."""
        d = ctrl.step(at(seconds), r)
        if d.write is not None:
            ctrl.command_sent(at(seconds))
            ctrl.command_accepted(at(seconds), d.write)
            self.writes.append((seconds, d.write))
            kind, amps = d.write
            if kind == PAUSE:
                self.paused = True
            elif kind == RESUME:
                self.paused = False
            else:
                self.amps = amps
        return d


@pytest.mark.parametrize("mode, write, reason", [
    (MODE_FAST, (CURRENT, 32), "fast: 32 A"),
    (MODE_PAUSED, (PAUSE, None), "paused by the user"),
    (MODE_OFF, None, "off: the balancer leaves the charger alone"),
])
def test_each_mode(mode, write, reason):
    ctrl = controller()
    d = run(ctrl, 0, grid_w=4680.0, amps=16, mode=mode)
    assert d.write == write and reason in d.reason


def test_auto_gives_the_quarter_budget_to_the_car():
    d = run(controller(), 0, grid_w=2380.0, amps=6)  # house 1000 W + car 1380 W
    assert d.grid == GRID_OK and d.write == (CURRENT, 12) and d.want_a == 12  # about 2900 W / 230 V, floored
    assert d.limit_w == 4000 and d.house_w == pytest.approx(1000)


def test_a_decrease_waits_while_the_quarter_can_carry_the_present_current():
    d = run(controller(), 0, grid_w=5680.0, amps=16)  # 7 A would do; 16 A for another minute still fits
    assert d.write is None and d.want_a == 16


def test_a_full_house_pauses_and_a_quiet_one_resumes_after_resume_after():
    ctrl = controller(resume_after=120)
    d = run(ctrl, 0, grid_w=3980.0 + 3680.0, amps=16)
    for seconds in (5, 60, 180, 200):  # a sustained shortfall: the minimum is held at most 180 s
        d = run(ctrl, seconds, grid_w=3980.0 + 1380.0, amps=6, polled=seconds)
    assert d.want_paused and d.write == (PAUSE, None)
    ctrl.command_sent(at(200))
    ctrl.command_accepted(at(200), d.write)
    d = run(ctrl, 205, grid_w=500.0, amps=6, switch="on", polled=200)
    assert d.want_paused and d.write is None  # the switch shows the old state: the pause is believed
    writes = [run(ctrl, s, grid_w=500.0, amps=6, switch="off", polled=s).write for s in range(290, 480, 30)]
    assert (RESUME, None) in writes


def test_a_charger_that_reports_on_change_is_resumed_and_raised_without_a_poll():
    """Issue 14: its switch and number are written once, when they change; no poll ever comes."""
    ctrl = controller(resume_after=120, charger_reports="on_change")
    d = run(ctrl, 0, grid_w=3980.0 + 3680.0, amps=16, repeated=False)
    for seconds in (5, 60, 180, 200):
        d = run(ctrl, seconds, grid_w=3980.0 + 1380.0, amps=6, repeated=False)
    assert d.write == (PAUSE, None)
    ctrl.command_sent(at(200))
    ctrl.command_accepted(at(200), d.write)
    writes = {}
    for seconds in range(205, 600, 5):  # a quiet house; the switch shows the resume 10 s after it
        on = RESUME in writes and seconds >= writes[RESUME] + 10
        d = run(ctrl, seconds, grid_w=500.0 + (1380.0 if on else 0.0), amps=6, switch="on" if on else "off",
                polled=writes[RESUME] + 10 if on else 210, repeated=False)
        if d.write is not None:
            writes.setdefault(d.write[0], seconds)
            ctrl.command_sent(at(seconds))
            ctrl.command_accepted(at(seconds), d.write)
    assert writes[RESUME] <= 200 + 120 + 2 * 60 and writes[CURRENT] <= writes[RESUME] + 60 + 5


@pytest.mark.parametrize("failsafe, switch, write", [
    ("pause", SWITCH, (PAUSE, None)),
    ("min_current", SWITCH, (CURRENT, 6)),
    ("min_current", None, (CURRENT, 6)),
])
def test_the_fail_safe_after_stale_after(failsafe, switch, write):
    ctrl = controller(failsafe=failsafe, pause_switch=switch)
    run(ctrl, 0, grid_w=4680.0, amps=16)
    ctrl.command_sent(at(0))  # the slot is taken: the fail-safe waits for the next one
    assert run(ctrl, 30, grid_w=None, amps=16).grid == GRID_GAP
    d = run(ctrl, 61, grid_w=None, amps=16, switch="on" if switch else None)
    assert d.grid == GRID_FAILSAFE and d.write == write and "fail-safe" in d.reason


def test_no_grid_reading_since_the_start_waits_stale_after_then_fails_safe():
    ctrl = controller()
    d = run(ctrl, 0, grid_w=None)
    assert d.grid == GRID_WAITING and d.write is None
    assert run(ctrl, 61, grid_w=None).grid == GRID_FAILSAFE


def test_a_gap_within_stale_after_raises_nothing():
    ctrl = controller()
    run(ctrl, 0, grid_w=1000.0 + 1380.0, amps=6)  # room for much more
    ctrl.command_sent(at(-60))
    d = run(ctrl, 10, grid_w=None, amps=6)
    assert d.grid == GRID_GAP and d.write is None


@pytest.mark.parametrize("polled, house_w", [
    (60, 3300.0 - 2300.0),  # a real poll after the change took effect: the car draws 2300 W
    (11, 3300.0 - 12 * 230),  # the write's echo (old data, fresh last_reported): the setpoint's power
])
def test_the_charger_power_counts_only_from_a_real_read_after_the_change(polled, house_w):
    ctrl = controller()
    run(ctrl, 0, grid_w=3300.0, amps=10, power_w=2300.0, polled=0)
    ctrl.command_sent(at(10))
    ctrl.command_accepted(at(10), (CURRENT, 12))
    d = run(ctrl, 100, grid_w=3300.0, amps=12, power_w=2300.0, polled=polled)
    assert d.house_w == pytest.approx(house_w)


def test_an_increase_is_damped_by_half_an_amp():
    ctrl = controller()
    # allowance just above 13 A (2990 W) but below 13.5 A: stay at 12 A
    d = run(ctrl, 0, grid_w=1000.0 + 2760.0 - 150.0, amps=12, polled=0)
    assert d.want_a == 12 and d.write is None


def test_the_meter_registers_raise_the_limit_and_count_the_quarter():
    ctrl = controller(average_demand="sensor.avg", monthly_peak_meter="sensor.peak")
    d = run(ctrl, 450, grid_w=4680.0, amps=16, meter_average_w=2500.0, meter_average_at=at(449),
            meter_peak_w=5200.0, meter_peak_changed_at=at(-86400))
    assert d.peak_w == 5200 and d.limit_w == 5200
    assert d.energy_j >= 2500.0 * 900  # the meter's own energy of the quarter, when higher


def test_no_car_parks_once_and_a_full_car_gets_nothing():
    ctrl = controller(charger_status="sensor.wb_status")
    d = run(ctrl, 0, amps=16, switch="unavailable", status="Ready")
    assert d.write == (CURRENT, 6) and d.car == "none"
    ctrl.command_sent(at(0))
    ctrl.command_accepted(at(0), d.write)
    assert run(ctrl, 120, amps=16, switch="unavailable", status="Ready").write is None  # readback lagging: parked already
    d = run(ctrl, 300, grid_w=1000.0, amps=16, status="Waiting for car demand", polled=290)
    assert d.car == "not asking" and d.write is None


def test_a_quarter_not_watched_from_its_start_never_sets_the_peak():
    ctrl = controller()
    run(ctrl, 600, grid_w=7400.0, amps=32)
    d = run(ctrl, 900, grid_w=1000.0, amps=6)
    assert d.own_peak_w == 0 and d.peak_raised == [] and len(d.incomplete_quarters) == 1


def test_a_slow_meter_s_held_readings_never_raise_the_own_peak_above_what_was_drawn():
    """A 30 s meter: each drop is known only at the next report. The own peak takes each span
    beyond 5 s up to a lower reading at that reading, also for the quarter's last span, which the
    next quarter's first report settles."""
    ctrl = controller()
    for k in range(30):
        run(ctrl, 30 * k, grid_w=6000.0 if k < 15 else 5000.0, amps=6, switch="off")
    d = run(ctrl, 900, grid_w=None, amps=6, switch="off")  # the quarter closes between two reports
    held_w = (6000.0 * 450 + 5000.0 * 450) / 900
    assert d.own_peak_w == pytest.approx(held_w - 1000.0 * 25 / 900)
    d = run(ctrl, 902, grid_w=1000.0, reported=900, amps=6, switch="off")
    assert d.own_peak_w == pytest.approx(held_w - 1000.0 * 25 / 900 - 4000.0 * 25 / 900)
    assert d.limit_w == d.own_peak_w  # above the 4 kW target: the car fills up to the sure figure
    ctrl = controller()
    for k in range(30):
        run(ctrl, 30 * k, grid_w=6000.0 if k < 15 else 5000.0, amps=6, switch="off")
    d = run(ctrl, 902, grid_w=1000.0, reported=900, amps=6, switch="off")  # closes and lowers it at once
    assert d.own_peak_w == pytest.approx(held_w - 1000.0 * 25 / 900 - 4000.0 * 25 / 900)


# -- the session planner (issue 10) -------------------------------------------------------------

def busy_evening_profile(evening_w=3000.0, jump_w=1000.0):
    """Weekday evenings 17:00-21:00 local: a 3 kW house that jumps 1 kW every other day; nights: 300 W."""
    from balancer_profile import LoadProfile
    profile = LoadProfile()
    for day in range(14):
        for quarter in range(96):
            start = datetime(2025, 1, 6, tzinfo=timezone.utc) + timedelta(days=day, minutes=15 * quarter)
            local_hour = (start + timedelta(hours=1)).hour
            busy = 17 <= local_hour < 21
            profile.observe(start, (evening_w + (jump_w if day % 2 else 0.0)) if busy else 300.0)
    return profile.as_dict()


def planned(profile=None, **config):
    ctrl = controller(departure="07:30", energy_needed=10, charger_status="sensor.wb_status", **config)
    ctrl.restore_session({}, profile or busy_evening_profile())
    return ctrl


def plan_reading(seconds, need=10.0, **fields):
    r = reading(seconds, status="Charging", polled=seconds, **fields)
    r.departure, r.energy_needed_kwh = "07:30", need
    return r


def test_a_busy_evening_waits_for_the_quiet_night_and_the_need_is_planned_by_departure():
    ctrl = planned()
    d = ctrl.step(at(0), plan_reading(0, grid_w=4680.0, amps=16))  # 18:00 local, a Wednesday
    assert d.session_state == "waiting" and d.write == (PAUSE, None)
    assert d.session_attributes["on_track"] and d.session_attributes["energy_needed_kwh"] == 10.0
    assert d.session_attributes["next_window_start"] >= "2025-01-15T21:00"
    late = ctrl.step(at(4 * 3600), plan_reading(4 * 3600, grid_w=300.0, amps=6, switch="off"))  # 22:00 local
    assert late.session_state == "charging"


def test_a_need_that_cannot_be_met_says_short_and_charges_now():
    ctrl = planned()
    d = ctrl.step(at(0), plan_reading(0, need=150.0, grid_w=4680.0, amps=16))
    assert d.session_state == "short" and d.session_attributes["short_kwh"] > 0
    assert d.write != (PAUSE, None)


def test_a_need_changed_mid_session_is_planned_again():
    ctrl = planned()
    assert ctrl.step(at(0), plan_reading(0, grid_w=4680.0, amps=16)).session_state == "waiting"
    assert ctrl.step(at(5), plan_reading(5, need=150.0, grid_w=4680.0, amps=16)).session_state == "short"


def test_the_session_and_the_profile_survive_a_restart():
    ctrl = planned()
    ctrl.step(at(0), plan_reading(0, grid_w=4680.0, amps=16))
    saved_session, saved_profile = ctrl.session_snapshot(), ctrl.profile.as_dict()
    again = planned()
    again.restore_session(saved_session, saved_profile)
    assert again.session.plugged_at == at(0) and again.profile.as_dict() == saved_profile


def test_a_session_whose_departure_passed_while_the_app_was_down_is_a_new_one():
    """Home Assistant down from Wednesday 20:00 to Thursday 18:00: the car may have left at 07:30
    and come back unseen. Yesterday's 7 kWh and a departure already passed would leave it short."""
    ctrl = planned()
    for s in range(0, 2 * 3600, 5):  # 18:00-20:00 local at 16 A, no session counter: the estimate
        ctrl.step(at(s), plan_reading(s, grid_w=4680.0, amps=16, power_w=3680.0))
    saved = ctrl.session_snapshot()
    assert saved["delivered_estimate_kwh"] > 7
    for down_s, kept in ((300, True), (22 * 3600, False), (13 * 3600, False)):
        again = planned()
        again.restore_session(saved, ctrl.profile.as_dict(), at(2 * 3600 + down_s), at(2 * 3600))
        t = 2 * 3600 + down_s
        d = again.step(at(t), plan_reading(t, grid_w=800.0, amps=6))
        assert (d.session_attributes["delivered_kwh"] > 7) is kept, (down_s, d.session_attributes)
        if not kept:
            assert again.session.plugged_at == at(t) and "passed" not in d.session_attributes["reason"]
    later = controller(charger_status="sensor.wb_status")  # no departure to tell
    later.restore_session(saved, ctrl.profile.as_dict(), at(2 * 3600 + 13 * 3600), at(2 * 3600))
    assert later.session is None  # saved 13 h before: not taken back
    later.restore_session(saved, ctrl.profile.as_dict(), at(2 * 3600 + 300), at(2 * 3600))
    assert later.session.plugged_at == at(0)


def test_a_restart_takes_the_recorders_peak_only_for_quarters_the_app_did_not_watch():
    """The recorder's 5-minute means hold each state until the next: a 30 s meter's kettle counts
    in full there, where the app's own peak counts what is sure. After a restart its own figure
    stands for the quarters it watched; the recorder's for those before and since."""
    ctrl = controller()
    reports = {t: (4800.0 if 60 <= t <= 300 else 800.0) for t in range(0, 1830, 30)}  # a kettle, 60-300 s
    for s in range(0, 1805, 5):
        last = s - s % 30
        ctrl.step(at(s), reading(s, grid_w=reports[last], amps=6, switch="off", reported=last))
    sure_w = ctrl.peak.peak_w

    def rows(first_s, means):
        return [{"start": at(first_s + 300 * k).isoformat(), "mean": w} for k, w in enumerate(means)]

    held = rows(0, [sum(reports[t - t % 30] for t in range(a, a + 300)) / 300.0 for a in range(0, 1800, 300)])
    for before, since, expected_w in (([], [], sure_w), ([5000.0] * 3, [], 5000.0), ([], [6000.0] * 3, 6000.0)):
        now = at(1805 + 900 * len(since))
        again = controller()
        assert again.peak.restore_snapshot(ctrl.peak.snapshot(), None, now)
        again.restore_session({}, {}, now, at(1800))  # the app's last save
        history = balancer_history.read(now, rows(-900, before) + held + rows(1800, since), [])
        assert history.peak_w > sure_w + 50  # what the recorder says of the kettle's quarter
        again.seed_history(now, history, True)
        assert again.peak.peak_w == pytest.approx(expected_w, abs=1), (before, since)  # the saved peak is whole W


def test_a_restart_during_a_pause_keeps_the_resume_wait():
    """The house drops to leave 1.45 kW beside a 1.38 kW minimum (less than RESUME_MARGIN_W above
    it): without a restart the car stays paused; a restart must not resume it at once."""
    resumed = []
    for restart in (False, True):
        ctrl, car = controller(), Car(amps=6, paused=False)
        for s in range(0, 900, 5):
            if restart and s == 300:
                last_write_at, quarter = ctrl.gate.last_write_at, ctrl.meter.snapshot(at(s))
                ctrl = controller()  # what the glue's restore takes back
                ctrl.restore_command(last_write_at)
                assert ctrl.meter.restore_snapshot(quarter, at(s))
            house_w = 3500.0 if s < 300 else 2400.0
            car.step(ctrl, s, reading(s, grid_w=house_w + car.draw_w(), amps=car.amps, switch=car.switch(), polled=s))
        assert car.writes[0][1] == (PAUSE, None)
        resumed.append([s for s, write in car.writes if write[0] == RESUME])
    assert len(resumed[1]) == 1 and resumed[1][0] >= 300 + 120, resumed  # resume_after from the restart at least
    assert abs(resumed[1][0] - resumed[0][0]) <= 30, resumed


def test_without_departure_and_need_the_car_charges_as_the_budget_allows():
    ctrl = controller(charger_status="sensor.wb_status")
    d = run(ctrl, 0, grid_w=2380.0, amps=6, status="Charging")
    assert d.session_state == "charging" and d.write == (CURRENT, 12)


def test_a_meter_that_reports_every_30_s_widens_the_margin():
    """A house jump stays hidden for a slow meter's whole period: the budget keeps that much back."""
    wants = {}
    for period in (5, 30):
        ctrl = controller()
        d = None
        for seconds in range(0, 121, period):
            d = ctrl.step(at(seconds), reading(seconds, grid_w=1000.0 + 2760.0, amps=12, polled=seconds))
        wants[period] = ctrl._blind_margin_w()
    assert wants[5] == 0 and wants[30] == pytest.approx(25 * 4000 / 900)


# -- risk without a plan (issue 15) -------------------------------------------------------------

def jumpy_weekday_evenings():
    """Fourteen days before T0: weekday evenings 18:00-19:00 local draw 1000 W, every other day
    2600 W (a hob): a usual jump of about 400 W; the rest of the day 300 W."""
    from balancer_profile import LoadProfile
    profile = LoadProfile()
    first = datetime(2024, 12, 31, 23, 0, tzinfo=timezone.utc)  # 1 January, local midnight
    for day in range(14):
        for quarter in range(96):
            start = first + timedelta(days=day, minutes=15 * quarter)
            evening = (start + timedelta(hours=1)).hour == 18
            profile.observe(start, (2600.0 if day % 2 else 1000.0) if evening else 300.0)
    return profile


def risky(profile=None, **config):
    ctrl = controller(**config)
    ctrl.restore_session({}, (profile or jumpy_weekday_evenings()).as_dict())
    return ctrl


@pytest.mark.parametrize("status", ["Unknown", "Error", "Connected"])
def test_a_car_plugged_in_under_a_status_that_says_nothing_is_paused_where_the_budget_says_so(status):
    """Ready (no car) then a status that says nothing (Unknown: the Wallbox integration's word for
    a status id it does not know): the switch shows the car, so a full house pauses it, instead of
    leaving it at the park current, uncontrolled."""
    car = Car(amps=16, paused=False)
    ctrl = controller(charger_status="sensor.wb_status")
    for t in range(0, 120, 5):
        car.step(ctrl, t, reading(t, grid_w=3800.0, amps=car.amps, switch="unavailable", status="Ready", power_w=0.0, polled=t))
    assert car.writes == [(0, (CURRENT, 6))]  # parked
    for t in range(120, 900, 5):
        car.step(ctrl, t, reading(t, grid_w=3800.0 + car.draw_w(), amps=car.amps, switch=car.switch(), status=status,
                                  power_w=car.draw_w(), polled=t))
    assert (PAUSE, None) in [write for _, write in car.writes]


def hold(ctrl, seconds, **fields):
    """The same reading every 5 s for `seconds`; the decisions."""
    return [run(ctrl, t, **fields) for t in range(0, seconds + 1, 5)]


def test_without_a_plan_the_car_stays_out_where_a_usual_jump_of_the_house_would_leave_it_too_little():
    profile = jumpy_weekday_evenings()
    assert 300 < profile.usual_jump_w(T0) < 600  # about 490 W
    # house 2000 W + car 6 A: about 1.87 kW left for the car, less than 1.38 kW + two usual jumps
    decisions = hold(risky(profile), 240, grid_w=3380.0, amps=6)
    assert decisions[0].want_a == 6 and not decisions[0].want_paused  # a short spike is held at the minimum
    assert (PAUSE, None) in [d.write for d in decisions]
    assert decisions[-1].reason.startswith("paused: the house usually rises 0.5 kW in this quarter; with 1.0 kW kept for 2 such rises, too little is left")


def test_where_nothing_is_learnt_or_there_is_room_for_the_jump_the_car_charges_as_before():
    from balancer_profile import LoadProfile
    unknown = hold(risky(LoadProfile()), 240, grid_w=3380.0, amps=6)  # the neutral start: no reserve
    assert [d.write for d in unknown][:1] == [(CURRENT, 7)] and all(not d.want_paused for d in unknown)
    roomy = run(risky(), 0, grid_w=1880.0, amps=6)  # house 500 W: 3.3 kW for the car, the usual jump fits beside it
    assert roomy.write == (CURRENT, 14) and roomy.want_a == run(risky(LoadProfile()), 0, grid_w=1880.0, amps=6).want_a


def test_a_plan_chooses_the_quarters_and_the_room_for_the_usual_jump_still_holds_inside_them():
    ctrl = risky(departure="07:30", energy_needed=150, charger_status="sensor.wb_status")
    decisions = [ctrl.step(at(t), plan_reading(t, need=150.0, grid_w=3380.0, amps=6)) for t in range(0, 241, 5)]
    assert decisions[0].session_state == "short"  # more than fits: the plan charges in every quarter
    assert (PAUSE, None) in [d.write for d in decisions]  # but not beside a usual jump it has no room for


def test_without_a_plan_a_house_above_its_usual_high_is_not_held_into_the_next_quarter():
    """The car charges beside a 1 kW house; in the quarter's last two minutes the house rises. The
    steady rate then leaves the car less than its minimum while the quarter could still carry the
    minimum until a pause, and a command sent in the last 80 s still holds at the next quarter's
    start. Where the house draws no more than its usual high there, the car holds the minimum (a
    spike); above it (H4_4p_2025-01 3-phase, Sun 19 January 17:45: a 4.75 kW house jumped to
    8.2 kW, and the car's minimum held into that quarter added 502 W) it pauses at this quarter's
    end, before the next quarter's room is spent."""
    profile = jumpy_weekday_evenings()
    usual_high_w = profile.high_w(at(900))
    assert 3000 < usual_high_w < 3400

    def quarter_end(house_w):
        ctrl = risky(profile)
        decisions = [run(ctrl, t, grid_w=(1000.0 if t < 780 else house_w) + 1380.0, amps=6, polled=t)
                     for t in range(0, 846, 5)]
        return [d for d in decisions if d.remaining_s < 80]

    assert all(not d.want_paused and d.want_a == 6 and d.write is None for d in quarter_end(usual_high_w - 300.0))
    above = quarter_end(usual_high_w + 500.0)
    assert above[0].want_paused and above[0].write == (PAUSE, None)


def test_before_the_next_quarter_is_learnt_a_house_above_the_prior_is_held_into_it():
    """The same end of a quarter with a profile that has learnt nothing: its 'usual high' is the
    prior's, not the house's, so a house above it is not out of the ordinary and the car holds its
    minimum into the next quarter (a fresh install paused at every quarter's end otherwise: a
    charger that reports on change stayed off after a pause in real Home Assistant)."""
    from balancer_profile import LoadProfile
    profile = LoadProfile()
    assert not profile.learnt(at(900))
    ctrl = risky(profile)
    house_w = profile.high_w(at(900)) + 500.0
    decisions = [run(ctrl, t, grid_w=(1000.0 if t < 780 else house_w) + 1380.0, amps=6, polled=t)
                 for t in range(0, 846, 5)]
    assert all(not d.want_paused for d in decisions if d.remaining_s < 80)


# ---- prices (issue 16) ------------------------------------------------------------------------

def night_tariff(now, night_hours="23:00-07:00"):
    """A two-rate meter: 0.30 EUR/kWh by day, 0.20 at night (from 23:00 here, after the quiet 21:00)."""
    from balancer_prices import schedule_table
    return schedule_table(0.30, 0.20, night_hours, now)


def test_with_prices_the_plan_moves_the_charging_into_the_cheap_quarters():
    """Without prices the safest quarters start after 21:00, when the busy evening ends; with a night
    rate from 23:00 the same need waits for it, and the attributes show what it costs and saves."""
    safest = planned().step(at(0), plan_reading(0, grid_w=4680.0, amps=16))
    assert safest.session_attributes["next_window_start"].startswith("2025-01-15T21:")
    assert "planned_cost_eur" not in safest.session_attributes
    ctrl = planned()
    r = plan_reading(0, grid_w=4680.0, amps=16)
    r.prices = night_tariff(at(0))
    d = ctrl.step(at(0), r)
    attrs = d.session_attributes
    assert d.session_state == "waiting" and attrs["next_window_start"].startswith("2025-01-15T23:00")
    assert attrs["planned_cost_eur"] == 2.0 and attrs["windows"][0]["price_eur_per_kwh"] == 0.2
    assert attrs["cost_now_eur"] > attrs["planned_cost_eur"] and attrs["saving_eur"] > 0
    late = plan_reading(4 * 3600, grid_w=300.0, amps=6, switch="off")  # 22:00: quiet, but still the day rate
    late.prices = r.prices
    assert ctrl.step(at(4 * 3600), late).session_state == "waiting"


def test_a_cheap_dinner_quarter_does_not_draw_the_car_out_of_the_quiet_night():
    """A 1.0-1.8 kW dinner (its usual high 2.2 kW still leaves the car its minimum under 4 kW) at
    0.20 EUR/kWh, the quiet night at 0.30: the plan stays in quarters as safe as the night the need
    fits into. Charging at dinner, a hob starting mid-quarter on top of the car's energy pushed H3's
    July quarter 1060 W over the limit."""
    ctrl = planned(busy_evening_profile(evening_w=1000.0, jump_w=800.0))
    r = plan_reading(0, grid_w=1000.0 + 16 * 230, amps=16)  # 18:00 local, a Wednesday
    r.prices = night_tariff(at(0), night_hours="17:00-19:00")  # the cheap hours are the dinner's
    d = ctrl.step(at(0), r)
    assert d.session_state == "waiting" and d.write == (PAUSE, None)
    assert d.session_attributes["next_window_start"] >= "2025-01-15T21:00"


def test_a_new_price_table_is_planned_again_within_the_quarter():
    """Tomorrow's prices appear around 13:00: the glue hands over a new table and the plan follows
    it at once, not at the next quarter."""
    ctrl = planned()
    r = plan_reading(0, grid_w=4680.0, amps=16)
    from balancer_prices import price_table
    r.prices = price_table("0.30", {}, at(0))  # one price everywhere: the safe quarters after 21:00
    assert ctrl.step(at(0), r).session_attributes["next_window_start"].startswith("2025-01-15T21:")
    r = plan_reading(5, grid_w=4680.0, amps=16)
    r.prices = night_tariff(at(5))
    assert ctrl.step(at(5), r).session_attributes["next_window_start"].startswith("2025-01-15T23:00")


def plan_calls(monkeypatch):
    """The (args, kwargs) of every balancer_planner.plan_session call from now on."""
    import balancer_planner
    calls = []
    real = balancer_planner.plan_session

    def spy(*args, **kwargs):
        calls.append((args, kwargs))
        return real(*args, **kwargs)

    monkeypatch.setattr(balancer_planner, "plan_session", spy)
    return calls


def test_the_planner_is_told_when_the_car_charged_under_the_last_plan(monkeypatch):
    """running (the JOIN stickiness) holds only for a car that charged in the quarter before under
    a plan that said charge; the export table is passed on as it came."""
    calls = plan_calls(monkeypatch)
    ctrl = planned()
    from balancer_prices import price_table
    export, prices = price_table(0.03, None, at(0)), price_table("0.25", {}, at(0))
    for seconds in range(4 * 3600, 4 * 3600 + 1800, 5):  # 22:00-22:30, quiet: charging now
        r = plan_reading(seconds, grid_w=300.0 + 16 * 230, amps=16, power_w=16 * 230)
        r.prices, r.export_prices = prices, export
        ctrl.step(at(seconds), r)
    # 22:00 new session; 22:13:30 and 22:28:30 (for 22:15 and 22:30: the quarters a command sent
    # then takes effect in) after a charged quarter
    kwargs = [c[1] for c in calls]
    assert [c["running"] for c in kwargs] == [False, True, True]
    assert kwargs[-1]["export"] is export and kwargs[-1]["prices"] is not None
    assert kwargs[-1]["can_pause"] is True  # the pause switch: a room below the minimum is planned too


def test_a_house_above_its_usual_for_an_hour_shrinks_the_next_plans_room(monkeypatch):
    """balancer_drift: the quarters the controller closes teach the profile's drift, and the plan
    gets persistence x the last hour's excess over the house's usual (this house, restored with a
    persistence of 0.5, draws 1 kW more than its usual evening with the car paused)."""
    calls = plan_calls(monkeypatch)
    saved = busy_evening_profile()  # learnt until Monday 20 January
    saved["drift"] = {"format": 1, "num": 5e9, "den": 1e10 - balancer_drift.PRIOR_DEN_W}
    ctrl = planned(saved)
    monday = 5 * 86400  # T0 + 5 days: Monday 20 January, 18:00 local
    usual_w = ctrl.profile.expected_w(at(monday + 3600))
    for seconds in range(monday + 3600, monday + 2 * 3600 + 900, 5):  # 19:00-20:15, the house 1 kW above usual
        r = reading(seconds, grid_w=usual_w + 1000.0, amps=16, switch="off", status="Paused", polled=seconds)
        r.departure, r.energy_needed_kwh = "07:30", 10.0
        ctrl.step(at(seconds), r)
    assert abs(ctrl.profile.drift.persistence() - 0.5) < 0.01
    assert calls[0][1]["drift_w"] == 0.0  # 19:00: no hour seen yet
    # planned for 20:15 (at 20:13:30, a write slot before it): the hour 19:00-20:00 seen
    assert abs(calls[-1][1]["drift_w"] - 0.5 * 1000.0) < 60.0


def test_the_plan_counts_the_car_at_its_minimum_current_not_at_the_park_current(monkeypatch):
    """park_current is where the charger is left without a car; the car charging at its least
    draws the minimum current (the configured one, or as tuned or as the charger's range allows)."""
    calls = plan_calls(monkeypatch)
    ctrl = planned(park_current=10)
    ctrl.step(at(0), plan_reading(0, grid_w=4680.0, amps=16))
    ctrl.step(at(900), plan_reading(900, grid_w=4680.0, amps=16, min_a=8))  # tuned up: the next plan
    assert [c[0][7] for c in calls] == [6 * 230.0, 8 * 230.0]  # car_min_w


def test_the_plan_for_the_next_quarter_is_made_in_time_to_stop_the_car_before_it():
    """22:00-22:15 costs 0.10 EUR/kWh, 22:15-23:00 0.30, the night from 23:00 0.20: the car charges
    in the cheap quarter and waits for 23:00. The plan for 22:15 is made when a command sent then
    is the last to take effect before 22:15 (the charger's response plus a write slot before it):
    the pause goes out by 22:14:30, so the car has stopped by 22:15. Planned at 22:15 itself, the
    pause went out after it and the car ran into the dear quarter (H6 January: into a quarter
    where the house alone went over the limit)."""
    from balancer_prices import price_table
    local = timezone(timedelta(hours=1))

    def item(h, m, minutes, value, day=15):
        start = datetime(2025, 1, day, h, m, tzinfo=local)
        return {"start": start.isoformat(), "end": (start + timedelta(minutes=minutes)).isoformat(), "value": value}

    today = [item(h, 0, 60, 0.30) for h in range(22)] + [item(22, 0, 15, 0.10), item(22, 15, 15, 0.30),
                                                          item(22, 30, 30, 0.30), item(23, 0, 60, 0.20)]
    tomorrow = [item(h, 0, 60, 0.20, 16) for h in range(24)]
    ctrl, car = planned(), Car(amps=15, paused=False)
    for seconds in range(4 * 3600, 4 * 3600 + 16 * 60, 5):  # 22:00-22:16 local, the car charging at 15 A
        r = plan_reading(seconds, grid_w=300.0 + car.draw_w(), amps=car.amps, switch=car.switch(), power_w=car.draw_w())
        r.prices = price_table("0.30", {"raw_today": today, "raw_tomorrow": tomorrow}, at(seconds))
        d = car.step(ctrl, seconds, r)
    pauses = [seconds for seconds, w in car.writes if w == (PAUSE, None)]
    assert pauses and 4 * 3600 + 13 * 60 + 30 <= pauses[0] <= 4 * 3600 + 14 * 60 + 30, car.writes
    assert "waiting" in d.session_state and d.session_attributes["next_window_start"].startswith("2025-01-15T23:00")


def pulse_writes(ctrl):
    """One quarter of a 3.0 kW house beside a car that starts at 16 A: the writes."""
    car = Car(amps=16, paused=False)
    for seconds in range(0, 900, 5):
        car.step(ctrl, seconds, reading(seconds, grid_w=3000.0 + car.draw_w(), amps=car.amps, switch=car.switch(),
                                        power_w=car.draw_w(), polled=seconds))
    return car.writes


def test_a_car_whose_minimum_is_above_the_quarter_resumes_as_soon_as_the_budget_allows():
    """A 3.0 kW house on a 4 kW limit leaves the car 0.85 kW for a whole quarter, below its 1.38 kW
    minimum: it stops once a quarter whatever the resume wait, which only lengthened the pause.
    Held at the minimum for 180 s, paused, it resumes once the rest of the quarter carries the
    minimum plus RESUME_MARGIN_W (at 565 s), not resume_after later (685 s)."""
    writes = pulse_writes(controller())
    assert writes[:3] == [(0, (CURRENT, 6)), (180, (PAUSE, None)), (565, (RESUME, None))], writes


def test_a_house_above_its_usual_load_still_waits_before_the_car_resumes():
    """The same 3.0 kW where the profile has learnt a usual 300 W (a heat pump's run, an oven):
    the house will drop back and the car could then hold its minimum, so the resume wait still
    keeps it from stopping and starting with each cycle of the house."""
    ctrl = controller()
    ctrl.restore_session({}, busy_evening_profile(evening_w=300.0, jump_w=0.0))
    writes = pulse_writes(ctrl)
    assert writes[:3] == [(0, (CURRENT, 6)), (180, (PAUSE, None)), (685, (RESUME, None))], writes
