"""The quarter-hour budget and the car's power estimate."""

import pytest

from balancer_budget import QuarterBudget, amps_for_power, ev_power_estimate_w, house_load_w


def ev_allowance_w(limit_w, margin_w, energy_j, remaining_s, house_w, ev_w, response_s, hold_s):
    return QuarterBudget(limit_w, margin_w, energy_j, remaining_s, house_w, ev_w).allowance_w(response_s, hold_s)


def test_fresh_quarter_allows_the_steady_rate():
    allowance, bound = ev_allowance_w(4000, 150, 0, 900, 1000, 0, 0, 60)
    assert allowance == pytest.approx(2850) and bound == "quarter"


def test_energy_already_drawn_is_spent():
    # 450 s at 6000 W used 2.7 MJ of 3.465 MJ; 450 s left with a 1000 W house
    allowance, _ = ev_allowance_w(4000, 150, 6000 * 450, 450, 1000, 0, 0, 60)
    assert allowance == pytest.approx((3850 * 900 - 6000 * 450) / 450 - 1000)


def test_a_light_first_half_lets_the_car_catch_up():
    allowance, bound = ev_allowance_w(4000, 150, 500 * 450, 450, 500, 0, 0, 60)
    assert allowance > 3850 - 500 and bound == "quarter"


def test_the_response_time_counts_at_the_cars_present_power():
    quick, _ = ev_allowance_w(4000, 150, 0, 600, 1000, 7000, 0, 60)
    slow, _ = ev_allowance_w(4000, 150, 0, 600, 1000, 7000, 30, 60)
    assert slow < quick


def test_near_the_end_the_command_also_serves_the_next_quarter():
    allowance, bound = ev_allowance_w(4000, 150, 500 * 840, 60, 500, 0, 20, 60)
    assert bound == "steady" and allowance == pytest.approx(3850 - 500)


def test_projection_and_amps():
    assert QuarterBudget(4000, 150, 1800 * 450, 450, 0, 0).projected_average_w(2000) == pytest.approx(1900)
    assert amps_for_power(2299, 230, 1) == 9
    assert amps_for_power(11040, 230, 3) == 16
    assert amps_for_power(-100, 230, 1) < 0


def test_house_load_never_negative():
    assert house_load_w(3000, 3680) == 0
    assert house_load_w(5000, 3680) == 1320


def test_car_estimate():
    assert ev_power_estimate_w(16, False, 230, 1, None, False, 9000) == 3680
    assert ev_power_estimate_w(16, False, 230, 1, None, False, 1000) == 1000  # no more than the grid gives
    assert ev_power_estimate_w(16, True, 230, 1, None, False, 9000) == 0
    assert ev_power_estimate_w(16, False, 230, 1, 2100, True, 9000) == 2100
    assert ev_power_estimate_w(16, False, 230, 1, 2100, False, 9000) == 3680


def test_a_decrease_waits_while_the_quarter_can_carry_the_higher_current():
    budget = QuarterBudget(4000, 150, 0, 900, 1000, 2990)  # 13 A where the steady rate is 12.4 A
    assert budget.decrease_can_wait(2990, 2760, 120)
    late = QuarterBudget(4000, 150, (1000 + 2990) * 800, 100, 1000, 2990)
    assert not late.decrease_can_wait(2990, 2760, 120)


def test_the_minimum_is_affordable_until_a_pause_could_act():
    assert QuarterBudget(4000, 150, 0, 900, 2000, 1380).minimum_affordable(30, 120, 1380)
    assert not QuarterBudget(4000, 150, 3700 * 800, 100, 3800, 1380).minimum_affordable(30, 120, 1380)


def test_a_reserve_is_house_load_for_the_rest_of_the_quarter_only():
    budget = QuarterBudget(4000, 150, 3000 * 450, 450, 1000, 0)
    kept = budget.with_reserve(800)
    assert kept.allowance_w(0, 60)[0] == pytest.approx(budget.allowance_w(0, 60)[0] - 800)
    assert kept.steady_w() == pytest.approx(3850 - 1800) and kept.left_j() == budget.left_j()
    assert kept.house_w == 1000 and kept.reserve_w == 800  # what the reason shows stays the measured house
