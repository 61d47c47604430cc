"""What e2e/test_e2e_recorder.py writes through the real Home Assistant recorder, and what the
tier-1 tests read back from the database it wrote (tests/data/recorder_day.db).

A day of the grid meter and the car's charging power, a state a minute (W, state_class
measurement), from Friday 2025-02-28 13:00 to Saturday 2025-03-01 13:00 Belgian time, so the day
crosses a local month: the statistics give exact quarters (5-minute means) in February and March.
Before it, hourly statistics of two days in each of four earlier months, imported through the
recorder's own API as a long-running Home Assistant would have compiled them: those months are
known only as a range.
"""
from __future__ import annotations

from datetime import datetime, timezone

GRID = "sensor.grid_power"
CAR = "sensor.wallbox_charging_power"
ATTRIBUTES = {"state_class": "measurement", "unit_of_measurement": "W", "device_class": "power"}
START = datetime(2025, 2, 28, 12, 0, tzinfo=timezone.utc).timestamp()   # 13:00 local
MINUTES = 24 * 60
GRID_GAP = range(300, 303)       # the meter's link drops for three minutes: unavailable
END = START + MINUTES * 60       # both sensors go unavailable here: the day's last row


def state_time(i: int) -> float:
    """Minute i's state: on the minute at the start, then 7 s past it, so states straddle the
    5-minute and quarter boundaries the statistics and the quarters cut at."""
    return START + 60 * i + (7 if i else 0)


def house_w(i: int) -> float:
    """The house alone in minute i: a base load, the evening's cooking (17:00-19:30 local), a
    kettle now and then, and Saturday's oven at 08:00-08:40 local."""
    local_h = (13 + i / 60) % 24
    w = 350 + (i * 37 % 11) * 20 + (0.5 if i % 3 == 0 else 0.0)
    if 17 <= local_h < 19.5:
        w += 1800 + (i * 53 % 7) * 150
    if i % 97 < 6:
        w += 2000
    if 8 <= local_h < 8 + 40 / 60:
        w += 3200
    return w


def car_w(i: int) -> float:
    """The car: 7.36 kW (32 A) from 22:00 local, 3.68 kW from 00:30, done at 01:30."""
    local_h = (13 + i / 60) % 24
    if 22 <= local_h < 24:
        return 7360.0
    if 0.5 <= local_h < 1.5:
        return 3680.0
    return 0.0


def states() -> list[tuple[float, str, str]]:
    """(time, entity, state) in the order they are written: the meter (grid = house + car) and
    the car each minute, the meter's gap, and both unavailable at END."""
    out = []
    for i in range(MINUTES):
        t = state_time(i)
        grid = "unavailable" if i in GRID_GAP else f"{house_w(i) + car_w(i):g}"
        out += [(t, GRID, grid), (t, CAR, f"{car_w(i):g}")]
    out += [(END, GRID, "unavailable"), (END, CAR, "unavailable")]
    return out


# ---- the imported hourly statistics: (start, mean, min, max) per hour, W --------------------------

IMPORTED_MONTHS = ((2024, 10), (2024, 11), (2024, 12), (2025, 1))
IMPORTED_DAYS = (10, 20)


def _hours():
    for year, month in IMPORTED_MONTHS:
        for day in IMPORTED_DAYS:
            for hour in range(24):
                yield datetime(year, month, day, hour, tzinfo=timezone.utc).timestamp(), month, hour


def hourly_car() -> list[tuple[float, float, float, float]]:
    """No car in October; in the evenings of the other months (UTC 20:00-23:00), charging part of
    the hour (mean below max) in November and December and all of it in January."""
    rows = []
    for start, month, hour in _hours():
        if month == 10 or not 20 <= hour < 23:
            rows.append((start, 0.0, 0.0, 0.0))
        elif month == 1:
            rows.append((start, 7360.0, 7360.0, 7360.0))
        else:
            rows.append((start, 3680.0, 0.0, 7360.0))
    return rows


def hourly_grid() -> list[tuple[float, float, float, float]]:
    """The house (a higher evening in December) plus the car's hour."""
    rows = []
    for (start, month, hour), (_, car_mean, car_min, car_max) in zip(_hours(), hourly_car()):
        evening = 17 <= hour < 19
        mean = 600.0 + 150 * (hour % 4) + (2400.0 if evening else 0.0) + (900.0 if month == 12 and evening else 0.0)
        spread = 1500.0 if evening else 400.0
        rows.append((start, mean + car_mean, max(mean - spread, 100.0) + car_min,
                     mean + spread + car_max))
    return rows


def history_csv() -> str:
    """The day's states as the History panel exports them (entity_id,state,last_changed, UTC)."""
    lines = ["entity_id,state,last_changed"]
    for t, entity, state in states():
        when = datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="milliseconds")
        lines.append(f"{entity},{state},{when.replace('+00:00', 'Z')}")
    return "\n".join(lines) + "\n"


def quarter_peaks(with_car: bool) -> dict[str, float]:
    """{local month: highest quarter average} of the day, W: the grid (with the car) or the house
    alone, from the states themselves (each holding until the next; the meter's gap holds)."""
    from tools.metrics import quarter_energy
    from tools.plant import TZ
    held, times, values = 0.0, [], []
    for i in range(MINUTES):
        if i not in GRID_GAP:
            held = house_w(i) + (car_w(i) if with_car else 0.0)
        times.append(state_time(i))
        values.append(held)
    q0, q1 = int(START // 900), int(END // 900)
    peaks: dict[str, float] = {}
    for k, joules in enumerate(quarter_energy(times, values, END, q0, q1 - q0), q0):
        month = datetime.fromtimestamp(k * 900, TZ).strftime("%Y-%m")
        peaks[month] = max(peaks.get(month, 0.0), joules / 900)
    return peaks
