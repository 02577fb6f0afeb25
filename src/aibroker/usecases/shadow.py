"""Shadow mode: aibroker answers a legacy conversation's message for comparison only. Nothing is sent, typed,
paced or assigned; the would-be reply, its latency (from the message's arrival) and its handoff decision are
stored, and later paired with the legacy workflow's reply when the inbox reports it."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from aibroker.domain.conversation import Role
from aibroker.domain.handoff import ConversationProgress, detect_handoff
from aibroker.domain.jobs import ShadowReplyJob
from aibroker.domain.leads import LeadForm
from aibroker.domain.personas import PERSONAS_BY_NAME
from aibroker.domain.ports import ConversationStore, Inbox, ReplyContext, ReplyGenerator

HISTORY_LIMIT = 50


class ShadowStore(Protocol):
    async def record_shadow(self, conversation_id: int, message_id: str, *, reply: str, source: str,
                            latency_ms: int, handoff_reason: str | None) -> bool: ...


class ShadowReplies:
    def __init__(self, store: ConversationStore, shadows: ShadowStore, inbox: Inbox, generator: ReplyGenerator,
                 clock: Callable[[], datetime]) -> None:
        self._store = store
        self._shadows = shadows
        self._inbox = inbox
        self._generator = generator
        self._clock = clock

    async def run(self, job: ShadowReplyJob) -> str:
        started = time.monotonic()
        conversation = await self._store.get_conversation(job.conversation_id)
        if conversation is None:
            return "skipped: conversation gone"
        history = await self._inbox.list_messages(conversation.inbox_conversation_id, limit=HISTORY_LIMIT)
        message = next((m for m in history if m.id == job.message_id), None)
        if message is None:
            return "skipped: message not found"
        progress = ConversationProgress()
        for item in history:
            if item.role == Role.CUSTOMER:
                progress = progress.observe(item.content)
            if item.id == message.id:
                break
        decision = detect_handoff(message.content, progress)
        try:
            lead: LeadForm | None = LeadForm.model_validate(conversation.lead)
        except ValueError:
            lead = None
        before = [m for m in history if m.created_at <= message.created_at and m.id != message.id]
        reply = await self._generator.generate(ReplyContext(
            persona=PERSONAS_BY_NAME[conversation.persona_name], customer_first_name=lead.first_name if lead
            else "there", lead=lead, history=before, new_messages=[message], now=self._clock()))
        handoff = decision.reason.value if decision else (reply.handoff.reason if reply.handoff else None)
        # Latency as the customer would have seen it: from the message's arrival to the reply being ready
        # (pacing excluded: shadow replies are not paced).
        waited_ms = max(0, int((self._clock() - message.created_at).total_seconds() * 1000))
        latency_ms = max(waited_ms, int((time.monotonic() - started) * 1000))
        stored = await self._shadows.record_shadow(conversation.id, message.id, reply=reply.text,
                                                   source=reply.source, latency_ms=latency_ms,
                                                   handoff_reason=handoff)
        return "shadow reply stored" if stored else "skipped: shadow reply already stored"
