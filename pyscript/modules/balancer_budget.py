"""Quarter-hour budget: the power the car may draw so that the quarter stays under the limit.

The quarter may hold (limit - margin) * 900 s of offtake. What is already drawn is spent; the
house is assumed to keep its present load; a new setpoint takes effect only after the charger's
response time, and stays in force at least until the next command slot. So the car gets what is
left of the quarter, spread over the time after the response, and, when the command will still be
in force at the next quarter's start, no more than the steady rate that fills a whole quarter
(SmartEVSE's Flanders mode uses the same energy budget, without the delays).
"""

from balancer_time import QUARTER_S


class QuarterBudget:
    """What the running quarter still allows, SmartEVSE-style: every budget question of one step
    shares these inputs.

    limit_w: the capacity limit; margin_w: kept free under it; energy_j: offtake drawn this
    quarter; remaining_s: seconds left in it; house_w: load without the car (assumed to hold);
    ev_w: what the car draws now (it keeps drawing that until a command takes effect);
    reserve_w: kept for the house on top of house_w for the rest of the quarter (the usual jump
    of the house in this quarter, issue 15; 0: none).
    """

    def __init__(self, limit_w, margin_w, energy_j, remaining_s, house_w, ev_w, reserve_w=0.0):
        self.limit_w = limit_w
        self.margin_w = margin_w
        self.energy_j = energy_j
        self.remaining_s = remaining_s
        self.house_w = house_w  # as measured (what the reason shows)
        self.ev_w = ev_w
        self.reserve_w = reserve_w
        self.target_w = limit_w - margin_w
        self.future_house_w = house_w + reserve_w  # what the house is counted to draw from now on

    def with_reserve(self, reserve_w):
        """The same quarter, keeping reserve_w for the house for the rest of it."""
        return QuarterBudget(self.limit_w, self.margin_w, self.energy_j, self.remaining_s, self.house_w, self.ev_w, reserve_w)

    def steady_w(self, house_w=None):
        """What the car may draw for a whole quarter at the present house load (with the reserve),
        or beside house_w."""
        return self.target_w - (self.future_house_w if house_w is None else house_w)

    def left_j(self):
        """Energy the quarter can still take under limit - margin (never below zero)."""
        return max(0.0, self.target_w * QUARTER_S - self.energy_j)

    def allowance_w(self, response_s, hold_s):
        """Power (W) the car may draw once a setpoint sent now takes effect. May be negative.

        response_s: command to effect; hold_s: how long a command stays in force before the next
        one can follow. Returns (allowance_w, bound) with bound 'quarter' or 'steady' naming the
        binding constraint: when the command will still be in force at the next quarter's start,
        no more than the steady rate.
        """
        steady_w = self.steady_w()
        after_s = self.remaining_s - response_s
        if after_s <= 0:
            return steady_w, "steady"
        left_j = self.target_w * QUARTER_S - self.energy_j - (self.future_house_w + self.ev_w) * response_s
        quarter_w = left_j / after_s - self.future_house_w
        if self.remaining_s < response_s + hold_s and steady_w < quarter_w:
            return steady_w, "steady"
        return quarter_w, "quarter"

    def minimum_affordable(self, response_s, wait_s, min_w):
        """Can the car hold the minimum power a while longer and still pause in time?

        The car keeps drawing ev_w until a command takes effect (response_s), the minimum power
        min_w until a pause could be sent and take effect (wait_s from now), and nothing after that.
        If the quarter stays within limit - margin even so, a pause now is not needed yet: a short
        spike of the house (a kettle, a hob cycling) then costs no pause/resume cycle.
        """
        remaining_s = self.remaining_s
        if remaining_s <= 0:
            return True
        left_j = self.target_w * QUARTER_S - self.energy_j - self.future_house_w * remaining_s
        first_s = min(response_s, remaining_s)
        held_s = max(0.0, min(wait_s, remaining_s) - first_s)
        return left_j - self.ev_w * first_s - min_w * held_s >= 0

    def minimum_breaks_limit(self, wait_s, min_w):
        """Would the quarter go over the limit itself (the margin spent too) with the house as now,
        the car at its present draw until a command can take effect (wait_s) and at the minimum
        power min_w after that? Only then may holding the minimum exceed the limit."""
        remaining_s = max(0.0, self.remaining_s)
        first_s = min(wait_s, remaining_s)
        drawn_j = self.energy_j + self.house_w * remaining_s + self.ev_w * first_s + min_w * (remaining_s - first_s)
        return drawn_j > self.limit_w * QUARTER_S

    def decrease_can_wait(self, high_w, low_w, wait_s):
        """Can the car keep drawing high_w until a later command could still take effect (wait_s),
        and low_w after that, with the quarter (and the next one, when wait_s reaches into it)
        staying within limit - margin? Then a decrease is not needed yet.

        The quarter budget allows a current between two whole amps on average: holding the higher
        one as long as the energy allows, and dropping only then, uses the quarter's energy in one
        write per quarter, where dropping at once and raising again near the quarter's end took
        three or four (16 -> 17 -> 18 A, then 16 A at the next quarter's start).
        """
        target_j = self.target_w * QUARTER_S
        house_w, remaining_s = self.future_house_w, self.remaining_s
        if wait_s < remaining_s:
            return self.energy_j + (house_w + high_w) * wait_s + (house_w + low_w) * (remaining_s - wait_s) <= target_j
        if self.energy_j + (house_w + high_w) * remaining_s > target_j:
            return False
        spill_s = min(wait_s - remaining_s, QUARTER_S)
        return (house_w + high_w) * spill_s + (house_w + low_w) * (QUARTER_S - spill_s) <= target_j

    def projected_average_w(self, grid_w):
        """Quarter average if the present grid power holds to the quarter's end."""
        return (self.energy_j + max(0.0, grid_w) * self.remaining_s) / QUARTER_S


def amps_for_power(power_w, voltage, phases):
    """Whole amps per phase that draw at most power_w (floor, never rounded up)."""
    per_amp_w = voltage * phases
    return int(power_w // per_amp_w)


def power_for_amps(amps, voltage, phases):
    return amps * voltage * phases


def house_load_w(grid_w, ev_w):
    """Household load without the car. The grid sees both; never below zero."""
    return max(0.0, grid_w - ev_w)


def ev_power_estimate_w(setpoint_a, paused, voltage, phases, measured_w, measured_fresh, grid_w):
    """What the car draws now: the charger's own sensor when fresh, else what the setpoint allows.

    The Wallbox power sensor lags 90 s or more and stops refreshing while commands keep coming,
    so it is believed only when the caller has judged it fresh (newer than the last command's
    effect). The setpoint estimate is an upper bound: the car may take less than offered, and it
    cannot take more than the grid delivers (there is no export while it charges from the grid).
    """
    if measured_fresh and measured_w is not None:
        return max(0.0, measured_w)
    if paused or setpoint_a is None:
        return 0.0
    return max(0.0, min(power_for_amps(setpoint_a, voltage, phases), grid_w))
