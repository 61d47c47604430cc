"""Command discipline: which single charger write (if any) to send now.

The Wallbox cloud accepts about one write a minute and answers 429 to more; current, pause and
resume share that limit. So: never send what the charger already has; at most one write per
min_command_interval; a decrease (or a pause) takes the first slot that opens; an increase needs
at least min_increase_a and waits for increase_interval_s since the last write, which leaves the
slot after an increase free for a quick decrease more often.
"""

CURRENT = "current"
PAUSE = "pause"
RESUME = "resume"


class CommandGate:
    """Remembers the last write attempt; picks the next write."""

    def __init__(self, min_interval_s, increase_interval_s, min_increase_a):
        self.min_interval_s = min_interval_s
        self.increase_interval_s = increase_interval_s
        self.min_increase_a = min_increase_a
        self.last_write_at = None

    def seconds_until_free(self, now):
        if self.last_write_at is None:
            return 0.0
        waited = (now - self.last_write_at).total_seconds()
        if waited < 0:
            # The clock went backwards: count the slot as used from now on.
            self.last_write_at = now
            return self.min_interval_s
        return max(0.0, self.min_interval_s - waited)

    def next_write(self, now, want_paused, want_a, charger_a, charger_paused):
        """Return (kind, amps) of the write to send now, or None.

        charger_a: the current the charger holds (read back), None if unknown.
        charger_paused: True/False as the pause switch shows, None when it cannot be used
        (no switch configured, or unavailable because no car is connected).
        """
        wanted = self._wanted_write(want_paused, want_a, charger_a, charger_paused)
        if wanted is None:
            return None
        if self.seconds_until_free(now) > 0:
            return None
        kind, amps = wanted
        if kind == CURRENT and charger_a is not None and amps > charger_a:
            if amps - charger_a < self.min_increase_a:
                return None
            if self.last_write_at is not None and (now - self.last_write_at).total_seconds() < self.increase_interval_s:
                return None
        return wanted

    def sent(self, now):
        """A write was attempted now (successful or not: a rejected one still used the slot)."""
        self.last_write_at = now

    def _wanted_write(self, want_paused, want_a, charger_a, charger_paused):
        current_differs = charger_a is None or charger_a != want_a
        if want_paused:
            if charger_paused is False:
                return PAUSE, None
            # Paused (or no car): hold a low current so a car plugged in again starts low; never a
            # raise, which restarts a charger whose pause is a current of 0 (Peblar: its switch
            # off sets the limit to 0 A, and a write of 6 A charges again).
            if current_differs and (charger_a is None or charger_a > want_a or charger_paused is not True):
                return CURRENT, want_a
            return None
        if charger_paused is True:
            # Lower the current before resuming; raise it only after the resume.
            if charger_a is not None and charger_a > want_a:
                return CURRENT, want_a
            return RESUME, None
        if current_differs:
            return CURRENT, want_a
        return None
