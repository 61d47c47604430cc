"""``@time_trigger`` specs, parsed once at decoration time.

Models pyscript 1.7.0 ``trigger.py``: ``parse_time_offset``, ``TrigTime.parse_date_time`` (the
subset below), ``TrigTime.timer_trigger_next`` (``period(start, interval)`` and ``cron(...)``).
All times are naive local datetimes like pyscript's ``dt_now()``; the stubs take local = UTC.

Supported:
  * ``period(START, INTERVAL)`` with START ``now``, ``midnight``, ``noon`` or ``HH:MM[:SS]``,
    each optionally followed by an offset (``midnight + 2s``); INTERVAL per parse_time_offset.
  * ``cron(m h dom mon dow [sec])`` (croniter's optional 6th field is seconds) where minute, hour
    and second take ``*``, ``*/N``, ``N``, ``A-B``, ``A-B/N`` and comma lists; dom, mon, dow ``*``.
Everything else (``once()``, ``period`` with an end, dates, weekdays, sunrise/sunset, named cron
values) raises ``StubLimitation`` at decoration time.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
import re

from .errors import StubLimitation

_OFFSET_SPLIT = re.compile(r"([-+]?\s*\d*\.?\d+(?:[eE][-+]?\d+)?)\s*(\w*)")
_PERIOD_SPLIT = re.compile(r"period\(([^,]*),([^,]*)(?:,([^,]*))?\)")
_CRON_SEARCH = re.compile(r"cron\((?P<cron_expr>.*)\)")
_TIME_OF_DAY = re.compile(r"0*(\d+):0*(\d+)(?::0*(\d*\.?\d+(?:[eE][-+]?\d+)?))?")


def parse_time_offset(offset_str, log_error=None):
    """trigger.py parse_time_offset: "5s", "10 sec", "1min", "2h", "1d", "1w" -> seconds.

    Like pyscript, an unknown unit or unparsable text is logged (``log_error(msg)``) and the
    number is taken as seconds (or 0 if there is none).
    """
    match = _OFFSET_SPLIT.split(offset_str)
    scale = 1
    value = 0
    if len(match) == 4:
        value = float(match[1].replace(" ", ""))
        unit = match[2]
        if unit in {"m", "min", "mins", "minute", "minutes"}:
            scale = 60
        elif unit in {"h", "hr", "hour", "hours"}:
            scale = 3600
        elif unit in {"d", "day", "days"}:
            scale = 86400
        elif unit in {"w", "week", "weeks"}:
            scale = 604800
        elif unit not in {"", "s", "sec", "second", "seconds"} and log_error:
            log_error(f"can't parse time offset {offset_str}")
    elif log_error:
        log_error(f"can't parse time offset {offset_str}")
    return value * scale


class Period:
    """One ``period(start, interval)`` spec; ``next_after`` follows timer_trigger_next."""

    def __init__(self, spec, start_str, period_str, log_error):
        self.spec = spec
        self.period = parse_time_offset(period_str.strip(), log_error)
        start = start_str.strip().lower()
        self.from_startup = False
        self.tod = 0.0  # seconds after midnight
        rest = start
        if rest.startswith("now"):
            self.from_startup = True
            rest = rest[3:]
        elif rest.startswith("midnight"):
            rest = rest[8:]
        elif rest.startswith("noon"):
            self.tod = 12 * 3600.0
            rest = rest[4:]
        else:
            m = _TIME_OF_DAY.match(rest)
            if m:
                sec = float(m[3]) if m[3] else 0.0
                self.tod = sec + 60 * (int(m[2]) + 60 * int(m[1]))
                rest = rest[len(m.group(0)):]
            elif rest:
                raise StubLimitation(f"time_trigger {spec!r}: start {start_str.strip()!r} not supported by the stubs")
        rest = rest.strip()
        offset = parse_time_offset(rest, log_error) if rest else 0.0
        self.start_delta = dt.timedelta(seconds=self.tod + offset)
        self.offset_delta = dt.timedelta(seconds=offset)
        if self.period <= 0 and log_error:
            log_error(f"Invalid non-positive period {self.period} in period(): {spec}")

    def start(self, now, startup_time):
        if self.from_startup:
            return startup_time + self.offset_delta
        # midnight of now's day (naive), in now's own class: no datetime class lookup, which
        # freezegun would make a Python-level FakeDatetime
        return now.replace(hour=0, minute=0, second=0, microsecond=0) + self.start_delta

    def next_after(self, now, startup_time, skip_startup=False):
        """Next trigger time, or None (timer_trigger_next, period without end)."""
        if self.period <= 0:
            return None
        start = self.start(now, startup_time)
        best = None
        startup = now == start and now == startup_time and not skip_startup
        if now < start or startup:
            best = start
        if now >= start and not startup:
            secs = self.period * (1.0 + math.floor((now - start).total_seconds() / self.period))
            this_t = start + dt.timedelta(seconds=secs)
            if now < this_t and (best is None or this_t < best):
                best = this_t
        return best


def _cron_field(text, lo, hi, name, spec, only_star=False):
    if text == "*":
        return list(range(lo, hi + 1))
    if only_star:
        raise StubLimitation(f"time_trigger {spec!r}: cron {name} field {text!r} not supported by the stubs (only '*')")
    values = set()
    for part in text.split(","):
        m = re.fullmatch(r"(\*|\d+)(?:-(\d+))?(?:/(\d+))?", part)
        if not m:
            raise StubLimitation(f"time_trigger {spec!r}: cron {name} field {text!r} not supported by the stubs")
        step = int(m[3]) if m[3] else 1
        if m[1] == "*":
            first, last = lo, hi
        else:
            first = int(m[1])
            last = int(m[2]) if m[2] else (hi if m[3] else first)
        if not (lo <= first <= hi and lo <= last <= hi) or step < 1:
            raise ValueError(f"time_trigger {spec!r}: invalid cron {name} field {text!r}")
        values.update(range(first, last + 1, step))
    return sorted(values)


class Cron:
    """One ``cron(...)`` spec: next matching time strictly after ``now`` (croniter.get_next)."""

    def __init__(self, spec, expr):
        self.spec = spec
        fields = expr.split()
        if len(fields) not in (5, 6):
            raise StubLimitation(f"time_trigger {spec!r}: only 5 or 6 cron fields are supported by the stubs")
        self.minutes = _cron_field(fields[0], 0, 59, "minute", spec)
        self.hours = _cron_field(fields[1], 0, 23, "hour", spec)
        for text, lo, hi, name in ((fields[2], 1, 31, "day"), (fields[3], 1, 12, "month"), (fields[4], 0, 6, "weekday")):
            _cron_field(text, lo, hi, name, spec, only_star=True)
        self.seconds = _cron_field(fields[5], 0, 59, "second", spec) if len(fields) == 6 else [0]

    def next_after(self, now, startup_time=None, skip_startup=False):
        t = now.replace(microsecond=0) + dt.timedelta(seconds=1)
        hours, minutes, seconds = self.hours, self.minutes, self.seconds
        while True:
            if t.hour not in hours:
                i = bisect.bisect_left(hours, t.hour)
                day = dt.datetime(t.year, t.month, t.day)
                if i == len(hours):
                    t = day + dt.timedelta(days=1, hours=hours[0], minutes=minutes[0], seconds=seconds[0])
                else:
                    t = day + dt.timedelta(hours=hours[i], minutes=minutes[0], seconds=seconds[0])
                continue
            if t.minute not in minutes:
                i = bisect.bisect_left(minutes, t.minute)
                hour = t.replace(minute=0, second=0)
                if i == len(minutes):
                    t = hour + dt.timedelta(hours=1)
                    t = t.replace(minute=minutes[0], second=seconds[0])
                else:
                    t = hour.replace(minute=minutes[i], second=seconds[0])
                continue
            if t.second not in seconds:
                i = bisect.bisect_left(seconds, t.second)
                if i == len(seconds):
                    t = t.replace(second=0) + dt.timedelta(minutes=1)
                    t = t.replace(second=seconds[0])
                else:
                    t = t.replace(second=seconds[i])
                continue
            return t


def parse_spec(spec, log_error):
    """Parse one time_trigger string other than startup/shutdown into Period or Cron."""
    cron = _CRON_SEARCH.search(spec)
    if cron:
        return Cron(spec, cron.group("cron_expr"))
    parts = _PERIOD_SPLIT.split(spec)
    if len(parts) == 5:
        if parts[3] is not None:
            raise StubLimitation(f"time_trigger {spec!r}: period() with an end time is not supported by the stubs")
        return Period(spec, parts[1], parts[2], log_error)
    raise StubLimitation(f"time_trigger {spec!r} is not supported by the stubs (startup, shutdown, period, cron only)")
