"""What the replay prints and plots: the compact table (at most 100 characters wide), its legend and
one verdict per controller; the wide table (--wide, the benchmark's); the session table; the plant
as text and in file names; the plots of a day and of the month.

`tools/replay.py` is the command; `tools/replay_run.py` produces the runs and metrics shown here.
"""
from __future__ import annotations

import importlib.util
import math
import os
import re
import sys
import zlib
from datetime import datetime

from tools.metrics import QUARTER, Metrics, quarters_of
from tools.money import BILLED_MINIMUM_W, DEFAULT_PRICE_EUR_PER_KW_YEAR, peak_increase_cost
from tools.plant import TZ, PlantParams, RunResult
from tools.replay_args import GENERATED, days_text
from tools.session_metrics import format_table as session_table
from tools.session_metrics import oracle_session_metrics, session_metrics
from tools.session_metrics import verdict as session_verdict
from tools.sessions import Session
from tools.traces import Trace

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
    head = ("| controller | peak kW | car +W | € | fault W | car kWh | vs best | writes/h | 429s "
            "| pauses/d |")

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
            f"months it stays billed (€{price:.2f}/kW/year, excl. VAT); fault = worst quarter "
            "the car itself pushed over the limit; vs best = energy / the oracle's (the most "
            "possible); writes/h = cloud writes per hour with the car plugged in; 429s = rejected writes.")


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


# ---- sessions mode -------------------------------------------------------------------------------

def format_sessions(runs: list[RunResult], rows: list[Metrics], params: PlantParams,
                    failed: dict) -> str:
    """The session table and one verdict per controller (the oracle last)."""
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


def sessions_text(source: str, session_kwh: float | None, plug_windows) -> str:
    """Where the sessions come from (--sessions `source`) and, when generated, how."""
    from tools.sessions import OVERNIGHT_H, OVERNIGHT_KWH, SEED, SHORT_KWH
    if source != GENERATED:
        return f"Sessions: from {source} (plug_in, departure, need_kwh)."
    windows = ", ".join(f"{days_text(d)} {a}-{b}" for d, a, b in plug_windows)
    if session_kwh is not None:
        need = f"every session needs {session_kwh:g} kWh"
    else:
        need = (f"need uniform {OVERNIGHT_KWH[0]:g}-{OVERNIGHT_KWH[1]:g} kWh when plugged in "
                f"{OVERNIGHT_H:g} h or more, else {SHORT_KWH[0]:g}-{SHORT_KWH[1]:g} kWh, seed {SEED}")
    return f"Sessions: generated, one per plug-in of {windows}, departure at its end; {need}."


# ---- the plots ---------------------------------------------------------------------------------

def plots_possible() -> bool:
    """Whether matplotlib is there to draw the plots (if not, says so on stderr once)."""
    if importlib.util.find_spec("matplotlib") is None:
        print("replay: matplotlib is not installed: no plots (pip install -r requirements-dev.txt)",
              file=sys.stderr)
        return False
    return True


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
        tag += "_plug" + "+".join(f"{days_text(d)}{a}-{b}" for d, a, b in p.plug_windows)
    return re.sub(r"[^A-Za-z0-9_.+-]", "", tag.replace(":", ""))


def plant_text(p: PlantParams) -> str:
    car = "unlimited" if math.isinf(p.car_max_w) else f"{p.car_max_w / 1000:g} kW"
    session = getattr(p, "session_kwh", math.inf)
    if not math.isinf(session):
        car += f", {session:g} kWh per session"
    plug = ", ".join(f"{days_text(d)} {a}-{b}" for d, a, b in p.plug_windows)
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


def write_plots(out: str, day: str | None, trace: Trace, runs: list[RunResult], rows: list[Metrics],
                params: PlantParams) -> None:
    """The day's and the month's PNG into `out` (paths printed). `day`: --day (a day, 'worst' or
    None: choose_day)."""
    from tools.plot import plot_day, plot_month
    if day == "worst":
        at = rows[0].own_fault_at
        day = datetime.fromtimestamp(at, TZ).date().isoformat() if at is not None else None
    day = day or choose_day(runs[0])
    shown = [r for r in runs if r.controller in ("app", "original")] or runs[:2]
    os.makedirs(out, exist_ok=True)
    month = day[:7]
    for path, draw in ((plot_path(out, trace, day, params),
                        lambda path: plot_day(shown, day, path, subtitle=plant_text(params))),
                       (plot_path(out, trace, f"month{month}", params),
                        lambda path: plot_month(runs, month, path, subtitle=plant_text(params)))):
        draw(path)
        print_plot(path)


def print_plot(path: str) -> None:
    """'Plot: out/…png' (relative when inside the current folder)."""
    shown = os.path.relpath(path)
    print(f"Plot: {path if shown.startswith('..') else shown}")
