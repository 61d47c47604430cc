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
* Sessions mode only (the plant has `PlantParams.sessions`, issue 10): the user's helpers
  `input_number.ev_energy_needed` (kWh, the session's need) and `input_datetime.ev_departure`
  (local "YYYY-MM-DD HH:MM:SS", has_date and has_time, as Home Assistant's input_datetime shows
  it) are set at each plug-in, as the user does when plugging in; at the start they hold the
  session under way, else the replay's first session. The app's config then also gets
  `energy_needed: input_number.ev_energy_needed` and `departure: input_datetime.ev_departure`.
  Without sessions neither the entities nor the keys exist (the default replay is unchanged).
* The recorder (issue 15): `recorder.get_statistics` is always there, as in Home Assistant, and
  answers only with a response (`supports_response="only"`). It answers for `sensor.grid_power` from the replay's history (`tools/history.py`: 5-minute rows for
  the last 10 days before the start, hourly rows for all of it), in Home Assistant's shape; without
  a history (the install day of a new meter) it answers `{"statistics": {}}`. Its schema is Home
  Assistant's (`recorder/services.py`); an app that never calls it replays as before.
* Prices (issue 16, `tools/replay.py --prices`): `sensor.sim_energy_price` (and, for an export
  price given as a formula, `sensor.sim_export_price`) in the custom Nord Pool format of
  `tools/prices.py`: set at the start and at every quarter (the state is the quarter's price;
  `raw_tomorrow` fills at 13:00 local). The config gets `price` and `export_price` when the
  app's configuration takes them (`app_reads_prices`: it does since issue 16's glue; an older app
  checked out for a comparison is shown the entities only). The `safest` controller is the app
  without them.
* The `solar` controller (with `--pv`, asked for only): the app set to its mode `solar` through
  `pyscript.wallbox_balancer_set_mode` right after its start.
"""
from __future__ import annotations

import os
import sys
from datetime import datetime, timezone

from tools.plant import ON_CHANGE, QUARTER, TZ, Controller, session_list
from tools.prices import EXPORT_ENTITY, PRICE_ENTITY

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APP_PATH = os.path.join(REPO, "pyscript", "apps", "wallbox_balancer", "__init__.py")

GRID = "sensor.grid_power"
CHARGER_POWER = "sensor.wallbox_sim_charging_power"
NUMBER = "number.wallbox_sim_maximum_charging_current"
SWITCH = "switch.wallbox_sim_pause_resume"
STATUS = "sensor.wallbox_sim_status_description"
ADDED_ENERGY = "sensor.wallbox_sim_added_energy"
ENERGY_NEEDED = "input_number.ev_energy_needed"
DEPARTURE = "input_datetime.ev_departure"


def balancer_config():
    """The app's own configuration module (pyscript/modules/balancer_config.py), loaded the pyscript
    way through the stand-ins."""
    modules = os.path.join(REPO, "pyscript", "modules")
    if modules not in sys.path:
        sys.path.insert(0, modules)
    import stubs  # noqa: F401  (installs the pyscript-way loader for pyscript/modules)
    import balancer_config as module
    return module


def app_reads_prices() -> bool:
    """Whether the app's configuration takes the `price` key yet (issue 16)."""
    return "price" in balancer_config().KNOWN_KEYS


def app_config(params, prices=None, **overrides) -> dict:
    """The app's configuration for this plant; `energy_needed` and `departure` only in sessions mode;
    `price` and `export_price` only with prices (a tools.prices.PriceSeries) and an app that takes
    them."""
    cfg = {
        "grid_power": GRID,
        "charger_power": CHARGER_POWER,
        "current_number": NUMBER,
        "pause_switch": SWITCH,
        "charger_status": STATUS,
        "session_energy": ADDED_ENERGY,
        "target_peak": int(params.target_peak),
        "margin": int(params.margin),
        "voltage": int(params.voltage),
        "phases": int(params.phases),
        "min_current": int(params.min_current),
        "max_current": int(params.max_current),
        "min_command_interval": int(params.write_interval),
        "stale_after": 60,
    }
    if getattr(params, "sessions", ()):
        cfg["energy_needed"] = ENERGY_NEEDED
        cfg["departure"] = DEPARTURE
    if prices is not None and app_reads_prices():
        cfg["price"] = PRICE_ENTITY
        cfg["export_price"] = EXPORT_ENTITY if prices.export.flat is None else prices.export.flat
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

    def __init__(self, app_path: str = APP_PATH, prices=None, name: str = "app", mode=None, **config_overrides):
        self.app_path = app_path
        self.mode = mode                # set through pyscript.wallbox_balancer_set_mode at the start
        self.prices = prices            # a tools.prices.PriceSeries: the price entity is shown
        self.name = name
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
            env = PyscriptEnv(app_config=app_config(p, self.prices, **self.config_overrides),
                              app_name="wallbox_balancer")
            env.register_number_entity(NUMBER, min=p.min_current, max=p.max_current,
                                       value=p.max_current, handler=self._set_value)
            env.register_switch_entity(SWITCH, state=plant.switch_state, handler=self._switch)
            for name in ("create", "dismiss"):      # always there in Home Assistant
                env.register_service("persistent_notification", name)
            env.register_service("recorder", "get_statistics", self._get_statistics,
                                 schema=statistics_schema, supports_response="only")
            self.env = env
            self._set_grid(plant.grid_reading(t))
            self._set_charger_sensors(plant.sensor_kw)
            if p.sessions:
                self._set_session_helpers(*_initial_session(plant))
            if self.prices is not None:
                self._set_prices(t)
                plant.call_at((t // QUARTER + 1) * QUARTER, self._quarter)
            env.load_app(self.app_path)
            env.start()
            if self.mode is not None:
                env.call_service("pyscript", "wallbox_balancer_set_mode", mode=self.mode)
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
        self._show(SWITCH, switch)

    def _set_charger_sensors(self, power_kw):
        """What a poll (or a write's echo of the last poll) writes: power, status, added energy."""
        plant = self.plant
        self._show(CHARGER_POWER, _kw(power_kw), unit_of_measurement="kW", device_class="power")
        self._show(STATUS, plant.status_shown)
        self._show(ADDED_ENERGY, repr(plant.session_kwh_shown), unit_of_measurement="kWh", device_class="energy")

    def _show(self, entity, state, **attributes):
        """Set the entity; a charger that reports on change (PlantParams.charger_reports) writes
        only a value that changed (Home Assistant then fires a state trigger; a polled one's
        unchanged write moves only last_reported, which is how the app tells them apart)."""
        if self.plant.p.charger_reports == ON_CHANGE:
            shown = self.env.get_state(entity)
            if shown is not None and str(shown) == state:
                return
        self.env.set_state(entity, state, **attributes)

    def on_plug(self, t, plugged):
        """Sessions mode: at plug-in the user sets the session's need and departure."""
        if plugged and self.env is not None:
            self._at(t)
            self._set_session_helpers(self.plant.session_need_kwh, self.plant.session_departure)

    def _set_session_helpers(self, need_kwh, departure):
        if need_kwh is None or departure is None:
            return
        self.env.set_state(ENERGY_NEEDED, repr(float(need_kwh)), **ENERGY_NEEDED_ATTRIBUTES)
        state, attributes = input_datetime_state(departure)
        self.env.set_state(DEPARTURE, state, **attributes)

    def _set_prices(self, t):
        """The price entity (and a formula export price's) as a price integration shows it at t."""
        state, attributes = self.prices.entity(t)
        self.env.set_state(PRICE_ENTITY, state, **attributes)
        if self.prices.export.flat is None:
            state, attributes = self.prices.entity(t, export=True)
            self.env.set_state(EXPORT_ENTITY, state, **attributes)

    def _quarter(self, t):
        self._at(t)
        self._set_prices(t)
        self.plant.call_at(t + QUARTER, self._quarter)

    def on_end(self, t):
        self._at(t)
        self.notes.extend(self.env.errors("WARNING"))

    def close(self):
        if self._clock is not None:
            self._clock.stop()
            self._clock = None

    # ---- service handlers (the cloud, the recorder) ------------------------------------------
    def _get_statistics(self, **data):
        """recorder.get_statistics: the history's rows for the grid sensor (none without one)."""
        from stubs import HomeAssistantError
        history = self.plant.history
        if history is None:
            return {"statistics": {}}
        try:
            return history.get_statistics(GRID, **data)
        except ValueError as error:
            raise HomeAssistantError(str(error)) from None

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


ENERGY_NEEDED_ATTRIBUTES = dict(initial=None, editable=True, min=0.0, max=1000.0, step=0.1,
                                mode="box", unit_of_measurement="kWh", friendly_name="EV energy needed")


def input_datetime_state(t: float) -> tuple[str, dict]:
    """State and attributes of an input_datetime with date and time holding epoch t (local time)."""
    local = datetime.fromtimestamp(t, TZ).replace(microsecond=0)
    return local.strftime("%Y-%m-%d %H:%M:%S"), dict(
        has_date=True, has_time=True, editable=True, year=local.year, month=local.month,
        day=local.day, hour=local.hour, minute=local.minute, second=local.second,
        timestamp=local.timestamp(), friendly_name="EV departure")


def _initial_session(plant) -> tuple:
    """(need kWh, departure) the helpers hold at the start: the session under way, else the first."""
    if plant.session_need_kwh is not None:
        return plant.session_need_kwh, plant.session_departure
    sessions = session_list(plant.p, plant.start, plant.end)
    return (sessions[0][2], sessions[0][1]) if sessions else (None, None)


STATISTICS_REQUIRED = ("start_time", "statistic_ids", "period", "types")
STATISTICS_OPTIONAL = ("end_time", "units")
STATISTICS_PERIODS = ("5minute", "hour", "day", "week", "month")
STATISTICS_TYPES = ("change", "last_reset", "max", "mean", "min", "state", "sum")


def statistics_schema(data: dict) -> dict:
    """recorder/services.py SERVICE_GET_STATISTICS_SCHEMA: the keys, the period and the types
    (the datetimes are parsed by the answer, tools/history.py)."""
    from stubs import Invalid
    data = dict(data)
    for key in STATISTICS_REQUIRED:
        if key not in data:
            raise Invalid(f"required key not provided @ data['{key}']")
    for key in data:
        if key not in STATISTICS_REQUIRED + STATISTICS_OPTIONAL:
            raise Invalid(f"extra keys not allowed @ data['{key}']")
    if data["period"] not in STATISTICS_PERIODS:
        raise Invalid(f"value must be one of {sorted(STATISTICS_PERIODS)} @ data['period']")
    ids, types = data["statistic_ids"], data["types"]
    data["statistic_ids"] = [ids] if isinstance(ids, str) else list(ids)
    data["types"] = [types] if isinstance(types, str) else list(types)
    for t in data["types"]:
        if t not in STATISTICS_TYPES:
            raise Invalid(f"value must be one of {sorted(STATISTICS_TYPES)} @ data['types'][0]")
    return data


def _kw(kw: float) -> str:
    return repr(round(kw, 2))

