"""A reply's events go out live at once, but their analytics rows (chat_events) are written together when the reply
ends, with the times the events happened; concurrent replies in one process gather apart; an error still writes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from aibroker.adapters.db.engine import create_engine, session_factory
from aibroker.adapters.db.migrate import migrate
from aibroker.adapters.db.models import ChatEvent
from aibroker.adapters.db.store import SqlStore
from aibroker.adapters.queue.redis_options import redis_client
from aibroker.adapters.realtime.events import RedisEventBus
from aibroker.config import Settings


@pytest.fixture
async def bus(make_settings, db_url: str) -> AsyncIterator[tuple[RedisEventBus, SqlStore]]:  # type: ignore[no-untyped-def]
    settings: Settings = make_settings(db_url)
    engine = create_engine(settings.sqlalchemy_url)
    await migrate(engine)
    redis = redis_client(settings.redis_url or "")
    store = SqlStore(session_factory(engine))
    yield RedisEventBus(redis, store, settings.queue_prefix), store
    await redis.aclose()
    await engine.dispose()


async def _rows(store: SqlStore, conversation_id: int) -> list[tuple[str, object]]:
    async with store.sessions() as session:
        rows = (await session.execute(select(ChatEvent.type, ChatEvent.created_at)
                                      .where(ChatEvent.conversation_id == conversation_id)
                                      .order_by(ChatEvent.id))).all()
    return [(kind, at) for kind, at in rows]


async def test_rows_wait_for_the_end_and_keep_their_times(bus: tuple[RedisEventBus, SqlStore]) -> None:
    events, store = bus
    async with events.gathered():
        await events.publish(1, "message:user", {"message_id": "5"})
        assert [body["type"] for _, body in await events.history(1)] == ["message:user"]  # live at once
        assert await _rows(store, 1) == []  # its row waits
        await asyncio.sleep(0.05)
        await events.publish_many(1, [("typing", {"who": "broker", "on": False}), ("message:ai", {"message_id": "6"})])
    rows = await _rows(store, 1)
    assert [kind for kind, _ in rows] == ["message:user", "message:ai"]  # (typing is live-only)
    assert rows[0][1] < rows[1][1]  # each row has the time its event went out, not the time of the write


async def test_concurrent_replies_gather_apart_and_an_error_still_writes(bus: tuple[RedisEventBus, SqlStore]) -> None:
    events, store = bus
    both_published = asyncio.Barrier(2)

    async def reply(conversation_id: int, fail: bool) -> None:
        async with events.gathered():
            await events.publish(conversation_id, "message:ai", {"message_id": str(conversation_id)})
            await both_published.wait()
            if fail:
                raise RuntimeError("the reply failed after publishing")

    outcomes = await asyncio.gather(reply(2, False), reply(3, True), return_exceptions=True)
    assert isinstance(outcomes[1], RuntimeError)
    assert [kind for kind, _ in await _rows(store, 2)] == ["message:ai"]
    assert [kind for kind, _ in await _rows(store, 3)] == ["message:ai"]


async def test_outside_a_gathering_each_publish_writes_at_once(bus: tuple[RedisEventBus, SqlStore]) -> None:
    events, store = bus
    await events.publish(4, "handoff", {"reason": "asked_for_human"})
    assert [kind for kind, _ in await _rows(store, 4)] == ["handoff"]


async def test_rows_taken_into_the_ledgers_commit_are_written_there_once(bus: tuple[RedisEventBus, SqlStore]) -> None:
    """The reply's completion writes the rows gathered so far in its own transaction (one commit for the ledger and
    the events); what is published after that is written at the gathering's end, and nothing twice."""
    events, store = bus
    async with events.gathered():
        await events.publish(5, "message:user", {"message_id": "7"})
        async with events.mirror_in() as mirror:
            assert [row.type for row in mirror] == ["message:user"]
            # (no claim of that token: the ledger is unchanged, the reply's events are still recorded)
            assert await store.complete_batch(5, ["message:7"], "another-token", mirror=mirror) == 0
        assert [kind for kind, _ in await _rows(store, 5)] == ["message:user"]
        await events.publish(5, "handoff", {"reason": "asked_for_human"})
    assert [kind for kind, _ in await _rows(store, 5)] == ["message:user", "handoff"]


async def test_rows_of_a_completion_that_failed_are_written_at_the_end(bus: tuple[RedisEventBus, SqlStore]) -> None:
    events, store = bus
    with pytest.raises(RuntimeError):
        async with events.gathered():
            await events.publish(6, "message:ai", {"message_id": "8"})
            async with events.mirror_in() as mirror:
                assert len(mirror) == 1
                raise RuntimeError("the completion's commit failed")
    assert [kind for kind, _ in await _rows(store, 6)] == ["message:ai"]


async def test_outside_a_gathering_there_is_nothing_to_take(bus: tuple[RedisEventBus, SqlStore]) -> None:
    events, store = bus
    await events.publish(7, "handoff", {"reason": "asked_for_human"})
    async with events.mirror_in() as mirror:
        assert mirror == []
    assert [kind for kind, _ in await _rows(store, 7)] == ["handoff"]
