"""Monthly instalment (FACTS A.9) and stress rate (FACTS A.1)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from aibroker.domain.mortgage import monthly_instalment, stress_rate
from aibroker.domain.mortgage.loan import annuity_payment, present_value


def test_600k_at_4pct_over_30_years() -> None:
    # r = 0.04/12 = 0.003333…, n = 360, (1+r)^360 ≈ 3.313498
    # payment = 600,000 × 0.003333… × 3.313498 / 2.313498 = 2,000 × 1.432245 ≈ 2,864.49
    result = monthly_instalment(600_000, 4, 30)
    assert result.monthly_payment == Decimal("2864.49")
    assert result.monthly_payment_rounded_up == Decimal("2865")  # legacy "round payments up to $1"
    # total = 2,864.4907… × 360 = 1,031,217.04; interest = total − 600,000
    assert result.total_payable == Decimal("1031217.04")
    assert result.total_interest == Decimal("431217.04")
    assert {c.key for c in result.facts} == {"instalment_formula", "rounding_payment_up"}
    assert result.indicative_only and "indicative" in result.disclaimer.lower()


def test_12pct_one_year() -> None:
    # r = 0.01, n = 12: 12,000 × 0.01 × 1.01^12 / (1.01^12 − 1) = 120 × 1.126825 / 0.126825 = 1,066.19
    assert monthly_instalment(12_000, 12, 1).monthly_payment == Decimal("1066.19")


def test_zero_rate_is_straight_division() -> None:
    # 120,000 over 10 years at 0 %: 120,000 / 120 months = 1,000.00
    result = monthly_instalment(120_000, 0, 10)
    assert result.monthly_payment == Decimal("1000.00")
    assert result.total_interest == 0


def test_zero_principal() -> None:
    assert monthly_instalment(0, 4, 30).monthly_payment == 0


def test_accepts_str_float_decimal() -> None:
    a = monthly_instalment("600000", "4", 30).monthly_payment
    b = monthly_instalment(600_000.0, 4.0, 30).monthly_payment
    c = monthly_instalment(Decimal(600_000), Decimal("4.0"), 30).monthly_payment
    assert a == b == c


@pytest.mark.parametrize(("principal", "rate", "years"), [
    (-1, 4, 30), (600_000, -0.5, 30), (600_000, 100, 30), (600_000, 4, 0), (600_000, 4, 2.5),
    ("abc", 4, 30), (float("nan"), 4, 30), (True, 4, 30), (600_000, 4, True),
])
def test_rejects_bad_input(principal: object, rate: object, years: object) -> None:
    with pytest.raises(ValueError):
        monthly_instalment(principal, rate, years)  # type: ignore[arg-type]


def test_present_value_inverts_annuity() -> None:
    payment = annuity_payment(Decimal(600_000), Decimal(4), 360)
    assert abs(present_value(payment, Decimal(4), 360) - 600_000) < Decimal("0.000001")
    assert present_value(Decimal(1000), Decimal(0), 120) == 120_000
    assert present_value(Decimal(-5), Decimal(4), 120) == 0


def test_bank_stress_rate_floor() -> None:
    low = stress_rate("bank", 3.2)
    assert low.rate_pct == Decimal("4.0") and low.floor_applied
    high = stress_rate("bank", 4.5)
    assert high.rate_pct == Decimal("4.5") and not high.floor_applied
    none = stress_rate("bank")
    assert none.rate_pct == Decimal("4.0") and none.quoted_rate_pct is None and none.notes
    assert [c.key for c in none.facts] == ["stress_floor_bank_residential"]


def test_bank_stress_rate_at_the_floor_exactly() -> None:
    result = stress_rate("bank", 4)
    assert result.rate_pct == 4 and result.floor_applied


def test_hdb_stress_rate() -> None:
    # max(3.0 %, OA 2.5 % + 0.1 pp = 2.6 %) = 3.0 %; the HDB loan rate 2.6 % is below it.
    result = stress_rate("hdb")
    assert result.rate_pct == Decimal("3.0") and result.floor_pct == Decimal("3.0")
    assert result.quoted_rate_pct == Decimal("2.6")
    assert "stress_floor_hdb" in {c.key for c in result.facts}
    # Should the HDB rate ever rise above 3 %, the rate itself is used.
    assert stress_rate("hdb", 3.4).rate_pct == Decimal("3.4")


def test_stress_rate_rejects_unknown_kind() -> None:
    with pytest.raises(ValueError, match="loan_kind"):
        stress_rate("credit_union")  # type: ignore[arg-type]
