"""One plant for the stub tests (tests/, through stubs.harness.StubHA) and the real-HA checks (e2e/,
through the harness's pyscript_ha): the charger and the meter, answering at once.

It speaks only the harness's verbs (mock_service, set_state, state, attrs, advance), so both
worlds run the same model:
* The charger is the core Wallbox integration: a number entity and a pause switch (on = charging
  allowed). A write reaches the charger unless the entity shows `unavailable` (Home Assistant
  skips those); an accepted one is shown at once (the integration refreshes after a write): the
  number with its new value and the switch written again. In the stubs a write lands inside the
  service call, as in HA; in real HA (where mock_service only records) at the plant's next look,
  right after the step that made it. The integration polls 90 s after its last poll or write (a
  write restarts the timer) and writes the switch again (last_reported moves).
  With `switch_lag`, a pause/resume is shown only at the first poll 10 s or more after it (the
  refresh right after the call still shows the old state).
* The meter publishes grid = house + car every `meter_period` s (an unchanged value only moves
  last_reported); `meter_on = False` silences it.
* `tick_first` (default): in a second with both, the app's 5 s tick runs before the meter's update,
  as the harness's advance fires timers first. False (stub world only): the update comes first.
* `number_handler(entity_id=, value=)` / `switch_handler(service=, entity_id=)` (stub world only:
  they answer inline) may raise (the cloud refuses: still a write) or return False (no effect).
Records: `write_log` (time, "current" | "turn_off" | "turn_on", value), the energy drawn per quarter.
Time is the frozen clock's; `run(seconds)` moves it one second at a time.
"""

from datetime import datetime, timezone

GRID = "sensor.electricity_meter_power_consumption"
NUMBER = "number.wallbox_pulsar_maximum_charging_current"
SWITCH = "switch.wallbox_pulsar_pause_resume"
PEAK = "pyscript.wallbox_balancer_monthly_peak"
LIMIT = "pyscript.wallbox_balancer_capacity_limit"
QUARTER = "pyscript.wallbox_balancer_quarter_average"
SETPOINT = "pyscript.wallbox_balancer_setpoint"
MODE = "pyscript.wallbox_balancer_mode"
POLL_S = 90  # the core Wallbox integration's poll interval
SWITCH_LAG_S = 10

CONFIG = {
    "grid_power": GRID,
    "current_number": NUMBER,
    "pause_switch": SWITCH,
    "target_peak": 4000,
    "max_current": 32,
}


def utc_now():
    return datetime.now(timezone.utc)


class Plant:
    def __init__(self, ha, house_w=1000, amps=6, switch="on", unit="W", meter_period=5,
                 switch_lag=False, tick_first=True, number_handler=None, switch_handler=None):
        self.ha = ha
        self.house_w = house_w
        self.initial = (float(amps), str(switch))
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
        self.polled_at = utc_now()  # the integration's last poll or write: the next poll is 90 s on
        self._watched = []  # (call list, how a call lands, how many have been looked at)
        self._landed = set()  # ids of the calls that have landed
        self.numbers = self._mock("number", "set_value", self._land)
        self.turn_off = self._mock("switch", "turn_off", self._land)
        self.turn_on = self._mock("switch", "turn_on", self._land)
        self.service_field, self.service_amps = None, None

    async def publish_all(self):
        """The charger's entities and the meter, as their integrations set them up."""
        await self.ha.set_state(NUMBER, self.initial[0], min=6, max=32, step=1)
        await self.ha.set_state(SWITCH, self.initial[1])
        await self.publish_grid()

    def use_service(self, domain, name, field="charging_current"):
        """Actuator form 2: the charger takes its current from a service instead of the number."""
        self.service_field = field
        return self._mock(domain, name, self._land_service)

    def _mock(self, domain, service, land):
        """A charger service; its calls land inside the call where the world allows (the stubs,
        as the integration answers inside the service call), else at the plant's next look."""
        async def answer(call):
            self._landed.add(id(call))  # HA's ServiceCall takes no new attributes
            await land(call)
        inline = {"handler": answer} if getattr(self.ha, "inline_handlers", False) else {}
        calls = self.ha.mock_service(domain, service, **inline)
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
        self.write_log.append((utc_now(), "current", call.data[self.service_field]))
        self.service_amps = float(call.data[self.service_field])

    async def _land(self, call):
        """A write reaches the charger unless its entity is unavailable; the handler may refuse it
        (raise: into a blocking caller) or ignore it (False); an accepted one is shown at once."""
        kind = "current" if call.service == "set_value" else call.service
        if self.ha.state(NUMBER if kind == "current" else SWITCH) == "unavailable":
            return
        now = self.polled_at = utc_now()
        self.write_log.append((now, kind, call.data.get("value")))
        if kind == "current":
            handler, args = self.number_handler, {"entity_id": NUMBER, "value": call.data["value"]}
        else:
            handler, args = self.switch_handler, {"service": kind, "entity_id": SWITCH}
        if handler is not None and not getattr(self.ha, "inline_handlers", False):
            raise NotImplementedError("number_handler/switch_handler need the stub world (inline answers)")
        if handler is not None and handler(**args) is False:
            return
        if kind == "current":
            await self.ha.set_state(NUMBER, float(call.data["value"]), **self.ha.attrs(NUMBER))
        else:
            self.relay, self.relay_at = ("on" if kind == "turn_on" else "off"), now
            if not self.switch_lag:
                await self.ha.set_state(SWITCH, self.relay)
        if self.ha.state(SWITCH) is not None:  # the refresh after a write shows the switch again
            await self.ha.set_state(SWITCH, self.ha.state(SWITCH))

    async def poll(self):
        """The integration's poll: the switch is written again (its last_reported moves)."""
        now = self.polled_at = utc_now()
        shown = self.ha.state(SWITCH)
        if self.switch_lag and self.relay_at is not None and (now - self.relay_at).total_seconds() >= SWITCH_LAG_S:
            shown = self.relay
        if shown is not None:
            await self.ha.set_state(SWITCH, shown)

    def amps(self):
        if self.service_amps is not None:
            return self.service_amps
        try:
            return float(self.ha.state(NUMBER))
        except (TypeError, ValueError):
            return 0.0

    def switch(self):
        """What the charger does: 'on' charging allowed (the shown switch unless it lags)."""
        return self.relay if self.switch_lag else self.ha.state(SWITCH)

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
        """What the plant does at a new second: writes land, the meter updates, the charger polls."""
        await self.apply_writes()
        now = utc_now()
        if self.meter_on and int(now.timestamp()) % self.meter_period == 0:
            await self.publish_grid()
            await self.apply_writes()
        if (now - self.polled_at).total_seconds() >= POLL_S:
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
