"""Belgian local time, clock-aligned quarter-hours and calendar months.

Fluvius bills clock-aligned quarter-hours of local time (Europe/Brussels) and calendar months of
local time. zoneinfo is not on pyscript's default import allow-list, so the EU summer-time rule
(in force since 1996) is written out here: UTC+1, and UTC+2 from the last Sunday of March 01:00 UTC
to the last Sunday of October 01:00 UTC. Both offsets are whole hours, so a quarter-hour boundary
in UTC is a quarter-hour boundary in local time; only months need the offset.

Every function takes and returns timezone-aware datetimes; the caller supplies "now". The ones
every quarter of a history or a plan goes through are @pyscript_compile (native in pyscript: its
interpreter takes about 50 us a statement, and the load profile's seed calls them thousands of
times); they call only each other and the standard library.
"""

from datetime import datetime, timedelta, timezone

QUARTER_S = 900
WINTER_OFFSET = timedelta(hours=1)
SUMMER_OFFSET = timedelta(hours=2)


@pyscript_compile
def _last_sunday_0100_utc(year, month):
    """01:00 UTC on the last Sunday of a 31-day month (March and October)."""
    last_day = datetime(year, month, 31, 1, 0, tzinfo=timezone.utc)
    return last_day - timedelta(days=(last_day.weekday() + 1) % 7)


_SUMMER_BY_YEAR = {}  # year -> (summer start, summer end) in UTC; computed once per year


@pyscript_compile
def _summer_time(year):
    bounds = _SUMMER_BY_YEAR.get(year)
    if bounds is None:
        bounds = (_last_sunday_0100_utc(year, 3), _last_sunday_0100_utc(year, 10))
        _SUMMER_BY_YEAR[year] = bounds
    return bounds


@pyscript_compile
def utc_offset(utc_dt):
    """Europe/Brussels offset from UTC at the instant utc_dt."""
    summer_start, summer_end = _summer_time(utc_dt.astimezone(timezone.utc).year)
    if summer_start <= utc_dt < summer_end:
        return SUMMER_OFFSET
    return WINTER_OFFSET


@pyscript_compile
def to_local(utc_dt):
    """The same instant as an aware datetime in Belgian local time."""
    return utc_dt.astimezone(timezone(utc_offset(utc_dt)))


@pyscript_compile
def quarter_start(dt):
    """Start (UTC) of the clock-aligned quarter-hour that holds dt."""
    utc = dt.astimezone(timezone.utc)
    floored = utc.replace(minute=utc.minute - utc.minute % 15, second=0, microsecond=0)
    return floored


def quarter_end(dt):
    """End (UTC, exclusive) of the quarter-hour that holds dt."""
    return quarter_start(dt) + timedelta(seconds=QUARTER_S)


def month_key(dt):
    """Calendar month of dt in local time, as 'YYYY-MM' (the billing month)."""
    local = to_local(dt)
    return "%04d-%02d" % (local.year, local.month)


def month_start_utc(year, month):
    """The UTC instant of local midnight starting the 1st of year-month."""
    wall = datetime(year, month, 1, tzinfo=timezone.utc)  # local wall time, offset still unknown
    for offset in (WINTER_OFFSET, SUMMER_OFFSET):
        candidate = wall - offset
        if utc_offset(candidate) == offset:
            return candidate
    return wall - WINTER_OFFSET


def month_bounds(dt):
    """(start, end) in UTC of the local calendar month that holds dt."""
    local = to_local(dt)
    year, month = local.year, local.month
    next_year, next_month = (year + 1, 1) if month == 12 else (year, month + 1)
    return month_start_utc(year, month), month_start_utc(next_year, next_month)


def iso_local(dt):
    """Local time as ISO 8601 with offset, seconds precision (for state attributes and logs)."""
    return to_local(dt).replace(microsecond=0).isoformat()


def parse_iso(text):
    """Aware datetime from an ISO 8601 string, or None when it is missing or malformed."""
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(str(text))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    return parsed
