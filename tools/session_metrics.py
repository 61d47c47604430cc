"""Session metrics (issue 10): per plug-in session, was the need delivered by departure, could the
oracle have delivered it, and how much was short; beside the replay's own EV-caused peak increase
and writes per plugged hour (`tools/metrics.py`).

The oracle of a session: in each quarter between plug-in and departure, the house's surplus the car
can take (it raises no billed offtake) plus the offtake the house leaves under L = max(target_peak,
the house-alone peak of the completed quarters this month), at most the car's maximum power over
the plugged part of the quarter (`tools.metrics.oracle_ev_j`). It can meet
the session when that adds up to the need. Targets (issue 10): every session the oracle can meet is
met, an EV-caused peak increase of 0 W, at most 20 writes per plugged hour. A session still
plugged in when the replay ends is not judged (nobody knows what its last hours would bring); one
under way at the start is judged from the start with its whole need.

    python -m tools.session_metrics [TRACE ...] [--session-kwh 10] [--controllers timer2200,...]

replays the baselines with every session needing --session-kwh (generated from the plug windows,
given to the plant as `PlantParams.sessions`) and prints one row per controller. The replay tool
does the same with each session's own need: `python tools/replay.py TRACE --sessions generated`
(`format_table` and `verdict` below are its session table and verdict lines).
"""
from __future__ import annotations

import argparse
import os
import sys
from bisect import bisect_right
from dataclasses import dataclass, field, replace

if __package__ in (None, ""):   # run as a script: make `tools` importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tools.controllers import make_controller
from tools.metrics import Metrics, Quarters, evaluate, quarters_of, session_oracle_j
from tools.plant import Plant, PlantParams, RunResult, whole_quarters
from tools.sessions import Session, generate
from tools.traces import SAMPLE

# A session counts as met when at most this much is missing (the plant's own rounding).
MET_TOLERANCE_KWH = 0.05


@dataclass
class SessionResult:
    session: Session
    delivered_kwh: float      # EV energy between plug-in and departure
    oracle_kwh: float         # the most the oracle could give inside the limit
    met: bool
    oracle_can: bool


@dataclass
class SessionMetrics:
    controller: str
    sessions: int
    met: int
    oracle_can: int           # sessions the oracle could meet
    met_of_oracle_can: int    # of those, met by the controller
    kwh_short: float          # sum over the sessions of what was missing at departure
    ev_increase_w: float
    writes_per_plugged_h: float
    results: list[SessionResult] = field(default_factory=list)


def energy_between(times, values, end: float, a: float, b: float) -> float:
    """Energy (J) of a step function (values[i] W from times[i], the last until end) on [a, b)."""
    b = min(b, end)
    i = max(bisect_right(times, a) - 1, 0)
    energy = 0.0
    while i < len(times) and times[i] < b:
        seg_end = times[i + 1] if i + 1 < len(times) else end
        energy += values[i] * max(0.0, min(seg_end, b) - max(times[i], a))
        i += 1
    return energy


def session_results(run: RunResult, sessions: list[Session], q: Quarters | None = None) -> list[SessionResult]:
    q = q or quarters_of(run)
    out = []
    for s in sessions:
        a, b = max(s.plug_in, run.start), min(s.departure, run.end)
        if b <= a or s.departure > run.end:
            continue    # outside the replay, or still plugged in at its end: not judged
        delivered = energy_between(run.ev_times, run.ev_w, run.end, a, b) / 3.6e6
        oracle = sum(session_oracle_j(run, q, a, b)) / 3.6e6
        out.append(SessionResult(s, delivered, oracle, delivered >= s.need_kwh - MET_TOLERANCE_KWH,
                                 oracle >= s.need_kwh - MET_TOLERANCE_KWH))
    return out


def session_metrics(run: RunResult, sessions: list[Session]) -> SessionMetrics:
    q = quarters_of(run)
    results = session_results(run, sessions, q)
    plant = evaluate(run, q)
    return SessionMetrics(
        run.controller, len(results), sum(1 for r in results if r.met), sum(1 for r in results if r.oracle_can),
        sum(1 for r in results if r.met and r.oracle_can),
        sum(max(0.0, r.session.need_kwh - r.delivered_kwh) for r in results),
        plant.ev_increase_w, plant.writes_per_plugged_h, results)


def format_rows(rows: list[SessionMetrics]) -> str:
    head = f"{'controller':<13} {'sessions':>8} {'met':>4} {'oracle can':>10} {'met of those':>12} " \
           f"{'kWh short':>9} {'EV peak +W':>10} {'writes/plugged h':>16}"
    lines = [head]
    for m in rows:
        lines.append(f"{m.controller:<13} {m.sessions:>8} {m.met:>4} {m.oracle_can:>10} {m.met_of_oracle_can:>12} "
                     f"{m.kwh_short:>9.1f} {m.ev_increase_w:>+10.0f} {m.writes_per_plugged_h:>16.1f}")
    return "\n".join(lines)


def oracle_session_metrics(run: RunResult, sessions: list[Session], oracle: Metrics) -> SessionMetrics:
    """The oracle as a session row: it meets the sessions it can; `oracle` is its replay row
    (`tools.metrics.oracle_metrics`) for the peak increase. It sends no writes."""
    results = session_results(run, sessions)
    for r in results:
        r.delivered_kwh, r.met = min(r.oracle_kwh, r.session.need_kwh), r.oracle_can
    can = sum(1 for r in results if r.oracle_can)
    return SessionMetrics("oracle", len(results), can, can, can,
                          sum(max(0.0, r.session.need_kwh - r.oracle_kwh) for r in results),
                          oracle.ev_increase_w, 0.0, results)


def format_table(rows: list[SessionMetrics], failed: dict | None = None) -> str:
    """The session table of `tools/replay.py --sessions` (markdown); a controller in `failed`
    gets its problem instead of figures."""
    failed = failed or {}
    lines = ["| controller | sessions | met by departure | oracle could meet | met of those "
             "| kWh short | car +W | writes/plugged h |", "|---|---|---|---|---|---|---|---|"]
    for m in rows:
        if m.controller in failed:
            lines.append(f"| {m.controller} | **{failed[m.controller]}** |")
            continue
        writes = "–" if m.controller == "oracle" else f"{m.writes_per_plugged_h:.1f}"
        lines.append(f"| {m.controller} | {m.sessions} | {m.met} | {m.oracle_can} "
                     f"| {m.met_of_oracle_can} | {m.kwh_short:.1f} | {max(m.ev_increase_w, 0):+.0f} "
                     f"| {writes} |")
    return "\n".join(lines)


def verdict(m: SessionMetrics, failure: str | None = None) -> str:
    """'app: 31/32 sessions met by departure (the oracle could meet 32); 4.2 kWh short; billed
    peak +0 W; 2.1 writes per plugged hour'."""
    if failure:
        return f"{m.controller}: {failure}"
    missed = m.oracle_can - m.met_of_oracle_can
    could = f"the oracle could meet {m.oracle_can}" + (f", {missed} of them missed" if missed else "")
    text = (f"{m.controller}: {m.met}/{m.sessions} sessions met by departure ({could}); "
            f"{m.kwh_short:.1f} kWh short; billed peak {max(m.ev_increase_w, 0):+.0f} W")
    if m.controller != "oracle":
        text += f"; {m.writes_per_plugged_h:.1f} writes per plugged hour"
    return text


def _controller(name: str):
    if name == "timer2200":
        from tools.timer_controller import Timer2200
        return Timer2200()
    return make_controller(name)


def main(argv=None) -> int:
    from tools.traces import load_csv
    parser = argparse.ArgumentParser(description="Session metrics of the baselines (issue 10).")
    parser.add_argument("traces", nargs="*", default=[SAMPLE])
    parser.add_argument("--session-kwh", type=float, default=10.0)
    parser.add_argument("--controllers", default="uncontrolled,original,timer2200")
    args = parser.parse_args(argv)
    for path in args.traces:
        trace = load_csv(path)
        start, end = whole_quarters(trace)
        sessions = generate(PlantParams(), start, end, fixed_kwh=args.session_kwh)
        params = replace(PlantParams(), sessions=tuple((s.plug_in, s.departure, s.need_kwh) for s in sessions))
        rows = [session_metrics(Plant(trace, params, start, end).run(c), sessions)
                for c in [_controller(name) for name in args.controllers.split(",")]]
        print(f"{trace.name}: every session needs {args.session_kwh:g} kWh")
        print(format_rows(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
