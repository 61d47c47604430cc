"""The real app file through the stubs: the load profile and the month's peak from the recorder at
start (issue 15). The fake action (tests/recorder.py) answers as Home Assistant's; e2e/ runs the
real recorder."""

from datetime import datetime, timedelta, timezone

import pytest
from freezegun import freeze_time

from home import Home
from plant import CONFIG, PEAK
from recorder import FakeRecorder
from stubs import HomeAssistantError
from stubs.harness import run

PROFILE = "pyscript.wallbox_balancer_profile"
START = datetime(2025, 1, 15, 11, 0, tzinfo=timezone.utc)  # a Wednesday, 12:00 in Brussels
APP_LOGGER = "custom_components.pyscript.apps.wallbox_balancer"


@pytest.fixture
def frozen():
    with freeze_time(START) as frozen_time:
        yield frozen_time


def house_w(t):
    """The house behind the history: 400 W, a 2.5 kW dinner 18:00-19:00 local (17-18 UTC)."""
    return 2500.0 if t.hour == 17 else 400.0


def recorder_with_history(unit="kW"):
    """Five weeks of hourly and ten days of 5-minute statistics of the grid sensor (in `unit`),
    with one 5.5 kW quarter on 13 January (the month's peak) and a 3.2 kW hour on 2 January."""
    scale = 1000.0 if unit == "kW" else 1.0
    recorder = FakeRecorder()
    first_hour = START - timedelta(days=35)
    hours = [house_w(first_hour + timedelta(hours=k)) for k in range(35 * 24)]
    hours[(datetime(2025, 1, 2, 17, tzinfo=timezone.utc) - first_hour) // timedelta(hours=1)] = 3200.0
    recorder.add(CONFIG["grid_power"], "hour", first_hour, [w / scale for w in hours], unit)
    first = START - timedelta(days=10)
    fives = [house_w(first + timedelta(minutes=5 * k)) for k in range(10 * 288)]
    peak_at = (datetime(2025, 1, 13, 17, 15, tzinfo=timezone.utc) - first) // timedelta(minutes=5)
    fives[peak_at:peak_at + 3] = [5500.0] * 3
    recorder.add(CONFIG["grid_power"], "5minute", first, [w / scale for w in fives], unit)
    return recorder


def home_with(frozen, recorder=None, config=None, **service):
    home = Home(frozen, config=config, start=False)
    if recorder is not None:
        service.setdefault("handler", recorder.answer)
    if service:
        calls = home.plant.ha.mock_service("recorder", "get_statistics", supports_response="only", **service)
        object.__setattr__(home, "statistics_calls", calls)
    run(home.plant.ha.start())
    return home


def info_lines(home, text):
    return [m for lvl, name, m in home.env.logs if name.startswith(APP_LOGGER) and lvl == "INFO" and text in m]


def test_the_first_start_seeds_the_profile_and_the_months_peak_from_the_recorder(frozen):
    home = home_with(frozen, recorder_with_history("kW"))
    five, hour = [c.data for c in home.statistics_calls]
    assert (five["period"], hour["period"]) == ("5minute", "hour") and five["units"] == {"power": "W"}
    attributes = home.attrs(PROFILE)
    assert attributes["history_days"] == 35.0 and min(attributes["count"]) == 10
    dinner = 72 + 4  # 19:00 local is the first quarter after the dinner hour, weekday
    assert attributes["mean_w"][72] > 2000 and attributes["mean_w"][dinner] < 600  # in W: the kW rows converted
    assert home.state(PEAK) == "5500" and home.attrs(PEAK)["quarter_start"] == "2025-01-13T18:15:00+01:00"
    [line] = info_lines(home, "load profile from the recorder's statistics")
    assert "35.0 days of house load found (960 quarters exact from 5-minute means, 2400 from hourly means)" in line
    assert "this month's peak so far 5500 W (the quarter from 2025-01-13T18:15:00+01:00)" in line
    home.run(120)
    home.env.assert_no_errors()


def test_before_the_five_minute_rows_only_the_hourly_mean_raises_the_peak(frozen):
    recorder = recorder_with_history("W")
    key = (CONFIG["grid_power"], "5minute")
    recorder.rows[key] = [(a, 300.0, 300.0) for a, mean, high in recorder.rows[key]]  # a quiet last 10 days
    home = home_with(frozen, recorder)
    assert home.state(PEAK) == "3200"  # the hour of 2 January, not its max
    assert home.attrs(PEAK)["quarter_start"] == "2025-01-02T18:00:00+01:00"
    assert "at least, the hour from 2025-01-02T18:00:00+01:00" in info_lines(home, "load profile")[0]


def test_a_monthly_peak_meter_keeps_the_peak_the_statistics_only_seed_the_profile(frozen):
    home = Home(frozen, start=False)
    run(home.plant.ha.set_state("sensor.peak", 2.1, unit_of_measurement="kW"))
    home.plant.ha.env.app_config = dict(CONFIG, monthly_peak_meter="sensor.peak")
    home.plant.ha.mock_service("recorder", "get_statistics", supports_response="only", handler=recorder_with_history().answer)
    run(home.plant.ha.start())
    home.run(10)
    assert home.attrs(PROFILE)["history_days"] == 35.0
    assert home.attrs(PEAK)["own_peak"] == 0 and "peak" not in info_lines(home, "load profile")[0]


@pytest.mark.parametrize("problem, line", [
    ("absent", "no recorder (recorder.get_statistics): the load profile starts from what it has learnt so far"),
    ("failing", "recorder.get_statistics failed (database is locked): the load profile starts from what it has learnt so far"),
    ("no statistics", "no statistics for sensor.electricity_meter_power_consumption in the recorder (it needs a state_class"),
])
def test_without_statistics_one_info_line_and_the_neutral_start(frozen, problem, line):
    if problem == "absent":
        home = home_with(frozen)
    elif problem == "failing":
        home = home_with(frozen, raise_exception=HomeAssistantError("database is locked"))
    else:
        home = home_with(frozen, FakeRecorder())
    home.run(60)
    assert len(info_lines(home, line)) == 1
    assert len([m for lvl, name, m in home.env.logs if name.startswith(APP_LOGGER) and "recorder" in m]) == 1
    assert home.state(PROFILE) is None or home.attrs(PROFILE)["history_days"] == 0
    assert home.state(PEAK) == "0"
    home.env.assert_no_errors()


def test_a_reload_keeps_what_was_learnt_and_takes_only_the_quarters_since(frozen):
    recorder = recorder_with_history()
    home = home_with(frozen, recorder)
    before = home.attrs(PROFILE)
    frozen.tick(timedelta(minutes=30))
    recorder.add(CONFIG["grid_power"], "5minute", START, [9.0] * 6, "kW")  # a 9 kW half hour since
    home.env.reload()
    after = home.attrs(PROFILE)
    assert "2 quarters new to the profile" in info_lines(home, "load profile")[-1]
    assert after["history_days"] == round((35 * 96 + 2) / 96, 1)
    assert [i for i in range(192) if after["mean_w"][i] != before["mean_w"][i]] == [48, 49]  # 12:00 and 12:15
    assert home.state(PEAK) == "9000"
