"""Replay household load traces through the real wallbox_balancer app and the baselines.

    python tools/replay.py                      # the bundled sample week, all controllers + oracle
    python tools/replay.py ../shared/traces/H5_5p_2025-01.csv --day 2025-01-18
    python tools/replay.py --history-csv history.csv --entity sensor.p1_power --unit kW
    python tools/replay.py --recorder ha-copy.db --entity sensor.p1_power   # Home Assistant's database
    python tools/replay.py --recorder ha-copy.db --entity sensor.p1_power \
        --ev-entity sensor.wallbox_charging_power --year     # the household's year, by month
    python tools/replay.py TRACE --phases 3 --max-current 16      # 3 x 230 V, 6-16 A
    python tools/replay.py TRACE --meter-period 30                # DSMR's default 30 s throttle
    python tools/replay.py --history-csv history.csv --entity sensor.p1_power \\
        --ev-entity sensor.wallbox_charging_power --plug "mon-fri 19:00-07:00"    # and your car
    python tools/replay.py TRACE --sessions generated     # sessions: a need and a departure each
    python tools/replay.py TRACE --sessions sessions.csv  # plug_in,departure,need_kwh
    python tools/replay.py TRACE --history-days 10        # days 1-10 are the recorder's history
    python tools/replay.py TRACE --history LAST_MONTH.csv # a previous month as the history
    python tools/replay.py TRACE --sessions generated --prices ../shared/prices/BE_2025-01.csv \
        [--pv ../shared/pv/energyid-BE-pv_2024-01.csv]   # what the car's energy costs (issue 16)

Prints per trace a compact table, a legend and one verdict line per controller (--wide: every
metric), writes a PNG of one day and one of the month per trace into out/ (paths printed), shows a
progress bar on stderr. With --sessions (issue 10) each plug-in is a session with an energy need
and a departure, the 22:00 timer joins the baselines, and a session table follows (met by
departure, what the oracle could meet, kWh short). With --history-days or --history the app
starts with Home Assistant's recorder statistics of the grid sensor (the house alone before the
install) and only the days after the install are replayed and scored. With --prices a cost
table follows: per controller the car's energy EUR, the capacity EUR and their sum, and in
sessions mode the prescient lower bound, today's safest plan and an evcc-style plan. Exit status: 0 = done; 1 = a controller logged
an ERROR (its row says so); 2 = bad arguments or input, nothing replayed. See tools/README_SIMULATOR.md for the plant model and
the metrics.
"""
from __future__ import annotations

import argparse
import math
import os
import re
from dataclasses import replace
from datetime import date

from tools.controllers import ALL_CONTROLLERS, PRICE_CONTROLLERS, SESSION_CONTROLLERS, SOLAR
from tools.history import MAX_HISTORY_DAYS
from tools.money import DEFAULT_PRICE_EUR_PER_KW_YEAR
from tools.plant import CHARGER_REPORTS, PlantParams
from tools.price_bound import BOUND_CAPS

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
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
    "margin": ("margin", 0, 2000, "W"),
    "car_max_kw": ("car_max_w", 0.5, 100, "kW"),
    "session_kwh": ("session_kwh", 0.5, 200, "kWh"),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message):           # one line, exit 2 (argparse prints usage + error)
        self.exit(2, f"replay: {message} (python tools/replay.py --help lists the options)\n")


def build_parser() -> argparse.ArgumentParser:
    """Every option of tools/replay.py, declared here and nowhere else (checked by check_args,
    turned into the plant by params_from_args)."""
    ap = _Parser(description=__doc__.split("\n\n")[0],
                 formatter_class=argparse.RawDescriptionHelpFormatter,
                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("traces", nargs="*", help="trace CSVs (timestamp,power_w); default: the sample")
    ap.add_argument("--history-csv", help="a Home Assistant history export (entity_id,state,last_changed)")
    ap.add_argument("--recorder", metavar="DB", help="a copy of Home Assistant's database "
                    "(home-assistant_v2.db) or a SQLAlchemy URL (mysql://..., postgresql://...): "
                    "replay the states of --entity, read-only")
    ap.add_argument("--year", action="store_true", help="with --recorder: per month, the billed "
                    "peak the statistics tell (5-minute: exact; hourly: a range), with and without "
                    "the car (--ev-entity), and its cost; a plot of the months")
    ap.add_argument("--entity", help="the grid meter's entity in the history export (needed if it "
                    "holds several) or in the recorder database (always needed)")
    ap.add_argument("--unit", choices=("W", "kW"), help="unit of the grid meter's values in the "
                    "history export (default: auto, all values < 50 -> kW)")
    ap.add_argument("--ev-entity", help="the charger's power sensor in the same history export or "
                    "database: subtracted from the grid, so your own car is not counted as house load")
    ap.add_argument("--ev-unit", choices=("W", "kW"), help="unit of --ev-entity (default: auto)")
    ap.add_argument("--gaps", choices=("hold", "unavailable"), default="hold",
                    help="history export unavailable/unknown rows: the load always holds its last "
                    "value; 'unavailable' also shows the controllers an unavailable meter then")
    ap.add_argument("--controllers",
                    help="comma-separated, from app,original,uncontrolled, and timer (the 22:00 "
                    "timer) with --sessions, and safest (the app without prices) and evcc (an "
                    "evcc-style plan) with --sessions and --prices, and solar (the app in its mode "
                    "solar) with --pv, asked for only (default: all but solar)")
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
    g.add_argument("--charger-reports", choices=CHARGER_REPORTS,
                   help="how the charger's entities report: polled (the Wallbox cloud: a 90 s poll, "
                   "the echo of a write; default) or on_change (a local charger, e.g. with "
                   "--charger-delay 5)")
    g.add_argument("--car-max-kw", type=float, help="the car's own acceptance (default: unlimited)")
    g.add_argument("--session-kwh", type=float, help="kWh the car takes per plug-in session, then "
                   "it is full until unplugged (default: it always wants more)")
    g.add_argument("--target-peak", type=float, help="W (default 4000)")
    g.add_argument("--margin", type=float, help="W the app keeps free under the limit, its `margin` "
                   "(default 150); the oracle keeps none")
    g.add_argument("--sessions", metavar="generated|FILE",
                   help="sessions mode: each plug-in has an energy need and a departure, the car is "
                   "full once the need is delivered; 'generated': one session per plug window, the "
                   "need drawn (seeded) by its length; FILE: a CSV plug_in,departure,need_kwh. Adds "
                   "the 22:00 timer baseline and the session table")
    g.add_argument("--plug", action="append", metavar="'DAYS HH:MM-HH:MM'",
                   help="when the car is plugged in, repeatable, e.g. --plug 'mon-fri 18:00-07:30' "
                   "--plug 'sat,sun 12:00-18:00' (default: those two); days mon..sun, a-b, daily")
    h = ap.add_argument_group("recorder history (the install day; see tools/history.py)")
    h.add_argument("--history-days", type=int, metavar="N",
                   help="the trace's first N local days are what Home Assistant's recorder holds "
                   "before the install (the house alone): the app gets them as the grid sensor's "
                   "statistics, and only the days after are replayed and scored (their month's "
                   "bill includes the history's quarters)")
    h.add_argument("--history", metavar="FILE",
                   help="a trace CSV (timestamp,power_w) before the trace, e.g. the previous month, "
                   "as the recorder's history (the house alone)")
    e = ap.add_argument_group("prices and sun (issue 16; see tools/prices.py and tools/pv.py)")
    e.add_argument("--prices", metavar="FILE", help="day-ahead spot prices, a CSV start,eur_per_mwh "
                   "(60- or 15-minute rows, as in ../shared/prices), laid onto the trace's days "
                   "weekday-aligned; the app is shown them as a Nord Pool sensor (tomorrow from "
                   "13:00) and a cost table follows")
    e.add_argument("--price-formula", metavar="'factor=F,adder=A,network=N,levies=L,vat=V'",
                   help="the all-in import price, EUR/kWh: (spot/1000 x F + A + N + L) x (1 + V/100) "
                   "(default factor=1,adder=0.02,network=0.06,levies=0.052,vat=6: a typical Flemish "
                   "dynamic contract; keys left out keep these)")
    e.add_argument("--export-price", metavar="EUR|'factor=F,fee=X'",
                   help="what an exported kWh earns: a flat EUR/kWh, or spot/1000 x F - X (default "
                   "factor=1,fee=0.015)")
    e.add_argument("--bound-cap", choices=BOUND_CAPS, default=BOUND_CAPS[0],
                   help="the prescient bound's cap in each quarter: month (default: max(target, the "
                   "house alone's peak of the whole month), known from its first day) or running (the "
                   "capacity limit in force: max(target, the house alone's peak of the month so far), "
                   "as the energy oracle's)")
    e.add_argument("--pv", metavar="FILE", help="rooftop production, a CSV timestamp,pv_w of "
                   "15-minute rows (as in ../shared/pv), subtracted from the house (the grid reads "
                   "negative when it exports), laid onto the trace's days as the prices")
    return ap


def parse_args(argv=None):
    return build_parser().parse_args(argv)


def days_text(days) -> str:
    """(0, 1, 2, 3, 4) -> 'mon-fri': the days of a plug window as --plug takes them."""
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
    """The plant the arguments describe (the reference plant where they say nothing). In sessions
    mode each session brings its own need, so no --session-kwh cap."""
    p = PlantParams()
    changes = {}
    for field_name, value in (("phases", args.phases), ("max_current", args.max_current),
                              ("min_current", args.min_current), ("voltage", args.voltage),
                              ("meter_period", args.meter_period), ("meter_delay", args.meter_delay),
                              ("charger_delay", args.charger_delay),
                              ("write_interval", args.write_interval),
                              ("charger_reports", args.charger_reports),
                              ("target_peak", args.target_peak), ("margin", args.margin)):
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
    if args.sessions:
        changes["session_kwh"] = math.inf
    return replace(p, **changes)


def check_args(args) -> list[str]:
    """Every problem with the arguments, one sentence each (empty: fine). Each option's check is
    one function in CHECKS; a new option adds its own there."""
    problems: list[str] = []
    for check in CHECKS:
        problems += check(args)
    return problems


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def _check_plant(args) -> list[str]:
    """The plant options inside PLANT_RANGES, and a current range that is one."""
    problems = []
    for option, (field_name, low, high, unit) in PLANT_RANGES.items():
        value = getattr(args, option)
        if value is None:
            continue
        if field_name not in PlantParams.__dataclass_fields__:
            problems.append(f"{_option(option)} needs a plant model with "
                            f"PlantParams.{field_name} (tools/plant.py)")
            continue
        if not math.isfinite(value) or not low <= value <= high:
            hint = " (the unit is W: 4 kW is 4000)" if option == "target_peak" and value < low else ""
            problems.append(f"{_option(option)} must be between {low:g} and {high:g} "
                            f"{unit}, got {value:g}{hint}")
    if (args.min_current is not None and args.max_current is not None
            and 0 < args.max_current < args.min_current):
        problems.append(f"--min-current {args.min_current} is above --max-current {args.max_current}")
    return problems


def _check_price(args) -> list[str]:
    if args.price_per_kw is not None and not (math.isfinite(args.price_per_kw)
                                              and 0 <= args.price_per_kw <= 1000):
        return [f"--price-per-kw must be between 0 and 1000 €/kW/year, got {args.price_per_kw:g}"]
    return []


def _check_day(args) -> list[str]:
    """A day's form only: whether the trace covers it is known once it is read
    (tools.replay_run.prepare)."""
    if args.day not in (None, "worst"):
        try:
            date.fromisoformat(args.day)
            if len(args.day) != 10:
                raise ValueError
        except ValueError:
            return [f"--day {args.day!r} is not a day: give YYYY-MM-DD or 'worst'"]
    return []


def _check_history(args) -> list[str]:
    """The history export's and the recorder's options without either."""
    problems = [f"{_option(option)} applies to --history-csv or --recorder only"
                for option in ("entity", "ev_entity")
                if getattr(args, option) is not None and not (args.history_csv or args.recorder)]
    for option in ("unit", "ev_unit"):
        if getattr(args, option) is not None and not args.history_csv:
            problems.append(f"{_option(option)} applies to --history-csv only"
                            + (" (the recorder's database holds each state's unit)"
                               if args.recorder else ""))
    return problems


def _check_recorder(args) -> list[str]:
    """--recorder and --year: one source with its entity, and the year replays nothing."""
    problems = []
    if args.recorder:
        if args.history_csv:
            problems.append("give --recorder or --history-csv, not both (--entity names the "
                            "meter in one source)")
        if args.traces:
            problems.append(f"--recorder replays the database's states: give {args.traces[0]} in "
                            "a run of its own")
        if not args.entity:
            problems.append("--recorder needs --entity: the grid meter's entity id (Developer "
                            "Tools -> States), e.g. sensor.electricity_meter_power_consumption")
        elif args.entity == args.ev_entity:
            problems.append(f"--ev-entity {args.ev_entity} is the grid meter itself (--entity)")
    if args.year and not args.recorder:
        problems.append("--year reads the statistics of Home Assistant's database: give "
                        "--recorder DB and --entity")
    if args.year and args.sessions:
        problems.append("--year replays nothing: --sessions needs a replay (leave out --year)")
    return problems


def _check_plug(args) -> list[str]:
    problems = []
    for spec in args.plug or ():
        try:
            parse_plug(spec)
        except ValueError as error:
            problems.append(str(error))
    return problems


def _check_controllers(args) -> list[str]:
    problems = []
    choices = controller_choices(args)
    names = controller_names(args)
    if args.pv:
        choices = choices + (SOLAR,)
    for c in names:
        if c == "timer" and not args.sessions:
            problems.append("the timer baseline charges by the clock, not by a session's need: it "
                            "needs --sessions (generated or a file)")
        elif c == SOLAR and not args.pv:
            problems.append("the app's mode solar charges from the panels' surplus: it needs --pv")
        elif c in ("safest", "evcc") and not (args.sessions and args.prices):
            problems.append(f"the {c} baseline plans each session by price: it needs --sessions "
                            "and --prices")
        elif c not in choices:
            problems.append(f"unknown controller {c!r} in --controllers (choose from "
                            f"{', '.join(choices)})")
    if not names:
        problems.append("--controllers is empty (choose from " + ", ".join(choices) + ")")
    return problems


def _check_sessions(args) -> list[str]:
    """A sessions file gives each session's need and plug-in: the options that would too clash."""
    problems = []
    if args.sessions not in (None, GENERATED):
        if args.session_kwh is not None:
            problems.append("--session-kwh gives every generated session the same need: with "
                            f"--sessions {args.sessions} the file gives each session its need")
        if args.plug:
            problems.append(f"--plug sets the plug windows: with --sessions {args.sessions} the "
                            "file says when the car is plugged in")
    return problems


def _check_recorder_history(args) -> list[str]:
    """--history-days and --history: one of them, N a whole number of days. Whether the trace is
    longer than N days is known once it is read (tools.replay_run.prepare)."""
    if args.history_days is not None and args.history is not None:
        return ["--history-days and --history both give the recorder's history: choose one"]
    if args.history_days is not None and not 1 <= args.history_days <= MAX_HISTORY_DAYS:
        return [f"--history-days must be between 1 and {MAX_HISTORY_DAYS} days, "
                f"got {args.history_days}"]
    return []


def _check_energy_prices(args) -> list[str]:
    """--price-formula and --export-price: readable, and only with --prices; --year replays
    nothing to price."""
    from tools.prices import ExportPrice, PriceFormula
    problems = []
    for option, parse in (("price_formula", PriceFormula.parse), ("export_price", ExportPrice.parse)):
        text = getattr(args, option)
        if text is None:
            continue
        if not args.prices:
            problems.append(f"{_option(option)} prices the car's energy: it needs --prices FILE")
        try:
            parse(text)
        except ValueError as error:
            problems.append(str(error))
    if args.year and (args.prices or args.pv):
        problems.append("--year replays nothing: --prices and --pv need a replay (leave out --year)")
    return problems


# in the order their problems are printed
CHECKS = (_check_plant, _check_price, _check_day, _check_history, _check_recorder, _check_plug,
          _check_controllers, _check_sessions, _check_recorder_history, _check_energy_prices)


def controller_choices(args) -> tuple:
    """The controllers these options can run: the timer in sessions mode, the safest plan and the
    evcc-style plan in sessions mode with prices."""
    if args.sessions and args.prices:
        return PRICE_CONTROLLERS
    return SESSION_CONTROLLERS if args.sessions else ALL_CONTROLLERS


def controller_names(args) -> list[str]:
    """--controllers, or the default: every controller these options can run."""
    if args.controllers is None:
        return list(controller_choices(args))
    return [c.strip() for c in args.controllers.split(",") if c.strip()]
