"""The recorder's history when the app starts (issue 15): what Home Assistant already knows about
the grid sensor on the install day, served to the app as `recorder.get_statistics` answers.

`tools/replay.py --history-days N` makes the trace's first N local days the history and replays
(and scores) only the rest; `--history FILE` takes a previous trace (e.g. last month) as the
history of the trace replayed. The history is **the house alone**: the balancer was not there yet,
and the car is taken not to have charged then (a car that did is in the meter's figures: in your
own Home Assistant export take it out with `--ev-entity`).

The statistics, computed from the history's samples as Home Assistant's recorder does for a
`state_class: measurement` sensor:
* 5-minute rows (the short-term statistics, table `statistics_short_term`): per clock-aligned
  5 minutes, `mean` = the time-weighted mean of the states, `min`/`max` = the lowest/highest state
  held in those 5 minutes. Kept for the recorder's default `purge_keep_days` (10 days): only the
  rows that start in the last 10 days before the install exist.
* hourly rows (table `statistics`, kept for ever): compiled from that hour's 5-minute rows, `mean` =
  their average, `min`/`max` = their lowest/highest (`_compile_hourly_statistics`), for every whole
  hour of the history.
Only periods the history covers whole get a row; an hour the install cuts in two has none yet.

The answer has Home Assistant's shape (`homeassistant/components/recorder/services.py`):
`{"statistics": {statistic_id: [{"start": ISO UTC, "end": ISO UTC, "max": float, "mean": float},
...]}}`, rows with `start` in [start_time, end_time), only the types asked for, a statistic id
without rows left out. The stand-in answers from the history only: the statistics the replay itself
would add are not served (the app reads them once, at start).

For the bill, the history's house quarters of the install's own month count like any other quarter
of that month: the month's billed peak (with and without the car), the limit known at each quarter
and the oracle all include them (`History.billed_quarters`, used by `tools.metrics.quarters_of`).
A history in an earlier month adds nothing to the bill.
"""
from __future__ import annotations

import math
from datetime import datetime, time, timedelta, timezone

from tools.metrics import quarter_energy, split_energy
from tools.plant import QUARTER, TZ, whole_quarters
from tools.traces import Trace

SHORT_TERM_S = 300.0                    # the recorder's 5-minute statistics
HOUR_S = 3600.0
SHORT_TERM_KEEP_S = 10 * 86400.0        # recorder `purge_keep_days` default: 10 days
PERIODS = {"5minute": SHORT_TERM_S, "hour": HOUR_S}
STAT_TYPES = ("mean", "min", "max")     # a measurement sensor's; sum, state, change: none
POWER_UNITS_PER_W = {"W": 1.0, "kW": 0.001}
MAX_HISTORY_DAYS = 366


class History:
    """The grid sensor's recorded history before `start` (the install), house alone."""

    def __init__(self, trace: Trace, start: float, source: str):
        self.trace = trace          # the house-alone load; only what is before `start` counts
        self.start = start          # the scored replay's first second (epoch s, whole quarter)
        self.source = source        # for messages and the report: where the history comes from
        end = min(trace.end, start)
        p0 = math.ceil(trace.start / SHORT_TERM_S)
        n = max(0, int(end // SHORT_TERM_S) - p0)
        means = quarter_energy(trace.times, trace.power_w, trace.end, p0, n, SHORT_TERM_S)
        lows, highs = period_extremes(trace.times, trace.power_w, trace.end, p0, n, SHORT_TERM_S)
        # (start epoch s, mean W, min W, max W) per 5 minutes, in time order
        self.short_term = [((p0 + k) * SHORT_TERM_S, means[k] / SHORT_TERM_S, lows[k], highs[k])
                           for k in range(n)]
        self.hourly = _hourly(self.short_term, end)

    @property
    def days(self) -> float:
        """How many days the history covers (its 5-minute rows)."""
        return len(self.short_term) * SHORT_TERM_S / 86400.0

    def rows(self, period: str) -> list[tuple[float, float, float, float]]:
        """(start, mean, min, max) rows the recorder holds at the install for `period`."""
        if period == "hour":
            return self.hourly
        keep_from = self.start - SHORT_TERM_KEEP_S
        return [row for row in self.short_term if row[0] >= keep_from]

    def get_statistics(self, statistic_id: str, start_time, end_time=None, statistic_ids=(),
                       period="hour", types=(), units=None, **_ignored) -> dict:
        """`recorder.get_statistics`'s answer for the grid sensor `statistic_id` (ValueError for
        what the stand-in does not model: another period than 5minute/hour, another power unit)."""
        if period not in PERIODS:
            raise ValueError(f"period {period!r} is not modelled (5minute, hour)")
        unit = (units or {}).get("power", "W")
        if unit not in POWER_UNITS_PER_W:
            raise ValueError(f"power unit {unit!r} is not modelled ({', '.join(POWER_UNITS_PER_W)})")
        factor = POWER_UNITS_PER_W[unit]
        ids = [statistic_ids] if isinstance(statistic_ids, str) else list(statistic_ids)
        a = _epoch(start_time)
        b = math.inf if end_time is None else _epoch(end_time)
        wanted = [t for t in STAT_TYPES if t in types]
        out = []
        for start, mean, low, high in self.rows(period):
            if a <= start < b:
                row = {"start": _iso(start), "end": _iso(start + PERIODS[period])}
                values = {"mean": mean, "min": low, "max": high}
                for t in ("min", "max", "mean"):          # services.py's order
                    if t in wanted:
                        row[t] = values[t] * factor
                out.append(row)
        return {"statistics": {statistic_id: out} if statistic_id in ids and out else {}}

    def billed_quarters(self) -> tuple[int, list[float], list[float]]:
        """(first quarter index, house net J per quarter, house offtake J per quarter) of the
        history's quarters in the install's local month, up to the install: they count in that
        month's bill (its offtake: `tools.metrics.split_energy`). Quarters the history does not
        cover are 0 J (they raise nothing)."""
        local = datetime.fromtimestamp(self.start, TZ)
        month_start = datetime.combine(local.date().replace(day=1), time(0), TZ).timestamp()
        first = max(month_start, math.ceil(self.trace.start / QUARTER) * QUARTER)
        q0 = int(first // QUARTER)
        n = max(0, int(self.start // QUARTER) - q0)
        if n == 0 or self.trace.end <= first:
            return int(self.start // QUARTER), [], []
        end = min(self.trace.end, self.start)
        net = quarter_energy(self.trace.times, self.trace.power_w, end, q0, n)
        return q0, net, split_energy(self.trace.times, self.trace.power_w, end, q0, n, net)[0]


def period_extremes(times, values, end, p0: int, n: int, period: float
                    ) -> tuple[list[float], list[float]]:
    """Lowest and highest value a step function (values[i] from times[i], the last until `end`)
    holds in each period p0 .. p0+n-1 (period k = epoch [k·period, (k+1)·period)); 0 where it
    holds none."""
    lows, highs = [math.inf] * n, [-math.inf] * n
    lo, hi = p0 * period, (p0 + n) * period
    for i, v in enumerate(values):
        a = times[i]
        b = times[i + 1] if i + 1 < len(times) else end
        if b <= lo or a >= hi or b <= a:
            continue
        k = int(max(a, lo) // period) - p0
        last = min(int(math.ceil(min(b, hi) / period)) - p0, n)
        while k < last:
            lows[k], highs[k] = min(lows[k], v), max(highs[k], v)
            k += 1
    return ([x if x != math.inf else 0.0 for x in lows],
            [x if x != -math.inf else 0.0 for x in highs])


def _hourly(short_term, end: float) -> list[tuple[float, float, float, float]]:
    """The hourly rows compiled from the 5-minute rows of each whole hour before `end`."""
    hours: dict = {}
    for start, mean, low, high in short_term:
        hours.setdefault(start // HOUR_S * HOUR_S, []).append((mean, low, high))
    return [(h, sum(r[0] for r in rs) / len(rs), min(r[1] for r in rs), max(r[2] for r in rs))
            for h, rs in sorted(hours.items()) if h + HOUR_S <= end]


def from_days(trace: Trace, days: int) -> History:
    """The trace's first `days` local days as the history: the install is at local midnight that
    many days after the trace's first day (ValueError when nothing is left to score)."""
    first, end = whole_quarters(trace)
    day0 = datetime.fromtimestamp(first, TZ).date()
    start = datetime.combine(day0 + timedelta(days=days), time(0), TZ).timestamp()
    if start >= end:
        last = datetime.fromtimestamp(end - 1, TZ).date()
        length = (last - day0).days + 1
        raise ValueError(f"--history-days {days} leaves nothing to replay: {trace.name} covers "
                         f"{day0} to {last} ({length} days); give fewer than {length}")
    first = "the first day" if days == 1 else f"the first {days} days"
    return History(trace, start, f"{first} of {trace.name}")


def from_trace(history: Trace, trace: Trace) -> History:
    """A previous trace as the history of `trace` (only what lies before the trace's replay counts;
    ValueError when nothing does)."""
    start = whole_quarters(trace)[0]
    if history.start + SHORT_TERM_S > start:
        raise ValueError(f"--history {history.name}: it starts at "
                         f"{_local(history.start)}, not before {trace.name} starts at "
                         f"{_local(start)}: no history before the replay")
    return History(history, start, history.name)


def _epoch(value) -> float:
    """A start_time/end_time as Home Assistant's `cv.datetime` takes it: a datetime or an ISO
    string; without a UTC offset it is the stand-ins' local time, UTC (stubs/README.md)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"invalid datetime specified: {value}") from None
    if not isinstance(value, datetime):
        raise ValueError(f"invalid datetime specified: {value!r}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.timestamp()


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).isoformat()


def _local(t: float) -> str:
    return datetime.fromtimestamp(t, TZ).strftime("%Y-%m-%d %H:%M")


def replay_span(trace: Trace, history: History | None = None) -> tuple[float, float]:
    """The replayed and scored span of a trace: its whole quarters, from the install on when it
    has a history."""
    start, end = whole_quarters(trace)
    return (max(start, history.start) if history is not None else start), end


def describe(history: History) -> str:
    """One line for the report: where the history comes from and what the recorder holds."""
    last = history.short_term[-1][0] if history.short_term else history.start
    return (f"History: {history.source}, {_local(history.short_term[0][0]) if history.short_term else '-'}"
            f" to {_local(last + SHORT_TERM_S)} ({history.days:.1f} days, the house alone: no "
            f"balancer, no car then), served as the recorder's statistics of sensor.grid_power "
            f"({len(history.rows('5minute'))} 5-minute rows, {len(history.hourly)} hourly rows); "
            f"replayed and scored from {_local(history.start)}")
