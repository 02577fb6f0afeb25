"""Server-sent events from the Redis event streams, for any number of API processes on any machines.

Each open stream keeps only a cursor (the last stream entry id it sent) and a wake-up flag. One pub/sub
subscription per process (`LiveHub`) sets the flags of the streams an event concerns; a woken stream reads its
Redis stream after its cursor (XRANGE), so a missed wake-up delays an event (to the next heartbeat at worst) but
never loses it, and an entry is never sent twice. `Last-Event-ID` is the cursor a reconnecting browser sends back.

Bounded: at most `max_connections` streams per process (then 503); no queue per stream. On shutdown every stream
ends at once (`close`), so uvicorn's graceful shutdown does not wait for clients that never hang up.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from aibroker.adapters.realtime.events import READ_BATCH, RedisEventBus, channel_name
from aibroker.domain.live_events import LiveEvent, to_live
from aibroker.errors import DependencyUnavailable
from aibroker.logging import get_logger

log = get_logger(__name__)

HEARTBEAT_S = 15.0
RESUBSCRIBE_AFTER_S = 1.0
ALL = None  # the console's subscription: every conversation

# Fills a `message` event that came without its text (read from the inbox by id); None: leave it out.
Enrich = Callable[[LiveEvent], Awaitable[LiveEvent | None]]


@dataclass(eq=False)
class _Waiter:
    conversation_id: int | None
    woken: asyncio.Event = field(default_factory=asyncio.Event)


class LiveHub:
    def __init__(self, redis: aioredis.Redis, prefix: str, *, max_connections: int) -> None:
        self._redis = redis
        self._prefix = prefix
        self.max_connections = max_connections
        self._waiters: set[_Waiter] = set()
        self._closing = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def open_streams(self) -> int:
        return len(self._waiters)

    @property
    def closing(self) -> bool:
        return self._closing.is_set()

    async def run(self) -> None:
        """Relay wake-ups until `close`; resubscribes after a Redis failure (the streams catch up on their own)."""
        self._loop = asyncio.get_running_loop()
        while not self._closing.is_set():
            try:
                async with self._redis.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(channel_name(self._prefix))
                    self._wake_all()  # anything published while we were not subscribed
                    while not self._closing.is_set():
                        message = await pubsub.get_message(timeout=1.0)
                        if message is not None:
                            self._wake(message.get("data"))
            except (RedisError, OSError) as error:
                log.info("live events: pub/sub lost (%s); resubscribing", type(error).__name__)
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), RESUBSCRIBE_AFTER_S)

    def close(self) -> None:
        """End every open stream now (thread-safe: uvicorn calls it from its signal handling)."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._close)
        else:
            self._close()

    def _close(self) -> None:
        self._closing.set()
        self._wake_all()

    def _wake(self, data: Any) -> None:
        try:
            conversation_id = json.loads(data)["conversation_id"]
        except (TypeError, ValueError, KeyError):
            return
        for waiter in self._waiters:
            if waiter.conversation_id in (ALL, conversation_id):
                waiter.woken.set()

    def _wake_all(self) -> None:
        for waiter in self._waiters:
            waiter.woken.set()

    @contextmanager
    def listen(self, conversation_id: int | None) -> Iterator[_Waiter]:
        if len(self._waiters) >= self.max_connections:
            raise DependencyUnavailable("live events", f"{self.max_connections} streams are open on this server "
                                        "(SSE_MAX_CONNECTIONS); poll the messages route, or retry",
                                        retry_after_s=5)
        waiter = _Waiter(conversation_id)
        self._waiters.add(waiter)
        try:
            yield waiter
        finally:
            self._waiters.discard(waiter)


def sse_frame(entry_id: str, event: LiveEvent) -> str:
    return f"id: {entry_id}\nevent: {event.name}\ndata: {json.dumps(event.data, default=str)}\n\n"


async def live_stream(hub: LiveHub, bus: RedisEventBus, conversation_id: int | None, last_event_id: str | None,
                      enrich: Enrich | None = None, *, follow: bool = True,
                      heartbeat_s: float = HEARTBEAT_S) -> AsyncIterator[str]:
    """The SSE body: everything after `last_event_id` (from the start of the kept stream without one), then, if
    `follow`, each new event as it comes, with a comment line every `heartbeat_s` so that proxies keep an idle
    stream open. (The route checked the connection limit; a stream that loses the race for the last place ends
    at once, and its browser reconnects.)"""
    try:
        async for frame in _frames(hub, bus, conversation_id, last_event_id, enrich, follow, heartbeat_s):
            yield frame
    except DependencyUnavailable:
        return


async def _frames(hub: LiveHub, bus: RedisEventBus, conversation_id: int | None, last_event_id: str | None,
                  enrich: Enrich | None, follow: bool, heartbeat_s: float) -> AsyncIterator[str]:
    cursor = last_event_id
    with hub.listen(conversation_id) as waiter:
        yield f"retry: 2000\n: stream of {'all conversations' if conversation_id is None else 'a conversation'}\n\n"
        while not hub.closing:
            waiter.woken.clear()  # before reading: a wake-up during the read is kept for the next round
            try:
                batch = await bus.entries_after(conversation_id, cursor)
            except (RedisError, OSError) as error:
                log.info("live events: read failed (%s); the client reconnects", type(error).__name__)
                return
            for entry_id, body in batch:
                cursor = entry_id
                event = to_live(body)
                if event is not None and event.name == "message" and not event.data.get("content") and enrich:
                    event = await enrich(event)
                if event is not None:
                    yield sse_frame(entry_id, event)
            if len(batch) >= READ_BATCH:
                continue  # there is more to catch up on
            if not follow:
                return
            with suppress(TimeoutError):
                await asyncio.wait_for(waiter.woken.wait(), heartbeat_s)
            if not waiter.woken.is_set():
                yield ": heartbeat\n\n"
