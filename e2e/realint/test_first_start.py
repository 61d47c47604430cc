"""First start (install, or the first run of a month) in the middle of a quarter and of a month.

Issue 8, defect 1: with the car charging at 32 A when the app started mid-quarter, the app filled the
part of the quarter before its first reading with that reading: a quarter really averaging 2390 W
closed as a 7469 W "monthly peak" (with a notification), the limit rose to 7.5 kW and later quarters
really reached ~7 kW. The simulation starts at the frozen time: before it the meter counted nothing
for this quarter, so the plant's energy of the quarter is the truth (the meter's 1-0:1.4.0 agrees).
"""

from datetime import timedelta

import pytest

import ri_scenario as R
import realint_helpers as H

FIRST_Q = R.at("12:00:00", day="2025-06-12")


def track_published(ri, seen):
    def each(now):
        for name in ("monthly_peak", "capacity_limit"):
            value = ri.ps.state(ri.app_var(name))
            try:
                seen.setdefault(name, []).append((now, float(value)))
            except (TypeError, ValueError):
                pass
    return each


@pytest.mark.plant(house_w=300, setpoint_a=32)
@pytest.mark.freeze_time("2025-06-12 12:07:30")
async def test_a_quarter_watched_from_its_middle_never_raises_the_monthly_peak(realint):
    ri = realint
    await H.start(ri, dsmr_s=1)
    seen = {}
    await ri.run_until(R.at("12:45:05", day="2025-06-12"), each=track_published(ri, seen))

    H.assert_app_runs(ri)
    true_first_w = H.quarter_energy_wh(ri, FIRST_Q) * 3600 / 900
    closed = [(q.start + timedelta(minutes=15), q.average_w) for q in ri.plant.full_quarters()]
    for t, peak in seen["monthly_peak"]:  # never above what the quarters closed so far really averaged
        bound = max([true_first_w] + [avg for end, avg in closed if end <= t])
        assert peak <= bound * 1.01 + 5, (
            f"{t:%H:%M:%S}: published monthly peak {peak:.0f} W > the true {bound:.0f} W", H.log_lines(ri, "peak|quarter", 20))
    assert max(v for _, v in seen["capacity_limit"]) == 4000, sorted({v for _, v in seen["capacity_limit"]})
    assert not H.notifications(ri), [n.get("message") for n in H.notifications(ri).values()]
    later = H.quarters(ri, R.at("12:15:00", day="2025-06-12"))
    assert [q["quarter"] for q in later] == ["12:15", "12:30"]
    assert all(q["grid_avg_w"] <= 4000 for q in later), later
    incomplete = H.log_lines(ri, r"incomplete|partial|not (fully )?(watched|seen|measured)|before (the app|it) started")
    assert len(incomplete) == 1, incomplete


@pytest.mark.plant(house_w=300, setpoint_a=32, month_peak_w=5200, month_peak_at=R.at("18:15:00", day="2025-06-10"))
@pytest.mark.freeze_time("2025-06-12 12:07:30")
async def test_a_first_start_with_the_meter_registers_takes_the_meters_month_peak(realint):
    """With `monthly_peak_meter` / `average_demand` configured the meter's 1-0:1.6.0 (5.2 kW earlier
    this month) sets the limit at once, and the half-watched first quarter adds nothing above the truth."""
    ri = realint
    app = ri.readme_app(average_demand=ri.entities.average_demand, monthly_peak_meter=ri.entities.month_peak)
    await H.start(ri, app, dsmr_s=1)
    seen = {}
    await ri.run_until(R.at("12:30:05", day="2025-06-12"), each=track_published(ri, seen))

    H.assert_app_runs(ri)
    true_first_w = H.quarter_energy_wh(ri, FIRST_Q) * 3600 / 900
    true_12_15_w = H.quarter_energy_wh(ri, R.at("12:15:00", day="2025-06-12")) * 3600 / 900
    assert max(v for _, v in seen["monthly_peak"]) <= max(5200, true_first_w * 1.01 + 5, true_12_15_w * 1.01 + 5), seen["monthly_peak"][-1]
    assert float(ri.ps.state(ri.app_var("monthly_peak"))) == 5200
    assert float(ri.ps.state(ri.app_var("capacity_limit"))) == 5200
    own = ri.ps.attrs(ri.app_var("monthly_peak")).get("own_peak")
    assert own is None or own <= max(true_first_w, true_12_15_w) * 1.01 + 5, (own, true_first_w, true_12_15_w)
    later = H.quarters(ri, R.at("12:15:00", day="2025-06-12"))
    assert later and all(q["grid_avg_w"] <= 5200 for q in later), later
    assert not H.notifications(ri), [n.get("message") for n in H.notifications(ri).values()]
