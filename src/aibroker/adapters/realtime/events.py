"""Event bus: every event goes to Redis (pub/sub for live UIs + a per-conversation stream kept 24 h,
FACTS §S) and is mirrored to the database for analytics.

Publishing never fails the caller: a reply that was sent must not be retried because a UI event
could not be delivered. Failures are logged and counted instead.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from aibroker.adapters.db.store import SqlStore
from aibroker.adapters.queue.redis_budget import bounded
from aibroker.errors import DependencyUnavailable
from aibroker.logging import get_logger

log = get_logger(__name__)

STREAM_TTL_S = 24 * 3600
STREAM_MAXLEN = 1000
FORGET_BATCH = 500  # keys per DEL
# Without a bound, a publish while Redis is down waits out redis-py's retries and back-off (seconds); on an HTTP
# request the request's Redis budget bounds it further (ENQUEUE_TIMEOUT_S for all its Redis calls together).
PUBLISH_TIMEOUT_S = 5.0


def channel_name(prefix: str) -> str:
    return f"{prefix}:aibroker:events"


def stream_name(prefix: str, conversation_id: int) -> str:
    return f"{prefix}:aibroker:events:{conversation_id}"


class RedisEventBus:
    def __init__(self, redis: aioredis.Redis, store: SqlStore, prefix: str) -> None:
        self._redis = redis
        self._store = store
        self._prefix = prefix
        self.failures = 0

    async def publish(self, conversation_id: int, event_type: str, payload: Mapping[str, Any]) -> None:
        body = {"type": event_type, "conversation_id": conversation_id, "at": time.time(), **payload}
        encoded = json.dumps(body, default=str)
        try:
            stream = stream_name(self._prefix, conversation_id)
            async with bounded(PUBLISH_TIMEOUT_S), self._redis.pipeline(transaction=False) as pipe:
                pipe.xadd(stream, {"event": encoded}, maxlen=STREAM_MAXLEN, approximate=True)
                pipe.expire(stream, STREAM_TTL_S)
                pipe.publish(channel_name(self._prefix), encoded)
                await pipe.execute()
        except (TimeoutError, RedisError, OSError) as error:
            self.failures += 1
            log.warning("event %s not published to redis: %s", event_type, type(error).__name__)
        try:
            await self._store.record_event(conversation_id, event_type, dict(payload))
        except Exception as error:  # analytics mirror must not break the reply path
            self.failures += 1
            log.warning("event %s not mirrored to the database: %s", event_type, type(error).__name__)

    async def history(self, conversation_id: int, after: str = "-") -> list[tuple[str, dict[str, Any]]]:
        entries: list[tuple[str, dict[str, str]]] = await self._redis.xrange(
            stream_name(self._prefix, conversation_id), min=after)  # type: ignore[assignment]
        return [(entry_id, json.loads(fields["event"])) for entry_id, fields in entries]

    async def forget(self, conversation_ids: list[int]) -> int:
        """Delete these conversations' event streams (erasure): returns how many existed. Unlike `publish`, a
        Redis failure is raised: erasure must not report a stream gone that is still there."""
        deleted = 0
        try:
            for start in range(0, len(conversation_ids), FORGET_BATCH):
                keys = [stream_name(self._prefix, c) for c in conversation_ids[start:start + FORGET_BATCH]]
                deleted += int(await self._redis.delete(*keys))
        except (RedisError, OSError) as error:
            raise DependencyUnavailable("redis", f"event streams not deleted: {type(error).__name__}") from error
        return deleted
