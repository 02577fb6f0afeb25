"""Maximum eligible loan (FACTS A.9): the lowest of the LTV cap and the TDSR/MSR affordability caps."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Literal

from aibroker.domain.leads import PropertyType
from aibroker.domain.mortgage import facts as F
from aibroker.domain.mortgage._common import (
    HUNDRED,
    ZERO,
    LoanKind,
    Money,
    cents,
    check_loan_kind,
    check_property_type,
    floor_to,
    non_negative,
    positive,
    residential_only,
    whole_number,
)
from aibroker.domain.mortgage._fact import citations
from aibroker.domain.mortgage.debt_servicing import DebtRatioResult, msr_check, tdsr_check
from aibroker.domain.mortgage.eligibility import LtvResult, TenureResult, ltv_limit, max_tenure
from aibroker.domain.mortgage.loan import StressRateResult, annuity_payment, present_value, stress_rate
from aibroker.domain.mortgage.results import CalcResult, merge_citations, merge_notes

Constraint = Literal["ltv", "tdsr", "msr", "tenure"]


class MaxLoanResult(CalcResult):
    max_loan: Decimal
    """Eligible loan, rounded down to the nearest $1,000 (FACTS A.9 convention)."""
    binding_constraint: Constraint
    """Which cap set max_loan ("tenure" = no tenure is possible, e.g. HDB lease ≤ 20 years)."""
    tenure_years: int
    ltv_base: Decimal
    """The lower of price and valuation, which LTV applies to."""
    ltv_cap: Decimal
    tdsr_cap: Decimal
    msr_cap: Decimal | None
    """None where MSR does not apply (only HDB flats and ECs bought from the developer)."""
    stress_rate_pct: Decimal
    stressed_monthly_instalment: Decimal
    indicative_rate_pct: Decimal | None
    indicative_monthly_instalment: Decimal | None
    """At the quoted rate (the HDB loan rate for HDB loans); None if no rate was quoted for a bank loan."""
    ltv: LtvResult | None
    tenure: TenureResult
    stress: StressRateResult
    tdsr: DebtRatioResult
    msr: DebtRatioResult | None


def max_loan(*, price: Money, property_type: PropertyType | str, loan_kind: LoanKind,
             ages: Sequence[int], monthly_incomes: Sequence[Money], valuation: Money | None = None,
             existing_property_instalments: Money = 0, other_monthly_debts: Money = 0,
             loans_outstanding: int = 0, tenure_years: int | None = None,
             quoted_rate_pct: Money | None = None, remaining_lease_years: Money | None = None,
             ec_bought_from_developer: bool = True) -> MaxLoanResult:
    """Eligible loan = min(LTV × min(price, valuation), PV(TDSR budget), PV(MSR budget if it applies)).

    `monthly_incomes` are each borrower's *recognised* gross monthly income (see
    `recognised_monthly_income`); they weight the IWAA and their sum is the TDSR/MSR income. PVs use
    the stress rate over the tenure. With `tenure_years=None` the calculator tries the longest tenure
    allowed and the longest that keeps the normal LTV tier, and keeps the larger loan (the shorter
    tenure on a tie). TDSR is applied to HDB loans as well as bank loans, as the FACTS A.9 formula
    states; this can only lower the figure. An EC is assumed bought from the developer (MSR applies)
    unless `ec_bought_from_developer=False`.
    """
    ptype = check_property_type(property_type)
    residential_only(ptype)
    kind = check_loan_kind(loan_kind)
    p = positive(price, "price")
    base = min(p, positive(valuation, "valuation")) if valuation is not None else p
    loans = whole_number(loans_outstanding, "loans_outstanding")
    tenure = max_tenure(ptype, kind, ages, monthly_incomes, remaining_lease_years)
    income = sum((non_negative(m, "monthly_incomes") for m in monthly_incomes), ZERO)
    stress = stress_rate(kind, quoted_rate_pct)
    msr_applies = ptype is PropertyType.HDB or (ptype is PropertyType.EC and ec_bought_from_developer)
    tdsr = tdsr_check(income, existing_property_instalments=existing_property_instalments,
                      other_monthly_debts=other_monthly_debts)
    msr = (msr_check(income, existing_property_instalments=existing_property_instalments)
           if msr_applies else None)

    if tenure_years is not None:
        chosen = whole_number(tenure_years, "tenure_years", minimum=1)
        if chosen > tenure.max_years:
            raise ValueError(f"tenure_years {chosen} exceeds the maximum of {tenure.max_years} years here")
        candidates = [chosen]
    else:
        candidates = sorted({tenure.max_years, tenure.normal_ltv_max_years or 0} - {0})

    notes: list[str] = []
    if kind == "hdb":
        notes.append("TDSR is applied to the HDB loan too (FACTS A.9 formula); HDB itself caps at MSR 30%.")
    if ptype is PropertyType.EC and msr_applies:
        notes.append("EC assumed bought from the developer (within MOP), so MSR applies.")
    if valuation is not None and base < p:
        notes.append("Valuation is below the price: LTV applies to the valuation; the difference is cash.")

    best: tuple[Decimal, Constraint, int, LtvResult, Decimal, Decimal | None] | None = None
    for years in candidates:
        months = years * 12
        ltv = ltv_limit(loans, years, tenure.iwaa, ptype is PropertyType.HDB, kind)
        ltv_cap = base * ltv.ltv_pct / HUNDRED
        tdsr_cap = present_value(tdsr.budget_for_new_loan, stress.rate_pct, months)
        msr_cap = present_value(msr.budget_for_new_loan, stress.rate_pct, months) if msr else None
        caps: list[tuple[Decimal, Constraint]] = [(ltv_cap, "ltv"), (tdsr_cap, "tdsr")]
        if msr_cap is not None:
            caps.append((msr_cap, "msr"))
        lowest, binding = min(caps, key=lambda c: c[0])  # first of equals: ltv, tdsr, msr
        loan = max(ZERO, floor_to(lowest, F.LOAN_ROUNDING_STEP.value))
        if best is None or loan > best[0]:
            best = (loan, binding, years, ltv, tdsr_cap, msr_cap)

    used = citations(F.LTV_ON_LOWER_OF_PRICE_OR_VALUATION, F.INSTALMENT_FORMULA, F.LOAN_ROUNDING_STEP)
    common_facts = (tenure.facts, stress.facts, tdsr.facts, msr.facts if msr else (), used)
    indicative_rate = stress.quoted_rate_pct
    if best is None:  # no tenure is possible at all
        return MaxLoanResult(
            max_loan=ZERO, binding_constraint="tenure", tenure_years=0, ltv_base=base, ltv_cap=ZERO,
            tdsr_cap=ZERO, msr_cap=ZERO if msr else None, stress_rate_pct=stress.rate_pct,
            stressed_monthly_instalment=ZERO, indicative_rate_pct=indicative_rate,
            indicative_monthly_instalment=None if indicative_rate is None else ZERO,
            ltv=None, tenure=tenure, stress=stress, tdsr=tdsr, msr=msr,
            notes=merge_notes(tenure.notes, tuple(notes)), facts=merge_citations(*common_facts))

    loan, binding, years, ltv, tdsr_cap, msr_cap = best
    if len(candidates) > 1:
        notes.append(f"Tenure {years} years gives the larger loan of {candidates} years tried "
                     "(a longer tenure can push LTV to the reduced tier).")
    return MaxLoanResult(
        max_loan=loan, binding_constraint=binding, tenure_years=years, ltv_base=base,
        ltv_cap=cents(base * ltv.ltv_pct / HUNDRED), tdsr_cap=cents(tdsr_cap),
        msr_cap=None if msr_cap is None else cents(msr_cap), stress_rate_pct=stress.rate_pct,
        stressed_monthly_instalment=cents(annuity_payment(loan, stress.rate_pct, years * 12)),
        indicative_rate_pct=indicative_rate,
        indicative_monthly_instalment=(None if indicative_rate is None
                                       else cents(annuity_payment(loan, indicative_rate, years * 12))),
        ltv=ltv, tenure=tenure, stress=stress, tdsr=tdsr, msr=msr,
        notes=merge_notes(tenure.notes, stress.notes, ltv.notes, tuple(notes)),
        facts=merge_citations(ltv.facts, *common_facts))
