"""A per-quarter series read from a CSV of interval starts (prices, solar production), and how a
month of it is laid onto a trace's days.

Both the day-ahead prices (`../shared/prices/*.csv`: `start,eur_per_mwh`, 60- or 15-minute rows)
and the rooftop production (`../shared/pv/*.csv`: `timestamp,pv_w`, 15-minute rows) are a value per
interval, each row giving the interval's start (ISO 8601 with its UTC offset). `load_series` turns
one into a value per clock quarter (UTC epoch // 900): an hourly row gives its four quarters the
same value; a row lasts the file's step (the most common gap between rows) or until the next row;
a missing interval (the 2025-10 file lacks the first run of the repeated October hour) HOLDS THE
PREVIOUS row's value, and the number of quarters filled that way is in `QuarterSeries.notes`.

Laying a month onto a trace of another month or year (`QuarterSeries.onto`), documented choice:
* Days are matched by a WEEKDAY-ALIGNED DAY OFFSET, anchored on the first of the months: the
  trace's first local month's 1st takes the series' first day shifted forward by k = 0..6 days so
  that the weekdays match (2025-01-01 is a Wednesday: the 2025-10 series starts on Wednesday 1
  October, k = 0; the 2025-11 series on a Saturday, k = 4: 1 January <- Wednesday 5 November).
  Trace day i takes series day k + i; past the series' last day it steps back a week at a time
  (the last days of a 31-day trace month take the series' last full week again). A series of the
  trace's own month and year maps every day onto itself. Weekends stay weekends, so a price
  month's weekend dips and a household's weekend load stay together; the sun follows the date.
* A series that holds the trace's first day is laid on by date instead (day for day: the same
  dates), stepping back or forward a week where it ends.
* Within a day, by LOCAL WALL TIME: the trace's 18:15 takes the series day's 18:15, so evening
  price peaks stay in the evening and noon's sun at noon. A wall time the series' day lacks (the
  spring change's 02:xx) gives the instant the clock reads then (03:xx); a repeated one (autumn)
  its first run unless the trace is in its second run too.
* A quarter the series does not hold (outside its file) holds the nearest earlier quarter it
  holds, else the nearest later one.
"""
from __future__ import annotations

import os
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from tools.plant import QUARTER, TZ
from tools.traces import _read, timed_values

HOUR = 3600.0
STEPS_S = (QUARTER, HOUR)


@dataclass
class QuarterSeries:
    """values: UTC quarter index (epoch // 900) -> value; interval: the same index -> the quarter
    index at which its row (market interval) starts, so an hourly price stays one item; step_s:
    the file's step; notes: what the reader filled in."""
    name: str
    values: dict[int, float]
    interval: dict[int, int]
    step_s: float
    notes: list[str] = field(default_factory=list)

    @property
    def first_day(self) -> date:
        return datetime.fromtimestamp(min(self.values) * QUARTER, TZ).date()

    @property
    def last_day(self) -> date:
        return datetime.fromtimestamp(max(self.values) * QUARTER, TZ).date()

    def day_map(self, anchor: date) -> "DayMap":
        return DayMap(self.first_day, self.last_day, anchor)

    def onto(self, q0: int, nq: int, anchor: date | None = None) -> tuple[list[float], list[int]]:
        """(values, source interval ids) for the trace quarters q0 .. q0+nq-1, the series' days
        laid onto them as the module says; anchor: the trace day that takes the series' first
        day's weekday-aligned match (default: the series' first day when the series holds q0's
        day, else the 1st of q0's local month)."""
        days = self.day_map(anchor or self.anchor_for(q0))
        keys = sorted(self.values)
        values, ids = [], []
        for k in range(q0, q0 + nq):
            src = self._nearest(days.source_quarter(k), keys)
            values.append(self.values[src])
            ids.append(self.interval[src])
        return values, ids

    def anchor_for(self, q0: int) -> date:
        """The default anchor of a trace starting at quarter index q0 (see `onto`)."""
        first = datetime.fromtimestamp(q0 * QUARTER, TZ).date()
        return self.first_day if self.first_day <= first <= self.last_day else month_anchor(q0)

    def _nearest(self, k: int, keys: list[int]) -> int:
        if k in self.values:
            return k
        i = bisect_right(keys, k)
        return keys[i - 1] if i > 0 else keys[0]


def month_anchor(q: int) -> date:
    """The 1st of the local month of quarter index q: where a trace's days are anchored."""
    return datetime.fromtimestamp(q * QUARTER, TZ).date().replace(day=1)


@dataclass(frozen=True)
class DayMap:
    """The weekday-aligned day offset from a trace's days onto a series' days (module docstring)."""
    source_first: date
    source_last: date
    anchor: date            # the trace's first month's 1st

    @property
    def shift_days(self) -> int:
        return (self.anchor.weekday() - self.source_first.weekday()) % 7

    def source_day(self, day: date) -> date:
        src = self.source_first + timedelta(days=self.shift_days + (day - self.anchor).days)
        span = (self.source_last - self.source_first).days + 1
        if span >= 7:
            while src > self.source_last:
                src -= timedelta(days=7)
            while src < self.source_first:
                src += timedelta(days=7)
        return src

    def source_quarter(self, k: int) -> int:
        """The series quarter index for trace quarter index k (same local wall time)."""
        local = datetime.fromtimestamp(k * QUARTER, TZ)
        src_day = self.source_day(local.date())
        src = datetime(src_day.year, src_day.month, src_day.day, local.hour, local.minute,
                       tzinfo=TZ, fold=local.fold)
        return int(src.timestamp() // QUARTER)


def load_series(path: str, header: list[str], what: str, steps=STEPS_S) -> QuarterSeries:
    """Read a `start,value` CSV into a QuarterSeries (ValueError naming the file and line)."""
    return parse_series(_read(path), path, header, what, steps)


def parse_series(text: str, path: str, header: list[str], what: str, steps=STEPS_S) -> QuarterSeries:
    """`load_series` of a file's text (`path` names it in errors and gives the series' name)."""
    def on_a_quarter(t: float, where: str, shown: str) -> None:
        if t % QUARTER:
            raise ValueError(f"{where}: {shown} is not the start of a clock quarter")

    times, vals = timed_values(text, path, header, on_a_quarter)
    if len(times) < 2:
        raise ValueError(f"{path}: need at least two {what} rows, found {len(times)}")
    gaps = Counter(b - a for a, b in zip(times, times[1:]))
    usual = [(-n, gap) for gap, n in gaps.items() if gap in steps]
    if not usual:
        raise ValueError(f"{path}: rows every {gaps.most_common(1)[0][0] / 60:g} minutes; expected "
                         + " or ".join(f"{s / 60:g}" for s in steps))
    step = min(usual)[1]         # the most common allowed gap (a tie: the shorter)
    values: dict[int, float] = {}
    interval: dict[int, int] = {}
    filled = 0
    for i, (t, v) in enumerate(zip(times, vals)):
        until = times[i + 1] if i + 1 < len(times) else t + step
        own_end = min(until, t + step)
        q, first = int(t // QUARTER), int(t // QUARTER)
        while q * QUARTER < until:
            values[q] = v
            interval[q] = first
            if q * QUARTER >= own_end:      # a missing interval: held, an item of its own
                interval[q] = q
                filled += 1
            q += 1
    series = QuarterSeries(os.path.splitext(os.path.basename(path))[0], values, interval, step)
    if filled:
        series.notes.append(f"{path}: {filled} missing quarter(s) hold the previous row's {what}")
    return series
