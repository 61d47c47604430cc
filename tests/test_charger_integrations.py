"""Other chargers than the Wallbox, with the entities their integrations really expose (issue 8's
"any charger whose current Home Assistant can set"): the Reader, the Controller and the log lines
driven by entity states shaped like each integration's. Sources per charger in
balancer_charger.py (status words) and in the README's "Chargers" section."""

from datetime import datetime, timedelta, timezone

import pytest

import balancer_publish
from balancer_charger import ChargerModel, ChargerObservation
from balancer_commands import CURRENT, PAUSE, RESUME
from balancer_config import validate
from balancer_controller import Controller
from balancer_read import Reader
from stubs.ha import HState, StateVal

T0 = datetime(2025, 1, 15, 17, 0, tzinfo=timezone.utc)  # 18:00 Brussels, a Wednesday, a quarter start
GRID = "sensor.electricity_meter_power_consumption"


def at(seconds):
    return T0 + timedelta(seconds=seconds)


class Sim:
    """Entities that report on change, the app's Reader + Controller + log lines, and a charger
    (apply_write(sim, now, write) changes its entities)."""

    def __init__(self, config, apply_write):
        settings, errors = validate(dict({"grid_power": GRID, "target_peak": 4000}, **config))
        assert not errors, errors
        self.reader, self.ctrl = Reader(settings), Controller(settings)
        self.messages = balancer_publish.Messages(settings)
        self.apply_write = apply_write
        self.ents = {}  # entity id -> (state, attributes, last_changed, last_updated)
        self.writes, self.warnings = [], []  # (seconds, write), (seconds, text)

    def set(self, entity_id, state, now, **attrs):
        old = self.ents.get(entity_id)
        if old is not None and old[:2] == (str(state), attrs) and entity_id != GRID:  # (the meter reports every telegram)
            return
        changed = now if old is None or old[0] != str(state) else old[2]
        self.ents[entity_id] = (str(state), attrs, changed, now)

    def step(self, seconds):
        now = at(seconds)
        states = {i: StateVal(HState(i, e[0], e[1], e[2], e[3], e[3])) for i, e in self.ents.items()}
        reading, said = self.reader.reading(states, "auto", now)
        d = self.ctrl.step(now, reading)
        more, _ = self.messages.after_step(d, now, self.reader.grid_problem, self.ctrl.charger.unknown_status, reading.target_peak_w)
        self.warnings.extend((seconds, text) for level, text in said + more if level == "warning")
        if d.write is not None:
            self.ctrl.command_sent(now)
            self.apply_write(self, now, d.write)
            self.ctrl.command_accepted(now, d.write)
            self.writes.append((seconds, d.write))
        return d


# integration: (no car, charging, a full car or one connected only), what the last one means
STATUS_WORDS = {
    "wallbox (core)": ("Disconnected", "Charging", "Waiting for car demand", "not asking"),
    "easee (nordicopen/easee_hass)": ("disconnected", "charging", "completed", "not asking"),
    "zaptec (custom-components/zaptec)": ("disconnected", "connected_charging", "connected_finished", "not asking"),
    "ocpp (lbbrhzn/ocpp)": ("Available", "Charging", "SuspendedEV", "not asking"),
    "go-e (marq24/ha-goecharger-api2)": ("Idle", "Charging", "Complete", "not asking"),
    "alfen (leeyuentuen/alfen_wallbox)": ("Available", "Charging Normal", "Finish Wait Disconnect", "not asking"),
    # suspended: paused by its switch (limit 0 A) or full; the switch and the power tell which
    "peblar (core, cp_state)": ("no_ev_connected", "charging", "suspended", "charging"),
}


@pytest.mark.parametrize("integration", STATUS_WORDS)
def test_each_integrations_status_words_say_no_car_charging_and_full(integration):
    none, charging, last, last_means = STATUS_WORDS[integration]

    def belief(statuses):
        model = ChargerModel(30.0, reports="on_change")
        for k, status in enumerate(statuses):
            model.observe(at(60 * k), ChargerObservation(amps=16, status=status, reported_at=at(60 * k)))
        return model.car_text(), model.unknown_status

    assert belief([charging, none]) == ("none", None)
    assert belief([none, charging]) == ("charging", None)
    assert belief([charging, last]) == (last_means, None)


def test_each_unknown_status_is_warned_about_once():
    sim = Sim({"current_service": "easee.set_charger_dynamic_limit", "current_field": "current",
               "current_service_data": {"charger_id": "EH123456"}, "charger_status": "sensor.easee_status"}, lambda *a: None)
    for k, status in enumerate(["charging", "fw_update", "charging", "Firmware exploding", "charging", "fw_update"]):
        sim.set("sensor.easee_status", status, at(600 * k))
        sim.set(GRID, 1000 + k, at(600 * k), unit_of_measurement="W")
        sim.step(600 * k)
    said = [text for _, text in sim.warnings if "charger status" in text]
    assert len(said) == 2 and "'fw_update'" in said[0] and "'Firmware exploding'" in said[1], said


class Peblar:
    """Core `peblar`: number charge_current_limit (min 6; its value is the limit in force), switch
    `charge` (off sets the limit to 0 A, on restores the last limit; on when the limit is >= 6 A)."""
    NUM, SW, ST, PW = ("number.peblar_charge_current_limit", "switch.peblar_charge", "sensor.peblar_state", "sensor.peblar_power")

    def __init__(self):
        self.limit_a, self.last_a, self.house_w = 16, 16, 1000.0

    def car_w(self):
        return 230.0 * self.limit_a if self.limit_a >= 6 else 0.0

    def publish(self, sim, now):
        sim.set(self.NUM, self.limit_a, now, min=6, max=16, step=1, unit_of_measurement="A")
        sim.set(self.SW, "on" if self.limit_a >= 6 else "off", now)
        sim.set(self.ST, "charging" if self.limit_a >= 6 else "suspended", now)
        sim.set(self.PW, round(self.car_w()), now, unit_of_measurement="W")
        sim.set(GRID, self.house_w + self.car_w(), now, unit_of_measurement="W")

    def write(self, sim, now, write):
        kind, amps = write
        if kind == CURRENT:
            self.limit_a = self.last_a = int(amps)
        else:
            self.limit_a = 0 if kind == PAUSE else self.last_a
        self.publish(sim, now)


def test_a_peblar_paused_by_its_switch_is_not_restarted_by_a_current_write():
    """Its pause is a limit of 0 A: a write of the minimum "to start low" charged it again, every
    other minute, and the quarters averaged 4.4-4.5 kW against a 4 kW limit."""
    peblar = Peblar()
    sim = Sim({"current_number": Peblar.NUM, "pause_switch": Peblar.SW, "charger_status": Peblar.ST,
               "charger_power": Peblar.PW, "max_current": 16}, peblar.write)
    grid = {}
    for s in range(0, 2700, 5):
        peblar.house_w = 1000.0 if s < 120 else 3900.0  # the oven: no room for 6 A
        peblar.publish(sim, at(s))
        sim.step(s)
        grid.setdefault(s // 900, []).append(peblar.house_w + peblar.car_w())
    kinds = [w for _, w in sim.writes]
    assert kinds[-1] == (PAUSE, None) and kinds.count((PAUSE, None)) == 1, sim.writes
    assert all(6 <= amps <= 16 for kind, amps in kinds if kind == CURRENT), sim.writes  # never below the number's min
    assert max(sum(w) / len(w) for q, w in grid.items() if q >= 1) <= 4000, sim.writes


def test_an_ocpp_charger_without_a_car_is_not_remote_started():
    """OCPP's charge_control switch is available and off with no car (status Available): taken for
    a paused car, it was resumed (RemoteStartTransaction) at every free slot, 58 times an hour."""
    NUM, SW, ST = "number.cp_maximum_current", "switch.cp_charge_control", "sensor.cp_status_connector"
    sim = Sim({"current_number": NUM, "pause_switch": SW, "charger_status": ST}, lambda *a: None)
    for s in range(0, 3600, 5):
        sim.set(NUM, "32.0", at(s), min=0, max=32, step=1, unit_of_measurement="A")
        sim.set(SW, "off", at(s))
        sim.set(ST, "Available", at(s))
        sim.set(GRID, 800, at(s), unit_of_measurement="W")
        d = sim.step(s)
    assert d.car == "none" and (RESUME, None) not in [w for _, w in sim.writes], sim.writes[:5]


@pytest.mark.parametrize("status", [None, "charging"])
def test_a_car_drawing_power_starts_a_session_without_a_pause_switch(status):
    """Easee, set through its service, has no pause switch: a fresh draw says a car is there, so
    departure and energy_needed are planned (they were ignored: the car was never known)."""
    config = {"current_service": "easee.set_charger_dynamic_limit", "current_field": "current",
              "current_service_data": {"charger_id": "EH123456"}, "charger_power": "sensor.easee_power",
              "departure": "07:30", "energy_needed": 10}
    if status:
        config["charger_status"] = "sensor.easee_status"
    amps = {"a": 16}
    sim = Sim(config, lambda sim, now, w: amps.update(a=w[1]))
    for s in range(0, 1800, 30):
        sim.set("sensor.easee_power", round(0.23 * amps["a"], 2), at(s), unit_of_measurement="kW")
        if status:
            sim.set("sensor.easee_status", status, at(s))
        sim.set(GRID, 800 + 230.0 * amps["a"], at(s), unit_of_measurement="W")
        d = sim.step(s)
    assert d.car != "unknown" and sim.ctrl.session is not None, (d.car, d.session_attributes)
    assert d.session_attributes.get("energy_needed_kwh") == 10.0, d.session_attributes


@pytest.mark.parametrize("charger", ["easee service", "ocpp number", "number with min 6"])
def test_pause_at_zero_pauses_a_charger_without_a_pause_switch_by_0_a(charger):
    """Easee (its dynamic limit), OCPP, Zaptec and Alfen stop at 0 A and have no pause switch the
    app can use: without pause_at_zero a quarter without room for 6 A on 3 x 230 V (2.4 kW) held
    the minimum and averaged 5.4 kW against a 4 kW limit. A number that takes no 0 A cannot."""
    if charger == "easee service":
        config = {"current_service": "easee.set_charger_dynamic_limit", "current_field": "current",
                  "current_service_data": {"charger_id": "EH123456"}}
    else:
        config = {"current_number": "number.cp_maximum_current"}
    config.update(pause_at_zero=True, supply="3x230", charger_power="sensor.cp_power")
    car = {"a": 16}
    sim = Sim(config, lambda sim, now, w: car.update(a=w[1]))
    house_w, quarter = 1000.0, []
    for s in range(0, 2700, 5):
        house_w = 1000.0 if s < 900 else 3000.0 if s < 1800 else 1000.0  # the house alone stays under 4 kW
        car_w = 398.4 * car["a"] if car["a"] >= 6 else 0.0
        sim.set("number.cp_maximum_current", car["a"], at(s), min=0 if charger != "number with min 6" else 6, max=32, step=1, unit_of_measurement="A")
        sim.set("sensor.cp_power", round(car_w), at(s), unit_of_measurement="W")
        sim.set(GRID, house_w + car_w, at(s), unit_of_measurement="W")
        sim.step(s)
        if 900 <= s < 1800:
            quarter.append(house_w + car_w)
    average_w = sum(quarter) / len(quarter)
    writes = [w for _, w in sim.writes]
    assert all(kind == CURRENT for kind, _ in writes), writes  # a pause and a resume are current writes
    if charger == "number with min 6":
        assert (CURRENT, 0) not in writes and average_w > 4000, (writes, average_w)  # as without a pause
        said = [text for _, text in sim.warnings if "pause_at_zero" in text]
        assert len(said) == 1 and "takes 6 A at the least, not 0 A" in said[0], sim.warnings
        return
    assert (CURRENT, 0) in writes and average_w <= 4000, (writes, average_w)
    resumed = writes[writes.index((CURRENT, 0)) + 1:]
    assert resumed and 6 <= resumed[0][1], writes  # resumed when the house is back at 1 kW


def test_pause_at_zero_is_a_boolean_for_a_charger_without_a_pause_switch():
    base = {"grid_power": GRID, "current_number": "number.cp_maximum_current"}
    assert validate(dict(base, pause_at_zero=True))[0].failsafe == "pause"
    for bad, said in (({"pause_at_zero": "yes"}, "must be true or false"),
                      ({"pause_at_zero": True, "pause_switch": "switch.cp_charge_control"}, "without a 'pause_switch'")):
        errors = validate(dict(base, **bad))[1]
        assert len(errors) == 1 and said in errors[0], errors


def test_an_ocpp_charger_without_a_status_sensor_is_not_remote_started_every_minute():
    """Without charger_status its switch, available and off with no car, looks like a paused car:
    each resume is a RemoteStartTransaction that does not take. After two, one every 15 min."""
    NUM, SW = "number.cp_maximum_current", "switch.cp_charge_control"
    sim = Sim({"current_number": NUM, "pause_switch": SW}, lambda *a: None)
    for s in range(0, 3600, 5):
        sim.set(NUM, "32.0", at(s), min=0, max=32, step=1, unit_of_measurement="A")
        sim.set(SW, "off", at(s))
        sim.set(GRID, 800, at(s), unit_of_measurement="W")
        sim.step(s)
    resumes = [s for s, w in sim.writes if w == (RESUME, None)]
    assert 2 <= len(resumes) <= 2 + 4, resumes
