#!/usr/bin/env python3
"""Control-quality benchmark: every trace in ../shared/traces through the app and the baselines.

    python tools/benchmark.py                       # reference plant + 3-phase + 30 s meter cases
    python tools/benchmark.py --cases reference --jobs 1
    python tools/benchmark.py --out out/benchmark.md
    python tools/benchmark.py --sessions --cases reference --controllers original,uncontrolled,timer

Cases: `reference` (1 x 230 V, 6-32 A, 5 s meter, see tools/plant.py), `3phase` (3 x 230 V, 6-16 A:
the 4.14 kW minimum is above the 4 kW target, so only pausing keeps the peak), `meter30` (the grid
sensor updates every 30 s, DSMR's default throttle). Prints markdown ready for the README: one table
per trace and case (rows app / original / uncontrolled / oracle), a summary, and the wall time of
each month replay. Replays run in parallel processes (--jobs); each one's time is its own. A
controller that logged an ERROR gets its problem instead of figures, and the exit status is 1.

--sessions (issue 10): every case in sessions mode, as `tools/replay.py --sessions generated`: one
session per plug-in of the reference windows, departure at its end, the need drawn by the session's
length (tools/sessions.py, seed 1); the 22:00 timer joins the controllers (default app, original,
uncontrolled, timer). A session summary table comes first (per case, trace and controller: sessions,
met by departure, what the oracle could meet, kWh short, EV-caused peak increase, writes per
plugged hour), then the usual tables. Until the app takes the energy_needed and departure keys its
rows read CONFIG REJECTED (said on stderr; the exit status is then 1).
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

from tools.controllers import ALL_CONTROLLERS, SESSION_CONTROLLERS  # noqa: E402
from tools.plant import PlantParams, whole_quarters  # noqa: E402
from tools.replay_run import app_available, app_sessions_note, replay_trace, with_sessions  # noqa: E402
from tools.report import format_table, problem_label  # noqa: E402
from tools.session_metrics import oracle_session_metrics, session_metrics  # noqa: E402
from tools.sessions import SEED, generate  # noqa: E402
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
    case, path, controllers, sessions_mode = args
    trace = load_csv(path)
    errors: dict = {}
    params = CASES[case][1]
    sessions = []
    if sessions_mode:
        start, end = whole_quarters(trace)
        sessions = generate(params, start, end, seed=SEED)
        params = with_sessions(params, sessions)
    runs, rows = replay_trace(trace, params, controllers, progress=False, errors=errors)
    notes = {run.controller: run.notes for run in runs}
    failed = {name: problem_label(next(r for r in runs if r.controller == name), lines)
              for name, lines in errors.items()}
    session_rows = []
    if sessions_mode and runs:
        session_rows = [session_metrics(run, sessions) for run in runs]
        session_rows.append(oracle_session_metrics(runs[0], sessions, rows[-1]))
    return case, trace.name, rows, notes, failed, session_rows


def session_summary(cases, names, sessions, failures) -> list[str]:
    """The session table for the README: one row per case, trace and controller (the oracle last)."""
    out = ["### Sessions: per case, trace and controller\n",
           "| case | trace | controller | sessions | met by departure | oracle could meet "
           "| met of those | kWh short | EV-caused peak increase W | writes per plugged h |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for case in cases:
        for name in names:
            for m in sessions[case, name]:
                if m.controller in failures[case, name]:
                    out.append(f"| {case} | {name} | {m.controller} "
                               f"| **{failures[case, name][m.controller]}** |")
                    continue
                writes = "–" if m.controller == "oracle" else f"{m.writes_per_plugged_h:.1f}"
                out.append(f"| {case} | {name} | {m.controller} | {m.sessions} | {m.met} "
                           f"| {m.oracle_can} | {m.met_of_oracle_can} | {m.kwh_short:.1f} "
                           f"| {max(m.ev_increase_w, 0):+.0f} | {writes} |")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--traces-dir", default=TRACES_DIR)
    ap.add_argument("--cases", default=",".join(CASES), help=f"from {','.join(CASES)}")
    ap.add_argument("--controllers", help=f"default {','.join(ALL_CONTROLLERS)}; with --sessions "
                    f"{','.join(SESSION_CONTROLLERS)}")
    ap.add_argument("--sessions", action="store_true", help="sessions mode (generated sessions, "
                    "the 22:00 timer, the session table)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--out", help="also write the markdown to this file")
    args = ap.parse_args(argv)
    paths = sorted(glob.glob(os.path.join(args.traces_dir, "*.csv")))
    if not paths:
        print(f"benchmark: no traces in {args.traces_dir}", file=sys.stderr)
        return 2
    cases = [c for c in args.cases.split(",") if c]
    choices = SESSION_CONTROLLERS if args.sessions else ALL_CONTROLLERS
    controllers = ([c for c in args.controllers.split(",") if c] if args.controllers is not None
                   else list(choices))
    problems = [f"unknown case {c!r} in --cases (choose from {', '.join(CASES)})"
                for c in cases if c not in CASES]
    problems += [f"unknown controller {c!r} in --controllers (choose from {', '.join(choices)})"
                 for c in controllers if c not in choices]
    if not cases or not controllers:
        problems.append("--cases and --controllers must name at least one each")
    if args.jobs < 1:
        problems.append(f"--jobs must be 1 or more, got {args.jobs}")
    if problems:
        for problem in problems:
            print(f"benchmark: {problem}", file=sys.stderr)
        return 2
    if "app" in controllers and (why := app_available()):
        print(f"benchmark: skipping the app: {why}", file=sys.stderr)
        controllers.remove("app")
    if "app" in controllers and args.sessions:
        for case in cases:
            if note := app_sessions_note(CASES[case][1]):
                print(f"benchmark: {note}", file=sys.stderr)
                break
    jobs = [(case, path, controllers, args.sessions) for case in cases for path in paths]
    results, failures, sessions = {}, {}, {}
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for i, (case, name, rows, notes, failed, session_rows) in enumerate(pool.map(_job, jobs), 1):
            results[case, name] = rows
            failures[case, name] = failed
            sessions[case, name] = session_rows
            walls = ", ".join(f"{m.controller} {m.wall_s:.1f} s" for m in rows
                              if m.controller != "oracle")
            print(f"benchmark: [{i}/{len(jobs)}] {case} {name}: {walls}", file=sys.stderr)
            for ctl, lines in notes.items():
                if lines:
                    print(f"benchmark:   {ctl} logged {len(lines)} warning(s)/error(s); first: "
                          f"{lines[0]}", file=sys.stderr)
    out = []
    names = sorted({name for _, name in results})
    if args.sessions:
        out += session_summary(cases, names, sessions, failures) + [""]
    first = len(out)
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
        out[first] = f"### Summary: {controllers[0]} per trace and case\n"
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
