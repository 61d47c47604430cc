"""What the car's energy costs in a replay (issue 16): the energy € at the all-in import price, the
capacity € of the peak it raised (`tools/money.py`), and their sum.

* **Energy €** = the grid bill of house + car minus the grid bill of the house alone, each quarter's
  IMPORTED kWh at that quarter's all-in import price minus its EXPORTED kWh at the export price
  (`tools/prices.py`). Import and export are split exactly on the step functions
  (`tools.metrics.split_energy`, the same split that gives the billed quarter: a minute of export
  inside a quarter of import stays an export, as the meter's two registers count them), so a car
  charging from the sun's surplus costs the export earnings it gives up, and from the grid the
  import price.
* **Capacity €** = the EV-caused peak increase (W) x the price per kW per year / 12, as the replay's
  verdicts (the month's peak stays in Fluvius' 12-month mean for a year), here WITH the formula's
  VAT like the energy €, so the two add up: the verdicts' figure is without VAT.
* **Cost span.** In sessions mode a session still plugged in when the replay ends is not judged
  (`tools/session_metrics.py`): the costs stop at the quarter in which it plugs in, for every
  controller and for the bound alike (`cost_end`), so they compare the same deliveries.
"""
from __future__ import annotations

from dataclasses import dataclass

from tools.metrics import add_steps, quarter_energy, split_energy
from tools.money import DEFAULT_PRICE_EUR_PER_KW_YEAR, peak_increase_cost
from tools.plant import QUARTER, RunResult, session_list

J_PER_KWH = 3.6e6


def bills_eur(import_j, export_j, import_eur, export_eur) -> list[float]:
    """The energy bill (EUR) of each quarter from per-quarter import/export energies and prices."""
    return [(i * c - x * f) / J_PER_KWH for i, x, c, f in zip(import_j, export_j, import_eur, export_eur)]


def cost_end(run: RunResult) -> float:
    """Where the costs stop: the quarter in which a session still plugged in at the end plugs in
    (not judged), else the replay's end."""
    for a, b, _ in session_list(run.params, run.start, run.end):
        if b > run.end:
            return max(run.start, (a // QUARTER) * QUARTER)
    return run.end


@dataclass
class CarCost:
    controller: str
    energy_eur: float            # the car's energy: bill with the car - bill without
    capacity_eur: float          # the EV-caused peak increase, over the 12 months it is billed, VAT in
    car_kwh: float               # the car's energy in the cost span
    increase_w: float            # the EV-caused peak increase it is priced on

    @property
    def total_eur(self) -> float:
        return self.energy_eur + self.capacity_eur

    @property
    def eur_per_kwh(self) -> float:
        return self.energy_eur / self.car_kwh if self.car_kwh > 0 else float("nan")


@dataclass
class QuarterCosts:
    """The car's energy per quarter of the cost span, from quarter index q0: eur (the bill with
    the car minus the bill without it, that quarter alone) and kwh (the car's energy)."""
    q0: int
    eur: list[float]
    kwh: list[float]


def quarter_costs(run: RunResult, prices) -> QuarterCosts:
    """The car's energy EUR and kWh of each quarter of the cost span (`cost_end`); `prices` a
    tools.prices.PriceSeries over the replay. Their sums are car_cost's energy_eur and car_kwh."""
    end = cost_end(run)
    q0 = int(run.start // QUARTER)
    nq = int(end // QUARTER) - q0
    imp, exp = prices.window(q0, nq)
    house_t, house_w = run.trace.times, run.trace.power_w
    alone = split_energy(house_t, house_w, run.trace.end, q0, nq)
    ev_t, ev_w = run.ev_times, run.ev_w
    both_t, both_w = add_steps(house_t, house_w, ev_t, ev_w)
    # the car holds its last power to the replay's end; the house to the trace's end
    with_car = split_energy(both_t, both_w, min(run.trace.end, run.end), q0, nq)
    eur = [w - a for w, a in zip(bills_eur(*with_car, imp, exp), bills_eur(*alone, imp, exp))]
    kwh = [j / J_PER_KWH for j in quarter_energy(ev_t, ev_w, run.end, q0, nq)]
    return QuarterCosts(q0, eur, kwh)


def car_cost(run: RunResult, prices, increase_w: float,
             price_per_kw: float = DEFAULT_PRICE_EUR_PER_KW_YEAR) -> CarCost:
    """The car's costs in one replay: `prices` a tools.prices.PriceSeries over the replay (its
    formula's VAT also goes on the capacity EUR), the EV-caused peak increase from the replay's
    metrics (tools.metrics.Metrics.ev_increase_w)."""
    q = quarter_costs(run, prices)
    capacity = peak_increase_cost(increase_w, price_per_kw) * (1.0 + prices.formula.vat / 100.0)
    return CarCost(run.controller, sum(q.eur), capacity, sum(q.kwh), increase_w)
