"""The output guard: figure extraction, format normalisation and the allow rule."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aibroker.adapters.llm.guard import AllowedFigures, allowed_from, check, extract_figures


def values(text: str) -> list[tuple[str, Decimal]]:
    return [(f.kind, f.value) for f in extract_figures(text)]


@pytest.mark.parametrize("text", ["S$32,600", "$32.6k", "32600", "SGD 32,600", "$32,600.00", "32.6K", "S$ 32600"])
def test_money_formats_normalise_to_one_value(text: str) -> None:
    assert values(f"BSD is {text}.") == [("money", Decimal(32600))]


@pytest.mark.parametrize("text", ["4%", "4.0 %", "4 percent", "4 per cent", "4.00%"])
def test_percent_formats_normalise_to_one_value(text: str) -> None:
    assert values(f"assessed at {text} p.a.") == [("percent", Decimal(4))]


def test_millions_and_suffixes() -> None:
    assert values("a $1.2m condo, S$800k loan, 1.5 million, 8k a month") == [
        ("money", Decimal(1_200_000)), ("money", Decimal(800_000)), ("money", Decimal(1_500_000)),
        ("money", Decimal(8000))]


def test_years_ages_and_small_numbers_are_not_figures() -> None:
    assert values("Since 16 Dec 2021, for 30 years, at age 65, 2 properties, OTP in 2025.") == []


def test_allowed_figures_match_in_any_format() -> None:
    allowed = allowed_from(values=[{"amount": "32600", "rate_pct": "4.0", "loan": 600000.0}])
    for reply in ("BSD is S$32,600", "BSD is $32.6k", "BSD is 32600", "tested at 4%", "tested at 4.0 %",
                  "a loan of S$600k"):
        assert check(reply, allowed).ok, reply


def test_unsupported_figures_are_reported() -> None:
    allowed = allowed_from(texts=["TDSR is 55% of income"])
    result = check("TDSR is 55%, and DBS offers 2.15% on loans up to S$1m.", allowed)
    assert not result.ok
    assert [f.text for f in result.unsupported] == ["2.15%", "S$1m"]
    assert result.describe() == "2.15%, S$1m"


def test_rounding_must_be_honest() -> None:
    allowed = allowed_from(values=[2846.53, 3.5, 32_649])
    assert check("about S$2,847 a month", allowed).ok  # whole dollars either way
    assert check("about S$2,846 a month", allowed).ok
    assert not check("about S$2,850 a month", allowed).ok
    assert not check("at 4%", allowed).ok  # 3.5% must not be rounded up to 4%
    assert check("about $32.6k", allowed).ok
    assert not check("about $32.7k", allowed).ok


def test_text_sources_are_kind_aware() -> None:
    allowed = allowed_from(texts=["the OTP is valid for 14 days; LTV 75%"])
    assert check("LTV is 75%", allowed).ok
    assert not check("fee of S$14", allowed).ok  # "14 days" is not a dollar figure


def test_json_payloads_are_walked() -> None:
    allowed = AllowedFigures()
    allowed.add_json('{"facts": [{"summary": "BSD: 1% on the first $180,000"}], "amount": "32600"}')
    assert check("1% on the first S$180,000; total S$32,600", allowed).ok


@given(st.integers(min_value=1000, max_value=50_000_000))
def test_any_whole_amount_is_allowed_in_every_format(amount: int) -> None:
    allowed = allowed_from(values=[amount])
    for text in (f"S${amount:,}", f"${amount}", f"SGD {amount:,}.00"):
        assert check(text, allowed).ok, text
    assert not check(f"S${amount + 2:,}", allowed).ok
