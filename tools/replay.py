#!/usr/bin/env python3
"""Replay household load traces through the real wallbox_balancer app and the baselines.

    python tools/replay.py                      # the bundled sample week, all controllers + oracle
    python tools/replay.py ../shared/traces/H5_5p_2025-01.csv --day 2025-01-18
    python tools/replay.py --history-csv history.csv --entity sensor.p1_power --unit kW
    python tools/replay.py TRACE --phases 3 --max-current 16      # 3 x 230 V, 6-16 A
    python tools/replay.py TRACE --meter-period 30                # DSMR's default 30 s throttle
    python tools/replay.py --history-csv history.csv --entity sensor.p1_power \\
        --ev-entity sensor.wallbox_charging_power --plug "mon-fri 19:00-07:00"    # and your car
    python tools/replay.py TRACE --sessions generated     # sessions: a need and a departure each
    python tools/replay.py TRACE --sessions sessions.csv  # plug_in,departure,need_kwh

Prints per trace a compact table, a legend and one verdict line per controller (--wide: every
metric), writes a PNG of one day and one of the month per trace into out/ (paths printed), shows a
progress bar on stderr. With --sessions (issue 10) each plug-in is a session with an energy need
and a departure, the 22:00 timer joins the baselines, and a session table follows (met by
departure, what the oracle could meet, kWh short). Exit status: 0 = done; 1 = a controller logged
an ERROR (its row says so); 2 = bad arguments or input, nothing replayed. See tools/README_SIMULATOR.md for the plant model and
the metrics.
"""
from __future__ import annotations

import argparse
import importlib.util
import math
import os
import re
import sys
import zlib
from dataclasses import replace
from datetime import date, datetime

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from tools.controllers import ALL_CONTROLLERS, SESSION_CONTROLLERS, make_controller  # noqa: E402
from tools.metrics import QUARTER, Metrics, evaluate, oracle_metrics, quarters_of  # noqa: E402
from tools.money import DEFAULT_PRICE_EUR_PER_KW_YEAR, peak_increase_cost  # noqa: E402
from tools.plant import TZ, Plant, PlantParams, RunResult, trace_days, whole_quarters  # noqa: E402
from tools.sessions import Session  # noqa: E402
from tools.traces import SAMPLE, Trace, load_csv, load_ha_history  # noqa: E402

GENERATED = "generated"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# plant option: (PlantParams field, lowest, highest, unit)
PLANT_RANGES = {
    "min_current": ("min_current", 1, 80, "A"),
    "max_current": ("max_current", 1, 80, "A"),
    "voltage": ("voltage", 100, 260, "V"),
    "meter_period": ("meter_period", 1, 900, "s"),
    "meter_delay": ("meter_delay", 0, 600, "s"),
    "charger_delay": ("charger_delay", 0, 3600, "s"),
    "write_interval": ("write_interval", 0, 3600, "s"),
    "target_peak": ("target_peak", 1000, 50000, "W"),
    "car_max_kw": ("car_max_w", 0.5, 100, "kW"),
    "session_kwh": ("session_kwh", 0.5, 200, "kWh"),
}


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


# ---- the tables ----------------------------------------------------------------------------------

def _local(t: float) -> str:
    return datetime.fromtimestamp(t, TZ).strftime("%a %Y-%m-%d %H:%M")


def problem_label(run: RunResult | None, lines: list[str]) -> str:
    """One line for a controller that logged ERRORs: 'CONFIG REJECTED: <first error>' when the app
    refused its configuration (it then commands nothing), 'APP ERROR: ...' otherwise."""
    first = _one_line(lines[0])
    more = f" (+{len(lines) - 1} more ERROR lines)" if len(lines) > 1 else ""
    commanded = run is not None and any(w[3] in ("ok", "429") for w in run.writes)
    crashed = lines[0].startswith("Exception in")
    return f"{'APP ERROR' if commanded or crashed else 'CONFIG REJECTED'}: {first}{more}"


def _one_line(text: str) -> str:
    """A multi-line log record (a traceback) as its first and last lines."""
    parts = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return parts[0] if len(parts) == 1 else f"{parts[0]} … {parts[-1]}"


def format_table(rows: list[Metrics], title: str | None = None, failed: dict | None = None,
                 price: float = DEFAULT_PRICE_EUR_PER_KW_YEAR) -> str:
    """Every metric, one row per controller (`--wide`, the benchmark's tables). `failed` maps a
    controller to the text shown instead of its figures."""
    failed = failed or {}
    head = ("| controller | peak house alone kW | peak with EV kW | EV-caused peak increase W "
            "| € over 12 months | own-fault excess, worst W | exposure worst W | exposure sum W "
            "| EV kWh | vs oracle | cloud writes/h | writes per plugged h | writes without car "
            "| writes car full | 429s | pauses/day | replay s |")

    def row(m: Metrics) -> str:
        return (f"| {m.controller} | {m.peak_house_w / 1000:.2f} | {m.peak_ev_w / 1000:.2f} "
                f"| {m.ev_increase_w:+.0f} | {peak_increase_cost(m.ev_increase_w, price):.2f} "
                f"| {m.own_fault_w:.0f} | {m.exposure_max_w:.0f} "
                f"| {m.exposure_sum_w:.0f} | {m.ev_kwh:.1f} | {_ratio(m, 1)} "
                + ("| – | – | – | – | – | – | – |" if m.controller == "oracle" else
                   f"| {m.writes_per_h:.1f} | {m.writes_per_plugged_h:.1f} | {m.writes_no_car} "
                   f"| {m.writes_full} | {m.rejected_429} | {m.pauses_per_day:.1f} "
                   f"| {m.wall_s:.1f} |"))

    lines = _table(head, rows, title, failed, row)
    worst = [f"{m.controller} {_local(m.own_fault_at)} (+{m.own_fault_w:.0f} W)" for m in rows
             if m.own_fault_at is not None and m.controller != "oracle"
             and m.controller not in failed]
    if worst:
        lines += ["", "Worst own-fault quarter: " + "; ".join(worst) + "."]
    return "\n".join(lines)


def _ratio(m: Metrics, digits: int = 0) -> str:
    return "–" if m.oracle_kwh <= 0 else f"{m.oracle_ratio * 100:.{digits}f} %"


def _table(head: str, rows: list[Metrics], title, failed: dict, row, width: int = 200) -> list[str]:
    """Title, header and one row per controller; a failed controller's row is its problem."""
    lines = [f"**{title}**", ""] if title else []
    lines += [head, "|" + "---|" * (head.count("|") - 1)]
    for m in rows:
        lines.append(f"| {m.controller} | **{_clip(failed[m.controller], width)}** |"
                     if m.controller in failed else row(m))
    return lines


def format_compact(rows: list[Metrics], title: str | None = None, failed: dict | None = None,
                   price: float = DEFAULT_PRICE_EUR_PER_KW_YEAR, target: float | None = None
                   ) -> str:
    """The default output: a table of at most 100 characters, a legend, one verdict per
    controller."""
    failed = failed or {}
    head = ("| controller | peak kW | car +W | € | own fault W | car kWh | vs best | writes/h "
            "| 429s | pauses/d |")

    def row(m: Metrics) -> str:
        tail = ("| – | – | – |" if m.controller == "oracle" else
                f"| {m.writes_per_plugged_h:.1f} | {m.rejected_429} | {m.pauses_per_day:.1f} |")
        return (f"| {m.controller} | {m.peak_ev_w / 1000:.2f} | {max(m.ev_increase_w, 0):+.0f} "
                f"| {peak_increase_cost(m.ev_increase_w, price):.2f} | {m.own_fault_w:.0f} "
                f"| {m.ev_kwh:.0f} | {_ratio(m)} " + tail)

    lines = _table(head, rows, title, failed, row, 80)
    lines += ["", legend(price), ""]
    lines += [verdict(m, failed.get(m.controller), price, target) for m in rows]
    return "\n".join(lines)


def legend(price: float) -> str:
    return ("Legend: peak = the month's billed quarter-hour peak with the car; car +W = how far "
            "the car raised it above max(target, the house alone); € = what that costs over the 12 "
            f"months it stays billed (€{price:.2f}/kW/year, excl. VAT); own fault = worst quarter "
            "the car pushed over the limit; vs best = energy / the oracle's (the most possible); "
            "writes/h = cloud writes per hour with the car plugged in; 429s = rejected writes.")


BILLED_MINIMUM_W = 2500.0   # Fluvius bills every month at least 2.5 kW


def verdict(m: Metrics, failure: str | None = None, price: float = DEFAULT_PRICE_EUR_PER_KW_YEAR,
            target: float | None = None) -> str:
    """One line: 'app: billed peak 6.57 → 6.96 kW (+386 W, €1.77 over 12 months); 1750 kWh for the
    car (101 % of what was possible); 0 rejected writes'."""
    if failure:
        return f"{m.controller}: {failure}"
    increase = max(m.ev_increase_w, 0.0)
    before = max(m.peak_house_w, BILLED_MINIMUM_W) / 1000
    after = max(m.peak_ev_w, BILLED_MINIMUM_W) / 1000
    cost = f"€{peak_increase_cost(increase, price):.2f}"
    if increase == 0 and target is not None and m.peak_ev_w > m.peak_house_w:
        change = f"within the {target / 1000:.2f} kW target: +0 W above it, {cost}"
    else:
        change = f"+{increase:.0f} W, {cost} over 12 months"
    text = (f"{m.controller}: billed peak {before:.2f} → {after:.2f} kW ({change}); "
            f"{m.ev_kwh:.0f} kWh for the car")
    if m.oracle_kwh > 0:
        text += f" ({m.oracle_ratio * 100:.0f} % of what was possible)"
    if m.controller != "oracle":
        text += f"; {m.rejected_429} rejected writes"
    return text


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[:n - 1] + "…"


# ---- the plots ---------------------------------------------------------------------------------

def choose_day(run: RunResult) -> str:
    """The local day of the highest house-alone quarter while the car was plugged in (the hardest
    moment for a controller); the house's peak day when the car never was."""
    q = quarters_of(run)
    house = q.house_w
    ks = [k for k in range(len(house)) if q.plugged_s[k] > 0] or list(range(len(house)))
    k = max(ks, key=lambda i: house[i])
    return datetime.fromtimestamp((q.q0 + k) * QUARTER, TZ).date().isoformat()


def plant_tag(p: PlantParams) -> str:
    """The plant in a file name: phases, current range, meter period, target, and any other
    setting that differs from the reference plant."""
    ref = PlantParams()
    tag = f"{p.phases}p{p.min_current}-{p.max_current}A_m{p.meter_period:g}s_t{p.target_peak:g}W"
    for field_name, short in (("voltage", "V"), ("meter_delay", "md"), ("charger_delay", "cd"),
                              ("write_interval", "wi")):
        value = getattr(p, field_name)
        if value != getattr(ref, field_name):
            tag += f"_{short}{value:g}"
    if p.car_max_w != ref.car_max_w:
        tag += f"_car{p.car_max_w / 1000:g}kW"
    if not math.isinf(getattr(p, "session_kwh", math.inf)):
        tag += f"_session{p.session_kwh:g}kWh"
    if p.meter_gaps:
        tag += "_gaps"
    if p.sessions:
        tag += f"_sessions{len(p.sessions)}-{zlib.crc32(repr(tuple(p.sessions)).encode()):08x}"
    elif p.plug_windows != ref.plug_windows:
        tag += "_plug" + "+".join(f"{_days_text(d)}{a}-{b}" for d, a, b in p.plug_windows)
    return re.sub(r"[^A-Za-z0-9_.+-]", "", tag.replace(":", ""))


def plant_text(p: PlantParams) -> str:
    car = "unlimited" if math.isinf(p.car_max_w) else f"{p.car_max_w / 1000:g} kW"
    session = getattr(p, "session_kwh", math.inf)
    if not math.isinf(session):
        car += f", {session:g} kWh per session"
    plug = ", ".join(f"{_days_text(d)} {a}-{b}" for d, a, b in p.plug_windows)
    if p.sessions:
        needs = [n for _, _, n in p.sessions]
        plug = (f"{len(needs)} sessions (plug-in to departure, each full after its need, "
                f"{min(needs):g}-{max(needs):g} kWh)")
    return (f"{p.phases} x {p.voltage:.0f} V, {p.min_current}-{p.max_current} A, "
            f"meter every {p.meter_period:g} s (+{p.meter_delay:g} s delay), charger responds in "
            f"{p.charger_delay:g} s, cloud {p.write_interval:g} s between writes (429 beyond), "
            f"charger power polled every {p.charger_poll:g} s, target peak {p.target_peak:.0f} W, "
            f"car accepts {car}, plugged in {plug}")


def plot_path(out: str, trace: Trace, day: str, params: PlantParams, kind: str = "day") -> str:
    """out/<trace>_<day or month>_<plant>.png: each trace, day and plant gets its own file."""
    return os.path.join(out, f"{trace.name}_{day}_{plant_tag(params)}.png")


def write_plots(args, trace, runs, rows, params) -> None:
    from tools.plot import plot_day, plot_month
    day = args.day
    if day == "worst":
        at = rows[0].own_fault_at
        day = datetime.fromtimestamp(at, TZ).date().isoformat() if at is not None else None
    day = day or choose_day(runs[0])
    shown = [r for r in runs if r.controller in ("app", "original")] or runs[:2]
    os.makedirs(args.out, exist_ok=True)
    month = day[:7]
    for path, draw in ((plot_path(args.out, trace, day, params),
                        lambda path: plot_day(shown, day, path, subtitle=plant_text(params))),
                       (plot_path(args.out, trace, f"month{month}", params),
                        lambda path: plot_month(runs, month, path, subtitle=plant_text(params)))):
        draw(path)
        shown_path = os.path.relpath(path)
        print(f"Plot: {path if shown_path.startswith('..') else shown_path}")


# ---- arguments ---------------------------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    def error(self, message):           # one line, exit 2 (argparse prints usage + error)
        self.exit(2, f"replay: {message} (python tools/replay.py --help lists the options)\n")


def _days_text(days) -> str:
    days = tuple(days)
    if days == tuple(range(7)):
        return "daily"
    if len(days) > 2 and days == tuple(range(days[0], days[-1] + 1)):
        return f"{WEEKDAYS[days[0]]}-{WEEKDAYS[days[-1]]}"
    return ",".join(WEEKDAYS[d] for d in days)


def parse_plug(spec: str) -> tuple:
    """'mon-fri 18:00-07:30' -> ((0, 1, 2, 3, 4), '18:00', '07:30'). Days: mon..sun, ranges a-b,
    lists a,b, or 'daily'; an end at or before the start is the next day."""
    m = re.fullmatch(r"\s*([a-z,\-]+)\s+(\d{1,2}:\d{2})\s*-\s*(\d{1,2}:\d{2})\s*", spec.lower())
    if not m:
        raise ValueError(f"--plug {spec!r}: expected DAYS HH:MM-HH:MM, e.g. 'mon-fri 18:00-07:30'")
    days: list[int] = []
    for part in m.group(1).split(","):
        if part == "daily":
            days += range(7)
            continue
        ends = part.split("-")
        if len(ends) > 2 or any(e not in WEEKDAYS for e in ends):
            raise ValueError(f"--plug {spec!r}: unknown day {part!r} (use mon tue wed thu fri sat "
                             "sun, a range mon-fri, or daily)")
        a, b = WEEKDAYS.index(ends[0]), WEEKDAYS.index(ends[-1])
        days += range(a, b + 1) if a <= b else list(range(a, 7)) + list(range(0, b + 1))
    times = []
    for hhmm in (m.group(2), m.group(3)):
        h, mi = (int(x) for x in hhmm.split(":"))
        if h > 23 or mi > 59:
            raise ValueError(f"--plug {spec!r}: {hhmm} is not a time of day")
        times.append(f"{h:02d}:{mi:02d}")
    return (tuple(sorted(set(days))), times[0], times[1])


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
    if args.session_kwh is not None:
        changes["session_kwh"] = args.session_kwh
    if args.gaps == "unavailable":
        changes["meter_gaps"] = True
    if args.phases == 3 and args.max_current is None:
        changes["max_current"] = 16
    if args.plug:
        changes["plug_windows"] = tuple(parse_plug(spec) for spec in args.plug)
    return replace(p, **changes)


def check_args(args) -> list[str]:
    """Every problem with the arguments, one sentence each (empty: fine)."""
    problems = []
    for option, (field_name, low, high, unit) in PLANT_RANGES.items():
        value = getattr(args, option)
        if value is None:
            continue
        if field_name not in PlantParams.__dataclass_fields__:
            problems.append(f"--{option.replace('_', '-')} needs a plant model with "
                            f"PlantParams.{field_name} (tools/plant.py)")
            continue
        if not math.isfinite(value) or not low <= value <= high:
            hint = " (the unit is W: 4 kW is 4000)" if option == "target_peak" and value < low else ""
            problems.append(f"--{option.replace('_', '-')} must be between {low:g} and {high:g} "
                            f"{unit}, got {value:g}{hint}")
    if (args.min_current is not None and args.max_current is not None
            and 0 < args.max_current < args.min_current):
        problems.append(f"--min-current {args.min_current} is above --max-current {args.max_current}")
    if args.price_per_kw is not None and not (math.isfinite(args.price_per_kw)
                                              and 0 <= args.price_per_kw <= 1000):
        problems.append(f"--price-per-kw must be between 0 and 1000 €/kW/year, got {args.price_per_kw:g}")
    if args.day not in (None, "worst"):
        try:
            date.fromisoformat(args.day)
            if len(args.day) != 10:
                raise ValueError
        except ValueError:
            problems.append(f"--day {args.day!r} is not a day: give YYYY-MM-DD or 'worst'")
    for option in ("entity", "ev_entity", "unit", "ev_unit"):
        if getattr(args, option) is not None and not args.history_csv:
            problems.append(f"--{option.replace('_', '-')} applies to --history-csv only")
    for spec in args.plug or ():
        try:
            parse_plug(spec)
        except ValueError as error:
            problems.append(str(error))
    choices = SESSION_CONTROLLERS if args.sessions else ALL_CONTROLLERS
    names = controller_names(args)
    for c in names:
        if c == "timer" and not args.sessions:
            problems.append("the timer baseline charges by the clock, not by a session's need: it "
                            "needs --sessions (generated or a file)")
        elif c not in choices:
            problems.append(f"unknown controller {c!r} in --controllers (choose from "
                            f"{', '.join(choices)})")
    if not names:
        problems.append("--controllers is empty (choose from " + ", ".join(choices) + ")")
    if args.sessions not in (None, GENERATED):
        if args.session_kwh is not None:
            problems.append("--session-kwh gives every generated session the same need: with "
                            f"--sessions {args.sessions} the file gives each session its need")
        if args.plug:
            problems.append(f"--plug sets the plug windows: with --sessions {args.sessions} the "
                            "file says when the car is plugged in")
    return problems


def controller_names(args) -> list[str]:
    """--controllers, or the default: every controller (the timer too in sessions mode)."""
    if args.controllers is None:
        return list(SESSION_CONTROLLERS if args.sessions else ALL_CONTROLLERS)
    return [c.strip() for c in args.controllers.split(",") if c.strip()]


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


def app_sessions_note(params: PlantParams) -> str | None:
    """Sessions mode: when the app does not take the energy_needed and departure keys (the session
    planner is not wired into it yet), what the user is told; None when it takes them."""
    extra = app_config_errors(replace(params, sessions=((0.0, 1.0, 0.0),)))
    if not extra:
        return None
    return (f"sessions mode gives the app energy_needed and departure, which it does not accept "
            f"yet ({extra[0]}): its rows will read CONFIG REJECTED (it commands nothing, the car "
            "charges as uncontrolled); the baselines run as usual")


def format_sessions(runs: list[RunResult], rows: list[Metrics], params: PlantParams,
                    failed: dict) -> str:
    """The session table and one verdict per controller (the oracle last)."""
    from tools.session_metrics import format_table as session_table
    from tools.session_metrics import oracle_session_metrics, session_metrics
    from tools.session_metrics import verdict as session_verdict
    sessions = [Session(a, b, n) for a, b, n in params.sessions]
    table = [session_metrics(run, sessions) for run in runs]
    oracle = next((m for m in rows if m.controller == "oracle"), None)
    if runs and oracle is not None:
        table.append(oracle_session_metrics(runs[0], sessions, oracle))
    lines = [session_table(table, failed), "",
             "Sessions: met by departure = the need delivered by then (within 0.05 kWh); oracle "
             "could meet = inside the limit (max(target, the house-alone month peak so far)) from "
             "plug-in to departure; kWh short = what was missing at departures; car +W = the "
             "billed peak increase the car caused.", ""]
    lines += [session_verdict(m, failed.get(m.controller)) for m in table]
    return "\n".join(lines)


def with_sessions(params: PlantParams, sessions: list[Session]) -> PlantParams:
    return replace(params, sessions=tuple((s.plug_in, s.departure, s.need_kwh) for s in sessions),
                   session_kwh=math.inf)


def sessions_text(args) -> str:
    from tools.sessions import OVERNIGHT_H, OVERNIGHT_KWH, SEED, SHORT_KWH
    if args.sessions != GENERATED:
        return f"Sessions: from {args.sessions} (plug_in, departure, need_kwh)."
    windows = ", ".join(f"{_days_text(d)} {a}-{b}" for d, a, b in params_from_args(args).plug_windows)
    if args.session_kwh is not None:
        need = f"every session needs {args.session_kwh:g} kWh"
    else:
        need = (f"need uniform {OVERNIGHT_KWH[0]:g}-{OVERNIGHT_KWH[1]:g} kWh when plugged in "
                f"{OVERNIGHT_H:g} h or more, else {SHORT_KWH[0]:g}-{SHORT_KWH[1]:g} kWh, seed {SEED}")
    return f"Sessions: generated, one per plug-in of {windows}, departure at its end; {need}."


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(description=__doc__.split("\n\n")[0],
                 formatter_class=argparse.RawDescriptionHelpFormatter,
                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("traces", nargs="*", help="trace CSVs (timestamp,power_w); default: the sample")
    ap.add_argument("--history-csv", help="a Home Assistant history export (entity_id,state,last_changed)")
    ap.add_argument("--entity", help="the grid meter's entity in the history export (needed if it "
                    "holds several)")
    ap.add_argument("--unit", choices=("W", "kW"), help="unit of the grid meter's values in the "
                    "history export (default: auto, all values < 50 -> kW)")
    ap.add_argument("--ev-entity", help="the charger's power sensor in the same history export: "
                    "subtracted from the grid, so your own car is not counted as house load")
    ap.add_argument("--ev-unit", choices=("W", "kW"), help="unit of --ev-entity (default: auto)")
    ap.add_argument("--gaps", choices=("hold", "unavailable"), default="hold",
                    help="history export unavailable/unknown rows: the load always holds its last "
                    "value; 'unavailable' also shows the controllers an unavailable meter then")
    ap.add_argument("--controllers",
                    help="comma-separated, from app,original,uncontrolled, and timer (the 22:00 "
                    "timer) with --sessions (default: all)")
    ap.add_argument("--day", help="local day to plot, YYYY-MM-DD inside the trace, or 'worst': the "
                    "day of the first controller's worst own-fault quarter (default: the day of the "
                    "highest house-alone quarter with the car plugged in)")
    ap.add_argument("--out", default=os.path.join(REPO, "out"), help="directory for the plots")
    ap.add_argument("--no-plot", action="store_true", help="no PNGs (the table only)")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    ap.add_argument("--wide", action="store_true", help="the full table: every metric")
    ap.add_argument("--price-per-kw", type=float, help="capacity tariff, € per kW per year excl. "
                    f"VAT (default {DEFAULT_PRICE_EUR_PER_KW_YEAR:.2f}; Fluvius 2026: 49.05 "
                    "Limburg to 57.10 West)")
    g = ap.add_argument_group("plant (defaults: the reference plant, see tools/plant.py)")
    g.add_argument("--phases", type=int, choices=(1, 3), help="1 or 3 (default 1)")
    g.add_argument("--max-current", type=int, help="A (default 32; 16 with --phases 3)")
    g.add_argument("--min-current", type=int, help="A (default 6)")
    g.add_argument("--voltage", type=float, help="V per phase (default 230)")
    g.add_argument("--meter-period", type=float, help="s between grid sensor updates, 1-900 (default 5)")
    g.add_argument("--meter-delay", type=float, help="s the grid reading lags (default 2)")
    g.add_argument("--charger-delay", type=float, help="s from accepted write to effect (default 20)")
    g.add_argument("--write-interval", type=float, help="s the cloud wants between writes (default 60)")
    g.add_argument("--car-max-kw", type=float, help="the car's own acceptance (default: unlimited)")
    g.add_argument("--session-kwh", type=float, help="kWh the car takes per plug-in session, then "
                   "it is full until unplugged (default: it always wants more)")
    g.add_argument("--target-peak", type=float, help="W (default 4000)")
    g.add_argument("--sessions", metavar="generated|FILE",
                   help="sessions mode: each plug-in has an energy need and a departure, the car is "
                   "full once the need is delivered; 'generated': one session per plug window, the "
                   "need drawn (seeded) by its length; FILE: a CSV plug_in,departure,need_kwh. Adds "
                   "the 22:00 timer baseline and the session table")
    g.add_argument("--plug", action="append", metavar="'DAYS HH:MM-HH:MM'",
                   help="when the car is plugged in, repeatable, e.g. --plug 'mon-fri 18:00-07:30' "
                   "--plug 'sat,sun 12:00-18:00' (default: those two); days mon..sun, a-b, daily")
    return ap


def parse_args(argv=None):
    return build_parser().parse_args(argv)


def _fail(problems) -> int:
    for problem in problems:
        print(f"replay: {problem}", file=sys.stderr)
    return 2


def load_traces(args) -> list[Trace]:
    traces = [load_csv(path) for path in args.traces]
    if args.history_csv:
        traces.append(load_ha_history(args.history_csv, args.entity, args.unit,
                                      ev_entity=args.ev_entity, ev_unit=args.ev_unit))
    if not traces:
        traces.append(load_csv(SAMPLE))
        print(f"replay: no trace given: replaying the bundled sample {os.path.relpath(SAMPLE)}",
              file=sys.stderr)
    return traces


def main(argv=None) -> int:
    args = parse_args(argv)
    problems = check_args(args)
    if problems:
        return _fail(problems)
    params = params_from_args(args)
    if args.sessions:
        params = replace(params, session_kwh=math.inf)   # the sessions give the needs
    price = DEFAULT_PRICE_EUR_PER_KW_YEAR if args.price_per_kw is None else args.price_per_kw
    controllers = controller_names(args)
    sessions_note = None
    if "app" in controllers:
        why = app_available()
        if why:
            others = ",".join(c for c in (SESSION_CONTROLLERS if args.sessions else ALL_CONTROLLERS)
                              if c != "app")
            return _fail([f"the app cannot run: {why}; or leave it out: --controllers {others}"])
        problems = [f"the app rejects this configuration: {e}" for e in app_config_errors(params)]
        if problems:
            return _fail(problems)
        if args.sessions:
            sessions_note = app_sessions_note(params)
    try:
        traces = load_traces(args)
        from_file = load_sessions(args)
    except ValueError as error:
        return _fail([str(error)])
    trace_params = [params] * len(traces)
    for i, trace in enumerate(traces):
        try:
            first, last = trace_days(trace)
            if args.sessions:
                trace_params[i] = with_sessions(
                    params, trace_sessions(args, params, trace, from_file))
        except ValueError as error:
            problems.append(str(error))
            continue
        if args.day not in (None, "worst") and not first <= args.day <= last:
            problems.append(f"--day {args.day} is outside {trace.name}, which covers {first} to {last}")
    if problems:
        return _fail(problems)
    plot = not args.no_plot
    if plot and importlib.util.find_spec("matplotlib") is None:
        print("replay: matplotlib is not installed: no plots (pip install -r requirements-dev.txt)",
              file=sys.stderr)
        plot = False
    for trace in traces:
        for note in trace.notes:
            print(f"replay: {note}", file=sys.stderr)
    print(f"Plant: {plant_text(params)}.")
    if args.sessions:
        print(sessions_text(args))
    print()
    if sessions_note:
        print(f"replay: {sessions_note}", file=sys.stderr)
    status = 0
    for trace, trace_p in zip(traces, trace_params):
        errors: dict = {}
        runs, rows = replay_trace(trace, trace_p, controllers, progress=not args.no_progress,
                                  errors=errors)
        failed = {name: problem_label(next(r for r in runs if r.controller == name), lines)
                  for name, lines in errors.items()}
        days = (runs[0].end - runs[0].start) / 86400
        title = f"{trace.name} ({days:.1f} days)"
        if args.wide:
            print(format_table(rows, title, failed, price))
        else:
            print(format_compact(rows, title, failed, price, params.target_peak))
        print()
        if args.sessions:
            print(format_sessions(runs, rows, trace_p, failed))
            print()
        for run in runs:
            if run.notes:
                print(f"replay: {run.controller} logged {len(run.notes)} warning(s)/error(s); "
                      f"first: {run.notes[0]}", file=sys.stderr)
        if failed:
            status = 1
        if plot:
            write_plots(args, trace, runs, rows, trace_p)
    return status


if __name__ == "__main__":
    sys.exit(main())
