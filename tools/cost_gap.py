#!/usr/bin/env python3
"""Where a controller pays more than the prescient bound: one priced benchmark cell, per session.

    python tools/cost_gap.py --trace H3 --plant reference --seed 3 --history 0 --prices own --pv auto
    python tools/cost_gap.py --trace H3 --seed 3 --prices own --pv auto --session 2025-07-04T18:00

Replays one cell of tools/benchmark.py (the same trace, plant, session seed, install day, prices and
PV; `own` and `auto` as there) with one controller (default the app) and solves the bound
(tools/price_bound.py). Then, per session, the controller's car energy EUR (the bill with the car
minus without it, over the session's quarters: tools/energy_cost.py `quarter_costs`) against the
bound's (what its program paid for that session's energy), the sessions with the largest gap first:
the month's excess over the bound, taken apart. Sessions do not share a quarter, so the sessions'
EUR add up to the cell's. `--session` (the local plug-in time) lists that session quarter by
quarter: the import price, the surplus the car could have taken, the controller's kWh and EUR,
the bound's kWh.
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from datetime import datetime

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tools.benchmark import (PLANTS, PRICES_DIR, PV_DIR, TRACES_DIR, Cell, cell_inputs, choose_files,  # noqa: E402
                             select_traces)
from tools.controllers import PRICE_CONTROLLERS  # noqa: E402
from tools.energy_cost import QuarterCosts, quarter_costs  # noqa: E402
from tools.plant import QUARTER, TZ  # noqa: E402
from tools.price_bound import BoundResult, bound_input, bound_sessions, solve  # noqa: E402
from tools.replay_run import replay_trace  # noqa: E402
from tools.session_metrics import MET_TOLERANCE_KWH  # noqa: E402


@dataclass
class SessionGap:
    plug_in: float        # epoch s, clipped to the cost span
    departure: float
    need_kwh: float
    kwh: float            # the controller's car energy in the session's quarters
    eur: float
    bound_kwh: float
    bound_eur: float

    @property
    def gap_eur(self) -> float:
        return self.eur - self.bound_eur


def _quarters(a: float, b: float, q0: int, n: int) -> range:
    """Indices (from q0) of the quarters that [a, b) touches, within n."""
    first = max(0, int(a // QUARTER) - q0)
    last = min(n, int((b - 1e-6) // QUARTER) - q0 + 1)
    return range(first, last)


def session_gaps(costs: QuarterCosts, bound: BoundResult, sessions) -> list[SessionGap]:
    """Per bound session (tools.price_bound.bound_sessions, in its order): the controller's quarter
    costs summed over the session's quarters beside the bound's figures."""
    out = []
    for s, (a, b, need) in enumerate(sessions):
        ks = _quarters(a, b, costs.q0, len(costs.eur))
        out.append(SessionGap(a, b, need, sum(costs.kwh[k] for k in ks), sum(costs.eur[k] for k in ks),
                              bound.delivered_kwh[s], bound.session_eur[s]))
    return out


def _local(t: float) -> str:
    return datetime.fromtimestamp(t, TZ).strftime("%a %Y-%m-%d %H:%M")


def gap_table(gaps: list[SessionGap], controller: str, top: int) -> str:
    total, bound = sum(g.eur for g in gaps), sum(g.bound_eur for g in gaps)
    excess = f"{100.0 * (total / bound - 1.0):+.1f} %" if bound > 0 else "–"
    lines = [f"{controller}: EUR {total:.2f}, bound EUR {bound:.2f} ({excess}) over {len(gaps)} sessions; "
             f"the {min(top, len(gaps))} with the largest gap:", "",
             "| plug-in (local) | departure | need kWh | kWh | EUR | bound kWh | bound EUR | gap EUR |",
             "|---|---|---|---|---|---|---|---|"]
    for g in sorted(gaps, key=lambda g: -g.gap_eur)[:top]:
        lines.append(f"| {_local(g.plug_in)} | {_local(g.departure)[4:]} | {g.need_kwh:.1f} | {g.kwh:.2f} | "
                     f"{g.eur:.2f} | {g.bound_kwh:.2f} | {g.bound_eur:.2f} | {g.gap_eur:+.2f} |")
    # a session delivered short costs less, so it sorts last: said apart
    short = [g for g in gaps if g.kwh < g.bound_kwh - MET_TOLERANCE_KWH]
    lines += ["", f"sessions where {controller} delivered less than the bound: {len(short)}"
              + "".join(f"\n- {_local(g.plug_in)}: {g.kwh:.2f} of the bound's {g.bound_kwh:.2f} kWh" for g in short)]
    return "\n".join(lines)


def quarter_table(costs: QuarterCosts, bound: BoundResult, bound_q0: int, imports, surplus_kwh,
                  a: float, b: float) -> str:
    """One session quarter by quarter (surplus_kwh: the session's row of the bound's input)."""
    lines = ["| quarter (local) | import EUR/kWh | surplus kWh | kWh | EUR | bound kWh |",
             "|---|---|---|---|---|---|"]
    for k in _quarters(a, b, costs.q0, len(costs.eur)):
        kb = k + costs.q0 - bound_q0
        lines.append(f"| {_local((costs.q0 + k) * QUARTER)} | {imports[k]:.3f} | {surplus_kwh[kb]:.2f} | "
                     f"{costs.kwh[k]:.2f} | {costs.eur[k]:+.3f} | {bound.car_kwh[kb]:.2f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--traces-dir", default=TRACES_DIR)
    ap.add_argument("--trace", required=True, help="a trace's name or its beginning, e.g. H3")
    ap.add_argument("--plant", default="reference", choices=sorted(PLANTS))
    ap.add_argument("--seed", type=int, default=1, help="the session seed (default 1)")
    ap.add_argument("--history", type=int, default=10, help="history days, 0 = none (default 10)")
    ap.add_argument("--prices", default="own", help="'own' or a price CSV (default own)")
    ap.add_argument("--pv", default="none", help="'none', 'auto' or a PV CSV (default none)")
    ap.add_argument("--controller", default="app", choices=PRICE_CONTROLLERS,
                    help="the controller to take apart (default app)")
    ap.add_argument("--top", type=int, default=10, help="sessions listed (default 10)")
    ap.add_argument("--session", metavar="YYYY-MM-DDTHH:MM", help="also this session (its local "
                    "plug-in time) quarter by quarter")
    args = ap.parse_args(argv)
    paths = select_traces(args.traces_dir, args.trace)
    if len(paths) != 1:
        print(f"cost_gap: --trace {args.trace!r} matches {len(paths)} traces in {args.traces_dir}; "
              "give one", file=sys.stderr)
        return 2
    try:
        prices = choose_files(args.prices, paths, PRICES_DIR, "--prices", "own", None, None)[paths[0]]
        pvs = choose_files(args.pv, paths, PV_DIR, "--pv", "auto", None, "none")[paths[0]]
    except ValueError as error:
        print(f"cost_gap: {error}", file=sys.stderr)
        return 2
    cell = Cell(paths[0], args.plant, args.seed, args.history, prices[0], pvs[0])
    trace, params, _, history, spec = cell_inputs(cell)
    errors: dict = {}
    runs, _ = replay_trace(trace, params, [args.controller], progress=False, errors=errors,
                           history=history, prices=spec)
    for name, lines in errors.items():
        print(f"cost_gap: {name} logged {len(lines)} ERROR lines, the first: {lines[0]}", file=sys.stderr)
    run = runs[0]
    series = spec.over(run.start, run.end)
    data, bound_q0 = bound_input(run, series)
    bound = solve(data)
    costs = quarter_costs(run, series)
    sessions = bound_sessions(run)
    print(f"{cell.label}, {cell.plant}, seed {cell.seed}, {cell.history_days} days of history\n")
    print(gap_table(session_gaps(costs, bound, sessions), args.controller, args.top))
    if args.session:
        wanted = datetime.fromisoformat(args.session).replace(tzinfo=TZ).timestamp()
        found = [s for s, (a, _, _) in enumerate(sessions) if abs(a - wanted) < 60]
        if not found:
            print(f"cost_gap: no session plugs in at {args.session} (local)", file=sys.stderr)
            return 2
        s = found[0]
        imports, _ = series.window(costs.q0, len(costs.eur))
        print(f"\nThe session plugged in {_local(sessions[s][0])}, quarter by quarter:\n")
        print(quarter_table(costs, bound, bound_q0, imports, data.surplus_kwh[s], *sessions[s][:2]))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
