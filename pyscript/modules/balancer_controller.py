"""The balancer's decision loop: readings and now in, one decision out. No Home Assistant here.

Like evcc's loadpoint, this knows nothing of how the charger is reached: the pyscript app reads the
sensors into a Reading, calls step(), carries out Decision.write and publishes the Decision's
figures. All the controller's state is in Controller.__init__, one commented field each.
"""

import balancer_budget
import balancer_charger
import balancer_metering
import balancer_plan
import balancer_planner
import balancer_profile
import balancer_registers
import balancer_solar
import balancer_time
from balancer_commands import CURRENT, PAUSE, RESUME, CommandGate

FAILSAFE_PAUSE = "pause"
MODE_AUTO = "auto"
MODE_PAUSED = "paused"
MODE_FAST = "fast"
MODE_OFF = "off"
# Charge only from the solar surplus (issue 16, balancer_solar); a plan's deadline still wins.
MODE_SOLAR = "solar"
MODES = (MODE_AUTO, MODE_SOLAR, MODE_PAUSED, MODE_FAST, MODE_OFF)
# How the grid reading stands (Decision.grid): fresh; missing for less than stale_after (a
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
# The charger's power sensor is believed for this many stale_after after a real read.
CHARGER_FRESH_STALE_AFTERS = 3
# A meter that reports every P s hides a house jump for up to P s, which lands on the quarter: the
# margin grows by BLIND_JUMP_W x (P - BLIND_FREE_S) / 900 s (DSMR's default 30 s: +111 W). Beyond
# BLIND_MAX_S the gap is an outage (the fail-safe's business), not the meter's period.
BLIND_JUMP_W = 4000.0
BLIND_FREE_S = balancer_metering.READING_HOLDS_S
BLIND_MAX_S = 60.0
METER_PERIOD_DECAY = 0.99  # per report: a slower period shows at once, a faster one in minutes
# The car's energy is counted between two steps at most this far apart (a longer gap: unknown).
CAR_COUNT_MAX_S = 60.0
# A session saved longer ago than this is not taken back at a restart: the car may have left and
# come back while the app was down (a new session counts from 0: at worst the car gets its need
# again, never less than it).
SESSION_RESTORE_MAX_S = 12 * 3600
# Room for the usual jump (issue 15): the car stays out of a quarter where the budget leaves it
# less than its minimum plus this many of the house's usual upward jumps in that quarter (learnt,
# balancer_profile.usual_jump_w). Such a quarter gives the car little, and a usual jump of the
# house alone then sets a new monthly peak, to which every joule the car drew in it adds. 1.5 to 3
# measured alike on the shared traces; 2 kept the light house's energy and halved the worst case.
# It holds with and without a plan: a plan chooses the quarters, this the room inside them.
RISK_JUMPS = 2.0
# States of pyscript.wallbox_balancer_session (issue 10), besides the planner's own.
SESSION_NO_CAR = "no_car"
SESSION_CHARGING = "charging"
SESSION_FULL = "full"
SESSION_PAUSED = "paused"
# The car "charged in the quarter before" (the planner then holds its running window, see
# balancer_planner.JOIN_EUR_PER_KWH) when it drew at least this much in it: a minute at 6 A.
RUNNING_MIN_J = 60 * 6 * 230.0


class Reading:
    """What the glue read at one step. Powers in W (export negative), times aware UTC; None where
    a sensor is not configured or gave nothing usable.

    grid_w / grid_at: the grid power and when the meter reported it; charger: a
    balancer_charger.ChargerObservation; target_peak_w, min_a, max_a: the settings as they stand
    now (input_number tuning, the number entity's own range); mode: one of MODES;
    meter_average_w / meter_average_at: the meter's running quarter average (1-0:1.4.0) and when
    it was reported; meter_peak_w / meter_peak_changed_at: the meter's month peak (1-0:1.6.0) and
    when it last changed; prices / export_prices: the balancer_prices.PriceTable of a kWh drawn /
    exported (issue 16), None when not configured. The glue hands over the same table object until
    its input changes: a new object is what makes the session planner plan again.
    """

    def __init__(self, grid_w, grid_at, charger, target_peak_w, min_a, max_a, mode=MODE_AUTO,
                 meter_average_w=None, meter_average_at=None, meter_peak_w=None, meter_peak_changed_at=None,
                 departure=None, energy_needed_kwh=None, prices=None, export_prices=None, pv_forecast=None, current_fits=True,
                 zero_fits=True):
        self.grid_w = grid_w
        self.grid_at = grid_at
        self.charger = charger
        self.target_peak_w = target_peak_w
        self.min_a = min_a
        self.max_a = max_a
        self.mode = mode
        self.meter_average_w = meter_average_w
        self.meter_average_at = meter_average_at
        self.meter_peak_w = meter_peak_w
        self.meter_peak_changed_at = meter_peak_changed_at
        self.departure = departure  # "HH:MM", or an input_datetime's state; None: not planned
        self.energy_needed_kwh = energy_needed_kwh  # kWh to add this session; None: not planned
        self.prices = prices  # import PriceTable; None: plan the safest quarters
        self.export_prices = export_prices  # export PriceTable; None: an exported kWh earns nothing
        self.pv_forecast = pv_forecast  # {quarter start: W} of a solar forecast; None: none
        self.current_fits = current_fits  # False: max_a is below the charger's lowest current (min_a = max_a = that)
        self.zero_fits = zero_fits  # False: pause_at_zero, but the number entity takes no 0 A (its min is above)


class Decision:
    """One step's outcome: the wanted charger state, the one write to send now (or None), and
    every figure the app publishes, so the glue never reaches into the controller."""

    def __init__(self):
        self.write = None  # (kind, amps) from balancer_commands, or None
        self.want_paused = False
        self.want_a = None
        self.short_of_minimum = False  # below min_current and no pause switch
        self.limit_at_risk = False  # ... and holding min_current would take the quarter over the limit
        self.reason = ""  # the decision in words, for the setpoint's `reason`
        self.grid = GRID_OK  # GRID_OK, GRID_GAP, GRID_WAITING or GRID_FAILSAFE
        self.peak_raised = []  # closed quarters that raised the month's peak: (start, average_w)
        self.incomplete_quarters = []  # closed quarters left out of the peak: (start, average_w)
        self.limit_w = 0.0  # max(month's peak incl. the meter's, target)
        self.peak_w = 0.0  # the month's peak: max(own, the meter's trusted 1.6.0)
        self.own_peak_w = 0.0
        self.peak_month = None  # "YYYY-MM"
        self.peak_quarter = None  # start of the own peak's quarter (UTC)
        self.energy_j = 0.0  # what the budget counts as drawn this quarter
        self.house_w = 0.0
        self.remaining_s = 0.0
        self.projected_w = 0.0  # end-of-quarter average if the present grid power holds
        self.running_average_w = 0.0  # average over the part of the quarter that has passed
        self.last_grid_w = None  # the grid power held now
        self.meter_average_w = None  # the meter's 1.4.0 as read (W)
        self.meter_peak_w = None  # the meter's 1.6.0 as read (W), trusted or not
        self.car = "unknown"  # balancer_charger.ChargerModel.car_text()
        self.charger_reports = "unknown"  # ... reports_text(): polled, on_change or unknown
        self.session_kwh = None
        self.session_state = SESSION_NO_CAR  # pyscript.wallbox_balancer_session's state
        self.session_attributes = {}  # ... and attributes (balancer_planner.plan_attributes)
        self.profile_learnt = False  # a closed quarter was added to the load profile


class Controller:
    """Quarter meter, monthly peak, charger/car model, pause plan and command gate for one charger."""

    def __init__(self, settings):
        self.settings = settings  # balancer_config.Settings
        self.meter = balancer_metering.QuarterMeter()  # this quarter's energy
        self.peak = balancer_metering.MonthlyPeak()  # this month's own peak
        self.meter_peak_guard = balancer_registers.MeterPeakGuard()  # is the meter's 1.6.0 this month's?
        self.plan = balancer_plan.ChargePlan(settings.resume_after)  # pause and resume
        self.gate = CommandGate(  # the one write per slot, and when the last one was sent
            settings.min_command_interval, settings.increase_interval, settings.min_increase
        )
        self.charger = balancer_charger.ChargerModel(  # charger and car
            settings.charger_response, settings.min_command_interval + settings.charger_response, settings.charger_reports)
        self.write_failed = False  # the last write attempt got no answer: the next slot retries it
        self.started_at = None  # the first step: the grid gets stale_after from here to report
        self.grid_at = None  # when the last usable grid reading was reported
        self.meter_period_s = 0.0  # how often the meter reports (a decaying maximum of its gaps)
        self.parked = False  # the park write of this spell without a car was accepted
        self.max_a = settings.max_current  # the highest current a write may carry, as of the last step
        self.meter_quarter = (None, None)  # (quarter_start, J) of the meter's 1.4.0 last seen
        self.reason_key = None  # the figures the last reason text showed
        self.reason_text = None
        # the session planner (issue 10)
        self.profile = balancer_profile.LoadProfile()  # the house's usual quarters, learnt
        self.session = None  # balancer_planner.Session while a car is plugged in
        self.saved_at = None  # when the app last saved its state before this start (UTC; None: unknown)
        self.session_restored = False  # a restored session not yet checked against its departure
        self.session_plan = None  # the last balancer_planner.SessionPlan
        self.planned_for = None  # (quarter_start, need_kwh, departure_utc, price tables) of that plan
        self.last_step_at = None
        self.last_ev_w = 0.0  # the car's estimated draw since the last step
        self.quarter_car_j = 0.0  # the car's estimated energy in the running quarter
        self.previous_quarter_car_j = 0.0  # ... and in the quarter before
        self.last_export_w = 0.0  # the grid's export (W, >= 0) at the last fresh reading
        self.quarter_export_j = 0.0  # the grid's export in the running quarter (the profile's net)
        self.solar = balancer_solar.SolarFollower()  # the surplus and the start/stop of mode solar
        self.deadline_won = False  # mode solar: the session's deadline took over, until met or unplugged
        self.session_attributes_key = None  # the figures session_attributes shows
        self.session_attributes = {}

    def step(self, now, reading):
        """One control step: a Reading in, a Decision out."""
        s = self.settings
        d = Decision()
        first_step = self.started_at is None
        if first_step:
            self.started_at = now
        charger = self.charger
        charger.observe(now, reading.charger)
        if not charger.car_absent():
            self.parked = False
        grid_fresh = reading.grid_w is not None
        previous_w = self.meter.last_power_w
        self._count_car(now)
        if grid_fresh:
            self.last_export_w = max(0.0, -reading.grid_w)
        self._meter(now, reading, d)
        limit_w, energy_j = d.limit_w, d.energy_j
        grid_ok, grid_waiting = self._grid(now, grid_fresh, d)

        charger_a = self._held_a(reading)
        shown_paused = charger.paused() if s.has_pause_switch else None
        if s.pause_at_zero and charger_a is not None:
            shown_paused = charger_a == 0  # (paused by a current of 0 A)
        if shown_paused is True and first_step and not self.plan.paused:
            # the first step after a (re)start finds the car paused: resuming waits as after a
            # pause of this run (resume_after), not at the first allowance above the minimum
            self.plan.force_pause()
        paused_now = shown_paused is True or self.plan.paused
        grid_w = self.meter.last_power_w or 0.0
        ev_w = balancer_budget.ev_power_estimate_w(
            charger_a, paused_now or charger.car_absent() or charger.not_asking(), s.voltage, s.phases,
            reading.charger.power_w, self._charger_fresh(now), grid_w,
        )
        house_w = balancer_budget.house_load_w(grid_w, ev_w)
        if grid_fresh and previous_w is not None and not paused_now and charger.car is not False:
            offered_w = self._amps_w(charger_a or 0)
            drop_w = previous_w - grid_w
            if offered_w > 0 and drop_w > 0 and drop_w >= STOP_DROP_SHARE * min(offered_w, previous_w):
                # The grid fell by about what the car draws: it may have been unplugged or got
                # full. Raising its current would be a write for nothing; wait for the next read.
                # (No drop, no suspicion: a grid held at 0 W by the panels' export, issue 16.)
                charger.suspect_stop(now)
        self.last_ev_w = ev_w
        remaining_s = self.meter.remaining_s(now)
        budget = balancer_budget.QuarterBudget(limit_w, s.margin + self._blind_margin_w(), energy_j, remaining_s, house_w, ev_w)
        max_a = charger.max_a(reading.max_a)
        self.max_a = max_a
        plan = self._plan_session(now, reading, limit_w, max_a, d)
        budget = self._room_for_the_usual_jump(budget, reading.min_a)
        # no pause is sent while the switch is unavailable (no car), nor as 0 A to a number that takes no 0 A
        can_pause = self._can_pause(reading)
        mode = reading.mode
        if grid_fresh:
            # The surplus: the car's draw (its setpoint's power, unclamped: with panels the car can
            # draw more than the grid gives) minus the grid's net power.
            self.solar.observe(now, balancer_budget.ev_power_estimate_w(
                charger_a, paused_now or charger.car_absent() or charger.not_asking(), s.voltage, s.phases,
                reading.charger.power_w, self._charger_fresh(now), float("inf")) - reading.grid_w)
        solar = mode == MODE_SOLAR and plan is None  # else auto, or the deadline needs the grid
        soak_w = self._soak_start_w(mode, plan, reading)
        soak = soak_w is not None
        if not (solar or soak) or charger.car_absent():
            self.solar.reset()
        hold = False  # True: write nothing this step
        if charger.car_absent():
            self.plan.release()
            self.plan.reset_resume_wait()
            # inside the range as it stands: a tuned max_current or the number's own max may be lower
            want_paused, want_a, short = False, min(max(s.park_current, reading.min_a), max_a), False
            reason = "no car: the charger waits at %d A for the next session" % want_a
            hold = self.parked or mode == MODE_OFF
        elif not reading.current_fits:
            # max_current below the charger's lowest current: nothing allowed can be written (a
            # write of it is refused at every slot and the charger keeps what it had)
            self.plan.force_pause()
            want_paused, want_a, short = can_pause, reading.min_a, not can_pause
            reason = "max_current is below the charger's lowest current (%d A): paused" % want_a
            if not can_pause:
                reason = "max_current is below the charger's lowest current: holding that, %d A, without a pause_switch" % want_a
        elif mode == MODE_FAST:
            want_paused, want_a, short = False, max_a, False
            self.plan.release()
            reason = "fast: %d A, the limit is ignored (mode fast)" % want_a
        elif mode == MODE_PAUSED:
            self.plan.force_pause()
            want_paused, want_a, short = can_pause, reading.min_a, not can_pause
            reason = "paused by the user (mode paused)"
            if not can_pause:
                reason = "mode paused without a pause_switch: holding %d A" % want_a
        elif charger.not_asking():
            want_paused, want_a, short = shown_paused is True, charger_a or reading.min_a, False
            reason = "car connected, not asking for energy (full, or its own timer): no writes until it asks"
            hold = True
        elif soak and can_pause and grid_ok:
            # A price plan waits for its cheap quarters, and meanwhile the car takes the panels'
            # surplus, as in mode solar: a kWh not exported costs the export price, below any
            # import price, and what it delivers leaves fewer grid quarters to buy.
            want_paused, want_a, short, reason = self._solar(
                now, reading, charger_a, max_a, can_pause, shown_paused,
                self._balance(now, reading, budget, charger_a, shown_paused, max_a, grid_fresh, False), soak_w)
            if want_paused and not self.solar.on and self.solar.since is None:
                # (once the start's clock runs, the budget's own resume wait runs beside it)
                self.plan.force_pause()
            reason = "%s; meanwhile %s" % (plan.reason, reason)
            d.session_state = balancer_planner.STATE_WAITING if want_paused else SESSION_CHARGING
        elif plan is not None and not plan.charge_now and can_pause:
            # The session planner keeps this quarter free: the car waits for a safer one.
            self.plan.force_pause()
            want_paused, want_a, short = True, reading.min_a, False
            reason = plan.reason
        elif grid_ok:
            want_paused, want_a, short, reason = self._balance(
                now, reading, budget, charger_a, shown_paused, max_a, grid_fresh, plan is None)
            if solar:
                want_paused, want_a, short, reason = self._solar(
                    now, reading, charger_a, max_a, can_pause, shown_paused, (want_paused, want_a, short, reason))
                if d.session_state in (balancer_planner.STATE_WAITING, balancer_planner.STATE_CHARGING):
                    # the session shows what the sun does, not the windows auto would charge in
                    d.session_state = balancer_planner.STATE_WAITING if want_paused else SESSION_CHARGING
        elif grid_waiting:
            want_paused, want_a, short = shown_paused is True, charger_a or reading.min_a, False
            reason = "waiting for the first grid reading (up to %d s)" % s.stale_after
            hold = True
        else:
            want_paused, want_a, short = self._failsafe(reading, can_pause)
            reason = "fail-safe: no fresh grid reading"
        if mode == MODE_SOLAR and plan is not None and not charger.car_absent():
            reason = "solar, but the departure needs the grid: " + reason
        if mode == MODE_OFF:
            reason = "off: the balancer leaves the charger alone (mode off)"
        elif not hold:
            d.write = self.gate.next_write(now, want_paused, want_a, charger_a, shown_paused)
            if d.write is not None and d.write[0] == RESUME and (not charger.read_since_change() or charger.resume_waits(now)):
                # a resume waits for a read of the charger after the pause, like an increase; and
                # after resumes that did not take, a while (no remote start every minute)
                d.write = None
            if d.write is not None and s.pause_at_zero and d.write[0] != CURRENT:
                d.write = (CURRENT, 0 if d.write[0] == PAUSE else want_a)
        d.want_paused, d.want_a, d.short_of_minimum, d.reason = want_paused, want_a, short, reason
        changed_at = charger.changed_at
        if short and (changed_at is None or (now - changed_at).total_seconds() >= s.charger_response):
            # (judged once the last change took effect: until then the house load counts what the
            # car still draws above its new current)
            d.limit_at_risk = budget.minimum_breaks_limit(
                self._minimum_in_s(now, want_a), self._amps_w(want_a))
        d.house_w, d.remaining_s = house_w, remaining_s
        d.projected_w = budget.projected_average_w(self.meter.last_power_w or 0.0)
        d.car, d.session_kwh, d.charger_reports = charger.car_text(), charger.session_kwh, charger.reports_text()
        return d

    def _amps_w(self, amps):
        """The car's power (W) at these amps, at the configured voltage and phases."""
        return balancer_budget.power_for_amps(amps, self.settings.voltage, self.settings.phases)

    def _soak_start_w(self, mode, plan, reading):
        """Mode auto with a price plan that waits for its quarters (need not met): the surplus (W)
        from which the car takes it meanwhile (balancer_solar.soak_start_w), while the surplus
        reaches it or the car is taking it; None otherwise (no surplus, no prices: the plan's
        pause as before, and step() stops the follower's clock)."""
        if mode != MODE_AUTO or plan is None or plan.charge_now or reading.prices is None:
            return None
        if plan.state != balancer_planner.STATE_WAITING or self.meter.quarter_start is None:
            return None
        q = self.meter.quarter_start
        export_eur = reading.export_prices.price(q) if reading.export_prices is not None else None
        start_w = balancer_solar.soak_start_w(
            self._amps_w(reading.min_a), reading.prices.price(q),
            balancer_planner.DEFAULT_EXPORT_EUR_PER_KWH if export_eur is None else export_eur,
            plan.marginal_eur_per_kwh)
        if self.solar.on or self.solar.covers(start_w):
            return start_w
        return None

    def _solar(self, now, reading, charger_a, max_a, can_pause, shown_paused, balanced, start_w=None):
        """Mode solar: the car charges only from the surplus (balancer_solar), never above what
        the quarter budget allows (balanced: _balance's (paused, amps, short, reason)). A car
        that is charging while the start's clock runs (the mode was just chosen with the sun out)
        holds the minimum instead of a pause and a resume START_S later.
        Returns (want_paused, want_a, short_of_minimum, reason)."""
        s = self.settings
        on, solar_a = self.solar.decide(now, reading.min_a, max_a, charger_a, s.voltage, s.phases, start_w)
        paused, amps, short, why = balanced
        surplus = "solar: %.1f kW surplus" % (max(0.0, self.solar.surplus_w or 0.0) / 1000.0)
        if not on:
            min_w = self._amps_w(reading.min_a)
            minimum = "%.1f kW minimum" % (min_w / 1000.0)
            if start_w is not None and start_w < min_w:
                minimum = "%.1f kW that makes the %s cheaper than the plan's dearest quarter" % (start_w / 1000.0, minimum)
            if self.solar.since is not None:
                text = "%s, covers the %s: starting after %d s of it" % (surplus, minimum, balancer_solar.START_S)
            else:
                text = "%s, below the %s" % (surplus, minimum)
            if not can_pause:
                return paused, reading.min_a, short, text + ": holding %d A (no pause_switch)" % reading.min_a
            if self.solar.since is not None and shown_paused is False and not paused:
                # charging already (the switch shows it resumed): no pause for a start that is coming
                return False, reading.min_a, short, text + ": holding %d A" % reading.min_a
            return True, reading.min_a, False, text + ": paused"
        if paused or amps < solar_a:
            return paused, min(amps, solar_a), short, "%s, %d A wanted, the quarter budget says: %s" % (surplus, solar_a, why)
        return False, solar_a, False, "%s, %d A" % (surplus, solar_a)

    def _room_for_the_usual_jump(self, budget, min_a):
        """Where the house usually jumps in this quarter and the budget leaves the car less than its
        minimum plus RISK_JUMPS usual jumps, the budget keeps those jumps for the house for the rest
        of the quarter (so the car pauses, or holds the minimum no longer than that allows).
        Elsewhere, and before the profile has learnt the quarter, the budget as is."""
        if self.meter.quarter_start is None:
            return budget
        reserve_w = RISK_JUMPS * self.profile.usual_jump_w(self.meter.quarter_start)
        if reserve_w <= 0:
            return budget
        s = self.settings
        allowance_w = budget.allowance_w(s.charger_response, s.min_command_interval)[0]
        if allowance_w - reserve_w >= self._amps_w(min_a):
            return budget
        return budget.with_reserve(reserve_w)

    def _house_above_its_usual_high(self, quarter_start, house_w):
        """Whether house_w is above the house's usual high in that quarter, where the profile has
        learnt it (before, its high is the prior's, not the house's)."""
        return self.profile.learnt(quarter_start) and house_w > self.profile.high_w(quarter_start)

    def _pulsing(self, now, budget, min_w):
        """Is the car's minimum above what a whole quarter gives it at the house's present load,
        and at its usual load where the profile has learnt this quarter? Then the car stops once a
        quarter whatever the resume wait (3 x 230 V at 6 A, 4.14 kW, beside a 3.8 kW quarter). A
        house above its usual load (a heat pump's run) will drop back, and the car with it could
        hold its minimum: there the wait still keeps it from stopping and starting with each cycle."""
        house_w = budget.house_w
        quarter_start = balancer_time.quarter_start(now)
        if self.profile.learnt(quarter_start):
            house_w = min(house_w, self.profile.expected_w(quarter_start))
        return budget.steady_w(house_w) < min_w

    def _minimum_in_s(self, now, min_a):
        """Seconds until the charger holds min_a: the response to a write already sent for it, else
        to one at the next free slot."""
        charger, response_s = self.charger, self.settings.charger_response
        if charger.current_written_a == min_a and charger.current_written_at is not None:
            return max(0.0, response_s - (now - charger.current_written_at).total_seconds())
        return self.gate.seconds_until_free(now) + response_s

    def _blind_margin_w(self):
        """What a slow meter adds to the margin (0 for a meter that reports every 5 s or faster)."""
        period_s = min(self.meter_period_s, BLIND_MAX_S)
        return max(0.0, period_s - BLIND_FREE_S) * BLIND_JUMP_W / balancer_time.QUARTER_S

    def _count_car(self, now):
        """The car's estimated energy since the last step: for the load profile (the house alone)
        and, without a session_energy sensor, for what the session delivered. The grid's export
        likewise, for the profile's net (a longer gap counts none: the net errs on the no-surplus
        side)."""
        if self.last_step_at is not None:
            elapsed_s = (now - self.last_step_at).total_seconds()
            if 0 < elapsed_s <= CAR_COUNT_MAX_S:
                self.quarter_car_j += self.last_ev_w * elapsed_s
                self.quarter_export_j += self.last_export_w * elapsed_s
                if self.session is not None:
                    self.session.add_energy(self.last_ev_w * elapsed_s / 3600000.0)
        self.last_step_at = now

    def _plan_session(self, now, reading, limit_w, max_a, d):
        """Keep the session (plug-in to unplug) and its plan (redone each quarter and when the need
        or the departure changes); fill Decision.session_*. Returns the plan, or None when no
        departure and need are set (the car then charges as the budget allows)."""
        s, charger = self.settings, self.charger
        if charger.car_absent():
            self.session, self.session_plan, self.planned_for = None, None, None
            self.deadline_won = False
            d.session_state, d.session_attributes = SESSION_NO_CAR, {"reason": "no car plugged in"}
            return None
        if self.session is None and charger.car is True:
            self.session = balancer_planner.Session(now)
        if self.session_restored and self.session is not None and reading.departure is not None:
            self._drop_a_session_that_left(now, reading.departure)
        counted = None  # what session_energy counted this session (kWh), None without it
        if self.session is not None and s.session_energy and charger.session_kwh is not None:
            counted = self.session.counted_kwh(charger.session_kwh)
        if self.session is None or reading.departure is None or reading.energy_needed_kwh is None:
            d.session_state = SESSION_FULL if charger.not_asking() else SESSION_CHARGING
            d.session_attributes = {"reason": "no departure or energy need set: charging as the quarter allows"}
            return None
        departure = balancer_planner.departure_utc(now, reading.departure, self.session.plugged_at)
        if departure is None:
            # the Reader lets only a readable time through; this keeps the plan's maths from None
            d.session_state = SESSION_FULL if charger.not_asking() else SESSION_CHARGING
            d.session_attributes = {"reason": "departure %s is not a time: charging as the quarter allows" % reading.departure}
            return None
        delivered = counted if counted is not None else self.session.delivered_kwh
        need = reading.energy_needed_kwh
        # The plan decides for the quarter in which a command sent now takes effect: from the
        # charger's response plus a write slot before a quarter's end, the next one. Planned at
        # the quarter's start, a car whose window the new plan no longer holds ran on into that
        # quarter until its pause took effect (H6 January, no history, with prices: 7.4 kW until
        # 14:01 into a Sunday quarter where the house alone then went over the limit, +277 W).
        plan_at = self._plan_at(now, departure)
        # The tables themselves in the key (compared by identity, and kept alive so no new one can
        # get an old one's id): a new table from the glue (tomorrow's prices at 13:00) plans again.
        key = (balancer_time.quarter_start(plan_at), need, departure, reading.prices, reading.export_prices)
        done = need - delivered < balancer_planner.DONE_KWH
        if key != self.planned_for or (done and self.session_plan.state != balancer_planner.STATE_FULL):
            self.planned_for = key
            self.session_plan = balancer_planner.plan_session(
                plan_at, departure, need, delivered, limit_w, s.margin,
                self._amps_w(max_a),
                self._amps_w(reading.min_a), self.profile,
                prices=reading.prices, export=reading.export_prices, running=self._running(),
                pv_forecast=reading.pv_forecast, surplus_now_w=self.solar.surplus_w, can_pause=self._can_pause(reading),
                drift_w=self.profile.drift.drift_w(plan_at))
        plan = self.session_plan
        d.session_state = plan.state
        if charger.not_asking():
            d.session_state = SESSION_FULL
        elif reading.mode == MODE_PAUSED:
            d.session_state = SESSION_PAUSED
        key = (id(plan), round(delivered, 1), need, departure)
        if key != self.session_attributes_key:
            # rebuilt only when a figure it shows changes: this runs every step
            self.session_attributes_key = key
            self.session_attributes = balancer_planner.plan_attributes(plan, need, delivered, departure)
        d.session_attributes = self.session_attributes
        if reading.mode == MODE_SOLAR:
            # The deadline wins once the need takes every quarter left, and for the rest of the
            # session (until the need is met): a car let go back to the sun at every quarter whose
            # plan was just short of tight stopped and started at the edge, and missed by the
            # last quarters' shortfall (24 of 32 sessions on H3 July with PV, 0.4 kWh each).
            self.deadline_won = plan.state != balancer_planner.STATE_FULL and (self.deadline_won or plan.needs_grid)
            return plan if self.deadline_won else None
        return plan if reading.mode == MODE_AUTO else None

    def _plan_at(self, now, departure):
        """The moment the plan is made for: now, or, once a command sent now would take effect in
        the next quarter (the charger's response plus a write slot before this one's end), the
        next quarter's start (not past the departure)."""
        s = self.settings
        lead_s = s.charger_response + s.min_command_interval
        if self.meter.quarter_start is None or self.meter.remaining_s(now) >= lead_s:
            return now
        next_start = balancer_time.quarter_end(now)
        return next_start if next_start < departure else now

    def _running(self):
        """The car charged, in the quarter before or in this one so far, under a plan that said
        charge: the planner then holds its window rather than pause it for a cent."""
        plan = self.session_plan
        charged_j = max(self.previous_quarter_car_j, self.quarter_car_j)
        return plan is not None and plan.charge_now and charged_j >= RUNNING_MIN_J

    def _meter(self, now, reading, d):
        """Integrate the grid reading, close quarters into the month's peak, and fill the metering
        figures of the decision (limit, peak, the energy the budget counts)."""
        s = self.settings
        grid_fresh = reading.grid_w is not None
        if grid_fresh:
            reported_at = min(now, reading.grid_at or now)
            if self.grid_at is not None and reported_at > self.grid_at:
                # the meter's update period, as it reports: the longest of the last few
                gap_s = (reported_at - self.grid_at).total_seconds()
                self.meter_period_s = max(gap_s, self.meter_period_s * METER_PERIOD_DECAY)
            self.grid_at = reported_at
        closed = self.meter.advance(now, reading.grid_w, reading.grid_at if grid_fresh else None)
        meter_peak_w = self.meter_peak_guard.trusted_peak_w(now, reading.meter_peak_w, reading.meter_peak_changed_at)
        meter_energy_j = None
        if reading.meter_average_w is not None and reading.meter_average_at is not None:
            age_s = (now - reading.meter_average_at).total_seconds()
            meter_energy_j = balancer_registers.meter_quarter_energy_j(
                reading.meter_average_w, reading.meter_average_at, balancer_time.quarter_start(now), age_s, s.stale_after)
        d.peak_raised, d.incomplete_quarters = self._close_quarters(closed, meter_peak_w)
        revised = self.meter.take_revised()  # (after the close: the same report can close and lower it)
        if revised is not None:
            self.peak.revise(revised[0], revised[1])
        if closed:
            # The house alone, for the profile: the quarter's average less the car's estimate.
            start, average_w, covered_s, complete, sure_w = closed[-1]
            if complete:
                house_w = average_w - self.quarter_car_j / balancer_time.QUARTER_S
                d.profile_learnt = self.profile.observe(start, house_w, house_w - self.quarter_export_j / balancer_time.QUARTER_S)
            self.previous_quarter_car_j = self.quarter_car_j if len(closed) == 1 else 0.0
            self.quarter_car_j = 0.0
            self.quarter_export_j = 0.0
        if meter_energy_j is not None:
            self.meter_quarter = (self.meter.quarter_start, meter_energy_j)
        self.peak.roll_to(now)
        d.own_peak_w, d.peak_month, d.peak_quarter = self.peak.peak_w, self.peak.month, self.peak.peak_quarter
        d.peak_w = max(self.peak.peak_w, meter_peak_w or 0.0)
        d.limit_w = balancer_metering.capacity_limit_w(d.peak_w, reading.target_peak_w)
        # What Fluvius bills is the meter's figure: when it says more was drawn, believe it.
        d.energy_j = max(self.meter.budget_energy_j(), meter_energy_j or 0.0)
        d.running_average_w = self.meter.running_average_w(now)
        d.last_grid_w = self.meter.last_power_w
        d.meter_average_w, d.meter_peak_w = reading.meter_average_w, reading.meter_peak_w

    def _grid(self, now, grid_fresh, d):
        """(grid_ok, grid_waiting), and Decision.grid."""
        stale_after = self.settings.stale_after
        grid_age_s = (now - self.grid_at).total_seconds() if self.grid_at is not None else None
        grid_ok = grid_age_s is not None and grid_age_s <= stale_after
        # A meter that has not spoken since the start (Home Assistant restarting: DSMR needs its
        # first telegram) gets stale_after before the fail-safe; until then nothing is written.
        grid_waiting = self.grid_at is None and (now - self.started_at).total_seconds() <= stale_after
        if grid_ok:
            d.grid = GRID_OK if grid_fresh else GRID_GAP
        else:
            d.grid = GRID_WAITING if grid_waiting else GRID_FAILSAFE
        return grid_ok, grid_waiting

    def _can_pause(self, reading):
        """A pause can be written: a pause_switch, or pause_at_zero with a number that takes 0 A."""
        return self.settings.can_pause and reading.zero_fits

    def _held_a(self, reading):
        """The current the charger holds: the number entity read back, or with the service form,
        the last current the service accepted."""
        if self.settings.current_service:
            return self.charger.current_written_a
        return reading.charger.amps

    def _balance(self, now, reading, budget, charger_a, shown_paused, max_a, grid_fresh, unplanned):
        """Normal control: the quarter budget, the pause plan, and when a change is worth a write.
        unplanned: no session plan (no departure/energy_needed). Returns (want_paused, want_a,
        short_of_minimum, reason)."""
        s = self.settings
        allowance_w, bound = budget.allowance_w(s.charger_response, s.min_command_interval)
        # A pause could take effect after the next free slot and the response, plus slack for
        # the meter's own delay and update period.
        wait_s = self.gate.seconds_until_free(now) + s.charger_response + PAUSE_SLACK_S
        min_w = self._amps_w(reading.min_a)
        affordable = budget.minimum_affordable(s.charger_response, wait_s, min_w)
        if affordable and unplanned and bound == "steady" and self._house_above_its_usual_high(
                balancer_time.quarter_end(now), budget.house_w):
            # The command sent now will still hold when the next quarter starts. Holding the
            # minimum into it bets that the house soon drops back to its usual load; where it
            # already draws more than its usual high there, it runs something out of the ordinary
            # whose end or further rise the profile cannot tell, and the car would spend the new
            # quarter's room before the house has shown what it draws in it: pause at this
            # quarter's end instead. (A plan keeps the hold: it chose the quarter.)
            affordable = False
        want_paused, want_a, short = self.plan.decide(
            now, allowance_w, s.voltage, s.phases, reading.min_a, max_a, self._can_pause(reading), affordable,
            self.plan.paused and self._pulsing(now, budget, min_w),  # (it only decides a resume)
        )
        want_a = self._damp_increase(want_a, want_paused, allowance_w, charger_a)
        if charger_a is not None and want_a > charger_a and budget.remaining_s < s.charger_response + ENDING_SLOTS * s.min_command_interval:
            # The quarter's last minutes: what is left would be spent in a burst (16 -> 17 ->
            # 18 A) and taken back at the next quarter's start. At most one amp above the
            # steady rate, which the next quarter can carry on.
            steady_a = balancer_budget.amps_for_power(budget.steady_w(), s.voltage, s.phases)
            want_a = max(charger_a, min(want_a, steady_a + 1))
            # (never outside the charger's range: a charger paused by a current of 0 reads 0 A)
            want_a = min(max(want_a, reading.min_a), max_a)
        if not want_paused and charger_a is not None and want_a < charger_a <= max_a and shown_paused is not True and not self.write_failed:
            # (a decrease that was needed and failed is not put off: the next slot retries it)
            if grid_fresh and budget.decrease_can_wait(
                    self._amps_w(charger_a),
                    self._amps_w(want_a), wait_s):
                want_a = charger_a
        if charger_a is not None and want_a > charger_a and not (grid_fresh and self.charger.read_since_change()):
            # No increase on an old grid reading (the meter skipped an update), nor before the
            # charger was read after the last change: a car that left or got full takes
            # nothing more, and each write restarts the Wallbox poll that would show it.
            want_a = charger_a
        reason = self._reason(want_paused, want_a, short, budget, bound, max_a)
        return want_paused, want_a, short, reason

    def _close_quarters(self, closed, meter_peak_w):
        """Offer each closed quarter to the monthly peak. A quarter the app did not watch from its
        start counts only with the meter's own figure for it (1.4.0); without one it is left out.
        Returns (quarters that raised the month's peak, the meter's included; quarters left out),
        each (start, average_w). The peak takes each quarter's sure figure (balancer_metering)."""
        raised, incomplete = [], []
        for start, held_w, covered_s, complete, average_w in closed:
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
        damped_a = balancer_budget.amps_for_power(allowance_w - INCREASE_HYSTERESIS_A * s.voltage * s.phases, s.voltage, s.phases)
        return max(charger_a, min(want_a, damped_a))

    def command_sent(self, now):
        """The app attempted Decision.write now (it used the slot, whatever the outcome)."""
        self.gate.sent(now)
        self.write_failed = True  # until command_accepted says otherwise

    def command_accepted(self, now, write):
        """The charger accepted Decision.write (the blocking call returned without error)."""
        self.write_failed = False
        kind, amps = write
        self.charger.accepted(now, kind, amps)
        if self.charger.car_absent():
            self.parked = True

    def session_snapshot(self):
        """What a restart takes back of the session (empty without a car)."""
        if self.session is None:
            return {}
        saved = self.session.as_dict()
        return {"plugged_at": saved["plugged_at"], "delivered_estimate_kwh": saved["delivered_kwh"],
                "session_energy_base_kwh": saved["counter_base_kwh"]}

    def restore_session(self, saved, profile_saved, now=None, saved_at=None):
        """After a restart: the session under way (if any) and the learnt load profile. saved_at:
        when the app last saved its state (None: unknown; seed_history uses it too). A session saved more than
        SESSION_RESTORE_MAX_S before now is not taken back, and one whose departure passed while the
        app was down is dropped at the first step that reads the departure: the car may have left
        and come back unseen, and the old session's energy and passed departure would then leave it
        short the next morning."""
        self.profile = balancer_profile.from_dict(profile_saved)
        self.saved_at = saved_at
        session = balancer_planner.session_from_dict(
            {"plugged_at": saved.get("plugged_at"), "delivered_kwh": saved.get("delivered_estimate_kwh"),
             "counter_base_kwh": saved.get("session_energy_base_kwh")})
        if session is not None and now is not None and saved_at is not None and not 0 <= (now - saved_at).total_seconds() <= SESSION_RESTORE_MAX_S:
            session = None
        self.session = session
        self.session_restored = session is not None and saved_at is not None

    def _drop_a_session_that_left(self, now, departure):
        """The first step after a restart that reads the departure: a restored session whose
        departure passed while the app was down becomes a new session from now."""
        self.session_restored = False
        passed = balancer_planner.departure_utc(now, departure, self.session.plugged_at)
        if passed is not None and self.saved_at < passed <= now:
            self.session = balancer_planner.Session(now)

    def seed_history(self, now, history, take_peak):
        """At a start: the recorder's past (a balancer_history.History) into the load profile
        and, when take_peak (no monthly_peak_meter), into this month's peak, which it can only
        raise (its figures are exact quarters or lower bounds), from the quarters the app did not
        watch itself: before it first watched this month, and since it last saved (saved_at of
        restore_session); its own sure figures stand for the rest.
        Returns (quarters the profile took, whether the peak was raised)."""
        learnt = self.profile.seed(history.quarters, history.net_w)
        raised = False
        if take_peak:
            self.peak.roll_to(now)
            history.keep_peak_unwatched(self.peak.watched_since, self.saved_at)
            if history.peak_start is not None:
                raised = self.peak.observe(history.peak_start, history.peak_w)
        return learnt, raised

    def stop_current_a(self):
        """The on_stop current (A) to leave the charger at, inside the range of the last step (a
        tuned max_current, the number's own max, a maximum the charger answered)."""
        return min(self.settings.on_stop, self.max_a)

    def restore_command(self, sent_at):
        """After a restart: a command was sent at sent_at (the slot is taken, older charger data
        is not trusted)."""
        self.gate.sent(sent_at)
        self.charger.restore(sent_at)

    def _charger_fresh(self, now):
        """The charger's power sensor is believed only when the charger was really read (not a
        write's echo) after the last change took effect, and (polled) recently."""
        return self.charger.power_usable(now, self.settings.stale_after * CHARGER_FRESH_STALE_AFTERS)

    def _failsafe(self, reading, can_pause):
        self.plan.reset_resume_wait()
        if self.settings.failsafe == FAILSAFE_PAUSE and can_pause:
            self.plan.force_pause()
            return True, reading.min_a, False
        return False, reading.min_a, False

    def _reason(self, want_paused, want_a, short, budget, bound, max_a):
        """The decision in words; rebuilt only when a figure it shows changes (it runs every step)."""
        left_kwh = budget.left_j() / 3600000.0
        ending = bound == "steady" and budget.remaining_s < 120
        key = (want_paused, want_a, short, round(budget.house_w / 100.0), round(budget.limit_w / 100.0), round(left_kwh * 10.0), ending, max_a,
               round(budget.reserve_w / 100.0))
        if key == self.reason_key:
            return self.reason_text
        self.reason_key = key
        figures = "%.1f kW house load, %.1f kW limit, %.1f kWh left this quarter" % (
            budget.house_w / 1000.0, budget.limit_w / 1000.0, left_kwh,
        )
        if short:
            text = "short of minimum: holding %d A without a pause switch (%s)" % (want_a, figures)
        elif want_paused and budget.reserve_w > 0:
            text = "paused: the house usually rises %.1f kW in this quarter; with %.1f kW kept for %g such rises, too little is left for the minimum current (%s)" % (
                budget.reserve_w / RISK_JUMPS / 1000.0, budget.reserve_w / 1000.0, RISK_JUMPS, figures)
        elif want_paused:
            text = "paused: budget below the minimum current (%s)" % figures
        elif want_a >= max_a:
            text = "full speed: %d A (%s)" % (want_a, figures)
        elif ending:
            text = "quarter ending: %d A at the steady rate (%s)" % (want_a, figures)
        else:
            text = "limited: %d A (%s)" % (want_a, figures)
        self.reason_text = text
        return text
