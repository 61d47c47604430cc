"""The recorder's statistics -> the profile's seed and the month's peak (balancer_history, issue 15)."""

from datetime import datetime, timedelta, timezone

import balancer_history
from balancer_history import read
from balancer_profile import LoadProfile, slot_of

UTC = timezone.utc
NOW = datetime(2025, 1, 20, 12, 2, tzinfo=UTC)  # a Monday, 13:02 in Brussels


def rows(start, means, period_s=300, maxes=None):
    """Statistics rows as recorder.get_statistics answers them: start/end ISO UTC, mean, max."""
    out = []
    for k, mean in enumerate(means):
        a = start + timedelta(seconds=period_s * k)
        row = {"start": a.isoformat(), "end": (a + timedelta(seconds=period_s)).isoformat(), "mean": mean}
        row["max"] = maxes[k] if maxes else mean
        out.append(row)
    return out


def test_three_five_minute_means_are_the_clock_quarters_average_exactly():
    q = datetime(2025, 1, 20, 10, 0, tzinfo=UTC)
    h = read(NOW, rows(q, [1000.0, 4000.0, 1600.0, 500.0, 500.0, 800.0], maxes=[9000.0] * 6), [])
    assert h.quarters == [(q, 2200.0), (q + timedelta(minutes=15), 600.0)]
    assert h.exact_quarters == 2 and h.days() == 2 / 96
    assert (h.peak_w, h.peak_start, h.peak_exact) == (2200.0, q, True)  # never the 9 kW max


def test_an_hourly_mean_is_only_a_lower_bound_and_the_hourly_max_is_never_a_peak():
    hour = datetime(2025, 1, 6, 17, 0, tzinfo=UTC)
    h = read(NOW, [], rows(hour, [2500.0, 600.0], period_s=3600, maxes=[8800.0, 7000.0]))
    assert (h.peak_w, h.peak_start, h.peak_exact) == (2500.0, hour, False)
    quarters = [hour + timedelta(minutes=15 * k) for k in range(8)]
    assert h.quarters == [(q, 2500.0 if q < hour + timedelta(hours=1) else 600.0) for q in quarters]
    assert h.exact_quarters == 0


def test_exact_quarters_win_over_their_hours_mean_and_the_rest_of_the_hour_keeps_it():
    hour = datetime(2025, 1, 19, 17, 0, tzinfo=UTC)
    five = rows(hour + timedelta(minutes=30), [3000.0] * 6)  # 17:30-18:00 exact
    h = read(NOW, five, rows(hour, [1800.0], period_s=3600))
    assert h.quarters == [(hour, 1800.0), (hour + timedelta(minutes=15), 1800.0),
                          (hour + timedelta(minutes=30), 3000.0), (hour + timedelta(minutes=45), 3000.0)]
    assert (h.peak_w, h.peak_exact) == (3000.0, True)


def test_a_quarter_with_a_missing_row_is_not_learnt_and_is_a_lower_bound_for_the_peak():
    q = datetime(2025, 1, 20, 9, 0, tzinfo=UTC)
    five = rows(q, [6000.0, 6000.0])  # the third 5 minutes are missing
    five += [{"start": "2025-01-20T09:30:00+00:00"}, {"start": "2025-01-20T09:35:00+00:00", "mean": "7000"},
             {"start": "2025-01-20T09:40:00+00:00", "mean": float("nan")}, {"start": "soon", "mean": 1.0},
             {"start": "2025-01-20T09:47:00+00:00", "mean": 9000.0}, None, {"mean": 9000.0}]  # unusable: ignored
    h = read(NOW, five, [])
    assert h.quarters == [] and (h.peak_w, h.peak_start, h.peak_exact) == (4000.0, q, False)


def test_the_month_is_the_local_month_and_the_peak_only_this_months():
    now = datetime(2025, 2, 1, 0, 0, tzinfo=UTC)  # 01:00 on 1 February in Brussels
    h = read(now, rows(datetime(2025, 1, 31, 22, 45, tzinfo=UTC), [9000.0] * 3 + [3000.0] * 3), [])
    assert (h.peak_w, h.peak_start) == (3000.0, datetime(2025, 1, 31, 23, 0, tzinfo=UTC))  # 00:00 local
    assert len(h.quarters) == 2  # January's quarter is still the house's
    summer = datetime(2025, 4, 1, 2, 0, tzinfo=UTC)  # 04:00 on 1 April, summer time
    h = read(summer, [], rows(datetime(2025, 3, 31, 21, 0, tzinfo=UTC), [5000.0, 2000.0], period_s=3600))
    assert (h.peak_w, h.peak_start) == (2000.0, datetime(2025, 3, 31, 22, 0, tzinfo=UTC))  # 00:00 local


def test_the_autumn_night_with_two_half_past_twos_is_learnt_quarter_by_quarter():
    start = datetime(2025, 10, 26, 0, 30, tzinfo=UTC)  # 02:30 summer time; 01:00 UTC is 02:00 winter time
    h = read(datetime(2025, 10, 26, 3, 0, tzinfo=UTC), rows(start, [400.0] * 3 + [500.0] * 3 + [600.0] * 3), [])
    assert [slot_of(q) for q, _ in h.quarters] == [(1, 10), (1, 11), (1, 8)]  # Sunday 02:30, 02:45, 02:00
    profile = LoadProfile()
    assert profile.seed(h.quarters) == 3


def test_the_cars_own_draw_is_taken_off_for_the_profile_but_not_for_the_peak():
    q = datetime(2025, 1, 19, 22, 0, tzinfo=UTC)
    car = rows(q, [7000.0, 7000.0])  # no row for the last 5 minutes: the car was not seen, 0 W
    h = read(NOW, rows(q, [7500.0, 7400.0, 600.0]), [], car, [])
    assert h.quarters == [(q, 500.0)] and h.car_rows == 2
    assert h.peak_w == 15500.0 / 3  # what was billed, car included


def test_export_counts_as_nothing_drawn():
    q = datetime(2025, 1, 20, 11, 0, tzinfo=UTC)
    h = read(NOW, rows(q, [-2000.0, -1000.0, 3000.0]), [])
    assert h.quarters == [(q, 1000.0)] and h.peak_w == 1000.0


def test_rows_not_closed_yet_are_left_out():
    q = datetime(2025, 1, 20, 11, 45, tzinfo=UTC)
    h = read(NOW, rows(q, [1000.0] * 4), rows(datetime(2025, 1, 20, 12, 0, tzinfo=UTC), [5000.0], period_s=3600))
    assert h.quarters == [(q, 1000.0)] and h.peak_w == 1000.0


def test_the_requests_ask_for_mean_and_max_in_watts_for_ten_days_and_five_weeks():
    five, hour = balancer_history.requests(NOW, ["sensor.grid", None])
    assert five == {"statistic_ids": ["sensor.grid"], "period": "5minute", "types": ["mean", "max"], "units": {"power": "W"},
                    "start_time": "2025-01-10T12:00:00+00:00", "end_time": NOW.isoformat()}
    assert hour["period"] == "hour" and hour["start_time"] == "2024-12-16T12:00:00+00:00"
    assert balancer_history.requests(NOW, ["sensor.grid", "sensor.car"])[0]["statistic_ids"] == ["sensor.grid", "sensor.car"]


def test_answers_of_another_shape_give_an_empty_history_and_one_info_line():
    for answer in (None, {}, {"statistics": None}, {"statistics": {"sensor.other": []}}, {"statistics": {"sensor.grid": "x"}}):
        h = balancer_history.from_responses(NOW, [answer, answer], "sensor.grid", "sensor.car")
        assert h.quarters == [] and h.peak_start is None and h.grid_rows == 0
        [(level, text)] = balancer_history.messages(h, "sensor.grid", "sensor.car", 0, False)
        assert level == "info" and "no statistics for sensor.grid" in text and "state_class" in text


def test_the_info_line_says_what_came_from_where():
    q = datetime(2025, 1, 20, 10, 0, tzinfo=UTC)
    h = read(NOW, rows(q, [1000.0, 4000.0, 1600.0]), rows(datetime(2025, 1, 6, 17, 0, tzinfo=UTC), [2500.0], period_s=3600))
    [(_, text)] = balancer_history.messages(h, "sensor.grid", "sensor.car", 5, True)
    assert "0.1 days of house load found (1 quarters exact from 5-minute means, 4 from hourly means), 5 quarters new" in text
    assert "sensor.car has no statistics, so the car's past charging counts as house load" in text
    assert "this month's peak so far 2500 W (at least, the hour from 2025-01-06T18:00:00+01:00)" in text
    [(_, text)] = balancer_history.messages(h, "sensor.grid", None, 5, False)
    assert "no charger_power configured" in text and "peak" not in text


def test_an_exporting_house_gives_the_profile_its_signed_net_and_the_offtake_as_before():
    """Issue 16: the statistics of a net grid sensor (export negative) seed the profile's net mean;
    the offtake figures (exporting 5 minutes as 0) are what they were."""
    q = datetime(2025, 1, 20, 10, 0, tzinfo=UTC)
    hour = datetime(2025, 1, 19, 11, 0, tzinfo=UTC)
    h = read(NOW, rows(q, [-1500.0, -1500.0, 300.0]), rows(hour, [-800.0], period_s=3600))
    assert h.quarters[-1] == (q, 100.0) and h.net_w[-1] == -900.0
    assert h.quarters[:4] == [(hour + timedelta(minutes=15 * k), 0.0) for k in range(4)] and h.net_w[:4] == [-800.0] * 4
    seeded, offtake_only = LoadProfile(), LoadProfile()
    assert seeded.seed(h.quarters, h.net_w) == offtake_only.seed(h.quarters) == 5
    assert [seeded.mean_w, seeded.jump_w, seeded.count] == [offtake_only.mean_w, offtake_only.jump_w, offtake_only.count]
    assert seeded.usual_net_w(q) == (800.0 - 900.0) / 2 and offtake_only.usual_net_w(q) == (800.0 + 100.0) / 2
