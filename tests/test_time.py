"""Local time, quarter-hours and billing months (Europe/Brussels)."""

from datetime import datetime, timezone

import balancer_time as bt


def utc(text):
    return datetime.fromisoformat(text).astimezone(timezone.utc)


def test_winter_and_summer_offsets():
    assert bt.to_local(utc("2025-01-15T12:00:00+00:00")).isoformat() == "2025-01-15T13:00:00+01:00"
    assert bt.to_local(utc("2025-07-15T12:00:00+00:00")).isoformat() == "2025-07-15T14:00:00+02:00"


def test_spring_forward_at_0100_utc_last_sunday_of_march():
    assert bt.to_local(utc("2025-03-30T00:59:59+00:00")).isoformat() == "2025-03-30T01:59:59+01:00"
    assert bt.to_local(utc("2025-03-30T01:00:00+00:00")).isoformat() == "2025-03-30T03:00:00+02:00"


def test_fall_back_at_0100_utc_last_sunday_of_october():
    assert bt.to_local(utc("2025-10-26T00:59:59+00:00")).isoformat() == "2025-10-26T02:59:59+02:00"
    assert bt.to_local(utc("2025-10-26T01:00:00+00:00")).isoformat() == "2025-10-26T02:00:00+01:00"


def test_month_changes_at_local_midnight():
    assert bt.month_key(utc("2025-01-31T22:59:59+00:00")) == "2025-01"
    assert bt.month_key(utc("2025-01-31T23:00:00+00:00")) == "2025-02"
    assert bt.month_key(utc("2025-06-30T21:59:59+00:00")) == "2025-06"
    assert bt.month_key(utc("2025-06-30T22:00:00+00:00")) == "2025-07"


def test_quarters_are_clock_aligned_in_local_time_also_across_dst():
    for text in ("2025-03-30T03:07:00+02:00", "2025-10-26T02:52:10+01:00", "2025-10-26T02:52:10+02:00"):
        start = bt.to_local(bt.quarter_start(utc(text)))
        assert start.minute % 15 == 0 and start.second == 0
        assert (bt.quarter_end(utc(text)) - bt.quarter_start(utc(text))).total_seconds() == 900


def test_parse_iso_rejects_naive_and_garbage():
    assert bt.parse_iso("2025-01-01T00:00:00+00:00") == utc("2025-01-01T00:00:00+00:00")
    assert bt.parse_iso("2025-01-01T00:00:00") is None
    assert bt.parse_iso("yesterday") is None
    assert bt.parse_iso(None) is None


def test_month_bounds_are_local_midnights_in_utc():
    assert bt.month_bounds(utc("2025-01-15T12:00:00+00:00")) == (utc("2024-12-31T23:00:00+00:00"), utc("2025-01-31T23:00:00+00:00"))
    # March starts in winter time and ends in summer time; April starts in summer time
    assert bt.month_bounds(utc("2025-03-31T12:00:00+00:00")) == (utc("2025-02-28T23:00:00+00:00"), utc("2025-03-31T22:00:00+00:00"))
    assert bt.month_bounds(utc("2025-10-31T12:00:00+00:00")) == (utc("2025-09-30T22:00:00+00:00"), utc("2025-10-31T23:00:00+00:00"))
    assert bt.month_bounds(utc("2025-12-31T22:59:59+00:00"))[1] == utc("2025-12-31T23:00:00+00:00")
