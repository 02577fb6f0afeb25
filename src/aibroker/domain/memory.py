"""The conversation's memory: the lead form and the customer's messages folded into `CustomerFacts`.

Fresh start after a resolved conversation reopens: any system (activity) message saying the
conversation was resolved or reopened ("Conversation was marked resolved by Anna", "System reopened
the conversation due to a new incoming message", or our own `RESTART_MARKER`) cuts the history; only
the messages after the last such marker count (`current_episode`), for the facts and for the LLM's
history alike.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date

from aibroker.domain.conversation import ChatMessage, Role
from aibroker.domain.customer_facts import CustomerFacts, from_lead
from aibroker.domain.fact_parse import asked_slots, parse
from aibroker.domain.leads import LeadForm

RESTART_MARKER = "[conversation restarted]"
_EPISODE_BREAK = re.compile(r"\b(?:marked (?:as )?resolved|conversation (?:was )?resolved|resolved the "
                            r"conversation|reopened|re-opened)\b|" + re.escape(RESTART_MARKER), re.IGNORECASE)


def current_episode(history: Sequence[ChatMessage]) -> list[ChatMessage]:
    """The messages after the last resolved/reopened marker (see the module docstring)."""
    for i in range(len(history) - 1, -1, -1):
        message = history[i]
        if message.role == Role.SYSTEM and _EPISODE_BREAK.search(message.content):
            return list(history[i + 1:])
    return list(history)


def episode_of(history: Sequence[ChatMessage], new_messages: Sequence[ChatMessage]) -> list[ChatMessage]:
    """The current episode's earlier messages, then the new ones (each message once)."""
    new_ids = {m.id for m in new_messages}
    return [*current_episode([m for m in history if m.id not in new_ids]), *new_messages]


def fold_customer_facts(lead: LeadForm | None, messages: Iterable[ChatMessage], today: date) -> CustomerFacts:
    """The form, then each customer message oldest first, the newer statement winning.

    A bare answer ("8k", "two") is read against the question the bot asked just before it.
    """
    facts, last_bot = from_lead(lead), ""
    for message in messages:
        if message.role in (Role.BOT, Role.HUMAN):
            last_bot = message.content
        elif message.role == Role.CUSTOMER:
            facts = facts.merged(parse(message.content, asked=asked_slots(last_bot), today=today))
    return facts
