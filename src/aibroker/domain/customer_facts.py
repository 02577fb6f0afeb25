"""What the customer has told us so far: `CustomerFacts`, the conversation's memory (issue #14).

Pure, no I/O. `aibroker.domain.memory.fold_customer_facts` folds the lead form and every customer
message of the current episode, oldest first, into one `CustomerFacts`; a later statement overrides an
earlier one ("actually it's 1.5m"), so a correction needs no special handling. Nothing is stored:
the history is the memory, and both responders read the same fold (`ReplyContext.known_facts()`).
`aibroker.domain.fact_parse` reads one message; `aibroker.domain.fact_dates` its dates and durations.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from datetime import date
from decimal import Decimal
from typing import Literal

from aibroker.domain.fact_dates import shift
from aibroker.domain.leads import LeadForm, LoanType, PropertyCategory

Residency = Literal["citizen", "pr", "foreigner"]
Slot = Literal["price", "income", "age", "residency", "owned", "loans", "property_type", "loan_amount",
               "rate", "tenure", "dates", "lease", "debts"]


@dataclass(frozen=True)
class CustomerFacts:
    price: Decimal | None = None
    incomes: tuple[Decimal, ...] = ()
    ages: tuple[int, ...] = ()
    residency: Residency | None = None
    properties_owned: int | None = None  # residential properties owned before this purchase
    loans_outstanding: int | None = None
    property_type: str | None = None  # "HDB", "EC", "Private", "Landed"
    bto: bool | None = None
    loan_kind: Literal["bank", "hdb"] | None = None
    loan_amount: Decimal | None = None
    rate_pct: Decimal | None = None
    tenure_years: int | None = None
    purchase_date: date | None = None
    sale_date: date | None = None
    holding_months: int | None = None  # a sale stated relative to the purchase ("8 months after we buy")
    variable_income: Decimal | None = None  # monthly bonus/commission/overtime, before the haircut
    remaining_lease: int | None = None
    monthly_debts: Decimal | None = None
    refinancing: bool = False
    lock_in_months: int | None = None
    seen: frozenset[str] = field(default_factory=frozenset)  # which slots the customer gave explicitly

    @property
    def monthly_income(self) -> Decimal | None:
        return sum(self.incomes, Decimal(0)) if self.incomes else None

    def merged(self, newer: CustomerFacts) -> CustomerFacts:
        """`newer` wins wherever it has a value; a sale date and a holding period replace each other."""
        changes: dict[str, object] = {
            f.name: value for f in fields(newer) if f.name != "seen"
            and (value := getattr(newer, f.name)) is not None and value != () and value is not False}
        if newer.sale_date is not None and newer.holding_months is None:
            changes["holding_months"] = None
        elif newer.holding_months is not None and newer.sale_date is None:
            changes["sale_date"] = None
        return replace(self, **changes, seen=self.seen | newer.seen)  # type: ignore[arg-type]

    def sale_dates(self, today: date) -> tuple[date | None, date]:
        """(purchase, sale) for SSD: a holding period counts from the purchase, or from today if the
        customer has not bought yet; with neither a sale date nor a period, the sale is today."""
        if self.holding_months is not None:
            start = self.purchase_date or today
            return start, shift(start, months=self.holding_months)
        return self.purchase_date, self.sale_date or today


def from_lead(lead: LeadForm | None) -> CustomerFacts:
    if lead is None:
        return CustomerFacts()
    ptype = lead.property_type.value if lead.property_type else None
    return CustomerFacts(
        price=_dec(lead.property_price), incomes=tuple(Decimal(str(i)) for i in lead.actual_incomes if i > 0),
        ages=tuple(lead.actual_ages), property_type=None if ptype == "Commercial" else ptype,
        bto=lead.property_category == PropertyCategory.BTO if lead.property_category else None,
        loan_amount=_dec(lead.outstanding_loan), rate_pct=_dec(lead.current_rate),
        refinancing=lead.loan_type == LoanType.REFINANCE, lock_in_months=lead.lock_in_months_left)


def _dec(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(str(value))




def describe(facts: CustomerFacts) -> list[str]:
    """The known facts as short "label: value" lines, for the LLM's system prompt."""
    money = "S${:,.0f}".format
    kind = facts.property_type and (f"{facts.property_type} (BTO)" if facts.bto else facts.property_type)
    rows: tuple[tuple[str, object], ...] = (
        ("Property price", facts.price is not None and money(facts.price)),
        ("Property type", kind),
        ("Monthly income per applicant", facts.incomes and ", ".join(money(i) for i in facts.incomes)),
        ("Ages", facts.ages and ", ".join(str(a) for a in facts.ages)),
        ("Buying as", facts.residency and {"citizen": "Singapore Citizen", "pr": "Singapore PR",
                                           "foreigner": "foreigner"}[facts.residency]),
        ("Residential properties already owned", facts.properties_owned),
        ("Outstanding housing loans", facts.loans_outstanding),
        ("Other monthly debts", facts.monthly_debts is not None and money(facts.monthly_debts)),
        ("Loan kind", facts.loan_kind and ("HDB concessionary loan" if facts.loan_kind == "hdb" else "bank loan")),
        ("Loan amount", facts.loan_amount is not None and money(facts.loan_amount)),
        ("Interest rate", facts.rate_pct is not None and f"{facts.rate_pct}% p.a."),
        ("Loan tenure", facts.tenure_years and f"{facts.tenure_years} years"),
        ("Purchase date", facts.purchase_date and facts.purchase_date.isoformat()),
        ("Sale date", facts.sale_date and facts.sale_date.isoformat()),
        ("Remaining lease", facts.remaining_lease and f"{facts.remaining_lease} years"),
        ("Lock-in months left", facts.lock_in_months),
    )
    return [f"{label}: {value}" for label, value in rows if value is not None and value is not False
            and value != () and value != ""]
