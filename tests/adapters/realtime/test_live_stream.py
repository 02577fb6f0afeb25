"""The event-stream body (adapters/realtime/live.py) on real Redis: a publisher that is another process's bus wakes
the stream, quiet streams get heartbeats, the connection limit holds, and `close` ends every stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from aibroker.adapters.db.engine import create_engine, session_factory
from aibroker.adapters.db.store import SqlStore
from aibroker.adapters.queue.redis_options import redis_client
from aibroker.adapters.realtime.events import RedisEventBus
from aibroker.adapters.realtime.live import LiveHub, live_stream
from aibroker.config import Settings
from aibroker.errors import DependencyUnavailable


@pytest.fixture
async def buses(make_settings, e2e_db_url: str) -> AsyncIterator[tuple[RedisEventBus, RedisEventBus, LiveHub]]:  # type: ignore[no-untyped-def]
    """The API's bus and hub, and a worker's bus on its own Redis connection (as another process has)."""
    settings: Settings = make_settings(e2e_db_url)
    engine = create_engine(settings.sqlalchemy_url)
    api_redis, worker_redis = redis_client(settings.redis_url or ""), redis_client(settings.redis_url or "")
    store = SqlStore(session_factory(engine))
    hub = LiveHub(api_redis, settings.queue_prefix, max_connections=2)
    relay = asyncio.create_task(hub.run())
    yield (RedisEventBus(api_redis, store, settings.queue_prefix),
           RedisEventBus(worker_redis, store, settings.queue_prefix), hub)
    hub.close()
    await asyncio.wait_for(relay, 10)
    for client in (api_redis, worker_redis):
        await client.aclose()
    await engine.dispose()


async def _next_event(stream: AsyncIterator[str]) -> str:
    while True:
        frame = await asyncio.wait_for(anext(stream), 10)
        if not frame.startswith(("retry:", ": heartbeat")):
            return frame


async def test_wake_ups_heartbeats_limit_and_close(buses: tuple[RedisEventBus, RedisEventBus, LiveHub]) -> None:
    api_bus, worker_bus, hub = buses
    one = live_stream(hub, api_bus, 5, None, heartbeat_s=0.2)
    assert (await asyncio.wait_for(anext(one), 10)).startswith("retry: 2000")
    assert await asyncio.wait_for(anext(one), 10) == ": heartbeat\n\n"  # quiet: a comment keeps it open
    await worker_bus.publish(5, "typing", {"who": "broker", "on": True})
    frame = await _next_event(one)
    assert frame.startswith("id: ") and "\nevent: typing\n" in frame and '"who": "broker"' in frame

    everything = live_stream(hub, api_bus, None, None, heartbeat_s=5)
    await asyncio.wait_for(anext(everything), 10)
    assert "\nevent: typing\n" in await _next_event(everything)  # no Last-Event-ID: from the start
    with pytest.raises(DependencyUnavailable), hub.listen(6):  # two streams open, the limit
        pass
    third = live_stream(hub, api_bus, 6, None)
    assert [frame async for frame in third] == []  # lost the race for a place: ends at once
    await worker_bus.publish(6, "message:customer", {"message_id": "9", "content": "hi", "created_at": None})
    assert '"content": "hi"' in await _next_event(everything)

    hub.close()  # shutdown: both open streams end
    assert [frame async for frame in one if not frame.startswith(": heartbeat")] == []
    assert [frame async for frame in everything] == []
    assert hub.open_streams == 0
