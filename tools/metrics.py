"""Quarter-hour accounting, the control-quality metrics and the causal oracle.

Quarters are clock-aligned: quarter k covers epoch [900 k, 900 k + 900). Brussels' UTC offsets are
whole hours, so these are also the local :00/:15/:30/:45 quarters, across DST. Months are LOCAL
calendar months (Europe/Brussels): a quarter belongs to the month of its local start.

Definitions (limits and peaks per local calendar month; a trace spanning several months reports
the peaks of the month with the largest EV-caused increase, and the worst quarters of all months):
* limit_q (controller) = max(target_peak, highest quarter average WITH the EV of the completed
  quarters of this month so far): the capacity limit known at the quarter's start.
* own-fault excess: over the quarters where the house alone stayed within limit_q, the worst
  (house + EV average - limit_q), floored at 0 (W).
* exposure: over the quarters where the house alone broke limit_q, the EV's contribution to the
  quarter average (EV energy / 900 s): worst quarter and sum (W).
* EV-caused peak increase = peak with EV - max(target_peak, peak of the house alone) (W, may be < 0
  when the target itself is not reached).
* causal oracle: per quarter, EV energy = clamp(L_q * 900 s - house energy, 0, max EV power *
  plugged seconds), L_q = max(target_peak, house-alone peak of the completed quarters this month).
  Nobody can charge more without raising the peak above what the house alone forces.
  In sessions mode (`PlantParams.sessions`) the car is full after each session's need, so the
  oracle takes, per session, its quarters from plug-in in time order until the need is reached.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tools.plant import QUARTER, TZ, RunResult


def quarter_energy(times, values, end, q0: int, nq: int, period: float = QUARTER) -> list[float]:
    """Energy (J) of a step function (values[i] W on [times[i], times[i+1]) and the last until
    `end`) in each quarter q0 .. q0+nq-1 (quarter k = epoch [900k, 900k+900)); another `period`
    (s) cuts the time into those periods instead (the recorder's 5-minute statistics)."""
    out = [0.0] * nq
    n = len(times)
    lo, hi = q0 * period, (q0 + nq) * period
    for i in range(n):
        a = times[i]
        b = times[i + 1] if i + 1 < n else end
        v = values[i]
        if b <= lo or a >= hi or v == 0:
            continue
        if a < lo:
            a = lo
        if b > hi:
            b = hi
        k = int(a // period)
        while a < b:
            qe = (k + 1) * period
            seg = (b if b < qe else qe) - a
            out[k - q0] += v * seg
            a += seg
            k += 1
    return out


def plugged_seconds(intervals, q0: int, nq: int) -> list[float]:
    ts, vs = [], []
    for a, b in intervals:
        ts += [a, b]
        vs += [1.0, 0.0]
    return quarter_energy(ts, vs, ts[-1] if ts else 0.0, q0, nq) if ts else [0.0] * nq


def quarter_months(q0: int, nq: int) -> list[tuple[int, int]]:
    out = []
    cache: dict[int, tuple[int, int]] = {}
    for k in range(q0, q0 + nq):
        hour = k // 4   # months change on whole local hours; cache per UTC hour
        if hour not in cache:
            d = datetime.fromtimestamp(hour * 3600.0, TZ)
            cache[hour] = (d.year, d.month)
        out.append(cache[hour])
    return out


def running_limits(avgs: list[float], months, target: float) -> list[float]:
    """Limit known at each quarter's start: max(target, peak of completed quarters this month)."""
    out = []
    peak, month = 0.0, None
    for a, m in zip(avgs, months):
        if m != month:
            peak, month = 0.0, m
        out.append(max(target, peak))
        peak = max(peak, a)
    return out


@dataclass
class Quarters:
    """Per-quarter series of one replay (W averages, J energies)."""
    q0: int
    months: list
    house_j: list[float]
    ev_j: list[float]
    plugged_s: list[float]

    @property
    def house_w(self):
        return [e / QUARTER for e in self.house_j]

    @property
    def total_w(self):
        return [(h + e) / QUARTER for h, e in zip(self.house_j, self.ev_j)]


def quarters_of(run: RunResult) -> Quarters:
    """The replay's quarters; with a recorder history (`run.history`, tools/history.py) preceded
    by the history's house-alone quarters of the install's month, which count in that month's
    bill (no car then: 0 EV energy, never plugged in)."""
    q0 = int(run.start // QUARTER)
    nq = int(run.end // QUARTER) - q0
    house = quarter_energy(run.trace.times, run.trace.power_w, run.trace.end, q0, nq)
    ev = quarter_energy(run.ev_times, run.ev_w, run.end, q0, nq)
    plugged = plugged_seconds(run.plugged, q0, nq)
    history = getattr(run, "history", None)
    if history is not None:
        q0, before = history.billed_quarters()
        house, ev, plugged = before + house, [0.0] * len(before) + ev, [0.0] * len(before) + plugged
        nq += len(before)
    return Quarters(q0, quarter_months(q0, nq), house, ev, plugged)


def oracle_ev_j(house_j, plugged_s, months, target: float, max_ev_w: float) -> list[float]:
    limits = running_limits([e / QUARTER for e in house_j], months, target)
    return [min(max(lim * QUARTER - h, 0.0), max_ev_w * s)
            for lim, h, s in zip(limits, house_j, plugged_s)]


def oracle_quarters(run: RunResult, q: Quarters) -> list[float]:
    """The oracle's EV energy (J) per quarter: `oracle_ev_j`, and in sessions mode each session's
    quarters in time order only until its need (kWh) is delivered."""
    target, max_ev_w = run.params.target_peak, run.params.max_ev_w
    free = oracle_ev_j(q.house_j, q.plugged_s, q.months, target, max_ev_w)
    sessions = getattr(run.params, "sessions", ())
    if not sessions:
        return free
    nq = len(q.house_j)
    out = [0.0] * nq
    for a, b, need_kwh in sorted(sessions):
        a, b = max(a, run.start), min(b, run.end)
        if b <= a:
            continue
        plugged = plugged_seconds([(a, b)], q.q0, nq)
        left = need_kwh * 3.6e6
        for k, e in enumerate(oracle_ev_j(q.house_j, plugged, q.months, target, max_ev_w)):
            if left <= 0:
                break
            take = min(e, left, free[k] - out[k])   # two sessions in one quarter share it
            out[k] += take
            left -= take
    return out


def _monthly_max(values, months):
    out: dict = {}
    for v, m in zip(values, months):
        out[m] = max(out.get(m, 0.0), v)
    return out


@dataclass
class Metrics:
    controller: str
    trace: str
    peak_house_w: float
    peak_ev_w: float
    ev_increase_w: float
    own_fault_w: float
    exposure_max_w: float
    exposure_sum_w: float
    ev_kwh: float
    oracle_kwh: float
    writes: int
    writes_per_h: float
    rejected_429: int
    pauses: int
    pauses_per_day: float
    hours: float
    wall_s: float
    plugged_h: float = 0.0               # hours with a car plugged in
    writes_per_plugged_h: float = 0.0    # writes sent while a car was plugged in, per plugged hour
    writes_no_car: int = 0               # writes sent while no car was plugged in, beyond one park
                                         # write per unplugged spell
    writes_full: int = 0                 # writes sent while the car was full (not asking for energy)
    own_fault_at: float | None = None    # epoch start of the worst own-fault quarter (if > 0)
    exposure_at: float | None = None     # epoch start of the worst exposed quarter (if > 0)
    peak_at: float | None = None         # epoch start of the quarter that set peak_ev_w

    @property
    def oracle_ratio(self) -> float:
        return self.ev_kwh / self.oracle_kwh if self.oracle_kwh > 0 else float("nan")


def _quality(q0, house_w, ev_j, months, target) -> dict:
    """Peaks of the month with the largest EV-caused increase; own fault and exposure over all
    quarters, with the start (epoch s) of the worst quarter of each."""
    total_w = [h + e / QUARTER for h, e in zip(house_w, ev_j)]
    limits = running_limits(total_w, months, target)
    own = [(t - lim, k) for k, (h, t, lim) in enumerate(zip(house_w, total_w, limits)) if h <= lim]
    exposed = [(e / QUARTER, k) for k, (h, e, lim) in enumerate(zip(house_w, ev_j, limits))
               if h > lim]
    ph, pe = _monthly_max(house_w, months), _monthly_max(total_w, months)
    worst = max(ph, key=lambda m: pe[m] - max(target, ph[m]))
    own_w, own_k = max(own, default=(0.0, None))
    exp_w, exp_k = max(exposed, default=(0.0, None))
    peak_k = max((k for k, m in enumerate(months) if m == worst), key=lambda k: total_w[k])
    return dict(peak_house_w=ph[worst], peak_ev_w=pe[worst], peak_at=(q0 + peak_k) * QUARTER,
                ev_increase_w=pe[worst] - max(target, ph[worst]),
                own_fault_w=max(own_w, 0.0), exposure_max_w=exp_w,
                exposure_sum_w=sum(w for w, _ in exposed),
                own_fault_at=(q0 + own_k) * QUARTER if own_w > 0 else None,
                exposure_at=(q0 + exp_k) * QUARTER if exp_w > 0 else None)


def evaluate(run: RunResult, q: Quarters | None = None) -> Metrics:
    q = q or quarters_of(run)
    target = run.params.target_peak
    oracle = oracle_quarters(run, q)
    hours = (run.end - run.start) / 3600.0
    sent = [w for w in run.writes if w[3] in ("ok", "429")]
    pauses = sum(1 for w in run.writes if w[1] == "pause" and w[3] == "ok")
    counts = write_counts(run, sent)
    return Metrics(run.controller, run.trace.name,
                   **_quality(q.q0, q.house_w, q.ev_j, q.months, target),
                   ev_kwh=sum(q.ev_j) / 3.6e6, oracle_kwh=sum(oracle) / 3.6e6,
                   writes=len(sent), writes_per_h=len(sent) / hours,
                   rejected_429=sum(1 for w in sent if w[3] == "429"),
                   pauses=pauses, pauses_per_day=pauses / (hours / 24.0), hours=hours,
                   wall_s=run.wall_s, **counts)


def _inside(t: float, intervals) -> int | None:
    """Index of the [a, b) interval that holds t, else None."""
    for i, (a, b) in enumerate(intervals):
        if a <= t < b:
            return i
    return None


def write_counts(run: RunResult, sent) -> dict:
    """Writes per plugged hour, writes without a car beyond one park write per unplugged spell, and
    writes while the car was full."""
    plugged_s = sum(b - a for a, b in run.plugged)
    edges = [run.start] + [t for iv in run.plugged for t in iv] + [run.end]
    unplugged = [(edges[i], edges[i + 1]) for i in range(0, len(edges) - 1, 2) if edges[i + 1] > edges[i]]
    in_plugged = [w for w in sent if _inside(w[0], run.plugged) is not None]
    per_spell: dict = {}
    for w in sent:
        spell = _inside(w[0], unplugged)
        if spell is not None:
            per_spell[spell] = per_spell.get(spell, 0) + 1
    full = getattr(run, "full", None) or []
    return dict(plugged_h=plugged_s / 3600.0,
                writes_per_plugged_h=len(in_plugged) / (plugged_s / 3600.0) if plugged_s > 0 else 0.0,
                writes_no_car=sum(max(0, n - 1) for n in per_spell.values()),
                writes_full=sum(1 for w in sent if _inside(w[0], full) is not None))


def oracle_metrics(run: RunResult, q: Quarters | None = None) -> Metrics:
    """The oracle as a table row (its EV energy placed in each quarter; no commands)."""
    q = q or quarters_of(run)
    target = run.params.target_peak
    ev = oracle_quarters(run, q)
    kwh = sum(ev) / 3.6e6
    return Metrics("oracle", run.trace.name, **_quality(q.q0, q.house_w, ev, q.months, target),
                   ev_kwh=kwh, oracle_kwh=kwh, writes=0, writes_per_h=0.0, rejected_429=0,
                   pauses=0, pauses_per_day=0.0, hours=(run.end - run.start) / 3600.0, wall_s=0.0)
