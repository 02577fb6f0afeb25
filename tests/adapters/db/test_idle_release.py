"""Idle release of broker slots and re-assignment to the same broker, on SQLite and PostgreSQL (`db_url`)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from aibroker.adapters.db.capacity import SqlCapacity
from aibroker.adapters.db.engine import session_factory
from aibroker.adapters.db.models import Broker, BrokerAssignment, Conversation, InboundMessage
from aibroker.adapters.db.store import SqlStore
from aibroker.domain.brokers import AssignmentFacts
from aibroker.domain.conversation import ConversationRecord, InboundState, Owner

FACTS = AssignmentFacts(lead_score=50, loan_type="refinance", property_type=None, monthly_income=None, timeline=None)
HOUR = timedelta(hours=1)


async def _assigned(store: SqlStore, capacity: SqlCapacity, n: int) -> tuple[ConversationRecord, int]:
    record = await store.create_conversation(inbox="builtin", inbox_conversation_id=str(n), inbox_contact_id=f"c{n}",
                                             loan_type="refinance", lead={"name": "Ann"}, lead_score=50,
                                             persona_name="Sarah Wong", broker_id=None)
    broker = await capacity.assign(record.id, "professional", FACTS)
    assert broker is not None
    return record, broker.id


async def _age(engine: AsyncEngine, conversation_id: int, created: datetime, *messages: datetime) -> None:
    async with session_factory(engine)() as session, session.begin():
        await session.execute(update(Conversation).where(Conversation.id == conversation_id)
                              .values(created_at=created))
        for i, at in enumerate(messages):
            session.add(InboundMessage(conversation_id=conversation_id, message_id=f"m{conversation_id}-{i}",
                                       received_at=at))


async def _assignment(engine: AsyncEngine, conversation_id: int) -> tuple[str, str | None, int | None]:
    async with session_factory(engine)() as session:
        row = (await session.execute(select(BrokerAssignment.status, BrokerAssignment.release_reason,
                                            BrokerAssignment.broker_id)
                                     .where(BrokerAssignment.conversation_id == conversation_id))).one()
        return row[0], row[1], row[2]


async def _workloads(engine: AsyncEngine) -> dict[int, int]:
    async with session_factory(engine)() as session:
        return dict((await session.execute(select(Broker.id, Broker.current_workload))).tuples().all())


async def test_only_bot_conversations_quiet_since_the_cutoff_are_released_once(engine: AsyncEngine) -> None:
    store, capacity = SqlStore(session_factory(engine)), SqlCapacity(session_factory(engine))
    now = datetime.now(UTC)
    never_wrote, _ = await _assigned(store, capacity, 1)       # opened 2 h ago, no customer message
    wrote_long_ago, _ = await _assigned(store, capacity, 2)    # last message 90 min ago
    wrote_recently, _ = await _assigned(store, capacity, 3)    # opened long ago, wrote a minute ago
    fresh, _ = await _assigned(store, capacity, 4)             # opened just now
    human, _ = await _assigned(store, capacity, 5)             # quiet, but a human owns it
    await _age(engine, never_wrote.id, now - 2 * HOUR)
    await _age(engine, wrote_long_ago.id, now - 3 * HOUR, now - 2 * HOUR, now - 1.5 * HOUR)
    await _age(engine, wrote_recently.id, now - 3 * HOUR, now - 2 * HOUR, now - timedelta(minutes=1))
    await _age(engine, human.id, now - 2 * HOUR)
    await store.set_ownership(human.id, owner=Owner.HUMAN)
    before = await _workloads(engine)

    # Many workers at once: each slot comes back exactly once.
    results = await asyncio.gather(*(capacity.release_idle(now - HOUR) for _ in range(5)))
    assert sorted(c for result in results for c in result) == sorted([never_wrote.id, wrote_long_ago.id])
    assert await capacity.release_idle(now - HOUR) == []
    assert sum(before.values()) - sum((await _workloads(engine)).values()) == 2
    assert await capacity.reconcile() == {}  # workloads still equal the active assignments

    for released in (never_wrote, wrote_long_ago):
        status, reason, _ = await _assignment(engine, released.id)
        assert (status, reason) == ("released", "idle") and await capacity.idle_released(released.id)
    for kept in (wrote_recently, fresh, human):
        assert (await _assignment(engine, kept.id))[0] == "active" and not await capacity.idle_released(kept.id)
    # The conversation still names the broker who spoke, to prefer them when the customer returns.
    assert (await store.get_conversation(never_wrote.id)).broker_id is not None  # type: ignore[union-attr]


async def test_a_returning_conversation_gets_its_broker_back_or_another_when_full(engine: AsyncEngine) -> None:
    store, capacity = SqlStore(session_factory(engine)), SqlCapacity(session_factory(engine))
    now = datetime.now(UTC)
    first, first_broker = await _assigned(store, capacity, 1)
    second, second_broker = await _assigned(store, capacity, 2)
    assert first_broker != second_broker  # lowest workload first: two different brokers
    for record in (first, second):
        await _age(engine, record.id, now - 2 * HOUR)
    assert sorted(await capacity.release_idle(now - HOUR)) == sorted([first.id, second.id])

    # The preferred broker has a free slot: it is the one assigned (not the lowest-workload candidate).
    async with session_factory(engine)() as session, session.begin():
        await session.execute(update(Broker).where(Broker.id != first_broker).values(current_workload=0))
        await session.execute(update(Broker).where(Broker.id == first_broker).values(current_workload=3))
    again = await capacity.assign(first.id, "professional", FACTS, preferred_broker_id=first_broker)
    assert again is not None and again.id == first_broker
    assert await _assignment(engine, first.id) == ("active", None, first_broker)
    assert not await capacity.idle_released(first.id)

    # The preferred broker is full: the usual choice instead.
    async with session_factory(engine)() as session, session.begin():
        await session.execute(update(Broker).where(Broker.id == second_broker)
                              .values(current_workload=Broker.max_concurrent_chats))
    other = await capacity.assign(second.id, "professional", FACTS, preferred_broker_id=second_broker)
    assert other is not None and other.id != second_broker


async def test_release_records_its_reason(engine: AsyncEngine) -> None:
    store, capacity = SqlStore(session_factory(engine)), SqlCapacity(session_factory(engine))
    resolved, _ = await _assigned(store, capacity, 1)
    handed, _ = await _assigned(store, capacity, 2)
    erased, _ = await _assigned(store, capacity, 3)
    await capacity.release(resolved.id)
    await capacity.release(handed.id, handoff_reason="human_requested")
    await capacity.release(erased.id, reason="erased")
    assert [(await _assignment(engine, c.id))[1] for c in (resolved, handed, erased)] == \
        ["resolved", "handoff", "erased"]


async def test_a_reply_job_reads_its_conversation_greeting_and_idle_release_in_one_view(engine: AsyncEngine) -> None:
    """What a reply job asks first, read together: the record, whether it is greeted, whether its slot was given
    back for idleness; and a message's receipt time with whether it is answered."""
    store, capacity = SqlStore(session_factory(engine)), SqlCapacity(session_factory(engine))
    now = datetime.now(UTC)
    quiet, _ = await _assigned(store, capacity, 1)
    busy, _ = await _assigned(store, capacity, 2)
    await _age(engine, quiet.id, now - 2 * HOUR, now - 2 * HOUR)
    await _age(engine, busy.id, now - 2 * HOUR, now - timedelta(minutes=1))
    assert await capacity.release_idle(now - HOUR) == [quiet.id]
    claim = await store.claim_reply(busy.id, "greeting")
    await store.complete_reply(busy.id, "greeting", claim.token, sent_message_id="g1")
    await store.claim_reply(quiet.id, "greeting")  # claimed, not finished: not greeted yet

    quiet_view, busy_view = await store.job_conversation(quiet.id), await store.job_conversation(busy.id)
    assert quiet_view is not None and quiet_view.record.id == quiet.id
    assert (quiet_view.greeted, quiet_view.idle_released) == (False, True)
    assert busy_view is not None and (busy_view.greeted, busy_view.idle_released) == (True, False)
    assert busy_view.record == await store.get_conversation(busy.id)
    assert await store.job_conversation(999_999) is None

    assert busy_view.inbound is None  # (no message asked for)

    async def inbound(message_id: str) -> InboundState:
        view = await store.job_conversation(busy.id, message_id)
        assert view is not None and view.inbound is not None
        assert (view.record.id, view.greeted, view.idle_released) == (busy.id, True, False)  # the same read
        return view.inbound

    message = f"m{busy.id}-0"
    waiting = await inbound(message)
    assert waiting.received_at is not None and abs(waiting.received_at - (now - timedelta(minutes=1))) < timedelta(
        seconds=1) and not waiting.answered
    claim = await store.claim_reply(busy.id, f"message:{message}")
    assert not (await inbound(message)).answered  # claimed is not answered
    await store.complete_reply(busy.id, f"message:{message}", claim.token, sent_message_id="r1")
    assert (await inbound(message)).answered
    unknown = await inbound("never-recorded")
    assert unknown.received_at is None and not unknown.answered
