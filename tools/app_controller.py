"""The real app (pyscript/apps/wallbox_balancer/__init__.py) run through the pyscript stand-ins
(`stubs.PyscriptEnv`), driven by the plant: the same code path as in Home Assistant.

* Time: the app and the stubs read `datetime.now(timezone.utc)`; freezegun holds it at the event's
  time (`move_to` before every delivery).
* Grid sensor `sensor.grid_power` (W, integer string; `unavailable` in a gap): set at each meter
  publication. An unchanged value only moves `last_reported` (the stub behaves like HA).
* Charger power `sensor.wallbox_sim_charging_power` (kW), status
  `sensor.wallbox_sim_status_description` (Ready, Charging, Paused, Waiting for car demand), energy
  added this session `sensor.wallbox_sim_added_energy` (kWh) and the pause switch state: set at
  each poll; a current write's answer re-writes the old values (last_reported moves, nothing fires).
* `number.wallbox_sim_maximum_charging_current` (6..max A): its set_value handler is the cloud
  write; a 429 raises HomeAssistantError("too_many_requests"); on success the stub sets the number.
* `switch.wallbox_sim_pause_resume`: turn_off = pause, turn_on = resume (core Wallbox), same cloud
  limit; a 429 raises like the number's. While the switch is `unavailable` (no car as of the last
  poll) the stub skips the call (Home Assistant skips unavailable entities). Its state is set
  only from the charger's polls (the integration is not optimistic).
* Ticks: `env.run_time_triggers()` every 5 s on the local-midnight grid (`period(midnight, 5s)`).
"""
from __future__ import annotations

import os
from datetime import timezone

from tools.plant import Controller

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APP_PATH = os.path.join(REPO, "pyscript", "apps", "wallbox_balancer", "__init__.py")

GRID = "sensor.grid_power"
CHARGER_POWER = "sensor.wallbox_sim_charging_power"
NUMBER = "number.wallbox_sim_maximum_charging_current"
SWITCH = "switch.wallbox_sim_pause_resume"
STATUS = "sensor.wallbox_sim_status_description"
ADDED_ENERGY = "sensor.wallbox_sim_added_energy"


def app_config(params, **overrides) -> dict:
    cfg = {
        "grid_power": GRID,
        "charger_power": CHARGER_POWER,
        "current_number": NUMBER,
        "pause_switch": SWITCH,
        "charger_status": STATUS,
        "session_energy": ADDED_ENERGY,
        "target_peak": int(params.target_peak),
        "margin": 150,
        "voltage": int(params.voltage),
        "phases": int(params.phases),
        "min_current": int(params.min_current),
        "max_current": int(params.max_current),
        "min_command_interval": int(params.write_interval),
        "stale_after": 60,
    }
    cfg.update(overrides)
    return cfg


class SimClock:
    """freezegun, made cheap enough for half a million app steps.

    `freeze_time(...).start()` patches `datetime` everywhere (the app, its modules, the stubs), as
    usual. Two shortcuts while the replay runs (freezegun 1.5.1 internals, restored by `stop`):
    * `datetime.now(tz)` returns a PLAIN datetime of the simulated time: freezegun's returns a
      FakeDatetime, whose every later `-`, `+`, `astimezone` runs through Python-level wrappers;
    * `move_to(t)` sets the factory's frozen time directly instead of parsing the target and
      doing FakeDatetime arithmetic.
    Together they took a 2-day app replay from 5.8 s to 4.6 s. `time.time()` and friends still
    follow the clock (freezegun reads the same factory).
    """

    def __init__(self, t: float):
        from freezegun import freeze_time
        from freezegun.api import FakeDatetime, real_datetime

        self._real = real_datetime
        self._fake = FakeDatetime
        self._freezer = freeze_time(real_datetime.fromtimestamp(t, timezone.utc))
        self._factory = self._freezer.start()
        self.t = t
        self._cache: dict = {}
        clock = self

        def now(cls, tz=None):
            key = (clock.t, tz)
            dt = clock._cache.get(key)
            if dt is None:
                if len(clock._cache) > 8:
                    clock._cache.clear()
                dt = real_datetime.fromtimestamp(clock.t, tz or timezone.utc)
                if tz is None:
                    dt = dt.replace(tzinfo=None)   # naive UTC, as freezegun gives
                clock._cache[key] = dt
            return dt

        self._saved_now = FakeDatetime.__dict__["now"]
        FakeDatetime.now = classmethod(now)

    def move_to(self, t: float) -> None:
        self.t = t
        self._factory.time_to_freeze = self._real.fromtimestamp(t, timezone.utc).replace(tzinfo=None)

    def stop(self) -> None:
        self._fake.now = self._saved_now
        self._freezer.stop()


class AppController(Controller):
    name = "app"
    wants_ticks = True

    def __init__(self, app_path: str = APP_PATH, **config_overrides):
        self.app_path = app_path
        self.config_overrides = config_overrides
        self.notes: list[str] = []
        self.env = None
        self._clock = None

    # ---- set-up ---------------------------------------------------------------------------
    def on_start(self, plant, t):
        from stubs import PyscriptEnv

        super().on_start(plant, t)
        p = plant.p
        self.t = t
        self._clock = SimClock(t)
        try:
            env = PyscriptEnv(app_config=app_config(p, **self.config_overrides),
                              app_name="wallbox_balancer")
            env.register_number_entity(NUMBER, min=p.min_current, max=p.max_current,
                                       value=p.max_current, handler=self._set_value)
            env.register_switch_entity(SWITCH, state=plant.switch_state, handler=self._switch)
            for name in ("create", "dismiss"):      # always there in Home Assistant
                env.register_service("persistent_notification", name)
            self.env = env
            self._set_grid(plant.grid_reading(t))
            self._set_charger_sensors(plant.sensor_kw)
            env.load_app(self.app_path)
            env.start()
        except BaseException:
            self.close()           # Plant.run closes too; this keeps on_start safe on its own
            raise

    # ---- what the plant delivers ---------------------------------------------------------------
    def _at(self, t: float) -> None:
        if t != self.t:
            self.t = t
            self._clock.move_to(t)

    def _set_grid(self, grid_w):
        if grid_w is None:
            self.env.set_state(GRID, "unavailable")
        else:
            self.env.set_state(GRID, str(grid_w), unit_of_measurement="W", device_class="power")

    def on_meter(self, t, grid_w):
        self._at(t)
        self._set_grid(grid_w)

    def on_tick(self, t):
        self._at(t)
        self.env.run_time_triggers()

    def on_charger(self, t, power_kw, switch, fresh):
        if self.env is None:            # the plant's first poll comes before on_start's set-up
            return
        self._at(t)
        self._set_charger_sensors(power_kw)
        self.env.set_state(SWITCH, switch)

    def _set_charger_sensors(self, power_kw):
        """What a poll (or a write's echo of the last poll) writes: power, status, added energy."""
        env, plant = self.env, self.plant
        env.set_state(CHARGER_POWER, _kw(power_kw), unit_of_measurement="kW", device_class="power")
        env.set_state(STATUS, plant.status_shown)
        env.set_state(ADDED_ENERGY, repr(plant.session_kwh_shown), unit_of_measurement="kWh",
                      device_class="energy")

    def on_end(self, t):
        self._at(t)
        self.notes.extend(self.env.errors("WARNING"))

    def close(self):
        if self._clock is not None:
            self._clock.stop()
            self._clock = None

    # ---- service handlers (the cloud) ---------------------------------------------------------
    def _set_value(self, entity_id, value):
        """number.set_value reached the integration (the stub checked min/max): the cloud write."""
        from stubs import HomeAssistantError
        if not self.plant.write_current(self.t, int(round(value))):
            raise HomeAssistantError("too_many_requests")

    def _switch(self, service, entity_id):
        """turn_off = pause, turn_on = resume. The stub has already skipped the call if the switch
        is unavailable. Returns False: the switch's state follows the charger's polls (the
        integration is not optimistic), not the call."""
        from stubs import HomeAssistantError
        if service not in ("turn_on", "turn_off"):
            raise HomeAssistantError(f"switch.{service} is not modelled by the simulator")
        if not self.plant.set_paused(self.t, service == "turn_off"):
            raise HomeAssistantError("too_many_requests")
        return False


def _kw(kw: float) -> str:
    return repr(round(kw, 2))

