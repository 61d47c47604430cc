"""Settings that may be tuned at runtime: target_peak, max_current and min_current can name an
input_number instead of a number. A change takes effect at the next decision, with no reload.

An entity that is unavailable or out of range must not give a dangerous value: the last good value
holds, and before there is one the safe fallback (the billed minimum peak, the lowest current).
"""

import math

TUNABLE = ("target_peak", "max_current", "min_current")


def tunable_value(key, text, last_good, fallback, low, high):
    """(value, problem) for a tunable setting read from an entity state string.

    The value is clamped to [low, high]; problem says why the entity's value was not taken as is.
    """
    try:
        value = float(text)
    except (TypeError, ValueError):
        value = None
    if value is None or value != value:
        kept = last_good if last_good is not None else fallback
        return kept, "%s is %s: using %s" % (key, text, kept)
    if value < low or value > high:
        clamped = min(high, max(low, value))
        return clamped, "%s %s is outside %s-%s: using %s" % (key, value, low, high, clamped)
    return value, None


def current_range(min_a, max_a):
    """Whole amps inside [min_a, max_a]; a minimum above the maximum gives way to the maximum."""
    max_a = int(math.floor(max_a))
    min_a = int(math.ceil(min_a))
    if min_a > max_a:
        min_a = max_a
    return min_a, max_a
