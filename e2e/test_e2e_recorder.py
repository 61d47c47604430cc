"""The replay reads Home Assistant's own database (issue 17), written here by the real recorder of
Home Assistant 2025.12.1 (schema 53), not by a hand-made schema.

Run: ../shared/harness/run.sh . e2e/test_e2e_recorder.py -q -p no:cacheprovider
(no pyscript needed: Home Assistant, its recorder and the sensor integration's statistics).

The test writes tests/recorder_data.py's day of states through `hass.states.async_set` with the
frozen clock moved minute by minute, lets the recorder's own 5-minute job compile the statistics,
imports the earlier months' hourly statistics through `async_import_statistics`, and copies the
live database as a user would (`sqlite3 .backup`). Then `tools/replay.py --recorder` on that copy
must print the same table as `tools/replay.py --history-csv` on a History-panel export of the same
states (read back through the recorder's history API, as the panel does), and the year view's
monthly peaks must be the quarter averages of the same states.

RECORDER_DB_OUT=tests/data/recorder_day.db rewrites the database the tier-1 tests read
(tests/test_recorder.py); the file is VACUUMed so it stays small.
"""

import csv
import logging
import os
import sqlite3
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from homeassistant.components.recorder import history
from homeassistant.components.recorder.models import StatisticMeanType
from homeassistant.components.recorder.statistics import async_import_statistics
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import async_fire_time_changed
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))
import recorder_data as data  # noqa: E402
from real_recorder import *  # noqa: E402,F401,F403  (the real recorder's fixtures)

OUT_ENV = "RECORDER_DB_OUT"



def _utc(t: float) -> datetime:
    return datetime.fromtimestamp(t, timezone.utc)


def _import_hourly(hass, entity, rows):
    metadata = {"source": "recorder", "statistic_id": entity, "unit_of_measurement": "W",
                "unit_class": "power", "mean_type": StatisticMeanType.ARITHMETIC,
                "has_sum": False, "name": None}
    async_import_statistics(hass, metadata, [
        {"start": _utc(start), "mean": mean, "min": low, "max": high}
        for start, mean, low, high in rows])


async def _write_recorder_day(hass, freezer):
    """The day's states minute by minute, the 5-minute job running at hh:m0:10 and hh:m5:10 as in
    a live Home Assistant, until the last hour's statistics are compiled."""
    await async_setup_component(hass, "sensor", {})
    _import_hourly(hass, data.GRID, data.hourly_grid())
    _import_hourly(hass, data.CAR, data.hourly_car())
    await async_wait_recording_done(hass)
    by_time: dict[float, list] = {}
    for t, entity, state in data.states():
        by_time.setdefault(t, []).append((entity, state))
    jobs = {t: [] for t in range(int(data.START) + 310, int(data.END) + 3600, 300)}
    for t in sorted({**jobs, **by_time}):
        freezer.move_to(_utc(t))
        for entity, state in by_time.get(t, ()):
            hass.states.async_set(entity, state, data.ATTRIBUTES)
        async_fire_time_changed(hass, _utc(t))
        await async_wait_recording_done(hass)


def _backup(live: str, copy: Path) -> None:
    """What the README tells the user: sqlite3's backup of the live file (it reads what the
    recorder's WAL still holds), then VACUUM so the copy is compact."""
    copy.unlink(missing_ok=True)
    src, dst = sqlite3.connect(live), sqlite3.connect(copy)
    with dst:
        src.backup(dst)
    dst.execute("VACUUM")
    src.close()
    dst.close()


def _history_csv(hass, path: Path) -> None:
    """The History panel's download of both sensors over the day (entity_id,state,last_changed),
    from the recorder's history API."""
    states = history.get_significant_states(
        hass, _utc(data.START - 60), _utc(data.END + 60), [data.GRID, data.CAR],
        significant_changes_only=False)
    with open(path, "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["entity_id", "state", "last_changed"])
        for entity in (data.GRID, data.CAR):
            for s in states[entity]:
                out.writerow([entity, s.state,
                              s.last_changed.isoformat(timespec="milliseconds").replace("+00:00", "Z")])


def _replay(*argv) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "tools" / "replay.py"), *argv,
                           "--no-plot", "--no-progress"],
                          capture_output=True, text=True, cwd=REPO, timeout=600)


@pytest.mark.freeze_time("2025-02-28 11:59:00")    # before hass starts: its timers follow this clock
async def test_recorder_replay_equals_the_history_export_and_the_year_gives_the_quarters(
        freezer, recorder_mock, hass, recorder_db_url, tmp_path):
    logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    await _write_recorder_day(hass, freezer)
    copy = tmp_path / "copy.db"
    _backup(recorder_db_url.removeprefix("sqlite:///"), copy)
    export = tmp_path / "history.csv"
    await hass.async_add_executor_job(_history_csv, hass, export)
    if os.environ.get(OUT_ENV):
        _backup(recorder_db_url.removeprefix("sqlite:///"), REPO / os.environ[OUT_ENV])

    from_db = _replay("--recorder", str(copy), "--entity", data.GRID, "--ev-entity", data.CAR)
    from_csv = _replay("--history-csv", str(export), "--entity", data.GRID,
                       "--ev-entity", data.CAR)
    assert from_db.returncode == 0, from_db.stderr
    assert from_csv.returncode == 0, from_csv.stderr
    assert "| app |" in from_db.stdout
    assert from_db.stdout == from_csv.stdout

    from tools import recorder, year
    from tools.metrics import quarter_energy
    from tools.traces import parse_ha_history
    months = {m.month: m for m in
              year.household_year(*recorder.read_year(str(copy), data.GRID, data.CAR))}
    text = export.read_text(encoding="utf-8")
    grid = parse_ha_history(text, data.GRID, name="grid")
    house = parse_ha_history(text, data.GRID, ev_entity=data.CAR, name="house")
    q0, q1 = int(data.START // 900), int(data.END // 900)
    local = [datetime.fromtimestamp(k * 900, year.TZ).strftime("%Y-%m") for k in range(q0, q1)]
    for trace, which in ((grid, "with_car"), (house, "house")):
        averages = [e / 900 for e in quarter_energy(trace.times, trace.power_w, trace.end, q0,
                                                    q1 - q0)]
        for month in ("2025-02", "2025-03"):
            peak = getattr(months[month], which)
            assert peak.exact, (month, which, peak)
            assert peak.low_w == pytest.approx(
                max(a for a, m in zip(averages, local) if m == month), abs=1e-6), (month, which)
    assert [months[m].car_raised() for m in ("2025-02", "2025-03")] == ["yes", "no"]
