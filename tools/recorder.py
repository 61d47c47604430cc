"""Read Home Assistant's recorder database: a sensor's states (the replay's trace) and its 5-minute
and hourly statistics (the household's year, tools/year.py).

The source is a copy of `home-assistant_v2.db` (SQLite, the recorder's default) or a SQLAlchemy
database URL (`mysql://…`, `postgresql://…`, the recorder's other engines). Everything goes
through SQLAlchemy Core, as the recorder itself does, with `sqlalchemy.table()/column()` naming
only the columns read, so one query serves every engine and every schema from 38 on:

* `states` + `states_meta` (entity_id -> metadata_id, schema 38, Home Assistant 2023.4) +
  `state_attributes` (the JSON holding `unit_of_measurement`), ordered by `last_updated_ts`;
* `statistics_short_term` (5-minute rows) and `statistics` (hourly rows) + `statistics_meta`
  (`statistic_id` = the entity, `unit_of_measurement`), by `start_ts` (schema 34).

A SQLite file is opened read-only and immutable (`mode=ro&immutable=1`): nothing is written, no
lock is taken, no -wal/-shm file appears beside it. Immutable also means SQLite ignores a -wal
file, so a file that has one (Home Assistant is writing it, or was not shut down cleanly) is
refused: work on a copy made by the recorder's backup or `sqlite3 FILE ".backup COPY"`, both safe
while Home Assistant runs. Every problem is a ValueError with one sentence.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from urllib.parse import quote

from tools.traces import UNIT_SCALE_W, HistoryRow, Trace, history_trace

OLDEST_SCHEMA = 38          # states_meta: Home Assistant 2023.4
TABLES = ("states", "states_meta", "state_attributes", "statistics", "statistics_short_term",
          "statistics_meta", "schema_changes")
DRIVERS = {"mysql": "pip install mysqlclient (the driver Home Assistant uses), or pymysql with a "
                    "mysql+pymysql:// URL",
           "mariadb": "pip install mysqlclient",
           "postgresql": "pip install psycopg2-binary"}
SHORT_TERM, HOURLY = "statistics_short_term", "statistics"


def _sqlalchemy():
    try:
        import sqlalchemy
    except ImportError:
        raise ValueError("--recorder needs SQLAlchemy: pip install -r requirements-dev.txt") from None
    return sqlalchemy


def _first_line(error: Exception) -> str:
    orig = getattr(error, "orig", None) or error
    return str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__


def sqlite_url(path: str) -> str:
    """The read-only, immutable URI of a SQLite file (SQLAlchemy's pysqlite `uri=true` form)."""
    return f"sqlite:///file:{quote(os.path.abspath(path))}?mode=ro&immutable=1&uri=true"


def _check_file(path: str) -> None:
    """A file SQLite can read without anyone writing it: ValueError otherwise."""
    if not os.path.exists(path):
        raise ValueError(f"--recorder {path}: no such file")
    if not os.path.isfile(path):
        raise ValueError(f"--recorder {path}: not a file")
    if not os.access(path, os.R_OK):
        raise ValueError(f"--recorder {path}: not readable (permission denied)")
    for suffix, what in (("-wal", "holds writes not yet in the file"),
                         ("-journal", "holds a write in progress")):
        side = path + suffix
        if os.path.exists(side) and (suffix == "-journal" or os.path.getsize(side) > 0):
            raise ValueError(f"--recorder {path}: in use ({os.path.basename(side)} {what}); work "
                             f"on a copy: sqlite3 {path} \".backup copy.db\" (safe while Home "
                             "Assistant runs), then --recorder copy.db")
    with open(path, "rb") as f:
        if f.read(16) != b"SQLite format 3\x00":
            raise ValueError(f"--recorder {path}: not a SQLite database (Home Assistant's is "
                             "/config/home-assistant_v2.db)")


def _engine(source: str):
    """(engine, the source as shown in messages: a URL without its password)."""
    sa = _sqlalchemy()
    if "://" not in source:
        _check_file(source)
        return sa.create_engine(sqlite_url(source), poolclass=sa.pool.NullPool), source
    try:
        url = sa.engine.make_url(source)
    except sa.exc.ArgumentError:
        raise ValueError(f"--recorder {source}: not a database URL (e.g. "
                         "mysql://user:password@host/homeassistant, or a file path)") from None
    shown = url.render_as_string(hide_password=True)
    if url.get_backend_name() == "sqlite":
        if not url.database:
            raise ValueError(f"--recorder {shown}: an in-memory database holds no history")
        _check_file(url.database)
        return sa.create_engine(sqlite_url(url.database), poolclass=sa.pool.NullPool), url.database
    try:
        return sa.create_engine(url, poolclass=sa.pool.NullPool), shown
    except sa.exc.NoSuchModuleError:
        raise ValueError(f"--recorder {shown}: SQLAlchemy knows no database "
                         f"{url.drivername!r} (the recorder's are sqlite, mysql, postgresql)") from None
    except ImportError as error:
        backend = url.get_backend_name()
        hint = DRIVERS.get(backend, f"install the Python driver for {url.drivername}")
        raise ValueError(f"--recorder {shown}: the {backend} driver is not installed "
                         f"({error.name or _first_line(error)}): {hint}") from None


class RecorderDB:
    """An open recorder database, read-only. Use as a context manager."""

    def __init__(self, source: str):
        sa = _sqlalchemy()
        self.sa = sa
        self.engine, self.name = _engine(source)
        try:
            self.conn = self.engine.connect()
            tables = set(sa.inspect(self.conn).get_table_names())
        except sa.exc.DBAPIError as error:
            self.engine.dispose()
            if "file is not a database" in str(error) or "malformed" in str(error):
                raise ValueError(f"--recorder {self.name}: not a readable SQLite database "
                                 f"({_first_line(error)}); a copy taken while Home Assistant was "
                                 "writing can be torn: use sqlite3's .backup") from None
            raise ValueError(f"--recorder {self.name}: cannot connect ({_first_line(error)})") from None
        missing = [t for t in TABLES if t not in tables]
        if "schema_changes" in missing or "states" in missing:
            self.close()
            raise ValueError(f"--recorder {self.name}: not a Home Assistant recorder database (no "
                             f"{' or '.join(t for t in ('states', 'schema_changes') if t in missing)} table)")
        self.schema = self._schema_version()
        if self.schema < OLDEST_SCHEMA or missing:
            self.close()
            raise ValueError(f"--recorder {self.name}: recorder schema {self.schema} is older than "
                             f"{OLDEST_SCHEMA} (Home Assistant 2023.4, which added states_meta); "
                             "start a newer Home Assistant on it once, or export the History panel "
                             "(--history-csv)")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        self.conn.close()
        self.engine.dispose()

    def _schema_version(self) -> int:
        sa = self.sa
        changes = sa.table("schema_changes", sa.column("schema_version"))
        return int(self.conn.execute(sa.select(sa.func.max(changes.c.schema_version))).scalar() or 0)

    def has_entity(self, entity: str) -> bool:
        sa = self.sa
        meta = sa.table("states_meta", sa.column("entity_id"))
        return self.conn.execute(sa.select(meta.c.entity_id)
                                 .where(meta.c.entity_id == entity)).first() is not None

    def states(self, entity: str) -> list[HistoryRow]:
        """The entity's states in time order, each with the unit its attributes give. A state's
        time is when it took its value (`last_changed_ts`, stored only where it differs from
        `last_updated_ts`): what a History-panel export calls last_changed."""
        sa = self.sa
        states = sa.table("states", sa.column("state"), sa.column("last_updated_ts"),
                          sa.column("last_changed_ts"), sa.column("metadata_id"),
                          sa.column("attributes_id"))
        meta = sa.table("states_meta", sa.column("metadata_id"), sa.column("entity_id"))
        rows = self.conn.execute(
            sa.select(states.c.state, states.c.last_updated_ts, states.c.last_changed_ts,
                      states.c.attributes_id)
            .select_from(states.join(meta, states.c.metadata_id == meta.c.metadata_id))
            .where(meta.c.entity_id == entity)
            .order_by(states.c.last_updated_ts)).all()
        units = self._units({r.attributes_id for r in rows if r.attributes_id is not None})
        return [HistoryRow(f"{self.name} {entity} state at {r.last_updated_ts:.3f}", entity,
                           r.state or "", float(r.last_changed_ts or r.last_updated_ts),
                           units.get(r.attributes_id))
                for r in rows if r.last_updated_ts is not None]

    def _units(self, ids: set) -> dict:
        """attributes_id -> unit_of_measurement (None where the attributes name none)."""
        sa = self.sa
        attrs = sa.table("state_attributes", sa.column("attributes_id"), sa.column("shared_attrs"))
        out, ids = {}, sorted(ids)
        for k in range(0, len(ids), 500):
            for r in self.conn.execute(sa.select(attrs.c.attributes_id, attrs.c.shared_attrs)
                                       .where(attrs.c.attributes_id.in_(ids[k:k + 500]))):
                try:
                    unit = json.loads(r.shared_attrs or "{}").get("unit_of_measurement")
                except (ValueError, AttributeError):
                    unit = None
                out[r.attributes_id] = unit if isinstance(unit, str) else None
        return out

    def statistics(self, entity: str, table: str) -> Series:
        """The entity's rows of `table` (SHORT_TERM or HOURLY), in W."""
        sa = self.sa
        meta = sa.table("statistics_meta", sa.column("id"), sa.column("statistic_id"),
                        sa.column("unit_of_measurement"))
        found = self.conn.execute(sa.select(meta.c.id, meta.c.unit_of_measurement)
                                  .where(meta.c.statistic_id == entity)).first()
        if found is None:
            return Series(entity, None)
        stats = sa.table(table, sa.column("metadata_id"), sa.column("start_ts"), sa.column("mean"),
                         sa.column("min"), sa.column("max"))
        rows = self.conn.execute(sa.select(stats.c.start_ts, stats.c.mean, stats.c.min, stats.c.max)
                                 .where(stats.c.metadata_id == found.id)
                                 .order_by(stats.c.start_ts)).all()
        unit = found.unit_of_measurement
        if rows and unit not in UNIT_SCALE_W:
            raise ValueError(f"--recorder {self.name}: the statistics of {entity} are in "
                             f"{unit or 'no unit'}, not W or kW: is it a power sensor?")
        scale = UNIT_SCALE_W.get(unit, 1.0)
        return Series(entity, unit, [StatRow(float(r.start_ts), r.mean * scale, r.min * scale,
                                             r.max * scale)
                                     for r in rows if None not in (r.start_ts, r.mean, r.min, r.max)])


@dataclass
class StatRow:
    """One statistics row: the period's start (UTC epoch s) and its time-weighted mean, min and
    max (W)."""
    start: float
    mean_w: float
    min_w: float
    max_w: float


@dataclass
class Series:
    """An entity's rows of one statistics table (empty: none; unit None: not in statistics_meta)."""
    entity: str
    unit: str | None
    rows: list[StatRow] = field(default_factory=list)


def load_trace(source: str, entity: str, ev_entity: str | None = None) -> Trace:
    """The house load from the recorder's states of the grid `entity` less the car's `ev_entity`:
    the same Trace a History-panel export of those states gives (tools.traces.history_trace)."""
    with RecorderDB(source) as db:
        rows = []
        for e, option in ((entity, "--entity"), (ev_entity, "--ev-entity")):
            if e is None:
                continue
            found = db.states(e)
            if not found:
                raise ValueError(f"--recorder {db.name}: {option} {e} has no states "
                                 f"({'never recorded' if not db.has_entity(e) else 'all purged'}); "
                                 "check the entity id in Developer Tools -> States")
            rows += found
        return history_trace(rows, entity, None, entity, ev_entity, None, db.name)


def states_missing(source: str, entity: str) -> str | None:
    """None when the recorder holds states of `entity` to replay; otherwise what it holds instead,
    in a sentence (its statistics: the year view is all it can give). ValueError when it holds
    neither."""
    with RecorderDB(source) as db:
        if db.states(entity):
            return None
        short, hourly = db.statistics(entity, SHORT_TERM), db.statistics(entity, HOURLY)
        if not short.rows and not hourly.rows:
            known = "its states were all purged" if db.has_entity(entity) else "never recorded"
            raise ValueError(f"--recorder {db.name}: {entity} has no states and no statistics "
                             f"({known}); check the entity id in Developer Tools -> States")
        kinds = " and ".join(k for k, s in (("5-minute", short), ("hourly", hourly)) if s.rows)
        return (f"{entity} has no states in {db.name}, only {kinds} statistics: a control replay "
                "needs the states (the balancer acts within seconds, a 5-minute mean hides "
                "that), so this is the household's year from the statistics")


def read_year(source: str, entity: str, ev_entity: str | None = None
              ) -> tuple[Series, Series, Series | None, Series | None]:
    """(grid 5-minute, grid hourly, car 5-minute, car hourly): the statistics the year view reads
    (the car's None without `ev_entity`)."""
    with RecorderDB(source) as db:
        grid = (db.statistics(entity, SHORT_TERM), db.statistics(entity, HOURLY))
        if not grid[0].rows and not grid[1].rows:
            known = ("it has states but no statistics: give it state_class measurement"
                     if db.states(entity) else "check the entity id")
            raise ValueError(f"--recorder {db.name}: no statistics of {entity} ({known})")
        car = (None, None)
        if ev_entity is not None:
            car = (db.statistics(ev_entity, SHORT_TERM), db.statistics(ev_entity, HOURLY))
        return grid[0], grid[1], car[0], car[1]
