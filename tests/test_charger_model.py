"""The charger/car model (issue 8): what the Wallbox signals really say, and when."""

from datetime import datetime, timedelta, timezone

from balancer_charger import CAP_HOLD_S, ChargerModel, ChargerObservation

T0 = datetime(2025, 1, 15, 17, 0, tzinfo=timezone.utc)


def at(seconds):
    return T0 + timedelta(seconds=seconds)


def seen(model, seconds, reported, **fields):
    """One step at `seconds` whose charger entities were last written at `reported`."""
    model.observe(at(seconds), ChargerObservation(reported_at=at(reported), **fields))


def test_a_write_echo_does_not_make_the_charger_data_younger():
    """Defect 6: every write re-publishes all Wallbox entities with the previous poll's data."""
    model = ChargerModel(settle_s=30)
    seen(model, 0, 0, amps=10, switch="on", power_w=2300)
    model.accepted(at(100), "current", 16)
    seen(model, 102, 100, amps=16, switch="on", power_w=2300)  # the echo, 2300 W is 100 s old
    assert model.data_at == at(0) and model.data_age_s(at(102)) == 102
    assert not model.power_fresh()
    seen(model, 191, 190, amps=16, switch="on", power_w=3680)  # the next poll
    assert model.data_at == at(190) and model.power_fresh()


def test_a_resume_is_believed_until_a_read_settle_s_after_it_shows_the_result():
    """Defect 2: the refresh right after a resume reads the charger before it switched, and
    current writes keep restarting the poll: the switch showed 'off' for 603 s."""
    model = ChargerModel(settle_s=30)
    seen(model, 0, 0, amps=6, switch="off")
    assert model.paused() is True
    model.accepted(at(60), "resume")
    seen(model, 61, 60, amps=6, switch="off")  # the refresh, before the charger switched
    assert model.paused() is False
    model.accepted(at(120), "current", 12)
    seen(model, 700, 120, amps=12, switch="off")  # only echoes since: still believed
    assert model.paused() is False
    seen(model, 790, 789, amps=12, switch="off")  # a real poll says it is paused after all
    assert model.paused() is True


def test_status_says_whether_a_car_is_there_and_asking():
    model = ChargerModel(settle_s=30)
    seen(model, 0, 0, status="Ready", switch="unavailable")
    assert model.car_absent()
    seen(model, 90, 90, status="Charging", switch="on", power_w=3000)
    assert not model.car_absent() and not model.not_asking() and model.paused() is False
    seen(model, 180, 180, status="Waiting for car demand", switch="on", power_w=0)
    assert model.not_asking()
    seen(model, 270, 270, status="Charging", switch="on", power_w=2000)
    assert not model.not_asking()


def test_an_unknown_status_is_named_and_the_belief_kept():
    model = ChargerModel(settle_s=30)
    seen(model, 0, 0, status="Charging", switch="on")
    seen(model, 90, 90, status="Firmware exploding", switch="on")
    assert model.unknown_status == "Firmware exploding"
    assert model.car is True and not model.not_asking()


def test_without_a_status_the_switch_availability_tells_the_car():
    model = ChargerModel(settle_s=30)
    seen(model, 0, 0, switch="unavailable", amps=16)
    assert model.car_absent() and model.paused() is None
    seen(model, 90, 90, switch="on", amps=16)
    assert not model.car_absent()


def test_without_a_status_two_idle_reads_mean_not_asking_and_a_draw_means_asking():
    model = ChargerModel(settle_s=30)
    seen(model, 0, 0, switch="on", amps=16, power_w=0)
    assert not model.not_asking()  # one read could be the car starting
    seen(model, 90, 90, switch="on", amps=16, power_w=0)
    assert model.not_asking()
    seen(model, 180, 180, switch="on", amps=16, power_w=3500)
    assert not model.not_asking()


def test_a_lower_answer_caps_the_current_until_the_maximum_changes():
    """Defect 5: the cloud clamps a write above the charger's maximum; the number's max attribute
    changes only at the next poll."""
    model = ChargerModel(settle_s=30)
    seen(model, 0, 0, amps=16, number_max=32)
    model.accepted(at(10), "current", 32)
    seen(model, 11, 10, amps=16, number_max=32)
    assert model.max_a(32) == 16
    seen(model, 100, 100, amps=16, number_max=16)
    assert model.max_a(32) == 32  # the number's own max takes over


def test_a_cap_is_tried_again_after_a_while():
    model = ChargerModel(settle_s=30)
    model.accepted(at(0), "current", 32)
    seen(model, 1, 0, amps=16, number_max=32)
    seen(model, CAP_HOLD_S + 1, 0, amps=16, number_max=32)
    assert model.max_a(32) == 32


def test_a_grid_drop_holds_increases_until_the_next_read():
    model = ChargerModel(settle_s=30)
    seen(model, 0, 0, switch="on", amps=16)
    assert model.read_since_change()
    model.suspect_stop(at(10))
    assert not model.read_since_change()
    seen(model, 90, 90, switch="unavailable", amps=16)
    assert model.read_since_change() and model.car_absent()


def test_no_polled_entity_configured_means_nothing_to_wait_for():
    model = ChargerModel(settle_s=30)
    model.observe(at(0), ChargerObservation(amps=16))
    model.accepted(at(1), "current", 20)
    assert model.read_since_change() and model.car is None


def test_an_unavailable_status_says_nothing_about_the_car():
    """The Wallbox integration makes every entity unavailable when a poll fails: not 'no car'."""
    model = ChargerModel(settle_s=30)
    seen(model, 0, 0, status="Charging", switch="on")
    seen(model, 90, 90, status="unavailable", switch="unavailable")
    assert model.car is True and not model.car_absent()
