"""The simulator in sessions mode (issue 10): sessions (from a file or generated) drive when the car
is plugged in and how much each session takes, the app's helpers get the need and the departure at
plug-in, the replay and the benchmark run the baselines with the 22:00 timer and print the session
table; without sessions nothing changes. Every replay here is at most a simulated day."""

import os
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from tools import benchmark, replay, replay_args, replay_run, report
from tools.app_controller import DEPARTURE, ENERGY_NEEDED, AppController, app_config
from tools.controllers import Uncontrolled
from tools.metrics import evaluate, oracle_metrics
from tools.plant import TZ, Controller, Plant, PlantParams, plug_intervals
from tools.session_metrics import session_metrics
from tools.sessions import Session, parse_csv
from test_simulator import T0, flat_trace

H = 3600.0
SESSIONS_CSV = ("plug_in,departure,need_kwh\n"
                "2025-01-06T08:00:00+01:00,2025-01-06T10:00:00+01:00,3\n"
                "2025-01-06T12:00:00+01:00,2025-01-06T17:00:00+01:00,5.5\n"
                "2025-01-06T17:00:00+01:00,2025-01-06T23:00:00+01:00,1\n")


def file_params(text=SESSIONS_CSV, **changes):
    sessions = parse_csv(text, "s.csv")
    return replace(PlantParams(), sessions=tuple((s.plug_in, s.departure, s.need_kwh) for s in sessions),
                   **changes)


def ev_steps(run):
    """(hours after T0, W) of the car's power steps."""
    return [(round((t - T0) / H, 4), w) for t, w in zip(run.ev_times, run.ev_w)]


class PlugRecorder(Controller):
    """Keeps what the plant says at each plug change and at each poll."""

    name = "recorder"

    def __init__(self):
        self.plugs, self.polls = [], []

    def on_plug(self, t, plugged):
        self.plugs.append(((t - T0) / H, plugged, self.plant.session_need_kwh, self.plant.session_departure))

    def on_charger(self, t, power_kw, switch, fresh):
        if fresh:
            self.polls.append(((t - T0) / H, switch, self.plant.status_shown, self.plant.session_kwh_shown))


# ---- the plant --------------------------------------------------------------------------------

def test_sessions_from_a_file_drive_the_plug_intervals_instead_of_the_windows():
    params = file_params()
    # not merged: the third session is plugged in as the second leaves
    assert plug_intervals(params, T0, T0 + 24 * H) == [(T0 + 8 * H, T0 + 10 * H), (T0 + 12 * H, T0 + 17 * H),
                                                        (T0 + 17 * H, T0 + 23 * H)]
    # clipped to the replay; sessions outside it are left out
    assert plug_intervals(params, T0 + 9 * H, T0 + 14 * H) == [(T0 + 9 * H, T0 + 10 * H), (T0 + 12 * H, T0 + 14 * H)]
    assert plug_intervals(params, T0 + 23 * H, T0 + 30 * H) == []


def test_each_session_takes_its_own_need_and_the_car_stops_when_it_is_met():
    run = Plant(flat_trace(800.0, 24 * H), file_params()).run(Uncontrolled())
    delay = 20 / H
    assert ev_steps(run) == [
        (0.0, 0.0),
        (round(8 + delay, 4), 7360.0), (round(8 + delay + 3.0 / 7.36, 4), 0.0),     # 3 kWh, full
        (round(12 + delay, 4), 7360.0), (round(12 + delay + 5.5 / 7.36, 4), 0.0),   # 5.5 kWh, full
        (round(17 + delay, 4), 7360.0), (round(17 + delay + 1.0 / 7.36, 4), 0.0),   # 1 kWh, full
    ]
    m = session_metrics(run, parse_csv(SESSIONS_CSV))
    assert (m.sessions, m.met) == (3, 3) and m.kwh_short == pytest.approx(0.0, abs=1e-6)
    assert [round(r.delivered_kwh, 6) for r in m.results] == [3.0, 5.5, 1.0]
    # full until each departure, as the write counts and the plots see it
    assert [(round((a - T0) / H, 4), round((b - T0) / H, 4)) for a, b in run.full] == [
        (round(8 + delay + 3.0 / 7.36, 4), 10.0), (round(12 + delay + 5.5 / 7.36, 4), 17.0),
        (round(17 + delay + 1.0 / 7.36, 4), 23.0)]


def test_the_plant_tells_the_need_and_departure_at_plug_in_and_the_polls_show_the_full_car():
    recorder = PlugRecorder()
    Plant(flat_trace(800.0, 24 * H), file_params()).run(recorder)
    assert recorder.plugs == [(8.0, True, 3.0, T0 + 10 * H), (10.0, False, None, None),
                              (12.0, True, 5.5, T0 + 17 * H), (17.0, False, None, None),
                              (17.0, True, 1.0, T0 + 23 * H), (23.0, False, None, None)]
    shown = [p for p in recorder.polls if 9.5 < p[0] < 10.0]
    assert shown and all(p[1:] == ("on", "Waiting for car demand", 3.0) for p in shown)


def test_a_session_under_way_at_the_start_keeps_its_whole_need():
    params = file_params()
    plant = Plant(flat_trace(800.0, 4 * H, start=T0 + 9 * H), params)
    assert plant.session_need_kwh is None          # before the replay: nothing plugged in yet
    run = plant.run(Uncontrolled())
    # plugged in from the start: 3 kWh in the hour left would take 24.5 min at 7.36 kW
    assert ev_steps(run)[:2] == [(9.0, 7360.0), (round(9 + 3.0 / 7.36, 4), 0.0)]


def test_without_sessions_the_plant_is_unchanged():
    week = plug_intervals(PlantParams(), T0, T0 + 7 * 24 * H)
    hours = [((a - T0) / H, (b - T0) / H) for a, b in week]
    assert hours == [(18.0, 31.5), (42.0, 55.5), (66.0, 79.5), (90.0, 103.5), (114.0, 127.5),
                     (132.0, 138.0), (156.0, 162.0)]

    class NoPlug(PlugRecorder):
        def on_plug(self, t, plugged):
            raise AssertionError("on_plug is for sessions mode only")

    params = replace(PlantParams(), session_kwh=2.0)
    plant = Plant(flat_trace(800.0, 20 * H), params)
    run = plant.run(NoPlug())
    assert plant.session_need_kwh is None and plant.session_departure is None
    full_at = 18 + 20 / H + 2.0 / 7.36
    assert ev_steps(run) == [(0.0, 0.0), (round(18 + 20 / H, 4), 7360.0), (round(full_at, 4), 0.0)]
    assert PlantParams().sessions == ()


def test_the_oracle_in_sessions_mode_stops_at_each_need():
    # 800 W house, 4000 W target: each whole quarter leaves 0.8 kWh; the needs fit
    run = Plant(flat_trace(800.0, 24 * H), file_params()).run(Uncontrolled())
    oracle = oracle_metrics(run)
    assert oracle.ev_kwh == pytest.approx(3.0 + 5.5 + 1.0)
    assert evaluate(run).oracle_ratio == pytest.approx(1.0)
    # without sessions the same plugged hours give the oracle everything under the limit
    free = oracle_metrics(Plant(flat_trace(800.0, 24 * H), replace(PlantParams(), plug_windows=(
        ((0,), "08:00", "10:00"), ((0,), "12:00", "23:00")))).run(Uncontrolled()))
    assert free.ev_kwh == pytest.approx(13 * 4 * 0.8)


def test_a_session_still_plugged_in_at_the_end_is_not_judged():
    run = Plant(flat_trace(800.0, 20 * H), file_params()).run(Uncontrolled())
    m = session_metrics(run, parse_csv(SESSIONS_CSV))
    assert m.sessions == 2                       # the 17:00-23:00 one leaves after the replay


# ---- the app's helpers --------------------------------------------------------------------------

def test_the_app_config_gets_the_session_keys_only_in_sessions_mode():
    assert "energy_needed" not in app_config(PlantParams()) and "departure" not in app_config(PlantParams())
    cfg = app_config(file_params())
    assert cfg["energy_needed"] == ENERGY_NEEDED and cfg["departure"] == DEPARTURE


class HelperRecorder(AppController):
    """The app controller with what the helpers held right after each plug-in."""

    def __init__(self, app_path):
        super().__init__(app_path)
        self.seen = []

    def on_start(self, plant, t):
        super().on_start(plant, t)
        self.at_start = (str(self.env.get_state(ENERGY_NEEDED)), str(self.env.get_state(DEPARTURE)))

    def on_plug(self, t, plugged):
        super().on_plug(t, plugged)
        need, departure = self.env.get_state(ENERGY_NEEDED), self.env.get_state(DEPARTURE)
        self.seen.append(((t - T0) / H, plugged, str(need), vars(need)["unit_of_measurement"],
                          str(departure), vars(departure)))


@pytest.fixture
def quiet_app(tmp_path):
    """An app that does nothing: only the helpers are looked at."""
    pytest.importorskip("stubs")
    pytest.importorskip("freezegun")
    app = tmp_path / "quiet_app.py"
    app.write_text("# an app that does nothing\n")
    return str(app)


def test_the_app_controller_publishes_the_need_and_departure_at_plug_in(quiet_app):
    ctl = HelperRecorder(quiet_app)
    Plant(flat_trace(800.0, 17 * H, start=T0 + 7 * H), file_params()).run(ctl)
    # at the start they hold the first session (nothing plugged in yet)
    assert ctl.at_start == ("3.0", "2025-01-06 10:00:00")
    # then each plug-in sets them; a plug-out leaves them as they were
    assert [s[:4] for s in ctl.seen] == [(8.0, True, "3.0", "kWh"), (10.0, False, "3.0", "kWh"),
                                         (12.0, True, "5.5", "kWh"), (17.0, False, "5.5", "kWh"),
                                         (17.0, True, "1.0", "kWh"), (23.0, False, "1.0", "kWh")]
    assert ctl.seen[0][4] == "2025-01-06 10:00:00"
    attributes = ctl.seen[4][5]
    assert ctl.seen[4][4] == "2025-01-06 23:00:00"
    assert attributes["has_date"] is True and attributes["has_time"] is True
    assert (attributes["hour"], attributes["minute"]) == (23, 0)
    assert attributes["timestamp"] == T0 + 23 * H


def test_without_sessions_the_app_controller_publishes_no_helpers(quiet_app):
    ctl = AppController(quiet_app)
    Plant(flat_trace(800.0, 2 * H, start=T0 + 17 * H), PlantParams()).run(ctl)
    assert ctl.env.get_state(ENERGY_NEEDED) is None and ctl.env.get_state(DEPARTURE) is None


# ---- the replay and the benchmark -------------------------------------------------------------

MONDAY_17H = datetime(2025, 1, 6, 17, 0, tzinfo=TZ)


def write_trace(tmp_path, hours=16, name="evening.csv"):
    """Monday 17:00 + `hours` of a 1 kW house with a 5 kW hour at 19:00 (one-minute rows)."""
    rows = ["timestamp,power_w"]
    for i in range(hours * 60):
        watts = 5000.0 if 120 <= i < 180 else 1000.0
        rows.append(f"{(MONDAY_17H + timedelta(minutes=i)).isoformat()},{watts:.1f}")
    path = tmp_path / name
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return str(path)


def run_cli(capsys, *argv):
    status = replay.main([*argv, "--no-progress", "--no-plot"])
    out, err = capsys.readouterr()
    return status, out, err


def test_replay_with_generated_sessions_runs_the_baselines_and_the_timer(capsys, tmp_path):
    status, out, err = run_cli(capsys, write_trace(tmp_path), "--sessions", "generated",
                               "--controllers", "original,uncontrolled,timer")
    assert status == 0, err
    assert "Sessions: generated, one per plug-in of mon-fri 18:00-07:30, sat,sun 12:00-18:00" in out
    assert "| controller | sessions | met by departure | oracle could meet | met of those |" in out
    for name in ("original", "uncontrolled", "timer", "oracle"):
        assert f"\n| {name} | 1 | " in out                      # the session table's row
    verdicts = [line for line in out.splitlines() if "sessions met by departure" in line]
    assert [v.split(":")[0] for v in verdicts] == ["original", "uncontrolled", "timer", "oracle"]
    assert verdicts[1].startswith("uncontrolled: 1/1 sessions met by departure (the oracle could meet 1); "
                                  "0.0 kWh short; billed peak +")
    assert "; 0.0 writes per plugged hour" in verdicts[1]


def test_replay_with_a_session_file(capsys, tmp_path):
    sessions = tmp_path / "sessions.csv"
    sessions.write_text("plug_in,departure,need_kwh\n"
                        "2025-01-06T18:30:00+01:00,2025-01-07T06:00:00+01:00,20\n"
                        "2025-01-08T18:30:00+01:00,2025-01-09T06:00:00+01:00,20\n")   # after the trace
    status, out, err = run_cli(capsys, write_trace(tmp_path), "--sessions", str(sessions),
                               "--controllers", "uncontrolled,timer")
    assert status == 0, err
    assert f"Sessions: from {sessions}" in out
    assert "uncontrolled: 1/1 sessions met by departure (the oracle could meet 1); 0.0 kWh short" in out
    assert "timer: 1/1 sessions met by departure" in out      # 22:00 to 06:00 gives 20 kWh


def test_sessions_mode_adds_the_timer_to_the_default_controllers():
    args = replay_args.parse_args(["--sessions", "generated"])
    assert replay_args.controller_names(args) == ["app", "original", "uncontrolled", "timer"]
    assert replay_args.controller_names(replay_args.parse_args([])) == ["app", "original", "uncontrolled"]


def test_the_app_is_told_about_when_it_does_not_take_the_session_keys(monkeypatch):
    def fake(params):
        return ["wallbox_balancer: unknown key 'departure'"] if params.sessions else []
    monkeypatch.setattr(replay_run, "app_config_errors", fake)
    note = replay_run.app_sessions_note(PlantParams())
    assert "CONFIG REJECTED" in note and "the baselines run" in note and "unknown key 'departure'" in note
    monkeypatch.setattr(replay_run, "app_config_errors", lambda params: [])
    assert replay_run.app_sessions_note(PlantParams()) is None


@pytest.mark.parametrize("argv, expected", [
    (["--controllers", "timer"], "the timer baseline charges by the clock, not by a session's need: it "
                                 "needs --sessions (generated or a file)"),
    (["--sessions", "generated", "--controllers", "original,bus"],
     "unknown controller 'bus' in --controllers (choose from app, original, uncontrolled, timer)"),
    (["--sessions", "s.csv", "--session-kwh", "5"],
     "--session-kwh gives every generated session the same need: with --sessions s.csv the file "
     "gives each session its need"),
    (["--sessions", "s.csv", "--plug", "daily 18:00-07:00"],
     "--plug sets the plug windows: with --sessions s.csv the file says when the car is plugged in"),
])
def test_bad_session_arguments_give_one_line_and_exit_2(capsys, argv, expected):
    status, out, err = run_cli(capsys, *argv)
    assert status == 2 and out == ""
    assert err.strip() == f"replay: {expected}"


def test_bad_session_files_give_one_line_and_exit_2(capsys, tmp_path):
    trace = write_trace(tmp_path, hours=2)
    status, out, err = run_cli(capsys, trace, "--sessions", str(tmp_path / "none.csv"),
                               "--controllers", "uncontrolled")
    assert status == 2 and err.strip() == f"replay: {tmp_path / 'none.csv'}: No such file or directory"
    bad = tmp_path / "bad.csv"
    bad.write_text("plug_in,departure,need_kwh\n2025-01-06T18:00:00+01:00,2025-01-06T19:00:00+01:00,lots\n")
    status, out, err = run_cli(capsys, trace, "--sessions", str(bad), "--controllers", "uncontrolled")
    assert status == 2 and err.strip() == f"replay: {bad} line 2: need_kwh 'lots' is not a number"
    later = tmp_path / "later.csv"
    later.write_text("plug_in,departure,need_kwh\n2025-02-06T18:00:00+01:00,2025-02-06T19:00:00+01:00,5\n")
    status, out, err = run_cli(capsys, trace, "--sessions", str(later), "--controllers", "uncontrolled")
    assert status == 2 and out == ""
    assert err.strip() == (f"replay: --sessions {later}: {later} has no session inside evening, which "
                           "covers 2025-01-06 to 2025-01-06")
    # generated: a trace with no plug window
    morning = tmp_path / "morning.csv"
    morning.write_text("timestamp,power_w\n" + "".join(
        f"2025-01-06T{9 + i // 60:02d}:{i % 60:02d}:00+01:00,500\n" for i in range(120)))
    status, out, err = run_cli(capsys, str(morning), "--sessions", "generated", "--controllers", "uncontrolled")
    assert status == 2
    assert err.strip() == ("replay: --sessions generated: the plug windows give no session inside "
                           "morning, which covers 2025-01-06 to 2025-01-06")


def test_the_default_replay_prints_no_session_table(capsys, tmp_path):
    status, out, err = run_cli(capsys, write_trace(tmp_path, hours=2), "--controllers", "uncontrolled")
    assert status == 0, err
    assert "Sessions" not in out and "sessions met" not in out


def test_the_plot_name_tells_sessions_apart():
    params = file_params()
    tag = report.plant_tag(params)
    assert tag.startswith("1p6-32A_m5s_t4000W_sessions3-") and "_plug" not in tag
    assert report.plant_tag(replace(params, sessions=params.sessions[:2])) != tag
    assert "3 sessions (plug-in to departure, each full after its need, 1-5.5 kWh)" in report.plant_text(params)


def test_the_benchmark_in_sessions_mode_prints_the_session_summary(capsys, tmp_path):
    traces = tmp_path / "traces"
    traces.mkdir()
    write_trace(traces, name="T1.csv")
    status = benchmark.main(["--traces-dir", str(traces), "--sessions", "--cases", "reference",
                             "--controllers", "uncontrolled,timer", "--jobs", "1"])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert "### Sessions: per case, trace and controller" in out
    assert "| reference | T1 | uncontrolled | 1 | 1 | 1 | 1 | 0.0 | +" in out
    assert "| reference | T1 | timer | 1 |" in out and "| reference | T1 | oracle | 1 | 1 | 1 | 1 | 0.0 | +0 | – |" in out


def test_the_benchmark_refuses_unknown_names(capsys, tmp_path):
    traces = tmp_path / "traces"
    traces.mkdir()
    write_trace(traces, hours=1, name="T1.csv")
    assert benchmark.main(["--traces-dir", str(traces), "--controllers", "timer"]) == 2
    assert capsys.readouterr().err.strip() == ("benchmark: unknown controller 'timer' in --controllers "
                                               "(choose from app, original, uncontrolled)")
    assert benchmark.main(["--traces-dir", str(traces), "--cases", "5phase"]) == 2
    assert "unknown case '5phase'" in capsys.readouterr().err


def test_the_session_file_format_in_the_docs_parses():
    docs = open(os.path.join(replay_args.REPO, "tools", "README_SIMULATOR.md"), encoding="utf-8").read()
    example = docs[docs.index("```csv\n") + 7:]
    example = example[:example.index("```")]
    sessions = parse_csv(example, "README_SIMULATOR.md")
    assert example.startswith("plug_in,departure,need_kwh\n")
    assert all(isinstance(s, Session) for s in sessions) and len(sessions) >= 2
