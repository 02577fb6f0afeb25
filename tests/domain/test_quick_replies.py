"""Quick-reply chips (domain/quick_replies.py): the persona's starters under the greeting, follow-ups that fit each
kind of answer, never a question already asked, two to four or none."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aibroker.domain.personas import PERSONAS, PERSONAS_BY_NAME
from aibroker.domain.quick_replies import is_quick_reply, quick_replies

SARAH = PERSONAS_BY_NAME["Sarah Wong"]

# Answers as the offline responder words them (adapters/llm/answers*.py), and what must be offered after each.
ANSWERS = [
    ("For a S$600,000 HDB property on S$8,000 a month at age 35, you could borrow up to about S$450,000 over 25 "
     "years with an HDB loan; the limit that binds is MSR. That's about S$1,900 a month at 2.6%.",
     ["What if I'm 45?", "How much cash do I need upfront?"]),
    ("For a S$1,200,000 private property on S$15,000 a month at age 52, you could borrow up to about S$700,000.",
     ["What if I'm 62?"]),
    ("A S$500,000 loan over 25 years at the stress-test rate of 4% works out to about S$2,639 a month.",
     ["What if I take a 25-year loan?", "What is the stress test rate?"]),
    ("Buyer's Stamp Duty on a S$800,000 residential purchase is S$19,600, payable within 14 days of signing.",
     ["What ABSD applies to a second property?"]),
    ("As a Singapore citizen buying your second residential property, ABSD is 20% of the price.",
     ["What if it's my second property?", "Do PRs pay more ABSD?"]),
    ("Bought on 1 Mar 2024 and selling on 1 Mar 2026, so SSD is 8% of the selling price.",
     ["What if I sell after 4 years?"]),
    ("TDSR: all monthly debt repayments within 55% of income, tested at 4%.", ["How is bonus income counted?"]),
    ("With no other housing loans, banks can lend up to 75% of the price or valuation (LTV).",
     ["What if I already have a home loan?"]),
    ("An HDB loan charges 2.6% (pegged to the CPF OA rate, revised quarterly).",
     ["Can I use my CPF?", "HDB loan or bank loan?"]),
    ("You still have 6 months of lock-in; switching before it ends usually costs a penalty.",
     ["When should I refinance?"]),
]


@pytest.mark.parametrize("persona", PERSONAS, ids=lambda p: p.name)
def test_the_greeting_offers_the_personas_starters(persona) -> None:  # type: ignore[no-untyped-def]
    chips = quick_replies(persona, "Hi Ann, I'm here to help.", source="greeting")
    assert chips == list(persona.starters)[:4] and 2 <= len(chips) <= 4


@pytest.mark.parametrize(("answer", "expected"), ANSWERS)
def test_follow_ups_fit_the_answer(answer: str, expected: list[str]) -> None:
    chips = quick_replies(SARAH, answer, source="offline")
    assert chips[:len(expected)] == expected
    assert 2 <= len(chips) <= 4 and len(set(chips)) == len(chips)


def test_questions_already_asked_are_not_offered_again() -> None:
    asked = ["how much can I borrow", "What would my monthly instalment be?"]
    chips = quick_replies(SARAH, "I can help with that.", source="llm", asked=asked)
    assert chips == []  # one starter left is too few for a row of chips
    chips = quick_replies(SARAH, ANSWERS[1][0], source="llm", asked=["What if I'm 62?"])
    assert "What if I'm 62?" not in chips and chips[0] == "How much cash do I need upfront?"


def test_no_chips_when_a_person_is_about_to_take_over() -> None:
    for source in ("handoff", "apology"):
        assert quick_replies(SARAH, ANSWERS[0][0], source=source) == []


def test_only_offered_chips_count_as_clicks() -> None:
    offered = {chip for persona in PERSONAS for answer, _ in ANSWERS
               for chip in quick_replies(persona, answer, source="offline")}
    assert offered and all(is_quick_reply(chip, PERSONAS) for chip in offered)
    for text in ("What if I'm 4?", "my income is 8000", "How much can I borrow? Also, call me", ""):
        assert not is_quick_reply(text, PERSONAS)


@given(answer=st.text(max_size=300), persona=st.sampled_from(PERSONAS),
       source=st.sampled_from(["greeting", "offline", "llm", "handoff"]),
       asked=st.lists(st.sampled_from([c for p in PERSONAS for c in p.starters]), max_size=3))
def test_any_answer_gets_none_or_two_to_four_fresh_chips(answer: str, persona, source: str,  # type: ignore[no-untyped-def]
                                                         asked: list[str]) -> None:
    chips = quick_replies(persona, answer, source=source, asked=asked)
    assert chips == [] or 2 <= len(chips) <= 4
    assert len(set(chips)) == len(chips) and not set(chips) & set(asked)
    assert all(is_quick_reply(chip, PERSONAS) for chip in chips)
