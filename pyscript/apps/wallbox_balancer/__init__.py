"""wallbox_balancer: charge the car as fast as the capacity tariff allows, never raising the peak.

Thin glue between Home Assistant and the balancing logic in pyscript/modules/balancer_*.py: read
the configured entities into a Reading, let balancer_controller decide, carry out its one charger
write, publish the figures balancer_publish builds. See README.md for the configuration.
"""

from datetime import datetime, timezone

import balancer_config
import balancer_controller
import balancer_history
import balancer_publish as pub
import balancer_read
import balancer_runtime
import balancer_time
from balancer_commands import CURRENT, PAUSE

APP = balancer_config.APP
STEP_TASK = APP + "_step"
TICK = "period(midnight, 5s)"  # closes quarters and counts a steady load (which fires no trigger)
MIN_STEP_S = 1.0  # a sensor that bursts every 100 ms triggers a step at most once a second
TICK_SKIP_S = 4.0  # the tick skips when a sensor-triggered step ran this recently
ENTITY_RECHECK_S = 60.0
# The running quarter is published (and so saved for a restart) at most this often: every state
# write is also a recorder write in Home Assistant.
QUARTER_PUBLISH_S = 30
# The session (its delivered energy grows at every step while the car charges) likewise, except
# that a new state, plan or window (balancer_publish.session_news) is written at once.
SESSION_PUBLISH_S = 30
PROFILE_PUBLISH_S = 3600  # the learnt profile (about 4-6 kB) is saved at most hourly

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
READER = balancer_read.Reader(SETTINGS) if SETTINGS else None
MESSAGES = pub.Messages(SETTINGS) if SETTINGS else None
COMMAND_NOTICE = balancer_runtime.Notice()  # a failing charger write: told once
RUNTIME = {
    "last_step": None,
    "last_sensor_step": None,  # the last step a grid reading triggered
    "ready": False,  # every configured entity and service exists
    "last_check": None,
    "last_result": None,
    "published": {},  # state variable -> (value, attributes) last written
    "quarter_published_at": None,
    "session_published_at": None,
    "profile_published_at": None,
    "mode": balancer_controller.MODE_AUTO,  # set from the persisted mode at load and by set_mode
}


def read_entity(entity_id):
    """The entity's StateVal, or None when missing."""
    try:
        return state.get(entity_id)
    except NameError:
        return None


def read_all(now):
    """One Reading from every configured entity (balancer_read). A price entity's attributes are
    fetched (state.getattr) only when the Reader sees it changed."""
    values = {}
    for entity_id in READER.entity_ids:
        values[entity_id] = read_entity(entity_id)
    reading, said = READER.reading(values, RUNTIME["mode"], now, state.getattr)
    say(said)
    return reading


def say(lines):
    """Log the (level, text) lines the modules returned."""
    for level, text in lines:
        if level == balancer_runtime.WARNING:
            log.warning("%s: %s", APP, text)
        else:
            log.info("%s: %s", APP, text)


def check_ready(now):
    """Entities and services must exist before the app commands anything; re-checked each minute."""
    last = RUNTIME["last_check"]
    if RUNTIME["ready"] or (last is not None and (now - last).total_seconds() < ENTITY_RECHECK_S):
        return RUNTIME["ready"]
    RUNTIME["last_check"] = now
    errors = balancer_config.missing_entities(SETTINGS, state.exist) + balancer_config.missing_services(SETTINGS, service.has_service)
    if errors:
        if last is None:
            for error in errors:
                log.error(error)
        return False
    if last is not None:
        log.info("%s: all configured entities and services are there now: control starts", APP)
    RUNTIME["ready"] = True
    return True


def control_step(now):
    if not check_ready(now):
        publish_setpoint(None, "waiting: a configured entity or service is missing (see the log)")
        return
    reading = read_all(now)
    d = CONTROLLER.step(now, reading)
    said, notifications = MESSAGES.after_step(d, now, READER.grid_problem, CONTROLLER.charger.unknown_status, reading.target_peak_w)
    say(said)
    for message in notifications:
        try:
            service.call("persistent_notification", "create", title="Capacity peak raised", message=message, notification_id=pub.NOTIFICATION_ID)
        except Exception as error:
            # A notification must never stop the control step.
            log.warning("%s: could not create the peak notification: %s", APP, error)
    if d.write is not None:
        send(d.write, now)
    publish(d, reading, now)


def send(write, now):
    """Carry out one charger write and wait for its answer (blocking), so a failure is seen."""
    kind, amps = write
    CONTROLLER.command_sent(now)
    text = kind if amps is None else "current %d A" % amps
    try:
        if kind == CURRENT:
            set_current(amps)
        else:
            switch = SETTINGS.pause_switch
            service.call(switch.split(".")[0], "turn_off" if kind == PAUSE else "turn_on", blocking=True, entity_id=switch)
    except Exception as error:
        RUNTIME["last_result"] = "failed: %s: %s" % (text, error)
        say(COMMAND_NOTICE.lines(True, "charger command (%s) failed: %s; retrying at the next slot" % (text, error), None))
        return
    CONTROLLER.command_accepted(now, write)
    say(COMMAND_NOTICE.lines(None, None, "charger commands work again"))
    RUNTIME["last_result"] = "ok: " + text
    log.info("%s: sent %s", APP, text)


def set_current(amps):
    entity_id = SETTINGS.current_number
    if entity_id:
        held = str(state.get(entity_id))
        if held in ("unavailable", "unknown"):
            # Home Assistant skips calls to an unavailable entity without a word: say it here.
            raise ValueError("%s is %s" % (entity_id, held))
        service.call(entity_id.split(".")[0], "set_value", blocking=True, entity_id=entity_id, value=amps)
        return
    domain, name = SETTINGS.current_service.split(".")
    data = dict(SETTINGS.current_service_data)
    data[SETTINGS.current_field] = amps
    service.call(domain, name, blocking=True, **data)


def set_if_changed(name, value_and_attributes):
    """Every state write is also a recorder write: only on change. True when written."""
    if RUNTIME["published"].get(name) == value_and_attributes:
        return False
    RUNTIME["published"][name] = value_and_attributes
    state.set(name, value_and_attributes[0], new_attributes=value_and_attributes[1])
    return True


def publish(d, reading, now):
    key = (d.peak_w, d.limit_w, d.peak_month, d.peak_quarter, reading.target_peak_w, d.meter_peak_w)
    if RUNTIME["published"].get("peak key") != key:
        RUNTIME["published"]["peak key"] = key
        set_if_changed(pub.PEAK_VAR, pub.peak(d, CONTROLLER.peak.snapshot()))
        set_if_changed(pub.LIMIT_VAR, pub.limit(d, reading.target_peak_w, SETTINGS.margin))
    last = RUNTIME["quarter_published_at"]
    if last is None or last < CONTROLLER.meter.quarter_start or not 0 <= (now - last).total_seconds() < QUARTER_PUBLISH_S:
        RUNTIME["quarter_published_at"] = now
        set_if_changed(pub.QUARTER_VAR, pub.quarter(d, CONTROLLER.meter.snapshot(now)))
    publish_setpoint(d, d.reason)
    publish_session(d, now)
    last = RUNTIME["profile_published_at"]
    if d.profile_learnt and (last is None or not 0 <= (now - last).total_seconds() < PROFILE_PUBLISH_S):
        publish_profile(now)


def publish_session(d, now):
    session = pub.session(d, CONTROLLER.session_snapshot())
    shown = RUNTIME["published"].get(pub.SESSION_VAR)
    last = RUNTIME["session_published_at"]
    if not pub.session_news(shown, session) and last is not None and 0 <= (now - last).total_seconds() < SESSION_PUBLISH_S:
        return
    if set_if_changed(pub.SESSION_VAR, session):
        RUNTIME["session_published_at"] = now


def publish_profile(now):
    RUNTIME["profile_published_at"] = now
    profile = CONTROLLER.profile
    set_if_changed(pub.PROFILE_VAR, pub.profile(profile.as_dict(), profile.learnt_days(), profile.history_days()))


def publish_setpoint(d, reason):
    set_if_changed(pub.SETPOINT_VAR, pub.setpoint(d, reason, RUNTIME["mode"], CONTROLLER.gate.last_write_at, RUNTIME["last_result"]))


def publish_mode(mode):
    RUNTIME["mode"] = mode
    set_if_changed(pub.MODE_VAR, pub.mode(mode, balancer_controller.MODES))


def restore(now):
    """Take back this month's peak, this quarter's energy, the last command and the mode."""
    state.persist(pub.PEAK_VAR, default_value=0, default_attributes={"month": None, "quarter_start": None})
    state.persist(pub.QUARTER_VAR, default_value=0, default_attributes={"quarter_start": None, "energy_wh": 0, "covered_s": 0, "updated": None})
    state.persist(pub.SETPOINT_VAR, default_value="unknown", default_attributes={"last_command": None})
    state.persist(pub.MODE_VAR, default_value=balancer_controller.MODE_AUTO)
    state.persist(pub.SESSION_VAR, default_value="no_car", default_attributes={})
    state.persist(pub.PROFILE_VAR, default_value=0, default_attributes={})
    saved_at = balancer_time.parse_iso((state.getattr(pub.QUARTER_VAR) or {}).get("updated"))  # the app's last save
    CONTROLLER.restore_session(state.getattr(pub.SESSION_VAR) or {}, state.getattr(pub.PROFILE_VAR) or {}, now, saved_at)
    mode = str(state.get(pub.MODE_VAR))
    if mode not in balancer_controller.MODES:
        log.warning("%s: the saved mode %s is no mode (%s): auto", APP, mode, ", ".join(balancer_controller.MODES))
        mode = balancer_controller.MODE_AUTO
    publish_mode(mode)
    if CONTROLLER.peak.restore_snapshot(state.getattr(pub.PEAK_VAR) or {}, state.get(pub.PEAK_VAR), now):
        log.info("%s: restored this month's peak %.0f W", APP, CONTROLLER.peak.peak_w)
    elif CONTROLLER.peak.rejected:
        log.warning("%s: the saved monthly peak is not restored (%s): the month's peak counts from the quarters seen now", APP, CONTROLLER.peak.rejected)
    if CONTROLLER.meter.restore_snapshot(state.getattr(pub.QUARTER_VAR) or {}, now):
        log.info("%s: restored this quarter's %.0f Wh drawn so far", APP, CONTROLLER.meter.energy_j / 3600.0)
    elif CONTROLLER.meter.rejected:
        log.warning("%s: the saved quarter is not restored (%s): the budget counts it as unwatched", APP, CONTROLLER.meter.rejected)
    last_command = balancer_time.parse_iso((state.getattr(pub.SETPOINT_VAR) or {}).get("last_command"))
    if last_command is not None and last_command <= now:
        CONTROLLER.restore_command(last_command)


def read_history(now):
    """Once per start (and reload), never in a step: the recorder's statistics of the grid sensor
    (and of the charger's power) seed the load profile, and without monthly_peak_meter the month's
    peak so far (balancer_history). No recorder, or a failing action: one INFO line, no seed. The
    profile is published either way (its history_days)."""
    said = seed_from_recorder(now)
    say(said)
    publish_profile(now)


def seed_from_recorder(now):
    """The (level, text) lines of reading the recorder's statistics into the controller."""
    if not service.has_service("recorder", "get_statistics"):
        return [(pub.INFO, "no recorder (recorder.get_statistics): the load profile starts from what it has learnt so far")]
    answers = []
    for data in balancer_history.requests(now, [SETTINGS.grid_power, SETTINGS.charger_power]):
        try:
            answers.append(service.call("recorder", "get_statistics", blocking=True, return_response=True, **data))
        except Exception as error:
            return [(pub.INFO, "recorder.get_statistics failed (%s): the load profile starts from what it has learnt so far" % error)]
    history = balancer_history.from_responses(now, answers, SETTINGS.grid_power, SETTINGS.charger_power)
    learnt, raised = CONTROLLER.seed_history(now, history, not SETTINGS.monthly_peak_meter)
    return balancer_history.messages(history, SETTINGS.grid_power, SETTINGS.charger_power, learnt, raised)


# ---- triggers and the service ---------------------------------------------------------------

if CONTROLLER is not None:
    restore(utc_now())

    @time_trigger("startup")
    def wallbox_balancer_startup():
        """Runs once Home Assistant has started, and after every reload."""
        log.info("%s: started: %s", APP, SETTINGS.start_text())
        read_history(utc_now())
        run_step()

    @time_trigger("shutdown")
    def wallbox_balancer_stop():
        """Reload, removal or Home Assistant stopping: leave the charger as configured (on_stop)."""
        if SETTINGS.on_stop == balancer_config.ON_STOP_LEAVE or not RUNTIME["ready"] or RUNTIME["mode"] == balancer_controller.MODE_OFF:
            log.info("%s: stopping; the charger keeps its present setting", APP)
            return
        amps = CONTROLLER.stop_current_a()
        log.info("%s: stopping; setting the charger to %d A (on_stop)", APP, amps)
        send((CURRENT, amps), utc_now())
        publish_setpoint(None, "stopped: on_stop %d A" % amps)

    @time_trigger(TICK)
    def wallbox_balancer_tick():
        # A meter whose value changes at every update already runs a step each time; the tick is
        # for the steady meter (no trigger) and for closing quarters, so it skips a recent step.
        last = RUNTIME["last_step"]
        if last is not None and 0 <= (utc_now() - last).total_seconds() < TICK_SKIP_S:
            return
        run_step()

    @state_trigger(SETTINGS.grid_power)
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
    def wallbox_balancer_set_mode(mode=None, **fields):
        """yaml
name: Set wallbox balancer mode
description: auto (balance), solar (only from the solar surplus; a departure plan's deadline still wins), paused (no charging), fast (max current, the limit is ignored), off (leave the charger alone).
fields:
  mode:
    description: auto, solar, paused, fast or off
    example: auto
    required: true
    selector:
      select:
        options: [auto, solar, paused, fast, "off"]
"""
        # a UI action or an automation may add a target (entity_id): not an error, only not read
        ignored = sorted([key for key in fields if key not in ("trigger_type", "context")])
        if ignored:
            log.info("%s: set_mode: %s ignored, only mode is read", APP, ", ".join(ignored))
        if mode is False:
            mode = balancer_controller.MODE_OFF  # YAML reads an unquoted off as false
        if mode not in balancer_controller.MODES:
            log.error("%s: set_mode: mode must be one of %s, got %s", APP, ", ".join(balancer_controller.MODES), mode)
            return
        log.info("%s: mode %s", APP, mode)
        publish_mode(mode)
        run_step()

    @state_trigger(pub.MODE_VAR)
    def wallbox_balancer_mode_state(value=None):
        """The mode's state written by someone else (Developer Tools, an automation's state write):
        a mode is taken as set_mode takes it; anything else is written back, with one WARNING."""
        value = str(value)
        if value == RUNTIME["mode"]:
            return
        if value in balancer_controller.MODES:
            log.info("%s: mode %s (its state was set)", APP, value)
            publish_mode(value)
            run_step()
            return
        log.warning("%s: the mode's state was set to %s, which is no mode (%s): back to %s; use pyscript.wallbox_balancer_set_mode",
                    APP, value, ", ".join(balancer_controller.MODES), RUNTIME["mode"])
        RUNTIME["published"].pop(pub.MODE_VAR, None)
        publish_mode(RUNTIME["mode"])

    def run_step():
        # A step still waiting on a slow charger command keeps running; this one gives way.
        task.unique(STEP_TASK, kill_me=True)
        now = utc_now()
        RUNTIME["last_step"] = now
        control_step(now)
