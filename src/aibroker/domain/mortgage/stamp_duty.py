"""Buyer's, Additional Buyer's and Seller's Stamp Duty (FACTS A.4, A.5, A.6).

All three are charged on the higher of the price and the market value, so each function takes an
optional `market_value`. Duty is returned in whole dollars rounded down; IRAS's rounding rule is not
confirmed in FACTS (A.4 ⚠), and rounding down keeps the figure at most $1 below any other convention.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict

from aibroker.domain.mortgage import fact_tables as T
from aibroker.domain.mortgage._common import (
    HUNDRED,
    ZERO,
    BuyerProfile,
    Money,
    check_date,
    floor_to,
    positive,
    whole_number,
)
from aibroker.domain.mortgage._fact import Fact, citations
from aibroker.domain.mortgage.results import CalcResult


def _dutiable_value(price: Money, market_value: Money | None) -> Decimal:
    value = positive(price, "price")
    if market_value is not None:
        value = max(value, positive(market_value, "market_value"))
    return value


def _whole_dollars(amount: Decimal) -> Decimal:
    return floor_to(amount, T.BSD_ROUNDING.value)


def _not_before(fact: Fact[Any], purchase_date: date | None, what: str) -> None:
    # Rates for earlier purchases are not in FACTS; refusing beats quoting today's rates for them.
    if purchase_date is None:
        return
    when = check_date(purchase_date, "purchase_date")
    if fact.effective_from is not None and when < fact.effective_from:
        raise ValueError(f"{what} rates for purchases before {fact.effective_from:%d %b %Y} are not "
                         "covered; only the current table is known")


class BandCharge(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    lower: Decimal
    upper: Decimal | None
    rate_pct: Decimal
    taxable: Decimal
    duty: Decimal


class BsdResult(CalcResult):
    residential: bool
    dutiable_value: Decimal
    amount: Decimal
    bands: tuple[BandCharge, ...]
    """Only the bands the value reaches, with the duty charged in each (unrounded)."""


def buyer_stamp_duty(price: Money, residential: bool = True, *, market_value: Money | None = None,
                     purchase_date: date | None = None) -> BsdResult:
    """BSD by marginal bands (FACTS A.4, from 15 Feb 2023), e.g. S$1,200,000 residential → S$32,600."""
    fact = T.BSD_BANDS_RESIDENTIAL if residential else T.BSD_BANDS_NON_RESIDENTIAL
    _not_before(fact, purchase_date, "BSD")
    value = _dutiable_value(price, market_value)
    charges: list[BandCharge] = []
    lower = ZERO
    for band in fact.value:
        if value <= lower:
            break
        top = value if band.upper is None else min(value, band.upper)
        taxable = top - lower
        charges.append(BandCharge(lower=lower, upper=band.upper, rate_pct=band.rate_pct, taxable=taxable,
                                  duty=taxable * band.rate_pct / HUNDRED))
        if band.upper is None:
            break
        lower = band.upper
    total = sum((c.duty for c in charges), ZERO)
    return BsdResult(residential=residential, dutiable_value=value, amount=_whole_dollars(total),
                     bands=tuple(charges), facts=citations(fact, T.BSD_ROUNDING))


_PROFILES: tuple[BuyerProfile, ...] = ("citizen", "pr", "foreigner", "entity", "trustee")


def _profile(value: object) -> BuyerProfile:
    if isinstance(value, str):
        for profile in _PROFILES:
            if profile == value.strip().lower():
                return profile
    raise ValueError(f"profile must be one of {', '.join(_PROFILES)}, got {value!r}")


class AbsdResult(CalcResult):
    profile: BuyerProfile
    property_count_after_purchase: int
    rate_pct: Decimal
    dutiable_value: Decimal
    amount: Decimal
    handoff_recommended: bool
    """FACTS A.11: foreigners, entities and trusts go to a human broker."""


def additional_buyer_stamp_duty(price: Money, profile: BuyerProfile, property_count_after_purchase: int, *,
                                market_value: Money | None = None,
                                purchase_date: date | None = None) -> AbsdResult:
    """ABSD rate and amount (FACTS A.5, purchases from 27 Apr 2023), on top of BSD.

    `property_count_after_purchase` counts residential properties owned including this one (1 = first).
    Joint buyers of different profiles pay the highest applicable rate: call once per profile and
    take the maximum. FTA nationals (Iceland, Liechtenstein, Norway, Switzerland, USA) use "citizen".
    """
    who = _profile(profile)
    count = whole_number(property_count_after_purchase, "property_count_after_purchase", minimum=1)
    _not_before(T.ABSD_RATES, purchase_date, "ABSD")
    value = _dutiable_value(price, market_value)
    rates = T.ABSD_RATES.value[who]
    rate = rates.first if count == 1 else rates.second if count == 2 else rates.third_plus
    used: list[Fact[Any]] = [T.ABSD_RATES, T.BSD_ROUNDING, T.ABSD_JOINT_HIGHEST_RATE]
    notes: list[str] = []
    if who in ("citizen", "pr") and count >= 2:
        used.append(T.ABSD_MARRIED_COUPLE_REMISSION)
        notes.append("Married couples with at least one Singapore Citizen may qualify for ABSD remission "
                     "or a refund; that case needs a human broker.")
    if who == "foreigner":
        used.append(T.ABSD_FTA_NATIONALS)
        notes.append("Nationals of the USA, and nationals/PRs of Iceland, Liechtenstein, Norway and "
                     "Switzerland are treated like Singapore Citizens.")
    # A foreign buyer's rate is a plain fact to quote (issue #14); entity and trust purchases are cases.
    handoff = who in ("entity", "trustee")
    if handoff:
        notes.append("Entity and trust purchases are referred to a human broker.")
    return AbsdResult(profile=who, property_count_after_purchase=count, rate_pct=rate,
                      dutiable_value=value, amount=_whole_dollars(value * rate / HUNDRED),
                      handoff_recommended=handoff, notes=tuple(notes), facts=citations(*used))
