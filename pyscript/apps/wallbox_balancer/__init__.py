"""wallbox_balancer: charge the car as fast as the capacity tariff allows, never raising the peak.

Thin glue between Home Assistant and the balancing logic in pyscript/modules/balancer_*.py:
read the configured sensors, feed balancer_controller, carry out its one charger write, publish
the figures as pyscript.wallbox_balancer_* state variables. See README.md for the configuration.
"""

from datetime import datetime, timezone

import balancer_budget
import balancer_charger
import balancer_config
import balancer_controller
import balancer_registers
import balancer_runtime
import balancer_time
import balancer_units
from balancer_commands import CURRENT, PAUSE

APP = "wallbox_balancer"
STEP_TASK = APP + "_step"
PEAK_VAR = "pyscript.wallbox_balancer_monthly_peak"
LIMIT_VAR = "pyscript.wallbox_balancer_capacity_limit"
QUARTER_VAR = "pyscript.wallbox_balancer_quarter_average"
SETPOINT_VAR = "pyscript.wallbox_balancer_setpoint"
MODE_VAR = "pyscript.wallbox_balancer_mode"
NOTIFICATION_ID = "wallbox_balancer_peak"
TICK = "period(midnight, 5s)"  # closes quarters and counts a steady load (which fires no trigger)
MIN_STEP_S = 1.0  # a sensor that bursts every 100 ms triggers a step at most once a second
TICK_SKIP_S = 4.0  # the tick skips when a sensor-triggered step ran this recently
ENTITY_RECHECK_S = 60.0
QUARTER_RESTORE_MAX_AGE_S = 300
# The running quarter is published (and so saved for a restart) at most this often: every state
# write is also a recorder write in Home Assistant.
QUARTER_PUBLISH_S = 30
# Unusable tunable entity before any good value: the safest setting.
TUNABLE_FALLBACK = {"target_peak": 2500, "max_current": 6, "min_current": 6}

# A reload kills a step of the previous context still waiting on a charger command.
task.unique(STEP_TASK)


def utc_now():
    return datetime.now(timezone.utc)


def load_settings():
    """Validated settings, or None after logging each problem (the app then commands nothing)."""
    try:
        raw = pyscript.app_config
    except NameError:
        raw = None
    if raw is None:
        log.error("%s: no configuration found: add at least grid_power and current_number under pyscript: apps: %s: in configuration.yaml", APP, APP)
        return None
    settings, errors = balancer_config.validate(raw)
    for error in errors:
        log.error(error)
    return settings


SETTINGS = load_settings()
CONTROLLER = balancer_controller.Controller(SETTINGS) if SETTINGS else None
METER_PEAK_GUARD = balancer_registers.MeterPeakGuard()
POWER_PARSED = {}  # entity -> (state, unit, watts, problem) of its last reading
RUNTIME = {
    "last_step": None,
    "last_sensor_step": None,  # the last step a grid reading triggered
    "ready": False,  # every configured entity and service exists
    "last_check": None,
    "grid_problem": None,  # True while the fail-safe is on for want of a grid reading
    "grid_reading_problem": None,  # why the last grid reading was unusable
    "charger_problem": None,
    "command_problem": None,
    "tunable_problems": {},
    "tuned": {},  # last good value of each tunable read from an entity
    "service_amps": None,  # current_service form: the last current the service accepted
    "last_command": None,
    "last_result": None,
    "short_warned_quarter": None,
    "published": {},  # state variable -> (value, attributes) last written
    "quarter_published_at": None,
    "status_warned": None,  # the unknown charger status last warned about
    "mode": "auto",  # set from the persisted mode at load and by the set_mode service
}


# ---- reading Home Assistant -------------------------------------------------------------

def read_power(entity_id, now):
    """(watts, age_s, problem, value) of a power sensor; watts None when unusable."""
    try:
        value = state.get(entity_id)
    except NameError:
        return None, None, "missing", None
    # A pyscript StateVal carries the entity's attributes as its own: one read is enough.
    unit = getattr(value, "unit_of_measurement", None)
    text = str(value)
    parsed = POWER_PARSED.get(entity_id)
    if parsed is None or parsed[0] != text or parsed[1] != unit:
        # A steady meter repeats its state: parse each new (state, unit) once.
        watts, problem = balancer_units.power_w(text, unit)
        parsed = (text, unit, watts, problem)
        POWER_PARSED[entity_id] = parsed
    watts, problem = parsed[2], parsed[3]
    age_s = (now - value.last_reported).total_seconds()
    return watts, age_s, problem, value


def read_grid(now):
    """Net grid power (W, export negative), when the meter reported it, and a problem text when
    unusable."""
    grid_w, age_s, problem, value = read_power(SETTINGS["grid_power"], now)
    if grid_w is None:
        return None, None, problem
    reported_at = value.last_reported
    export_entity = SETTINGS["grid_export_power"]
    if export_entity:
        export_w, export_age_s, export_problem, export_value = read_power(export_entity, now)
        if export_w is None:
            return None, None, "export sensor " + export_problem
        grid_w = grid_w - export_w
        reported_at = max(reported_at, export_value.last_reported)
    return grid_w, reported_at, None


def read_number():
    """(amps the charger holds, number entity's min, max): the number read back, or what the
    service accepted (min/max None then)."""
    entity_id = SETTINGS["current_number"]
    if not entity_id:
        return RUNTIME["service_amps"], None, None
    try:
        value = state.get(entity_id)
    except NameError:
        return None, None, None
    try:
        amps = int(round(float(value)))
    except ValueError:
        amps = None
    return amps, getattr(value, "min", None), getattr(value, "max", None)


def read_entity(entity_id):
    """(state text, last_reported) of an optional entity; (None, None) when not configured or missing."""
    if not entity_id:
        return None, None
    try:
        value = state.get(entity_id)
    except NameError:
        return None, None
    return str(value), value.last_reported


def read_charger(now, amps, number_max):
    """Everything the charger's entities show, for the charger/car model."""
    switch, switch_at = read_entity(SETTINGS["pause_switch"])
    status, status_at = read_entity(SETTINGS["charger_status"])
    power_w, session_kwh, times = None, None, [switch_at, status_at]
    if SETTINGS["charger_power"]:
        power_w, age_s, problem, value = read_power(SETTINGS["charger_power"], now)
        note_charger_problem(problem)
        if value is not None:
            times.append(value.last_reported)
    if SETTINGS["session_energy"]:
        try:
            value = state.get(SETTINGS["session_energy"])
        except NameError:
            value = None
        if value is not None:
            times.append(value.last_reported)
            session_kwh = balancer_units.energy_kwh(str(value), getattr(value, "unit_of_measurement", None))
    known = [t for t in times if t is not None]
    return balancer_charger.ChargerObservation(
        amps=amps, number_max=number_max, switch=switch, status=status, power_w=power_w,
        session_kwh=session_kwh, reported_at=max(known) if known else None)


def clamp_to_number_range(min_a, max_a, entity_min, entity_max):
    """Keep the current inside the number entity's own min/max, so the charger never rejects it."""
    try:
        entity_min = float(min_a if entity_min is None else entity_min)
        entity_max = float(max_a if entity_max is None else entity_max)
    except (TypeError, ValueError):
        return min_a, max_a
    return balancer_runtime.current_range(max(min_a, entity_min), min(max_a, entity_max))


def read_tunable(key):
    """A setting that may name an input_number: its value now (safe when the entity is not)."""
    setting = SETTINGS[key]
    if not isinstance(setting, str):
        return setting
    try:
        text = str(state.get(setting))
    except NameError:
        text = "missing"
    low, high = balancer_config.NUMBERS[key][1], balancer_config.NUMBERS[key][2]
    value, problem = balancer_runtime.tunable_value(key, text, RUNTIME["tuned"].get(key), TUNABLE_FALLBACK[key], low, high)
    if problem is None:
        RUNTIME["tuned"][key] = value
    if problem != RUNTIME["tunable_problems"].get(key):
        if problem:
            log.warning("%s: %s (from %s)", APP, problem, setting)
        else:
            log.info("%s: %s from %s is usable again: %s", APP, key, setting, value)
        RUNTIME["tunable_problems"][key] = problem
    return value


def read_meter_registers(now):
    """(meter energy of this quarter in J or None, trusted meter month peak in W or None, raw figures)."""
    energy_j, peak_w, average_w, meter_peak_w = None, None, None, None
    if SETTINGS["average_demand"]:
        average_w, age_s, problem, value = read_power(SETTINGS["average_demand"], now)
        if value is not None:
            energy_j = balancer_registers.meter_quarter_energy_j(
                average_w, value.last_reported, balancer_time.quarter_start(now), age_s, SETTINGS["stale_after"])
    if SETTINGS["monthly_peak_meter"]:
        meter_peak_w, age_s, problem, value = read_power(SETTINGS["monthly_peak_meter"], now)
        if value is not None:
            peak_w = METER_PEAK_GUARD.trusted_peak_w(now, meter_peak_w, value.last_changed)
    return energy_j, peak_w, average_w, meter_peak_w


def restored_mode():
    """The persisted mode; anything unknown counts as auto."""
    mode = str(state.get(MODE_VAR))
    if mode not in balancer_controller.MODES:
        return balancer_controller.MODE_AUTO
    return mode


def read_all(now):
    grid_w, grid_at, grid_problem = read_grid(now)
    RUNTIME["grid_reading_problem"] = grid_problem
    charger_a, entity_min, entity_max = read_number()
    min_a, max_a = balancer_runtime.current_range(read_tunable("min_current"), read_tunable("max_current"))
    min_a, max_a = clamp_to_number_range(min_a, max_a, entity_min, entity_max)
    meter_energy_j, meter_peak_w, meter_average_w, meter_peak_raw_w = read_meter_registers(now)
    return {
        "grid_w": grid_w,
        "grid_at": grid_at,
        "charger": read_charger(now, charger_a, entity_max),
        "target_peak_w": read_tunable("target_peak"),
        "min_a": min_a,
        "max_a": max_a,
        "mode": RUNTIME["mode"],
        "meter_energy_j": meter_energy_j,
        "meter_peak_w": meter_peak_w,
        "meter_average_w": meter_average_w,
        "meter_peak_raw_w": meter_peak_raw_w,
    }


def note_grid_problem(decision):
    """One WARNING when the fail-safe starts (a gap shorter than stale_after is not a fault: DSMR
    after a restart, a HomeWizard poll that failed once), one INFO when the grid is back."""
    failsafe = decision["grid"] == balancer_controller.GRID_FAILSAFE
    if failsafe and not RUNTIME["grid_problem"]:
        problem = RUNTIME["grid_reading_problem"] or "silent"
        log.warning("%s: grid power %s is %s for more than %d s: fail-safe (%s) until it reports again", APP, SETTINGS["grid_power"], problem, SETTINGS["stale_after"], SETTINGS["failsafe"])
    elif RUNTIME["grid_problem"] and decision["grid"] == balancer_controller.GRID_OK:
        log.info("%s: grid power %s reports again: normal control resumes", APP, SETTINGS["grid_power"])
    if failsafe:
        RUNTIME["grid_problem"] = True
    elif decision["grid"] == balancer_controller.GRID_OK:
        RUNTIME["grid_problem"] = None


def note_charger_problem(problem):
    """One WARNING when the charger's power sensor becomes unusable, one INFO when it is back.

    Staleness is not reported: the Wallbox sensor stops refreshing whenever writes keep coming.
    """
    if problem and not RUNTIME["charger_problem"]:
        log.warning("%s: charger power %s is %s: estimating the car's draw from the setpoint", APP, SETTINGS["charger_power"], problem)
    elif RUNTIME["charger_problem"] and not problem:
        log.info("%s: charger power %s reports again", APP, SETTINGS["charger_power"])
    RUNTIME["charger_problem"] = problem


def check_ready(now):
    """Entities and services must exist before the app commands anything; re-checked each minute."""
    last = RUNTIME["last_check"]
    if RUNTIME["ready"] or (last is not None and (now - last).total_seconds() < ENTITY_RECHECK_S):
        return RUNTIME["ready"]
    RUNTIME["last_check"] = now
    errors = balancer_config.missing_entities(SETTINGS, state.exist)
    errors = errors + balancer_config.missing_services(SETTINGS, service.has_service)
    if errors:
        if last is None:
            for error in errors:
                log.error(error)
        return False
    if last is not None:
        log.info("%s: all configured entities and services are there now: control starts", APP)
    RUNTIME["ready"] = True
    return True


# ---- the control step --------------------------------------------------------------------

def control_step(now):
    if not check_ready(now):
        publish_setpoint(None, "waiting: a configured entity or service is missing (see the log)")
        return
    reading = read_all(now)
    decision = CONTROLLER.step(now, reading)
    note_grid_problem(decision)
    note_charger_status()
    for quarter in decision["incomplete_quarters"]:
        log.info("%s: the quarter from %s was not watched from its start (first start): its %.0f W measured so far does not count for the monthly peak", APP, balancer_time.iso_local(quarter[0]), quarter[1])
    for quarter in decision["peak_raised"]:
        announce_peak(quarter, reading)
    warn_short_of_minimum(decision, now)
    if decision["write"] is not None:
        send(decision["write"], now)
    publish(decision, reading, now)


def announce_peak(quarter, reading):
    """Log every new monthly peak; notify when it is above the target (the bill goes up)."""
    start, average_w = quarter[0], quarter[1]
    when = balancer_time.iso_local(start)
    log.info("%s: new monthly peak %.0f W in the quarter from %s", APP, average_w, when)
    if not SETTINGS["notify"] or average_w <= reading["target_peak_w"]:
        return
    message = "This month's peak rose to %.2f kW in the quarter from %s (target %.2f kW; the grid drew %.2f kW as it ended)." % (
        average_w / 1000.0, when, reading["target_peak_w"] / 1000.0, CONTROLLER.meter.last_power_w / 1000.0 if CONTROLLER.meter.last_power_w else 0.0)
    try:
        service.call("persistent_notification", "create", title="Capacity peak raised", message=message, notification_id=NOTIFICATION_ID)
    except Exception as error:
        # A notification must never stop the control step.
        log.warning("%s: could not create the peak notification: %s", APP, error)


def note_charger_status():
    """A charger status the model does not know: one WARNING naming it; the model keeps its belief."""
    status = CONTROLLER.charger.unknown_status
    if status is not None and status != RUNTIME["status_warned"]:
        log.warning("%s: charger status '%s' from %s is not one the balancer knows: it keeps its last belief about the car (a car connected unless shown otherwise)", APP, status, SETTINGS["charger_status"])
        RUNTIME["status_warned"] = status


def warn_short_of_minimum(decision, now):
    """Without a pause switch the minimum current may break the limit: say so once per quarter."""
    if not decision["short_of_minimum"]:
        return
    quarter = balancer_time.quarter_start(now)
    if RUNTIME["short_warned_quarter"] == quarter:
        return
    RUNTIME["short_warned_quarter"] = quarter
    log.warning("%s: the budget is below %d A and the charger cannot be paused: holding %d A, the %.0f W limit may be exceeded this quarter", APP, decision["want_a"], decision["want_a"], decision["limit_w"])


def send(write, now):
    """Carry out one charger write and wait for its answer (blocking), so a failure is seen."""
    kind, amps = write
    CONTROLLER.command_sent(now)
    RUNTIME["last_command"] = now
    text = kind if amps is None else "current %d A" % amps
    try:
        if kind == CURRENT:
            set_current(amps)
        else:
            switch = SETTINGS["pause_switch"]
            service.call(switch.split(".")[0], "turn_off" if kind == PAUSE else "turn_on", blocking=True, entity_id=switch)
    except Exception as error:
        RUNTIME["last_result"] = "failed: %s: %s" % (text, error)
        if not RUNTIME["command_problem"]:
            log.warning("%s: charger command (%s) failed: %s; retrying at the next slot", APP, text, error)
        RUNTIME["command_problem"] = str(error)
        return
    CONTROLLER.command_accepted(now, write)
    if RUNTIME["command_problem"]:
        log.info("%s: charger commands work again", APP)
    RUNTIME["command_problem"] = None
    RUNTIME["last_result"] = "ok: " + text
    log.info("%s: sent %s", APP, text)


def set_current(amps):
    entity_id = SETTINGS["current_number"]
    if entity_id:
        held = str(state.get(entity_id))
        if held in ("unavailable", "unknown"):
            # Home Assistant skips calls to an unavailable entity without a word: say it here.
            raise ValueError("%s is %s" % (entity_id, held))
        service.call(entity_id.split(".")[0], "set_value", blocking=True, entity_id=entity_id, value=amps)
        return
    domain, name = SETTINGS["current_service"].split(".")
    data = dict(SETTINGS["current_service_data"])
    data[SETTINGS["current_field"]] = amps
    service.call(domain, name, blocking=True, **data)
    RUNTIME["service_amps"] = amps


# ---- publishing --------------------------------------------------------------------------

def set_if_changed(name, value, attributes):
    """Write a state variable only when its value or attributes changed."""
    if RUNTIME["published"].get(name) == (value, attributes):
        return
    RUNTIME["published"][name] = (value, attributes)
    state.set(name, value, new_attributes=attributes)


def publish(decision, reading, now):
    publish_peak_and_limit(decision, reading)
    publish_quarter(decision, reading, now)
    publish_setpoint(decision, decision["reason"])


def publish_peak_and_limit(decision, reading):
    peak = CONTROLLER.peak
    key = (decision["peak_w"], decision["limit_w"], peak.month, peak.peak_quarter, reading["target_peak_w"], reading["meter_peak_raw_w"])
    if RUNTIME["published"].get("peak key") == key:
        return
    RUNTIME["published"]["peak key"] = key
    peak_attributes = {
        "month": peak.month,
        "quarter_start": balancer_time.iso_local(peak.peak_quarter) if peak.peak_quarter else None,
        "own_peak": round(peak.peak_w),
        "unit_of_measurement": "W", "device_class": "power", "friendly_name": "Wallbox balancer monthly peak",
    }
    if reading["meter_peak_raw_w"] is not None:
        peak_attributes["meter_peak"] = round(reading["meter_peak_raw_w"])
        peak_attributes["meter_difference"] = round(peak.peak_w - reading["meter_peak_raw_w"])
    set_if_changed(PEAK_VAR, round(decision["peak_w"]), peak_attributes)
    set_if_changed(LIMIT_VAR, round(decision["limit_w"]), {
        "target_peak": reading["target_peak_w"], "margin": SETTINGS["margin"],
        "unit_of_measurement": "W", "device_class": "power", "friendly_name": "Wallbox balancer capacity limit",
    })


def publish_quarter(decision, reading, now):
    """The running quarter, every QUARTER_PUBLISH_S and whenever a new quarter starts."""
    meter = CONTROLLER.meter
    last = RUNTIME["quarter_published_at"]
    new_quarter = last is None or last < meter.quarter_start
    if not new_quarter and 0 <= (now - last).total_seconds() < QUARTER_PUBLISH_S:
        return
    RUNTIME["quarter_published_at"] = now
    quarter_attributes = {
        "projected": round(balancer_budget.projected_average_w(decision["energy_j"], decision["remaining_s"], meter.last_power_w or 0.0)),
        "energy_wh": round(meter.energy_j / 3600.0, 2),
        "quarter_start": meter.quarter_start.isoformat(),
        "covered_s": round(meter.covered_s),
        "assumed_wh": round(meter.assumed_j / 3600.0, 2),
        "unwatched_s": round(meter.unwatched_s),
        "updated": now.isoformat(),
        "house_load": round(decision["house_w"]),
        "unit_of_measurement": "W", "device_class": "power", "friendly_name": "Wallbox balancer quarter average",
    }
    if reading["meter_average_w"] is not None:
        # The meter's 1.4.0 climbs from 0 to the quarter's average: compare it with energy / 900 s.
        quarter_attributes["meter_average"] = round(reading["meter_average_w"])
        quarter_attributes["meter_difference"] = round(meter.average_w() - reading["meter_average_w"])
    set_if_changed(QUARTER_VAR, round(meter.running_average_w(now)), quarter_attributes)


def publish_setpoint(decision, reason):
    last = RUNTIME["last_command"]
    value = decision["want_a"] if decision else "unknown"
    paused = decision["want_paused"] if decision else None
    charger = CONTROLLER.charger
    key = (value, reason, paused, RUNTIME["mode"], last, RUNTIME["last_result"], charger.car_text(), charger.session_kwh)
    if RUNTIME["published"].get("setpoint key") == key:
        return
    RUNTIME["published"]["setpoint key"] = key
    set_if_changed(SETPOINT_VAR, value, {
        "reason": reason,
        "paused": paused,
        "mode": RUNTIME["mode"],
        "last_command": last.isoformat() if last else None,
        "last_result": RUNTIME["last_result"],
        "car": charger.car_text(),
        "session_energy": charger.session_kwh,
        "unit_of_measurement": "A", "friendly_name": "Wallbox balancer setpoint",
    })


def publish_mode(mode):
    RUNTIME["mode"] = mode
    set_if_changed(MODE_VAR, mode, {
        "options": list(balancer_controller.MODES),
        "friendly_name": "Wallbox balancer mode",
    })


# ---- persistence -------------------------------------------------------------------------

def restore(now):
    """Take back this month's peak, this quarter's energy and the mode from before a restart or reload."""
    state.persist(PEAK_VAR, default_value=0, default_attributes={"month": None, "quarter_start": None})
    state.persist(QUARTER_VAR, default_value=0, default_attributes={"quarter_start": None, "energy_wh": 0, "covered_s": 0, "updated": None})
    state.persist(SETPOINT_VAR, default_value="unknown", default_attributes={"last_command": None})
    state.persist(MODE_VAR, default_value=balancer_controller.MODE_AUTO)
    publish_mode(restored_mode())
    peak_attrs = state.getattr(PEAK_VAR) or {}
    try:
        peak_w = float(peak_attrs.get("own_peak", state.get(PEAK_VAR)))
    except (TypeError, ValueError):
        peak_w = 0.0
    quarter_start = balancer_time.parse_iso(peak_attrs.get("quarter_start"))
    if CONTROLLER.peak.restore(peak_attrs.get("month"), peak_w, quarter_start, now):
        log.info("%s: restored this month's peak %.0f W", APP, peak_w)
    restore_quarter(now)
    last_command = balancer_time.parse_iso((state.getattr(SETPOINT_VAR) or {}).get("last_command"))
    if last_command is not None and last_command <= now:
        CONTROLLER.gate.sent(last_command)
        CONTROLLER.charger.restore(last_command)
        RUNTIME["last_command"] = last_command


def restore_quarter(now):
    """The running quarter's energy counts again only if it is this quarter and recent."""
    attrs = state.getattr(QUARTER_VAR) or {}
    saved_quarter = balancer_time.parse_iso(attrs.get("quarter_start"))
    saved_at = balancer_time.parse_iso(attrs.get("updated"))
    if saved_quarter != balancer_time.quarter_start(now) or saved_at is None:
        return
    if not 0 <= (now - saved_at).total_seconds() <= QUARTER_RESTORE_MAX_AGE_S:
        return
    try:
        energy_j = float(attrs.get("energy_wh") or 0) * 3600.0
        covered_s = float(attrs.get("covered_s") or 0)
        assumed_j = float(attrs.get("assumed_wh") or 0) * 3600.0
        unwatched_s = float(attrs.get("unwatched_s") or 0)
    except (TypeError, ValueError):
        return
    CONTROLLER.meter.restore(saved_quarter, energy_j, covered_s, saved_at, assumed_j, unwatched_s)
    log.info("%s: restored this quarter's %.0f Wh drawn so far", APP, energy_j / 3600.0)


# ---- triggers and the service ---------------------------------------------------------------

if CONTROLLER is not None:
    restore(utc_now())

    @time_trigger("startup")
    def wallbox_balancer_startup():
        """Runs once Home Assistant has started, and after every reload."""
        log.info("%s: started: grid %s, target peak %s W, %s-%s A", APP, SETTINGS["grid_power"], SETTINGS["target_peak"], SETTINGS["min_current"], SETTINGS["max_current"])
        run_step()

    @time_trigger("shutdown")
    def wallbox_balancer_stop():
        """Reload, removal or Home Assistant stopping: leave the charger as configured (on_stop)."""
        if SETTINGS["on_stop"] == balancer_config.ON_STOP_LEAVE or not RUNTIME["ready"] or RUNTIME["mode"] == balancer_controller.MODE_OFF:
            log.info("%s: stopping; the charger keeps its present setting", APP)
            return
        log.info("%s: stopping; setting the charger to %d A (on_stop)", APP, SETTINGS["on_stop"])
        send((CURRENT, SETTINGS["on_stop"]), utc_now())
        publish_setpoint(None, "stopped: on_stop %d A" % SETTINGS["on_stop"])

    @time_trigger(TICK)
    def wallbox_balancer_tick():
        # A meter whose value changes at every update already runs a step each time; the tick is
        # for the steady meter (no trigger) and for closing quarters, so it skips a recent step.
        last = RUNTIME["last_step"]
        if last is not None and 0 <= (utc_now() - last).total_seconds() < TICK_SKIP_S:
            return
        run_step()

    @state_trigger(SETTINGS["grid_power"])
    def wallbox_balancer_grid_changed():
        # Only the sensor's own bursts are thinned out: a reading that lands just after a tick's
        # step, in the same second, still gets its step (else it was held from the next one).
        now = utc_now()
        last = RUNTIME["last_sensor_step"]
        if last is not None and 0 <= (now - last).total_seconds() < MIN_STEP_S:
            return
        RUNTIME["last_sensor_step"] = now
        run_step()

    @service
    def wallbox_balancer_set_mode(mode=None):
        """yaml
name: Set wallbox balancer mode
description: auto (balance), paused (no charging), fast (max current, the limit is ignored), off (leave the charger alone).
fields:
  mode:
    description: auto, paused, fast or off
    example: auto
    required: true
    selector:
      select:
        options: [auto, paused, fast, "off"]
"""
        if mode is False:
            mode = balancer_controller.MODE_OFF  # YAML reads an unquoted off as false
        if mode not in balancer_controller.MODES:
            log.error("%s: set_mode: mode must be one of %s, got %s", APP, ", ".join(balancer_controller.MODES), mode)
            return
        log.info("%s: mode %s", APP, mode)
        publish_mode(mode)
        run_step()

    def run_step():
        # A step still waiting on a slow charger command keeps running; this one gives way.
        task.unique(STEP_TASK, kill_me=True)
        now = utc_now()
        RUNTIME["last_step"] = now
        control_step(now)
