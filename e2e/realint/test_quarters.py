"""The quarter-hour the bill counts: the app's own quarter energy, and its writes around quarter
boundaries on a steady evening (issue 8, defects 8 and 9)."""

import pytest

import ri_scenario as R
import realint_helpers as H
from homeassistant.util import dt as dt_util


@pytest.mark.plant(house_w=1000, setpoint_a=10)
@pytest.mark.freeze_time("2025-06-02 12:00:00")
async def test_the_published_quarter_energy_matches_the_meter_within_0_3_percent_around_a_step(realint):
    """DSMR at 1 s; a 5 kW house step from 12:22:13 to 12:25:41, in a quarter the app watched from its
    start. Today the app integrated at its own step times (1899 W against a true 1920 W in the issue).
    Each energy_wh the app publishes for the 12:15 quarter after the step is compared with the true
    offtake from 12:15 up to that publication's `updated`."""
    ri = realint
    await H.start(ri, dsmr_s=1)
    published = []

    def watch(now):
        a = ri.ps.attrs(ri.app_var("quarter_average")) or {}
        if a.get("updated") and (not published or published[-1][1] != a["updated"]):
            published.append((a.get("quarter_start"), a["updated"], a.get("energy_wh")))

    await R.drive(ri, [(R.at("12:22:13"), 6000.0), (R.at("12:25:41"), 1000.0)], until=R.at("12:30:10"), each=watch)

    H.assert_app_runs(ri)
    q0 = R.at("12:15:00")
    mine = [(dt_util.parse_datetime(u), e) for qs, u, e in published if dt_util.parse_datetime(qs) == q0]
    after_step = [(u, e) for u, e in mine if u >= R.at("12:26:00")]
    assert after_step, published
    errors = []
    for updated, energy_wh in after_step:
        true_wh = H.true_energy_wh(ri, q0, updated)
        errors.append((updated.strftime("%H:%M:%S"), energy_wh, round(true_wh, 2), round(100 * (energy_wh - true_wh) / true_wh, 2)))
    assert all(abs(e[3]) <= 0.3 for e in errors), errors


@pytest.mark.parametrize("dsmr_s", [1, 30])
@pytest.mark.plant(house_w=1200, setpoint_a=10)
@pytest.mark.freeze_time("2025-06-02 12:00:00")
async def test_a_steady_evening_costs_at_most_one_write_per_quarter(realint, dsmr_s):
    """Constant 1.2 kW house, the car always wanting: after the first quarter at most one write per
    quarter (today 16 -> 17 -> 18 A in the last minutes and 16 A at the next start), no pause, no
    meter fault (a 30 s DSMR updates every 31 s, inside stale_after), and the limit held."""
    ri = realint
    await H.start(ri, dsmr_s=dsmr_s)
    await ri.run_until(R.at("13:15:00"))

    H.assert_app_runs(ri)
    per_quarter = {}
    for q in ("12:15", "12:30", "12:45", "13:00"):
        start = R.at(q + ":00")
        per_quarter[q] = H.brief(H.writes(ri, start, start + (R.at("12:15:00") - R.at("12:00:00"))))
    assert all(len(w) <= 1 for w in per_quarter.values()), per_quarter
    assert not [w for w in H.writes(ri) if H.is_pause(w)], H.brief(H.writes(ri))
    assert not H.log_lines(ri, "fail-safe", level=30)
    qs = H.quarters(ri, R.at("12:00:00"))
    assert len(qs) == 5 and all(q["grid_avg_w"] <= 4000 for q in qs), qs
