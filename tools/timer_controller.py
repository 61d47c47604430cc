"""A baseline for the session planner (issue 10): a charger timer, charging at the maximum current
from 22:00 to 08:00 (local) while the car is plugged in, as a user sets it in the charger's app
(08:00: after every weekday departure of the reference plug windows, so it means "from 22:00").

The charger holds the maximum current (the plant's start); outside the timer's hours the car is
paused, at 22:00 (local) it is resumed. A write goes through the plant like any controller's: a
pause needs the pause switch, which is `unavailable` until a poll after plug-in shows the car, so a
car plugged in before 22:00 charges from its start (20 s after plug-in) until the first poll's pause
takes effect (40-110 s at the maximum). A real charger schedule would hold it from the first
second; modelling that needs a plant change (a charger schedule), see the issue-10 report.
A write the cloud refuses (429) is tried again at the next check (every CHECK_S) or poll.
"""
from __future__ import annotations

from datetime import datetime, time

from tools.plant import TZ, Controller

CHECK_S = 60.0


class Timer2200(Controller):
    name = "timer2200"

    def __init__(self, start: str = "22:00", end: str = "08:00"):
        self.start_at = time.fromisoformat(start)
        self.end_at = time.fromisoformat(end)   # at or before start: the next morning

    def on_start(self, plant, t):
        super().on_start(plant, t)
        self.paused_sent = None       # what this session's last accepted pause/resume said
        self.plugged = False
        plant.call_at(t + CHECK_S, self._check)

    def charging_hours(self, t: float) -> bool:
        """Whether local time t is inside the timer's hours (a window across midnight counts)."""
        now = datetime.fromtimestamp(t, TZ).time()
        if self.start_at < self.end_at:
            return self.start_at <= now < self.end_at
        return now >= self.start_at or now < self.end_at

    def on_charger(self, t, power_kw, switch, fresh):
        if switch == "unavailable":
            self.plugged, self.paused_sent = False, None
        elif not self.plugged:
            self.plugged, self.paused_sent = True, False   # a new session starts un-paused
        self._apply(t)

    def _check(self, t):
        self._apply(t)
        self.plant.call_at(t + CHECK_S, self._check)

    def _apply(self, t):
        if not self.plugged:
            return
        want_paused = not self.charging_hours(t)
        if want_paused != self.paused_sent and self.plant.set_paused(t, want_paused):
            self.paused_sent = want_paused
