#!/usr/bin/env python3
"""Replay household load traces through the real wallbox_balancer app and the baselines.

`python tools/replay.py --help` lists the options. This file is the command: it reads the
arguments (declared and checked in tools/replay_args.py), runs each controller on each trace
(tools/replay_run.py) and prints the tables, verdicts and plots (tools/report.py). Exit status:
0 = done; 1 = a controller logged an ERROR (its row says so); 2 = bad arguments or input, nothing
replayed.
"""
from __future__ import annotations

import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from tools import replay_args, replay_run, report  # noqa: E402
from tools.history import describe as describe_history  # noqa: E402
from tools.money import DEFAULT_PRICE_EUR_PER_KW_YEAR  # noqa: E402


def _fail(problems) -> int:
    for problem in problems:
        print(f"replay: {problem}", file=sys.stderr)
    return 2


def _note(text: str) -> None:
    print(f"replay: {text}", file=sys.stderr)


def show_year(args, price: float, plot: bool) -> int:
    """--recorder --year: the household's year from the database's statistics (tools/year.py)."""
    from tools import recorder, year
    try:
        series = recorder.read_year(args.recorder, args.entity, args.ev_entity)
    except ValueError as error:
        return _fail([str(error)])
    grid_short, grid_hourly, car_short, car_hourly = series
    if args.ev_entity and not (car_short.rows or car_hourly.rows):
        _note(f"--ev-entity {args.ev_entity} has no statistics in {args.recorder} (it needs "
              "state_class measurement): the house alone is not shown")
    if (note := year.net_meter_note(grid_short, grid_hourly)):
        _note(note)
    months = year.household_year(*series)
    title = f"{args.entity}: the household's year" + (
        f", the car {args.ev_entity}" if args.ev_entity else "")
    print(year.format_year(months, title, price))
    if plot:
        from tools.plot import plot_year
        os.makedirs(args.out, exist_ok=True)
        report.print_plot(plot_year(months, os.path.join(args.out, f"{args.entity}_year.png"),
                                    title, price))
    return 0


def main(argv=None) -> int:
    args = replay_args.parse_args(argv)
    problems = replay_args.check_args(args)
    if problems:
        return _fail(problems)
    params = replay_args.params_from_args(args)
    price = DEFAULT_PRICE_EUR_PER_KW_YEAR if args.price_per_kw is None else args.price_per_kw
    plot = not args.no_plot and report.plots_possible()
    if args.recorder:
        from tools.recorder import states_missing
        try:
            why = None if args.year else states_missing(args.recorder, args.entity)
        except ValueError as error:
            return _fail([str(error)])
        if why:
            _note(why)
        if args.year or why:
            return show_year(args, price, plot)
    controllers = replay_args.controller_names(args)
    problems, sessions_note = replay_run.app_problems(params, controllers, bool(args.sessions))
    if problems:
        return _fail(problems)
    jobs, problems = replay_run.prepare(args, params)
    if problems:
        return _fail(problems)
    try:
        prices = replay_run.price_spec(args)
    except ValueError as error:
        return _fail([str(error)])
    for note in prices.spot.notes if prices is not None else ():
        print(f"replay: {note}", file=sys.stderr)
    for trace, _, _ in jobs:
        for note in trace.notes:
            print(f"replay: {note}", file=sys.stderr)
    print(f"Plant: {report.plant_text(params)}.")
    if args.sessions:
        print(report.sessions_text(args.sessions, args.session_kwh, params.plug_windows))
    print()
    if sessions_note:
        print(f"replay: {sessions_note}", file=sys.stderr)
    status = 0
    for trace, trace_params, history in jobs:
        errors: dict = {}
        if history is not None:
            print(describe_history(history))
        runs, rows = replay_run.replay_trace(trace, trace_params, controllers,
                                             progress=not args.no_progress, errors=errors,
                                             history=history, prices=prices)
        failed = {name: report.problem_label(next(r for r in runs if r.controller == name), lines)
                  for name, lines in errors.items()}
        title = f"{trace.name} ({(runs[0].end - runs[0].start) / 86400:.1f} days)"
        if args.wide:
            print(report.format_table(rows, title, failed, price))
        else:
            print(report.format_compact(rows, title, failed, price, params.target_peak))
        print()
        if args.sessions:
            print(report.format_sessions(runs, rows, trace_params, failed))
            print()
        if prices is not None:
            costs, bound = replay_run.replay_costs(runs, rows, prices, price, args.bound_cap)
            series_text = prices.over(runs[0].start, runs[0].end).describe()
            print(report.format_costs(costs, bound, series_text, failed))
            print()
        for run in runs:
            if run.notes:
                print(f"replay: {run.controller} logged {len(run.notes)} warning(s)/error(s); "
                      f"first: {run.notes[0]}", file=sys.stderr)
        if failed:
            status = 1
        if plot:
            report.write_plots(args.out, args.day, trace, runs, rows, trace_params)
    if args.recorder:
        _note("the household's year from the same database's statistics: add --year")
    return status


if __name__ == "__main__":
    sys.exit(main())
