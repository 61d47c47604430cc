"""Load traces: household grid offtake as a step function.

A trace is a `Trace`: `times` (UTC epoch seconds, strictly increasing) and `power_w`; the power of
step i holds on [times[i], times[i+1]) and the last step holds until `end`.

Two input formats (either may start with a UTF-8 byte-order mark and use `;` between fields, as
Excel writes them with a Belgian locale; a decimal comma is then accepted too):

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
  `ev_entity` names the charger's power sensor in the same export: the house load is then the grid
  power minus the car's, floored at 0 W (the car in your own history would otherwise be counted
  as house load, and charged again by the simulated car).

The export's rows become `HistoryRow`s and `history_trace` makes the Trace of them; the recorder's
database (tools/recorder.py) gives the same rows, each with its own unit, to the same function, so a
replay of the database equals one of an export of the same states.

Every error names the file (the `source` argument) and, for a bad row, its line number.
"""
from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import dataclass, field
from datetime import datetime

# the bundled sample week (tools/sample/README.md): what the replay runs when given no trace
SAMPLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sample", "H4_4p_2025-01_week1.csv")
GAP_STATES = {"unavailable", "unknown", "", "none", "nan"}
KW_AUTODETECT_BELOW = 50.0
# a house above this many kW is a unit mix-up (a 63 A 3-phase connection gives at most 43 kW)
PLAUSIBLE_HOUSE_KW = 50.0
CHARGER_NAME = re.compile(r"wallbox|charg|evse|\bev_|_ev_|easee|zaptec|alfen", re.I)


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


def _epoch(ts: str, where: str) -> float:
    try:
        dt = datetime.fromisoformat(ts.strip())
    except ValueError:
        raise ValueError(f"{where}: {ts.strip()!r} is not an ISO 8601 time "
                         "(expected e.g. 2025-01-01T00:00:00+01:00)") from None
    if dt.tzinfo is None:
        raise ValueError(f"{where}: timestamp without UTC offset: {ts.strip()!r}")
    return dt.timestamp()


def _read(path: str) -> str:
    """The file's text (a UTF-8 BOM is dropped); OSError and undecodable files become ValueError
    naming the file."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            return f.read()
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a UTF-8 text file") from None
    except OSError as error:
        raise ValueError(f"{path}: {error.strerror or error}") from None


def _rows(text: str, source: str) -> tuple[list[list[str]], str]:
    """(rows with their fields stripped, delimiter). `;` when the header has one and no comma."""
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise ValueError(f"{source}: the file is empty")
    first = text.splitlines()[0]
    delimiter = ";" if ";" in first and "," not in first else ","
    rows = [[c.strip() for c in row] for row in csv.reader(io.StringIO(text), delimiter=delimiter)]
    return rows, delimiter


def records(text: str, source: str, header: list[str], fields: str) -> tuple[str, list[tuple[str, list[str]]]]:
    """(delimiter, [(where, row), ...]) of a CSV that must start with `header`; blank rows are
    skipped, a short row is refused (`fields` says what a row holds, e.g. 'two fields, a and b')."""
    rows, delimiter = _rows(text, source)
    if rows[0][:len(header)] != header:
        raise ValueError(f"{source}: expected the header '{','.join(header)}', got "
                         f"{delimiter.join(rows[0])!r}")
    out = []
    for line, row in enumerate(rows[1:], 2):
        if not row or not any(row):
            continue
        where = f"{source} line {line}"
        if len(row) < len(header):
            raise ValueError(f"{where}: expected {fields}")
        out.append((where, row))
    return delimiter, out


def _number(text: str, delimiter: str) -> float:
    if delimiter == ";":
        text = text.replace(",", ".")        # Belgian Excel: decimal comma
    return float(text)


def load_csv(path: str, name: str | None = None) -> Trace:
    """Read the project's `timestamp,power_w` CSV."""
    return parse_csv(_read(path), name or os.path.splitext(os.path.basename(path))[0], source=path)


def parse_csv(text: str, name: str = "trace", source: str | None = None) -> Trace:
    source = source or name
    delimiter, rows = records(text, source, ["timestamp", "power_w"], "two fields, timestamp and power_w")
    times: list[float] = []
    power: list[float] = []
    for where, row in rows:
        t = _epoch(row[0], where)
        if times and t <= times[-1]:
            raise ValueError(f"{where}: timestamps not increasing at {row[0]}")
        try:
            value = _number(row[1], delimiter)
        except ValueError:
            raise ValueError(f"{where}: power_w {row[1]!r} is not a number") from None
        if value != value or abs(value) == float("inf"):
            raise ValueError(f"{where}: power_w {row[1]!r} is not a number")
        times.append(t)
        power.append(value)
    if len(times) < 2:
        raise ValueError(f"{source}: need at least two data rows, found {len(times)}")
    return Trace(name, times, power, times[-1] + (times[1] - times[0]))


def load_ha_history(path: str, entity: str | None = None, unit: str | None = None,
                    name: str | None = None, ev_entity: str | None = None,
                    ev_unit: str | None = None) -> Trace:
    """Read a Home Assistant history export CSV (`entity_id,state,last_changed`)."""
    return parse_ha_history(_read(path), entity, unit,
                            name or entity or os.path.splitext(os.path.basename(path))[0],
                            ev_entity=ev_entity, ev_unit=ev_unit, source=path)


@dataclass
class HistoryRow:
    """One recorded state of an entity, from a History-panel export or the recorder's database.
    `when` is the UTC epoch s, or the export's ISO text (read only for the entities replayed, so a
    bad time elsewhere in the file does not matter); `unit` is the state's own unit where the
    source records one (the recorder does, an export does not); `decimal_comma` for an export that
    Belgian Excel wrote with `;`."""
    where: str
    entity_id: str
    state: str
    when: float | str
    unit: str | None = None
    decimal_comma: bool = False


UNIT_SCALE_W = {"W": 1.0, "kW": 1000.0}


def _samples(rows: list[HistoryRow], entity: str) -> list[tuple[float, float | None, str | None]]:
    """[(epoch, value or None, the row's own unit)] of one entity, sorted, leading gaps dropped."""
    samples: list[tuple[float, float | None, str | None]] = []
    for r in rows:
        if r.entity_id != entity:
            continue
        try:
            value: float | None = (None if r.state.lower() in GAP_STATES
                                   else _number(r.state, ";" if r.decimal_comma else ","))
        except ValueError:
            value = None
        if value is not None and (value != value or abs(value) == float("inf")):
            value = None
        when = r.when if isinstance(r.when, float) else _epoch(r.when, r.where)
        samples.append((when, value, r.unit))
    samples.sort(key=lambda s: s[0])
    while samples and samples[0][1] is None:
        samples.pop(0)
    return samples


def _unit(values: list[float], entity, unit, what, notes) -> float:
    """Scale to W of values without a unit of their own; the auto-detection and implausible units
    are reported in `notes`."""
    peak = max(abs(v) for v in values)
    if unit is None:
        unit = "kW" if peak < KW_AUTODETECT_BELOW else "W"
        notes.append(f"{entity}: no {what} given; all values "
                     f"{'<' if unit == 'kW' else 'not all <'} {KW_AUTODETECT_BELOW:g}, "
                     f"so reading them as {unit}")
    elif unit == "kW" and peak >= PLAUSIBLE_HOUSE_KW:
        notes.append(f"WARNING: {entity}: {what} kW makes the highest value {peak:g} kW, more than "
                     f"any house connection; are the values in W? (then {what} W)")
    elif unit == "W" and peak < KW_AUTODETECT_BELOW:
        notes.append(f"WARNING: {entity}: {what} W makes the highest value {peak:g} W; "
                     f"are the values in kW? (then {what} kW)")
    return UNIT_SCALE_W[unit]


def _in_w(samples, entity, unit, what, notes, source) -> list[tuple[float, float | None]]:
    """[(epoch, W or None)]: a row with its own unit (the recorder's) is scaled by it, the others by
    `unit` or, without it, by the auto-detection."""
    own = {u for _, v, u in samples if v is not None and u is not None}
    for u in sorted(own - UNIT_SCALE_W.keys()):
        raise ValueError(f"{source}: {entity} has states in {u}, not W or kW: is it a power sensor?")
    bare = [v for _, v, u in samples if v is not None and u is None]
    scale = _unit(bare, entity, unit, what, notes) if bare else 1.0
    return [(t, None if v is None else v * (UNIT_SCALE_W[u] if u else scale))
            for t, v, u in samples]


def _held(samples) -> list[tuple[float, float]]:
    """[(epoch, W)]: gaps hold the last valid value (leading gaps are already dropped)."""
    out, last = [], 0.0
    for t, w in samples:
        if w is not None:
            last = w
        out.append((t, last))
    return out


def parse_ha_history(text: str, entity: str | None = None, unit: str | None = None,
                     name: str = "history", ev_entity: str | None = None,
                     ev_unit: str | None = None, source: str | None = None) -> Trace:
    source = source or name
    for u, option in ((unit, "--unit"), (ev_unit, "--ev-unit")):
        if u not in (None, "W", "kW"):
            raise ValueError(f"{option} must be W or kW, not {u!r}")
    lines, delimiter = _rows(text, source)
    header = lines[0]
    missing = sorted({"entity_id", "state", "last_changed"} - set(header))
    if missing:
        raise ValueError(f"{source}: not a Home Assistant history export (header "
                         f"entity_id,state,last_changed), missing {', '.join(missing)}")
    col = {h: header.index(h) for h in ("entity_id", "state", "last_changed")}
    rows = []
    for line, row in enumerate(lines[1:], 2):
        if not row or not any(row):
            continue
        if len(row) < len(header):
            raise ValueError(f"{source} line {line}: expected {len(header)} fields, "
                             f"got {len(row)}")
        rows.append(HistoryRow(f"{source} line {line}", row[col["entity_id"]], row[col["state"]],
                               row[col["last_changed"]], decimal_comma=delimiter == ";"))
    entities = sorted({r.entity_id for r in rows})
    others = [e for e in entities if e != ev_entity]
    if entity is None:
        if len(others) != 1:
            raise ValueError(f"{source}: the export holds {len(others)} entities "
                             f"({', '.join(others) or 'none'}); choose the grid meter with --entity")
        entity = others[0]
    elif entity not in entities:
        raise ValueError(f"{source}: entity {entity} is not in the export (it has "
                         f"{', '.join(entities) or 'no rows'})")
    if ev_entity is not None and ev_entity not in entities:
        raise ValueError(f"{source}: --ev-entity {ev_entity} is not in the export (it has "
                         f"{', '.join(entities)})")
    warnings: list[str] = []
    if ev_entity is None:
        chargers = [e for e in entities if e != entity and CHARGER_NAME.search(e)]
        if chargers:
            warnings.append(f"WARNING: the export also holds {', '.join(chargers)}: if that is your "
                         "car's charging power, your history already holds your car; add "
                         f"--ev-entity {chargers[0]} to take it out of the house load")
    return history_trace(rows, entity, unit, name, ev_entity, ev_unit, source, warnings)


def history_trace(rows: list[HistoryRow], entity: str, unit: str | None = None,
                  name: str = "history", ev_entity: str | None = None,
                  ev_unit: str | None = None, source: str = "history",
                  warnings: list[str] | None = None) -> Trace:
    """The house load of recorded states, whichever source read them (a History-panel export here,
    the recorder's database in tools/recorder.py): the grid `entity` less the car's `ev_entity`,
    each state holding until the next, gaps holding the last valid value. `warnings`: the source's
    own, reported after the grid's unit."""
    notes: list[str] = []
    raw = _samples(rows, entity)
    if len(raw) < 2 or all(v is None for _, v, _ in raw):
        raise ValueError(f"{source}: fewer than two usable rows for {entity}")
    samples = _in_w(raw, entity, unit, "--unit", notes, source)
    notes += warnings or []
    ev = None
    if ev_entity is not None:
        ev_raw = _samples(rows, ev_entity)
        if not ev_raw:
            raise ValueError(f"{source}: no usable row for --ev-entity {ev_entity}")
        ev = _in_w(ev_raw, ev_entity, ev_unit, "--ev-unit", notes, source)
    times: list[float] = []
    power: list[float] = []
    gaps: list[tuple[float, float]] = []
    gap_start: float | None = None
    end = samples[-1][0]
    events = [(t, w, False) for t, w in samples]
    car_w = 0.0
    if ev is not None:
        car = _held(ev)
        events += [(t, w, True) for t, w in car if samples[0][0] < t < end]
        events.sort(key=lambda e: e[0])
        car_w = next((w for t, w in reversed(car) if t <= samples[0][0]), 0.0)
    grid_w = 0.0
    ev_j = clipped_s = 0.0
    prev_t = None
    for t, w, is_ev in events:
        if prev_t is not None:
            ev_j += min(grid_w, car_w) * (t - prev_t)
            clipped_s += (t - prev_t) if car_w > grid_w + 1.0 else 0.0
        prev_t = t
        if is_ev:
            car_w = w
        elif w is None:
            if gap_start is None:
                gap_start = t
        else:
            if gap_start is not None:
                gaps.append((gap_start, t))
                gap_start = None
            grid_w = w
        v_w = max(grid_w - car_w, 0.0)
        if times and t == times[-1]:        # same instant: keep the later row
            power[-1] = v_w
            continue
        if power and power[-1] == v_w:      # unchanged (e.g. through a gap): no new step
            continue
        times.append(t)
        power.append(v_w)
    if gap_start is not None:
        gaps.append((gap_start, end))
    if times[-1] >= end:                    # last row starts a zero-length step: drop it
        times.pop(), power.pop()
    if not times:
        raise ValueError(f"{source}: fewer than two usable rows for {entity}")
    if gaps:
        notes.append(f"{entity}: {len(gaps)} unavailable/unknown gap(s), "
                     f"{sum(b - a for a, b in gaps) / 60:.1f} min in all; "
                     "the load holds its last value through them")
    if ev is not None:
        notes.append(f"{ev_entity}: subtracted from {entity} as your car's own charging "
                     f"({ev_j / 3.6e6:.1f} kWh); the house load is grid - car, at least 0 W"
                     + (f"; the car read more than the grid for {clipped_s / 60:.0f} min in all "
                        "(the charger's sensor lags the meter)" if clipped_s >= 60 else ""))
    peak = max(power)
    if peak >= PLAUSIBLE_HOUSE_KW * 1000 and not any("more than any house" in n for n in notes):
        notes.append(f"WARNING: {entity}: the house load reaches {peak / 1000:g} kW, more than any "
                     "house connection; check --unit")
    return Trace(name, times, power, end, gaps, notes)
