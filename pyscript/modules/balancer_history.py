"""The house's past from Home Assistant's recorder (issue 15): statistics rows in, the load
profile's seed and the month's peak so far out. No Home Assistant here: the glue calls
recorder.get_statistics with requests() and hands the answers to from_responses(); a simulator
can hand read() rows it made itself ({"start": ISO time, "mean": W}, as the action answers).

What the recorder keeps of a sensor with a state_class (homeassistant/components/recorder):
- 5-minute statistics for 10 days (the default purge_keep_days): each row's `mean` is the
  time-weighted mean of the sensor over its 5 minutes, so three rows that fill a clock quarter give
  that quarter's average exactly (a Belgian quarter is a UTC quarter: whole-hour offsets);
- hourly statistics for ever: the hour's `mean` is the average of its four quarters, so it is a
  LOWER bound of the hour's highest quarter, and the only figure here that may raise the month's
  peak before the 5-minute rows begin. The hour's `max` is the highest instantaneous state, not a
  quarter average: it would invent a peak, and it is never used for one (nor for the profile).
Both types are asked for (mean and max, as the action's users expect), in W whatever the sensor's
unit (the action's `units`: HA converts kW, MW to W; a sensor without a unit is read as W, as the
app reads its live state).

The grid sensor includes the car. With a charger power sensor that has statistics, the car's mean
over the same 5 minutes (or hour) is taken off for the profile; without one the car's past
charging counts as house load (the profile then errs on the busy side where the car used to
charge, until its own observations replace it). The month's peak is the grid's, car included: it
is what was billed.

An hourly mean stands for each of its four quarters in the profile (the quarters of the hour are
not known apart): the profile's mean is right, its jump smaller than the house's real one. The
last 10 days, exact, come last and weigh most.
"""

import math
from datetime import datetime, timedelta, timezone

import balancer_time

from balancer_runtime import INFO
from balancer_time import QUARTER_S
FIVE_MINUTE_DAYS = 10  # the recorder's default short-term retention
# Hourly rows for five weeks: ten weekend days (the profile's COUNT_CAP: older days are forgotten
# anyway) and any month's start. A year of rows for nothing the profile keeps took 0.7 s more of
# Home Assistant's event loop at each start (measured in pyscript 1.7.0: 0.2 s for five weeks).
HOUR_DAYS = 35
TYPES = ("mean", "max")
UNITS = {"power": "W"}
FIVE_MINUTE_S = 300
HOUR_S = 3600
ROWS_PER_QUARTER = QUARTER_S // FIVE_MINUTE_S
QUARTERS_PER_HOUR = HOUR_S // QUARTER_S
QUARTERS_PER_DAY = 96


class History:
    """What the statistics say.

    quarters: [(quarter start UTC, house average W)] in time order, for LoadProfile.seed (offtake:
    an exporting 5 minutes counts as 0); net_w: the house's net average (W, export negative) of each
    of those quarters, in the same order, for the profile's net (issue 16);
    exact_quarters: how many of them came from three 5-minute means (the rest from hourly means);
    peak_w / peak_start: the month's highest grid quarter average found (0 / None: none), and the
    quarter it is (peak_exact) or the hour it lies in (a lower bound from an hourly mean);
    grid_rows: rows of the grid sensor (0: it has no statistics); car_rows: rows of the charger's
    power sensor (0: its draw could not be taken off); candidates: every (start, end, W, exact) of
    this month the peak was chosen from (keep_peak_unwatched chooses again among some of them).
    """

    def __init__(self):
        self.quarters = []
        self.net_w = []
        self.exact_quarters = 0
        self.peak_w = 0.0
        self.peak_start = None
        self.peak_exact = False
        self.grid_rows = 0
        self.car_rows = 0
        self.candidates = []

    def keep_peak_unwatched(self, watched_from, watched_until):
        """The peak among the quarters (and hours) the app did not watch itself: those that start
        before watched_from or end after watched_until (either None: it watched none). Its own figures for the
        quarters it watched are surer than the recorder's, whose 5-minute means hold each state
        until the next (a 30 s meter's kettle counts in full), where the app counts only what is
        sure (balancer_metering)."""
        self.peak_w, self.peak_start, self.peak_exact = 0.0, None, False
        for start, end, peak_w, exact in self.candidates:
            watched = watched_from is not None and watched_until is not None and watched_from <= start and end <= watched_until
            if not watched and peak_w > self.peak_w:
                self.peak_w, self.peak_start, self.peak_exact = peak_w, start, exact

    def days(self):
        """Days of house load the profile gets (quarters / 96)."""
        return len(self.quarters) / float(QUARTERS_PER_DAY)


def requests(now, statistic_ids):
    """The data of the two recorder.get_statistics calls (5-minute and hourly), for the ids that
    are configured (None left out). Times are aware ISO strings, the first quarter whole."""
    ids = [statistic_id for statistic_id in statistic_ids if statistic_id]
    calls = []
    for period, days in (("5minute", FIVE_MINUTE_DAYS), ("hour", HOUR_DAYS)):
        start = balancer_time.quarter_start(now - timedelta(days=days))
        calls.append({"statistic_ids": ids, "period": period, "types": list(TYPES), "units": dict(UNITS),
                      "start_time": start.isoformat(), "end_time": now.isoformat()})
    return calls


def rows_of(response, statistic_id):
    """The rows of one statistic in a get_statistics answer ({"statistics": {id: [rows]}});
    [] when it has none or the answer is not of that shape."""
    if not statistic_id or not isinstance(response, dict):
        return []
    statistics = response.get("statistics")
    if not isinstance(statistics, dict):
        return []
    rows = statistics.get(statistic_id)
    return rows if isinstance(rows, list) else []


def from_responses(now, responses, grid_id, car_id=None):
    """A History from the answers to requests() (5-minute first, then hourly)."""
    five_minute = responses[0] if len(responses) > 0 else None
    hour = responses[1] if len(responses) > 1 else None
    return read(now, rows_of(five_minute, grid_id), rows_of(hour, grid_id),
                rows_of(five_minute, car_id), rows_of(hour, car_id))


@pyscript_compile
def _means(rows, period_s):
    """{start (aware UTC): mean W} of the usable rows: a numeric mean and an aware ISO start on its
    period's clock boundary (anything else is not the recorder's, and is left out). Native
    (@pyscript_compile): ten days of 5-minute rows are thousands."""
    means = {}
    for row in rows or []:
        if not isinstance(row, dict):
            continue
        mean, start = row.get("mean"), row.get("start")
        if isinstance(mean, bool) or not isinstance(mean, (int, float)) or not math.isfinite(mean) or not isinstance(start, str):
            continue
        try:
            start = datetime.fromisoformat(start)
        except ValueError:
            continue
        if start.tzinfo is None or (start.minute * 60 + start.second) % period_s or start.microsecond:
            continue
        means[start.astimezone(timezone.utc)] = float(mean)
    return means


@pyscript_compile
def _quarters(now, month_start, month_end, grid_five, grid_hourly, car_five, car_hourly):
    """(quarters, their net W, exact quarters, this month's peak candidates [(start, end, W,
    exact)]) from the rows' means;
    see read()."""
    five_minute, quarter, hour = timedelta(seconds=FIVE_MINUTE_S), timedelta(seconds=QUARTER_S), timedelta(seconds=HOUR_S)
    candidates = []
    sums = {}  # quarter start -> [grid W-sum, house W-sum, rows, house net W-sum]
    for start in grid_five:
        if start + five_minute > now:
            continue
        mean = grid_five[start]
        q = start - timedelta(minutes=start.minute % 15)
        entry = sums.setdefault(q, [0.0, 0.0, 0, 0.0])
        # Offtake only: an exporting 5 minutes drew at least nothing (a lower bound stays one).
        entry[0] += max(0.0, mean)
        entry[1] += max(0.0, mean - car_five.get(start, 0.0))
        entry[2] += 1
        entry[3] += mean - car_five.get(start, 0.0)
    quarters, exact = [], set()
    for q in sums:
        grid_sum, house_sum, rows, net_sum = sums[q]
        if rows > ROWS_PER_QUARTER:
            continue
        # Missing rows drew at least nothing: the average of what is there is a lower bound.
        if month_start <= q < month_end:
            candidates.append((q, q + quarter, grid_sum / ROWS_PER_QUARTER, rows == ROWS_PER_QUARTER))
        if rows == ROWS_PER_QUARTER:
            exact.add(q)
            quarters.append((q, house_sum / ROWS_PER_QUARTER, net_sum / ROWS_PER_QUARTER))
    for start in grid_hourly:
        if start + hour > now:
            continue
        mean = max(0.0, grid_hourly[start])
        if month_start <= start < month_end:
            candidates.append((start, start + hour, mean, False))
        net_w = grid_hourly[start] - car_hourly.get(start, 0.0)
        house_w = max(0.0, net_w)
        for k in range(QUARTERS_PER_HOUR):
            if start + quarter * k not in exact:
                quarters.append((start + quarter * k, house_w, net_w))
    quarters.sort()
    return [(item[0], item[1]) for item in quarters], [item[2] for item in quarters], len(exact), candidates


def read(now, grid_5min, grid_hour, car_5min=None, car_hour=None):
    """A History from statistics rows ({"start": ISO, "mean": W, ...}, as the action answers) of
    the grid sensor (export negative or not) and, when known, of the charger's power sensor.
    Rows not yet closed at now, or of another period's alignment, are ignored; so are 5-minute
    rows beyond three in one quarter (not the recorder's)."""
    history = History()
    month_start, month_end = balancer_time.month_bounds(now)
    grid_five, grid_hourly = _means(grid_5min, FIVE_MINUTE_S), _means(grid_hour, HOUR_S)
    car_five, car_hourly = _means(car_5min, FIVE_MINUTE_S), _means(car_hour, HOUR_S)
    history.grid_rows = len(grid_five) + len(grid_hourly)
    history.car_rows = len(car_five) + len(car_hourly)
    history.quarters, history.net_w, history.exact_quarters, history.candidates = _quarters(
        now, month_start, month_end, grid_five, grid_hourly, car_five, car_hourly)
    history.keep_peak_unwatched(None, None)
    return history


def messages(history, grid_id, car_id, learnt, peak_taken):
    """What the log says about the seed, as (level, text) lines: one INFO line.

    learnt: quarters the profile took (balancer_profile.LoadProfile.seed); peak_taken: the month's
    peak was raised by the statistics."""
    if history.grid_rows == 0:
        return [(INFO, "no statistics for %s in the recorder (it needs a state_class such as measurement): "
                         "the load profile starts from what it has learnt so far" % grid_id)]
    hourly = len(history.quarters) - history.exact_quarters
    text = "load profile from the recorder's statistics of %s: %.1f days of house load found (%d quarters exact from 5-minute means, %d from hourly means), %d quarters new to the profile" % (
        grid_id, history.days(), history.exact_quarters, hourly, learnt)
    if car_id and history.car_rows:
        text += "; the car's draw taken off with the statistics of %s" % car_id
    elif car_id:
        text += "; %s has no statistics, so the car's past charging counts as house load" % car_id
    else:
        text += "; no charger_power configured, so the car's past charging counts as house load"
    if peak_taken:
        where = "the quarter" if history.peak_exact else "at least, the hour"
        text += "; this month's peak so far %.0f W (%s from %s)" % (
            history.peak_w, where, balancer_time.iso_local(history.peak_start))
    return [(INFO, text)]
