"""The household's own load profile: per day type and quarter of the day, what the house draws.

The session planner (balancer_planner) needs to know, for each quarter until the car leaves, how
much room the house usually leaves under the capacity limit, and how likely it is that the house
alone jumps near the limit (a hob, an oven, a boiler starting mid-quarter): the car's energy
already in such a quarter is what sets a new monthly peak. Both are learnt here from the house's
own closed quarters, with no external data.

Per day type (weekday, weekend; Belgian local time, public holidays not treated apart) and
quarter of the local day (96) it keeps two exponentially weighted means:
- mean_w: the house's quarter average (W, without the car);
- jump_w: how far the quarter average went above that mean, counted 0 when below: the house's
  usual upward jump in that quarter (an upper mean absolute deviation, W).
Both are in absolute watts, not relative to the limit, so a new month (the limit drops back to
the target) does not distort what was learnt. They learn only quarters in which the house drew from
the grid (a quarter with a net export is left out of them, as before issue 16): they size the car's
room and the risk, and an exporting quarter must not make the next cloudy day's high look lower.

Beside them (issue 16, solar surplus) a third mean, net_w, learns every quarter signed: the house's
net average, export negative (its panels' surplus). Only the plan's cost reads it (a usual surplus
is energy that would otherwise earn the export price); nothing that sizes safety does. It has its
own count, no borrowing (the sun shines alike on both day types; a quarter with few observations
keeps near the prior, which expects no surplus) and starts, for a profile saved before it existed,
from that profile's mean (no surplus known until its own quarters show one).

The house's high for a quarter is mean + JUMP_FACTOR x jump, widened by its neighbours (a hob
that starts at 18:20 one day starts at 18:35 the next); risk = that high / the limit. With the
neutral prior every quarter has the same figures, so nothing is ranked before anything is learnt.

Learning rate: the prior counts as one observation, each quarter averages its first
observations plainly, and from 1 / ALPHA_MIN observations on it forgets exponentially with
weight ALPHA_MIN: about 10 weekday observations (two weeks) replace the prior. The stored form is
five lists of 192 rounded ints (the net and its count since issue 16), whatever the number of days observed, plus when it last learnt
and how many quarters came from the recorder's history.

Weekends learn as fast as weekdays (issue 15): a weekend quarter sees two days a week, a weekday
quarter five. A quarter with fewer than FULL_COUNT own observations borrows the rest from the
other day type, at the same time of day or up to BORROW_SPREAD quarters either side, taking the
one whose high is highest: the household's lunch and evening happen on both day types, give or
take an hour, and a weekend quarter planned from the busiest weekday quarter near it errs on the
safe side. By day borrowing only ever makes a quarter look busier: where the other day type is
quieter (weekday daytime, when nobody is home) the quarter keeps what its own days, or the neutral
prior, say, and is learnt only by its own days. At night (before NIGHT_QUARTERS) it borrows either
way, the house sleeps on both day types, unless its own nights were above the other day type's
high (a load of its own). Borrowing is a view (what expected_w, high_w and usual_jump_w answer); what is stored
is only the quarter's own observations.

Every quarter learnt (from the recorder too) also goes to the profile's balancer_drift.HouseDrift
as the house's average minus the quarter's own mean before it was learnt: how far the house runs
above its usual now, and how long it usually keeps that, for the plan's room (not its safety).

Seeding from the recorder (balancer_history): seed() observes the quarters the profile has not
learnt yet, those after learnt_until, so a reload never counts a day twice and a profile learnt
and saved is never thrown away. A profile saved before learnt_until existed takes history only
into quarters that have no own observation.
"""

import math
from datetime import timedelta

import balancer_drift
import balancer_time

QUARTERS_PER_DAY = 96
DAY_TYPES = ("weekday", "weekend")
# A typical Belgian house draws 300-600 W on average; 800 W with 400 W of jump is a cautious start
# that ranks every quarter the same.
PRIOR_MEAN_W = 800
PRIOR_JUMP_W = 400
ALPHA_MIN = 0.1
COUNT_CAP = 10  # 1 / ALPHA_MIN: beyond it the count changes nothing
# The house's high = mean + JUMP_FACTOR x jump. With a 20 % chance of a 4 kW hob on a 1 kW base
# (mean 1.8 kW, jump 0.5 kW) that gives 3.3 kW; a steady quarter's high is its mean.
JUMP_FACTOR = 3.0
# A neighbour's high counts at this share: the same appliance, a quarter earlier or later.
NEIGHBOUR_SHARE = 0.75
# Quarter averages above this are not a house (a unit mix-up): ignored.
MAX_HOUSE_W = 60000.0
# A quarter with fewer own observations borrows the rest (up to this many) from the other day
# type; from this many on, its own days alone count. Four weekdays are one working week; four
# weekend days two weekends (without borrowing a weekend quarter took ten weekends to fill).
FULL_COUNT = 4
# Borrowed from the other day type's quarters up to this many either side (one hour): a weekend
# lunch or dinner starts an hour later or earlier than on weekdays.
BORROW_SPREAD = 4
# The quarters of the night, 00:00 to this many quarters later (06:00): there a quarter also borrows
# a quieter figure from the other day type. Asleep is asleep on a Saturday too, and a night load
# (a heat pump, a boiler on the night tariff, which in Flanders runs all weekend as well) does not
# follow the day type; by day a weekday's quiet (nobody home) says nothing about the weekend.
# Without it the weekend's night kept the neutral prior's weight, riskier than the evening before
# it, until its own days were four: the first Friday's car charged Friday 19:15-20:45 at 0.25-0.27
# EUR/kWh, not in the Saturday night at 0.20-0.21 (H3 July with PV, reference, seed 3, no history:
# that session EUR 2.81 -> 2.47).
NIGHT_QUARTERS = 24
# A quarter counts as learnt (own and borrowed observations together) from this many on: before,
# the prior still weighs at least a quarter of its figures.
LEARNT_COUNT = 3
QUARTER_S = 900
FORMAT = 1  # learnt_until, history_quarters, net_w and net_count are optional: older saved profiles stay valid


@pyscript_compile
def day_type_index(local_dt):
    """0 for Monday-Friday, 1 for Saturday and Sunday (local date)."""
    if local_dt.weekday() >= 5:
        return 1
    return 0


@pyscript_compile
def slot_of(quarter_start_utc):
    """(day type index, quarter of the local day 0..95) of the quarter that starts at quarter_start_utc."""
    local = balancer_time.to_local(quarter_start_utc)
    return day_type_index(local), (local.hour * 60 + local.minute) // 15


@pyscript_compile
def _index(quarter_start_utc):
    """The flattened index (day type x 96 + quarter) of a quarter."""
    day_type, quarter = slot_of(quarter_start_utc)
    return day_type * QUARTERS_PER_DAY + quarter


@pyscript_compile
def _watts(value, low):
    """value as a float when it is a number within [low, MAX_HOUSE_W], else None."""
    if value is None or isinstance(value, bool):
        return None
    watts = float(value)
    if math.isnan(watts) or watts < low or watts > MAX_HOUSE_W:
        return None
    return watts


@pyscript_compile
def _learn(lists, quarters, learnt_until, open_slots, nets=None, devs=None):
    """Learn [(quarter start UTC, house W[, net W])] in time order into lists = [mean_w, jump_w,
    count, net_w, net_count] (in place): the house's offtake (>= 0) into the first three, the net
    (signed; from nets, a list parallel to quarters, when given; else the house W) into the last two. Skip missing or implausible values,
    quarters before learnt_until (or before the end of one learnt in this call) and, when
    open_slots is a list, quarters of the day it marks False. devs, a list, gets (start, the house
    W minus the quarter's own mean before it learnt it) for each quarter learnt (None where the
    quarter had fewer than LEARNT_COUNT own observations, or no offtake): balancer_drift's input.
    Returns (how many were learnt, the last one's start). Native (@pyscript_compile): a seed from the recorder learns thousands of
    quarters."""
    mean_w, jump_w, count, net_w, net_count = lists
    learnt, last = 0, None
    until = learnt_until
    if nets is not None and len(nets) != len(quarters):
        nets = None
    for k in range(len(quarters)):
        item = quarters[k]
        start = item[0]
        value = _watts(item[1], 0.0)
        if nets is not None:
            net = _watts(nets[k], -MAX_HOUSE_W)
        else:
            net = _watts(item[2] if len(item) > 2 else item[1], -MAX_HOUSE_W)
        if value is None and net is None:
            continue
        if until is not None and start < until:
            continue
        i = _index(start)
        if open_slots is not None and not open_slots[i]:
            continue
        if devs is not None:
            devs.append((start, value - mean_w[i] if value is not None and count[i] >= LEARNT_COUNT else None))
        if value is not None:
            alpha = max(ALPHA_MIN, 1.0 / (count[i] + 2))
            mean_w[i] += alpha * (value - mean_w[i])
            jump_w[i] += alpha * (max(0.0, value - mean_w[i]) - jump_w[i])
            count[i] = min(COUNT_CAP, count[i] + 1)
        if net is not None:
            alpha = max(ALPHA_MIN, 1.0 / (net_count[i] + 2))
            net_w[i] += alpha * (net - net_w[i])
            net_count[i] = min(COUNT_CAP, net_count[i] + 1)
        learnt += 1
        last = start
        until = start + timedelta(seconds=QUARTER_S)
    return learnt, last


@pyscript_compile
def _borrowed(mean_w, jump_w, count):
    """(mean_w, jump_w, count) per quarter with borrowing: a quarter with fewer than FULL_COUNT
    own observations takes the rest from the other day type's quarter, within BORROW_SPREAD of
    the same time, whose high is highest, unless that makes a quarter of the day (from
    NIGHT_QUARTERS on), or a night quarter whose own days were above that high, look safer than
    its own days (or the neutral prior) do (see the module's docstring). Native: it is redone
    after every quarter learnt and runs 192 x 9 candidates."""
    out_mean, out_jump, out_count = list(mean_w), list(jump_w), list(count)
    for i in range(len(count)):
        own = count[i]
        if own >= FULL_COUNT:
            continue
        base = QUARTERS_PER_DAY * (1 - i // QUARTERS_PER_DAY)  # the other day type
        quarter = i % QUARTERS_PER_DAY
        donor, donor_high = None, None
        for step in range(-BORROW_SPREAD, BORROW_SPREAD + 1):
            j = base + (quarter + step) % QUARTERS_PER_DAY
            if count[j] == 0:
                continue
            high = mean_w[j] + JUMP_FACTOR * jump_w[j]
            if donor is None or high > donor_high:
                donor, donor_high = j, high
        if donor is None:
            continue
        weight = min(count[donor], FULL_COUNT - own)
        total = own + weight
        mean = (own * mean_w[i] + weight * mean_w[donor]) / total
        jump = (own * jump_w[i] + weight * jump_w[donor]) / total
        if mean + JUMP_FACTOR * jump < mean_w[i] + JUMP_FACTOR * jump_w[i]:
            # by day never judged safer than its own days (or the neutral prior) say; at night
            # not once its own days (the prior taken out of their mean) were above the other day
            # type's high: a load of its own (a second car on weekend nights), not a quiet house
            if quarter >= NIGHT_QUARTERS or (own > 0 and _own_days_mean_w(mean_w[i], own) > donor_high):
                continue
        out_mean[i], out_jump[i], out_count[i] = mean, jump, total
    return out_mean, out_jump, out_count


@pyscript_compile
def _own_days_mean_w(mean_w, own):
    """The plain mean of a quarter's own days, the prior taken out of its mean_w: _learn counts the
    prior as one observation and averages plainly up to COUNT_CAP, so with own days (below
    FULL_COUNT) mean_w = (PRIOR_MEAN_W + their sum) / (own + 1)."""
    return (mean_w * (own + 1) - PRIOR_MEAN_W) / own


def _neutral_list(value):
    return [value] * (QUARTERS_PER_DAY * len(DAY_TYPES))


def _valid_list(values, low, high):
    """The list as ints when it has 192 numbers within [low, high], else None."""
    if not isinstance(values, list) or len(values) != QUARTERS_PER_DAY * len(DAY_TYPES):
        return None
    out = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        if math.isnan(value) or value < low or value > high:
            return None
        out.append(int(round(value)))
    return out


@pyscript_compile
def _high_w(mean_w, jump_w, i):
    """The high (W) at index i: mean + JUMP_FACTOR x jump, or a neighbouring quarter's (within the
    same day type) x NEIGHBOUR_SHARE when that is higher."""
    base = (i // QUARTERS_PER_DAY) * QUARTERS_PER_DAY
    before = base + (i - base - 1) % QUARTERS_PER_DAY
    after = base + (i - base + 1) % QUARTERS_PER_DAY
    own = mean_w[i] + JUMP_FACTOR * jump_w[i]
    return max(own, NEIGHBOUR_SHARE * max(mean_w[before] + JUMP_FACTOR * jump_w[before],
                                          mean_w[after] + JUMP_FACTOR * jump_w[after]))


@pyscript_compile
def _risk(high_w, limit_w):
    """The high as a share of the limit."""
    return high_w / max(1.0, float(limit_w))


@pyscript_compile
def _figures(mean_w, jump_w, count, net_w, quarter_starts, limit_w):
    """(expected W, high W, risk, net W, learnt) lists for the quarter starts, from the borrowed
    mean_w, jump_w and count and the own net_w. Native: one call for a plan's 192 quarters."""
    expected, high, risk, net, learnt = [], [], [], [], []
    for q in quarter_starts:
        i = _index(q)
        expected.append(mean_w[i])
        high.append(_high_w(mean_w, jump_w, i))
        risk.append(_risk(high[-1], limit_w))
        net.append(net_w[i])
        learnt.append(count[i] >= LEARNT_COUNT)
    return expected, high, risk, net, learnt


class QuarterFigures:
    """LoadProfile.figures: lists parallel to the quarters asked for."""

    def __init__(self):
        self.expected_w = []  # the house's usual average (W), LoadProfile.expected_w
        self.high_w = []  # the house's high (W), LoadProfile.high_w
        self.risk = []  # the high as a share of the limit, LoadProfile.risk
        self.net_w = []  # the house's usual net (W, export negative), LoadProfile.usual_net_w
        self.learnt = []  # LoadProfile.learnt


class LoadProfile:
    """mean_w, jump_w and count per (day type, quarter of the day), flattened: index = type * 96 + quarter."""

    def __init__(self):
        self.mean_w = _neutral_list(float(PRIOR_MEAN_W))
        self.jump_w = _neutral_list(float(PRIOR_JUMP_W))
        self.count = _neutral_list(0)
        self.net_w = _neutral_list(float(PRIOR_MEAN_W))  # signed: export negative (not borrowed)
        self.net_count = _neutral_list(0)
        self.learnt_until = None  # end (UTC) of the latest quarter learnt, own or from history
        self.history_quarters = 0  # quarters that came from the recorder's statistics
        self.effective = None  # (mean_w, jump_w, count) with borrowing; None: to be computed
        self.drift = balancer_drift.HouseDrift()  # how far the house runs above its usual, and for how long

    def _index(self, quarter_start_utc):
        return _index(quarter_start_utc)

    def observe(self, quarter_start_utc, house_average_w, net_average_w=None):
        """Learn one closed quarter watched from its start: the house's offtake average (W,
        without the car; a negative one, the car taking more than the grid gave, teaches only the
        net) and its net average (W, without the car, export negative; None: the same as the
        offtake). A missing or implausible value is ignored, and so is a quarter the profile has
        already learnt (before learnt_until). Returns True when it was learnt."""
        if net_average_w is None:
            net_average_w = house_average_w
        return self._take([(quarter_start_utc, house_average_w, net_average_w)], None) == 1

    def seed(self, quarters, nets=None):
        """Learn the house's past from the recorder: quarters is [(quarter start UTC, house
        average W)] in time order, nets the house's net average (W, export negative) of each
        (balancer_history; None: the same as the offtake). Only quarters after learnt_until are
        taken; a profile saved without learnt_until takes them only into the quarters of the day
        it has never observed. Returns how many were learnt."""
        open_slots = None
        if self.learnt_until is None:
            open_slots = [c == 0 for c in self.count]
        learnt = self._take(quarters, open_slots, nets)
        self.history_quarters += learnt
        return learnt

    def _take(self, quarters, open_slots, nets=None):
        devs = []
        learnt, last = _learn([self.mean_w, self.jump_w, self.count, self.net_w, self.net_count], quarters,
                              self.learnt_until, open_slots, nets, devs)
        self.drift.take(devs)
        if learnt:
            self.learnt_until = last + timedelta(seconds=QUARTER_S)
            self.effective = None
        return learnt

    def _borrowed(self):
        """(mean_w, jump_w, count) with borrowing, computed once after each change."""
        if self.effective is None:
            self.effective = _borrowed(self.mean_w, self.jump_w, self.count)
        return self.effective

    def expected_w(self, quarter_start_utc):
        """The house's usual average (W) in this quarter of this day type (borrowed where few
        own days are known)."""
        return self._borrowed()[0][self._index(quarter_start_utc)]

    def usual_net_w(self, quarter_start_utc):
        """The house's usual net average (W, export negative) in this quarter of this day type:
        below 0 where its panels usually give more than it draws. For the plan's cost only."""
        return self.net_w[self._index(quarter_start_utc)]

    def usual_jump_w(self, quarter_start_utc):
        """How far the house's average usually rises above its mean in this quarter (W), or 0
        where nothing is learnt yet (own and borrowed observations below LEARNT_COUNT)."""
        mean_w, jump_w, count = self._borrowed()
        i = self._index(quarter_start_utc)
        if count[i] < LEARNT_COUNT:
            return 0.0
        return jump_w[i]

    def learnt(self, quarter_start_utc):
        """Whether this quarter has LEARNT_COUNT observations (own and borrowed): before that its
        figures are the prior's, not the house's."""
        return self._borrowed()[2][self._index(quarter_start_utc)] >= LEARNT_COUNT

    def high_w(self, quarter_start_utc):
        """The house's high (W) in this quarter: mean + JUMP_FACTOR x jump, or a neighbouring
        quarter's high x NEIGHBOUR_SHARE when that is higher."""
        mean_w, jump_w, count = self._borrowed()
        return _high_w(mean_w, jump_w, self._index(quarter_start_utc))

    def risk(self, quarter_start_utc, limit_w):
        """How likely the house alone comes near the limit in this quarter, to rank quarters:
        the house's high as a share of the limit (1.0: on its bad days the house alone reaches
        the limit). Higher = riskier."""
        return _risk(self.high_w(quarter_start_utc), limit_w)

    def figures(self, quarter_starts, limit_w):
        """QuarterFigures of these quarters (UTC starts): what expected_w, high_w, risk,
        usual_net_w and learnt answer for each, read in one call (a plan reads 192 quarters, and
        a call of a method costs more in pyscript than the figures themselves)."""
        mean_w, jump_w, count = self._borrowed()
        figures = QuarterFigures()
        figures.expected_w, figures.high_w, figures.risk, figures.net_w, figures.learnt = _figures(
            mean_w, jump_w, count, self.net_w, quarter_starts, limit_w)
        return figures

    def learnt_days(self):
        """The fewest observations of any quarter, per day type (0 = still the prior somewhere)."""
        return [min(self.count[t * QUARTERS_PER_DAY:(t + 1) * QUARTERS_PER_DAY]) for t in range(len(DAY_TYPES))]

    def history_days(self):
        """Days of house load that came from the recorder's statistics (history quarters / 96)."""
        return self.history_quarters / float(QUARTERS_PER_DAY)

    def as_dict(self):
        """Compact, JSON-ready: five lists of 192 rounded ints (about 4 kB as JSON), when it
        last learnt, how many quarters came from history, and the drift's sums."""
        return {
            "format": FORMAT,
            "mean_w": [int(round(v)) for v in self.mean_w],
            "jump_w": [int(round(v)) for v in self.jump_w],
            "count": list(self.count),
            "net_w": [int(round(v)) for v in self.net_w],
            "net_count": list(self.net_count),
            "learnt_until": self.learnt_until.isoformat() if self.learnt_until is not None else None,
            "history_quarters": self.history_quarters,
            "drift": self.drift.as_dict(),
        }


def from_dict(data):
    """A LoadProfile from as_dict()'s output; anything missing, malformed or of another format
    gives the neutral prior (never an exception: a bad saved state must not stop the balancer)."""
    profile = LoadProfile()
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return profile
    mean_w = _valid_list(data.get("mean_w"), 0, MAX_HOUSE_W)
    jump_w = _valid_list(data.get("jump_w"), 0, MAX_HOUSE_W)
    count = _valid_list(data.get("count"), 0, COUNT_CAP)
    if mean_w is None or jump_w is None or count is None:
        return profile
    profile.mean_w = [float(v) for v in mean_w]
    profile.jump_w = [float(v) for v in jump_w]
    profile.count = count
    net_w = _valid_list(data.get("net_w"), -MAX_HOUSE_W, MAX_HOUSE_W)
    net_count = _valid_list(data.get("net_count"), 0, COUNT_CAP)
    if net_w is None or net_count is None:
        # saved before issue 16 (or malformed): the offtake mean is where the net starts
        net_w, net_count = mean_w, count
    profile.net_w = [float(v) for v in net_w]
    profile.net_count = list(net_count)
    profile.learnt_until = balancer_time.parse_iso(data.get("learnt_until"))
    history = data.get("history_quarters")
    if isinstance(history, int) and not isinstance(history, bool) and history >= 0:
        profile.history_quarters = history
    profile.drift = balancer_drift.from_dict(data.get("drift"))
    return profile
