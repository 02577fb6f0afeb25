"""Erasure and retention against the real database (SQLite and PostgreSQL) and Redis: how a person is found (e-mail
hash, or the lead form's e-mail on older rows, or the built-in inbox contact), what Chatwoot keeps, broker slots,
and the retention purge's cut-off and orphans."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from aibroker.adapters.db.capacity import SqlCapacity
from aibroker.adapters.db.engine import session_factory
from aibroker.adapters.db.erasure import SqlErasure
from aibroker.adapters.db.history import SqlMessageHistory
from aibroker.adapters.db.models import Broker, BrokerAssignment
from aibroker.adapters.db.store import SqlStore
from aibroker.adapters.inbox.builtin import BuiltinInbox
from aibroker.adapters.queue.conversation_lock import RedisConversationLocks
from aibroker.adapters.queue.redis_options import redis_client
from aibroker.adapters.realtime.events import RedisEventBus
from aibroker.bootstrap import build_container, build_erasure
from aibroker.config import Settings
from aibroker.domain.brokers import AssignmentFacts
from aibroker.domain.conversation import ChatMessage, ContactInfo, ConversationRecord, Role
from aibroker.domain.erasure import ChatwootConversation
from aibroker.domain.jobs import IncomingMessageJob, NewConversationJob
from aibroker.domain.privacy import email_hash
from aibroker.errors import InvalidRequest
from aibroker.usecases.assignment import BrokerAssignment as Assignment
from aibroker.usecases.erasure import ErasureService
from aibroker.usecases.replies import ERASED

LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


def _facts() -> AssignmentFacts:
    return AssignmentFacts(lead_score=50, loan_type="new_purchase", property_type=None, monthly_income=None,
                           timeline=None)


class World:
    def __init__(self, settings: Settings, engine: AsyncEngine, redis: Any) -> None:
        self.settings = settings
        self.engine = engine
        self.store = SqlStore(session_factory(engine))
        self.inbox = BuiltinInbox(self.store.sessions, redis, settings.queue_prefix)
        self.history = SqlMessageHistory(self.store.sessions, "chatwoot")
        self.capacity = SqlCapacity(self.store.sessions)
        self.events = RedisEventBus(redis, self.store, settings.queue_prefix)
        self.assignment = Assignment(self.capacity, self.store, self.inbox, self.events)
        self.service: ErasureService = build_erasure(settings, self.store, redis,
                                                     on_slots_freed=self.assignment.assign_waiting)

    async def chatwoot_conversation(self, inbox_id: str, contact: str, *, email: str | None,
                                    lead: dict[str, Any]) -> ConversationRecord:
        record = await self.store.create_conversation(
            inbox="chatwoot", inbox_conversation_id=inbox_id, inbox_contact_id=contact, loan_type="refinance",
            lead=lead, lead_score=50, persona_name="Sarah Wong", broker_id=None)
        if email is not None:
            await self.sql("UPDATE conversations SET email_hash = :h WHERE id = :c", h=email_hash(email), c=record.id)
        await self.history.record(inbox_id, ChatMessage(id=f"m{inbox_id}", role=Role.CUSTOMER,
                                                        content=f"message in {inbox_id}", created_at=LONG_AGO))
        return record

    async def builtin_conversation(self, name: str, email: str, *, lead_email: str | None = None) -> ConversationRecord:
        contact = await self.inbox.find_or_create_contact(ContactInfo(name=name, email=email, phone="+6590000000"))
        inbox_id = await self.inbox.create_conversation(contact, {})
        await self.inbox.post_customer_message(inbox_id, f"hello from {name}")
        record = await self.store.create_conversation(
            inbox="builtin", inbox_conversation_id=inbox_id, inbox_contact_id=contact, loan_type="new_purchase",
            lead={"name": name, "email": lead_email or email}, lead_score=50, persona_name="Sarah Wong",
            broker_id=None)
        await self.events.publish(record.id, "conversation:created", {})
        return record

    async def sql(self, statement: str, **params: Any) -> None:
        async with self.engine.begin() as connection:
            await connection.execute(text(statement), params)

    async def count(self, table: str) -> int:
        async with self.engine.connect() as connection:
            return int((await connection.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())


@pytest.fixture
async def world(make_settings, db_url: str, engine: AsyncEngine) -> AsyncIterator[World]:  # type: ignore[no-untyped-def]
    settings: Settings = make_settings(db_url)
    assert settings.redis_url
    redis = redis_client(settings.redis_url)
    yield World(settings, engine, redis)
    await redis.aclose()


async def test_a_person_is_found_by_hash_by_lead_email_and_by_contact(world: World) -> None:
    hashed = await world.chatwoot_conversation("501", "cw-9", email="pat@example.com", lead={})
    older = await world.builtin_conversation("Pat Doe", "Pat@Example.com")  # no hash: the lead's e-mail finds it
    other = await world.chatwoot_conversation("502", "cw-10", email="kim@example.com",
                                              lead={"email": "kim@example.com"})
    # Hashed under another address: the hash decides, whatever the lead JSON says.
    not_pat = await world.chatwoot_conversation("503", "cw-11", email="lee@example.com",
                                                lead={"email": "pat@example.com"})
    assert await world.capacity.assign(hashed.id, "balanced", _facts()) is not None

    report = await world.service.erase_email("  PAT@example.COM ")

    assert report.conversation_ids == sorted([hashed.id, older.id])
    assert report.chatwoot == [ChatwootConversation(conversation_id=hashed.id, chatwoot_contact_id="cw-9",
                                                    chatwoot_conversation_id="501")]
    assert any("Chatwoot" in note for note in report.notes)
    assert report.deleted["message_history"] == 1 and report.deleted["inbox_contacts"] == 1
    assert report.deleted["inbox_messages"] == 1 and report.broker_slots_released == 1
    assert report.redis_streams_deleted == 1
    assert await world.store.get_conversation(other.id) is not None
    assert await world.store.get_conversation(not_pat.id) is not None
    assert [m.id for m in await world.history.list_messages("502")] == ["m502"]
    assert await world.count("inbox_contacts") == 0 and await world.capacity.reconcile() == {}
    assert (await world.service.erase_email("pat@example.com")).nothing_found


async def test_an_erased_slot_goes_to_the_waiting_lead(world: World) -> None:
    async with world.store.sessions() as session, session.begin():
        await session.execute(update(Broker).values(max_concurrent_chats=1))
    people = [await world.builtin_conversation(f"Lead {i}", f"lead{i}@example.com") for i in range(6)]
    brokers = [await world.capacity.assign(p.id, "balanced", _facts()) for p in people]
    assert all(brokers[:5]) and brokers[5] is None  # five slots, the sixth lead waits

    report = await world.service.erase_email("lead0@example.com")

    assert report.broker_slots_released == 1
    assert await world.capacity.assignment_status(people[5].id) == "active"
    assert await world.capacity.reconcile() == {}
    async with world.store.sessions() as session:
        workloads = (await session.scalars(select(Broker.current_workload))).all()
        assert sorted(workloads) == [1, 1, 1, 1, 1]
        assert await session.scalar(select(BrokerAssignment.id).where(
            BrokerAssignment.conversation_id == people[0].id)) is None


async def test_purge_takes_what_is_older_than_the_cutoff_and_orphans(world: World) -> None:
    old = await world.builtin_conversation("Old Timer", "old@example.com")
    recent = await world.builtin_conversation("New Comer", "new@example.com")
    old_chatwoot = await world.chatwoot_conversation("601", "cw-1", email=None, lead={})
    await world.sql("UPDATE conversations SET last_activity_at = :t WHERE id IN (:a, :b)", t=LONG_AGO,
                    a=old.id, b=old_chatwoot.id)
    # Left behind by an intake that failed half-way: an inbox conversation nothing of ours refers to, and a
    # contact without conversations; old ones go, a fresh one (an intake in progress) stays.
    stray_old = await world.inbox.find_or_create_contact(ContactInfo(name="Stray Old", email="stray@example.com"))
    stray_conversation = await world.inbox.create_conversation(stray_old, {})
    await world.inbox.post_customer_message(stray_conversation, "orphaned words")
    lonely = await world.inbox.find_or_create_contact(ContactInfo(name="Lonely", email="lonely@example.com"))
    await world.inbox.find_or_create_contact(ContactInfo(name="Fresh", email="fresh@example.com"))
    await world.sql("UPDATE inbox_contacts SET created_at = :t WHERE id IN (:a, :b)", t=LONG_AGO,
                    a=int(stray_old), b=int(lonely))
    await world.sql("UPDATE inbox_conversations SET created_at = :t WHERE id = :c", t=LONG_AGO,
                    c=int(stray_conversation))

    report = await world.service.purge(30)

    assert report.scope == "age" and report.conversation_ids == sorted([old.id, old_chatwoot.id])
    assert report.deleted["inbox_conversations"] == 2 and report.deleted["inbox_messages"] == 2
    assert report.deleted["inbox_contacts"] == 3 and report.deleted["message_history"] == 1
    assert [c.chatwoot_conversation_id for c in report.chatwoot] == ["601"]
    assert await world.store.get_conversation(recent.id) is not None
    assert await world.count("inbox_contacts") == 2  # the recent lead's contact and the fresh one
    assert await world.count("inbox_conversations") == 1
    assert (await world.service.purge(30)).nothing_found


async def test_purge_refuses_less_than_a_day(world: World) -> None:
    await world.builtin_conversation("Today", "today@example.com")
    with pytest.raises(InvalidRequest):
        await world.service.purge(0)
    assert await world.count("conversations") == 1


async def test_jobs_for_an_erased_conversation_end_quietly(world: World) -> None:
    record = await world.builtin_conversation("Gone Soon", "gone@example.com")
    await world.service.erase_email("gone@example.com")
    container = build_container(world.settings, world.settings.redis_url or "", engine=world.engine)
    try:
        replies = container.replies
        assert await replies.greet(NewConversationJob(conversation_id=record.id)) == ERASED
        assert await replies.answer(IncomingMessageJob(conversation_id=record.id, message_id="1")) == ERASED
        assert await replies.give_up(IncomingMessageJob(conversation_id=record.id, message_id="1"), "boom") == ERASED
    finally:
        await container.queue.aclose()
        await container.redis.aclose()
    assert await world.count("reply_ledger") == 0 and await world.count("inbox_messages") == 0


class Announcing:
    """The real Redis locks, announcing when a holder starts waiting (so the test knows the erasure is at its lock)."""

    def __init__(self, inner: RedisConversationLocks) -> None:
        self.inner = inner
        self.asked = asyncio.Event()

    def hold(self, conversation_id: int, *, wait_s: float | None = None) -> AbstractAsyncContextManager[None]:
        self.asked.set()
        return self.inner.hold(conversation_id, wait_s=wait_s)

    async def confirm(self, conversation_id: int) -> None:
        await self.inner.confirm(conversation_id)


async def test_erasure_waits_for_a_reply_in_progress(world: World, redis_prefix: str) -> None:
    """A reply job holds its conversation's lock while it writes; an erasure that starts meanwhile deletes only
    after the job is done, so nothing the job wrote survives it."""
    record = await world.builtin_conversation("Mid Reply", "mid@example.com")
    assert world.settings.redis_url
    redis = redis_client(world.settings.redis_url)
    try:
        locks = RedisConversationLocks(redis, redis_prefix)
        announcing = Announcing(locks)
        service = ErasureService(SqlErasure(world.store.sessions), world.events, announcing, clock=lambda: LONG_AGO)
        async with locks.hold(record.id):  # the job
            erasure = asyncio.create_task(service.erase_email("mid@example.com"))
            await asyncio.wait_for(announcing.asked.wait(), 30)
            sent = await world.inbox.send_message(record.inbox_conversation_id, "a reply", source_id="t1")
            await world.events.publish(record.id, "message:ai", {"message_id": sent.id})
            assert not erasure.done()
        report = await erasure
    finally:
        await redis.aclose()
    assert report.deleted["inbox_messages"] == 2 and report.deleted["chat_events"] == 2
    assert report.redis_streams_deleted == 1
    assert await world.count("chat_events") == 0 and await world.count("inbox_messages") == 0
