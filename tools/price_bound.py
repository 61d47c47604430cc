"""The prescient lower bound on the car's energy cost (issue 16): a linear program over the replay's
quarters that knows the house, the prices and the sun in advance.

For each session s (plug-in, departure, need) and each quarter q it is plugged into, two variables
(kWh): g[s,q] from the grid at the import price c[q], and u[s,q] from the house's solar surplus at
the export price f[q] it gives up; and per session a shortfall x[s] (kWh not delivered, priced at
SHORT_EUR_PER_KWH so the program delivers all it can).

    minimise   sum c[q] g[s,q] + f[q] u[s,q]  +  SHORT_EUR_PER_KWH sum x[s]
    subject to u[s,q] <= surplus[s,q]       the surplus the car can take while plugged in: the
                                            house's export power, at most the charger's maximum,
                                            over the plugged part of the quarter
               g[s,q] + u[s,q] <= max power x plugged seconds      the charger
               sum_s g[s,q] <= cap[q] x 900 s - offtake[q]   never raising the peak:
                                            cap = max(target, the house-alone peak of the month)
                                            (or, --bound-cap running, of its quarters before q),
                                            offtake[q] = the house alone's import in q
                                            (`tools.metrics.split_energy`)
               sum_q g[s,q] + u[s,q] + x[s] = need[s]              each need by its departure
               g, u, x >= 0

Why only g is under the cap: the meter bills a quarter's offtake (its import register; export does
not count), and a kWh the car takes from the surplus is a kWh the house no longer exports, never
an imported one, so it adds nothing to the billed quarter; every other kWh of the car is imported.
So a controller whose car takes e in a quarter, of which u' from the surplus (u' <= surplus[s,q]),
raises that quarter's offtake by exactly g' = e - u', and keeping the peak means g' <= cap x 900 s
- offtake[q]. A cap on g + u under the offtake would be too tight (it would count the surplus as
imported); one under the net quarter too loose (a minute of export in the quarter would let the
car import more than the meter allows).

Why it is a lower bound on every controller that keeps the peak and meets the needs: a controller's
car energy e in a quarter costs c e - (c - f) (the surplus it happened to use), and the surplus it
can use is at most surplus[s,q]; its (g', u') is a feasible point of the program, which chooses
the best split (and ignores the charger's 6 A minimum, the cloud's one write a minute and every
delay). A controller that raises the peak or delivers less can come out cheaper: the bound's
figures say how much it delivered.
Solved with SciPy's HiGHS (`scipy.optimize.linprog(method="highs")`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from tools.energy_cost import J_PER_KWH, cost_end
from tools.metrics import _monthly_max, energy_within, plugged_seconds, quarters_of, running_limits, surplus_power_w
from tools.plant import QUARTER, RunResult, session_list

SHORT_EUR_PER_KWH = 100.0     # far above any price: the program short-delivers only what cannot fit


@dataclass
class BoundInput:
    """Per quarter q = 0 .. n-1: offtake_kwh (the house alone's import, net of PV: what the meter
    bills without the car), cap_kwh (the month's cap x 900 s),
    import_eur and export_eur (EUR/kWh); per session: need_kwh and, per quarter, max_kwh (the
    charger over the plugged part) and surplus_kwh (the surplus it can take then)."""
    offtake_kwh: list[float]
    cap_kwh: list[float]
    import_eur: list[float]
    export_eur: list[float]
    need_kwh: list[float]
    max_kwh: list[list[float]]        # [session][quarter]
    surplus_kwh: list[list[float]]    # [session][quarter]
    # [session][quarter], the charger's minimum (None: ignored): followed_kwh, the surplus in the
    # moments it covers the minimum (the car takes it alone); scant_kwh, the surplus in the moments
    # it is below the minimum, which the car only takes at its minimum with the rest from the grid:
    # per kWh of it, grid_per_scant_kwh kWh of grid
    followed_kwh: list[list[float]] | None = None
    scant_kwh: list[list[float]] | None = None
    grid_per_scant_kwh: list[list[float]] | None = None


@dataclass
class BoundResult:
    energy_eur: float                 # the car's energy cost (without the shortfall's penalty)
    car_kwh: list[float]              # per quarter
    delivered_kwh: list[float]        # per session
    short_kwh: float                  # sum over the sessions of what could not fit
    from_surplus_kwh: float
    variables: int
    constraints: int
    solve_s: float
    status: str
    notes: list[str] = field(default_factory=list)
    session_eur: list[float] = field(default_factory=list)   # per session, its energy's cost


def solve(b: BoundInput) -> BoundResult:
    """The linear program of the module docstring."""
    import numpy as np
    from scipy.optimize import linprog
    from scipy.sparse import coo_matrix

    n = len(b.offtake_kwh)
    cols: list[tuple[int, int, str]] = []    # (session, quarter, 'g'|'u')
    cost: list[float] = []
    upper: list[float] = []
    for s in range(len(b.need_kwh)):
        for q in range(n):
            if b.max_kwh[s][q] <= 0:
                continue
            cols.append((s, q, "g"))
            cost.append(b.import_eur[q])
            upper.append(b.max_kwh[s][q])
            surplus = min(b.surplus_kwh[s][q], b.max_kwh[s][q])
            if surplus > 0:
                cols.append((s, q, "u"))
                cost.append(b.export_eur[q])
                upper.append(surplus)
    first_short = len(cols)
    cost += [SHORT_EUR_PER_KWH] * len(b.need_kwh)
    upper += [None] * len(b.need_kwh)
    rows, cidx, vals = [], [], []
    rhs: list[float] = []
    # the charger, per session and quarter (g + u), only where the session has a u too
    by_sq: dict[tuple[int, int], list[int]] = {}
    by_q: dict[int, list[int]] = {}
    for j, (s, q, _) in enumerate(cols):
        by_sq.setdefault((s, q), []).append(j)
        by_q.setdefault(q, []).append(j)
    for (s, q), js in by_sq.items():
        if len(js) > 1:
            for j in js:
                rows.append(len(rhs)), cidx.append(j), vals.append(1.0)
            rhs.append(b.max_kwh[s][q])
    # the charger's minimum: u <= followed + g / grid_per_scant (the scant surplus only beside
    # grid energy at its ratio), as u - g / grid_per_scant <= followed
    if b.followed_kwh is not None:
        for (s, q), js in by_sq.items():
            ratio = b.grid_per_scant_kwh[s][q]
            if len(js) > 1 and b.scant_kwh[s][q] > 0:
                for j in js:
                    rows.append(len(rhs)), cidx.append(j)
                    vals.append(1.0 if cols[j][2] == "u" else -1.0 / ratio)
                rhs.append(b.followed_kwh[s][q])
    # the cap, per quarter, on the grid's part only (the surplus is never imported)
    for q, js in by_q.items():
        room = max(b.cap_kwh[q] - b.offtake_kwh[q], 0.0)
        if room >= sum(b.max_kwh[s][q] for s in {cols[j][0] for j in js}):
            continue                     # the charger alone keeps it under the cap
        for j in js:
            if cols[j][2] == "g":
                rows.append(len(rhs)), cidx.append(j), vals.append(1.0)
        rhs.append(room)
    n_ub = len(rhs)
    eq_rows, eq_cols, eq_vals = [], [], []
    for j, (s, _, _) in enumerate(cols):
        eq_rows.append(s), eq_cols.append(j), eq_vals.append(1.0)
    for s in range(len(b.need_kwh)):
        eq_rows.append(s), eq_cols.append(first_short + s), eq_vals.append(1.0)
    nv = len(cost)
    t0 = time.perf_counter()
    result = linprog(
        np.array(cost),
        A_ub=coo_matrix((vals, (rows, cidx)), shape=(n_ub, nv)).tocsr() if n_ub else None,
        b_ub=np.array(rhs) if n_ub else None,
        A_eq=coo_matrix((eq_vals, (eq_rows, eq_cols)), shape=(len(b.need_kwh), nv)).tocsr(),
        b_eq=np.array(b.need_kwh, dtype=float),
        bounds=list(zip([0.0] * nv, upper)), method="highs")
    solve_s = time.perf_counter() - t0
    if result.status != 0:
        return BoundResult(float("nan"), [0.0] * n, [0.0] * len(b.need_kwh), float("nan"), 0.0,
                           nv, n_ub + len(b.need_kwh), solve_s, result.message)
    x = [float(v) for v in result.x]
    car = [0.0] * n
    delivered = [0.0] * len(b.need_kwh)
    session_eur = [0.0] * len(b.need_kwh)
    surplus = 0.0
    for j, (s, q, kind) in enumerate(cols):
        car[q] += x[j]
        delivered[s] += x[j]
        session_eur[s] += cost[j] * x[j]
        if kind == "u":
            surplus += x[j]
    short = float(sum(x[first_short:]))
    return BoundResult(sum(session_eur), car, delivered, short, surplus, nv, n_ub + len(b.need_kwh),
                       solve_s, "optimal", session_eur=session_eur)


def bound_sessions(run: RunResult) -> list[tuple[float, float, float]]:
    """The program's sessions, in its order: (plug-in, departure, need kWh) of each session of a
    sessions-mode replay, clipped to the cost span (`tools.energy_cost.cost_end`)."""
    end = cost_end(run)
    out = []
    for a, b, need in session_list(run.params, run.start, end):
        a, b = max(a, run.start), min(b, end)
        if b > a:
            out.append((a, b, need))
    return out


BOUND_CAPS = ("month", "running")


def bound_input(run: RunResult, prices, cap: str = "month") -> tuple[BoundInput, int]:
    """The program's input for a sessions-mode replay (`run.params.sessions`), over the cost span
    (`tools.energy_cost.cost_end`); the caps from the house-alone quarters, history's included
    (`tools.metrics.quarters_of`): cap "month", max(target, the month's house-alone peak) in every
    quarter of it, known from its first day (a bound over any controller that keeps the billed
    peak); "running", the capacity limit in force, max(target, the house-alone peak of the month's
    quarters before), as the issue-15 oracle (`tools.metrics.running_limits`; a bound over the
    controllers that keep each quarter under the limit they can know). Returns it with its first
    quarter index."""
    p = run.params
    end = cost_end(run)
    q = quarters_of(run)
    first = int(run.start // QUARTER) - q.q0      # history quarters come first
    q0 = int(run.start // QUARTER)
    nq = int(end // QUARTER) - q0
    if cap == "running":
        limits = running_limits(q.house_w, q.months, p.target_peak)[first:first + nq]
    else:
        peaks = _monthly_max(q.house_w, q.months)          # the billed (offtake) averages
        limits = [max(p.target_peak, peaks[m]) for m in q.months[first:first + nq]]
    caps = [w * QUARTER / J_PER_KWH for w in limits]
    offtake = [e / J_PER_KWH for e in q.house_offtake_j[first:first + nq]]
    imp, exp = prices.window(q0, nq)
    max_ev_w = p.max_ev_w
    min_ev_w = p.min_ev_w
    # the surplus per sample, where it covers the car's minimum and where it does not (and what
    # the grid adds to it there for the minimum)
    sun = surplus_power_w(run.trace, max_ev_w)
    followed_w = [w if w >= min_ev_w else 0.0 for w in sun]
    scant_w = [w if 0.0 < w < min_ev_w else 0.0 for w in sun]
    topped_w = [min_ev_w - w if 0.0 < w < min_ev_w else 0.0 for w in sun]
    needs, max_kwh, surplus, followed, scant, ratio = [], [], [], [], [], []
    for a, b, need in bound_sessions(run):
        needs.append(need)
        max_kwh.append([s * max_ev_w / J_PER_KWH for s in plugged_seconds([(a, b)], q0, nq)])
        surplus.append([j / J_PER_KWH for j in energy_within(run.trace, sun, [(a, b)], q0, nq)])
        followed.append([j / J_PER_KWH for j in energy_within(run.trace, followed_w, [(a, b)], q0, nq)])
        scant.append([j / J_PER_KWH for j in energy_within(run.trace, scant_w, [(a, b)], q0, nq)])
        topped = energy_within(run.trace, topped_w, [(a, b)], q0, nq)
        ratio.append([t / (J_PER_KWH * k) if k > 0 else 0.0 for t, k in zip(topped, scant[-1])])
    return BoundInput(offtake, caps, imp, exp, needs, max_kwh, surplus, followed, scant, ratio), q0


def price_bound(run: RunResult, prices, cap: str = "month") -> BoundResult:
    """The bound of one sessions-mode replay (any controller's run: only its trace, plant and span
    are used); cap as bound_input's."""
    data, _ = bound_input(run, prices, cap)
    return solve(data)
