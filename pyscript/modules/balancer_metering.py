"""Quarter-hour offtake energy and this month's peak, from grid power readings.

The grid operator bills the average offtake of each clock-aligned quarter-hour; export counts as
zero. A reading holds until the next one (a P1 meter reports the power it sees now), so energy is
the step integral of the readings. Quarters are closed when time passes their end; the closed
quarter's average is offered to MonthlyPeak, which keeps the highest average of the calendar month.

The month's peak takes the quarter's SURE figure: a reading is known to hold for READING_HOLDS_S
after its report; beyond that nobody knows when between two readings the power moved, so a span
ending in a lower reading counts at the lower one there. The quarter budget keeps the held figure
(the safe side for the budget); the peak never takes a figure the house may not have drawn (a
30 s meter held a 4 kW kettle's reading 25 s after it stopped: the own peak rose above the
meter's and the car then filled quarters up to it).
"""

from datetime import timedelta

import balancer_time
import balancer_units

from balancer_time import QUARTER_S
# A gap longer than this between two integrations (Home Assistant down, clock jumped forward) is
# not filled with the last power: nobody knows what was drawn then.
MAX_HOLD_S = 300
# A quarter is complete when the app watched it from its start, give or take this much: only a
# complete quarter may set the monthly peak from the app's own energy.
UNWATCHED_OK_S = 10.0
# A saved quarter counts again after a restart only if saved at most this long ago.
RESTORE_MAX_AGE_S = 300
# A reading is known to hold this long after its report (a meter reporting every 5 s: its held
# figure is the sure one); the rest of a span up to a lower reading counts at that one for the peak.
READING_HOLDS_S = 5.0
# A saved figure beyond these is no household's (3 x 63 A is 43 kW): a unit mixed up or a state
# edited by hand. Restored, it would set the month's limit or the quarter's budget from a guess.
SAVED_PEAK_MAX_W = 100000.0
SAVED_QUARTER_MAX_WH = SAVED_PEAK_MAX_W * QUARTER_S / 3600.0


class QuarterMeter:
    """Offtake energy of the running quarter-hour.

    quarter_start: UTC start of the running quarter (None before the first reading)
    energy_j: offtake energy drawn in it so far, J (W*s)
    covered_s: seconds of the quarter that readings cover (the rest is unknown)
    unwatched_s: seconds at its start before the app's first reading (first start only)
    lowered_j: what the held readings may have counted too much (READING_HOLDS_S): energy_j less
    this is the sure energy, the month's peak's figure
    """

    def __init__(self):
        self.quarter_start = None
        self.end = None  # quarter_start + 900 s, kept because every step asks
        self.energy_j = 0.0
        self.covered_s = 0.0
        self.last_time = None
        self.last_power_w = None
        self.reported_at = None  # when the meter reported the power held now
        self.unwatched_s = 0.0  # seconds at the quarter's start before the first reading ever
        self.assumed_j = 0.0  # the budget's guess for those seconds (never part of energy_j)
        self.unknown_since = None  # since when no power is known (a restart, a gap over MAX_HOLD_S)
        self.lowered_j = 0.0
        self.held_since = None  # when the power held now was reported (None: not known)
        self.closed_sure = None  # (start, sure J) of the quarter just closed, until the next report
        self.revised = None  # (start, sure average W): that quarter lowered by the next report
        self.rejected = None  # why a saved quarter of this quarter was not restored (for the log)

    def snapshot(self, now):
        """The persisted form (state attributes of the quarter variable), as HA's ExtraStoredData."""
        return {
            "quarter_start": self.quarter_start.isoformat() if self.quarter_start else None,
            "energy_wh": round(self.energy_j / 3600.0, 2),
            "lowered_wh": round(self.lowered_j / 3600.0, 2),
            "assumed_wh": round(self.assumed_j / 3600.0, 2),
            "covered_s": round(self.covered_s),
            "unwatched_s": round(self.unwatched_s),
            "updated": now.isoformat(),
        }

    def restore_snapshot(self, saved, now):
        """Take back a snapshot only if it is of this quarter and at most RESTORE_MAX_AGE_S old.
        Returns True when it was taken."""
        saved_quarter = balancer_time.parse_iso(saved.get("quarter_start"))
        saved_at = balancer_time.parse_iso(saved.get("updated"))
        if saved_quarter != balancer_time.quarter_start(now) or saved_at is None:
            return False
        if not 0 <= (now - saved_at).total_seconds() <= RESTORE_MAX_AGE_S:
            return False
        figures = []
        for key, high in (("energy_wh", SAVED_QUARTER_MAX_WH), ("covered_s", QUARTER_S), ("assumed_wh", SAVED_QUARTER_MAX_WH),
                          ("unwatched_s", QUARTER_S), ("lowered_wh", SAVED_QUARTER_MAX_WH)):
            figure = saved_figure(saved.get(key), high)
            if figure is None:
                self.rejected = "%s %s is not a figure from 0 to %.0f" % (key, saved.get(key), high)
                return False
            figures.append(figure)
        energy_wh, covered_s, assumed_wh, unwatched_s, lowered_wh = figures
        self.restore(saved_quarter, energy_wh * 3600.0, covered_s, saved_at, assumed_wh * 3600.0, unwatched_s, lowered_wh * 3600.0)
        return True

    def restore(self, quarter_start, energy_j, covered_s, saved_at, assumed_j=0.0, unwatched_s=0.0, lowered_j=0.0):
        """Take back a quarter persisted before a restart; the caller checks it is this quarter.
        The budget's guesses (assumed_j), the unwatched start and the sure figure's lowering come
        back with it."""
        self._set_quarter(quarter_start)
        self.energy_j = float(energy_j)
        self.lowered_j = min(max(0.0, float(lowered_j)), self.energy_j)
        self.held_since = None
        self.closed_sure = None
        self.revised = None
        self.covered_s = float(covered_s)
        self.assumed_j = float(assumed_j)
        self.unwatched_s = float(unwatched_s)
        self.last_time = saved_at
        self.last_power_w = None
        self.reported_at = None
        self.unknown_since = saved_at

    def advance(self, now, power_w, reported_at=None):
        """Integrate up to now with the power held since the last call, then hold power_w.

        power_w is the fresh grid offtake (W, negative = export) or None when no usable reading
        exists; then the last power keeps holding (a steady meter sends no update) until the
        caller's fail-safe takes over. reported_at is when the meter reported power_w (its
        last_reported): the reading counts from then, not from the step that read it, so a
        reading that arrived between two steps is not held back to the second one. Returns the
        list of quarters closed on the way, each (quarter_start, average_w, covered_s, complete,
        sure_average_w). The first report after a quarter's end may still lower the last closed
        one's sure figure: then revised holds (start, sure_average_w) until the caller takes it.
        """
        closed = []
        if self.quarter_start is None:
            self._open(balancer_time.quarter_start(now), now, power_w, reported_at)
            return closed
        if now < self.last_time:
            # The clock went backwards (NTP): drop the interval, keep the energy already counted.
            self.last_time = now
            self._hold(power_w)
            self.held_since = None
            return closed
        gap_s = (now - self.last_time).total_seconds()
        held_w = self.last_power_w if gap_s <= MAX_HOLD_S else None
        if held_w is None and self.unknown_since is None:
            self.unknown_since = self.last_time
        if held_w is None:
            self.held_since = None
        cursor = self.last_time
        while now >= self.quarter_end():
            end = self.quarter_end()
            self._integrate(cursor, end, held_w)
            closed.append((self.quarter_start, self.average_w(), self.covered_s, self.unwatched_s <= UNWATCHED_OK_S,
                           self.sure_average_w()))
            self.closed_sure = (self.quarter_start, self.energy_j - self.lowered_j)
            self._set_quarter(end)
            self.energy_j = 0.0
            self.lowered_j = 0.0
            self.covered_s = 0.0
            self.unwatched_s = 0.0
            self.assumed_j = 0.0
            cursor = end
        self._integrate(cursor, now, held_w)
        self.last_time = now
        self._take(now, power_w, reported_at, held_w)
        if self.unknown_since is not None and power_w is not None:
            # After a restart or a long gap nobody knows what was drawn: the budget assumes the
            # first reading since held through the part of this quarter that was not watched.
            unwatched_s = (now - max(self.unknown_since, self.quarter_start)).total_seconds()
            self.assumed_j += self.last_power_w * max(0.0, unwatched_s)
            self.unknown_since = None
        return closed

    def _take(self, now, power_w, reported_at, held_w):
        """Hold power_w from now on, and from its own report time back to now where that lies in
        this quarter (the interval was counted with the power held before)."""
        if power_w is None:
            return
        new_w = max(0.0, power_w)
        counted_to = now  # the held power was counted in this quarter up to here
        if reported_at is not None and reported_at > self.reported_at_or_start():
            since = max(reported_at, self.quarter_start)
            back_s = (now - since).total_seconds()
            if 0 < back_s <= MAX_HOLD_S and held_w is not None:
                self.energy_j += (new_w - held_w) * back_s
                counted_to = since
            self.reported_at = reported_at
        reported = reported_at if reported_at is not None and reported_at <= now else now
        if held_w is not None and self.held_since is not None and new_w < held_w:
            self._lower(held_w - new_w, self.held_since + timedelta(seconds=READING_HOLDS_S), reported, counted_to)
        self.closed_sure = None
        self.held_since = reported
        self.last_power_w = new_w

    def _lower(self, drop_w, unsure_from, reported, counted_to):
        """A reading drop_w below the one held: from unsure_from (the held reading's report plus
        READING_HOLDS_S) the held figure may have counted drop_w too much, in this quarter up to
        counted_to, and in the quarter just closed up to its end (from the new report at the
        latest, where the new power is known)."""
        self.lowered_j += drop_w * _overlap_s(unsure_from, counted_to, self.quarter_start, self.end)
        if self.closed_sure is not None:
            start, sure_j = self.closed_sure
            seconds = _overlap_s(min(unsure_from, reported), self.quarter_start, start, self.quarter_start)
            if seconds > 0:
                self.revised = (start, (sure_j - drop_w * seconds) / QUARTER_S)

    def sure_average_w(self):
        """The quarter's average for the month's peak: each span beyond READING_HOLDS_S counted at
        the lower of its two readings (see the module's docstring)."""
        return max(0.0, self.energy_j - self.lowered_j) / QUARTER_S

    def take_revised(self):
        """(start, sure average W) of the last closed quarter lowered since, once; else None."""
        revised = self.revised
        self.revised = None
        return revised

    def reported_at_or_start(self):
        return self.reported_at if self.reported_at is not None else self.quarter_start

    def budget_energy_j(self):
        """The energy the budget counts: what was measured, plus, in a quarter watched only from
        part-way through, the first reading's power over the unwatched part (the safe guess; it
        never reaches the monthly peak)."""
        return self.energy_j + self.assumed_j

    def quarter_end(self):
        return self.end

    def _set_quarter(self, start):
        self.quarter_start = start
        self.end = start + timedelta(seconds=QUARTER_S)

    def elapsed_s(self, now):
        return min(QUARTER_S, max(0.0, (now - self.quarter_start).total_seconds()))

    def remaining_s(self, now):
        return QUARTER_S - self.elapsed_s(now)

    def average_w(self):
        """Quarter average as billed: energy over the full 900 s."""
        return self.energy_j / QUARTER_S

    def running_average_w(self, now):
        """Average power over the part of the quarter that has passed."""
        elapsed = self.elapsed_s(now)
        if elapsed <= 0:
            return self.last_power_w or 0.0
        return self.energy_j / elapsed

    def _open(self, start, now, power_w, reported_at):
        """First reading ever. The part of the quarter before it was not watched: it is not filled
        in (a guess must never become a monthly peak); the budget assumes the first reading held."""
        self._set_quarter(start)
        self.energy_j = 0.0
        self.covered_s = 0.0
        self.last_time = now
        self._hold(power_w)
        since = now
        if reported_at is not None and start <= reported_at < now and self.last_power_w is not None:
            # the reading was there before this first step: it counts from its own time
            since = reported_at
            self.energy_j = self.last_power_w * (now - since).total_seconds()
            self.covered_s = (now - since).total_seconds()
        self.reported_at = reported_at
        self.held_since = since if self.last_power_w is not None else None
        self.unwatched_s = (since - start).total_seconds()
        self.assumed_j = (self.last_power_w or 0.0) * self.unwatched_s
        self.unknown_since = start if self.last_power_w is None else None

    def _hold(self, power_w):
        if power_w is not None:
            self.last_power_w = max(0.0, power_w)  # export is not offtake

    def _integrate(self, start, end, power_w):
        seconds = (end - start).total_seconds()
        if power_w is None or seconds <= 0:
            return
        self.energy_j += power_w * seconds
        self.covered_s += seconds


def saved_figure(value, high):
    """A saved figure (a number, or its text) from 0 to high; 0 when none was saved; None when it
    is not such a figure (a word, NaN, infinite, negative, beyond high)."""
    if value is None or value == "":
        return 0.0
    number = None if isinstance(value, bool) else balancer_units.finite_number(value)
    if number is None or not 0 <= number <= high:
        return None
    return number


def _overlap_s(a, b, start, end):
    """Seconds of [a, b] inside [start, end]."""
    return max(0.0, (min(b, end) - max(a, start)).total_seconds())


class MonthlyPeak:
    """Highest closed quarter-hour average of the calendar month (local time)."""

    def __init__(self):
        self.month = None
        self.peak_w = 0.0
        self.peak_quarter = None
        self.bounds = None  # (start, end) in UTC of self.month: a step checks these, not the calendar
        self.rejected = None  # why a saved peak of this month was not restored (for the log)
        self.before = (0.0, None)  # (peak_w, peak_quarter) before the last raise: what revise() goes back to
        # From when the app has watched this month's quarters itself (UTC; None: not known): its
        # own figures for them beat the recorder's (balancer_history.History.keep_peak_unwatched).
        self.watched_since = None

    def snapshot(self):
        """The persisted form (attributes of the monthly peak variable)."""
        return {
            "month": self.month,
            "quarter_start": balancer_time.iso_local(self.peak_quarter) if self.peak_quarter else None,
            "own_peak": round(self.peak_w),
            "watched_since": balancer_time.iso_local(self.watched_since) if self.watched_since else None,
        }

    def restore_snapshot(self, saved, state_value, now):
        """Take back a snapshot (state_value: the variable's state, for snapshots without
        own_peak). Returns True when it belongs to this month and was kept; a peak of this month
        that is no figure from 0 to SAVED_PEAK_MAX_W is not (rejected says why)."""
        if saved.get("month") != balancer_time.month_key(now):
            return False
        value = saved.get("own_peak", state_value)
        peak_w = saved_figure(value, SAVED_PEAK_MAX_W)
        if peak_w is None:
            self.rejected = "%s W is not a figure from 0 to %.0f W" % (value, SAVED_PEAK_MAX_W)
            return False
        kept = self.restore(saved.get("month"), peak_w, balancer_time.parse_iso(saved.get("quarter_start")), now)
        watched_since = balancer_time.parse_iso(saved.get("watched_since"))
        if kept and watched_since is not None and self.bounds[0] <= watched_since <= now:
            self.watched_since = watched_since
        return kept

    def restore(self, month, peak_w, peak_quarter, now):
        """Take a persisted peak back only if it belongs to the current month. Returns True if kept."""
        if month != balancer_time.month_key(now):
            return False
        self.month = month
        self.bounds = balancer_time.month_bounds(now)
        self.peak_w = max(0.0, float(peak_w))
        self.peak_quarter = peak_quarter
        return True

    def roll_to(self, now):
        """Start a new month when now lies in a later month than the peak. Returns True on reset."""
        if self.bounds is not None and self.bounds[0] <= now < self.bounds[1]:
            return False
        month = balancer_time.month_key(now)
        self.bounds = balancer_time.month_bounds(now)
        if month == self.month:
            return False
        self.month = month
        self.peak_w = 0.0
        self.peak_quarter = None
        self.before = (0.0, None)
        self.watched_since = balancer_time.quarter_start(now)
        return True

    def observe(self, quarter_start, average_w):
        """Offer a closed quarter. Returns True when it raised this month's peak.

        A quarter belongs to the month it starts in; one from a month already left behind (closed
        just after midnight on the 1st, after roll_to) is ignored.
        """
        month = balancer_time.month_key(quarter_start)
        if self.month is not None and month < self.month:
            return False
        if month != self.month:
            self.roll_to(quarter_start)
        if average_w <= self.peak_w:
            return False
        self.before = (self.peak_w, self.peak_quarter)
        self.peak_w = average_w
        self.peak_quarter = quarter_start
        return True

    def revise(self, quarter_start, average_w):
        """A closed quarter's sure figure came out lower (QuarterMeter.revised): when that quarter
        set the peak, the peak is the lower figure, or the peak before it if that is higher."""
        if quarter_start != self.peak_quarter or average_w >= self.peak_w:
            return
        if self.before[0] >= average_w:
            self.peak_w, self.peak_quarter = self.before
        else:
            self.peak_w = average_w


def capacity_limit_w(peak_w, target_peak_w):
    """The quarter average the car may fill up to: what is already paid for, or the target."""
    return max(peak_w, target_peak_w)
