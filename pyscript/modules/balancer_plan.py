"""From the car's power allowance to the charger's wanted state: amps, or paused.

Below the charger's minimum current the only way to keep the limit is to pause. A pause is costly
(two cloud writes, a relay cycle), so it is made only when the quarter's energy budget needs it:
while the quarter can afford the minimum current until a pause could still take effect, the
charger holds the minimum (the caller says so with minimum_affordable). Resuming waits until the
allowance has held RESUME_MARGIN_W above the minimum power for resume_after_s, so the charger does
not flap between start and stop (relays and cars suffer from it: OpenEVSE issues #684 and #711);
except where the minimum is above what a whole quarter gives the car at the house's present (and
usual) load: the car stops once a quarter there whatever the wait, so it resumes as soon as the
budget allows (the caller says so with pulsing).
"""

import balancer_budget

# Power, not amps: one amp on three phases is 690 W, a margin a 4 kW limit almost never leaves.
RESUME_MARGIN_W = 230.0
# Holding the minimum through a shortfall is for short spikes (a kettle). A shortfall that lasts
# longer is a sustained load: then pause, so the quarter's budget is not spent early, where a
# later jump of the house would find it gone.
HOLD_MAX_S = 180.0


class ChargePlan:
    """Remembers whether the car should be paused and since when resuming has been possible."""

    def __init__(self, resume_after_s):
        self.resume_after_s = resume_after_s
        self.paused = False
        self.resume_ok_since = None
        self.short_since = None  # when the allowance fell below the minimum while charging

    def decide(self, now, allowance_w, voltage, phases, min_a, max_a, can_pause, minimum_affordable=False, pulsing=False):
        """Return (paused, amps, short_of_minimum).

        amps is the current to hold (min_a while paused, so a car plugged in again starts low).
        short_of_minimum is True when the allowance is below min_a and pausing is not possible:
        the charger holds min_a and the limit may be exceeded. minimum_affordable: the caller
        judged that holding min_a a while longer keeps the quarter within the limit, and that the
        shortfall may be a spike worth holding through. pulsing: the minimum is above what a whole
        quarter gives the car at the house's present (and usual) load; a paused car then resumes as
        soon as the quarter allows, without the resume wait.
        """
        amps = balancer_budget.amps_for_power(allowance_w, voltage, phases)
        if amps >= min_a:
            self.short_since = None
            resume_ok = allowance_w >= balancer_budget.power_for_amps(min_a, voltage, phases) + RESUME_MARGIN_W
            return self._charge(now, min(amps, max_a), min_a, can_pause, resume_ok, pulsing)
        self.resume_ok_since = None
        if not self.paused and self.short_since is None:
            self.short_since = now
        if minimum_affordable and not self.paused and (now - self.short_since).total_seconds() < HOLD_MAX_S:
            return False, min_a, False
        if can_pause:
            self.paused = True
            self.short_since = None
            return True, min_a, False
        self.paused = False
        return False, min_a, True

    def _charge(self, now, amps, min_a, can_pause, resume_ok, pulsing=False):
        if not self.paused or not can_pause:
            self.paused = False
            return False, amps, False
        if not resume_ok:
            self.resume_ok_since = None
            return True, min_a, False
        if self.resume_ok_since is None:
            self.resume_ok_since = now
        if (now - self.resume_ok_since).total_seconds() < self.resume_after_s and not pulsing:
            # (pulsing: the car stops again within a quarter whatever the wait, which only
            # lengthens each pause: on 3 x 230 V at 6 A, 4.14 kW above a 3.8 kW quarter, it left
            # 4 % of the energy unused and took 6 writes a quarter)
            return True, min_a, False
        self.paused = False
        self.resume_ok_since = None
        # Resume at the minimum; the next slot raises it. A resume that started at a high
        # current could not be corrected for a whole command interval.
        return False, min_a, False

    def release(self):
        """No pause is wanted (no car, mode fast): the plan stops holding one."""
        self.paused = False

    def reset_resume_wait(self):
        """The time the budget has allowed a resume starts again (fail-safe, no car)."""
        self.resume_ok_since = None

    def force_pause(self):
        """Fail-safe or user mode: pause now, and restart the resume wait afterwards."""
        self.paused = True
        self.resume_ok_since = None
