"""The house's drift (balancer_drift): how far it runs above its usual, and how much of that it keeps."""

import json
from datetime import datetime, timedelta, timezone

import balancer_drift
from balancer_drift import HouseDrift
import balancer_profile
from balancer_profile import LoadProfile

START = datetime(2025, 1, 6, tzinfo=timezone.utc)
QUARTER = timedelta(minutes=15)


def quarters(devs, first=START):
    """[(start, dev)] for consecutive quarters from first."""
    return [(first + k * QUARTER, dev) for k, dev in enumerate(devs)]


def days_of(excess_hours, days=14, excess_w=1500.0):
    """`days` days of deviations: 0 W, except excess_w for excess_hours hours from 18:00 each day."""
    devs = []
    for _day in range(days):
        for q in range(96):
            devs.append(excess_w if 72 <= q < 72 + 4 * excess_hours else 0.0)
    return devs


def cold_spells(days=14, excess_w=1500.0):
    """`days` days of deviations: excess_w for three days, then 0 W for four, and again."""
    return [excess_w if (k // 96) % 7 < 3 else 0.0 for k in range(96 * days)]


def test_a_house_that_keeps_its_excess_for_days_learns_a_high_persistence():
    drift = HouseDrift()
    drift.take(quarters(cold_spells()))
    assert drift.persistence() > 0.8


def test_a_house_whose_excess_is_gone_within_the_hour_learns_none():
    drift = HouseDrift()
    drift.take(quarters(days_of(excess_hours=1)))
    assert drift.persistence() < 0.05


def test_a_new_drift_and_little_evidence_plan_as_without_it():
    drift = HouseDrift()
    assert drift.persistence() == 0.0 and drift.drift_w(START) == 0.0
    drift.take(quarters([300.0] * 6))  # an hour and a half above usual, nothing learnt about later
    assert drift.persistence() == 0.0
    assert drift.excess_w(START + 6 * QUARTER) == 300.0
    assert drift.drift_w(START + 6 * QUARTER) == 0.0


def test_the_excess_is_the_last_hours_mean_above_usual_and_fresh_only():
    drift = HouseDrift()
    drift.take(quarters([1000.0, 2000.0, 0.0, 1000.0]))
    end = START + 4 * QUARTER
    assert drift.excess_w(end) == 1000.0
    assert drift.excess_w(end + timedelta(seconds=balancer_drift.FRESH_S)) == 1000.0
    assert drift.excess_w(end + timedelta(seconds=balancer_drift.FRESH_S + 1)) == 0.0  # no fresh hour
    drift.take(quarters([-500.0] * 4, first=end))
    assert drift.excess_w(end + 4 * QUARTER) == 0.0  # a quieter hour than usual never adds room


def test_a_missing_or_unknown_quarter_breaks_the_hour():
    drift = HouseDrift()
    drift.take(quarters([1000.0] * 4))
    drift.take([(START + 5 * QUARTER, 1000.0)])  # one quarter missing
    assert drift.excess_w(START + 6 * QUARTER) == 0.0
    drift.take(quarters([1000.0, 1000.0, 1000.0], first=START + 6 * QUARTER))
    assert drift.excess_w(START + 9 * QUARTER) == 1000.0
    drift.take([(START + 9 * QUARTER, None)])  # a quarter the profile had not learnt
    assert drift.excess_w(START + 10 * QUARTER) == 0.0
    drift.take([(START + 2 * QUARTER, 1000.0)])  # an old quarter: ignored
    assert drift.last == START + 9 * QUARTER


def test_it_forgets_an_old_season():
    drift = HouseDrift()
    drift.take(quarters(cold_spells()))
    winter = drift.persistence()
    drift.take(quarters(days_of(excess_hours=1, days=42), first=START + timedelta(days=14)))
    assert drift.persistence() < winter / 2


def test_it_survives_json_and_a_bad_dict_gives_a_new_one():
    drift = HouseDrift()
    drift.take(quarters(cold_spells()))
    restored = balancer_drift.from_dict(json.loads(json.dumps(drift.as_dict())))
    assert abs(restored.persistence() - drift.persistence()) < 1e-3
    assert restored.excess_w(START) == 0.0  # the last hour is not kept: no drift until one is seen
    for bad in (None, [], {}, {"format": 2, "num": 1.0, "den": 2.0}, {"format": 1, "num": "x", "den": 2.0},
                {"format": 1, "num": 1.0, "den": -1.0}, {"format": 1, "num": float("nan"), "den": 1.0},
                {"format": 1, "num": True, "den": 1.0}):
        assert balancer_drift.from_dict(bad).persistence() == 0.0


def test_the_profile_feeds_it_the_house_against_its_own_usual():
    profile = LoadProfile()
    q = START
    for _day in range(7):  # a week of a steady 500 W: learnt, no excess
        for _k in range(96):
            profile.observe(q, 500.0)
            q += QUARTER
    assert profile.drift.excess_w(q) == 0.0
    usual_w = profile.expected_w(q)  # 500 W, and a little of the prior's 800 W
    assert 500.0 < usual_w < 560.0
    for _k in range(4):  # an hour at 2 kW
        profile.observe(q, 2000.0)
        q += QUARTER
    assert abs(profile.drift.excess_w(q) - (2000.0 - usual_w)) < 1.0
    restored = profile.as_dict()
    assert restored["drift"] == profile.drift.as_dict()


def test_a_profile_saved_before_the_drift_loads_with_a_new_one():
    profile = LoadProfile()
    saved = profile.as_dict()
    del saved["drift"]
    assert balancer_profile.from_dict(saved).drift.persistence() == 0.0
