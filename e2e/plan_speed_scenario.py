"""The heaviest plan the app makes (issue 16: "fast enough to redo every quarter over 48 h of
quarters inside pyscript"), built the same way in CPython and inside pyscript's interpreter
(e2e/test_e2e_plan_speed.py copies this file into the app's modules/ folder). Pyscript's subset:
no generators, no dunders, default imports only.

A learnt house with panels (a winter-evening 2.5-3.5 kW house that exports up to 1.5 kW at noon),
plugged in on a Tuesday at 18:00 with a departure three days later (the plan looks 48 h ahead,
MAX_HORIZON_S), 48 h of 15-minute prices that fall by half a cent each quarter of an hour, and a
need of 40 kWh: every kind of quarter is in it (sun, the minimum with sun, grid, unsafe evening
quarters, unknown prices beyond tomorrow)."""

from datetime import datetime, timedelta, timezone

import balancer_planner
import balancer_prices
import balancer_profile

LIMIT_W = 4000.0
MARGIN_W = 150.0
PLUG_IN = datetime(2025, 1, 28, 17, 0, tzinfo=timezone.utc)  # 18:00 in Brussels, a Tuesday
DEPARTURE = PLUG_IN + timedelta(days=3)
NEED_KWH = 40.0
CHARGERS = {"1x230V 6-32A": (32 * 230.0, 6 * 230.0), "3x230V 6-16A": (16 * 690.0, 6 * 690.0)}


def _house_w(quarter):
    """quarter: 0..95 of a Brussels day (UTC+1 in January)."""
    if quarter < 26:
        return 350
    if quarter < 32:
        return 1800
    if quarter < 68:
        return 600
    if quarter < 86:
        return 2500 + 250 * (quarter % 5)
    return 450


def _net_w(quarter):
    """The house's net (W, export negative): panels from 09:00 to 16:00, 1.5 kW beyond the
    house at noon."""
    sun = 0
    if 36 <= quarter < 64:
        sun = 2100 - 60 * abs(quarter - 50)
    return _house_w(quarter) - sun


def profile():
    """A fully learnt profile (its saved form, as the app restores it)."""
    mean_w = [_house_w(q % 96) for q in range(192)]
    jump_w = [900 if 68 <= q % 96 < 86 else 150 for q in range(192)]
    net_w = [_net_w(q % 96) for q in range(192)]
    return balancer_profile.from_dict({
        "format": balancer_profile.FORMAT, "mean_w": mean_w, "jump_w": jump_w, "count": [10] * 192,
        "net_w": net_w, "net_count": [10] * 192, "learnt_until": "2025-01-28T17:00:00+00:00",
        "history_quarters": 0})


def prices():
    """Today's and tomorrow's 15-minute prices (EUR/kWh, UTC quarters), as the glue reads them
    after 13:00: a day 0.30, a night 0.20 falling by a tenth of a cent an hour, and half a cent
    less in each quarter of an hour."""
    table = balancer_prices.PriceTable()
    q = datetime(2025, 1, 27, 23, 0, tzinfo=timezone.utc)  # Tuesday 00:00 in Brussels
    for k in range(192):
        hour = (k // 4) % 24
        night = hour >= 22 or hour < 7
        base = 0.20 - 0.001 * ((hour - 22) % 24) if night else 0.30
        table.eur_per_kwh[q] = base + 0.005 * (3 - k % 4)
        q = q + timedelta(minutes=15)
    return table


def plan(charger, house, table):
    """The plan for one of CHARGERS."""
    car_max_w, car_min_w = CHARGERS[charger]
    return balancer_planner.plan_session(PLUG_IN, DEPARTURE, NEED_KWH, 0.0, LIMIT_W, MARGIN_W, car_max_w, car_min_w,
                                         house, prices=table, running=False)


def summary(p):
    """What the plan decided, JSON-ready and exact: the same in CPython and in pyscript."""
    return {"state": p.state, "reason": p.reason, "charge_now": p.charge_now,
            "windows": [[w[0].isoformat(), w[1].isoformat()] for w in p.windows],
            "planned_cost_eur": repr(p.planned_cost_eur), "cost_now_eur": repr(p.cost_now_eur),
            "marginal_eur_per_kwh": repr(p.marginal_eur_per_kwh)}
