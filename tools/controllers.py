"""The baselines: uncontrolled charging and the original Home Assistant automation.

The real app runs through `tools/app_controller.py`; the causal oracle is computed from the trace
(`tools/metrics.py`), not run.
"""
from __future__ import annotations

from datetime import datetime

from tools.plant import QUARTER, TZ, Controller


class Uncontrolled(Controller):
    """Charges at the charger's maximum current whenever the car is plugged in: sends nothing (the
    charger already holds max_current at the start)."""

    name = "uncontrolled"


class OriginalAutomation(Controller):
    """original-design-notes.md step 3, as Home Assistant would run it (being generous where noted).

    * Trigger: a state trigger on the GRID sensor (`sensor.waterker_power`, which includes the EV)
      and on `sensor.fluvius_capacity_limit`, each with `for: "00:00:10"`: it fires when that
      entity's state changed and then stayed unchanged for 10 s. A repeated identical reading is no
      state change (it does not restart the 10 s); `unavailable` is a state like any other.
    * Action: amps = clamp(int(max(limit - grid, 0) / 230), 6, 32); every firing sends the write
      (even when the value is the one already set), so it runs into the cloud's one-write-a-minute
      limit; a 429 just fails that run. It never pauses: 6 A is always held. 230 is hard-coded,
      also on a 3-phase charger (faithful to the YAML).
    * Generous: the write reaches the charger's current (the notes' `wallbox.set_max_charging_current`
      does not exist; we assume it was fixed to `number.set_value`), the 32 A ceiling is lowered to
      the charger's own maximum (HA would otherwise reject 17..32 A on a 16 A number), and
      limit = max(target_peak, monthly peak so far) is exact: the peak of completed clock quarters
      of the real grid offtake (house + EV) this local calendar month (the notes' utility_meter
      cannot do this; we assume a working peak sensor). The limit sensor changes at quarter ends.
    """

    name = "original"
    FOR_S = 10.0
    VOLTAGE = 230.0
    MIN_AMP = 6
    MAX_AMP = 32

    def on_start(self, plant, t):
        super().on_start(plant, t)
        self.max_amp = min(self.MAX_AMP, plant.p.max_current)
        self.grid_state: object = "unknown"
        self.grid_timer = None
        self.limit_timer = None
        self.peak = 0.0
        self.limit = plant.p.target_peak
        self.month = _month(t)
        plant.call_at(_next_quarter(t), self._quarter_end)

    def on_meter(self, t, grid_w):
        state = "unavailable" if grid_w is None else grid_w
        if state == self.grid_state:
            return
        self.grid_state = state
        self.grid_timer = self._restart(self.grid_timer, t)

    def _restart(self, handle, t):
        if handle is not None:
            handle[0] = False
        return self.plant.call_at(t + self.FOR_S, self._fire)

    def _fire(self, t):
        house_power = 0.0 if self.grid_state == "unavailable" else float(self.grid_state)
        available = max(self.limit - house_power, 0.0)
        amps = min(max(int(available / self.VOLTAGE), self.MIN_AMP), self.max_amp)
        self.plant.write_current(t, amps)

    def _quarter_end(self, t):
        q0 = t - QUARTER
        if _month(q0) != self.month:
            self.month, self.peak = _month(q0), 0.0
        avg = (self.plant.house_energy(q0, t) + self.plant.ev_energy(q0, t)) / QUARTER
        self.peak = max(self.peak, avg)
        if _month(t) != self.month:          # a new month starts: the peak resets
            self.month, self.peak = _month(t), 0.0
        limit = max(self.plant.p.target_peak, self.peak)
        if limit != self.limit:
            self.limit = limit
            self.limit_timer = self._restart(self.limit_timer, t)
        self.plant.call_at(t + QUARTER, self._quarter_end)


def _month(t: float) -> tuple[int, int]:
    d = datetime.fromtimestamp(t, TZ)
    return d.year, d.month


def _next_quarter(t: float) -> float:
    return (t // QUARTER + 1) * QUARTER


ALL_CONTROLLERS = ("app", "original", "uncontrolled")
# sessions mode (--sessions) adds the 22:00 timer baseline
SESSION_CONTROLLERS = ALL_CONTROLLERS + ("timer",)
# with prices (--prices, in sessions mode): the app without the price entity (today's safest plan)
# and the evcc-style plan (tools/evcc_controller.py)
PRICE_CONTROLLERS = SESSION_CONTROLLERS + ("safest", "evcc")
# with sun (--pv), asked for only: the app in its mode solar (issue 16)
SOLAR = "solar"


def make_controller(name: str, prices=None) -> Controller:
    """A fresh controller by its name in the replay's tables (the app and the timer are imported
    only when asked for: the app needs freezegun and the stubs). `prices` (a tools.prices.
    PriceSeries): the app is shown the price entity, the evcc-style plan plans on them."""
    if name in ("app", "safest", SOLAR):
        from tools.app_controller import AppController
        if name == "safest":          # the app as it plans without prices
            return AppController(name="safest")
        if name == SOLAR:             # the app set to its mode solar at the start
            return AppController(prices=prices, name=SOLAR, mode=SOLAR)
        return AppController(prices=prices)
    if name == "original":
        return OriginalAutomation()
    if name == "uncontrolled":
        return Uncontrolled()
    if name == "timer":
        from tools.timer_controller import Timer2200
        timer = Timer2200()
        timer.name = "timer"
        return timer
    if name == "evcc":
        if prices is None:
            raise ValueError("the evcc-style plan needs prices (--prices)")
        from tools.evcc_controller import EvccStyle
        return EvccStyle(prices)
    raise ValueError(f"unknown controller {name!r} (choose from {', '.join(PRICE_CONTROLLERS)})")
