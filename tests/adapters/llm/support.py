"""Builders shared by the LLM adapter tests and the evaluation: contexts, messages, responders."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from aibroker.adapters.llm import OfflineResponder, OpenAICompatResponder, ReplyMetrics
from aibroker.domain.conversation import ChatMessage, Role
from aibroker.domain.leads import LeadForm
from aibroker.domain.personas import PERSONAS, Persona
from aibroker.domain.ports import ReplyContext

NOW = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
RACHEL = PERSONAS[2]  # balanced
_ids = itertools.count(1)


def message(role: Role | str, content: str, *, private: bool = False) -> ChatMessage:
    return ChatMessage(id=str(next(_ids)), role=Role(role), content=content, created_at=NOW, private=private)


def context(text: str, *, history: Sequence[ChatMessage | tuple[str, str]] = (), persona: Persona = RACHEL,
            lead: LeadForm | dict[str, Any] | None = None, name: str = "Alex",
            now: datetime = NOW) -> ReplyContext:
    """A turn: earlier `history` (messages or (role, text) pairs) and one new customer message."""
    past = [m if isinstance(m, ChatMessage) else message(m[0], m[1]) for m in history]
    form = LeadForm.model_validate(lead) if isinstance(lead, dict) else lead
    return ReplyContext(persona=persona, customer_first_name=name, lead=form, history=past,
                        new_messages=[message(Role.CUSTOMER, text)], now=now)


def llm(base_url: str, *, timeout_s: float = 5.0, max_retries: int = 0, safe: bool = True,
        metrics: ReplyMetrics | None = None, **kwargs: Any) -> OpenAICompatResponder:
    """A responder talking to the fake server over real HTTP."""
    return OpenAICompatResponder(base_url=base_url, api_key="sk-test", model="gpt-4o-mini", timeout_s=timeout_s,
                                 max_retries=max_retries, safe_responder=OfflineResponder() if safe else None,
                                 metrics=metrics, **kwargs)
