"""Charging sessions for the simulator (issue 10): when the car is plugged in, when it leaves, and
how much energy it needs by then.

Two sources:

* **Generated** from the plug windows (`PlantParams.plug_windows` through `tools.plant.plug_intervals`):
  one session per plug-in interval, departure = its end. The need, per session, by how long the car
  stays (documented distribution, seeded):
  - an overnight session (plugged in at least OVERNIGHT_H hours, the weekday 18:00-07:30 window):
    uniform 4-16 kWh, mean 10 kWh (a 55 km day at 0.18 kWh/km);
  - a shorter one (the weekend 12:00-18:00 window): uniform 2-10 kWh, mean 6 kWh.
  Each need is drawn from a generator seeded with (seed, plug-in second), so a session's need does
  not depend on which other sessions the replay holds. `fixed_kwh` gives every session the same
  need instead (the plant's `session_kwh`).
  A session already under way when the replay starts keeps its whole need.
* **A CSV file** `plug_in,departure,need_kwh` (ISO 8601 with the UTC offset, kWh; a UTF-8 BOM, `;`
  and decimal commas are fine, as in `tools/traces.py`), sessions in time order, not overlapping.
  Errors name the file and the line.

The plant (`tools/plant.py`) takes a session list as `PlantParams.sessions` ((plug_in, departure,
need_kwh) tuples; `tools.replay.with_sessions` makes them): the car is plugged in from plug-in to
departure and is full once its need is delivered. `python tools/replay.py TRACE --sessions
generated` or `--sessions FILE.csv` replays in that mode. The session metrics
(`tools/session_metrics.py`) take any session list.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from tools.plant import PlantParams, plug_intervals
from tools.traces import _epoch, _number, _read, records

SEED = 1                      # the seed of generated needs (tools/replay.py --sessions generated)
OVERNIGHT_H = 8.0
OVERNIGHT_KWH = (4.0, 16.0)   # uniform range, mean 10 kWh
SHORT_KWH = (2.0, 10.0)       # uniform range, mean 6 kWh
LOOK_BACK_S = 7 * 24 * 3600.0  # a session under way at the start is found back to its plug-in
CSV_HEADER = ["plug_in", "departure", "need_kwh"]


@dataclass(frozen=True)
class Session:
    plug_in: float       # epoch s
    departure: float     # epoch s, after plug_in
    need_kwh: float      # energy the car needs by departure


def need_kwh(plug_in: float, departure: float, seed: int = SEED) -> float:
    """The documented need of a session (kWh, one decimal)."""
    low, high = OVERNIGHT_KWH if departure - plug_in >= OVERNIGHT_H * 3600 else SHORT_KWH
    rng = random.Random(f"{seed}:{int(plug_in)}")
    return round(rng.uniform(low, high), 1)


def generate(params: PlantParams, start: float, end: float, seed: int = SEED,
             fixed_kwh: float | None = None) -> list[Session]:
    """One session per plug-in interval of the plant's windows in [start, end) (a session under way
    at start begins there, with the need of its real plug-in)."""
    whole = plug_intervals(params, start - LOOK_BACK_S, end)
    return [Session(max(a, start), b, fixed_kwh if fixed_kwh is not None else need_kwh(a, b, seed))
            for a, b in whole if b > start]


def load_csv(path: str) -> list[Session]:
    return parse_csv(_read(path), path)


def parse_csv(text: str, source: str = "sessions") -> list[Session]:
    delimiter, rows = records(text, source, CSV_HEADER, "three fields, plug_in, departure and need_kwh")
    sessions: list[Session] = []
    for where, row in rows:
        plug_in, departure = _epoch(row[0], where), _epoch(row[1], where)
        try:
            need = _number(row[2], delimiter)
        except ValueError:
            raise ValueError(f"{where}: need_kwh {row[2]!r} is not a number") from None
        if not 0 <= need < 1000:
            raise ValueError(f"{where}: need_kwh {row[2]!r} is not between 0 and 1000 kWh")
        if departure <= plug_in:
            raise ValueError(f"{where}: departure {row[1]} is not after plug_in {row[0]}")
        if sessions and plug_in < sessions[-1].departure:
            raise ValueError(f"{where}: plug_in {row[0]} is before the previous session's departure")
        sessions.append(Session(plug_in, departure, need))
    if not sessions:
        raise ValueError(f"{source}: no sessions")
    return sessions
