"""Borrower age, loan tenure and loan-to-value limits (FACTS A.2 bank loans, A.3 HDB loans)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_FLOOR, Decimal, localcontext
from typing import Any, Literal

from aibroker.domain.leads import PropertyType
from aibroker.domain.mortgage import fact_tables as T
from aibroker.domain.mortgage import facts as F
from aibroker.domain.mortgage._common import (
    CENT,
    MAX_AGE,
    MIN_AGE,
    ZERO,
    LoanKind,
    Money,
    ages_and_incomes,
    ceil_to,
    check_loan_kind,
    check_property_type,
    positive,
    residential_only,
    to_decimal,
    whole_number,
)
from aibroker.domain.mortgage._fact import Fact, citations
from aibroker.domain.mortgage.results import CalcResult

_IWAA_NOTE_HDB = ("HDB loans: joint borrowers' age is taken as the income-weighted average age, as MAS "
                  "does for bank loans; FACTS A.3 says only 'up to age 65' (assumption, confirm with HDB).")


def income_weighted_average_age(ages: Sequence[int], incomes: Sequence[Money]) -> Decimal:
    """IWAA = Σ(age × income) / Σ income (FACTS A.2), rounded UP to 2 decimal places.

    Rounding up matches the MAS worked example (60 y/$8k and 30 y/$10k: exactly 43.333…, shown as
    43.34). It cannot change any rule outcome here: the age-65 test compares IWAA + whole-year tenure
    with 65, and for any x, ceil₀.₀₁(x) > k ⇔ x > k when k is a multiple of 0.01.
    """
    checked_ages, checked_incomes = ages_and_incomes(ages, incomes)
    with localcontext() as ctx:
        ctx.prec = 40
        weighted = sum((Decimal(a) * m for a, m in zip(checked_ages, checked_incomes, strict=True)), ZERO)
        exact = weighted / sum(checked_incomes, ZERO)
    return ceil_to(exact, CENT)


def _whole_years_until(age_limit: int, iwaa: Decimal) -> int:
    """Whole years from IWAA until `age_limit` (floor; may be ≤ 0)."""
    return int((age_limit - iwaa).to_integral_value(rounding=ROUND_FLOOR))


class TenureResult(CalcResult):
    property_type: PropertyType
    loan_kind: LoanKind
    iwaa: Decimal
    max_years: int
    """Longest tenure allowed; 0 means no loan of this kind is possible."""
    binding: Literal["regulatory_cap", "age", "lease"]
    normal_ltv_max_years: int | None
    """Bank loans: the longest tenure that keeps the normal (not reduced) LTV; 0 if none. None for HDB."""


def max_tenure(property_type: PropertyType | str, loan_kind: LoanKind, ages: Sequence[int],
               incomes: Sequence[Money], remaining_lease: Money | None = None) -> TenureResult:
    """Maximum loan tenure in whole years.

    Bank: 30 years for HDB flats, 35 for other residential (FACTS A.2); age does not shorten it but
    pushes LTV to the reduced tier, reported as `normal_ltv_max_years`. Bank lenders' remaining-lease
    policies are not in FACTS and are not modelled. HDB loan: min(25, 65 − IWAA, remaining lease − 20)
    (FACTS A.3), so `remaining_lease` (years) is required.
    """
    ptype = check_property_type(property_type)
    residential_only(ptype)
    kind = check_loan_kind(loan_kind)
    iwaa = income_weighted_average_age(ages, incomes)
    is_hdb = ptype is PropertyType.HDB
    if kind == "bank":
        cap = F.BANK_MAX_TENURE_HDB_YEARS if is_hdb else F.BANK_MAX_TENURE_NON_HDB_YEARS
        threshold = F.REDUCED_LTV_TENURE_HDB_YEARS if is_hdb else F.REDUCED_LTV_TENURE_NON_HDB_YEARS
        by_age = _whole_years_until(F.REDUCED_LTV_AGE.value, iwaa)
        normal_max = max(0, min(threshold.value, by_age, cap.value))
        bank_notes = () if remaining_lease is None else (
            "Remaining lease is not used for bank loans: lenders' lease policies are not in FACTS.",)
        return TenureResult(
            property_type=ptype, loan_kind=kind, iwaa=iwaa, max_years=cap.value, binding="regulatory_cap",
            normal_ltv_max_years=normal_max, notes=bank_notes,
            facts=citations(cap, threshold, F.REDUCED_LTV_AGE, F.IWAA_METHOD))
    if not is_hdb:
        raise ValueError("an HDB concessionary loan is only available for HDB flats")
    if remaining_lease is None:
        raise ValueError("remaining_lease (years) is required for an HDB loan: tenure ≤ remaining lease − 20")
    lease = positive(remaining_lease, "remaining_lease")
    by_lease = int((lease - F.HDB_LOAN_LEASE_BUFFER_YEARS.value).to_integral_value(rounding=ROUND_FLOOR))
    candidates: tuple[tuple[int, Literal["regulatory_cap", "age", "lease"]], ...] = (
        (F.HDB_LOAN_MAX_TENURE_YEARS.value, "regulatory_cap"),
        (_whole_years_until(F.HDB_LOAN_MAX_AGE.value, iwaa), "age"),
        (by_lease, "lease"),
    )
    years, binding = min(candidates, key=lambda c: c[0])  # min() keeps the first of equal values
    notes = [_IWAA_NOTE_HDB] if len(ages) > 1 else []
    if years <= 0:
        notes.append("No HDB loan is possible: " + {
            "regulatory_cap": "",  # unreachable: the cap is 25
            "age": "the borrowers reach 65 within a year",
            "lease": "the remaining lease is 20 years or less (or too short to leave a year of tenure)",
        }[binding])
    return TenureResult(
        property_type=ptype, loan_kind=kind, iwaa=iwaa, max_years=max(0, years), binding=binding,
        normal_ltv_max_years=None, notes=tuple(notes),
        facts=citations(F.HDB_LOAN_MAX_TENURE_YEARS, F.HDB_LOAN_MAX_AGE, F.HDB_LOAN_LEASE_BUFFER_YEARS,
                        F.IWAA_METHOD))


class LtvResult(CalcResult):
    loan_kind: LoanKind
    ltv_pct: Decimal
    min_cash_pct: Decimal | None
    """Minimum cash downpayment as % of the price; None where FACTS gives none (non-individuals)."""
    reduced_tier_applied: bool
    reasons: tuple[str, ...]
    """Why the reduced tier applied (empty when it did not)."""


def ltv_limit(loans_outstanding: int, tenure_years: int, iwaa: Money, property_is_hdb: bool,
              loan_kind: LoanKind, *, individual: bool = True) -> LtvResult:
    """LTV cap and minimum cash for a new housing loan (FACTS A.2 bank table, A.3 HDB loan).

    `loans_outstanding` counts the borrower's other outstanding housing loans (not this one). The
    bank reduced tier applies when tenure > 30 years (> 25 for HDB flats) or IWAA + tenure > 65.
    A tenure beyond the maximum for the loan is rejected rather than silently capped.
    """
    kind = check_loan_kind(loan_kind)
    outstanding = whole_number(loans_outstanding, "loans_outstanding")
    tenure = whole_number(tenure_years, "tenure_years", minimum=1)
    age = to_decimal(iwaa, "iwaa")
    if not MIN_AGE <= age <= MAX_AGE:
        raise ValueError(f"iwaa must be between {MIN_AGE} and {MAX_AGE}, got {age}")
    if kind == "hdb":
        return _hdb_ltv(outstanding, tenure, age, property_is_hdb, individual)
    if not individual:
        return LtvResult(loan_kind=kind, ltv_pct=F.LTV_NON_INDIVIDUAL_PCT.value, min_cash_pct=None,
                         reduced_tier_applied=False, reasons=(),
                         notes=("FACTS gives no minimum cash for non-individual borrowers; refer to a "
                                "human broker.",),
                         facts=citations(F.LTV_NON_INDIVIDUAL_PCT))
    cap = F.BANK_MAX_TENURE_HDB_YEARS if property_is_hdb else F.BANK_MAX_TENURE_NON_HDB_YEARS
    if tenure > cap.value:
        raise ValueError(f"tenure_years {tenure} exceeds the {cap.value}-year maximum for this bank loan")
    threshold = F.REDUCED_LTV_TENURE_HDB_YEARS if property_is_hdb else F.REDUCED_LTV_TENURE_NON_HDB_YEARS
    reasons: list[str] = []
    if tenure > threshold.value:
        where = "an HDB flat" if property_is_hdb else "a non-HDB property"
        reasons.append(f"tenure of {tenure} years is over {threshold.value} years for {where}")
    if age + tenure > F.REDUCED_LTV_AGE.value:
        reasons.append(f"loan runs to income-weighted age {age + tenure}, beyond {F.REDUCED_LTV_AGE.value}")
    tier = T.BANK_LTV_TIERS.value[min(outstanding, 2)]
    reduced = bool(reasons)
    used: list[Fact[Any]] = [T.BANK_LTV_TIERS, threshold, F.REDUCED_LTV_AGE, cap]
    return LtvResult(
        loan_kind=kind,
        ltv_pct=tier.reduced_pct if reduced else tier.normal_pct,
        min_cash_pct=tier.min_cash_reduced_pct if reduced else tier.min_cash_normal_pct,
        reduced_tier_applied=reduced, reasons=tuple(reasons), facts=citations(*used))


def _hdb_ltv(outstanding: int, tenure: int, age: Decimal, property_is_hdb: bool,
             individual: bool) -> LtvResult:
    if not property_is_hdb:
        raise ValueError("an HDB concessionary loan is only available for HDB flats")
    if not individual:
        raise ValueError("an HDB concessionary loan is only available to individuals")
    if tenure > F.HDB_LOAN_MAX_TENURE_YEARS.value:
        raise ValueError(f"tenure_years {tenure} exceeds the {F.HDB_LOAN_MAX_TENURE_YEARS.value}-year "
                         "maximum for an HDB loan")
    if age + tenure > F.HDB_LOAN_MAX_AGE.value:
        raise ValueError(f"an HDB loan must be repaid by age {F.HDB_LOAN_MAX_AGE.value}; iwaa {age} + "
                         f"tenure {tenure} goes beyond it")
    notes = ("Other outstanding housing loans: HDB loan eligibility needs an HDB check (HFE letter).",
             ) if outstanding else ()
    return LtvResult(loan_kind="hdb", ltv_pct=F.HDB_LOAN_LTV_PCT.value,
                     min_cash_pct=F.HDB_LOAN_MIN_CASH_PCT.value, reduced_tier_applied=False, reasons=(),
                     notes=notes,
                     facts=citations(F.HDB_LOAN_LTV_PCT, F.HDB_LOAN_MIN_CASH_PCT,
                                     F.HDB_LOAN_MAX_TENURE_YEARS, F.HDB_LOAN_MAX_AGE))
