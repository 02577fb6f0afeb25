"""Recognised income (FACTS A.8) and the TDSR / MSR checks (FACTS A.1, A.9)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from aibroker.domain.mortgage import facts as F
from aibroker.domain.mortgage._common import HUNDRED, ZERO, Money, cents, non_negative, positive
from aibroker.domain.mortgage._fact import Fact, citations
from aibroker.domain.mortgage.results import CalcResult


class IncomeResult(CalcResult):
    recognised_monthly_income: Decimal
    fixed: Decimal
    variable_recognised: Decimal
    rental_recognised: Decimal
    self_employed_recognised: Decimal


def recognised_monthly_income(fixed: Money = 0, variable: Money = 0, rental: Money = 0,
                              self_employed: Money = 0) -> IncomeResult:
    """Gross monthly income a lender may count for TDSR/MSR (FACTS A.8).

    Fixed salary and allowances 100 %; variable income (bonus, commission, OT, averaged per month) and
    rental income 70 % (the MAS minimum 30 % haircut; banks may be stricter); self-employed income
    (monthly, from the Notice of Assessment) 70 % by common bank practice (M confidence). Eligible
    financial assets are not converted: FACTS flags their haircut table as unverified (A.10 item 3).
    """
    parts: list[tuple[Decimal, Fact[Decimal]]] = [
        (non_negative(fixed, "fixed"), F.FIXED_INCOME_RECOGNISED_PCT),
        (non_negative(variable, "variable"), F.VARIABLE_INCOME_RECOGNISED_PCT),
        (non_negative(rental, "rental"), F.RENTAL_INCOME_RECOGNISED_PCT),
        (non_negative(self_employed, "self_employed"), F.SELF_EMPLOYED_RECOGNISED_PCT),
    ]
    recognised = [amount * fact.value / HUNDRED for amount, fact in parts]
    used = [fact for amount, fact in parts if amount > 0] or [F.FIXED_INCOME_RECOGNISED_PCT]
    return IncomeResult(
        recognised_monthly_income=cents(sum(recognised, ZERO)),
        fixed=cents(recognised[0]), variable_recognised=cents(recognised[1]),
        rental_recognised=cents(recognised[2]), self_employed_recognised=cents(recognised[3]),
        facts=citations(*used))


class DebtRatioResult(CalcResult):
    kind: Literal["TDSR", "MSR"]
    limit_pct: Decimal
    monthly_income: Decimal
    limit_amount: Decimal
    """limit_pct × monthly_income: the most all counted obligations may total."""
    existing_obligations: Decimal
    new_instalment: Decimal
    total_obligations: Decimal
    ratio_pct: Decimal
    """total_obligations / monthly_income, in percent to 2 dp (for display; the test uses exact sums)."""
    budget_for_new_loan: Decimal
    """limit_amount − existing_obligations, floored at 0: the largest new instalment that fits."""
    within_limit: bool


def _check(kind: Literal["TDSR", "MSR"], limit: Fact[Decimal], income: Decimal, new: Decimal,
           existing: Decimal, extra_facts: tuple[Fact[Any], ...]) -> DebtRatioResult:
    limit_amount = income * limit.value / HUNDRED
    total = existing + new
    return DebtRatioResult(
        kind=kind, limit_pct=limit.value, monthly_income=income, limit_amount=cents(limit_amount),
        existing_obligations=existing, new_instalment=new, total_obligations=total,
        ratio_pct=cents(total / income * HUNDRED),
        budget_for_new_loan=cents(max(ZERO, limit_amount - existing)),
        within_limit=total <= limit_amount, facts=citations(limit, *extra_facts))


def tdsr_check(monthly_income: Money, new_instalment: Money = 0, *, existing_property_instalments: Money = 0,
               other_monthly_debts: Money = 0) -> DebtRatioResult:
    """Total Debt Servicing Ratio: all monthly debts ≤ 55 % of recognised gross monthly income.

    `new_instalment` should be computed at the stress rate (`stress_rate`), as MAS requires for the
    loan under application. `other_monthly_debts` covers car, student, renovation, card and other
    loans; include at least 20 % of any property loan the borrower guarantees in the property figure,
    and leave out a loan whose property is being sold or that has been discharged (FACTS A.1).
    Pass new_instalment=0 to read the monthly budget for a new loan.
    """
    income = positive(monthly_income, "monthly_income")
    new = non_negative(new_instalment, "new_instalment")
    existing = (non_negative(existing_property_instalments, "existing_property_instalments")
                + non_negative(other_monthly_debts, "other_monthly_debts"))
    return _check("TDSR", F.TDSR_LIMIT_PCT, income, new, existing, (F.TDSR_EXISTING_LOAN_EXCLUSION,))


def msr_check(monthly_income: Money, new_instalment: Money = 0, *,
              existing_property_instalments: Money = 0) -> DebtRatioResult:
    """Mortgage Servicing Ratio: all property-loan instalments ≤ 30 % of recognised gross monthly income.

    Applies to HDB flats and to ECs bought from the developer (FACTS A.1). Only property loans count;
    include at least 20 % of any property loan the borrower guarantees in `existing_property_instalments`.
    """
    income = positive(monthly_income, "monthly_income")
    new = non_negative(new_instalment, "new_instalment")
    existing = non_negative(existing_property_instalments, "existing_property_instalments")
    return _check("MSR", F.MSR_LIMIT_PCT, income, new, existing, (F.MSR_GUARANTOR_MIN_PCT,))
