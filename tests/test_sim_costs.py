"""The car's energy cost, the prescient lower bound (a linear program) and the evcc-style baseline
(issue 16), on cases small enough to check by hand."""

from dataclasses import replace

import pytest

from tools.controllers import Uncontrolled
from tools.energy_cost import J_PER_KWH, add_steps, car_cost, cost_end, split_energy
from tools.evcc_controller import EvccStyle, plan_slots
from tools.metrics import evaluate, oracle_metrics, oracle_quarters, quarters_of
from tools.plant import QUARTER, Plant, PlantParams, RunResult
from tools.price_bound import BoundInput, bound_input, solve
from tools.prices import PriceFormula
from tools.traces import Trace
from test_simulator import T0

H = 3600.0
Q0 = int(T0 // QUARTER)


class Prices:
    """Import/export EUR/kWh per quarter from quarter index q0 on (what tools.prices.PriceSeries gives)."""

    formula = PriceFormula()

    def __init__(self, imports, exports=None, q0=Q0):
        self.q0, self.imports = q0, imports
        self.exports = exports or [0.0] * len(imports)

    def import_at(self, k):
        return self.imports[k - self.q0]

    def window(self, q0, nq):
        return self.imports[q0 - self.q0:q0 - self.q0 + nq], self.exports[q0 - self.q0:q0 - self.q0 + nq]


def test_steps_add_and_a_quarter_splits_into_import_and_export():
    assert add_steps([0, 10], [100.0, 200.0], [5, 10, 20], [1.0, 2.0, 0.0]) == ([0, 5, 10, 20], [100.0, 101.0, 202.0, 200.0])
    # a quarter with 7.5 minutes of import and 7.5 of export is not netted: both registers count
    imports, exports = split_energy([0.0, 450.0], [1000.0, -1000.0], 900.0, 0, 1)
    assert (imports, exports) == ([450e3], [450e3])


def run_of(house_w, ev_w, params=PlantParams(), controller="test"):
    """A RunResult over len(house_w) quarters: the house and the car constant in each quarter."""
    n = len(house_w)
    times = [T0 + k * QUARTER for k in range(n)]
    trace = Trace("t", times, list(house_w), T0 + n * QUARTER)
    return RunResult(controller, trace, params, T0, T0 + n * QUARTER, times, list(ev_w),
                     [(T0, T0 + n * QUARTER)], [])


def test_the_cars_energy_cost_is_the_bill_with_it_minus_without_it():
    # q0: the house imports 1 kW, the car adds 2 kW: 0.5 kWh at 0.30. q1: the house exports 1 kW, the
    # car takes 2 kW: 0.25 kWh of surplus (0.04 given up) and 0.25 kWh imported at 0.20
    run = run_of([1000.0, -1000.0], [2000.0, 2000.0])
    cost = car_cost(run, Prices([0.30, 0.20], [0.05, 0.04]), increase_w=1200.0, price_per_kw=60.0)
    assert cost.energy_eur == pytest.approx(0.5 * 0.30 + 0.25 * 0.04 + 0.25 * 0.20)
    assert cost.capacity_eur == pytest.approx(1.2 * 60.0 / 12 * 1.06)      # with the formula's VAT
    assert cost.total_eur == pytest.approx(cost.energy_eur + 6.36) and cost.car_kwh == pytest.approx(1.0)


def test_costs_stop_where_a_session_still_plugged_in_at_the_end_plugs_in():
    params = PlantParams(sessions=((T0, T0 + H, 1.0), (T0 + 2.1 * H, T0 + 9 * H, 5.0)))
    run = replace(run_of([0.0] * 12, [0.0] * 12, params))
    assert cost_end(run) == T0 + 2 * H
    assert cost_end(replace(run, params=PlantParams(sessions=((T0, T0 + H, 1.0),)))) == run.end


def bound(offtake, cap, imports, need, max_kwh, surplus=None, exports=None):
    n = len(offtake)
    return solve(BoundInput(offtake, [cap] * n, imports, exports or [0.0] * n, [need], [max_kwh],
                            [surplus or [0.0] * n]))


def test_the_bound_takes_the_cheapest_quarters_up_to_the_chargers_maximum():
    result = bound([0.0] * 4, 10.0, [0.30, 0.10, 0.20, 0.40], need=3.0, max_kwh=[2.0] * 4)
    assert result.status == "optimal" and result.energy_eur == pytest.approx(2 * 0.10 + 1 * 0.20)
    assert result.car_kwh == pytest.approx([0.0, 2.0, 1.0, 0.0]) and result.short_kwh == pytest.approx(0)


def test_the_bound_never_raises_the_peak():
    # the cap leaves 0.2 kWh in the cheapest quarter (the house takes 0.8 of 1.0)
    result = bound([0.0, 0.8, 0.0, 0.0], 1.0, [0.30, 0.10, 0.20, 0.40], need=3.0, max_kwh=[2.0] * 4)
    assert result.car_kwh == pytest.approx([1.0, 0.2, 1.0, 0.8])
    assert result.energy_eur == pytest.approx(0.3 + 0.02 + 0.2 + 0.32)


def test_the_bound_charges_from_the_surplus_at_the_export_price_first():
    # q0: the house exports 1 kWh (it imports nothing); the car can take it at the 0.05 it would have
    # earned (and the cap would let it import 1 more there, at 0.30: dearer than the 1.0 left under
    # the cap at 0.20 and the 0.5 at 0.25)
    result = bound([0.0, 0.0, 0.0], 1.0, [0.30, 0.20, 0.25], need=2.5, max_kwh=[2.0] * 3,
                   surplus=[1.0, 0.0, 0.0], exports=[0.05] * 3)
    assert result.from_surplus_kwh == pytest.approx(1.0)
    assert result.car_kwh == pytest.approx([1.0, 1.0, 0.5])
    assert result.energy_eur == pytest.approx(1.0 * 0.05 + 1.0 * 0.20 + 0.5 * 0.25)


def test_a_need_that_cannot_fit_is_delivered_as_far_as_it_can_and_the_rest_reported():
    result = bound([0.0] * 3, 0.5, [0.1, 0.2, 0.3], need=4.0, max_kwh=[2.0] * 3)
    assert result.short_kwh == pytest.approx(2.5) and result.delivered_kwh == pytest.approx([1.5])
    assert result.energy_eur == pytest.approx(0.05 + 0.1 + 0.15)       # without the shortfall's penalty


def test_the_bounds_input_from_a_replay():
    # 1 x 230 V 16 A (3.68 kW), target 4 kW; plugged in 15 minutes after the start for 45 minutes; the
    # house takes 1 kW, in its third quarter exporting 2 kW for the first half
    params = PlantParams(max_current=16, sessions=((T0 + 900, T0 + 3600, 2.0),))
    trace = Trace("h", [T0, T0 + 1800, T0 + 2250], [1000.0, -2000.0, 1000.0], T0 + 3600)
    run = Plant(trace, params, T0, T0 + 3600).run(Uncontrolled())
    data, q0 = bound_input(run, Prices([0.3] * 4))
    assert q0 == Q0 and data.need_kwh == [2.0]
    assert data.cap_kwh == pytest.approx([1.0] * 4)
    assert data.offtake_kwh == pytest.approx([0.25, 0.25, 0.125, 0.25])    # the export is not netted
    assert data.max_kwh[0] == pytest.approx([0.0, 0.92, 0.92, 0.92])
    assert data.surplus_kwh[0] == pytest.approx([0.0, 0.0, 0.25, 0.0])
    assert solve(data).short_kwh == pytest.approx(0.0)


def test_the_bounds_cap_is_the_months_peak_or_the_limit_in_force():
    # target 1 kW; the house 1 kW, then 3 kW in the third quarter: the month's peak is 3 kW from the
    # first quarter on ("month"), the limit in force only from the fourth ("running", as the oracle)
    params = PlantParams(max_current=16, target_peak=1000.0, sessions=((T0, T0 + 3600, 2.0),))
    trace = Trace("h", [T0, T0 + 1800, T0 + 2700], [1000.0, 3000.0, 1000.0], T0 + 3600)
    run = Plant(trace, params, T0, T0 + 3600).run(Uncontrolled())
    month, _ = bound_input(run, Prices([0.3] * 4))
    running, _ = bound_input(run, Prices([0.3] * 4), "running")
    assert month.cap_kwh == pytest.approx([0.75] * 4)
    assert running.cap_kwh == pytest.approx([0.25, 0.25, 0.25, 0.75])


def mixed_quarter_run():
    """q0: the house exports 3 kW for 7 minutes, then imports 4 kW for 8; q1: 1 kW. The car (6 A,
    1380 W, uncontrolled) plugged in all along, the target 1.5 kW."""
    params = PlantParams(max_current=6, target_peak=1500.0, sessions=((T0, T0 + 1800, 10.0),))
    trace = Trace("mixed", [T0, T0 + 420, T0 + 900], [-3000.0, 4000.0, 1000.0], T0 + 1800)
    return Plant(trace, params, T0, T0 + 1800).run(Uncontrolled())


def test_a_quarter_bills_its_offtake_export_minutes_take_nothing_off():
    run = mixed_quarter_run()
    q = quarters_of(run)
    billed = 4000.0 * 8 / 15                                  # not the net 733 W
    assert q.house_w == pytest.approx([billed, 1000.0])
    # the car soaks 1380 W of the 3 kW export (no offtake), then imports 1380 W for 8 minutes
    assert q.total_w == pytest.approx([5380.0 * 8 / 15, 2380.0])
    m = evaluate(run)
    assert m.peak_house_w == pytest.approx(billed) and m.peak_ev_w == pytest.approx(5380.0 * 8 / 15)
    # the house alone broke the 1.5 kW limit in q0: the car's part there is exposure, not its fault
    assert m.exposure_max_w == pytest.approx(1380.0 * 8 / 15) and m.own_fault_w == 0


def test_the_oracle_and_the_bound_cap_the_offtake_and_take_the_surplus_free():
    run = mixed_quarter_run()
    q = quarters_of(run)
    # q0: the house's 2133 W offtake is above the 1.5 kW target: nothing to import, but the
    # surplus (1380 W x 7 min) is free; q1: under the 2133 W the house set, 1133 W of room
    expected_j = [1380.0 * 420, (4000.0 * 8 / 15 - 1000.0) * 900]
    assert oracle_quarters(run, q) == pytest.approx(expected_j)
    oracle = oracle_metrics(run)
    assert oracle.peak_ev_w == pytest.approx(4000.0 * 8 / 15) and oracle.ev_increase_w == pytest.approx(0.0)
    data, _ = bound_input(run, Prices([0.3, 0.3], [0.05, 0.05]))
    assert data.offtake_kwh == pytest.approx([4000.0 * 480 / J_PER_KWH, 0.25])
    assert data.cap_kwh == pytest.approx([4000.0 * 480 / J_PER_KWH] * 2)
    result = solve(data)
    assert result.car_kwh == pytest.approx([e / J_PER_KWH for e in expected_j], abs=1e-9)
    assert result.from_surplus_kwh == pytest.approx(1380.0 * 420 / J_PER_KWH, abs=1e-9)


def test_evcc_style_takes_the_cheapest_quarters_at_full_power_later_on_a_tie():
    t = T0 + 18 * H                       # Monday 18:00: tomorrow's prices are known
    prices = Prices([0.2] * 200)
    k = int(t // QUARTER) - Q0
    prices.imports[k + 1] = prices.imports[k + 3] = 0.1
    # 1.5 quarters' worth at 4 kW: the two 0.1 quarters, and of the 0.2 ones none
    slots = plan_slots(t, t + 4 * H, need_kwh=1.5, max_w=4000.0, prices=prices)
    assert slots == [(t + 900, t + 1800), (t + 2700, t + 3600)]
    # ties: the latest equal quarter first
    slots = plan_slots(t, t + 2 * H, need_kwh=2.0, max_w=4000.0, prices=Prices([0.2] * 200))
    assert slots == [(t + 6300, t + 7200), (t + 5400, t + 6300)][::-1]
    # not enough time: every slot from now
    assert plan_slots(t + 600, t + 1800, 5.0, 4000.0, prices) == [(t + 600, t + 900), (t + 900, t + 1800)]
    # a departure past the known prices with time enough after them: no plan yet
    assert plan_slots(T0 + 10 * H, T0 + 40 * H, 2.0, 4000.0, prices) == []


def test_the_evcc_style_baseline_charges_in_its_plan_and_ignores_the_house():
    # plugged in Monday 18:00 - 21:00 needing 3 kWh at 3.68 kW: four quarters; the cheapest hour is
    # 20:00 (the house's 3 kW is ignored: 6.68 kW then)
    params = PlantParams(max_current=16, sessions=((T0 + 18 * H, T0 + 21 * H, 3.0),))
    trace = Trace("h", [T0 + 17 * H], [3000.0], T0 + 22 * H)
    imports = [0.3] * 200
    first = int((T0 + 20 * H) // QUARTER) - Q0
    imports[first:first + 4] = [0.1] * 4
    run = Plant(trace, params, T0 + 17 * H, T0 + 22 * H).run(EvccStyle(Prices(imports)))
    on = [(t, w) for t, w in zip(run.ev_times, run.ev_w) if w > 0]
    # at most the 110 s before the first poll's pause at plug-in; then nothing until 20:00 (+20 s)
    assert [t for t, _ in on if not T0 + 18 * H <= t < T0 + 18 * H + 130] == [T0 + 20 * H + 20]
    assert on[-1] == (T0 + 20 * H + 20, 3680.0)
    assert run.full[0][0] == pytest.approx(T0 + 20 * H + 20 + 3.0 / 3.68 * H)


def test_a_surplus_below_the_chargers_minimum_is_taken_only_with_the_grids_top_up():
    """q0: 600 W exported the whole quarter, the car's minimum 1380 W: at its minimum the car takes
    the 0.15 kWh only with 0.195 kWh from the grid beside it; q1: no sun, 0.40 EUR/kWh. The need
    0.5 kWh: 0.345 kWh at the minimum in q0 (0.15 of it from the panels), the rest in q1. Without
    the minimum the program took the whole 0.15 kWh free and imported the same 0.195 there too."""
    params = PlantParams(max_current=6, target_peak=4000.0, sessions=((T0, T0 + 1800, 0.5),))
    run = Plant(Trace("scant", [T0, T0 + 900], [-600.0, 0.0], T0 + 1800), params, T0, T0 + 1800).run(Uncontrolled())
    data, _ = bound_input(run, Prices([0.30, 0.40], [0.0, 0.0]))
    assert data.followed_kwh[0] == pytest.approx([0.0, 0.0]) and data.scant_kwh[0] == pytest.approx([0.15, 0.0])
    assert data.grid_per_scant_kwh[0][0] == pytest.approx(780.0 / 600.0)
    result = solve(data)
    assert result.from_surplus_kwh == pytest.approx(0.15) and result.car_kwh[0] == pytest.approx(0.345)
    # the bound is then 0.195 x 0.30 + 0.155 x 0.40, where a charger below its minimum would pay 0.35 x 0.30
    assert result.energy_eur == pytest.approx(0.195 * 0.30 + 0.155 * 0.40)


def test_the_cost_gap_takes_the_excess_over_the_bound_apart_by_session():
    """Two sessions of 0.5 kWh, each over two quarters at 0.10 then 0.30 EUR/kWh, a 1 kW house and
    a 4 kW target. The uncontrolled car (16 A, 3.68 kW) charges at plug-in, in the dear quarter of
    the first session and the cheap one of the second; the bound takes the cheap quarter of both.
    The sessions' EUR add up to the cell's on both sides (tools/cost_gap.py)."""
    from tools.cost_gap import gap_table, session_gaps
    from tools.energy_cost import quarter_costs
    from tools.price_bound import bound_sessions
    params = PlantParams(max_current=16, sessions=((T0, T0 + 1800, 0.5), (T0 + 2700, T0 + 4500, 0.5)))
    run = Plant(Trace("two", [T0], [1000.0], T0 + 5 * QUARTER), params, T0, T0 + 5 * QUARTER).run(Uncontrolled())
    prices = Prices([0.30, 0.10, 0.30, 0.10, 0.30])
    bound = solve(bound_input(run, prices)[0])
    costs = quarter_costs(run, prices)
    gaps = session_gaps(costs, bound, bound_sessions(run))
    assert [g.bound_eur for g in gaps] == pytest.approx([0.05, 0.05])
    assert sum(g.eur for g in gaps) == pytest.approx(car_cost(run, prices, 0.0).energy_eur)
    assert sum(g.bound_eur for g in gaps) == pytest.approx(bound.energy_eur)
    assert [g.kwh for g in gaps] == pytest.approx([0.5, 0.5]) and [g.bound_kwh for g in gaps] == pytest.approx([0.5, 0.5])
    assert [g.gap_eur for g in gaps] == pytest.approx([0.5 * 0.30 - 0.05, 0.0], abs=1e-9)
    gaps[1].kwh = 0.4                     # a session delivered short costs less: said apart
    assert gap_table(gaps, "test", 5).endswith("sessions where test delivered less than the bound: 1\n"
                                                "- Mon 2025-01-06 00:45: 0.40 of the bound's 0.50 kWh")
