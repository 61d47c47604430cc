"""What the charger and the car are doing, as far as the signals allow: the charger/car model.

Chargers report in one of two ways (home-assistant-integrations.md, section 5):
- POLLED: the integration reads the charger on a period and writes every entity again, changed or
  not (last_reported moves, last_updated stays). The core Wallbox integration polls its cloud every
  90 s, and its signals mislead in known ways (plant-behaviour.md):
  - every current write pushes the cloud's answer with async_set_updated_data: ALL the charger's
    entities are written again with the previous poll's data (their last_reported moves, the data
    does not get younger), and the poll timer restarts;
  - a pause/resume asks for a refresh at once, which reads the charger before it has switched;
  - the pause switch is unavailable while no car is connected;
  - a current above the charger's own maximum is clamped by the cloud, while the number entity's
    `max` attribute is refreshed only by the next poll.
  So a report is a read only when it is not a write's echo, and a change is believed from a read
  taken at least `settle_s` after it.
- ON_CHANGE: a local charger (OpenEVSE, go-e, Easee, an ESPHome or Modbus wallbox, template
  entities) writes an entity only when its value changes: there is no poll to wait for and no echo.
  Every report is a read; a write's effect is believed `settle_s` after it, or as soon as the power
  sensor shows it. A charger set through a service may have nothing to read back at all.
The kind is configured (`charger_reports`) or learnt (auto): an entity written again unchanged makes
it POLLED (for good); an accepted write followed by ECHO_S s without such a repeat makes it
ON_CHANGE, when the entities were older than the write (its echo would have shown) or a value
changed within settle_s after it. Until one of them is seen it is unknown: a raise waits for a read
as with a polled charger, but at most `read_wait_s` (one command interval plus the response) after
the change, then goes on the write's belief. A polled one waits at most `settle_s` + two of its
periods: no kind is ever stuck.

For each fact the model keeps where it came from and how old the data behind it is:
- `data_at`: when the charger was last really read (a poll or refresh, not a write's echo);
- what the last accepted pause/resume will do, believed until a read shows the result;
- whether a car is connected and whether it asks for energy, from the status sensor, else the
  pause switch's availability and the charger's power;
- the highest current the charger accepted since its maximum last changed.
Readings and now in; no Home Assistant here.
"""

# Status words, compared in lower case with "_" as a space (status_key): a status sensor shows its
# integration's raw enum or its English text. The core Wallbox integration's ChargerStatus
# (homeassistant/components/wallbox/const.py) first, then the chargers Belgian users have: Easee
# (nordicopen/easee_hass const.py), Zaptec (custom-components/zaptec sensor.py, charger_mode),
# Peblar (core peblar const.py, cp_state), OCPP 1.6 connector status (lbbrhzn/ocpp), go-e
# (marq24/ha-goecharger-api2, car state in English), Alfen (leeyuentuen/alfen_wallbox status codes).
NO_CAR_STATUSES = (
    "ready", "disconnected", "locked",  # Wallbox (Ready: the charger's word for no car), Easee, Zaptec
    "no ev connected",  # Peblar
    "available",  # OCPP, Alfen: the connector is free
    "idle",  # go-e
)
CHARGING_STATUSES = ("charging", "discharging", "connected charging", "charging normal", "charging simplified")
PAUSED_STATUSES = ("paused",)
# Connected, but not drawing for the car's or the charger's own reason: a full car, the car's own
# timer, the charger's schedule or queue. Writes change nothing until it asks again.
NOT_ASKING_STATUSES = (
    "waiting for car demand", "waiting", "scheduled", "locked, car connected",
    "waiting in queue by power sharing", "waiting in queue by power boost",
    "waiting in queue by eco-smart", "waiting mid failed", "waiting mid safety margin exceeded",
    "completed",  # Easee: the car is full
    "connected finished",  # Zaptec
    "suspendedev",  # OCPP: the car takes nothing
    "complete", "wait for car",  # go-e
    "finish wait disconnect", "finish wait for car disconnect",  # Alfen
)
# A car is connected, and nothing more is said (whether it is paused, asking or about to start
# comes from the pause switch and the charger's power): a charger's own suspension (Peblar
# suspended, OCPP SuspendedEVSE, both also after the app's own pause), a session being prepared.
CONNECTED_STATUSES = (
    "suspended",  # Peblar
    "suspendedevse", "preparing", "finishing",  # OCPP
    "awaiting start", "ready to charge",  # Easee
    "connected requesting",  # Zaptec
    "cable connected", "ev connected", "charge point ready, waiting for power",  # Alfen
)
# The charger's state is not known right now: keep what was believed.
UNSURE_STATUSES = ("error", "updating", "unknown", "unavailable", "unknown/error", "fault", "faulted", "invalid", "offline")


def status_key(status):
    """A status as compared: lower case, "_" as a space, single spaces ("No_EV_Connected",
    "no ev connected" alike)."""
    return " ".join(str(status).replace("_", " ").lower().split())


# A charger entity written within this many seconds after an accepted current write is that
# write's echo (the old data re-published), not a read of the charger.
ECHO_S = 5.0
# A current the charger answered lower is not asked for again until its maximum changes, or
# this long (a write it ignored once is tried again).
CAP_HOLD_S = 900.0
# Below this power (W) a polled charger draws nothing.
DRAWING_MIN_W = 100.0
# How the charger's entities report (config `charger_reports`): learnt, on a period, on change.
AUTO = "auto"
POLLED = "polled"
ON_CHANGE = "on_change"
REPORTS = (AUTO, POLLED, ON_CHANGE)
# The charger's reporting period is the longest gap between its reports, forgotten by this factor
# per report (a slower period shows at once, a faster one over a few dozen reports).
PERIOD_DECAY = 0.99
# A polled charger's raise waits at most this many of its periods (plus settle_s) for a read; a
# period counts for no more than PERIOD_MAX_S (an entity written again once in hours is no poll).
PERIODS_WAITED = 2
PERIOD_MAX_S = 300.0
# Resumes that a read after them shows did not take (the switch still off: an OCPP charger without
# a car is "Available" with its switch available and off, and each resume is a remote start): after
# this many in a row the next waits RESUME_RETRY_S, until the switch shows on or the car draws.
RESUMES_REFUSED_MAX = 2
RESUME_RETRY_S = 900.0


class ChargerObservation:
    """What the glue read from the charger's entities at one step.

    amps: the current the number entity (or the service form) holds, None when unknown;
    number_max: the number entity's `max` attribute, None when absent;
    switch: 'on', 'off', 'unavailable' or None (no pause switch configured / missing);
    status: the status sensor's state, None when not configured or missing;
    power_w: the charger's power sensor in W, None when not configured or unusable;
    session_kwh: the energy added this session (kWh), None when not configured or unusable;
    reported_at: the newest last_reported of the charger's read entities (switch, status,
    power, session energy), None when none is configured;
    repeated: one of them was written again with nothing changed (last_reported after
    last_updated): what a polled integration does, and never one that reports on change;
    updated_at: the oldest last_updated of them: a write after it shows its echo as `repeated`;
    changed_at: the newest last_updated of them and the number entity: when a value last changed;
    number_at: the number entity's last_reported, None when not known;
    power_at: the power sensor's last_reported, None when not configured.
    """

    def __init__(self, amps=None, number_max=None, switch=None, status=None, power_w=None, session_kwh=None,
                 reported_at=None, repeated=False, updated_at=None, changed_at=None,
                 number_at=None, power_at=None):
        self.amps = amps
        self.session_kwh = session_kwh
        self.number_max = number_max
        self.switch = switch
        self.status = status
        self.power_w = power_w
        self.reported_at = reported_at
        self.repeated = repeated
        self.updated_at = updated_at
        self.changed_at = changed_at
        self.number_at = number_at
        self.power_at = power_at


class ChargerModel:
    """The charger and the car as believed from the signals; updated once per step by observe()."""

    def __init__(self, settle_s, read_wait_s=90.0, reports=AUTO):
        self.settle_s = settle_s  # a read this long after a change shows its result
        self.read_wait_s = read_wait_s  # unknown kind: a raise waits this long after a change, at most
        self.learning = reports == AUTO  # the kind is learnt from the reports
        self.kind = None if reports == AUTO else reports  # POLLED, ON_CHANGE, or None: not known yet
        self.period_s = 0.0  # the longest gap between two reports, decaying (a polled charger's period)
        self.observed_at = None  # the last observation: the beliefs below are as of then
        self.data_at = None  # when the charger was last really read (not a write's echo)
        self.last_reported = None  # the newest last_reported seen, echo or not
        self.power_at = None  # the power sensor's last report
        self.updated_at = None  # the oldest last_updated of the read entities, last observed
        self.probe_at = None  # an accepted write whose echo would have shown (the kind is learnt from it)
        self.current_written_at = None  # last accepted current write
        self.current_written_a = None
        self.current_checked = True  # the answer to the last current write was looked at
        self.amps_shown = None  # the current the number showed at the last observation
        self.current_before_a = None  # ... and when the last current write was accepted
        self.switch_sent_at = None  # last accepted pause/resume
        self.switch_sent_paused = None
        self.resume_checked = True  # a read after the last accepted resume was looked at
        self.resumes_refused = 0  # resumes in a row that a read after them showed still paused
        self.changed_at = None  # last accepted write of any kind: the car's draw changes after it
        self.car = None  # True connected, False none, None unknown
        self.asking = True  # False: connected but not asking for energy (full, own timer)
        self.idle_reads = 0  # real reads in a row that showed a connected car drawing nothing
        self.idle_at = None  # the read counted last in idle_reads
        self.paused_shown = None  # pause state as the last trustworthy read showed it
        self.cap_a = None  # the charger accepted no more than this (cloud clamp)
        self.cap_number_max = None  # the number's max when the cap was learned
        self.cap_at = None  # when the cap was learned
        self.suspect_at = None  # when the meter last suggested the car stopped drawing
        self.unknown_status = None  # a status string this model does not know (to warn once)
        self.status_tells_asking = True  # the last status says whether the car asks (not just "connected")
        self.session_kwh = None  # energy added this session, as the charger last showed it

    # ---- what the app did ----------------------------------------------------------------
    def accepted(self, now, kind, amps=None):
        """A write the charger accepted: 'current' (amps), 'pause' or 'resume'."""
        self.changed_at = now
        if self.updated_at is not None and self.updated_at < now:
            self.probe_at = now  # the entities are older than the write: an echo would show
        if kind == "current":
            self.current_written_at = now
            self.current_written_a = amps
            self.current_before_a = self.amps_shown
            self.current_checked = False
        else:
            self.switch_sent_at = now
            self.switch_sent_paused = kind == "pause"
            self.resume_checked = kind == "pause"

    def restore(self, changed_at):
        """After a restart: a command was sent at changed_at, so older charger data is not trusted."""
        self.changed_at = changed_at

    # ---- what the charger shows ----------------------------------------------------------
    def observe(self, now, obs):
        """Take one step's observation; returns None."""
        self.observed_at = now
        self.session_kwh = obs.session_kwh
        self.power_at = obs.power_at
        self.updated_at = obs.updated_at
        self._learn(obs)
        self._note_read(obs.reported_at)
        self._check_answer(now, obs)
        self.amps_shown = obs.amps
        trusted = self._read_after_switch()
        status = obs.status
        sure = False  # this observation says whether a car is connected
        if status is not None:
            # With a status sensor the switch adds nothing; an unavailable status (the cloud's poll
            # failed: every entity is unavailable then) says nothing about the car.
            if status_key(status) not in UNSURE_STATUSES:
                sure = self._from_status(status, trusted)
            if (not sure or not self.status_tells_asking) and obs.switch in ("on", "off"):
                # A status that says nothing (Unknown: the Wallbox integration's word for a status
                # id it does not know; Error; one never seen): a pause switch that shows on or off
                # (unavailable without a car) says what it can, a car and whether it is paused.
                # Kept at an older 'no car', a car plugged in then would draw the park current
                # uncontrolled, and one held as it was could not be paused. So does a status that
                # says only "connected" (Peblar suspended: paused by its switch, or full).
                self._from_switch(obs.switch, trusted)
                sure = True
        elif obs.switch is not None and obs.switch != "unknown":
            self._from_switch(obs.switch, trusted)
            sure = True
        self._from_power(obs, sure)

    def _learn(self, obs):
        """How the charger reports: an unchanged value written again means polled (for good). No
        such repeat ECHO_S s after an accepted write means on change, when the entities were older
        than the write (its echo would have shown) or a value changed within settle_s after it (a
        polled charger shows a change at its next poll, not before)."""
        if not self.learning:
            return
        if obs.repeated:
            self.kind = POLLED
            return
        written_at = self.changed_at
        if self.kind is not None or written_at is None or self._age_s(written_at) < ECHO_S:
            return
        shown_s = (obs.changed_at - written_at).total_seconds() if obs.changed_at is not None else -1.0
        if self.probe_at == written_at or 0 < shown_s <= self.settle_s:
            self.kind = ON_CHANGE

    def _note_read(self, reported_at):
        if reported_at is None or reported_at == self.last_reported:
            return
        if self.last_reported is not None and reported_at > self.last_reported:
            gap_s = (reported_at - self.last_reported).total_seconds()
            self.period_s = max(gap_s, self.period_s * PERIOD_DECAY)
        self.last_reported = reported_at
        written = self.current_written_at
        if written is not None and 0 <= (reported_at - written).total_seconds() <= ECHO_S:
            return  # the write's echo: the old data written again
        self.data_at = reported_at

    def _check_answer(self, now, obs):
        """The cloud answers a current write with what the charger took: less means its maximum
        is lower than the number entity's max says (refreshed only at the next poll)."""
        if self.cap_a is not None and (obs.number_max != self.cap_number_max or (now - self.cap_at).total_seconds() >= CAP_HOLD_S):
            self.cap_a = None
        if self.current_checked or obs.amps is None:
            return
        answered = obs.amps != self.current_before_a or (obs.number_at is not None and obs.number_at > self.current_written_at)
        if not answered and self._age_s(self.current_written_at) < self.settle_s:
            return  # no answer yet: a charger that takes the write with a lag shows it within settle_s
        self.current_checked = True
        if obs.amps < self.current_written_a:
            self.cap_a = obs.amps
            self.cap_number_max = obs.number_max
            self.cap_at = now

    def _read_after_switch(self):
        """True when what the charger shows is the result of the last pause/resume."""
        if self.switch_sent_at is None:
            return self._read_at() is not None
        return self._shows(self.switch_sent_at)

    def _read_at(self):
        """When the charger was last read: each report of one that reports on change."""
        return self.last_reported if self.kind == ON_CHANGE else self.data_at

    def _age_s(self, since):
        return (self.observed_at - since).total_seconds()

    def _shows(self, since):
        """What the charger shows is its state after a change made at `since`: a polled one was
        read settle_s after it; one that reports on change had settle_s to report it."""
        if self.kind == ON_CHANGE:
            return self._age_s(since) >= self.settle_s
        return self.data_at is not None and (self.data_at - since).total_seconds() >= self.settle_s

    def _read_wait_s(self):
        """How long after a change a raise waits for a read at most, then goes on the write's belief."""
        if self.kind == ON_CHANGE:
            return self.settle_s
        if self.kind == POLLED:
            return self.settle_s + PERIODS_WAITED * max(min(self.period_s, PERIOD_MAX_S), self.read_wait_s)
        return self.read_wait_s

    def _from_status(self, status, trusted):
        """Take a status sensor's state; True when it is one this model knows."""
        key = status_key(status)
        self.status_tells_asking = key not in CONNECTED_STATUSES
        if key in NO_CAR_STATUSES:
            self._set_car(False)
        elif key in CONNECTED_STATUSES:
            self._set_car(True)
        elif key in CHARGING_STATUSES:
            self._set_car(True)
            self.asking = True
            if trusted:
                self.paused_shown = False
        elif key in PAUSED_STATUSES:
            self._set_car(True)
            if trusted:
                self.paused_shown = True
        elif key in NOT_ASKING_STATUSES:
            # Even a read taken before a pause/resume took effect says the car was not asking.
            self._set_car(True)
            self.asking = False
            if trusted:
                self.paused_shown = False
        else:
            self.unknown_status = status  # the app warns once; the belief stays as it was
            return False
        return True

    def _from_switch(self, switch, trusted):
        if switch == "unavailable":
            self._set_car(False)
            return
        self._set_car(True)
        if trusted and switch in ("on", "off"):
            self.paused_shown = switch == "off"
            if switch == "on":
                self.resumes_refused = 0
            elif not self.resume_checked:
                self.resumes_refused += 1
            self.resume_checked = True

    def _from_power(self, obs, sure):
        """Without a status sensor, a connected car that a fresh read shows drawing nothing twice
        in a row is not asking; any draw means it asks again. Where nothing this step said whether a
        car is connected (sure False), a fresh draw says one is, against an older 'no car'."""
        if obs.power_w is None or not self.power_fresh():
            return
        if self.car is not True:
            # (not known at all, without a status or switch that says: a draw says a car is there,
            # so a session, and its plan, can start)
            if obs.power_w < DRAWING_MIN_W or (self.car is False and sure):
                return
            self._set_car(True)
        if obs.power_w >= DRAWING_MIN_W:
            self.asking = True
            self.idle_reads = 0
            self.resumes_refused = 0
            return
        if (obs.status is not None and self.status_tells_asking) or self.paused() or obs.amps is None:
            return
        if self._read_at() != self.idle_at:
            self.idle_reads += 1
            self.idle_at = self._read_at()
        if self.idle_reads >= 2:
            self.asking = False

    def _set_car(self, connected):
        if connected != self.car:
            self.asking = True
            self.idle_reads = 0
            if not connected:
                # A pause belongs to a session: the next car starts un-paused.
                self.paused_shown = None
                self.switch_sent_at = None
                self.switch_sent_paused = None
                self.resumes_refused = 0
        self.car = connected

    # ---- beliefs -----------------------------------------------------------------------
    def paused(self):
        """True/False: whether the charger holds the car paused; None when no car or unknown."""
        if self.car is False:
            return None
        if self.switch_sent_at is not None and not self._read_after_switch():
            return self.switch_sent_paused
        return self.paused_shown

    def car_text(self):
        """The car as believed, in a word for the published state: none, not asking, paused,
        charging, or unknown."""
        if self.car is False:
            return "none"
        if self.car is None:
            return "unknown"
        if not self.asking:
            return "not asking"
        return "paused" if self.paused() else "charging"

    def reports_text(self):
        """How the charger reports, as learnt or configured: polled, on_change, or unknown."""
        return self.kind or "unknown"

    def car_absent(self):
        return self.car is False

    def resume_waits(self, now):
        """Whether a resume should wait: the last RESUMES_REFUSED_MAX did not take, and the last
        was sent less than RESUME_RETRY_S ago."""
        return (self.resumes_refused >= RESUMES_REFUSED_MAX and self.switch_sent_at is not None
                and (now - self.switch_sent_at).total_seconds() < RESUME_RETRY_S)

    def not_asking(self):
        return self.car is True and not self.asking

    def power_fresh(self):
        """The charger's power was read after the last change took effect (settle_s), or, for
        one that reports on change, its power sensor reported since the change."""
        if self._read_at() is None:
            return False
        if self.changed_at is None:
            return True
        if self.kind == ON_CHANGE and self.power_at is not None and self.power_at >= self.changed_at:
            return True
        return self._shows(self.changed_at)

    def power_usable(self, now, max_age_s):
        """The power sensor shows the car's draw now: fresh, and for a polled charger read within
        max_age_s (one that reports on change holds its value until it changes)."""
        if not self.power_fresh():
            return False
        if self.kind == ON_CHANGE:
            return True
        age_s = self.data_age_s(now)
        return age_s is not None and age_s <= max_age_s

    def suspect_stop(self, now):
        """The meter suggests the car stopped drawing: believe nothing new until the next read."""
        self.suspect_at = now

    def read_since_change(self):
        """The charger was read after the last change took effect (and after the meter last
        suggested the car stopped), or it had the time to show it (_read_wait_s: never stuck);
        always True when none of its read entities is configured (nothing to wait for)."""
        if self.last_reported is None:
            return True
        suspect_at = self.suspect_at
        if suspect_at is not None and not self._seen_since(suspect_at):
            return False
        return self.power_fresh() or (self.changed_at is not None and self._age_s(self.changed_at) >= self._read_wait_s())

    def _seen_since(self, since):
        """The charger reported after `since`, or had the time to (a stopped car shows by then)."""
        read_at = self._read_at()
        if read_at is not None and read_at > since:
            return True
        return self._age_s(since) >= self._read_wait_s()

    def data_age_s(self, now):
        if self.data_at is None:
            return None
        return (now - self.data_at).total_seconds()

    def max_a(self, max_a):
        """The highest current worth asking for: the configured maximum, or less if the charger
        answered a write with less (its maximum dropped)."""
        if self.cap_a is None:
            return max_a
        return min(max_a, self.cap_a)
