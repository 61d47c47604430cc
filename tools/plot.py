"""One day of a replay as a PNG: house load, EV power, quarter averages and the capacity limit."""
from __future__ import annotations

from datetime import datetime, timedelta

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

from tools.metrics import QUARTER, quarters_of, running_limits  # noqa: E402
from tools.plant import TZ, RunResult  # noqa: E402

HOUSE_C, EV_C, AVG_C, LIMIT_C, PLUG_C = "#9e9e9e", "#1f9d55", "#1a1a1a", "#d62728", "#e8f1fb"
HOUSE_OVER_C = "#ff9f1c"
PEAK_C, CURRENT_C, PAUSE_C = "#7b3294", "#1f9d55", "#bbbbbb"


def _month_peak_so_far(total, months) -> list[float]:
    """Per quarter: the highest quarter average of the month's completed quarters (0 at its start)."""
    out, peak, month = [], 0.0, None
    for avg, m in zip(total, months):
        if m != month:
            peak, month = 0.0, m
        out.append(peak)
        peak = max(peak, avg)
    return out


def _charger_strip(ax, run: RunResult, a: float, b: float) -> None:
    """The current the charger was told (accepted writes), paused spans, and every write sent."""
    amps = run.params.max_current          # the charger holds max_current at the start
    paused, pause_from = False, None
    times, values = [a], [amps]
    for t, kind, value, status in run.writes:
        if status != "ok":
            continue
        if kind == "current":
            amps = value
        elif kind == "pause" and not paused:
            paused, pause_from = True, t
        elif kind == "resume" and paused:
            paused = False
            if t > a and pause_from < b:
                ax.axvspan(_dt([max(pause_from, a)])[0], _dt([min(t, b)])[0], color=PAUSE_C,
                           lw=0, zorder=0, label="paused")
        if t < a:
            values[0] = amps
        elif t < b:
            times.append(t)
            values.append(amps)
    if paused and pause_from < b:
        ax.axvspan(_dt([max(pause_from, a)])[0], _dt([b])[0], color=PAUSE_C, lw=0, zorder=0,
                   label="paused")
    times.append(b)
    values.append(values[-1])
    ax.step(_dt(times), values, where="post", color=CURRENT_C, lw=1.4, zorder=2,
            label="current set (accepted writes)")
    sent = [(t, status) for t, _, _, status in run.writes if a <= t < b and status in ("ok", "429")]
    top = run.params.max_current * 1.12
    ok = [t for t, status in sent if status == "ok"]
    rejected = [t for t, status in sent if status == "429"]
    if ok:
        ax.plot(_dt(ok), [top] * len(ok), ls="none", marker="|", ms=7, color="#333333", zorder=3,
                label="write accepted")
    if rejected:
        ax.plot(_dt(rejected), [top * 0.93] * len(rejected), ls="none", marker="x", ms=4,
                color=LIMIT_C, zorder=3, label="write rejected (429)")
    ax.set_ylim(0, top * 1.1)
    ax.set_ylabel("charger (A)")
    ax.grid(True, axis="x", color="#dddddd", lw=0.6, zorder=0)
    handles, labels = ax.get_legend_handles_labels()
    uniq = dict(zip(labels, handles))
    ax.legend(uniq.values(), uniq.keys(), loc="upper left", ncol=4, fontsize=8, frameon=False,
              bbox_to_anchor=(0, 1.28))


def day_bounds(day: str) -> tuple[float, float]:
    d0 = datetime.fromisoformat(day).replace(tzinfo=TZ)
    d1 = (d0 + timedelta(days=1)).replace(tzinfo=TZ)  # local midnight (23 or 25 h on DST days)
    d1 = datetime(d1.year, d1.month, d1.day, tzinfo=TZ)
    return d0.timestamp(), d1.timestamp()


def _steps(times, values, end, a, b):
    """(t list, v list) of a step function restricted to [a, b), starting at a."""
    out_t, out_v = [a], [0.0]
    for i, t in enumerate(times):
        t_next = times[i + 1] if i + 1 < len(times) else end
        if t_next <= a or t >= b:
            continue
        if t <= a:
            out_v[0] = values[i]
        else:
            out_t.append(t)
            out_v.append(values[i])
    return out_t, out_v


def _merge(ha, hv, ea, ev):
    """Two step functions on the same day -> common breakpoints, house and EV values."""
    ts = sorted(set(ha) | set(ea))
    h, e, i, j = [], [], 0, 0
    for t in ts:
        while i + 1 < len(ha) and ha[i + 1] <= t:
            i += 1
        while j + 1 < len(ea) and ea[j + 1] <= t:
            j += 1
        h.append(hv[i])
        e.append(ev[j])
    return ts, h, e


def _dt(ts):
    return [datetime.fromtimestamp(t, TZ) for t in ts]


def plot_day(runs: list[RunResult], day: str, path: str, title: str | None = None,
             subtitle: str | None = None) -> str:
    """Draw `day` (local YYYY-MM-DD) of each run into `path`: per run a power panel and, below it,
    a strip with the charger's commanded current, its pauses and every cloud write."""
    a, b = day_bounds(day)
    fig, grid = plt.subplots(2 * len(runs), 1, figsize=(13, 4.7 * len(runs) + 0.9), sharex=True,
                             squeeze=False, gridspec_kw={"height_ratios": [3, 1] * len(runs)})
    axes = grid[0::2]
    for strip, run in zip(grid[1::2, 0], runs):
        _charger_strip(strip, run, a, b)
    ymax = 0.0
    for ax, run in zip(axes[:, 0], runs):
        q = quarters_of(run)
        ha, hv = _steps(run.trace.times, run.trace.power_w, run.trace.end, a, b)
        ea, ev = _steps(run.ev_times, run.ev_w, run.end, a, b)
        ts, house, ev_w = _merge(ha, hv, ea, ev)
        ts.append(b)
        house.append(house[-1])
        ev_w.append(ev_w[-1])
        x = _dt(ts)
        hk = [v / 1000 for v in house]
        tk = [(h + e) / 1000 for h, e in zip(house, ev_w)]
        for pa, pb in run.plugged:
            if pb > a and pa < b:
                ax.axvspan(_dt([max(pa, a)])[0], _dt([min(pb, b)])[0], color=PLUG_C, lw=0,
                           zorder=0, label="car plugged in")
        ax.fill_between(x, 0, hk, step="post", color=HOUSE_C, alpha=0.55, lw=0,
                        label="house load", zorder=1)
        ax.fill_between(x, hk, tk, step="post", color=EV_C, alpha=0.75, lw=0,
                        label="EV charging (on top of the house)", zorder=2)
        # quarter series of this day
        total = q.total_w
        limits = running_limits(total, q.months, run.params.target_peak)
        k0, k1 = int(a // QUARTER) - q.q0, int(b // QUARTER) - q.q0
        ks = [k for k in range(max(k0, 0), min(k1, len(total)))]
        if ks:
            qx = _dt([(q.q0 + k) * QUARTER for k in ks] + [(q.q0 + ks[-1] + 1) * QUARTER])
            qavg = [total[k] / 1000 for k in ks]
            qlim = [limits[k] / 1000 for k in ks]
            ax.step(qx, qavg + qavg[-1:], where="post", color=AVG_C, lw=2.0, zorder=4,
                    label="quarter-hour average (billed)")
            peaks = _month_peak_so_far(total, q.months)
            qpeak = [peaks[k] / 1000 for k in ks]
            ax.step(qx, qpeak + qpeak[-1:], where="post", color=PEAK_C, lw=1.6, ls="--", zorder=5,
                    label="month's peak so far (completed quarters)")
            target = run.params.target_peak / 1000
            ax.axhline(target, color=LIMIT_C, lw=1.4, ls=":", zorder=5,
                       label=f"target peak {target:.2f} kW (limit = the higher of the two)")
            house_q = q.house_w
            for k in ks:
                if total[k] <= limits[k] + 1:
                    continue
                own = house_q[k] <= limits[k]      # the house alone stayed within: the EV's fault
                t0 = _dt([(q.q0 + k) * QUARTER])[0]
                ax.plot(t0 + timedelta(minutes=7.5), total[k] / 1000 + 0.25, ls="none", ms=8,
                        marker="v", color=LIMIT_C if own else HOUSE_OVER_C, zorder=6)
            ymax = max(ymax, max(qavg), max(qlim))
        ymax = max(ymax, max(tk))
        ev_kwh = sum(q.ev_j[k] for k in ks) / 3.6e6
        peak_day = max((total[k] for k in ks), default=0.0) / 1000
        n_w = sum(1 for w in run.writes if a <= w[0] < b and w[3] in ("ok", "429"))
        n_429 = sum(1 for w in run.writes if a <= w[0] < b and w[3] == "429")
        ax.set_title(f"{run.controller}: EV {ev_kwh:.1f} kWh this day, highest quarter "
                     f"{peak_day:.2f} kW, {n_w} cloud writes ({n_429} rejected 429)",
                     loc="left", fontsize=11)
        ax.set_ylabel("power (kW)")
        ax.grid(True, axis="both", color="#dddddd", lw=0.6, zorder=0)
    for ax in axes[:, 0]:
        ax.set_ylim(0, ymax * 1.08 + 0.2)
        ax.set_xlim(_dt([a])[0], _dt([b])[0])
    ax = grid[-1, 0]
    ax.xaxis.set_major_locator(mdates.HourLocator(byhour=range(0, 24, 2), tz=TZ))
    ax.xaxis.set_minor_locator(mdates.HourLocator(tz=TZ))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=TZ))
    ax.set_xlabel(f"local time (Europe/Brussels), {day}"
                  + (f"\nplant: {_wrap(subtitle)}" if subtitle else ""), fontsize=10)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    uniq = dict(zip(labels, handles))
    uniq["quarter above the limit, the house alone within it (EV's fault)"] = plt.Line2D(
        [], [], color=LIMIT_C, marker="v", ls="none", ms=8)
    uniq["quarter above the limit, the house alone too"] = plt.Line2D(
        [], [], color=HOUSE_OVER_C, marker="v", ls="none", ms=8)
    fig.legend(uniq.values(), uniq.keys(), loc="upper center", ncol=3, fontsize=10,
               frameon=False, bbox_to_anchor=(0.5, 1.0 - 0.02 / len(runs)))
    weekday = datetime.fromisoformat(day).strftime("%a")
    fig.suptitle(title or f"{runs[0].trace.name}, {weekday} {day}", y=1.0 + 0.045 / len(runs),
                 fontsize=13, fontweight="bold")

    fig.tight_layout(rect=(0, 0, 1, 1 - 0.11 / len(runs)))
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def _wrap(text: str, width: int = 150) -> str:
    import textwrap
    return "\n".join(textwrap.wrap(text, width))


RUN_COLORS = {"app": "#1f9d55", "original": "#1f77b4", "uncontrolled": "#9467bd"}


def day_series(run: RunResult, month: str):
    """Per local day of `month` (YYYY-MM) in the run: (day, house-alone peak W, peak with the car
    W, car kWh, target-or-month-peak limit at the day's end W)."""
    q = quarters_of(run)
    house, total = q.house_w, q.total_w
    days: dict = {}
    for k in range(len(house)):
        d = datetime.fromtimestamp((q.q0 + k) * QUARTER, TZ).date()
        if d.isoformat()[:7] != month:
            continue
        h, t, e = days.get(d, (0.0, 0.0, 0.0))
        days[d] = (max(h, house[k]), max(t, total[k]), e + q.ev_j[k] / 3.6e6)
    return [(d, *v) for d, v in sorted(days.items())]


def plot_month(runs: list[RunResult], month: str, path: str, subtitle: str | None = None) -> str:
    """One bar group per day of `month`: the house's highest quarter, each controller's highest
    quarter with the car, and below, the car's energy per day."""
    import numpy as np
    series = {run.controller: day_series(run, month) for run in runs}
    days = [d for d, *_ in next(iter(series.values()))]
    x = np.arange(len(days))
    width = 0.8 / (len(runs) + 1)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(13, 7.5), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 2]})
    first = next(iter(series.values()))
    top.bar(x - 0.4 + width / 2, [h / 1000 for _, h, _, _ in first], width, color=HOUSE_C,
            label="house alone: highest quarter of the day")
    for i, run in enumerate(runs, 1):
        rows = series[run.controller]
        color = RUN_COLORS.get(run.controller, "#333333")
        top.bar(x - 0.4 + width / 2 + i * width, [t / 1000 for _, _, t, _ in rows], width,
                color=color, label=f"{run.controller}: highest quarter with the car")
        bottom.bar(x - 0.4 + width / 2 + i * width, [e for _, _, _, e in rows], width, color=color,
                   label=f"{run.controller}: car kWh")
        month_peak = max(t for _, _, t, _ in rows) / 1000
        top.axhline(month_peak, color=color, lw=1, ls=":")
    target = runs[0].params.target_peak / 1000
    top.axhline(target, color=LIMIT_C, lw=1.5, ls="--", label=f"target peak {target:.2f} kW")
    top.set_ylim(0, max(max(t for _, _, t, _ in rows) for rows in series.values()) / 1000 * 1.3)
    top.set_ylabel("quarter-hour average (kW)")
    top.legend(loc="upper left", fontsize=9, ncol=2, frameon=False)
    top.grid(True, axis="y", color="#dddddd", lw=0.6)
    bottom.set_ylabel("car energy (kWh per day)")
    bottom.grid(True, axis="y", color="#dddddd", lw=0.6)
    bottom.set_xticks(x, [d.strftime("%a %d") for d in days], rotation=90, fontsize=8)
    bottom.set_xlabel(f"local day, {month} (dotted: each controller's month peak)")
    fig.suptitle(f"{runs[0].trace.name}, {month}: daily peaks and car energy", fontsize=13,
                 fontweight="bold")
    if subtitle:
        top.set_title(_wrap(subtitle, 170), fontsize=9, color="#444444")
    fig.tight_layout()
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_year(months, path: str, title: str, price: float) -> str:
    """The household's year (tools/year.py): per month a bar for the house alone and one with the
    car, solid up to what the statistics prove (exact, or the range's lower bound) and hatched up
    to the range's upper bound; the billed minimum of 2.5 kW dotted."""
    import numpy as np
    from tools.money import BILLED_MINIMUM_W, month_cost
    x = np.arange(len(months))
    width = 0.38
    fig, ax = plt.subplots(figsize=(max(7.0, 0.9 * len(months) + 3), 5.2))
    bars = [("house alone", HOUSE_C, -width / 2, [m.house for m in months]),
            ("with the car", EV_C, width / 2, [m.with_car for m in months])]
    for label, color, dx, peaks in bars:
        if all(p is None for p in peaks):
            continue
        low = [p.low_w / 1000 if p else 0.0 for p in peaks]
        extra = [(p.high_w - p.low_w) / 1000 if p else 0.0 for p in peaks]
        ax.bar(x + dx, low, width, color=color, label=f"{label}: the month's peak")
        if any(e > 0 for e in extra):
            ax.bar(x + dx, extra, width, bottom=low, color="white", edgecolor=color, hatch="///",
                   lw=0.8, label=f"{label}: at most (only hourly statistics)")
    for i, m in enumerate(months):
        ax.text(x[i] + width / 2, m.with_car.high_w / 1000 + 0.1,
                f"€{month_cost(m.with_car.low_w, price):.0f}", ha="center", fontsize=8)
    ax.axhline(BILLED_MINIMUM_W / 1000, color=LIMIT_C, lw=1.2, ls=":",
               label="billed minimum 2.5 kW")
    ax.set_xticks(x, [m.month for m in months], rotation=45 if len(months) > 8 else 0)
    ax.set_ylabel("highest quarter-hour average (kW)")
    ax.set_ylim(0, max(m.with_car.high_w for m in months) / 1000 * 1.25 + 0.5)
    ax.grid(True, axis="y", color="#dddddd", lw=0.6)
    ax.legend(loc="upper left", fontsize=8, frameon=False, ncol=2)
    ax.set_title(f"{title}\n(€ above the bars: what the month's peak with the car costs over 12 "
                 f"months at €{price:.2f}/kW/year; at least, for a range)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path
