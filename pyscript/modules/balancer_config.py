"""Validate the app's configuration (pyscript: apps: wallbox_balancer:) into settings.

Each problem becomes one plain sentence naming the key and the fix. Format, types and ranges are
checked when the app loads; whether the named entities and services exist is checked separately
(entities of cloud integrations can appear only after Home Assistant has started).
"""

import math
import re

import balancer_prices
import balancer_units
from balancer_charger import REPORTS as CHARGER_REPORTS
from balancer_runtime import SAFE_FALLBACK, TUNABLE

APP = "wallbox_balancer"  # the app's name: its config key, log prefix and state variable prefix
ENTITY_ID = re.compile(r"^[a-z0-9_]+\.[a-z0-9_]+$")
FAILSAFE_MODES = ("pause", "min_current")

# key: (default, minimum, maximum, unit, integer?)
NUMBERS = {
    "target_peak": (2500, 1000, 50000, "W", False),
    "margin": (150, 0, 5000, "W", False),
    "voltage": (230, 100, 260, "V", False),
    "phases": (1, 1, 3, "phases", True),
    "min_current": (6, 1, 80, "A", True),
    "max_current": (32, 1, 80, "A", True),
    "min_command_interval": (60, 0, 3600, "s", False),
    "stale_after": (60, 5, 3600, "s", False),
    "charger_response": (30, 0, 600, "s", False),
    "resume_after": (120, 0, 3600, "s", False),
    "min_increase": (1, 1, 80, "A", True),
    "park_current": (6, 1, 80, "A", True),
}
# key: allowed entity domains
ENTITIES = {
    "grid_power": ("sensor", "input_number"),
    "grid_export_power": ("sensor", "input_number"),
    "charger_power": ("sensor", "input_number"),
    "current_number": ("number", "input_number"),
    "pause_switch": ("switch", "input_boolean"),
    "average_demand": ("sensor", "input_number"),
    "monthly_peak_meter": ("sensor", "input_number"),
    "charger_status": ("sensor",),
    "session_energy": ("sensor", "input_number"),
    "solar_forecast": ("sensor",),  # Solcast's forecast sensor (issue 16): detailedForecast
}
KNOWN_KEYS = tuple(NUMBERS) + tuple(ENTITIES) + (
    "current_service", "current_field", "current_service_data", "increase_interval", "failsafe", "on_stop",
    "notify", "departure", "energy_needed", "supply", "charger_reports", "pause_at_zero",
    "price", "day_price", "night_price", "night_hours", "export_price",
)
# supply: (voltage per phase as the charger sees it, phases). Power per amp = voltage x phases.
# Three phases without a neutral (3 x 230 V between lines, common in Belgium): sqrt(3) x 230 V =
# 398 W per amp, written as 230 / sqrt(3) V on 3 phases. A charger on one phase, between two lines
# or between a line and the neutral, is 1 x 230 V.
SUPPLIES = {"1x230": (230.0, 1), "3x400": (230.0, 3), "3x230": (230.0 / math.sqrt(3.0), 3)}
DEPARTURE = re.compile(r"^([01]?[0-9]|2[0-3]):[0-5][0-9]$")
DEPARTURE_DOMAINS = ("input_datetime", "sensor")
ENERGY_NEEDED_DOMAINS = ("input_number", "number", "sensor")
ENERGY_NEEDED_MAX_KWH = 200
ON_STOP_LEAVE = "leave"
# Prices (issue 16) given as numbers, in EUR/kWh. A two-rate import price is above 0 and at most
# IMPORT_MAX (the 2022 crisis peaked near 1 EUR/kWh all-in): 25 is a price in cents. An export
# price may be negative (some injection tariffs charge for it).
IMPORT_MAX_EUR_PER_KWH = 2
EXPORT_MIN_EUR_PER_KWH = -1
PRICE_DOMAINS = ("sensor", "input_number")


class Settings:
    """The validated configuration: every key of the README, as numbers, entity ids or None.

    target_peak, max_current and min_current hold numbers; when the user named an input_number
    instead, the number here is the safe fallback (balancer_runtime.SAFE_FALLBACK) and
    tunable_entities maps the key to the entity, read at each decision.
    """

    def __init__(self, values):
        # sensors and actuators (entity ids, or None when not configured)
        self.grid_power = values["grid_power"]
        self.grid_export_power = values["grid_export_power"]
        self.charger_power = values["charger_power"]
        self.charger_status = values["charger_status"]
        self.session_energy = values["session_energy"]
        self.current_number = values["current_number"]
        self.current_service = values["current_service"]  # "domain.service" or None
        self.current_field = values["current_field"]
        self.current_service_data = values["current_service_data"]
        self.pause_switch = values["pause_switch"]
        self.has_pause_switch = values["pause_switch"] is not None
        # a charger without a pause switch that stops at 0 A (Easee's dynamic limit, OCPP, Zaptec,
        # Alfen): a pause is a current write of 0 A, a resume one of the minimum
        self.pause_at_zero = values["pause_at_zero"]
        self.can_pause = values["can_pause"]  # a pause_switch, or pause_at_zero
        self.average_demand = values["average_demand"]
        self.monthly_peak_meter = values["monthly_peak_meter"]
        # the limit (W) and the charger (V, phases, A)
        self.target_peak = values["target_peak"]
        self.margin = values["margin"]
        self.voltage = values["voltage"]
        self.phases = values["phases"]
        self.min_current = values["min_current"]
        self.max_current = values["max_current"]
        self.park_current = values["park_current"]
        self.tunable_entities = values["tunable_entities"]
        # timing (s) and command discipline
        self.min_command_interval = values["min_command_interval"]
        self.increase_interval = values["increase_interval"]
        self.min_increase = values["min_increase"]
        self.stale_after = values["stale_after"]
        self.charger_response = values["charger_response"]
        self.charger_reports = values["charger_reports"]
        self.resume_after = values["resume_after"]
        # behaviour
        self.failsafe = values["failsafe"]
        self.on_stop = values["on_stop"]
        self.notify = values["notify"]
        # the session planner (issue 10): "HH:MM" or an entity; kWh or an entity; None: not planned
        self.departure = values["departure"]
        self.departure_entity = values["departure_entity"]
        self.energy_needed = values["energy_needed"]
        self.energy_needed_entity = values["energy_needed_entity"]
        self.solar_forecast = values["solar_forecast"]  # an entity with detailedForecast, or None
        # prices (issue 16): an entity holding today's and tomorrow's prices, or a two-rate meter's
        # day_price and night_price (EUR/kWh) with night_hours ("HH:MM-HH:MM" local); None: not given.
        # export_price: EUR/kWh, or export_price_entity (an entity in a price format); None: none.
        self.price = values["price"]
        self.day_price = values["day_price"]
        self.night_price = values["night_price"]
        self.night_hours = values["night_hours"]
        self.export_price = values["export_price"]
        self.export_price_entity = values["export_price_entity"]

    def start_text(self):
        """The start line's figures: the grid sensor, the target peak (W) and the current range (A),
        each a number, or the input_number that tunes it."""
        tuned = self.tunable_entities
        peak = tuned.get("target_peak", "%.0f W" % self.target_peak)
        if "min_current" in tuned or "max_current" in tuned:
            currents = "%s to %s" % (tuned.get("min_current", "%d A" % self.min_current), tuned.get("max_current", "%d A" % self.max_current))
        else:
            currents = "%d-%d A" % (self.min_current, self.max_current)
        return "grid %s, target peak %s, %s" % (self.grid_power, peak, currents)


def validate(raw):
    """Return (Settings, errors). Settings is None when there is any error."""
    errors = []
    if not isinstance(raw, dict):
        return None, ["%s: the app config must be a mapping of keys (see the README), got %s" % (APP, type(raw).__name__)]
    settings = {}
    # by name: YAML makes a bare on/yes a True key and 1: an int, which do not sort with strings
    for name in sorted([str(key) for key in raw if key not in KNOWN_KEYS]):
        errors.append("%s: unknown key '%s': remove it or check its spelling (see the README)" % (APP, name))
    for key in NUMBERS:
        settings[key] = _number(raw, key, errors)
    for key in ENTITIES:
        settings[key] = _entity(raw, key, errors)
    if settings["grid_power"] is None and "grid_power" not in raw:
        errors.append("%s: 'grid_power' is required: the grid power sensor (W or kW), e.g. sensor.electricity_meter_power_consumption" % APP)
    _actuator(raw, settings, errors)
    _relations(raw, settings, errors)
    _session(raw, settings, errors)
    _prices(raw, settings, errors)
    _supply(raw, settings, errors)
    if errors:
        return None, errors
    settings["tunable_entities"] = tunable_entities(settings)
    for key in settings["tunable_entities"]:
        settings[key] = SAFE_FALLBACK[key]
    return Settings(settings), errors


def missing_entities(settings, entity_exists):
    """Errors for configured entities that Home Assistant does not have (yet). The price entities
    are not among them: without prices the car still charges (in the safest quarters), so a
    missing one is a warning of balancer_read.PriceFeed, not a reason to command nothing."""
    errors = []
    named = [(key, getattr(settings, key)) for key in ENTITIES] + list(settings.tunable_entities.items())
    named = named + [("departure", settings.departure_entity), ("energy_needed", settings.energy_needed_entity)]
    for key, entity_id in named:
        if entity_id and not entity_exists(entity_id):
            errors.append("%s: '%s' names %s, which does not exist in Home Assistant: check the entity id under Settings > Entities" % (APP, key, entity_id))
    return errors


def missing_services(settings, service_exists):
    """Errors for the services the configured actuator needs."""
    errors = []
    for domain, name, key in needed_services(settings):
        if not service_exists(domain, name):
            errors.append("%s: '%s' needs the service %s.%s, which is not registered: check the integration is loaded" % (APP, key, domain, name))
    return errors


def needed_services(settings):
    """(domain, service, config key) for each service the app will call."""
    needed = []
    if settings.current_service:
        domain, name = settings.current_service.split(".")
        needed.append((domain, name, "current_service"))
    if settings.current_number:
        needed.append((settings.current_number.split(".")[0], "set_value", "current_number"))
    if settings.pause_switch:
        domain = settings.pause_switch.split(".")[0]
        needed.append((domain, "turn_on", "pause_switch"))
        needed.append((domain, "turn_off", "pause_switch"))
    return needed


TUNABLE_DOMAINS = ("input_number", "number")


def _number(raw, key, errors):
    default, low, high, unit, integer = NUMBERS[key]
    if key not in raw:
        return default
    value = raw[key]
    if key in TUNABLE and isinstance(value, str) and ENTITY_ID.match(value):
        if value.split(".")[0] not in TUNABLE_DOMAINS:
            errors.append("%s: '%s' must be a number in %s or an input_number/number entity, got %s" % (APP, key, unit, value))
            return default
        return value
    if not balancer_units.is_finite_number(value):  # YAML's .nan and .inf are floats: not a figure
        errors.append("%s: '%s' must be a number in %s, got %s" % (APP, key, unit, _show(value)))
        return default
    if integer and value != int(value):
        errors.append("%s: '%s' must be a whole number of %s, got %s" % (APP, key, unit, value))
        return default
    if value < low or value > high:
        hint = ""
        if unit == "W" and low <= value * 1000 <= high:
            hint = " (the unit is W: %s kW is %d)" % (value, value * 1000)
        errors.append("%s: '%s' must be between %s and %s %s, got %s%s" % (APP, key, low, high, unit, value, hint))
        return default
    return int(value) if integer else float(value)


def _entity(raw, key, errors):
    if key not in raw or raw[key] is None:
        return None
    value = raw[key]
    if not isinstance(value, str) or not ENTITY_ID.match(value):
        errors.append("%s: '%s' must be an entity id like %s.name, got %s" % (APP, key, ENTITIES[key][0], _show(value)))
        return None
    domain = value.split(".")[0]
    if domain not in ENTITIES[key]:
        errors.append("%s: '%s' must be a %s entity, got %s" % (APP, key, " or ".join(ENTITIES[key]), value))
        return None
    return value


def _actuator(raw, settings, errors):
    service = raw.get("current_service")
    settings["current_service"] = None
    if service is not None:
        if not isinstance(service, str) or not ENTITY_ID.match(service):
            errors.append("%s: 'current_service' must be a service like wallbox.set_max_charging_current, got %s" % (APP, _show(service)))
        else:
            settings["current_service"] = service
    has_number = "current_number" in raw
    if has_number == ("current_service" in raw):
        errors.append("%s: give exactly one of 'current_number' (e.g. number.wallbox_<name>_maximum_charging_current) or 'current_service'" % APP)
    field = raw.get("current_field", "charging_current")
    if not isinstance(field, str) or not field:
        errors.append("%s: 'current_field' must be the name of the service field that carries the amps, got %s" % (APP, _show(field)))
        field = "charging_current"
    settings["current_field"] = field
    data = raw.get("current_service_data", {})
    if not isinstance(data, dict):
        errors.append("%s: 'current_service_data' must be a mapping of fixed service fields, e.g. {entity_id: switch.wallbox}, got %s" % (APP, _show(data)))
        data = {}
    elif field in data:
        errors.append("%s: 'current_service_data' must not contain '%s': the app fills it with the amps" % (APP, field))
    settings["current_service_data"] = data


def _supply(raw, settings, errors):
    """supply: 1x230, 3x400 or 3x230 sets voltage and phases at once (not together with them)."""
    supply = raw.get("supply")
    if supply is None:
        return
    if not isinstance(supply, str) or supply not in SUPPLIES:  # a list or mapping is unhashable
        errors.append("%s: 'supply' must be one of %s (3x230: three phases without a neutral), got %s" % (APP, ", ".join(SUPPLIES), _show(supply)))
    elif "voltage" in raw or "phases" in raw:
        errors.append("%s: give 'supply' or 'voltage' and 'phases', not both" % APP)
    else:
        settings["voltage"], settings["phases"] = SUPPLIES[supply]


def _session(raw, settings, errors):
    """departure ("HH:MM", or an input_datetime / sensor) and energy_needed (kWh, or an
    input_number / number / sensor): both or neither."""
    departure, needed = raw.get("departure"), raw.get("energy_needed")
    settings["departure"], settings["departure_entity"] = None, None
    settings["energy_needed"], settings["energy_needed_entity"] = None, None
    if departure is None and needed is None:
        return
    if (departure is None) != (needed is None):
        errors.append("%s: 'departure' and 'energy_needed' go together: give both, or neither (then the car charges as fast as the budget allows)" % APP)
        return
    if isinstance(departure, str) and DEPARTURE.match(departure.strip()):
        settings["departure"] = departure.strip()
    elif isinstance(departure, str) and ENTITY_ID.match(departure) and departure.split(".")[0] in DEPARTURE_DOMAINS:
        settings["departure_entity"] = departure
    else:
        errors.append("%s: 'departure' must be a local time \"HH:MM\" (quote it) or an input_datetime/sensor entity, got %s" % (APP, _show(departure)))
    if isinstance(needed, str) and ENTITY_ID.match(needed) and needed.split(".")[0] in ENERGY_NEEDED_DOMAINS:
        settings["energy_needed_entity"] = needed
    elif balancer_units.is_finite_number(needed) and 0 <= needed <= ENERGY_NEEDED_MAX_KWH:
        settings["energy_needed"] = float(needed)
    else:
        errors.append("%s: 'energy_needed' must be kWh from 0 to %d or an input_number/number/sensor entity, got %s" % (APP, ENERGY_NEEDED_MAX_KWH, _show(needed)))


def _prices(raw, settings, errors):
    """day_price and night_price (EUR/kWh, both or neither, not with price), night_hours (only with
    them, default balancer_prices.DEFAULT_NIGHT_HOURS), export_price (EUR/kWh or an entity)."""
    settings["price"] = None
    price = raw.get("price")
    if price is not None and (not isinstance(price, str) or not ENTITY_ID.match(price)):
        errors.append("%s: 'price' must be an entity id like sensor.name (a price integration's sensor), got %s" % (APP, _show(price)))
    elif price is not None and price.split(".")[0] not in PRICE_DOMAINS:
        errors.append("%s: 'price' must be a %s entity, got %s" % (APP, " or ".join(PRICE_DOMAINS), price))
    else:
        settings["price"] = price
    settings["day_price"], settings["night_price"], settings["night_hours"] = None, None, None
    day, night, hours = raw.get("day_price"), raw.get("night_price"), raw.get("night_hours")
    if (day is None) != (night is None):
        errors.append("%s: 'day_price' and 'night_price' go together: give both (EUR/kWh) for a two-rate meter, or neither" % APP)
    elif day is not None and price is not None:
        errors.append("%s: give 'price' or 'day_price' and 'night_price', not both" % APP)
    elif day is not None:
        settings["day_price"] = _import_price(day, "day_price", errors)
        settings["night_price"] = _import_price(night, "night_price", errors)
        settings["night_hours"] = balancer_prices.DEFAULT_NIGHT_HOURS
    if hours is not None and day is None and night is None:
        errors.append("%s: 'night_hours' needs 'day_price' and 'night_price' (a two-rate meter)" % APP)
    elif hours is not None and settings["night_hours"] is not None:
        if not isinstance(hours, str) or balancer_prices.parse_night_hours(hours) is None:
            errors.append("%s: 'night_hours' must be local hours like \"22:00-07:00\" (quote it; weekends are all night), got %s" % (
                APP, _show(hours)))
        else:
            settings["night_hours"] = hours.strip()
    settings["export_price"], settings["export_price_entity"] = None, None
    export = raw.get("export_price")
    if export is None:
        return
    if isinstance(export, str) and ENTITY_ID.match(export) and export.split(".")[0] in PRICE_DOMAINS:
        settings["export_price_entity"] = export
    elif balancer_units.is_finite_number(export) and EXPORT_MIN_EUR_PER_KWH <= export <= IMPORT_MAX_EUR_PER_KWH:
        settings["export_price"] = float(export)
    else:
        errors.append("%s: 'export_price' must be a price from %s to %s EUR/kWh or a price entity (%s), got %s" % (
            APP, EXPORT_MIN_EUR_PER_KWH, IMPORT_MAX_EUR_PER_KWH, " or ".join(PRICE_DOMAINS), _show(export)))


def _import_price(value, key, errors):
    """A two-rate import price in EUR/kWh, None (and an error) when it is not one."""
    if balancer_units.is_finite_number(value) and 0 <= value <= IMPORT_MAX_EUR_PER_KWH:
        return float(value)
    hint = ""
    if balancer_units.is_finite_number(value) and 1 <= value <= 100 * IMPORT_MAX_EUR_PER_KWH:
        hint = " (the unit is EUR/kWh: %s c/kWh is %s)" % (value, round(value / 100.0, 4))
    errors.append("%s: '%s' must be a price from 0 to %s EUR/kWh, got %s%s" % (APP, key, IMPORT_MAX_EUR_PER_KWH, _show(value), hint))
    return None


def tunable_bounds():
    """{key: (low, high)} of each tunable setting, for values read from an entity."""
    bounds = {}
    for key in TUNABLE:
        bounds[key] = (NUMBERS[key][1], NUMBERS[key][2])
    return bounds


def tunable_entities(settings):
    """{key: entity_id} for the tunable settings given as entities."""
    found = {}
    for key in TUNABLE:
        if isinstance(settings.get(key), str):
            found[key] = settings[key]
    return found


def fixed(settings, key):
    """A tunable setting's number, or the safe fallback when it names an entity (during validation)."""
    value = settings[key]
    if isinstance(value, str):
        return SAFE_FALLBACK[key]
    return value


def _relations(raw, settings, errors):
    both_numbers = not isinstance(settings["min_current"], str) and not isinstance(settings["max_current"], str)
    if both_numbers and settings["min_current"] > settings["max_current"]:
        errors.append("%s: 'min_current' (%s A) must not be above 'max_current' (%s A)" % (APP, settings["min_current"], settings["max_current"]))
    if not isinstance(settings["target_peak"], str) and settings["margin"] >= settings["target_peak"]:
        errors.append("%s: 'margin' (%s W) must be below 'target_peak' (%s W)" % (APP, settings["margin"], settings["target_peak"]))
    interval = raw.get("increase_interval", settings["min_command_interval"])
    if not balancer_units.is_finite_number(interval) or interval < settings["min_command_interval"] or interval > 3600:
        errors.append("%s: 'increase_interval' must be a number of s from 'min_command_interval' (%s) to 3600, got %s" % (APP, settings["min_command_interval"], _show(interval)))
        interval = settings["min_command_interval"]
    settings["increase_interval"] = float(interval)
    settings["has_pause_switch"] = settings["pause_switch"] is not None
    pause_at_zero = raw.get("pause_at_zero", False)
    if not isinstance(pause_at_zero, bool):
        errors.append("%s: 'pause_at_zero' must be true or false, got %s" % (APP, _show(pause_at_zero)))
        pause_at_zero = False
    elif pause_at_zero and settings["has_pause_switch"]:
        errors.append("%s: 'pause_at_zero' is for a charger without a 'pause_switch': set one of them" % APP)
        pause_at_zero = False
    settings["pause_at_zero"] = pause_at_zero
    settings["can_pause"] = settings["has_pause_switch"] or pause_at_zero
    default_failsafe = "pause" if settings["can_pause"] else "min_current"
    failsafe = raw.get("failsafe", default_failsafe)
    if failsafe not in FAILSAFE_MODES:
        errors.append("%s: 'failsafe' must be 'pause' or 'min_current', got %s" % (APP, _show(failsafe)))
        failsafe = default_failsafe
    elif failsafe == "pause" and not settings["can_pause"]:
        errors.append("%s: 'failsafe: pause' needs a 'pause_switch' (or 'pause_at_zero'); set one or use 'failsafe: min_current'" % APP)
    settings["failsafe"] = failsafe
    settings["on_stop"] = _on_stop(raw, settings, errors)
    if "park_current" not in raw:
        settings["park_current"] = fixed(settings, "min_current")
    elif both_numbers and not settings["min_current"] <= settings["park_current"] <= settings["max_current"]:
        errors.append("%s: 'park_current' (%s A) must be between 'min_current' and 'max_current' (%s-%s A)" % (
            APP, settings["park_current"], settings["min_current"], settings["max_current"]))
    reports = raw.get("charger_reports", CHARGER_REPORTS[0])
    if reports not in CHARGER_REPORTS:
        errors.append("%s: 'charger_reports' must be one of %s (auto: learnt from the charger's entities), got %s" % (APP, ", ".join(CHARGER_REPORTS), _show(reports)))
        reports = CHARGER_REPORTS[0]
    settings["charger_reports"] = reports
    notify = raw.get("notify", True)
    if not isinstance(notify, bool):
        errors.append("%s: 'notify' must be true or false, got %s" % (APP, _show(notify)))
        notify = True
    settings["notify"] = notify


def _on_stop(raw, settings, errors):
    """What the charger is left with when the balancer stops: 'leave', or a current in A."""
    value = raw.get("on_stop", ON_STOP_LEAVE)
    if value == ON_STOP_LEAVE:
        return ON_STOP_LEAVE
    low, high = fixed(settings, "min_current"), NUMBERS["max_current"][2]
    if not isinstance(settings["max_current"], str):
        high = settings["max_current"]
    if not balancer_units.is_finite_number(value) or value != int(value) or not low <= value <= high:
        errors.append("%s: 'on_stop' must be 'leave' or a whole current from 'min_current' to 'max_current' (%s-%s A), got %s" % (APP, low, high, _show(value)))
        return ON_STOP_LEAVE
    return int(value)


def _show(value):
    if isinstance(value, str):
        return "'%s'" % value
    return str(value)
