"""Per-conversation mutual exclusion across worker processes, in Redis.

Only one job answers a conversation at a time, so replies never overtake each other and a burst of
messages is answered once. The lock has a short lease that a background task keeps extending while the
holder is alive; a SIGKILLed holder's lock simply expires, so its conversation is free again within
`lease_s` (in step with BullMQ's stalled-job recovery).

The keep-alive task is stopped by an event, never by cancelling it: a cancellation that lands inside a redis-py
command can be swallowed (redis-py 8 on Python 3.11 turns it into a Redis error), and a keeper that survived its
cancellation would extend the lock forever while `hold` waited for it: the conversation stuck until the process
died (found by the chaos test).

A job that finds its conversation busy waits only `wait_s` (a few seconds: long enough for a normal reply,
pacing included), then gives its slot back: `ConversationBusy` carries `retry_after_s`, so the queue delays the
job briefly without spending an attempt. A job parked on a busy conversation for a minute would sit in the
worker's active set all that time, and every crash of that worker would count as one of its stalls; under a
Chatwoot slowdown plus repeated worker kills such waiters ran out of stalls and ended as apologies and handoffs
(chaos benchmark). Waiting jobs are not reordered in a harmful way: whichever takes the lock next answers every
customer message not yet answered, in order, and the others then find them answered.

`confirm` is the fence before an irreversible step (sending a reply): the lock's key must still hold this
holder's token. A Redis restart without persistence wipes the key while the job runs on; another job may then
take the conversation, so the first must not send. The lock is never silently taken back.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from contextvars import ContextVar

import redis.asyncio as aioredis
from redis.asyncio.lock import Lock
from redis.exceptions import LockError, RedisError

from aibroker.errors import DependencyUnavailable

# Strong references to keep-alive tasks until they end (the event loop only keeps weak ones).
_KEEPERS: set[asyncio.Task[None]] = set()
# The locks the current task holds, by conversation (each job runs in its own task).
_HELD: ContextVar[dict[int, Lock] | None] = ContextVar("aibroker_held_conversation_locks", default=None)


class ConversationBusy(DependencyUnavailable):
    """Another job kept the conversation longer than we were willing to wait: come back in `retry_after_s`."""

    def __init__(self, conversation_id: int, waited_s: float, retry_after_s: float) -> None:
        super().__init__("conversation lock", f"conversation {conversation_id} busy for {waited_s:.1f} s",
                         retry_after_s=retry_after_s)


class ConversationLockLost(DependencyUnavailable):
    """The conversation's lock was lost while held (Redis restarted empty, or the lease lapsed): stop before
    doing anything irreversible; the job is retried and recovers through the reply ledger."""

    def __init__(self, conversation_id: int) -> None:
        super().__init__("conversation lock", f"conversation {conversation_id}: lock lost while held")


class RedisConversationLocks:
    def __init__(self, redis: aioredis.Redis, prefix: str, *, lease_s: float = 10.0, wait_s: float = 5.0,
                 retry_after_s: float = 0.5) -> None:
        self._redis = redis
        self._prefix = prefix
        self._lease_s = lease_s
        self._wait_s = wait_s
        self._retry_after_s = retry_after_s

    @asynccontextmanager
    async def hold(self, conversation_id: int, *, wait_s: float | None = None) -> AsyncIterator[None]:
        wait_s = self._wait_s if wait_s is None else wait_s
        lock = Lock(self._redis, f"{self._prefix}:aibroker:lock:conversation:{conversation_id}",
                    timeout=self._lease_s, sleep=0.05, blocking_timeout=wait_s, thread_local=False)
        try:
            acquired = await lock.acquire()
        except RedisError as error:
            raise DependencyUnavailable("redis", f"conversation lock: {type(error).__name__}") from error
        if not acquired:
            raise ConversationBusy(conversation_id, wait_s, self._retry_after_s)
        released = asyncio.Event()
        keeper = asyncio.create_task(self._keep_alive(lock, released))
        _KEEPERS.add(keeper)
        keeper.add_done_callback(_KEEPERS.discard)
        held = _HELD.set({**(_HELD.get() or {}), conversation_id: lock})
        try:
            yield
        finally:
            _HELD.reset(held)
            released.set()  # the keeper extends no more (an extend in flight fails once the token is gone)
            with suppress(LockError, RedisError):
                await lock.release()

    async def confirm(self, conversation_id: int) -> None:
        lock = (_HELD.get() or {}).get(conversation_id)
        if lock is None:
            raise RuntimeError(f"confirm() outside hold() for conversation {conversation_id}")
        try:
            owned = await lock.owned()
        except RedisError as error:
            raise DependencyUnavailable("redis", f"conversation lock: {type(error).__name__}") from error
        if not owned:
            raise ConversationLockLost(conversation_id)

    async def _keep_alive(self, lock: Lock, released: asyncio.Event) -> None:
        while True:
            with suppress(TimeoutError):
                await asyncio.wait_for(released.wait(), self._lease_s / 3)
            if released.is_set():
                return
            with suppress(LockError, RedisError):  # Redis blip: try again; the lease covers two misses
                await lock.extend(self._lease_s, replace_ttl=True)
