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
    saturday = profile.as_dict()["mean_w"][96 + 74]  # what is stored for Saturday 18:30: its own days only
    assert saturday == balancer_profile.PRIOR_MEAN_W
    learn_days(profile, 2, lambda local: 300.0, first_day=5)
    learn_days(profile, 5, evening_hob, first_day=7)
    learn_days(profile, 2, lambda local: 300.0, first_day=12)  # two quiet weekends
    assert profile.expected_w(local_quarter(14, 18, 30)) > 2000  # a Monday
    assert profile.expected_w(local_quarter(19, 18, 30)) < 500  # a Saturday: its own four days count


# -- weekends learn as fast as weekdays (issue 15) ----------------------------------------------

def weekday_dinner_weekend_lunch(local):
    """Weekdays: a 3 kW dinner 18:00-19:00. Weekends: a 3.5 kW lunch 12:30-13:30 and the same dinner."""
    if 18 <= local.hour < 19:
        return 3000.0
    if local.weekday() >= 5 and (12, 30) <= (local.hour, local.minute) < (13, 30):
        return 3500.0
    return 300.0


def test_the_first_weekend_is_not_planned_as_unknown():
    profile = LoadProfile()
    learn_days(profile, 5, weekday_dinner_weekend_lunch)  # one working week, no weekend yet
    saturday_dinner, saturday_night = local_quarter(5, 18, 15), local_quarter(5, 3)
    assert profile.expected_w(saturday_dinner) > 2500 and profile.usual_jump_w(saturday_dinner) >= 0
    assert profile.risk(saturday_dinner, 4000) > 0.7
    # an hour either way: a weekend dinner at 19:15 is taken as risky as the weekday's at 18:45
    assert profile.expected_w(local_quarter(5, 19, 30)) > 2500
    # by day never safer than unknown: the quiet weekday morning does not make the weekend's look quiet
    saturday_morning = local_quarter(5, 10)
    assert profile.expected_w(saturday_morning) == balancer_profile.PRIOR_MEAN_W
    assert profile.risk(saturday_morning, 4000) == LoadProfile().risk(saturday_morning, 4000)
    assert profile.usual_jump_w(saturday_morning) == 0.0  # learnt only by its own days
    # at night the house sleeps on both day types: the weekend night is the weekday night's
    friday_night = local_quarter(4, 3)
    assert profile.expected_w(saturday_night) == profile.expected_w(friday_night) < 500
    assert profile.risk(saturday_night, 4000) == profile.risk(friday_night, 4000) < 0.2
    assert profile.learnt(saturday_night)


def test_a_weekend_night_load_of_its_own_is_not_watered_down_by_the_quiet_weekday_nights():
    def second_car_on_weekend_nights(local):
        return 7300.0 if local.weekday() >= 5 and 1 <= local.hour < 4 else 300.0

    profile = LoadProfile()
    learn_days(profile, 6, second_car_on_weekend_nights)  # Monday to Saturday: one weekend night seen
    sunday_night = local_quarter(6, 2)
    assert profile.expected_w(sunday_night) > 3500  # its own night (with the prior), not the weekdays' 300 W
    assert profile.risk(sunday_night, 4000) > 0.8
    assert profile.expected_w(local_quarter(6, 5)) < 500  # the quiet part of the night still borrows


def test_a_weekend_quarter_takes_its_own_days_over_within_two_weekends():
    profile = LoadProfile()
    learn_days(profile, 5, weekday_dinner_weekend_lunch)
    lunch = local_quarter(12, 12, 45)  # the second Saturday's lunch, weekdays borrowed 11:45-13:45 are quiet
    assert profile.expected_w(lunch) == balancer_profile.PRIOR_MEAN_W  # not taken for quiet
    learn_days(profile, 2, weekday_dinner_weekend_lunch, first_day=5)  # the first weekend
    assert profile.expected_w(lunch) > 2500  # its own two days, not watered down by the quiet weekdays
    learn_days(profile, 7, weekday_dinner_weekend_lunch, first_day=7)
    assert profile.expected_w(lunch) > 2500 and profile.risk(lunch, 4000) > 0.7


def test_nothing_is_borrowed_from_a_day_type_that_has_nothing_learnt():
    profile = LoadProfile()
    learn_days(profile, 1, evening_hob)  # one Monday
    assert profile.expected_w(local_quarter(5, 18, 30)) > 2000  # borrowed by Saturday
    assert LoadProfile().expected_w(local_quarter(5, 18, 30)) == balancer_profile.PRIOR_MEAN_W
    assert LoadProfile().usual_jump_w(local_quarter(0, 18, 30)) == 0.0  # the prior is not learnt


# -- seeding from the recorder's history (issue 15) ----------------------------------------------

def quarters_of(days, house_w, first_day=0):
    out = []
    q = (MONDAY + timedelta(days=first_day)).astimezone(timezone.utc)
    end = (MONDAY + timedelta(days=first_day + days)).astimezone(timezone.utc)
    while q < end:
        out.append((q, house_w(q.astimezone(TZ))))
        q += timedelta(minutes=15)
    return out


def test_a_seed_fills_a_new_profile_and_is_counted_as_history():
    profile = LoadProfile()
    assert profile.seed(quarters_of(14, evening_hob)) == 14 * 96
    assert profile.learnt_days() == [10, 4] and profile.history_quarters == 14 * 96
    assert abs(profile.expected_w(local_quarter(14, 18, 30)) - 3500) < 400
    assert profile.learnt_until == local_quarter(14, 0)


def test_a_seed_after_a_reload_takes_only_what_the_profile_has_not_learnt():
    profile = LoadProfile()
    learn_days(profile, 7, evening_hob)
    saved = json.loads(json.dumps(profile.as_dict()))
    again = balancer_profile.from_dict(saved)
    # the recorder holds the same week (already learnt) and the 2 hours since the last save
    assert again.seed(quarters_of(7, lambda local: 9000.0) + quarters_of(1, evening_hob, first_day=7)[:8]) == 8
    assert again.count[:8] == [min(10, c + 1) for c in saved["count"][:8]] and again.count[8:] == saved["count"][8:]
    assert again.mean_w[96 + 74] == saved["mean_w"][96 + 74]  # nothing of the 9 kW week got in
    assert again.observe(local_quarter(7, 1, 45), 5000.0) is False  # learnt from the seed already


def test_a_profile_saved_before_learnt_until_existed_takes_history_only_where_it_knows_nothing():
    profile = LoadProfile()
    learn_days(profile, 3, evening_hob)  # Monday to Wednesday: weekends unknown
    saved = profile.as_dict()
    del saved["learnt_until"], saved["history_quarters"]
    old = balancer_profile.from_dict(saved)
    old.seed(quarters_of(7, lambda local: 1234.0))
    assert old.mean_w[74] == saved["mean_w"][74]  # a Monday-Friday evening it had learnt: kept
    assert abs(old.mean_w[96 + 74] - (balancer_profile.PRIOR_MEAN_W + 2 * 1234.0) / 3) < 1e-6  # the prior and two days
    assert old.count[96 + 74] == 2  # Saturday and Sunday from history


def test_the_slot_is_the_local_quarter_across_summer_time():
    winter = datetime(2025, 1, 7, 18, 0, tzinfo=TZ).astimezone(timezone.utc)
    summer = datetime(2025, 7, 8, 18, 0, tzinfo=TZ).astimezone(timezone.utc)
    assert balancer_profile.slot_of(winter) == balancer_profile.slot_of(summer) == (0, 72)
    assert balancer_profile.slot_of(datetime(2025, 7, 12, 23, 45, tzinfo=TZ).astimezone(timezone.utc)) == (1, 95)


def test_missing_or_implausible_values_are_not_learnt():
    profile = LoadProfile()
    q = local_quarter(0, 12)
    for bad in (None, float("nan"), -1e9, 1e9, True):
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
    # five lists since issue 16 (the net and its count); HA's recorder refuses attributes over 16 kB
    assert len(json.dumps(year)) <= month_size + 400 and len(json.dumps(year)) < 5000
    learn_days(profile, 30, lambda local: -2500.0 if 10 <= local.hour < 16 else 450.0, first_day=365)
    assert len(json.dumps(profile.as_dict())) < 6000
    assert [len(year[key]) for key in ("mean_w", "jump_w", "count")] == [192, 192, 192]
    assert max(year["count"]) == balancer_profile.COUNT_CAP


# ---- solar surplus (issue 16): the net mean is signed, the safety figures are not --------------

def sunny_house(local):
    """A PV house: exports 2 kW at midday on sunny days, draws 300 W otherwise."""
    return -2000.0 if 11 <= local.hour < 14 else 300.0


def test_an_exporting_quarter_teaches_the_net_mean_and_leaves_the_safety_figures_as_they_were():
    with_pv, without_pv = LoadProfile(), LoadProfile()
    # 14 days: every third one cloudy (the house draws 1.5 kW at midday then)
    for day in range(14):
        sunny = day % 3 != 0
        learn_days(with_pv, 1, lambda local: sunny_house(local) if sunny else (1500.0 if 11 <= local.hour < 14 else 300.0),
                   first_day=day)
        if not sunny:  # what the profile learnt before issue 16: the exporting days left out
            learn_days(without_pv, 1, lambda local: 1500.0 if 11 <= local.hour < 14 else 300.0, first_day=day)
        else:
            learn_days(without_pv, 1, lambda local: None if 11 <= local.hour < 14 else 300.0, first_day=day)
    noon = local_quarter(14, 12)
    assert with_pv.usual_net_w(noon) < -800  # usually exports
    assert with_pv.usual_net_w(local_quarter(14, 20)) == with_pv.expected_w(local_quarter(14, 20))
    # what sizes safety (the cap's room, the risk rule, the plan's usual high) is what it was
    assert with_pv.expected_w(noon) == without_pv.expected_w(noon) >= 300
    assert with_pv.high_w(noon) == without_pv.high_w(noon)
    assert with_pv.usual_jump_w(noon) == without_pv.usual_jump_w(noon)
    assert with_pv.risk(noon, 4000) == without_pv.risk(noon, 4000)


def test_a_negative_quarter_is_learnt_only_into_the_net():
    profile = LoadProfile()
    q = local_quarter(0, 12)
    assert profile.observe(q, -1500.0) is True
    saved = profile.as_dict()
    neutral = LoadProfile().as_dict()
    assert [saved[key] for key in ("mean_w", "jump_w", "count")] == [neutral[key] for key in ("mean_w", "jump_w", "count")]
    assert profile.usual_net_w(q) < 0 and saved["net_count"][48] == 1
    # an offtake and a net apart (the grid's export seen by the app): each into its own
    assert profile.observe(q + timedelta(days=7), 200.0, -900.0) is True
    assert profile.count[48] == 1 and profile.net_count[48] == 2


def test_the_net_survives_json_and_a_profile_saved_before_it_loads():
    profile = LoadProfile()
    learn_days(profile, 9, sunny_house)
    restored = balancer_profile.from_dict(json.loads(json.dumps(profile.as_dict())))
    assert restored.as_dict() == profile.as_dict()
    noon = local_quarter(9, 12)
    assert restored.usual_net_w(noon) == profile.usual_net_w(noon) < 0
    old = profile.as_dict()
    del old["net_w"], old["net_count"]  # the form saved before issue 16
    loaded = balancer_profile.from_dict(old)
    assert loaded.mean_w == restored.mean_w and loaded.count == profile.count and loaded.learnt_until == profile.learnt_until
    # no surplus known yet: the net starts from the offtake mean
    assert loaded.usual_net_w(noon) == loaded.mean_w[balancer_profile._index(noon)] >= 0
    assert balancer_profile.from_dict(dict(profile.as_dict(), net_w=["x"] * 192)).net_w == restored.mean_w
