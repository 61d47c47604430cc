"""The simulator's sessions for the planner (issue 10): session lists, the 22:00 timer baseline and
the session metrics."""

from dataclasses import replace

import pytest

from tools.controllers import Uncontrolled
from tools.plant import Plant, PlantParams, plug_intervals
from tools.session_metrics import energy_between, format_rows, main, session_metrics
from tools.sessions import OVERNIGHT_KWH, SHORT_KWH, Session, generate, parse_csv
from tools.timer_controller import Timer2200
from test_simulator import T0, flat_trace

H = 3600.0
WEEK = 7 * 24 * H


def test_generated_sessions_follow_the_plug_windows_with_the_documented_needs():
    sessions = generate(PlantParams(), T0, T0 + WEEK)
    assert [(s.plug_in, s.departure) for s in sessions] == plug_intervals(PlantParams(), T0, T0 + WEEK)
    for s in sessions:
        low, high = OVERNIGHT_KWH if s.departure - s.plug_in >= 8 * H else SHORT_KWH
        assert low <= s.need_kwh <= high
    assert len({s.need_kwh for s in sessions}) > 3  # drawn, not all alike
    assert generate(PlantParams(), T0, T0 + WEEK) == sessions  # seeded
    # a session's need does not depend on the replay's range; one under way at the start keeps its need
    later = generate(PlantParams(), T0 + 2 * 24 * H, T0 + WEEK)  # Wednesday 00:00, inside Tuesday's session
    assert later[0] == Session(T0 + 2 * 24 * H, sessions[1].departure, sessions[1].need_kwh)
    assert later[1:] == sessions[2:]
    assert {s.need_kwh for s in generate(PlantParams(), T0, T0 + WEEK, fixed_kwh=7.5)} == {7.5}


def test_sessions_from_a_csv_file():
    text = ("\ufeffplug_in;departure;need_kwh\n"
            "2025-01-06T18:00:00+01:00;2025-01-07T07:30:00+01:00;10,5\n"
            "\n"
            "2025-01-07T18:10:00+01:00;2025-01-08T07:00:00+01:00;4\n")
    assert parse_csv(text, "s.csv") == [Session(T0 + 18 * H, T0 + 31.5 * H, 10.5),
                                        Session(T0 + 42 * H + 600, T0 + 55 * H, 4.0)]


@pytest.mark.parametrize("rows, message", [
    ("a,b,c\n", "s.csv: expected the header 'plug_in,departure,need_kwh'"),
    ("plug_in,departure,need_kwh\n2025-01-06T18:00:00+01:00,2025-01-06T17:00:00+01:00,5\n", "s.csv line 2: departure"),
    ("plug_in,departure,need_kwh\n2025-01-06T18:00:00+01:00,2025-01-07T07:00:00+01:00,x\n", "s.csv line 2: need_kwh 'x'"),
    ("plug_in,departure,need_kwh\n2025-01-06T18:00:00+01:00,2025-01-07T07:00:00+01:00,-1\n", "s.csv line 2: need_kwh '-1'"),
    ("plug_in,departure,need_kwh\n2025-01-06T18:00:00,2025-01-07T07:00:00+01:00,5\n", "s.csv line 2: timestamp without UTC offset"),
    ("plug_in,departure,need_kwh\n2025-01-06T18:00:00+01:00,2025-01-07T07:00:00+01:00,5\n"
     "2025-01-07T06:00:00+01:00,2025-01-07T09:00:00+01:00,5\n", "s.csv line 3: plug_in"),
    ("plug_in,departure,need_kwh\n", "s.csv: no sessions"),
    ("plug_in,departure,need_kwh\n2025-01-06T18:00:00+01:00\n", "s.csv line 2: expected three fields"),
])
def test_a_bad_session_file_names_the_file_and_the_line(rows, message):
    with pytest.raises(ValueError) as error:
        parse_csv(rows, "s.csv")
    assert str(error.value).startswith(message)


def ev_steps(run):
    """(hours after T0, W) of the car's power steps."""
    return [(round((t - T0) / H, 3), w) for t, w in zip(run.ev_times, run.ev_w)]


def test_the_timer_charges_from_22_00_while_plugged_in():
    # Monday: plugged in 18:00 to Tuesday 07:30; the car takes 10 kWh
    params = replace(PlantParams(), session_kwh=10.0)
    run = Plant(flat_trace(500.0, 31 * H), params).run(Timer2200())
    # before 22:00 only what the car draws until the first poll's pause takes effect (at most 110 s)
    assert energy_between(run.ev_times, run.ev_w, run.end, T0, T0 + 22 * H) <= 7360.0 * 110
    full_at = round(22 + 20 / H + 10.0 / 7.36, 3)
    assert ev_steps(run)[-2:] == [(round(22 + 20 / H, 3), 7360.0), (full_at, 0.0)]
    assert [w[1] for w in run.writes] == ["pause", "resume"]


def test_the_timer_leaves_an_afternoon_session_uncharged():
    params = replace(PlantParams(), session_kwh=6.0, plug_windows=(((0,), "12:00", "18:00"),))
    run = Plant(flat_trace(500.0, 20 * H), params).run(Timer2200())
    assert energy_between(run.ev_times, run.ev_w, run.end, T0, run.end) / 3.6e6 < 0.25  # the plug-in blip only
    sessions = generate(params, run.start, run.end, fixed_kwh=6.0)
    m = session_metrics(run, sessions)
    assert (m.sessions, m.met, m.oracle_can, m.met_of_oracle_can) == (1, 0, 1, 0)
    assert 5.75 < m.kwh_short <= 6.0


def test_session_metrics_compare_with_what_the_oracle_could_deliver():
    # 800 W house, 4000 W target: each whole quarter leaves 0.8 kWh under the limit
    params = replace(PlantParams(), session_kwh=4.0)
    run = Plant(flat_trace(800.0, 20 * H), params).run(Uncontrolled())
    fits = Session(T0 + 18 * H, T0 + 19.5 * H, 4.0)       # 6 quarters: 4.8 kWh possible
    too_big = Session(T0 + 18 * H, T0 + 19 * H, 4.0)     # 4 quarters: 3.2 kWh possible
    m = session_metrics(run, [fits, too_big])
    assert [round(r.oracle_kwh, 3) for r in m.results] == [4.8, 3.2]
    assert [(r.met, r.oracle_can) for r in m.results] == [(True, True), (True, False)]
    assert (m.met, m.oracle_can, m.met_of_oracle_can, m.kwh_short) == (2, 1, 1, 0.0)
    assert m.ev_increase_w > 4000  # uncontrolled: 7.36 kW on top of the house
    assert "uncontrolled" in format_rows([m])


def test_energy_between_integrates_a_step_function():
    times, values = [0.0, 10.0, 20.0], [1.0, 2.0, 0.0]
    assert energy_between(times, values, 30.0, 5.0, 15.0) == 5.0 + 10.0
    assert energy_between(times, values, 30.0, 0.0, 100.0) == 30.0
    assert energy_between(times, values, 30.0, 25.0, 28.0) == 0.0


def test_the_command_line_prints_a_row_per_baseline(capsys):
    assert main(["--controllers", "uncontrolled,timer2200"]) == 0
    out = capsys.readouterr().out
    assert "every session needs 10 kWh" in out and "timer2200" in out and "uncontrolled" in out
