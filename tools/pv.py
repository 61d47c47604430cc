"""Rooftop solar for the replay (issue 16): `--pv FILE` subtracts a month of real PV production from
the house, so the grid sensor reads net offtake and goes negative when the house exports.

    python tools/replay.py TRACE --sessions generated --prices PRICES.csv --pv ../shared/pv/energyid-BE-pv_2024-01.csv

The file is `timestamp,pv_w` (`../shared/pv/`: 15-minute rows, the mean PV power over the quarter,
ISO 8601 with the Brussels offset), read by `tools/quarter_series.py` and laid onto the trace's days
the same documented way as the prices (a weekday-aligned day offset from the first of the months;
within a day by local wall time: noon's sun stays at noon). Each quarter's mean power is spread
evenly over the trace's steps inside that quarter (the traces are 1-minute: each minute of a
quarter gets the quarter's mean) and subtracted from the house load: the replayed house is the
household NET of its panels, as its meter sees it. The capacity tariff counts offtake only, so a
quarter with a net export is a quarter of 0 offtake for the bill (its negative mean never sets a
peak); an exported kWh earns the export price (`tools/prices.py`, `tools/energy_cost.py`).
"""
from __future__ import annotations

from datetime import date

from tools.plant import QUARTER
from tools.quarter_series import QuarterSeries, load_series
from tools.traces import Trace

PV_HEADER = ["timestamp", "pv_w"]


def load_pv(path: str) -> QuarterSeries:
    """PV W per quarter from a `timestamp,pv_w` file of 15-minute rows (ValueError naming the file)."""
    series = load_series(path, PV_HEADER, "production", steps=(QUARTER,))
    if min(series.values.values()) < 0:
        raise ValueError(f"{path}: pv_w is negative somewhere; production is at least 0 W")
    return series


def with_pv(trace: Trace, pv: QuarterSeries, anchor: date | None = None) -> Trace:
    """The trace minus the PV laid onto its days: a new Trace (name + '+pv'); its steps are the
    trace's, split at quarter boundaries where they straddle one."""
    q0 = int(trace.start // QUARTER)
    nq = int(-(-trace.end // QUARTER)) - q0
    pv_w, _ = pv.onto(q0, nq, anchor)
    times: list[float] = []
    power: list[float] = []

    def add(t: float, w: float) -> None:
        if power and power[-1] == w:
            return
        times.append(t)
        power.append(w)

    n = len(trace.times)
    for i, t in enumerate(trace.times):
        b = trace.times[i + 1] if i + 1 < n else trace.end
        house = trace.power_w[i]
        while t < b:
            k = int(t // QUARTER)
            add(t, house - pv_w[k - q0])
            t = min(b, (k + 1) * QUARTER)
    produced_kwh = sum(pv_w) * QUARTER / 3.6e6
    anchor = anchor or pv.anchor_for(q0)
    notes = trace.notes + pv.notes + [
        f"{pv.name}: {produced_kwh:.1f} kWh of PV (peak {max(pv_w):.0f} W) subtracted from "
        f"{trace.name}; its {pv.day_map(anchor).source_day(anchor)} falls on the trace's {anchor}"]
    return Trace(f"{trace.name}+pv", times, power, trace.end, list(trace.gaps), notes)
