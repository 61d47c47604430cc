"""From the states the glue read to one balancer_controller.Reading. No Home Assistant here: the
glue passes each configured entity's state value (a pyscript StateVal: the state string with the
attributes and last_reported/last_changed as attributes) or None when it is missing.

What a user must be told (a sensor that became unusable, a tunable entity out of range) comes back
as (level, text) lines for the glue to log, each once (balancer_runtime.Notice).
"""

import balancer_charger
import balancer_config
import balancer_controller
import balancer_runtime
import balancer_solar
import balancer_units
from balancer_publish import INFO, WARNING


class Reader:
    """Parses the configured entities' states for one app; keeps what must be said only once."""

    def __init__(self, settings):
        self.settings = settings
        s = settings
        configured = [s.grid_power, s.grid_export_power, s.current_number, s.pause_switch, s.charger_status,
                      s.session_energy, s.charger_power, s.average_demand, s.monthly_peak_meter,
                      s.departure_entity, s.energy_needed_entity, s.solar_forecast] + list(s.tunable_entities.values())
        self.entity_ids = [entity_id for entity_id in configured if entity_id]
        self.parsed = {}  # entity -> (state, unit, watts, problem): a steady meter repeats its state
        self.tunables = balancer_runtime.Tunables(s.tunable_entities, balancer_config.tunable_bounds())
        self.charger_notice = balancer_runtime.Notice()
        self.grid_problem = None  # why the last grid reading was unusable
        self.forecast = (None, None)  # (the forecast entity's last_updated, its quarters) parsed
        self.forecast_notice = balancer_runtime.Notice()

    def power(self, value, entity_id):
        """(watts, problem) of a power sensor's state; watts None when unusable."""
        if value is None:
            return None, "missing"
        unit = getattr(value, "unit_of_measurement", None)
        text = str(value)
        parsed = self.parsed.get(entity_id)
        if parsed is None or parsed[0] != text or parsed[1] != unit:
            watts, problem = balancer_units.power_w(text, unit)
            parsed = (text, unit, watts, problem)
            self.parsed[entity_id] = parsed
        return parsed[2], parsed[3]

    def reading(self, values, mode):
        """(Reading, [(level, text), ...]) from {entity_id: state value or None}."""
        s, said = self.settings, []
        grid_w, grid_at = self._grid(values)
        charger, entity_min, entity_max = self._charger(values, said)
        min_a = self._tunable("min_current", s.min_current, values, said)
        max_a = self._tunable("max_current", s.max_current, values, said)
        min_a, max_a = balancer_runtime.current_range(min_a, max_a)
        min_a, max_a = balancer_runtime.entity_range(min_a, max_a, entity_min, entity_max)
        average = values.get(s.average_demand)
        peak = values.get(s.monthly_peak_meter)
        departure = values.get(s.departure_entity)
        needed = values.get(s.energy_needed_entity)
        reading = balancer_controller.Reading(
            grid_w, grid_at, charger, self._tunable("target_peak", s.target_peak, values, said), min_a, max_a, mode,
            meter_average_w=self.power(average, s.average_demand)[0] if s.average_demand else None,
            meter_average_at=average.last_reported if average is not None else None,
            meter_peak_w=self.power(peak, s.monthly_peak_meter)[0] if s.monthly_peak_meter else None,
            meter_peak_changed_at=peak.last_changed if peak is not None else None,
            departure=str(departure) if departure is not None else s.departure,
            energy_needed_kwh=_kwh(needed) if s.energy_needed_entity else s.energy_needed,
            pv_forecast=self._forecast(values, said))
        return reading, said

    def _forecast(self, values, said):
        """The solar forecast's quarters (balancer_solar.forecast_w), parsed again only when the
        entity was updated; None without one (or when it gives nothing usable: one WARNING)."""
        s = self.settings
        if not s.solar_forecast:
            return None
        value = values.get(s.solar_forecast)
        updated = getattr(value, "last_updated", None) if value is not None else None
        if value is None or updated != self.forecast[0]:
            items = getattr(value, "detailedForecast", None) if value is not None else None
            quarters, problem = balancer_solar.forecast_w(items)
            self.forecast = (updated, quarters or None)
            change = self.forecast_notice.update(problem)
            if change == "start":
                said.append((WARNING, "solar_forecast %s: %s; the plan counts the usual surplus" % (s.solar_forecast, problem)))
            elif change == "end":
                said.append((INFO, "solar_forecast %s: read again" % s.solar_forecast))
        return self.forecast[1]

    def _grid(self, values):
        """Net grid power (W, export negative) and when the meter reported it; (None, None) with
        grid_problem set when unusable."""
        s = self.settings
        value = values.get(s.grid_power)
        grid_w, self.grid_problem = self.power(value, s.grid_power)
        if grid_w is None:
            return None, None
        if not s.grid_export_power:
            return grid_w, value.last_reported
        export = values.get(s.grid_export_power)
        export_w, problem = self.power(export, s.grid_export_power)
        if export_w is None:
            self.grid_problem = "export sensor " + problem
            return None, None
        return grid_w - export_w, max(value.last_reported, export.last_reported)

    def _charger(self, values, said):
        """The charger/car model's observation, and the number entity's own min and max."""
        s = self.settings
        number = values.get(s.current_number)
        amps = None
        if number is not None:
            try:
                amps = int(round(float(number)))
            except ValueError:
                amps = None
        switch, status, energy = values.get(s.pause_switch), values.get(s.charger_status), values.get(s.session_energy)
        power = values.get(s.charger_power)
        power_w = None
        if s.charger_power:
            power_w, problem = self.power(power, s.charger_power)
            change = self.charger_notice.update(problem and True)
            if change == "start":
                said.append((WARNING, "charger power %s is %s: estimating the car's draw from the setpoint" % (s.charger_power, problem)))
            elif change == "end":
                said.append((INFO, "charger power %s reports again" % s.charger_power))
        read = [v for v in (switch, status, energy, power) if v is not None]
        times = [v.last_reported for v in read]
        # written again with nothing changed: a polled integration (the charger model learns it)
        repeated = len([v for v in read if v.last_reported > v.last_updated]) > 0
        observation = balancer_charger.ChargerObservation(
            amps=amps, number_max=getattr(number, "max", None), switch=_text(switch), status=_text(status),
            power_w=power_w, session_kwh=_kwh(energy), reported_at=max(times) if times else None, repeated=repeated,
            updated_at=min([v.last_updated for v in read]) if read else None,
            changed_at=max([v.last_updated for v in read + ([number] if number is not None else [])]) if read else None,
            number_at=getattr(number, "last_reported", None), power_at=getattr(power, "last_reported", None))
        return observation, getattr(number, "min", None), getattr(number, "max", None)

    def _tunable(self, key, configured, values, said):
        """A setting that may name an input_number: its value now (safe when the entity is not)."""
        entity_id = self.settings.tunable_entities.get(key)
        if entity_id is None:
            return configured
        value, change, problem = self.tunables.value(key, _text(values.get(entity_id)) or "missing")
        if change == "start":
            said.append((WARNING, "%s (from %s)" % (problem, entity_id)))
        elif change == "end":
            said.append((INFO, "%s from %s is usable again: %s" % (key, entity_id, value)))
        return value


def _text(value):
    return str(value) if value is not None else None


def _kwh(value):
    """kWh from an energy entity's state (its unit: Wh or kWh), None when unusable or missing."""
    if value is None:
        return None
    return balancer_units.energy_kwh(str(value), getattr(value, "unit_of_measurement", None))
