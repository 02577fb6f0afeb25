"""The fact registry: every figure is sourced, dated where FACTS gives a date, and immutable."""

from __future__ import annotations

import dataclasses
import re
from datetime import date
from decimal import Decimal

import pytest

from aibroker.domain.mortgage import ALL_FACTS, DISCLAIMER
from aibroker.domain.mortgage import fact_tables as T
from aibroker.domain.mortgage import facts as F


def test_keys_are_unique() -> None:
    keys = [f.key for f in ALL_FACTS]
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize("fact", ALL_FACTS, ids=lambda f: f.key)
def test_every_fact_has_provenance(fact: F.Fact[object]) -> None:
    assert re.fullmatch(r"A\.\d+", fact.section)
    assert fact.confidence in ("H", "M", "L")
    assert fact.source.strip() and fact.summary.strip() and fact.effective_note.strip()
    assert fact.effective_from is None or isinstance(fact.effective_from, date)
    citation = fact.cite()
    assert (citation.key, citation.section, citation.source) == (fact.key, fact.section, fact.source)


def test_headline_figures_match_facts_md() -> None:
    # Spot checks against FACTS.md §A, with the effective dates the bot must quote (A.11).
    assert F.TDSR_LIMIT_PCT.value == 55 and F.TDSR_LIMIT_PCT.effective_from == date(2021, 12, 16)
    assert F.MSR_LIMIT_PCT.value == 30
    assert F.STRESS_FLOOR_BANK_PCT.value == Decimal("4.0")
    assert F.STRESS_FLOOR_BANK_PCT.effective_from == date(2022, 9, 30)
    assert F.STRESS_FLOOR_HDB_PCT.value == Decimal("3.0")
    assert F.HDB_LOAN_LTV_PCT.value == 75 and F.HDB_LOAN_LTV_PCT.effective_from == date(2024, 8, 20)
    assert F.HDB_LOAN_RATE_PCT.value == Decimal("2.6")
    assert F.CPF_OA_RATE_PCT.value + F.HDB_STRESS_SPREAD_OVER_OA_PP.value == F.HDB_LOAN_RATE_PCT.value
    assert F.CPF_WITHDRAWAL_LIMIT_BANK_PCT.value == 120
    assert F.VARIABLE_INCOME_RECOGNISED_PCT.value == 70
    assert T.BSD_BANDS_RESIDENTIAL.effective_from == date(2023, 2, 15)
    assert T.ABSD_RATES.effective_from == date(2023, 4, 27)
    assert T.ABSD_RATES.value["citizen"].second == 20
    assert T.SSD_2025.effective_from == date(2025, 7, 4)
    assert T.SSD_2017.value.purchased_until == date(2025, 7, 3)
    tiers = T.BANK_LTV_TIERS.value
    assert [(t.normal_pct, t.reduced_pct) for t in tiers] == [(75, 55), (45, 25), (35, 15)]
    assert [(t.min_cash_normal_pct, t.min_cash_reduced_pct) for t in tiers] == [(5, 10), (25, 25), (25, 25)]


def test_unverified_figures_are_not_graded_high() -> None:
    # FACTS marks these M (secondary sources only); a citation must not overstate them.
    for fact in (T.SSD_2011, T.BSD_ROUNDING, F.CPF_WITHDRAWAL_LIMIT_HDB_RESALE_PCT, F.HDB_LOAN_MIN_CASH_PCT,
                 F.SELF_EMPLOYED_RECOGNISED_PCT, F.HDB_LOAN_INCOME_CEILINGS):
        assert fact.confidence == "M"


def test_facts_are_immutable() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        F.TDSR_LIMIT_PCT.value = Decimal(60)  # type: ignore[misc]
    with pytest.raises(TypeError):
        T.ABSD_RATES.value["citizen"] = T.ABSD_RATES.value["pr"]  # type: ignore[index]


def test_disclaimer_wording_follows_a11() -> None:
    assert DISCLAIMER == "Indicative only; final loan amount subject to bank/HDB assessment."
