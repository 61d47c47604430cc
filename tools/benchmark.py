#!/usr/bin/env python3
"""Control-quality benchmark: every trace in ../shared/traces through the app and the baselines.

    python tools/benchmark.py                       # reference plant + 3-phase + 30 s meter cases
    python tools/benchmark.py --cases reference --jobs 1
    python tools/benchmark.py --out out/benchmark.md

Cases: `reference` (1 x 230 V, 6-32 A, 5 s meter, see tools/plant.py), `3phase` (3 x 230 V, 6-16 A:
the 4.14 kW minimum is above the 4 kW target, so only pausing keeps the peak), `meter30` (the grid
sensor updates every 30 s, DSMR's default throttle). Prints markdown ready for the README: one table
per trace and case (rows app / original / uncontrolled / oracle), a summary, and the wall time of
each month replay. Replays run in parallel processes (--jobs); each one's time is its own. A
controller that logged an ERROR gets its problem instead of figures, and the exit status is 1.
"""
from __future__ import annotations

import argparse
import glob
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from tools.plant import PlantParams  # noqa: E402
from tools.replay import (  # noqa: E402
    ALL_CONTROLLERS, app_available, format_table, problem_label, replay_trace,
)
from tools.traces import load_csv  # noqa: E402

TRACES_DIR = os.path.join(REPO, "..", "shared", "traces")
REFERENCE = PlantParams()
CASES = {
    "reference": ("Reference plant: 1 x 230 V, 6-32 A, 5 s meter", REFERENCE),
    "3phase": ("3-phase: 3 x 230 V, 6-16 A (minimum 4.14 kW > 4 kW target)",
               replace(REFERENCE, phases=3, max_current=16)),
    "meter30": ("30 s meter (DSMR default throttle), otherwise the reference plant",
                replace(REFERENCE, meter_period=30.0)),
}


def _job(args):
    case, path, controllers = args
    trace = load_csv(path)
    errors: dict = {}
    runs, rows = replay_trace(trace, CASES[case][1], controllers, progress=False, errors=errors)
    notes = {run.controller: run.notes for run in runs}
    failed = {name: problem_label(next(r for r in runs if r.controller == name), lines)
              for name, lines in errors.items()}
    return case, trace.name, rows, notes, failed


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--traces-dir", default=TRACES_DIR)
    ap.add_argument("--cases", default=",".join(CASES), help=f"from {','.join(CASES)}")
    ap.add_argument("--controllers", default=",".join(ALL_CONTROLLERS))
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--out", help="also write the markdown to this file")
    args = ap.parse_args(argv)
    paths = sorted(glob.glob(os.path.join(args.traces_dir, "*.csv")))
    if not paths:
        print(f"benchmark: no traces in {args.traces_dir}", file=sys.stderr)
        return 2
    cases = [c for c in args.cases.split(",") if c]
    controllers = [c for c in args.controllers.split(",") if c]
    if "app" in controllers and (why := app_available()):
        print(f"benchmark: skipping the app: {why}", file=sys.stderr)
        controllers.remove("app")
    jobs = [(case, path, controllers) for case in cases for path in paths]
    results, failures = {}, {}
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for i, (case, name, rows, notes, failed) in enumerate(pool.map(_job, jobs), 1):
            results[case, name] = rows
            failures[case, name] = failed
            walls = ", ".join(f"{m.controller} {m.wall_s:.1f} s" for m in rows
                              if m.controller != "oracle")
            print(f"benchmark: [{i}/{len(jobs)}] {case} {name}: {walls}", file=sys.stderr)
            for ctl, lines in notes.items():
                if lines:
                    print(f"benchmark:   {ctl} logged {len(lines)} warning(s)/error(s); first: "
                          f"{lines[0]}", file=sys.stderr)
    out = []
    names = sorted({name for _, name in results})
    out.append("### Summary: the app per trace and case\n")
    out.append("| case | trace | EV-caused peak increase W | own-fault excess, worst W "
               "| exposure worst W | EV kWh | vs oracle | cloud writes/h | 429s | pauses/day "
               "| month replay s |")
    out.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for case in cases:
        for name in names:
            row = next((m for m in results[case, name] if m.controller == controllers[0]), None)
            if row is None:
                continue
            if row.controller in failures[case, name]:
                out.append(f"| {case} | {name} | **{failures[case, name][row.controller]}** |")
                continue
            out.append(f"| {case} | {name} | {row.ev_increase_w:+.0f} | {row.own_fault_w:.0f} "
                       f"| {row.exposure_max_w:.0f} | {row.ev_kwh:.0f} "
                       f"| {row.oracle_ratio * 100:.1f} % | {row.writes_per_h:.1f} "
                       f"| {row.rejected_429} | {row.pauses_per_day:.1f} | {row.wall_s:.1f} |")
    if controllers and controllers[0] != "app":
        out[0] = f"### Summary: {controllers[0]} per trace and case\n"
    for case in cases:
        out.append(f"\n### {CASES[case][0]}\n")
        for name in names:
            out.append(format_table(results[case, name], name, failures[case, name]))
            out.append("")
    text = "\n".join(out)
    print(text)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            f.write(text + "\n")
        print(f"benchmark: written to {args.out}", file=sys.stderr)
    return 1 if any(failures.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
