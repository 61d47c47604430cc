"""From the states the glue read to one balancer_controller.Reading. No Home Assistant here: the
glue passes each configured entity's state value (a pyscript StateVal: the state string with the
attributes and last_reported/last_changed as attributes) or None when it is missing.

What a user must be told (a sensor that became unusable, a tunable entity out of range) comes back
as (level, text) lines for the glue to log, each once (balancer_runtime.Notice).
"""

import balancer_charger
import balancer_config
import balancer_controller
import balancer_planner
import balancer_prices
import balancer_runtime
import balancer_solar
import balancer_time
import balancer_units


class Reader:
    """Parses the configured entities' states for one app; keeps what must be said only once."""

    def __init__(self, settings):
        self.settings = settings
        s = settings
        configured = [s.grid_power, s.grid_export_power, s.current_number, s.pause_switch, s.charger_status,
                      s.session_energy, s.charger_power, s.average_demand, s.monthly_peak_meter,
                      s.departure_entity, s.energy_needed_entity, s.price, s.export_price_entity, s.solar_forecast] + list(s.tunable_entities.values())
        self.entity_ids = [entity_id for entity_id in configured if entity_id]
        self.parsed = {}  # entity -> (state, unit, watts, problem): a steady meter repeats its state
        self.unitless = {}  # power entity -> True while it gives numbers without a unit (read as W)
        self.departure_read = (None, None)  # (departure text, whether it reads as a time), checked once a text
        self.tunables = balancer_runtime.Tunables(s.tunable_entities, balancer_config.tunable_bounds())
        self.charger_notice = balancer_runtime.Notice()
        self.grid_problem = None  # why the last grid reading was unusable
        self.forecast = (None, None)  # (the forecast entity's last_updated, its quarters) parsed
        self.forecast_notice = balancer_runtime.Notice()
        self.departure_notice = balancer_runtime.Notice()
        self.unitless_notice = balancer_runtime.Notice()
        self.range_notice = balancer_runtime.Notice()
        self.zero_notice = balancer_runtime.Notice()  # pause_at_zero with a number that takes no 0 A
        self.unitless_energy_notice = balancer_runtime.Notice()
        self.needed_notice = balancer_runtime.Notice()
        # prices (issue 16): None when not configured
        self.price_feed = None
        if s.price:
            self.price_feed = PriceFeed("price", entity_id=s.price)
        elif s.day_price is not None:
            self.price_feed = PriceFeed("day_price/night_price", schedule=(s.day_price, s.night_price, s.night_hours))
        self.export_feed = None
        if s.export_price_entity:
            self.export_feed = PriceFeed("export_price", entity_id=s.export_price_entity)
        elif s.export_price is not None:
            self.export_feed = PriceFeed("export_price", number=s.export_price)

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
            if watts is not None and balancer_units.no_unit(unit):
                self.unitless[entity_id] = True
            elif entity_id in self.unitless:
                del self.unitless[entity_id]
        return parsed[2], parsed[3]

    def reading(self, values, mode, now=None, attributes_of=None):
        """(Reading, [(level, text), ...]) from {entity_id: state value or None}; now and
        attributes_of (pyscript's state.getattr: an entity id -> its attributes dict) for the
        price tables, read only when a price entity changed."""
        s, said = self.settings, []
        grid_w, grid_at = self._grid(values)
        charger, entity_min, entity_max = self._charger(values, said)
        min_a = self._tunable("min_current", s.min_current, values, said)
        max_a = self._tunable("max_current", s.max_current, values, said)
        min_a, max_a = balancer_runtime.current_range(min_a, max_a)
        min_a, max_a, fits = balancer_runtime.entity_range(min_a, max_a, entity_min, entity_max)
        if not fits or self.range_notice.problem:
            said.extend(self.range_notice.lines(
                not fits, "%s takes %s A at the least, above max_current: no allowed current can be written, the car is paused (held at %d A without a pause_switch)" % (
                    s.current_number, entity_min, min_a), "%s: max_current fits the charger again" % s.current_number))
        zero_fits = not s.pause_at_zero or balancer_runtime.takes_zero(entity_min)
        if not zero_fits or self.zero_notice.problem:
            said.extend(self.zero_notice.lines(
                not zero_fits, "pause_at_zero: %s takes %s A at the least, not 0 A: the car cannot be paused, it is held at %d A at the least" % (
                    s.current_number, entity_min, min_a), "pause_at_zero: %s takes 0 A again" % s.current_number))
        average = values.get(s.average_demand)
        peak = values.get(s.monthly_peak_meter)
        departure, needed = self._session_inputs(values, now, said)
        reading = balancer_controller.Reading(
            grid_w, grid_at, charger, self._tunable("target_peak", s.target_peak, values, said), min_a, max_a, mode,
            meter_average_w=self.power(average, s.average_demand)[0] if s.average_demand else None,
            meter_average_at=average.last_reported if average is not None else None,
            meter_peak_w=self.power(peak, s.monthly_peak_meter)[0] if s.monthly_peak_meter else None,
            meter_peak_changed_at=peak.last_changed if peak is not None else None,
            departure=departure, energy_needed_kwh=needed, current_fits=fits,
            zero_fits=zero_fits,
            pv_forecast=self._forecast(values, said))
        if self.unitless or self.unitless_notice.problem:
            said.extend(self._unitless())
        if now is not None:
            if self.price_feed is not None:
                reading.prices = self.price_feed.table_at(now, values.get(s.price), attributes_of, said)
            if self.export_feed is not None:
                reading.export_prices = self.export_feed.table_at(now, values.get(s.export_price_entity), attributes_of, said)
        return reading, said

    def _session_inputs(self, values, now, said):
        """(departure text, energy needed kWh) for the plan; None where an entity gives nothing
        usable (missing, unavailable, not a time, not kWh): one WARNING, and the car charges as
        the quarter allows until it reads again."""
        s = self.settings
        departure, needed = s.departure, s.energy_needed
        if s.departure_entity:
            value = values.get(s.departure_entity)
            departure = str(value) if value is not None else None
            if departure is not None and departure != self.departure_read[0] and now is not None:
                self.departure_read = (departure, balancer_planner.departure_utc(now, departure) is not None)
            if departure is not None and departure == self.departure_read[0] and not self.departure_read[1]:
                departure = None
            if departure is None or self.departure_notice.problem:
                said.extend(self.departure_notice.lines(
                    departure is None, "departure %s is %s, not a time: no plan, the car charges as the quarter allows until it reads again" % (
                        s.departure_entity, _shown(value)), "departure %s reads a time again" % s.departure_entity))
        if s.energy_needed_entity:
            value = values.get(s.energy_needed_entity)
            needed = _kwh(value)
            if needed is None or self.needed_notice.problem:
                said.extend(self.needed_notice.lines(
                    needed is None, "energy_needed %s is %s, not kWh or Wh: no plan, the car charges as the quarter allows until it reads again" % (
                        s.energy_needed_entity, _shown(value)), "energy_needed %s reads again" % s.energy_needed_entity))
        return departure, needed

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
            said.extend(self.forecast_notice.lines(
                problem, "solar_forecast %s: %s; the plan counts the usual surplus" % (s.solar_forecast, problem),
                "solar_forecast %s: read again" % s.solar_forecast))
        return self.forecast[1]

    def _unitless(self):
        """One WARNING while power sensors give numbers without a unit (power() keeps which): they
        are read as W, so a template sensor in kW would show the house (or the car) 1000 times too
        low."""
        powers = ", ".join(sorted(self.unitless))
        return self.unitless_notice.lines(
            powers, "%s: no unit_of_measurement, read as W (a figure in kW would be read 1000 times too low): give the sensor W or kW" % powers, None)

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
            value = balancer_units.finite_number(number)  # "inf" too is no current (int() raised)
            amps = int(round(value)) if value is not None else None
        switch, status, energy = values.get(s.pause_switch), values.get(s.charger_status), values.get(s.session_energy)
        power = values.get(s.charger_power)
        power_w = None
        if s.charger_power:
            power_w, problem = self.power(power, s.charger_power)
            said.extend(self.charger_notice.lines(
                problem and True, "charger power %s is %s: estimating the car's draw from the setpoint" % (s.charger_power, problem),
                "charger power %s reports again" % s.charger_power))
        read = [v for v in (switch, status, energy, power) if v is not None]
        times = [v.last_reported for v in read]
        # written again with nothing changed: a polled integration (the charger model learns it)
        repeated = len([v for v in read if v.last_reported > v.last_updated]) > 0
        observation = balancer_charger.ChargerObservation(
            amps=amps, number_max=getattr(number, "max", None), switch=_text(switch), status=_text(status),
            power_w=power_w, session_kwh=self._session_kwh(energy, said), reported_at=max(times) if times else None, repeated=repeated,
            updated_at=min([v.last_updated for v in read]) if read else None,
            changed_at=max([v.last_updated for v in read + ([number] if number is not None else [])]) if read else None,
            number_at=getattr(number, "last_reported", None), power_at=getattr(power, "last_reported", None))
        return observation, getattr(number, "min", None), getattr(number, "max", None)

    def _session_kwh(self, energy, said):
        """session_energy in kWh; None when unusable, and when it has no unit (Wh and kWh cannot
        be told apart: one WARNING, the session's energy is estimated)."""
        unitless = energy is not None and _unitless_number(energy)
        if unitless or self.unitless_energy_notice.problem:
            s = self.settings
            said.extend(self.unitless_energy_notice.lines(
                unitless, "%s: no unit_of_measurement, not used (Wh or kWh cannot be told apart): the session's energy is estimated; give the sensor kWh or Wh" % (
                    s.session_energy), "%s: has a unit again, used" % s.session_energy))
        return None if unitless else _kwh(energy)

    def _tunable(self, key, configured, values, said):
        """A setting that may name an input_number: its value now (safe when the entity is not)."""
        entity_id = self.settings.tunable_entities.get(key)
        if entity_id is None:
            return configured
        value, lines = self.tunables.value(key, _text(values.get(entity_id)) or "missing")
        said.extend(lines)
        return value


class PriceFeed:
    """One price setting made into the balancer_prices.PriceTable the planner gets: a price entity
    (its list attributes, unit and state), a day/night schedule, or a fixed number.

    The table is rebuilt only when what it is made of changed, or the local day moved on (today
    and tomorrow are local days): a rebuild and the plan it brings cost about 0.3 s in pyscript
    1.7.0 (192 quarters, some 50 us a statement), a step without one about 5 ms; and the same table
    object means the same plan (the controller plans again on a new one). An entity is looked at
    more closely only when its last_updated (state or attributes written) moved: most integrations
    rewrite the state each hour or quarter (the price now) and the lists twice a day.
    An entity that is missing, unavailable or unreadable keeps the prices it gave last (day-ahead
    prices do not change once published; they run out with their days). A table that cannot price
    the running quarter, or an entity that cannot be read, is one WARNING, and one INFO when it
    reads again; the planner then plans with what is known and the safest quarters beyond it."""

    def __init__(self, name, entity_id=None, number=None, schedule=None):
        self.name = name  # the config key(s), for the log
        self.entity_id = entity_id
        self.number = number  # EUR/kWh
        self.schedule = schedule  # (day_price, night_price, night_hours)
        self.table = None  # the PriceTable handed out
        self.day_ends = None  # UTC end of the local day the table was built on
        self.seen = None  # (state text, last_updated) of the entity last looked at
        self.built_from = None  # (unit, the price lists or the state) the table was built from
        self.checked_until = None  # the end of the quarter whose price was last looked for
        self.good = None  # (state text, attributes) of the last read that priced any quarter
        self.read_problem = None  # why the entity's last read gave no usable table, None when it did
        self.kept = False  # the table is built from self.good, not from the entity as it is now
        self.notice = balancer_runtime.Notice()

    def table_at(self, now, value, attributes_of, said):
        """The table for now; (level, text) lines appended to said when a problem starts or ends."""
        new_day = self.day_ends is None or now >= self.day_ends
        if new_day:
            self.day_ends = balancer_prices.next_local_midnight(now)
        if self.entity_id is None:
            if new_day:
                self._build(now, said)
            return self.table
        seen = None if value is None else (str(value), getattr(value, "last_updated", None))
        if new_day or seen != self.seen:
            self.seen = seen
            self._read_entity(now, value, attributes_of, new_day, said)
        if self.checked_until is None or now >= self.checked_until:
            quarter = balancer_time.quarter_start(now)
            self.checked_until = balancer_time.quarter_end(now)
            self._check(now, quarter, said)
        return self.table

    def _build(self, now, said):
        if self.schedule is not None:
            day, night, hours = self.schedule
            self.table = balancer_prices.schedule_table(day, night, hours, now)
        else:
            self.table = balancer_prices.price_table(self.number, None, now)
        if self.table.problem:  # (the config was validated: this is a defect, said once a day)
            said.append((balancer_runtime.WARNING, "%s: %s" % (self.name, self.table.problem)))

    def _read_entity(self, now, value, attributes_of, new_day, said):
        """Rebuild the table when the entity's unit, lists (or state, without lists) changed."""
        if value is None:
            built_from = ("missing",)
            attributes = None
        else:
            attributes = attributes_of(self.entity_id) if attributes_of is not None else None
            attributes = attributes if isinstance(attributes, dict) else {}
            lists = [attributes.get(key) for key in balancer_prices.LIST_KEYS if isinstance(attributes.get(key), list)]
            built_from = (attributes.get("unit_of_measurement"), lists if lists else str(value))
        if not new_day and built_from == self.built_from:
            return
        self.built_from = built_from
        if value is None:
            table = balancer_prices.PriceTable()
            table.problem = "it does not exist in Home Assistant (check the entity id under Settings > Entities)"
        else:
            table = balancer_prices.price_table(str(value), attributes, now)
        self.read_problem, self.kept = table.problem, False
        if table.knows_any():
            self.good = (str(value), attributes)
        elif self.good is not None:
            kept = balancer_prices.price_table(self.good[0], self.good[1], now)
            if kept.knows_any():
                table, self.kept = kept, True
        self.table = table
        self.checked_until = None  # look at the new table now

    def _check(self, now, quarter, said):
        """One WARNING when the table cannot price the running quarter or read badly, one INFO
        when it can again."""
        table = self.table
        problem = self.read_problem
        if problem is None and table.price(quarter) is None:
            problem = "no price for the quarter from %s" % balancer_time.iso_local(quarter)[11:16]
            if table.eur_per_kwh:
                problem += " (stale: the prices end before it)" if max(table.eur_per_kwh) < quarter else " (a gap in the prices)"
        known = _known_text(table, quarter)
        planning = "the prices it gave before (%s)" % known if self.kept else "the prices known"
        said.extend(self.notice.lines(
            problem is not None,
            "%s %s: %s; planning with %s and the safest quarters beyond them" % (self.name, self.entity_id, problem, planning),
            "%s %s: prices read again (%s)" % (self.name, self.entity_id, known)))


def _known_text(table, quarter):
    """How far the table prices from the quarter on: 'known until 2025-01-16 00:00'."""
    end = balancer_prices.known_until(table, quarter)
    if end is not None:
        return "known until %s" % balancer_time.iso_local(end)[:16].replace("T", " ")
    if table.flat_eur_per_kwh is not None:
        return "one price for every quarter"
    return "none for this quarter"


def _text(value):
    return str(value) if value is not None else None


def _unitless_number(value):
    """A state that holds a number and no unit_of_measurement."""
    if value is None or balancer_units.finite_number(str(value)) is None:
        return False
    return balancer_units.no_unit(getattr(value, "unit_of_measurement", None))


def _shown(value):
    """A state for a log line: quoted, with its unit; 'missing' for no entity."""
    if value is None:
        return "missing"
    unit = getattr(value, "unit_of_measurement", None)
    return "'%s'%s" % (value, " " + unit if unit else "")


def _kwh(value):
    """kWh from an energy entity's state (its unit: Wh or kWh), None when unusable or missing."""
    if value is None:
        return None
    return balancer_units.energy_kwh(str(value), getattr(value, "unit_of_measurement", None))
