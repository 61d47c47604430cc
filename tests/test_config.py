"""Configuration validation: every problem is one plain line naming the key."""

import pytest

from balancer_config import missing_entities, missing_services, validate

BASE = {"grid_power": "sensor.grid", "current_number": "number.wallbox_x_maximum_charging_current"}


def errors_for(**changes):
    raw = dict(BASE)
    for key, value in changes.items():
        if value is None:
            raw.pop(key, None)
        else:
            raw[key] = value
    settings, errors = validate(raw)
    assert (settings is None) == bool(errors)
    return errors


def test_defaults():
    settings, errors = validate(dict(BASE))
    assert errors == []
    assert settings.target_peak == 2500 and settings.margin == 150
    assert (settings.min_current, settings.max_current, settings.voltage, settings.phases) == (6, 32, 230, 1)
    assert settings.min_command_interval == 60 and settings.stale_after == 60
    assert settings.failsafe == "min_current"  # no pause switch
    assert settings.on_stop == "leave"
    assert validate(dict(BASE, on_stop=10))[0].on_stop == 10
    assert validate(dict(BASE, pause_switch="switch.wb_pause_resume"))[0].failsafe == "pause"
    assert settings.charger_reports == "auto"
    assert validate(dict(BASE, charger_reports="on_change"))[0].charger_reports == "on_change"


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"grid_power": None}, "'grid_power' is required"),
        ({"grid_power": "sensor.Grid Power"}, "'grid_power' must be an entity id"),
        ({"grid_power": "switch.grid"}, "'grid_power' must be a sensor or input_number entity"),
        ({"current_number": None}, "give exactly one of 'current_number'"),
        ({"current_service": "wallbox.set_max_charging_current"}, "give exactly one of 'current_number'"),
        ({"max_current": "32A"}, "'max_current' must be a number in A, got '32A'"),
        ({"max_current": 16.5}, "'max_current' must be a whole number of A"),
        ({"min_current": 20, "max_current": 16}, "'min_current' (20 A) must not be above 'max_current' (16 A)"),
        ({"target_peak": 4}, "'target_peak' must be between 1000 and 50000 W, got 4 (the unit is W: 4 kW is 4000)"),
        ({"target_peak": True}, "'target_peak' must be a number in W"),
        ({"margin": 3000, "target_peak": 2500}, "'margin' (3000.0 W) must be below 'target_peak'"),
        ({"phases": 4}, "'phases' must be between 1 and 3"),
        ({"voltage": 400}, "'voltage' must be between 100 and 260 V"),
        ({"stale_after": 0}, "'stale_after' must be between 5 and 3600 s"),
        ({"pause_switch": "light.x"}, "'pause_switch' must be a switch or input_boolean entity"),
        ({"failsafe": "pause"}, "'failsafe: pause' needs a 'pause_switch'"),
        ({"failsafe": "stop"}, "'failsafe' must be 'pause' or 'min_current'"),
        ({"increase_interval": 10}, "'increase_interval' must be a number of s from 'min_command_interval'"),
        ({"current_service_data": "entity_id"}, "'current_service_data' must be a mapping"),
        ({"grid_pwr": "sensor.x"}, "unknown key 'grid_pwr'"),
        ({"on_stop": 40}, "'on_stop' must be 'leave' or a whole current from 'min_current' to 'max_current' (6-32 A), got 40"),
        ({"on_stop": "off"}, "'on_stop' must be 'leave'"),
        ({"charger_reports": "push"}, "'charger_reports' must be one of auto, polled, on_change (auto: learnt from the charger's entities), got 'push'"),
    ],
)
def test_each_problem_is_one_line_naming_the_key(changes, expected):
    errors = errors_for(**changes)
    assert len(errors) == 1, errors
    assert expected in errors[0]
    assert errors[0].startswith("wallbox_balancer: ")


NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize("value", [NAN, INF, -INF], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize(
    "key, changes, expected",
    [(key, {}, "'%s' must be a number in " % key) for key in (
        "target_peak", "margin", "voltage", "phases", "min_current", "max_current", "min_command_interval",
        "stale_after", "charger_response", "resume_after", "min_increase", "park_current")]
    + [
        ("increase_interval", {}, "'increase_interval' must be a number of s from 'min_command_interval'"),
        ("on_stop", {}, "'on_stop' must be 'leave' or a whole current"),
        ("energy_needed", {"departure": "07:30"}, "'energy_needed' must be kWh from 0 to 200"),
        ("day_price", {"night_price": 0.24}, "'day_price' must be a price from 0 to 2 EUR/kWh"),
        ("night_price", {"day_price": 0.32}, "'night_price' must be a price from 0 to 2 EUR/kWh"),
        ("export_price", {}, "'export_price' must be a price from -1 to 2 EUR/kWh"),
    ],
)
def test_yaml_nan_or_infinity_is_one_line_naming_the_key_not_an_exception(key, changes, expected, value):
    """YAML reads .nan and .inf as floats: int() of them raised, and NaN passed every range check
    (each comparison is false), so a NaN target_peak or interval was accepted and broke each step."""
    errors = errors_for(**dict(changes, **{key: value}))
    assert len(errors) == 1, errors
    assert expected in errors[0], errors[0]
    assert errors[0].startswith("wallbox_balancer: ")


def test_a_key_yaml_read_as_true_or_a_number_is_an_unknown_key_not_an_exception():
    """YAML reads a bare `on:` or `yes:` as the key True and `1:` as an int: sorting them with the
    string keys raised TypeError."""
    for key in (True, 1, 2.5, None):
        raw = dict(BASE, grid_pwr="sensor.x")
        raw[key] = "x"
        settings, errors = validate(raw)
        assert settings is None
        assert errors == ["wallbox_balancer: unknown key '%s': remove it or check its spelling (see the README)" % name
                          for name in sorted(["grid_pwr", str(key)])], errors


def test_the_start_line_shows_whole_watts_and_amps_or_the_entity_that_tunes_them():
    settings = validate(dict(BASE, target_peak=4000, max_current=16))[0]
    assert settings.start_text() == "grid sensor.grid, target peak 4000 W, 6-16 A"
    tuned = validate(dict(BASE, target_peak="input_number.ev_peak", max_current="input_number.ev_max"))[0]
    assert tuned.start_text() == "grid sensor.grid, target peak input_number.ev_peak, 6 A to input_number.ev_max"


def test_not_a_mapping():
    settings, errors = validate(["grid_power"])
    assert settings is None and "must be a mapping" in errors[0]


def test_service_actuator_form():
    raw = {
        "grid_power": "sensor.grid",
        "current_service": "wallbox.set_max_charging_current",
        "current_service_data": {"entity_id": "switch.wallbox_laden"},
    }
    settings, errors = validate(raw)
    assert errors == []
    assert settings.current_field == "charging_current"
    assert "must not contain 'amps'" in validate(dict(raw, current_field="amps", current_service_data={"amps": 1}))[1][0]


def test_missing_entities_and_services_are_named():
    settings, _ = validate(dict(BASE, pause_switch="switch.wb_pause_resume"))
    errors = missing_entities(settings, lambda entity_id: entity_id == "sensor.grid")
    assert len(errors) == 2 and "'current_number' names number.wallbox_x_maximum_charging_current" in errors[0]
    services = missing_services(settings, lambda domain, name: domain == "number")
    assert [e.split("service ")[1].split(",")[0] for e in services] == ["switch.turn_on", "switch.turn_off"]
    settings, _ = validate({"grid_power": "sensor.grid", "current_service": "wallbox.set_max_charging_current"})
    assert "wallbox.set_max_charging_current" in missing_services(settings, lambda d, n: False)[0]


def test_supply_three_phases_without_neutral_is_398_w_per_amp():
    settings, errors = validate(dict(BASE, supply="3x230"))
    assert not errors and settings.phases == 3
    assert round(settings.voltage * settings.phases) == 398
    assert validate(dict(BASE, supply="3x400"))[0].voltage * 3 == 690
    assert "not both" in validate(dict(BASE, supply="3x230", phases=3))[1][0]
    assert "must be one of" in validate(dict(BASE, supply="3x380"))[1][0]


@pytest.mark.parametrize("supply", ["3x380", ["3x400"], {"3x400": True}, 400, True])
def test_a_supply_that_is_not_one_of_the_names_is_one_line_naming_the_key(supply):
    """A list or a mapping raised TypeError (unhashable) at the lookup of the supply's name."""
    assert errors_for(supply=supply) == ["wallbox_balancer: 'supply' must be one of 1x230, 3x400, 3x230 (3x230: three "
                                         "phases without a neutral), got %r" % (supply,)]


def test_departure_and_energy_needed_go_together():
    assert not validate(dict(BASE, departure="07:30", energy_needed=10))[1]
    assert not validate(dict(BASE, departure="input_datetime.ev_departure", energy_needed="input_number.ev_need"))[1]
    assert "go together" in validate(dict(BASE, departure="07:30"))[1][0]
    assert "(quote it)" in validate(dict(BASE, departure=450, energy_needed=10))[1][0]  # YAML read 07:30 as 450


# ---- prices (issue 16) ------------------------------------------------------------------------

def test_price_keys_are_read_with_their_defaults():
    settings, errors = validate(dict(BASE))
    assert errors == []
    assert settings.price is None and settings.day_price is None and settings.night_price is None
    assert settings.night_hours is None and settings.export_price is None and settings.export_price_entity is None
    settings, errors = validate(dict(BASE, price="sensor.nordpool_kwh_be_eur_3_10_06", export_price=0.03))
    assert errors == [] and settings.price == "sensor.nordpool_kwh_be_eur_3_10_06" and settings.export_price == 0.03
    settings, errors = validate(dict(BASE, day_price=0.32, night_price=0.24))
    assert errors == [] and (settings.day_price, settings.night_price, settings.night_hours) == (0.32, 0.24, "22:00-07:00")
    settings, errors = validate(dict(BASE, day_price=0.32, night_price=0.24, night_hours="21:00-06:00", export_price="sensor.injection_price"))
    assert errors == [] and settings.night_hours == "21:00-06:00" and settings.export_price_entity == "sensor.injection_price"
    assert settings.export_price is None
    assert validate(dict(BASE, export_price=-0.01))[1] == []  # a negative injection tariff exists


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"price": "sensor.Nord Pool"}, "'price' must be an entity id like sensor.name"),
        ({"price": 0.25}, "'price' must be an entity id like sensor.name"),
        ({"price": "switch.nordpool"}, "'price' must be a sensor or input_number entity"),
        ({"day_price": 0.32}, "'day_price' and 'night_price' go together"),
        ({"night_price": 0.24}, "'day_price' and 'night_price' go together"),
        ({"day_price": 32, "night_price": 0.24}, "'day_price' must be a price from 0 to 2 EUR/kWh, got 32 (the unit is EUR/kWh: 32 c/kWh is 0.32)"),
        ({"day_price": 0.32, "night_price": -0.1}, "'night_price' must be a price from 0 to 2 EUR/kWh, got -0.1"),
        ({"day_price": "0.32", "night_price": 0.24}, "'day_price' must be a price from 0 to 2 EUR/kWh, got '0.32'"),
        ({"day_price": 0.32, "night_price": 0.24, "night_hours": "22h-7h"}, "'night_hours' must be local hours like \"22:00-07:00\""),
        ({"day_price": 0.32, "night_price": 0.24, "night_hours": "22:00-22:00"}, "'night_hours' must be local hours"),
        ({"night_hours": "21:00-06:00"}, "'night_hours' needs 'day_price' and 'night_price'"),
        ({"price": "sensor.nordpool", "day_price": 0.32, "night_price": 0.24}, "give 'price' or 'day_price' and 'night_price', not both"),
        ({"export_price": 3}, "'export_price' must be a price from -1 to 2 EUR/kWh or a price entity (sensor or input_number), got 3"),
        ({"export_price": "0.03"}, "'export_price' must be a price from -1 to 2 EUR/kWh or a price entity (sensor or input_number), got '0.03'"),
        ({"export_price": "switch.x"}, "'export_price' must be a price from -1 to 2 EUR/kWh or a price entity"),
        ({"export_price": True}, "'export_price' must be a price"),
    ],
)
def test_each_price_problem_is_one_line_naming_the_key(changes, expected):
    errors = errors_for(**changes)
    assert len(errors) == 1, errors
    assert expected in errors[0], errors[0]
    assert errors[0].startswith("wallbox_balancer: ")


def test_a_missing_price_entity_does_not_stop_the_balancer():
    """Without prices the car still charges in the safest quarters: a price entity that is not
    there (yet: cloud integrations start late) is the price feed's warning, not a reason to wait."""
    settings, _ = validate(dict(BASE, price="sensor.nordpool", export_price="sensor.injection"))
    assert missing_entities(settings, lambda entity_id: entity_id in ("sensor.grid", "number.wallbox_x_maximum_charging_current")) == []
