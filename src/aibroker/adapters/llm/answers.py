"""Offline answers, part 1: shared helpers and the stamp duties (BSD, ABSD, SSD).

Every figure comes from a calculator result or a `facts` constant, each quoted with its effective
date; wording only. An `Answer` says what it is missing so the responder can ask for it, and which
facts it used so the reply can cite them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from aibroker.domain import mortgage as M
from aibroker.domain.customer_facts import CustomerFacts
from aibroker.domain.mortgage import fact_tables as T
from aibroker.domain.mortgage.results import CalcResult
from aibroker.domain.ports import HandoffSignal

ASK = {  # what to ask for, in customer words
    "price": "the property price", "income": "your gross monthly income", "age": "your age",
    "residency": "whether you're buying as a Singapore Citizen, PR or foreigner",
    "owned": "how many residential properties you already own", "loan_amount": "the loan amount",
    "purchase_date": "when you bought (or will buy) the property", "lease": "the remaining lease in years",
    "refi": "your outstanding loan, current rate and years left on the loan",
    "loans": "whether you have any outstanding housing loans",
}
_PROFILE = {"citizen": "a Singapore Citizen", "pr": "a Singapore PR", "foreigner": "a foreigner"}
_ORDINALS = ("first", "second", "third")


@dataclass
class Answer:
    text: str = ""
    facts: list[str] = field(default_factory=list)
    has_figures: bool = False
    missing: list[str] = field(default_factory=list)  # keys of ASK
    handoff: HandoffSignal | None = None

    def cite(self, *results: CalcResult) -> Answer:
        for result in results:
            self.facts.extend(c.key for c in result.facts if c.key not in self.facts)
        return self


def money(value: Decimal | float | int) -> str:
    return f"S${Decimal(str(value)):,.0f}"


def pct(value: Decimal | float | int) -> str:
    return f"{format(Decimal(str(value)).normalize(), 'f')}%"


def short(note: str) -> str:
    """An effective-date note without its parenthetical history or second clause: "OTP on/after 16 Dec 2021"."""
    return note.split(" (")[0].split("; ")[0]


def when(result: CalcResult, key: str) -> str:
    """The effective-date note of one fact the result used, e.g. "purchases on/after 27 Apr 2023"."""
    return short(next((c.effective_note for c in result.facts if c.key == key), ""))


def day(value: date) -> str:
    return f"{value.day} {value:%b %Y}"


def ordinal(count: int) -> str:
    return _ORDINALS[count - 1] if 1 <= count <= len(_ORDINALS) else f"{count}th"


def bsd(s: CustomerFacts) -> Answer:
    if s.price is None:
        bands = T.BSD_BANDS_RESIDENTIAL
        rates = [b.rate_pct for b in bands.value]
        return Answer("Buyer's Stamp Duty is charged in bands on the price or market value, from "
                      f"{pct(rates[0])} on the first {money(bands.value[0].upper or 0)} up to "
                      f"{pct(rates[-1])} above {money(bands.value[-2].upper or 0)} "
                      f"({short(bands.effective_note)}).",
                      [bands.key], True, ["price"])
    r = M.buyer_stamp_duty(s.price)
    text = (f"Buyer's Stamp Duty on a {money(r.dutiable_value)} residential purchase is {money(r.amount)} "
            f"({when(r, 'bsd_residential')}), payable within 14 days of signing.")
    answer = Answer(text, has_figures=True).cite(r)
    answer.facts.append("bsd_payment_deadline")
    if s.residency is not None and s.properties_owned is not None:
        extra = absd(s)
        answer.text += " " + extra.text
        answer.facts.extend(extra.facts)
        answer.handoff = extra.handoff
    else:
        answer.text += " ABSD may apply on top if you're not a Singapore Citizen or already own a home."
    return answer


def absd(s: CustomerFacts) -> Answer:
    """Answered for every buyer profile (a rate question is not a case); remission and refund cases are
    handed off by `detect_handoff` before we get here."""
    missing = [k for k, v in (("residency", s.residency), ("owned", s.properties_owned)) if v is None]
    if s.residency == "foreigner":  # the same rate on any purchase: the count does not matter
        missing = [k for k in missing if k != "owned"]
    if missing:
        rates = T.ABSD_RATES.value
        return Answer("ABSD depends on who buys and how many homes you'll own: Singapore Citizens pay "
                      f"{pct(rates['citizen'].first)} on a first home and {pct(rates['citizen'].second)} on "
                      f"a second, PRs {pct(rates['pr'].first)} and {pct(rates['pr'].second)} "
                      f"({short(T.ABSD_RATES.effective_note)}).", [T.ABSD_RATES.key], True, missing)
    assert s.residency is not None
    count = (s.properties_owned or 0) + 1
    who = (f"As {_PROFILE[s.residency]} buying your {ordinal(count)} residential property"
           if s.residency != "foreigner" else "As a foreign buyer")
    if s.price is None:
        table = T.ABSD_RATES.value[s.residency]
        rate = table.first if count == 1 else table.second if count == 2 else table.third_plus
        return Answer(f"{who}, ABSD is {pct(rate)} of the price or market value "
                      f"({short(T.ABSD_RATES.effective_note)}), on top of BSD.", [T.ABSD_RATES.key], True,
                      ["price"])
    r = M.additional_buyer_stamp_duty(s.price, s.residency, count)
    text = (f"{who}, ABSD is {pct(r.rate_pct)} ({when(r, 'absd_rates')}): "
            + (f"{money(r.amount)} on {money(r.dutiable_value)}, on top of BSD." if r.amount else "nothing to pay."))
    if count >= 2 and s.residency != "foreigner":
        text += " Married couples may qualify for remission or a refund; a specialist can check that."
    if s.residency == "foreigner":
        text += (" US nationals, and nationals or PRs of Iceland, Liechtenstein, Norway and Switzerland, "
                 "pay as citizens under free trade agreements.")
    return Answer(text, has_figures=True).cite(r)


def ssd(s: CustomerFacts, today: date) -> Answer:
    bought, sale = s.sale_dates(today)
    if bought is None:
        new, old = T.SSD_2025.value, T.SSD_2017.value
        until = old.purchased_until or today
        return Answer("Seller's Stamp Duty depends on when you bought: for properties bought on or after "
                      f"{day(new.purchased_from)} it's {' / '.join(pct(r) for r in new.rates_pct)} if sold "
                      f"within 1 / 2 / 3 / 4 years; bought {day(old.purchased_from)} – {day(until)}, "
                      f"{' / '.join(pct(r) for r in old.rates_pct[:3])} within 1 / 2 / 3 years.",
                      [T.SSD_2025.key, T.SSD_2017.key], True, ["purchase_date"])
    # The rate and holding band do not depend on the price; 1 stands in until the customer gives one.
    try:
        r = M.seller_stamp_duty(s.price or 1, bought, sale)
    except ValueError as error:
        return Answer(f"I can't work that one out: {error}.")
    held = (f"{'Buying' if bought >= today else 'Bought'} on {day(bought)} and selling on {day(sale)}, "
            "the holding period is "
            f"{r.holding_band}")
    rule = when(r, r.schedule)
    if r.rate_pct == 0:
        return Answer(f"{held}, so SSD is {pct(r.rate_pct)}: nothing to pay ({rule}).",
                      has_figures=True).cite(r)
    if s.price is None:
        return Answer(f"{held}, so SSD is {pct(r.rate_pct)} of the selling price or market value ({rule}).",
                      has_figures=True, missing=["price"]).cite(r)
    return Answer(f"{held}, so SSD is {pct(r.rate_pct)} ({rule}): {money(r.amount)} on "
                  f"{money(r.dutiable_value)}.", has_figures=True).cite(r)
