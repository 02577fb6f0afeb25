"""What one published batch leaves in Redis (one script: adapters/realtime/events.py `_APPEND_EVENTS`): the events
in order in the conversation's stream, which expires, and in the global stream; the live streams' wake-up only
after the entries are there; and the global stream's upkeep (24 h retention, expiry), on real Redis."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from aibroker.adapters.db.engine import create_engine, session_factory
from aibroker.adapters.db.store import SqlStore
from aibroker.adapters.queue.redis_options import redis_client
from aibroker.adapters.realtime.events import (
    STREAM_TTL_S,
    RedisEventBus,
    channel_name,
    global_stream_name,
    stream_name,
)
from aibroker.config import Settings


@pytest.fixture
async def redis_and_bus(make_settings, tmp_path) -> AsyncIterator[tuple[aioredis.Redis, RedisEventBus, str]]:  # type: ignore[no-untyped-def]
    settings: Settings = make_settings(f"sqlite:///{tmp_path / 'unused.db'}")  # (publish_live writes no rows)
    engine = create_engine(settings.sqlalchemy_url)
    redis = redis_client(settings.redis_url or "")
    yield redis, RedisEventBus(redis, SqlStore(session_factory(engine)), settings.queue_prefix), settings.queue_prefix
    await redis.aclose()
    await engine.dispose()


async def test_a_batch_lands_in_both_streams_in_order_and_wakes_readers_after(
        redis_and_bus: tuple[aioredis.Redis, RedisEventBus, str]) -> None:
    redis, bus, prefix = redis_and_bus
    pubsub = redis.pubsub()
    await pubsub.subscribe(channel_name(prefix))
    await pubsub.get_message(timeout=1.0)  # (the subscription's confirmation)
    seen_when_woken: list[list[str]] = []

    async def reader() -> None:
        while (message := await pubsub.get_message(ignore_subscribe_messages=True, timeout=5.0)) is None:
            pass
        assert json.loads(message["data"]) == {"conversation_id": 7}
        seen_when_woken.append([fields["event"] for _, fields in await redis.xrange(stream_name(prefix, 7))])

    woken = asyncio.create_task(reader())
    await bus.publish_live(7, [("typing", {"on": True}), ("message:ai", {"message_id": "m1", "content": "Hi"})])
    await asyncio.wait_for(woken, 10)
    await pubsub.aclose()

    entries = await bus.history(7)
    assert [(event["type"], event.get("message_id")) for _, event in entries] == [("typing", None),
                                                                                   ("message:ai", "m1")]
    assert len(seen_when_woken[0]) == 2  # both entries were there when the reader woke
    assert 0 < await redis.ttl(stream_name(prefix, 7)) <= STREAM_TTL_S
    everything = await bus.entries_after(None, None)
    assert [(event["conversation_id"], event["type"]) for _, event in everything] == [(7, "typing"), (7, "message:ai")]


async def test_the_global_streams_upkeep_drops_entries_older_than_a_day_and_sets_its_expiry(
        redis_and_bus: tuple[aioredis.Redis, RedisEventBus, str]) -> None:
    redis, bus, prefix = redis_and_bus
    everything = global_stream_name(prefix)
    two_days_ago_ms = int((time.time() - 2 * 86400) * 1000)
    for i in range(150):  # (XTRIM's "~" removes whole nodes of 100 entries only)
        await redis.xadd(everything, {"event": json.dumps({"type": "old", "conversation_id": 1})},
                         id=f"{two_days_ago_ms}-{i}")
    await bus.publish_live(8, [("typing", {"on": True})])  # a new bus's first batch does the upkeep
    kinds = [event["type"] for _, event in await bus.entries_after(None, None, count=1000)]
    assert kinds.count("old") < 100 and kinds[-1] == "typing"
    assert 0 < await redis.ttl(everything) <= STREAM_TTL_S
