"""The simulator's car sessions (issue 8): a car that gets full, the charger status and added
energy as the polls show them, and the write counts by car state."""

from dataclasses import replace

from tools.controllers import Uncontrolled
from tools.metrics import evaluate
from tools.plant import Controller, Plant, PlantParams
from test_simulator import T0, flat_trace


class Recorder(Controller):
    """Keeps what each charger poll showed."""

    name = "recorder"

    def __init__(self):
        self.polls = []

    def on_charger(self, t, power_kw, switch, fresh):
        if fresh:
            self.polls.append((t - T0, power_kw, switch, self.plant.status_shown, self.plant.session_kwh_shown))


def test_a_car_stops_drawing_when_its_session_energy_is_delivered():
    params = replace(PlantParams(), session_kwh=2.0)
    run = Plant(flat_trace(800.0, 20 * 3600 + 1800), params).run(Uncontrolled())
    full_at = 18 * 3600 + 20 + 2.0 * 3.6e6 / 7360.0  # plug-in + response + 2 kWh at 32 A
    assert [(round(t - T0), w) for t, w in zip(run.ev_times, run.ev_w)] == [
        (0, 0.0), (18 * 3600 + 20, 7360.0), (round(full_at), 0.0)]
    assert [(round(a - T0), round(b - T0)) for a, b in run.full] == [(round(full_at), 20 * 3600 + 1800)]


def test_polls_show_ready_charging_then_waiting_for_car_demand_with_the_added_energy():
    params = replace(PlantParams(), session_kwh=2.0)
    recorder = Recorder()
    Plant(flat_trace(800.0, 20 * 3600 + 1800), params).run(recorder)
    before = [p for p in recorder.polls if p[0] < 18 * 3600]
    assert {p[3] for p in before} == {"Ready"} and {p[2] for p in before} == {"unavailable"}
    charging = [p for p in recorder.polls if 18 * 3600 + 60 < p[0] < 18 * 3600 + 900]
    assert {p[3] for p in charging} == {"Charging"} and all(p[1] == 7.36 for p in charging)
    last = recorder.polls[-1]
    assert last[1:] == (0.0, "on", "Waiting for car demand", 2.0)


def test_writes_are_counted_by_car_state():
    run = Plant(flat_trace(800.0, 20 * 3600 + 1800), replace(PlantParams(), session_kwh=2.0)).run(Uncontrolled())
    run.writes = [(T0 + 3600, "current", 6, "ok"), (T0 + 7200, "current", 6, "ok"),  # no car: one is a park write
                  (T0 + 18 * 3600 + 600, "current", 16, "ok"),  # plugged, asking
                  (T0 + 20 * 3600, "current", 10, "ok")]  # plugged, full
    m = evaluate(run)
    assert m.writes_no_car == 1 and m.writes_full == 1
    assert m.plugged_h == 2.5 and m.writes_per_plugged_h == 2 / 2.5
