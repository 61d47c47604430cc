"""wallbox_balancer: charge the car as fast as the capacity tariff allows, never raising the peak.

Thin glue between Home Assistant and the balancing logic in pyscript/modules/balancer_*.py:
read the configured sensors, feed balancer_controller, carry out its one charger write, publish
the figures as pyscript.wallbox_balancer_* state variables. See README.md for the configuration.
"""

from datetime import datetime, timezone

import balancer_config
import balancer_controller
import balancer_time
import balancer_units
from balancer_commands import CURRENT, PAUSE, RESUME

APP = "wallbox_balancer"
STEP_TASK = APP + "_step"
PEAK_VAR = "pyscript.wallbox_balancer_monthly_peak"
LIMIT_VAR = "pyscript.wallbox_balancer_capacity_limit"
QUARTER_VAR = "pyscript.wallbox_balancer_quarter_average"
SETPOINT_VAR = "pyscript.wallbox_balancer_setpoint"
TICK = "period(midnight, 5s)"  # closes quarters and counts a steady load (which fires no trigger)
MIN_STEP_S = 1.0  # a sensor that bursts every 100 ms is sampled at most once a second
ENTITY_RECHECK_S = 60.0

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
RUNTIME = {
    "last_step": None,
    "ready": False,  # every configured entity and service exists
    "last_check": None,
    "grid_problem": None,
    "command_problem": None,
    "service_amps": None,  # current_service form: the last current the service accepted
    "last_command": None,
    "last_result": None,
    "short_warned_quarter": None,
}


# ---- reading Home Assistant -------------------------------------------------------------

def read_power(entity_id, now):
    """(watts, age_s, problem) of a power sensor; watts None when unusable."""
    try:
        value = state.get(entity_id)
    except NameError:
        return None, None, "missing"
    attributes = state.getattr(entity_id) or {}
    watts, problem = balancer_units.power_w(value, attributes.get("unit_of_measurement"))
    age_s = (now - value.last_reported).total_seconds()
    return watts, age_s, problem


def read_grid(now):
    """Net grid power (W, export negative), its age, and a problem text when unusable."""
    grid_w, age_s, problem = read_power(SETTINGS["grid_power"], now)
    export_entity = SETTINGS["grid_export_power"]
    if grid_w is not None and export_entity:
        export_w, export_age_s, export_problem = read_power(export_entity, now)
        if export_w is None:
            return None, age_s, "export sensor " + export_problem
        grid_w = grid_w - export_w
        age_s = max(age_s, export_age_s)
    return grid_w, age_s, problem


def read_charger_amps():
    """The current the charger holds: the number entity read back, or what the service accepted."""
    entity_id = SETTINGS["current_number"]
    if not entity_id:
        return RUNTIME["service_amps"]
    try:
        return int(round(float(state.get(entity_id))))
    except (NameError, ValueError):
        return None


def read_charger_paused():
    """True/False from the pause switch; None when there is none or it is unavailable (no car)."""
    entity_id = SETTINGS["pause_switch"]
    if not entity_id:
        return None
    try:
        value = str(state.get(entity_id))
    except NameError:
        return None
    if value == "on":
        return False
    if value == "off":
        return True
    return None


def read_all(now):
    grid_w, grid_age_s, grid_problem = read_grid(now)
    charger_w, charger_age_s = None, None
    if SETTINGS["charger_power"]:
        charger_w, charger_age_s, charger_problem = read_power(SETTINGS["charger_power"], now)
    note_grid_problem(grid_problem, grid_age_s)
    return {
        "grid_w": grid_w,
        "grid_age_s": grid_age_s if grid_age_s is not None else 1e9,
        "charger_w": charger_w,
        "charger_age_s": charger_age_s,
        "charger_a": read_charger_amps(),
        "charger_paused": read_charger_paused(),
        "target_peak_w": SETTINGS["target_peak"],
        "min_a": SETTINGS["min_current"],
        "max_a": SETTINGS["max_current"],
    }


def note_grid_problem(problem, age_s):
    """One WARNING when the grid reading becomes unusable or stale, one INFO when it is back."""
    if problem is None and age_s is not None and age_s > SETTINGS["stale_after"]:
        problem = "no update for %d s" % age_s
    if problem and not RUNTIME["grid_problem"]:
        log.warning("%s: grid power %s is %s: fail-safe (%s) until it reports again", APP, SETTINGS["grid_power"], problem, SETTINGS["failsafe"])
    elif RUNTIME["grid_problem"] and not problem:
        log.info("%s: grid power %s reports again: normal control resumes", APP, SETTINGS["grid_power"])
    RUNTIME["grid_problem"] = problem


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
    decision = CONTROLLER.step(now, read_all(now))
    for quarter in decision["peak_raised"]:
        log.info("%s: new monthly peak %.0f W in the quarter from %s", APP, quarter[1], balancer_time.iso_local(quarter[0]))
    warn_short_of_minimum(decision, now)
    if decision["write"] is not None:
        send(decision["write"], now)
    publish(decision, now)


def warn_short_of_minimum(decision, now):
    """Without a pause switch the minimum current may break the limit: say so once per quarter."""
    if not decision["short_of_minimum"]:
        return
    quarter = balancer_time.quarter_start(now)
    if RUNTIME["short_warned_quarter"] == quarter:
        return
    RUNTIME["short_warned_quarter"] = quarter
    log.warning("%s: the budget is below %d A and there is no pause_switch: holding %d A, the %.0f W limit may be exceeded this quarter", APP, SETTINGS["min_current"], SETTINGS["min_current"], decision["limit_w"])


def send(write, now):
    """Carry out one charger write and wait for its answer (blocking), so a failure is seen."""
    kind, amps = write
    CONTROLLER.command_sent(now)
    RUNTIME["last_command"] = now
    try:
        if kind == CURRENT:
            set_current(amps)
            text = "current %d A" % amps
        elif kind == PAUSE:
            service.call(SETTINGS["pause_switch"].split(".")[0], "turn_off", blocking=True, entity_id=SETTINGS["pause_switch"])
            text = "pause"
        else:
            service.call(SETTINGS["pause_switch"].split(".")[0], "turn_on", blocking=True, entity_id=SETTINGS["pause_switch"])
            text = "resume"
    except Exception as error:
        RUNTIME["last_result"] = "failed: %s" % error
        if not RUNTIME["command_problem"]:
            log.warning("%s: charger command %s %s failed: %s; retrying at the next slot", APP, kind, amps if amps is not None else "", error)
        RUNTIME["command_problem"] = str(error)
        return
    if RUNTIME["command_problem"]:
        log.info("%s: charger commands work again", APP)
    RUNTIME["command_problem"] = None
    RUNTIME["last_result"] = "ok: " + text
    log.info("%s: sent %s", APP, text)


def set_current(amps):
    entity_id = SETTINGS["current_number"]
    if entity_id and state.get(entity_id) in ("unavailable", "unknown"):
        # Home Assistant skips calls to an unavailable entity without a word: say it here.
        raise ValueError("%s is %s" % (entity_id, state.get(entity_id)))
    if entity_id:
        service.call(entity_id.split(".")[0], "set_value", blocking=True, entity_id=entity_id, value=amps)
        return
    domain, name = SETTINGS["current_service"].split(".")
    data = dict(SETTINGS["current_service_data"])
    data[SETTINGS["current_field"]] = amps
    service.call(domain, name, blocking=True, **data)
    RUNTIME["service_amps"] = amps


# ---- publishing --------------------------------------------------------------------------

def publish(decision, now):
    meter = CONTROLLER.meter
    peak = CONTROLLER.peak
    state.set(PEAK_VAR, round(peak.peak_w), new_attributes={
        "month": peak.month,
        "quarter_start": balancer_time.iso_local(peak.peak_quarter) if peak.peak_quarter else None,
        "unit_of_measurement": "W", "device_class": "power", "friendly_name": "Wallbox balancer monthly peak",
    })
    state.set(LIMIT_VAR, round(decision["limit_w"]), new_attributes={
        "target_peak": SETTINGS["target_peak"], "margin": SETTINGS["margin"],
        "unit_of_measurement": "W", "device_class": "power", "friendly_name": "Wallbox balancer capacity limit",
    })
    state.set(QUARTER_VAR, round(meter.running_average_w(now)), new_attributes={
        "projected": round((meter.energy_j + (meter.last_power_w or 0.0) * decision["remaining_s"]) / balancer_time.QUARTER_S),
        "energy_wh": round(meter.energy_j / 3600.0, 1),
        "quarter_start": meter.quarter_start.isoformat(),
        "covered_s": round(meter.covered_s),
        "updated": now.isoformat(),
        "house_load": round(decision["house_w"]),
        "unit_of_measurement": "W", "device_class": "power", "friendly_name": "Wallbox balancer quarter average",
    })
    publish_setpoint(decision, decision["reason"])


def publish_setpoint(decision, reason):
    last = RUNTIME["last_command"]
    state.set(SETPOINT_VAR, decision["want_a"] if decision else "unknown", new_attributes={
        "reason": reason,
        "paused": decision["want_paused"] if decision else None,
        "last_command": last.isoformat() if last else None,
        "last_result": RUNTIME["last_result"],
        "unit_of_measurement": "A", "friendly_name": "Wallbox balancer setpoint",
    })


# ---- persistence -------------------------------------------------------------------------

def restore(now):
    """Take back this month's peak and this quarter's energy from before a restart or reload."""
    state.persist(PEAK_VAR, default_value=0, default_attributes={"month": None, "quarter_start": None})
    state.persist(QUARTER_VAR, default_value=0, default_attributes={"quarter_start": None, "energy_wh": 0, "covered_s": 0, "updated": None})
    state.persist(SETPOINT_VAR, default_value="unknown", default_attributes={"last_command": None})
    peak_attrs = state.getattr(PEAK_VAR) or {}
    try:
        peak_w = float(state.get(PEAK_VAR))
    except ValueError:
        peak_w = 0.0
    quarter_start = balancer_time.parse_iso(peak_attrs.get("quarter_start"))
    if CONTROLLER.peak.restore(peak_attrs.get("month"), peak_w, quarter_start, now):
        log.info("%s: restored this month's peak %.0f W", APP, peak_w)
    quarter_attrs = state.getattr(QUARTER_VAR) or {}
    saved_quarter = balancer_time.parse_iso(quarter_attrs.get("quarter_start"))
    saved_at = balancer_time.parse_iso(quarter_attrs.get("updated"))
    if saved_quarter == balancer_time.quarter_start(now) and saved_at is not None and 0 <= (now - saved_at).total_seconds() <= 300:
        CONTROLLER.meter.restore(saved_quarter, float(quarter_attrs.get("energy_wh") or 0) * 3600.0, float(quarter_attrs.get("covered_s") or 0), saved_at)
    last_command = balancer_time.parse_iso((state.getattr(SETPOINT_VAR) or {}).get("last_command"))
    if last_command is not None and last_command <= now:
        CONTROLLER.gate.sent(last_command)
        RUNTIME["last_command"] = last_command


# ---- triggers ----------------------------------------------------------------------------

if CONTROLLER is not None:
    restore(utc_now())

    @time_trigger("startup")
    def wallbox_balancer_startup():
        """Runs once Home Assistant has started, and after every reload."""
        log.info("%s: started: grid %s, target peak %.0f W, %d-%d A", APP, SETTINGS["grid_power"], SETTINGS["target_peak"], SETTINGS["min_current"], SETTINGS["max_current"])
        run_step()

    @time_trigger("shutdown")
    def wallbox_balancer_stop():
        """Reload, removal or Home Assistant stopping: leave the charger as configured (on_stop)."""
        if SETTINGS["on_stop"] == balancer_config.ON_STOP_LEAVE or not RUNTIME["ready"]:
            log.info("%s: stopping; the charger keeps its present setting", APP)
            return
        now = utc_now()
        log.info("%s: stopping; setting the charger to %d A (on_stop)", APP, SETTINGS["on_stop"])
        send((CURRENT, SETTINGS["on_stop"]), now)
        publish_setpoint(None, "stopped: on_stop %d A" % SETTINGS["on_stop"])

    @time_trigger(TICK)
    def wallbox_balancer_tick():
        run_step()

    @state_trigger(SETTINGS["grid_power"])
    def wallbox_balancer_grid_changed():
        now = utc_now()
        last = RUNTIME["last_step"]
        if last is not None and 0 <= (now - last).total_seconds() < MIN_STEP_S:
            return
        run_step()

    def run_step():
        # A step still waiting on a slow charger command keeps running; this one gives way.
        task.unique(STEP_TASK, kill_me=True)
        now = utc_now()
        RUNTIME["last_step"] = now
        control_step(now)
