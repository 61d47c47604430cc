"""The plant around the balancer: house, grid meter, Wallbox charger + cloud, car; and the event loop.

Everything the controllers can see or do goes through `Plant`: meter publications and charger-sensor
refreshes are delivered to the controller, writes go through `Plant.write_current` /
`Plant.set_paused`, which return False when the cloud answers 429 (or the call is skipped).

Time is UTC epoch seconds (float) throughout. The loop is event driven; between two events the house
load and the EV power are constant, and both are recorded as step functions, so the energy of every
quarter-hour is computed exactly afterwards (`tools/metrics.py`).

PlantParams (defaults = the reference plant)
-------------------------------------------
meter_period   5 s     The grid sensor gets a new state every `meter_period` s (HomeWizard polls every
                       5 s; DSMR's default `time_between_update` is 30 s -> use 30 for that case).
meter_offset   1 s     Phase of those publications: at k*meter_period + meter_offset (epoch s), so they
                       do not coincide with the app's 5 s ticks (on :00, :05, ...).
meter_delay    2 s     A publication at t shows grid power (house + EV) as it was at t - meter_delay,
                       rounded to whole W (so a steady load repeats the same state string, which in
                       Home Assistant moves only `last_reported` and fires no state trigger).
meter_gaps     False   True: during the trace's unavailable/unknown gaps (HA history input) the grid
                       sensor publishes `unavailable` instead of the held value.
charger_delay  20 s    An accepted write (current, pause, resume) changes the car's draw
                       `charger_delay` s later (cloud -> charger -> car ramp, as one step). A car that is
                       plugged in starts drawing `charger_delay` s after plug-in.
write_interval 60 s    The Wallbox cloud accepts a write (current, pause, resume share the limit) only if
                       at least `write_interval` s passed since the previous ACCEPTED write; otherwise it
                       answers 429 and nothing changes.
reject_resets_window False  If True, a rejected (429) write also restarts the window. Default False:
                       no source says rejected requests count (the reports only say ~1 write/min).
charger_poll   90 s    The integration polls the charger every 90 s (one charger). An accepted current
                       write pushes the cloud's answer with `async_set_updated_data`, which re-writes the
                       OLD charging power (sensor `last_reported` moves, value unchanged) and RESTARTS the
                       poll timer. An accepted pause/resume requests a refresh that runs at once and reads
                       the charger before it reacted (the debouncer's 10 s cooldown never matters at one
                       write a minute); it also restarts the poll timer. Polls are GETs and never 429.
charger_reports "polled" "polled": the Wallbox cloud as above (poll, echo, refresh). "on_change": a local
                       charger (ESPHome, MQTT, OpenEVSE, go-e): what it shows (power, pause switch,
                       status) is reported once, when it changes (the car's draw `charger_delay` s after
                       a write), its added energy every `energy_period` s while it changes; no poll, no
                       echo of a write, no refresh.
energy_period  30 s    on_change: how often the added-energy sensor reports while it changes.
voltage        230 V   Per phase.
phases         1       1 or 3; power = amps * voltage * phases.
min_current    6 A     The charger's number entity range (HA rejects values outside it before the cloud).
max_current    32 A
car_max_w      inf     The car's own acceptance: it draws min(amps * V * phases, car_max_w). inf = the car
                       takes whatever is offered.
session_kwh    inf     Energy the car takes per plug-in session; once delivered it stops drawing (full:
                       status "Waiting for car demand", the switch stays on) until it is unplugged.
                       inf = the car always wants energy.
target_peak    4000 W  The user's target peak (app config `target_peak`, the original automation's
                       `contract_limit`, the floor of every capacity limit in the metrics).
plug_windows   Mon-Fri 18:00-07:30 (next morning), Sat+Sun 12:00-18:00, local time (Europe/Brussels):
                       when the car is plugged in (Sunday evening is weekend: away until Monday
                       18:00). A pause belongs to the session: after plug-in the car charges at the
                       current the charger holds, whatever was paused before.
sessions       ()      Charging sessions (issue 10): (plug_in, departure, need_kwh) tuples, epoch s and
                       kWh, in time order, not overlapping (`tools/sessions.py` makes them from the
                       windows or reads a CSV). When given they replace `plug_windows`: the car is
                       plugged in from plug_in to departure (clipped to the replay) and is full once
                       that session's need_kwh is delivered (instead of `session_kwh`). A session
                       under way at the replay's start keeps its whole need.
At start the charger holds `max_current`, not paused (the user's setting before the balancer).

`Plant(..., history=)` (tools/history.py, issue 15): what Home Assistant's recorder holds about the
grid sensor before `start` (the house alone). The plant does nothing with it; the app's controller
serves it as `recorder.get_statistics` and the metrics count its house quarters of the start's
month in that month's bill.
"""
from __future__ import annotations

import heapq
import math
import sys
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from tools.traces import Trace

try:
    from freezegun.api import real_perf_counter as _real_perf_counter
except ImportError:  # pragma: no cover
    from time import perf_counter as _real_perf_counter
# freezegun replaces every module attribute that IS time.perf_counter while the app runs frozen;
# one held in a tuple escapes that, so progress and timing read the real clock.
_CLOCK = (_real_perf_counter,)


def perf_counter() -> float:
    return _CLOCK[0]()


TZ = ZoneInfo("Europe/Brussels")
QUARTER = 900.0

# (weekdays (Mon=0), start HH:MM, end HH:MM); end <= start means the next day.
DEFAULT_PLUG_WINDOWS = (((0, 1, 2, 3, 4), "18:00", "07:30"), ((5, 6), "12:00", "18:00"))


# how the charger's entities report (PlantParams.charger_reports)
POLLED, ON_CHANGE = "polled", "on_change"
CHARGER_REPORTS = (POLLED, ON_CHANGE)


@dataclass(frozen=True)
class PlantParams:
    meter_period: float = 5.0
    meter_offset: float = 1.0
    meter_delay: float = 2.0
    meter_gaps: bool = False
    charger_delay: float = 20.0
    write_interval: float = 60.0
    reject_resets_window: bool = False
    charger_poll: float = 90.0
    charger_reports: str = POLLED
    energy_period: float = 30.0
    voltage: float = 230.0
    phases: int = 1
    min_current: int = 6
    max_current: int = 32
    car_max_w: float = math.inf
    session_kwh: float = math.inf
    target_peak: float = 4000.0
    margin: float = 150.0                   # the app's `margin` (W): kept free under the limit
    plug_windows: tuple = DEFAULT_PLUG_WINDOWS
    sessions: tuple = ()

    @property
    def max_ev_w(self) -> float:
        return min(self.max_current * self.voltage * self.phases, self.car_max_w)

    @property
    def min_ev_w(self) -> float:
        return min(self.min_current * self.voltage * self.phases, self.car_max_w)


def plug_intervals(params: PlantParams, start: float, end: float) -> list[tuple[float, float]]:
    """Merged [plug-in, plug-out) intervals (epoch s) overlapping [start, end), clipped to it.
    With `params.sessions`: one interval per session (not merged: each is its own plug-in)."""
    if params.sessions:
        return [(max(a, start), min(b, end)) for a, b, _ in session_list(params, start, end)]
    day = datetime.fromtimestamp(start, TZ).date() - timedelta(days=1)
    last_day = datetime.fromtimestamp(end, TZ).date()
    raw = []
    while day <= last_day:
        for weekdays, a, b in params.plug_windows:
            if day.weekday() not in weekdays:
                continue
            ta, tb = time.fromisoformat(a), time.fromisoformat(b)
            t0 = datetime.combine(day, ta, TZ)
            t1 = datetime.combine(day + timedelta(days=1) if tb <= ta else day, tb, TZ)
            raw.append((t0.timestamp(), t1.timestamp()))
        day += timedelta(days=1)
    raw.sort()
    merged: list[list[float]] = []
    for a, b in raw:
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return [(max(a, start), min(b, end)) for a, b in merged if b > start and a < end]


def whole_quarters(trace: Trace) -> tuple[float, float]:
    """The replay's span: the trace's whole clock quarter-hours (a billed quarter is judged whole or
    not at all). ValueError when not even one fits."""
    start = math.ceil(trace.start / QUARTER) * QUARTER
    end = math.floor(trace.end / QUARTER) * QUARTER
    if end <= start:
        raise ValueError(f"{trace.name}: shorter than one whole clock quarter-hour")
    return start, end


def trace_days(trace: Trace) -> tuple[str, str]:
    """First and last local day the replay covers (whole quarters)."""
    start, end = whole_quarters(trace)
    return (datetime.fromtimestamp(start, TZ).date().isoformat(),
            datetime.fromtimestamp(end - 1, TZ).date().isoformat())


def session_list(params: PlantParams, start: float, end: float) -> list[tuple[float, float, float]]:
    """The sessions (plug_in, departure, need_kwh) of `params.sessions` overlapping [start, end),
    unclipped, in time order."""
    return sorted((float(a), float(b), float(n)) for a, b, n in params.sessions if b > start and a < end)


class Controller:
    """What the loop calls. Writes go through `self.plant`."""

    name = "controller"
    wants_ticks = False   # True: on_tick every 5 s (aligned to local midnight)

    def on_start(self, plant: "Plant", t: float) -> None:
        self.plant = plant

    def on_meter(self, t: float, grid_w: int | None) -> None:
        """Grid sensor published `grid_w` (W, None = unavailable); an unchanged value is delivered too."""

    def on_charger(self, t: float, power_kw: float, switch: str, fresh: bool) -> None:
        """Charger sensors were (re)written: charging power (kW) and pause switch state
        ('on' charging / 'off' paused / 'unavailable' no car as of the poll). fresh=False: a
        write's answer re-wrote the previous poll's values."""

    def on_tick(self, t: float) -> None:
        """Every 5 s on the local-midnight grid, when wants_ticks."""

    def on_plug(self, t: float, plugged: bool) -> None:
        """The car was plugged in (or out) at t, only in sessions mode (`PlantParams.sessions`): what
        the user does then (set the session's need and departure). The charger's sensors show it
        only at the next poll."""

    def on_end(self, t: float) -> None:
        """The replay reached its end."""

    def close(self) -> None:
        """Release what on_start took (also after an exception in the replay)."""


# event priorities at equal times: physics first, then what the sensors show, then the controllers
P_EFFECT, P_PLUG, P_METER, P_POLL, P_TIMER, P_TICK = range(6)


@dataclass
class RunResult:
    controller: str
    trace: Trace
    params: PlantParams
    start: float
    end: float
    ev_times: list[float]            # EV power step function (W), holds until the next or `end`
    ev_w: list[float]
    plugged: list[tuple[float, float]]
    writes: list[tuple[float, str, object, str]]   # (t, 'current'|'pause'|'resume', value, status)
    wall_s: float = 0.0
    events: int = 0
    notes: list[str] = field(default_factory=list)
    full: list[tuple[float, float]] = field(default_factory=list)  # [full, unplugged) intervals
    history: object = None           # tools.history.History: the recorder's, before `start`


class Plant:
    def __init__(self, trace: Trace, params: PlantParams = PlantParams(),
                 start: float | None = None, end: float | None = None, history=None):
        self.p = params
        self.trace = trace
        self.history = history      # tools.history.History or None: what the recorder holds
        self.start = trace.start if start is None else start
        self.end = trace.end if end is None else end
        self.plugged_intervals = plug_intervals(params, self.start, self.end)
        # sessions mode: the clipped plug-in time -> (departure, need kWh) of each session
        self._sessions = {max(a, self.start): (b, n)
                          for a, b, n in session_list(params, self.start, self.end)}
        # house step function + cumulative energy for exact integrals
        self._ht = trace.times
        self._hp = trace.power_w
        cum = [0.0]
        for i in range(1, len(self._ht)):
            cum.append(cum[-1] + self._hp[i - 1] * (self._ht[i] - self._ht[i - 1]))
        self._hcum = cum
        self._gaps = trace.gaps if params.meter_gaps else []
        # charger / car
        self.setpoint = params.max_current      # what the cloud holds (number entity after a write)
        self.amps = params.max_current          # what the charger applies now
        self.paused_cmd = False                 # what the cloud was last told (this session)
        self.paused = False                     # what the charger does now
        self.plugged = False
        self.full = False                       # the session's energy is delivered
        self.session_j = 0.0                    # energy delivered this session
        self.session_need_j = params.session_kwh * 3.6e6   # energy the car takes this session
        self.session_departure: float | None = None        # sessions mode: this session's departure
        self._session_t = self.start            # session_j counts up to here
        self._full_gen = 0
        self.full_intervals: list[tuple[float, float]] = []
        self.ev_w = 0.0
        self.ev_times = [self.start]
        self.ev_vals = [0.0]
        # cloud
        self._last_write = -math.inf
        self.writes: list[tuple[float, str, object, str]] = []
        # charger sensors as of the last poll
        self.sensor_kw = 0.0
        self.switch_state = "unavailable"
        self.status_shown = "Ready"
        self.session_kwh_shown = 0.0
        self._poll_gen = 0
        # loop
        self._heap: list = []
        self._seq = 0
        self.now = self.start

    # ---- scheduling -------------------------------------------------------------------------
    def _push(self, t: float, prio: int, fn, arg=None) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (t, prio, self._seq, fn, arg))

    def call_at(self, t: float, fn) -> list:
        """Run fn(t) at time t (controller timers). Returns a handle; handle[0] = False cancels."""
        handle = [True]
        self._push(t, P_TIMER, self._timer, (handle, fn))
        return handle

    def _timer(self, t, arg):
        handle, fn = arg
        if handle[0]:
            fn(t)

    # ---- physics ----------------------------------------------------------------------------
    def house_w(self, t: float) -> float:
        i = bisect_right(self._ht, t) - 1
        return self._hp[max(i, 0)]

    def ev_w_at(self, t: float) -> float:
        i = bisect_right(self.ev_times, t) - 1
        return self.ev_vals[max(i, 0)]

    def house_energy(self, a: float, b: float) -> float:
        """House energy (J) on [a, b)."""
        return self._house_cum(b) - self._house_cum(a)

    def _house_cum(self, t: float) -> float:
        i = max(bisect_right(self._ht, t) - 1, 0)
        return self._hcum[i] + self._hp[i] * (t - self._ht[i])

    def ev_energy(self, a: float, b: float) -> float:
        """EV energy (J) on [a, b), b <= now."""
        ts, vs = self.ev_times, self.ev_vals
        i = max(bisect_right(ts, a) - 1, 0)
        e = 0.0
        while i < len(ts) and ts[i] < b:
            seg_end = ts[i + 1] if i + 1 < len(ts) else b
            e += vs[i] * (min(seg_end, b) - max(ts[i], a))
            i += 1
        return e

    def _account(self, t: float) -> None:
        """Count the session's energy up to t."""
        self.session_j += self.ev_w * (t - self._session_t)
        self._session_t = t

    def _update_ev(self, t: float) -> None:
        self._account(t)
        if self.plugged and not self.paused and not self.full:
            w = min(self.amps * self.p.voltage * self.p.phases, self.p.car_max_w)
        else:
            w = 0.0
        if w != self.ev_w:
            self.ev_w = w
            self._full_gen += 1
            if w > 0 and math.isfinite(self.session_need_j):
                left_j = max(0.0, self.session_need_j - self.session_j)
                self._push(t + left_j / w, P_EFFECT, self._effect, ("full", self._full_gen))
            if self.ev_times[-1] == t:
                self.ev_vals[-1] = w
            else:
                self.ev_times.append(t)
                self.ev_vals.append(w)

    def _effect(self, t: float, arg) -> None:
        kind, value = arg
        if kind == "amps":
            self.amps = value
        elif kind == "paused":
            self.paused = value
        elif kind == "start":                 # car begins to draw after plug-in
            if not self.plugged:
                return
        elif kind == "full":                  # the session's energy is delivered
            if value != self._full_gen or not self.plugged:
                return
            self._update_ev(t)
            self.full = True
            self.full_intervals.append((t, t))
        self._update_ev(t)
        if self.p.charger_reports == ON_CHANGE:
            self._push(t, P_POLL, self._report)

    @property
    def session_need_kwh(self) -> float | None:
        """Sessions mode: the energy the plugged-in car's session needs (kWh); None otherwise."""
        return self.session_need_j / 3.6e6 if self.p.sessions and self.plugged else None

    def _start_session(self, t: float) -> None:
        """Sessions mode: the need and departure of the session plugged in at t."""
        departure, need = self._sessions[t]
        self.session_need_j = need * 3.6e6
        self.session_departure = departure

    def _plug(self, t: float, plugged: bool) -> None:
        self._account(t)
        self.plugged = plugged
        if self.full:
            self.full_intervals[-1] = (self.full_intervals[-1][0], t)
        self.full = False
        if plugged:
            # a new session: charge at the held current, a previous pause no longer applies
            self.paused = self.paused_cmd = False
            self.session_j = 0.0
            if self.p.sessions:
                self._start_session(t)
            self._push(t + self.p.charger_delay, P_EFFECT, self._effect, ("start", None))
        else:
            self._update_ev(t)
            if self.p.sessions:
                self.session_departure = None
        if self.p.sessions:
            self.controller.on_plug(t, plugged)
        if self.p.charger_reports == ON_CHANGE:
            self._push(t, P_POLL, self._report, True)

    # ---- cloud writes (what the controllers call) -------------------------------------------
    def _cloud(self, t: float) -> bool:
        if t - self._last_write < self.p.write_interval:
            if self.p.reject_resets_window:
                self._last_write = t
            return False
        self._last_write = t
        return True

    def write_current(self, t: float, amps) -> bool:
        """number.set_value on the maximum charging current. False = rejected (429 or out of range)."""
        if not (self.p.min_current <= amps <= self.p.max_current):
            self.writes.append((t, "current", amps, "invalid"))
            return False
        if not self._cloud(t):
            self.writes.append((t, "current", amps, "429"))
            return False
        self.writes.append((t, "current", amps, "ok"))
        self.setpoint = amps
        self._push(t + self.p.charger_delay, P_EFFECT, self._effect, ("amps", amps))
        if self.p.charger_reports == POLLED:
            # the answer re-writes the previous poll's sensor values and restarts the poll timer
            # (delivered after the service call returns, as Home Assistant does)
            self._restart_poll(t)
            self._push(t, P_POLL, self._answer)
        return True

    def set_paused(self, t: float, paused: bool) -> bool:
        """switch.turn_off (pause) / turn_on (resume). False = 429, or skipped because the switch
        was unavailable (no car as of the last poll): Home Assistant skips unavailable entities."""
        kind = "pause" if paused else "resume"
        if self.switch_state == "unavailable":
            self.writes.append((t, kind, None, "skipped"))
            return False
        if not self._cloud(t):
            self.writes.append((t, kind, None, "429"))
            return False
        self.writes.append((t, kind, None, "ok"))
        self.paused_cmd = paused
        self._push(t + self.p.charger_delay, P_EFFECT, self._effect, ("paused", paused))
        if self.p.charger_reports == POLLED:
            # requested refresh: runs right after the call, before the charger reacts
            self._push(t, P_POLL, self._poll)
        return True

    # ---- sensors ----------------------------------------------------------------------------
    def _restart_poll(self, t: float) -> None:
        self._poll_gen += 1
        self._push(t + self.p.charger_poll, P_POLL, self._poll, self._poll_gen)

    def _answer(self, t: float, _=None) -> None:
        self.controller.on_charger(t, self.sensor_kw, self.switch_state, False)

    def _show(self, t: float, energy: bool = True) -> bool:
        """Update what the charger's entities show to what it does at t (the added energy only
        when `energy`); True when any of them changed."""
        before = (self.sensor_kw, self.switch_state, self.status_shown, self.session_kwh_shown)
        self.sensor_kw = round(self.ev_w / 1000.0, 2)
        if energy:
            self._account(t)
            self.session_kwh_shown = round(self.session_j / 3.6e6, 2)
        if not self.plugged:
            self.switch_state, self.status_shown = "unavailable", "Ready"
        elif self.paused:
            self.switch_state, self.status_shown = "off", "Paused"
        else:
            self.switch_state = "on"
            self.status_shown = "Waiting for car demand" if self.full else "Charging"
        return (self.sensor_kw, self.switch_state, self.status_shown, self.session_kwh_shown) != before

    def _poll(self, t: float, gen=None) -> None:
        if gen is not None and gen != self._poll_gen:
            return                                # timer was restarted
        self._show(t)
        self._restart_poll(t)
        self.controller.on_charger(t, self.sensor_kw, self.switch_state, True)

    def _report(self, t: float, energy: bool = False) -> None:
        """on_change: report what changed (power, switch, status; the added energy with `energy`)."""
        if self._show(t, energy):
            self.controller.on_charger(t, self.sensor_kw, self.switch_state, True)

    def _energy_report(self, t: float, _=None) -> None:
        self._report(t, True)
        self._push(t + self.p.energy_period, P_POLL, self._energy_report)

    def grid_reading(self, t: float) -> int | None:
        """What the grid sensor publishes at t (W, None = unavailable)."""
        ts = t - self.p.meter_delay
        for a, b in self._gaps:
            if a <= ts < b:
                return None
        return int(round(self.house_w(ts) + self.ev_w_at(ts)))

    # ---- the loop ---------------------------------------------------------------------------
    def run(self, controller: Controller, tick_period: float = 5.0, progress: str | None = None
            ) -> RunResult:
        self.controller = controller
        p = self.p
        start, end = self.start, self.end
        wall0 = perf_counter()
        for a, b in self.plugged_intervals:
            if a <= start:          # a session already under way: the car draws from the start
                self.plugged = True
                if p.sessions:
                    self._start_session(start)
                self._update_ev(start)
            else:
                self._push(a, P_PLUG, self._plug, True)
            if b < end:
                self._push(b, P_PLUG, self._plug, False)
        try:
            controller.on_start(self, start)
            if p.charger_reports == POLLED:
                self._poll(start, None)
            else:                                     # what it shows at the start, then changes
                self._show(start)
                controller.on_charger(start, self.sensor_kw, self.switch_state, True)
                self._push(start + p.energy_period, P_POLL, self._energy_report)
            n = self._loop(controller, tick_period, progress, wall0)
            self.now = end
            if self.full:
                self.full_intervals[-1] = (self.full_intervals[-1][0], end)
            controller.on_end(end)
        finally:
            controller.close()
        wall = perf_counter() - wall0
        if progress is not None:
            _progress(progress, 1.0, wall, done=True)
        return RunResult(controller.name, self.trace, p, start, end, self.ev_times, self.ev_vals,
                         self.plugged_intervals, self.writes, wall, n,
                         list(getattr(controller, "notes", [])), self.full_intervals,
                         self.history)

    def _loop(self, controller: Controller, tick_period: float, progress, wall0: float) -> int:
        """Deliver events until the end; returns how many."""
        p = self.p
        start, end = self.start, self.end
        meter_t = math.ceil((start - p.meter_offset) / p.meter_period) * p.meter_period + p.meter_offset
        tick_t = math.ceil(start / tick_period) * tick_period if controller.wants_ticks else math.inf
        heap = self._heap
        pop = heapq.heappop
        on_meter, on_tick = controller.on_meter, controller.on_tick
        grid_reading = self.grid_reading
        span = end - start
        n = 0
        next_report = 0.0
        while True:
            n += 1
            if progress is not None and not n & 4095:
                w = perf_counter()
                if w >= next_report:
                    next_report = w + 0.25
                    _progress(progress, (self.now - start) / span, w - wall0)
            if heap:
                top = heap[0]
                ht, hp = top[0], top[1]
            else:
                ht, hp = math.inf, 99
            if ((ht < meter_t or (ht == meter_t and hp < P_METER))
                    and (ht < tick_t or (ht == tick_t and hp < P_TICK))):
                if ht >= end:
                    break
                pop(heap)
                self.now = ht
                top[3](ht, top[4])
            elif meter_t <= tick_t:
                if meter_t >= end:
                    break
                self.now = meter_t
                on_meter(meter_t, grid_reading(meter_t))
                meter_t += p.meter_period
            else:
                if tick_t >= end:
                    break
                self.now = tick_t
                on_tick(tick_t)
                tick_t += tick_period
        return n


def _progress(label: str, frac: float, wall: float, done: bool = False) -> None:
    width = 30
    k = int(round(max(0.0, min(frac, 1.0)) * width))
    sys.stderr.write(f"\r{label} [{'#' * k}{'.' * (width - k)}] {frac * 100:5.1f}% {wall:6.1f} s")
    if done:
        sys.stderr.write("\n")
    sys.stderr.flush()
