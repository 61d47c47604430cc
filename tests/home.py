"""A small home for app tests: the real app file in stubs.PyscriptEnv, a charger and a meter.

The charger is the core Wallbox integration as the stubs model it: a number entity whose state
follows accepted writes, and a pause switch (on = charging allowed) that the integration writes
again at every poll, 90 s after the last poll or write (a write restarts the timer). The meter publishes
grid = house + car every meter_period seconds (an unchanged value only moves last_reported).
Time is freezegun's; run(seconds) advances it one second at a time and fires due time triggers.
"""

from datetime import timedelta

import stubs

GRID = "sensor.electricity_meter_power_consumption"
NUMBER = "number.wallbox_pulsar_maximum_charging_current"
SWITCH = "switch.wallbox_pulsar_pause_resume"
PEAK = "pyscript.wallbox_balancer_monthly_peak"
LIMIT = "pyscript.wallbox_balancer_capacity_limit"
QUARTER = "pyscript.wallbox_balancer_quarter_average"
SETPOINT = "pyscript.wallbox_balancer_setpoint"
MODE = "pyscript.wallbox_balancer_mode"
POLL_S = 90  # the core Wallbox integration's poll interval

CONFIG = {
    "grid_power": GRID,
    "current_number": NUMBER,
    "pause_switch": SWITCH,
    "target_peak": 4000,
    "max_current": 32,
}


class Home:
    def __init__(self, frozen, config=None, house_w=1000, amps=6, switch="on", unit="W",
                 meter_period=5, number_handler=None, switch_handler=None, restore=None, start=True,
                 switch_lag=False):
        self.frozen = frozen
        # switch_lag: like the real integration, the switch shows a pause/resume only at the first
        # poll 10 s or more after it (the refresh right after the call still shows the old state)
        self.switch_lag = switch_lag
        self.tick_first = False  # True: in a second with both, the 5 s tick runs before the meter's update
        self.relay = str(switch)  # what the charger does: 'on' charging allowed, 'off' paused
        self.relay_at = None
        self.config = dict(CONFIG if config is None else config)
        self.env = stubs.PyscriptEnv(self.config, app_name="wallbox_balancer", restore=restore)
        self.house_w = house_w
        self.unit = unit
        self.meter_period = meter_period
        self.meter_on = True
        self.quarter_energy = {}  # quarter start -> J drawn (house + car)
        self.house_energy = {}
        self.write_log = []  # (time, kind, value) of each write that reached the charger
        self.number_handler = number_handler
        self.switch_handler = switch_handler
        self.numbers = self.env.register_number_entity(NUMBER, min=6, max=32, value=amps, handler=self._on_number)
        self.switches = self.env.register_switch_entity(SWITCH, state=switch, handler=self._on_switch)
        self.notifications = self.env.register_service("persistent_notification", "create")
        self.service_amps = None  # set when the charger is driven through a service (actuator form 2)
        self.polled_at = self.env.now()  # the integration's last poll or write: the next poll is 90 s on
        self.publish_grid()
        if start:
            self.env.load_app()
            self.env.start()

    # -- the plant
    def _on_number(self, entity_id, value):
        self.write_log.append((self.env.now(), "current", value))
        self.polled_at = self.env.now()
        if self.number_handler is not None:
            return self.number_handler(entity_id=entity_id, value=value)
        return None

    def _on_switch(self, service, entity_id):
        self.write_log.append((self.env.now(), service, None))
        self.polled_at = self.env.now()
        if self.switch_lag:
            self.relay, self.relay_at = ("on" if service == "turn_on" else "off"), self.env.now()
            return False
        if self.switch_handler is not None:
            return self.switch_handler(service=service, entity_id=entity_id)
        return None

    def poll(self):
        """The integration's poll: the switch is written again (its last_reported moves)."""
        self.polled_at = self.env.now()
        switch = self.env.get_state(SWITCH)
        if self.switch_lag and self.relay_at is not None and (self.env.now() - self.relay_at).total_seconds() >= 10:
            switch = self.relay
        if switch is not None:
            self.env.set_state(SWITCH, str(switch))  # a switch has no attributes here

    def use_service(self, domain, name, field="charging_current"):
        """Actuator form 2: the charger takes its current from a service instead of the number."""
        def handler(**data):
            self.write_log.append((self.env.now(), "current", data[field]))
            self.service_amps = float(data[field])
        return self.env.register_service(domain, name, handler)

    def amps(self):
        if self.service_amps is not None:
            return self.service_amps
        try:
            return float(self.env.get_state(NUMBER))
        except (TypeError, ValueError):
            return 0.0

    def car_w(self):
        sw = self.relay if self.switch_lag else self.env.get_state(SWITCH)
        return self.amps() * 230 if sw is not None and str(sw) == "on" else 0.0

    def grid_w(self):
        return self.house_w + self.car_w()

    def publish_grid(self, value=None):
        if value is None:
            watts = self.grid_w()
            value = "%.3f" % (watts / 1000.0) if self.unit == "kW" else "%d" % round(watts)
        self.env.set_state(GRID, value, unit_of_measurement=self.unit, device_class="power")

    def run(self, seconds, step=1):
        for _ in range(int(seconds / step)):
            now = self.env.now()
            quarter = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)
            self.quarter_energy[quarter] = self.quarter_energy.get(quarter, 0.0) + self.grid_w() * step
            self.house_energy[quarter] = self.house_energy.get(quarter, 0.0) + self.house_w * step
            self.frozen.tick(timedelta(seconds=step))
            if self.tick_first:
                self.env.run_time_triggers()
            if self.meter_on and int(self.env.now().timestamp()) % self.meter_period == 0:
                self.publish_grid()
            if (self.env.now() - self.polled_at).total_seconds() >= POLL_S:
                self.poll()
            if not self.tick_first:
                self.env.run_time_triggers()

    # -- what happened
    def current_writes(self):
        return [w[2] for w in self.write_log if w[1] == "current"]

    def min_write_spacing_s(self):
        times = [w[0] for w in self.write_log]
        gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:])]
        return min(gaps) if gaps else None

    def averages(self):
        return {q: e / 900.0 for q, e in self.quarter_energy.items()}

    def state(self, entity_id):
        value = self.env.get_state(entity_id)
        return None if value is None else str(value)

    def attrs(self, entity_id):
        value = self.env.get_state(entity_id)
        return {} if value is None else dict(value.__dict__)
