"""The charger/car model (issue 8): what the Wallbox signals really say, and when."""

from datetime import datetime, timedelta, timezone

from balancer_charger import CAP_HOLD_S, ON_CHANGE, POLLED, ChargerModel, ChargerObservation

T0 = datetime(2025, 1, 15, 17, 0, tzinfo=timezone.utc)


def at(seconds):
    return T0 + timedelta(seconds=seconds)


def seen(model, seconds, reported, repeated=True, **fields):
    """One step at `seconds` whose charger entities were last written at `reported`, by default
    as the Wallbox integration writes them: again at every poll and echo, changed or not."""
    model.observe(at(seconds), ChargerObservation(reported_at=at(reported), repeated=repeated, **fields))


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


def test_a_status_that_says_nothing_after_no_car_lets_the_switch_or_the_power_say_a_car_is_there():
    """Ready (no car), then Unknown (the Wallbox integration's word for a status id it does not
    know), Error or a new string while a car plugs in: believing 'no car' for good would leave the
    car drawing the park current, uncontrolled, into the quarter."""
    for status in ("Unknown", "Error", "Firmware exploding"):
        by_switch = ChargerModel(settle_s=30)
        seen(by_switch, 0, 0, status="Ready", switch="unavailable")
        assert by_switch.car_absent()
        seen(by_switch, 90, 90, status=status, switch="on")
        assert not by_switch.car_absent()
        by_power = ChargerModel(settle_s=30)
        seen(by_power, 0, 0, status="Ready")
        seen(by_power, 90, 90, status=status, power_w=50)
        assert by_power.car_absent()  # no draw: nothing says a car is there
        seen(by_power, 180, 180, status=status, power_w=1380)
        assert not by_power.car_absent() and not by_power.not_asking()
    failed = ChargerModel(settle_s=30)  # the cloud's poll failed: every entity unavailable
    seen(failed, 0, 0, status="Ready", switch="unavailable")
    seen(failed, 90, 90, status="unavailable", switch="unavailable")
    assert failed.car_absent()
    lagging = ChargerModel(settle_s=30)  # a status that says no car wins over a draw shown with it
    seen(lagging, 0, 0, status="Charging", switch="on", power_w=7000)
    seen(lagging, 90, 90, status="Ready", power_w=7000)
    assert lagging.car_absent()


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
    seen(model, 11, 10, amps=16, number_max=32, number_at=at(10.5))  # the answer, written after the call
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


# -- how the charger reports (issue 14) ------------------------------------------------------------

def changed(model, seconds, **fields):
    """One step at `seconds` of a charger whose entities report on change: last written at
    `reported` (default: the step before), never written again unchanged."""
    reported = fields.pop("reported", seconds - 1)
    model.observe(at(seconds), ChargerObservation(reported_at=at(reported), updated_at=at(fields.pop("updated", 0)),
                                                  **fields))


def test_a_write_without_an_echo_makes_the_charger_on_change_and_a_repeat_makes_it_polled():
    model = ChargerModel(settle_s=30)
    changed(model, 10, reported=0, amps=10, switch="on")
    assert model.kind is None
    model.accepted(at(10), "current", 16)
    changed(model, 14, reported=0, amps=16, switch="on")
    assert model.kind is None  # an echo could still come
    changed(model, 15, reported=0, amps=16, switch="on")
    assert model.kind == ON_CHANGE
    seen(model, 100, 100, amps=16, switch="on")  # written again with nothing changed: a poll
    assert model.kind == POLLED
    changed(model, 200, reported=190, amps=16, switch="on")
    assert model.kind == POLLED  # for good


def test_a_write_at_the_instant_the_entities_appeared_teaches_nothing():
    """The echo of a write made when the entities were last updated cannot be told apart."""
    model = ChargerModel(settle_s=30)
    changed(model, 0, reported=0, updated=0, amps=10, switch="on")
    model.accepted(at(0), "current", 16)
    changed(model, 30, reported=0, updated=0, amps=16, switch="on")
    assert model.kind is None


def test_on_change_a_resume_is_believed_for_settle_s_then_the_switch_is():
    model = ChargerModel(settle_s=30, reports=ON_CHANGE)
    changed(model, 0, amps=6, switch="off")
    assert model.paused() is True
    model.accepted(at(10), "resume")
    changed(model, 20, reported=0, amps=6, switch="off")  # the charger has not switched yet
    assert model.paused() is False and not model.read_since_change()
    changed(model, 40, reported=0, amps=6, switch="off")  # settle_s on and still off: it did not
    assert model.paused() is True and model.read_since_change()


def test_on_change_an_increase_waits_settle_s_or_the_power_sensor():
    model = ChargerModel(settle_s=30, reports=ON_CHANGE)
    changed(model, 0, amps=10, switch="on", power_w=2300, power_at=at(0))
    model.accepted(at(60), "current", 16)
    changed(model, 65, reported=0, amps=10, switch="on", power_w=2300, power_at=at(0))
    assert not model.read_since_change() and not model.power_fresh()
    changed(model, 75, reported=72, amps=16, switch="on", power_w=3680, power_at=at(72))
    assert model.read_since_change() and model.power_usable(at(75), 180)
    model.accepted(at(200), "current", 12)  # no power sensor report this time
    changed(model, 229, reported=72, amps=16, switch="on", power_w=3680, power_at=at(72))
    assert not model.read_since_change()
    changed(model, 230, reported=72, amps=16, switch="on", power_w=3680, power_at=at(72))
    assert model.read_since_change()
    assert model.power_usable(at(5000), 180)  # an unchanged value is never written again: still true


def test_unknown_a_raise_waits_for_a_read_at_most_read_wait_s():
    """Never stuck: one command interval plus the response, then the write's belief."""
    model = ChargerModel(settle_s=30, read_wait_s=90)
    changed(model, 0, reported=0, updated=0, amps=10, switch="on")
    model.accepted(at(0), "current", 16)  # teaches nothing (see above)
    changed(model, 89, reported=0, updated=0, amps=16, switch="on")
    assert model.kind is None and not model.read_since_change()
    changed(model, 90, reported=0, updated=0, amps=16, switch="on")
    assert model.read_since_change()
    assert not model.power_fresh()  # the power sensor is not believed for it


def test_polled_a_raise_waits_for_the_poll_at_most_two_periods():
    model = ChargerModel(settle_s=30, read_wait_s=90, reports=POLLED)
    for poll in (0, 120, 240):  # a charger polled every 120 s
        seen(model, poll, poll, amps=10, switch="on")
    model.accepted(at(250), "current", 16)
    seen(model, 300, 250, amps=16, switch="on")  # the echo
    assert not model.read_since_change()
    seen(model, 369, 250, amps=16, switch="on")
    assert not model.read_since_change()  # the poll due at 370 (a write restarts the timer)
    seen(model, 370, 370, amps=16, switch="on")
    assert model.read_since_change()
    model.accepted(at(400), "current", 12)
    seen(model, 400 + 30 + 2 * 90, 400, amps=12, switch="on")  # the polls stopped
    assert not model.read_since_change()
    seen(model, 400 + 30 + 2 * 120, 400, amps=12, switch="on")  # two periods (about 120 s) on
    assert model.read_since_change()


def test_a_number_that_takes_a_write_with_a_lag_is_no_lower_answer():
    """A local charger shows the old current until it took the write (up to 20 s)."""
    model = ChargerModel(settle_s=30, reports=ON_CHANGE)
    changed(model, 0, amps=10, number_at=at(0))
    model.accepted(at(10), "current", 16)
    changed(model, 15, amps=10, number_at=at(0))
    changed(model, 30, amps=16, number_at=at(29))
    assert model.max_a(32) == 32
    model.accepted(at(100), "current", 32)
    changed(model, 131, amps=16, number_at=at(29))  # settle_s on, still the old value: it holds less
    assert model.max_a(32) == 16
