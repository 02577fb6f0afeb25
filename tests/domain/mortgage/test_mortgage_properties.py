"""Property tests: the calculators behave sensibly for any valid input, not just the worked examples."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from aibroker.domain.mortgage import (
    buyer_stamp_duty,
    income_weighted_average_age,
    max_loan,
    monthly_instalment,
    seller_stamp_duty,
)
from aibroker.domain.mortgage.loan import annuity_payment, present_value

prices = st.integers(min_value=1, max_value=20_000_000)
cents_prices = st.decimals(min_value=Decimal("0.01"), max_value=Decimal(20_000_000), places=2)
rates = st.decimals(min_value=Decimal(0), max_value=Decimal(15), places=2)
years = st.integers(min_value=1, max_value=35)


def _exact_bsd(price: Decimal, residential: bool = True) -> Decimal:
    return sum((b.duty for b in buyer_stamp_duty(price, residential).bands), Decimal(0))


@given(prices, prices, st.booleans())
def test_bsd_is_monotonic(a: int, b: int, residential: bool) -> None:
    low, high = sorted((a, b))
    assert buyer_stamp_duty(low, residential).amount <= buyer_stamp_duty(high, residential).amount


@given(cents_prices, st.decimals(min_value=Decimal("0.01"), max_value=Decimal(100_000), places=2),
       st.booleans())
def test_bsd_is_continuous_with_marginal_rate_1_to_6pct(price: Decimal, step: Decimal,
                                                        residential: bool) -> None:
    # No jump at any band edge: the unrounded duty grows by between 1 % and 6 % of the step.
    rise = _exact_bsd(price + step, residential) - _exact_bsd(price, residential)
    assert step / 100 <= rise <= step * 6 / 100


@given(prices)
def test_bsd_matches_published_shortcuts(price: int) -> None:
    # FACTS A.4 shortcuts: 3 %·P − 5,400 (≤ 1 M); 4 %·P − 15,400 (≤ 1.5 M); 5 %·P − 30,400 (≤ 3 M);
    # 6 %·P − 60,400 above. They hold for P above the first two bands; below, the full bands apply.
    p = Decimal(price)
    if p <= 360_000:
        return
    if p <= 1_000_000:
        expected = p * 3 / 100 - 5_400
    elif p <= 1_500_000:
        expected = p * 4 / 100 - 15_400
    elif p <= 3_000_000:
        expected = p * 5 / 100 - 30_400
    else:
        expected = p * 6 / 100 - 60_400
    assert _exact_bsd(p) == expected


@given(st.decimals(min_value=Decimal(0), max_value=Decimal(5_000_000), places=2), rates, rates, years)
def test_instalment_monotonic_in_rate(principal: Decimal, r1: Decimal, r2: Decimal, n: int) -> None:
    low, high = sorted((r1, r2))
    cheaper = monthly_instalment(principal, low, n).monthly_payment
    assert cheaper <= monthly_instalment(principal, high, n).monthly_payment


@given(st.integers(0, 5_000_000), st.integers(0, 5_000_000), rates, years)
def test_instalment_monotonic_in_principal(p1: int, p2: int, rate: Decimal, n: int) -> None:
    low, high = sorted((p1, p2))
    smaller = monthly_instalment(low, rate, n).monthly_payment
    assert smaller <= monthly_instalment(high, rate, n).monthly_payment


@given(st.integers(1, 5_000_000), rates, st.integers(1, 420))
def test_present_value_inverts_annuity(principal: int, rate: Decimal, months: int) -> None:
    payment = annuity_payment(Decimal(principal), rate, months)
    assert abs(present_value(payment, rate, months) - principal) < Decimal("0.0001")


@given(st.lists(st.tuples(st.integers(18, 100), st.integers(0, 100_000)), min_size=1, max_size=4)
       .filter(lambda xs: sum(m for _, m in xs) > 0))
def test_iwaa_lies_between_youngest_and_oldest(borrowers: list[tuple[int, int]]) -> None:
    ages = [a for a, _ in borrowers]
    iwaa = income_weighted_average_age(ages, [m for _, m in borrowers])
    assert min(ages) <= iwaa <= max(ages)


@settings(max_examples=150, deadline=None)
@given(
    price=st.integers(100_000, 10_000_000),
    valuation=st.one_of(st.none(), st.integers(100_000, 10_000_000)),
    ptype=st.sampled_from(["HDB", "EC", "Private", "Landed"]),
    age=st.integers(21, 70),
    income=st.integers(1, 80_000),
    debts=st.integers(0, 20_000),
    loans=st.integers(0, 3),
    quoted=st.one_of(st.none(), rates),
)
def test_max_loan_never_exceeds_ltv_cap(price: int, valuation: int | None, ptype: str, age: int, income: int,
                                        debts: int, loans: int, quoted: Decimal | None) -> None:
    result = max_loan(price=price, valuation=valuation, property_type=ptype, loan_kind="bank", ages=[age],
                      monthly_incomes=[income], other_monthly_debts=debts, loans_outstanding=loans,
                      quoted_rate_pct=quoted)
    base = min(price, valuation) if valuation is not None else price
    assert result.ltv is not None
    assert 0 <= result.max_loan <= base * result.ltv.ltv_pct / 100
    assert result.max_loan <= base * Decimal("0.75")  # never above the best tier
    assert result.max_loan <= result.tdsr_cap
    assert result.msr_cap is None or result.max_loan <= result.msr_cap
    assert result.max_loan % 1000 == 0
    assert result.stressed_monthly_instalment <= result.tdsr.budget_for_new_loan + Decimal("0.01")


@given(st.dates(date(2011, 1, 14), date(2030, 12, 31)), st.integers(0, 3000), st.integers(0, 3000))
def test_ssd_rate_never_rises_with_longer_holding(bought: date, d1: int, d2: int) -> None:
    early, late = sorted((d1, d2))
    first = seller_stamp_duty(1_000_000, bought, bought + timedelta(days=early)).rate_pct
    second = seller_stamp_duty(1_000_000, bought, bought + timedelta(days=late)).rate_pct
    assert second <= first
