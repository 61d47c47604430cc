"""Quarter-hour energy integration and the monthly peak."""

from datetime import datetime, timedelta, timezone

import pytest

from balancer_metering import MAX_HOLD_S, READING_HOLDS_S, MonthlyPeak, QuarterMeter, capacity_limit_w

T0 = datetime(2025, 1, 15, 11, 0, tzinfo=timezone.utc)  # 12:00 local, a quarter start


def at(seconds):
    return T0 + timedelta(seconds=seconds)


def test_a_reading_holds_until_the_next():
    meter = QuarterMeter()
    meter.advance(at(0), 2000)
    meter.advance(at(300), 5000)
    meter.advance(at(600), 1000)
    closed = meter.advance(at(900), 1000)
    # held: each reading to the next; sure (the peak's): 5000 W only READING_HOLDS_S after its
    # report, the lower 1000 W for the rest of that span
    assert closed == [(at(0), (2000 * 300 + 5000 * 300 + 1000 * 300) / 900, 900.0, True,
                       (2000 * 300 + 5000 * 5 + 1000 * 295 + 1000 * 300) / 900)]
    assert meter.quarter_start == at(900) and meter.energy_j == 0


def test_export_counts_as_zero():
    meter = QuarterMeter()
    meter.advance(at(0), -3000)
    meter.advance(at(300), 2000)
    meter.advance(at(600), 2000)
    closed = meter.advance(at(900), 0)
    assert closed[0][1] == 2000 * 600 / 900


def test_energy_is_split_at_quarter_boundaries():
    meter = QuarterMeter()
    for seconds in (0, 290, 580, 870):
        meter.advance(at(seconds), 1800)
    closed = meter.advance(at(1000), 1800)  # the first update after the boundary
    assert closed == [(at(0), 1800.0, 900.0, True, 1800.0)]
    assert meter.energy_j == 1800 * 100


def test_a_late_first_reading_is_not_filled_in_but_the_budget_assumes_it_held():
    """Issue 8, defect 1: a first start mid-quarter filled the unwatched part with the first
    reading (the car at 32 A), and that guess became a 7.5 kW monthly peak."""
    meter = QuarterMeter()
    meter.advance(at(600), 7400)
    assert meter.energy_j == 0 and meter.covered_s == 0
    assert meter.budget_energy_j() == 7400 * 600  # the safe guess, for the budget only
    meter.advance(at(700), 1000)
    closed = meter.advance(at(900), 1000)
    start, average_w, covered_s, complete, sure_w = closed[0]
    assert not complete and covered_s == 300
    assert average_w == (7400 * 100 + 1000 * 200) / 900  # measured only
    assert sure_w == (7400 * 5 + 1000 * 295) / 900


def test_a_first_reading_counts_from_its_own_report_time():
    meter = QuarterMeter()
    meter.advance(at(300), 2000, reported_at=at(298))
    assert meter.energy_j == 2000 * 2 and meter.unwatched_s == 298


def test_a_reading_counts_from_when_the_meter_reported_it_not_from_the_next_step():
    """Issue 8, defect 8: a reading that arrived just after a step was held from the next step:
    a 5 kW step read 1899 W against a true 1920 W."""
    meter = QuarterMeter()
    meter.advance(at(0), 1000, reported_at=at(0))
    meter.advance(at(100), 1000, reported_at=at(99))
    meter.advance(at(105), 6000, reported_at=at(101))  # the step came 4 s late
    for seconds in (300, 500, 700):
        meter.advance(at(seconds), 6000, reported_at=at(seconds - 1))
    closed = meter.advance(at(900), 6000, reported_at=at(899))
    assert closed[0][1] == (1000 * 101 + 6000 * 799) / 900


def test_a_gap_longer_than_the_hold_is_left_uncounted():
    meter = QuarterMeter()
    meter.advance(at(0), 3000)
    closed = meter.advance(at(2 * 900 + 60), 1000)
    assert [q[1] for q in closed] == [0.0, 0.0]
    assert MAX_HOLD_S < 900


def test_clock_going_backwards_keeps_the_energy_counted():
    meter = QuarterMeter()
    meter.advance(at(0), 1000)
    meter.advance(at(100), 1000)
    meter.advance(at(40), 1000)
    meter.advance(at(100), 1000)
    assert meter.energy_j == 1000 * 160


def test_monthly_peak_keeps_the_highest_quarter_and_its_start():
    peak = MonthlyPeak()
    assert peak.observe(at(0), 3000)
    assert not peak.observe(at(900), 2000)
    assert peak.observe(at(1800), 4500)
    assert (peak.peak_w, peak.peak_quarter, peak.month) == (4500, at(1800), "2025-01")


def test_monthly_peak_resets_at_local_midnight_of_the_first():
    peak = MonthlyPeak()
    last_quarter_of_january = datetime(2025, 1, 31, 22, 45, tzinfo=timezone.utc)  # 23:45 local
    peak.observe(last_quarter_of_january, 5000)
    assert not peak.roll_to(datetime(2025, 1, 31, 22, 59, 59, tzinfo=timezone.utc))
    assert peak.roll_to(datetime(2025, 1, 31, 23, 0, 5, tzinfo=timezone.utc))
    assert peak.peak_w == 0 and peak.month == "2025-02"
    # January's last quarter closing late must not take February back to January
    assert not peak.observe(last_quarter_of_january, 6000)
    assert peak.month == "2025-02"


def test_restore_keeps_only_this_months_peak():
    peak = MonthlyPeak()
    assert not peak.restore("2024-12", 7000, None, at(0))
    assert peak.peak_w == 0
    assert peak.restore("2025-01", 5200, at(-900), at(0))
    assert peak.peak_w == 5200


def test_capacity_limit_is_the_higher_of_peak_and_target():
    assert capacity_limit_w(3000, 4000) == 4000
    assert capacity_limit_w(5200, 4000) == 5200


def test_a_restored_quarter_assumes_the_first_reading_held_through_the_unwatched_gap():
    """After a restart the quarter's energy comes back, but nobody saw the minute until the
    meter's first telegram: the budget assumes the first reading held then (not nothing, which
    let the car take more than the quarter had)."""
    meter = QuarterMeter()
    meter.restore(at(0), 1000 * 275, 275, at(275))
    for seconds in (300, 305, 310):  # steps while the meter has not spoken yet
        meter.advance(at(seconds), None)
    meter.advance(at(331), 3000, reported_at=at(331))
    assert meter.energy_j == 1000 * 275  # measured: the peak never counts the guess
    assert meter.budget_energy_j() == 1000 * 275 + 3000 * 56


def _meter_every_30_s(readings):
    """A 30 s meter (DSMR's default) from the quarter's start: readings[k] reported at 30 k s."""
    meter = QuarterMeter()
    closed = []
    for k in range(len(readings)):
        closed += meter.advance(at(30 * k), readings[k], reported_at=at(30 * k))
    return meter, closed


def test_a_slow_meter_s_held_reading_is_not_the_peak_s_figure_after_it_drops():
    """A kettle that stops just after a 30 s meter's report is held for the whole 30 s: the
    budget keeps that (its safe side), the month's peak counts the span beyond READING_HOLDS_S at
    the lower reading, so the own peak never takes energy the house may not have drawn."""
    meter, _ = _meter_every_30_s([1000] + [5000] * 10 + [1000] * 19)  # the last report at 870 s
    held_j = 1000 * 30 + 5000 * 300 + 1000 * 540
    assert meter.energy_j == held_j and meter.budget_energy_j() == held_j
    assert meter.sure_average_w() == pytest.approx((held_j - 4000 * (30 - READING_HOLDS_S)) / 900)
    closed = meter.advance(at(900), 1000, reported_at=at(900))
    assert closed[0][1] == pytest.approx((held_j + 1000 * 30) / 900)
    assert closed[0][4] == pytest.approx((held_j + 1000 * 30 - 4000 * 25) / 900)


def test_the_first_report_after_a_quarter_s_end_revises_its_sure_figure_and_the_peak():
    """The last span of a quarter is known only when the next quarter's first report comes: a
    drop there lowers the closed quarter's sure figure, and the month's peak it had set goes back
    to that figure (or to the peak before it, when that is higher)."""
    meter, _ = _meter_every_30_s([4000] * 30)  # last report at 870 s
    closed = meter.advance(at(900), None)  # the step at the quarter's end: nothing new reported
    peak = MonthlyPeak()
    peak.observe(at(-900), 3950)
    assert peak.observe(closed[0][0], closed[0][4]) and peak.peak_w == 4000
    assert meter.take_revised() is None
    meter.advance(at(902), 0, reported_at=at(900))  # the kettle was off from 875 s
    start, sure_w = meter.take_revised()
    assert start == at(0) and sure_w == pytest.approx((4000 * 900 - 4000 * 25) / 900)
    assert meter.take_revised() is None  # taken once
    peak.revise(start, sure_w)
    assert peak.peak_w == 3950 and peak.peak_quarter == at(-900)  # the peak before was higher


def test_a_revision_of_a_quarter_that_did_not_set_the_peak_changes_nothing():
    peak = MonthlyPeak()
    peak.observe(at(0), 3000)
    peak.observe(at(900), 2500)
    peak.revise(at(900), 2000)
    assert (peak.peak_w, peak.peak_quarter) == (3000, at(0))
    peak.revise(at(0), 2900)
    assert (peak.peak_w, peak.peak_quarter) == (2900, at(0))  # the lower sure figure; nothing was before it


def test_a_fast_meter_s_readings_are_the_sure_figure():
    """A meter reporting every READING_HOLDS_S (5 s): its held figure is the sure one."""
    meter = QuarterMeter()
    for k in range(180):
        meter.advance(at(5 * k), 6000 if k % 2 else 500, reported_at=at(5 * k))
    assert meter.sure_average_w() == meter.average_w() > 0


def test_the_sure_figure_survives_a_restart():
    meter, _ = _meter_every_30_s([1000] + [5000] * 10 + [1000] * 5)
    saved = meter.snapshot(at(460))
    restored = QuarterMeter()
    assert restored.restore_snapshot(saved, at(460))
    assert abs(restored.sure_average_w() - meter.sure_average_w()) < 0.1  # saved to 0.01 Wh


def test_a_saved_figure_that_no_household_makes_is_not_restored_and_says_why():
    """A state edited by hand, or a unit mixed up (3 500 000 W): restored, it would set the month's
    limit or the quarter's budget from a guess. Not restored; rejected says why, for the log."""
    now = datetime(2025, 1, 15, 11, 5, tzinfo=timezone.utc)
    for bad in (3500000, "inf", "nan", -5, "abc", True, [1]):
        peak = MonthlyPeak()
        assert not peak.restore_snapshot({"month": "2025-01", "own_peak": bad}, "0", now)
        assert peak.peak_w == 0.0 and peak.rejected
    peak = MonthlyPeak()
    assert peak.restore_snapshot({"month": "2025-01", "own_peak": "4100"}, "0", now) and peak.peak_w == 4100.0
    assert not MonthlyPeak().restore_snapshot({"month": "2024-12", "own_peak": "inf"}, "0", now)  # last month's: nothing to say
    quarter = {"quarter_start": "2025-01-15T11:00:00+00:00", "updated": "2025-01-15T11:04:00+00:00", "energy_wh": 300, "covered_s": 240}
    for key, bad in (("energy_wh", -900), ("energy_wh", "inf"), ("energy_wh", "nan"), ("covered_s", 5000), ("assumed_wh", -1), ("lowered_wh", "x")):
        meter = QuarterMeter()
        assert not meter.restore_snapshot(dict(quarter, **{key: bad}), now)
        assert meter.energy_j == 0.0 and key in meter.rejected
    meter = QuarterMeter()
    assert meter.restore_snapshot(quarter, now) and meter.energy_j == 300 * 3600.0 and meter.rejected is None
