"""The console's store contract (issue #12), on SQLite and PostgreSQL: handoffs numbered by one guarded update,
the "waiting for a human" clock, and the list's order and unanswered-message clock."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncEngine

from aibroker.adapters.db.console_store import SqlConsoleReadModel
from aibroker.adapters.db.engine import session_factory
from aibroker.adapters.db.store import SqlStore
from aibroker.domain.conversation import ConversationRecord, ConversationStatus, Owner


async def _conversation(store: SqlStore, inbox_id: str) -> ConversationRecord:
    return await store.create_conversation(inbox="builtin", inbox_conversation_id=inbox_id, inbox_contact_id="c1",
                                           loan_type="refinance", lead={"name": "Ann Tan"}, lead_score=50,
                                           persona_name="Sarah Wong", broker_id=None)


async def test_a_handoff_is_numbered_once_and_the_waiting_clock_follows_the_owner(engine: AsyncEngine) -> None:
    store = SqlStore(session_factory(engine))
    conversation = await _conversation(store, "1")
    await store.mark_waiting(conversation.id)  # the bot owns it: nobody waits for a human
    assert (await store.get_conversation(conversation.id)).waiting_since is None  # type: ignore[union-attr]

    # Five callers hand off at once (a worker, operators): exactly one wins, with handoff number 1.
    numbers = await asyncio.gather(*(store.hand_to_humans(conversation.id) for _ in range(5)))
    assert sorted(numbers, key=lambda n: n or 0) == [None, None, None, None, 1]
    handed = await store.get_conversation(conversation.id)
    assert handed is not None and handed.owner == Owner.HUMAN and handed.status == ConversationStatus.OPEN
    assert handed.waiting_since is not None and handed.handoff_count == 1

    await store.human_replied(conversation.id)  # a human answers: the clock stops
    replied = await store.get_conversation(conversation.id)
    assert replied is not None and replied.waiting_since is None and replied.human_replied_at is not None
    await store.mark_waiting(conversation.id)  # the customer writes again: it starts again
    await store.mark_waiting(conversation.id)  # (and keeps its start)
    waiting = await store.get_conversation(conversation.id)
    assert waiting is not None and waiting.waiting_since is not None and replied.human_replied_at is not None
    assert waiting.waiting_since >= replied.human_replied_at

    await store.set_ownership(conversation.id, owner=Owner.BOT, status=ConversationStatus.PENDING)  # handed back
    back = await store.get_conversation(conversation.id)
    assert back is not None and back.waiting_since is None
    assert await store.hand_to_humans(conversation.id) == 2  # the next handoff has the next number


async def test_the_list_puts_waiting_first_and_times_the_oldest_unanswered_message(engine: AsyncEngine) -> None:
    store = SqlStore(session_factory(engine))
    read = SqlConsoleReadModel(store.sessions)
    bot_old, waiting, human, bot_new, resolved = [await _conversation(store, str(i)) for i in range(1, 6)]
    await store.hand_to_humans(waiting.id)
    await store.hand_to_humans(human.id)
    await store.human_replied(human.id)
    await store.set_ownership(resolved.id, status=ConversationStatus.RESOLVED)
    for message_id in ("m1", "m2"):
        await store.record_inbound(bot_old.id, message_id)
    claim = await store.claim_reply(bot_old.id, "message:m1")
    await store.complete_reply(bot_old.id, "message:m1", claim.token, sent_message_id="r1")  # m1 answered
    greeting = await store.claim_reply(bot_new.id, "greeting")  # the latest activity: bot_new's sent greeting
    await store.complete_reply(bot_new.id, "greeting", greeting.token, sent_message_id="g1")

    rows = await read.open_conversations(limit=50)
    assert [r.record.id for r in rows] == [waiting.id, human.id, bot_new.id, bot_old.id]  # resolved is not open
    by_id = {r.record.id: r for r in rows}
    assert by_id[bot_old.id].oldest_unanswered_at is not None  # m2 still waits for the bot
    assert by_id[bot_new.id].oldest_unanswered_at is None
    assert (await read.facts(bot_old.id)) == by_id[bot_old.id] and await read.facts(999_999) is None
