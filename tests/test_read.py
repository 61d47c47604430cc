"""The Reader: the configured entities' states made into a Reading."""

from datetime import datetime, timezone

import pytest

from balancer_config import validate
from balancer_read import Reader
from stubs.ha import HState, StateVal

GRID, NUMBER = "sensor.grid", "number.wallbox_x_maximum_charging_current"
AT = datetime(2025, 1, 15, 17, 0, tzinfo=timezone.utc)


def read_number(state):
    settings, errors = validate({"grid_power": GRID, "current_number": NUMBER})
    assert not errors
    values = {GRID: StateVal(HState(GRID, "1000", {"unit_of_measurement": "W"}, AT, AT, AT)),
              NUMBER: StateVal(HState(NUMBER, state, {"min": 6, "max": 32}, AT, AT, AT))}
    return Reader(settings).reading(values, "auto")


def test_a_number_state_is_read_as_whole_amps():
    reading, said = read_number("15.6")
    assert reading.charger.amps == 16 and said == []


@pytest.mark.parametrize("state", ["abc", "inf", "-inf", "nan", "1e400"])
def test_a_number_state_that_is_not_a_finite_number_is_no_current_like_a_word(state):
    """int(round(float("inf"))) raised OverflowError (only ValueError was caught): each step of the
    app failed while the charger's number entity said inf."""
    reading, said = read_number(state)
    words = read_number("abc")
    assert reading.charger.amps is None
    assert said == words[1]
    assert (reading.min_a, reading.max_a) == (words[0].min_a, words[0].max_a)
