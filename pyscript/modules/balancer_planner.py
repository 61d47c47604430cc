"""Charge by departure in the safest quarters: the session planner (issue 10).

A car that needs 10 kWh and stays plugged in for 13 hours has no reason to charge at 18:00, when a
hob or a boiler starting mid-quarter makes the house alone set a new monthly peak with the car's
energy already in that quarter. The planner spreads the need over the quarters until departure
where the house (balancer_profile) usually stays far below the limit, and keeps the deadline safe:
- each quarter can give the car min(car_max_w, limit - margin - the house's usual load) for its
  time (nothing when that is below the car's minimum); the quarter budget still decides the real
  current inside a chosen quarter;
- quarters are taken safest first (risk in steps of RISK_STEP; within a step, earlier first, so a
  late start never risks the deadline and re-planning every quarter keeps the same choice) until
  the need plus BUFFER_SHARE is covered; the last RESERVE_S before departure come last;
- a one-quarter gap between two chosen windows is charged too (a pause and a resume are two
  writes and a relay cycle for little safety);
- when all quarters to departure give less than the need plus the buffer, it charges in every
  quarter from now; when they give less than the need itself, it says by how much it falls short
  (inside the limit; only `fast` mode may raise the peak).

With prices (issue 16: a balancer_prices.PriceTable for import, optionally one for export) it
charges in the cheapest SAFE quarters instead:
- a quarter is safe when it is no riskier (in RISK_STEP steps) than the riskiest quarter the plan
  without prices takes for the same need, or than PRICED_SAFE_STEP (the house's learnt usual high
  below half the limit), and the house's usual high (balancer_profile high_w) still leaves the
  car its minimum under limit - margin (a car that can pause: some room, the car at its minimum
  for part of the quarter); safe quarters come first, cheapest first (costs within COST_STEP count
  as equal, then the safest, then the earliest); unsafe ones only when the safe ones do not suffice,
  safest first; the reserve still comes last. Prices choose among quarters as safe as the need
  requires or far below the limit, never a riskier one for a cent: a car with a quiet night
  ahead is not charged in a cheap dinner-time quarter, where a hob starting mid-quarter on top of
  the car's energy set a new monthly peak (H3 July, +1060 W over the limit);
- a quarter's cost per kWh mixes the usual solar surplus (a negative net mean in the profile,
  balancer_profile usual_net_w): the car's kWh up to it cost what an exported kWh would have
  earned, the rest the import price. The surplus only prices a quarter: the room each quarter gives
  the car and its safety still come from the house's usual offtake and high (a sunny day is not
  promised);
- a quarter without a known price (tomorrow before about 13:00) is expected to cost the mean of the
  known ones, so among such quarters the safest come first, as without prices;
- it plans the need itself, not the need plus BUFFER_SHARE, but each quarter gives the car only
  the room the house's usual HIGH leaves (not its usual load): the cheap quarters are often the
  last before departure, and where the house varies (a heat pump's cycles) a plan on its mean
  delivered less there than planned with no time left to make it up (H6 January, 3 of 198 sessions
  short by up to 1.8 kWh, all met by the safest plan). It re-plans every quarter, so energy the
  car did not get is planned again in the next cheapest quarters, and the buffer still decides
  when to give up choosing and charge in every quarter (as without prices);
- few pauses: a quarter next to a chosen one (and no riskier), and the running quarter of a
  charging car, counts JOIN_EUR_PER_KWH cheaper: a window grows, or keeps running, rather than a
  new one starting for a cent.
The house's drift (balancer_drift; with or without prices): where the house has drawn more than
its usual for the last hour and usually keeps such an excess for hours (a heat pump on a cold
night), each quarter's usual load and high count that much more (persistence x excess), so each
quarter gives the car less room, more quarters are taken and a night that no longer fits by the
buffer charges in every quarter from now. Which quarters are safe does not change (risk steps stay
the profile's). Without it a plan that waited for the cheap quarters before dawn found them half as
roomy as planned (H6 January with 15-minute prices, the night of 23 January: the house at twice
its usual since the evening, 1.2-2.8 kWh short in 9 of 27 cells).
Without a known import price in the horizon the plan is exactly the one without prices.
Pure: readings, the profile, the price tables and now in; no Home Assistant, no clock.
"""

import re
from datetime import datetime, timedelta, timezone

import balancer_solar
import balancer_time
import balancer_units

from balancer_time import QUARTER_S
# Plan this share more energy than needed: the house's real quarters differ from its usual ones.
BUFFER_SHARE = 0.25
# The last hour before departure is chosen only when nothing else suffices.
RESERVE_S = 3600
# Risks within one step count as equal: a quarter of the limit (1 kW of the house's high at a 4 kW
# limit). Finer steps split equally quiet night quarters (300 W and 400 W) and pushed the start late.
RISK_STEP = 0.25
# A gap of at most this many quarters between two chosen windows is charged too.
FILL_GAP_QUARTERS = 1
# Less than this left to deliver: the need is met (the charger shows its session energy to 0.01 kWh;
# the simulator counts a session met within 0.05 kWh, so a wider figure stopped cars just short).
DONE_KWH = 0.01
# A departure further away is planned over this horizon (192 quarters): the plan is redone every
# quarter anyway, and an input_datetime left a week ahead must not make each plan slow.
MAX_HORIZON_S = 48 * 3600
# Costs within a tenth of a cent per kWh count as equal (an hourly price's four quarters are equal
# anyway); then the safest quarter wins. At 0.25 EUR/kWh it is 0.4 % of the price.
COST_STEP_EUR_PER_KWH = 0.001
# A quarter next to a chosen one (or the running quarter of a charging car) counts this much cheaper:
# a window grows, or keeps running, unless a new one is cheaper by more (a pause and a resume are two
# writes, a relay cycle, and a car that may not wake up). On Oct-Dec 2025's 15-minute Belgian prices
# (their quarters zigzag within each hour) a night's plan then has 1.2 windows on average instead of
# 4.3, for 0.5 % more energy cost than the cheapest scattered quarters. A quarter where the car
# follows the sun at its minimum counts its grid room this much dearer (_choose_sun_and_grid).
JOIN_EUR_PER_KWH = 0.02
# With prices, a quarter up to this risk step is safe whatever the plan without prices takes: the
# house's usual high there (its bad days) is below half the limit, so it would have to double to
# set a new peak by itself. With step 0 alone (the quietest quarters) a heat pump's night, at a
# third of the limit, was left for the quiet evening before it (H6 January, 1 x 230 V: 23:00 at
# 0.20 EUR/kWh, not 02:00 at 0.165; +3.6 % over the bound). A hob's dinner quarter stays out.
PRICED_SAFE_STEP = 1
# The surplus seen now is expected to hold this long (s): the sun of the next hour is more like this
# minute's than like the profile's mean of sunny and cloudy days.
SUN_PERSISTS_S = 3600
# What an exported kWh earns when no export price is given: nothing, so a surplus counts as free.
# Belgian injection pays a few cents at most, far below any import price: the order hardly changes.
DEFAULT_EXPORT_EUR_PER_KWH = 0.0
# The reason mentions the house's drift (balancer_drift) from this much on: a tenth of a kW shows.
DRIFT_SHOWN_W = 50.0

STATE_WAITING = "waiting"
STATE_CHARGING = "charging"
STATE_FULL = "full"
STATE_SHORT = "short"

_TIME_RE = re.compile(r"^(\d{1,2}):(\d{2})(:\d{2}(\.\d+)?)?$")
_DATETIME_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[ T](\d{1,2}):(\d{2})(:\d{2}(\.\d+)?)?$")


# A slot, one quarter of the plan (or the part of it from now, or to the departure), is a list
# indexed by these (lists, not objects: the loops over a plan's 192 slots run natively, see
# _slot_rows).
SLOT_START = 0  # when the slot starts (UTC): the quarter's start, or now
SLOT_END = 1  # when it ends (UTC): the quarter's end, or the departure
SLOT_KWH = 2  # the car's energy in it (kWh): 0 from _slots, the room from _with_room
SLOT_STEP = 3  # its risk in RISK_STEP steps: the plan's safety ranking
SLOT_QUARTER = 4  # the quarter's start (UTC)
SLOT_USUAL_W = 5  # the house's usual average (W)
SLOT_RISK = 6  # the house's high as a share of the limit (balancer_profile.risk)
SLOT_NET_W = 7  # the house's usual net (W, export negative): its usual solar surplus
SLOT_HIGH_W = 8  # the house's usual high (W)
SLOT_LEARNT = 9  # the profile has learnt the quarter (its figures are the house's, not the prior's)


class SessionPlan:
    """What the planner decided for one session, at one moment.

    charge_now: charge in the running quarter; planned_finish: when the need is expected to be
    delivered (UTC; None when it cannot be); on_track: the need fits by departure inside the limit;
    next_window: (start, end) UTC of the next (or running) charging window, None when none;
    windows: every chosen (start, end) in time order; short_kwh: what cannot be delivered inside the
    limit by departure; remaining_kwh: need - delivered; state: waiting, charging, full or short
    (the glue adds no_car and paused); reason: why, in plain words with units.
    With prices (else None / []): planned_cost_eur, the remaining need in the chosen quarters;
    marginal_eur_per_kwh, the dearest chosen quarter's EUR/kWh (a kWh the car gets elsewhere
    spares one of those);
    cost_now_eur, the same energy charged from now in every quarter; window_prices, the mean
    EUR/kWh of each window (parallel to windows); prices_known_until, the end of the quarters with
    a known import price from now without a gap (None: not even now's).
    needs_grid: the need takes every quarter from now (tight, short, or the departure passed), or
    will from the next quarter on if this one is not charged: in mode solar the deadline then wins
    and the car charges as in auto. drift_w: what the plan added to the house's usual load in each
    quarter (balancer_drift), 0 W mostly.
    """

    def __init__(self):
        self.charge_now = True
        self.planned_finish = None
        self.on_track = True
        self.next_window = None
        self.windows = []
        self.short_kwh = 0.0
        self.remaining_kwh = 0.0
        self.state = STATE_CHARGING
        self.reason = ""
        self.planned_cost_eur = None
        self.cost_now_eur = None
        self.window_prices = []
        self.prices_known_until = None
        self.marginal_eur_per_kwh = None  # the dearest chosen slot's EUR/kWh: what a kWh got elsewhere saves
        self.needs_grid = False  # the need requires every quarter from now (tight, short, departure passed)
        self.drift_w = 0.0  # how much more than usual the house was expected to draw in each quarter (W)


def _hhmm(dt):
    return balancer_time.to_local(dt).strftime("%H:%M")


def _kw(watts):
    return "%.1f kW" % (watts / 1000.0)


def _slots(now, end, limit_w, profile, surplus_now_w=None, drift_w=0.0):
    """The slots (lists indexed by the SLOT_ constants) of the running quarter (from now) and of
    each quarter to end: the profile read once per plan. surplus_now_w: the surplus seen now (W),
    the least surplus of the quarters in the next SUN_PERSISTS_S; drift_w: added to the house's
    usual load and high in each (balancer_drift)."""
    sun_until = None
    if surplus_now_w is not None and surplus_now_w > 0:
        sun_until = now + timedelta(seconds=SUN_PERSISTS_S)
    starts = _quarter_starts(now, end)
    return _slot_rows(now, end, starts, profile.figures(starts, limit_w), sun_until, surplus_now_w, drift_w)


@pyscript_compile
def _quarter_starts(now, end):
    """The start of the running quarter and of each quarter to end."""
    starts = []
    q = balancer_time.quarter_start(now)
    while q < end:
        starts.append(q)
        q = q + timedelta(seconds=QUARTER_S)
    return starts


@pyscript_compile
def _slot_rows(now, end, starts, figures, sun_until, surplus_now_w, drift_w):
    """_slots' rows from the quarters' balancer_profile.QuarterFigures. Native, like the other
    loops over a plan's slots: 192 of them, each step interpreted in pyscript, took most of a
    plan's time."""
    slots = []
    for k in range(len(starts)):
        q = starts[k]
        net_w = figures.net_w[k]
        if sun_until is not None and q < sun_until:
            net_w = min(net_w, -surplus_now_w)
        risk = figures.risk[k]
        # in the order of the SLOT_ constants
        slots.append([max(q, now), min(q + timedelta(seconds=QUARTER_S), end), 0.0, int(risk / RISK_STEP), q,
                      figures.expected_w[k] + drift_w, risk, net_w, figures.high_w[k] + drift_w, figures.learnt[k]])
    return slots


@pyscript_compile
def _with_kwh(slot, kwh):
    """A copy of the slot with another energy (kWh)."""
    return [slot[SLOT_START], slot[SLOT_END], kwh] + slot[SLOT_STEP:]


@pyscript_compile
def _with_room(slots, limit_w, margin_w, car_max_w, car_min_w, high=False, pulse=False):
    """The slots, each with the car's energy: min(car_max_w, limit - margin - the house's usual W)
    over its time, nothing where that is below car_min_w. high: beside the house's usual high, not
    its usual load; pulse: a room below the car's minimum gives its energy (the car at its minimum
    for part of the quarter, then paused), not nothing."""
    out = []
    for slot in slots:
        power_w = min(car_max_w, limit_w - margin_w - (slot[SLOT_HIGH_W] if high else slot[SLOT_USUAL_W]))
        if power_w < car_min_w and not (pulse and power_w > 0):
            power_w = 0.0
        out.append(_with_kwh(slot, power_w * (slot[SLOT_END] - slot[SLOT_START]).total_seconds() / 3600000.0))
    return out


@pyscript_compile
def _choose(slots, want_kwh, reserve_from):
    """(indices of the slots to charge in, the riskiest step among them): safest first, earlier
    first within a risk step, the reserve last, until want_kwh is covered; then one-quarter gaps
    filled."""
    ranked = []
    for i in range(len(slots)):
        if slots[i][SLOT_KWH] > 0:
            ranked.append((1 if slots[i][SLOT_START] >= reserve_from else 0, slots[i][SLOT_STEP], i))
    ranked.sort()
    chosen = []
    got_kwh = 0.0
    worst = 0
    for entry in ranked:
        if got_kwh >= want_kwh:
            break
        chosen.append(entry[2])
        got_kwh += slots[entry[2]][SLOT_KWH]
        worst = max(worst, entry[1])
    chosen.sort()
    filled = list(chosen)
    for k in range(1, len(chosen)):
        gap = list(range(chosen[k - 1] + 1, chosen[k]))
        if 0 < len(gap) <= FILL_GAP_QUARTERS and max([slots[i][SLOT_STEP] for i in gap]) <= worst:
            filled.extend(gap)
    filled.sort()
    return filled, worst


class SlotCosts:
    """What each slot's energy costs, as lists parallel to the slots (lists, not a call per slot:
    calls are slow in pyscript). eur_per_kwh: expected EUR/kWh of the slot charged at its room (the
    usual surplus in it at the export price, the rest at the import price); safe: the house's usual
    high leaves the car its minimum; known: the import price is known (not the mean of the known
    ones); sun_kwh: what the usual surplus gives a car that follows it (0 where it does not cover
    the car's minimum), at sun_eur (the export price it does not earn); grid_eur: the EUR/kWh of
    the slot's room beyond sun_kwh (eur_per_kwh where sun_kwh is 0); min_kwh: where the usual
    surplus covers at least SOAK_MIN_SHARE of the minimum but not all of it, what the car at its
    minimum gets there (0 elsewhere), at min_eur (the surplus's share at the export price, the
    rest at the import price); import_eur: the import price (the mean of the known ones where
    not known), what a kWh beyond the car's minimum costs in such a slot."""

    def __init__(self, eur_per_kwh, safe, known, sun_kwh, sun_eur, grid_eur, min_kwh, min_eur, import_eur):
        self.eur_per_kwh = eur_per_kwh
        self.safe = safe
        self.known = known
        self.sun_kwh = sun_kwh
        self.sun_eur = sun_eur
        self.grid_eur = grid_eur
        self.min_kwh = min_kwh
        self.min_eur = min_eur
        self.import_eur = import_eur


def _costs(slots, limit_w, margin_w, car_min_w, imports, export, pv_forecast=None, pulse=False):
    """The SlotCosts of the slots, None when no import price is known for any of them (imports: the
    import EUR/kWh of each slot, None where not known).

    EUR/kWh mixes the usual solar surplus (a negative net mean, at the export price) with the
    import price for the rest of the slot's energy; a slot without an import price costs the mean
    of the known ones. With pv_forecast ({quarter start: W}, the forecast's pessimistic
    production) a quarter's surplus is never counted above it: a cloudy day's forecast takes back
    what a usually sunny quarter promised. safe: the house's usual high (risk x limit, see
    balancer_profile.risk) leaves the car its minimum under limit - margin (pulse: leaves it some
    room, which a car that can pause gets at its minimum for part of the quarter)."""
    values = [value for value in imports if value is not None]
    if not values:
        return None
    sunny = len([slot for slot in slots if slot[SLOT_NET_W] < 0 and slot[SLOT_KWH] > 0]) > 0
    feeds = [None] * len(slots)
    if sunny and export is not None:
        feeds = export.prices_at([slot[SLOT_QUARTER] for slot in slots])
    return SlotCosts(*_cost_lists(slots, limit_w, margin_w, car_min_w, imports, sum(values) / len(values), feeds,
                                  pv_forecast, pulse))


@pyscript_compile
def _cost_lists(slots, limit_w, margin_w, car_min_w, imports, unknown_eur, feeds, pv_forecast, pulse):
    """_costs' lists, in SlotCosts' order (unknown_eur: the EUR/kWh of a slot whose import price is
    not known, the mean of the known ones; feeds: the export EUR/kWh of each slot, None where not
    known). Native, like the other loops over a plan's slots."""
    eur = [unknown_eur if value is None else value for value in imports]
    import_eur = list(eur)
    grid_eur = list(eur)
    min_kwh = [0.0] * len(slots)
    min_eur = list(eur)
    sun_kwh = [0.0] * len(slots)
    sun_eur = [DEFAULT_EXPORT_EUR_PER_KWH] * len(slots)
    for i in range(len(slots)):
        if not (slots[i][SLOT_NET_W] < 0 and slots[i][SLOT_KWH] > 0):
            continue
        a, b, kwh = slots[i][SLOT_START], slots[i][SLOT_END], slots[i][SLOT_KWH]
        feed_eur = DEFAULT_EXPORT_EUR_PER_KWH if feeds[i] is None else feeds[i]
        surplus_w = -slots[i][SLOT_NET_W]
        if pv_forecast is not None and slots[i][SLOT_QUARTER] in pv_forecast:
            surplus_w = min(surplus_w, pv_forecast[slots[i][SLOT_QUARTER]])
        surplus_kwh = min(kwh, surplus_w * (b - a).total_seconds() / 3600000.0)
        eur[i] = (surplus_kwh * feed_eur + (kwh - surplus_kwh) * eur[i]) / kwh
        sun_eur[i] = feed_eur
        if surplus_w >= car_min_w:
            sun_kwh[i] = surplus_kwh  # the rest of the room (if any) from the grid, at the import price
        else:
            grid_eur[i] = eur[i]  # too little to follow: charged at its room, the surplus mixed in
            if surplus_w >= balancer_solar.SOAK_MIN_SHARE * car_min_w and kwh > 0:
                share = surplus_w / car_min_w
                min_kwh[i] = min(kwh, car_min_w * (b - a).total_seconds() / 3600000.0)
                min_eur[i] = share * feed_eur + (1.0 - share) * min_eur[i]
    high_room = (limit_w - margin_w - (0.0 if pulse else car_min_w)) / max(1.0, float(limit_w))  # a share of the limit, like risk
    safe = [slot[SLOT_RISK] <= high_room for slot in slots]
    return eur, safe, [value is not None for value in imports], sun_kwh, sun_eur, grid_eur, min_kwh, min_eur, import_eur


@pyscript_compile
def _safe_enough(slot, worst):
    """Whether prices may choose the slot: no riskier than worst (the riskiest step the plan without
    prices takes), or than PRICED_SAFE_STEP where the profile has learnt the quarter (the prior's
    high is a guess, not the house's)."""
    return slot[SLOT_STEP] <= worst or (slot[SLOT_LEARNT] and slot[SLOT_STEP] <= PRICED_SAFE_STEP)


@pyscript_compile
def _choose_cheapest(slots, costs, want_kwh, reserve_from, running, worst, grid_eur=None):
    """Indices of the slots to charge in, best key first until want_kwh is covered (grid_eur: the
    EUR/kWh of each slot's energy, None: costs.grid_eur).

    Safe: costs.safe and _safe_enough (no riskier than worst, the riskiest step the plan without
    prices takes, or than PRICED_SAFE_STEP where the profile has learnt the quarter).
    Key: the reserve last; safe before unsafe; among the safe the cheapest (in COST_STEP steps),
    then the safest, then the earliest; among the unsafe the safest first. A slot next to a chosen
    one counts JOIN_EUR_PER_KWH cheaper when it is no riskier than that one (a window grows instead
    of a new one starting for a cent, but never into a riskier quarter for it), and so does the
    running slot 0 of a charging car.

    The running slot's bonus stands in for what cutting the window costs (a pause now and a
    resume later: two writes and a relay cycle), so it is paid only where it saves that: the
    choice without it is taken instead when it costs less and starts the car no more often. A
    window kept running into quarters dearer than a later one the need takes anyway only moves
    the pause (H3 July with PV: 19:00-19:30 at 0.245 EUR/kWh kept, then 03:00 at 0.222 all the
    same). Without it for every window (the plain cheapest choice where it starts the car no more
    often) a Sunday's plan began an hour earlier at a dearer price: the plan counts each quarter
    at the room beside the house's usual high, the car took more, and the cheap quarters at the
    end were left unused (H3 July, seed 1)."""
    n = len(slots)
    eur = costs.grid_eur if grid_eur is None else grid_eur
    steps = [round(value / COST_STEP_EUR_PER_KWH) for value in eur]
    join = round(JOIN_EUR_PER_KWH / COST_STEP_EUR_PER_KWH)
    safe = [costs.safe[i] and _safe_enough(slots[i], worst) for i in range(n)]
    keys = [(1 if slots[i][SLOT_START] >= reserve_from else 0, 0 if safe[i] else 1, 0 if safe[i] else slots[i][SLOT_STEP],
             steps[i], slots[i][SLOT_STEP], i) for i in range(n)]
    ranked = [keys[i] for i in range(n) if slots[i][SLOT_KWH] > 0]
    ranked.sort()
    chosen = _greedy(slots, keys, ranked, want_kwh, join, running)
    if not running:
        return chosen
    cut = _greedy(slots, keys, ranked, want_kwh, join, False)
    if cut != chosen and _starts(slots, cut, want_kwh, True) <= _starts(slots, chosen, want_kwh, True) and \
            _cost_eur(slots, eur, cut, want_kwh) < _cost_eur(slots, eur, chosen, want_kwh) - 1e-9:
        return cut
    return chosen


@pyscript_compile
def _greedy(slots, keys, ranked, want_kwh, join, running):
    """_choose_cheapest's pick with a bonus of join COST_STEPs for a slot beside a chosen one (and
    for the running slot 0 when running): the slots beside are few (two per window), so each pick
    compares the best of the sorted rest with the best of them. Sorted indices."""
    n = len(slots)
    taken = [False] * n
    beside = []  # keys, join cheaper, of the unchosen slots beside a chosen one and no riskier
    if running and slots[0][SLOT_KWH] > 0:
        beside.append((keys[0][0], keys[0][1], keys[0][2], keys[0][3] - join, keys[0][4], 0))
    chosen = []
    got_kwh = 0.0
    k = 0
    while got_kwh < want_kwh:
        while k < len(ranked) and taken[ranked[k][5]]:
            k += 1
        best = ranked[k] if k < len(ranked) else None
        if beside:
            nearest = min(beside)
            if best is None or nearest < best:
                best = nearest
        if best is None:
            break
        i = best[5]
        taken[i] = True
        chosen.append(i)
        got_kwh += slots[i][SLOT_KWH]
        beside = [key for key in beside if key[5] != i]
        for j in (i - 1, i + 1):
            if 0 <= j < n and not taken[j] and slots[j][SLOT_KWH] > 0 and slots[j][SLOT_STEP] <= slots[i][SLOT_STEP]:
                key = (keys[j][0], keys[j][1], keys[j][2], keys[j][3] - join, keys[j][4], j)
                if key not in beside:
                    beside.append(key)
    chosen.sort()
    return chosen


@pyscript_compile
def _starts(slots, chosen, want_kwh, running):
    """How often the car starts under these chosen slots (sorted), filled in time order until
    want_kwh: one start a window of adjacent slots, none for a window at slot 0 when the car is
    running already."""
    starts = 0
    previous = -2
    left = want_kwh
    for i in chosen:
        if left <= 0:
            break
        if i != previous + 1 and not (i == 0 and running):
            starts += 1
        previous = i
        left -= slots[i][SLOT_KWH]
    return starts


@pyscript_compile
def _cost_eur(slots, eur, indices, kwh_left):
    """What kwh_left costs charged in these slots in time order, each at its planned energy and
    its EUR/kWh (eur, parallel to the slots)."""
    total = 0.0
    for i in indices:
        if kwh_left <= 0:
            break
        kwh = min(kwh_left, slots[i][SLOT_KWH])
        total += kwh * eur[i]
        kwh_left -= kwh
    return total


@pyscript_compile
def _choose_sun_and_grid(slots, costs, want_kwh, reserve_from, running, worst):
    """(the chosen slots, those of them charged from the grid, the slots with each one's planned
    energy, and the EUR/kWh of that energy): the sun first, then the grid's cheapest.

    A car that follows the usual surplus (balancer_controller: a waiting price plan takes it) gets
    costs.sun_kwh in a slot at the export price, the cheapest kWh there is, without adding to any
    quarter's offtake: the sunny slots before the reserve are counted in time order until they
    cover want_kwh. What they leave is bought from the grid in the cheapest safe slots
    (_choose_cheapest over each slot's room beyond its sun). A slot chosen only for its sun is not
    charged from the grid: the car waits there and takes what the sun gives."""
    n = len(slots)
    sun = []
    sun_total = 0.0
    for i in range(n):
        if sun_total >= want_kwh:
            break
        if costs.sun_kwh[i] > 0 and slots[i][SLOT_START] < reserve_from:
            sun.append(i)
            sun_total += costs.sun_kwh[i]
    grid = []
    at_min = []
    if sun_total < want_kwh:
        rest = [_with_kwh(slots[i], slots[i][SLOT_KWH] - costs.sun_kwh[i]) for i in range(n)]
        grid = _choose_cheapest(rest, costs, want_kwh - sun_total, reserve_from, running, worst)
        if grid:
            # The car at its minimum where the surplus pays part of it, where that is cheaper than
            # the dearest grid slot: each such kWh spares one there; then the grid for the rest.
            dearest = max([costs.grid_eur[i] for i in grid])
            offers = [(costs.min_eur[i], i) for i in range(n) if costs.min_kwh[i] > 0 and costs.min_eur[i] < dearest
                      and costs.safe[i] and _safe_enough(slots[i], worst) and slots[i][SLOT_START] < reserve_from]
            offers.sort()
            left = want_kwh - sun_total
            for offer in offers:
                if left <= 0:
                    break
                at_min.append(offer[1])
                left -= costs.min_kwh[offer[1]]
            if at_min:
                # A quarter taken at the minimum keeps its room beyond the minimum for the grid, at
                # the import price (the surplus is the minimum's already) plus JOIN_EUR_PER_KWH:
                # chosen there too, the car leaves the sun for its whole room, so not for a cent
                # (the sun often gives more than the profile's mean: H1 January with PV, seeds 1-3,
                # then paid up to EUR 0.21 a month more). Without it, a cloudy afternoon's quarters
                # at the minimum left the rest of the need for the dearer evening (H3 July with
                # PV: a Sunday's last 1.3 kWh at 0.23 EUR/kWh, not at the 0.14 of the quarters
                # before).
                grid_eur = list(costs.grid_eur)
                for i in at_min:
                    rest[i][SLOT_KWH] = max(0.0, rest[i][SLOT_KWH] - costs.min_kwh[i])
                    grid_eur[i] = costs.import_eur[i] + JOIN_EUR_PER_KWH
                grid = _choose_cheapest(rest, costs, left, reserve_from, running, worst, grid_eur) if left > 0 else []
    chosen = sorted(sun + at_min + [i for i in grid if i not in sun and i not in at_min])
    if sum([slots[i][SLOT_KWH] if i in grid else (costs.sun_kwh[i] if i in sun else costs.min_kwh[i])
            for i in chosen]) < want_kwh - 1e-9:
        # The sun and the quarters at the minimum took room the grid then lacked (a sunny quarter
        # in the last hour, a quarter kept to its minimum): each chosen quarter at its whole room.
        grid = _choose_cheapest(slots, costs, want_kwh, reserve_from, running, worst)
        return grid, grid, slots, costs.eur_per_kwh
    planned = []
    eur = []
    for i in range(n):
        if i in grid or i not in chosen:
            planned.append(slots[i])
            eur.append(costs.eur_per_kwh[i])
        elif i in sun:
            planned.append(_with_kwh(slots[i], costs.sun_kwh[i]))
            eur.append(costs.sun_eur[i])
        else:
            planned.append(_with_kwh(slots[i], costs.min_kwh[i]))
            eur.append(costs.min_eur[i])
    return chosen, grid, planned, eur


def _price_plan(plan, slots, costs, chosen, remaining_kwh, grid=None, eur=None, now_slots=None):
    """Fill the plan's costs, each window's mean price (kWh-weighted over its slots) and how far
    the import prices are known. slots with each one's planned energy at eur (None: its room at
    costs.eur_per_kwh); grid: the chosen slots charged from the grid (None: all); now_slots: the
    slots at the room the budget likely gives (cost_now_eur; None: slots)."""
    if eur is None:
        eur = costs.eur_per_kwh
    grid = chosen if grid is None else grid
    plan.planned_cost_eur = _cost_eur(slots, eur, chosen, remaining_kwh)
    dearest = [costs.grid_eur[i] for i in grid] + [costs.min_eur[i] for i in chosen if costs.min_kwh[i] > 0 and i not in grid]
    plan.marginal_eur_per_kwh = max(dearest) if dearest else None
    plan.cost_now_eur = _cost_eur(now_slots or slots, costs.eur_per_kwh, range(len(slots)), remaining_kwh)
    unknown = costs.known.index(False) if False in costs.known else len(slots)
    plan.prices_known_until = slots[unknown - 1][SLOT_END] if unknown > 0 else None
    plan.window_prices = []
    k = 0
    for window in plan.windows:
        eur_sum, kwh = 0.0, 0.0
        while k < len(chosen) and slots[chosen[k]][SLOT_START] < window[1]:
            eur_sum += slots[chosen[k]][SLOT_KWH] * eur[chosen[k]]
            kwh += slots[chosen[k]][SLOT_KWH]
            k += 1
        plan.window_prices.append(eur_sum / kwh if kwh > 0 else None)


def _euros(plan):
    """', EUR 2.15, EUR 0.80 less than charging now' for the reason, '' without prices. A plan can
    cost more than charging now (the cheaper quarters are the unsafe ones): then it says so, not
    'EUR -0.10 less'."""
    if plan.planned_cost_eur is None:
        return ""
    saving_eur = _cents(plan.cost_now_eur - plan.planned_cost_eur)
    if saving_eur < 0:
        return ", EUR %.2f, EUR %.2f more than charging now" % (plan.planned_cost_eur, -saving_eur)
    return ", EUR %.2f, EUR %.2f less than charging now" % (plan.planned_cost_eur, saving_eur)


def _drifting(plan):
    """', the house planned 0.7 kW above its usual' for the reason where the drift is at least
    DRIFT_SHOWN_W, else ''."""
    if plan.drift_w < DRIFT_SHOWN_W:
        return ""
    return ", the house planned %s above its usual" % _kw(plan.drift_w)


def _cents(eur):
    """eur to 0.01, without a negative zero (round(-0.004, 2) is -0.0, shown as -0.00)."""
    return round(eur, 2) + 0.0


@pyscript_compile
def _windows(slots, chosen):
    """Contiguous runs of chosen slots as (start, end)."""
    windows = []
    for i in chosen:
        if windows and windows[-1][1] == slots[i][SLOT_START]:
            windows[-1] = (windows[-1][0], slots[i][SLOT_END])
        else:
            windows.append((slots[i][SLOT_START], slots[i][SLOT_END]))
    return windows


@pyscript_compile
def _finish(slots, chosen, remaining_kwh):
    """When the chosen slots, filled in time order at their planned power, deliver remaining_kwh."""
    left = remaining_kwh
    for i in chosen:
        a, b, kwh = slots[i][SLOT_START], slots[i][SLOT_END], slots[i][SLOT_KWH]
        if kwh <= 0:
            continue
        if kwh >= left:
            return a + (b - a) * (left / kwh)
        left -= kwh
    return None


def plan_session(now, departure_utc, need_kwh, delivered_kwh, limit_w, margin_w, car_max_w, car_min_w, profile,
                 prices=None, export=None, running=False, pv_forecast=None, surplus_now_w=None, can_pause=True,
                 drift_w=0.0):
    """Plan the rest of one session (call it every quarter and whenever the need changes).

    now, departure_utc: aware datetimes; need_kwh: energy to add this session; delivered_kwh: added
    so far; limit_w: the capacity limit; margin_w: kept free under it; car_max_w, car_min_w: the
    charger's (and car's) power range; profile: a balancer_profile.LoadProfile.
    prices: the import balancer_prices.PriceTable (None: the safest quarters, as before prices);
    export: the export PriceTable (None: an exported kWh earns DEFAULT_EXPORT_EUR_PER_KWH);
    running: the car charged in the quarter before now under the last plan (its window is held).
    pv_forecast: {quarter start UTC: W} of a solar forecast's pessimistic production
    (balancer_solar.forecast_w), None: the profile's usual surplus as it is. surplus_now_w: the
    solar surplus seen now (W, with prices only: it prices the next SUN_PERSISTS_S). can_pause:
    the charger has a pause switch (with prices, a room below the minimum is then planned as the
    car at its minimum for part of the quarter). drift_w: how much more than usual the house is
    expected to draw in every quarter to departure (balancer_drift.HouseDrift.drift_w, >= 0): each
    quarter's room for the car shrinks by it; which quarters are risky does not change.
    Without a departure or a need it charges as the quarter allows (the balancer's old behaviour).
    """
    plan = SessionPlan()
    if departure_utc is None or not balancer_units.is_finite_number(need_kwh):
        plan.reason = "no departure or energy need set: charging as the quarter allows"
        return plan
    remaining = max(0.0, float(need_kwh) - max(0.0, float(delivered_kwh or 0.0)))
    plan.remaining_kwh = remaining
    if remaining < DONE_KWH:
        plan.charge_now = False
        plan.state = STATE_FULL
        plan.planned_finish = now
        plan.reason = "need met: %.1f kWh of %.1f kWh delivered" % (float(delivered_kwh or 0.0), float(need_kwh))
        return plan
    if now >= departure_utc:
        plan.on_track = False
        plan.short_kwh = remaining
        plan.needs_grid = True
        plan.reason = "departure %s passed with the car still plugged in: charging the %.1f kWh left inside the %s limit" % (
            _hhmm(departure_utc), remaining, _kw(limit_w))
        return plan
    end = min(departure_utc, now + timedelta(seconds=MAX_HORIZON_S))
    plan.drift_w = max(0.0, drift_w)
    quarters = _slots(now, end, limit_w, profile, surplus_now_w if prices is not None else None, plan.drift_w)
    imports = None if prices is None else prices.prices_at([slot[SLOT_QUARTER] for slot in quarters])
    priced = imports is not None and len([v for v in imports if v is not None]) > 0
    now_slots = _with_room(quarters, limit_w, margin_w, car_max_w, car_min_w)  # what charging now gives
    slots = now_slots
    if priced:
        # With prices each quarter gives the room its usual high leaves (see the docstring).
        slots = _with_room(quarters, limit_w, margin_w, car_max_w, car_min_w, True)
    total = sum([slot[SLOT_KWH] for slot in slots])
    want = remaining * (1.0 + BUFFER_SHARE)
    pulse = False
    if priced and can_pause:
        # A quarter whose room is below the car's minimum still gives the car that room: at its
        # minimum for part of the quarter, then paused, as the quarter budget does anyway. Where
        # the minimum is large (3 x 230 V at 6 A is 4.14 kW) those are most quarters: above a 4 kW
        # limit, all of them (the plan charged in every quarter whatever it cost), and beside a
        # heat pump's usual high, the cheap night ones (H6 January 3-phase, seed 4: the car
        # charged 23:00-00:45 at 0.29 EUR/kWh, not 03:00-05:45 at 0.26-0.27; +4.5 % over the
        # bound). A car without a pause switch holds its minimum: only quarters it fits in count.
        pulsed = _with_room(quarters, limit_w, margin_w, car_max_w, car_min_w, True, True)
        if sum([slot[SLOT_KWH] for slot in pulsed]) >= want:
            slots, total, pulse = pulsed, sum([slot[SLOT_KWH] for slot in pulsed]), True
            now_slots = _with_room(quarters, limit_w, margin_w, car_max_w, car_min_w, False, True)
    by = _hhmm(departure_utc)
    costs = None if imports is None else _costs(slots, limit_w, margin_w, car_min_w, imports, export, pv_forecast, pulse)
    if total < want:
        # Not enough room for the need plus the buffer: every quarter from now on counts.
        chosen = list(range(len(slots)))
        plan.needs_grid = True
        plan.windows = [(slots[0][SLOT_START], slots[-1][SLOT_END])]
        if costs is not None:
            _price_plan(plan, now_slots, costs, chosen, remaining)  # every quarter, as the budget allows
        total = sum([slot[SLOT_KWH] for slot in now_slots])  # what fits as the budget likely gives it
        if total < remaining:
            plan.on_track = False
            plan.short_kwh = remaining - total
            plan.state = STATE_SHORT
            plan.reason = "short: %.1f kWh left by %s, at most %.1f kWh fits under the %s limit%s: charging in every quarter, %.1f kWh short" % (
                remaining, by, total, _kw(limit_w), _drifting(plan), plan.short_kwh)
        else:
            plan.reason = "tight: %.1f kWh left by %s needs most of the %.1f kWh that fits under the %s limit%s: charging in every quarter" % (
                remaining, by, total, _kw(limit_w), _drifting(plan))
        plan.next_window = plan.windows[0]
        plan.planned_finish = _finish(now_slots, chosen, remaining)
        return plan
    # Waiting out this quarter would leave less than the need plus the buffer (mode solar's signal:
    # the plan is redone only at the next quarter, by when that quarter's room is gone).
    plan.needs_grid = total - slots[0][SLOT_KWH] < want
    reserve_from = departure_utc - timedelta(seconds=RESERVE_S)
    chosen, worst = _choose(slots, want, reserve_from)
    grid, planned, eur = chosen, slots, None
    if costs is not None:
        chosen, grid, planned, eur = _choose_sun_and_grid(slots, costs, remaining, reserve_from, running, worst)
    plan.windows = _windows(slots, chosen)
    plan.next_window = plan.windows[0]
    plan.planned_finish = _finish(planned, chosen, remaining)
    plan.charge_now = chosen[0] == 0 and 0 in grid  # (a slot chosen for its sun only: the car waits and takes it)
    window = "%s-%s" % (_hhmm(plan.next_window[0]), _hhmm(plan.next_window[1]))
    which = "safest"
    if costs is not None:
        which = "cheapest safe"
        _price_plan(plan, planned, costs, chosen, remaining, grid, eur, now_slots)
        if plan.window_prices[0] is not None:
            window += " at %.3f EUR/kWh" % plan.window_prices[0]
    if plan.charge_now:
        plan.reason = "charging now: %.1f kWh by %s in the %s quarters (this window %s, finish about %s%s%s)" % (
            remaining, by, which, window, _hhmm(plan.planned_finish), _euros(plan), _drifting(plan))
    else:
        plan.state = STATE_WAITING
        plan.reason = "waiting: %.1f kWh by %s planned in the %s quarters, next %s (finish about %s%s%s)" % (
            remaining, by, which, window, _hhmm(plan.planned_finish), _euros(plan), _drifting(plan))
    return plan


def plan_attributes(plan, need_kwh, delivered_kwh, departure_utc):
    """The attributes of pyscript.wallbox_balancer_session (local ISO times, kWh to 0.1). With
    prices also planned_cost_eur, cost_now_eur, saving_eur (EUR to 0.01), windows (each window's
    start, end and mean price_eur_per_kwh) and prices_known_until."""
    window = plan.next_window
    attributes = {
        "energy_needed_kwh": None if need_kwh is None else round(float(need_kwh), 1),
        "delivered_kwh": round(float(delivered_kwh or 0.0), 1),
        "departure": None if departure_utc is None else balancer_time.iso_local(departure_utc),
        "planned_finish": None if plan.planned_finish is None else balancer_time.iso_local(plan.planned_finish),
        "on_track": plan.on_track,
        "next_window_start": None if window is None else balancer_time.iso_local(window[0]),
        "next_window_end": None if window is None else balancer_time.iso_local(window[1]),
        "short_kwh": round(plan.short_kwh, 1),
        "house_drift_w": int(round(plan.drift_w)),
        "reason": plan.reason,
    }
    if plan.planned_cost_eur is not None:
        # only with prices: a dashboard shows what the plan costs and saves, and each window's price
        attributes["planned_cost_eur"] = round(plan.planned_cost_eur, 2)
        attributes["cost_now_eur"] = round(plan.cost_now_eur, 2)
        attributes["saving_eur"] = _cents(plan.cost_now_eur - plan.planned_cost_eur)
        attributes["windows"] = [{
            "start": balancer_time.iso_local(plan.windows[k][0]),
            "end": balancer_time.iso_local(plan.windows[k][1]),
            "price_eur_per_kwh": None if plan.window_prices[k] is None else round(plan.window_prices[k], 4),
        } for k in range(len(plan.windows))]
        attributes["prices_known_until"] = None if plan.prices_known_until is None else balancer_time.iso_local(
            plan.prices_known_until)
    return attributes


# ---- departure -------------------------------------------------------------------------------

def local_wall_to_utc(year, month, day, hour, minute):
    """The UTC instant of a Belgian wall-clock time. The hour skipped in spring reads an hour
    later (02:30 -> 03:30 summer time); the hour repeated in autumn gives its first pass."""
    matches = _wall_passes(year, month, day, hour, minute)
    if matches:
        return min(matches)
    return datetime(year, month, day, hour, minute, tzinfo=timezone.utc) - balancer_time.WINTER_OFFSET


def _wall_passes(year, month, day, hour, minute):
    """The UTC instants at which Belgian clocks show that wall-clock time: one, two in the hour
    repeated in autumn, none in the hour skipped in spring."""
    wall = datetime(year, month, day, hour, minute, tzinfo=timezone.utc)
    matches = []
    for offset in (balancer_time.SUMMER_OFFSET, balancer_time.WINTER_OFFSET):
        candidate = wall - offset
        if balancer_time.utc_offset(candidate) == offset:
            matches.append(candidate)
    return matches


def departure_utc(now, departure, plugged_at=None):
    """The session's departure (UTC) from the `departure` setting, None when unreadable.

    'HH:MM' (or an input_datetime with only a time, 'HH:MM:SS'): the next such local time after
    plug-in (plugged_at; now when unknown). A date and time ('YYYY-MM-DD HH:MM[:SS]', an
    input_datetime with a date, local time; or ISO with an offset): that instant.
    """
    if departure is None:
        return None
    text = str(departure).strip()
    match = _TIME_RE.match(text)
    if match:
        hour, minute = int(match.group(1)), int(match.group(2))
        if hour > 23 or minute > 59:
            return None
        base = plugged_at or now
        day = balancer_time.to_local(base).date()
        for _ in range(3):
            # both passes of the hour repeated in autumn (the second when the first is already
            # past); the hour skipped in spring reads an hour later
            passes = _wall_passes(day.year, day.month, day.day, hour, minute) or [local_wall_to_utc(day.year, day.month, day.day, hour, minute)]
            later = [t for t in passes if t > base]
            if later:
                return min(later)
            day = day + timedelta(days=1)
        return None
    aware = balancer_time.parse_iso(text)
    if aware is not None:
        return aware.astimezone(timezone.utc)
    match = _DATETIME_RE.match(text)
    if not match:
        return None
    try:
        datetime(int(match.group(1)), int(match.group(2)), int(match.group(3)), int(match.group(4)), int(match.group(5)))
    except ValueError:
        return None
    return local_wall_to_utc(int(match.group(1)), int(match.group(2)), int(match.group(3)), int(match.group(4)),
                             int(match.group(5)))


# ---- what survives a restart -----------------------------------------------------------------

class Session:
    """One plug-in session: when the car was plugged in (a departure 'HH:MM' counts from there),
    the energy the balancer estimated it delivered (used without a session_energy sensor), and the
    charger's session counter when the session began (its base)."""

    def __init__(self, plugged_at=None, delivered_kwh=0.0, counter_base_kwh=None):
        self.plugged_at = plugged_at
        self.delivered_kwh = delivered_kwh
        self.counter_base_kwh = counter_base_kwh  # session_energy's first value this session; None: not seen yet

    def add_energy(self, kwh):
        if kwh is not None and kwh > 0:
            self.delivered_kwh += kwh

    def counted_kwh(self, counter_kwh):
        """What the charger's session counter (session_energy) added since this session began.
        Its first value is the base: at plug-in a counter may still show the last session's energy
        (one that starts again only when the car draws), and read as this session's, a need it
        seems to meet would pause the car for good. A counter that goes below the base was reset
        (the charger's new session): it counts from 0."""
        if self.counter_base_kwh is None:
            self.counter_base_kwh = counter_kwh
        elif counter_kwh < self.counter_base_kwh:
            self.counter_base_kwh = 0.0
        return counter_kwh - self.counter_base_kwh

    def as_dict(self):
        return {
            "plugged_at": None if self.plugged_at is None else self.plugged_at.isoformat(),
            "delivered_kwh": round(self.delivered_kwh, 3),
            "counter_base_kwh": None if self.counter_base_kwh is None else round(self.counter_base_kwh, 3),
        }


def session_from_dict(data):
    """A Session from as_dict()'s output; anything malformed gives None (no session known)."""
    if not isinstance(data, dict):
        return None
    plugged_at = balancer_time.parse_iso(data.get("plugged_at"))
    delivered = data.get("delivered_kwh")
    if plugged_at is None or not balancer_units.is_finite_number(delivered) or delivered < 0:
        return None
    base = data.get("counter_base_kwh")
    if not balancer_units.is_finite_number(base) or base < 0:
        base = None  # not saved (an older version) or malformed: the counter's next value is the base
    return Session(plugged_at, float(delivered), base)
