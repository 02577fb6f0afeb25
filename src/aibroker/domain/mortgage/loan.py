"""Instalment arithmetic (FACTS A.9) and the stress-test rate (FACTS A.1)."""

from __future__ import annotations

from decimal import Decimal, localcontext

from aibroker.domain.mortgage import facts as F
from aibroker.domain.mortgage._common import (
    HUNDRED,
    ZERO,
    LoanKind,
    Money,
    ceil_to,
    cents,
    check_loan_kind,
    non_negative,
    percentage,
    whole_number,
)
from aibroker.domain.mortgage._fact import Fact, citations
from aibroker.domain.mortgage.results import CalcResult

# Enough digits that (1+r)^420 and its reciprocal keep cent accuracy on billion-dollar principals.
_PRECISION = 40


def annuity_payment(principal: Decimal, annual_rate_pct: Decimal, months: int) -> Decimal:
    """Unrounded level monthly payment P·r(1+r)^n / ((1+r)^n − 1); P/n when the rate is 0."""
    if months <= 0:
        raise ValueError(f"months must be positive, got {months}")
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        r = annual_rate_pct / HUNDRED / 12
        if r == 0:
            return principal / months
        growth = (1 + r) ** months
        return +(principal * r * growth / (growth - 1))


def present_value(payment: Decimal, annual_rate_pct: Decimal, months: int) -> Decimal:
    """Unrounded principal that `payment` a month repays over `months`: the inverse of annuity_payment."""
    if months <= 0:
        raise ValueError(f"months must be positive, got {months}")
    if payment <= 0:
        return ZERO
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        r = annual_rate_pct / HUNDRED / 12
        if r == 0:
            return payment * months
        return +(payment * (1 - (1 + r) ** -months) / r)


class InstalmentResult(CalcResult):
    principal: Decimal
    annual_rate_pct: Decimal
    years: int
    monthly_payment: Decimal
    """To the cent (half-up)."""
    monthly_payment_rounded_up: Decimal
    """Whole dollars, rounded up: the legacy quoting convention (FACTS A.9)."""
    total_payable: Decimal
    total_interest: Decimal


def monthly_instalment(principal: Money, annual_rate_pct: Money, years: int) -> InstalmentResult:
    """Level monthly instalment for a fully amortising loan (FACTS A.9); a 0 % rate is allowed.

    Pass the stress rate (`stress_rate`) for eligibility and the quoted rate for an indicative payment.
    """
    p = non_negative(principal, "principal")
    rate = percentage(annual_rate_pct, "annual_rate_pct")
    n_years = whole_number(years, "years", minimum=1)
    months = n_years * 12
    exact = annuity_payment(p, rate, months)
    total = cents(exact * months)
    return InstalmentResult(
        principal=p, annual_rate_pct=rate, years=n_years,
        monthly_payment=cents(exact),
        monthly_payment_rounded_up=ceil_to(exact, F.PAYMENT_ROUNDING_STEP.value),
        total_payable=total, total_interest=total - p,
        facts=citations(F.INSTALMENT_FORMULA, F.PAYMENT_ROUNDING_STEP),
    )


class StressRateResult(CalcResult):
    loan_kind: LoanKind
    rate_pct: Decimal
    """The rate to assess eligibility at: max(floor, quoted)."""
    floor_pct: Decimal
    quoted_rate_pct: Decimal | None
    floor_applied: bool


def stress_rate(loan_kind: LoanKind, quoted_rate_pct: Money | None = None) -> StressRateResult:
    """The medium-term rate for TDSR/MSR (FACTS A.1, A.9): max(floor, quoted).

    Bank residential loans (incl. bank loans for HDB flats): floor 4.0 %. HDB concessionary loans:
    floor max(3.0 %, CPF OA rate + 0.1 pp); `quoted_rate_pct` is then the HDB loan rate and defaults to
    the current 2.6 %. A bank loan with no quote is assessed at the floor.
    """
    kind = check_loan_kind(loan_kind)
    quoted = None if quoted_rate_pct is None else percentage(quoted_rate_pct, "quoted_rate_pct")
    notes: list[str] = []
    if kind == "bank":
        floor = F.STRESS_FLOOR_BANK_PCT.value
        used: tuple[Fact[Decimal], ...] = (F.STRESS_FLOOR_BANK_PCT,)
        if quoted is None:
            notes.append("No quoted rate given; assessed at the 4.0% floor.")
    else:
        oa_plus = F.CPF_OA_RATE_PCT.value + F.HDB_STRESS_SPREAD_OVER_OA_PP.value
        floor = max(F.STRESS_FLOOR_HDB_PCT.value, oa_plus)
        used = (F.STRESS_FLOOR_HDB_PCT, F.HDB_STRESS_SPREAD_OVER_OA_PP, F.CPF_OA_RATE_PCT)
        if quoted is None:
            quoted = F.HDB_LOAN_RATE_PCT.value
            used = (*used, F.HDB_LOAN_RATE_PCT)
    rate = floor if quoted is None else max(floor, quoted)
    return StressRateResult(
        loan_kind=kind, rate_pct=rate, floor_pct=floor, quoted_rate_pct=quoted,
        floor_applied=quoted is None or floor >= quoted,
        facts=citations(*used), notes=tuple(notes),
    )
