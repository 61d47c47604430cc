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

from tools.controllers import ALL_CONTROLLERS, SESSION_CONTROLLERS, make_controller
from tools.metrics import Metrics, evaluate, oracle_metrics
from tools.plant import Plant, PlantParams, RunResult, trace_days, whole_quarters
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
    modules = os.path.join(REPO, "pyscript", "modules")
    if modules not in sys.path:
        sys.path.insert(0, modules)
    import stubs  # noqa: F401  (installs the pyscript-way loader for pyscript/modules)
    import balancer_config
    from tools.app_controller import app_config
    _, errors = balancer_config.validate(app_config(params))
    return errors


def logged_errors(controller) -> list[str]:
    """ERROR lines the controller logged (the app through the stubs; the baselines log nothing)."""
    env = getattr(controller, "env", None)
    return env.errors("ERROR") if env is not None else []


def replay_trace(trace: Trace, params: PlantParams, controllers=ALL_CONTROLLERS,
                 progress: bool = True, errors: dict | None = None
                 ) -> tuple[list[RunResult], list[Metrics]]:
    """Run each controller on the trace; metrics rows in the order given, then the oracle's.
    `errors`, if given, receives {controller: [its ERROR lines]} for those that logged any."""
    start, end = whole_quarters(trace)
    runs, rows = [], []
    for name in controllers:
        plant = Plant(trace, params, start, end)
        controller = make_controller(name)
        run = plant.run(controller, progress=f"{trace.name} {name}" if progress else None)
        runs.append(run)
        rows.append(evaluate(run))
        if errors is not None and (lines := logged_errors(controller)):
            errors[name] = lines
    if runs:
        rows.append(oracle_metrics(runs[0]))
    return runs, rows


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
    return traces


def load_sessions(args) -> list[Session] | None:
    """The --sessions file's sessions (ValueError naming the file and line); None otherwise."""
    if args.sessions in (None, GENERATED):
        return None
    from tools.sessions import load_csv as load_sessions_csv
    return load_sessions_csv(args.sessions)


def trace_sessions(args, params: PlantParams, trace: Trace, from_file: list[Session] | None
                   ) -> list[Session]:
    """The sessions of this trace's replay: generated over its plug windows (seeded; every need
    --session-kwh if given) or the file's sessions that overlap it (ValueError if none)."""
    from tools.sessions import SEED, generate
    start, end = whole_quarters(trace)
    if from_file is None:
        inside = generate(params, start, end, seed=SEED, fixed_kwh=args.session_kwh)
    else:
        inside = [s for s in from_file if s.departure > start and s.plug_in < end]
    if not inside:
        first, last = trace_days(trace)
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


def prepare(args, params: PlantParams) -> tuple[list[tuple[Trace, PlantParams]], list[str]]:
    """The traces to replay, each with its plant (in sessions mode: with its sessions), or the
    problems with the input (one sentence each) that stop the replay before it starts."""
    try:
        traces = load_traces(args)
        from_file = load_sessions(args)
    except ValueError as error:
        return [], [str(error)]
    jobs, problems = [], []
    for trace in traces:
        try:
            first, last = trace_days(trace)
            trace_params = params
            if args.sessions:
                trace_params = with_sessions(params, trace_sessions(args, params, trace, from_file))
        except ValueError as error:
            problems.append(str(error))
            continue
        if args.day not in (None, "worst") and not first <= args.day <= last:
            problems.append(f"--day {args.day} is outside {trace.name}, which covers {first} to {last}")
        jobs.append((trace, trace_params))
    return jobs, problems
