"""BSD (FACTS A.4, from 15 Feb 2023) and ABSD (FACTS A.5, from 27 Apr 2023)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from aibroker.domain.mortgage import additional_buyer_stamp_duty, buyer_stamp_duty


# --- BSD -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("price", "duty"), [
    (180_000, 1_800),        # 1 % × 180,000
    (360_000, 5_400),        # 1,800 + 2 % × 180,000 (3,600)
    (500_000, 9_600),        # 1,800 + 3,600 + 3 % × 140,000 (4,200)  = 3 %·P − 5,400
    (1_000_000, 24_600),     # 1,800 + 3,600 + 3 % × 640,000 (19,200) = 3 %·P − 5,400
    (1_200_000, 32_600),     # 1,800 + 3,600 + 19,200 + 4 % × 200,000 (8,000) = 4 %·P − 15,400
    (1_500_000, 44_600),     # 24,600 + 4 % × 500,000 (20,000)
    (3_000_000, 119_600),    # 44,600 + 5 % × 1,500,000 (75,000)       = 5 %·P − 30,400
    (3_500_000, 149_600),    # 119,600 + 6 % × 500,000 (30,000)        = 6 %·P − 60,400
])
def test_bsd_residential_worked_examples(price: int, duty: int) -> None:
    result = buyer_stamp_duty(price)
    assert result.amount == duty
    assert sum(b.duty for b in result.bands) == duty
    assert {c.key for c in result.facts} == {"bsd_residential", "stamp_duty_rounding"}


def test_bsd_band_breakdown_for_1_2m() -> None:
    bands = buyer_stamp_duty(1_200_000).bands
    assert [(b.rate_pct, b.taxable, b.duty) for b in bands] == [
        (1, 180_000, 1_800), (2, 180_000, 3_600), (3, 640_000, 19_200), (4, 200_000, 8_000)]


@pytest.mark.parametrize(("edge", "below_rate", "above_rate"), [
    (180_000, 1, 2), (360_000, 2, 3), (1_000_000, 3, 4), (1_500_000, 4, 5), (3_000_000, 5, 6),
])
def test_bsd_band_edges(edge: int, below_rate: int, above_rate: int) -> None:
    # Continuous at each edge; the marginal rate changes just after it. Use $100 steps so the
    # whole-dollar rounding does not hide the rate.
    at = buyer_stamp_duty(edge).amount
    assert at - buyer_stamp_duty(edge - 100).amount == below_rate
    assert buyer_stamp_duty(edge + 100).amount - at == above_rate
    assert buyer_stamp_duty(edge).bands[-1].upper == edge  # the edge belongs to the lower band


def test_bsd_non_residential_tops_out_at_5pct() -> None:
    # Same as residential up to 3 M; above it 5 %: 119,600 + 5 % × 500,000 = 144,600.
    assert buyer_stamp_duty(3_000_000, residential=False).amount == 119_600
    assert buyer_stamp_duty(3_500_000, residential=False).amount == 144_600
    assert buyer_stamp_duty(1_200_000, residential=False).amount == 32_600


def test_bsd_rounds_down_to_whole_dollars() -> None:
    # 100,050 × 1 % = 1,000.50 → 1,000; 180,001: 1,800 + 0.02 → 1,800.
    assert buyer_stamp_duty(100_050).amount == 1_000
    assert buyer_stamp_duty(180_001).amount == 1_800
    assert buyer_stamp_duty(Decimal("99.99")).amount == 0


def test_bsd_uses_higher_of_price_and_market_value() -> None:
    assert buyer_stamp_duty(1_000_000, market_value=1_200_000).amount == 32_600
    assert buyer_stamp_duty(1_200_000, market_value=1_000_000).amount == 32_600


def test_bsd_purchase_date_before_table_is_refused() -> None:
    assert buyer_stamp_duty(1_000_000, purchase_date=date(2023, 2, 15)).amount == 24_600
    with pytest.raises(ValueError, match="15 Feb 2023"):
        buyer_stamp_duty(1_000_000, purchase_date=date(2023, 2, 14))
    with pytest.raises(ValueError, match="purchase_date"):
        buyer_stamp_duty(1_000_000, purchase_date=datetime(2024, 1, 1))


@pytest.mark.parametrize("price", [0, -1, "1,000,000", None, float("inf")])
def test_bsd_rejects_bad_price(price: object) -> None:
    with pytest.raises(ValueError, match="price"):
        buyer_stamp_duty(price)  # type: ignore[arg-type]


# --- ABSD ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("profile", "count", "rate"), [
    ("citizen", 1, 0), ("citizen", 2, 20), ("citizen", 3, 30), ("citizen", 7, 30),
    ("pr", 1, 5), ("pr", 2, 30), ("pr", 3, 35),
    ("foreigner", 1, 60), ("foreigner", 3, 60),
    ("entity", 1, 65), ("trustee", 1, 65),
])
def test_absd_rates(profile: str, count: int, rate: int) -> None:
    result = additional_buyer_stamp_duty(1_000_000, profile, count)  # type: ignore[arg-type]
    assert result.rate_pct == rate
    assert result.amount == 1_000_000 * rate // 100
    assert "absd_rates" in {c.key for c in result.facts}


def test_absd_citizen_second_property_1m() -> None:
    # 20 % × 1,000,000 = 200,000, with the married-couple refund note.
    result = additional_buyer_stamp_duty(1_000_000, "citizen", 2)
    assert result.amount == 200_000 and not result.handoff_recommended
    assert "absd_married_couple_remission" in {c.key for c in result.facts}
    assert result.notes


@pytest.mark.parametrize("profile", ["entity", "trustee"])
def test_absd_handoff_profiles(profile: str) -> None:
    assert additional_buyer_stamp_duty(1_000_000, profile, 1).handoff_recommended  # type: ignore[arg-type]


def test_a_foreign_buyers_absd_is_a_figure_to_quote_not_a_handoff() -> None:  # issue #14
    result = additional_buyer_stamp_duty(1_000_000, "foreigner", 1)
    assert result.amount == 600_000 and not result.handoff_recommended


def test_absd_market_value_rounding_and_case() -> None:
    # 5 % × max(999,999, 1,000,001) = 50,000.05 → 50,000
    result = additional_buyer_stamp_duty(999_999, "PR", 1, market_value=1_000_001)  # type: ignore[arg-type]
    assert result.profile == "pr" and result.amount == 50_000


@pytest.mark.parametrize(("profile", "count", "purchase_date", "match"), [
    ("martian", 1, None, "profile"), ("citizen", 0, None, "property_count"),
    ("citizen", 1.5, None, "property_count"), ("citizen", 2, date(2023, 4, 26), "27 Apr 2023"),
])
def test_absd_rejections(profile: str, count: object, purchase_date: date | None, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        additional_buyer_stamp_duty(1_000_000, profile, count, purchase_date=purchase_date)  # type: ignore[arg-type]
