"""tools/replay.py --recorder on tests/data/recorder_day.db, a database the real recorder of Home
Assistant 2025.12.1 wrote (e2e/test_e2e_recorder.py, which also regenerates it:
RECORDER_DB_OUT=tests/data/recorder_day.db ../shared/harness/run.sh . e2e/test_e2e_recorder.py).
What it holds is tests/recorder_data.py: a day of states and the 5-minute and hourly statistics
the recorder compiled from them, and four earlier months of imported hourly statistics.

The replay equals the one of a History-panel export of the same states; the year view's exact
months equal the quarter averages of those states, its hourly months the ranges the hourly rows
allow; the database is never changed; an older schema is read or refused in one line; bad input
is one line and exit 2."""

import hashlib
import importlib.util
import os
import shutil
import sqlite3

import pytest
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite

import recorder_data as data
from tools import recorder, replay, year

DB = os.path.join(os.path.dirname(__file__), "data", "recorder_day.db")


def run(capsys, *argv):
    status = replay.main([*argv, "--no-progress", "--no-plot"])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return status, out, err


def problem(capsys, *argv):
    """The one line a bad input gives, after checking it is one line and exit 2."""
    status, out, err = run(capsys, *argv)
    lines = [line for line in err.splitlines() if line.strip()]
    assert status == 2 and out == "" and len(lines) == 1, (status, out, err)
    return lines[0]


@pytest.fixture
def copy(tmp_path):
    """A copy of the database to change (the committed one is never written)."""
    path = tmp_path / "home-assistant_v2.db"
    shutil.copyfile(DB, path)
    return path


def sql(path, *statements):
    con = sqlite3.connect(path)
    with con:
        for statement in statements:
            con.execute(statement)
    con.close()


# ---- the replay ------------------------------------------------------------------------------------

def test_the_recorder_replay_prints_the_table_of_a_history_export_of_the_same_states(capsys, tmp_path):
    export = tmp_path / "history.csv"
    export.write_text(data.history_csv(), encoding="utf-8")
    status_db, from_db, err = run(capsys, "--recorder", DB, "--entity", data.GRID,
                                  "--ev-entity", data.CAR)
    status_csv, from_csv, _ = run(capsys, "--history-csv", str(export), "--entity", data.GRID,
                                  "--ev-entity", data.CAR)
    assert status_db == status_csv == 0
    assert "| app |" in from_db and from_db == from_csv
    assert "add --year" in err


def test_the_trace_holds_the_states_the_recorder_wrote_in_watts():
    trace = recorder.load_trace(DB, data.GRID)
    assert trace.start == data.START and trace.end == data.END
    assert trace.power_w[0] == data.house_w(0) + data.car_w(0)
    minute = 600
    k = trace.times.index(data.state_time(minute))
    assert trace.power_w[k] == data.house_w(minute) + data.car_w(minute)
    assert trace.gaps[0] == (data.state_time(data.GRID_GAP[0]), data.state_time(data.GRID_GAP[-1] + 1))


def test_a_kw_state_is_read_in_kw_by_its_own_unit(copy):
    """The unit comes from each state's attributes: a sensor switched to kW mid-way is not 1000
    times too small from then on."""
    con = sqlite3.connect(copy)
    with con:
        attrs_id = con.execute("insert into state_attributes (hash, shared_attrs) values (1, ?)",
                               ('{"unit_of_measurement":"kW","state_class":"measurement"}',)).lastrowid
        grid = con.execute("select metadata_id from states_meta where entity_id = ?",
                           (data.GRID,)).fetchone()[0]
        rows = con.execute("select state_id, state from states where metadata_id = ? and "
                           "last_updated_ts >= ? and state != 'unavailable'",
                           (grid, data.state_time(600))).fetchall()
        con.executemany("update states set state = ?, attributes_id = ? where state_id = ?",
                        [(str(float(s) / 1000), attrs_id, i) for i, s in rows])
    con.close()
    assert recorder.load_trace(str(copy), data.GRID).power_w == pytest.approx(
        recorder.load_trace(DB, data.GRID).power_w, abs=1e-9)


def test_reading_never_changes_the_file_nor_leaves_anything_beside_it(tmp_path):
    before = hashlib.sha256(open(DB, "rb").read()).hexdigest(), os.stat(DB).st_mtime_ns
    recorder.load_trace(DB, data.GRID, data.CAR)
    recorder.read_year(DB, data.GRID, data.CAR)
    assert (hashlib.sha256(open(DB, "rb").read()).hexdigest(), os.stat(DB).st_mtime_ns) == before
    assert not [f for f in os.listdir(os.path.dirname(DB)) if f.startswith("recorder_day.db-")]


# ---- the household's year ---------------------------------------------------------------------------

def months(*entities):
    return {m.month: m for m in year.household_year(*recorder.read_year(DB, *entities))}


def test_the_year_gives_the_exact_quarter_peaks_where_5_minute_statistics_exist():
    by_month = months(data.GRID, data.CAR)
    for which, with_car in (("with_car", True), ("house", False)):
        for month, peak_w in data.quarter_peaks(with_car).items():
            peak = getattr(by_month[month], which)
            assert peak.exact and peak.low_w == pytest.approx(peak_w, abs=1e-6), (month, which)
    assert by_month["2025-02"].quarters == 44 and by_month["2025-03"].quarters == 52
    assert [by_month[m].car_raised() for m in ("2025-02", "2025-03")] == ["yes", "no"]


def test_hourly_months_are_a_range_from_the_hourly_means_to_the_hourly_maxima():
    by_month = months(data.GRID, data.CAR)
    for (y, mo) in data.IMPORTED_MONTHS:
        month = f"{y}-{mo:02d}"
        grid = [r for r in data.hourly_grid() if year._month(r[0]) == month]
        car = {r[0]: r for r in data.hourly_car()}
        m = by_month[month]
        assert (m.hours, m.quarters) == (48, 0)
        assert (m.with_car.low_w, m.with_car.high_w) == (max(r[1] for r in grid),
                                                         max(r[3] for r in grid))
        assert m.house.low_w == max(r[1] - car[r[0]][1] for r in grid)
        assert m.house.high_w == max(r[3] - car[r[0]][2] for r in grid)
    assert [by_month[f"{y}-{m:02d}"].car_raised() for y, m in data.IMPORTED_MONTHS] == [
        "no", "maybe", "maybe", "yes"]       # October: no car; January: the car all evening


def test_the_year_table_and_its_cost(capsys):
    status, out, _ = run(capsys, "--recorder", DB, "--entity", data.GRID, "--ev-entity", data.CAR,
                         "--year", "--price-per-kw", "60")
    assert status == 0
    table = [line for line in out.splitlines() if line.startswith("|")]
    assert max(len(line) for line in table) <= 100
    feb = next(line for line in table if line.startswith("| 2025-02 "))
    peak = data.quarter_peaks(True)["2025-02"]
    house = data.quarter_peaks(False)["2025-02"]
    cells = [c.strip() for c in feb.strip("|").split("|")]
    assert cells == ["2025-02", "44 q", f"{peak / 1000:.2f}", f"{house / 1000:.2f}", "yes",
                     f"€{peak / 1000 * 60 / 12:.2f}", f"€{(peak - house) / 1000 * 60 / 12:.2f}"]
    assert "| 2024-11 | 48 h | 4.58-8.66 | 3.30-8.66 | maybe |" in out


def test_a_month_below_2_5_kw_is_billed_2_5_kw():
    m = year.Month("2025-05", year.Peak(1800.0, 1800.0), year.Peak(1200.0, 1200.0), 600.0, 4, 0)
    assert m.car_raised() == "no" and m.car_cost(55.0) == (0.0, 0.0)
    assert "€11.46 |" in year.format_year([m], "t", 55.0)     # 2.5 kW x 55 / 12


def test_the_widest_year_row_stays_within_100_characters():
    m = year.Month("2025-12", year.Peak(12345.0, 45678.0), year.Peak(12345.0, 45678.0), 30000.0,
                   2976, 744)
    rows = [line for line in year.format_year([m], "t", 999.0).splitlines() if line.startswith("|")]
    assert max(len(line) for line in rows) <= 100, rows


def test_without_the_cars_statistics_the_year_shows_the_grid_only(capsys):
    status, out, err = run(capsys, "--recorder", DB, "--entity", data.GRID, "--year")
    assert status == 0 and "| 2025-02 | 44 q | 8.23 | – | – |" in out
    assert "add --ev-entity" in out


def test_without_states_there_is_no_control_replay_but_the_year(capsys, copy):
    """The recorder keeps states 10 days and hourly statistics for ever: a sensor whose states are
    gone gets the year from its statistics, and one line saying why it is not replayed."""
    sql(copy, "delete from states")
    status, out, err = run(capsys, "--recorder", str(copy), "--entity", data.GRID)
    assert status == 0 and "the household's year" in out
    [line] = err.splitlines()
    assert line == (f"replay: {data.GRID} has no states in {copy}, only 5-minute and hourly "
                    "statistics: a control replay needs the states (the balancer acts within "
                    "seconds, a 5-minute mean hides that), so this is the household's year from "
                    "the statistics")


def test_only_5_minute_statistics_are_not_replayed_either(capsys, copy):
    sql(copy, "delete from states", "delete from statistics")
    status, out, err = run(capsys, "--recorder", str(copy), "--entity", data.GRID)
    assert status == 0 and "only 5-minute statistics: a control replay needs the states" in err
    assert "| 2025-02 | 44 q |" in out and "2024-10" not in out


# ---- schema versions --------------------------------------------------------------------------------

def test_schema_41_is_read_alike(copy):
    """Home Assistant 2023.4's schema: none of the columns later versions added (last_reported_ts
    in 43, mean_weight and mean_type in 49, unit_class in 52)."""
    sql(copy, "alter table states drop column last_reported_ts",
        "alter table statistics drop column mean_weight",
        "alter table statistics_short_term drop column mean_weight",
        "alter table statistics_meta drop column mean_type",
        "alter table statistics_meta drop column unit_class",
        "update schema_changes set schema_version = 41")
    assert recorder.load_trace(str(copy), data.GRID, data.CAR).power_w == \
        recorder.load_trace(DB, data.GRID, data.CAR).power_w
    old = year.household_year(*recorder.read_year(str(copy), data.GRID, data.CAR))
    assert old == year.household_year(*recorder.read_year(DB, data.GRID, data.CAR))


def test_a_schema_before_states_meta_is_refused_in_one_line(capsys, copy):
    sql(copy, "drop table states_meta", "update schema_changes set schema_version = 33")
    assert problem(capsys, "--recorder", str(copy), "--entity", data.GRID) == (
        f"replay: --recorder {copy}: recorder schema 33 is older than 38 (Home Assistant 2023.4, "
        "which added states_meta); start a newer Home Assistant on it once, or export the "
        "History panel (--history-csv)")


# ---- bad input: one line, exit 2 --------------------------------------------------------------------

def test_a_file_that_is_not_a_database(capsys, tmp_path):
    text = tmp_path / "history.csv"
    text.write_text(data.history_csv(), encoding="utf-8")
    assert problem(capsys, "--recorder", str(text), "--entity", data.GRID) == (
        f"replay: --recorder {text}: not a SQLite database (Home Assistant's is "
        "/config/home-assistant_v2.db)")


def test_a_sqlite_database_that_is_not_the_recorders(capsys, tmp_path):
    other = tmp_path / "other.db"
    sql(other, "create table readings (t real, w real)")
    assert problem(capsys, "--recorder", str(other), "--entity", data.GRID) == (
        f"replay: --recorder {other}: not a Home Assistant recorder database (no states or "
        "schema_changes table)")


def test_a_missing_file(capsys, tmp_path):
    assert problem(capsys, "--recorder", str(tmp_path / "nope.db"), "--entity", data.GRID) == (
        f"replay: --recorder {tmp_path / 'nope.db'}: no such file")


def test_a_database_in_use_by_home_assistant_is_refused(capsys, copy):
    """A -wal file with writes in it: SQLite would ignore them in immutable mode, so the copy
    would be silently stale."""
    writer = sqlite3.connect(copy)
    writer.execute("insert into schema_changes (schema_version, changed) values (53, '2025-03-01')")
    writer.commit()
    try:
        assert os.path.getsize(f"{copy}-wal") > 0
        line = problem(capsys, "--recorder", str(copy), "--entity", data.GRID)
    finally:
        writer.close()
    assert line == (f"replay: --recorder {copy}: in use (home-assistant_v2.db-wal holds writes not "
                    f"yet in the file); work on a copy: sqlite3 {copy} \".backup copy.db\" (safe "
                    "while Home Assistant runs), then --recorder copy.db")


def test_a_locked_database_is_refused(capsys, copy):
    """A rollback-journal database with a writer holding its lock mid-transaction."""
    sql(copy, "pragma journal_mode=delete")
    writer = sqlite3.connect(copy, isolation_level=None)
    writer.execute("begin exclusive")
    writer.execute("delete from statistics")
    try:
        line = problem(capsys, "--recorder", str(copy), "--entity", data.GRID)
    finally:
        writer.execute("rollback")
        writer.close()
    assert "in use (home-assistant_v2.db-journal holds a write in progress)" in line


def test_an_entity_with_no_states(capsys):
    assert problem(capsys, "--recorder", DB, "--entity", "sensor.nothing") == (
        f"replay: --recorder {DB}: sensor.nothing has no states and no statistics (never "
        "recorded); check the entity id in Developer Tools -> States")


def test_a_car_entity_with_no_states(capsys):
    assert problem(capsys, "--recorder", DB, "--entity", data.GRID, "--ev-entity",
                   "sensor.no_car") == (
        f"replay: --recorder {DB}: --ev-entity sensor.no_car has no states (never recorded); "
        "check the entity id in Developer Tools -> States")


def test_a_sqlite_url_to_a_missing_file(capsys, tmp_path):
    url = f"sqlite:///{tmp_path}/no/such/dir/ha.db"
    assert problem(capsys, "--recorder", url, "--entity", data.GRID) == (
        f"replay: --recorder {tmp_path}/no/such/dir/ha.db: no such file")


def test_a_server_that_refuses_the_connection(capsys):
    """What a MariaDB or PostgreSQL server that is down gives its driver, through a dialect
    registered here (CI has no server driver): the driver's first line, the password hidden."""
    registry.register("refusing", __name__, "RefusingDialect")
    assert problem(capsys, "--recorder", "refusing://ha:secret@127.0.0.1:1/homeassistant",
                   "--entity", data.GRID) == (
        "replay: --recorder refusing://ha:***@127.0.0.1:1/homeassistant: cannot connect "
        "(connection to server at 127.0.0.1, port 1 failed: Connection refused)")


class RefusingDialect(SQLiteDialect_pysqlite):
    supports_statement_cache = True

    def create_connect_args(self, url):
        return [], {}

    def connect(self, *args, **kwargs):
        raise sqlite3.OperationalError("connection to server at 127.0.0.1, port 1 failed: "
                                       "Connection refused\n\tIs the server running?")


@pytest.mark.parametrize("url, shown, driver, hint", [
    ("mysql://ha:secret@127.0.0.1:1/homeassistant", "mysql://ha:***@127.0.0.1:1/homeassistant",
     "MySQLdb", "mysql driver is not installed (MySQLdb): pip install mysqlclient (the driver Home "
     "Assistant uses), or pymysql with a mysql+pymysql:// URL"),
    ("postgresql://ha:secret@127.0.0.1:1/homeassistant",
     "postgresql://ha:***@127.0.0.1:1/homeassistant", "psycopg2",
     "postgresql driver is not installed (psycopg2): pip install psycopg2-binary"),
])
def test_a_missing_driver(capsys, url, shown, driver, hint):
    if importlib.util.find_spec(driver) is not None:
        pytest.skip(f"{driver} is installed here")
    assert problem(capsys, "--recorder", url, "--entity", data.GRID) == (
        f"replay: --recorder {shown}: the {hint}")


def test_an_unknown_database_kind(capsys):
    assert problem(capsys, "--recorder", "oracle+nosuch://x/y", "--entity", data.GRID) == (
        "replay: --recorder oracle+nosuch://x/y: SQLAlchemy knows no database 'oracle+nosuch' "
        "(the recorder's are sqlite, mysql, postgresql)")


@pytest.mark.parametrize("argv, expected", [
    (["--recorder", DB], "--recorder needs --entity: the grid meter's entity id (Developer Tools "
                         "-> States), e.g. sensor.electricity_meter_power_consumption"),
    (["--year"], "--year reads the statistics of Home Assistant's database: give --recorder DB "
                 "and --entity"),
    (["--recorder", DB, "--entity", data.GRID, "--unit", "kW"],
     "--unit applies to --history-csv only (the recorder's database holds each state's unit)"),
    (["--recorder", DB, "--entity", data.GRID, "--ev-entity", data.GRID],
     f"--ev-entity {data.GRID} is the grid meter itself (--entity)"),
    (["--recorder", DB, "--entity", data.GRID, "--history-csv", "h.csv"],
     "give --recorder or --history-csv, not both (--entity names the meter in one source)"),
])
def test_bad_recorder_arguments(capsys, argv, expected):
    assert problem(capsys, *argv) == f"replay: {expected}"
