"""Pause/resume hysteresis and command discipline."""

from datetime import datetime, timedelta, timezone

from balancer_commands import CURRENT, PAUSE, RESUME, CommandGate
from balancer_plan import ChargePlan

T0 = datetime(2025, 1, 15, 18, 0, tzinfo=timezone.utc)


def at(seconds):
    return T0 + timedelta(seconds=seconds)


def decide(plan, seconds, watts, can_pause=True):
    return plan.decide(at(seconds), watts, 230, 1, 6, 32, can_pause)


def test_amps_are_floored_and_capped():
    plan = ChargePlan(120)
    assert decide(plan, 0, 2299) == (False, 9, False)
    assert decide(plan, 0, 20000) == (False, 32, False)


def test_below_minimum_pauses_at_once():
    plan = ChargePlan(120)
    assert decide(plan, 0, 1300) == (True, 6, False)


def test_resume_waits_for_the_budget_to_hold_one_amp_above_minimum():
    plan = ChargePlan(120)
    decide(plan, 0, 1000)
    assert decide(plan, 10, 1400) == (True, 6, False)  # 6 A only: not enough to resume
    assert decide(plan, 20, 2000) == (True, 6, False)  # 8 A: the wait starts
    assert decide(plan, 100, 2000) == (True, 6, False)
    assert decide(plan, 110, 1000) == (True, 6, False)  # dipped: the wait restarts
    assert decide(plan, 120, 2000) == (True, 6, False)
    assert decide(plan, 240, 2000) == (False, 6, False)  # resumes at the minimum
    assert decide(plan, 245, 2000) == (False, 8, False)


def test_a_pulsing_car_resumes_as_soon_as_the_quarter_allows():
    """A minimum above what a whole quarter gives the car (3 x 230 V at 6 A, 4.14 kW, beside a
    3.8 kW steady rate) stops the car once a quarter whatever the wait: the wait only lengthened
    each pause. Its resume needs the same budget (the minimum plus RESUME_MARGIN_W), not the wait."""
    plan = ChargePlan(120)
    assert plan.decide(at(0), 3000, 230, 3, 6, 16, True, pulsing=True) == (True, 6, False)
    assert plan.decide(at(10), 4300, 230, 3, 6, 16, True, pulsing=True) == (True, 6, False)  # not the margin yet
    assert plan.decide(at(20), 5000, 230, 3, 6, 16, True, pulsing=True) == (False, 6, False)  # no wait
    assert plan.decide(at(25), 5000, 230, 3, 6, 16, True, pulsing=True) == (False, 7, False)
    assert plan.decide(at(30), 3000, 230, 3, 6, 16, True) == (True, 6, False)
    assert plan.decide(at(40), 5000, 230, 3, 6, 16, True) == (True, 6, False)  # not pulsing: the wait


def test_without_pause_switch_hold_minimum_and_say_so():
    plan = ChargePlan(120)
    assert decide(plan, 0, 500, can_pause=False) == (False, 6, True)


def gate():
    return CommandGate(60, 60, 1)


def test_never_send_what_the_charger_has():
    assert gate().next_write(at(0), False, 16, 16, False) is None
    assert gate().next_write(at(0), True, 6, 6, True) is None


def test_one_write_per_interval_and_decreases_take_the_first_slot():
    g = gate()
    assert g.next_write(at(0), False, 10, 16, False) == (CURRENT, 10)
    g.sent(at(0))
    assert g.next_write(at(59), False, 8, 10, False) is None
    assert g.next_write(at(60), False, 8, 10, False) == (CURRENT, 8)


def test_increases_wait_for_the_increase_interval_and_need_min_increase():
    g = CommandGate(60, 120, 2)
    g.sent(at(0))
    assert g.next_write(at(90), False, 20, 16, False) is None
    assert g.next_write(at(120), False, 17, 16, False) is None  # 1 A is below min_increase
    assert g.next_write(at(120), False, 20, 16, False) == (CURRENT, 20)
    assert g.next_write(at(90), False, 10, 16, False) == (CURRENT, 10)  # a decrease does not wait


def test_pause_first_then_hold_minimum_while_paused():
    g = gate()
    assert g.next_write(at(0), True, 6, 16, False) == (PAUSE, None)
    assert g.next_write(at(0), True, 6, 16, True) == (CURRENT, 6)


def test_resume_lowers_the_current_first():
    g = gate()
    assert g.next_write(at(0), False, 6, 16, True) == (CURRENT, 6)
    assert g.next_write(at(0), False, 6, 6, True) == (RESUME, None)


def test_no_car_means_no_switch_but_a_low_current():
    g = gate()
    assert g.next_write(at(0), True, 6, 16, None) == (CURRENT, 6)


def test_clock_going_backwards_does_not_free_the_slot():
    g = gate()
    g.sent(at(100))
    assert g.next_write(at(50), False, 6, 16, False) is None


def test_a_short_dip_below_minimum_holds_the_minimum_if_affordable():
    plan = ChargePlan(120)
    assert plan.decide(at(0), 1000, 230, 1, 6, 32, True, True) == (False, 6, False)
    assert plan.decide(at(170), 1000, 230, 1, 6, 32, True, True) == (False, 6, False)
    assert plan.decide(at(175), 2000, 230, 1, 6, 32, True, True) == (False, 8, False)  # the spike passed


def test_a_sustained_shortfall_pauses_after_the_hold_limit_even_if_affordable():
    plan = ChargePlan(120)
    assert plan.decide(at(0), 1000, 230, 1, 6, 32, True, True) == (False, 6, False)
    assert plan.decide(at(179), 1000, 230, 1, 6, 32, True, True) == (False, 6, False)
    assert plan.decide(at(180), 1000, 230, 1, 6, 32, True, True) == (True, 6, False)


def test_an_unaffordable_shortfall_pauses_at_once():
    plan = ChargePlan(120)
    assert plan.decide(at(0), 1000, 230, 1, 6, 32, True, False) == (True, 6, False)


def test_without_pause_switch_a_sustained_shortfall_stays_short_of_minimum():
    plan = ChargePlan(120)
    assert plan.decide(at(0), 1000, 230, 1, 6, 32, False, True) == (False, 6, False)
    assert plan.decide(at(180), 1000, 230, 1, 6, 32, False, True) == (False, 6, True)
    assert plan.decide(at(185), 1000, 230, 1, 6, 32, False, True) == (False, 6, True)  # no new hold
