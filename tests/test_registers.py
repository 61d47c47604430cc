"""The meter's own quarter average and month peak, and the late month reset."""

from datetime import datetime, timedelta, timezone

from balancer_registers import MeterPeakGuard, meter_quarter_energy_j

QUARTER = datetime(2025, 1, 15, 17, 0, tzinfo=timezone.utc)


def test_running_average_counts_only_for_the_running_quarter_and_while_fresh():
    assert meter_quarter_energy_j(2000, QUARTER + timedelta(seconds=300), QUARTER, 3, 60) == 2000 * 900
    assert meter_quarter_energy_j(2000, QUARTER - timedelta(seconds=2), QUARTER, 5, 60) is None
    assert meter_quarter_energy_j(2000, QUARTER + timedelta(seconds=300), QUARTER, 90, 60) is None
    assert meter_quarter_energy_j(None, QUARTER, QUARTER, 0, 60) is None


def utc(text):
    return datetime.fromisoformat(text).astimezone(timezone.utc)


def test_last_months_peak_is_not_carried_into_the_new_month():
    guard = MeterPeakGuard()
    january_peak_set = utc("2025-01-20T19:15:00+01:00")
    assert guard.trusted_peak_w(utc("2025-01-31T23:55:00+01:00"), 6500, january_peak_set) == 6500
    # midnight: the meter still shows January's 6.5 kW until it resets around 01:00
    assert guard.trusted_peak_w(utc("2025-02-01T00:00:05+01:00"), 6500, january_peak_set) is None
    assert guard.trusted_peak_w(utc("2025-02-01T00:45:00+01:00"), 6500, january_peak_set) is None
    reset_at = utc("2025-02-01T01:00:02+01:00")
    assert guard.trusted_peak_w(reset_at, 0, reset_at) == 0
    assert guard.trusted_peak_w(utc("2025-02-01T08:00:00+01:00"), 3100, utc("2025-02-01T07:45:00+01:00")) == 3100


def test_after_a_restart_early_on_the_first_wait_for_a_change():
    guard = MeterPeakGuard()
    restarted = utc("2025-02-01T00:30:00+01:00")  # every entity gets a fresh last_changed
    assert guard.trusted_peak_w(restarted, 6500, restarted) is None
    assert guard.trusted_peak_w(utc("2025-02-01T01:00:05+01:00"), 0, utc("2025-02-01T01:00:05+01:00")) == 0


def test_after_a_restart_mid_month_the_value_is_this_months():
    guard = MeterPeakGuard()
    restarted = utc("2025-02-10T12:00:00+01:00")
    assert guard.trusted_peak_w(restarted, 4200, restarted) == 4200
