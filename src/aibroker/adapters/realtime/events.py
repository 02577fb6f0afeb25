"""Event bus: every event goes to Redis (a per-conversation stream kept 24 h, FACTS §S; a global stream for the
agents' console, bounded and kept 24 h; a pub/sub wake-up for live streams) and is mirrored to the database for
analytics (without message texts, and without live-only events such as typing: domain/live_events.py).

Publishing never fails the caller: a reply that was sent must not be retried because a UI event
could not be delivered. Failures are logged and counted instead.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any, Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from aibroker.adapters.db.store import SqlStore
from aibroker.adapters.queue.redis_budget import bounded
from aibroker.domain.live_events import LiveEvent, mirrored, to_live
from aibroker.errors import DependencyUnavailable
from aibroker.logging import get_logger

log = get_logger(__name__)

STREAM_TTL_S = 24 * 3600
STREAM_MAXLEN = 1000
GLOBAL_STREAM_MAXLEN = 20_000  # the console's stream: every conversation's events, trimmed to 24 h and this many
READ_BATCH = 200  # stream entries per XRANGE
FORGET_BATCH = 500  # keys per DEL
# Without a bound, a publish while Redis is down waits out redis-py's retries and back-off (seconds); on an HTTP
# request the request's Redis budget bounds it further (ENQUEUE_TIMEOUT_S for all its Redis calls together).
PUBLISH_TIMEOUT_S = 5.0


def channel_name(prefix: str) -> str:
    return f"{prefix}:aibroker:events"


def stream_name(prefix: str, conversation_id: int) -> str:
    return f"{prefix}:aibroker:events:{conversation_id}"


def global_stream_name(prefix: str) -> str:
    return f"{prefix}:aibroker:events:all"


def _min_id_kept(now: float) -> str:
    return f"{int((now - STREAM_TTL_S) * 1000)}-0"


class LiveForwarder(Protocol):
    """Another realtime service that gets each live event too (adapters/realtime/ably.py)."""

    def forward(self, conversation_id: int, entry_id: str, event: LiveEvent) -> None: ...

    async def aclose(self) -> None: ...


class RedisEventBus:
    def __init__(self, redis: aioredis.Redis, store: SqlStore, prefix: str,
                 forward: LiveForwarder | None = None) -> None:
        self._redis = redis
        self._store = store
        self._prefix = prefix
        self._forward = forward
        self.failures = 0

    async def publish(self, conversation_id: int, event_type: str, payload: Mapping[str, Any]) -> None:
        now = time.time()
        body = {"type": event_type, "conversation_id": conversation_id, "at": now, **payload}
        encoded = json.dumps(body, default=str)
        try:
            stream, everything = stream_name(self._prefix, conversation_id), global_stream_name(self._prefix)
            async with bounded(PUBLISH_TIMEOUT_S), self._redis.pipeline(transaction=False) as pipe:
                pipe.xadd(stream, {"event": encoded}, maxlen=STREAM_MAXLEN, approximate=True)
                pipe.expire(stream, STREAM_TTL_S)
                pipe.xadd(everything, {"event": encoded}, maxlen=GLOBAL_STREAM_MAXLEN, approximate=True)
                pipe.xtrim(everything, minid=_min_id_kept(now), approximate=True)
                pipe.expire(everything, STREAM_TTL_S)
                # After the XADDs (a pipeline runs in order): a woken reader finds the entry there.
                pipe.publish(channel_name(self._prefix), json.dumps({"conversation_id": conversation_id}))
                entry_id = str((await pipe.execute())[0])
        except (TimeoutError, RedisError, OSError) as error:
            self.failures += 1
            entry_id = f"{int(now * 1000)}-x"  # (still unique enough for the forwarder's idempotency key)
            log.warning("event %s not published to redis: %s", event_type, type(error).__name__)
        if self._forward is not None and (live := to_live(body)) is not None:
            self._forward.forward(conversation_id, entry_id, live)
        if (kept := mirrored(event_type, payload)) is None:
            return
        try:
            await self._store.record_event(conversation_id, event_type, kept)
        except Exception as error:  # analytics mirror must not break the reply path
            self.failures += 1
            log.warning("event %s not mirrored to the database: %s", event_type, type(error).__name__)

    async def aclose(self) -> None:
        if self._forward is not None:
            await self._forward.aclose()

    async def history(self, conversation_id: int, after: str = "-") -> list[tuple[str, dict[str, Any]]]:
        entries: list[tuple[str, dict[str, str]]] = await self._redis.xrange(
            stream_name(self._prefix, conversation_id), min=after)  # type: ignore[assignment]
        return [(entry_id, json.loads(fields["event"])) for entry_id, fields in entries]

    async def entries_after(self, conversation_id: int | None, after: str | None,
                            count: int = READ_BATCH) -> list[tuple[str, dict[str, Any]]]:
        """Up to `count` events of one conversation's stream (None: the global one) strictly after entry id
        `after` (None: from the start), oldest first."""
        key = global_stream_name(self._prefix) if conversation_id is None else stream_name(self._prefix,
                                                                                             conversation_id)
        entries: list[tuple[str, dict[str, str]]] = await self._redis.xrange(
            key, min=f"({after}" if after else "-", count=count)  # type: ignore[assignment]
        return [(entry_id, json.loads(fields["event"])) for entry_id, fields in entries]

    async def forget(self, conversation_ids: list[int]) -> int:
        """Delete these conversations' event streams (erasure): returns how many existed. Unlike `publish`, a
        Redis failure is raised: erasure must not report a stream gone that is still there."""
        deleted = 0
        try:
            for start in range(0, len(conversation_ids), FORGET_BATCH):
                keys = [stream_name(self._prefix, c) for c in conversation_ids[start:start + FORGET_BATCH]]
                deleted += int(await self._redis.delete(*keys))
            await self._forget_in_global(set(conversation_ids))
        except (RedisError, OSError) as error:
            raise DependencyUnavailable("redis", f"event streams not deleted: {type(error).__name__}") from error
        return deleted

    async def _forget_in_global(self, conversation_ids: set[int]) -> None:
        """Delete these conversations' entries from the console's stream (it holds message texts too)."""
        key, after = global_stream_name(self._prefix), None
        while batch := await self.entries_after(None, after, count=FORGET_BATCH):
            after = batch[-1][0]
            if doomed := [entry_id for entry_id, body in batch if body.get("conversation_id") in conversation_ids]:
                await self._redis.xdel(key, *doomed)
