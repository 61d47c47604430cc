"""The household's load profile (balancer_profile, issue 10): learning, ranking, persistence."""

import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import balancer_profile
from balancer_profile import LoadProfile

TZ = ZoneInfo("Europe/Brussels")
MONDAY = datetime(2025, 1, 6, tzinfo=TZ)  # local midnight


def local_quarter(day, hour, minute=0):
    """UTC start of a local quarter, `day` days after MONDAY."""
    return (MONDAY + timedelta(days=day)).replace(hour=hour, minute=minute).astimezone(timezone.utc)


def learn_days(profile, days, house_w, first_day=0):
    """Observe `days` whole local days; house_w(local datetime) gives each quarter's average."""
    for day in range(first_day, first_day + days):
        start = (MONDAY + timedelta(days=day)).astimezone(timezone.utc)
        end = (MONDAY + timedelta(days=day + 1)).astimezone(timezone.utc)
        q = start
        while q < end:
            profile.observe(q, house_w(q.astimezone(TZ)))
            q += timedelta(minutes=15)


def evening_hob(local):
    return 3500.0 if 18 <= local.hour < 20 else 300.0


def test_the_neutral_prior_ranks_nothing():
    profile = LoadProfile()
    risks = {profile.risk(local_quarter(day, 0) + timedelta(minutes=15 * k), 4000) for day in (0, 5) for k in range(96)}
    assert len(risks) == 1
    assert profile.learnt_days() == [0, 0]


def test_it_adapts_within_two_weeks_of_weekdays():
    profile = LoadProfile()
    learn_days(profile, 14, evening_hob)  # ten weekdays, four weekend days
    night, evening = local_quarter(14, 2), local_quarter(14, 18, 30)  # a Monday
    assert abs(profile.expected_w(night) - 300) < 60
    assert abs(profile.expected_w(evening) - 3500) < 400
    assert profile.risk(evening, 4000) > 0.8 > 0.2 > profile.risk(night, 4000)
    assert profile.learnt_days() == [10, 4]


def test_a_jump_on_some_days_ranks_above_a_steady_load_of_the_same_mean():
    profile = LoadProfile()

    def house(local):
        if local.hour == 19:
            return 4000.0 if local.day % 3 == 0 else 1000.0  # mean 2000 W, one day in three a hob
        if local.hour == 21:
            return 2000.0
        return 300.0

    learn_days(profile, 30, house)
    jumpy, steady = local_quarter(30, 19, 30), local_quarter(30, 21, 30)
    assert abs(profile.expected_w(jumpy) - profile.expected_w(steady)) < 500
    assert profile.risk(jumpy, 4000) > profile.risk(steady, 4000)


def test_a_neighbours_jump_widens_the_risk_of_the_quarters_beside_it():
    profile = LoadProfile()
    learn_days(profile, 14, lambda local: 4000.0 if (local.hour, local.minute) == (18, 30) else 300.0)
    assert profile.risk(local_quarter(14, 18, 15), 4000) > 0.5
    assert profile.risk(local_quarter(14, 18, 45), 4000) > 0.5
    assert profile.risk(local_quarter(14, 19, 15), 4000) < 0.2


def test_weekdays_and_weekends_are_learnt_apart():
    profile = LoadProfile()
    learn_days(profile, 5, evening_hob)  # Monday to Friday
    assert profile.expected_w(local_quarter(7, 18, 30)) > 2000  # next Monday
    assert profile.expected_w(local_quarter(5, 18, 30)) == balancer_profile.PRIOR_MEAN_W  # Saturday


def test_the_slot_is_the_local_quarter_across_summer_time():
    winter = datetime(2025, 1, 7, 18, 0, tzinfo=TZ).astimezone(timezone.utc)
    summer = datetime(2025, 7, 8, 18, 0, tzinfo=TZ).astimezone(timezone.utc)
    assert balancer_profile.slot_of(winter) == balancer_profile.slot_of(summer) == (0, 72)
    assert balancer_profile.slot_of(datetime(2025, 7, 12, 23, 45, tzinfo=TZ).astimezone(timezone.utc)) == (1, 95)


def test_missing_or_implausible_values_are_not_learnt():
    profile = LoadProfile()
    q = local_quarter(0, 12)
    for bad in (None, float("nan"), -5.0, 1e9, True):
        assert profile.observe(q, bad) is False
    assert profile.as_dict() == LoadProfile().as_dict()


def test_it_survives_as_dict_and_json():
    profile = LoadProfile()
    learn_days(profile, 9, evening_hob)
    restored = balancer_profile.from_dict(json.loads(json.dumps(profile.as_dict())))
    assert restored.as_dict() == profile.as_dict()
    q = local_quarter(9, 18, 30)
    assert abs(restored.risk(q, 4000) - profile.risk(q, 4000)) < 0.01
    # learning goes on where it stopped
    assert restored.count == profile.count


def test_a_bad_or_foreign_dict_gives_the_neutral_prior():
    neutral = LoadProfile().as_dict()
    good = LoadProfile().as_dict()
    for bad in (None, [], "x", {}, {"format": 2, "mean_w": good["mean_w"], "jump_w": good["jump_w"], "count": good["count"]},
                dict(good, mean_w=good["mean_w"][:-1]), dict(good, jump_w=["a"] * 192),
                dict(good, count=[99] * 192), dict(good, mean_w=[-1] * 192), dict(good, mean_w=[float("nan")] * 192),
                dict(good, count=None)):
        assert balancer_profile.from_dict(bad).as_dict() == neutral


def test_its_size_is_bounded_over_a_year_of_days():
    profile = LoadProfile()
    learn_days(profile, 30, evening_hob)
    month_size = len(json.dumps(profile.as_dict()))
    learn_days(profile, 335, lambda local: 6000.0 if local.hour == 19 else 450.0, first_day=30)
    year = profile.as_dict()
    assert len(json.dumps(year)) <= month_size + 400 and len(json.dumps(year)) < 4000
    assert [len(year[key]) for key in ("mean_w", "jump_w", "count")] == [192, 192, 192]
    assert max(year["count"]) == balancer_profile.COUNT_CAP
