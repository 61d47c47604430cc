"""The session planner (balancer_planner, issue 10): charge by departure in the safest quarters."""

import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import balancer_planner
import balancer_profile
from balancer_planner import departure_utc, plan_session
from balancer_profile import LoadProfile

TZ = ZoneInfo("Europe/Brussels")
LIMIT_W, MARGIN_W = 4000.0, 150.0
CAR_MAX_W, CAR_MIN_W = 32 * 230.0, 6 * 230.0  # 1 x 230 V, 6-32 A


def at(year, month, day, hour, minute=0):
    return datetime(year, month, day, hour, minute, tzinfo=TZ).astimezone(timezone.utc)


def household(local):
    """Quiet nights, a busy morning and a busy evening with a hob whose quarter moves day by day."""
    minutes = local.hour * 60 + local.minute
    if minutes < 6 * 60 + 30:
        return 300.0
    if minutes < 8 * 60:
        return 1800.0
    if minutes < 17 * 60:
        return 600.0
    if minutes < 21 * 60 + 30:
        hob_at = 17 * 60 + 30 + 15 * (local.day % 8)  # 17:30 .. 19:15
        return 3800.0 if hob_at <= minutes < hob_at + 30 else 1200.0
    return 400.0


def learnt_profile(days=21):
    """The household above, learnt over `days` days from Monday 2025-01-06."""
    profile = LoadProfile()
    q = at(2025, 1, 6, 0)
    end = q + timedelta(days=days)
    while q < end:
        profile.observe(q, household(q.astimezone(TZ)))
        q += timedelta(minutes=15)
    return profile


PROFILE = learnt_profile()
PLUG_IN = at(2025, 1, 28, 18)  # a Tuesday evening
DEPARTURE = at(2025, 1, 29, 7, 30)


def plan(now, need_kwh, delivered_kwh=0.0, profile=PROFILE, departure=DEPARTURE, limit_w=LIMIT_W):
    return plan_session(now, departure, need_kwh, delivered_kwh, limit_w, MARGIN_W, CAR_MAX_W, CAR_MIN_W, profile)


def local_hhmm(dt):
    return dt.astimezone(TZ).strftime("%H:%M")


def test_a_quiet_night_is_chosen_over_a_busy_evening():
    p = plan(PLUG_IN, 10.0)
    assert p.charge_now is False and p.state == "waiting" and p.on_track is True and p.short_kwh == 0
    # nothing before 21:30 (the evening), nothing in the busy morning, finished well before 07:30
    assert all(a >= at(2025, 1, 28, 21, 30) and b <= at(2025, 1, 29, 6, 30) for a, b in p.windows)
    assert len(p.windows) == 1  # one steady stretch: few writes
    assert at(2025, 1, 28, 22) <= p.planned_finish < at(2025, 1, 29, 3)
    assert p.next_window == p.windows[0]
    assert "10.0 kWh by 07:30" in p.reason and "waiting" in p.reason


def test_the_plan_charges_once_its_window_comes_and_keeps_it_when_replanned():
    first = plan(PLUG_IN, 10.0)
    start = first.next_window[0]
    p = plan(start, 10.0)
    assert p.charge_now is True and p.state == "charging"
    later = plan(start + timedelta(hours=1), 10.0, delivered_kwh=3.4)
    assert later.charge_now is True and later.windows[0][0] == start + timedelta(hours=1)
    assert abs((later.planned_finish - first.planned_finish).total_seconds()) < 1800


def test_the_neutral_prior_charges_at_once_like_today():
    p = plan(PLUG_IN, 10.0, profile=LoadProfile())
    assert p.charge_now is True and p.on_track is True


def test_a_need_that_cannot_be_met_says_so_and_charges_in_every_quarter():
    p = plan(PLUG_IN, 60.0)
    assert p.short_kwh > 5 and p.on_track is False and p.charge_now is True and p.state == "short"
    assert p.planned_finish is None
    assert p.windows == [(PLUG_IN, DEPARTURE)]
    assert p.reason.startswith("short: 60.0 kWh left by 07:30") and "kWh short" in p.reason


def test_a_tight_need_charges_now_but_stays_on_track():
    p = plan(PLUG_IN, 36.0)
    assert p.short_kwh == 0 and p.on_track is True and p.charge_now is True
    assert p.reason.startswith("tight")


def test_a_need_changed_mid_session_is_replanned():
    night = at(2025, 1, 28, 22)
    small = plan(night, 5.0)
    big = plan(night, 20.0)
    assert small.charge_now and big.charge_now
    assert small.planned_finish < big.planned_finish < DEPARTURE
    assert big.windows[-1][1] > small.windows[-1][1]
    lowered = plan(night, 4.0, delivered_kwh=4.5)  # the need dropped below what was delivered
    assert lowered.state == "full" and lowered.charge_now is False and lowered.on_track is True
    assert "need met" in lowered.reason


def test_a_plan_that_fell_behind_catches_up_in_the_safest_remaining_quarters():
    behind = plan(at(2025, 1, 29, 2), 10.0, delivered_kwh=1.0)  # the car took little so far
    assert behind.charge_now is True and behind.on_track is True
    assert behind.planned_finish < DEPARTURE


def test_a_departure_passed_with_the_car_still_plugged_charges_now():
    p = plan(at(2025, 1, 29, 8), 10.0, delivered_kwh=7.0)
    assert p.charge_now is True and p.on_track is False
    assert abs(p.short_kwh - 3.0) < 1e-9
    assert p.reason == "departure 07:30 passed with the car still plugged in: charging the 3.0 kWh left inside the 4.0 kW limit"


def test_without_a_departure_or_a_need_it_charges_as_today():
    for p in (plan(PLUG_IN, None), plan(PLUG_IN, 10.0, departure=None), plan(PLUG_IN, float("nan"))):
        assert p.charge_now is True and p.on_track is True and "no departure" in p.reason


def test_a_restart_mid_session_gives_the_same_plan():
    now = at(2025, 1, 28, 23, 5)
    session = balancer_planner.Session(PLUG_IN, 2.5)
    saved = json.loads(json.dumps({"profile": PROFILE.as_dict(), "session": session.as_dict()}))
    profile = balancer_profile.from_dict(saved["profile"])
    restored = balancer_planner.session_from_dict(saved["session"])
    assert restored.plugged_at == PLUG_IN and restored.delivered_kwh == 2.5
    departure = departure_utc(now, "07:30", restored.plugged_at)
    assert departure == DEPARTURE
    before, after = plan(now, 10.0, 2.5), plan(now, 10.0, restored.delivered_kwh, profile=profile, departure=departure)
    assert (after.charge_now, after.windows, after.reason) == (before.charge_now, before.windows, before.reason)
    assert abs((after.planned_finish - before.planned_finish).total_seconds()) < 60  # the saved watts are rounded
    for bad in (None, {}, {"plugged_at": "x", "delivered_kwh": 1}, {"plugged_at": PLUG_IN.isoformat(), "delivered_kwh": -1}):
        assert balancer_planner.session_from_dict(bad) is None


def test_departure_is_the_next_such_local_time_after_plug_in():
    assert departure_utc(PLUG_IN, "07:30", PLUG_IN) == DEPARTURE
    assert departure_utc(at(2025, 1, 29, 1), "07:30", PLUG_IN) == DEPARTURE  # counted from plug-in
    assert departure_utc(PLUG_IN, "18:30:00") == at(2025, 1, 28, 18, 30)
    assert departure_utc(PLUG_IN, "18:00:00", PLUG_IN) == at(2025, 1, 29, 18)  # not the plug-in instant itself
    assert departure_utc(PLUG_IN, "2025-01-30 07:00:00") == at(2025, 1, 30, 7)  # an input_datetime with a date
    assert departure_utc(PLUG_IN, "2025-01-30T07:00:00+01:00") == at(2025, 1, 30, 7)
    for bad in (None, "", "7h30", "25:00", "2025-02-30 07:00:00", "unavailable"):
        assert departure_utc(PLUG_IN, bad) is None


def test_departure_across_the_clock_changes():
    spring_plug = at(2025, 3, 29, 20)  # Saturday; clocks go 02:00 -> 03:00 on Sunday
    assert departure_utc(spring_plug, "07:30", spring_plug) == datetime(2025, 3, 30, 5, 30, tzinfo=timezone.utc)
    assert departure_utc(spring_plug, "02:30", spring_plug) == datetime(2025, 3, 30, 1, 30, tzinfo=timezone.utc)
    autumn_plug = at(2025, 10, 25, 20)  # clocks go 03:00 -> 02:00 on Sunday: 02:30 happens twice
    assert departure_utc(autumn_plug, "02:30", autumn_plug) == datetime(2025, 10, 26, 0, 30, tzinfo=timezone.utc)
    assert departure_utc(autumn_plug, "07:30", autumn_plug) == datetime(2025, 10, 26, 6, 30, tzinfo=timezone.utc)


def test_the_session_attributes():
    p = plan(PLUG_IN, 10.0)
    attrs = balancer_planner.plan_attributes(p, 10.0, 0.0, DEPARTURE)
    assert attrs["energy_needed_kwh"] == 10.0 and attrs["delivered_kwh"] == 0.0 and attrs["on_track"] is True
    assert attrs["departure"] == "2025-01-29T07:30:00+01:00"
    assert attrs["next_window_start"] == p.next_window[0].astimezone(TZ).isoformat()
    assert attrs["planned_finish"] is not None and attrs["reason"] == p.reason
    json.dumps(attrs)


def test_a_far_departure_is_planned_over_two_days():
    p = plan(PLUG_IN, 10.0, departure=PLUG_IN + timedelta(days=9))
    assert p.on_track is True and p.windows[-1][1] <= PLUG_IN + timedelta(hours=48)
