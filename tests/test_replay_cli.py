"""tools/replay.py as a user meets it: bad input gives one line and exit 2 (never a traceback or a
hang), a controller that logged an ERROR gets a marked row and a non-zero exit, real-world history
files load, the car in the user's own history is taken out, the table is compact, the € figure is
right, and the plots get their own names. Every replay here is a few simulated hours."""

import importlib.util
import os
from datetime import datetime, timedelta, timezone

import pytest

from tools import replay, replay_args, replay_run, report
from tools.metrics import Metrics
from tools.money import DEFAULT_PRICE_EUR_PER_KW_YEAR, peak_increase_cost
from tools.plant import TZ, PlantParams
from tools.traces import parse_csv, parse_ha_history

MONDAY_18H = datetime(2025, 1, 6, 18, 0, tzinfo=TZ)


def write_trace(tmp_path, hours=2, watts=1000.0, name="short.csv"):
    """A project CSV: `hours` of one-minute rows from Monday 2025-01-06 18:00 (car plugged in)."""
    rows = ["timestamp,power_w"]
    for i in range(hours * 60):
        rows.append(f"{(MONDAY_18H + timedelta(minutes=i)).isoformat()},{watts + (i % 7) * 300:.1f}")
    path = tmp_path / name
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return str(path)


def run_cli(capsys, *argv):
    """(exit status, stdout, stderr) of replay.main; a traceback would fail the test."""
    status = replay.main([*argv, "--no-progress"])
    out, err = capsys.readouterr()
    return status, out, err


def run_cli_exit(capsys, *argv):
    """Like run_cli, for errors argparse itself reports (SystemExit)."""
    with pytest.raises(SystemExit) as exit_info:
        replay.main([*argv, "--no-progress"])
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def one_line(err):
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


# ---- bad arguments: one line, exit 2, before any replay ---------------------------------------

@pytest.mark.parametrize("argv, expected", [
    (["--target-peak", "4"], "--target-peak must be between 1000 and 50000 W, got 4 (the unit is W: 4 kW is 4000)"),
    (["--max-current", "-5"], "--max-current must be between 1 and 80 A, got -5"),
    (["--meter-period", "-5"], "--meter-period must be between 1 and 900 s, got -5"),
    (["--meter-period", "0"], "--meter-period must be between 1 and 900 s, got 0"),
    (["--meter-period", "nan"], "--meter-period must be between 1 and 900 s, got nan"),
    (["--day", "banana"], "--day 'banana' is not a day: give YYYY-MM-DD or 'worst'"),
    (["--min-current", "20", "--max-current", "10"], "--min-current 20 is above --max-current 10"),
    (["--controllers", "app,foo"], "unknown controller 'foo' in --controllers (choose from app, original, uncontrolled)"),
    (["--plug", "mon-fri 25:00-07:00"], "--plug 'mon-fri 25:00-07:00': 25:00 is not a time of day"),
    (["--plug", "someday 18:00-07:00"], "--plug 'someday 18:00-07:00': unknown day 'someday' (use mon tue wed thu fri sat sun, a range mon-fri, or daily)"),
    (["--ev-entity", "sensor.wallbox_power"], "--ev-entity applies to --history-csv or --recorder only"),
    (["--price-per-kw", "-1"], "--price-per-kw must be between 0 and 1000 €/kW/year, got -1"),
    (["--margin", "-50"], "--margin must be between 0 and 2000 W, got -50"),
])
def test_bad_arguments_give_one_line_and_exit_2(capsys, argv, expected):
    status, out, err = run_cli(capsys, *argv, "--no-plot")
    assert status == 2
    assert one_line(err) == f"replay: {expected}"
    assert out == ""


def test_argparse_errors_are_one_line_too(capsys):
    status, out, err = run_cli_exit(capsys, "--phases", "2")
    assert status == 2
    assert one_line(err) == ("replay: argument --phases: invalid choice: 2 (choose from 1, 3) "
                             "(python tools/replay.py --help lists the options)")


def test_empty_missing_and_garbled_trace_files(capsys, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    status, _, err = run_cli(capsys, str(empty), "--no-plot")
    assert status == 2 and one_line(err) == f"replay: {empty}: the file is empty"
    status, _, err = run_cli(capsys, str(tmp_path / "nope.csv"))
    assert status == 2 and one_line(err) == f"replay: {tmp_path / 'nope.csv'}: No such file or directory"
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,power_w\n2025-01-06T18:00:00+01:00,100\n2025-01-06T18:01:00+01:00,oops\n")
    status, _, err = run_cli(capsys, str(bad))
    assert status == 2
    assert one_line(err) == f"replay: {bad} line 3: power_w 'oops' is not a number"


def test_a_day_outside_the_trace_is_refused_before_the_replay(capsys, tmp_path):
    path = write_trace(tmp_path)
    status, out, err = run_cli(capsys, path, "--day", "2025-02-01")
    assert status == 2 and out == ""
    assert one_line(err) == "replay: --day 2025-02-01 is outside short, which covers 2025-01-06 to 2025-01-06"


def test_a_trace_shorter_than_a_quarter_is_refused(capsys, tmp_path):
    path = tmp_path / "tiny.csv"
    path.write_text("timestamp,power_w\n2025-01-06T18:01:00+01:00,1\n2025-01-06T18:02:00+01:00,1\n")
    status, _, err = run_cli(capsys, str(path))
    assert status == 2 and one_line(err) == "replay: tiny: shorter than one whole clock quarter-hour"


def test_without_freezegun_the_app_is_refused_with_the_fix(capsys, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "freezegun" else real(name, *a))
    status, out, err = run_cli(capsys, "--no-plot")
    assert status == 2
    assert one_line(err) == ("replay: the app cannot run: freezegun is not installed (pip install "
                             "-r requirements-dev.txt); or leave it out: --controllers "
                             "original,uncontrolled")


def test_without_matplotlib_the_table_still_comes(capsys, monkeypatch, tmp_path):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "matplotlib" else real(name, *a))
    status, out, err = run_cli(capsys, write_trace(tmp_path), "--controllers", "uncontrolled",
                               "--out", str(tmp_path / "out"))
    assert status == 0
    assert "replay: matplotlib is not installed: no plots (pip install -r requirements-dev.txt)" in err
    assert "| uncontrolled |" in out and not (tmp_path / "out").exists()


def test_a_configuration_the_app_rejects_is_refused_up_front(capsys, monkeypatch):
    monkeypatch.setattr(replay_run, "app_config_errors", lambda params: ["wallbox_balancer: 'x' is wrong"])
    status, out, err = run_cli(capsys, "--no-plot")
    assert status == 2 and out == ""
    assert one_line(err) == "replay: the app rejects this configuration: wallbox_balancer: 'x' is wrong"


def test_the_app_validation_up_front_is_the_apps_own():
    assert replay_run.app_config_errors(PlantParams()) == []
    errors = replay_run.app_config_errors(PlantParams(target_peak=4))
    assert len(errors) == 1 and "'target_peak' must be between 1000 and 50000 W" in errors[0]


def test_an_app_that_logged_an_error_gets_a_marked_row_and_exit_1(capsys, monkeypatch, tmp_path):
    """The safety net behind the up-front check: the app is given a config it rejects."""
    from tools.app_controller import AppController
    real = replay_run.make_controller
    monkeypatch.setattr(replay_run, "make_controller",
                        lambda name: AppController(target_peak=4) if name == "app" else real(name))
    status, out, err = run_cli(capsys, write_trace(tmp_path, hours=1), "--controllers",
                               "app,uncontrolled", "--no-plot")
    assert status == 1
    row = next(line for line in out.splitlines() if line.startswith("| app |"))
    assert row.startswith("| app | **CONFIG REJECTED: wallbox_balancer: 'target_peak' must be")
    assert "app: CONFIG REJECTED: wallbox_balancer: 'target_peak' must be between 1000 and 50000 W, got 4" in out
    assert "| uncontrolled | " in out          # the others are still shown


def test_problem_label_flattens_a_traceback():
    label = report.problem_label(None, ["Exception in <app> line 3:\n    x = d['k']\nKeyError: 'k'", "2"])
    assert label == "APP ERROR: Exception in <app> line 3: … KeyError: 'k' (+1 more ERROR lines)"


# ---- history imports -----------------------------------------------------------------------------

HISTORY = ("entity_id,state,last_changed\n"
           "sensor.p1,1.250,2025-01-07T17:00:00.000Z\n"
           "sensor.p1,2.5,2025-01-07T17:01:00.000Z\n"
           "sensor.p1,0.75,2025-01-07T17:02:00.000Z\n")
T = datetime(2025, 1, 7, 17, 0, tzinfo=timezone.utc).timestamp()


def test_history_with_a_utf8_bom_loads(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + HISTORY.encode())
    from tools.traces import load_ha_history
    trace = load_ha_history(str(path))
    assert trace.power_w == [1250.0, 2500.0]
    assert parse_ha_history("\ufeff" + HISTORY).power_w == [1250.0, 2500.0]


def test_semicolon_history_with_decimal_commas_loads():
    text = HISTORY.replace(",", ";").replace("1.250", "1,250").replace("0.75", "0,75")
    trace = parse_ha_history(text)
    assert trace.times == [T, T + 60] and trace.power_w == [1250.0, 2500.0]
    assert parse_csv("timestamp;power_w\n2025-01-06T18:00:00+01:00;100,5\n"
                     "2025-01-06T18:01:00+01:00;200\n").power_w == [100.5, 200.0]


def test_kw_given_for_watt_data_is_warned_about():
    watts = HISTORY.replace("1.250", "4225").replace("2.5", "900").replace("0.75", "800")
    trace = parse_ha_history(watts, unit="kW")
    assert ("WARNING: sensor.p1: --unit kW makes the highest value 4225 kW, more than any house "
            "connection; are the values in W? (then --unit W)") in trace.notes
    assert any("are the values in kW? (then --unit kW)" in n for n in parse_ha_history(HISTORY, unit="W").notes)


def test_history_errors_name_the_file_and_line():
    with pytest.raises(ValueError, match=r"^h.csv line 3: 'yesterday' is not an ISO 8601 time"):
        parse_ha_history(HISTORY.replace("2025-01-07T17:01:00.000Z", "yesterday"), source="h.csv")
    with pytest.raises(ValueError, match=r"^h.csv: not a Home Assistant history export .*missing entity_id"):
        parse_ha_history("id,state,last_changed\n", source="h.csv")


EV_HISTORY = HISTORY + (
    "sensor.wallbox_charging_power,0,2025-01-07T16:59:00.000Z\n"
    "sensor.wallbox_charging_power,1.0,2025-01-07T17:00:30.000Z\n"
    "sensor.wallbox_charging_power,3.0,2025-01-07T17:01:30.000Z\n")


def test_ev_entity_is_subtracted_from_the_house_load():
    trace = parse_ha_history(EV_HISTORY, entity="sensor.p1", ev_entity="sensor.wallbox_charging_power")
    # grid 1250 | car 1000 from :30 -> 250 | grid 2500 -> 1500 | car 3000 > grid -> 0 (floored)
    assert trace.times == [T, T + 30, T + 60, T + 90]
    assert trace.power_w == [1250.0, 250.0, 1500.0, 0.0]
    note = next(n for n in trace.notes if n.startswith("sensor.wallbox_charging_power: subtracted"))
    # car energy taken out: 1000 W x 30 s + 1000 W x 30 s + 2500 W x 30 s = 135 kJ = 0.0375 kWh
    assert "(0.0 kWh)" in note


def test_a_charger_in_the_export_without_ev_entity_is_warned_about():
    trace = parse_ha_history(EV_HISTORY, entity="sensor.p1")
    assert ("WARNING: the export also holds sensor.wallbox_charging_power: if that is your car's "
            "charging power, your history already holds your car; add --ev-entity "
            "sensor.wallbox_charging_power to take it out of the house load") in trace.notes


def test_ev_entity_on_the_command_line(capsys, tmp_path):
    rows = ["entity_id,state,last_changed"]
    t0 = datetime(2025, 1, 6, 17, 0, tzinfo=timezone.utc)      # 18:00 Brussels, a Monday
    for i in range(61):
        at = (t0 + timedelta(minutes=i)).isoformat()
        rows.append(f"sensor.grid,{5.0 if i % 2 else 4.0},{at}")
        rows.append(f"sensor.wallbox_power,3.7,{at}")
    path = tmp_path / "history.csv"
    path.write_text("\n".join(rows) + "\n")
    status, out, err = run_cli(capsys, "--history-csv", str(path), "--entity", "sensor.grid",
                               "--ev-entity", "sensor.wallbox_power", "--controllers",
                               "uncontrolled", "--no-plot")
    assert status == 0, err
    assert "replay: sensor.wallbox_power: subtracted from sensor.grid" in err
    # the house alone is 0.3 / 1.3 kW: its peak with the car taken out
    assert "uncontrolled: billed peak 2.50 →" in out


@pytest.mark.skipif("session_kwh" not in PlantParams.__dataclass_fields__,
                    reason="the plant has no per-session energy yet")
def test_session_energy_from_the_command_line(capsys, tmp_path):
    status, _, err = run_cli(capsys, "--session-kwh", "0", "--no-plot")
    assert status == 2 and one_line(err) == "replay: --session-kwh must be between 0.5 and 200 kWh, got 0"
    status, out, err = run_cli(capsys, write_trace(tmp_path, hours=3), "--controllers",
                               "uncontrolled", "--session-kwh", "10", "--no-plot")
    assert status == 0, err
    # 32 A x 230 V = 7.36 kW for 3 h would be 22 kWh; the car stops at 10
    assert "uncontrolled: billed peak" in out and "; 10 kWh for the car" in out
    assert "10 kWh per session" in out


def test_plug_windows_from_the_command_line():
    assert replay_args.parse_plug("mon-fri 18:00-07:30") == ((0, 1, 2, 3, 4), "18:00", "07:30")
    assert replay_args.parse_plug("sat,sun 9:00-18:00") == ((5, 6), "09:00", "18:00")
    assert replay_args.parse_plug("fri-mon 20:00-06:00") == ((0, 4, 5, 6), "20:00", "06:00")
    assert replay_args.parse_plug("daily 00:00-00:00") == (tuple(range(7)), "00:00", "00:00")


# ---- the table, the verdict, the money -------------------------------------------------------

def metrics(controller, house, with_ev, increase, kwh=1750.0, oracle=1725.0, rejected=0):
    return Metrics(controller=controller, trace="t", peak_house_w=house, peak_ev_w=with_ev,
                   ev_increase_w=increase, own_fault_w=71.0, exposure_max_w=389.0,
                   exposure_sum_w=389.0, ev_kwh=kwh, oracle_kwh=oracle, writes=100,
                   writes_per_h=21.7, rejected_429=rejected, pauses=10, pauses_per_day=8.3,
                   hours=744.0, wall_s=40.0, plugged_h=400.0, writes_per_plugged_h=30.1,
                   writes_no_car=0, writes_full=0)


def test_money_on_a_hand_computed_case():
    # +386 W for one month at €55/kW/year: 0.386 kW x 55 / 12 = €1.769...
    assert peak_increase_cost(386, 55.0) == pytest.approx(1.7691667, abs=1e-6)
    # the reference's example: +8 kW at €55 = 8/12 x 55 ≈ €37
    assert peak_increase_cost(8000, 55.0) == pytest.approx(36.6666667)
    assert peak_increase_cost(-51, 55.0) == 0.0
    assert DEFAULT_PRICE_EUR_PER_KW_YEAR == 55.0
    line = report.verdict(metrics("app", 6570.0, 6956.0, 386.0), price=55.0, target=4000.0)
    assert line == ("app: billed peak 6.57 → 6.96 kW (+386 W, €1.77 over 12 months); 1750 kWh for "
                    "the car (101 % of what was possible); 0 rejected writes")
    cheap = report.verdict(metrics("app", 6570.0, 6956.0, 386.0), price=49.05, target=4000.0)
    assert "€1.58 over 12 months" in cheap         # 0.386 x 49.05 / 12 = 1.578


def test_verdict_within_the_target_says_so_instead_of_a_negative_increase():
    line = report.verdict(metrics("app", 2790.0, 3949.0, -51.0, 1310.0, 1377.8), target=4000.0)
    assert line == ("app: billed peak 2.79 → 3.95 kW (within the 4.00 kW target: +0 W above it, "
                    "€0.00); 1310 kWh for the car (95 % of what was possible); 0 rejected writes")


def test_the_default_table_of_a_real_replay_is_at_most_100_wide(capsys, tmp_path):
    # every controller on a short trace, the default (compact) output: its widest line is the
    # header; 100 columns as a terminal shows them and 100 bytes as `wc -c` or awk count them
    # (the € and the dashes are 3 bytes each in UTF-8: the old header was 100 characters, 102 bytes)
    status, out, err = run_cli(capsys, write_trace(tmp_path, hours=2), "--no-plot")
    assert status == 0, err
    table = [line for line in out.splitlines() if line.startswith("|")]
    assert len(table) == 6 and "| € |" in table[0]
    assert max(len(line) for line in table) <= 100
    assert max(len(line.encode("utf-8")) for line in table) <= 100


def test_compact_table_fits_100_characters_and_has_a_legend_and_verdicts():
    rows = [metrics("app", 6570.0, 6956.0, 386.0), metrics("original", 6570.0, 7977.0, 1407.0,
            1121.2, 1725.0, 4009), metrics("uncontrolled", 6570.0, 13927.0, 7357.0, 2637.3),
            metrics("oracle", 6570.0, 6570.0, 0.0, 1725.0)]
    text = report.format_compact(rows, "H6_2p_2025-01 (31.0 days)", target=4000.0)
    table = [line for line in text.splitlines() if line.startswith("|")]
    assert len(table) == 6 and max(len(line) for line in table) <= 100
    assert "| app | 6.96 | +386 | 1.77 | 71 | 1750 | 101 % | 30.1 | 0 | 8.3 |" in table
    assert any(line.startswith("Legend: ") for line in text.splitlines())
    assert sum(1 for line in text.splitlines() if line.startswith(("app:", "original:", "uncontrolled:", "oracle:"))) == 4
    wide = report.format_table(rows, "t")
    assert "writes per plugged h" in wide and "writes without car" in wide and "writes car full" in wide


# ---- plots -----------------------------------------------------------------------------------

def test_plot_names_carry_trace_day_and_plant(tmp_path):
    trace = parse_csv("timestamp,power_w\n2025-01-06T18:00:00+01:00,1\n2025-01-06T18:01:00+01:00,1\n",
                      "H5")
    ref = report.plot_path("out", trace, "2025-01-18", PlantParams())
    three = report.plot_path("out", trace, "2025-01-18", PlantParams(phases=3, max_current=16))
    assert ref == os.path.join("out", "H5_2025-01-18_1p6-32A_m5s_t4000W.png")
    assert three == os.path.join("out", "H5_2025-01-18_3p6-16A_m5s_t4000W.png")
    car = report.plot_path("out", trace, "2025-01-18", PlantParams(car_max_w=3700.0, meter_period=30))
    assert car == os.path.join("out", "H5_2025-01-18_1p6-32A_m30s_t4000W_car3.7kW.png")


@pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None, reason="matplotlib absent")
def test_the_plots_are_written_under_their_names(capsys, tmp_path):
    out_dir = tmp_path / "out"
    status, out, err = run_cli(capsys, write_trace(tmp_path, hours=2), "--controllers",
                               "uncontrolled", "--out", str(out_dir), "--day", "2025-01-06")
    assert status == 0, err
    assert sorted(os.listdir(out_dir)) == ["short_2025-01-06_1p6-32A_m5s_t4000W.png",
                                           "short_month2025-01_1p6-32A_m5s_t4000W.png"]


# ---- the README and --help agree -------------------------------------------------------------

def test_readme_lists_every_replay_option_and_no_other():
    import re
    from pathlib import Path
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Replay simulator and benchmark"):readme.index("### Results")]
    in_readme = set(re.findall(r"`(--[a-z-]+)", section)) | set(re.findall(r"\s(--[a-z-]+)", section))
    parser_options = {option for action in replay_args.build_parser()._actions
                      for option in action.option_strings if option.startswith("--")}
    parser_options.discard("--help")
    assert in_readme == parser_options
