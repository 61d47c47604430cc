"""The README's configuration example, read from README.md itself, loads cleanly in real HA + pyscript."""

import logging
import os
import re
from pathlib import Path

import pytest
import yaml

README = Path(os.environ.get("PROJECT_DIR", Path(__file__).resolve().parent.parent)) / "README.md"


def readme_example():
    """The first ```yaml block after '## Configuration' (the full example with every key)."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Configuration"):]
    block = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
    return yaml.safe_load(block)["pyscript"]


@pytest.mark.freeze_time("2025-06-02 12:00:00")
async def test_the_readme_example_loads_with_no_warning_and_controls(pyscript_ha):
    ps = pyscript_ha
    conf = readme_example()
    app = conf["apps"]["wallbox_balancer"]
    numbers = ps.mock_service("number", "set_value")
    ps.mock_service("switch", "turn_on")
    ps.mock_service("switch", "turn_off")
    await ps.set_state(app["grid_power"], "1.2", unit_of_measurement="kW", device_class="power")
    await ps.set_state(app["grid_export_power"], "0.0", unit_of_measurement="kW", device_class="power")
    await ps.set_state(app["charger_power"], "0.0", unit_of_measurement="kW", device_class="power")
    await ps.set_state(app["current_number"], "6.0", min=6, max=32, step=1)
    await ps.set_state(app["pause_switch"], "on")
    await ps.set_state(app["charger_status"], "Charging")
    await ps.set_state(app["average_demand"], "0.8", unit_of_measurement="kW", device_class="power")
    await ps.set_state(app["monthly_peak_meter"], "3.1", unit_of_measurement="kW", device_class="power")
    await ps.set_state(app["session_energy"], "3.2", unit_of_measurement="kWh", device_class="energy")
    options = {k: v for k, v in conf.items() if k != "apps"}
    await ps.start(apps=conf["apps"], **options)
    assert options == {"allow_all_imports": False, "hass_is_global": False}
    for _ in range(6):
        await ps.advance(5)
        await ps.set_state(app["grid_power"], "1.2", unit_of_measurement="kW", device_class="power")
    ps.assert_no_errors(logging.WARNING)
    assert numbers and numbers[0].data["entity_id"] == app["current_number"]
    assert ps.state("pyscript.wallbox_balancer_capacity_limit") == str(app["target_peak"])
    for name in ("monthly_peak", "capacity_limit", "quarter_average", "setpoint", "mode"):
        assert ps.state("pyscript.wallbox_balancer_" + name) is not None
