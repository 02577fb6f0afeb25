"""The conversation's memory: the form and every customer turn folded into `CustomerFacts`."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from aibroker.domain.conversation import Role
from aibroker.domain.customer_facts import describe
from aibroker.domain.leads import LeadForm
from aibroker.domain.memory import RESTART_MARKER, fold_customer_facts
from tests.adapters.llm.support import context, message

TODAY = date(2026, 11, 22)
LEAD = LeadForm.model_validate({"name": "Mei Ling Tan", "email": "mei@example.com", "loanType": "new_purchase",
                                "propertyType": "Private", "actualIncomes": [9000], "actualAges": [34]})


def test_form_and_turns_combine_and_a_correction_overrides() -> None:
    turns = [message(Role.CUSTOMER, "Looking at a condo for $1.2m"), message(Role.BOT, "Noted."),
             message(Role.CUSTOMER, "actually it's 1.5m")]
    facts = fold_customer_facts(LEAD, turns, TODAY)
    assert facts.price == Decimal(1_500_000)
    assert facts.incomes == (Decimal(9000),) and facts.ages == (34,)


def test_a_bare_answer_fills_the_slot_the_bot_asked_for() -> None:
    turns = [message(Role.CUSTOMER, "How much can I borrow for a $900k condo?"),
             message(Role.BOT, "What is your gross monthly income?"), message(Role.CUSTOMER, "8k")]
    assert fold_customer_facts(None, turns, TODAY).incomes == (Decimal(8000),)


def test_a_restarted_conversation_forgets_the_old_episode() -> None:
    ctx = context("what's the BSD?", history=[("customer", "the price is $2m"), ("system", RESTART_MARKER)])
    assert ctx.known_facts().price is None


def test_reply_context_folds_history_and_new_messages() -> None:
    ctx = context("and I'm 40", history=[("customer", "condo at 1.1m, I earn 10k a month")], lead=LEAD)
    facts = ctx.known_facts()
    assert (facts.price, facts.incomes, facts.ages) == (Decimal(1_100_000), (Decimal(10_000),), (40,))
    assert "Property price: S$1,100,000" in describe(facts)
