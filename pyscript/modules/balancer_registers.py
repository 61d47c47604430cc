"""The meter's own numbers: running quarter average (OBIS 1-0:1.4.0) and month peak (1-0:1.6.0).

These are what Fluvius bills, so they win over our own integration when they are higher and fresh.
Two traps:
- 1.4.0 restarts at 0 each quarter and climbs to the quarter's final value (energy so far / 900 s,
  as reported by users and assumed by the community integrations); a value reported before the
  running quarter began belongs to the previous quarter.
- 1.6.0 can still show last month's peak for a while after midnight on the 1st (one report: until
  01:00). A value is trusted only once it changed inside the current month; right after a restart
  (when Home Assistant gives every entity a fresh last_changed) only after 02:00 on the 1st.
"""

from datetime import timedelta

import balancer_time

from balancer_time import QUARTER_S
TRUST_AFTER_RESTART = timedelta(hours=2)  # local time on the 1st after which a restored 1.6.0 is believed


def meter_quarter_energy_j(average_w, reported_at, quarter_start, age_s, stale_after_s):
    """Energy (J) of the running quarter by the meter, or None when the value is not for this quarter."""
    if average_w is None or reported_at is None or reported_at < quarter_start or age_s > stale_after_s:
        return None
    return max(0.0, average_w) * QUARTER_S


class MeterPeakGuard:
    """Decides whether the meter's month peak belongs to the current month."""

    def __init__(self):
        self.month = None
        self.month_start_value = None
        self.trusted = False

    def trusted_peak_w(self, now, value_w, last_changed):
        """The meter's month peak (W) if it can be believed for now's month, else None."""
        if value_w is None:
            return None
        month = balancer_time.month_key(now)
        if month != self.month:
            self.month = month
            self.month_start_value = value_w
            self.trusted = self._changed_this_month(now, last_changed)
        elif not self.trusted and value_w != self.month_start_value:
            self.trusted = True  # the meter reset, or set a new peak: it counts this month now
        return value_w if self.trusted else None

    def _changed_this_month(self, now, last_changed):
        """At a start mid-month a value changed this month is this month's; early on the 1st it may not be."""
        if last_changed is None:
            return False
        local_now = balancer_time.to_local(now)
        month_start = local_now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        if balancer_time.to_local(last_changed) < month_start:
            return False
        return local_now - month_start >= TRUST_AFTER_RESTART
