"""Settings that may be tuned at runtime: target_peak, max_current and min_current can name an
input_number instead of a number. A change takes effect at the next decision, with no reload.

An entity that is unavailable or out of range must not give a dangerous value: the last good value
holds, and before there is one the safe fallback (the billed minimum peak, the lowest current).
"""

import math

import balancer_units

# The levels of the (level, text) lines the modules hand the glue to log.
WARNING = "warning"
INFO = "info"

TUNABLE = ("target_peak", "max_current", "min_current")
# A tunable entity that never gave a usable value: the safest setting (the billed minimum peak,
# the lowest current).
SAFE_FALLBACK = {"target_peak": 2500, "max_current": 6, "min_current": 6}


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


def entity_range(min_a, max_a, entity_min, entity_max):
    """(min A, max A, fits): the current kept inside the number entity's own min/max too, so the
    charger never rejects it (a min or max that is no finite number counts as not given). fits is
    False where the allowed maximum is below the entity's minimum (a max_current slider at 5 A, a
    charger that takes 6 A at least): no allowed current can be written, and both are the
    entity's minimum, the lowest the charger takes; the caller pauses the car."""
    low = _finite_or(entity_min, min_a)
    high = _finite_or(entity_max, max_a)
    if low <= high and max_a < low:
        lowest = int(math.ceil(low))
        return lowest, lowest, False
    min_a, max_a = current_range(max(min_a, low), min(max_a, high))
    return min_a, max_a, True


def takes_zero(entity_min):
    """Whether a number entity with this min takes 0 A (no min, or one that is no finite number:
    nothing says it does not)."""
    return _finite_or(entity_min, 0.0) <= 0


def _finite_or(value, default):
    """value as a finite float, else default (None, a word, NaN, infinite)."""
    number = balancer_units.finite_number(value)
    return default if number is None else number


class Notice:
    """A problem told once: a WARNING when it starts (or changes), an INFO when it is gone."""

    def __init__(self):
        self.problem = None

    def lines(self, problem, warning, recovered):
        """The (level, text) lines to log for problem (None or False: none now): [(WARNING,
        warning)] when it starts or differs from the last one, [(INFO, recovered)] when it is gone
        (none when recovered is None: an end not worth telling), else []. Pass True, not the
        problem's text, for a problem told once however its wording changes. The caller extends
        its list with them (in pyscript `+=` builds a new list: the caller's would miss them)."""
        previous, self.problem = self.problem, problem
        if problem and problem != previous:
            return [(WARNING, warning)]
        if previous and not problem and recovered is not None:
            return [(INFO, recovered)]
        return []


class Tunables:
    """The tunable settings that name an input_number: the last good value of each, and whether
    its entity is usable now."""

    def __init__(self, entities, bounds):
        self.entities = entities  # key -> entity id
        self.bounds = bounds  # key -> (low, high)
        self.good = {}  # key -> last good value
        self.notices = {}  # key -> Notice
        for key in entities:
            self.notices[key] = Notice()

    def value(self, key, text):
        """(value, lines) for the entity's state text; lines as Notice.lines."""
        low, high = self.bounds[key]
        value, problem = tunable_value(key, text, self.good.get(key), SAFE_FALLBACK[key], low, high)
        if problem is None:
            self.good[key] = value
        entity_id = self.entities[key]
        return value, self.notices[key].lines(problem, "%s (from %s)" % (problem, entity_id),
                                              "%s from %s is usable again: %s" % (key, entity_id, value))
