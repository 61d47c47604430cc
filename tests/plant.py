"""One plant for the stub tests (tests/, through stubs.harness.StubHA) and the real-HA checks (e2e/,
through the harness's pyscript_ha): the charger and the meter.

It speaks only the harness's verbs (mock_service, set_state, state, attrs, advance), so both
worlds run the same model. Three chargers (`charger=`), with the same entity ids so one test runs
on each:
* "wallbox": the core Wallbox integration, polled. A number entity and a pause switch (on =
  charging allowed). A write reaches the charger unless the entity shows `unavailable` (Home
  Assistant skips those); an accepted one is shown at once (the integration refreshes after a
  write): the number with its new value and the switch written again. The integration polls 90 s
  after its last poll or write (a write restarts the timer) and writes the switch again
  (last_reported moves). With `switch_lag`, a pause/resume is shown only at the first poll 10 s or
  more after it (the refresh right after the call still shows the old state).
* "local": a charger on the local network (OpenEVSE, go-e, an ESPHome or Modbus wallbox, a template
  number and switch) whose entities report on change only: a write takes effect `lag` s later
  (0-20 s; 0: inside the call), and only then do the number, the switch and, with `power_unit`
  ("W" or "kW"), the power sensor show the new value. No poll, no echo: an unchanged value is never
  written again.
* "service": the current goes through a service (`current_service`) with nothing to read it back,
  a pause switch that reports on change like the local one.
In the stubs a write lands inside the service call, as in HA; in real HA (where mock_service only
records) at the plant's next look, right after the step that made it.
* The meter publishes grid = house + car every `meter_period` s (an unchanged value only moves
  last_reported); `meter_on = False` silences it.
* `tick_first` (default): in a second with both, the app's 5 s tick runs before the meter's update,
  as the harness's advance fires timers first. False (stub world only): the update comes first.
* `number_handler(entity_id=, value=)` (any current write, the service form's too: entity_id None)
  / `switch_handler(service=, entity_id=)` (stub world only: they answer inline) may raise (the
  charger refuses: still a write) or return False (no effect).
Records: `write_log` (time, "current" | "turn_off" | "turn_on", value), the energy drawn per quarter.
Time is the frozen clock's; `run(seconds)` moves it one second at a time.
"""

from datetime import datetime, timedelta, timezone

GRID = "sensor.electricity_meter_power_consumption"
NUMBER = "number.wallbox_pulsar_maximum_charging_current"
SWITCH = "switch.wallbox_pulsar_pause_resume"
POWER = "sensor.wallbox_pulsar_charging_power"
SERVICE = ("evse", "set_charging_current")  # the "service" charger's current, field charging_current
PEAK = "pyscript.wallbox_balancer_monthly_peak"
LIMIT = "pyscript.wallbox_balancer_capacity_limit"
QUARTER = "pyscript.wallbox_balancer_quarter_average"
SETPOINT = "pyscript.wallbox_balancer_setpoint"
MODE = "pyscript.wallbox_balancer_mode"
POLL_S = 90  # the core Wallbox integration's poll interval
SWITCH_LAG_S = 10
CHARGERS = ("wallbox", "local", "service")
# The chargers each control and fault test runs on: Plant keywords by test id.
CHARGER_PLANTS = {
    "wallbox": {},
    "local": {"charger": "local", "lag": 5, "power_unit": "W"},
    "local_slow": {"charger": "local", "lag": 20, "power_unit": "kW"},
    "local_bare": {"charger": "local", "lag": 0},  # no power sensor: the car's draw is estimated
    "service": {"charger": "service", "lag": 5},  # nothing reads the current back
}

CONFIG = {
    "grid_power": GRID,
    "current_number": NUMBER,
    "pause_switch": SWITCH,
    "target_peak": 4000,
    "max_current": 32,
}


def config_for(charger="wallbox", power_unit=None, **overrides):
    """The app's configuration for a plant of that charger kind (a power sensor when it has one)."""
    config = dict(CONFIG)
    if charger == "service":
        del config["current_number"]
        config["current_service"] = "%s.%s" % SERVICE
        config["current_service_data"] = {"device_id": "evse_1"}
    if power_unit is not None:
        config["charger_power"] = POWER
    config.update(overrides)
    return config


def utc_now():
    return datetime.now(timezone.utc)


class Plant:
    def __init__(self, ha, house_w=1000, amps=6, switch="on", unit="W", meter_period=5,
                 switch_lag=False, tick_first=True, number_handler=None, switch_handler=None,
                 charger="wallbox", lag=0, power_unit=None):
        assert charger in CHARGERS, charger
        self.ha = ha
        self.charger = charger
        self.lag = lag  # local and service: seconds from a write to its effect (and its report)
        self.power_unit = power_unit
        self.house_w = house_w
        self.initial = (float(amps), str(switch))
        self.taken_a = float(amps)  # local and service: the current the charger applies
        self.relay = str(switch)  # what the charger does: 'on' charging allowed, 'off' paused
        self.relay_at = None
        self.unit = unit
        self.meter_period = meter_period
        self.meter_on = True
        self.switch_lag = switch_lag
        self.tick_first = tick_first
        self.number_handler = number_handler
        self.switch_handler = switch_handler
        self.quarter_energy = {}  # quarter start -> J drawn (house + car)
        self.house_energy = {}
        self.write_log = []
        self.pending = []  # local and service: (due, kind, value) effects still to come
        self.power_shown = None
        self.polled_at = utc_now()  # the integration's last poll or write: the next poll is 90 s on
        self._watched = []  # (call list, how a call lands, how many have been looked at)
        self._landed = set()  # ids of the calls that have landed
        self.numbers = self._mock("number", "set_value", self._land)
        self.turn_off = self._mock("switch", "turn_off", self._land)
        self.turn_on = self._mock("switch", "turn_on", self._land)
        self.service_field, self.service_amps, self.services = None, None, None
        if charger == "service":
            self.services = self.use_service(*SERVICE)

    async def publish_all(self):
        """The charger's entities and the meter, as their integrations set them up."""
        if self.charger != "service":
            await self.ha.set_state(NUMBER, self.initial[0], min=6, max=32, step=1)
        await self.ha.set_state(SWITCH, self.initial[1])
        await self._publish_power()
        await self.publish_grid()

    def use_service(self, domain, name, field="charging_current"):
        """Actuator form 2: the charger takes its current from a service instead of the number."""
        self.service_field = field
        return self._mock(domain, name, self._land_service, description={"fields": {}})

    def _mock(self, domain, service, land, **options):
        """A charger service; its calls land inside the call where the world allows (the stubs,
        as the integration answers inside the service call), else at the plant's next look."""
        async def answer(call):
            self._landed.add(id(call))  # HA's ServiceCall takes no new attributes
            await land(call)
        if getattr(self.ha, "inline_handlers", False):
            options["handler"] = answer
        calls = self.ha.mock_service(domain, service, **options)
        self._watched.append([calls, answer, 0])
        return calls

    # -- the charger
    async def apply_writes(self):
        """The calls made since the last look land, if they have not already (real HA)."""
        for watched in self._watched:
            calls, answer, seen = watched
            watched[2] = len(calls)
            for call in calls[seen:]:
                if id(call) not in self._landed:
                    await answer(call)

    async def _land_service(self, call):
        amps = float(call.data[self.service_field])
        self.write_log.append((utc_now(), "current", call.data[self.service_field]))
        if self.number_handler is not None and self.number_handler(entity_id=None, value=amps) is False:
            return
        if self.charger == "service":
            await self._after_lag("current", amps)
        else:
            self.service_amps = amps

    async def _land(self, call):
        """A write reaches the charger unless its entity is unavailable; the handler may refuse it
        (raise: into a blocking caller) or ignore it (False); an accepted one takes effect."""
        kind = "current" if call.service == "set_value" else call.service
        if self.ha.state(NUMBER if kind == "current" else SWITCH) == "unavailable":
            return
        now = utc_now()
        self.write_log.append((now, kind, call.data.get("value")))
        if self.charger == "wallbox":
            self.polled_at = now  # a write restarts the poll timer, accepted or not
        if kind == "current":
            handler, args = self.number_handler, {"entity_id": NUMBER, "value": call.data["value"]}
        else:
            handler, args = self.switch_handler, {"service": kind, "entity_id": SWITCH}
        if handler is not None and not getattr(self.ha, "inline_handlers", False):
            raise NotImplementedError("number_handler/switch_handler need the stub world (inline answers)")
        if handler is not None and handler(**args) is False:
            return
        if self.charger != "wallbox":
            await self._after_lag(kind, float(call.data["value"]) if kind == "current" else None)
            return
        if kind == "current":
            await self.ha.set_state(NUMBER, float(call.data["value"]), **self.ha.attrs(NUMBER))
        else:
            self.relay, self.relay_at = ("on" if kind == "turn_on" else "off"), now
            if not self.switch_lag:
                await self.ha.set_state(SWITCH, self.relay)
        if self.ha.state(SWITCH) is not None:  # the refresh after a write shows the switch again
            await self.ha.set_state(SWITCH, self.ha.state(SWITCH))

    async def _after_lag(self, kind, amps):
        """A local or service charger: the effect `lag` s on (at once without a lag)."""
        self.pending.append((utc_now() + timedelta(seconds=self.lag), kind, amps))
        if not self.lag:
            await self._take_effect()

    async def _take_effect(self):
        """The effects that are due: the charger switches, then reports what changed (only that)."""
        now = utc_now()
        due = [p for p in self.pending if p[0] <= now]
        self.pending = [p for p in self.pending if p[0] > now]
        for _, kind, amps in due:
            if kind == "current":
                self.taken_a = amps
                if self.charger == "local" and self.ha.state(NUMBER) != str(amps):
                    await self.ha.set_state(NUMBER, amps, **self.ha.attrs(NUMBER))
            else:
                self.relay = "on" if kind == "turn_on" else "off"
                if self.ha.state(SWITCH) != self.relay:
                    await self.ha.set_state(SWITCH, self.relay)
        if due:
            await self._publish_power()

    async def _publish_power(self):
        """The charger's power sensor, when it has one; a local one only when the value changes."""
        if self.power_unit is None:
            return
        watts = self.car_w()
        value = "%.2f" % (watts / 1000.0) if self.power_unit == "kW" else "%d" % round(watts)
        if value != self.power_shown:
            self.power_shown = value
            await self.ha.set_state(POWER, value, unit_of_measurement=self.power_unit, device_class="power")

    async def poll(self):
        """The integration's poll: the switch is written again (its last_reported moves)."""
        now = self.polled_at = utc_now()
        shown = self.ha.state(SWITCH)
        if self.switch_lag and self.relay_at is not None and (now - self.relay_at).total_seconds() >= SWITCH_LAG_S:
            shown = self.relay
        if shown is not None:
            await self.ha.set_state(SWITCH, shown)

    def amps(self):
        if self.charger != "wallbox":
            return self.taken_a
        if self.service_amps is not None:
            return self.service_amps
        try:
            return float(self.ha.state(NUMBER))
        except (TypeError, ValueError):
            return 0.0

    def switch(self):
        """What the charger does: 'on' charging allowed (the shown switch unless it lags)."""
        return self.relay if self.switch_lag or self.charger != "wallbox" else self.ha.state(SWITCH)

    # -- the meter
    def car_w(self):
        return self.amps() * 230 if self.switch() == "on" else 0.0

    def grid_w(self):
        return self.house_w + self.car_w()

    async def publish_grid(self, value=None):
        if value is None:
            watts = self.grid_w()
            value = "%.3f" % (watts / 1000.0) if self.unit == "kW" else "%d" % round(watts)
        await self.ha.set_state(GRID, value, unit_of_measurement=self.unit, device_class="power")

    # -- time
    async def _second(self):
        """What the plant does at a new second: writes land and take effect, the meter updates,
        the Wallbox integration polls."""
        await self.apply_writes()
        await self._take_effect()
        now = utc_now()
        if self.meter_on and int(now.timestamp()) % self.meter_period == 0:
            await self.publish_grid()
            await self.apply_writes()
        if self.charger == "wallbox" and (now - self.polled_at).total_seconds() >= POLL_S:
            await self.poll()

    async def run(self, seconds):
        await self.apply_writes()  # writes made outside run (start, a service call) land now
        for _ in range(int(seconds)):
            now = utc_now()
            quarter = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)
            self.quarter_energy[quarter] = self.quarter_energy.get(quarter, 0.0) + self.grid_w()
            self.house_energy[quarter] = self.house_energy.get(quarter, 0.0) + self.house_w
            if self.tick_first:
                await self.ha.advance(1)
                await self._second()
            else:
                await self.ha.advance(1, before_timers=self._second)
            await self.apply_writes()

    # -- what happened
    def current_writes(self):
        return [w[2] for w in self.write_log if w[1] == "current"]

    def min_write_spacing_s(self):
        times = [w[0] for w in self.write_log]
        gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:])]
        return min(gaps) if gaps else None

    def averages(self):
        return {q: e / 900.0 for q, e in self.quarter_energy.items()}

    def closed_averages(self):
        """The averages of the quarters watched from their start to their end (not the last)."""
        quarters = sorted(self.quarter_energy)
        return [self.quarter_energy[q] / 900.0 for q in quarters[:-1]]
