"""The household's year from the recorder's statistics: per month, the billed peak as far as the
statistics tell, the house alone and with the car, and what it costs on the capacity tariff.

Fluvius bills each local calendar month's highest clock-quarter average offtake (Belgian time;
its offsets are whole hours, so quarters and hours are the same in UTC), at least 2.5 kW, and the
yearly bill is the mean of the last 12 months' peaks times the price per kW per year: one month's
peak P costs max(P, 2.5 kW) x price / 12 in all (tools/money.py).

What the statistics tell (`tools/recorder.py` reads them, in W):
* A quarter whose three 5-minute rows exist is EXACT: the three 5-minute means are time-weighted
  means of equal length, so their mean is the quarter's average.
* An hour known only from its hourly row (the 5-minute rows are purged after 10 days) gives a
  RANGE for the quarters in it: the hour's mean is the mean of its four quarters, so one of them
  is at least that (a lower bound), and no quarter's average exceeds the hour's max (the highest
  state, counting the one held from before the hour: an upper bound).
* The house alone is grid - car: exact per quarter from both sensors' 5-minute means; per hour at
  least grid mean - car mean (exact for the hour) and at most grid max - car min. A quarter or
  hour without the car's row counts the car as 0 W there (the house alone is then overstated,
  never the car's part).
A month's peak is the highest of its exact quarters and its hourly ranges: exact when no range
reaches above the highest exact quarter.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tools.money import (BILLED_MINIMUM_W, DEFAULT_PRICE_EUR_PER_KW_YEAR, month_cost,
                         peak_increase_cost)
from tools.plant import QUARTER, TZ

FIVE_MINUTES = 300.0
HOUR = 3600.0


@dataclass
class Peak:
    """A month's peak as far as the statistics tell: at least `low_w`, at most `high_w` (W)."""
    low_w: float
    high_w: float

    @property
    def exact(self) -> bool:
        return self.high_w <= self.low_w + 0.5

    def text(self) -> str:
        """'7.99' (exact) or '3.30-4.80' (kW, at least - at most)."""
        low, high = self.low_w / 1000, self.high_w / 1000
        return f"{low:.2f}" if self.exact else f"{low:.2f}-{high:.2f}"


@dataclass
class Month:
    """One local month: the peak with the car (the grid), the house alone (None without the car's
    statistics), the most the car can have added to any quarter (W), and how many exact quarters
    and hourly-only hours it was read from."""
    month: str
    with_car: Peak
    house: Peak | None
    car_max_w: float
    quarters: int
    hours: int

    def car_added(self) -> tuple[float, float]:
        """(at least, at most) W the car added to the BILLED peak (each at least 2.5 kW): with
        the car minus the house alone, and never more than the car drew in any quarter."""
        if self.house is None:
            return 0.0, 0.0
        low = max(billed(self.with_car.low_w) - billed(self.house.high_w), 0.0)
        high = min(max(billed(self.with_car.high_w) - billed(self.house.low_w), 0.0), self.car_max_w)
        return low, high

    def car_raised(self) -> str:
        """'yes', 'no', 'maybe' (the statistics cannot tell) or '–' (no car statistics)."""
        if self.house is None:
            return "–"
        low, high = self.car_added()
        return "yes" if low > 0.5 else "no" if high <= 0.5 else "maybe"

    def car_cost(self, price: float) -> tuple[float, float]:
        """(at least, at most) €: what the car's part of the billed peak costs."""
        low, high = self.car_added()
        return peak_increase_cost(low, price), peak_increase_cost(high, price)


def billed(peak_w: float) -> float:
    return max(peak_w, BILLED_MINIMUM_W)


def _month(t: float) -> str:
    return datetime.fromtimestamp(t, TZ).strftime("%Y-%m")


def _by_start(series) -> dict:
    return {r.start: r for r in (series.rows if series is not None else ())}


def exact_quarters(grid_short, car_short=None) -> dict[float, tuple[float, float]]:
    """{quarter start: (grid average, car average)} for every clock quarter whose three 5-minute
    rows of the grid exist (W; the car 0 W where its rows are missing)."""
    grid, car = _by_start(grid_short), _by_start(car_short)
    out = {}
    for q in sorted(grid):
        if q % QUARTER:
            continue
        parts = [grid.get(q + k * FIVE_MINUTES) for k in range(3)]
        if None in parts:
            continue
        cars = [car.get(q + k * FIVE_MINUTES) for k in range(3)]
        out[q] = (sum(p.mean_w for p in parts) / 3, sum(c.mean_w for c in cars if c) / 3)
    return out


def household_year(grid_short, grid_hourly, car_short=None, car_hourly=None) -> list[Month]:
    """Per local month, in order: the peaks the statistics tell (see the module's docstring).
    `car_*` None: no car statistics (the months then have no house-alone figure)."""
    has_car = any(s is not None and s.rows for s in (car_short, car_hourly))
    quarters = exact_quarters(grid_short, car_short)
    covered: dict[float, int] = {}
    for q in quarters:
        covered[q - q % HOUR] = covered.get(q - q % HOUR, 0) + 1
    months: dict[str, list[float]] = {}

    def add(t: float, grid: tuple, house: tuple, car_max_w: float, kind: int) -> None:
        s = months.setdefault(_month(t), [0.0] * 7)
        for i, v in enumerate((*grid, *house, car_max_w)):
            s[i] = max(s[i], v)
        s[5 + kind] += 1

    for q, (grid_w, car_w) in quarters.items():
        add(q, (grid_w, grid_w), (grid_w - car_w, grid_w - car_w), car_w, 0)
    car_hours = _by_start(car_hourly)
    for r in (grid_hourly.rows if grid_hourly is not None else ()):
        if covered.get(r.start, 0) == 4:
            continue                      # all four quarters exact: the hour adds nothing
        car = car_hours.get(r.start)
        add(r.start, (r.mean_w, r.max_w),
            (r.mean_w - (car.mean_w if car else 0.0), r.max_w - (car.min_w if car else 0.0)),
            car.max_w if car else 0.0, 1)
    return [Month(m, Peak(s[0], s[1]), Peak(s[2], s[3]) if has_car else None, s[4],
                  int(s[5]), int(s[6]))
            for m, s in sorted(months.items())]


def net_meter_note(grid_short, grid_hourly) -> str | None:
    """A grid sensor that goes negative is a net meter: its means count export against offtake."""
    series = [s for s in (grid_short, grid_hourly) if s is not None]
    if any(r.min_w < 0 for s in series for r in s.rows):
        return (f"{series[0].entity} goes negative (a net meter): a quarter that mixed export and "
                "offtake reads lower than its billed offtake; the offtake sensor (DSMR: "
                "power_consumption) gives the billed figure")
    return None


def format_year(months: list[Month], title: str, price: float = DEFAULT_PRICE_EUR_PER_KW_YEAR
                ) -> str:
    """The year as a table of at most 100 characters, its legend and a total line."""
    head = "| month | read from | with car kW | house alone kW | car raised it | € with car | € car |"
    lines = [f"**{title}**", "", head, "|---|---|---|---|---|---|---|"]
    totals = [0.0, 0.0, 0.0, 0.0]
    for m in months:
        cost = (month_cost(m.with_car.low_w, price), month_cost(m.with_car.high_w, price))
        car = m.car_cost(price)
        totals = [totals[0] + cost[0], totals[1] + cost[1], totals[2] + car[0], totals[3] + car[1]]
        source = " + ".join(t for t in (f"{m.quarters} q" if m.quarters else "",
                                        f"{m.hours} h" if m.hours else "") if t)
        lines.append(f"| {m.month} | {source} | {m.with_car.text()} "
                     f"| {m.house.text() if m.house else '–'} | {m.car_raised()} "
                     f"| {_euros(*cost)} | {_euros(*car) if m.house else '–'} |")
    lines += ["", f"Legend: read from = q exact quarters (three 5-minute statistics each), h hours "
              "known only from hourly statistics; kW = the month's highest quarter-hour average "
              "(Belgian time): 7.99 exact, 3.30-4.80 a range (at least the highest hourly mean, at "
              "most the highest hourly max); car raised it = the car made the billed peak higher "
              "than the house alone would have (maybe: the hourly statistics cannot tell). "
              "€ = what the month's peak costs on the capacity tariff over the 12 months it "
              f"counts (max(peak, 2.5 kW) x €{price:.2f}/kW/year / 12, excl. VAT); € car = the "
              "car's part of it.",
              "",
              f"Over these {len(months)} months: {_euros(totals[0], totals[1])} with the car"
              + (f", of which the car {_euros(totals[2], totals[3])}."
                 if any(m.house for m in months) else
                 " (add --ev-entity with the car's power sensor to see the house alone).")]
    return "\n".join(lines)


def _euros(low: float, high: float) -> str:
    return f"€{low:.2f}" if high - low < 0.005 else f"€{low:.2f}-{high:.2f}"
