"""Greeting and answering: pacing, typing, generation, exactly-once sending, handoff detection.

Exactly once: every reply is claimed in the ledger first (key = greeting, or the customer message id)
and sent with a deterministic tag. A retried job finds the claim: DONE means send nothing; RECLAIMED
means an earlier attempt died mid-way, so we look for our tagged message in the inbox before sending.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from datetime import datetime

from aibroker.domain.conversation import ChatMessage, ConversationRecord, Owner, Role
from aibroker.domain.greetings import greeting_for, joined_activity, waiting_greeting
from aibroker.domain.handoff import ConversationProgress, HandoffDecision, HandoffReason, detect_handoff
from aibroker.domain.jobs import IncomingMessageJob, NewConversationJob
from aibroker.domain.leads import LeadForm
from aibroker.domain.ledger import ClaimOutcome, greeting_key, message_key, source_tag
from aibroker.domain.pacing import PacingPolicy, detect_urgency
from aibroker.domain.personas import PERSONAS_BY_NAME
from aibroker.domain.ports import ConversationStore, EventPublisher, Inbox, ReplyContext, ReplyGenerator
from aibroker.errors import NotFound
from aibroker.logging import get_logger
from aibroker.usecases.handoff import HandoffService

log = get_logger(__name__)

APOLOGY = ("Sorry, I'm having trouble answering right now. I've asked one of our human specialists to "
           "pick this up, they will reply here shortly.")
Sleep = Callable[[float], Awaitable[None]]
HISTORY_LIMIT = 50


class ReplyService:
    def __init__(self, store: ConversationStore, inbox: Inbox, generator: ReplyGenerator, events: EventPublisher,
                 handoffs: HandoffService, *, pacing: PacingPolicy, sla_budget_ms: int, expected_generation_ms: int,
                 clock: Callable[[], datetime], rng: random.Random | None = None, sleep: Sleep = asyncio.sleep,
                 pacing_enabled: bool = True) -> None:
        self._store = store
        self._inbox = inbox
        self._generator = generator
        self._events = events
        self._handoffs = handoffs
        self._pacing = pacing
        self._sla_budget_ms = sla_budget_ms
        self._expected_generation_ms = expected_generation_ms
        self._clock = clock
        self._rng = rng or random.Random()
        self._sleep = sleep
        self._pacing_enabled = pacing_enabled

    async def _conversation(self, conversation_id: int) -> ConversationRecord:
        conversation = await self._store.get_conversation(conversation_id)
        if conversation is None:
            raise NotFound(f"conversation {conversation_id} not found")
        return conversation

    async def _wait(self, ms: int) -> None:
        if self._pacing_enabled and ms > 0:
            await self._sleep(ms / 1000)

    # --- greeting ----------------------------------------------------------------------------------
    async def greet(self, job: NewConversationJob) -> str:
        conversation = await self._conversation(job.conversation_id)
        if conversation.owner == Owner.HUMAN:
            return "skipped: human owns the conversation"
        key = greeting_key()
        claim = await self._store.claim_reply(conversation.id, key)
        if claim.outcome == ClaimOutcome.DONE:
            return "skipped: already greeted"
        tag = source_tag(conversation.id, key)
        inbox_id = conversation.inbox_conversation_id
        if claim.outcome == ClaimOutcome.RECLAIMED and (sent := await self._inbox.find_sent_message(inbox_id, tag)):
            await self._store.complete_reply(conversation.id, key, claim.token, sent_message_id=sent.id)
            return "recovered: greeting was already sent"
        persona = PERSONAS_BY_NAME[conversation.persona_name]
        schedule = self._pacing.greeting_choreography(rng=self._rng)
        lead = _lead_of(conversation)
        first_name = lead.first_name if lead else None
        await self._wait(schedule.joined_after_ms)
        if conversation.broker_id is None:  # every broker is full: say so honestly, the lead is queued
            text = waiting_greeting(first_name)
        else:
            await self._inbox.post_activity(inbox_id, joined_activity(persona))
            await self._events.publish(conversation.id, "broker:joined", {"broker": persona.name})
            text = greeting_for(persona, first_name, conversation.loan_type,
                                lead.property_type.value if lead and lead.property_type else None)
        sent = await self._send_with_typing(conversation, text, tag, schedule.typing_ms)
        await self._store.complete_reply(conversation.id, key, claim.token, sent_message_id=sent.id)
        return "greeted"

    # --- answering ---------------------------------------------------------------------------------
    async def answer(self, job: IncomingMessageJob) -> str:
        conversation = await self._conversation(job.conversation_id)
        key = message_key(job.message_id)
        claim = await self._store.claim_reply(conversation.id, key)
        if claim.outcome == ClaimOutcome.DONE:
            return "skipped: already answered"
        if conversation.owner == Owner.HUMAN:
            await self._store.complete_reply(conversation.id, key, claim.token, state="skipped",
                                             note="human owns the conversation")
            return "skipped: human owns the conversation"
        tag = source_tag(conversation.id, key)
        inbox_id = conversation.inbox_conversation_id
        if claim.outcome == ClaimOutcome.RECLAIMED and (sent := await self._inbox.find_sent_message(inbox_id, tag)):
            await self._store.complete_reply(conversation.id, key, claim.token, sent_message_id=sent.id)
            return "recovered: reply was already sent"

        history = await self._inbox.list_messages(inbox_id, limit=HISTORY_LIMIT)
        message = next((m for m in history if m.id == job.message_id), None)
        if message is None:
            await self._store.complete_reply(conversation.id, key, claim.token, state="skipped",
                                             note="message not found in inbox")
            return "skipped: message not found"
        await self._store.touch(conversation.id)
        await self._events.publish(conversation.id, "message:user", {"message_id": message.id})

        decision = detect_handoff(message.content, _progress(history, message))
        if decision is not None:
            return await self._hand_off(conversation, decision, key, claim.token)

        persona = PERSONAS_BY_NAME[conversation.persona_name]
        delay = self._pacing.reply_delay(persona.persona_type, detect_urgency(message.content),
                                         self._expected_generation_ms, self._sla_budget_ms, rng=self._rng)
        context = ReplyContext(persona=persona, customer_first_name=_first_name(conversation),
                               lead=_lead_of(conversation), history=[m for m in history if m.id != message.id],
                               new_messages=[message], now=self._clock())
        await self._inbox.set_typing(inbox_id, True)
        try:
            await self._wait(delay.ms)
            reply = await self._generator.generate(context)
        finally:
            await self._inbox.set_typing(inbox_id, False)
        if reply.handoff is not None:
            decision = HandoffDecision(HandoffReason(reply.handoff.reason) if reply.handoff.reason in
                                       HandoffReason._value2member_map_ else HandoffReason.COMPLIANCE,
                                       reply.handoff.detail or "responder asked for a human")
        # A human may have taken over while we were generating: re-check right before sending.
        current = await self._conversation(conversation.id)
        if current.owner == Owner.HUMAN:
            await self._store.complete_reply(conversation.id, key, claim.token, state="skipped",
                                             note="human took over during generation")
            return "skipped: human took over"
        sent = await self._send(current, reply.text, tag, source=reply.source)
        await self._store.complete_reply(conversation.id, key, claim.token, sent_message_id=sent.id)
        if decision is not None:
            await self._handoffs.hand_off(current, decision)
            return "answered and handed off"
        return "answered"

    # --- final failure ------------------------------------------------------------------------------
    async def give_up(self, job: NewConversationJob | IncomingMessageJob, reason: str) -> str:
        """The job's last attempt failed: one apology and a handoff to a human, exactly once."""
        conversation = await self._store.get_conversation(job.conversation_id)
        if conversation is None:
            return "skipped: conversation gone"
        key = greeting_key() if isinstance(job, NewConversationJob) else message_key(job.message_id)
        claim = await self._store.claim_reply(conversation.id, key)
        if claim.outcome == ClaimOutcome.DONE:
            return "skipped: already answered"
        tag = source_tag(conversation.id, key)
        if (sent := await self._inbox.find_sent_message(conversation.inbox_conversation_id, tag)) is not None:
            await self._store.complete_reply(conversation.id, key, claim.token, sent_message_id=sent.id)
            return "recovered: reply was already sent"
        if conversation.owner == Owner.HUMAN:
            await self._store.complete_reply(conversation.id, key, claim.token, state="skipped",
                                             note="human owns the conversation")
            return "skipped: human owns the conversation"
        sent = await self._send(conversation, APOLOGY, tag, source="apology")
        await self._store.complete_reply(conversation.id, key, claim.token, sent_message_id=sent.id,
                                         note="job_failed")
        await self._handoffs.hand_off(conversation, HandoffDecision.for_job_failure(reason))
        return "apologised and handed off"

    async def _hand_off(self, conversation: ConversationRecord, decision: HandoffDecision, key: str,
                        token: str) -> str:
        text = (f"I'll bring in one of our human specialists now, they will continue right here with you "
                f"shortly. (reason: {decision.reason.value.replace('_', ' ')})")
        sent = await self._send(conversation, text, source_tag(conversation.id, key), source="handoff")
        await self._store.complete_reply(conversation.id, key, token, sent_message_id=sent.id,
                                         note=f"handoff:{decision.reason.value}")
        await self._handoffs.hand_off(conversation, decision)
        return f"handed off: {decision.reason.value}"

    async def _send_with_typing(self, conversation: ConversationRecord, text: str, tag: str,
                                typing_ms: int) -> ChatMessage:
        await self._inbox.set_typing(conversation.inbox_conversation_id, True)
        try:
            await self._wait(typing_ms)
        finally:
            await self._inbox.set_typing(conversation.inbox_conversation_id, False)
        return await self._send(conversation, text, tag, source="greeting")

    async def _send(self, conversation: ConversationRecord, text: str, tag: str, *, source: str) -> ChatMessage:
        sent = await self._inbox.send_message(conversation.inbox_conversation_id, text, source_id=tag)
        await self._store.touch(conversation.id)
        await self._events.publish(conversation.id, "message:ai", {"message_id": sent.id, "source": source})
        return sent


def _lead_of(conversation: ConversationRecord) -> LeadForm | None:
    try:
        return LeadForm.model_validate(conversation.lead)
    except ValueError:
        return None


def _first_name(conversation: ConversationRecord) -> str:
    lead = _lead_of(conversation)
    return lead.first_name if lead else "there"


def _progress(history: list[ChatMessage], current: ChatMessage) -> ConversationProgress:
    """Replay the customer's messages up to `current` to know how many bot turns made no progress."""
    progress = ConversationProgress()
    for item in history:
        if item.role == Role.CUSTOMER:
            progress = progress.observe(item.content)
        if item.id == current.id:
            break
    return progress

