"""max_loan = min(LTV × min(price, valuation), PV(TDSR budget), PV(MSR budget)), down to $1,000."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from aibroker.domain.mortgage import max_loan

# PV of $1 a month at the 4 % stress rate: 30 y 209.4612, 25 y 189.4525, 20 y 165.0219, 35 y 225.8485
# (= (1 − (1 + 0.04/12)^−n) / (0.04/12)); at 3 % over 25 y: 210.8765.


def _private(**overrides: Any) -> dict[str, Any]:
    args: dict[str, Any] = {"price": 800_000, "property_type": "Private", "loan_kind": "bank",
                            "ages": [35], "monthly_incomes": [20_000]}
    args.update(overrides)
    return args


def test_ltv_binds_for_a_high_earner() -> None:
    # 75 % × 800,000 = 600,000; TDSR 11,000 × 209.46 ≈ 2.3 M is far above.
    result = max_loan(**_private())
    assert result.max_loan == 600_000 and result.binding_constraint == "ltv"
    assert result.tenure_years == 30  # 35 years would drop LTV to 55 % (440,000)
    assert result.ltv is not None and not result.ltv.reduced_tier_applied
    assert result.msr_cap is None and result.msr is None  # MSR does not apply to private property
    assert result.stress_rate_pct == Decimal("4.0")
    assert result.stressed_monthly_instalment == Decimal("2864.49")  # 600k at 4 % over 30 y
    assert result.indicative_monthly_instalment is None  # no quoted rate for a bank loan


def test_tdsr_binds_and_rounds_down() -> None:
    # Budget 55 % × 4,000 = 2,200; PV = 2,200 × 209.4612 = 460,814.73 → 460,000.
    result = max_loan(**_private(monthly_incomes=[4_000]))
    assert result.max_loan == 460_000 and result.binding_constraint == "tdsr"
    assert result.tdsr_cap == Decimal("460814.73")


def test_other_debts_reduce_tdsr_budget() -> None:
    # Budget 5,500 − 1,000 car = 4,500. Over 30 y: 4,500 × 209.4612 = 942,575.58 → 942,000 (LTV 1.5 M).
    at_30 = max_loan(**_private(price=2_000_000, monthly_incomes=[10_000], other_monthly_debts=1_000,
                                tenure_years=30))
    assert at_30.max_loan == 942_000 and at_30.binding_constraint == "tdsr"
    # Left to choose, 35 y lends more even at the reduced 55 % LTV (1.1 M):
    # 4,500 × 225.8485 = 1,016,318 → 1,016,000.
    best = max_loan(**_private(price=2_000_000, monthly_incomes=[10_000], other_monthly_debts=1_000))
    assert best.max_loan == 1_016_000 and best.tenure_years == 35 and best.binding_constraint == "tdsr"


def test_debts_above_tdsr_give_zero() -> None:
    result = max_loan(**_private(monthly_incomes=[4_000], other_monthly_debts=2_500))
    assert result.max_loan == 0 and result.binding_constraint == "tdsr"


def test_msr_binds_for_hdb_flat_with_bank_loan() -> None:
    # HDB flat, bank loan, age 30, income 6,000. At 25 y: LTV 450,000; MSR 1,800 × 189.4525 = 341,014
    # → 341,000. At 30 y: LTV drops to 55 % = 330,000. So 25 years and MSR bind.
    result = max_loan(price=600_000, property_type="HDB", loan_kind="bank", ages=[30],
                      monthly_incomes=[6_000])
    assert result.max_loan == 341_000 and result.binding_constraint == "msr"
    assert result.tenure_years == 25 and result.msr_cap == Decimal("341014.47")


def test_longer_reduced_tier_tenure_chosen_when_it_lends_more() -> None:
    # Age 45, income 5,000, private 1 M. 20 y (normal 75 %): TDSR 2,750 × 165.0219 = 453,810.
    # 35 y (reduced 55 %): LTV 550,000 < TDSR 2,750 × 225.8485 = 621,083 → 550,000 is larger.
    result = max_loan(**_private(price=1_000_000, ages=[45], monthly_incomes=[5_000]))
    assert result.max_loan == 550_000 and result.tenure_years == 35
    assert result.ltv is not None and result.ltv.reduced_tier_applied


def test_explicit_tenure_is_respected_and_capped() -> None:
    result = max_loan(**_private(tenure_years=20))
    assert result.tenure_years == 20 and result.max_loan == 600_000
    with pytest.raises(ValueError, match="exceeds the maximum of 35"):
        max_loan(**_private(tenure_years=36))


def test_second_housing_loan_uses_45pct() -> None:
    assert max_loan(**_private(loans_outstanding=1)).max_loan == 360_000  # 45 % × 800,000


def test_valuation_below_price_caps_ltv() -> None:
    # LTV on the lower of price and valuation: 75 % × 720,000 = 540,000.
    result = max_loan(**_private(valuation=720_000))
    assert result.max_loan == 540_000 and result.ltv_base == 720_000 and result.notes
    assert max_loan(**_private(valuation=900_000)).max_loan == 600_000  # valuation above price


def test_ec_msr_depends_on_seller() -> None:
    # EC from the developer: MSR 30 % × 8,000 = 2,400 × 209.4612 = 502,706 (30 y) → 502,000.
    # A resale EC is outside MSR: LTV 600,000 binds (TDSR 4,400 × 209.46 = 921,629).
    from_dev = max_loan(**_private(property_type="EC", monthly_incomes=[8_000]))
    assert from_dev.max_loan == 502_000 and from_dev.binding_constraint == "msr"
    resale = max_loan(**_private(property_type="EC", monthly_incomes=[8_000], ec_bought_from_developer=False))
    assert resale.max_loan == 600_000 and resale.msr is None


def test_hdb_loan() -> None:
    # HDB loan, 500,000 flat, IWAA 30.89 (ages 30/32, incomes 5,000/4,000), lease 95 → 25 years.
    # LTV 75 % = 375,000; MSR 2,700 × 210.8765 = 569,366 at the 3.0 % stress rate → LTV binds.
    result = max_loan(price=500_000, property_type="HDB", loan_kind="hdb", ages=[30, 32],
                      monthly_incomes=[5_000, 4_000], remaining_lease_years=95)
    assert result.max_loan == 375_000 and result.binding_constraint == "ltv"
    assert result.stress_rate_pct == Decimal("3.0") and result.tenure_years == 25
    assert result.indicative_rate_pct == Decimal("2.6")
    assert result.indicative_monthly_instalment == Decimal("1701.26")  # 375k at 2.6 % over 25 y
    assert {"hdb_loan_ltv", "stress_floor_hdb", "msr_limit"} <= {c.key for c in result.facts}


def test_hdb_loan_with_short_lease_is_zero() -> None:
    result = max_loan(price=300_000, property_type="HDB", loan_kind="hdb", ages=[30],
                      monthly_incomes=[5_000], remaining_lease_years=20)
    assert result.max_loan == 0 and result.binding_constraint == "tenure" and result.ltv is None
    assert result.notes


def test_quoted_rate_gives_indicative_payment() -> None:
    result = max_loan(**_private(quoted_rate_pct=3))
    assert result.stress_rate_pct == Decimal("4.0")  # 3 % quote is below the floor
    assert result.indicative_rate_pct == 3
    assert result.indicative_monthly_instalment == Decimal("2529.62")  # 600k at 3 % over 30 y


@pytest.mark.parametrize(("overrides", "match"), [
    ({"price": -1}, "price"), ({"price": 0}, "price"), ({"ages": [17]}, "ages"),
    ({"ages": [30, 40]}, "same borrowers"), ({"property_type": "Commercial"}, "commercial"),
    ({"loan_kind": "hdb"}, "HDB flats"), ({"valuation": 0}, "valuation"),
    ({"other_monthly_debts": -5}, "other_monthly_debts"), ({"loans_outstanding": -1}, "loans_outstanding"),
    ({"quoted_rate_pct": 150}, "quoted_rate_pct"),
])
def test_rejects_bad_input(overrides: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        max_loan(**_private(**overrides))


def test_result_is_json_for_the_bot_and_carries_disclaimer() -> None:
    result = max_loan(**_private())
    payload = json.loads(result.model_dump_json())
    assert payload["max_loan"] == "600000"
    assert payload["indicative_only"] is True
    assert "subject to bank/HDB assessment" in payload["disclaimer"]
    keys = [c["key"] for c in payload["facts"]]
    assert len(keys) == len(set(keys))
    expected = {"bank_ltv_table", "tdsr_limit", "stress_floor_bank_residential", "rounding_loan_down"}
    assert expected <= set(keys)
