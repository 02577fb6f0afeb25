"""Seller's Stamp Duty on residential property (FACTS A.6), chosen by the purchase date.

Holding-period boundaries: the property is held "up to k years" when the sale date is on or before
the k-th anniversary of the purchase date, so selling on the first anniversary still pays the
"≤ 1 year" rate and selling the day after pays the "> 1 to 2 years" rate. A 29 Feb purchase has its
anniversary on 1 Mar in common years, which errs towards the higher rate. FACTS does not state
IRAS's exact day-count convention (A.10 item 5), so results near an anniversary carry a note.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Literal

from aibroker.domain.mortgage import fact_tables as T
from aibroker.domain.mortgage._common import HUNDRED, ZERO, Money, check_date, floor_to, positive
from aibroker.domain.mortgage._fact import citations
from aibroker.domain.mortgage.results import CalcResult

HoldingBand = Literal["up to 1 year", "over 1 to 2 years", "over 2 to 3 years", "over 3 to 4 years",
                      "over 4 years"]
_BANDS: tuple[HoldingBand, ...] = ("up to 1 year", "over 1 to 2 years", "over 2 to 3 years",
                                   "over 3 to 4 years", "over 4 years")
# Within this many days of an anniversary the day-count convention could change the band.
_NEAR_ANNIVERSARY = timedelta(days=1)


def anniversary(start: date, years: int) -> date:
    """`start` plus whole years; 29 Feb maps to 1 Mar in common years (see module docstring)."""
    try:
        return start.replace(year=start.year + years)
    except ValueError:
        return date(start.year + years, 3, 1)


class SsdResult(CalcResult):
    purchase_date: date
    sale_date: date
    schedule: str
    """Key of the SSD schedule used, e.g. "ssd_schedule_2025"."""
    holding_band: HoldingBand
    rate_pct: Decimal
    dutiable_value: Decimal
    amount: Decimal


def seller_stamp_duty(price: Money, purchase_date: date, sale_date: date, *,
                      market_value: Money | None = None) -> SsdResult:
    """SSD rate and amount for a residential sale (FACTS A.6).

    Bought 14 Jan 2011 – 10 Mar 2017: 16/12/8/4 % (M confidence); 11 Mar 2017 – 3 Jul 2025: 12/8/4 %,
    none after 3 years; on/after 4 Jul 2025: 16/12/8/4 %, none after 4 years. Earlier purchases are
    not covered and raise ValueError. `price` is the selling price.
    """
    bought = check_date(purchase_date, "purchase_date")
    sold = check_date(sale_date, "sale_date")
    if sold < bought:
        raise ValueError(f"sale_date {sold} is before purchase_date {bought}")
    fact = next((s for s in T.SSD_SCHEDULES
                 if s.value.purchased_from <= bought
                 and (s.value.purchased_until is None or bought <= s.value.purchased_until)), None)
    if fact is None:
        earliest = T.SSD_2011.value.purchased_from
        raise ValueError(f"SSD for purchases before {earliest:%d %b %Y} is not covered")
    value = positive(price, "price")
    if market_value is not None:
        value = max(value, positive(market_value, "market_value"))

    index = next((k for k in range(4) if sold <= anniversary(bought, k + 1)), 4)
    rate = fact.value.rates_pct[index] if index < 4 else ZERO
    notes = ["HDB flats are normally unaffected because the minimum occupation period outlasts SSD."]
    if any(abs(sold - anniversary(bought, k)) <= _NEAR_ANNIVERSARY for k in range(1, 5)):
        notes.append("The sale falls on or next to an anniversary of the purchase; confirm the holding "
                     "period with IRAS before relying on the rate.")
    if fact is T.SSD_2011:
        notes.append("The pre-11 Mar 2017 schedule comes from a secondary source only (M confidence).")
    return SsdResult(purchase_date=bought, sale_date=sold, schedule=fact.key, holding_band=_BANDS[index],
                     rate_pct=rate, dutiable_value=value,
                     amount=floor_to(value * rate / HUNDRED, T.BSD_ROUNDING.value),
                     notes=tuple(notes), facts=citations(fact, T.BSD_ROUNDING))
