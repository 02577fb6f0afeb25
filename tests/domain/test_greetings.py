"""Greetings: one voice per persona, no figures, no banks, honest waiting message."""

from __future__ import annotations

import dataclasses
import re

import pytest

from aibroker.domain.greetings import (
    AI_DISCLOSURE,
    conversation_starters,
    greeting_for,
    joined_activity,
    waiting_greeting,
)
from aibroker.domain.leads import LoanType, PropertyType
from aibroker.domain.personas import PERSONAS, PERSONAS_BY_NAME, Persona, PersonaType

BANKS = re.compile(r"\b(dbs|posb|ocbc|uob|hsbc|maybank|citi\w*|cimb|rhb|standard chartered|bank of china|"
                   r"icbc|sbi|hong leong)\b", re.IGNORECASE)
FIGURES = re.compile(r"[0-9%$]")
RATE_WORDS = re.compile(r"\b(rates?|sora|interest)\b", re.IGNORECASE)

ALL_COMBINATIONS = [(p, loan, ptype) for p in PERSONAS for loan in LoanType
                    for ptype in (*PropertyType, None)]


@pytest.mark.parametrize(("persona", "loan_type", "property_type"), ALL_COMBINATIONS,
                         ids=lambda v: getattr(v, "name", str(v)))
def test_greetings_name_the_lead_and_never_quote_figures_banks_or_rates(
        persona: Persona, loan_type: LoanType, property_type: PropertyType | None) -> None:
    text = greeting_for(persona, "Jane", loan_type, property_type)
    assert "Jane" in text
    assert persona.first_name in text
    assert not FIGURES.search(text), text
    assert not BANKS.search(text), text
    assert not RATE_WORDS.search(text), text
    assert "  " not in text and "{" not in text


def test_each_persona_has_its_own_voice() -> None:
    texts = {greeting_for(p, "Jane", LoanType.NEW_PURCHASE, PropertyType.PRIVATE) for p in PERSONAS}
    assert len(texts) == len(PERSONAS)


@pytest.mark.parametrize(("loan_type", "property_type", "topic"), [
    (LoanType.NEW_PURCHASE, PropertyType.HDB, "your HDB flat purchase"),
    (LoanType.NEW_PURCHASE, PropertyType.LANDED, "your landed home purchase"),
    (LoanType.NEW_PURCHASE, None, "your new home purchase"),
    (LoanType.REFINANCE, PropertyType.PRIVATE, "refinancing your private property loan"),
    (LoanType.REFINANCE, None, "refinancing your home loan"),
    (LoanType.COMMERCIAL, PropertyType.COMMERCIAL, "financing your commercial property"),
    ("refinance", "hdb", "refinancing your HDB home loan"),  # raw form values, any case
    (None, "unknown-type", "your new home purchase"),
])
def test_greeting_names_the_topic(loan_type: LoanType | str | None, property_type: PropertyType | str | None,
                                  topic: str) -> None:
    assert topic in greeting_for(PERSONAS_BY_NAME["Sarah Wong"], "Jane", loan_type, property_type)


@pytest.mark.parametrize("name", ["", None, "   "])
def test_greeting_without_a_name_reads_naturally(name: str | None) -> None:
    for persona in PERSONAS:
        text = greeting_for(persona, name, LoanType.NEW_PURCHASE, PropertyType.HDB)
        assert " ," not in text and "  " not in text
        assert text.startswith(("Hi,", "Hello,", "Hey!", "Good to meet you."))


def test_greeting_strips_markup_and_addresses_the_name_as_written() -> None:  # issue #14
    text = greeting_for(PERSONAS[0], "<b>Ann</b> Marie", LoanType.NEW_PURCHASE, None)
    assert "<" not in text and ">" not in text
    assert "Hi Ann Marie," in text
    assert "Siew-Ling" in greeting_for(PERSONAS[4], "Siew-Ling", LoanType.NEW_PURCHASE, None)
    assert "美玲" in greeting_for(PERSONAS[4], "美玲", LoanType.NEW_PURCHASE, None)
    # "Tan" alone would be the surname
    assert "Hello Tan Wei Ming," in greeting_for(PERSONAS[4], "Tan Wei Ming", LoanType.NEW_PURCHASE, None)


@pytest.mark.parametrize("persona", PERSONAS, ids=lambda p: p.name)
def test_the_greeting_says_it_is_an_ai_assistant_unless_switched_off(persona: Persona) -> None:
    text = greeting_for(persona, "Jane", LoanType.NEW_PURCHASE, PropertyType.HDB)
    assert AI_DISCLOSURE in text and text.index(persona.first_name) < text.index(AI_DISCLOSURE)
    assert "AI assistant" not in greeting_for(persona, "Jane", LoanType.NEW_PURCHASE, PropertyType.HDB,
                                              disclose_ai=False)


@pytest.mark.parametrize("persona", PERSONAS, ids=lambda p: p.name)
def test_a_refinance_lead_is_not_greeted_as_a_buyer(persona: Persona) -> None:
    text = greeting_for(persona, "Jane", LoanType.REFINANCE, PropertyType.PRIVATE).lower()
    assert "buying with" not in text and "first home" not in text and "purchase" not in text
    assert "refinanc" in " ".join(conversation_starters(persona.persona_type, LoanType.REFINANCE)).lower()


@pytest.mark.parametrize("persona_type", list(PersonaType))
def test_unknown_persona_falls_back_to_its_type(persona_type: PersonaType) -> None:
    custom = dataclasses.replace(PERSONAS[0], name="Alex Goh", persona_type=persona_type)
    text = greeting_for(custom, "Jane", LoanType.REFINANCE, PropertyType.EC)
    assert "Alex Goh" in text and "Jane" in text and "refinancing your executive condo loan" in text
    assert not FIGURES.search(text)


def test_joined_activity() -> None:
    assert joined_activity(PERSONAS_BY_NAME["Michelle Chen"]) == "Michelle Chen joined the conversation"


@pytest.mark.parametrize("persona_type", list(PersonaType))
def test_conversation_starters(persona_type: PersonaType) -> None:
    starters = conversation_starters(persona_type)
    assert 3 <= len(starters) <= 4
    assert all(s.endswith("?") and not BANKS.search(s) for s in starters)
    starters.clear()  # the caller's copy; the table is untouched
    assert conversation_starters(persona_type)


def test_starters_differ_by_type() -> None:
    assert len({tuple(conversation_starters(t)) for t in PersonaType}) == len(PersonaType)


def test_waiting_greeting_is_honest() -> None:
    text = waiting_greeting("Jane")
    assert text.startswith("Hi Jane,")
    assert "busy" in text and "next in line" in text
    assert not FIGURES.search(text)  # no promised waiting time
    assert waiting_greeting(None).startswith("Hi,")
    assert "AI assistant" in text and "AI" not in waiting_greeting("Jane", disclose_ai=False)
