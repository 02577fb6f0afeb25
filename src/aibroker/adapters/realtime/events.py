"""Event bus: every event goes to Redis (a per-conversation stream kept 24 h, FACTS §S; a global stream for the
agents' console, bounded and kept 24 h; a pub/sub wake-up for live streams) and is mirrored to the database for
analytics (without message texts, and without live-only events such as typing: domain/live_events.py).

Publishing never fails the caller: a reply that was sent must not be retried because a UI event
could not be delivered. Failures are logged and counted instead.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from aibroker.adapters.db.store import SqlStore
from aibroker.adapters.queue.redis_budget import bounded
from aibroker.domain.live_events import LiveEvent, MirrorRow, mirrored, to_live
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
GLOBAL_UPKEEP_S = 10.0


def channel_name(prefix: str) -> str:
    return f"{prefix}:aibroker:events"


def stream_name(prefix: str, conversation_id: int) -> str:
    return f"{prefix}:aibroker:events:{conversation_id}"


def global_stream_name(prefix: str) -> str:
    return f"{prefix}:aibroker:events:all"


# A batch of events: each added to the conversation's stream (its expiry renewed) and to the global stream; then the
# wake-up, after the entries (a woken reader finds them); with ARGV[6] a minimum id, the global stream's upkeep too.
# One script instead of a pipeline of 2n + 2 commands: for a batch of two events, ~200 µs of the caller's CPU in
# redis-py instead of ~300-330 (3,000 batches each way, on uvloop). Returns the conversation stream's entry ids.
# KEYS: conversation stream, global stream. ARGV: stream maxlen, global maxlen, ttl, channel, wake-up, minid or "",
# then the events.
_APPEND_EVENTS = """
local ids = {}
for i = 7, #ARGV do
  ids[#ids + 1] = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'event', ARGV[i])
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
for i = 7, #ARGV do
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'event', ARGV[i])
end
if ARGV[6] ~= '' then
  redis.call('XTRIM', KEYS[2], 'MINID', '~', ARGV[6])
  redis.call('EXPIRE', KEYS[2], ARGV[3])
end
redis.call('PUBLISH', ARGV[4], ARGV[5])
return ids
"""


def _min_id_kept(now: float) -> str:
    return f"{int((now - STREAM_TTL_S) * 1000)}-0"


@dataclass(slots=True)
class _Gathering:
    rows: list[MirrorRow] = field(default_factory=list)
    open: bool = True


# The current task's reply, if it gathers its analytics rows (`RedisEventBus.gathered`): a context variable, so
# the many replies a worker runs at once each gather their own.
_gathering: ContextVar[_Gathering | None] = ContextVar("aibroker_gathered_events", default=None)


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
        self._global_upkeep_at = 0.0
        self._append_events = redis.register_script(_APPEND_EVENTS)

    async def publish(self, conversation_id: int, event_type: str, payload: Mapping[str, Any]) -> None:
        await self.publish_many(conversation_id, [(event_type, payload)])

    async def publish_live(self, conversation_id: int, events: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        await self._live(conversation_id, events)

    async def publish_many(self, conversation_id: int, events: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        now = await self._live(conversation_id, events)
        kept = [MirrorRow(conversation_id, event_type, row, datetime.fromtimestamp(now, UTC))
                for event_type, payload in events if (row := mirrored(event_type, payload)) is not None]
        gathering = _gathering.get()
        if gathering is not None and gathering.open:
            gathering.rows.extend(kept)
        else:
            await self._mirror(kept)

    @asynccontextmanager
    async def gathered(self) -> AsyncIterator[None]:
        gathering = _Gathering()
        token = _gathering.set(gathering)
        try:
            yield
        finally:
            _gathering.reset(token)
            gathering.open = False  # (a task started inside that publishes later mirrors its own events)
            await self._mirror(gathering.rows)

    @asynccontextmanager
    async def mirror_in(self) -> AsyncIterator[list[MirrorRow]]:
        gathering = _gathering.get()
        rows = list(gathering.rows) if gathering is not None and gathering.open else []
        yield rows
        if gathering is not None and rows:  # written by the caller (a task started inside may have added more since)
            del gathering.rows[:len(rows)]

    async def _mirror(self, rows: list[MirrorRow]) -> None:
        """One write for all of them, whichever conversations they belong to."""
        try:
            await self._store.record_mirror(rows)
        except Exception as error:  # analytics mirror must not break the reply path
            self.failures += 1
            kinds = ", ".join(dict.fromkeys(row.type for row in rows))
            log.warning("events %s not mirrored to the database: %s", kinds, type(error).__name__)

    async def _live(self, conversation_id: int, events: Sequence[tuple[str, Mapping[str, Any]]]) -> float:
        """To Redis (the streams and the wake-up) and to the forwarder, if any. Returns the events' time."""
        now = time.time()
        bodies = [{"type": event_type, "conversation_id": conversation_id, "at": now, **payload}
                  for event_type, payload in events]
        entry_ids = await self._append(conversation_id, [json.dumps(body, default=str) for body in bodies], now)
        if self._forward is not None:
            for entry_id, body in zip(entry_ids, bodies, strict=True):
                if (live := to_live(body)) is not None:
                    self._forward.forward(conversation_id, entry_id, live)
        return now

    async def _append(self, conversation_id: int, encoded: list[str], now: float) -> list[str]:
        """Add the events to the conversation's stream and the global one, then wake the live streams: one script,
        one round trip (`_APPEND_EVENTS`). Retention of the global stream (trim to 24 h, expiry) runs at most every
        `GLOBAL_UPKEEP_S` per process: it is shared by every conversation, and approximate anyway (MAXLEN bounds it
        meanwhile)."""
        upkeep = now - self._global_upkeep_at >= GLOBAL_UPKEEP_S
        try:
            async with bounded(PUBLISH_TIMEOUT_S):
                entry_ids = await self._append_events(
                    keys=[stream_name(self._prefix, conversation_id), global_stream_name(self._prefix)],
                    args=[STREAM_MAXLEN, GLOBAL_STREAM_MAXLEN, STREAM_TTL_S, channel_name(self._prefix),
                          json.dumps({"conversation_id": conversation_id}), _min_id_kept(now) if upkeep else "",
                          *encoded])
        except (TimeoutError, RedisError, OSError) as error:
            self.failures += 1
            log.warning("%d event(s) not published to redis: %s", len(encoded), type(error).__name__)
            # (still unique enough for the forwarder's idempotency key)
            return [f"{int(now * 1000)}-x{i}" for i in range(len(encoded))]
        if upkeep:
            self._global_upkeep_at = now
        return [str(entry_id) for entry_id in entry_ids]

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
