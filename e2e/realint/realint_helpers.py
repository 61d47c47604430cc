"""Small shared helpers for the real-integration scenarios (issue 8). See conftest.py for how to run.

Everything here reads what the user or the bill sees: the fake cloud's writes, the plant's true
quarter energy, the app's published state variables and its log records.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta

import ri_cloud
import ri_scenario as R
from ri_sim import wallbox_slug

APP_LOGGER = "custom_components.pyscript"
OPTIONS = {"allow_all_imports": False, "hass_is_global": False}  # the README's pyscript options


# ---- configurations --------------------------------------------------------------------------

def fixed_app(ri, **overrides) -> dict:
    """The README config plus the new optional keys of the fixes: charger_status and session_energy."""
    app = ri.readme_app(
        charger_status=ri.entities.status,
        session_energy=f"sensor.{wallbox_slug(ri.cloud.name)}_added_energy",
    )
    app.update(overrides)
    return app


CONFIGS = ["readme", "with_status"]  # parametrize ids: the README config / with the new keys


def app_for(ri, config: str, **overrides) -> dict:
    return ri.readme_app(**overrides) if config == "readme" else fixed_app(ri, **overrides)


async def start(ri, app: dict | None = None, dsmr_s: int | None = 1) -> dict:
    """Wallbox + DSMR (time_between_update dsmr_s) through their config flows, then the app."""
    return await R.prepare(ri, dsmr_s, app=app or ri.readme_app())


async def start_homewizard(ri, app: dict | None = None) -> dict:
    await ri.setup_wallbox_homewizard()
    app = app or ri.readme_app_homewizard()
    await ri.start_app(app, **OPTIONS)
    return app


def assert_app_runs(ri) -> None:
    """The app loaded its config and controls (an ERROR at load means it commands nothing, and a
    'no writes' assertion would then pass for the wrong reason)."""
    errors = [r.getMessage() for r in ri.ps.log_records(logging.ERROR)]
    assert not errors, errors
    reason = (ri.ps.attrs(ri.app_var("setpoint")) or {}).get("reason")
    assert ri.ps.state(ri.app_var("setpoint")) not in (None, "unknown"), (ri.ps.state(ri.app_var("setpoint")), reason)


# ---- cloud writes ------------------------------------------------------------------------------

def writes(ri, since: datetime | None = None, until: datetime | None = None, status: int | None = None,
           external: bool = False) -> list[dict]:
    """The cloud writes in [since, until), the app's own only unless external=True."""
    out = []
    for w in ri.cloud.writes(status):
        if since is not None and w["t"] < since or until is not None and w["t"] >= until:
            continue
        if not external and (w["body"] or {}).get("external"):
            continue
        out.append(w)
    return out


def amps(w: dict) -> float | None:
    return (w["body"] or {}).get("maxChargingCurrent")


def is_pause(w: dict) -> bool:
    return (w["body"] or {}).get("action") == 2


def is_resume(w: dict) -> bool:
    return (w["body"] or {}).get("action") == 1


def brief(ws: list[dict]) -> list[tuple]:
    """(HH:MM:SS, what, status) for assertion messages."""
    out = []
    for w in ws:
        b = w["body"] or {}
        what = f"{b['maxChargingCurrent']} A" if "maxChargingCurrent" in b else {1: "resume", 2: "pause"}.get(b.get("action"), b)
        out.append((w["t"].strftime("%H:%M:%S"), what, w["status"]))
    return out


# ---- the truth ---------------------------------------------------------------------------------

def quarters(ri, first: datetime | None = None) -> list[dict]:
    """R.figures' full quarters (true grid/house/car averages and the limit in force)."""
    first = first or datetime.min.replace(tzinfo=ri.plant.last_t.tzinfo)
    return R.figures(ri, first_quarter=first)["quarters"]


def true_energy_wh(ri, start: datetime, end: datetime) -> float:
    """True grid offtake in [start, end): each sample's power holds for the second after it."""
    return sum(max(0.0, s.grid_w) for s in ri.samples if start <= s.t < end) / 3600.0


def quarter_energy_wh(ri, quarter: datetime) -> float:
    """The plant's exact offtake of a quarter so far (Wh); before the simulation started: nothing."""
    stats = ri.plant.quarters.get(quarter)
    return 0.0 if stats is None else stats.energy_j / 3600.0


# ---- the app's log -----------------------------------------------------------------------------

def log_lines(ri, pattern: str, level: int = logging.INFO) -> list[str]:
    rx = re.compile(pattern, re.I)
    return [r.getMessage() for r in ri.ps.log_records(level, APP_LOGGER) if rx.search(r.getMessage())]


def notifications(ri) -> dict:
    from homeassistant.components import persistent_notification

    return dict(persistent_notification._async_get_or_create_notifications(ri.hass))


# ---- a full car (the fake cloud does not model one) --------------------------------------------

def make_car_full(ri, full: bool) -> None:
    """The car stops asking (full, or its own timer): it draws nothing and the cloud reports status
    181 'Waiting for car demand' (the switch stays on). full=False: it asks again and draws the
    current the charger holds. Done by wrapping ri.cloud.status_json and setting the plant's car
    limit (car_max_a 0) and draw directly: the harness has no knob for it."""
    cloud, plant = ri.cloud, ri.plant
    if not hasattr(cloud, "_real_status_json"):
        cloud._real_status_json = cloud.status_json
        cloud.car_full = False

        def status_json():
            data = cloud._real_status_json()
            if cloud.car_full and data["status_id"] == ri_cloud.STATUS_CHARGING:
                data["status_id"] = ri_cloud.STATUS_WAITING_FOR_CAR
            return data

        cloud.status_json = status_json
    cloud.car_full = full
    if full:
        plant.car_max_a = 0.0
        plant.drawn_a = 0.0
    else:
        plant.car_max_a = 32.0
        if plant.charging:
            plant.pending.append((plant.last_t + timedelta(seconds=plant.response_s), "follow", plant.setpoint_a))
