"""The balancer's decision loop: readings and now in, one decision out. No Home Assistant here.

Like evcc's loadpoint, this knows nothing of how the charger is reached; the pyscript app reads the
sensors, calls step(), carries out decision["write"] and publishes the figures.
"""

import balancer_budget
import balancer_charger
import balancer_metering
import balancer_plan
import balancer_time
from balancer_commands import RESUME, CommandGate

FAILSAFE_PAUSE = "pause"
MODE_AUTO = "auto"
MODE_PAUSED = "paused"
MODE_FAST = "fast"
MODE_OFF = "off"
MODES = (MODE_AUTO, MODE_PAUSED, MODE_FAST, MODE_OFF)
# How the grid reading stands (decision["grid"]): fresh; missing for less than stale_after (a
# skipped meter update: hold, no increase); never seen since the start, for less than stale_after
# (Home Assistant starting: write nothing); missing for longer (the fail-safe).
GRID_OK = "ok"
GRID_GAP = "gap"
GRID_WAITING = "waiting"
GRID_FAILSAFE = "failsafe"
INCREASE_HYSTERESIS_A = 0.5
# An increase in the last ENDING_SLOTS command intervals of a quarter (plus the response) goes at
# most one amp above the steady rate.
ENDING_SLOTS = 2
# A grid drop of this share of the car's offered power looks like the car stopping.
STOP_DROP_SHARE = 0.8
# Slack when judging whether a pause can wait: a few meter updates (5 s each) plus the meter's
# delay. 5 s to 30 s measured the same on the sample week; the larger is the safer.
PAUSE_SLACK_S = 30.0


class Controller:
    """Quarter meter, monthly peak, charger/car model, pause plan and command gate for one charger."""

    def __init__(self, settings):
        self.settings = settings
        self.meter = balancer_metering.QuarterMeter()
        self.peak = balancer_metering.MonthlyPeak()
        self.plan = balancer_plan.ChargePlan(settings["resume_after"])
        self.gate = CommandGate(
            settings["min_command_interval"], settings["increase_interval"], settings["min_increase"]
        )
        self.charger = balancer_charger.ChargerModel(settings["charger_response"])
        self.started_at = None  # the first step: the grid gets stale_after from here to report
        self.grid_at = None  # when the last usable grid reading was reported
        self.parked = False  # the park write of this spell without a car was accepted
        self.meter_quarter = (None, None)  # (quarter_start, J) of the meter's 1.4.0 last seen
        self.reason_key = None
        self.reason_text = None

    def step(self, now, reading):
        """One control step.

        reading: grid_w (offtake W, negative = export; None when unusable), grid_at (when the
        meter reported it), charger (balancer_charger.ChargerObservation), target_peak_w, max_a,
        min_a (runtime values), mode (one of MODES), meter_energy_j (the meter's own energy of
        this quarter, None when not fresh or not configured), meter_peak_w (the meter's month peak
        when it belongs to this month, else None).
        Returns a dict of figures, the wanted state, and "write": the one write to send now or None.
        """
        s = self.settings
        if self.started_at is None:
            self.started_at = now
        self.charger.observe(now, reading["charger"])
        grid_fresh = reading["grid_w"] is not None
        if grid_fresh:
            self.grid_at = min(now, reading["grid_at"] or now)
        previous_w = self.meter.last_power_w
        closed = self.meter.advance(now, reading["grid_w"], reading["grid_at"] if grid_fresh else None)
        raised, incomplete = self._close_quarters(closed, reading["meter_peak_w"])
        if reading["meter_energy_j"] is not None:
            self.meter_quarter = (self.meter.quarter_start, reading["meter_energy_j"])
        self.peak.roll_to(now)
        peak_w = max(self.peak.peak_w, reading["meter_peak_w"] or 0.0)
        limit_w = balancer_metering.capacity_limit_w(peak_w, reading["target_peak_w"])
        # What Fluvius bills is the meter's figure: when it says more was drawn, believe it.
        energy_j = max(self.meter.budget_energy_j(), reading["meter_energy_j"] or 0.0)

        charger = self.charger
        if not charger.car_absent():
            self.parked = False
        grid_age_s = (now - self.grid_at).total_seconds() if self.grid_at is not None else None
        grid_ok = grid_age_s is not None and grid_age_s <= s["stale_after"]
        # A meter that has not spoken since the start (Home Assistant restarting: DSMR needs its
        # first telegram) gets stale_after before the fail-safe; until then nothing is written.
        grid_waiting = self.grid_at is None and (now - self.started_at).total_seconds() <= s["stale_after"]
        if grid_ok:
            grid = GRID_OK if grid_fresh else GRID_GAP
        else:
            grid = GRID_WAITING if grid_waiting else GRID_FAILSAFE
        charger_a = reading["charger"].amps
        shown_paused = charger.paused() if s["has_pause_switch"] else None
        paused_now = shown_paused is True or self.plan.paused
        grid_w = self.meter.last_power_w or 0.0
        ev_w = balancer_budget.ev_power_estimate_w(
            charger_a, paused_now or charger.car_absent() or charger.not_asking(), s["voltage"], s["phases"],
            reading["charger"].power_w, self._charger_fresh(now), grid_w,
        )
        house_w = balancer_budget.house_load_w(grid_w, ev_w)
        if grid_fresh and previous_w is not None and not paused_now and charger.car is not False:
            offered_w = balancer_budget.power_for_amps(charger_a or 0, s["voltage"], s["phases"])
            if offered_w > 0 and previous_w - grid_w >= STOP_DROP_SHARE * min(offered_w, previous_w):
                # The grid fell by about what the car draws: it may have been unplugged or got
                # full. Raising its current would be a write for nothing; wait for the next read.
                charger.suspect_stop(now)
        remaining_s = self.meter.remaining_s(now)
        allowance_w, bound = balancer_budget.ev_allowance_w(
            limit_w, s["margin"], energy_j, remaining_s, house_w, ev_w,
            s["charger_response"], s["min_command_interval"],
        )
        max_a = charger.max_a(reading["max_a"])
        # The plan may pause whenever a switch is configured; while the switch is unavailable (no
        # car connected) no pause is sent.
        can_pause = s["has_pause_switch"]
        mode = reading["mode"]
        hold = False  # True: write nothing this step
        if charger.car_absent():
            self.plan.paused = False
            self.plan.resume_ok_since = None
            want_paused, want_a, short = False, s["park_current"], False
            reason = "no car: the charger waits at %d A for the next session" % want_a
            hold = self.parked or mode == MODE_OFF
        elif mode == MODE_FAST:
            want_paused, want_a, short = False, max_a, False
            self.plan.paused = False
            reason = "fast: %d A, the limit is ignored (mode fast)" % want_a
        elif mode == MODE_PAUSED:
            self.plan.force_pause()
            want_paused, want_a, short = can_pause, reading["min_a"], not can_pause
            reason = "paused by the user (mode paused)"
            if not can_pause:
                reason = "mode paused without a pause_switch: holding %d A" % want_a
        elif charger.not_asking():
            want_paused, want_a, short = shown_paused is True, charger_a or reading["min_a"], False
            reason = "car connected, not asking for energy (full, or its own timer): no writes until it asks"
            hold = True
        elif grid_ok:
            # A pause could take effect after the next free slot and the response, plus slack for
            # the meter's own delay and update period.
            wait_s = self.gate.seconds_until_free(now) + s["charger_response"] + PAUSE_SLACK_S
            affordable = balancer_budget.minimum_affordable(
                limit_w, s["margin"], energy_j, remaining_s, house_w, ev_w, s["charger_response"], wait_s,
                balancer_budget.power_for_amps(reading["min_a"], s["voltage"], s["phases"]),
            )
            want_paused, want_a, short = self.plan.decide(
                now, allowance_w, s["voltage"], s["phases"], reading["min_a"], max_a, can_pause,
                affordable,
            )
            want_a = self._damp_increase(want_a, want_paused, allowance_w, charger_a)
            if charger_a is not None and want_a > charger_a and remaining_s < s["charger_response"] + ENDING_SLOTS * s["min_command_interval"]:
                # The quarter's last minutes: what is left would be spent in a burst (16 -> 17 ->
                # 18 A) and taken back at the next quarter's start. At most one amp above the
                # steady rate, which the next quarter can carry on.
                steady_a = balancer_budget.amps_for_power(limit_w - s["margin"] - house_w, s["voltage"], s["phases"])
                want_a = max(charger_a, min(want_a, steady_a + 1))
            if not want_paused and charger_a is not None and want_a < charger_a <= max_a and shown_paused is not True:
                if grid_fresh and balancer_budget.decrease_can_wait(
                        limit_w - s["margin"], energy_j, remaining_s, house_w,
                        balancer_budget.power_for_amps(charger_a, s["voltage"], s["phases"]),
                        balancer_budget.power_for_amps(want_a, s["voltage"], s["phases"]), wait_s):
                    want_a = charger_a
            if charger_a is not None and want_a > charger_a and not (grid_fresh and charger.read_since_change()):
                # No increase on an old grid reading (the meter skipped an update), nor before the
                # charger was read after the last change: a car that left or got full takes
                # nothing more, and each write restarts the Wallbox poll that would show it.
                want_a = charger_a
            reason = self._reason(want_paused, want_a, short, house_w, limit_w, energy_j, bound, remaining_s, max_a)
        elif grid_waiting:
            want_paused, want_a, short = shown_paused is True, charger_a or reading["min_a"], False
            reason = "waiting for the first grid reading (up to %d s)" % s["stale_after"]
            hold = True
        else:
            want_paused, want_a, short = self._failsafe(reading, can_pause)
            reason = "fail-safe: no fresh grid reading"
        write = None
        if mode == MODE_OFF:
            reason = "off: the balancer leaves the charger alone (mode off)"
        elif not hold:
            write = self.gate.next_write(now, want_paused, want_a, charger_a, shown_paused)
            if write is not None and write[0] == RESUME and not charger.read_since_change():
                write = None  # a resume waits for a read of the charger after the pause, like an increase
        return {
            "peak_raised": raised,
            "incomplete_quarters": incomplete,
            "grid": grid,
            "limit_w": limit_w,
            "peak_w": peak_w,
            "energy_j": energy_j,
            "house_w": house_w,
            "remaining_s": remaining_s,
            "want_paused": want_paused,
            "want_a": want_a,
            "short_of_minimum": short,
            "reason": reason,
            "write": write,
        }

    def _close_quarters(self, closed, meter_peak_w):
        """Offer each closed quarter to the monthly peak. A quarter the app did not watch from its
        start counts only with the meter's own figure for it (1.4.0); without one it is left out.
        Returns (quarters that raised the month's peak, the meter's included; quarters left out),
        each (start, average_w)."""
        raised, incomplete = [], []
        for start, average_w, covered_s, complete in closed:
            if not complete:
                meter_start, meter_j = self.meter_quarter
                if meter_start != start or meter_j is None:
                    incomplete.append((start, average_w))
                    continue
                average_w = max(average_w, meter_j / balancer_time.QUARTER_S)
            if self.peak.observe(start, average_w) and average_w > (meter_peak_w or 0.0):
                raised.append((start, average_w))
        return raised, incomplete

    def _damp_increase(self, want_a, want_paused, allowance_w, charger_a):
        """Raise the current only when the budget holds half an amp more than the new setpoint.

        Near the steady rate the allowance wobbles around an amp boundary; without this the
        charger would get 12, 13, 12, 13 A, a write every slot for nothing.
        """
        if want_paused or charger_a is None or want_a <= charger_a:
            return want_a
        s = self.settings
        damped_a = balancer_budget.amps_for_power(allowance_w - INCREASE_HYSTERESIS_A * s["voltage"] * s["phases"], s["voltage"], s["phases"])
        return max(charger_a, min(want_a, damped_a))

    def command_sent(self, now):
        """The app attempted decision['write'] now (it used the slot, whatever the outcome)."""
        self.gate.sent(now)

    def command_accepted(self, now, write):
        """The charger accepted decision['write'] (the blocking call returned without error)."""
        kind, amps = write
        self.charger.accepted(now, kind, amps)
        if self.charger.car_absent():
            self.parked = True

    def _charger_fresh(self, now):
        """The charger's power sensor is believed only when the charger was really read (not a
        write's echo) recently, after the last change took effect."""
        age_s = self.charger.data_age_s(now)
        return age_s is not None and age_s <= self.settings["stale_after"] * 3 and self.charger.power_fresh()

    def _failsafe(self, reading, can_pause):
        self.plan.resume_ok_since = None
        if self.settings["failsafe"] == FAILSAFE_PAUSE and can_pause:
            self.plan.force_pause()
            return True, reading["min_a"], False
        return False, reading["min_a"], False

    def _reason(self, want_paused, want_a, short, house_w, limit_w, energy_j, bound, remaining_s, max_a):
        """The decision in words; rebuilt only when a figure it shows changes (it runs every step)."""
        left_kwh = self._left_kwh(limit_w, energy_j)
        ending = bound == "steady" and remaining_s < 120
        key = (want_paused, want_a, short, round(house_w / 100.0), round(limit_w / 100.0), round(left_kwh * 10.0), ending, max_a)
        if key == self.reason_key:
            return self.reason_text
        self.reason_key = key
        self.reason_text = self._reason_text(want_paused, want_a, short, house_w, limit_w, left_kwh, ending, max_a)
        return self.reason_text

    def _reason_text(self, want_paused, want_a, short, house_w, limit_w, left_kwh, ending, max_a):
        figures = "%.1f kW house load, %.1f kW limit, %.1f kWh left this quarter" % (
            house_w / 1000.0, limit_w / 1000.0, left_kwh,
        )
        if short:
            return "short of minimum: holding %d A without a pause switch (%s)" % (want_a, figures)
        if want_paused:
            return "paused: budget below the minimum current (%s)" % figures
        if want_a >= max_a:
            return "full speed: %d A (%s)" % (want_a, figures)
        if ending:
            return "quarter ending: %d A at the steady rate (%s)" % (want_a, figures)
        return "limited: %d A (%s)" % (want_a, figures)

    def _left_kwh(self, limit_w, energy_j):
        target_j = (limit_w - self.settings["margin"]) * balancer_time.QUARTER_S
        return max(0.0, target_j - energy_j) / 3600000.0
