"""What a kWh costs in each clock quarter: a price entity or a day/night meter turned into a table.

The session planner (balancer_planner) charges in the cheapest safe quarters; it needs, for each
quarter until departure, the import price (and what an exported kWh earns, for a solar surplus).
Home Assistant's price integrations keep today's and tomorrow's prices in a list attribute, each
in its own shape; this module reads them all into one PriceTable: UTC quarter start -> EUR/kWh.

Formats read (the first list attribute found wins; items are dicts):
- custom Nord Pool: raw_today / raw_tomorrow, {start, end, value}, start/end as datetimes;
- ENTSO-e: prices_today / prices_tomorrow or prices, {time, price}, time as "2025-01-28 00:00:00+01:00";
- EPEX Spot: data, {start_time, end_time, price_per_kwh | price_ct_per_kwh | price_eur_per_mwh};
- Frank Energie: prices, {from, till, price};
- ENGIE Belgium: today / tomorrow, {start, value} (or {start, end, value, ...});
- Belgian all-in prices (be_electricity_prices): today / tomorrow, {start, ..., all_in}.
Times are ISO strings with an offset or aware datetimes (pyscript passes attributes as Python
objects); a time without an offset is skipped (it could be UTC or local). The unit comes from the
item's key when it names one (price_ct_per_kwh: c/kWh, price_eur_per_mwh: EUR/MWh), else from the
entity's unit_of_measurement (EUR/kWh, c/kWh, ct/kWh, EUR/MWh, with the euro sign or EUR), else
EUR/kWh. An item lasts end - start, or until the next item (an hour or a quarter): an hourly price
gives its four quarters the same price, so a day has 92, 96 or 100 quarters as it has 23, 24 or 25
hours. Items outside today and tomorrow (Belgian local days) are dropped: a list that only holds
older days is stale. A bad item is skipped and counted in `problem`, one line for the log.

A two-rate meter without a price entity (schedule_table): day_price, night_price and night_hours
(local time; weekends all night, public holidays not treated apart, as the Flemish DSOs do).
A plain number (export_price: 0.03) is one price for every quarter.
Pure: the entity's state and attributes and now in, never an exception.
"""

import re
from datetime import datetime, timedelta, timezone

import balancer_time
import balancer_units
from balancer_planner import local_wall_to_utc
from balancer_time import QUARTER_S

# Attribute lists holding the prices, by integration; the first group present is read.
LIST_GROUPS = (
    ("raw_today", "raw_tomorrow"),  # custom Nord Pool (its today/tomorrow are bare numbers)
    ("prices_today", "prices_tomorrow"),  # ENTSO-e (its `prices` repeats them)
    ("data",),  # EPEX Spot
    ("prices", "tomorrow_prices"),  # Frank Energie, ENTSO-e
    ("today", "tomorrow"),  # ENGIE Belgium, be_electricity_prices (all-in)
)
START_KEYS = ("start", "start_time", "time", "from")
END_KEYS = ("end", "end_time", "till")
# Value keys, most specific first: an all-in price over a spot price; a key naming its unit over
# a bare one (EPEX's older market sensor has both price_ct_per_kwh and price_eur_per_mwh).
VALUE_KEYS = ("all_in", "price_per_kwh", "price_ct_per_kwh", "price_eur_per_mwh", "price", "value")
KEY_EUR_PER_KWH = {"price_ct_per_kwh": 0.01, "price_eur_per_mwh": 0.001}
# Currency part of a unit -> EUR per unit of it; energy part -> kWh per unit of it.
CURRENCY_EUR = {"eur": 1.0, "c": 0.01, "ct": 0.01, "ceur": 0.01, "cent": 0.01, "cents": 0.01, "eurocent": 0.01}
ENERGY_KWH = {"kwh": 1.0, "mwh": 1000.0, "wh": 0.001}
# A price outside this range is a unit mix-up (c/kWh or EUR/MWh read as EUR/kWh), not a price:
# the day-ahead market is bounded at -0.5 and +4 EUR/kWh, plus at most a few tenths of all-in costs.
MIN_EUR_PER_KWH = -1.0
MAX_EUR_PER_KWH = 10.0
# Item lengths read: a quarter, half an hour, an hour.
STEPS_S = (900, 1800, 3600)
DEFAULT_NIGHT_HOURS = "22:00-07:00"
# A schedule is written out over this many local days from today: the planner looks 48 h ahead.
SCHEDULE_DAYS = 3
NO_READING_STATES = ("unavailable", "unknown", "none", "")

_HOURS_RE = re.compile(r"^\s*(\d{1,2})(:(\d{2}))?\s*-\s*(\d{1,2})(:(\d{2}))?\s*$")


class PriceTable:
    """EUR/kWh per clock quarter.

    eur_per_kwh: UTC quarter start -> EUR/kWh, today and tomorrow (local days) as far as known;
    flat_eur_per_kwh: one price for every quarter (a number, or an entity without a list), else None;
    known_until: end (UTC) of the quarters known without a gap from now's quarter, None when now's
    quarter is not known (a flat price: None too, it knows every quarter); problem: what was
    skipped or is wrong, one plain line for the log, None when all was read; source: the list read.
    """

    def __init__(self):
        self.eur_per_kwh = {}
        self.flat_eur_per_kwh = None
        self.known_until = None
        self.problem = None
        self.source = None

    def price(self, quarter_start_utc):
        """EUR/kWh in the quarter that starts at quarter_start_utc, None when not known."""
        value = self.eur_per_kwh.get(quarter_start_utc)
        if value is None:
            return self.flat_eur_per_kwh
        return value

    def prices_at(self, quarter_starts):
        """price() of each quarter of a list, in one call (a call per quarter is slow in pyscript)."""
        values = [self.eur_per_kwh.get(q) for q in quarter_starts]
        if self.flat_eur_per_kwh is None:
            return values
        return [self.flat_eur_per_kwh if value is None else value for value in values]

    def knows_any(self):
        return self.flat_eur_per_kwh is not None or len(self.eur_per_kwh) > 0


def unit_eur_per_kwh(unit):
    """EUR/kWh per unit of a price unit ('EUR/kWh', 'c€/kWh', 'ct/kWh', '€/MWh'...); None when it is
    not a euro price per energy (SEK/kWh, W, ...)."""
    text = str(unit).strip().lower().replace(" ", "").replace("\u20ac", "eur")
    parts = text.split("/")
    if len(parts) != 2:
        return None
    money = CURRENCY_EUR.get(parts[0])
    energy = ENERGY_KWH.get(parts[1])
    if money is None or energy is None:
        return None
    return money / energy


def _as_utc(value):
    """An aware datetime or ISO string as UTC; None when missing, malformed or without an offset."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    if not isinstance(value, datetime) or value.tzinfo is None:
        return None
    return value.astimezone(timezone.utc)


def _number(value):
    """A finite float from a number or a numeric string, None otherwise (bools are not numbers)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        return balancer_units.finite_number(value.strip())
    if balancer_units.is_finite_number(value):
        return float(value)
    return None


def _first(item, keys):
    for key in keys:
        if key in item:
            return key
    return None


# Every attribute a price list may be in (LIST_GROUPS flattened): what a price entity's table is
# built from, besides its unit (and its state when it holds no list).
LIST_KEYS = tuple([key for group in LIST_GROUPS for key in group])


def next_local_midnight(now):
    """The UTC instant the Belgian local day of now ends: today and tomorrow move on then."""
    return _days(now, 1)[1]


def _local_midnight_utc(local_date):
    return local_wall_to_utc(local_date.year, local_date.month, local_date.day, 0, 0)


def _days(now, count):
    """(start, end) UTC of `count` Belgian local days from now's day on."""
    today = balancer_time.to_local(now).date()
    return _local_midnight_utc(today), _local_midnight_utc(today + timedelta(days=count))


def known_until(table, now):
    """The end (UTC) of the quarters the table's list prices without a gap from now's quarter; None
    when it does not price now's quarter from a list (a flat price knows every quarter)."""
    q = balancer_time.quarter_start(now)
    if q not in table.eur_per_kwh:
        return None
    while q in table.eur_per_kwh:
        q = q + timedelta(seconds=QUARTER_S)
    return q


class _Skips:
    """Counts skipped items and keeps the first reason, for one log line."""

    def __init__(self):
        self.count = 0
        self.first = None

    def add(self, reason):
        self.count += 1
        if self.first is None:
            self.first = reason


def _items(attributes):
    """(source name, the list items of the first group present), (None, []) when there is none."""
    for group in LIST_GROUPS:
        present = [key for key in group if isinstance(attributes.get(key), list)]
        if present:
            items = []
            for key in present:
                items.extend(attributes.get(key))
            return "/".join(present), items
    return None, []


def _read_items(items, entity_scale, skips):
    """[(start UTC, end UTC or None, EUR/kWh)] sorted by start; bad items counted in skips."""
    rows = []
    shape, start_key, value_key, end_key = None, None, None, None
    for item in items:
        if not isinstance(item, dict):
            skips.add("not a price item: %s" % str(item)[:40])
            continue
        if tuple(item) != shape:  # the keys are looked up once per shape of item: loops are slow in pyscript
            shape = tuple(item)
            start_key, value_key, end_key = _first(item, START_KEYS), _first(item, VALUE_KEYS), _first(item, END_KEYS)
        if start_key is None or value_key is None:
            skips.add("no start or price in %s" % str(item)[:60])
            continue
        start = _as_utc(item.get(start_key))
        if start is None:
            skips.add("not a time with an offset: %s" % str(item.get(start_key))[:40])
            continue
        value = _number(item.get(value_key))
        if value is None:
            skips.add("not a price: %s" % str(item.get(value_key))[:40])
            continue
        eur = value * KEY_EUR_PER_KWH.get(value_key, entity_scale)
        if eur < MIN_EUR_PER_KWH or eur > MAX_EUR_PER_KWH:
            skips.add("%.3f EUR/kWh is not a plausible price (wrong unit?)" % eur)
            continue
        end = None if end_key is None else _as_utc(item.get(end_key))
        rows.append((start, len(rows), end, eur))  # the count keeps the sort off `end` (may be None)
    rows.sort()
    return [(row[0], row[2], row[3]) for row in rows]


def _fill(table, rows, window_start, window_end, skips):
    """Put each row's quarters into the table: its length from its end, else the gap to the next
    row, else the last good length seen. Returns how many rows fell outside the window."""
    outside = 0
    last_step_s = None
    for k in range(len(rows)):
        start, end, eur = rows[k]
        step_s = None if end is None else (end - start).total_seconds()
        if step_s is None and k + 1 < len(rows):
            gap_s = (rows[k + 1][0] - start).total_seconds()
            step_s = gap_s if gap_s in STEPS_S else last_step_s
        if step_s is None:
            step_s = last_step_s
        if step_s is None:
            skips.add("cannot tell how long the price from %s lasts" % balancer_time.iso_local(start))
            continue
        if step_s not in STEPS_S or start.minute % 15 or start.second or start.microsecond:
            skips.add("not a clock quarter, half hour or hour: %s" % balancer_time.iso_local(start))
            continue
        last_step_s = step_s
        if start < window_start or start >= window_end:
            outside += 1
            continue
        q = start
        while q < start + timedelta(seconds=step_s):
            table.eur_per_kwh[q] = eur
            q = q + timedelta(seconds=QUARTER_S)
    return outside


def price_table(state, attributes, now, unit=None):
    """A PriceTable from a price entity (its state and attributes dict) or a plain number.

    state: the entity's state (a number, or a string), or the number configured (export_price:
    0.03); attributes: the entity's attributes (None for a plain number); unit: the unit of a
    plain number (default EUR/kWh; an entity's unit is its unit_of_measurement attribute).
    now: aware datetime; today and tomorrow are the Belgian local days from now.
    """
    table = PriceTable()
    attributes = attributes if isinstance(attributes, dict) else {}
    if isinstance(state, str) and state.strip().lower() in NO_READING_STATES:
        table.problem = "the price entity is %s" % (state.strip().lower() or "empty")
        return table
    unit_text = attributes.get("unit_of_measurement", unit)
    scale = 1.0
    if unit_text is not None and str(unit_text).strip() != "":
        scale = unit_eur_per_kwh(unit_text)
        if scale is None:
            table.problem = "unit %s is not a euro price per kWh or MWh" % unit_text
            return table
    source, items = _items(attributes)
    if source is None:
        value = _number(state)
        if value is None:
            table.problem = "no price list (raw_today, prices_today, data, prices, today) and no number: %s" % str(state)[:40]
            return table
        table.flat_eur_per_kwh = value * scale
        table.source = "one price"
        if table.flat_eur_per_kwh < MIN_EUR_PER_KWH or table.flat_eur_per_kwh > MAX_EUR_PER_KWH:
            table.problem = "%.3f EUR/kWh is not a plausible price (wrong unit?)" % table.flat_eur_per_kwh
            table.flat_eur_per_kwh = None
        return table
    table.source = source
    skips = _Skips()
    rows = _read_items(items, scale, skips)
    window_start, window_end = _days(now, 2)
    outside = _fill(table, rows, window_start, window_end, skips)
    table.known_until = known_until(table, now)
    problems = []
    if skips.count:
        problems.append("%d of %d items in %s skipped (first: %s)" % (skips.count, len(items), source, skips.first))
    if not table.eur_per_kwh:
        if outside:
            problems.append("stale: none of the %d prices in %s is for today or tomorrow" % (outside, source))
        elif not skips.count:
            problems.append("%s holds no prices" % source)
    if problems:
        table.problem = "; ".join(problems)
    return table


def parse_night_hours(text):
    """(start, end) minutes of the local day of 'HH:MM-HH:MM', None when unreadable or empty."""
    match = _HOURS_RE.match(str(text))
    if not match:
        return None
    start_h, start_m = int(match.group(1)), int(match.group(3) or 0)
    end_h, end_m = int(match.group(4)), int(match.group(6) or 0)
    if start_h > 24 or end_h > 24 or start_m > 59 or end_m > 59:
        return None
    start, end = (start_h * 60 + start_m) % 1440, (end_h * 60 + end_m) % 1440
    if start == end:
        return None
    return start, end


def is_night(local_dt, night):
    """The low (night) rate at this local time: Saturday, Sunday, or inside night (start, end)
    minutes, which may wrap past midnight."""
    if local_dt.weekday() >= 5:
        return True
    minute = local_dt.hour * 60 + local_dt.minute
    start, end = night
    if start < end:
        return start <= minute < end
    return minute >= start or minute < end


def schedule_table(day_price, night_price, night_hours, now):
    """A PriceTable for a two-rate meter: day_price and night_price (EUR/kWh), night_hours
    ('22:00-07:00' when None; some areas use '21:00-06:00'), weekends all night. Written out
    from today's local midnight over SCHEDULE_DAYS days. Without a night_price: day_price
    everywhere. An unreadable setting gives an empty table and its problem."""
    table = PriceTable()
    day = _number(day_price)
    night = _number(night_price) if night_price is not None else day
    for name, value in (("day_price", day), ("night_price", night)):
        if value is None or value < MIN_EUR_PER_KWH or value > MAX_EUR_PER_KWH:
            table.problem = "%s %s is not a price in EUR/kWh" % (name, day_price if name == "day_price" else night_price)
            return table
    hours = parse_night_hours(DEFAULT_NIGHT_HOURS if night_hours is None else night_hours)
    if hours is None:
        table.problem = "night_hours %s is not like 22:00-07:00" % night_hours
        return table
    table.source = "day/night schedule"
    q, end = _days(now, SCHEDULE_DAYS)
    while q < end:
        table.eur_per_kwh[q] = night if is_night(balancer_time.to_local(q), hours) else day
        q = q + timedelta(seconds=QUARTER_S)
    table.known_until = known_until(table, now)
    return table
