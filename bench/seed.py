"""Greeted conversations and customer messages written straight into the database and the queue, for benchmarks
whose subject is not the intake.

What `POST /api/leads` and the greeting job leave behind (contact, inbox conversation, conversation with its
persona and token, the visible greeting and its `sent` ledger row), written with a few multi-row INSERTs
through the product's own models: seconds for 10,000 conversations instead of minutes through the API.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
from sqlalchemy import insert as insert_into
from sqlalchemy.ext.asyncio import AsyncConnection

from aibroker.adapters.db.engine import create_engine
from aibroker.adapters.db.models import (
    Conversation,
    InboundMessage,
    InboxContact,
    InboxConversation,
    InboxMessage,
    ReplyLedgerEntry,
)
from aibroker.adapters.inbox.builtin import TYPING_TTL_S, typing_key
from aibroker.adapters.queue.bullmq_queue import BullJobQueue
from aibroker.config import Settings
from aibroker.domain.greetings import greeting_for
from aibroker.domain.jobs import IncomingMessageJob
from aibroker.domain.leads import LeadForm
from aibroker.domain.ledger import greeting_key, source_tag
from aibroker.domain.pacing import ReplyPacer
from aibroker.domain.personas import PersonaType, persona_for_score
from aibroker.domain.privacy import token_hash
from aibroker.domain.scoring import queue_priority, score_lead
from bench.common import lead

BATCH = 500


@dataclass
class Seeded:
    conversations: list[int]  # conversation ids, in lead order
    inbox_ids: list[int]  # their built-in inbox conversation ids
    tokens: list[str]  # each conversation's access token (its customer routes need it)
    persona_types: list[str]
    lead_scores: list[int]


async def insert_rows(db: AsyncConnection, model: Any, rows: list[dict[str, Any]]) -> list[int]:
    """Multi-row INSERTs (BATCH rows each); the new ids, in the rows' order."""
    ids: list[int] = []
    for start in range(0, len(rows), BATCH):
        result = await db.execute(insert_into(model).returning(model.id, sort_by_parameter_order=True),
                                  rows[start:start + BATCH])
        ids.extend(int(row[0]) for row in result.all())
    return ids


async def seed_greeted(database_url: str, count: int, run: str, variant: Mapping[str, Any] | None = None) -> Seeded:
    """`count` greeted conversations of leads `lead(i, run, variant)` (their scores pick the personas)."""
    forms = [LeadForm.model_validate(lead(i, run, variant)) for i in range(count)]
    scores = [score_lead(form).total for form in forms]
    personas = [persona_for_score(score) for score in scores]
    tokens = [secrets.token_urlsafe(24) for _ in forms]
    now = datetime.now(UTC)
    engine = create_engine(Settings(_env_file=None, DATABASE_URL=database_url).sqlalchemy_url)  # type: ignore[call-arg]
    try:
        async with engine.begin() as db:
            contacts = await insert_rows(db, InboxContact, [
                {"name": f.name, "email": str(f.email), "phone": f.phone, "created_at": now} for f in forms])
            inbox_ids = await insert_rows(db, InboxConversation, [
                {"contact_id": c, "status": "pending", "attributes": {"broker": p.name}, "labels": [],
                 "typing": False, "created_at": now} for c, p in zip(contacts, personas, strict=True)])
            conversations = await insert_rows(db, Conversation, [
                {"inbox": "builtin", "inbox_conversation_id": str(b), "inbox_contact_id": str(c),
                 "loan_type": f.loan_type.value, "lead": f.model_dump(mode="json"), "lead_score": s,
                 "persona_name": p.name, "broker_id": None, "owner": "bot", "status": "pending",
                 "token_hash": token_hash(t), "created_at": now, "last_activity_at": now}
                for f, b, c, s, p, t in zip(forms, inbox_ids, contacts, scores, personas, tokens, strict=True)])
            greetings = await insert_rows(db, InboxMessage, [
                {"conversation_id": b, "role": "bot", "private": False, "activity": False, "created_at": now,
                 "content": greeting_for(p, f.first_name, f.loan_type, f.property_type),
                 "source_id": source_tag(c, greeting_key())}
                for f, b, c, p in zip(forms, inbox_ids, conversations, personas, strict=True)])
            await insert_rows(db, ReplyLedgerEntry, [
                {"conversation_id": c, "key": greeting_key(), "state": "sent", "claim_token": "bench", "attempts": 1,
                 "claimed_at": now, "completed_at": now, "sent_message_id": str(g)}
                for c, g in zip(conversations, greetings, strict=True)])
    finally:
        await engine.dispose()
    return Seeded(conversations, inbox_ids, tokens, [p.persona_type.value for p in personas], scores)


async def typing_on(redis: aioredis.Redis, prefix: str, inbox_ids: Sequence[int]) -> None:
    """The built-in inbox's typing indicator on for these conversations (as `BuiltinInbox.set_typing` sets it), in
    one round trip."""
    if not inbox_ids:
        return
    pipe = redis.pipeline(transaction=False)
    for inbox_id in inbox_ids:
        pipe.set(typing_key(prefix, str(inbox_id)), "1", ex=TYPING_TTL_S)
    await pipe.execute()


@dataclass(frozen=True, slots=True)
class DirectMessage:
    conversation_id: int
    inbox_id: int  # its built-in inbox conversation
    lead_score: int
    persona_type: PersonaType
    text: str


class DirectIntake:
    """What `POST /api/conversations/{id}/messages` leaves behind for the worker (the customer's message in the
    built-in inbox, its `inbound_messages` row, with pacing on the typing indicator, and its job, delayed until the
    reply is due: `usecases/inbound.py`), written by the driver itself in one multi-row INSERT per batch: a load
    generator that offers hundreds of messages a second without the API process's cost per request (it does not
    publish the live-UI events nor touch the conversation's waiting state, which the worker does not read).
    `pacer`: the API's (None: pacing off)."""

    def __init__(self, database_url: str, redis_url: str, prefix: str, pacer: ReplyPacer | None) -> None:
        self._engine = create_engine(Settings(_env_file=None, DATABASE_URL=database_url).sqlalchemy_url)  # type: ignore[call-arg]
        self._jobs = BullJobQueue(Settings(_env_file=None, REDIS_URL=redis_url, QUEUE_PREFIX=prefix,  # type: ignore[call-arg]
                                           QUEUE_NAME="aibroker"), redis_url)
        self._redis = aioredis.Redis.from_url(redis_url)
        self._prefix = prefix
        self._pacer = pacer

    async def post(self, messages: list[DirectMessage]) -> list[str]:
        """The messages' ids, in order."""
        now = datetime.now(UTC)
        async with self._engine.begin() as db:
            ids = await insert_rows(db, InboxMessage, [
                {"conversation_id": m.inbox_id, "role": "customer", "private": False, "activity": False,
                 "created_at": now, "content": m.text} for m in messages])
            await insert_rows(db, InboundMessage, [
                {"conversation_id": m.conversation_id, "message_id": str(i), "received_at": now, "queued_at": now}
                for m, i in zip(messages, ids, strict=True)])
        delays = [self._pacer.queued_delay(m.persona_type, m.conversation_id, str(i), m.text) if self._pacer else None
                  for m, i in zip(messages, ids, strict=True)]
        await typing_on(self._redis, self._prefix, [m.inbox_id for m, d in zip(messages, delays, strict=True) if d])
        received_ms = int(now.timestamp() * 1000)
        await asyncio.gather(*(self._jobs.enqueue(
            IncomingMessageJob(conversation_id=m.conversation_id, message_id=str(i), lead_score=m.lead_score,
                               due_at_ms=received_ms + d.ms if d else None),
            delay_ms=d.ms if d else 0, priority=queue_priority(m.lead_score))
            for m, i, d in zip(messages, ids, delays, strict=True)))
        return [str(m) for m in ids]

    async def aclose(self) -> None:
        await self._jobs.aclose()
        await self._redis.aclose()
        await self._engine.dispose()
