"""Recognised income (FACTS A.8) and the TDSR 55 % / MSR 30 % checks (FACTS A.1)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from aibroker.domain.mortgage import msr_check, recognised_monthly_income, tdsr_check


def test_recognised_income_haircuts() -> None:
    # 6,000 fixed at 100 % + 2,000 variable at 70 % (1,400) + 1,000 rent at 70 % (700)
    # + 3,000 self-employed at 70 % (2,100) = 10,200
    result = recognised_monthly_income(fixed=6_000, variable=2_000, rental=1_000, self_employed=3_000)
    assert result.recognised_monthly_income == Decimal("10200.00")
    assert (result.fixed, result.variable_recognised, result.rental_recognised,
            result.self_employed_recognised) == (6000, 1400, 700, 2100)
    assert {c.key for c in result.facts} == {"income_fixed", "income_variable", "income_rental",
                                              "income_self_employed"}


def test_recognised_income_cites_only_what_was_used() -> None:
    result = recognised_monthly_income(variable=1_000)
    assert result.recognised_monthly_income == 700
    assert [c.key for c in result.facts] == ["income_variable"]


def test_recognised_income_rejects_negative() -> None:
    with pytest.raises(ValueError, match="variable"):
        recognised_monthly_income(fixed=5_000, variable=-1)


def test_tdsr_within_limit() -> None:
    # Limit 55 % × 10,000 = 5,500. Obligations 3,000 new + 1,000 car = 4,000 (40 %). Budget 5,500 − 1,000.
    result = tdsr_check(10_000, 3_000, other_monthly_debts=1_000)
    assert result.kind == "TDSR" and result.within_limit
    assert (result.limit_amount, result.total_obligations, result.ratio_pct) == (5500, 4000, 40)
    assert result.budget_for_new_loan == 4500
    assert [c.key for c in result.facts] == ["tdsr_limit", "tdsr_existing_loan_exclusion"]


def test_tdsr_boundary_is_inclusive() -> None:
    assert tdsr_check(10_000, 5_500).within_limit
    assert not tdsr_check(10_000, Decimal("5500.01")).within_limit


def test_tdsr_counts_existing_property_loans() -> None:
    result = tdsr_check(10_000, existing_property_instalments=2_000, other_monthly_debts=500)
    assert result.budget_for_new_loan == 3000  # 5,500 − 2,000 − 500


def test_budget_is_never_negative() -> None:
    result = tdsr_check(4_000, 0, other_monthly_debts=3_000)  # limit 2,200 < 3,000 debts
    assert result.budget_for_new_loan == 0 and not result.within_limit


def test_msr_ignores_non_property_debt() -> None:
    # MSR 30 % × 10,000 = 3,000; only property loans count.
    result = msr_check(10_000, 3_000)
    assert result.kind == "MSR" and result.within_limit and result.limit_amount == 3000
    assert not msr_check(10_000, Decimal("3000.01")).within_limit
    assert msr_check(10_000, existing_property_instalments=500).budget_for_new_loan == 2500
    assert "msr_limit" in {c.key for c in result.facts}


@pytest.mark.parametrize("income", [0, -100, "x"])
def test_income_must_be_positive(income: object) -> None:
    with pytest.raises(ValueError, match="monthly_income"):
        tdsr_check(income, 1_000)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="monthly_income"):
        msr_check(income, 1_000)  # type: ignore[arg-type]
