"""Power readings in W or kW, and the states that give no reading."""

import pytest

from balancer_units import power_w


@pytest.mark.parametrize(
    "value, unit, watts",
    [("1234", "W", 1234.0), ("1.234", "kW", 1234.0), ("1.5", "KW", 1500.0), ("800", None, 800.0), ("-500", "W", -500.0)],
)
def test_usable_readings(value, unit, watts):
    assert power_w(value, unit) == (watts, None)


@pytest.mark.parametrize(
    "value, unit, problem",
    [
        ("unavailable", "W", "unavailable"),
        ("unknown", "kW", "unknown"),
        (None, "W", "missing"),
        ("abc", "W", "not a number: abc"),
        ("nan", "W", "not a number: nan"),
        ("12", "kWh", "unit kWh is not a power unit (use W or kW)"),
    ],
)
def test_unusable_readings_say_why(value, unit, problem):
    assert power_w(value, unit) == (None, problem)


def test_a_finite_number_is_an_int_or_float_not_a_bool_nan_or_infinite():
    from balancer_units import is_finite_number
    assert is_finite_number(0) and is_finite_number(-2.5) and is_finite_number(10)
    for value in (True, False, None, "3", float("nan"), float("inf"), -float("inf"), [1]):
        assert not is_finite_number(value)
