"""What an EV-caused peak increase costs under the Flemish capacity tariff.

Fluvius bills the mean of the last 12 monthly peaks (each at least 2.5 kW) at a yearly price per kW.
Raising one month's peak by D kW raises that mean by D/12 for the 12 months the month stays in it,
so it costs D x (price per kW per year) / 12 in all, spread over those 12 monthly invoices.

The default price, EUR 55.00 per kW per year excluding VAT, is a round figure inside Fluvius' 2026
range of EUR 49.05 (Limburg) to EUR 57.10 (West) per kW per year excluding VAT; 2025's range was
EUR 51.8-60.4 (../shared/reference/capacity-tariff-and-peers.md). Your own DSO sub-area's figure is
on your invoice or at fluvius.be (capaciteitstarief); pass it with `--price-per-kw`.
"""
from __future__ import annotations

DEFAULT_PRICE_EUR_PER_KW_YEAR = 55.00
BILLED_MINIMUM_W = 2500.0             # Fluvius bills every month at least 2.5 kW
PRICE_RANGE_2026 = (49.05, 57.10)     # Fluvius, excl. VAT: Limburg ... West


def peak_increase_cost(increase_w: float, price_eur_per_kw_year: float = DEFAULT_PRICE_EUR_PER_KW_YEAR
                       ) -> float:
    """EUR (excl. VAT) that one month's peak increase of `increase_w` W adds over the 12 months it
    stays in the rolling mean. A negative increase (the car stayed under the target) costs 0."""
    return max(increase_w, 0.0) / 1000.0 * price_eur_per_kw_year / 12.0


def month_cost(peak_w: float, price_eur_per_kw_year: float = DEFAULT_PRICE_EUR_PER_KW_YEAR) -> float:
    """EUR (excl. VAT) that one month's peak costs in all: it is billed at least 2.5 kW, and counts
    for 1/12 of the rolling 12-month mean for the 12 months it stays in it."""
    return peak_increase_cost(max(peak_w, BILLED_MINIMUM_W), price_eur_per_kw_year)
