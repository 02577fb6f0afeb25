"""Adoption: a conversation that begins in the inbox (website widget, API channel, WhatsApp through Chatwoot) is
taken up on its first incoming customer message, if its inbox is in scope. It is routed like a lead-form
conversation, and an aibroker one gets a broker; its first answer greets first (ReplyService.answer).
Duplicate and concurrent first messages adopt it once: the (inbox, inbox_conversation_id) unique constraint."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from aibroker.domain.adoption import lead_from_inbox
from aibroker.domain.conversation import ConversationRecord
from aibroker.domain.personas import persona_for_score
from aibroker.domain.rollout import Route
from aibroker.logging import get_logger
from aibroker.usecases.assignment import BrokerAssignment
from aibroker.usecases.rollout import RolloutControl

if TYPE_CHECKING:
    from aibroker.usecases.inbound import InboundEvent

log = get_logger(__name__)


class AdoptionStore(Protocol):
    async def create_once(self, **fields: Any) -> tuple[ConversationRecord, bool]: ...


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


class Adoption:
    def __init__(self, store: AdoptionStore, rollout: RolloutControl, assignment: BrokerAssignment,
                 inbox_name: str, scope: frozenset[str]) -> None:
        self._store = store
        self._rollout = rollout
        self._assignment = assignment
        self._inbox_name = inbox_name
        self._scope = scope  # inbox ids; empty: every inbox of the account

    async def adopt(self, event: InboundEvent) -> ConversationRecord | str:
        """The adopted conversation, or why it is not adopted."""
        raw = _mapping(event.raw)
        conversation = _mapping(raw.get("conversation"))
        inbox_id = conversation.get("inbox_id") or _mapping(raw.get("inbox")).get("id")
        if inbox_id is None or not event.inbox_conversation_id:
            return "conversation not started through aibroker (no inbox id in the webhook)"
        if self._scope and str(inbox_id) not in self._scope:
            log.info("conversation of inbox %s not adopted: inbox out of scope (CHATWOOT_INBOX_ID)", inbox_id)
            return f"inbox {inbox_id} out of scope"
        sender = _mapping(raw.get("sender")) or _mapping(_mapping(conversation.get("meta")).get("sender"))
        contact_id = sender.get("id")
        lead = lead_from_inbox(_text(sender.get("name")), _text(sender.get("email")),
                               _text(sender.get("phone_number")), _mapping(conversation.get("custom_attributes")))
        persona = persona_for_score(lead.score.total)
        route = await self._rollout.route_for_new(self._inbox_name, event.inbox_conversation_id)
        record, created = await self._store.create_once(
            inbox=self._inbox_name, inbox_conversation_id=event.inbox_conversation_id,
            inbox_contact_id=str(contact_id) if contact_id is not None else "", loan_type=lead.loan_type,
            lead=lead.lead, lead_score=lead.score.total, persona_name=persona.name, broker_id=None,
            route=route.value)
        if created:
            log.info("adopted inbox conversation %s (inbox %s): route %s, score %d", record.id, inbox_id,
                     route.value, lead.score.total)
            if route == Route.AIBROKER:  # (a full pool: the lead waits, and its greeting says so honestly)
                await self._assignment.assign(record)
        return record
