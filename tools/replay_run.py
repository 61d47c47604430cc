"""The replay's run: the traces and sessions it reads, the app's readiness, and each controller on
each trace through the plant (`tools/plant.py`), scored by `tools/metrics.py`.

`tools/replay.py` is the command; its options are declared and checked in `tools/replay_args.py`,
and what it prints and plots is `tools/report.py`.
"""
from __future__ import annotations

import importlib.util
import math
import os
import sys
from dataclasses import replace
from datetime import datetime

from tools.controllers import ALL_CONTROLLERS, SESSION_CONTROLLERS, make_controller
from tools.energy_cost import CarCost, car_cost
from tools.metrics import Metrics, evaluate, oracle_metrics
from tools.money import DEFAULT_PRICE_EUR_PER_KW_YEAR
from tools.price_bound import BoundResult, price_bound
from tools.prices import PriceSpec
from tools.pv import load_pv, with_pv
from tools.history import History, replay_span
from tools.history import from_days as history_from_days
from tools.history import from_trace as history_from_trace
from tools.plant import TZ, Plant, PlantParams, RunResult
from tools.replay_args import GENERATED
from tools.sessions import Session
from tools.traces import SAMPLE, Trace, load_csv, load_ha_history

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def app_available() -> str | None:
    """None when the app can run, else why not."""
    from tools.app_controller import APP_PATH
    if not os.path.exists(APP_PATH):
        return f"{os.path.relpath(APP_PATH, REPO)} does not exist"
    if importlib.util.find_spec("freezegun") is None:
        return "freezegun is not installed (pip install -r requirements-dev.txt)"
    try:
        from stubs import PyscriptEnv  # noqa: F401
    except ImportError as error:
        return f"the pyscript stand-ins (stubs/) cannot be imported: {error}"
    return None


def app_config_errors(params: PlantParams) -> list[str]:
    """The app's own validation of the configuration the replay gives it (empty: accepted). In
    sessions mode (params.sessions) the config has the energy_needed and departure keys."""
    from tools.app_controller import app_config, balancer_config
    _, errors = balancer_config().validate(app_config(params))
    return errors


def logged_errors(controller) -> list[str]:
    """ERROR lines the controller logged (the app through the stubs; the baselines log nothing)."""
    env = getattr(controller, "env", None)
    return env.errors("ERROR") if env is not None else []


def replay_trace(trace: Trace, params: PlantParams, controllers=ALL_CONTROLLERS,
                 progress: bool = True, errors: dict | None = None, history: History | None = None,
                 prices: PriceSpec | None = None) -> tuple[list[RunResult], list[Metrics]]:
    """Run each controller on the trace; metrics rows in the order given, then the oracle's.
    `errors`, if given, receives {controller: [its ERROR lines]} for those that logged any. With a
    `history` only the part after it is replayed, and the app gets it from the recorder. With
    `prices` the app is shown the price entity and the evcc-style plan plans on them."""
    start, end = replay_span(trace, history)
    series = prices.over(start, end) if prices is not None else None
    runs, rows = [], []
    for name in controllers:
        plant = Plant(trace, params, start, end, history)
        controller = make_controller(name) if series is None else make_controller(name, series)
        run = plant.run(controller, progress=f"{trace.name} {name}" if progress else None)
        runs.append(run)
        rows.append(evaluate(run))
        if errors is not None and (lines := logged_errors(controller)):
            errors[name] = lines
    if runs:
        rows.append(oracle_metrics(runs[0]))
    return runs, rows


def replay_costs(runs: list[RunResult], rows: list[Metrics], prices: PriceSpec,
                 price_per_kw: float = DEFAULT_PRICE_EUR_PER_KW_YEAR, bound_cap: str = "month"
                 ) -> tuple[list[CarCost], BoundResult | None]:
    """The car's costs of each controller's run (tools/energy_cost.py) and, in sessions mode, the
    prescient lower bound (tools/price_bound.py) as a last row named 'bound' (no capacity EUR: it
    never raises the peak), with its program's result."""
    if not runs:
        return [], None
    series = prices.over(runs[0].start, runs[0].end)
    increase = {m.controller: m.ev_increase_w for m in rows}
    costs = [car_cost(run, series, increase[run.controller], price_per_kw) for run in runs]
    if not runs[0].params.sessions:
        return costs, None
    bound = price_bound(runs[0], series, bound_cap)
    costs.append(CarCost("bound", bound.energy_eur, 0.0, sum(bound.car_kwh), 0.0))
    return costs, bound


def price_spec(args) -> PriceSpec | None:
    """--prices with its formula and export price (ValueError naming the file or option)."""
    if not args.prices:
        return None
    return PriceSpec.read(args.prices, args.price_formula, args.export_price)


def load_traces(args) -> list[Trace]:
    traces = [load_csv(path) for path in args.traces]
    if args.history_csv:
        traces.append(load_ha_history(args.history_csv, args.entity, args.unit,
                                      ev_entity=args.ev_entity, ev_unit=args.ev_unit))
    if args.recorder:
        from tools.recorder import load_trace
        traces.append(load_trace(args.recorder, args.entity, args.ev_entity))
    if not traces:
        traces.append(load_csv(SAMPLE))
        print(f"replay: no trace given: replaying the bundled sample {os.path.relpath(SAMPLE)}",
              file=sys.stderr)
    return solar(args, traces)


def solar(args, traces: list[Trace]) -> list[Trace]:
    """With --pv: each trace net of the production laid onto its days (tools/pv.py)."""
    if not getattr(args, "pv", None):
        return traces
    pv = load_pv(args.pv)
    return [with_pv(trace, pv) for trace in traces]


def load_sessions(args) -> list[Session] | None:
    """The --sessions file's sessions (ValueError naming the file and line); None otherwise."""
    if args.sessions in (None, GENERATED):
        return None
    from tools.sessions import load_csv as load_sessions_csv
    return load_sessions_csv(args.sessions)


def trace_sessions(args, params: PlantParams, trace: Trace, from_file: list[Session] | None,
                   history: History | None = None) -> list[Session]:
    """The sessions of this trace's replay (after its history, if any): generated over its plug
    windows (seeded; every need --session-kwh if given) or the file's sessions that overlap it
    (ValueError if none)."""
    from tools.sessions import SEED, generate
    start, end = replay_span(trace, history)
    if from_file is None:
        inside = generate(params, start, end, seed=SEED, fixed_kwh=args.session_kwh)
    else:
        inside = [s for s in from_file if s.departure > start and s.plug_in < end]
    if not inside:
        first, last = (_day(start), _day(end - 1))
        source = "the plug windows give" if from_file is None else f"{args.sessions} has"
        raise ValueError(f"--sessions {args.sessions}: {source} no session inside {trace.name}, "
                         f"which covers {first} to {last}")
    return inside


def with_sessions(params: PlantParams, sessions: list[Session]) -> PlantParams:
    return replace(params, sessions=tuple((s.plug_in, s.departure, s.need_kwh) for s in sessions),
                   session_kwh=math.inf)


def app_sessions_note(params: PlantParams) -> str | None:
    """Sessions mode: when the app does not take the energy_needed and departure keys (the session
    planner is not wired into it yet), what the user is told; None when it takes them."""
    extra = app_config_errors(replace(params, sessions=((0.0, 1.0, 0.0),)))
    if not extra:
        return None
    return (f"sessions mode gives the app energy_needed and departure, which it does not accept "
            f"yet ({extra[0]}): its rows will read CONFIG REJECTED (it commands nothing, the car "
            "charges as uncontrolled); the baselines run as usual")


def app_problems(params: PlantParams, controllers: list[str], sessions_mode: bool
                 ) -> tuple[list[str], str | None]:
    """Before a replay with the app: why it cannot run or refuses the configuration (one sentence
    each), and in sessions mode what the user is told about its session keys (None: nothing)."""
    if "app" not in controllers:
        return [], None
    why = app_available()
    if why:
        others = ",".join(c for c in (SESSION_CONTROLLERS if sessions_mode else ALL_CONTROLLERS)
                          if c != "app")
        return [f"the app cannot run: {why}; or leave it out: --controllers {others}"], None
    problems = [f"the app rejects this configuration: {e}" for e in app_config_errors(params)]
    if problems or not sessions_mode:
        return problems, None
    return [], app_sessions_note(params)


def load_history(args, trace: Trace, previous: Trace | None) -> History | None:
    """The recorder's history of this trace's replay: its first --history-days days, or the
    --history trace (`previous`, already read); None without either (ValueError: no history, or
    nothing left to replay)."""
    if args.history_days is not None:
        return history_from_days(trace, args.history_days)
    if previous is not None:
        return history_from_trace(previous, trace)
    return None


def prepare(args, params: PlantParams
            ) -> tuple[list[tuple[Trace, PlantParams, History | None]], list[str]]:
    """The traces to replay, each with its plant (in sessions mode: with its sessions) and its
    recorder history (None without one), or the problems with the input (one sentence each) that
    stop the replay before it starts."""
    try:
        traces = load_traces(args)
        from_file = load_sessions(args)
        previous = solar(args, [load_csv(args.history)])[0] if args.history else None
    except ValueError as error:
        return [], [str(error)]
    jobs, problems = [], []
    for trace in traces:
        try:
            history = load_history(args, trace, previous)
            start, end = replay_span(trace, history)
            first, last = _day(start), _day(end - 1)
            trace_params = params
            if args.sessions:
                trace_params = with_sessions(params, trace_sessions(args, params, trace, from_file,
                                                                    history))
        except ValueError as error:
            problems.append(str(error))
            continue
        if args.day not in (None, "worst") and not first <= args.day <= last:
            replayed = "whose replay after the history covers" if history else "which covers"
            problems.append(f"--day {args.day} is outside {trace.name}, {replayed} {first} to {last}")
        jobs.append((trace, trace_params, history))
    return jobs, problems


def _day(t: float) -> str:
    """The local day (YYYY-MM-DD) of epoch t."""
    return datetime.fromtimestamp(t, TZ).date().isoformat()
