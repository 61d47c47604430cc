"""Energy prices for the replay (issue 16): the day-ahead spot prices of a month, the all-in price a
household pays per kWh, what an exported kWh earns, and the price entity the app is shown.

    python tools/replay.py TRACE --sessions generated --prices ../shared/prices/BE_2025-10.csv \\
        [--price-formula 'factor=1,adder=0.02,network=0.06,levies=0.052,vat=6'] \\
        [--export-price 'factor=1,fee=0.015' | --export-price 0.03]

**Spot prices.** `../shared/prices/*.csv` (`start,eur_per_mwh`, 60- or 15-minute rows, Belgian
day-ahead, EUR/MWh excl. VAT) read by `tools/quarter_series.py`: per clock quarter, a missing
interval holding the previous price, and laid onto the trace's days by the weekday-aligned day
offset described there (a price month of another month or year keeps its weekends on the trace's
weekends).

**The all-in import price** (`--price-formula`, EUR/kWh, VAT included):

    import = (spot / 1000 x factor + adder + network + levies) x (1 + vat / 100)

Default, a typical Flemish dynamic contract of 2025 (round figures; your own card and DSO differ):
* `factor` 1.00 and `adder` 0.020 EUR/kWh: the supplier's part. Dynamic cards print spot x a factor
  of about 1 to 1.1 plus an adder of about 1-2 c/kWh (green-power and CHP certificate costs
  included); the reference file describes the shape (`factor x spot + base`, renaudallard/
  homeassistant_be_electricity_prices), the figures are typical, not one supplier's.
* `network` 0.060 EUR/kWh: distribution (Fluvius) and transmission (Elia) per kWh offtake, typical
  for 2025. The capacity tariff is NOT in it: it is billed per kW of the month's peak and counted
  apart (`tools/money.py`).
* `levies` 0.052 EUR/kWh: the federal excise, 50.33 EUR/MWh for households until August 2026 (the
  highest rate it has had, renaudallard/homeassistant_be_electricity_prices `excise_law.py`), and
  the energy contribution of about 0.2 c/kWh.
* `vat` 6 %: the Belgian household rate on electricity.
At 0 EUR/MWh spot that is EUR 0.140/kWh, at 100 EUR 0.246, at 250 EUR 0.405: with the shared
months' means (75-112 EUR/MWh) a kWh costs about EUR 0.22-0.26 and EUR 0.15-0.60 over a month.

**Export** (`--export-price`): a number (EUR/kWh, flat), or `factor=F,fee=X`:
`export = spot / 1000 x factor - fee` (no VAT on a household's injection). Default `factor=1,
fee=0.015`, a typical dynamic injection card (spot minus 1-2 c/kWh; negative when spot is).

**Day-ahead timing.** The prices of a local day are published at 13:00 local the day before
(SDAC's gate closes at 12:00 CET; Nord Pool's page says prices come around 13:00): at t the known
quarters run to the end of today, or of tomorrow from 13:00 on. `PriceSeries.known_until(t)` says
so for the evcc-style baseline; `PriceSeries.entity(t)` is what the app is shown.

**The entity** (`sensor.sim_energy_price`, and `sensor.sim_export_price` for a formula export) is
in the custom Nord Pool format that `pyscript/modules/balancer_prices.py` reads: state = the
current quarter's price, attributes `unit_of_measurement: EUR/kWh`, `currency: EUR`, `raw_today`
and `raw_tomorrow` (lists of `{start, end, value}` with local aware datetimes, one item per market
interval: hourly months give hourly items, 15-minute months quarter items), `tomorrow_valid`.
`raw_tomorrow` is empty before 13:00.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta

from tools.plant import QUARTER, TZ
from tools.quarter_series import QuarterSeries, load_series

PRICE_HEADER = ["start", "eur_per_mwh"]
PUBLISH_HOUR = 13            # local hour at which tomorrow's day-ahead prices appear
PRICE_ENTITY = "sensor.sim_energy_price"
EXPORT_ENTITY = "sensor.sim_export_price"


def load_prices(path: str) -> QuarterSeries:
    """Spot EUR/MWh per quarter from a `start,eur_per_mwh` file (ValueError naming file and line)."""
    return load_series(path, PRICE_HEADER, "price")


def _pairs(text: str, option: str, keys) -> dict[str, float]:
    """'a=1,b=2' -> {'a': 1.0, 'b': 2.0}; ValueError naming the option for an unknown key or a
    value that is not a number."""
    out: dict[str, float] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        key, eq, value = part.partition("=")
        key = key.strip().lower()
        if not eq or key not in keys:
            raise ValueError(f"{option} {text!r}: expected {','.join(f'{k}=N' for k in keys)}, "
                             f"got {part.strip()!r}")
        try:
            number = float(value.strip().rstrip("%"))
        except ValueError:
            raise ValueError(f"{option} {text!r}: {key} {value.strip()!r} is not a number") from None
        if not math.isfinite(number):
            raise ValueError(f"{option} {text!r}: {key} {value.strip()!r} is not a number")
        out[key] = number
    return out


@dataclass(frozen=True)
class PriceFormula:
    """The all-in import price from the spot price (module docstring): EUR/kWh except vat (%)."""
    factor: float = 1.00
    adder: float = 0.020
    network: float = 0.060
    levies: float = 0.052
    vat: float = 6.0

    @classmethod
    def parse(cls, text: str | None) -> "PriceFormula":
        """'factor=1.1,adder=0.015' (keys left out keep the default; vat in %)."""
        if text is None:
            return cls()
        values = _pairs(text, "--price-formula", [f.name for f in fields(cls)])
        if not 0 <= values.get("vat", 0) <= 100:
            raise ValueError(f"--price-formula {text!r}: vat is a percentage, 0 to 100")
        return cls(**values)

    def eur_per_kwh(self, spot_eur_per_mwh: float) -> float:
        return ((spot_eur_per_mwh / 1000.0 * self.factor + self.adder + self.network + self.levies)
                * (1.0 + self.vat / 100.0))

    def text(self) -> str:
        return (f"(spot x {self.factor:g} + {self.adder:g} + {self.network:g} + {self.levies:g}) "
                f"x {1 + self.vat / 100:g}")


@dataclass(frozen=True)
class ExportPrice:
    """What an exported kWh earns: flat (EUR/kWh) or spot / 1000 x factor - fee."""
    flat: float | None = None
    factor: float = 1.0
    fee: float = 0.015

    @classmethod
    def parse(cls, text: str | None) -> "ExportPrice":
        if text is None:
            return cls()
        try:
            flat = float(text)
        except ValueError:
            return cls(None, **_pairs(text, "--export-price", ("factor", "fee")))
        if not math.isfinite(flat) or not -1 <= flat <= 10:
            raise ValueError(f"--export-price {text!r}: a flat price is between -1 and 10 EUR/kWh")
        return cls(flat)

    def eur_per_kwh(self, spot_eur_per_mwh: float) -> float:
        if self.flat is not None:
            return self.flat
        return spot_eur_per_mwh / 1000.0 * self.factor - self.fee

    def text(self) -> str:
        if self.flat is not None:
            return f"{self.flat:g} EUR/kWh"
        return f"spot x {self.factor:g} - {self.fee:g}"


@dataclass(frozen=True)
class PriceSpec:
    """What `--prices`, `--price-formula` and `--export-price` say, before a trace is known."""
    spot: QuarterSeries
    formula: PriceFormula = PriceFormula()
    export: ExportPrice = ExportPrice()

    @classmethod
    def read(cls, path: str, formula: str | None = None, export: str | None = None) -> "PriceSpec":
        """ValueError naming the file (and line) or the option."""
        return cls(load_prices(path), PriceFormula.parse(formula), ExportPrice.parse(export))

    def over(self, start: float, end: float) -> "PriceSeries":
        """The prices laid onto a replay of [start, end) (epoch s, whole quarters)."""
        q0 = int(start // QUARTER)
        return PriceSeries(self.spot, q0, int(end // QUARTER) - q0, self.formula, self.export)


class PriceSeries:
    """A replay's prices: per trace quarter (UTC index) the import and export EUR/kWh, with the
    day-ahead timing and the entity the app is shown. It covers the replay's local days and two
    days after (the app sees tomorrow on the last day)."""

    def __init__(self, spot: QuarterSeries, q0: int, nq: int, formula: PriceFormula = PriceFormula(),
                 export: ExportPrice = ExportPrice(), anchor: date | None = None):
        self.name = spot.name
        self.formula, self.export = formula, export
        self.replay = (q0, nq)
        # from the first day's local midnight to the end of the day after the last (the entity
        # shows whole days, tomorrow's too)
        first = datetime.fromtimestamp(q0 * QUARTER, TZ).date()
        last = datetime.fromtimestamp((q0 + nq) * QUARTER, TZ).date() + timedelta(days=2)
        self.q0 = int(datetime(first.year, first.month, first.day, tzinfo=TZ).timestamp() // QUARTER)
        self.nq = int(datetime(last.year, last.month, last.day, tzinfo=TZ).timestamp() // QUARTER) - self.q0
        anchor = anchor or spot.anchor_for(q0)
        self.laid = (spot.day_map(anchor).source_day(anchor), anchor)   # (series day, trace day)
        spots, ids = spot.onto(self.q0, self.nq, anchor)
        self.spot = spots
        self.ids = ids
        self.import_eur = [formula.eur_per_kwh(s) for s in spots]
        self.export_eur = [export.eur_per_kwh(s) for s in spots]
        self.notes = list(spot.notes)
        self._days: dict = {}

    def import_at(self, k: int) -> float:
        """Import EUR/kWh in UTC quarter index k (held at the ends of the covered span)."""
        return self.import_eur[min(max(k - self.q0, 0), self.nq - 1)]

    def export_at(self, k: int) -> float:
        return self.export_eur[min(max(k - self.q0, 0), self.nq - 1)]

    def window(self, q0: int, nq: int) -> tuple[list[float], list[float]]:
        """(import, export) EUR/kWh of the quarters q0 .. q0+nq-1."""
        return ([self.import_at(k) for k in range(q0, q0 + nq)],
                [self.export_at(k) for k in range(q0, q0 + nq)])

    # ---- day-ahead timing ----------------------------------------------------------------------
    @staticmethod
    def known_until(t: float) -> float:
        """End (epoch s) of the quarters whose price is published at t: the end of today, or of
        tomorrow from 13:00 local."""
        local = datetime.fromtimestamp(t, TZ)
        days = 2 if local.hour >= PUBLISH_HOUR else 1
        end = local.date() + timedelta(days=days)
        return datetime(end.year, end.month, end.day, tzinfo=TZ).timestamp()

    @staticmethod
    def next_publication(t: float) -> float:
        """The first 13:00 local after t: when tomorrow's prices appear."""
        day = datetime.fromtimestamp(t, TZ).date()
        for d in (day, day + timedelta(days=1)):
            at = datetime(d.year, d.month, d.day, PUBLISH_HOUR, tzinfo=TZ).timestamp()
            if at > t:
                return at
        raise AssertionError("unreachable")

    # ---- the entity ----------------------------------------------------------------------------
    def _day_items(self, day: date, values: list[float]) -> list[dict]:
        """One local day's raw items: one per market interval, {start, end, value} local aware."""
        start = datetime(day.year, day.month, day.day, tzinfo=TZ).timestamp()
        nxt = day + timedelta(days=1)
        end = datetime(nxt.year, nxt.month, nxt.day, tzinfo=TZ).timestamp()
        items: list[dict] = []
        last_id = None
        for k in range(int(start // QUARTER), int(end // QUARTER)):
            i = min(max(k - self.q0, 0), self.nq - 1)
            a = datetime.fromtimestamp(k * QUARTER, TZ)
            b = datetime.fromtimestamp((k + 1) * QUARTER, TZ)
            if items and self.ids[i] == last_id:
                items[-1]["end"] = b
            else:
                items.append({"start": a, "end": b, "value": round(values[i], 5)})
            last_id = self.ids[i]
        return items

    def entity(self, t: float, export: bool = False) -> tuple[str, dict]:
        """(state, attributes) of the price entity at t (export=True: the export price's)."""
        values = self.export_eur if export else self.import_eur
        local = datetime.fromtimestamp(t, TZ)
        today = local.date()
        published = local.hour >= PUBLISH_HOUR
        key = (today, published, export)
        attributes = self._days.get(key)
        if attributes is None:
            if len(self._days) > 8:
                self._days.clear()
            tomorrow = self._day_items(today + timedelta(days=1), values) if published else []
            attributes = dict(unit_of_measurement="EUR/kWh", currency="EUR", device_class="monetary",
                              raw_today=self._day_items(today, values), raw_tomorrow=tomorrow,
                              tomorrow_valid=published,
                              friendly_name="Simulated export price" if export
                              else "Simulated energy price")
            self._days[key] = attributes
        current = values[min(max(int(t // QUARTER) - self.q0, 0), self.nq - 1)]
        return f"{current:.5f}", attributes

    def describe(self) -> str:
        """One line: the file, how it lies on the trace, the formula, the mean, the export."""
        q0, nq = self.replay
        replayed = self.import_eur[q0 - self.q0:q0 - self.q0 + nq]
        mean_import = sum(replayed) / max(len(replayed), 1)
        source, day = self.laid
        laid = "day for day" if source == day else f"its {source} on the trace's {day}, weekdays aligned"
        return (f"{self.name} ({laid}), import {self.formula.text()} EUR/kWh (mean "
                f"{mean_import:.3f}, {min(replayed):.3f} to {max(replayed):.3f}), export "
                f"{self.export.text()} EUR/kWh")
