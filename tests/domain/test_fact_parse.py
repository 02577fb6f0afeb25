"""Reading one customer message (issue #14): amounts in every common form, durations relative to a stated
date, counts in words, several people in one sentence, Singapore usage."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from aibroker.domain.fact_parse import parse
from aibroker.domain.memory import fold_customer_facts
from aibroker.domain.number_words import digits_for_words
from tests.adapters.llm.support import message

TODAY = date(2026, 11, 22)


@pytest.mark.parametrize("text", [
    "condo at $1.2m", "price is 1,200k", "S$1.2 million condo", "a 1.2 mil condo", "condo for 1,200,000",
    "a one point two million dollar condo", "price S$1,200,000.00",
])
def test_a_price_in_every_common_form(text: str) -> None:
    assert parse(text, today=TODAY).price == Decimal(1_200_000)


@pytest.mark.parametrize(("text", "value"), [
    ("buying at 800k", 800_000), ("price $950,000", 950_000), ("eight hundred and fifty thousand for the flat",
                                                               850_000),
])
def test_other_prices(text: str, value: int) -> None:
    assert parse(text, today=TODAY).price == Decimal(value)


def test_numbers_in_words() -> None:
    assert digits_for_words("thirty-five earning six thousand") == "35 earning 6,000"
    assert digits_for_words("two and a half years on") == "2.5 years on"
    kept = "one loan, S$1.2 million"  # a lone "one" and a scale after digits stay as written
    assert digits_for_words(f"twelve hundred a month, {kept}") == f"1,200 a month, {kept}"


def test_several_people_in_one_sentence() -> None:
    facts = parse("I'm 35 earning 6k, my wife 33 earning 5k", today=TODAY)
    assert facts.ages == (35, 33) and facts.incomes == (Decimal(6000), Decimal(5000))


@pytest.mark.parametrize(("text", "bought", "sold"), [
    ("if we buy now and sell 8 months after we buy", TODAY, date(2027, 7, 22)),
    ("buying now, selling two and a half years on", TODAY, date(2029, 5, 22)),
    ("buy now, sell by next March", TODAY, date(2027, 3, 1)),
    ("bought on 1 Mar 2024, sold 18 months after buying", date(2024, 3, 1), date(2025, 9, 1)),
    ("bought 10 Aug 2025, selling now", date(2025, 8, 10), TODAY),
])
def test_durations_relative_to_a_stated_date(text: str, bought: date, sold: date) -> None:
    assert parse(text, today=TODAY).sale_dates(TODAY) == (bought, sold)


def test_a_holding_period_counts_from_a_purchase_given_in_an_earlier_turn() -> None:
    turns = [message("customer", "I bought my condo on 1 Mar 2024"), message("bot", "Noted."),
             message("customer", "if I sell 2 years after buying, what's the SSD?")]
    facts = fold_customer_facts(None, turns, TODAY)
    assert facts.sale_dates(TODAY) == (date(2024, 3, 1), date(2026, 3, 1))  # not the time until today


@pytest.mark.parametrize(("text", "owned", "loans"), [
    ("this is my second property", 1, None), ("I already own two properties", 2, None),
    ("got one flat already", 1, None), ("I still have two housing loans", None, 2),
    ("no outstanding housing loans", None, 0),
])
def test_counts_in_words(text: str, owned: int | None, loans: int | None) -> None:
    facts = parse(text, today=TODAY)
    assert (facts.properties_owned, facts.loans_outstanding) == (owned, loans)


@pytest.mark.parametrize(("text", "field", "value"), [
    ("we're SC", "residency", "citizen"), ("both PRs", "residency", "pr"), ("buying a BTO", "bto", True),
    ("an EC from the developer", "property_type", "EC"), ("we have our HLE letter", "loan_kind", "hdb"),
    ("OTP signed 1 Mar 2024", "purchase_date", date(2024, 3, 1)),
])
def test_singapore_usage(text: str, field: str, value: object) -> None:
    assert getattr(parse(text, today=TODAY), field) == value


def test_debts_and_variable_income_are_told_apart_from_salary() -> None:
    facts = parse("salary $12,000 a month and I pay $900 a month on a car loan, plus 2k commission",
                  today=TODAY)
    assert facts.incomes == (Decimal(12_000),) and facts.monthly_debts == Decimal(900)
    assert facts.variable_income == Decimal(2000)
