"""System prompt content, history trimming to a token budget, and the fresh start after a reopen."""

from __future__ import annotations

from aibroker.adapters.llm.prompts import (
    RESTART_MARKER,
    approx_tokens,
    build_messages,
    current_episode,
    system_prompt,
)
from aibroker.domain.personas import PERSONAS
from tests.adapters.llm.support import context, message


def test_system_prompt_has_persona_lead_context_and_rules() -> None:
    lead = {"name": "Mei Lin", "email": "mei@example.com", "phone": "+6598765432", "loanType": "refinance",
            "propertyType": "HDB", "actualIncomes": [7000, 5000], "actualAges": [40, 38],
            "outstandingLoan": 300000, "currentRate": 3.2, "lockInMonthsLeft": 4}
    prompt = system_prompt(context("hi", persona=PERSONAS[4], lead=lead, name="Mei"))
    for expected in ("Grace Lim", "First-Time Buyer Specialist", "patient, reassuring, educational",
                     "explain every acronym", "chatting with Mei", "Today is 22 Nov 2026", "S$7,000, S$5,000",
                     "Ages: 40, 38", "Outstanding loan: S$300,000", "Current rate: 3.2% p.a.", "Lock-in months left: 4",
                     "indicative only", "Never quote a bank's current rates", "never state approval odds",
                     "effective date", "handoff_to_human", "decoupling", "refinancing after the MOP",
                     "at most 3 short sentences"):
        assert expected in prompt, expected
    assert "mei@example.com" not in prompt and "98765432" not in prompt


def test_tone_follows_persona_type() -> None:
    direct = system_prompt(context("hi", persona=PERSONAS[0]))
    patient = system_prompt(context("hi", persona=PERSONAS[4]))
    assert "lead with the answer" in direct and "lead with the answer" not in patient


def test_history_is_trimmed_to_the_budget_keeping_the_newest() -> None:
    history = [message("customer" if i % 2 == 0 else "bot", f"message {i} " + "x" * 400) for i in range(40)]
    ctx = context("and the newest question", history=history)
    messages = build_messages(ctx, budget_tokens=2000)

    assert messages[0]["role"] == "system" and messages[-1]["content"] == "and the newest question"
    kept = [m["content"] for m in messages[1:-1]]
    assert kept and kept[-1].startswith("message 39")  # newest history kept, oldest dropped
    assert not any(c.startswith("message 0 ") for c in kept)
    assert sum(approx_tokens(m["content"]) for m in messages) <= 2000


def test_new_messages_are_sent_even_over_budget() -> None:
    messages = build_messages(context("x" * 4000, history=[("customer", "old")]), budget_tokens=100)
    assert [m["role"] for m in messages] == ["system", "user"]


def test_private_notes_and_activity_lines_are_not_sent() -> None:
    history = [message("customer", "hi"), message("human", "internal: VIP", private=True),
               message("system", "Anna self-assigned this conversation"), message("human", "Hi, Anna here")]
    messages = build_messages(context("thanks", history=history))
    contents = [m["content"] for m in messages[1:]]
    assert contents == ["hi", "[human colleague] Hi, Anna here", "thanks"]


def test_a_resolved_conversation_starts_fresh_when_it_reopens() -> None:
    history = [message("customer", "I earn 9k"), message("bot", "Noted!"),
               message("system", "Conversation was marked resolved by Anna"),
               message("customer", "hello again")]
    assert [m.content for m in current_episode(history)] == ["hello again"]
    reopened = [*history, message("system", "System reopened the conversation due to a new incoming message"),
                message("customer", "me again")]
    assert [m.content for m in current_episode(reopened)] == ["me again"]
    ours = [message("customer", "old"), message("system", RESTART_MARKER), message("customer", "new")]
    assert [m.content for m in current_episode(ours)] == ["new"]
    messages = build_messages(context("what about BSD?", history=history))
    assert "I earn 9k" not in str(messages)


def test_system_prompt_carries_the_facts_the_customer_gave_with_corrections() -> None:
    prompt = system_prompt(context("actually it's 1.5m", history=[("customer", "a condo at $1.2m, I'm 35")]))
    assert "Property price: S$1,500,000" in prompt and "S$1,200,000" not in prompt
    assert "Ages: 35" in prompt
