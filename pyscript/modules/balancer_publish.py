"""What the app publishes: the state and attributes of each pyscript.wallbox_balancer_* variable,
built from one Decision (and the persisted forms of the meter and the peak). No Home Assistant here.

Every figure a user sees comes from here, so the README's "What it publishes" table has one source.
"""

import balancer_config
import balancer_controller
import balancer_runtime
import balancer_time
from balancer_runtime import INFO, WARNING

PREFIX = "pyscript." + balancer_config.APP + "_"
# Unknown charger status strings are warned about once each; this many are remembered.
STATUSES_TOLD_MAX = 20
PEAK_VAR = PREFIX + "monthly_peak"
LIMIT_VAR = PREFIX + "capacity_limit"
QUARTER_VAR = PREFIX + "quarter_average"
SETPOINT_VAR = PREFIX + "setpoint"
MODE_VAR = PREFIX + "mode"
SESSION_VAR = PREFIX + "session"
PROFILE_VAR = PREFIX + "profile"
NOTIFICATION_ID = balancer_config.APP + "_peak"
POWER = {"unit_of_measurement": "W", "device_class": "power"}


def _with(attributes, extra):
    merged = dict(attributes)
    merged.update(extra)
    return merged


def peak(decision, peak_snapshot):
    """(value W, attributes) of the monthly peak: max(own, the meter's); the snapshot is what a
    restart takes back."""
    attributes = _with(peak_snapshot, POWER)
    attributes["friendly_name"] = "Wallbox balancer monthly peak"
    if decision.meter_peak_w is not None:
        attributes["meter_peak"] = round(decision.meter_peak_w)
        attributes["meter_difference"] = round(decision.own_peak_w - decision.meter_peak_w)
    return round(decision.peak_w), attributes


def limit(decision, target_peak_w, margin_w):
    attributes = _with({"target_peak": target_peak_w, "margin": margin_w}, POWER)
    attributes["friendly_name"] = "Wallbox balancer capacity limit"
    return round(decision.limit_w), attributes


def quarter(decision, quarter_snapshot):
    """(running average W, attributes) of the running quarter; the snapshot is what a restart takes
    back (energy_wh measured, assumed_wh the budget's guesses, quarter_start, updated, ...)."""
    attributes = _with(quarter_snapshot, POWER)
    attributes["projected"] = round(decision.projected_w)
    attributes["house_load"] = round(decision.house_w)
    attributes["friendly_name"] = "Wallbox balancer quarter average"
    if decision.meter_average_w is not None:
        # The meter's 1.4.0 climbs from 0 to the quarter's average: compare it with energy / 900 s.
        measured_w = quarter_snapshot["energy_wh"] * 3600.0 / balancer_time.QUARTER_S
        attributes["meter_average"] = round(decision.meter_average_w)
        attributes["meter_difference"] = round(measured_w - decision.meter_average_w)
    return round(decision.running_average_w), attributes


def setpoint(decision, reason, mode, last_command, last_result):
    """(amps or 'unknown', attributes) of the setpoint; decision None before the first step."""
    return (decision.want_a if decision else "unknown"), {
        "reason": reason,
        "paused": decision.want_paused if decision else None,
        "mode": mode,
        "last_command": last_command.isoformat() if last_command else None,
        "last_result": last_result,
        "car": decision.car if decision else "unknown",
        "charger_reports": decision.charger_reports if decision else "unknown",
        "session_energy": decision.session_kwh if decision else None,
        "unit_of_measurement": "A", "friendly_name": "Wallbox balancer setpoint",
    }


def session(decision, session_snapshot):
    """(state, attributes) of the charging session: no_car, waiting, charging, full, paused or
    short, the plan's figures, and what a restart takes back (plugged_at, delivered_estimate_kwh)."""
    attributes = dict(decision.session_attributes)
    attributes.update(session_snapshot)
    attributes["friendly_name"] = "Wallbox balancer session"
    return decision.session_state, attributes


# The session's figures that move as the car charges (its energy, what is left, the costs, the
# reason that counts them): a change of these alone is written at most every 30 s by the glue.
SESSION_COUNTING = ("delivered_kwh", "delivered_estimate_kwh", "cost_now_eur", "saving_eur", "planned_cost_eur",
                    "planned_finish", "short_kwh", "reason")


def session_news(old, new):
    """Whether the session (state, attributes) new says more than old beyond SESSION_COUNTING:
    a new state, plan, window, departure or need is written at once."""
    if old is None or old[0] != new[0]:
        return True
    for key in list(old[1]) + list(new[1]):
        if key not in SESSION_COUNTING and old[1].get(key) != new[1].get(key):
            return True
    return False


def profile(profile_snapshot, learnt_days, history_days):
    """(state, attributes) of the learnt load profile: the fewest days learnt for any quarter;
    history_days: how many days of house load came from the recorder's statistics."""
    attributes = dict(profile_snapshot)
    attributes["history_days"] = round(history_days, 1)
    attributes["friendly_name"] = "Wallbox balancer load profile"
    attributes["unit_of_measurement"] = "d"
    return min(learnt_days), attributes


def mode(value, modes):
    return value, {"options": list(modes), "friendly_name": "Wallbox balancer mode"}


def peak_message(quarter_start, average_w, target_peak_w, grid_w):
    """The persistent notification's text when a quarter raised the peak above the target."""
    return "This month's peak rose to %.2f kW in the quarter from %s (target %.2f kW; the grid drew %.2f kW as it ended)." % (
        average_w / 1000.0, balancer_time.iso_local(quarter_start), target_peak_w / 1000.0, (grid_w or 0.0) / 1000.0)


class Messages:
    """What a step has to tell the user in the log, each problem once: (level, text) lines."""

    def __init__(self, settings):
        self.settings = settings
        self.grid = balancer_runtime.Notice()
        self.statuses_told = []  # unknown status strings already warned about (each once)
        self.short_quarter = None  # the quarter the short-of-minimum warning was given for

    def after_step(self, d, now, grid_problem, unknown_status, target_peak_w):
        """The log lines for one Decision, and the notification texts for peaks above target."""
        s, said, notify = self.settings, [], []
        failsafe = d.grid == balancer_controller.GRID_FAILSAFE
        if failsafe or d.grid == balancer_controller.GRID_OK:
            # a gap shorter than stale_after (DSMR after a restart, one failed HomeWizard poll) is not a fault
            said.extend(self.grid.lines(
                failsafe or None,
                "grid power %s is %s for more than %d s: fail-safe (%s) until it reports again" % (
                    s.grid_power, grid_problem or "silent", s.stale_after, s.failsafe),
                "grid power %s reports again: normal control resumes" % s.grid_power))
        if unknown_status is not None and unknown_status not in self.statuses_told:
            self.statuses_told = self.statuses_told[-(STATUSES_TOLD_MAX - 1):] + [unknown_status]
            said.append((WARNING, "charger status '%s' from %s is not one the balancer knows: it keeps its last belief about the car (a car connected unless shown otherwise)" % (
                unknown_status, s.charger_status)))
        for start, average_w in d.incomplete_quarters:
            said.append((INFO, "the quarter from %s was not watched from its start (first start): its %.0f W measured so far does not count for the monthly peak" % (
                balancer_time.iso_local(start), average_w)))
        for start, average_w in d.peak_raised:
            said.append((INFO, "new monthly peak %.0f W in the quarter from %s" % (average_w, balancer_time.iso_local(start))))
            if s.notify and average_w > target_peak_w:
                notify.append(peak_message(start, average_w, target_peak_w, d.last_grid_w))
        quarter = balancer_time.quarter_start(now)
        if d.limit_at_risk and self.short_quarter != quarter:
            # without a pause switch the minimum current may break the limit: once per quarter
            self.short_quarter = quarter
            said.append((WARNING, "the budget is below %d A and the charger cannot be paused: holding %d A, the %.0f W limit may be exceeded this quarter" % (
                d.want_a, d.want_a, d.limit_w)))
        return said, notify
