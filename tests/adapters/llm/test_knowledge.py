"""The knowledge base is built from the facts module and finds what customers ask about."""

from __future__ import annotations

import pytest

from aibroker.adapters.llm import knowledge
from aibroker.domain.mortgage import ALL_FACTS


def test_every_fact_is_an_entry_with_section_and_source() -> None:
    keys = {e.key for e in knowledge.entries()}
    assert {f.key for f in ALL_FACTS} <= keys
    for entry in knowledge.entries():
        assert entry.section.startswith("A.") and entry.source and entry.text and entry.effective


@pytest.mark.parametrize(("query", "key"), [
    ("what is the TDSR limit", "tdsr_limit"),
    ("HDB loan interest rate", "hdb_loan_rate"),
    ("income ceiling for an HDB loan", "hdb_loan_income_ceilings"),
    ("CPF withdrawal limit", "cpf_withdrawal_limit_bank"),
    ("how is my bonus counted", "income_variable"),
    ("when must stamp duty be paid, how many days", "bsd_payment_deadline"),
    ("can I use CPF if the lease is short, age 95", "cpf_lease_age_95"),
])
def test_search_finds_the_right_entry(query: str, key: str) -> None:
    assert key in [e.key for e in knowledge.search(query)]


def test_no_match_returns_nothing() -> None:
    assert knowledge.search("what is the weather like") == []


def test_effective_dates_are_quotable() -> None:
    tdsr = knowledge.get("tdsr_limit")
    assert tdsr is not None and tdsr.effective.startswith("OTP on/after 16 Dec 2021")
    assert tdsr.as_dict()["section"] == "FACTS A.1"
