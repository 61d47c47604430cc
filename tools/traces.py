"""Load traces: household grid offtake as a step function.

A trace is a `Trace`: `times` (UTC epoch seconds, strictly increasing) and `power_w`; the power of
step i holds on [times[i], times[i+1]) and the last step holds until `end`.

Two input formats:

* The project's CSV (`../shared/traces/*.csv`, `tools/sample/*.csv`): `timestamp,power_w`, ISO 8601
  timestamps with their UTC offset (e.g. `2025-01-01T00:00:00+01:00`), the power being the mean over
  the row's interval. The last row lasts as long as the first interval of the file (1 min for our
  traces).
* Home Assistant's history export (History panel -> download, `entity_id,state,last_changed`,
  `last_changed` in UTC ISO such as `2025-01-07T17:00:03.123Z`). A state holds until the next row
  (that is how HA records a sensor: a row only when the value changes). The trace ends at the last
  row. Units are not in the file: pass `unit="W"` or `"kW"`, or leave it `None` to auto-detect
  (every value below 50 -> kW; the decision is reported through `Trace.notes`).
  Rows whose state is `unavailable`, `unknown`, empty or not a number are gaps: the physical load
  is taken to HOLD THE LAST VALID VALUE through the gap (the house did not stop consuming because
  the meter's link dropped), and the gap is recorded in `Trace.gaps` so the replay can optionally
  show the controllers an `unavailable` meter during it (`PlantParams.meter_gaps`). Rows before the
  first valid value are dropped.
"""
from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field
from datetime import datetime

GAP_STATES = {"unavailable", "unknown", "", "none", "nan"}
KW_AUTODETECT_BELOW = 50.0


@dataclass
class Trace:
    name: str
    times: list[float]          # UTC epoch s, step starts
    power_w: list[float]        # W, holds from times[i] until times[i+1] (or end)
    end: float                  # UTC epoch s, end of the last step
    gaps: list[tuple[float, float]] = field(default_factory=list)   # meter unavailable [a, b)
    notes: list[str] = field(default_factory=list)                  # what the loader decided

    @property
    def start(self) -> float:
        return self.times[0]


def _epoch(ts: str) -> float:
    dt = datetime.fromisoformat(ts.strip())
    if dt.tzinfo is None:
        raise ValueError(f"timestamp without UTC offset: {ts!r}")
    return dt.timestamp()


def load_csv(path: str, name: str | None = None) -> Trace:
    """Read the project's `timestamp,power_w` CSV."""
    with open(path, newline="") as f:
        return parse_csv(f.read(), name or os.path.splitext(os.path.basename(path))[0])


def parse_csv(text: str, name: str = "trace") -> Trace:
    reader = csv.reader(io.StringIO(text))
    header = next(reader)
    if [h.strip() for h in header[:2]] != ["timestamp", "power_w"]:
        raise ValueError(f"{name}: expected header 'timestamp,power_w', got {header!r}")
    times: list[float] = []
    power: list[float] = []
    for row in reader:
        if not row:
            continue
        t = _epoch(row[0])
        if times and t <= times[-1]:
            raise ValueError(f"{name}: timestamps not increasing at {row[0]}")
        times.append(t)
        power.append(float(row[1]))
    if len(times) < 2:
        raise ValueError(f"{name}: need at least two rows")
    return Trace(name, times, power, times[-1] + (times[1] - times[0]))


def load_ha_history(path: str, entity: str | None = None, unit: str | None = None,
                    name: str | None = None) -> Trace:
    """Read a Home Assistant history export CSV (`entity_id,state,last_changed`)."""
    with open(path, newline="") as f:
        return parse_ha_history(f.read(), entity, unit,
                                name or entity or os.path.splitext(os.path.basename(path))[0])


def parse_ha_history(text: str, entity: str | None = None, unit: str | None = None,
                     name: str = "history") -> Trace:
    if unit not in (None, "W", "kW"):
        raise ValueError(f"unit must be 'W' or 'kW', not {unit!r}")
    reader = csv.DictReader(io.StringIO(text))
    missing = {"entity_id", "state", "last_changed"} - set(reader.fieldnames or [])
    if missing:
        raise ValueError(f"{name}: not a Home Assistant history export, missing {sorted(missing)}")
    rows = list(reader)
    entities = sorted({r["entity_id"] for r in rows})
    if entity is None:
        if len(entities) != 1:
            raise ValueError(f"{name}: the export holds {len(entities)} entities {entities}; "
                             "choose one with --entity")
        entity = entities[0]
    elif entity not in entities:
        raise ValueError(f"{name}: entity {entity!r} not in the export (it has {entities})")
    samples: list[tuple[float, float | None]] = []
    for r in rows:
        if r["entity_id"] != entity:
            continue
        state = (r["state"] or "").strip()
        try:
            value: float | None = None if state.lower() in GAP_STATES else float(state)
        except ValueError:
            value = None
        if value is not None and value != value:  # NaN
            value = None
        samples.append((_epoch(r["last_changed"]), value))
    samples.sort(key=lambda s: s[0])
    while samples and samples[0][1] is None:
        samples.pop(0)
    valid = [v for _, v in samples if v is not None]
    if len(samples) < 2 or not valid:
        raise ValueError(f"{name}: fewer than two usable rows for {entity}")
    notes = []
    if unit is None:
        unit = "kW" if max(abs(v) for v in valid) < KW_AUTODETECT_BELOW else "W"
        notes.append(f"{entity}: no --unit given; all values "
                     f"{'<' if unit == 'kW' else 'not all <'} {KW_AUTODETECT_BELOW:g}, "
                     f"so reading them as {unit}")
    scale = 1000.0 if unit == "kW" else 1.0
    times: list[float] = []
    power: list[float] = []
    gaps: list[tuple[float, float]] = []
    gap_start: float | None = None
    last = 0.0
    for t, v in samples:
        if v is None:
            if gap_start is None:
                gap_start = t
            v_w = last                      # hold the last valid value through the gap
        else:
            if gap_start is not None:
                gaps.append((gap_start, t))
                gap_start = None
            v_w = v * scale
            last = v_w
        if times and t == times[-1]:        # same instant: keep the later row
            power[-1] = v_w
            continue
        if power and power[-1] == v_w:      # unchanged (e.g. through a gap): no new step
            continue
        times.append(t)
        power.append(v_w)
    end = samples[-1][0]
    if gap_start is not None:
        gaps.append((gap_start, end))
    if times[-1] >= end:                    # last row starts a zero-length step: drop it
        times.pop(), power.pop()
    if gaps:
        notes.append(f"{entity}: {len(gaps)} unavailable/unknown gap(s), "
                     f"{sum(b - a for a, b in gaps) / 60:.1f} min in all; "
                     "the load holds its last value through them")
    return Trace(name, times, power, end, gaps, notes)

