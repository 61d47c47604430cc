"""How far the house runs above its usual tonight, and how much of that it keeps: the house's drift.

The session planner (balancer_planner) sizes each quarter's room for the car from the house's usual
load (balancer_profile). Some houses have days far from usual that last: a heat pump on a cold
night runs for hours at twice its usual load, and a plan that waits for the cheap quarters before
dawn, each sized for a usual night, then finds them half as roomy as planned with no time left to
make up (H6 January, the night of 23 January with 15-minute prices: 1.2-2.8 kWh short in 9 of 27
cells, while the house had run 1-1.5 kW above its usual since the evening). Other houses' excess
is a kettle or an oven that is gone within the hour.

So both are learnt from the house's own quarters, with no external data:
- the excess: the house's average over the last hour (HOUR_Q closed quarters in a row) minus its
  usual for those quarters (the profile's mean before it learnt them), counted only above 0;
- the persistence: the share of an hour's excess (of at least EXCESS_MIN_W) that is still there 1
  to 8 hours later (LAG_MIN_Q to LAG_MAX_Q): the sum of what was left over the sum of the excesses,
  over the house's own recent weeks (it forgets with FORGET_Q, so a heat pump's winter does not
  decide the summer). Each hour counts by its excess, not its square: by squares (least squares)
  the short, large excesses (an oven at dinner, gone within the hour) weighed most and hid the
  long, moderate ones the plan is about (a heat pump's night: 0.4-0.6 by squares, 0.4-0.7 this
  way; with the lower figure the night of 23 January was still 0.1-0.9 kWh short in 7 of 27
  cells). On the six shared traces it comes out at 0.4-0.7 for the heat-pump house (H6), up to 0.4
  for H4 and at most 0.05 for the other four after their first week.
The planner adds persistence x excess (the drift, W) to the house's usual load and its usual high
in every quarter to departure, so the room the plan counts on shrinks, and a tight night charges
earlier. It never enlarges the room (a quieter hour than usual counts 0) and never changes which
quarters count as risky (that stays the profile's). Pure: quarters in, figures out; no Home
Assistant, no clock.
"""

import balancer_units
from balancer_time import QUARTER_S

HOUR_Q = 4  # the excess is the mean over this many quarters in a row (one hour)
# Learnt at lags of 1 to 8 hours: a night session's plan looks 6-13 hours ahead.
LAG_MIN_Q = 4
LAG_MAX_Q = 32
# The sums forget with this time constant (quarters): two weeks.
FORGET_Q = 14 * 96
# The persistence starts at 0 (no drift, the plan as without this module) and moves with evidence
# worth more than one hour of a 500 W excess at every lag.
PRIOR_DEN_W = HOUR_Q * (LAG_MAX_Q - LAG_MIN_Q + 1) * 500.0
# Only an hour at least this far above usual is evidence (smaller ones are the house's noise).
EXCESS_MIN_W = 100.0
# An excess older than this (s) is not tonight's any more (the grid went quiet, Home Assistant
# was down): no drift.
FRESH_S = 1800
FORMAT = 1


@pyscript_compile
def _learn(state, devs):
    """Take [(quarter start UTC, deviation W or None)] in time order into state = [hour_w,
    recent, last, num, den] (returned anew): hour_w the last LAG_MAX_Q + 1 hourly excesses (None
    where not known), recent the deviations of the last quarters in a row (up to HOUR_Q), last the
    latest quarter start taken, num and den the persistence's sums. A quarter not right after the
    last counts the missing ones as unknown. Native: a seed from the recorder takes thousands of
    quarters."""
    hour_w, recent, last, num, den = state
    keep = 1.0 - 1.0 / FORGET_Q
    for item in devs:
        start, dev = item[0], item[1]
        if last is not None:
            gap = int(round((start - last).total_seconds() / QUARTER_S))
            if gap <= 0:
                continue
            for k in range(min(gap - 1, LAG_MAX_Q + 1)):
                hour_w.append(None)
            if gap > 1:
                recent = []
        last = start
        if dev is None:
            recent = []
        else:
            recent = (recent + [dev])[-HOUR_Q:]
        now_w = sum(recent) / HOUR_Q if len(recent) == HOUR_Q else None
        hour_w.append(now_w)
        hour_w = hour_w[-(LAG_MAX_Q + 1):]
        num *= keep
        den *= keep
        if now_w is None:
            continue
        for lag in range(LAG_MIN_Q, LAG_MAX_Q + 1):
            if lag >= len(hour_w):
                break
            before_w = hour_w[-1 - lag]
            if before_w is not None and before_w >= EXCESS_MIN_W:
                num += now_w
                den += before_w
    return [hour_w, recent, last, num, den]


class HouseDrift:
    """The hourly excesses of the last LAG_MAX_Q quarters and the persistence's sums."""

    def __init__(self):
        self.hour_w = []  # the hourly excess (W, signed) at each of the last quarters, None: not known
        self.recent = []  # the deviations (W) of the last quarters in a row, up to HOUR_Q
        self.last = None  # the start (UTC) of the latest quarter taken
        self.num = 0.0  # sum of what was left of an excess 1-8 hours later (W, forgetting)
        self.den = 0.0  # sum of those excesses (W, forgetting)

    def take(self, devs):
        """Learn [(quarter start UTC, the house's average minus its usual W, or None)] in time
        order (balancer_profile passes each quarter it learns)."""
        if devs:
            self.hour_w, self.recent, self.last, self.num, self.den = _learn(
                [self.hour_w, self.recent, self.last, self.num, self.den], devs)

    def persistence(self):
        """The share of an hour's excess the house keeps 1-8 hours later, 0..1."""
        return min(1.0, max(0.0, self.num / (self.den + PRIOR_DEN_W)))

    def excess_w(self, now):
        """The house's excess over its usual in the last hour (W, >= 0), 0 when not known or not fresh."""
        if self.last is None or not self.hour_w or self.hour_w[-1] is None:
            return 0.0
        if (now - self.last).total_seconds() > QUARTER_S + FRESH_S:
            return 0.0
        return max(0.0, self.hour_w[-1])

    def drift_w(self, now):
        """What the plan adds to the house's usual load and high in each quarter (W, >= 0)."""
        return self.persistence() * self.excess_w(now)

    def as_dict(self):
        """The persistence's sums (the last hour's excesses are not kept: after a restart the drift
        is 0 until an hour has been seen again)."""
        return {"format": FORMAT, "num": round(self.num, 1), "den": round(self.den, 1)}


def from_dict(data):
    """A HouseDrift from as_dict()'s output; anything missing or malformed gives a new one."""
    drift = HouseDrift()
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return drift
    num, den = data.get("num"), data.get("den")
    if not (balancer_units.is_finite_number(num) and balancer_units.is_finite_number(den)) or den < 0:
        return drift
    drift.num, drift.den = float(num), float(den)
    return drift
