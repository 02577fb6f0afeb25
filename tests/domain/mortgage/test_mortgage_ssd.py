"""Seller's Stamp Duty (FACTS A.6): schedule by purchase date, band by holding period."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from aibroker.domain.mortgage import seller_stamp_duty


def _rate(bought: date, sold: date) -> int:
    return int(seller_stamp_duty(1_000_000, bought, sold).rate_pct)


def test_worked_examples() -> None:
    # Bought after 4 Jul 2025, sold within a year: 16 % → 160,000 on S$1 M.
    new = seller_stamp_duty(1_000_000, date(2025, 8, 1), date(2026, 6, 1))
    assert (new.rate_pct, new.amount, new.schedule) == (16, 160_000, "ssd_schedule_2025")
    assert new.holding_band == "up to 1 year"
    # Bought 1 Jan 2020 (2017 schedule), sold 1 Jun 2022: held 2 y 5 m → "> 2 to 3 years" → 4 %.
    old = seller_stamp_duty(1_000_000, date(2020, 1, 1), date(2022, 6, 1))
    assert (old.rate_pct, old.amount, old.holding_band) == (4, 40_000, "over 2 to 3 years")


@pytest.mark.parametrize(("sold", "rate"), [
    (date(2025, 7, 4), 16),   # same day
    (date(2026, 7, 4), 16),   # 1st anniversary: still "up to 1 year"
    (date(2026, 7, 5), 12),   # the day after: "> 1 to 2 years"
    (date(2027, 7, 4), 12),
    (date(2027, 7, 5), 8),
    (date(2028, 7, 4), 8),
    (date(2028, 7, 5), 4),
    (date(2029, 7, 4), 4),
    (date(2029, 7, 5), 0),    # over 4 years
])
def test_2025_schedule_band_edges(sold: date, rate: int) -> None:
    assert _rate(date(2025, 7, 4), sold) == rate


@pytest.mark.parametrize(("sold", "rate"), [
    (date(2019, 1, 1), 12), (date(2019, 1, 2), 8), (date(2020, 1, 1), 8), (date(2020, 1, 2), 4),
    (date(2021, 1, 1), 4), (date(2021, 1, 2), 0), (date(2022, 1, 2), 0),
])
def test_2017_schedule_band_edges(sold: date, rate: int) -> None:
    assert _rate(date(2018, 1, 1), sold) == rate


def test_schedule_chosen_by_purchase_date() -> None:
    sold = date(2025, 12, 1)
    assert _rate(date(2025, 7, 3), sold) == 12  # last day of the 2017 schedule
    assert _rate(date(2025, 7, 4), sold) == 16  # first day of the 2025 schedule
    assert _rate(date(2017, 3, 11), date(2017, 6, 1)) == 12
    pre_2017 = seller_stamp_duty(1_000_000, date(2017, 3, 10), date(2017, 6, 1))
    assert pre_2017.rate_pct == 16 and pre_2017.schedule == "ssd_schedule_2011"
    assert any("M confidence" in n for n in pre_2017.notes)


def test_pre_2017_fourth_year() -> None:
    # Bought 1 Jan 2015, sold 1 Jun 2018: "> 3 to 4 years" → 4 % under the 2011 schedule.
    assert _rate(date(2015, 1, 1), date(2018, 6, 1)) == 4
    assert _rate(date(2011, 1, 14), date(2011, 2, 1)) == 16


def test_leap_day_purchase_anniversary_is_1_march() -> None:
    # Bought 29 Feb 2024: the first anniversary is taken as 1 Mar 2025 (errs toward the higher rate).
    assert _rate(date(2024, 2, 29), date(2025, 2, 28)) == 12
    assert _rate(date(2024, 2, 29), date(2025, 3, 1)) == 12
    assert _rate(date(2024, 2, 29), date(2025, 3, 2)) == 8


def test_note_near_anniversary() -> None:
    near = seller_stamp_duty(1_000_000, date(2025, 7, 4), date(2026, 7, 5))
    far = seller_stamp_duty(1_000_000, date(2025, 7, 4), date(2026, 9, 1))
    assert any("anniversary" in n for n in near.notes)
    assert not any("anniversary" in n for n in far.notes)


def test_market_value_and_rounding() -> None:
    # 12 % × max(500,000, 600,000.50) = 72,000.06 → 72,000
    result = seller_stamp_duty(500_000, date(2025, 8, 1), date(2026, 9, 1), market_value="600000.50")
    assert result.dutiable_value == 600_000.50 and result.amount == 72_000


@pytest.mark.parametrize(("bought", "sold", "match"), [
    (date(2011, 1, 13), date(2011, 6, 1), "14 Jan 2011"),
    (date(2026, 1, 2), date(2026, 1, 1), "before purchase_date"),
    (datetime(2025, 8, 1), date(2026, 1, 1), "purchase_date"),
    ("2025-08-01", date(2026, 1, 1), "purchase_date"),
])
def test_rejections(bought: object, sold: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        seller_stamp_duty(1_000_000, bought, sold)  # type: ignore[arg-type]
