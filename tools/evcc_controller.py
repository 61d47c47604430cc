"""A baseline for the price planner (issue 16): an evcc-style plan. At each plug-in, and again when
tomorrow's prices appear (13:00 local), it picks the cheapest quarters before the session's
departure, enough of them to deliver the remaining need at the charger's MAXIMUM power, and charges
at the maximum in those quarters, paused in the others. The house's load and the sun are ignored,
so it can raise the month's peak: that is what it shows.

As evcc's planner does (`../shared/reference/price-and-pv-formats.md` §1.1, core/planner): one
constant power for every slot (required duration = remaining energy / maximum power); the slots
sorted by price, the later one first on equal price, taken until the duration is covered; not
enough time: charge in every slot from now; a departure past the last known price: no plan yet
while the time after the known prices is enough on its own, else plan over the known ones.
Not modelled: evcc's trimming of the last partial slot (the car stops when full anyway), its late
"precondition" charging, its solar modes (surplus charging outside the plan).

The prices are the replay's all-in import prices (`tools/prices.py`) as published: a local day's
from 13:00 the day before. The controller works through the plant like the 22:00 timer it extends
(`tools/timer_controller.py`): the charger holds its maximum current, pauses and resumes are the
cloud writes, and a pause needs the switch, which shows the car only from the first poll after
plug-in (up to 110 s of full power then). The remaining need at a re-plan is what the charger's
added-energy sensor showed at its last poll.
"""
from __future__ import annotations

import math

from tools.plant import QUARTER
from tools.prices import PriceSeries
from tools.timer_controller import Timer2200


def plan_slots(t: float, departure: float, need_kwh: float, max_w: float, prices: PriceSeries
               ) -> list[tuple[float, float]]:
    """The [start, end) intervals (epoch s) an evcc-style plan charges in, from t to departure."""
    if need_kwh <= 0 or departure <= t or max_w <= 0:
        return []
    needed_s = need_kwh * 3.6e6 / max_w
    known = PriceSeries.known_until(t)
    horizon = departure
    if departure > known:
        if departure - known >= needed_s:
            return []                 # enough time after the known prices: no plan yet
        horizon = known
    slots = []
    for k in range(int(t // QUARTER), int(math.ceil(horizon / QUARTER))):
        a, b = max(t, k * QUARTER), min(horizon, (k + 1) * QUARTER)
        if b > a:
            slots.append((a, b, prices.import_at(k)))
    if sum(b - a for a, b, _ in slots) <= needed_s:
        return [(a, b) for a, b, _ in slots]
    chosen, covered = [], 0.0
    # cheapest first; on equal price the later slot (evcc's sortByCost)
    for a, b, _ in sorted(slots, key=lambda s: (s[2], -s[0])):
        if covered >= needed_s:
            break
        chosen.append((a, b))
        covered += b - a
    return sorted(chosen)


class EvccStyle(Timer2200):
    name = "evcc"

    def __init__(self, prices: PriceSeries):
        super().__init__()
        self.prices = prices
        self.slots: list[tuple[float, float]] = []

    def on_start(self, plant, t):
        super().on_start(plant, t)
        if plant.session_need_kwh is not None:        # a session under way at the start
            self._plan(t, 0.0)
        plant.call_at(PriceSeries.next_publication(t), self._published)

    def _published(self, t):
        """Tomorrow's prices appeared: plan the rest of the session again."""
        if self.plant.session_need_kwh is not None:
            self._plan(t, self.plant.session_kwh_shown)
        self.plant.call_at(PriceSeries.next_publication(t), self._published)

    def on_plug(self, t, plugged):
        self.slots = []
        if plugged:
            self._plan(t, 0.0)

    def _plan(self, t: float, delivered_kwh: float) -> None:
        plant = self.plant
        self.slots = plan_slots(t, plant.session_departure, plant.session_need_kwh - delivered_kwh,
                                plant.p.max_ev_w, self.prices)
        self._apply(t)

    def charging_hours(self, t: float) -> bool:
        return any(a <= t < b for a, b in self.slots)
