"""Mode solar (issue 16): Controller.step driven directly, with a house, its panels and the car.

Each case steps the controller every 5 s through a small plant: the grid sees house + car - PV,
the car draws its setpoint while the switch shows it resumed, and every write is accepted.
"""

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

import balancer_solar
from balancer_commands import CURRENT, PAUSE, RESUME
from balancer_controller import MODE_SOLAR
from balancer_profile import LoadProfile
from balancer_config import validate
from test_controller import BASE, T0, Car, at, busy_evening_profile, controller, reading


def drive(ctrl, car, seconds, pv_w, house_w=300.0, start=0, step=5, mode=MODE_SOLAR, need=None, prices=None, **fields):
    """Step ctrl every `step` s from `start` to `start + seconds`; pv_w(t) and house_w give the
    plant; need: the session's energy_needed (departure 07:30) and a status sensor; prices: the
    import PriceTable. Returns the decisions."""
    decisions = []
    for t in range(start, start + seconds + 1, step):
        house = house_w(t) if callable(house_w) else house_w
        grid_w = house + car.draw_w() - pv_w(t)
        status = None if need is None else ("Paused" if car.paused else "Charging")
        r = reading(t, grid_w=grid_w, amps=car.amps, switch=car.switch(), polled=t, mode=mode, status=status, **fields)
        r.departure, r.energy_needed_kwh = ("07:30", need) if need is not None else (None, None)
        r.prices = prices
        decisions.append(car.step(ctrl, t, r))
    return decisions


def steady(watts):
    return lambda t: watts


def test_a_surplus_that_covers_the_minimum_for_a_while_starts_the_car_and_it_follows_the_surplus():
    ctrl, car = controller(), Car()
    decisions = drive(ctrl, car, 600, steady(2300.0))  # 2.0 kW exported with the car paused
    resumed = [t for t, write in car.writes if write == (RESUME, None)]
    assert len(resumed) == 1 and balancer_solar.START_S <= resumed[0] <= balancer_solar.START_S + 60
    assert decisions[0].want_paused and decisions[0].reason.startswith("solar: 2.0 kW surplus, covers the 1.4 kW minimum")
    # 2.0 kW of surplus: 8 A (1.84 kW), not 9 A (it would take 70 W from the grid)
    assert car.amps == 8 and not car.paused
    assert decisions[-1].reason == "solar: 2.0 kW surplus, 8 A"
    assert [w for t, w in car.writes] == [(RESUME, None), (CURRENT, 8)]


def test_a_surplus_below_the_minimum_never_starts_the_car():
    ctrl, car = controller(), Car()
    decisions = drive(ctrl, car, 900, steady(300.0 + 1300.0))  # 1.3 kW: below 6 A x 230 V
    assert car.writes == [] and all([d.want_paused for d in decisions])
    assert decisions[-1].reason == "solar: 1.3 kW surplus, below the 1.4 kW minimum: paused"


def charging_car(ctrl, pv_w=2300.0):
    """ctrl with the car started on a steady surplus (10 min of it)."""
    car = Car()
    drive(ctrl, car, 600, steady(pv_w))
    assert not car.paused
    return car


def test_a_passing_cloud_lowers_the_current_but_does_not_stop_the_car():
    ctrl = controller()
    car = charging_car(ctrl)
    cloud = lambda t: 300.0 if t < 120 else 2300.0  # two minutes without sun
    drive(ctrl, car, 900, cloud, start=605)
    kinds = [w[0] for t, w in car.writes if t >= 605]
    assert PAUSE not in kinds and not car.paused  # at most a decrease and a raise again
    assert len(kinds) <= 2 and car.amps == 8


def test_a_surplus_gone_for_longer_than_stop_s_pauses_the_car_and_writes_once():
    ctrl = controller()
    car = charging_car(ctrl)
    decisions = drive(ctrl, car, 900, steady(300.0), start=605)  # no sun: the car at 6 A takes 1.4 kW from the grid
    paused_at = [t for t, write in car.writes if write == (PAUSE, None)]
    assert len(paused_at) == 1 and 605 + balancer_solar.STOP_S <= paused_at[0] <= 605 + balancer_solar.STOP_S + 90
    after = [w for t, w in car.writes if t >= 605]
    assert after[-1] == (PAUSE, None) and after[-2] == (CURRENT, 6) and len(after) <= 3  # down to the minimum, then one pause
    assert decisions[-1].reason.startswith("solar: 0.0 kW surplus, below the 1.4 kW minimum: paused")


def test_a_small_import_at_the_minimum_is_allowed_and_stops_nothing():
    ctrl = controller()
    car = charging_car(ctrl)
    drive(ctrl, car, 1800, steady(300.0 + 1380.0 - balancer_solar.IMPORT_ALLOWANCE_W + 50), start=605)  # 150 W from the grid at 6 A
    assert not car.paused and car.amps == 6


def test_a_wobbling_surplus_does_not_make_the_writes_flap():
    ctrl = controller()
    car = charging_car(ctrl)
    wobble = lambda t: 2300.0 + (250.0 if (t // 5) % 2 else -250.0) + (150.0 if (t // 60) % 2 else -150.0)
    drive(ctrl, car, 1800, wobble, start=605)
    assert [w for t, w in car.writes if t >= 605] == [] and car.amps == 8


def test_never_above_the_configured_maximum():
    ctrl, car = controller(), Car()
    decisions = drive(ctrl, car, 900, steady(300.0 + 6000.0), max_a=10)
    assert car.amps == 10 and max([d.want_a for d in decisions]) == 10


def test_the_quarter_cap_holds_whatever_the_surplus_claims():
    """The quarter already drew nearly the whole limit before the sun came: the budget, not the
    surplus, decides, and the car stays paused."""
    ctrl, car = controller(), Car()
    house = lambda t: 5400.0 if t < 600 else 300.0
    sun = lambda t: 0.0 if t < 600 else 6300.0
    decisions = drive(ctrl, car, 895, sun, house_w=house)
    held = [d for d in decisions if "A wanted, the quarter budget says: paused: budget below the minimum" in d.reason]
    assert held and all([d.want_paused for d in held])
    # the budget lets only the minimum through, for the quarter's last minute, counted as if from the grid
    assert [w for t, w in car.writes] == [(RESUME, None)] and car.amps == 6
    assert decisions[-1].running_average_w * 895 / 900 + 6 * 230.0 * 5 / 900 < 4000


def test_without_a_pause_switch_it_holds_the_minimum_and_says_so():
    ctrl, car = controller(pause_switch=None), Car(paused=False)
    decisions = drive(ctrl, car, 300, steady(300.0))
    assert car.amps == 6 and decisions[-1].want_a == 6 and not decisions[-1].want_paused
    assert decisions[-1].reason.endswith("below the 1.4 kW minimum: holding 6 A (no pause_switch)")


def test_the_deadline_wins_when_the_surplus_alone_would_miss_it():
    for need, grid_charging in ((10.0, False), (150.0, True)):
        ctrl = controller(departure="07:30", energy_needed=10, charger_status="sensor.wb_status")
        ctrl.restore_session({}, busy_evening_profile())
        car = Car(paused=False)
        decisions = drive(ctrl, car, 300, steady(0.0), need=need)  # 18:00 local, no sun, a quiet house
        if grid_charging:  # 150 kWh by 07:30 needs every quarter: it charges as auto would
            assert not car.paused and car.amps > 6 and decisions[-1].session_state == "short"
            assert decisions[-1].reason.startswith("solar, but the departure needs the grid: ")
        else:  # 10 kWh fits in the night: from the surplus only, and there is none
            assert car.paused and decisions[-1].reason.startswith("solar: 0.0 kW surplus")
            assert decisions[-1].session_state == "waiting" and decisions[-1].session_attributes["on_track"]


def test_the_profile_learns_the_export_the_grid_shows_as_the_net_and_nothing_else():
    ctrl = controller()
    ctrl.restore_session({}, LoadProfile().as_dict())
    car = Car(paused=True)
    drive(ctrl, car, 1800, steady(2300.0), mode="paused")  # 18:00-18:30 local: a steady 2 kW export
    assert ctrl.profile.usual_net_w(T0) == pytest.approx((800.0 - 2000.0) / 2, abs=30)  # the prior and one quarter
    # the offtake figures learnt what they learnt before issue 16: the meter's offtake, 0 W
    before = LoadProfile()
    before.observe(T0, 0.0)
    assert ctrl.profile.expected_w(T0) == before.expected_w(T0) and ctrl.profile.high_w(T0) == before.high_w(T0)



# ---- the solar forecast (Solcast's detailedForecast) -------------------------------------------

def solcast(start, kw_by_half_hour, key="pv_estimate10"):
    """A detailedForecast list from start (aware datetime), one item per 30 minutes."""
    return [{"period_start": start + timedelta(minutes=30 * k), "pv_estimate": kw * 1.3, key: kw, "pv_estimate90": kw * 1.5}
            for k, kw in enumerate(kw_by_half_hour)]


def test_the_forecast_gives_each_quarter_the_pessimistic_production_in_watts():
    start = datetime(2025, 6, 2, 11, 0, tzinfo=ZoneInfo("Europe/Brussels"))
    quarters, problem = balancer_solar.forecast_w(solcast(start, [1.2, 2.0]))
    utc = start.astimezone(timezone.utc)
    assert problem is None
    assert quarters == {utc: 1200.0, utc + timedelta(minutes=15): 1200.0,
                        utc + timedelta(minutes=30): 2000.0, utc + timedelta(minutes=45): 2000.0}
    # ISO text as well as datetimes; hourly items (detailedHourly) fill four quarters
    hourly = [{"period_start": (start + timedelta(hours=k)).isoformat(), "pv_estimate10": 0.5} for k in range(2)]
    assert len(balancer_solar.forecast_w(hourly)[0]) == 8


def test_a_forecast_without_usable_items_says_why_and_gives_nothing():
    start = datetime(2025, 6, 2, 11, 0, tzinfo=timezone.utc)
    assert balancer_solar.forecast_w(None) == ({}, "no detailedForecast list in its attributes")
    for bad in ([{"period_start": "soon", "pv_estimate10": 1.0}], [{"period_start": start, "pv_estimate10": "x"}],
                solcast(start, [1.0], key="pv_estimate50"), [{"period_start": start, "pv_estimate10": -1.0}]):
        assert balancer_solar.forecast_w(bad) == ({}, "no item with a period_start and a pv_estimate10 in kW")


def test_the_reader_passes_the_forecast_to_the_reading_and_warns_once_when_it_is_unusable():
    from stubs.ha import HState, StateVal
    from balancer_read import Reader
    from balancer_runtime import INFO, WARNING
    settings, errors = validate(dict(BASE, charger_power=None, solar_forecast="sensor.solcast_pv_forecast_forecast_today"))
    assert not errors
    reader = Reader(settings)
    assert "sensor.solcast_pv_forecast_forecast_today" in reader.entity_ids
    start = datetime(2025, 6, 2, 9, 0, tzinfo=timezone.utc)

    def values(attributes, updated):
        forecast = StateVal(HState("sensor.solcast_pv_forecast_forecast_today", "12.3", attributes, updated, updated, updated))
        return {"sensor.solcast_pv_forecast_forecast_today": forecast}

    reading, said = reader.reading(values({"detailedForecast": solcast(start, [1.5])}, start), "auto")
    assert reading.pv_forecast == {start: 1500.0, start + timedelta(minutes=15): 1500.0} and said == []
    bad = values({"detailedHourly": []}, start + timedelta(hours=1))
    assert reader.reading(bad, "auto")[1] == [(WARNING, "solar_forecast sensor.solcast_pv_forecast_forecast_today: no "
                                                        "detailedForecast list in its attributes; the plan counts the usual surplus")]
    reading, said = reader.reading(values({"detailedHourly": []}, start + timedelta(hours=2)), "auto")
    assert reading.pv_forecast is None and said == []  # said once
    said = reader.reading(values({"detailedForecast": solcast(start, [1.0])}, start + timedelta(hours=3)), "auto")[1]
    assert said == [(INFO, "solar_forecast sensor.solcast_pv_forecast_forecast_today: read again")]
    assert validate(dict(BASE, solar_forecast="weather.home"))[1] == [
        "wallbox_balancer: 'solar_forecast' must be a sensor entity, got weather.home"]


def test_with_a_plan_that_would_wait_the_sun_still_charges_the_car_and_the_session_says_so():
    ctrl = controller(departure="07:30", energy_needed=10, charger_status="sensor.wb_status")
    ctrl.restore_session({}, busy_evening_profile())  # auto would wait for the night's windows
    car = Car(paused=True)
    decisions = drive(ctrl, car, 600, steady(2300.0), need=10.0)
    assert not car.paused and car.amps == 8
    assert decisions[-1].session_state == "charging" and decisions[-1].reason == "solar: 2.0 kW surplus, 8 A"


def test_once_the_deadline_has_won_it_keeps_the_car_for_the_rest_of_the_session():
    """30 kWh by 07:30 from 18:00 is tight (the quiet night gives about 37 kWh): the car charges
    as auto; a quarter later it is no longer tight, and auto's plan, not the sun, decides on."""
    ctrl = controller(departure="07:30", energy_needed=30, charger_status="sensor.wb_status")
    ctrl.restore_session({}, busy_evening_profile())
    car = Car(paused=False)
    decisions = drive(ctrl, car, 1200, steady(0.0), need=30.0)
    assert decisions[0].session_state == "charging" and ctrl.session_plan is not None
    assert decisions[0].reason.startswith("solar, but the departure needs the grid: ")
    later = decisions[-1]
    assert not ctrl.session_plan.needs_grid and ctrl.deadline_won  # no longer tight, still the deadline's
    assert later.reason.startswith("solar, but the departure needs the grid: ")
    ctrl.step(at(1205), reading(1205, grid_w=300.0, amps=car.amps, status="Ready", polled=1205, mode=MODE_SOLAR))
    assert not ctrl.deadline_won  # unplugged: the next session starts with the sun again


def waiting_price_plan(pv_w, prices=True):
    """18:00 on a weekday, 10 kWh by 07:30, mode auto, a busy evening: the plan waits for the night
    (0.20 EUR/kWh against 0.30 now). Returns the car and the decisions of 10 minutes."""
    from test_controller import night_tariff
    ctrl = controller(departure="07:30", energy_needed=10, charger_status="sensor.wb_status")
    ctrl.restore_session({}, busy_evening_profile())
    car = Car(paused=True)
    decisions = drive(ctrl, car, 600, steady(pv_w), need=10.0, mode="auto",
                      prices=night_tariff(at(0)) if prices else None)
    return car, decisions


def test_a_price_plan_waiting_for_its_quarters_takes_the_surplus_meanwhile():
    """1.1 kW exported, below the 1.4 kW minimum: at 0.30 EUR/kWh now the car's minimum costs
    (0.28 kW x 0.30) / 1.38 kW = 0.06 EUR/kWh, below the night's 0.20 it would otherwise buy; the
    car starts after START_S at 6 A and the session says it charges."""
    car, decisions = waiting_price_plan(1400.0)
    assert [w for t, w in car.writes][-1] == (RESUME, None) and car.amps == 6 and not car.paused
    resumed = [t for t, write in car.writes if write == (RESUME, None)]
    assert balancer_solar.START_S <= resumed[0] <= balancer_solar.START_S + 60
    last = decisions[-1]
    assert last.session_state == "charging" and "; meanwhile solar: 1.1 kW surplus, 6 A" in last.reason
    assert last.reason.startswith("waiting: 10.0 kWh by 07:30 planned in the cheapest safe quarters")


def test_a_thin_afternoon_sun_starts_a_waiting_plan_too():
    """0.5 kW exported, a third of the 1.4 kW minimum: the minimum then costs (0.88 kW x 0.30) /
    1.38 kW = 0.19 EUR/kWh, below the night's 0.20; the car starts at 6 A (a half-minimum floor kept
    that sun exported: the prescient bound trickles it into the car at the minimum)."""
    car, decisions = waiting_price_plan(800.0)
    assert [w for t, w in car.writes][-1] == (RESUME, None) and car.amps == 6 and not car.paused
    assert "; meanwhile solar: 0.5 kW surplus, 6 A" in decisions[-1].reason


def test_without_prices_or_with_too_little_surplus_the_waiting_plan_stays_paused():
    """The safest plan (no prices) waits as before, sun or not; with prices a surplus below a
    quarter of the minimum (0.3 kW) starts nothing."""
    for pv_w, prices in ((1400.0, False), (600.0, True)):
        car, decisions = waiting_price_plan(pv_w, prices)
        assert car.paused and (RESUME, None) not in [w for t, w in car.writes]
        assert decisions[-1].session_state == "waiting" and "meanwhile" not in decisions[-1].reason


def test_the_surplus_that_starts_a_waiting_plan_is_what_makes_the_minimum_cheaper_than_its_dearest_kwh():
    # 0.30 now, 0.20 planned, nothing earned for an export: a third of the minimum
    assert round(balancer_solar.soak_start_w(1380.0, 0.30, 0.0, 0.20)) == 460
    # 0.30 now, 0.25 planned: a sixth would do, a quarter is the floor
    assert balancer_solar.soak_start_w(1380.0, 0.30, 0.0, 0.25) == 345.0
    # 0.30 now, 0.05 planned, 0.02 earned: 89 % of the minimum from the panels
    assert round(balancer_solar.soak_start_w(1380.0, 0.30, 0.02, 0.05)) == round(1380.0 * 0.25 / 0.28)
    # a plan buying dearer than now would take anything; never less than the floor, never above the minimum
    assert balancer_solar.soak_start_w(1380.0, 0.20, 0.0, 0.30) == 345.0
    assert balancer_solar.soak_start_w(1380.0, 0.30, 0.35, 0.20) == 1380.0
    assert balancer_solar.soak_start_w(1380.0, None, 0.0, 0.20) == 1380.0
