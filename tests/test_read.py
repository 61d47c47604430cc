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


def test_power_sensors_without_a_unit_are_read_as_w_and_named_once():
    """A charger power (or meter register) in kW without a unit: read as W, 1000 times too low, the
    car's draw counted as house load. Said once, naming every such sensor."""
    power, average = "sensor.wallbox_power", "sensor.average_demand"
    settings, errors = validate({"grid_power": GRID, "current_number": NUMBER, "charger_power": power, "average_demand": average})
    assert not errors
    reader = Reader(settings)
    values = {GRID: StateVal(HState(GRID, "1000", {"unit_of_measurement": "W"}, AT, AT, AT)),
              NUMBER: StateVal(HState(NUMBER, "16", {"min": 6, "max": 32}, AT, AT, AT)),
              power: StateVal(HState(power, "1.38", {}, AT, AT, AT)),
              average: StateVal(HState(average, "0.4", {"unit_of_measurement": "kW"}, AT, AT, AT))}
    said = reader.reading(values, "auto")[1]
    assert [text for _, text in said] == [
        "sensor.wallbox_power: no unit_of_measurement, read as W (a figure in kW would be read 1000 times too low): give the sensor W or kW"]
    assert reader.reading(values, "auto")[1] == []  # once
