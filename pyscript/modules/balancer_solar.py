"""Charge from the solar surplus only: the mode `solar` (issue 16).

The surplus is what the car could draw with the grid at zero: the car's own draw minus the grid's
net power (export negative). It is followed as an exponential mean over about SMOOTH_S, so a
kettle or a cloud's edge seen in one 5-second meter reading moves nothing. The car:
- starts when that surplus has covered the charger's minimum power for START_S;
- stops when, at its minimum, it would have taken more than IMPORT_ALLOWANCE_W from the grid
  for STOP_S (a start and a stop are two cloud writes and a relay cycle each, so neither follows
  a passing cloud);
- in between, draws the whole amps the surplus covers, between the minimum and the maximum, with a
  dead band of RAISE_MARGIN_A + 1 + LOWER_MARGIN_A amps: the Wallbox cloud takes about one write
  a minute, and a surplus that wobbles within an amp gets none.
The caller (balancer_controller) keeps the quarter cap above all this and lets a plan's deadline
win. Pure: readings and now in; no Home Assistant, no clock.

forecast_w() reads a solar forecast (Solcast's `detailedForecast`) for the plan: the surplus the
profile usually sees in a quarter is then never counted above the forecast's pessimistic production.
"""

import math
from datetime import datetime, timedelta, timezone

import balancer_time

# The surplus is an exponential mean with this time constant (s): a minute, the charger's write rate.
SMOOTH_S = 60.0
# A reading more than this after the last one restarts the mean (Home Assistant was down).
SMOOTH_GAP_S = 300.0
# Start once the surplus has covered the minimum power for this long: two minutes of sun, not the
# gap between two clouds (evcc waits one minute; a Wallbox resume takes a write and about a minute
# to show, so a shorter wait buys nothing).
START_S = 120.0
# Stop once the car at its minimum would take more than IMPORT_ALLOWANCE_W from the grid for this
# long: a cloud passes in a minute or three. At 0.30 EUR/kWh, 200 W for five minutes costs half a
# cent; a stop and a restart cost two writes, a relay cycle and START_S of sun unused.
STOP_S = 300.0
# What the grid may give the car at its minimum before the stop's clock runs (W): a fridge starting
# or the edge of a cloud, not a whole missing minimum.
IMPORT_ALLOWANCE_W = 200.0
# Raise only to the whole amps the surplus covers with this much to spare (A).
RAISE_MARGIN_A = 0.5
# Lower once the car draws more than the surplus by this much (A): half an amp from the grid.
LOWER_MARGIN_A = 0.5
# A price plan waiting for its quarters takes the surplus meanwhile (mode auto, balancer_controller):
# it starts the car at its minimum once the surplus pays enough of it that the kWh costs less than
# the plan's dearest one, but never with less than this share of the minimum from the panels (the
# rest of a quarter the plan did not choose stays off the grid as far as the sun allows). Half, as
# first set, left the afternoon's thin sun (0.4-0.7 kW on a 2.5 kWp roof) exported where the
# prescient bound trickles it into the car at the minimum: H3 July with PV, a quarter instead of
# half, EUR 35.67 -> 35.49 (reference), 36.71 -> 36.39 (3 x 230 V); a tenth gained little more.
SOAK_MIN_SHARE = 0.25
# Solcast (BJReplay/ha-solcast-solar): each item's power in kW averaged over its period; the 10th
# percentile is the safe side (nine days in ten give more). Periods are 30 minutes (detailedForecast),
# or the gap to the next item up to an hour (detailedHourly).
FORECAST_KEY = "pv_estimate10"
FORECAST_PERIOD_S = 1800
FORECAST_MAX_PERIOD_S = 3600


class SolarFollower:
    """Whether the car charges from the surplus, and at what current."""

    def __init__(self):
        self.on = False  # charging from the surplus
        self.since = None  # when the start (off) or the stop (on) condition began to hold
        self.surplus_w = None  # the smoothed surplus (W); None: no grid reading yet
        self.seen_at = None  # the time of the last reading in it

    def observe(self, now, surplus_w):
        """Take one fresh reading of the surplus (W): the car's draw minus the grid's net power."""
        if self.surplus_w is None or self.seen_at is None:
            self.surplus_w = float(surplus_w)
        else:
            elapsed_s = (now - self.seen_at).total_seconds()
            if elapsed_s < 0 or elapsed_s > SMOOTH_GAP_S:
                self.surplus_w = float(surplus_w)
            else:
                weight = 1.0 - math.exp(-elapsed_s / SMOOTH_S)
                self.surplus_w += weight * (float(surplus_w) - self.surplus_w)
        self.seen_at = now

    def covers(self, start_w):
        """The smoothed surplus covers start_w (W) now."""
        return self.surplus_w is not None and self.surplus_w >= start_w

    def reset(self):
        """Off, with the start's clock stopped (no car, another mode): a new start waits START_S."""
        self.on = False
        self.since = None

    def decide(self, now, min_a, max_a, held_a, voltage, phases, start_w=None):
        """(on, amps): charge from the surplus or not, and the current to hold (min_a when off).
        held_a: the current the charger holds now (None: unknown, taken as min_a); start_w: the
        surplus that starts the car (None: its minimum power; soak_start_w for a waiting plan),
        which less IMPORT_ALLOWANCE_W for STOP_S stops it."""
        if self.surplus_w is None:
            return False, min_a
        per_amp_w = float(voltage * phases)
        if start_w is None:
            start_w = min_a * per_amp_w
        holding = self.covers(start_w) if not self.on else self.surplus_w < start_w - IMPORT_ALLOWANCE_W
        if not holding:
            self.since = None
        elif self.since is None:
            self.since = now
        if self.since is not None and (now - self.since).total_seconds() >= (STOP_S if self.on else START_S):
            self.on = not self.on
            self.since = None
            return self.on, min_a
        if not self.on:
            return False, min_a
        held = min_a if held_a is None else held_a
        surplus_a = self.surplus_w / per_amp_w
        amps = held
        if surplus_a >= held + 1 + RAISE_MARGIN_A:
            amps = int(math.floor(surplus_a - RAISE_MARGIN_A))
        elif surplus_a < held - LOWER_MARGIN_A:
            amps = int(math.floor(surplus_a))
        return True, max(min_a, min(max_a, amps))


def soak_start_w(min_w, import_eur, export_eur, marginal_eur):
    """The surplus (W) from which the car at its minimum min_w costs no more per kWh than the
    plan's dearest kWh (marginal_eur): the surplus share s of min_w costs export_eur (not earned),
    the rest import_eur now; (1 - s) x import + s x export <= marginal. Never below SOAK_MIN_SHARE
    of min_w nor above min_w (a surplus that covers the minimum is always taken); min_w when a
    price is not known."""
    if import_eur is None or marginal_eur is None or import_eur <= export_eur:
        return min_w
    share = (import_eur - marginal_eur) / (import_eur - export_eur)
    return min_w * min(1.0, max(SOAK_MIN_SHARE, share))


def _start_utc(value):
    """An item's period_start (an aware datetime, as Home Assistant keeps it, or ISO text) in UTC."""
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc) if value.tzinfo is not None else None
    aware = balancer_time.parse_iso(value) if isinstance(value, str) else None
    return aware.astimezone(timezone.utc) if aware is not None else None


def forecast_w(items):
    """({quarter start UTC: W}, problem) from a Solcast forecast's detailedForecast list: each
    item's pv_estimate10 (kW) over its period (to the next item's start, at most an hour, else 30
    minutes; the last item's as the one before it), split into its quarters. Items without a usable
    start or figure are left out; problem says why nothing was usable (None when something was)."""
    if not isinstance(items, list) or not items:
        return {}, "no detailedForecast list in its attributes"
    starts, watts = [], []
    for item in items:
        if not isinstance(item, dict):
            continue
        start = _start_utc(item.get("period_start"))
        value = item.get(FORECAST_KEY)
        if start is None or isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            continue
        starts.append(start)
        watts.append(float(value) * 1000.0)
    quarters = {}
    period_s = FORECAST_PERIOD_S  # the last item's period: the one before it
    for k in range(len(starts)):
        if k + 1 < len(starts):
            gap_s = (starts[k + 1] - starts[k]).total_seconds()
            period_s = gap_s if 0 < gap_s <= FORECAST_MAX_PERIOD_S else FORECAST_PERIOD_S
        q = balancer_time.quarter_start(starts[k])
        while q < starts[k] + timedelta(seconds=period_s):
            quarters[q] = watts[k]
            q = q + timedelta(seconds=balancer_time.QUARTER_S)
    if not quarters:
        return {}, "no item with a period_start and a %s in kW" % FORECAST_KEY
    return quarters, None
