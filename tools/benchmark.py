#!/usr/bin/env python3
"""Control-quality benchmark: a matrix that one lucky run cannot fit (issue 15).

    python tools/benchmark.py --jobs 2 --out out/benchmark.md      # the whole matrix
    python tools/benchmark.py --traces H6 --plants reference --seeds 1,hungry --history 0
    python tools/benchmark.py --seeds hungry --history 0 --controllers app,original,uncontrolled --tables

The matrix: every trace in ../shared/traces × three plants × the cars × the install day.
* Plants: `reference` (1 x 230 V, 6-32 A, 5 s meter, tools/plant.py), `meter30` (the grid sensor
  every 30 s, DSMR's default throttle), `3phase` (3 x 230 V, 6-16 A: the 4.14 kW minimum is above
  the 4 kW target, so only pausing keeps the peak).
* Cars: a session seed N (sessions mode, as `tools/replay.py --sessions generated`: one session per
  plug-in of the reference windows, departure at its end, the need drawn by the session's length
  with tools/sessions.py `generate(seed=N)`; the app gets `departure` and `energy_needed`), or
  `hungry`: the always-hungry car of the plain replay (no sessions, no plan).
* Install day: `--history 0` replays the whole trace from its first day with an empty recorder;
  `--history 10` makes the first 10 days the recorder's history (the house alone) and replays and
  scores the rest (`tools/replay.py --history-days 10`, tools/history.py).
Default: the six traces × 3 plants × (seeds 1-5 and hungry) × (0 and 10 history days) = 216
cells, the app and the oracle in each (the baselines with --controllers; the timer only in the
session cells).

Prints markdown ready for the README: the worst over the matrix per column and per car kind and
install day (EV-caused peak increase, sessions met of those the oracle could meet, writes per
plugged hour, energy vs the oracle), the cells where the car raised the billed peak (with the
quarter), then one row per cell and controller (--tables: every cell's full table too), and on
stderr the wall time of each cell and of the matrix.

Prices and sun (issue 16): `--prices own` (the shared day-ahead month of each trace's own month),
`--prices shared` (every shared month, each laid onto each trace weekday-aligned, tools/prices.py)
or price CSVs add a price axis to the session cells, which then also run today's safest plan (the
app without prices), the evcc-style plan and plug-and-charge (uncontrolled), price each
controller's car energy at the default all-in formula and compute the prescient lower bound
(tools/price_bound.py); `--pv auto` (the shared PV month of the trace's month) or PV CSVs, and
`none`, add a solar axis to every cell. The report then starts with the car's energy EUR per trace
and price month: the bound, the app, the safest plan, plug-and-charge and evcc-style (and how
often evcc-style raised the billed peak), and a cost row per priced cell.

    python tools/benchmark.py --prices own --pv none,auto --plants reference --seeds 1 --history 10

Cells run in parallel processes (--jobs, at most the cores you can spare) and each cell's result is
kept in the cache (--cache, default out/benchmark-cache/<code>/, <code> a digest of the app, the
stand-ins and the simulator): an interrupted run resumes where it stopped, a slice reuses what the
whole matrix computed, and a code change starts a fresh cache. A worker killed from outside costs
only its cell (the pool starts again; exit status 3 if cells are still missing: rerun to finish).
A controller that logged an ERROR gets its problem instead of figures, and the exit status is 1.
"""
from __future__ import annotations

import argparse
import glob
import hashlib
import json
import math
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, replace
from datetime import datetime

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from tools.controllers import ALL_CONTROLLERS, PRICE_CONTROLLERS, SESSION_CONTROLLERS  # noqa: E402
from tools.energy_cost import CarCost  # noqa: E402
from tools.history import from_days, replay_span  # noqa: E402
from tools.metrics import Metrics  # noqa: E402
from tools.plant import ON_CHANGE, TZ, PlantParams  # noqa: E402
from tools.prices import PriceSpec  # noqa: E402
from tools.pv import load_pv, with_pv  # noqa: E402
from tools.replay_run import app_available, replay_costs, replay_trace, with_sessions  # noqa: E402
from tools.report import format_table, problem_label  # noqa: E402
from tools.session_metrics import oracle_session_metrics, session_metrics  # noqa: E402
from tools.sessions import generate  # noqa: E402
from tools.traces import load_csv  # noqa: E402

TRACES_DIR = os.path.join(REPO, "..", "shared", "traces")
PRICES_DIR = os.path.join(REPO, "..", "shared", "prices")
PV_DIR = os.path.join(REPO, "..", "shared", "pv")
# with prices, the session cells also run these (the bound is computed)
PRICE_BASELINES = ("safest", "evcc", "uncontrolled")
CACHE_DIR = os.path.join(REPO, "out", "benchmark-cache")
REFERENCE = PlantParams()
PLANTS = {
    "reference": ("1 x 230 V, 6-32 A, 5 s meter", REFERENCE),
    "meter30": ("30 s meter (DSMR default throttle)", replace(REFERENCE, meter_period=30.0)),
    "3phase": ("3 x 230 V, 6-16 A", replace(REFERENCE, phases=3, max_current=16)),
    # not in the default matrix (issue 15 names the three above): a local charger (ESPHome, MQTT,
    # OpenEVSE, go-e) that reports on change and answers in 5 s, at the app's default settings
    "local": ("1 x 230 V, 6-32 A, local charger: reports on change, 5 s response",
              replace(REFERENCE, charger_reports=ON_CHANGE, charger_delay=5.0)),
}
DEFAULT_PLANTS = ("reference", "meter30", "3phase")
HUNGRY = "hungry"
DEFAULT_SEEDS = "1-5,hungry"
DEFAULT_HISTORY = "0,10"
# what a cell's result depends on: a change to any of these starts a fresh cache
CODE = ("pyscript", "stubs", "tools/app_controller.py", "tools/controllers.py", "tools/history.py",
        "tools/metrics.py", "tools/plant.py", "tools/replay_run.py", "tools/session_metrics.py",
        "tools/sessions.py", "tools/timer_controller.py", "tools/traces.py", "tools/prices.py",
        "tools/quarter_series.py", "tools/pv.py", "tools/energy_cost.py", "tools/price_bound.py",
        "tools/evcc_controller.py")


@dataclass(frozen=True)
class Cell:
    trace: str            # path of the trace CSV
    plant: str            # a key of PLANTS
    seed: int | None      # the session seed; None: the always-hungry car (no sessions)
    history_days: int     # 0: from the install day with an empty recorder
    prices: str | None = None    # path of a day-ahead price CSV (session cells only)
    pv: str | None = None        # path of a PV CSV subtracted from the house
    margin: float | None = None  # the app's `margin` (W); None: the plant's (150 W)

    @property
    def name(self) -> str:
        return os.path.splitext(os.path.basename(self.trace))[0]

    @property
    def price_name(self) -> str:
        return os.path.splitext(os.path.basename(self.prices))[0] if self.prices else "–"

    @property
    def pv_name(self) -> str:
        return os.path.splitext(os.path.basename(self.pv))[0] if self.pv else "none"

    @property
    def label(self) -> str:
        """The trace's name, with its price month and PV when the cell has them."""
        extra = [x for x in (self.prices and self.price_name, self.pv and f"PV {self.pv_name}",
                             self.margin is not None and f"margin {self.margin:g} W") if x]
        return self.name + (f" ({', '.join(extra)})" if extra else "")

    @property
    def car(self) -> str:
        return HUNGRY if self.seed is None else f"seed {self.seed}"

    @property
    def key(self) -> str:
        car = HUNGRY if self.seed is None else f"s{self.seed}"
        key = f"{self.name}__{self.plant}__{car}__h{self.history_days}"
        if self.prices:
            key += f"__{self.price_name}"
        if self.pv:
            key += f"__{self.pv_name}"
        if self.margin is not None:
            key += f"__m{self.margin:g}"
        return key


@dataclass
class CellResult:
    """One cell: per controller its metrics row (the oracle's last) and, in the session cells, its
    session figures; the controllers that logged an ERROR; its wall time."""
    cell: Cell
    rows: list[Metrics]
    sessions: dict           # controller -> {sessions, met, oracle_can, met_of_oracle_can, kwh_short}
    failed: dict             # controller -> the problem its row shows
    notes: dict              # controller -> its warnings/errors
    wall_s: float
    cached: bool = False
    costs: dict = None       # priced cells: controller (and 'bound') -> its car costs (CarCost fields)
    bound: dict = None       # priced cells: the bound's program (variables, constraints, solve_s, short_kwh)

    def cost(self, controller: str) -> CarCost | None:
        c = (self.costs or {}).get(controller)
        return CarCost(**c) if c else None

    def row(self, controller: str) -> Metrics | None:
        return next((m for m in self.rows if m.controller == controller), None)

    def as_dict(self) -> dict:
        return dict(cell=asdict(self.cell), rows=[asdict(m) for m in self.rows],
                    sessions=self.sessions, failed=self.failed, notes=self.notes,
                    wall_s=self.wall_s, costs=self.costs, bound=self.bound)

    @classmethod
    def from_dict(cls, d: dict) -> "CellResult":
        return cls(Cell(**d["cell"]), [Metrics(**m) for m in d["rows"]], d["sessions"],
                   d["failed"], d["notes"], d["wall_s"], cached=True, costs=d.get("costs"),
                   bound=d.get("bound"))


def cell_inputs(cell: Cell):
    """What one cell replays: (the trace with its PV, the plant's PlantParams with the sessions,
    the sessions, the recorder's history or None, the PriceSpec or None)."""
    trace = load_csv(cell.trace)
    if cell.pv:
        trace = with_pv(trace, load_pv(cell.pv))
    prices = PriceSpec.read(cell.prices) if cell.prices and cell.seed is not None else None
    history = from_days(trace, cell.history_days) if cell.history_days else None
    params = PLANTS[cell.plant][1]
    if cell.margin is not None:
        params = replace(params, margin=cell.margin)
    sessions = []
    if cell.seed is not None:
        sessions = generate(params, *replay_span(trace, history), seed=cell.seed)
        params = with_sessions(params, sessions)
    return trace, params, sessions, history, prices


def run_cell(cell: Cell, controllers: list[str]) -> CellResult:
    """Replay one cell: the controllers (the timer only with sessions) and the oracle."""
    wall0 = time.perf_counter()
    trace, params, sessions, history, prices = cell_inputs(cell)
    if cell.seed is not None:
        if prices is not None:
            controllers = controllers + [c for c in PRICE_BASELINES if c not in controllers]
    else:
        controllers = [c for c in controllers if c in ALL_CONTROLLERS]
    errors: dict = {}
    runs, rows = replay_trace(trace, params, controllers, progress=False, errors=errors,
                              history=history, prices=prices)
    failed = {name: problem_label(next(r for r in runs if r.controller == name), lines)
              for name, lines in errors.items()}
    figures = {}
    if sessions and runs:
        for m in [session_metrics(run, sessions) for run in runs] + [
                oracle_session_metrics(runs[0], sessions, rows[-1])]:
            figures[m.controller] = dict(sessions=m.sessions, met=m.met, oracle_can=m.oracle_can,
                                         met_of_oracle_can=m.met_of_oracle_can,
                                         kwh_short=m.kwh_short)
    costs = bound = None
    if prices is not None and runs:
        car_costs, program = replay_costs(runs, rows, prices)
        costs = {c.controller: asdict(c) for c in car_costs}
        bound = dict(variables=program.variables, constraints=program.constraints,
                     solve_s=program.solve_s, short_kwh=program.short_kwh,
                     from_surplus_kwh=program.from_surplus_kwh, status=program.status)
    return CellResult(cell, rows, figures, failed, {run.controller: run.notes for run in runs},
                      time.perf_counter() - wall0, costs=costs, bound=bound)


def code_digest(root: str = REPO) -> str:
    """A digest of every file a cell's result depends on (CODE)."""
    h = hashlib.sha256()
    for entry in CODE:
        path = os.path.join(root, entry)
        files = ([path] if os.path.isfile(path) else
                 sorted(glob.glob(os.path.join(path, "**", "*.py"), recursive=True)))
        for f in files:
            h.update(os.path.relpath(f, root).encode())
            with open(f, "rb") as fh:
                h.update(fh.read())
    return h.hexdigest()[:12]


def _cached_cell(args) -> CellResult:
    """A cell from the cache, else replayed and stored (the worker's job)."""
    cell, controllers, cache = args
    path = os.path.join(cache, f"{cell.key}__{'-'.join(controllers)}.json") if cache else None
    if path and os.path.exists(path):
        with open(path) as f:
            return CellResult.from_dict(json.load(f))
    result = run_cell(cell, controllers)
    if path:
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump(result.as_dict(), f)
        os.replace(tmp, path)
    return result


# ---- the report ----------------------------------------------------------------------------------
def _quarter_text(t: float | None) -> str:
    return datetime.fromtimestamp(t, TZ).strftime("%a %Y-%m-%d %H:%M") if t is not None else "–"


def _where(r: CellResult, history: bool = False) -> str:
    """'H6_2p_2025-01 meter30 seed 3' (and ', 10 days history' if asked)."""
    text = f"{r.cell.label} {r.cell.plant} {r.cell.car}"
    if history:
        text += f", {r.cell.history_days} days history" if r.cell.history_days else ", no history"
    return text


def worst_rows(results: list[CellResult], controller: str = "app") -> list[str]:
    """The worst over the matrix per column, one row per car kind (sessions / hungry) and install
    day (history days): markdown. Failed cells are counted apart and never hide in a figure."""
    out = ["| car | install day | cells | EV-caused peak increase, worst W | sessions met of those "
           "the oracle could meet, worst | writes per plugged h, worst | energy vs oracle, worst |",
           "|---|---|---|---|---|---|---|"]
    groups: dict = {}
    for r in results:
        kind = "hungry" if r.cell.seed is None else "sessions"
        groups.setdefault((kind != "sessions", r.cell.history_days), []).append(r)
    for (hungry, days), group in sorted(groups.items()):
        ok = [r for r in group if controller not in r.failed and r.row(controller) is not None]
        failed = len(group) - len(ok)
        install = f"after {days} days of history" if days else "no history"
        cells = f"{len(group)}" + (f" (**{failed} failed**)" if failed else "")
        if not ok:
            out.append(f"| {'hungry' if hungry else 'sessions'} | {install} | {cells} | – | – | – | – |")
            continue
        peak = max(ok, key=lambda r: r.row(controller).ev_increase_w)
        writes = max(ok, key=lambda r: r.row(controller).writes_per_plugged_h)
        peak_w = peak.row(controller).ev_increase_w
        peak_text = f"{peak_w:+.0f} ({_where(peak)}{'; within the target' if peak_w < 0 else ''})"
        writes_text = f"{writes.row(controller).writes_per_plugged_h:.1f} ({_where(writes)})"
        if hungry:
            energy = min(ok, key=lambda r: r.row(controller).oracle_ratio)
            met_text = "–"
            energy_text = f"{energy.row(controller).oracle_ratio * 100:.1f} % ({_where(energy)})"
        else:
            s = [(r.sessions[controller], r) for r in ok]
            missed = max(s, key=lambda x: x[0]["oracle_can"] - x[0]["met_of_oracle_can"])
            total_can = sum(x[0]["oracle_can"] for x in s)
            total_met = sum(x[0]["met_of_oracle_can"] for x in s)
            m = missed[0]
            met_text = (f"{m['met_of_oracle_can']}/{m['oracle_can']} ({_where(missed[1])}); "
                        f"all cells {total_met}/{total_can}")
            energy_text = "–"
        out.append(f"| {'hungry' if hungry else 'sessions'} | {install} | {cells} | {peak_text} "
                   f"| {met_text} | {writes_text} | {energy_text} |")
    return out


def raised_rows(results: list[CellResult], controller: str = "app") -> list[str]:
    """Every cell where the car raised the month's billed peak (by 1 W or more): the quarter that
    set the peak with the car, and by how much."""
    raised = [r for r in results if controller not in r.failed and r.row(controller) is not None
              and round(r.row(controller).ev_increase_w) >= 1]
    if not raised:
        return ["No cell where the car raised the billed peak."]
    raised.sort(key=lambda r: -r.row(controller).ev_increase_w)
    out = ["| trace | plant | car | history days | quarter (local) | raised by W |",
           "|---|---|---|---|---|---|"]
    for r in raised:
        m = r.row(controller)
        out.append(f"| {r.cell.label} | {r.cell.plant} | {r.cell.car} | {r.cell.history_days} "
                   f"| {_quarter_text(m.peak_at)} | {m.ev_increase_w:+.0f} |")
    return out


def cell_rows(results: list[CellResult]) -> list[str]:
    """One row per cell and controller (the oracle last)."""
    out = ["| trace | plant | car | history days | controller | car +W | sessions met / oracle "
           "could meet | kWh short | EV kWh | vs oracle | writes per plugged h | cell s |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        c = r.cell
        for m in r.rows:
            head = f"| {c.label} | {c.plant} | {c.car} | {c.history_days} | {m.controller} "
            if m.controller in r.failed:
                out.append(head + f"| **{r.failed[m.controller]}** |")
                continue
            s = r.sessions.get(m.controller)
            met = f"{s['met_of_oracle_can']}/{s['oracle_can']}" if s else "–"
            short = f"{s['kwh_short']:.1f}" if s else "–"
            writes = "–" if m.controller == "oracle" else f"{m.writes_per_plugged_h:.1f}"
            ratio = f"{m.oracle_ratio * 100:.1f} %" if math.isfinite(m.oracle_ratio) else "–"
            out.append(head + f"| {m.ev_increase_w:+.0f} | {met} | {short} | {m.ev_kwh:.0f} "
                       f"| {ratio} | {writes} | {r.wall_s:.0f} |")
    return out


PRICE_COLUMNS = (("bound", "bound"), ("app", "app"), ("safest", "safest plan"),
                 ("uncontrolled", "plug-and-charge"), ("evcc", "evcc-style"))


def _euros(cells: list[CellResult], controller: str) -> str:
    """The mean car energy EUR of a controller over cells (the capacity EUR beside it if any)."""
    costs = [r.cost(controller) for r in cells if controller not in r.failed]
    costs = [c for c in costs if c is not None]
    if not costs:
        return "–"
    energy = statistics.mean(c.energy_eur for c in costs)
    capacity = statistics.mean(c.capacity_eur for c in costs)
    return f"{energy:.2f}" + (f" (+{capacity:.2f} capacity)" if capacity >= 0.005 else "")


def saving_share(app: CarCost, best: CarCost, pac: CarCost, with_capacity: bool = False) -> float | None:
    """The app's share of the saving the bound makes over plug-and-charge: on the car's energy EUR
    (issue 16's acceptance), or on energy + capacity EUR (plug-and-charge's raised peak counted);
    None when the bound saves nothing."""
    a, b, p = ((c.total_eur if with_capacity else c.energy_eur) for c in (app, best, pac))
    return (p - a) / (p - b) if p - b > 1e-9 else None


def price_rows(results: list[CellResult]) -> list[str]:
    """Per trace, price month and PV: the mean car energy EUR over the priced cells (plants, seeds,
    install days) of the bound and each controller, the app's worst gap to the bound and share of
    the bound's saving over plug-and-charge (on the energy EUR, and on energy + capacity EUR), the
    app's worst EV-caused peak increase and sessions met, and how often evcc-style raised the
    billed peak."""
    groups: dict = {}
    for r in results:
        if r.costs:
            groups.setdefault((r.cell.name, r.cell.price_name, r.cell.pv_name), []).append(r)
    if not groups:
        return []
    out = ["| trace | prices | PV | cells | " + " | ".join(f"{title} €" for _, title in PRICE_COLUMNS)
           + " | app vs bound, worst | app's share of the saving, worst | the same with the capacity €, worst"
           + " | app: worst +W, sessions met | evcc-style raised the peak |",
           "|---" * (4 + len(PRICE_COLUMNS) + 5) + "|"]
    for (name, prices, pv), cells in sorted(groups.items()):
        gaps, shares, totals, increases = [], [], [], []
        met = [0, 0]
        for r in cells:
            app, best, pac = r.cost("app"), r.cost("bound"), r.cost("uncontrolled")
            if app is None or best is None or "app" in r.failed:
                continue
            increases.append(app.increase_w)
            figures = (r.sessions or {}).get("app")
            if figures:
                met = [met[0] + figures["met_of_oracle_can"], met[1] + figures["oracle_can"]]
            if best.energy_eur > 0:
                gaps.append(app.energy_eur / best.energy_eur - 1)
            if pac is not None:
                for kept, total in ((shares, False), (totals, True)):
                    share = saving_share(app, best, pac, total)
                    if share is not None:
                        kept.append(share)
        evcc = [r.cost("evcc") for r in cells if r.cost("evcc") is not None]
        raised = [c.increase_w for c in evcc if round(c.increase_w) >= 1]
        raised_text = (f"{len(raised)}/{len(evcc)} cells (worst {max(raised):+.0f} W)" if raised
                       else f"0/{len(evcc)} cells")
        out.append(f"| {name} | {prices} | {pv} | {len(cells)} | "
                   + " | ".join(_euros(cells, c) for c, _ in PRICE_COLUMNS)
                   + f" | {f'{max(gaps) * 100:+.1f} %' if gaps else '–'}"
                   + f" | {f'{min(shares) * 100:.0f} %' if shares else '–'}"
                   + f" | {f'{min(totals) * 100:.0f} %' if totals else '–'}"
                   + f" | {f'{max(increases):+.0f} W, {met[0]}/{met[1]}' if increases else '–'} | {raised_text} |")
    return out


def price_cell_rows(results: list[CellResult]) -> list[str]:
    """One row per priced cell: each controller's car energy EUR (+W where it raised the peak) and
    the bound's program."""
    priced = [r for r in results if r.costs]
    out = ["| trace | plant | car | history days | prices | PV | "
           + " | ".join(f"{title} €" for _, title in PRICE_COLUMNS) + " | bound: variables, solve s |",
           "|---" * (6 + len(PRICE_COLUMNS) + 1) + "|"]
    for r in priced:
        c = r.cell
        figures = []
        for controller, _ in PRICE_COLUMNS:
            cost = r.cost(controller)
            if controller in r.failed:
                figures.append(f"**{r.failed[controller]}**")
            elif cost is None:
                figures.append("–")
            else:
                raised = f" ({cost.increase_w:+.0f} W)" if round(cost.increase_w) >= 1 else ""
                figures.append(f"{cost.energy_eur:.2f}{raised}")
        b = r.bound or {}
        program = f"{b.get('variables', 0)}, {b.get('solve_s', 0.0):.2f}"
        if b.get("short_kwh", 0.0) > 0.05:
            program += f", {b['short_kwh']:.1f} kWh could not fit"
        out.append(f"| {c.name} | {c.plant} | {c.car} | {c.history_days} | {c.price_name} "
                   f"| {c.pv_name} | " + " | ".join(figures) + f" | {program} |")
    return out


def report(results: list[CellResult], controllers: list[str], tables: bool = False) -> str:
    out = []
    if any(r.costs for r in results):
        out += ["### The car's energy € per trace and price month (mean over the priced cells)\n"]
        out += price_rows(results)
        out += ["", "Energy € = the grid bill with the car minus without it at the all-in import "
                "price (export at the export price), VAT in; (+ capacity) = the mean capacity € of "
                "the peak it raised; bound = the prescient lower bound (a linear program that knows "
                "the house, the prices and the sun and never raises the peak).", ""]
        out += ["### The car's energy € per priced cell\n"] + price_cell_rows(results) + [""]
    for controller in controllers:
        out += [f"### Worst over the matrix: {controller}\n"] + worst_rows(results, controller)
        out += [f"\n### Cells where {controller} raised the billed peak\n"]
        out += raised_rows(results, controller) + [""]
    out += ["### Every cell\n"] + cell_rows(results)
    if tables:
        for r in results:
            out += ["", format_table(r.rows, f"{r.cell.name}, {r.cell.plant}, {r.cell.car}, "
                                     f"{r.cell.history_days} history days", r.failed)]
    return "\n".join(out)


# ---- the command ---------------------------------------------------------------------------------
POOL_ATTEMPTS = 3     # a worker killed from outside (OOM, a stray kill) breaks the whole pool


def run_cells(cells: list[Cell], controllers: list[str], cache: str | None, jobs: int) -> dict:
    """{cell: CellResult} of the cells, `jobs` at a time; when a worker dies the pool is started
    again for the cells not done (at most POOL_ATTEMPTS pools), so hours of cells are not lost."""
    results: dict = {}
    for _ in range(POOL_ATTEMPTS):
        todo = [c for c in cells if c not in results]
        if not todo:
            break
        try:
            with ProcessPoolExecutor(max_workers=jobs) as pool:
                # keyed by the cell asked for: a cached result names its trace by the path of the
                # checkout that ran it, which may be another one
                futures = {pool.submit(_cached_cell, (cell, controllers, cache)): cell
                           for cell in todo}
                for future in as_completed(futures):
                    r = future.result()
                    results[futures[future]] = r
                    how = "from the cache" if r.cached else f"{r.wall_s:.0f} s"
                    print(f"benchmark: [{len(results)}/{len(cells)}] {_where(r, True)}: {how}",
                          file=sys.stderr)
                    for ctl, lines in r.notes.items():
                        if lines and not r.cached:
                            print(f"benchmark:   {ctl} logged {len(lines)} warning(s)/error(s); "
                                  f"first: {lines[0]}", file=sys.stderr)
        except BrokenProcessPool:
            print("benchmark: a worker died; starting the pool again for the cells not done",
                  file=sys.stderr)
    return results


def parse_seeds(text: str) -> list[int | None]:
    """'1-5,hungry' -> [1, 2, 3, 4, 5, None] (ValueError for anything else)."""
    seeds: list[int | None] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        if part == HUNGRY:
            seeds.append(None)
            continue
        a, _, b = part.partition("-")
        if not (a.isdigit() and (b.isdigit() or not b)):
            raise ValueError(f"--seeds: {part!r} is not a seed, a range a-b or '{HUNGRY}'")
        seeds += range(int(a), int(b or a) + 1)
    if not seeds:
        raise ValueError("--seeds is empty")
    return list(dict.fromkeys(seeds))


def select_traces(traces_dir: str, names: str | None) -> list[str]:
    """The trace CSVs of the directory, or those whose name starts with one of `names`."""
    paths = sorted(glob.glob(os.path.join(traces_dir, "*.csv")))
    if names is None:
        return paths
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    return [p for p in paths if any(os.path.basename(p).startswith(n) for n in wanted)]


def build_cells(paths, plants, seeds, history, prices=(None,), pvs=(None,), margin=None) -> list[Cell]:
    """Every combination; `prices` and `pvs` give a list per trace path (a dict) or one list for
    all; prices go to the session cells only (a hungry car has no need to price)."""
    def per(choice, p):
        return choice[p] if isinstance(choice, dict) else choice
    cells = []
    for p in paths:
        for plant in plants:
            for seed in seeds:
                for days in history:
                    for price in (per(prices, p) if seed is not None else [None]):
                        for pv in per(pvs, p):
                            cells.append(Cell(p, plant, seed, days, price, pv, margin))
    return list(dict.fromkeys(cells))


def _month_of(path: str) -> str:
    """The 'YYYY-MM' a shared file's name ends with ('' when it does not)."""
    stem = os.path.splitext(os.path.basename(path))[0]
    return stem[-7:] if len(stem) >= 7 and stem[-3] == "-" and stem[-7:-3].isdigit() else ""


def choose_files(text: str | None, paths: list[str], shared_dir: str, option: str, own: str,
                 every: str | None, none: str | None) -> dict:
    """Per trace path, the files of --prices/--pv: `own` (the shared file of the trace's month,
    same year for prices, any year for PV), `every` (every shared file), `none` (no file: None),
    or file paths. ValueError for a file that is not there, or a trace without its own month."""
    if text is None:
        return {p: [None] for p in paths}
    shared = sorted(glob.glob(os.path.join(shared_dir, "*.csv")))
    out = {}
    for p in paths:
        chosen: list = []
        for part in (x.strip() for x in text.split(",") if x.strip()):
            if part == none:
                chosen.append(None)
            elif part == every:
                chosen += shared
            elif part == own:
                month = _month_of(p)
                same = [f for f in shared if _month_of(f) == month] or \
                       [f for f in shared if _month_of(f)[-2:] == month[-2:]]
                if not same:
                    raise ValueError(f"{option} {own}: no file of {os.path.basename(p)}'s month "
                                     f"in {shared_dir}")
                chosen.append(same[0])
            elif os.path.isfile(part):
                chosen.append(part)
            else:
                raise ValueError(f"{option}: {part} is not a file (or {own}"
                                 + (f", {every}" if every else "") + (f", {none}" if none else "") + ")")
        out[p] = list(dict.fromkeys(chosen))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--traces-dir", default=TRACES_DIR)
    ap.add_argument("--traces", help="comma-separated trace names or their beginnings, e.g. H1,H6 "
                    "(default: every CSV in --traces-dir)")
    ap.add_argument("--plants", default=",".join(DEFAULT_PLANTS), help=f"from {','.join(PLANTS)}")
    ap.add_argument("--seeds", default=DEFAULT_SEEDS, help="session seeds and ranges, and "
                    f"'{HUNGRY}' for the always-hungry car (default {DEFAULT_SEEDS})")
    ap.add_argument("--history", default=DEFAULT_HISTORY, help="install days: history days, 0 = "
                    f"none (default {DEFAULT_HISTORY})")
    ap.add_argument("--controllers", default="app", help="the app and, optionally, the baselines: "
                    f"from {','.join(PRICE_CONTROLLERS)} (the timer in the session cells only; "
                    "safest and evcc with --prices, which adds them and uncontrolled anyway)")
    ap.add_argument("--prices", help="a price axis for the session cells: 'own' (the shared month "
                    "of each trace's month), 'shared' (every shared month) or price CSVs, "
                    "comma-separated (default: none)")
    ap.add_argument("--pv", help="a solar axis: 'none', 'auto' (the shared PV month of each trace's "
                    "month) or PV CSVs, comma-separated (default: none)")
    ap.add_argument("--margin", type=float, help="W the app keeps free under the limit, its `margin` "
                    "(default: the plant's, 150); the oracle keeps none")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--cache", default=CACHE_DIR, help="where each cell's result is kept (a "
                    "sub-directory per code digest); --no-cache to replay every cell")
    ap.add_argument("--no-cache", action="store_true")
    ap.add_argument("--tables", action="store_true", help="also every cell's full table")
    ap.add_argument("--out", help="also write the markdown to this file")
    args = ap.parse_args(argv)
    problems = []
    paths = select_traces(args.traces_dir, args.traces)
    if not paths:
        problems.append(f"no traces in {args.traces_dir}" + (f" matching {args.traces}"
                                                             if args.traces else ""))
    plants = [p.strip() for p in args.plants.split(",") if p.strip()]
    problems += [f"unknown plant {p!r} in --plants (choose from {', '.join(PLANTS)})"
                 for p in plants if p not in PLANTS]
    controllers = [c.strip() for c in args.controllers.split(",") if c.strip()]
    choices = PRICE_CONTROLLERS if args.prices else SESSION_CONTROLLERS
    problems += [f"unknown controller {c!r} in --controllers (choose from "
                 f"{', '.join(choices)})" for c in controllers if c not in choices]
    prices = pvs = {}
    try:
        prices = choose_files(args.prices, paths, PRICES_DIR, "--prices", "own", "shared", None)
        pvs = choose_files(args.pv, paths, PV_DIR, "--pv", "auto", None, "none")
    except ValueError as error:
        problems.append(str(error))
    try:
        seeds = parse_seeds(args.seeds)
    except ValueError as error:
        problems.append(str(error))
    try:
        history = sorted({int(d) for d in args.history.split(",") if d.strip()})
        if not history or min(history) < 0:
            raise ValueError
    except ValueError:
        problems.append(f"--history {args.history!r}: give whole numbers of days, 0 for none")
    if not plants or not controllers:
        problems.append("--plants and --controllers must name at least one each")
    if args.jobs < 1:
        problems.append(f"--jobs must be 1 or more, got {args.jobs}")
    if args.margin is not None and not 0 <= args.margin <= 2000:
        problems.append(f"--margin must be between 0 and 2000 W, got {args.margin:g}")
    if problems:
        for problem in problems:
            print(f"benchmark: {problem}", file=sys.stderr)
        return 2
    if "app" in controllers and (why := app_available()):
        print(f"benchmark: skipping the app: {why}", file=sys.stderr)
        controllers.remove("app")
    cache = None if args.no_cache else os.path.join(args.cache, code_digest())
    if cache:
        os.makedirs(cache, exist_ok=True)
    cells = build_cells(paths, plants, seeds, history, prices, pvs, args.margin)
    axes = (f" x prices {args.prices}" if args.prices else "") + (f" x PV {args.pv}" if args.pv else "")
    print(f"benchmark: {len(cells)} cells ({len(paths)} traces x {len(plants)} plants x "
          f"{len(seeds)} cars x {len(history)} install days{axes}), {args.jobs} at a time"
          + (f", cache {cache}" if cache else ""), file=sys.stderr)
    wall0 = time.perf_counter()
    results = run_cells(cells, controllers, cache, args.jobs)
    if len(results) < len(cells):
        print(f"benchmark: {len(cells) - len(results)} cells not done (their workers died); the "
              "others are in the cache: run the same command again to finish", file=sys.stderr)
        return 3
    ordered = [results[c] for c in cells]
    fresh = [r.wall_s for r in ordered if not r.cached]
    wall = time.perf_counter() - wall0
    print(f"benchmark: {len(cells)} cells in {wall / 60:.1f} min wall"
          + (f"; one replayed cell {statistics.median(fresh):.0f} s (median, {min(fresh):.0f}-"
             f"{max(fresh):.0f} s), {len(fresh)} replayed" if fresh else "")
          + f", {len(cells) - len(fresh)} from the cache", file=sys.stderr)
    text = report(ordered, [c for c in controllers if c != "oracle"], args.tables)
    print(text)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            f.write(text + "\n")
        print(f"benchmark: written to {args.out}", file=sys.stderr)
    return 1 if any(r.failed for r in ordered) else 0


if __name__ == "__main__":
    sys.exit(main())
