"""Turn a Home Assistant power state into watts, or say why it cannot be used.

Sensors report W or kW in `unit_of_measurement` (DSMR: kW, HomeWizard: W, Wallbox charging power:
kW). A missing unit is read as W: that is what most templates and power sensors publish.
"""

import math

UNIT_SCALE = {"w": 1.0, "kw": 1000.0, "mw": 1000000.0}
ENERGY_KWH_PER_UNIT = {"wh": 0.001, "kwh": 1.0, "mwh": 1000.0}
NO_READING_STATES = ("unavailable", "unknown", "none", "")


def power_w(state_value, unit):
    """Return (watts, problem). watts is None when the state gives no usable power.

    problem is a short plain-language reason for the log ('unavailable', 'not a number: abc',
    'unit kWh is not a power unit'), or None when the reading is good.
    """
    if state_value is None:
        return None, "missing"
    text = str(state_value).strip()
    if text.lower() in NO_READING_STATES:
        return None, text.lower() or "empty"
    scale = unit_scale(unit)
    if scale is None:
        return None, "unit %s is not a power unit (use W or kW)" % unit
    value = finite_number(text)
    if value is None:
        return None, "not a number: %s" % text
    return value * scale, None


def unit_scale(unit):
    """Watts per unit for W/kW/MW (any case), 1.0 when no unit is given, None otherwise."""
    if no_unit(unit):
        return 1.0
    return UNIT_SCALE.get(str(unit).strip().lower())


def energy_kwh(state_value, unit):
    """kWh from an energy sensor's state (Wh, kWh or MWh; no unit: kWh), None when unusable."""
    text = str(state_value).strip()
    scale = ENERGY_KWH_PER_UNIT.get(str(unit or "kwh").strip().lower())
    if scale is None or text.lower() in NO_READING_STATES:
        return None
    value = finite_number(text)
    return None if value is None else value * scale


def is_finite_number(value):
    """Whether value is already a number (int or float, not a bool) that is neither NaN nor infinite:
    a configured figure, a saved state's field."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value and abs(value) != float("inf")


def no_unit(unit):
    """Whether a unit_of_measurement is missing or blank."""
    return unit is None or str(unit).strip() == ""


def finite_number(text):
    """The number a state string (or a saved figure) holds, None when it is not one (or NaN, or
    infinite)."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    if math.isnan(value) or math.isinf(value):
        return None
    return value
