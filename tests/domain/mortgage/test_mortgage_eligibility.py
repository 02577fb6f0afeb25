"""IWAA, maximum tenure and LTV tiers (FACTS A.2 bank loans, A.3 HDB loans)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from aibroker.domain.mortgage import income_weighted_average_age, ltv_limit, max_tenure


# --- income-weighted average age ------------------------------------------------------------------
def test_iwaa_mas_example() -> None:
    # (60 × 8,000 + 30 × 10,000) / 18,000 = 780,000 / 18,000 = 43.333…; MAS shows 43.34 (rounded up).
    assert income_weighted_average_age([60, 30], [8_000, 10_000]) == Decimal("43.34")


def test_iwaa_single_and_equal_incomes() -> None:
    assert income_weighted_average_age([35], [5_000]) == Decimal("35.00")
    assert income_weighted_average_age([30, 40], [5_000, 5_000]) == Decimal("35.00")


def test_iwaa_zero_income_borrower_has_no_weight() -> None:
    assert income_weighted_average_age([30, 70], [5_000, 0]) == Decimal("30.00")


@pytest.mark.parametrize(("ages", "incomes"), [
    ([17], [5_000]), ([101], [5_000]), ([30], [0]), ([30, 40], [5_000]), ([], []),
    ([30], [-1]), ([30.5], [5_000]), ([True], [5_000]),
])
def test_iwaa_rejects_bad_input(ages: list[object], incomes: list[object]) -> None:
    with pytest.raises(ValueError):
        income_weighted_average_age(ages, incomes)  # type: ignore[arg-type]


def test_iwaa_age_bounds_are_inclusive() -> None:
    assert income_weighted_average_age([18, 100], [1, 1]) == Decimal("59.00")


# --- maximum tenure ------------------------------------------------------------------------------
@pytest.mark.parametrize(("ptype", "cap", "normal_max"), [
    ("HDB", 30, 25), ("EC", 35, 30), ("Private", 35, 30), ("Landed", 35, 30), ("private", 35, 30),
])
def test_bank_max_tenure(ptype: str, cap: int, normal_max: int) -> None:
    # Age 30: 65 − 30 = 35 years before age binds, so the tenure threshold (25 HDB / 30 other) binds.
    result = max_tenure(ptype, "bank", [30], [6_000])
    assert result.max_years == cap and result.binding == "regulatory_cap"
    assert result.normal_ltv_max_years == normal_max


def test_bank_normal_ltv_tenure_shrinks_with_age() -> None:
    # IWAA 43.34 → floor(65 − 43.34) = 21 years keeps the normal tier.
    assert max_tenure("Private", "bank", [60, 30], [8_000, 10_000]).normal_ltv_max_years == 21
    assert max_tenure("Private", "bank", [65], [6_000]).normal_ltv_max_years == 0
    assert max_tenure("Private", "bank", [70], [6_000]).normal_ltv_max_years == 0


def test_bank_tenure_ignores_lease_with_a_note() -> None:
    result = max_tenure("Private", "bank", [30], [6_000], remaining_lease=50)
    assert result.max_years == 35 and result.notes


@pytest.mark.parametrize(("age", "lease", "years", "binding"), [
    (30, 95, 25, "regulatory_cap"),  # min(25, 35, 75)
    (45, 95, 20, "age"),             # min(25, 20, 75)
    (30, 40, 20, "lease"),           # min(25, 35, 20)
    (40, 45, 25, "regulatory_cap"),  # all three equal 25: the cap is reported first
    (30, 21, 1, "lease"),            # one year of lease above the 20-year buffer
    (30, 20, 0, "lease"),            # lease ≤ 20: no HDB loan
    (64, 95, 1, "age"),
    (65, 95, 0, "age"),
])
def test_hdb_loan_max_tenure(age: int, lease: int, years: int, binding: str) -> None:
    result = max_tenure("HDB", "hdb", [age], [5_000], remaining_lease=lease)
    assert (result.max_years, result.binding) == (years, binding)
    assert result.normal_ltv_max_years is None
    assert bool(result.notes) == (years == 0)


def test_hdb_loan_fractional_lease_rounds_down() -> None:
    assert max_tenure("HDB", "hdb", [30], [5_000], remaining_lease=Decimal("40.9")).max_years == 20


def test_hdb_loan_joint_borrowers_use_iwaa_with_note() -> None:
    result = max_tenure("HDB", "hdb", [60, 30], [8_000, 10_000], remaining_lease=90)
    assert result.max_years == 21 and result.binding == "age"  # floor(65 − 43.34)
    assert any("income-weighted" in n for n in result.notes)


def test_max_tenure_rejections() -> None:
    with pytest.raises(ValueError, match="remaining_lease"):
        max_tenure("HDB", "hdb", [30], [5_000])
    with pytest.raises(ValueError, match="only available for HDB flats"):
        max_tenure("Private", "hdb", [30], [5_000], remaining_lease=90)
    with pytest.raises(ValueError, match="commercial"):
        max_tenure("Commercial", "bank", [30], [5_000])
    with pytest.raises(ValueError, match="property_type"):
        max_tenure("Castle", "bank", [30], [5_000])


# --- LTV limits ----------------------------------------------------------------------------------
def test_first_loan_normal_tier() -> None:
    result = ltv_limit(0, 30, 35, property_is_hdb=False, loan_kind="bank")
    assert (result.ltv_pct, result.min_cash_pct, result.reduced_tier_applied) == (75, 5, False)
    assert result.reasons == ()
    assert "bank_ltv_table" in {c.key for c in result.facts}


@pytest.mark.parametrize(("loans", "normal", "reduced", "cash_normal", "cash_reduced"), [
    (0, 75, 55, 5, 10), (1, 45, 25, 25, 25), (2, 35, 15, 25, 25), (5, 35, 15, 25, 25),
])
def test_ltv_table(loans: int, normal: int, reduced: int, cash_normal: int, cash_reduced: int) -> None:
    normal_tier = ltv_limit(loans, 20, 35, property_is_hdb=False, loan_kind="bank")
    reduced_tier = ltv_limit(loans, 31, 30, property_is_hdb=False, loan_kind="bank")
    assert (normal_tier.ltv_pct, normal_tier.min_cash_pct) == (normal, cash_normal)
    assert (reduced_tier.ltv_pct, reduced_tier.min_cash_pct) == (reduced, cash_reduced)


def test_tenure_trigger_non_hdb_boundary() -> None:
    # Age 30: 30 + 31 = 61 ≤ 65, so only the tenure rule can fire. > 30 years is reduced; 30 is not.
    assert not ltv_limit(0, 30, 30, property_is_hdb=False, loan_kind="bank").reduced_tier_applied
    over = ltv_limit(0, 31, 30, property_is_hdb=False, loan_kind="bank")
    assert over.reduced_tier_applied and over.ltv_pct == 55 and len(over.reasons) == 1
    assert "31 years" in over.reasons[0]


def test_tenure_trigger_hdb_flat_boundary() -> None:
    # HDB flats: > 25 years is reduced.
    assert ltv_limit(0, 25, 30, property_is_hdb=True, loan_kind="bank").ltv_pct == 75
    over = ltv_limit(0, 26, 30, property_is_hdb=True, loan_kind="bank")
    assert over.ltv_pct == 55 and "HDB flat" in over.reasons[0]


def test_age_trigger_boundary() -> None:
    # "Beyond age 65": 40 + 25 = 65 is not beyond; 40 + 26 = 66 and 40.01 + 25 = 65.01 are.
    assert not ltv_limit(0, 25, 40, property_is_hdb=False, loan_kind="bank").reduced_tier_applied
    assert ltv_limit(0, 26, 40, property_is_hdb=False, loan_kind="bank").reduced_tier_applied
    over = ltv_limit(0, 25, Decimal("40.01"), property_is_hdb=False, loan_kind="bank")
    assert over.reduced_tier_applied and "65.01" in over.reasons[0]


def test_age_trigger_with_mas_iwaa() -> None:
    # IWAA 43.34: 21 years ends at 64.34 (normal), 22 years at 65.34 (reduced). The exact 43.333…
    # gives the same answers, which is why rounding IWAA up to 2 dp is safe.
    iwaa = income_weighted_average_age([60, 30], [8_000, 10_000])
    assert ltv_limit(0, 21, iwaa, property_is_hdb=False, loan_kind="bank").ltv_pct == 75
    assert ltv_limit(0, 22, iwaa, property_is_hdb=False, loan_kind="bank").ltv_pct == 55


def test_both_triggers_give_two_reasons() -> None:
    result = ltv_limit(1, 35, 45, property_is_hdb=False, loan_kind="bank")
    assert result.ltv_pct == 25 and len(result.reasons) == 2


def test_non_individual_borrower() -> None:
    result = ltv_limit(0, 20, 40, property_is_hdb=False, loan_kind="bank", individual=False)
    assert result.ltv_pct == 15 and result.min_cash_pct is None and result.notes


def test_hdb_loan_ltv() -> None:
    result = ltv_limit(0, 25, 40, property_is_hdb=True, loan_kind="hdb")
    assert (result.ltv_pct, result.min_cash_pct, result.reduced_tier_applied) == (75, 0, False)
    assert "hdb_loan_ltv" in {c.key for c in result.facts}
    assert ltv_limit(1, 20, 40, property_is_hdb=True, loan_kind="hdb").notes  # needs an HDB check


@pytest.mark.parametrize(("loans", "tenure", "iwaa", "is_hdb", "kind", "match"), [
    (0, 36, 30, False, "bank", "35-year maximum"),
    (0, 31, 30, True, "bank", "30-year maximum"),
    (0, 26, 30, True, "hdb", "25-year maximum"),
    (0, 21, 45, True, "hdb", "age 65"),
    (0, 20, 30, False, "hdb", "only available for HDB flats"),
    (-1, 20, 30, False, "bank", "loans_outstanding"),
    (0, 0, 30, False, "bank", "tenure_years"),
    (0, 20, 17, False, "bank", "iwaa"),
    (0, 20, 30, False, "cash", "loan_kind"),
])
def test_ltv_rejections(loans: int, tenure: int, iwaa: int, is_hdb: bool, kind: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ltv_limit(loans, tenure, iwaa, is_hdb, kind)  # type: ignore[arg-type]


def test_hdb_loan_rejects_non_individual() -> None:
    with pytest.raises(ValueError, match="individuals"):
        ltv_limit(0, 20, 30, property_is_hdb=True, loan_kind="hdb", individual=False)
