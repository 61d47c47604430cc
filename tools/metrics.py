"""Quarter-hour accounting, the control-quality metrics and the causal oracle.

Quarters are clock-aligned: quarter k covers epoch [900 k, 900 k + 900). Brussels' UTC offsets are
whole hours, so these are also the local :00/:15/:30/:45 quarters, across DST. Months are LOCAL
calendar months (Europe/Brussels): a quarter belongs to the month of its local start.

The billed quarter is its OFFTAKE: the digital meter counts import and export in two registers
and Fluvius bills only the offtake, export does not count (the P1 demand registers 1-0:1.4.0 and
1-0:1.6.0 are defined on active energy import, e-MUCS P1). So a quarter's billed average is the
positive part of the net power (house - PV + car) integrated over the quarter, / 900 s: a minute
of export inside the quarter takes nothing off it (`split_energy`). Every average below (house alone, with the EV, limits, peaks) is that offtake;
without export it equals the net average to the bit.

Definitions (limits and peaks per local calendar month; a trace spanning several months reports
the peaks of the month with the largest EV-caused increase, and the worst quarters of all months):
* limit_q (controller) = max(target_peak, highest quarter average WITH the EV of the completed
  quarters of this month so far): the capacity limit known at the quarter's start.
* the EV's part of a quarter = the offtake with the EV - the offtake of the house alone: its
  energy minus the house's export it soaked up (that energy was never imported).
* own-fault excess: over the quarters where the house alone stayed within limit_q, the worst
  (house + EV average - limit_q), floored at 0 (W).
* exposure: over the quarters where the house alone broke limit_q, the EV's contribution to the
  quarter average (the EV's part / 900 s): worst quarter and sum (W).
* EV-caused peak increase = peak with EV - max(target_peak, peak of the house alone) (W, may be < 0
  when the target itself is not reached).
* causal oracle: per quarter, EV energy = min(max EV power * plugged seconds, surplus +
  max(L_q * 900 s - house offtake, 0)), L_q = max(target_peak, house-alone peak of the completed
  quarters this month), surplus = the house's export power (at most the EV's maximum) over the
  plugged seconds: energy the car takes from it is never imported, so it is free of the cap; every
  other joule is imported and must fit under L_q. Nobody can charge more without raising the peak
  above what the house alone forces (an upper bound, and reached by a car that soaks the surplus
  first). The oracle's billed quarter = house offtake + max(EV energy - surplus, 0).
  In sessions mode (`PlantParams.sessions`) the car is full after each session's need, so the
  oracle takes, per session, its quarters from plug-in in time order until the need is reached.
"""
from __future__ import annotations

from bisect import bisect_right
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


def add_steps(a_times, a_values, b_times, b_values) -> tuple[list[float], list[float]]:
    """The sum of two step functions (each value holds from its time to the next), on the union
    of their times; before its first time a function counts as 0."""
    times: list[float] = []
    values: list[float] = []
    i = j = 0
    va = vb = 0.0
    na, nb = len(a_times), len(b_times)
    while i < na or j < nb:
        t = min(a_times[i] if i < na else float("inf"), b_times[j] if j < nb else float("inf"))
        while i < na and a_times[i] == t:
            va = a_values[i]
            i += 1
        while j < nb and b_times[j] == t:
            vb = b_values[j]
            j += 1
        if values and values[-1] == va + vb:
            continue
        times.append(t)
        values.append(va + vb)
    return times, values


def split_energy(times, values, end, q0: int, nq: int, net_j=None) -> tuple[list[float], list[float]]:
    """(import J, export J) per quarter q0 .. q0+nq-1 of a grid power step function (W, > 0
    import), as the meter's two registers count them: a minute of export inside a quarter of
    import stays an export and takes nothing off the quarter's import. Export = the negative part
    integrated; import = the quarter's net energy + its export (the positive part integrated,
    exactly). `net_j`: the quarters' net energies when the caller has them already (the house's
    plus the car's), so that a quarter without export imports that net to the bit."""
    export = quarter_energy(times, [max(-v, 0.0) for v in values], end, q0, nq)
    if net_j is None:
        net_j = quarter_energy(times, values, end, q0, nq)
    return [n + x for n, x in zip(net_j, export)], export


def _clipped(times, values, end, a, b):
    """A step function restricted to [a, b) (0 outside)."""
    ts, vs = [a], [0.0]
    i = max(bisect_right(times, a) - 1, 0)
    vs[0] = values[i] if times[i] <= a else 0.0
    i += 1
    while i < len(times) and times[i] < b:
        ts.append(times[i])
        vs.append(values[i])
        i += 1
    ts.append(b)
    vs.append(0.0)
    return ts, vs, min(end, b)


def surplus_energy(trace, max_ev_w: float, intervals, q0: int, nq: int) -> list[float]:
    """The house's surplus a car plugged in over `intervals` ([a, b) epoch s) can take, J per
    quarter q0 .. q0+nq-1: the house's export power (`trace`: net of PV, < 0 exporting), at most
    the car's maximum `max_ev_w`. Energy the car takes from it is never imported: it adds nothing
    to a billed quarter."""
    return energy_within(trace, surplus_power_w(trace, max_ev_w), intervals, q0, nq)


def surplus_power_w(trace, max_ev_w: float) -> list[float]:
    """Per sample of `trace` the surplus a car could take: the export power, at most max_ev_w."""
    return [min(max(-w, 0.0), max_ev_w) for w in trace.power_w]


def energy_within(trace, values, intervals, q0: int, nq: int) -> list[float]:
    """J per quarter q0 .. q0+nq-1 of a power (W) given per sample of `trace` (parallel to its
    times), counted only inside `intervals` ([a, b) epoch s)."""
    out = [0.0] * nq
    if max(values, default=0.0) <= 0:
        return out
    for a, b in intervals:
        ts, vs, e = _clipped(trace.times, values, trace.end, a, b)
        for k, j in enumerate(quarter_energy(ts, vs, e, q0, nq)):
            out[k] += j
    return out


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
    """Per-quarter series of one replay (W averages, J energies). house_j and ev_j are the house's
    net energy (negative when it exports more than it imports) and the car's; the billed figures
    are the offtakes (module docstring)."""
    q0: int
    months: list
    house_j: list[float]
    ev_j: list[float]
    plugged_s: list[float]
    house_offtake_j: list[float]     # the house alone's import: what the meter bills without the car
    soaked_j: list[float]            # the house's export the car took (never imported)
    surplus_j: list[float]           # the house's export the car could have taken while plugged in

    @property
    def house_w(self):
        """The house alone's billed quarter averages (W)."""
        return [e / QUARTER for e in self.house_offtake_j]

    @property
    def ev_offtake_j(self):
        """The car's part of each billed quarter (J): its energy minus the export it soaked."""
        return [e - s for e, s in zip(self.ev_j, self.soaked_j)]

    @property
    def total_w(self):
        """The billed quarter averages with the car (W)."""
        return [(h + e) / QUARTER for h, e in zip(self.house_offtake_j, self.ev_offtake_j)]


def quarters_of(run: RunResult) -> Quarters:
    """The replay's quarters; with a recorder history (`run.history`, tools/history.py) preceded
    by the history's house-alone quarters of the install's month, which count in that month's
    bill (no car then: 0 EV energy, never plugged in)."""
    q0 = int(run.start // QUARTER)
    nq = int(run.end // QUARTER) - q0
    trace = run.trace
    house = quarter_energy(trace.times, trace.power_w, trace.end, q0, nq)
    ev = quarter_energy(run.ev_times, run.ev_w, run.end, q0, nq)
    house_off, house_x = split_energy(trace.times, trace.power_w, trace.end, q0, nq, house)
    both_t, both_w = add_steps(trace.times, trace.power_w, run.ev_times, run.ev_w)
    # the car holds its last power to the replay's end, the house to the trace's end
    both_x = split_energy(both_t, both_w, min(trace.end, run.end), q0, nq)[1]
    soaked = [h - b for h, b in zip(house_x, both_x)]
    plugged = plugged_seconds(run.plugged, q0, nq)
    surplus = surplus_energy(trace, run.params.max_ev_w, run.plugged, q0, nq)
    history = getattr(run, "history", None)
    if history is not None:
        q0, before, before_off = history.billed_quarters()
        none = [0.0] * len(before)
        house, house_off = before + house, before_off + house_off
        ev, soaked, plugged, surplus = none + ev, none + soaked, none + plugged, none + surplus
        nq += len(before)
    return Quarters(q0, quarter_months(q0, nq), house, ev, plugged, house_off, soaked, surplus)


def oracle_ev_j(house_offtake_j, plugged_s, surplus_j, months, target: float,
                max_ev_w: float) -> list[float]:
    """The oracle's EV energy (J) per quarter (module docstring): the surplus while plugged in,
    which raises no billed quarter, plus what the house's offtake leaves under the limit."""
    limits = running_limits([e / QUARTER for e in house_offtake_j], months, target)
    return [min(max(lim * QUARTER - h, 0.0) + x, max_ev_w * s)
            for lim, h, s, x in zip(limits, house_offtake_j, plugged_s, surplus_j)]


def oracle_quarters(run: RunResult, q: Quarters) -> list[float]:
    """The oracle's EV energy (J) per quarter: `oracle_ev_j`, and in sessions mode each session's
    quarters in time order only until its need (kWh) is delivered."""
    target, max_ev_w = run.params.target_peak, run.params.max_ev_w
    free = oracle_ev_j(q.house_offtake_j, q.plugged_s, q.surplus_j, q.months, target, max_ev_w)
    sessions = getattr(run.params, "sessions", ())
    if not sessions:
        return free
    nq = len(q.house_j)
    out = [0.0] * nq
    for a, b, need_kwh in sorted(sessions):
        a, b = max(a, run.start), min(b, run.end)
        if b <= a:
            continue
        left = need_kwh * 3.6e6
        for k, e in enumerate(session_oracle_j(run, q, a, b)):
            if left <= 0:
                break
            take = min(e, left, free[k] - out[k])   # two sessions in one quarter share it
            out[k] += take
            left -= take
    return out


def session_oracle_j(run: RunResult, q: Quarters, a: float, b: float) -> list[float]:
    """`oracle_ev_j` for a car plugged in over [a, b) only."""
    nq = len(q.house_j)
    plugged = plugged_seconds([(a, b)], q.q0, nq)
    surplus = surplus_energy(run.trace, run.params.max_ev_w, [(a, b)], q.q0, nq)
    return oracle_ev_j(q.house_offtake_j, plugged, surplus, q.months, run.params.target_peak,
                       run.params.max_ev_w)


def oracle_offtake_j(ev_j, q: Quarters) -> list[float]:
    """The oracle's part of each billed quarter (J): what it takes beyond the surplus (it soaks
    the surplus first). Two sessions in one quarter count their surplus together."""
    return [max(e - x, 0.0) for e, x in zip(ev_j, q.surplus_j)]


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
    quarters, with the start (epoch s) of the worst quarter of each. house_w: the house alone's
    billed averages; ev_j: the car's part of each billed quarter (`Quarters.ev_offtake_j`)."""
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
                   **_quality(q.q0, q.house_w, q.ev_offtake_j, q.months, target),
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
    billed = _quality(q.q0, q.house_w, oracle_offtake_j(ev, q), q.months, target)
    return Metrics("oracle", run.trace.name, **billed,
                   ev_kwh=kwh, oracle_kwh=kwh, writes=0, writes_per_h=0.0, rejected_429=0,
                   pauses=0, pauses_per_day=0.0, hours=(run.end - run.start) / 3600.0, wall_s=0.0)
