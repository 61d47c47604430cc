#!/usr/bin/env python3
"""Replay household load traces through the real wallbox_balancer app and the baselines.

    python tools/replay.py                      # the bundled sample week, all controllers + oracle
    python tools/replay.py ../shared/traces/H5_5p_2025-01.csv --day 2025-01-18
    python tools/replay.py --history-csv history.csv --entity sensor.p1_power --unit kW
    python tools/replay.py TRACE --phases 3 --max-current 16      # 3 x 230 V, 6-16 A
    python tools/replay.py TRACE --meter-period 30                # DSMR's default 30 s throttle

Prints one markdown table per trace (stdout), writes a PNG of one day per trace into out/ (path
printed), shows a progress bar on stderr. See tools/README_SIMULATOR.md for the plant model and the
metrics.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
from dataclasses import replace
from datetime import datetime

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from tools.controllers import OriginalAutomation, Uncontrolled  # noqa: E402
from tools.metrics import QUARTER, Metrics, evaluate, oracle_metrics, quarters_of  # noqa: E402
from tools.plant import TZ, Plant, PlantParams, RunResult  # noqa: E402
from tools.traces import Trace, load_csv, load_ha_history  # noqa: E402

SAMPLE = os.path.join(REPO, "tools", "sample", "H4_4p_2025-01_week1.csv")
ALL_CONTROLLERS = ("app", "original", "uncontrolled")


def make_controller(name: str):
    if name == "app":
        from tools.app_controller import AppController
        return AppController()
    if name == "original":
        return OriginalAutomation()
    if name == "uncontrolled":
        return Uncontrolled()
    raise ValueError(f"unknown controller {name!r} (choose from {', '.join(ALL_CONTROLLERS)})")


def app_available() -> str | None:
    """None when the app can run, else why not."""
    from tools.app_controller import APP_PATH
    if not os.path.exists(APP_PATH):
        return f"{os.path.relpath(APP_PATH, REPO)} does not exist"
    try:
        from stubs import PyscriptEnv  # noqa: F401
    except ImportError as error:
        return f"the pyscript stand-ins (stubs/) cannot be imported: {error}"
    return None


def whole_quarters(trace: Trace) -> tuple[float, float]:
    start = math.ceil(trace.start / QUARTER) * QUARTER
    end = math.floor(trace.end / QUARTER) * QUARTER
    if end <= start:
        raise ValueError(f"{trace.name}: shorter than one whole clock quarter-hour")
    return start, end


def replay_trace(trace: Trace, params: PlantParams, controllers=ALL_CONTROLLERS,
                 progress: bool = True) -> tuple[list[RunResult], list[Metrics]]:
    """Run each controller on the trace; metrics rows in the order given, then the oracle's."""
    start, end = whole_quarters(trace)
    runs, rows = [], []
    for name in controllers:
        plant = Plant(trace, params, start, end)
        run = plant.run(make_controller(name),
                        progress=f"{trace.name} {name}" if progress else None)
        runs.append(run)
        rows.append(evaluate(run))
    if runs:
        rows.append(oracle_metrics(runs[0]))
    return runs, rows


def format_table(rows: list[Metrics], title: str | None = None) -> str:
    head = ("| controller | peak house alone kW | peak with EV kW | EV-caused peak increase W "
            "| own-fault excess, worst W | exposure worst W | exposure sum W | EV kWh "
            "| vs oracle | cloud writes/h | 429s | pauses/day | replay s |")
    lines = [f"**{title}**", ""] if title else []
    lines += [head, "|" + "---|" * (head.count("|") - 1)]
    for m in rows:
        oracle = m.controller == "oracle"
        lines.append(
            f"| {m.controller} | {m.peak_house_w / 1000:.2f} | {m.peak_ev_w / 1000:.2f} "
            f"| {m.ev_increase_w:+.0f} | {m.own_fault_w:.0f} | {m.exposure_max_w:.0f} "
            f"| {m.exposure_sum_w:.0f} | {m.ev_kwh:.1f} | {m.oracle_ratio * 100:.1f} % "
            + ("| – | – | – | – |" if oracle else
               f"| {m.writes_per_h:.1f} | {m.rejected_429} | {m.pauses_per_day:.1f} "
               f"| {m.wall_s:.1f} |"))
    worst = [f"{m.controller} {_local(m.own_fault_at)} (+{m.own_fault_w:.0f} W)" for m in rows
             if m.own_fault_at is not None and m.controller != "oracle"]
    if worst:
        lines += ["", "Worst own-fault quarter: " + "; ".join(worst) + "."]
    return "\n".join(lines)


def _local(t: float) -> str:
    return datetime.fromtimestamp(t, TZ).strftime("%a %Y-%m-%d %H:%M")


def choose_day(run: RunResult) -> str:
    """The local day of the highest house-alone quarter while the car was plugged in (the hardest
    moment for a controller); the house's peak day when the car never was."""
    q = quarters_of(run)
    house = q.house_w
    ks = [k for k in range(len(house)) if q.plugged_s[k] > 0] or list(range(len(house)))
    k = max(ks, key=lambda i: house[i])
    return datetime.fromtimestamp((q.q0 + k) * QUARTER, TZ).date().isoformat()


def params_from_args(args) -> PlantParams:
    p = PlantParams()
    changes = {}
    for field_name, value in (("phases", args.phases), ("max_current", args.max_current),
                              ("min_current", args.min_current), ("voltage", args.voltage),
                              ("meter_period", args.meter_period), ("meter_delay", args.meter_delay),
                              ("charger_delay", args.charger_delay),
                              ("write_interval", args.write_interval),
                              ("target_peak", args.target_peak)):
        if value is not None:
            changes[field_name] = value
    if args.car_max_kw is not None:
        changes["car_max_w"] = args.car_max_kw * 1000.0
    if args.gaps == "unavailable":
        changes["meter_gaps"] = True
    if args.phases == 3 and args.max_current is None:
        changes["max_current"] = 16
    return replace(p, **changes)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("traces", nargs="*", help="trace CSVs (timestamp,power_w); default: the sample")
    ap.add_argument("--history-csv", help="a Home Assistant history export (entity_id,state,last_changed)")
    ap.add_argument("--entity", help="which entity of the history export (needed if it holds several)")
    ap.add_argument("--unit", choices=("W", "kW"), help="unit of the history export's values "
                    "(default: auto, all values < 50 -> kW)")
    ap.add_argument("--gaps", choices=("hold", "unavailable"), default="hold",
                    help="history export unavailable/unknown rows: the load always holds its last "
                    "value; 'unavailable' also shows the controllers an unavailable meter then")
    ap.add_argument("--controllers", default=",".join(ALL_CONTROLLERS),
                    help="comma-separated, from app,original,uncontrolled (default: all)")
    ap.add_argument("--day", help="local day to plot, YYYY-MM-DD, or 'worst': the day of the first "
                    "controller's worst own-fault quarter (default: the day of the highest "
                    "house-alone quarter with the car plugged in)")
    ap.add_argument("--out", default=os.path.join(REPO, "out"), help="directory for the plots")
    ap.add_argument("--no-plot", action="store_true")
    ap.add_argument("--no-progress", action="store_true")
    g = ap.add_argument_group("plant (defaults: the reference plant, see tools/plant.py)")
    g.add_argument("--phases", type=int, choices=(1, 3))
    g.add_argument("--max-current", type=int, help="A (default 32; 16 with --phases 3)")
    g.add_argument("--min-current", type=int, help="A (default 6)")
    g.add_argument("--voltage", type=float, help="V per phase (default 230)")
    g.add_argument("--meter-period", type=float, help="s between grid sensor updates (default 5)")
    g.add_argument("--meter-delay", type=float, help="s the grid reading lags (default 2)")
    g.add_argument("--charger-delay", type=float, help="s from accepted write to effect (default 20)")
    g.add_argument("--write-interval", type=float, help="s the cloud wants between writes (default 60)")
    g.add_argument("--car-max-kw", type=float, help="the car's own acceptance (default: unlimited)")
    g.add_argument("--target-peak", type=float, help="W (default 4000)")
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    params = params_from_args(args)
    controllers = [c.strip() for c in args.controllers.split(",") if c.strip()]
    for c in controllers:
        if c not in ALL_CONTROLLERS:
            print(f"replay: unknown controller {c!r} (choose from {', '.join(ALL_CONTROLLERS)})",
                  file=sys.stderr)
            return 2
    if "app" in controllers:
        why = app_available()
        if why:
            print(f"replay: skipping the app: {why}", file=sys.stderr)
            controllers.remove("app")
    traces: list[Trace] = []
    try:
        for path in args.traces:
            traces.append(load_csv(path))
        if args.history_csv:
            traces.append(load_ha_history(args.history_csv, args.entity, args.unit))
    except (OSError, ValueError) as error:
        print(f"replay: {error}", file=sys.stderr)
        return 2
    if not traces:
        traces.append(load_csv(SAMPLE))
        print(f"replay: no trace given: replaying the bundled sample {os.path.relpath(SAMPLE)}",
              file=sys.stderr)
    for trace in traces:
        for note in trace.notes:
            print(f"replay: {note}", file=sys.stderr)
    p = params
    print(f"Plant: {p.phases} x {p.voltage:.0f} V, {p.min_current}-{p.max_current} A, "
          f"meter every {p.meter_period:g} s (+{p.meter_delay:g} s delay), charger responds in "
          f"{p.charger_delay:g} s, cloud {p.write_interval:g} s between writes (429 beyond), "
          f"charger power polled every {p.charger_poll:g} s, target peak {p.target_peak:.0f} W.\n")
    for trace in traces:
        runs, rows = replay_trace(trace, params, controllers, progress=not args.no_progress)
        days = (runs[0].end - runs[0].start) / 86400 if runs else 0
        print(format_table(rows, f"{trace.name} ({days:.1f} days)"))
        print()
        for run in runs:
            if run.notes:
                print(f"replay: {run.controller} logged {len(run.notes)} warning(s)/error(s); "
                      f"first: {run.notes[0]}", file=sys.stderr)
        if runs and not args.no_plot:
            from tools.plot import plot_day
            day = args.day
            if day == "worst":
                at = rows[0].own_fault_at
                day = datetime.fromtimestamp(at, TZ).date().isoformat() if at is not None else None
            day = day or choose_day(runs[0])
            shown = [r for r in runs if r.controller in ("app", "original")] or runs[:2]
            os.makedirs(args.out, exist_ok=True)
            path = os.path.join(args.out, f"{trace.name}_{day}.png")
            plot_day(shown, day, path)
            shown_path = os.path.relpath(path)
            print(f"Plot of {day}: {path if shown_path.startswith('..') else shown_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
