"""The recorder's history before the install (issue 15, tools/history.py): which part of a trace
is history and which is replayed, the statistics rows as Home Assistant's recorder computes and
answers them, the options, and the bill with the history's quarters."""
import random
from datetime import datetime, timedelta, timezone

import pytest

from tools import history as hist
from stubs import Invalid
from tools import replay
from tools.app_controller import AppController, statistics_schema
from tools.controllers import Uncontrolled
from tools.metrics import evaluate, oracle_metrics, quarter_energy
from tools.plant import TZ, Plant
from tools.traces import Trace
from test_sim_sessions_mode import quiet_app  # noqa: F401  (the fixture)
from test_simulator import REF

JAN1 = datetime(2025, 1, 1, tzinfo=TZ).timestamp()      # a Wednesday, local midnight
DAY = 86400.0


def minute_trace(days, start=JAN1, seed=7, name="house"):
    """`days` of one-minute samples, 200-6000 W at random (seeded)."""
    rng = random.Random(seed)
    n = int(days * 1440)
    return Trace(name, [start + 60.0 * i for i in range(n)],
                 [float(rng.randrange(200, 6000)) for _ in range(n)], start + 60.0 * n)


def test_the_first_n_local_days_are_history_and_only_the_rest_is_replayed():
    trace = minute_trace(4)
    h = hist.from_days(trace, 3)
    assert h.start == datetime(2025, 1, 4, tzinfo=TZ).timestamp()
    assert hist.replay_span(trace, h) == (h.start, trace.end)
    assert hist.replay_span(trace) == (trace.start, trace.end)
    assert h.days == 3.0 and len(h.hourly) == 72
    with pytest.raises(ValueError, match=r"--history-days 4 leaves nothing to replay: house covers "
                                         r"2025-01-01 to 2025-01-04 \(4 days\); give fewer than 4"):
        hist.from_days(trace, 4)


def test_five_minute_means_of_a_clock_quarter_average_to_the_quarter_and_the_hour_max_is_the_top():
    trace = minute_trace(2)
    h = hist.from_days(trace, 1)
    rows = h.rows("5minute")
    quarters = quarter_energy(trace.times, trace.power_w, trace.end, int(JAN1 // 900), 96)
    for k in range(96):
        means = [r[1] for r in rows[3 * k:3 * k + 3]]
        assert sum(means) / 3 == pytest.approx(quarters[k] / 900, abs=1e-9)
    for i, (start, mean, low, high) in enumerate(h.hourly):
        samples = trace.power_w[60 * i:60 * i + 60]
        assert start == JAN1 + 3600 * i
        assert high == max(samples) and low == min(samples)
        assert mean == pytest.approx(sum(samples) / 60, abs=1e-9)


def test_the_recorder_keeps_five_minute_rows_for_ten_days_and_hourly_rows_for_ever():
    trace = minute_trace(13)
    h = hist.from_days(trace, 12)
    assert h.rows("5minute")[0][0] == h.start - 10 * DAY and len(h.rows("5minute")) == 10 * 288
    assert h.rows("hour")[0][0] == JAN1 and len(h.rows("hour")) == 12 * 24


def test_the_answer_has_home_assistants_shape_range_types_and_units():
    h = hist.from_days(minute_trace(2), 1)
    start = datetime(2025, 1, 1, 10, 0, tzinfo=timezone.utc)
    answer = h.get_statistics("sensor.grid_power", start_time=start,
                              end_time=start + timedelta(minutes=10), statistic_ids=["sensor.grid_power"],
                              period="5minute", types=["mean", "max"])
    rows = answer["statistics"]["sensor.grid_power"]
    assert list(answer) == ["statistics"] and len(rows) == 2
    assert list(rows[0]) == ["start", "end", "max", "mean"]
    assert (rows[0]["start"], rows[0]["end"]) == ("2025-01-01T10:00:00+00:00", "2025-01-01T10:05:00+00:00")
    kw = h.get_statistics("sensor.grid_power", start_time="2025-01-01T10:00:00Z",
                          end_time="2025-01-01T10:05:00+00:00", statistic_ids="sensor.grid_power",
                          period="5minute", types=["mean"], units={"power": "kW"})
    assert kw["statistics"]["sensor.grid_power"] == [
        {"start": rows[0]["start"], "end": rows[0]["end"], "mean": rows[0]["mean"] / 1000}]
    assert h.get_statistics("sensor.grid_power", start_time=start, statistic_ids=["sensor.other"],
                            period="hour", types=["mean"]) == {"statistics": {}}
    with pytest.raises(ValueError, match="period 'day' is not modelled"):
        h.get_statistics("sensor.grid_power", start_time=start, statistic_ids=["x"], period="day",
                         types=["mean"])


def test_the_install_months_history_counts_in_the_bill_and_an_earlier_month_does_not():
    trace = Trace("house", [JAN1, JAN1 + 3600, JAN1 + 4500, JAN1 + 3 * DAY],
                  [1000.0, 7000.0, 1000.0, 1000.0], JAN1 + 4 * DAY)   # 7 kW the first day, 01:00
    h = hist.from_days(trace, 2)
    q0, house_j, offtake_j = h.billed_quarters()
    assert q0 == int(JAN1 // 900) and len(house_j) == 192 and max(house_j) == 7000.0 * 900
    assert offtake_j == house_j                                            # it never exports
    run = Plant(trace, REF, h.start, trace.end, h).run(Uncontrolled())
    assert run.history is h
    app, oracle = evaluate(run), oracle_metrics(run)
    assert app.peak_house_w == 7000.0 and oracle.peak_ev_w == 7000.0      # the month's house peak
    assert app.peak_ev_w == 1000.0 + REF.max_ev_w and app.hours == 48.0   # scored: the last 2 days
    assert oracle.ev_kwh == pytest.approx(6000.0 * 48 / 1000)              # under 7 kW, not 4 kW
    december = Trace("december", [JAN1 - 5 * DAY], [9000.0], JAN1)
    assert hist.from_trace(december, trace).billed_quarters()[1:] == ([], [])
    with pytest.raises(ValueError, match="--history house: it starts at 2025-01-01 00:00, not before"):
        hist.from_trace(trace, trace)


def write_csv(path, days, watts=1500.0, start=JAN1):
    rows = ["timestamp,power_w"] + [
        f"{datetime.fromtimestamp(start + 60 * i, TZ).isoformat()},{watts}" for i in range(int(days * 1440))]
    path.write_text("\n".join(rows) + "\n")
    return str(path)


@pytest.mark.parametrize("argv, expected", [
    (["--history-days", "0"], "--history-days must be between 1 and 366 days, got 0"),
    (["--history-days", "400"], "--history-days must be between 1 and 366 days, got 400"),
    (["--history-days", "2", "--history", "x.csv"],
     "--history-days and --history both give the recorder's history: choose one"),
])
def test_bad_history_options_give_one_line_and_exit_2(capsys, argv, expected):
    assert replay.main(argv + ["--no-plot", "--no-progress"]) == 2
    assert capsys.readouterr().err == f"replay: {expected}\n"


def test_a_history_as_long_as_the_trace_is_refused_before_anything_is_replayed(capsys, tmp_path):
    trace = write_csv(tmp_path / "two.csv", 2)
    assert replay.main([trace, "--history-days", "2", "--no-plot", "--no-progress"]) == 2
    assert capsys.readouterr().err == ("replay: --history-days 2 leaves nothing to replay: two covers "
                                       "2025-01-01 to 2025-01-02 (2 days); give fewer than 2\n")


def test_the_replay_with_history_says_so_and_scores_only_the_rest(capsys, tmp_path):
    trace = write_csv(tmp_path / "two.csv", 2)
    assert replay.main([trace, "--history-days", "1", "--controllers", "uncontrolled",
                        "--no-plot", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert ("History: the first day of two, 2025-01-01 00:00 to 2025-01-02 00:00 (1.0 days, the "
            "house alone: no balancer, no car then)") in out
    assert "replayed and scored from 2025-01-02 00:00" in out and "**two (1.0 days)**" in out


def test_the_app_gets_the_history_from_a_recorder_with_home_assistants_schema(quiet_app):  # noqa: F811
    trace = minute_trace(2)
    h = hist.from_days(trace, 1)
    ctl = AppController(quiet_app)
    Plant(trace, REF, h.start, h.start + 3600, h).run(ctl)
    assert ctl.env.has_service("recorder", "get_statistics")
    data = statistics_schema(dict(statistic_ids="sensor.grid_power", start_time="2025-01-01T00:00:00Z",
                                  period="hour", types="mean"))
    assert data["statistic_ids"] == ["sensor.grid_power"] and data["types"] == ["mean"]
    assert len(ctl._get_statistics(**data)["statistics"]["sensor.grid_power"]) == 23
    with pytest.raises(Invalid, match=r"extra keys not allowed @ data\['entity_id'\]"):
        statistics_schema(dict(data, entity_id="sensor.grid_power"))
    with pytest.raises(Invalid, match=r"required key not provided @ data\['types'\]"):
        statistics_schema(dict(statistic_ids=["x"], start_time="2025-01-01", period="hour"))
    empty = AppController(quiet_app)
    Plant(trace, REF, h.start, h.start + 3600).run(empty)
    assert empty._get_statistics(**data) == {"statistics": {}}


READER_APP = """
@time_trigger("startup")
def read_history():
    answer = service.call("recorder", "get_statistics", return_response=True, period="5minute",
                          statistic_ids=["sensor.grid_power"], types=["mean", "max"],
                          start_time="2025-01-01T00:00:00+00:00")
    rows = answer["statistics"].get("sensor.grid_power", [])
    state.set("pyscript.rows_read", len(rows), last=rows[-1] if rows else None)
"""


def test_an_app_reads_the_history_through_pyscripts_service_call(tmp_path):
    app = tmp_path / "reader.py"
    app.write_text(READER_APP)
    trace = minute_trace(2)
    h = hist.from_days(trace, 1)
    last = h.short_term[-1]
    for history, rows, last_row in (
            (h, 23 * 12, {"start": "2025-01-01T22:55:00+00:00", "end": "2025-01-01T23:00:00+00:00",
                          "max": last[3], "mean": last[1]}),   # 00:00 UTC is local 01:00: 23 h
            (None, 0, None)):
        ctl = AppController(str(app))
        Plant(trace, REF, h.start, h.start + 900, history).run(ctl)
        assert ctl.env.get_state("pyscript.rows_read") == str(rows)
        assert vars(ctl.env.get_state("pyscript.rows_read"))["last"] == last_row


def test_a_previous_month_as_the_history_file(capsys, tmp_path):
    december = write_csv(tmp_path / "december.csv", 2, start=JAN1 - 2 * DAY)
    january = write_csv(tmp_path / "january.csv", 1)
    assert replay.main([january, "--history", december, "--controllers", "uncontrolled",
                        "--no-plot", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "History: december, 2024-12-30 00:00 to 2025-01-01 00:00 (2.0 days" in out
    assert "replayed and scored from 2025-01-01 00:00" in out and "**january (1.0 days)**" in out
    assert replay.main([december, "--history", january, "--no-plot", "--no-progress"]) == 2
    assert capsys.readouterr().err.startswith("replay: --history january: it starts at 2025-01-01 "
                                              "00:00, not before december starts at 2024-12-30 00:00")


def test_the_whole_chain_the_app_takes_the_month_peak_and_profile_from_the_replays_history():
    trace = Trace("house", [JAN1, JAN1 + 3600, JAN1 + 4500, JAN1 + 3 * DAY],
                  [1000.0, 7000.0, 1000.0, 1000.0], JAN1 + 4 * DAY)   # 7 kW the first day, 01:00
    h = hist.from_days(trace, 2)
    ctl = AppController()
    Plant(trace, REF, h.start, h.start + 900, h).run(ctl)
    peak = ctl.env.get_state("pyscript.wallbox_balancer_monthly_peak")
    assert peak == "7000" and vars(peak)["quarter_start"] == "2025-01-01T01:00:00+01:00"
    assert vars(ctl.env.get_state("pyscript.wallbox_balancer_profile"))["history_days"] == 2.0
